#!/usr/bin/env bash
# The production-like Apache Kafka: a three-node KRaft cluster (each node broker + controller)
# run from Kafka 4.1.1's own jars on Maven Central, SASL/SCRAM + ACLs, replication factor 3.
#
#   kafka.sh install          fetch the jars into the cache (once; then a no-op)
#   kafka.sh up               install, format the nodes (first time), start them, wait for 3 brokers,
#                             every node's first metadata snapshot and the admin's login on each
#   kafka.sh down             stop the nodes this script started; keeps the data
#   kafka.sh status           one line per node and one for the cluster; exit 0 healthy, 3 not
#   kafka.sh stop-broker N    SIGTERM node N (controlled shutdown) and wait for it to exit
#   kafka.sh kill-broker N    SIGKILL node N and wait for it to be gone
#   kafka.sh start-broker N   start node N again on its data; wait until it is back in every ISR
#
# Reference configuration: infra/production-like/kafka/ (see kafka.md).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CONF="$HERE/kafka"
PYTHON="$REPO/.venv/bin/python"
ROOT="${DATASPACE_PRODLIKE_HOME:-/var/tmp/dataspace-production-like}"
CACHE="${DATASPACE_PRODLIKE_CACHE:-$HOME/.cache/dataspace-production-like}"
VERSION=4.1.1
LIB="$CACHE/kafka-$VERSION/lib"
STATE="$ROOT/kafka"
ENV_FILE="$ROOT/kafka.env"
NODES=(1 2 3)
# Heap per node: kafka-server-start.sh defaults to 1 GiB; 384 MiB ran the whole test tier,
# failovers included, at ~330-420 MiB RSS per node (see kafka.md).
HEAP="${DATASPACE_PRODLIKE_KAFKA_HEAP:-384m}"
START_TIMEOUT=180
# The first metadata snapshot comes metadata.log.max.snapshot.interval.ms (10 s) after start.
SNAPSHOT_TIMEOUT=60
STOP_TIMEOUT=60

say() { printf 'kafka: %s\n' "$*"; }
die() {
    printf 'kafka: %s\n' "$*" >&2
    exit 1
}

broker_port() { echo $((29091 + $1)); }
controller_port() { echo $((29191 + $1)); }
node_dir() { echo "$STATE/node-$1"; }
pid_file() { echo "$(node_dir "$1")/kafka.pid"; }

# ---------------------------------------------------------------------------- install

install() {
    local stamp="$LIB/.pom-sha256" want
    want="$(sha256sum "$CONF/pom.xml" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    need_tools
    say "fetching Apache Kafka $VERSION from Maven Central into $LIB"
    local tmp="$LIB.partial"
    rm -rf "$tmp"
    mvn -q -B -Dstyle.color=never -f "$CONF/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime ||
        die "could not fetch the Kafka jars with Maven; rerun: mvn -B -f $CONF/pom.xml dependency:copy-dependencies"
    echo "$want" >"$tmp/.pom-sha256"
    rm -rf "$LIB"
    mv "$tmp" "$LIB"
}

