#!/usr/bin/env bash
# Stops the throwaway cluster started by pg-start.sh.
#
#   scripts/pg-stop.sh [--data-dir DIR] [--wipe]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${CDC_PG_DATA:-$repo_root/.run/pg}"
bin_dir="${PG_BIN:-/usr/lib/postgresql/15/bin}"
wipe=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) data_dir="$2"; shift 2 ;;
    --port) shift 2 ;; # accepted for symmetry with pg-start.sh; the data dir identifies the cluster
    --wipe) wipe=1; shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "pg-stop.sh: unknown argument '$1' (use --data-dir DIR, --wipe)" >&2; exit 2 ;;
  esac
done

as_owner() {
  if [[ "$(id -u)" == "0" ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [[ -f "$data_dir/PG_VERSION" ]] && as_owner "$bin_dir/pg_ctl" -D "$data_dir" status >/dev/null 2>&1; then
  as_owner "$bin_dir/pg_ctl" -D "$data_dir" -m fast -w stop >/dev/null
  echo "PostgreSQL stopped (data dir $data_dir)"
else
  echo "PostgreSQL not running (data dir $data_dir)"
fi

if [[ $wipe == 1 ]]; then
  rm -rf "$data_dir"
  echo "data dir $data_dir removed"
fi
