#!/usr/bin/env bash
# Invoke through the control API against the ALB path (issue 10's performance item), same server, same run:
#
#   bench/api.sh
#
# `albatross serve` with one HTTP listener forwarding to the no-op function `bench` (the C runtime of
# bench/runtime/bootstrap.c) and the control API (auth: none). wrk -t2 -cCONNECTIONS sends GET / to the listener,
# then POST /2015-03-31/functions/bench/invocations with `{}` (what boto3's invoke sends, unsigned) to the API, each
# for WARMUP then DURATION, warm, and again ROUNDS times, interleaved (ALB, API, ALB, API, …), so that load from
# elsewhere on a shared machine falls on both paths alike. Prints requests/s and p50/p99 of each run, each round's
# API/ALB ratios and their medians.
# Environment: DURATION [10s] WARMUP [2s] CONNECTIONS [32] ROUNDS [3]; BUILD=debug uses .build/debug/albatross as
# it is, SKIP_BUILD=1 the existing .build/release/albatross, ALBATROSS_BINARY=<path> that binary as it is (a release
# build made with its own --scratch-path, say).
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
WRK_THREADS=2
WRK_CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ensure_tools
bench_setup albatross-api
if [ -n "${ALBATROSS_BINARY:-}" ]; then
    ALBATROSS="$ALBATROSS_BINARY"
    [ -x "$ALBATROSS" ] || die "$ALBATROSS not found"
elif [ "${BUILD:-release}" = debug ]; then
    ALBATROSS="$REPO/.build/debug/albatross"
    [ -x "$ALBATROSS" ] || die "$ALBATROSS not found (swift build)"
else
    build_albatross
fi
compile_backends

PORT=$(free_port)
BENCH_API_PORT=$(free_port)
export BENCH_API_PORT
start_albatross albatross-both "$(http_listener "$PORT")" 1
for _ in $(seq 1 300); do
    curl -sf -o /dev/null -X POST --data '{}' "http://127.0.0.1:$BENCH_API_PORT/2015-03-31/functions/bench/invocations" &&
        break
    sleep 0.1
done

cat >"$TMP/invoke.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
LUA
for round in $(seq 1 "$ROUNDS"); do
    run_wrk "albatross-alb-$round" "http://127.0.0.1:$PORT/" "$ALB_PID"
    WRK_SCRIPT="$TMP/invoke.lua" run_wrk "albatross-api-$round" \
        "http://127.0.0.1:$BENCH_API_PORT/2015-03-31/functions/bench/invocations" "$ALB_PID"
done
stop_started "$ALB_PID"

PYTHONPATH="$BENCH/lib" python3 - "$TMP" "$(getconf CLK_TCK)" "$ROUNDS" <<'PY'
import statistics
import sys
from wrkrun import wrk_run
tmp, ticks, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
labels = {"alb": "ALB listener (GET /)", "api": "control API Invoke (POST …/invocations)"}
ratios = {"rps": [], "p50": [], "p99": [], "cpu": []}
for round in range(1, rounds + 1):
    runs = {name: wrk_run(tmp, f"albatross-{name}-{round}", ticks) for name in ("alb", "api")}
    for name in ("alb", "api"):
        run = runs[name]
        print(f"round {round}, {labels[name]}: {run['rps']:.0f} requests/s, p50 {run['p50_us'] / 1000:.2f} ms, "
              f"p99 {run['p99_us'] / 1000:.2f} ms, {run['us']:.0f} µs CPU per request, {run['errors']} errors")
    alb, api = runs["alb"], runs["api"]
    ratios["rps"].append(api["rps"] / alb["rps"])
    ratios["p50"].append(api["p50_us"] / max(alb["p50_us"], 1))
    ratios["p99"].append(api["p99_us"] / max(alb["p99_us"], 1))
    ratios["cpu"].append(api["us"] / max(alb["us"], 1))
    print(f"round {round}, API/ALB: requests/s {ratios['rps'][-1]:.2f}, p50 {ratios['p50'][-1]:.2f}, "
          f"p99 {ratios['p99'][-1]:.2f}, CPU per request {ratios['cpu'][-1]:.2f}")
print(f"API/ALB, median of {rounds} rounds: requests/s {statistics.median(ratios['rps']):.2f}, "
      f"p50 {statistics.median(ratios['p50']):.2f}, p99 {statistics.median(ratios['p99']):.2f}, "
      f"CPU per request {statistics.median(ratios['cpu']):.2f}")
PY
