#!/usr/bin/env bash
# Redis for the production-like stack: the Celery broker of Airflow.
#   redis.sh install|up|down|status
# Debian's redis-server binary, run as our own process with infra/production-like/airflow/
# redis.conf on 127.0.0.1:26379 (never Debian's system service); data, log and pid file in
# $ROOT/redis/; the client URL with its generated password in $ROOT/redis.env.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/airflow/common.sh"

DIR="$ROOT/redis"
PORT=26379
PID_FILE="$DIR/redis.pid"
ENV_FILE="$ROOT/redis.env"
START_TIMEOUT_S=30

install() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then return; fi
    echo "installing redis-server from Debian's packages"
    apt-get update -qq
    # The system service is not started in containers (policy-rc.d); elsewhere it would listen
    # on 6379, which we neither use nor stop.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        redis-server redis-tools >/dev/null
}

password() { secret "$DIR/password"; }

healthy() {
    [ "$(REDISCLI_AUTH="$(password)" redis-cli -h 127.0.0.1 -p "$PORT" --no-auth-warning \
        ping 2>/dev/null)" = PONG ]
}

up() {
    install
    local started=$SECONDS
    mkdir -p "$DIR" && chmod 700 "$DIR"
    if pid_of "$PID_FILE" >/dev/null && healthy; then
        write_env_file
        summary "$started"
        return
    fi
    stop_process "$PID_FILE" # a process that runs but does not answer
    local pass
    pass="$(password)"
    (umask 077 && sed -e "s|@DIR@|$DIR|g" -e "s|@PASSWORD@|$pass|g" \
        "$TEMPLATES/redis.conf" >"$DIR/redis.conf")
    start_process "$PID_FILE" "$DIR/redis.out" redis-server "$DIR/redis.conf"
    if ! wait_until "$START_TIMEOUT_S" healthy; then
        stop_process "$PID_FILE"
        echo "redis: did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT_S} s; read $DIR/redis.log" >&2
        exit 1
    fi
    write_env_file
    summary "$started"
}

summary() {
    echo "redis: up in $((SECONDS - $1)) s, $(rss_mib "$PID_FILE") MiB RSS" \
        "($(process_count "$PID_FILE") processes)"
}

write_env_file() {
    echo "PRODLIKE_REDIS_URL redis://:$(password)@127.0.0.1:$PORT/0" | write_env "$ENV_FILE"
}

down() {
    stop_process "$PID_FILE"
    rm -f "$ENV_FILE"
}

status() {
    local pid
    if pid="$(pid_of "$PID_FILE")"; then
        if healthy; then
            echo "redis-server pid $pid running healthy"
            return 0
        fi
        echo "redis-server pid $pid running unhealthy"
    else
        echo "redis-server - stopped unhealthy"
    fi
    return 3
}

case "${1:-}" in
install) install ;;
up) up ;;
down) down ;;
status) status ;;
*)
    echo "usage: $0 install|up|down|status" >&2
    exit 2
    ;;
esac
