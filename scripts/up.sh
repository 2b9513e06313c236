#!/usr/bin/env bash
# Install Warroom and run its main job on the embedded defaults: a local Prefect server (SQLite) unless
# PREFECT_API_URL points at one, and every valid runbook in ./runbooks served as a deployment.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
warroom runbooks validate || echo "warning: the runbooks above are invalid and will not be served" >&2
exec warroom up
