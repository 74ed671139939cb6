#!/usr/bin/env bash
# Development container of {{ project_name }}: the FastFlyer image with this directory
# mounted at /app and hot reload on, so saving a file restarts the server in the container.
# Nothing but Docker is needed on the machine.
#
# Settings (environment variables):
#   FASTFLYER_IMAGE  image to run                     (default {{ project_base_image }})
#   DEV_CONTAINER    container name                   (default {{ project_slug }}-dev)
#   DEV_PORT         port the service listens on      (default 8080)
#   DEV_NETWORK      host (default): the container shares the machine's network, so the
#                    service is at 127.0.0.1:$DEV_PORT with no port mapping; any other
#                    network (e.g. bridge) publishes DEV_PORT instead
#   flyer_*          every flyer_* variable of your shell is passed into the container
#                    (flyer_base_url defaults to {{ project_prefix }})
# requirements.txt is installed each time the container starts (flyer_install_requirements).
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE="${FASTFLYER_IMAGE:-{{ project_base_image }}}"
CONTAINER="${DEV_CONTAINER:-{{ project_slug }}-dev}"
PORT="${DEV_PORT:-8080}"
NETWORK="${DEV_NETWORK:-host}"
BASE_URL="${flyer_base_url:-{{ project_prefix }}}"

usage() {
    cat <<EOF
FastFlyer development container helper.
Usage: ./dev_ctrl.sh <COMMAND>
Commands:
  start          start the development container (created on first use)
  show [D]       show the container's state; D: every detail (docker inspect)
  login          open a shell in the container
  update         pull the newest image and recreate the container
  restart        restart the container (reinstalls requirements.txt)
  reset          recreate the container (after changing the settings below)
  destroy        remove the container
  log [COUNT]    print the last COUNT lines of the log (default 100)
Settings: DEV_CONTAINER=$CONTAINER FASTFLYER_IMAGE=$IMAGE
          DEV_NETWORK=$NETWORK DEV_PORT=$PORT flyer_base_url=$BASE_URL
Docs: http://127.0.0.1:$PORT$BASE_URL/docs
EOF
}

die() {
    echo "dev_ctrl.sh: $*" >&2
    exit 1
}

need_docker() {
    command -v docker >/dev/null 2>&1 ||
        die "docker is not installed or not on PATH (https://docs.docker.com/get-docker/);" \
            "without Docker, use ./start-reload.sh"
    docker info >/dev/null 2>&1 ||
        die "cannot reach the Docker daemon (is it running? DOCKER_HOST=${DOCKER_HOST:-unset})"
}

# created, running, exited... or empty when the container does not exist.
state() {
    docker inspect --format '{{.State.Status}}' "$CONTAINER" 2>/dev/null || true
}

need_container() {
    [ -n "$(state)" ] || die "no container $CONTAINER; run ./dev_ctrl.sh start"
}

create() {
    local args=(
        run --detach --name "$CONTAINER"
        --volume "$PROJECT_DIR:/app"
        --env flyer_reload=1
        --env flyer_install_requirements=1
        --env "flyer_port=$PORT"
        --env "flyer_base_url=$BASE_URL"
    )
    if [ "$NETWORK" = host ]; then
        args+=(--network host)
    else
        args+=(--network "$NETWORK" --publish "$PORT:$PORT")
    fi
    # Pass the caller's flyer_* variables by name (their values never appear in `ps`).
    local name
    while IFS= read -r name; do
        case "$name" in
            flyer_reload | flyer_port | flyer_base_url) ;;
            flyer_* | FLYER_*) args+=(--env "$name") ;;
        esac
    done < <(compgen -e)
    docker "${args[@]}" "$IMAGE" >/dev/null
}

cmd_start() {
    case "$(state)" in
        running) echo "$CONTAINER is already running" ;;
        "") create && echo "created and started $CONTAINER" ;;
        *) docker start "$CONTAINER" >/dev/null && echo "started $CONTAINER" ;;
    esac
    echo "project $PROJECT_DIR -> /app, hot reload on"
    echo "docs: http://127.0.0.1:$PORT$BASE_URL/docs   logs: ./dev_ctrl.sh log"
}

cmd_show() {
    need_container
    if [ "${1:-}" = D ] || [ "${1:-}" = d ]; then
        docker inspect "$CONTAINER"
        return
    fi
    docker inspect --format \
        'name: {{.Name}}
image: {{.Config.Image}}
state: {{.State.Status}} (since {{.State.StartedAt}}){{if .State.Health}}, health: {{.State.Health.Status}}{{end}}
network: {{.HostConfig.NetworkMode}}
mounts:{{range .Mounts}} {{.Source}} -> {{.Destination}}{{end}}' "$CONTAINER"
    echo "docs: http://127.0.0.1:$PORT$BASE_URL/docs"
}

cmd_login() {
    need_container
    local tty=(--interactive)
    [ -t 0 ] && [ -t 1 ] && tty+=(--tty)
    docker exec "${tty[@]}" "$CONTAINER" sh -c 'command -v bash >/dev/null && exec bash || exec sh'
}

cmd_destroy() {
    if [ -z "$(state)" ]; then
        echo "no container $CONTAINER to destroy"
        return
    fi
    docker rm --force "$CONTAINER" >/dev/null
    echo "destroyed $CONTAINER"
}

cmd_log() {
    local count="${1:-100}"
    [[ "$count" =~ ^[0-9]+$ ]] || die "log COUNT must be a number, not '$count'"
    need_container
    docker logs --tail "$count" "$CONTAINER"
}

main() {
    local command="${1:-}"
    case "$command" in
        help | -h | --help)
            usage
            return
            ;;
        "")
            usage >&2
            exit 2
            ;;
        start | show | login | update | restart | reset | destroy | log) ;;
        *)
            echo "dev_ctrl.sh: unknown command '$command'" >&2
            usage >&2
            exit 2
            ;;
    esac
    shift
    need_docker
    case "$command" in
        start) cmd_start ;;
        show) cmd_show "$@" ;;
        login) cmd_login ;;
        update)
            docker pull "$IMAGE" || echo "dev_ctrl.sh: could not pull $IMAGE; using the local copy" >&2
            cmd_destroy
            cmd_start
            ;;
        restart)
            need_container
            docker restart "$CONTAINER" >/dev/null
            echo "restarted $CONTAINER"
            ;;
        reset)
            cmd_destroy
            cmd_start
            ;;
        destroy) cmd_destroy ;;
        log) cmd_log "$@" ;;
    esac
}

main "$@"
