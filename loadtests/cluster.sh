#!/usr/bin/env bash
# Local multi-instance TaskFlow cluster: N `taskflow serve` instances behind nginx with
# sticky Socket.IO sessions, sharing one data dir (SQLite, or MongoDB when MONGODB_URI is
# set) and one Redis, or one Redis Cluster (TASKFLOW_REDIS_MODE=cluster).
#
#   loadtests/cluster.sh up N [PORT]              start N instances + nginx on 127.0.0.1:PORT
#   loadtests/cluster.sh down [PORT]              stop what `up` started (by recorded pid)
#   loadtests/cluster.sh status [PORT]            show pids, ports and health; exit 1 if degraded
#   loadtests/cluster.sh kill-instance K [PORT]   SIGKILL instance K (fault tests)
#   loadtests/cluster.sh stop-instance K [PORT]   SIGTERM instance K (graceful)
#   loadtests/cluster.sh restart-instance K [PORT] (re)start instance K on its port
#   loadtests/cluster.sh redis-failover [PORT]    private Redis Cluster: CLUSTER FAILOVER on a
#                                                 replica of the master of slot 0 (planned)
#   loadtests/cluster.sh redis-kill-master K [PORT] private Redis Cluster: SIGKILL master K (by
#                                                 port order); waits for its replica's promotion
#   loadtests/cluster.sh purge [PORT]             down, then delete the state dir
#
# PORT defaults to 18080. State (pids, ports, logs, rendered nginx.conf, data) lives in
# $TASKFLOW_CLUSTER_DIR, default /tmp/taskflow-cluster-PORT; `down` keeps it (logs, data)
# and the next `up` reuses its data dir. Instance K is named iK (TASKFLOW_INSTANCE_ID), so
# its engine.io session ids start with "iK." and nginx pins them to it.
#
# Environment read by `up`:
#   REDIS_URL            Redis to share; when unset, redis://127.0.0.1:6379/0 if it answers
#                        PING. When nothing answers, a private redis-server (--save "") is
#                        started on a free port and stopped by `down`.
#   TASKFLOW_REDIS_MODE  single (default) or cluster. With cluster, REDIS_URL names a node of
#                        a Redis Cluster to share (it must say cluster_state:ok); when unset or
#                        not answering, a private cluster is started: 6 redis-server nodes
#                        (3 masters, 3 replicas; --cluster-enabled yes, --save "", node and bus
#                        ports free ones, config files in the state dir) joined by
#                        `redis-cli --cluster create --cluster-replicas 1`, stopped by `down`.
#                        The machine's Redis on 6379 is never used in cluster mode. Instances
#                        get REDIS_URL=redis://127.0.0.1:<first node>/0 and the mode.
#   MONGODB_*, CORS_ORIGINS, S3_*, TASKFLOW_* (rate limits, live tuning, TASKFLOW_SERVER...)
#                        passed through to every instance when set
#   TASKFLOW_DATA_DIR    shared data dir (default <state>/data)
#   TASKFLOW_TRUSTED_PROXIES  default 127.0.0.1/32 (nginx's address)
#   TASKFLOW_BIN         server command (default <repo>/.venv/bin/taskflow)
#   TASKFLOW_CLUSTER_TIMEOUT  seconds to wait for health (default 60)
# JWT_SECRET is always generated afresh per `up` (random, shared by the instances), kept
# only in <state>/instance.env (mode 0600), never in the repository.
#
# Every process started here carries TASKFLOW_CLUSTER_STATE=<state dir> in its environment
# and runs in its own session/process group; `down` and friends signal a recorded process
# group only after checking that a member of it carries that marker (or, for nginx, that
# its command line names the rendered config), so they never touch anything else, such as
# the machine's own Redis.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEMPLATE=$REPO/nginx.conf
TASKFLOW_BIN=${TASKFLOW_BIN:-$REPO/.venv/bin/taskflow}
WAIT_SECS=${TASKFLOW_CLUSTER_TIMEOUT:-60}
DEFAULT_PORT=18080
MARKER=.taskflow-cluster
STATE=
LAST_PID=
UP_OK=0
# Set by load_state from <state>/cluster.env:
CLUSTER_N=0 CLUSTER_URL='' CLUSTER_REDIS_URL='' CLUSTER_REDIS_OWN=0 CLUSTER_REDIS_MODE=single
CLUSTER_REDIS_NODES=''

die() { echo "cluster.sh: $*" >&2; exit 1; }
note() { echo "cluster.sh: $*" >&2; }

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

