#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds, and serves the bundled example configuration on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product albatross
exec .build/release/albatross serve --config config/example.yaml "$@"
