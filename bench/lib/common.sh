# Shared by bench/run.sh, bench/tls.sh and bench/callgrind.sh: the one place for messages, tool installation,
# the temporary directory and clean-up, the release build, the two stacks (albatross with the C runtime; nginx
# with the C upstream) and the measured wrk run.
#
# It sets REPO, BENCH and PATH and the defaults every script shares (SKIP_INSTALL, SKIP_BUILD, KEEP_TMP,
# MAX_CONCURRENCY); the sourcing script sets (for run_wrk) WRK_THREADS, WRK_CONNECTIONS, DURATION, WARMUP.

MAX_CONCURRENCY=${MAX_CONCURRENCY:-64}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_INSTALL=${SKIP_INSTALL:-0}
KEEP_TMP=${KEEP_TMP:-0}
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$BENCH/.." && pwd)
# BUILD_PATH: the release build's scratch path (swift build --scratch-path), .build of the checkout by default.
BUILD_PATH=$(cd "$REPO" && mkdir -p "${BUILD_PATH:-.build}" && cd "${BUILD_PATH:-.build}" && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Installs nginx-light and wrk from Debian when missing (as root, or with sudo), then checks every tool.
ensure_tools() {
    if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
        [ "$SKIP_INSTALL" = 1 ] && die "nginx or wrk is missing and SKIP_INSTALL=1"
        local sudo=""
        if [ "$(id -u)" != 0 ]; then
            command -v sudo >/dev/null || die "nginx or wrk is missing; install them (apt-get install nginx-light wrk)"
            sudo=sudo
        fi
        log "installing nginx-light and wrk from Debian"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light wrk >/dev/null
    fi
    local tool
    for tool in nginx wrk curl python3 cc; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
}

# ---------------------------------------------------------------------------------------------------------------
# Temporary directory, process bookkeeping, clean-up
# ---------------------------------------------------------------------------------------------------------------

# bench_setup NAME: makes TMP, starts the list STARTED of every process tree this script starts, and installs
# the EXIT trap that stops each of them by pid and removes TMP (unless KEEP_TMP=1).
bench_setup() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    STARTED=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local status=$? pid
    set +e
    for pid in "${STARTED[@]}"; do
        stop_tree "$pid"
    done
    if [ "$KEEP_TMP" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit $status
}

forget() { # forget PID: drop a stopped process from STARTED
    local kept=() pid
    for pid in "${STARTED[@]}"; do
        [ "$pid" = "$1" ] || kept+=("$pid")
    done
    STARTED=("${kept[@]}")
}

# Prints the pids of every descendant of the given pids (children first, then theirs).
descendants() {
    python3 "$BENCH/lib/proctree.py" descendants "$@"
}

stop_tree() { # stop_tree PID [SECONDS]: SIGTERM the process, wait (5 s), then SIGKILL it and any descendant left
    local pid=$1 seconds=${2:-5} children i child
    kill -0 "$pid" 2>/dev/null || return 0
    children=$(descendants "$pid" || true)
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq $((seconds * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for child in $children; do
        kill -KILL "$child" 2>/dev/null || true
    done
}

stop_started() { # stop_started PID [SECONDS]: stop_tree, then forget
    stop_tree "$@"
    forget "$1"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_line() { # wait_for_line FILE PATTERN PID SECONDS [COUNT]: waits until PATTERN occurs COUNT (1) times
    local file=$1 pattern=$2 pid=$3 seconds=$4 count=${5:-1} i
    for i in $(seq $((seconds * 20))); do
        [ "$(grep -c "$pattern" "$file" 2>/dev/null || true)" -ge "$count" ] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------------------------------------------------------
# Build: albatross in release configuration; the C runtime and upstream with cc -O2
# ---------------------------------------------------------------------------------------------------------------

build_albatross() { # sets ALBATROSS
    if [ "$SKIP_BUILD" != 1 ]; then
        log "building albatross (release)"
        (cd "$REPO" && swift build -c release --scratch-path "$BUILD_PATH" --product albatross \
            >"$TMP/swift-build.log" 2>&1) || { tail -40 "$TMP/swift-build.log" >&2; die "swift build failed"; }
    fi
    # ALBATROSS_BINARY: another release binary to measure (one kept from an earlier commit, for a before/after).
    ALBATROSS="${ALBATROSS_BINARY:-$BUILD_PATH/release/albatross}"
    [ -x "$ALBATROSS" ] || die "$ALBATROSS not found (run without SKIP_BUILD=1)"
}

compile_backends() { # $TMP/function/bootstrap (the function's runtime) and $TMP/upstream (nginx's back end)
    log "compiling the C runtime and upstream"
    mkdir -p "$TMP/function"
    cc -O2 -Wall -o "$TMP/function/bootstrap" "$BENCH/runtime/bootstrap.c"
    cc -O2 -Wall -o "$TMP/upstream" "$BENCH/upstream/server.c"
}

# ---------------------------------------------------------------------------------------------------------------
# The albatross stack
# ---------------------------------------------------------------------------------------------------------------

http_listener() { # http_listener PORT: the YAML of one HTTP listener forwarding to the benchmark target group
    cat <<YAML
  - port: $1
    bindAddress: 127.0.0.1
    protocol: HTTP
    defaultAction:
      forward: bench-tg
YAML
}

# start_albatross NAME LISTENERS_YAML LISTENER_COUNT: writes $TMP/NAME.yaml (the function `bench` running the C
# runtime, its target group, and the given listeners), runs `albatross serve` on it and waits until every
# listener listens. Sets ALB_PID, ALB_OUT, ALB_ERR. ALB_WRAPPER (an array, empty by default) goes in front of
# the command, for valgrind; ALB_START_SECONDS (30) bounds the wait. BENCH_ADMIN=1 adds an admin listener on a
# free port (`admin: {port: 0}`, or BENCH_ADMIN_PORT), which attaches the metrics subscriber: the "metrics on"
# configuration. BENCH_SCHEDULING=batch runs the runtimes under SCHED_BATCH (`environments.runtimeScheduling`);
# BENCH_FREEZE_IDLE=false leaves idle environments running (`environments.freezeIdle`), BENCH_FREEZE_DELAY_MS=N
# freezes them only after N ms idle (`environments.freezeDelayMs`).
start_albatross() {
    local name=$1 listeners=$2 count=$3 admin="" api=""
    [ "${BENCH_ADMIN:-0}" = 1 ] && admin="admin: {port: ${BENCH_ADMIN_PORT:-0}}"
    # BENCH_API_PORT=N: the control API on that port too (bench/api.sh).
    [ -n "${BENCH_API_PORT:-}" ] && api="api: {port: $BENCH_API_PORT}"
    # BENCH_TRACING=1: X-Ray active tracing of the function with every request sampled (the cost of tracing).
    local tracing_function="" tracing_section=""
    if [ "${BENCH_TRACING:-0}" = 1 ]; then
        tracing_function="    tracingConfig: {Mode: Active}"
        tracing_section="tracing: {samplingRate: 1.0}"
    fi
    # BENCH_LAYER=1: the function gets a layer (with no extension in it), so that its environments can have
    # extensions and the Telemetry API's hub subscribes to the bus (what a server pays for the hub; issue 9).
    local layer_function="" layer_section=""
    if [ "${BENCH_LAYER:-0}" = 1 ]; then
        mkdir -p "$TMP/layer"
        echo "a layer without extensions" >"$TMP/layer/README"
        layer_function="    layers: [bench-layer]"
        layer_section="layers: [{name: bench-layer, code: $TMP/layer}]"
    fi
    cat >"$TMP/$name.yaml" <<YAML
dataDirectory: $TMP/$name-data
$admin
$api
$layer_section
environments:
  idleTimeoutSeconds: 600
  shutdownGraceSeconds: 2
  runtimeScheduling: ${BENCH_SCHEDULING:-normal}
  freezeIdle: ${BENCH_FREEZE_IDLE:-true}
  freezeDelayMs: ${BENCH_FREEZE_DELAY_MS:-0}
functions:
  - name: bench
    runtime: provided.al2023
    handler: bench.handler
    code: $TMP/function
    memorySize: 128
    timeout: 10
    maximumConcurrency: $MAX_CONCURRENCY
$tracing_function
$layer_function
$tracing_section
targetGroups:
  - name: bench-tg
    function: bench
listeners:
$listeners
YAML
    ALB_OUT="$TMP/$name.out"
    ALB_ERR="$TMP/$name.err"
    ${ALB_WRAPPER[@]+"${ALB_WRAPPER[@]}"} "$ALBATROSS" serve --config "$TMP/$name.yaml" --quiet \
        >"$ALB_OUT" 2>"$ALB_ERR" &
    ALB_PID=$!
    STARTED+=("$ALB_PID")
    wait_for_line "$ALB_OUT" "listening on" "$ALB_PID" "${ALB_START_SECONDS:-30}" "$count" ||
        { cat "$ALB_OUT" "$ALB_ERR" >&2; die "albatross did not start"; }
}

# ---------------------------------------------------------------------------------------------------------------
# The nginx stack
# ---------------------------------------------------------------------------------------------------------------

start_upstream() { # sets UP_PID and UP_PORT (the upstream binds port 0 itself)
    "$TMP/upstream" 0 >"$TMP/upstream.out" 2>"$TMP/upstream.err" &
    UP_PID=$!
    STARTED+=("$UP_PID")
    wait_for_line "$TMP/upstream.out" "listening on" "$UP_PID" 10 || die "the upstream server did not start"
    UP_PORT=$(awk '/listening on/ {print $3}' "$TMP/upstream.out")
}

# start_nginx SERVER...: nginx with access_log off, proxying to the upstream ($UP_PORT) with a keepalive pool.
# Each argument is the head of one `server` block (its listen line and, for TLS, the ssl directives); the proxy
# location is added to each. Sets NGINX_PID. NGINX_MASTER_PROCESS=off (default on: one master, one worker) runs
# a single process, for valgrind; NGINX_WRAPPER (an array) goes in front of the command.
start_nginx() {
    local server blocks="" master=${NGINX_MASTER_PROCESS:-on} i
    for server in "$@"; do
        blocks+="    server {
        $server
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }
"
    done
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/temp"
    cat >"$TMP/nginx/nginx.conf" <<NGINX
daemon off;
master_process $master;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/temp/body;
    proxy_temp_path $TMP/nginx/temp/proxy;
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 128;
    }
$blocks}
NGINX
    ${NGINX_WRAPPER[@]+"${NGINX_WRAPPER[@]}"} nginx -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" \
        -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.out" 2>&1 &
    NGINX_PID=$!
    STARTED+=("$NGINX_PID")
    local want=2 # master + worker
    [ "$master" = on ] || want=1
    for i in $(seq $((${NGINX_START_SECONDS:-5} * 10))); do
        [ "$(python3 "$BENCH/lib/proctree.py" count "$NGINX_PID")" -ge "$want" ] && break
        kill -0 "$NGINX_PID" 2>/dev/null ||
            { cat "$TMP/nginx.out" "$TMP/nginx/logs/error.log" >&2; die "nginx failed"; }
        sleep 0.1
    done
}

wait_for_http() { # wait_for_http URL SECONDS: until the URL answers 200 "hello" (for servers under valgrind)
    local i
    for i in $(seq $(($2 * 4))); do
        [ "$(curl -s --max-time 10 "$1" 2>/dev/null || true)" = hello ] && return 0
        sleep 0.25
    done
    return 1
}

# ---------------------------------------------------------------------------------------------------------------
# The measured wrk run
# ---------------------------------------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# write_wrk_report: $TMP/report.lua, wrk's `done` hook that prints one "BENCH key=value ..." line
write_wrk_report() {
    cat >"$TMP/report.lua" <<'LUA'
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d"
            .. " p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
LUA
}

# run_wrk NAME URL ROOT_PIDS...: a WARMUP wrk run, then the measured DURATION one. Leaves "$TMP/NAME.wrk",
# "$TMP/NAME.cpu" (ticks: all trees, the first root's tree, the first root alone), the first root's ticks by
# thread before and after ("$TMP/NAME.threads-before", "-after") and wrk's own CPU seconds in the measured run
# ("$TMP/NAME.wrk-cpu", user + system). bench/lib/wrkrun.py reads them.
run_wrk() {
    local name=$1 url=$2
    shift 2
    [ -s "$TMP/report.lua" ] || write_wrk_report
    # WRK_SCRIPT: a Lua file run before the report (e.g. setting wrk.method and wrk.body), in both runs.
    local script="$TMP/report.lua" warmup_script=()
    if [ -n "${WRK_SCRIPT:-}" ]; then
        script="$TMP/$name.lua"
        cat "$WRK_SCRIPT" "$TMP/report.lua" >"$script"
        warmup_script=(-s "$WRK_SCRIPT")
    fi
    log "$name: warm-up $WARMUP, then wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WARMUP" ${warmup_script[@]+"${warmup_script[@]}"} "$url" \
        >"$TMP/$name.warmup" 2>&1 ||
        { cat "$TMP/$name.warmup" >&2; die "wrk warm-up against $name failed"; }
    local before after
    python3 "$BENCH/lib/proctree.py" threads "$1" >"$TMP/$name.threads-before"
    before=$(python3 "$BENCH/lib/proctree.py" ticks "$@")
    python3 "$BENCH/lib/cpu_of.py" "$TMP/$name.wrk-cpu" \
        wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url" \
        >"$TMP/$name.wrk" 2>&1 || { cat "$TMP/$name.wrk" >&2; die "wrk against $name failed"; }
    after=$(python3 "$BENCH/lib/proctree.py" ticks "$@")
    python3 "$BENCH/lib/proctree.py" threads "$1" >"$TMP/$name.threads-after"
    read -r -a before <<<"$before"
    read -r -a after <<<"$after"
    echo $((after[0] - before[0])) $((after[1] - before[1])) $((after[2] - before[2])) >"$TMP/$name.cpu"
}

print_logs() { # print_logs FILE...: the tail of each non-empty stderr or error log
    local file
    for file in "$@"; do
        if [ -s "$file" ]; then
            echo
            echo "stderr/log of $(basename "$file") (last 20 lines):"
            tail -20 "$file"
        fi
    done
}