set_state() { # PORT
    if ! is_uint "$1" || (($1 < 1 || $1 > 65535)); then die "bad port: $1"; fi
    STATE=${TASKFLOW_CLUSTER_DIR:-/tmp/taskflow-cluster-$1}
    [[ $STATE == /* ]] || STATE=$PWD/$STATE
    STATE=${STATE%/}
}

python_bin() {
    if [[ -x $REPO/.venv/bin/python ]]; then echo "$REPO/.venv/bin/python"
    elif command -v python3 >/dev/null; then command -v python3
    else die "python3 not found (needed to find free ports)"
    fi
}

nginx_bin() {
    if command -v nginx >/dev/null; then command -v nginx
    elif [[ -x /usr/sbin/nginx ]]; then echo /usr/sbin/nginx
    else die "nginx not found: run scripts/bootstrap-system.sh"
    fi
}

# ---- processes ------------------------------------------------------------------------

# Field F (1-based, as in proc(5)) of /proc/PID/stat; fails when gone or a zombie.
stat_field() { # PID F
    local stat f
    { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
    read -r -a f <<<"${stat##*) }"
    [[ ${f[0]} != Z ]] || return 1
    echo "${f[$2 - 3]}"
}

# Every process started here is recorded in <state>/started as "PID STARTTIME" (start
# time in clock ticks since boot: with the pid, it names one process for the whole uptime).
record_start() { # PID
    local st
    st=$(stat_field "$1" 22) || st=gone
    echo "$1 $st" >>"$STATE/started"
}

# True when process group PGID is one this cluster started and still has a live member:
# its leader (pid == PGID) is alive with the recorded start time, or the leader is gone and
# a member carries the TASKFLOW_CLUSTER_STATE marker in its environment (nginx and
# redis-server overwrite theirs with their process title, hence the start-time check).
group_alive() { # PGID
    local pgid=$1 want st d pid env
    [[ -n $pgid && -f $STATE/started ]] || return 1
    want=$(awk -v p="$pgid" '$1 == p { s = $2 } END { print s }' "$STATE/started")
    [[ -n $want ]] || return 1
    if st=$(stat_field "$pgid" 22); then
        # (no bare `return`: inside an EXIT trap it would return the status from before the trap)
        if [[ $st == "$want" ]]; then return 0; else return 1; fi
    fi
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [[ $(stat_field "$pid" 5 2>/dev/null) == "$pgid" ]] || continue
        env=$(tr '\0' '\n' <"$d/environ" 2>/dev/null) || continue
        [[ $'\n'$env$'\n' == *$'\n'"TASKFLOW_CLUSTER_STATE=$STATE"$'\n'* ]] && return 0
    done
    return 1
}

# Signal process group PGID (only if it is ours), wait up to TIMEOUT s for it to vanish,
# then SIGKILL what is left.
stop_group() { # PGID SIGNAL TIMEOUT
    local pgid=$1 sig=$2 timeout=$3 i
    group_alive "$pgid" || return 0
    kill -s "$sig" -- "-$pgid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        group_alive "$pgid" || return 0
        sleep 0.1
    done
    if [[ $sig != KILL ]]; then
        note "process group $pgid still alive after SIG$sig for ${timeout}s: SIGKILL"
        kill -s KILL -- "-$pgid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            group_alive "$pgid" || return 0
            sleep 0.1
        done
    fi
    group_alive "$pgid" && { note "process group $pgid survived SIGKILL"; return 1; }
    return 0
}

# Start a command in its own session with the cluster marker; sets LAST_PID (== its pgid).
start_bg() { # LOGFILE CMD...
    local log=$1
    shift
    (
        export TASKFLOW_CLUSTER_STATE="$STATE"
        exec setsid "$@" >>"$log" 2>&1 </dev/null
    ) &
    LAST_PID=$!
    record_start "$LAST_PID"
}

read_pid() { if [[ -f $STATE/$1.pid ]]; then cat "$STATE/$1.pid"; fi; }

# ---- ports and probes -----------------------------------------------------------------

# Prints, for each candidate port, the port itself when 127.0.0.1:port can be bound, or
# else a free port chosen by the kernel (0 as candidate means "any").
pick_ports() { # CANDIDATE...
    "$(python_bin)" - "$@" <<'EOF'
import socket, sys
held, out = [], []
for cand in map(int, sys.argv[1:]):
    s = socket.socket()
    # Like the servers (Hypercorn, nginx): TIME_WAIT leftovers of a killed one don't count.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", cand if 0 < cand < 65536 else 0))
    except OSError:
        s.close()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
    held.append(s)
    out.append(str(s.getsockname()[1]))
print(" ".join(out))
EOF
}

port_free() { [[ $(pick_ports "$1") == "$1" ]]; }

http_ok() { curl -fsS -o /dev/null --max-time "${2:-3}" "$1" 2>/dev/null; }

redis_ping() { # URL
    local out
    command -v redis-cli >/dev/null || return 1
    out=$(timeout 3 redis-cli -u "$1" ping 2>/dev/null) || return 1
    [[ $out == PONG ]]
}

# CLUSTER INFO's cluster_state of the node at URL ("" when it does not answer).
redis_cluster_state() { # URL
    local out
    out=$(timeout 3 redis-cli -u "$1" cluster info 2>/dev/null) || return 0
    out=$(tr -d '\r' <<<"$out" | awk -F: '$1 == "cluster_state" { print $2 }')
    echo "$out"
}

node_url() { echo "redis://127.0.0.1:$1/0"; }

# CLUSTER NODES as node PORT sees it, one line per node: "PORT ID FLAGS MASTER_ID SLOTS...".
cluster_nodes() { # PORT
    timeout 3 redis-cli -p "$1" cluster nodes 2>/dev/null | tr -d '\r' |
        awk '{ split($2, a, "@"); n = split(a[1], hp, ":"); s = "";
               for (i = 9; i <= NF; i++) s = s " " $i;
               print hp[n], $1, $3, $4 s }'
}

# Ports of the live masters, ascending, as node PORT sees them.
cluster_masters() { # PORT
    cluster_nodes "$1" | awk '$3 ~ /master/ && $3 !~ /fail/ { print $1 }' | sort -n
}

# Port of a live replica of the master on MASTER_PORT, as node PORT sees it.
cluster_replica_of() { # PORT MASTER_PORT
    cluster_nodes "$1" | awk -v m="$2" '
        { port[$2] = $1; line[NR] = $0 }
        $1 == m { id = $2 }
        END { for (i = 1; i <= NR; i++) { split(line[i], f, " ");
                  if (f[4] == id && f[3] ~ /slave/ && f[3] !~ /fail/) { print f[1]; exit } } }'
}

# Waits until every node port given says cluster_state:ok and sees 3 live masters, and every
# replica among them has synced with its master (a replica that never synced can't be promoted).
wait_cluster_ok() { # TIMEOUT PORT...
    local deadline=$((SECONDS + $1)) p ok repl
    shift
    while ((SECONDS < deadline)); do
        ok=1
        for p in "$@"; do
            [[ $(redis_cluster_state "$(node_url "$p")") == ok ]] || { ok=0; break; }
            (($(cluster_masters "$p" | wc -l) == 3)) || { ok=0; break; }
            repl=$(timeout 3 redis-cli -p "$p" info replication 2>/dev/null | tr -d '\r') || { ok=0; break; }
            if [[ $repl == *role:slave* && $repl != *master_link_status:up* ]]; then ok=0; break; fi
        done
        ((ok)) && return 0
        sleep 0.2
    done
    return 1
}

# Starts 6 cluster-enabled redis-server nodes on free ports and makes them one cluster of 3
# masters with a replica each; sets REDIS_CLUSTER_PORTS.
start_redis_cluster() {
    local -a picked
    local i p bus
    read -r -a picked <<<"$(pick_ports 0 0 0 0 0 0 0 0 0 0 0 0)"
    rm -f "$STATE"/redis-nodes-*.conf "$STATE"/redis-node-*.pid "$STATE"/redis-node-*.port
    REDIS_CLUSTER_PORTS=()
    for ((i = 1; i <= 6; i++)); do
        p=${picked[i - 1]} bus=${picked[i + 5]}
        echo "$p" >"$STATE/redis-node-$i.port"
        start_bg "$STATE/redis-node-$i.log" redis-server --bind 127.0.0.1 --port "$p" \
            --cluster-enabled yes --cluster-port "$bus" --cluster-config-file "$STATE/redis-nodes-$p.conf" \
            --cluster-node-timeout 2000 --repl-diskless-sync-delay 0 \
            --save "" --appendonly no --dir "$STATE" \
            --daemonize no --protected-mode yes
        echo "$LAST_PID" >"$STATE/redis-node-$i.pid"
        REDIS_CLUSTER_PORTS+=("$p")
    done
    for ((i = 1; i <= 6; i++)); do
        p=${REDIS_CLUSTER_PORTS[i - 1]}
        local j
        for ((j = 0; j < 100; j++)); do redis_ping "$(node_url "$p")" && break; sleep 0.1; done
        redis_ping "$(node_url "$p")" || { tail -n 20 "$STATE/redis-node-$i.log" >&2; die "redis cluster node $i (port $p) did not start"; }
    done
    local -a addrs=()
    for p in "${REDIS_CLUSTER_PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
    local out
    out=$(timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes 2>&1) ||
        { echo "$out" >&2; die "redis-cli --cluster create failed"; }
    wait_cluster_ok 60 "${REDIS_CLUSTER_PORTS[@]}" || die "the private Redis Cluster did not reach cluster_state:ok"
}

# ---- nginx config ---------------------------------------------------------------------

gen_upstreams() { # PORT...
    local -a ports=("$@")
    local n=${#ports[@]} k j p
    # A dead instance refuses connections at once and nginx moves on to the next server
    # anyway; marking it down only saves the attempts. One slow answer shouldn't push every
    # session pinned to an instance onto a backup, hence 3 fails.
    local fails="max_fails=3 fail_timeout=5s"
    echo "# generated by loadtests/cluster.sh for $n instance(s)"
    echo "upstream taskflow_any {"
    echo "    zone taskflow_any 64k;"
    for p in "${ports[@]}"; do echo "    server 127.0.0.1:$p $fails;"; done
    echo "    keepalive 32;"
    echo "    keepalive_timeout 4s;  # below the app server's own (Hypercorn: 5 s)"
    echo "}"
    for ((k = 1; k <= n; k++)); do
        echo "upstream taskflow_i$k {"
        echo "    zone taskflow_i$k 64k;"
        echo "    server 127.0.0.1:${ports[k - 1]} $fails;"
        for ((j = 1; j <= n; j++)); do
            ((j == k)) || echo "    server 127.0.0.1:${ports[j - 1]} $fails backup;"
        done
        echo "    # no keepalive: a stale pooled connection would push a pinned request to a backup"
        echo "}"
    done
    echo "map \$arg_sid \$taskflow_upstream {"
    echo "    default taskflow_any;"
    for ((k = 1; k <= n; k++)); do echo "    \"~^i$k\\.\" taskflow_i$k;"; done
    echo "}"
}

# render_nginx OUT LISTEN TEMP_DIR WEB_ROOT PORT...
render_nginx() {
    local out=$1 listen=$2 tmp=$3 web=$4 user=
    shift 4
    [[ -f $TEMPLATE ]] || die "missing $TEMPLATE"
    if ((EUID == 0)); then user="nobody $(id -gn nobody 2>/dev/null || echo nogroup)"; fi
    gen_upstreams "$@" >"$out.upstreams"
    R_USER=$user R_PID=$STATE/nginx.pid R_ERR=$STATE/nginx-error.log \
        R_ACC=$STATE/nginx-access.log R_TMP=$tmp R_LISTEN=$listen R_WEB=$web \
        awk -v upfile="$out.upstreams" '
        function subst(s, key, val,    out, i) {
            out = ""
            while ((i = index(s, key)) > 0) { out = out substr(s, 1, i - 1) val; s = substr(s, i + length(key)) }
            return out s
        }
        /^[ \t]*# @@UPSTREAMS@@/ { while ((getline l < upfile) > 0) print "    " l; close(upfile); next }
        /^[ \t]*#/ { print; next }
        /^[ \t]*user[ \t]+@@USER@@/ && ENVIRON["R_USER"] == "" { print "# user: not started as root, workers run as the invoking user"; next }
        {
            s = $0
            s = subst(s, "@@USER@@", ENVIRON["R_USER"]); s = subst(s, "@@PID_FILE@@", ENVIRON["R_PID"])
            s = subst(s, "@@ERROR_LOG@@", ENVIRON["R_ERR"]); s = subst(s, "@@ACCESS_LOG@@", ENVIRON["R_ACC"])
            s = subst(s, "@@TEMP_DIR@@", ENVIRON["R_TMP"]); s = subst(s, "@@LISTEN@@", ENVIRON["R_LISTEN"])
            s = subst(s, "@@WEB_ROOT@@", ENVIRON["R_WEB"])
            print s
        }' "$TEMPLATE" >"$out"
    rm -f "$out.upstreams"
    if grep -v '^[[:space:]]*#' "$out" | grep -q '@@'; then
        die "unsubstituted placeholder left in $out: $(grep -v '^[[:space:]]*#' "$out" | grep -m1 '@@')"
    fi
}

# ---- state ----------------------------------------------------------------------------

load_state() {
    [[ -f $STATE/$MARKER && -f $STATE/cluster.env ]] || {
        local others
        others=$(find /tmp -maxdepth 2 -path '/tmp/taskflow-cluster-*' -name cluster.env -printf '%h ' 2>/dev/null || true)
        die "no cluster state in $STATE${others:+ (found: $others)}"
    }
    # shellcheck source=/dev/null
    . "$STATE/cluster.env"
}

instance_start() { # K
    local k=$1 port
    port=$(<"$STATE/i$k.port")
    [[ -f $STATE/i$k.log ]] && echo "=== restart $(date -u +%FT%TZ) ===" >>"$STATE/i$k.log"
    # shellcheck disable=SC2016 # expanded by the inner shell
    start_bg "$STATE/i$k.log" bash -c 'unset JWT_SECRET_FILE REDIS_URL_FILE; set -a; . "$1"; set +a; export TASKFLOW_INSTANCE_ID="$2"; exec "$3" serve --host 127.0.0.1 --port "$4"' \
        instance "$STATE/instance.env" "i$k" "$TASKFLOW_BIN" "$port"
    echo "$LAST_PID" >"$STATE/i$k.pid"
}

# Wait until every URL answers 2xx; PIDS[i] (pgid) must stay alive meanwhile.
wait_healthy() { # "name|url|pgid|log" ...
    local -a pending=("$@") still
    local deadline=$((SECONDS + WAIT_SECS)) item name url pgid log
    while ((${#pending[@]})); do
        still=()
        for item in "${pending[@]}"; do
            IFS='|' read -r name url pgid log <<<"$item"
            if http_ok "$url" 2; then continue; fi
            if [[ -n $pgid ]] && ! group_alive "$pgid"; then
                note "$name exited during start-up; last lines of $log:"
                tail -n 20 "$log" >&2 || true
                return 1
            fi
            still+=("$item")
        done
        pending=("${still[@]+"${still[@]}"}")
        ((${#pending[@]})) || break
        if ((SECONDS >= deadline)); then
            for item in "${pending[@]}"; do
                IFS='|' read -r name url pgid log <<<"$item"
                note "$name not healthy after ${WAIT_SECS}s ($url); last lines of $log:"
                tail -n 20 "$log" >&2 || true
            done
            return 1
        fi
        sleep 0.3
    done
}

# ---- commands -------------------------------------------------------------------------

cmd_up() {
    local n=${1:-} port=${2:-$DEFAULT_PORT}
    if ! is_uint "$n" || ((n < 1 || n > 64)); then die "usage: cluster.sh up N [PORT] (1 <= N <= 64)"; fi
    set_state "$port"
    local nginx
    nginx=$(nginx_bin)
    python_bin >/dev/null
    [[ -x $TASKFLOW_BIN ]] || die "$TASKFLOW_BIN not found or not executable (set TASKFLOW_BIN or create the venv)"
    command -v curl >/dev/null || die "curl not found: run scripts/bootstrap-system.sh"
    command -v setsid >/dev/null || die "setsid not found (util-linux)"

    if [[ -e $STATE ]]; then
        [[ -d $STATE ]] || die "$STATE exists and is not a directory"
        if [[ ! -f $STATE/$MARKER ]] && [[ -n $(ls -A "$STATE") ]]; then
            die "$STATE is not empty and was not made by cluster.sh; set TASKFLOW_CLUSTER_DIR elsewhere"
        fi
        local pidfile pid
        for pidfile in "$STATE"/*.pid; do
            [[ -f $pidfile ]] || continue
            pid=$(<"$pidfile")
            group_alive "$pid" && die "a cluster is already running from $STATE ($(basename "$pidfile") $pid): run 'cluster.sh down $port' first"
        done
    fi
    port_free "$port" || die "127.0.0.1:$port is already in use"

    mkdir -p "$STATE"
    touch "$STATE/$MARKER"
    # Fresh run: drop the previous run's pids/ports/config, keep one generation of logs.
    rm -f "$STATE"/*.pid "$STATE"/*.port "$STATE/started" "$STATE/nginx.conf" "$STATE/cluster.env" "$STATE/instance.env"
    local f
    for f in "$STATE"/*.log; do [[ -f $f ]] && mv -f "$f" "$f.prev"; done

    # From here on, undo everything on failure.
    UP_OK=0
    trap on_up_exit EXIT

    # Instance ports: PORT+1..PORT+N when free, else any free port.
    local -a cands ports
    local k
    for ((k = 1; k <= n; k++)); do cands+=($((port + k))); done
    read -r -a ports <<<"$(pick_ports "${cands[@]}")"
    for ((k = 1; k <= n; k++)); do
        [[ ${ports[k - 1]} != "$port" ]] || ports[k - 1]=$(pick_ports 0)
        echo "${ports[k - 1]}" >"$STATE/i$k.port"
    done

    # Redis: the given or local one when it answers, else our own.
    local redis_mode=${TASKFLOW_REDIS_MODE:-single}
    [[ $redis_mode == single || $redis_mode == cluster ]] || die "TASKFLOW_REDIS_MODE must be single or cluster, got '$redis_mode'"
    local redis_url=${REDIS_URL:-redis://127.0.0.1:6379/0} redis_own=0
    command -v redis-cli >/dev/null || die "redis-cli not found: run scripts/bootstrap-system.sh"
    local -a REDIS_CLUSTER_PORTS=()
    if [[ $redis_mode == cluster ]]; then
        if [[ -n ${REDIS_URL:-} ]] && redis_ping "$REDIS_URL"; then
            [[ $(redis_cluster_state "$REDIS_URL") == ok ]] || die "REDIS_URL=$REDIS_URL answers but is no Redis Cluster in cluster_state:ok"
        else
            command -v redis-server >/dev/null || die "TASKFLOW_REDIS_MODE=cluster: no cluster answers and redis-server is not installed"
            [[ -n ${REDIS_URL:-} ]] && note "no Redis answers at REDIS_URL=$REDIS_URL: starting a private Redis Cluster"
            start_redis_cluster
            redis_url=$(node_url "${REDIS_CLUSTER_PORTS[0]}")
            redis_own=1
        fi
    elif ! redis_ping "$redis_url"; then
        command -v redis-server >/dev/null || die "no Redis answers at $redis_url and redis-server is not installed"
        [[ -n ${REDIS_URL:-} ]] && note "no Redis answers at REDIS_URL=$REDIS_URL: starting a private one"
        local rport
        rport=$(pick_ports 0)
        echo "$rport" >"$STATE/redis.port"
        start_bg "$STATE/redis.log" redis-server --bind 127.0.0.1 --port "$rport" --save "" \
            --appendonly no --dir "$STATE" --daemonize no --protected-mode yes
        echo "$LAST_PID" >"$STATE/redis.pid"
        redis_url=redis://127.0.0.1:$rport/0
        redis_own=1
        local i
        for ((i = 0; i < 100; i++)); do redis_ping "$redis_url" && break; sleep 0.1; done
        redis_ping "$redis_url" || { tail -n 20 "$STATE/redis.log" >&2; die "private redis-server did not start"; }
    fi

    # Environment shared by every instance (secret: 0600, never in the repo).
    local data_dir=${TASKFLOW_DATA_DIR:-$STATE/data} secret
    mkdir -p "$data_dir"
    secret=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')
    (
        umask 077
        {
            printf 'JWT_SECRET=%q\n' "$secret"
            printf 'TASKFLOW_DATA_DIR=%q\n' "$data_dir"
            printf 'REDIS_URL=%q\n' "$redis_url"
            printf 'TASKFLOW_REDIS_MODE=%q\n' "$redis_mode"
            printf 'TASKFLOW_TRUSTED_PROXIES=%q\n' "${TASKFLOW_TRUSTED_PROXIES:-127.0.0.1/32}"
            local v
            # Every other TaskFlow setting given to `up` reaches the instances (limits,
            # live-channel tuning, the server choice...); the ones above are the cluster's.
            for v in CORS_ORIGINS S3_BUCKET S3_ENDPOINT_URL S3_REGION \
                     $(compgen -e | grep -E '^(TASKFLOW|MONGODB)_' | grep -vE \
                       '^TASKFLOW_(DATA_DIR|TRUSTED_PROXIES|INSTANCE_ID|REDIS_MODE|CLUSTER_.*|BIN)$'); do
                [[ -n ${!v:-} ]] && printf '%s=%q\n' "$v" "${!v}"
            done
            true
        } >"$STATE/instance.env"
    )

    # nginx temp paths: in their own world-searchable dir, see the notes in nginx.conf.
    local ngx_tmp
    ngx_tmp=$(mktemp -d /tmp/taskflow-nginx-tmp.XXXXXX)
    chmod 755 "$ngx_tmp"

    {
        printf 'CLUSTER_PORT=%q\n' "$port"
        printf 'CLUSTER_N=%q\n' "$n"
        printf 'CLUSTER_URL=%q\n' "http://127.0.0.1:$port"
        printf 'INSTANCE_PORTS=%q\n' "${ports[*]}"
        printf 'CLUSTER_REDIS_URL=%q\n' "$redis_url"
        printf 'CLUSTER_REDIS_OWN=%q\n' "$redis_own"
        printf 'CLUSTER_REDIS_MODE=%q\n' "$redis_mode"
        printf 'CLUSTER_REDIS_NODES=%q\n' "${REDIS_CLUSTER_PORTS[*]}"
        printf 'CLUSTER_DATA_DIR=%q\n' "$data_dir"
        printf 'NGINX_TMP=%q\n' "$ngx_tmp"
    } >"$STATE/cluster.env"

    for ((k = 1; k <= n; k++)); do instance_start "$k"; done

    render_nginx "$STATE/nginx.conf" "127.0.0.1:$port" "$ngx_tmp" "$REPO/web/dist" "${ports[@]}"
    local out
    if ! out=$("$nginx" -t -q -p "$STATE" -e "$STATE/nginx-error.log" -c "$STATE/nginx.conf" 2>&1); then
        echo "$out" >&2
        die "nginx -t failed for $STATE/nginx.conf"
    fi
    # Not daemonized, so the recorded pid is the master's and its process group ours.
    start_bg "$STATE/nginx-error.log" "$nginx" -p "$STATE" -e "$STATE/nginx-error.log" -c "$STATE/nginx.conf" -g 'daemon off;'
    echo "$LAST_PID" >"$STATE/nginx-master.pid"

    local -a checks=()
    for ((k = 1; k <= n; k++)); do
        checks+=("i$k|http://127.0.0.1:${ports[k - 1]}/api/v1/health|$(read_pid "i$k")|$STATE/i$k.log")
    done
    wait_healthy "${checks[@]}"
    wait_healthy "nginx|http://127.0.0.1:$port/api/v1/health|$(read_pid nginx-master)|$STATE/nginx-error.log"

    sticky_check "$port" "$n"
    UP_OK=1
    trap - EXIT

    echo "TaskFlow cluster up: http://127.0.0.1:$port"
    echo "  nginx   pid $(read_pid nginx-master)  config $STATE/nginx.conf"
    for ((k = 1; k <= n; k++)); do
        echo "  i$k      pid $(read_pid "i$k")  http://127.0.0.1:${ports[k - 1]}  log $STATE/i$k.log"
    done
    if ((redis_own)) && [[ $redis_mode == cluster ]]; then
        echo "  redis   cluster of 6 nodes on ${REDIS_CLUSTER_PORTS[*]}, $redis_url (private, stopped by down)"
    elif ((redis_own)); then
        echo "  redis   pid $(read_pid redis)  $redis_url (private, stopped by down)"
    else
        echo "  redis   $redis_url (external, not managed)"
    fi
    echo "  state   $STATE   (facts for scripts: $STATE/cluster.env)"
    echo "  stop    $0 down $port"
}

on_up_exit() {
    if ((UP_OK == 0)); then
        note "start-up failed; stopping what was started (logs kept in $STATE)"
        cmd_down_inner || true
    fi
}

# Handshakes through nginx must come back with sids prefixed by every instance name.
# Only warns: the live channel may be switched off or not built yet.
sticky_check() { # PORT N
    local port=$1 n=$2 i body sid code ok=0 seen=" "
    local url="http://127.0.0.1:$port/socket.io/?EIO=4&transport=polling"
    for ((i = 0; i < 3 * n; i++)); do
        body=$(curl -sS --max-time 3 -w '\n%{http_code}' "$url" 2>/dev/null) || body=$'\n000'
        code=${body##*$'\n'}
        [[ $code == 200 ]] || continue
        ok=$((ok + 1))
        sid=
        [[ $body =~ \"sid\"[[:space:]]*:[[:space:]]*\"([^\"]*)\" ]] && sid=${BASH_REMATCH[1]}
        [[ $sid =~ ^(i[0-9]+)\. ]] || { note "warning: handshake sid '$sid' has no instance prefix: sticky routing will not work"; return 0; }
        [[ $seen == *" ${BASH_REMATCH[1]} "* ]] || seen+="${BASH_REMATCH[1]} "
    done
    if ((ok == 0)); then
        note "warning: no Socket.IO handshake succeeded through nginx (last HTTP status ${code:-none}): sticky routing unchecked"
        return 0
    fi
    local missing=()
    for ((i = 1; i <= n; i++)); do [[ $seen == *" i$i "* ]] || missing+=("i$i"); done
    ((${#missing[@]} == 0)) || note "warning: no handshake reached ${missing[*]} through nginx (seen:$seen)"
}

# Stop everything recorded in $STATE: nginx first, then instances, then a private Redis.
cmd_down_inner() {
    local pid pidfile rc=0
    pid=$(read_pid nginx-master)
    [[ -n $pid ]] && { stop_group "$pid" TERM 10 || rc=1; }
    rm -f "$STATE/nginx-master.pid" "$STATE/nginx.pid"
    # Instances: SIGTERM all at once, then wait for each.
    local -a inst=()
    for pidfile in "$STATE"/i*.pid; do
        [[ -f $pidfile ]] || continue
        pid=$(<"$pidfile")
        if [[ -n $pid ]] && group_alive "$pid"; then
            kill -s TERM -- "-$pid" 2>/dev/null || true
            inst+=("$pid")
        fi
        rm -f "$pidfile"
    done
    for pid in "${inst[@]+"${inst[@]}"}"; do stop_group "$pid" TERM 15 || rc=1; done
    pid=$(read_pid redis)
    [[ -n $pid ]] && { stop_group "$pid" TERM 10 || rc=1; }
    rm -f "$STATE/redis.pid"
    for pidfile in "$STATE"/redis-node-*.pid; do
        [[ -f $pidfile ]] || continue
        pid=$(<"$pidfile")
        [[ -n $pid ]] && { stop_group "$pid" TERM 10 || rc=1; }
        rm -f "$pidfile"
    done
    local tmp=
    if [[ -f $STATE/cluster.env ]]; then
        tmp=$(
            # shellcheck source=/dev/null
            . "$STATE/cluster.env"
            echo "${NGINX_TMP:-}"
        )
    fi
    [[ $tmp == /tmp/taskflow-nginx-tmp.* && -d $tmp ]] && rm -rf -- "$tmp"
    return "$rc"
}

cmd_down() {
    set_state "${1:-$DEFAULT_PORT}"
    load_state
    if cmd_down_inner; then
        echo "cluster stopped (state kept in $STATE)"
    else
        die "some processes could not be stopped: see above"
    fi
}

cmd_purge() {
    set_state "${1:-$DEFAULT_PORT}"
    [[ -f $STATE/$MARKER ]] || die "no cluster state in $STATE"
    if [[ -f $STATE/cluster.env ]]; then cmd_down_inner || die "could not stop everything; state kept"; fi
    rm -rf -- "$STATE"
    echo "removed $STATE"
}

cmd_status() {
    set_state "${1:-$DEFAULT_PORT}"
    load_state
    local bad=0 k pid port state
    pid=$(read_pid nginx-master)
    if group_alive "$pid" && http_ok "$CLUSTER_URL/api/v1/health"; then state="up"
    elif group_alive "$pid"; then state="running, health FAILING"; bad=1
    else state="DOWN"; bad=1
    fi
    echo "nginx   pid ${pid:--}  $CLUSTER_URL  $state"
    for ((k = 1; k <= CLUSTER_N; k++)); do
        pid=$(read_pid "i$k")
        port=$(<"$STATE/i$k.port")
        if group_alive "$pid" && http_ok "http://127.0.0.1:$port/api/v1/health"; then state="up"
        elif group_alive "$pid"; then state="running, health FAILING"; bad=1
        else state="DOWN"; bad=1
        fi
        echo "i$k      pid ${pid:--}  http://127.0.0.1:$port  $state"
    done
    if [[ $CLUSTER_REDIS_MODE == cluster ]]; then
        state=$(redis_cluster_state "$CLUSTER_REDIS_URL")
        if [[ $state == ok ]]; then state="up (cluster_state:ok)"; else state="DOWN (cluster_state:${state:-no answer})"; bad=1; fi
        local i=0 p role
        for p in $CLUSTER_REDIS_NODES; do
            i=$((i + 1))
            if redis_ping "$(node_url "$p")"; then
                role=$(timeout 3 redis-cli -p "$p" role 2>/dev/null | head -n 1) || role='?'
                echo "redis   node $i pid $(read_pid "redis-node-$i")  port $p  $role"
            else
                echo "redis   node $i pid $(read_pid "redis-node-$i")  port $p  DOWN"
            fi
        done
    elif redis_ping "$CLUSTER_REDIS_URL"; then state="up"; else state="DOWN"; bad=1; fi
    if [[ $CLUSTER_REDIS_MODE == cluster ]]; then
        echo "redis   cluster $CLUSTER_REDIS_URL ($( ((CLUSTER_REDIS_OWN)) && echo private || echo external))  $state"
    elif ((CLUSTER_REDIS_OWN)); then
        echo "redis   pid $(read_pid redis)  $CLUSTER_REDIS_URL (private)  $state"
    else
        echo "redis   $CLUSTER_REDIS_URL (external)  $state"
    fi
    echo "state   $STATE"
    return "$bad"
}

instance_arg() { # K PORT -> sets STATE, loads state, checks K
    is_uint "$1" || die "bad instance number: $1"
    set_state "${2:-$DEFAULT_PORT}"
    load_state
    (($1 >= 1 && $1 <= CLUSTER_N)) || die "instance $1 out of range 1..$CLUSTER_N"
}

cmd_signal_instance() { # SIGNAL K [PORT]
    local sig=$1 k=$2
    instance_arg "$k" "${3:-}"
    local pid
    pid=$(read_pid "i$k")
    group_alive "$pid" || die "instance i$k is not running"
    if [[ $sig == KILL ]]; then stop_group "$pid" KILL 5; else stop_group "$pid" TERM 15; fi
    echo "i$k (pid $pid) stopped with SIG$sig"
}

cmd_restart_instance() { # K [PORT]
    local k=$1
    instance_arg "$k" "${2:-}"
    [[ -x $TASKFLOW_BIN ]] || die "$TASKFLOW_BIN not found"
    local pid port
    pid=$(read_pid "i$k")
    [[ -n $pid ]] && stop_group "$pid" TERM 15
    port=$(<"$STATE/i$k.port")
    port_free "$port" || die "port $port of i$k is taken by another process"
    instance_start "$k"
    pid=$(read_pid "i$k")
    wait_healthy "i$k|http://127.0.0.1:$port/api/v1/health|$pid|$STATE/i$k.log"
    echo "i$k restarted: pid $pid  http://127.0.0.1:$port"
}

private_cluster() { # PORT -> sets STATE, loads state; dies unless we started a Redis Cluster
    set_state "${1:-$DEFAULT_PORT}"
    load_state
    [[ $CLUSTER_REDIS_MODE == cluster && $CLUSTER_REDIS_OWN == 1 ]] ||
        die "no private Redis Cluster in $STATE (only one started by 'TASKFLOW_REDIS_MODE=cluster up' is touched)"
}

live_nodes() { local p; for p in $CLUSTER_REDIS_NODES; do redis_ping "$(node_url "$p")" && echo "$p"; done; true; }

cmd_redis_failover() { # [PORT]
    private_cluster "${1:-}"
    local -a live
    read -r -a live <<<"$(live_nodes | tr '\n' ' ')"
    ((${#live[@]})) || die "no node of the Redis Cluster answers"
    local master replica
    master=$(cluster_nodes "${live[0]}" | awk '$3 ~ /master/ && $3 !~ /fail/ {
        for (i = 5; i <= NF; i++) if ($i == "0" || $i ~ /^0-/) { print $1; exit } }')
    [[ -n $master ]] || die "no live master serves slot 0"
    replica=$(cluster_replica_of "${live[0]}" "$master")
    [[ -n $replica ]] || die "the master on $master has no live replica"
    [[ $(timeout 5 redis-cli -p "$replica" cluster failover 2>&1) == OK ]] || die "CLUSTER FAILOVER on $replica refused"
    local deadline=$((SECONDS + 30))
    until cluster_masters "${live[0]}" | grep -qx "$replica" && ! cluster_masters "${live[0]}" | grep -qx "$master"; do
        ((SECONDS < deadline)) || die "$replica did not replace $master as master within 30s"
        sleep 0.2
    done
    wait_cluster_ok 30 "${live[@]}" || die "the Redis Cluster did not settle after the failover"
    echo "redis failover: master of slot 0 moved from port $master to port $replica"
}

cmd_redis_kill_master() { # K [PORT]
    local k=$1
    is_uint "$k" || die "bad master number: $k"
    private_cluster "${2:-}"
    local -a live masters
    read -r -a live <<<"$(live_nodes | tr '\n' ' ')"
    ((${#live[@]})) || die "no node of the Redis Cluster answers"
    read -r -a masters <<<"$(cluster_masters "${live[0]}" | tr '\n' ' ')"
    ((k >= 1 && k <= ${#masters[@]})) || die "master $k out of range 1..${#masters[@]}"
    local victim=${masters[k - 1]} replica i pid=
    replica=$(cluster_replica_of "${live[0]}" "$victim")
    [[ -n $replica ]] || die "the master on $victim has no live replica: killing it would lose its slots"
    i=0
    for p in $CLUSTER_REDIS_NODES; do
        i=$((i + 1))
        [[ $p == "$victim" ]] && pid=$(read_pid "redis-node-$i")
    done
    if [[ -z $pid ]] || ! group_alive "$pid"; then die "master on port $victim is not a node this script started"; fi
    stop_group "$pid" KILL 5
    local -a rest=()
    for p in "${live[@]}"; do [[ $p == "$victim" ]] || rest+=("$p"); done
    local deadline=$((SECONDS + 30))
    until cluster_masters "${rest[0]}" | grep -qx "$replica"; do
        ((SECONDS < deadline)) || die "$replica was not promoted within 30s"
        sleep 0.2
    done
    wait_cluster_ok 30 "${rest[@]}" || die "the Redis Cluster did not reach cluster_state:ok after the kill"
    echo "redis master on port $victim killed (pid $pid); its replica on port $replica took over"
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        purge) cmd_purge "$@" ;;
        kill-instance) (($# >= 1)) || usage; cmd_signal_instance KILL "$@" ;;
        stop-instance) (($# >= 1)) || usage; cmd_signal_instance TERM "$@" ;;
        restart-instance) (($# >= 1)) || usage; cmd_restart_instance "$@" ;;
        redis-failover) cmd_redis_failover "$@" ;;
        redis-kill-master) (($# >= 1)) || usage; cmd_redis_kill_master "$@" ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
