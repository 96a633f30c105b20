#!/usr/bin/env bash
# The demo's legacy database, from nothing: a throwaway PostgreSQL 15 cluster (wal_level=logical),
# database 'legacy' with the sample schema and seed rows, and the capture setup done the way a DBA would
# (cdcpipeline db prepare --apply): role cdc (LOGIN REPLICATION, read-only on the tables), REPLICA IDENTITY
# FULL on tb_cust_mst, tb_ord_mst (the rules compare old and new status) and tb_aud_log, publication cdc_pub, heartbeat and signal tables in schema cdc.
#
#   scripts/demo-db.sh [--port N] [--data-dir DIR] [--fresh] [--no-prepare]
#
# Defaults as scripts/pg-start.sh's: port 55432 (or $CDC_PG_PORT), data dir <repo>/.run/pg (or $CDC_PG_DATA).
# Idempotent: run it again and nothing changes. Prints the cdc role's connection string on the last line.
# The cdc role's password is $CDC_PASSWORD (default: cdc — a demo, not a secret).
# Then:  scripts/legacy-writes.sh --port N      (writes)      cdcpipeline db check --connection "…"
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${CDC_PG_PORT:-55432}"
fresh=()
data_dir=() # none: pg-start.sh's default ($CDC_PG_DATA or <repo>/.run/pg)
prepare=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --fresh) fresh=(--fresh); shift ;;
    --no-prepare) prepare=0; shift ;;
    --data-dir) data_dir=(--data-dir "$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "demo-db.sh: unknown argument '$1' (use --port N, --data-dir DIR, --fresh, --no-prepare)" >&2; exit 2 ;;
  esac
done

"$repo_root/scripts/pg-start.sh" --port "$port" "${data_dir[@]}" "${fresh[@]}" | head -n 1
if [[ ${#fresh[@]} -gt 0 ]]; then
  # A new cluster has no slot: the sample pipeline's state file (samples/legacy-orders/pipeline.yaml, stateDirectory) would
  # otherwise say it read cdc_demo_slot, and run refuses to start on a slot that is gone rather than skip changes silently.
  rm -f "$repo_root/.run/state/cdc_demo_slot.snapshot.json"
fi

export PGPASSWORD=postgres
PSQL_BIN="$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)"
psql_admin() { PGOPTIONS="-c client_min_messages=warning" "$PSQL_BIN" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"; }

if [[ "$(psql_admin -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'legacy'")" != "1" ]]; then
  psql_admin -d postgres -c "CREATE DATABASE legacy"
  echo "database legacy created"
fi
# schema.sql and seed.sql are idempotent (IF NOT EXISTS, ON CONFLICT DO NOTHING)
psql_admin -d legacy -f "$repo_root/samples/legacy-orders/schema.sql" -f "$repo_root/samples/legacy-orders/seed.sql"
echo "sample legacy schema loaded: $(psql_admin -d legacy -Atc "SELECT count(*) FROM tb_cust_mst") customers, $(psql_admin -d legacy -Atc "SELECT count(*) FROM tb_ord_mst") orders"

admin_cs="Host=127.0.0.1;Port=$port;Username=postgres;Password=postgres;Database=legacy"
export CDC_PASSWORD="${CDC_PASSWORD:-cdc}"
if [[ $prepare == 1 ]]; then
  # $CDCPIPELINE: a built cdcpipeline binary; otherwise dotnet run (builds on first use)
  if [[ -n "${CDCPIPELINE:-}" ]]; then
    cli=("$CDCPIPELINE")
  else
    cli=(dotnet run --project "$repo_root/src/CdcPipeline" --)
  fi
  "${cli[@]}" db prepare --apply --connection "$admin_cs" \
    --tables public.tb_cust_mst,public.tb_ord_mst,public.tb_ord_dtl,public.tb_aud_log \
    --publication cdc_pub --role cdc --password-env CDC_PASSWORD \
    --replica-identity-full public.tb_cust_mst,public.tb_ord_mst,public.tb_aud_log
fi

# the demo's default password is shown; a password of your own is not (the config expands ${CDC_PASSWORD})
if [[ "$CDC_PASSWORD" == "cdc" ]]; then shown=cdc; else shown='${CDC_PASSWORD}'; fi
echo "Host=127.0.0.1;Port=$port;Username=cdc;Password=$shown;Database=legacy"
