#!/usr/bin/env bash
# Installs what Albatross needs on a Debian machine that already has the Swift toolchain:
# Debian packages (OpenSSL headers, bash, curl, Python venv support, promtool from `prometheus` for the metrics
# tests) and a project-local Python venv with awslambdaric for Python functions. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libssl-dev libsqlite3-dev pkg-config zlib1g-dev curl bash python3 python3-venv openssl procps prometheus)
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
echo "setup: ready ($(.venv/bin/python --version), awslambdaric $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("awslambdaric"))'))"
