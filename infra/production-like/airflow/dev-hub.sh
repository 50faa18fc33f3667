#!/usr/bin/env bash
# A stand-in hub node for trying the production-like Airflow on its own, before the stack's
# hub writes $ROOT/hub.env:
#   dev-hub.sh up|down      (down deletes the stand-in's data)
# `up` starts the embedded Kafka and S3 (`dataspace up`) on ports of their own (39092, 38080..
# 38083) with a state directory in $ROOT/airflow/dev-hub, puts the control plane in the
# PostgreSQL database `airflow_dev_hub` (not `hub`: that name is the stack hub's, made by
# postgres.sh add-database), sets up the operator, and writes $ROOT/airflow/dev-hub.env.
# Use it with: DATASPACE_PRODLIKE_NODE_ENV=$ROOT/airflow/dev-hub.env airflow.sh up
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

DIR="$ROOT/airflow/dev-hub"
ENV_FILE="$ROOT/airflow/dev-hub.env"

node() {
    (cd "$DIR" && env DATASPACE_STATE_DIR="$DIR/state" \
        DATASPACE_DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_dev_hub" \
        DATASPACE_KAFKA_PORT=39092 DATASPACE_S3_PORT=38080 "$REPO/.venv/bin/dataspace" "$@")
}

up() {
    mkdir -p "$DIR" && chmod 700 "$DIR"
    bash "$REPO/.ci/postgres" >/dev/null
    psql -h 127.0.0.1 -U postgres -q -v ON_ERROR_STOP=1 <<'SQL'
SELECT 'CREATE DATABASE airflow_dev_hub' WHERE NOT EXISTS
    (SELECT 1 FROM pg_database WHERE datname = 'airflow_dev_hub') \gexec
SQL
    node up >"$DIR/up.log" 2>&1 || {
        echo "dev-hub: dataspace up failed; read $DIR/up.log" >&2
        exit 1
    }
    node operator init --name "Production-like test operator" \
        --uscc "$(node uscc make 91320412MA0000019)" >/dev/null
    write_env "$ENV_FILE" <<EOF
DATASPACE_STATE_DIR $DIR/state
DATASPACE_DATABASE_URL postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_dev_hub
DATASPACE_KAFKA_PORT 39092
DATASPACE_S3_PORT 38080
EOF
    echo "dev-hub: up; node settings in $ENV_FILE"
}

# A stand-in is thrown away whole: its state directory and its database go with it, so the
# next `up` starts a fresh node (an operator key without its database would be refused).
down() {
    rm -f "$ENV_FILE"
    if [ -d "$DIR/state" ]; then node down >/dev/null; fi
    rm -rf "$DIR"
    psql -h 127.0.0.1 -U postgres -q -c 'DROP DATABASE IF EXISTS airflow_dev_hub'
}

case "${1:-}" in
up) up ;;
down) down ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
