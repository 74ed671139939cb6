#!/bin/sh
# The container's entry script, run by tini (PID 1). It ends in `exec "$@"`: the command
# replaces this shell, so it is tini's child and gets the signals tini forwards.
#
# 1. The app root (flyer_app_root, /app) neither holds a project (app/ or main.py) nor is a
#    mount: flyer_app_root is pointed at the demo, for every command. A child image's
#    `COPY . /app` thus replaces the demo rather than mixing its routes with the project's.
# 2. For the server commands only (`fastflyer serve`, the default, and `fastflyer dev`):
#    - one log line says which project is served: mounted, built into the image, or the demo;
#    - with flyer_install_requirements=1, <app root>/requirements.txt is pip-installed into a
#      prefix under $TMPDIR (/tmp), which goes on PYTHONPATH and PATH: the image's own
#      packages are root's and stay as they are (PIP_CONSTRAINT keeps their versions);
#    - <app root>/prestart.sh, if present, is sourced (it may export variables; a failing
#      command stops the start with its exit code).
# Any other command (`bash`, `python ...`, `fastflyer config`) runs as given.
set -eu

demo=/usr/local/share/fastflyer/demo
app_root="${flyer_app_root:-/app}"

say() {
    printf '%s | entrypoint | %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S')" "$*" >&2
}

# Reads a switch the way the settings do: exit 2 on a value neither true nor false.
switch_on() { # NAME VALUE
    case "$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')" in
        1 | true | yes | on | y | t) return 0 ;;
        0 | false | no | off | n | f | "") return 1 ;;
    esac
    say "error: $1='$2' is not a boolean (use 1/true/yes/on or 0/false/no/off)"
    exit 2
}

install_requirements() {
    prefix="${TMPDIR:-/tmp}/fastflyer-requirements"
    say "installing $app_root/requirements.txt into $prefix"
    pip install --no-cache-dir --disable-pip-version-check --prefix "$prefix" \
        -r "$app_root/requirements.txt"
    for site in "$prefix"/lib/python*/site-packages; do
        if [ -d "$site" ]; then
            PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
            export PYTHONPATH
        fi
    done
    PATH="$prefix/bin:$PATH"
}

mounted=0
if mountpoint -q "$app_root" 2>/dev/null; then
    mounted=1
    origin="project $app_root: mounted (development)"
elif [ -d "$app_root/app" ] || [ -f "$app_root/main.py" ] || [ ! -d "$demo" ]; then
    origin="project $app_root: built into the image"
else
    origin="no project in $app_root: serving the demo (mount or COPY a project to $app_root)"
    app_root="$demo"
    flyer_app_root="$demo"
    export flyer_app_root
fi

if [ "$#" -eq 0 ]; then
    set -- fastflyer serve
fi

case "$1 ${2:-}" in
    "fastflyer serve" | "fastflyer dev")
        say "$origin"
        if switch_on flyer_install_requirements "${flyer_install_requirements:-0}"; then
            if [ ! -f "$app_root/requirements.txt" ]; then
                say "flyer_install_requirements=1 but $app_root/requirements.txt does not exist"
            else
                if [ "$mounted" = 0 ]; then
                    say "hint: a child image should install requirements.txt at build time"
                fi
                install_requirements
            fi
        fi
        if [ -f "$app_root/prestart.sh" ]; then
            say "running $app_root/prestart.sh"
            # shellcheck disable=SC1090,SC1091  # the project's own script
            . "$app_root/prestart.sh"
        fi
        ;;
esac

exec "$@"
