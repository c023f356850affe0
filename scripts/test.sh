#!/usr/bin/env bash
# Runs every test from a fresh checkout: installs what is missing (scripts/setup.sh), builds the package
# (the integration tests start the real `albatross` executable) and runs unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build
swift test "$@"
