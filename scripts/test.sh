#!/usr/bin/env bash
# The test command: starts the local servers the integration tests use (unless CDC_TEST_* point to
# real ones), runs every test project, and prints a one-line summary.
#
#   scripts/test.sh [test-platform arguments, e.g. --filter-class '*KafkaSinkTests' or --filter-method '*Replay*']
#
# The arguments go to the test applications (after `dotnet test --solution … --`), so `dotnet test` options such as
# --no-build do not belong here.
#
# Needs the .NET 10 SDK and Debian's postgresql-15, redis-server and rabbitmq-server (.ci/run installs them).
# Tests that cannot run here (no Docker engine, no real Kafka broker) are skipped with their reason printed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

if [[ -z "${CDC_TEST_POSTGRES:-}" ]]; then
  CDC_TEST_POSTGRES="$(scripts/pg-start.sh --port "${CDC_TEST_PG_PORT:-55439}" --data-dir "$repo/.run/pg-test" | tail -n 1)"
  export CDC_TEST_POSTGRES
fi
if [[ -x scripts/services-start.sh && ( -z "${CDC_TEST_REDIS:-}" || -z "${CDC_TEST_RABBITMQ:-}" ) ]]; then
  # prints KEY=VALUE lines for the servers it started
  while IFS='=' read -r key value; do
    case "$key" in
      CDC_TEST_REDIS|CDC_TEST_RABBITMQ) [[ -z "${!key:-}" ]] && export "$key=$value" ;;
    esac
  done < <(scripts/services-start.sh)
fi

log="$repo/.run/test-output.log"
results="$repo/.run/test-results"
mkdir -p "$repo/.run"
rm -rf "$results"
set +e
# A test that hangs must not hold the run (and CI) until its time limit: after CDC_TEST_HANG_TIMEOUT without a test starting
# or finishing (15 minutes; the suite takes ~7 in all), the test application is dumped and stopped, naming the tests
# still running.
dotnet test --solution CdcPipeline.sln -- --output Detailed --results-directory "$results" \
  --hangdump --hangdump-timeout "${CDC_TEST_HANG_TIMEOUT:-15m}" --hangdump-type Mini "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Skipped tests with their reasons, hung tests, then the closing line CI reads.
grep -E -A1 '^skipped ' "$log" | grep -v '^--$' | sed 's/^\s*/  /' || true
for hang in "$results"/*_hang.log; do
  [[ -e $hang ]] || continue
  echo "hung: no test started or finished for ${CDC_TEST_HANG_TIMEOUT:-15m}; stopped with these still running (elapsed, test), dump beside it: $hang"
  sed 's/^/  /' "$hang"
done
passed=$(grep -E '^\s+succeeded: ' "$log" | tail -n 1 | awk '{print $2}')
failed=$(grep -E '^\s+failed: ' "$log" | tail -n 1 | awk '{print $2}')
skipped=$(grep -E '^\s+skipped: ' "$log" | tail -n 1 | awk '{print $2}')
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit "$status"
