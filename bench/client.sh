#!/usr/bin/env bash
# Is `albatross bench` itself a bottleneck? Its client against wrk, both through the same ALB listener of the same
# `albatross serve`, on the same no-op function (the C runtime of bench/runtime/bootstrap.c), interleaved:
#
#   BUILD_PATH=.build-release bench/client.sh
#
# One server (one HTTP listener, an admin listener), then ROUNDS rounds of
#   A. wrk -t2 -c32: WARMUP, then DURATION; invocations per second, and wrk's own CPU per request (user + system,
#      getrusage of the measured run: bench/lib/cpu_of.py);
#   B. albatross bench --server ADMIN --via URL --concurrency 32 --warmup BENCH_WARMUP --warm N, N being what wrk
#      did in the round's DURATION (so both run about as long); its invocations per second and its own CPU per
#      invocation (user + system of the bench process: the server is the other process).
# A and B alternate (A B A B ...), so that the load of the shared machine drifts over both alike; the figure is the
# ratio bench/wrk per round and its median. The server's CPU per request in each run is printed too: during B it
# also feeds bench its invocation events (/invocations/events), which wrk does without.
# Environment: ROUNDS [3] DURATION [10s] WARMUP [2s] BENCH_WARMUP [2000] CONNECTIONS [32]; BUILD_PATH [.build]
# (the release build's scratch path); SKIP_BUILD=1 uses the existing $BUILD_PATH/release/albatross; BUILD=debug uses
# .build/debug/albatross as it is; ALBATROSS_BINARY=PATH measures that release binary instead (server and bench alike,
# for a before/after in one session).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
WRK_THREADS=2
WRK_CONNECTIONS=${CONNECTIONS:-32}
BENCH_WARMUP=${BENCH_WARMUP:-2000}

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ensure_tools
bench_setup albatross-bench-client
if [ "${BUILD:-release}" = debug ]; then
    ALBATROSS="$REPO/.build/debug/albatross"
    [ -x "$ALBATROSS" ] || die "$ALBATROSS not found (swift build)"
else
    build_albatross
fi
compile_backends

PORT=$(free_port)
ADMIN_PORT=$(free_port)
BENCH_ADMIN=1 BENCH_ADMIN_PORT=$ADMIN_PORT start_albatross client "$(http_listener "$PORT")" 1
URL="http://127.0.0.1:$PORT/"
server_ticks() { python3 "$BENCH/lib/proctree.py" ticks "$ALB_PID" | awk '{print $2}'; }
ticks_per_second=$(getconf CLK_TCK)
seconds=$(python3 -c "import sys; t = sys.argv[1]; print(float(t[:-1]) * (60 if t.endswith('m') else 1))" "$DURATION")

results="$TMP/rounds"
: >"$results"
for round in $(seq "$ROUNDS"); do
    run_wrk "wrk$round" "$URL" "$ALB_PID"
    wrk_line=$(grep '^BENCH ' "$TMP/wrk$round.wrk")
    requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$wrk_line")
    duration_us=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$wrk_line")
    read -r _ wrk_server_ticks _ <"$TMP/wrk$round.cpu"
    wrk_cpu=$(cat "$TMP/wrk$round.wrk-cpu")
    wrk_rate=$(python3 -c "print(f'{$requests / ($duration_us / 1e6):.0f}')")
    log "round $round wrk: $wrk_rate invocations/s ($wrk_line)"

    count=$(python3 -c "print(max(1000, int($wrk_rate * $seconds)))")
    log "round $round bench: --warm $count --warmup $BENCH_WARMUP --concurrency $WRK_CONNECTIONS"
    before=$(server_ticks)
    "$ALBATROSS" bench --server "http://127.0.0.1:$ADMIN_PORT" --via "$URL" --warm "$count" \
        --warmup "$BENCH_WARMUP" --concurrency "$WRK_CONNECTIONS" --json "$TMP/bench$round.json" \
        >"$TMP/bench$round.out" 2>"$TMP/bench$round.err" ||
        { cat "$TMP/bench$round.out" "$TMP/bench$round.err" >&2; die "albatross bench failed"; }
    after=$(server_ticks)
    grep -q warning "$TMP/bench$round.err" && { cat "$TMP/bench$round.err" >&2; die "bench warned"; }
    python3 - "$TMP/bench$round.json" "$round" "$wrk_rate" "$requests" "$wrk_server_ticks" \
        "$((after - before))" "$ticks_per_second" "$BENCH_WARMUP" "$wrk_cpu" >>"$results" <<'PY'
import json, sys
path, round_, wrk_rate, wrk_requests, wrk_ticks, bench_ticks, hz, warmup, wrk_cpu = sys.argv[1:]
report = json.load(open(path))
run = report["targets"][0]["runs"][0]
ok = run["outcomes"]["ok"]
phases = run["phases"]
# The server's CPU per request: wrk's measured run alone; bench's whole command (its warm-up requests included,
# and the cold start of the feed's subscription), so a little high.
print(round_, wrk_rate, f'{run["throughputPerSecond"]:.0f}', ok, len(run["samples"]),
      f'{report["client"]["cpuMicrosecondsPerInvocation"]:.1f}', f'{float(wrk_cpu) * 1e6 / int(wrk_requests):.1f}',
      f'{int(wrk_ticks) / int(hz) * 1e6 / int(wrk_requests):.1f}',
      f'{int(bench_ticks) / int(hz) * 1e6 / (len(run["samples"]) + int(warmup)):.1f}',
      all(phases.get(p, {}).get("count") == ok for p in ["send", "queueing", "invoke", "returnPath", "total"]))
PY
    tail -1 "$results" >&2
done
stop_started "$ALB_PID"

python3 - "$results" "$WRK_THREADS" "$WRK_CONNECTIONS" "$DURATION" <<'PY'
import statistics, sys
path, threads, connections, duration = sys.argv[1:]
rows = [line.split() for line in open(path) if line.strip()]
print(f"| round | wrk -t{threads} -c{connections} -d{duration} (inv/s) | bench --server --via --concurrency {connections} (inv/s)"
      " | bench/wrk | CPU per invocation, bench / wrk (µs) | server CPU per request, wrk / bench run (µs) | phases of every sample |")
print("| --- | --- | --- | --- | --- | --- | --- |")
ratios, cpus = [], []
for round_, wrk, bench, ok, samples, cpu, wrk_cpu, server_wrk, server_bench, phases in rows:
    ratio = float(bench) / float(wrk)
    ratios.append(ratio)
    cpus.append(float(cpu) / float(wrk_cpu))
    print(f"| {round_} | {wrk} | {bench} ({ok}/{samples} ok) | {ratio:.2f} | {cpu} / {wrk_cpu} | {server_wrk} / {server_bench} | {phases} |")
print(f"median bench/wrk: {statistics.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
print(f"median CPU per invocation, bench/wrk: {statistics.median(cpus):.2f} (rounds: {', '.join(f'{r:.2f}' for r in cpus)})")
PY
