#!/bin/sh
# Development start of {{ project_name }}: one uvicorn process that restarts whenever a file
# of the project changes (`fastflyer dev`). Needs FastFlyer >= 0.2 installed, no Docker;
# ./dev_ctrl.sh start does the same inside a container.
#   flyer_port=9000 ./start-reload.sh      # another port (default 8080)
set -eu
cd "$(dirname "$0")"

command -v fastflyer >/dev/null 2>&1 || {
    echo "start-reload.sh: fastflyer is not installed. Install FastFlyer 0.2 or later from its image," >&2
    echo "  repository or a wheel (pip install 'fastflyer>=0.2' with your index); PyPI's" >&2
    echo "  'fastflyer' is the unrelated 0.1.x. Or use ./dev_ctrl.sh start (Docker only)." >&2
    exit 127
}

# This project's routes and docs live under {{ project_prefix }}; the environment may override it.
export flyer_base_url="${flyer_base_url:-{{ project_prefix }}}"
exec fastflyer dev
