#!/usr/bin/env bash
# Install Warroom and run its main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
warroom runbooks validate
warroom runbooks list