need_tools() {
    local missing=()
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || missing+=(maven)
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || die "install ${missing[*]} (apt-get) and run again"
    say "installing ${missing[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------------------- state

secret() { # secret FILE: a generated password, created once, readable by us only
    if [[ ! -s "$1" ]]; then
        (umask 077 && openssl rand -hex 16 >"$1")
    fi
    cat "$1"
}

kafka_java() { java -cp "$LIB/*" -Dlog4j2.configurationFile="$CONF/log4j2.xml" \
    -Dkafka.logs.dir="$STATE" "$@"; }

prepare_state() {
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    ADMIN_PASSWORD="$(secret "$STATE/admin.password")"
    CONTROLLER_PASSWORD="$(secret "$STATE/controller.password")"
    if [[ ! -s "$STATE/cluster.id" ]]; then
        kafka_java kafka.tools.StorageTool random-uuid >"$STATE/cluster.id"
    fi
    CLUSTER_ID="$(cat "$STATE/cluster.id")"
    local voters="" n
    for n in "${NODES[@]}"; do
        voters+="${voters:+,}$n@127.0.0.1:$(controller_port "$n")"
    done
    for n in "${NODES[@]}"; do
        render_node "$n" "$voters"
    done
    format_nodes
}

render_node() { # render_node N VOTERS: the node's server.properties from the template
    local dir
    dir="$(node_dir "$1")"
    mkdir -p "$dir/data"
    (umask 077 && sed \
        -e "s|@NODE_ID@|$1|g" \
        -e "s|@BROKER_PORT@|$(broker_port "$1")|g" \
        -e "s|@CONTROLLER_PORT@|$(controller_port "$1")|g" \
        -e "s|@QUORUM_VOTERS@|$2|g" \
        -e "s|@DATA_DIR@|$dir/data|g" \
        -e "s|@ADMIN_PASSWORD@|$ADMIN_PASSWORD|g" \
        -e "s|@CONTROLLER_PASSWORD@|$CONTROLLER_PASSWORD|g" \
        "$CONF/server.properties.template" >"$dir/server.properties.new")
    mv "$dir/server.properties.new" "$dir/server.properties"
}

format_nodes() { # once per node: cluster id, and the admin's SCRAM credential in the metadata log
    local n pids=() dir
    for n in "${NODES[@]}"; do
        dir="$(node_dir "$n")"
        [[ -f "$dir/data/meta.properties" ]] && continue
        kafka_java kafka.tools.StorageTool format --config "$dir/server.properties" \
            --cluster-id "$CLUSTER_ID" \
            --add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]" \
            >"$dir/format.log" 2>&1 &
        pids+=($!)
    done
    for n in "${pids[@]}"; do
        wait "$n" || die "formatting a node's storage failed; read $STATE/node-*/format.log"
    done
}

load_secrets() {
    [[ -s "$STATE/admin.password" && -s "$STATE/cluster.id" ]] ||
        die "the cluster was never set up; run: $0 up"
    ADMIN_PASSWORD="$(cat "$STATE/admin.password")"
}

# ---------------------------------------------------------------------------- processes

node_pid() { # the pid of node N if it is running (checked against its command line), else fail
    local file pid
    file="$(pid_file "$1")"
    [[ -s "$file" ]] || return 1
    pid="$(cat "$file")"
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka $(node_dir "$1")/server.properties" ||
        return 1
    echo "$pid"
}

start_node() {
    local dir
    dir="$(node_dir "$1")"
    # setsid: the node outlives the shell that started it and its signals (Ctrl-C, job kills).
    setsid java -Xms"$HEAP" -Xmx"$HEAP" \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true \
        -Dkafka.logs.dir="$dir" -Dlog4j2.configurationFile="$CONF/log4j2.xml" \
        -cp "$LIB/*" kafka.Kafka "$dir/server.properties" \
        >"$dir/stdout.log" 2>&1 </dev/null &
    echo $! >"$(pid_file "$1")"
    disown # stop-broker and down wait on the pid file, not on a job of this shell
}

wait_gone() { # wait_gone PID SECONDS
    local deadline=$((SECONDS + $2))
    while [[ -e "/proc/$1" ]] && ((SECONDS < deadline)); do sleep 0.2; done
    [[ ! -e "/proc/$1" ]]
}

stop_node() { # stop_node N SIGNAL: signal node N, wait for it to exit, forget its pid
    local pid
    if pid="$(node_pid "$1")"; then
        kill -"$2" "$pid"
        if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
            say "node $1 (pid $pid) did not stop within $STOP_TIMEOUT s; killing it"
            kill -KILL "$pid"
            wait_gone "$pid" 10 || die "node $1 (pid $pid) survived SIGKILL"
        fi
    fi
    rm -f "$(pid_file "$1")"
}

rss_mib() { # the summed RSS of the running nodes, in MiB
    local n pid kb=0 v
    for n in "${NODES[@]}"; do
        pid="$(node_pid "$n")" || continue
        v="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
        kb=$((kb + ${v:-0}))
    done
    echo $((kb / 1024))
}

