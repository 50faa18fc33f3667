#!/usr/bin/env bash
# PostgreSQL of the production-like stack: Debian's package, run by the `postgres` user on
# 127.0.0.1:5432 (started by `.ci/postgres`, which the embedded suite's contract tests use
# too). Every party's database (the hub's, each connector's, Airflow's metadata) belongs to
# its own login role, with its own password, and those roles authenticate with
# SCRAM-SHA-256: they are members of the group `dataspace_parties`, whose pg_hba rule comes
# before the test suite's loopback trust rule.
#
#   postgres.sh install|up|down|status
#   postgres.sh add-database NAME   # role NAME + database NAME; prints its SQLAlchemy URL
#   postgres.sh drop-database NAME  # the database and its role, gone (a test's cleanup)
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
ROOT="${DATASPACE_PRODLIKE_HOME:-/var/tmp/dataspace-production-like}"
HERE="$ROOT/postgres"
GROUP=dataspace_parties
ENV_FILE="$ROOT/postgres.env"

as_postgres() { runuser -u postgres -- "$@"; }
sql() { psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qtAc "$1"; }

cluster() { pg_lsclusters -h | awk 'NR == 1 { print $1 " " $2 }'; }

online() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 1
    pg_lsclusters -h | awk 'NR == 1 { print $4 }' | grep -q online \
        && pg_isready -q -h 127.0.0.1 -p 5432
}

password_rule() {
    # Parties authenticate with a password; only the superuser `postgres` keeps loopback trust.
    read -r version name <<<"$(cluster)"
    local hba="/etc/postgresql/$version/$name/pg_hba.conf"
    if ! grep -q "^# dataspace-production-like" "$hba"; then
        {
            echo "# dataspace-production-like: parties authenticate with SCRAM-SHA-256"
            echo "host all +$GROUP 127.0.0.1/32 scram-sha-256"
            cat "$hba"
        } >"$hba.new"
        mv "$hba.new" "$hba"
        chown postgres:postgres "$hba"
        as_postgres pg_ctlcluster "$version" "$name" reload
    fi
}

up() {
    local started=0
    mkdir -p "$HERE"
    chmod 700 "$ROOT" "$HERE"
    local t0
    t0=$(date +%s%N)
    if ! online; then
        started=1
    fi
    bash "$REPO/.ci/postgres" >/dev/null
    password_rule
    sql "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$GROUP')
         THEN CREATE ROLE $GROUP NOLOGIN; END IF; END \$\$;"
    if [ "$started" = 1 ]; then touch "$HERE/started-here"; fi
    umask 077
    cat >"$ENV_FILE" <<EOF
# The production-like PostgreSQL (infra/production-like/postgres.sh): the superuser's URL,
# for making parties' databases (postgres.sh add-database NAME); parties use their own roles.
export PRODLIKE_POSTGRES_ADMIN_URL='postgresql+psycopg2://postgres@127.0.0.1:5432/postgres'
EOF
    local rss
    rss=$(ps -u postgres -o rss= | awk '{ s += $1 } END { printf "%d", s / 1024 }')
    printf 'postgres: up in %s s, %s MiB RSS (%s processes)\n' \
        "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')" \
        "$rss" "$(ps -u postgres -o pid= | wc -l)"
}

add_database() {
    local name="$1"
    if ! [[ "$name" =~ ^[a-z][a-z0-9_]{0,62}$ ]]; then
        echo "The database name '$name' is not 1 to 63 lowercase letters, digits or '_'" \
            "starting with a letter; choose another." >&2
        exit 2
    fi
    online || { echo "PostgreSQL is not running; run: $0 up" >&2; exit 6; }
    mkdir -p "$HERE/databases"
    chmod 700 "$HERE/databases"
    local file="$HERE/databases/$name.url"
    if [ ! -s "$file" ]; then
        local password
        password="$(openssl rand -hex 16)"
        sql "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$name')
             THEN CREATE ROLE $name LOGIN; END IF; END \$\$;"
        sql "ALTER ROLE $name PASSWORD '$password'; GRANT $GROUP TO $name;"
        if [ -z "$(sql "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
            sql "CREATE DATABASE $name OWNER $name"
        fi
        sql "REVOKE ALL ON DATABASE $name FROM PUBLIC"
        (umask 077 && echo "postgresql+psycopg2://$name:$password@127.0.0.1:5432/$name" >"$file")
    fi
    cat "$file"
}

drop_database() {
    local name="$1"
    [[ "$name" =~ ^[a-z][a-z0-9_]{0,62}$ ]] || { echo "No such database name '$name'." >&2; exit 2; }
    online || { echo "PostgreSQL is not running; run: $0 up" >&2; exit 6; }
    sql "DROP DATABASE IF EXISTS $name WITH (FORCE)"
    sql "DROP ROLE IF EXISTS $name"
    rm -f "$HERE/databases/$name.url"
}

down() {
    rm -f "$ENV_FILE"
    if [ -f "$HERE/started-here" ] && online; then
        read -r version name <<<"$(cluster)"
        as_postgres pg_ctlcluster "$version" "$name" stop
        rm -f "$HERE/started-here"
        echo "postgres: stopped"
    else
        echo "postgres: left running (not started by this stack)"
    fi
}

status() {
    if online; then
        echo "postgres  127.0.0.1:5432  running  healthy"
    else
        echo "postgres  127.0.0.1:5432  stopped"
        return 3
    fi
}

case "${1:-}" in
    install) command -v pg_lsclusters >/dev/null 2>&1 || bash "$REPO/.ci/postgres" >/dev/null ;;
    up) up ;;
    down) down ;;
    status) status ;;
    add-database) add_database "${2:?name the database}" ;;
    drop-database) drop_database "${2:?name the database}" ;;
    *) echo "usage: $0 install|up|down|status|add-database NAME|drop-database NAME" >&2; exit 2 ;;
esac
