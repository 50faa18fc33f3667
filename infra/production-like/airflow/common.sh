# shellcheck shell=bash disable=SC2034  # sourced; the variables are used by the scripts
# Shared by redis.sh and airflow.sh (sourced, not run): paths, secrets, pid files, RSS.
# Every process is started in a session of its own (setsid), so that `down` can stop it with
# the children it forked (Celery's pool, the API server's workers) and RSS counts them too.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
ROOT="${DATASPACE_PRODLIKE_HOME:-/var/tmp/dataspace-production-like}"
CACHE="${DATASPACE_PRODLIKE_CACHE:-$HOME/.cache/dataspace-production-like}"
PY="$REPO/.venv/bin/python"
TEMPLATES="$REPO/infra/production-like/airflow"
STOP_TIMEOUT_S=60

# A secret drawn once into a 0600 file and read back ever after.
secret() {
    local file="$1"
    if [ ! -s "$file" ]; then
        (umask 077 && openssl rand -hex 16 >"$file.new" && mv "$file.new" "$file")
    fi
    cat "$file"
}

# Write `export NAME='value'` lines (stdin: NAME VALUE pairs, one a line) to a 0600 file.
write_env() {
    local target="$1" name value
    (
        umask 077
        while read -r name value; do
            printf "export %s='%s'\n" "$name" "$value"
        done >"$target.new"
        mv "$target.new" "$target"
    )
}

pid_of() { # the pid in a pid file, if that process still runs
    local file="$1" pid
    [ -s "$file" ] || return 1
    pid="$(cat "$file")"
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# Start "$@" in a new session, output to a log, and record its pid.
start_process() {
    local pid_file="$1" log="$2"
    shift 2
    setsid "$@" </dev/null >>"$log" 2>&1 &
    echo $! >"$pid_file"
}

# Stop the session a pid file names (TERM, then KILL after STOP_TIMEOUT_S); forget the file.
stop_process() {
    local pid_file="$1" pid
    if pid="$(pid_of "$pid_file")"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((STOP_TIMEOUT_S * 5))); do
            session_alive "$pid" || break
            sleep 0.2
        done
        if session_alive "$pid"; then
            echo "$(basename "$pid_file" .pid) did not stop in ${STOP_TIMEOUT_S} s; killing it" >&2
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pid_file"
}

session_alive() { [ -n "$(ps -o pid= --sid "$1" 2>/dev/null)" ]; }

# Sum of RSS in MiB of every process in the sessions of the given pid files.
rss_mib() {
    local total=0 file pid kib
    for file in "$@"; do
        pid="$(pid_of "$file")" || continue
        for kib in $(ps -o rss= --sid "$pid"); do total=$((total + kib)); done
    done
    echo $((total / 1024))
}

process_count() {
    local count=0 file pid
    for file in "$@"; do
        pid="$(pid_of "$file")" || continue
        count=$((count + $(ps -o pid= --sid "$pid" | wc -l)))
    done
    echo "$count"
}

# Poll "$@" every 0.5 s until it succeeds or $1 seconds pass.
wait_until() {
    local seconds="$1"
    shift
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
