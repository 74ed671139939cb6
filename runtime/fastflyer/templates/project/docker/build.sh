#!/bin/sh
# Build the production image of {{ project_name }} from ./Dockerfile.
#   docker/build.sh [TAG [DOCKER BUILD OPTIONS...]]     (default tag: {{ project_slug }})
#   FASTFLYER_IMAGE=fastflyer:0.2 docker/build.sh       # another base image
#   docker/build.sh {{ project_slug }}:1.0 --network host --pull
set -eu
cd "$(dirname "$0")/.."
command -v docker >/dev/null 2>&1 || { echo "build.sh: docker is not installed" >&2; exit 127; }

tag="${1:-{{ project_slug }}}"
[ "$#" -gt 0 ] && shift
if [ -n "${FASTFLYER_IMAGE:-}" ]; then
    set -- --build-arg "FASTFLYER_IMAGE=$FASTFLYER_IMAGE" "$@"
fi
docker build --tag "$tag" "$@" .
echo "built $tag; run it with: docker/run.sh $tag"
