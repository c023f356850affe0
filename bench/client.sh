#!/usr/bin/env bash
# Is `albatross bench` itself a bottleneck? Its client against wrk, both through an ALB listener, on the same
# no-op function (the C runtime of bench/runtime/bootstrap.c), in one run:
#
#   bench/client.sh
#
#   1. `albatross serve` with one HTTP listener; wrk -t2 -c32 for WARMUP, then DURATION: invocations per second.
#   2. `albatross bench --via URL --config (the same file) --concurrency 32`: the configuration runs in the bench
#      process and its own HTTP/1.1 keep-alive client sends BENCH_REQUESTS requests after BENCH_WARMUP.
# Both runs have the server and the client on the same cores (in step 1 two processes, in step 2 one), so the
# figure says whether bench's client takes more of the machine per request than wrk does.
# Environment: DURATION [10s] WARMUP [2s] BENCH_REQUESTS [20000] BENCH_WARMUP [2000] CONNECTIONS [32];
# SKIP_BUILD=1 uses the existing .build/release/albatross; BUILD=debug uses .build/debug/albatross as it is.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
WRK_THREADS=2
WRK_CONNECTIONS=${CONNECTIONS:-32}
BENCH_REQUESTS=${BENCH_REQUESTS:-20000}
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
start_albatross client "$(http_listener "$PORT")" 1
run_wrk client "http://127.0.0.1:$PORT/" "$ALB_PID"
wrk_line=$(grep '^BENCH ' "$TMP/client.wrk")
stop_started "$ALB_PID"

requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$wrk_line")
duration_us=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$wrk_line")
wrk_rate=$(python3 -c "print(f'{$requests / ($duration_us / 1e6):.0f}')")
log "wrk: $wrk_line"

"$ALBATROSS" bench --via "http://127.0.0.1:$PORT/" --config "$TMP/client.yaml" --warm "$BENCH_REQUESTS" \
    --warmup "$BENCH_WARMUP" --concurrency "$WRK_CONNECTIONS" --json "$TMP/bench.json" >"$TMP/bench.out" \
    2>"$TMP/bench.err" || { cat "$TMP/bench.out" "$TMP/bench.err" >&2; die "albatross bench failed"; }
read -r bench_rate bench_ok bench_cpu < <(python3 - "$TMP/bench.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
run = report["targets"][0]["runs"][0]
print(f'{run["throughputPerSecond"]:.0f} {run["outcomes"]["ok"]} {report["client"]["cpuMicrosecondsPerInvocation"]:.1f}')
PY
)
echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION through albatross serve: $wrk_rate invocations/s"
echo "albatross bench --via --concurrency $WRK_CONNECTIONS ($BENCH_REQUESTS requests, $bench_ok ok):" \
    "$bench_rate invocations/s, $bench_cpu µs of CPU per invocation for the whole process (server included)"
python3 -c "print(f'bench/wrk: {$bench_rate / $wrk_rate:.2f}')"
