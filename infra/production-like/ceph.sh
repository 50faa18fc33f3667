#!/usr/bin/env bash
# The production-like object store: Ceph RGW from Debian's packages (Ceph 16.2), on loopback.
# One monitor, one manager, three BlueStore OSDs on sparse files, an erasure-coded (k=2, m=1)
# data pool for the buckets, two S3 gateways of one zone, one S3 user.
#
#   ceph.sh install | up | down | status | kill-osd N | start-osd N
#
# See infra/production-like/ceph.md for the why of every choice and the measurements.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT=${DATASPACE_PRODLIKE_HOME:-/var/tmp/dataspace-production-like}
STATE="$ROOT/ceph"
CONF="$STATE/ceph.conf"
ENV_FILE="$ROOT/ceph.env"
PIDS="$STATE/pids"
LOGS="$STATE/log"

PACKAGES=(ceph-mon ceph-mgr ceph-osd radosgw ceph-common)
OSD_IDS=(0 1 2)
GATEWAYS=(gw1 gw2)
declare -A GATEWAY_PORT=([gw1]=29080 [gw2]=29081)
MON_ADDRS='[v2:127.0.0.1:29300,v1:127.0.0.1:29301]'
EC_PROFILE=dataspace-k2m1
DATA_POOL=default.rgw.buckets.data
# The zone's other pools (bucket index, metadata, logs, multipart bookkeeping): replicated.
REPLICATED_POOLS=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log
    default.rgw.buckets.index default.rgw.buckets.non-ec)
S3_USER=dataspace
START_TIMEOUT=120

FAILURE=""          # the one sentence `up` prints when it fails
STARTED=()          # daemons this call started, stopped again if `up` fails
BOOTSTRAPPING=0     # a failed first bootstrap leaves nothing behind

log() { printf 'ceph: %s\n' "$*" >&2; }
fail() {
    FAILURE="$*"
    exit 1
}

ceph_cli() { ceph -c "$CONF" --connect-timeout 10 "$@"; }

# ---------------------------------------------------------------------------- install

cmd_install() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]} from Debian (about 30 s)"
    mkdir -p "$STATE"
    local apt_log="$STATE/apt-install.log"
    # Debian's packages enable ceph-*.target units; nothing must start them here. Without an
    # init system they cannot start anyway, and a policy-rc.d that says 101 ("not allowed")
    # also stops invoke-rc.d on a machine that has one. Ours is removed again afterwards.
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    local rc=0
    apt_get_install "${missing[@]}" >"$apt_log" 2>&1 \
        || { apt-get update -qq >>"$apt_log" 2>&1 && apt_get_install "${missing[@]}" >>"$apt_log" 2>&1; } \
        || rc=$?
    ((own_policy)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || { log "apt-get could not install ${missing[*]}; read $apt_log"; exit 1; }
}

apt_get_install() {
    # Other engines may be installing at the same moment: wait for the dpkg lock.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "$@"
}

# ---------------------------------------------------------------------------- daemons

binary_of() {
    case $1 in
        mon.*) echo ceph-mon ;;
        mgr.*) echo ceph-mgr ;;
        osd.*) echo ceph-osd ;;
        rgw.*) echo radosgw ;;
    esac
}

all_daemons() {
    local daemons=(mon.a mgr.x) i gw
    for i in "${OSD_IDS[@]}"; do daemons+=("osd.$i"); done
    for gw in "${GATEWAYS[@]}"; do daemons+=("rgw.$gw"); done
    echo "${daemons[@]}"
}

pid_of() { cat "$PIDS/$1.pid" 2>/dev/null || true; }

