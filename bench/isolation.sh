#!/usr/bin/env bash
# The platform's share of a cold start in both isolation modes, measured in the same run (issue 12, performance):
# `albatross bench --cold N --baseline spawn` on the example's two functions (bash `echo`, Python `hello-python`),
# once with `environments.isolation: process` and once with `sandbox`, alternating for ROUNDS rounds so that a
# change of the machine's load hits both modes alike. The baseline is the same runtime started directly (no
# platform, no sandbox), so the sandbox's cost is part of the platform's share.
#
# With EXTENSIONS=1 `echo` gets a layer with one external extension (bash: registers for INVOKE and SHUTDOWN,
# then asks for its next event with curl), which INIT then waits for; the baseline still starts the runtime alone,
# so the extension's start and registration count in the platform's share. Only `echo` is benched then: with an
# extension, the bench sometimes fails with "the environments of <function> did not stop within 30 s" (Python
# always, `echo` when both functions are benched in one run), with the binary from before the shared sandbox too;
# see bench/README.md, "Isolation".
#
#   bench/isolation.sh                  # debug build, 20 cold starts per function, mode and round, 2 rounds
#   ALBATROSS=.build/release/albatross COLD_SAMPLES=50 ROUNDS=3 bench/isolation.sh
#   EXTENSIONS=1 bench/isolation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
unset ALBATROSS_ISOLATION # each configuration names its mode
BIN=${ALBATROSS:-.build/debug/albatross}
COLD=${COLD_SAMPLES:-20}
ROUNDS=${ROUNDS:-2}
EXTENSIONS=${EXTENSIONS:-0}
[ -x "$BIN" ] || { echo "isolation.sh: $BIN not built (swift build)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layers="" function_layers="" targets="echo hello-python"
if [ "$EXTENSIONS" = 1 ]; then
  mkdir -p "$work/layer/extensions"
  cat >"$work/layer/extensions/waiter" <<'EOF'
#!/bin/bash
api="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
id=$(curl -sS -D - -o /dev/null -X POST -H 'Lambda-Extension-Name: waiter' -d '{"events":["INVOKE","SHUTDOWN"]}' \
  "$api/register" | tr -d '\r' | sed -n 's/^[Ll]ambda-[Ee]xtension-[Ii]dentifier: //p')
while event=$(curl -sS -H "Lambda-Extension-Identifier: $id" "$api/event/next"); do
  case "$event" in *'"SHUTDOWN"'*) exit 0 ;; esac
done
EOF
  chmod +x "$work/layer/extensions/waiter"
  layers="layers: [{name: waiter, code: $work/layer}]"
  function_layers="layers: [waiter]"
  targets=echo
fi
for mode in process sandbox; do
  cat >"$work/$mode.yaml" <<EOF
dataDirectory: $work/data-$mode
environments:
  isolation: $mode
$layers
functions:
  - name: echo
    runtime: provided.al2023
    handler: echo.handler
    code: $PWD/config/functions/echo
    $function_layers
  - name: hello-python
    runtime: python3.11
    handler: app.handler
    code: $PWD/config/functions/hello-python
    pythonInterpreter: $PWD/.venv/bin/python
EOF
done
echo "isolation.sh: $BIN, $COLD cold starts per function, mode and round, $ROUNDS rounds, extensions $EXTENSIONS," \
  "$(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  for mode in process sandbox; do
    echo "== round $round, isolation: $mode"
    "$BIN" bench $targets --config "$work/$mode.yaml" --cold "$COLD" --warm 0 --baseline spawn 2>&1 |
      grep -E '^baseline|cold +(total|initPlatform|initRuntime) '
  done
done
