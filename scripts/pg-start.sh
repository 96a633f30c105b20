#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster with wal_level=logical for the embedded capture path,
# the integration tests and the demo.
#
#   scripts/pg-start.sh [--port N] [--data-dir DIR] [--fresh]
#
# Defaults: port 55432 (or $CDC_PG_PORT), data dir <repo>/.run/pg (or $CDC_PG_DATA).
# Idempotent: if a cluster already runs on that data dir it says so and exits 0.
# Prints the Npgsql connection string on the last line of stdout.
# Works as root (initdb refuses root, so the server runs as the 'postgres' OS user) and as a normal user.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${CDC_PG_PORT:-55432}"
data_dir="${CDC_PG_DATA:-$repo_root/.run/pg}"
fresh=0
bin_dir="${PG_BIN:-/usr/lib/postgresql/15/bin}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "pg-start.sh: unknown argument '$1' (use --port N, --data-dir DIR, --fresh)" >&2; exit 2 ;;
  esac
done

if [[ ! -x "$bin_dir/initdb" ]]; then
  echo "pg-start.sh: no PostgreSQL 15 server binaries in $bin_dir; install them with:" >&2
  echo "  apt-get install -y postgresql-15   (or set PG_BIN to the bin directory)" >&2
  exit 1
fi

mkdir -p "$(dirname "$data_dir")"
data_dir="$(cd "$(dirname "$data_dir")" && pwd)/$(basename "$data_dir")"

# initdb and postgres refuse to run as root: run them as the 'postgres' OS user then.
as_owner() {
  if [[ "$(id -u)" == "0" ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

conn="Host=127.0.0.1;Port=$port;Username=postgres;Password=postgres;Database=postgres"

if [[ $fresh == 1 && -d "$data_dir" ]]; then
  if [[ -f "$data_dir/postmaster.pid" ]]; then
    as_owner "$bin_dir/pg_ctl" -D "$data_dir" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data_dir"
fi

if [[ -f "$data_dir/PG_VERSION" ]] && as_owner "$bin_dir/pg_ctl" -D "$data_dir" status >/dev/null 2>&1; then
  # report the port it actually runs on (4th line of postmaster.pid), which may differ from the one asked for
  running_port="$(sed -n 4p "$data_dir/postmaster.pid" 2>/dev/null || true)"
  if [[ -n "$running_port" ]]; then port="$running_port"; fi
  echo "PostgreSQL already running on 127.0.0.1:$port (data dir $data_dir)"
  echo "Host=127.0.0.1;Port=$port;Username=postgres;Password=postgres;Database=postgres"
  exit 0
fi

if [[ ! -f "$data_dir/PG_VERSION" ]]; then
  rm -rf "$data_dir"
  mkdir -p "$data_dir"
  if [[ "$(id -u)" == "0" ]]; then
    chown postgres:postgres "$data_dir"
    # the postgres user must be able to reach the data dir through its parents
    d="$(dirname "$data_dir")"
    while [[ "$d" != "/" ]]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
  fi
  chmod 700 "$data_dir"
  pwfile="$(mktemp)"
  echo postgres > "$pwfile"
  chmod 644 "$pwfile"
  as_owner "$bin_dir/initdb" -D "$data_dir" -U postgres --pwfile="$pwfile" --auth=trust --no-sync \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
    || as_owner "$bin_dir/initdb" -D "$data_dir" -U postgres --pwfile="$pwfile" --auth=trust --no-sync --encoding=UTF8 --no-locale
  rm -f "$pwfile"
  cat >> "$data_dir/postgresql.conf" <<CONF

# --- CdcPipeline throwaway cluster ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data_dir'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_connections = 200
logical_decoding_work_mem = 64kB
fsync = off
# on (PostgreSQL's default, as on a legacy database): a commit returns once its WAL is written, so a slot peek, a
# walsender or pg_current_wal_lsn() sees it at once; with fsync off this costs a write(), not a flush
synchronous_commit = on
full_page_writes = off
timezone = 'UTC'
log_min_messages = warning
CONF
fi

# the port may have changed since initdb; a cluster made before synchronous_commit was turned on gets it too
sed -i -e "s/^port = .*/port = $port/" -e "s/^synchronous_commit = off$/synchronous_commit = on/" "$data_dir/postgresql.conf"

# The port is inside Linux's ephemeral range (32768-60999): a client connection elsewhere on the machine may hold it as its
# local port for a moment, and the bind fails with "Address already in use". That passes: try again a few times, then give up.
for attempt in 1 2 3 4 5 6; do
  log_lines=0
  [[ -f "$data_dir/server.log" ]] && log_lines=$(wc -l < "$data_dir/server.log")
  as_owner "$bin_dir/pg_ctl" -D "$data_dir" -l "$data_dir/server.log" -w -t 30 start >/dev/null && break
  if (( attempt < 6 )) && tail -n +"$((log_lines + 1))" "$data_dir/server.log" | grep -q 'could not bind .*Address already in use'; then
    echo "pg-start.sh: port $port is in use (attempt $attempt); trying again in 2 s" >&2
    sleep 2
    continue
  fi
  echo "pg-start.sh: PostgreSQL failed to start; its log:" >&2; tail -20 "$data_dir/server.log" >&2; exit 1
done

echo "PostgreSQL 15 started on 127.0.0.1:$port (data dir $data_dir)"
echo "$conn"