# Running = the pid in our pid file is alive and is still the binary we started (not a
# recycled pid).
is_running() {
    local pid
    pid=$(pid_of "$1")
    [[ -n $pid && -r /proc/$pid/comm ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$(binary_of "$1")" ]]
}

# start_daemon NAME ARGS...: runs the daemon in the foreground (-f) of its own session,
# stdout/stderr to log/NAME.out (its real log is log/ceph-NAME.log), and records its pid.
start_daemon() {
    local name=$1
    shift
    is_running "$name" && return 0
    mkdir -p "$PIDS" "$LOGS"
    setsid "$(binary_of "$name")" -f -c "$CONF" "$@" >>"$LOGS/$name.out" 2>&1 </dev/null &
    echo $! >"$PIDS/$name.pid"
    STARTED+=("$name")
}

start_mon() { start_daemon mon.a -i a; }
start_mgr() { start_daemon mgr.x -i x; }
start_osd() { start_daemon "osd.$1" -i "$1"; }
start_rgw() { start_daemon "rgw.$1" -n "client.rgw.$1"; }

# stop_daemons NAME...: SIGTERM to each, then waits for all of them (SIGKILL after 60 s).
stop_daemons() {
    local name pid
    for name in "$@"; do
        is_running "$name" && { kill -TERM "$(pid_of "$name")" 2>/dev/null || true; }
    done
    for name in "$@"; do
        pid=$(pid_of "$name")
        if ! wait_until 60 "$name to exit" not_running "$name"; then
            log "$name did not exit on SIGTERM within 60 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_until 10 "$name to die" not_running "$name" || true
        fi
        rm -f "$PIDS/$name.pid"
    done
}

not_running() { ! is_running "$1"; }

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s.
wait_until() {
    local deadline=$((SECONDS + $1)) # $2 names what is awaited, for the reader
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# ---------------------------------------------------------------------------- health probes

mon_healthy() { is_running mon.a && ceph_cli mon stat >/dev/null 2>&1; }
mgr_healthy() { is_running mgr.x && ceph_cli mgr stat 2>/dev/null | grep -q '"available": true'; }
osd_up() { [[ $(ceph_cli osd dump 2>/dev/null | awk -v o="osd.$1" '$1 == o {print $2}') == up ]]; }
osd_healthy() { is_running "osd.$1" && osd_up "$1"; }
rgw_healthy() {
    is_running "rgw.$1" \
        && [[ $(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:${GATEWAY_PORT[$1]}/") == 200 ]]
}
daemon_healthy() {
    case $1 in
        mon.*) mon_healthy ;;
        mgr.*) mgr_healthy ;;
        osd.*) osd_healthy "${1#osd.}" ;;
        rgw.*) rgw_healthy "${1#rgw.}" ;;
    esac
}
all_healthy() {
    local d
    for d in $(all_daemons); do daemon_healthy "$d" || return 1; done
}
log_of() {
    case $1 in
        rgw.*) echo "$LOGS/ceph-client.$1.log" ;;
        *) echo "$LOGS/ceph-$1.log" ;;
    esac
}

# Waits until every daemon is healthy; fails at once, naming its log, when one has exited.
wait_healthy() {
    local deadline=$((SECONDS + START_TIMEOUT)) d
    until all_healthy; do
        for d in $(all_daemons); do
            is_running "$d" || fail "$d exited while starting; read $(log_of "$d") and $LOGS/$d.out."
        done
        if ((SECONDS >= deadline)); then
            for d in $(all_daemons); do
                daemon_healthy "$d" || fail "$d did not become healthy within $START_TIMEOUT s; read $(log_of "$d")."
            done
        fi
        sleep 0.5
    done
}

# Every placement group active (serving I/O), whatever else the cluster is still doing.
pgs_active() {
    local stat
    stat=$(ceph_cli pg stat 2>/dev/null) || return 1
    [[ $stat =~ ([0-9]+)\ pgs:\ ([0-9]+)\ active ]] && [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]]
}
health_ok() { [[ $(ceph_cli health 2>/dev/null) == HEALTH_OK* ]]; }

# ---------------------------------------------------------------------------- bootstrap

