#!/usr/bin/env bash
# Install Warroom into ./.venv (and, with --dev, what the tests need: dev tools and system packages).
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_install() {
  # Only what is missing, and only where we may (root); apt-get update once.
  [ "$(id -u)" = 0 ] || { echo "warning: not root, cannot apt-get install $*" >&2; return 0; }
  if [ -z "${_apt_updated:-}" ]; then apt-get update -qq >/dev/null; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ "$dev" = 1 ]; then
  missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v sudo >/dev/null || missing+=(sudo)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  # the Prefect UI is tested by clicking it in Debian's Chromium (Playwright drives it; no browser download),
  # and the loaded-machine tests put stress-ng beside the suite
  command -v chromium >/dev/null || missing+=(chromium)
  command -v stress-ng >/dev/null || missing+=(stress-ng)
  [ "${#missing[@]}" = 0 ] || apt_install "${missing[@]}"
  # the Kubernetes tests drive the test API server with kubectl too (Google's package, else Debian's)
  command -v kubectl >/dev/null || apt_install kubectl || apt_install kubernetes-client
  # the feature-flag tests run a real Unleash server (npm's unleash-server on Node 20)
  command -v npm >/dev/null || apt_install nodejs npm || echo "warning: no npm: the Unleash tests will skip" >&2
  if command -v npm >/dev/null; then
    npm install --prefix tests/unleash --no-audit --no-fund --loglevel=error >/dev/null
  fi
fi

pip_install() {
  local log
  log=$(mktemp)
  if ! .venv/bin/python -m pip install -q "$@" >"$log" 2>&1; then
    grep -v "is ignored" "$log" >&2
    rm -f "$log"
    echo "pip install $* failed" >&2
    exit 1
  fi
  rm -f "$log"
}

python3 -m venv .venv
pip_install --upgrade pip
if [ "$dev" = 1 ]; then pip_install -e ".[dev]"; else pip_install -e .; fi
.venv/bin/python -c "import warroom, prefect" # fail loudly here if the install did not take
