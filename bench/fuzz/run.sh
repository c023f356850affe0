#!/usr/bin/env bash
# Builds the libFuzzer targets of bench/fuzz and runs each for a bounded time (see docs/fuzzing.md).
#
#   bench/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET (default 60) goes to libFuzzer's -max_total_time; TARGET names are those below (default:
# all of them), one after the other, each under `nice -n 19`. The targets are built in release mode with
# `-sanitize=fuzzer,address` into bench/fuzz/.build-fuzz. Work files go to bench/.work/fuzz (git-ignored):
#   seeds/<Target>/      the seed corpus, rewritten on every run by seeds.py from the repository's test vectors,
#                        config/example.yaml and zips made there; seeds/<Target>.dict a dictionary
#   corpus/<Target>/     what libFuzzer found, kept between runs (it seeds the next run too)
#   artifacts/<Target>-  crashing, leaking or slow inputs
#   logs/<Target>.log    libFuzzer's output
# At the end one line per target: executions, seconds, cov and ft (libFuzzer's coverage figures), corpus size,
# and CRASH with the artifact when one was found. The exit status is 1 when any target failed.
#
# Environment: RUNS (libFuzzer -runs: stop after that many executions, when it comes before the time limit),
# FUZZ_FLAGS (extra libFuzzer flags, e.g. "-max_len=65536"), SKIP_BUILD=1 (use the targets already built).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
all=(FuzzRequestHead FuzzResultDecoder FuzzJSONParser FuzzRuntimeAPI FuzzConfiguration FuzzZipArchive FuzzOTLP)

seconds="${1:-60}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "run.sh: SECONDS_PER_TARGET must be a number, got '$seconds'" >&2; exit 64; }
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for target in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $target "* ]] || { echo "run.sh: unknown target '$target' (${all[*]})" >&2; exit 64; }
done

scratch="$here/.build-fuzz"
build=(swift build --package-path "$here" --scratch-path "$scratch" -c release
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "run.sh: building (${build[*]})"
    nice -n 19 "${build[@]}"
fi
bin="$("${build[@]}" --show-bin-path)"

work="$root/bench/.work/fuzz"
rm -rf "$work/seeds" "$work/tmp"
mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts" "$work/logs" "$work/tmp"
python3 "$here/seeds.py" "$root" "$work/seeds" | sed 's/^/run.sh: seeds /'

# The configuration loader checks that the files a configuration names exist: give it the layout the example
# and the tests use.
base="$work/tmp/config-base"
mkdir -p "$base/functions/echo" "$base/functions/hello-python" "$base/functions/plain" "$base/functions/empty" \
    "$base/certs"
printf '#!/bin/sh\nexit 0\n' >"$base/functions/echo/bootstrap"
chmod +x "$base/functions/echo/bootstrap"
printf 'def handler(event, context):\n    return {}\n' >"$base/functions/hello-python/app.py"
printf '#!/bin/sh\n' >"$base/functions/plain/bootstrap"
printf 'PK' >"$base/functions/bundle.zip"
printf 'not code' >"$base/functions/notes.txt"
for name in local local-key other other-key; do printf 'pem' >"$base/certs/$name.pem"; done

failed=0
summary=()
for target in "${targets[@]}"; do
    mkdir -p "$work/corpus/$target"
    log="$work/logs/$target.log"
    flags=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1
        -dict="$work/seeds/$target.dict" -artifact_prefix="$work/artifacts/$target-")
    [ -n "${RUNS:-}" ] && flags+=(-runs="$RUNS")
    # shellcheck disable=SC2206
    [ -n "${FUZZ_FLAGS:-}" ] && flags+=($FUZZ_FLAGS)
    echo "run.sh: $target for ${seconds}s: $bin/$target ${flags[*]} corpus/$target seeds/$target"
    started=$(date +%s)
    status=0
    # SWIFT_BACKTRACE: the Swift runtime's crash reporter reads memory that AddressSanitizer then reports.
    (cd "$work/tmp" && TMPDIR="$work/tmp" ALBATROSS_FUZZ_CONFIG_BASE="$base" SWIFT_BACKTRACE=enable=no \
        nice -n 19 "$bin/$target" "${flags[@]}" "$work/corpus/$target" "$work/seeds/$target") >"$log" 2>&1 ||
        status=$?
    elapsed=$(($(date +%s) - started))
    done_line="$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)"
    executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$done_line")"
    ft="$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$done_line")"
    corp="$(sed -n 's/.* corp: \([^ ]*\) .*/\1/p' <<<"$done_line")"
    line="$(printf '%-18s executions %-10s seconds %-5s cov %-6s ft %-6s corpus %s' "$target" \
        "${executions:-?}" "$elapsed" "${cov:-?}" "${ft:-?}" "${corp:-?}")"
    if [ "$status" -eq 72 ] && grep -q "libFuzzer: run interrupted" "$log"; then
        # libFuzzer's exit status after SIGINT (-interrupted_exitcode): stopped by hand, not a failure.
        line+="  interrupted"
    elif [ "$status" -ne 0 ]; then
        failed=1
        artifact="$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)"
        line+="  CRASH (exit $status) ${artifact:-see $log}"
        grep -m3 -E 'ERROR: |Fatal error|Precondition failed' "$log" | sed 's/^/    /' >&2 || true
    fi
    summary+=("$line")
    echo "run.sh: $line"
done

echo
echo "run.sh: $(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${summary[@]}"
exit "$failed"
