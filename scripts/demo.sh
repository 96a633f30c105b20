#!/usr/bin/env bash
# The demo, end to end on one machine: a throwaway PostgreSQL with wal_level=logical, the sample legacy
# order system, the pipeline with the sample rules, and a stream of legacy writes. Domain events appear on
# the console as the legacy application writes; they are also appended to out/legacy-orders-events.jsonl.
#
#   scripts/demo.sh [--writes N] [--rate PER_SECOND] [--port N]
#
# Needs the .NET 10 SDK and PostgreSQL 15 server binaries (Debian: apt-get install postgresql-15).
# Stop early with Ctrl+C: the pipeline drains, acknowledges and exits cleanly. Run it again: it resumes
# from the replication slot (nothing lost, nothing repeated).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
writes=60
rate=4
port="${CDC_PG_PORT:-55432}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --writes) writes="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (use --writes N, --rate N, --port N)" >&2; exit 2 ;;
  esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

say "building cdcpipeline (Release)"
mkdir -p .run
if ! dotnet build src/CdcPipeline -c Release -o .run/app -nologo > .run/demo-build.log 2>&1; then
  cat .run/demo-build.log >&2
  exit 1
fi
export CDCPIPELINE="$repo/.run/app/cdcpipeline"

say "legacy database: PostgreSQL 15 on 127.0.0.1:$port (wal_level=logical), sample schema, db prepare --apply"
export CDC_PG_PORT="$port"
CDC_DEMO_CONNECTION="$(scripts/demo-db.sh --port "$port" | tail -n 1)"
export CDC_DEMO_CONNECTION

say "readiness: cdcpipeline db check"
"$CDCPIPELINE" db check --config samples/legacy-orders/pipeline.yaml || true

mkdir -p out .run
log=.run/demo-pipeline.log
say "starting the pipeline (logs: $log); domain events follow as CloudEvents JSON lines"
"$CDCPIPELINE" run --config samples/legacy-orders/pipeline.yaml 2>"$log" &
pipeline=$!
trap 'kill -TERM $pipeline 2>/dev/null || true' EXIT
# wait until the slot exists and streaming started: event 1002, "Starting replication from slot …" (no line says
# "streaming": the demo waited its whole minute before the first write)
for _ in $(seq 1 120); do
  grep -q "Starting replication from slot" "$log" 2>/dev/null && break
  kill -0 $pipeline 2>/dev/null || { echo "the pipeline exited early; its log:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.5
done

say "the legacy application writes ($writes writes at $rate/s)"
PGPASSWORD=postgres scripts/legacy-writes.sh --port "$port" --count "$writes" --rate "$rate" >&2

sleep 3
say "stopping the pipeline (SIGTERM: drain, acknowledge, exit 0)"
kill -TERM $pipeline
wait $pipeline && status=0 || status=$?
trap - EXIT
echo "pipeline exit code: $status" >&2

say "domain events in out/legacy-orders-events.jsonl, by type"
grep -o '"type":"[A-Za-z.]*"' out/legacy-orders-events.jsonl | sort | uniq -c | sort -rn >&2
exit "$status"
