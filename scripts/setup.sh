#!/usr/bin/env bash
# Installs what Albatross needs on a Debian machine that already has the Swift toolchain:
# Debian packages (OpenSSL headers, bash, curl, Python venv support, promtool from `prometheus` for the metrics
# tests, xmllint and rsvg-convert for the bench and rollout report tests, headless chromium for the dashboard test,
# bubblewrap for the sandbox)
# and a project-local Python venv with awslambdaric for Python functions, and boto3 and the AWS CLI for the control API tests. Safe to run again; it only installs
# what is missing. pip runs as `python -m pip`, so that a venv copied from another checkout (whose pip scripts
# name the other interpreter) installs into this one.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libssl-dev libsqlite3-dev pkg-config zlib1g-dev curl bash python3 python3-venv openssl procps prometheus
  libxml2-utils librsvg2-bin chromium bubblewrap)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The venv uses Debian's python3 so that python3-venv is the module that builds it.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import awslambdaric" 2>/dev/null; then
  echo "setup: creating .venv with awslambdaric"
  rm -rf .venv
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "awslambdaric==4.2.2"
fi
# The X-Ray SDK, for the tracing tests (a function instrumented with it sends segments to the embedded daemon).
# `python -m pip`: a venv copied from another checkout keeps a pip script whose shebang points there.
if ! .venv/bin/python -c "import aws_xray_sdk" 2>/dev/null; then
  echo "setup: adding aws-xray-sdk to .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "aws-xray-sdk==2.14.0"
fi
# OpenTelemetry, for the OTLP tests: a function exports its spans with the SDK and the OTLP/HTTP protobuf exporter
# (which brings opentelemetry-proto, whose classes the exporter test's collector decodes with), continuing the
# platform's trace through the X-Ray propagator.
if ! .venv/bin/python -c "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.propagators.aws" 2>/dev/null; then
  echo "setup: adding opentelemetry-sdk and the OTLP/HTTP exporter to .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "opentelemetry-sdk==1.45.2" \
    "opentelemetry-exporter-otlp-proto-http==1.45.2" "opentelemetry-propagator-aws-xray==1.0.2"
fi
# The versions the control API reference (../shared/reference/control-api.md) was captured with.
if ! .venv/bin/python -c "import boto3, awscli" 2>/dev/null; then
  echo "setup: installing boto3 and the AWS CLI into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "boto3==1.43.11" "awscli==1.45.11"
fi
# jsonschema, for the bench tests: a `bench --json` report must validate against docs/bench-schema.json.
if ! .venv/bin/python -c "import jsonschema" 2>/dev/null; then
  echo "setup: adding jsonschema to .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "jsonschema==4.26.0"
fi
versions=$(.venv/bin/python -c 'import importlib.metadata as m; print(", ".join(p + " " + m.version(p) for p in ("awslambdaric", "boto3", "awscli", "opentelemetry-sdk")))')
echo "setup: ready ($(.venv/bin/python --version), $versions)"