# ---------------------------------------------------------------------------- client view

export_client_env() {
    export PRODLIKE_KAFKA_BOOTSTRAP PRODLIKE_KAFKA_ADMIN_OPTIONS PRODLIKE_KAFKA_NODES
    PRODLIKE_KAFKA_BOOTSTRAP="$(for n in "${NODES[@]}"; do printf '127.0.0.1:%s,' "$(broker_port "$n")"; done)"
    PRODLIKE_KAFKA_BOOTSTRAP="${PRODLIKE_KAFKA_BOOTSTRAP%,}"
    PRODLIKE_KAFKA_ADMIN_OPTIONS="{\"security.protocol\":\"SASL_PLAINTEXT\",\"sasl.mechanisms\":\"SCRAM-SHA-512\",\"sasl.username\":\"admin\",\"sasl.password\":\"$ADMIN_PASSWORD\"}"
    PRODLIKE_KAFKA_NODES="${#NODES[@]}"
}

probe() { "$PYTHON" "$CONF/probe.py" "$@"; }

write_env_file() {
    (umask 077 && cat >"$ENV_FILE.new" <<EOF
# The production-like Kafka (infra/production-like/kafka.sh): how a client reaches it.
export PRODLIKE_KAFKA_BOOTSTRAP='$PRODLIKE_KAFKA_BOOTSTRAP'
export PRODLIKE_KAFKA_ADMIN_OPTIONS='$PRODLIKE_KAFKA_ADMIN_OPTIONS'
export PRODLIKE_KAFKA_NODES='$PRODLIKE_KAFKA_NODES'
EOF
    )
    mv "$ENV_FILE.new" "$ENV_FILE"
}

quorum_leader() { # the node id leading the metadata quorum, asked through the admin API
    local config="$STATE/admin-client.properties"
    (umask 077 && cat >"$config" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
EOF
    )
    timeout 30 java -cp "$LIB/*" -Dlog4j2.configurationFile="$CONF/log4j2.xml" \
        -Dkafka.logs.dir="$STATE" org.apache.kafka.tools.MetadataQuorumCommand \
        --bootstrap-server "$PRODLIKE_KAFKA_BOOTSTRAP" --command-config "$config" \
        describe --status 2>/dev/null | awk '/^LeaderId:/ {print $2}'
}

# ---------------------------------------------------------------------------- verbs

cmd_up() {
    local began=$SECONDS n started=()
    install
    prepare_state
    export_client_env
    for n in "${NODES[@]}"; do
        node_pid "$n" >/dev/null || {
            start_node "$n"
            started+=("$n")
        }
    done
    if ! wait_serving "${started[@]}"; then
        for n in "${started[@]}"; do stop_node "$n" KILL; done
        die "the cluster did not serve 3 brokers within $START_TIMEOUT s; read $STATE/node-*/server.log and stdout.log"
    fi
    # Before anyone can add or delete a SCRAM user, every node must have a metadata snapshot:
    # a node restarted without one can lose every SCRAM credential (kafka.md).
    if ! wait_snapshots "${started[@]}"; then
        for n in "${started[@]}"; do stop_node "$n" KILL; done
        die "a node wrote no metadata snapshot within $SNAPSHOT_TIMEOUT s; read $STATE/node-*/server.log (\"KRaft snapshot\")"
    fi
    if ! probe answering 30; then
        for n in "${started[@]}"; do stop_node "$n" KILL; done
        die "a node refuses the admin's SCRAM login (its metadata lost the credential, see kafka.md); remove $STATE and run $0 up again"
    fi
    write_env_file
    say "up in $((SECONDS - began)) s, $(rss_mib) MiB RSS (${#NODES[@]} processes)"
}

