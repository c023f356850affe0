#!/usr/bin/env bash
# Runs Albatross's hot-path micro-benchmarks and prints the results.
#
#   bench/micro/run.sh [options]              the package-benchmark suite, built in release mode: wall clock,
#                                             throughput and allocations per operation. Options go to
#                                             `swift package benchmark`, e.g. --filter 'Encode.*'.
#   bench/micro/run.sh --instructions [N]     instructions per operation, counted by callgrind over N operations
#                                             (default 1000) minus a run of 0: repeatable however busy the machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(swift --version 2>&1 | head -1)"

if [[ "${1:-}" == "--instructions" ]]; then
    count="${2:-1000}"
    if ! command -v valgrind >/dev/null; then
        echo "run.sh: --instructions needs valgrind (apt-get install valgrind)" >&2
        exit 1
    fi
    swift build --package-path "$here" -c release --product HotPathCount
    bin="$(swift build --package-path "$here" -c release --show-bin-path)"
    # valgrind 3.19 cannot read the DWARF 5 debug info that Swift 6.3 writes: count on a copy without it.
    cp "$bin/HotPathCount" "$bin/HotPathCount-nodebug"
    strip --strip-debug "$bin/HotPathCount-nodebug"
    instructions() {
        local total
        total="$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin/HotPathCount-nodebug" "$1" "$2" 2>&1 \
            | sed -n 's/.*I *refs: *//p' | tr -d ',')"
        if [[ -z "$total" ]]; then
            echo "run.sh: callgrind gave no count for '$1 $2'" >&2
            exit 1
        fi
        echo "$total"
    }
    printf '%-58s %16s\n' "operation (instructions per operation, N=$count)" "instructions"
    while IFS=$'\t' read -r name title; do
        empty="$(instructions "$name" 0)"
        full="$(instructions "$name" "$count")"
        printf '%-58s %16d\n' "$title" $(((full - empty) / count))
    done < <("$bin/HotPathCount" --list)
    exit 0
fi

swift package --package-path "$here" benchmark --no-progress "$@"
