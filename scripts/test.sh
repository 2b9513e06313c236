#!/usr/bin/env bash
# Install everything the tests need from scratch, then lint, type-check and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
. .venv/bin/activate

ruff check .
ruff format --check .
mypy

# The ledger tests run on SQLite, and on PostgreSQL too: a throwaway cluster on 127.0.0.1.
if [ -z "${WARROOM_TEST_DATABASE_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pgdir=$(mktemp -d /tmp/warroom-pg.XXXXXX)
  port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  WARROOM_TEST_DATABASE_URL=$(bash scripts/pg-cluster.sh "$pgdir" "$port")
  export WARROOM_TEST_DATABASE_URL
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  stop_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null
    else "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null; fi
    rm -rf "$pgdir"
  }
  trap stop_pg EXIT
fi

# Three workers on two cores: most tests wait on the servers they start, so waits overlap. A module stays on
# one worker (its module-scoped servers start once). WARROOM_TEST_WORKERS=0 runs them in this process.
python -m pytest -n "${WARROOM_TEST_WORKERS:-3}" --dist loadscope --no-loadscope-reorder "$@"
