#!/usr/bin/env bash
# Docker for the container tests, on a machine with no Docker daemon and no registry.
#
# What it does (each step idempotent, safe to run again):
#   1. apt-get installs docker.io (dockerd + Debian's BuildKit-capable client) and mmdebstrap;
#   2. starts a private dockerd (own data root, exec root, pidfile and unix socket; no bridge,
#      no iptables: containers run with --network host);
#   3. builds a stand-in for python:3.x-slim with mmdebstrap (Debian minbase + python3,
#      python3-venv, python3-pip, ca-certificates) and `docker import`s it as $FF_TEST_BASE,
#      unless that tag already exists. FF_TEST_BASE=fastflyer-test-base:<suite> picks the
#      Debian suite: bookworm (Python 3.11, the default), trixie (3.13), sid (3.14); the
#      tarball lives only until it is imported. The host's extra CA certificates (HTTPS
#      here goes through a re-signing proxy) are trusted in this LOCAL stand-in only (system
#      store + PIP_CERT), so that child images built on our test image reach PyPI; it is
#      never published;
#   4. builds our image from image/Dockerfile on that base as $FF_TEST_IMAGE (always run, the
#      layer cache makes an unchanged tree cost seconds). No CA or index is baked into its
#      layers: the proxy CA reaches pip as a BuildKit secret, for the RUNs that install only.
#
# How to use it:
#   source .ci/docker.sh        # from bash: does 1-4 and exports DOCKER_HOST, FF_TEST_BASE,
#                               # FF_TEST_IMAGE into the calling shell (returns non-zero on error)
#   bash .ci/docker.sh [up]     # the same, then prints the `export ...` lines to eval
#   bash .ci/docker.sh daemon   # steps 1-2 only
#   bash .ci/docker.sh image    # steps 3-4 only, on the daemon at DOCKER_HOST (used by the tests)
#   bash .ci/docker.sh stop     # stop the daemon this script started (by its pidfile)
#
# Where things live:
#   FF_DOCKER_RUN   socket, exec root, pidfile, daemon log (short path: unix sockets are
#                   limited to 108 bytes). Default /tmp/ff-docker; /tmp/ff-docker-ci under CI=true.
#   FF_DOCKER_DATA  images and layers. Default $FF_DOCKER_RUN/data; under CI=true
#                   <repo>/.ci-cache/docker, so a CI run depends on nothing left outside its clone.
#   DOCKER_HOST     kept if set (and then no daemon is started); else unix://$FF_DOCKER_RUN/docker.sock
# The tests (tests/docker_support.py) read DOCKER_HOST, FF_TEST_BASE and FF_TEST_IMAGE.

_ff_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${CI:-}" = "true" ]; then
    FF_DOCKER_RUN="${FF_DOCKER_RUN:-/tmp/ff-docker-ci}"
    FF_DOCKER_DATA="${FF_DOCKER_DATA:-$_ff_repo/.ci-cache/docker}"
else
    FF_DOCKER_RUN="${FF_DOCKER_RUN:-/tmp/ff-docker}"
    FF_DOCKER_DATA="${FF_DOCKER_DATA:-$FF_DOCKER_RUN/data}"
fi
FF_TEST_BASE="${FF_TEST_BASE:-fastflyer-test-base:bookworm}"
FF_TEST_IMAGE="${FF_TEST_IMAGE:-fastflyer:test}"
export FF_DOCKER_RUN FF_DOCKER_DATA FF_TEST_BASE FF_TEST_IMAGE
_ff_own_host="unix://$FF_DOCKER_RUN/docker.sock"
export DOCKER_HOST="${DOCKER_HOST:-$_ff_own_host}"
# Debian's client: it has BuildKit built in (a newer client elsewhere on PATH may lack buildx).
_ff_cli_fallback=""
if [ -z "${FF_DOCKER_CLI:-}" ]; then
    FF_DOCKER_CLI=/usr/bin/docker
    [ -x "$FF_DOCKER_CLI" ] || { FF_DOCKER_CLI=docker; _ff_cli_fallback=1; }
fi
export FF_DOCKER_CLI

_ff_log() { printf '[docker.sh] %s\n' "$*" >&2; }

ff_docker_install() {
    if [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] && command -v mmdebstrap >/dev/null; then
        return 0
    fi
    _ff_log "installing docker.io and mmdebstrap"
    apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            docker.io mmdebstrap ca-certificates >/dev/null || return 1
    # Chosen before docker.io was installed: take Debian's client now that it is there.
    if [ -n "$_ff_cli_fallback" ] && [ -x /usr/bin/docker ]; then
        FF_DOCKER_CLI=/usr/bin/docker
        export FF_DOCKER_CLI
    fi
}