# One-time creation of the cluster: keys, monitor store, manager, OSDs, pools, gateways' keys.
bootstrap() {
    BOOTSTRAPPING=1
    log "bootstrapping a new cluster in $STATE"
    wipe_cluster
    mkdir -p "$STATE" "$PIDS" "$LOGS" "$STATE/run" "$STATE/crash" "$STATE/mon" "$STATE/mgr/ceph-x" \
        "$STATE/osd" "$STATE/rgw/gw1" "$STATE/rgw/gw2"
    chmod 700 "$STATE"
    local fsid
    fsid=$(uuidgen)
    sed -e "s|@STATE@|$STATE|g" -e "s|@FSID@|$fsid|g" "$HERE/ceph/ceph.conf.in" >"$CONF"

    local mon_keyring="$STATE/mon-bootstrap.keyring" admin_keyring="$STATE/ceph.client.admin.keyring"
    (umask 077 && ceph-authtool --create-keyring "$mon_keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null)
    (umask 077 && ceph-authtool --create-keyring "$admin_keyring" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null)
    ceph-authtool "$mon_keyring" --import-keyring "$admin_keyring" >/dev/null
    monmaptool --create --addv a "$MON_ADDRS" --fsid "$fsid" "$STATE/monmap" >/dev/null
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$STATE/monmap" --keyring "$mon_keyring" \
        >>"$LOGS/bootstrap.log" 2>&1
    rm -f "$STATE/monmap" "$mon_keyring"
    start_mon
    wait_until 60 "the monitor" mon_healthy || fail "the monitor did not start; read $LOGS/ceph-mon.a.log."

    ceph_cli auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
        -o "$STATE/mgr/ceph-x/keyring"
    start_mgr

    local i gw
    for i in "${OSD_IDS[@]}"; do create_osd "$i"; done
    wait_until 90 "three OSDs up" all_osds_up || fail "the OSDs did not come up; read $LOGS/ceph-osd.*.log."

    create_pools
    for gw in "${GATEWAYS[@]}"; do
        ceph_cli auth get-or-create "client.rgw.$gw" mon 'allow rw' osd 'allow rwx' mgr 'allow rw' \
            -o "$STATE/rgw/$gw/keyring"
    done
}

# Removes a cluster that never finished its bootstrap (stopping its daemons first); the logs
# and the S3 keys stay.
wipe_cluster() {
    local all
    read -ra all <<<"$(all_daemons)"
    stop_daemons "${all[@]}"
    rm -rf "$STATE/mon" "$STATE/mgr" "$STATE/osd" "$STATE/rgw" "$STATE/run" "$STATE/crash" \
        "$STATE/ceph.conf" "$STATE/ceph.client.admin.keyring" "$STATE/bootstrapped"
}

# An OSD the way ceph-volume makes one: a new id with its cephx key, then BlueStore's mkfs
# (which creates the 2 GiB sparse `block` file, see bluestore_block_size in ceph.conf).
create_osd() {
    local want=$1 uuid key id dir
    uuid=$(uuidgen)
    key=$(ceph-authtool --gen-print-key)
    id=$(printf '{"cephx_secret": "%s"}' "$key" | ceph_cli osd new "$uuid" -i -)
    [[ $id == "$want" ]] || fail "the monitor gave OSD id $id where $want was expected; read $LOGS/ceph-mon.a.log."
    dir="$STATE/osd/ceph-$id"
    mkdir -p "$dir"
    (umask 077 && ceph-authtool --create-keyring "$dir/keyring" --name "osd.$id" --add-key "$key" >/dev/null)
    ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" >>"$LOGS/bootstrap.log" 2>&1 \
        || fail "BlueStore mkfs of osd.$id failed; read $LOGS/bootstrap.log."
    start_osd "$id"
}

all_osds_up() {
    local i
    for i in "${OSD_IDS[@]}"; do osd_up "$i" || return 1; done
}

create_pools() {
    local pool
    for pool in "${REPLICATED_POOLS[@]}"; do
        ceph_cli osd pool create "$pool" 8 8 replicated --size 3 >/dev/null 2>&1
        ceph_cli osd pool set "$pool" min_size 2 >/dev/null 2>&1
        ceph_cli osd pool application enable "$pool" rgw >/dev/null 2>&1
    done
    # The bucket data: erasure-coded, two data chunks and one coding chunk, one per OSD.
    ceph_cli osd erasure-code-profile set "$EC_PROFILE" k=2 m=1 crush-failure-domain=osd >/dev/null 2>&1
    ceph_cli osd pool create "$DATA_POOL" 32 32 erasure "$EC_PROFILE" >/dev/null 2>&1
    # min_size k (2) instead of Ceph's default k+1 (3): writes go on with one OSD down, at the
    # price of no redundancy for what is written until that OSD is back (see ceph.md).
    ceph_cli osd pool set "$DATA_POOL" min_size 2 >/dev/null 2>&1
    ceph_cli osd pool application enable "$DATA_POOL" rgw >/dev/null 2>&1
}

# ---------------------------------------------------------------------------- S3 user

secret_file() {
    local file="$STATE/$1"
    if [[ ! -s $file ]]; then
        (umask 077 && openssl rand -hex "$2" | tr '[:lower:]' '[:upper:]' >"$file.tmp" && mv "$file.tmp" "$file")
    fi
    cat "$file"
}

ensure_s3_user() {
    local access secret
    access=$(secret_file s3-access-key 10)
    secret=$(secret_file s3-secret-key 20 | tr '[:upper:]' '[:lower:]')
    if ! radosgw-admin -c "$CONF" user info --uid="$S3_USER" >/dev/null 2>&1; then
        radosgw-admin -c "$CONF" user create --uid="$S3_USER" --display-name="Dataspace production-like" \
            --access-key="$access" --secret-key="$secret" >/dev/null 2>>"$LOGS/bootstrap.log" \
            || fail "radosgw-admin could not create the S3 user; read $LOGS/bootstrap.log."
    fi
    S3_ACCESS=$access
    S3_SECRET=$secret
}

write_env_file() {
    local tmp="$ENV_FILE.tmp"
    (
        umask 077
        {
            echo "# Ceph RGW (production-like): two gateways of one zone; written by ceph.sh up."
            echo "export PRODLIKE_CEPH_ENDPOINTS='http://127.0.0.1:29080,http://127.0.0.1:29081'"
            echo "export PRODLIKE_CEPH_ACCESS_KEY='$S3_ACCESS'"
            echo "export PRODLIKE_CEPH_SECRET_KEY='$S3_SECRET'"
            echo "export PRODLIKE_CEPH_CONF='$CONF'"
            echo "# pyarrow 26 (AWS SDK) part uploads get HTTP 411 from RGW 16 without these two."
            echo "export AWS_REQUEST_CHECKSUM_CALCULATION='WHEN_REQUIRED'"
            echo "export AWS_RESPONSE_CHECKSUM_VALIDATION='WHEN_REQUIRED'"
        } >"$tmp"
    )
    mv "$tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------------------- up / down

on_up_exit() {
    local rc=$?
    ((rc == 0)) && return 0
    local i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_daemons "${STARTED[i]}"; done
    ((BOOTSTRAPPING)) && wipe_cluster
    echo "ceph: up failed: ${FAILURE:-a command failed (exit $rc); read $LOGS/bootstrap.log and $LOGS/ceph-*.log.}" >&2
    exit "$rc"
}

cmd_up() {
    local t0=$SECONDS i gw
    cmd_install
    if is_bootstrapped && all_healthy; then
        ensure_s3_user
        write_env_file
        print_summary "$t0"
        return 0
    fi
    trap on_up_exit EXIT
    if is_bootstrapped; then
        start_mon
        wait_until 60 "the monitor" mon_healthy || fail "the monitor did not start; read $LOGS/ceph-mon.a.log."
        start_mgr
        for i in "${OSD_IDS[@]}"; do start_osd "$i"; done
    else
        bootstrap
    fi
    for gw in "${GATEWAYS[@]}"; do start_rgw "$gw"; done
    wait_healthy
    wait_until "$START_TIMEOUT" "every placement group active" pgs_active \
        || fail "placement groups did not become active within $START_TIMEOUT s; read $LOGS/ceph-osd.*.log."
    ensure_s3_user
    ((BOOTSTRAPPING)) && touch "$STATE/bootstrapped"
    write_env_file
    trap - EXIT
    wait_until 60 "HEALTH_OK" health_ok || log "health after start: $(ceph_cli health 2>&1)"
    print_summary "$t0"
}

print_summary() {
    printf 'ceph: up in %d s, %d MiB RSS (%d processes)\n' $((SECONDS - $1)) "$(rss_mib)" "$(count_running)"
}

is_bootstrapped() { [[ -f $STATE/bootstrapped ]]; }

cmd_down() {
    local osds=() gateways=() i gw
    for i in "${OSD_IDS[@]}"; do osds+=("osd.$i"); done
    for gw in "${GATEWAYS[@]}"; do gateways+=("rgw.$gw"); done
    rm -f "$ENV_FILE"
    # Gateways first (no new client I/O), then the OSDs, the manager, the monitor last.
    stop_daemons "${gateways[@]}"
    stop_daemons "${osds[@]}"
    stop_daemons mgr.x
    stop_daemons mon.a
    log "down"
}

rss_mib() {
    local d pid kib total=0
    for d in $(all_daemons); do
        is_running "$d" || continue
        pid=$(pid_of "$d")
        kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${kib:-0}))
    done
    echo $((total / 1024))
}

