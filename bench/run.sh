#!/usr/bin/env bash
# Albatross benchmark: the warm Lambda hop of Albatross against nginx's proxy hop, in one run.
#
#   bench/run.sh
#
# Starts, on 127.0.0.1 only:
#   - albatross serve: one HTTP listener forwarding to a target group of a native `provided` function
#     (bench/runtime/bootstrap.c, compiled here) that answers a fixed ALB response "hello";
#   - nginx (one worker) proxying with an upstream keepalive pool to bench/upstream/server.c, a trivial
#     keep-alive server answering the same "hello".
# Then it measures cold and warm first-request latency with curl, and throughput, latency percentiles and server
# CPU per request with wrk. Everything it starts is killed by pid on exit. See bench/README.md.
#
# Environment (defaults in brackets):
#   WRK_THREADS [2]  WRK_CONNECTIONS [32]  DURATION [10s]  WARMUP [3s]   wrk parameters
#   COLD_SAMPLES [3]       fresh albatross instances started to time the first request (cold start)
#   WARM_SAMPLES [20]      sequential curl requests timed after each cold one (the median is reported)
#   MAX_CONCURRENCY [64]   maximumConcurrency of the benchmark function
#   SKIP_BUILD [0]         1: use the existing .build/release/albatross without running swift build
#   SKIP_INSTALL [0]       1: do not try to install nginx and wrk
#   KEEP_TMP [0]           1: keep the temporary directory (configs, logs) for inspection
set -euo pipefail

WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
COLD_SAMPLES=${COLD_SAMPLES:-3}
WARM_SAMPLES=${WARM_SAMPLES:-20}
MAX_CONCURRENCY=${MAX_CONCURRENCY:-64}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_INSTALL=${SKIP_INSTALL:-0}
KEEP_TMP=${KEEP_TMP:-0}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$REPO/bench"
export PATH="$PATH:/usr/sbin:/sbin"

source "$BENCH/lib/common.sh"

# ---------------------------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------------------------
ensure_tools

# ---------------------------------------------------------------------------------------------------------------
# Temporary directory, process bookkeeping, cleanup
# ---------------------------------------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/albatross-bench.XXXXXX")
STARTED=()   # pids of every process this script started (process-tree roots)

forget() { # forget PID: drop a stopped process from STARTED
    local kept=() pid
    for pid in "${STARTED[@]}"; do
        [ "$pid" = "$1" ] || kept+=("$pid")
    done
    STARTED=("${kept[@]}")
}

