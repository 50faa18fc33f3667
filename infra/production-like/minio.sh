#!/usr/bin/env bash
# MinIO for the production-like stack (issue 19): built from its Go module, one server with
# four drives (erasure-coded), on 127.0.0.1:29000. See minio.md.
#
#   minio.sh install | up | down | status
#   minio.sh add-provider <participant> [<bucket>]      bucket, user and policy for a provider
#   minio.sh remove-provider <participant> [<bucket>] [--purge-bucket]
set -euo pipefail

MODULE=github.com/minio/minio
# What @latest resolved to on the Go module proxy (it refuses MinIO's RELEASE.* tags).
VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
PORT=29000
ENDPOINT="http://127.0.0.1:$PORT"
BUCKET_PATTERN='^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$' # Settings.release_bucket's pattern
START_TIMEOUT=60

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ROOT=${DATASPACE_PRODLIKE_HOME:-/var/tmp/dataspace-production-like}
CACHE=${DATASPACE_PRODLIKE_CACHE:-${HOME:?HOME is not set}/.cache/dataspace-production-like}
STATE="$ROOT/minio"
BIN="$CACHE/minio-$VERSION/bin/minio"
PID_FILE="$STATE/minio.pid"
LOG="$STATE/minio.log"
ENV_FILE="$ROOT/minio.env"
PYTHON="$REPO/.venv/bin/python"

die() {
    echo "minio: $*" >&2
    exit 1
}

cmd_install() {
    [[ -x "$BIN" ]] && return 0
    command -v go >/dev/null || die "Go is not installed; install it (the polyglot machines have it) and retry."
    mkdir -p "$CACHE"
    local build_log="$CACHE/minio-$VERSION.build.log" started=$SECONDS
    echo "minio: building $MODULE@$VERSION (a few minutes when the module cache is cold); log: $build_log"
    if ! GOBIN="$(dirname "$BIN")" GOFLAGS=-buildvcs=false go install "$MODULE@$VERSION" >"$build_log" 2>&1; then
        rm -f "$BIN"
        die "building MinIO failed; read $build_log."
    fi
    echo "minio: built in $((SECONDS - started)) s: $BIN"
}

# The pid in our pid file, if that process is alive and is our MinIO binary (not a reused pid).
our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid=$(<"$PID_FILE")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$BIN" ]] || return 1
    echo "$pid"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$ENDPOINT$1" 2>/dev/null; }

healthy() { http_ok /minio/health/live && http_ok /minio/health/cluster; }

secret_file() { # secret_file <path>: generate once, 0600, never printed
    if [[ ! -s "$1" ]]; then
        (umask 077 && openssl rand -hex 20 >"$1")
    fi
}

elapsed() { # seconds since an $EPOCHREALTIME, one decimal
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

rss_mib() { # sum of VmRSS of the given pids, in MiB
    local kib=0 pid value
    for pid in "$@"; do
        value=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        kib=$((kib + ${value:-0}))
    done
    echo $((kib / 1024))
}

write_env_file() {
    local tmp="$ENV_FILE.tmp"
    (
        umask 077
        {
            echo "export PRODLIKE_MINIO_ENDPOINT='$ENDPOINT'"
            echo "export PRODLIKE_MINIO_ROOT_USER='$(<"$STATE/root-user")'"
            echo "export PRODLIKE_MINIO_ROOT_PASSWORD='$(<"$STATE/root-password")'"
        } >"$tmp"
    )
    mv "$tmp" "$ENV_FILE"
}

start_server() {
    mkdir -p "$STATE"/data{1..4} "$STATE/certs" "$STATE/providers"
    chmod 700 "$STATE"
    [[ -s "$STATE/root-user" ]] || (umask 077 && echo "dataspace-root" >"$STATE/root-user")
    secret_file "$STATE/root-password"
    sed "s|@STATE@|$STATE|g" "$HERE/minio/server.env" >"$STATE/server.env"
    (
        set -a
        # shellcheck source=/dev/null
        . "$STATE/server.env"
        set +a
        unset CI MINIO_CI_CD # either switches MinIO into its test mode (see server.env)
        MINIO_ROOT_USER=$(<"$STATE/root-user")
        MINIO_ROOT_PASSWORD=$(<"$STATE/root-password")
        export MINIO_ROOT_USER MINIO_ROOT_PASSWORD
        cd "$STATE"
        exec setsid "$BIN" server --certs-dir "$STATE/certs" --anonymous </dev/null >>"$LOG" 2>&1
    ) &
    echo $! >"$PID_FILE"
}

cmd_up() {
    cmd_install
    local started=$EPOCHREALTIME pid
    if pid=$(our_pid) && healthy; then
        [[ -f "$ENV_FILE" ]] || write_env_file
        echo "minio: already up (pid $pid), $(rss_mib "$pid") MiB RSS"
        return 0
    fi
    if pid=$(our_pid); then
        die "MinIO (pid $pid) runs but is not healthy; read $LOG, or run 'minio.sh down' and retry."
    fi
    if curl -s -o /dev/null --max-time 2 "$ENDPOINT/"; then
        die "port $PORT is taken by a process this script did not start; stop it and retry."
    fi
    start_server
    pid=$(<"$PID_FILE")
    local deadline=$((SECONDS + START_TIMEOUT))
    until healthy; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            stop_pid "$pid"
            rm -f "$PID_FILE"
            die "MinIO did not become healthy within ${START_TIMEOUT} s; read $LOG."
        fi
        sleep 0.2
    done
    write_env_file
    echo "minio: up in $(elapsed "$started") s, $(rss_mib "$pid") MiB RSS (1 processes)"
}

stop_pid() { # TERM, wait up to 30 s, then KILL; returns when the process is gone
    local pid=$1 waited=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= 150)); then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.2
        waited=$((waited + 1))
    done
}

