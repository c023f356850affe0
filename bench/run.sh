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
# CPU per request with wrk, in ROUNDS rounds that alternate which stack goes first (A N, N A, A N, ...); it
# reports every round and the median [min-max] over the rounds of each figure and of the per-round ratio
# albatross/nginx. Last, bench/callgrind.sh counts instructions per request (CALLGRIND=0 skips it). Everything
# it starts is killed by pid on exit. See bench/README.md.
#
# Environment (defaults in brackets):
#   ROUNDS [5]             rounds of one measured wrk run per stack; the order flips every round
#   WRK_THREADS [2]  WRK_CONNECTIONS [32]  DURATION [10s]  WARMUP [1s]   wrk parameters of one measured run
#   FIRST_WARMUP [3s]      a wrk run per stack before the first round (starts the albatross environments)
#   COLD_SAMPLES [3]       fresh albatross instances started to time the first request (cold start)
#   WARM_SAMPLES [20]      sequential curl requests timed after each cold one (the median is reported)
#   MAX_CONCURRENCY [64]   maximumConcurrency of the benchmark function
#   CALLGRIND [1]          1: then run bench/callgrind.sh (its variables, CG_*, pass through); 0: skip it
#   SKIP_BUILD [0]         1: use the existing .build/release/albatross without running swift build
#   SKIP_INSTALL [0]       1: do not try to install nginx and wrk
#   KEEP_TMP [0]           1: keep the temporary directory (configs, logs) for inspection
set -euo pipefail

ROUNDS=${ROUNDS:-5}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
FIRST_WARMUP=${FIRST_WARMUP:-3s}
COLD_SAMPLES=${COLD_SAMPLES:-3}
WARM_SAMPLES=${WARM_SAMPLES:-20}
CALLGRIND=${CALLGRIND:-1}

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ensure_tools
bench_setup albatross-bench
build_albatross
compile_backends

start_upstream
NGINX_PORT=$(free_port)
start_nginx "listen 127.0.0.1:$NGINX_PORT;"