count_running() {
    local d n=0
    for d in $(all_daemons); do is_running "$d" && n=$((n + 1)); done
    echo "$n"
}

cmd_status() {
    local d pid state health rc=0
    for d in $(all_daemons); do
        pid=$(pid_of "$d")
        if is_running "$d"; then state=running; else state=stopped; fi
        if daemon_healthy "$d"; then health=healthy; else health=unhealthy; rc=3; fi
        printf '%-8s %-8s %-8s %s\n' "$d" "${pid:--}" "$state" "$health"
    done
    if is_running mon.a; then
        printf 'health   %s\n' "$(ceph_cli health 2>&1 | head -1)"
    else
        printf 'health   unknown (the monitor is not running)\n'
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------- failure drills

osd_arg() {
    [[ ${1:-} =~ ^[0-2]$ ]] || { log "give an OSD number 0, 1 or 2"; exit 2; }
}

cmd_kill_osd() {
    osd_arg "${1:-}"
    local name="osd.$1" pid
    is_running "$name" || { log "$name is not running"; return 0; }
    pid=$(pid_of "$name")
    kill -KILL "$pid"
    wait_until 10 "$name to die" not_running "$name"
    log "$name (pid $pid) killed with SIGKILL"
}

cmd_start_osd() {
    osd_arg "${1:-}"
    start_osd "$1"
    wait_until 90 "osd.$1 up" osd_up "$1" \
        || { log "osd.$1 did not come up within 90 s; read $LOGS/ceph-osd.$1.log"; exit 1; }
    # Back up is not yet serving: its placement groups peer again first.
    wait_until 90 "every placement group active" pgs_active \
        || { log "placement groups did not become active within 90 s; read $LOGS/ceph-osd.$1.log"; exit 1; }
    log "osd.$1 is up ($(ceph_cli osd stat 2>&1))"
}

case ${1:-} in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    kill-osd) cmd_kill_osd "${2:-}" ;;
    start-osd) cmd_start_osd "${2:-}" ;;
    *)
        echo "usage: $0 install|up|down|status|kill-osd N|start-osd N" >&2
        exit 2
        ;;
esac
