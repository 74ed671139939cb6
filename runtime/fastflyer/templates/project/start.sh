#!/bin/sh
# Production start of {{ project_name }}: gunicorn with uvicorn workers (`fastflyer serve`).
# Every setting comes from flyer_* environment variables, e.g.
#   flyer_port=9000 flyer_workers=4 ./start.sh
# Inside the image you do not need this script: the image's default command is the same.
set -eu
cd "$(dirname "$0")"

command -v fastflyer >/dev/null 2>&1 || {
    echo "start.sh: fastflyer is not installed. Install FastFlyer 0.2 or later from its image," >&2
    echo "  repository or a wheel (pip install 'fastflyer>=0.2' with your index); PyPI's" >&2
    echo "  'fastflyer' is the unrelated 0.1.x. Or use ./dev_ctrl.sh start (Docker only)." >&2
    exit 127
}

# This project's routes and docs live under {{ project_prefix }}; the environment may override it.
export flyer_base_url="${flyer_base_url:-{{ project_prefix }}}"
exec fastflyer serve
