#!/usr/bin/env bash
# Airflow 3 on the CeleryExecutor for the production-like stack: Redis as the Celery broker
# (redis.sh), PostgreSQL as the metadata database and the Celery result backend.
#   airflow.sh install|up|down|status
#   airflow.sh stop-worker|start-worker   (the tests prove the worker, not the scheduler, runs tasks)
# Five processes, each in a session of its own with a pid file in $ROOT/airflow/run/ and its
# output in $ROOT/airflow/logs/<name>.log: api-server (127.0.0.1:28080), scheduler,
# dag-processor, triggerer, celery-worker (concurrency 2, log server 127.0.0.1:28793).
# Their configuration is the product's (dataspace.orchestration) plus what differs here:
# see airflow/environment.py. The DAG tasks act on the node whose DATASPACE_* settings are
# in $ROOT/hub.env (or $DATASPACE_PRODLIKE_NODE_ENV), read when `up` starts the processes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/airflow/common.sh"

DIR="$ROOT/airflow"
HOME_DIR="$DIR/home"
RUN="$DIR/run"
LOGS="$DIR/logs"
PROCESS_ENV="$DIR/processes.env"
ENV_FILE="$ROOT/airflow.env"
NODE_ENV="${DATASPACE_PRODLIKE_NODE_ENV:-$ROOT/hub.env}"
API_URL="http://127.0.0.1:28080"
PROCESSES=(api-server scheduler dag-processor triggerer celery-worker)
# A cold start imports Airflow in five processes on two cores and parses every DAG.
START_TIMEOUT_S=300
MIGRATE_TIMEOUT_S=300

# Python packages this Airflow needs beyond the product's: the Celery provider and Redis
# client, and asyncpg (Airflow 3 also opens the metadata database asynchronously). Celery
# 5.7 removed `celery.backends.database.retry`, which the provider (3.26) still imports.
PACKAGES=(apache-airflow-providers-celery "celery[redis]<5.7" asyncpg)

install() {
    bash "$REPO/infra/production-like/postgres.sh" install
    "$REPO/infra/production-like/redis.sh" install
    if ! "$PY" -c 'import airflow.providers.celery, asyncpg, redis
from celery.backends.database import retry' 2>/dev/null; then
        echo "installing ${PACKAGES[*]} into $REPO/.venv"
        (cd "$REPO" && .uv/bin/uv pip install -q --python .venv/bin/python \
            -c constraints.txt "${PACKAGES[@]}")
    fi
}

argv_of() {
    case "$1" in
    api-server) echo "airflow api-server" ;;
    scheduler) echo "airflow scheduler" ;;
    dag-processor) echo "airflow dag-processor" ;;
    triggerer) echo "airflow triggerer" ;;
    celery-worker) echo "airflow celery worker --concurrency 2" ;;
    esac
}

# with_env FILE COMMAND...: run COMMAND in $DIR with only FILE's exports (and EXTRA_ENV's
# VAR=value words), never the caller's DATASPACE_* or AIRFLOW_* variables.
env_argv() { # sets ENV_ARGV: the words that do that for FILE
    # shellcheck disable=SC2016  # expanded by the inner shell
    ENV_ARGV=(env -i HOME="$HOME" LANG=C.UTF-8 PATH="$REPO/.venv/bin:/usr/local/bin:/usr/bin:/bin"
        "${EXTRA_ENV[@]}" bash -c 'cd "$1" && set -a && source "$0" && set +a && shift && exec "$@"'
        "$1" "$DIR")
}
with_env() {
    env_argv "$1"
    shift
    "${ENV_ARGV[@]}" "$@"
}
EXTRA_ENV=()

in_airflow_env() { with_env "$PROCESS_ENV" "$@"; }

health() { in_airflow_env "$PY" "$TEMPLATES/health.py" "$@"; }

# The metadata database: role and database `airflow`, the role's password generated once,
# authenticated with SCRAM-SHA-256 like every party's (postgres.sh add-database).
postgres_step() {
    if ! bash "$REPO/infra/production-like/postgres.sh" up >"$LOGS/postgres.log" 2>&1; then
        echo "airflow: PostgreSQL did not start; read $LOGS/postgres.log" >&2
        return 1
    fi
    bash "$REPO/infra/production-like/postgres.sh" add-database airflow 2>>"$LOGS/postgres.log"
}

# processes.env: the node's settings, then the product's Airflow environment plus ours.
render_environment() {
    local node_env="$NODE_ENV"
    if [ ! -f "$node_env" ]; then
        node_env="$DIR/node.env"
        echo "DATASPACE_STATE_DIR $DIR/node" | write_env "$node_env"
        echo "airflow: $NODE_ENV is missing; DAG tasks act on a bare node in $DIR/node" >&2
    fi
    # shellcheck source=/dev/null  # written by redis.sh up
    source "$ROOT/redis.env"
    EXTRA_ENV=(
        PRODLIKE_REDIS_URL="$PRODLIKE_REDIS_URL"
        PRODLIKE_AIRFLOW_DB_URL="$1"
        PRODLIKE_AIRFLOW_PASSWORD="$(secret "$DIR/admin-password")"
    )
    with_env "$node_env" "$PY" "$TEMPLATES/environment.py" "$HOME_DIR" "$PROCESS_ENV.new"
    EXTRA_ENV=()
    mv "$PROCESS_ENV.new" "$PROCESS_ENV"
}