cleanup() {
    local status=$?
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
trap cleanup EXIT
trap 'exit 130' INT TERM

# Process-tree helper: CPU ticks of process trees and the list of descendants, from /proc.
wait_for_line() { # wait_for_line FILE PATTERN PID SECONDS
    local file=$1 pattern=$2 pid=$3 seconds=$4 i
    for i in $(seq $((seconds * 20))); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
    log "building albatross (release)"
    (cd "$REPO" && swift build -c release --product albatross >"$TMP/swift-build.log" 2>&1) ||
        { tail -40 "$TMP/swift-build.log" >&2; die "swift build failed"; }
fi
ALBATROSS="$REPO/.build/release/albatross"
[ -x "$ALBATROSS" ] || die "$ALBATROSS not found (run without SKIP_BUILD=1)"

log "compiling the C runtime and upstream"
mkdir -p "$TMP/function"
cc -O2 -Wall -o "$TMP/function/bootstrap" "$BENCH/runtime/bootstrap.c"
cc -O2 -Wall -o "$TMP/upstream" "$BENCH/upstream/server.c"

# ---------------------------------------------------------------------------------------------------------------
# Albatross
# ---------------------------------------------------------------------------------------------------------------
ALBATROSS_RUNS=0
start_albatross() { # sets ALB_PID and ALB_PORT
    ALBATROSS_RUNS=$((ALBATROSS_RUNS + 1))
    ALB_PORT=$(free_port)
    local config="$TMP/albatross-$ALBATROSS_RUNS.yaml"
    cat >"$config" <<YAML
dataDirectory: $TMP/albatross-data-$ALBATROSS_RUNS
environments:
  idleTimeoutSeconds: 600
  shutdownGraceSeconds: 2
functions:
  - name: bench
    runtime: provided.al2023
    handler: bench.handler
    code: $TMP/function
    memorySize: 128
    timeout: 10
    maximumConcurrency: $MAX_CONCURRENCY
targetGroups:
  - name: bench-tg
    function: bench
listeners:
  - port: $ALB_PORT
    bindAddress: 127.0.0.1
    protocol: HTTP
    defaultAction:
      forward: bench-tg
YAML
    ALB_OUT="$TMP/albatross-$ALBATROSS_RUNS.out"
    ALB_ERR="$TMP/albatross-$ALBATROSS_RUNS.err"
    "$ALBATROSS" serve --config "$config" --quiet >"$ALB_OUT" 2>"$ALB_ERR" &
    ALB_PID=$!
    STARTED+=("$ALB_PID")
    wait_for_line "$ALB_OUT" "listening on" "$ALB_PID" 30 ||
        { cat "$ALB_OUT" "$ALB_ERR" >&2; die "albatross did not start"; }
}

# ---------------------------------------------------------------------------------------------------------------
# Upstream and nginx
# ---------------------------------------------------------------------------------------------------------------
"$TMP/upstream" 0 >"$TMP/upstream.out" 2>"$TMP/upstream.err" &
UP_PID=$!
STARTED+=("$UP_PID")
wait_for_line "$TMP/upstream.out" "listening on" "$UP_PID" 10 || die "the upstream server did not start"
UP_PORT=$(awk '/listening on/ {print $3}' "$TMP/upstream.out")

NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/temp"
cat >"$TMP/nginx/nginx.conf" <<NGINX
daemon off;
master_process on;
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
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
nginx -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!
STARTED+=("$NGINX_PID")
for i in $(seq 100); do
    [ "$(python3 "$BENCH/lib/proctree.py" count "$NGINX_PID")" -ge 2 ] && break # master + worker
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx.out" "$TMP/nginx/logs/error.log" >&2; die "nginx failed"; }
    sleep 0.05
done

# ---------------------------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

timed_get() { # timed_get URL: prints seconds; fails unless the answer is 200 "hello"
    local result
    result=$(curl -s --max-time 30 -o "$TMP/curl.body" -w '%{http_code} %{time_total}' "$1") || return 1
    [ "${result%% *}" = 200 ] && [ "$(cat "$TMP/curl.body")" = hello ] ||
        { echo "unexpected answer from $1: $result $(head -c 200 "$TMP/curl.body")" >&2; return 1; }
    echo "${result#* }"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# Cold start: a fresh albatross has no environment, so its first request spawns one.
log "cold start: $COLD_SAMPLES fresh albatross instance(s), $WARM_SAMPLES warm request(s) after each"
: >"$TMP/cold.txt"
: >"$TMP/warm.txt"
for sample in $(seq "$COLD_SAMPLES"); do
    start_albatross
    timed_get "http://127.0.0.1:$ALB_PORT/cold" >>"$TMP/cold.txt" || die "albatross cold request failed"
    for i in $(seq "$WARM_SAMPLES"); do
        timed_get "http://127.0.0.1:$ALB_PORT/warm" >>"$TMP/warm.txt" || die "albatross warm request failed"
    done
    if [ "$sample" != "$COLD_SAMPLES" ]; then
        stop_tree "$ALB_PID"
        forget "$ALB_PID"
    fi
done
# The last instance stays up for the throughput run.
: >"$TMP/nginx-first.txt"
: >"$TMP/nginx-warm.txt"
timed_get "http://127.0.0.1:$NGINX_PORT/first" >>"$TMP/nginx-first.txt" || die "nginx first request failed"
for i in $(seq "$WARM_SAMPLES"); do
    timed_get "http://127.0.0.1:$NGINX_PORT/warm" >>"$TMP/nginx-warm.txt" || die "nginx warm request failed"
done

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

# run_wrk NAME URL ROOT_PIDS...: warm up, then measure; leaves "$TMP/NAME.wrk" and "$TMP/NAME.cpu" (ticks).
run_wrk() {
    local name=$1 url=$2
    shift 2
    log "$name: warm-up $WARMUP"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WARMUP" "$url" >"$TMP/$name.warmup" 2>&1 ||
        { cat "$TMP/$name.warmup" >&2; die "wrk warm-up against $name failed"; }
    log "$name: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION --latency"
    local before after
    python3 "$BENCH/lib/proctree.py" threads "$1" >"$TMP/$name.threads-before"
    before=$(python3 "$BENCH/lib/proctree.py" ticks "$@")
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$DURATION" --latency -s "$TMP/report.lua" "$url" \
        >"$TMP/$name.wrk" 2>&1 || { cat "$TMP/$name.wrk" >&2; die "wrk against $name failed"; }
    after=$(python3 "$BENCH/lib/proctree.py" ticks "$@")
    python3 "$BENCH/lib/proctree.py" threads "$1" >"$TMP/$name.threads-after"
    read -r -a before <<<"$before"
    read -r -a after <<<"$after"
    echo $((after[0] - before[0])) $((after[1] - before[1])) $((after[2] - before[2])) >"$TMP/$name.cpu"
}

run_wrk nginx "http://127.0.0.1:$NGINX_PORT/" "$NGINX_PID" "$UP_PID"
run_wrk albatross "http://127.0.0.1:$ALB_PORT/" "$ALB_PID"
ENVIRONMENTS=$(( $(python3 "$BENCH/lib/proctree.py" count "$ALB_PID") - 1 ))

for pid in "$ALB_PID" "$NGINX_PID" "$UP_PID"; do
    kill -0 "$pid" 2>/dev/null || log "WARNING: process $pid died during the benchmark"
done

# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
echo
REVISION=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')
NGINX_VERSION=$(nginx -v 2>&1 | sed 's/.*: //')
echo "Machine: $(nproc) CPU(s), $(uname -sr);" \
    "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk: -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION (after a $WARMUP warm-up);" \
    "albatross $REVISION, maximumConcurrency $MAX_CONCURRENCY; $NGINX_VERSION"
python3 - "$TMP" "$CLK_TCK" "$ENVIRONMENTS" <<'PY'
import re, statistics, sys

tmp, clock_ticks, environments = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def wrk(name):
    text = open(f"{tmp}/{name}.wrk").read()
    match = re.search(r"^BENCH (.*)$", text, re.M)
    if not match:
        sys.exit(f"bench: no summary in {name}'s wrk output:\n{text}")
    values = {key: int(value) for key, value in (pair.split("=") for pair in match.group(1).split())}
    total, first_tree, own = (int(field) / clock_ticks for field in open(f"{tmp}/{name}.cpu").read().split())
    values["cpu_s"] = total
    # "front": the process that terminates the client's HTTP (albatross alone; nginx master + worker);
    # "back": what produces the answer (the runtime processes; the upstream server).
    values["front_s"] = own if name == "albatross" else first_tree
    values["back_s"] = total - values["front_s"]
    values["rps"] = values["requests"] / (values["duration_us"] / 1e6)
    values["cpu_us_per_request"] = values["cpu_s"] / max(values["requests"], 1) * 1e6
    values["text"] = text
    return values

albatross, nginx = wrk("albatross"), wrk("nginx")

def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"

def per_request(values, key):
    return f"{values[key] / max(values['requests'], 1) * 1e6:.1f}"

rows = [
    ("requests/s", f"{albatross['rps']:.0f}", f"{nginx['rps']:.0f}", ratio(albatross["rps"], nginx["rps"])),
    ("latency p50 (ms)", f"{albatross['p50_us'] / 1000:.3f}", f"{nginx['p50_us'] / 1000:.3f}",
     ratio(albatross["p50_us"], nginx["p50_us"])),
    ("latency p99 (ms)", f"{albatross['p99_us'] / 1000:.3f}", f"{nginx['p99_us'] / 1000:.3f}",
     ratio(albatross["p99_us"], nginx["p99_us"])),
    ("server CPU (s)", f"{albatross['cpu_s']:.2f}", f"{nginx['cpu_s']:.2f}", ratio(albatross["cpu_s"], nginx["cpu_s"])),
    ("server CPU per request (us)", f"{albatross['cpu_us_per_request']:.1f}", f"{nginx['cpu_us_per_request']:.1f}",
     ratio(albatross["cpu_us_per_request"], nginx["cpu_us_per_request"])),
    ("  front: albatross | nginx (us)", per_request(albatross, "front_s"), per_request(nginx, "front_s"),
     ratio(albatross["front_s"] / albatross["requests"], nginx["front_s"] / nginx["requests"])),
    ("  back: runtimes | upstream (us)", per_request(albatross, "back_s"), per_request(nginx, "back_s"),
     ratio(albatross["back_s"] / albatross["requests"], nginx["back_s"] / nginx["requests"])),
    ("requests", str(albatross["requests"]), str(nginx["requests"]), ""),
    ("non-2xx/3xx responses", str(albatross["status"]), str(nginx["status"]), ""),
    ("socket errors (c/r/w/t)",
     "/".join(str(albatross[k]) for k in ("connect", "read", "write", "timeout")),
     "/".join(str(nginx[k]) for k in ("connect", "read", "write", "timeout")), ""),
]
print()
print("Warm throughput (wrk; server CPU = utime+stime of the whole process tree, from /proc/<pid>/stat)")
print("  albatross tree: albatross + its runtime processes; nginx tree: master + worker + upstream server")
print(f"| {'metric':<32} | {'albatross':>10} | {'nginx':>10} | {'albatross/nginx':>15} |")
print(f"|{'-' * 34}|{'-' * 12}|{'-' * 12}|{'-' * 17}|")
for row in rows:
    print(f"| {row[0]:<32} | {row[1]:>10} | {row[2]:>10} | {row[3]:>15} |")
print(f"  albatross environments alive after the run: {environments}")

def threads(name):
    """CPU seconds per thread name of the front process during the measured run, busiest first."""
    def load(suffix):
        table = {}
        for line in open(f"{tmp}/{name}.threads-{suffix}"):
            tid, ticks, comm = line.split()
            table[tid] = (int(ticks), comm)
        return table
    before, after = load("before"), load("after")
    by_name = {}
    for tid, (ticks, comm) in after.items():
        by_name[comm] = by_name.get(comm, 0) + ticks - before.get(tid, (0, comm))[0]
    return sorted(((ticks / clock_ticks, comm) for comm, ticks in by_name.items() if ticks > 0), reverse=True)

listed = ", ".join(f"{comm} {seconds:.2f}s" for seconds, comm in threads("albatross")[:6])
print(f"  albatross process CPU by thread name during the run: {listed or 'none'}")

def numbers(name):
    return [float(line) for line in open(f"{tmp}/{name}.txt") if line.strip()]

cold, warm = numbers("cold"), numbers("warm")
nginx_first, nginx_warm = numbers("nginx-first"), numbers("nginx-warm")
print()
print("First request vs warm request (curl time_total, one request at a time, new connection each)")
print(f"| {'case':<46} | {'samples':>7} | {'median (ms)':>11} | {'min (ms)':>9} | {'max (ms)':>9} |")
print(f"|{'-' * 48}|{'-' * 9}|{'-' * 13}|{'-' * 11}|{'-' * 11}|")
for label, values in [
    ("albatross cold (first request, new instance)", cold),
    ("albatross warm", warm),
    ("nginx first request (new upstream connection)", nginx_first),
    ("nginx warm", nginx_warm),
]:
    print(f"| {label:<46} | {len(values):>7} | {statistics.median(values) * 1000:>11.2f} | "
          f"{min(values) * 1000:>9.2f} | {max(values) * 1000:>9.2f} |")
print(f"  cold/warm for albatross: {statistics.median(cold) / statistics.median(warm):.1f}x")

target = albatross["cpu_us_per_request"] <= nginx["cpu_us_per_request"]
print()
print(f"Target (CPU per warm request <= nginx's proxy hop): {'MET' if target else 'NOT MET'} "
      f"({albatross['cpu_us_per_request']:.1f} us vs {nginx['cpu_us_per_request']:.1f} us)")
for name, values in (("albatross", albatross), ("nginx", nginx)):
    if values["status"] or values["connect"] or values["read"] or values["write"] or values["timeout"]:
        print(f"\nWARNING: {name} had errors; wrk output follows\n{values['text']}")
PY

for file in "$TMP"/albatross-*.err "$TMP/upstream.err" "$TMP/nginx/logs/error.log"; do
    if [ -s "$file" ]; then
        echo
        echo "stderr/log of $(basename "$file") (last 20 lines):"
        tail -20 "$file"
    fi
done
