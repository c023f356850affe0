#!/usr/bin/env bash
# Instructions per warm request of the front process, counted by callgrind: a figure that does not depend on
# how busy the machine is (wall-clock and CPU-time figures on this shared 2-core machine do).
#
#   bench/callgrind.sh            (bench/run.sh runs it at the end unless CALLGRIND=0)
#
# Starts on 127.0.0.1 only, one after the other:
#   - `albatross serve` under valgrind --tool=callgrind, with the stack of bench/run.sh (one HTTP listener, the
#     function `bench` running bench/runtime/bootstrap.c, which runs natively: valgrind does not follow exec);
#   - nginx as one process (master_process off) under callgrind, proxying to bench/upstream/server.c (native).
# For each, curl sends CG_WARMUP requests on each of 4 connections at once (so that albatross has environments
# started from connections on both event loops: with one environment, a connection on the other loop hops threads
# and the batches alternated by 2.5 %), then CG_BATCHES batches of CG_REQUESTS, each batch on one new keep-alive
# connection, one request at a time. callgrind's counters are zeroed before and dumped after each batch
# (callgrind_control), so start-up and warm-up are not counted. CG_IDLE_SECONDS with no request, before and after
# the batches, give the rate of what the process does on timers regardless of requests; under valgrind that work
# is a large, wall-clock-dependent share, so each batch is also given net of it (count - idle rate x seconds).
# The headline is the median over the batches of that net figure. Everything it starts is killed by pid on exit.
#
# Environment (defaults in brackets):
#   CG_REQUESTS [2000]     requests per batch
#   CG_BATCHES [3]         batches counted
#   CG_WARMUP [500]        warm-up requests on each of the 4 warm-up connections (cold starts, first invokes)
#   CG_IDLE_SECONDS [5]    length of each of the two idle counts
#   CG_NGINX [1]           0: skip nginx
#   CG_FEED [0]            1: an admin listener, and a client of its invocation feed (/invocations/events, what
#                          `albatross bench --server` reads) connected throughout, so the counts include the feed's
#                          cost to the server (its events and their formatting, on every thread of the process)
#   MAX_CONCURRENCY [64]  SKIP_BUILD [0]  SKIP_INSTALL [0]  KEEP_TMP [0]   as for bench/run.sh
set -euo pipefail

CG_REQUESTS=${CG_REQUESTS:-2000}
CG_WARMUP=${CG_WARMUP:-500}
CG_BATCHES=${CG_BATCHES:-3}
CG_IDLE_SECONDS=${CG_IDLE_SECONDS:-5}
CG_NGINX=${CG_NGINX:-1}
CG_FEED=${CG_FEED:-0}
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ensure_tools
for tool in valgrind callgrind_control strip; do
    command -v "$tool" >/dev/null || die "$tool is required (apt-get install valgrind binutils)"
done
bench_setup albatross-callgrind
build_albatross
compile_backends
# valgrind 3.19 cannot read the DWARF 5 debug information Swift 6.3 writes: count on a copy without it.
cp "$ALBATROSS" "$TMP/albatross-nodebug"
strip --strip-debug "$TMP/albatross-nodebug"
ALBATROSS="$TMP/albatross-nodebug"
# ... and with a sigsuspend() that valgrind 3.19 survives (see the file).
cc -O2 -Wall -shared -fPIC -o "$TMP/sigsuspend.so" "$BENCH/callgrind/sigsuspend.c"

# batch URL COUNT: COUNT requests one at a time on one keep-alive connection; fails unless each is 200 "hello"
batch() {
    local answers
    answers=$(curl -s --max-time 900 -o /dev/null -w '%{http_code} %{size_download}\n' "$1r[1-$2]" |
        sort | uniq -c | awk '{$1=$1; print}')
    [ "$answers" = "$2 200 5" ] || die "unexpected answers from $1 ($2 requests): $answers"
}

# summary FILE: the total instruction count of one callgrind dump
summary() {
    local value
    value=$(sed -n 's/^summary: *//p' "$1")
    [ -n "$value" ] || die "no summary line in $1"
    echo "$value"
}

# count NAME PID URL: the counts against one server under callgrind. Leaves "$TMP/NAME.counts", one line per
# counted span: its kind (idle, or the number of requests), its start and end (seconds) and its instructions.
count() {
    local name=$1 pid=$2 url=$3 dumps=0 span started
    log "$name: $CG_WARMUP warm-up requests on each of 4 connections at once"
    local warmers=() warmer
    for warmer in 1 2 3 4; do
        batch "$url" "$CG_WARMUP" &
        warmers+=($!)
    done
    for warmer in "${warmers[@]}"; do wait "$warmer" || die "a warm-up connection to $name failed"; done
    echo $(( $(python3 "$BENCH/lib/proctree.py" count "$pid") - 1 )) >"$TMP/$name.children"
    : >"$TMP/$name.counts"
    for span in idle $(for i in $(seq "$CG_BATCHES"); do echo "$CG_REQUESTS"; done) idle; do
        callgrind_control -z "$pid" >>"$TMP/$name.control" 2>&1 || die "callgrind_control -z $pid failed"
        started=$(date +%s.%N)
        if [ "$span" = idle ]; then
            log "$name: ${CG_IDLE_SECONDS}s idle"
            sleep "$CG_IDLE_SECONDS"
        else
            log "$name: $span requests"
            batch "$url" "$span"
        fi
        callgrind_control -d "$pid" >>"$TMP/$name.control" 2>&1 || die "callgrind_control -d $pid failed"
        dumps=$((dumps + 1))
        echo "$span $started $(date +%s.%N) $(summary "$TMP/cg-$name.out.$dumps")" >>"$TMP/$name.counts"
    done
}

