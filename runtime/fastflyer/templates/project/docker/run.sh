#!/usr/bin/env bash
# Run the production image of {{ project_name }} in the foreground, hardened the way it should
# run in production: read-only root filesystem, no new privileges. Ctrl-C stops it.
#   docker/run.sh [TAG]                   (default tag: {{ project_slug }}, see docker/build.sh)
# Settings (environment variables):
#   flyer_port       port the service listens on (default 8080)
#   DOCKER_NETWORK   host (default): share the machine's network, no port mapping; any
#                    other network (e.g. bridge) publishes flyer_port instead
#   flyer_*          every flyer_* variable of your shell is passed into the container
set -euo pipefail
command -v docker >/dev/null 2>&1 || { echo "run.sh: docker is not installed" >&2; exit 127; }

tag="${1:-{{ project_slug }}}"
port="${flyer_port:-8080}"
network="${DOCKER_NETWORK:-host}"

args=(run --rm --read-only --tmpfs /tmp --security-opt no-new-privileges
      --env "flyer_port=$port")
if [ "$network" = host ]; then
    args+=(--network host)
else
    args+=(--network "$network" --publish "$port:$port")
fi
# Pass the caller's flyer_* variables by name (their values never appear in `ps`).
while IFS= read -r name; do
    case "$name" in
        flyer_port) ;;
        flyer_* | FLYER_*) args+=(--env "$name") ;;
    esac
done < <(compgen -e)
exec docker "${args[@]}" "$tag"