# ---------------------------------------------------------------------------------------------------------------
# Cold start: a fresh albatross has no environment, so its first request spawns one
# ---------------------------------------------------------------------------------------------------------------
timed_get() { # timed_get URL: prints seconds; fails unless the answer is 200 "hello"
    local result
    result=$(curl -s --max-time 30 -o "$TMP/curl.body" -w '%{http_code} %{time_total}' "$1") || return 1
    [ "${result%% *}" = 200 ] && [ "$(cat "$TMP/curl.body")" = hello ] ||
        { echo "unexpected answer from $1: $result $(head -c 200 "$TMP/curl.body")" >&2; return 1; }
    echo "${result#* }"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
UPTIME_BEFORE=$(uptime)

log "cold start: $COLD_SAMPLES fresh albatross instance(s), $WARM_SAMPLES warm request(s) after each"
: >"$TMP/cold.txt"
: >"$TMP/warm.txt"
for sample in $(seq "$COLD_SAMPLES"); do
    ALB_PORT=$(free_port)
    start_albatross "albatross-$sample" "$(http_listener "$ALB_PORT")" 1
    timed_get "http://127.0.0.1:$ALB_PORT/cold" >>"$TMP/cold.txt" || die "albatross cold request failed"
    for i in $(seq "$WARM_SAMPLES"); do
        timed_get "http://127.0.0.1:$ALB_PORT/warm" >>"$TMP/warm.txt" || die "albatross warm request failed"
    done
    # The last instance stays up for the throughput rounds.
    [ "$sample" = "$COLD_SAMPLES" ] || stop_started "$ALB_PID"
done
: >"$TMP/nginx-first.txt"
: >"$TMP/nginx-warm.txt"
timed_get "http://127.0.0.1:$NGINX_PORT/first" >>"$TMP/nginx-first.txt" || die "nginx first request failed"
for i in $(seq "$WARM_SAMPLES"); do
    timed_get "http://127.0.0.1:$NGINX_PORT/warm" >>"$TMP/nginx-warm.txt" || die "nginx warm request failed"
done

# ---------------------------------------------------------------------------------------------------------------
# Warm throughput: ROUNDS rounds, the order alternating (A N, N A, ...)
# ---------------------------------------------------------------------------------------------------------------
ALB_URL="http://127.0.0.1:$ALB_PORT/"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/"
log "first warm-up: $FIRST_WARMUP of wrk against each stack"
wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$FIRST_WARMUP" "$ALB_URL" >"$TMP/albatross-first-warmup" 2>&1 ||
    { cat "$TMP/albatross-first-warmup" >&2; die "wrk warm-up against albatross failed"; }
wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$FIRST_WARMUP" "$NGINX_URL" >"$TMP/nginx-first-warmup" 2>&1 ||
    { cat "$TMP/nginx-first-warmup" >&2; die "wrk warm-up against nginx failed"; }
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then
        run_wrk "albatross-$round" "$ALB_URL" "$ALB_PID"
        run_wrk "nginx-$round" "$NGINX_URL" "$NGINX_PID" "$UP_PID"
    else
        run_wrk "nginx-$round" "$NGINX_URL" "$NGINX_PID" "$UP_PID"
        run_wrk "albatross-$round" "$ALB_URL" "$ALB_PID"
    fi
done
ENVIRONMENTS=$(( $(python3 "$BENCH/lib/proctree.py" count "$ALB_PID") - 1 ))

for pid in "$ALB_PID" "$NGINX_PID" "$UP_PID"; do
    kill -0 "$pid" 2>/dev/null || log "WARNING: process $pid died during the benchmark"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
echo
REVISION=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')
NGINX_VERSION=$(nginx -v 2>&1 | sed 's/.*: //')
echo "Machine: $(nproc) CPU(s), $(uname -sr); load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
echo "  uptime before: $UPTIME_BEFORE"
echo "wrk: $ROUNDS round(s) of -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION per stack (each after a $WARMUP" \
    "warm-up; $FIRST_WARMUP first); albatross $REVISION, maximumConcurrency $MAX_CONCURRENCY; $NGINX_VERSION"
python3 - "$BENCH/lib" "$TMP" "$CLK_TCK" "$ENVIRONMENTS" "$ROUNDS" <<'PY'
import statistics, sys

sys.path.insert(0, sys.argv[1])
from wrkrun import decide, ratio, spread, thread_seconds, wrk_run

tmp, clock_ticks, environments, rounds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
runs = {(server, r): wrk_run(tmp, f"{server}-{r}", clock_ticks)
        for server in ("albatross", "nginx") for r in range(1, rounds + 1)}
numbers = range(1, rounds + 1)

def per_round(server, key):
    return [runs[(server, r)][key] for r in numbers]

def ratios(key):
    """albatross/nginx per round: the two runs of a round are next to each other in time."""
    return [runs[("albatross", r)][key] / runs[("nginx", r)][key] if runs[("nginx", r)][key] else float("nan")
            for r in numbers]

print()
print("Warm throughput per round (wrk; server CPU = utime+stime of the whole process tree, from /proc/<pid>/stat;")
print("  albatross tree: albatross + its runtime processes; nginx tree: master + worker + upstream server;")
print("  front: the albatross process | nginx master + worker; back: the runtimes | the upstream)")
header = (f"| {'round':<9} | {'req/s A':>8} | {'req/s N':>8} | {'p50 ms A':>8} | {'p50 ms N':>8} | {'p99 ms A':>8} "
          f"| {'p99 ms N':>8} | {'CPU us/req A':>12} | {'CPU us/req N':>12} | {'CPU A/N':>7} | {'front A/N':>9} "
          f"| {'errors A/N':>10} |")
print(header)
print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
for r in numbers:
    a, n = runs[("albatross", r)], runs[("nginx", r)]
    order = "A,N" if r % 2 else "N,A"
    round_errors = f"{a['errors']}/{n['errors']}"
    print(f"| {f'{r} ({order})':<9} | {a['rps']:>8.0f} | {n['rps']:>8.0f} | {a['p50_us'] / 1000:>8.3f} "
          f"| {n['p50_us'] / 1000:>8.3f} | {a['p99_us'] / 1000:>8.3f} | {n['p99_us'] / 1000:>8.3f} "
          f"| {a['us']:>12.1f} | {n['us']:>12.1f} | {ratio(a['us'], n['us']):>7} "
          f"| {ratio(a['front_us'], n['front_us']):>9} | {round_errors:>10} |")

rows = [
    ("requests/s", "rps", 0, 1),
    ("latency p50 (ms)", "p50_us", 3, 1000),
    ("latency p99 (ms)", "p99_us", 3, 1000),
    ("server CPU per request (us)", "us", 1, 1),
    ("  front: albatross | nginx (us)", "front_us", 1, 1),
    ("  back: runtimes | upstream (us)", "back_us", 1, 1),
]
print()
print(f"Over the {rounds} rounds: median [min-max]; the ratio is taken per round, then its median [min-max]")
header = f"| {'metric':<32} | {'albatross':>24} | {'nginx':>24} | {'albatross/nginx':>18} |"
print(header)
print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
for label, key, digits, scale in rows:
    a = [value / scale for value in per_round("albatross", key)]
    n = [value / scale for value in per_round("nginx", key)]
    print(f"| {label:<32} | {spread(a, digits):>24} | {spread(n, digits):>24} | {spread(ratios(key), 2):>18} |")
total = {server: sum(per_round(server, "requests")) for server in ("albatross", "nginx")}
errors = {server: sum(per_round(server, "errors")) for server in ("albatross", "nginx")}
print(f"  requests: albatross {total['albatross']}, nginx {total['nginx']};"
      f" non-2xx/3xx responses and socket errors: albatross {errors['albatross']}, nginx {errors['nginx']}")
print(f"  albatross environments alive after the run: {environments}")
by_name = {}
for r in numbers:
    for comm, seconds in thread_seconds(tmp, f"albatross-{r}", clock_ticks).items():
        by_name[comm] = by_name.get(comm, 0) + seconds
busiest = sorted(((seconds, comm) for comm, seconds in by_name.items() if seconds > 0), reverse=True)[:6]
listed = ", ".join(f"{comm} {seconds:.2f}s" for seconds, comm in busiest)
print(f"  albatross process CPU by thread name, all rounds: {listed or 'none'}")

def samples(name):
    return [float(line) for line in open(f"{tmp}/{name}.txt") if line.strip()]

cold, warm = samples("cold"), samples("warm")
print()
print("First request vs warm request (curl time_total, one request at a time, new connection each)")
print(f"| {'case':<46} | {'samples':>7} | {'median (ms)':>11} | {'min (ms)':>9} | {'max (ms)':>9} |")
print(f"|{'-' * 48}|{'-' * 9}|{'-' * 13}|{'-' * 11}|{'-' * 11}|")
for label, values in [
    ("albatross cold (first request, new instance)", cold),
    ("albatross warm", warm),
    ("nginx first request (new upstream connection)", samples("nginx-first")),
    ("nginx warm", samples("nginx-warm")),
]:
    print(f"| {label:<46} | {len(values):>7} | {statistics.median(values) * 1000:>11.2f} | "
          f"{min(values) * 1000:>9.2f} | {max(values) * 1000:>9.2f} |")
print(f"  cold/warm for albatross: {statistics.median(cold) / statistics.median(warm):.1f}x")

a_us, n_us, cpu_ratios = per_round("albatross", "us"), per_round("nginx", "us"), ratios("us")
met, agreeing, counted = decide([value - 1 for value in cpu_ratios])
word = "MET" if met else "NOT MET" if met is False else "UNDECIDED"
print()
print(f"Headline (median of {rounds} rounds): CPU per warm request {statistics.median(a_us):.1f} us (albatross) vs "
      f"{statistics.median(n_us):.1f} us (nginx), ratio {spread(cpu_ratios, 2)}; "
      f"{statistics.median(per_round('albatross', 'rps')):.0f} vs {statistics.median(per_round('nginx', 'rps')):.0f}"
      f" req/s; p50 {statistics.median(per_round('albatross', 'p50_us')) / 1000:.3f} vs "
      f"{statistics.median(per_round('nginx', 'p50_us')) / 1000:.3f} ms")
print(f"Target (CPU per warm request <= nginx's proxy hop): {word} [{agreeing} of {counted} rounds agree]")
for key, values in runs.items():
    if values["errors"]:
        print(f"\nWARNING: {key[0]} round {key[1]} had errors; wrk output follows\n{values['text']}")
PY

print_logs "$TMP"/albatross-*.err "$TMP/upstream.err" "$TMP/nginx/logs/error.log"

if [ "$CALLGRIND" = 1 ]; then
    # The wrk stacks are done: stop them, so that ~30 idle runtimes and nginx are gone before the count.
    for pid in "$ALB_PID" "$NGINX_PID" "$UP_PID"; do stop_started "$pid"; done
    echo
    SKIP_BUILD=1 SKIP_INSTALL="$SKIP_INSTALL" KEEP_TMP="$KEEP_TMP" MAX_CONCURRENCY="$MAX_CONCURRENCY" \
        "$BENCH/callgrind.sh" || die "bench/callgrind.sh failed"
fi
