#!/usr/bin/env bash
# Runs every test from a fresh checkout: installs what is missing (scripts/setup.sh), builds the package
# (the integration tests start the real `albatross` executable) and runs unit and integration tests.
#
# The tests run through the test binary itself rather than `swift test`, to cap how many run at once: many
# integration tests start real servers and runtimes and measure time, and with every test of the suite running
# at once on 2 cores they starved each other for tens of seconds (full runs then failed on timing, while every
# suite passed alone). Three at a time runs the suite in about the same wall time without that. Extra arguments go
# to the test binary (for example `--filter ListenerReloadTests`). ALBATROSS_TEST_WIDTH overrides the width.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build
swift build --build-tests
bin="$(swift build --show-bin-path)"
# The suite runs in `process` isolation unless ALBATROSS_ISOLATION says otherwise (it reaches the `albatross`
# processes the tests start, too); SandboxTests choose the sandbox themselves. Many tests read host pids or host
# paths from inside their functions, which only the process mode shows (see docs/architecture.md, "The sandbox").
export ALBATROSS_ISOLATION="${ALBATROSS_ISOLATION:-process}"
exec "$bin/albatrossPackageTests.xctest" --testing-library swift-testing \
    --experimental-maximum-parallelization-width "${ALBATROSS_TEST_WIDTH:-3}" "$@"