ff_docker_ping() { "$FF_DOCKER_CLI" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

ff_docker_daemon() {
    ff_docker_install || return 1
    if ff_docker_ping; then
        return 0
    fi
    if [ "$DOCKER_HOST" != "$_ff_own_host" ]; then
        _ff_log "DOCKER_HOST=$DOCKER_HOST does not answer (unset it to use a private daemon)"
        return 1
    fi
    mkdir -p "$FF_DOCKER_RUN/exec" "$FF_DOCKER_DATA"
    # Pidfiles left by a daemon that was killed (the pid may belong to another process now).
    local pidfile
    for pidfile in "$FF_DOCKER_RUN/dockerd.pid" "$FF_DOCKER_RUN/exec/containerd/containerd.pid"; do
        if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            rm -f "$pidfile"
        fi
    done
    _ff_log "starting dockerd at $DOCKER_HOST (data in $FF_DOCKER_DATA)"
    # setsid: the daemon must not die with the shell that started it, nor get its signals.
    setsid /usr/sbin/dockerd \
        --data-root "$FF_DOCKER_DATA" \
        --exec-root "$FF_DOCKER_RUN/exec" \
        --pidfile "$FF_DOCKER_RUN/dockerd.pid" \
        -H "$DOCKER_HOST" \
        --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
        >"$FF_DOCKER_RUN/dockerd.log" 2>&1 </dev/null &
    local _i
    for _i in $(seq 1 120); do
        if ff_docker_ping; then
            return 0
        fi
        sleep 0.5
    done
    _ff_log "dockerd did not answer; its log:"
    tail -n 40 "$FF_DOCKER_RUN/dockerd.log" >&2
    return 1
}

ff_docker_stop() {
    local pid
    pid="$(cat "$FF_DOCKER_RUN/dockerd.pid" 2>/dev/null)" || return 0
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        _ff_log "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        local _i
        for _i in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 0.5
        done
    fi
}

# The extra CA certificates of this host (the re-signing proxy), concatenated; empty if none.
_ff_host_ca() {
    local out="$FF_DOCKER_RUN/host-ca.pem"
    : >"$out"
    local crt
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [ -f "$crt" ] && cat "$crt" >>"$out"
    done
    printf '%s' "$out"
}

ff_test_base() {
    if "$FF_DOCKER_CLI" image inspect "$FF_TEST_BASE" >/dev/null 2>&1; then
        return 0
    fi
    case "$FF_TEST_BASE" in
        fastflyer-test-base:*) ;;
        *)
            # A real base (e.g. python:3.12-slim-bookworm) where a registry can be reached.
            "$FF_DOCKER_CLI" pull "$FF_TEST_BASE" >&2
            return
            ;;
    esac
    # fastflyer-test-base:<suite>: Debian <suite> with its python3 (bookworm: 3.11, sid: 3.14).
    local suite="${FF_TEST_BASE#fastflyer-test-base:}"
    local work="$FF_DOCKER_RUN/rootfs-$suite"
    rm -rf "$work" && mkdir -p "$work"
    # bookworm from this host's own sources (with its security updates), any other suite from
    # Debian's mirror (sid has no security suite).
    local sources=/etc/apt/sources.list.d/debian.sources
    if [ "$suite" != bookworm ] || [ ! -f "$sources" ] || ! grep -qw bookworm "$sources"; then
        sources="deb http://deb.debian.org/debian $suite main"
    fi
    _ff_log "building the stand-in base $FF_TEST_BASE with mmdebstrap ($suite)"
    # The customize hook trusts the host's proxy CA inside this local-only base, so that pip
    # in a RUN of a child image (examples/project) can reach PyPI here.
    # shellcheck disable=SC2016  # the hooks are expanded by mmdebstrap, with $1 = the rootfs
    # Check-Valid-Until off: a mirror serving a snapshot may hold a Release file past its date
    # (sid's are valid for a week).
    mmdebstrap --quiet --variant=minbase --format=tar \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        --customize-hook='for c in /usr/local/share/ca-certificates/*.crt; do [ -f "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"; done; chroot "$1" update-ca-certificates >/dev/null 2>&1' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        "$suite" "$work/rootfs.tar" "$sources" >&2 || return 1
    "$FF_DOCKER_CLI" import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        "$work/rootfs.tar" "$FF_TEST_BASE" >/dev/null || return 1
    rm -rf "$work"
}

ff_test_image() {
    mkdir -p "$FF_DOCKER_RUN"
    local ca
    ca="$(_ff_host_ca)"
    _ff_log "building $FF_TEST_IMAGE on $FF_TEST_BASE (log: $FF_DOCKER_RUN/build.log)"
    # --network host: this daemon has no bridge network (RUN steps need one to reach PyPI).
    DOCKER_BUILDKIT=1 "$FF_DOCKER_CLI" build --progress=plain --network host \
        --build-arg BASE_IMAGE="$FF_TEST_BASE" \
        --build-arg VERSION="$(_ff_version)" \
        --build-arg REVISION="$(git -C "$_ff_repo" rev-parse --verify -q HEAD 2>/dev/null || echo unknown)" \
        --build-arg CREATED="$(_ff_created)" \
        --secret id=pip_ca,src="$ca" \
        -f "$_ff_repo/image/Dockerfile" -t "$FF_TEST_IMAGE" "$_ff_repo" \
        >"$FF_DOCKER_RUN/build.log" 2>&1 || {
        _ff_log "image build failed; the end of its log:"
        tail -n 60 "$FF_DOCKER_RUN/build.log" >&2
        return 1
    }
}

# The last commit's date: an unchanged tree then rebuilds to the very same image.
_ff_created() {
    TZ=UTC git -C "$_ff_repo" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
        date -u +%Y-%m-%dT%H:%M:%SZ
}

_ff_version() {
    sed -n 's/^version *= *"\(.*\)"/\1/p' "$_ff_repo/pyproject.toml" | head -n 1
}

ff_docker_up() {
    ff_docker_daemon && ff_test_base && ff_test_image
}

_ff_print_env() {
    printf 'export DOCKER_HOST=%s FF_TEST_BASE=%s FF_TEST_IMAGE=%s\n' \
        "$DOCKER_HOST" "$FF_TEST_BASE" "$FF_TEST_IMAGE"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-up}" in
        up) ff_docker_up && _ff_print_env ;;
        daemon) ff_docker_daemon && _ff_print_env ;;
        image) ff_test_base && ff_test_image ;;
        stop) ff_docker_stop ;;
        *) echo "usage: $0 [up|daemon|image|stop]" >&2; exit 64 ;;
    esac
else
    ff_docker_up
fi