OURS=() # the processes this call started

start() { # start one process unless it runs
    local name="$1"
    pid_of "$RUN/$name.pid" >/dev/null && return
    env_argv "$PROCESS_ENV"
    # shellcheck disable=SC2046  # argv_of gives words on purpose
    start_process "$RUN/$name.pid" "$LOGS/$name.log" "${ENV_ARGV[@]}" $(argv_of "$name")
    OURS+=("$name")
}

all_healthy() { health --dags >/dev/null; }

# Healthy, or a process this call started has died (then waiting longer would not help).
healthy_or_dead() {
    local name
    for name in "${OURS[@]}"; do
        pid_of "$RUN/$name.pid" >/dev/null || return 0
    done
    all_healthy
}

up() {
    local started=$SECONDS redis_was_up=yes
    install
    mkdir -p "$DIR" "$RUN" "$LOGS" "$HOME_DIR" && chmod 700 "$DIR"
    if [ -f "$PROCESS_ENV" ] && all_healthy 2>/dev/null; then
        write_env_file
        summary "$started"
        return
    fi
    "$REPO/infra/production-like/redis.sh" status >/dev/null || redis_was_up=no
    "$REPO/infra/production-like/redis.sh" up >/dev/null
    local db_url
    db_url="$(postgres_step)" || fail "$redis_was_up" "PostgreSQL is not ready; read $LOGS/postgres.log"
    render_environment "$db_url"
    if ! in_airflow_env timeout "$MIGRATE_TIMEOUT_S" airflow db migrate >"$LOGS/db-migrate.log" 2>&1; then
        fail "$redis_was_up" "airflow db migrate failed; read $LOGS/db-migrate.log"
    fi
    local name
    for name in "${PROCESSES[@]}"; do start "$name"; done
    wait_until "$START_TIMEOUT_S" healthy_or_dead || true
    if ! all_healthy; then
        local reason
        reason="$(why_unhealthy)"
        for name in "${OURS[@]}"; do stop_process "$RUN/$name.pid"; done
        fail "$redis_was_up" "$reason; read the logs in $LOGS"
    fi
    write_env_file
    summary "$started"
}

why_unhealthy() {
    local name dead=()
    for name in "${OURS[@]}"; do
        pid_of "$RUN/$name.pid" >/dev/null || dead+=("$name")
    done
    if [ "${#dead[@]}" -gt 0 ]; then
        echo "${dead[*]} exited while starting"
    else
        echo "not healthy within ${START_TIMEOUT_S} s ($(health --dags | awk '$2 != "healthy" { print $1 }' | paste -sd, -))"
    fi
}

fail() {
    [ "$1" = yes ] || "$REPO/infra/production-like/redis.sh" down
    echo "airflow: $2" >&2
    exit 1
}

pid_files() { for name in "${PROCESSES[@]}"; do echo "$RUN/$name.pid"; done; }

summary() {
    local files
    mapfile -t files < <(pid_files)
    echo "airflow: up in $((SECONDS - $1)) s, $(rss_mib "${files[@]}") MiB RSS" \
        "($(process_count "${files[@]}") processes)"
}

write_env_file() {
    write_env "$ENV_FILE" <<EOF
PRODLIKE_AIRFLOW_URL $API_URL
PRODLIKE_AIRFLOW_USER admin
PRODLIKE_AIRFLOW_PASSWORD $(secret "$DIR/admin-password")
PRODLIKE_AIRFLOW_HOME $HOME_DIR
PRODLIKE_AIRFLOW_WORKER_LOG $LOGS/celery-worker.log
EOF
}

down() {
    local name
    rm -f "$ENV_FILE"
    # The worker last: the scheduler stops handing it tasks first.
    for name in api-server scheduler dag-processor triggerer celery-worker; do
        stop_process "$RUN/$name.pid"
    done
    "$REPO/infra/production-like/redis.sh" down
}

status() {
    local states name pid state health_word rc=0
    states=""
    if [ -f "$PROCESS_ENV" ]; then states="$(health 2>/dev/null || true)"; fi
    for name in "${PROCESSES[@]}"; do
        if pid="$(pid_of "$RUN/$name.pid")"; then state=running; else pid=- state=stopped; fi
        health_word="$(awk -v n="$name" '$1 == n { print $2 }' <<<"$states")"
        if [ "$state" != running ] || [ "$health_word" != healthy ]; then
            health_word=unhealthy rc=3
        fi
        echo "$name pid $pid $state $health_word"
    done
    "$REPO/infra/production-like/redis.sh" status || rc=3
    return "$rc"
}

stop_worker() { stop_process "$RUN/celery-worker.pid"; }

start_worker() {
    start celery-worker >/dev/null
    worker_healthy() { health | grep -q '^celery-worker healthy'; }
    wait_until "$START_TIMEOUT_S" worker_healthy || {
        echo "airflow: the Celery worker did not answer a ping; read $LOGS/celery-worker.log" >&2
        exit 1
    }
}

case "${1:-}" in
install) install ;;
up) up ;;
down) down ;;
status) status ;;
stop-worker) stop_worker ;;
start-worker) start_worker ;;
*)
    echo "usage: $0 install|up|down|status|stop-worker|start-worker" >&2
    exit 2
    ;;
esac
