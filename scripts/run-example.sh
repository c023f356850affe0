#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds, creates local certificates once, and serves the bundled example
# configuration: HTTP on 127.0.0.1:8080, HTTPS on 127.0.0.1:8443, and an HTTP → HTTPS redirect on 8081.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product albatross
if [ ! -f config/certs/localhost.pem ]; then
  .build/release/albatross cert --dir config/certs --host localhost --host 127.0.0.1 --host ::1
fi
exec .build/release/albatross serve --config config/example.yaml "$@"
