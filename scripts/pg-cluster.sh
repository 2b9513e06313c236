#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1 for the ledger tests; print its URL.
# Usage: scripts/pg-cluster.sh DIR PORT   (stop with: pg_ctl -D DIR stop)
set -euo pipefail
dir=$1
port=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found" >&2; exit 1; }
run=()
if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); fi
rm -rf "$dir"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
"${run[@]}" "$bin/initdb" -D "$dir/data" -U warroom --auth=trust -E UTF8 >/dev/null
"${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
  start >/dev/null
echo "postgresql+psycopg://warroom@127.0.0.1:$port/postgres"
