#!/usr/bin/env bash
# Invoke through the control API against the ALB path (issue 10's performance item), same server, same run:
#
#   bench/api.sh
#
# `albatross serve` with one HTTP listener forwarding to the no-op function `bench` (the C runtime of
# bench/runtime/bootstrap.c) and the control API (auth: none). wrk -t2 -cCONNECTIONS sends GET / to the listener,
# then POST /2015-03-31/functions/bench/invocations with `{}` (what boto3's invoke sends, unsigned) to the API, each
# for WARMUP then DURATION, warm. Prints requests/s and p50/p99 of both and the API/ALB ratios.
# Environment: DURATION [10s] WARMUP [2s] CONNECTIONS [32]; BUILD=debug uses .build/debug/albatross as it is,
# SKIP_BUILD=1 the existing .build/release/albatross.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
WRK_THREADS=2
WRK_CONNECTIONS=${CONNECTIONS:-32}

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ensure_tools
bench_setup albatross-api
if [ "${BUILD:-release}" = debug ]; then
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

run_wrk albatross-alb "http://127.0.0.1:$PORT/" "$ALB_PID"
cat >"$TMP/invoke.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
LUA
WRK_SCRIPT="$TMP/invoke.lua" run_wrk albatross-api \
    "http://127.0.0.1:$BENCH_API_PORT/2015-03-31/functions/bench/invocations" "$ALB_PID"
stop_started "$ALB_PID"

PYTHONPATH="$BENCH/lib" python3 - "$TMP" "$(getconf CLK_TCK)" <<'PY'
import sys
from wrkrun import wrk_run
tmp, ticks = sys.argv[1], int(sys.argv[2])
runs = {name: wrk_run(tmp, f"albatross-{name}", ticks) for name in ("alb", "api")}
for name, label in (("alb", "ALB listener (GET /)"), ("api", "control API Invoke (POST …/invocations)")):
    run = runs[name]
    print(f"{label}: {run['rps']:.0f} requests/s, p50 {run['p50_us'] / 1000:.2f} ms, p99 {run['p99_us'] / 1000:.2f} ms,"
          f" {run['us']:.0f} µs CPU per request, {run['errors']} errors")
alb, api = runs["alb"], runs["api"]
print(f"API/ALB: requests/s {api['rps'] / alb['rps']:.2f}, p50 {api['p50_us'] / max(alb['p50_us'], 1):.2f}, "
      f"p99 {api['p99_us'] / max(alb['p99_us'], 1):.2f}, CPU per request {api['us'] / max(alb['us'], 1):.2f}")
PY