cmd_down() {
    local pid
    if pid=$(our_pid); then
        stop_pid "$pid"
        echo "minio: stopped (pid $pid)"
    fi
    rm -f "$PID_FILE" "$ENV_FILE"
}

cmd_status() {
    local pid
    if pid=$(our_pid); then
        if healthy; then
            echo "minio pid=$pid running healthy"
            return 0
        fi
        echo "minio pid=$pid running unhealthy"
    else
        echo "minio pid=- stopped unhealthy"
    fi
    return 3
}

provider_args() { # validates <participant> [<bucket>]; sets PARTICIPANT and BUCKET
    [[ $# -ge 1 ]] || die "usage: minio.sh $VERB <participant> [<bucket>]"
    PARTICIPANT=$1
    BUCKET=${2:-dataspace-$1}
    # The participant is also the MinIO user name (access key: 3 characters or more).
    [[ "$PARTICIPANT" =~ ^[a-z0-9][a-z0-9-]{1,50}[a-z0-9]$ ]] ||
        die "participant '$PARTICIPANT' must be 3-52 characters of a-z, 0-9 and '-', not starting or ending with '-'."
    [[ "$BUCKET" =~ $BUCKET_PATTERN ]] ||
        die "bucket '$BUCKET' does not match $BUCKET_PATTERN (Settings.release_bucket)."
}

running_env() {
    if [[ ! -f "$ENV_FILE" ]] || ! our_pid >/dev/null || ! healthy; then
        die "MinIO is not up; run 'minio.sh up' first."
    fi
    set -a
    # shellcheck source=/dev/null
    . "$ENV_FILE"
    set +a
}

cmd_add_provider() {
    provider_args "$@"
    running_env
    local dir="$STATE/providers"
    mkdir -p "$dir"
    secret_file "$dir/$PARTICIPANT.secret"
    "$PYTHON" "$HERE/minio/provision.py" add "$PARTICIPANT" "$BUCKET" \
        --secret-file "$dir/$PARTICIPANT.secret" --policy-template "$HERE/minio/provider-policy.json" ||
        die "provisioning '$PARTICIPANT' failed (see the line above)."
    (
        umask 077
        {
            echo "export PRODLIKE_S3_ENDPOINT='$ENDPOINT'"
            echo "export PRODLIKE_S3_ACCESS_KEY='$PARTICIPANT'"
            echo "export PRODLIKE_S3_SECRET_KEY='$(<"$dir/$PARTICIPANT.secret")'"
            echo "export PRODLIKE_S3_BUCKET='$BUCKET'"
        } >"$dir/$PARTICIPANT.env.tmp"
    )
    mv "$dir/$PARTICIPANT.env.tmp" "$dir/$PARTICIPANT.env"
    echo "$dir/$PARTICIPANT.env"
}

cmd_remove_provider() {
    local purge=()
    local args=()
    for arg in "$@"; do
        if [[ "$arg" == --purge-bucket ]]; then purge=(--purge-bucket); else args+=("$arg"); fi
    done
    provider_args "${args[@]}"
    running_env
    "$PYTHON" "$HERE/minio/provision.py" remove "$PARTICIPANT" "$BUCKET" "${purge[@]}" ||
        die "removing '$PARTICIPANT' failed (see the line above)."
    rm -f "$STATE/providers/$PARTICIPANT".{env,secret}
}

VERB=${1:-}
[[ $# -gt 0 ]] && shift
case "$VERB" in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    add-provider) cmd_add_provider "$@" ;;
    remove-provider) cmd_remove_provider "$@" ;;
    *) die "usage: minio.sh install|up|down|status|add-provider <participant> [<bucket>]|remove-provider <participant> [<bucket>] [--purge-bucket]" ;;
esac