wait_serving() { # wait_serving N...: until the admin sees all brokers; fail early if a node dies
    local deadline=$((SECONDS + START_TIMEOUT)) n
    while ((SECONDS < deadline)); do
        for n in "$@"; do
            node_pid "$n" >/dev/null || {
                say "node $n exited during start-up; read $(node_dir "$n")/server.log"
                return 1
            }
        done
        probe brokers "${#NODES[@]}" 2 && return 0
    done
    return 1
}

has_snapshot() { # has_snapshot N: node N has written a metadata snapshot (<offset>-<epoch>.checkpoint)
    local file
    for file in "$(node_dir "$1")"/data/__cluster_metadata-0/*-*.checkpoint; do
        # 00000000000000000000-0000000000.checkpoint is a dynamic quorum's format-time
        # snapshot: voters only, no SCRAM users; it does not count.
        [[ -e "$file" && "${file##*/}" != 00000000000000000000-* ]] && return 0
    done
    return 1
}

wait_snapshots() { # wait_snapshots N...: until every node has written a metadata snapshot
    local deadline=$((SECONDS + SNAPSHOT_TIMEOUT)) n missing
    while :; do
        missing=0
        for n in "${NODES[@]}"; do
            has_snapshot "$n" || missing=1
        done
        ((missing == 0)) && return 0
        ((SECONDS < deadline)) || return 1
        for n in "$@"; do
            node_pid "$n" >/dev/null || {
                say "node $n exited during start-up; read $(node_dir "$n")/server.log"
                return 1
            }
        done
        sleep 0.5
    done
}

cmd_down() {
    local n pid pids=()
    # SIGTERM to all at once: each node shuts down in order (controlled shutdown, then the
    # quorum) and the last ones do not wait for a controller that has already left.
    for n in "${NODES[@]}"; do
        if pid="$(node_pid "$n")"; then
            kill -TERM "$pid"
            pids+=("$n")
        else
            rm -f "$(pid_file "$n")"
        fi
    done
    for n in "${pids[@]}"; do stop_node "$n" TERM; done
    rm -f "$ENV_FILE"
    say "down"
}

cmd_status() {
    local n pid state healthy=0 facts cluster_line leader
    load_secrets
    export_client_env
    facts="$(probe health)" || healthy=3
    cluster_line="$(head -n1 <<<"$facts")"
    for n in "${NODES[@]}"; do
        state="$(awk -v n="$n" '$1 == "node" && $2 == n {$1 = $2 = ""; print substr($0, 3)}' <<<"$facts")"
        if pid="$(node_pid "$n")"; then
            [[ "$state" == "registered in-sync" ]] || healthy=3
            echo "kafka-node-$n pid $pid running ${state:-unknown} $([[ $state == "registered in-sync" ]] && echo healthy || echo unhealthy)"
        else
            healthy=3
            echo "kafka-node-$n - stopped unhealthy"
        fi
    done
    leader="$(quorum_leader || true)"
    [[ -n "$leader" ]] || healthy=3
    echo "kafka-cluster ${cluster_line}, quorum leader ${leader:-none} $([[ $healthy == 0 ]] && echo healthy || echo unhealthy)"
    return "$healthy"
}

node_arg() {
    [[ "${1:-}" =~ ^[1-3]$ ]] || die "name a node: 1, 2 or 3"
}

cmd_start_broker() {
    node_arg "$1"
    load_secrets
    export_client_env
    node_pid "$1" >/dev/null || start_node "$1"
    probe rejoined "$1" "$START_TIMEOUT" ||
        die "node $1 did not rejoin every ISR within $START_TIMEOUT s; read $(node_dir "$1")/server.log"
    say "node $1 is back in every ISR"
}

main() {
    local verb="${1:-}"
    shift || true
    case "$verb" in
    install) install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    stop-broker) node_arg "${1:-}" && stop_node "$1" TERM ;;
    kill-broker) node_arg "${1:-}" && stop_node "$1" KILL ;;
    start-broker) cmd_start_broker "${1:-}" ;;
    *) die "usage: $0 install|up|down|status|stop-broker N|kill-broker N|start-broker N" ;;
    esac
}

main "$@"