VALGRIND=(valgrind --tool=callgrind --trace-children=no)  # plus --log-file and --callgrind-out-file per server

ALB_PORT=$(free_port)
ALB_WRAPPER=(env "LD_PRELOAD=$TMP/sigsuspend.so" "${VALGRIND[@]}"
    "--log-file=$TMP/valgrind-albatross.log" "--callgrind-out-file=$TMP/cg-albatross.out")
ALB_START_SECONDS=300
log "albatross serve under callgrind"
if [ "$CG_FEED" = 1 ]; then
    ADMIN_PORT=$(free_port)
    BENCH_ADMIN=1 BENCH_ADMIN_PORT=$ADMIN_PORT start_albatross albatross "$(http_listener "$ALB_PORT")" 1
    # The feed's client reads everything, as bench does, until the server stops.
    curl -sN --max-time 3600 --retry 30 --retry-connrefused --retry-delay 1 \
        "http://127.0.0.1:$ADMIN_PORT/invocations/events" >"$TMP/feed.out" &
    FEED_PID=$!
    STARTED+=("$FEED_PID")
else
    start_albatross albatross "$(http_listener "$ALB_PORT")" 1
fi
count albatross "$ALB_PID" "http://127.0.0.1:$ALB_PORT/"
stop_started "$ALB_PID" 60
if [ "$CG_FEED" = 1 ]; then
    kill "$FEED_PID" 2>/dev/null || true
    wait "$FEED_PID" 2>/dev/null || true
    forget "$FEED_PID"
    feed_lines=$(grep -c '^data: i ' "$TMP/feed.out" || true)
    # A feed client that never connected (or read nothing) would make this count the admin listener's alone.
    [ "$feed_lines" -gt 0 ] || die "the feed's client read no invocation line from /invocations/events"
    log "feed: $feed_lines invocation lines read"
fi

if [ "$CG_NGINX" = 1 ]; then
    start_upstream
    NGINX_PORT=$(free_port)
    NGINX_MASTER_PROCESS=off
    NGINX_WRAPPER=("${VALGRIND[@]}" "--log-file=$TMP/valgrind-nginx.log" "--callgrind-out-file=$TMP/cg-nginx.out")
    NGINX_START_SECONDS=60
    log "nginx (one process) under callgrind"
    start_nginx "listen 127.0.0.1:$NGINX_PORT;"
    wait_for_http "http://127.0.0.1:$NGINX_PORT/" 60 || die "nginx under callgrind did not answer"
    count nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/"
    stop_started "$NGINX_PID" 30
fi

REVISION=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')
echo "Instructions per warm request (callgrind $(valgrind --version | sed 's/valgrind-//'), the front process alone," \
    "albatross $REVISION$([ "$CG_FEED" = 1 ] && echo ", with a client of the invocation feed"); load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg))"
echo "  $CG_WARMUP warm-up requests on each of 4 connections at once, then $CG_BATCHES batches of" \
    "N = $CG_REQUESTS requests, each on a new keep-alive connection, one request at a time;" \
    "${CG_IDLE_SECONDS}s idle before and after"
python3 - "$TMP" "$CG_NGINX" <<'PY'
import statistics, sys

tmp, with_nginx = sys.argv[1], sys.argv[2] == "1"
servers = [("albatross", "albatross serve")] + ([("nginx", "nginx (one process)")] if with_nginx else [])
header = (f"| {'server':<20} | {'span':<14} | {'seconds':>7} | {'instructions':>17} | {'per request':>11} "
          f"| {'net of idle':>11} |")
print(header)
print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
headline = {}
for name, label in servers:
    spans = []
    for line in open(f"{tmp}/{name}.counts"):
        kind, start, end, instructions = line.split()
        spans.append((kind, float(end) - float(start), int(instructions)))
    idle = [(seconds, count) for kind, seconds, count in spans if kind == "idle"]
    rate = sum(count for _, count in idle) / sum(seconds for seconds, _ in idle)
    net = []
    for kind, seconds, count in spans:
        if kind == "idle":
            print(f"| {label:<20} | {'idle':<14} | {seconds:>7.1f} | {count:>17,} | {'':>11} | {'':>11} |")
            continue
        requests = int(kind)
        net.append((count - rate * seconds) / requests)
        print(f"| {label:<20} | {f'{requests} requests':<14} | {seconds:>7.1f} | {count:>17,} "
              f"| {count / requests:>11,.0f} | {net[-1]:>11,.0f} |")
    headline[name] = statistics.median(net)
    print(f"| {label:<20} | {'median [range]':<14} | {'':>7} | {f'idle: {rate:,.0f}/s':>17} | {'':>11} "
          f"| {headline[name]:>11,.0f} |  [{min(net):,.0f}-{max(net):,.0f}]")
print(f"  albatross environments after the warm-up: {open(f'{tmp}/albatross.children').read().strip()}")
print("  net of idle: (instructions - idle instructions per second x the batch's seconds) / requests; the work the")
print("  process does on timers whether or not requests come scales with wall-clock time, which valgrind stretches")
print("  and the machine's load changes. The back ends (the runtime, the upstream) run natively and are not counted.")
if with_nginx and headline["nginx"]:
    print(f"Instructions per request: albatross {headline['albatross']:,.0f}, nginx {headline['nginx']:,.0f}, "
          f"albatross/nginx {headline['albatross'] / headline['nginx']:.2f}")
else:
    print(f"Instructions per request: albatross {headline['albatross']:,.0f}")
PY
print_logs "$TMP/albatross.err" "$TMP/upstream.err" "$TMP/nginx/logs/error.log"
