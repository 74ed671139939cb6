#!/bin/sh
# The container's entry script, run by tini (PID 1), ending in `exec "$@"`.
#
# While the app root (flyer_app_root, /app) holds no project (no app/ nor main.py) and is not
# a mount, flyer_app_root is pointed at the demo, for every command. A child image's
# `COPY . /app` thus replaces the demo rather than mixing its routes with the project's.
#
# For the server commands (`fastflyer serve` - the default - and `fastflyer dev`) it first
#   1. tells which project is served: mounted (development), copied into the image (a child
#      image) or the demo, in one log line;
#   2. with flyer_install_requirements=1, pip installs <app root>/requirements.txt
#      (for mounted code; a child image should install them at build time instead);
#   3. sources <app root>/prestart.sh if present (it may export variables; a failure stops
#      the start with its exit code).
# Any other command (`bash`, `python ...`, `fastflyer config`) runs as given.
set -eu

app_root="${flyer_app_root:-/app}"
demo_root=/usr/local/share/fastflyer/demo

say() {
    printf '%s | entrypoint | %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S')" "$*" >&2
}

# Reads a flyer_* switch the way the Python settings do; exit 2 on a value neither true nor false.
switch_on() {
    name="$1"
    eval "value=\${$name:-0}"
    # shellcheck disable=SC2154  # value is set by the eval above
    case "$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')" in
        1 | true | yes | on | y | t) return 0 ;;
        0 | false | no | off | n | f | "") return 1 ;;
        *)
            say "error: $name='$value' is not a boolean (use 1/true/yes/on or 0/false/no/off)"
            exit 2
            ;;
    esac
}

is_mounted() {
    # Field 5 of /proc/self/mountinfo is the mount point; an /app bind mount shows up there.
    [ -r /proc/self/mountinfo ] && awk -v dir="$1" '$5 == dir { found = 1 } END { exit !found }' \
        /proc/self/mountinfo
}

has_project() {
    [ -d "$1/app" ] || [ -f "$1/main.py" ]
}

prepare() {
    mounted=0
    if [ "$app_root" = "$demo_root" ]; then
        say "no project in /app: serving the demo (mount or COPY a project to /app)"
    elif is_mounted "$app_root"; then
        say "project $app_root: mounted (development)"
        mounted=1
    else
        say "project $app_root: built into the image"
    fi

    if switch_on flyer_install_requirements; then
        if [ -f "$app_root/requirements.txt" ]; then
            if [ "$mounted" = 0 ]; then
                say "hint: a child image should install requirements.txt at build time"
            fi
            say "installing $app_root/requirements.txt"
            pip install --no-cache-dir --disable-pip-version-check -r "$app_root/requirements.txt"
        else
            say "flyer_install_requirements=1 but $app_root/requirements.txt does not exist"
        fi
    fi

    if [ -f "$app_root/prestart.sh" ]; then
        say "running $app_root/prestart.sh"
        # shellcheck disable=SC1090,SC1091  # the project's own script
        . "$app_root/prestart.sh"
    fi
}

if [ -d "$demo_root" ] && ! has_project "$app_root" && ! is_mounted "$app_root"; then
    app_root="$demo_root"
    flyer_app_root="$demo_root"
    export flyer_app_root
fi

if [ "$#" -eq 0 ]; then
    set -- fastflyer serve
fi

if [ "$1" = fastflyer ] && { [ "${2:-}" = serve ] || [ "${2:-}" = dev ]; }; then
    prepare
fi

exec "$@"
