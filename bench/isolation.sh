#!/usr/bin/env bash
# The platform's share of a cold start in both isolation modes, measured in the same run (issue 12, performance):
# `albatross bench --cold N --baseline spawn` on the example's two functions (bash `echo`, Python `hello-python`),
# once with `environments.isolation: process` and once with `sandbox`, alternating for ROUNDS rounds so that a
# change of the machine's load hits both modes alike. The baseline is the same runtime started directly (no
# platform, no sandbox), so the sandbox's cost is part of the platform's share.
#
#   bench/isolation.sh                  # debug build, 20 cold starts per function, mode and round, 2 rounds
#   ALBATROSS=.build/release/albatross COLD_SAMPLES=50 ROUNDS=3 bench/isolation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
unset ALBATROSS_ISOLATION # each configuration names its mode
BIN=${ALBATROSS:-.build/debug/albatross}
COLD=${COLD_SAMPLES:-20}
ROUNDS=${ROUNDS:-2}
[ -x "$BIN" ] || { echo "isolation.sh: $BIN not built (swift build)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for mode in process sandbox; do
  cat >"$work/$mode.yaml" <<EOF
dataDirectory: $work/data-$mode
environments:
  isolation: $mode
functions:
  - {name: echo, runtime: provided.al2023, handler: echo.handler, code: $PWD/config/functions/echo}
  - name: hello-python
    runtime: python3.11
    handler: app.handler
    code: $PWD/config/functions/hello-python
    pythonInterpreter: $PWD/.venv/bin/python
EOF
done
echo "isolation.sh: $BIN, $COLD cold starts per function, mode and round, $ROUNDS rounds, $(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  for mode in process sandbox; do
    echo "== round $round, isolation: $mode"
    "$BIN" bench echo hello-python --config "$work/$mode.yaml" --cold "$COLD" --warm 0 --baseline spawn 2>&1 |
      grep -E '^baseline|cold +(total|initPlatform|initRuntime) '
  done
done
