#!/usr/bin/env bash
# run-long.sh - the reliability suite in long mode (EXPORTQ_LONG=1): 20 kills,
# a 24-job fault batch with the real retry backoff, 1,000 tiny jobs beside
# 1 M-row long exports, then the long fuzz runs (tests/reliability/fuzz-long.sh).
# The rel_*.sh scripts run directly (not through ctest, whose 300 s per-test
# limit is meant for CI) against servers started here.
#
#   tests/reliability/run-long.sh [BUILD_DIR]   (default build-rel-long)
#   SKIP_FUZZ=1    only the integration tests
#   KEEP=1         leave the test servers running
set -uo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$SRC/build-rel-long}
STATE=${EXPORTQ_TEST_STATE:-/tmp/eqt-rel-long}
nice -n 19 cmake -S "$SRC" -B "$BUILD" -DEXPORTQ_TEST_STATE="$STATE" >/dev/null || exit 1
nice -n 19 cmake --build "$BUILD" -j"$(nproc)" >/dev/null || exit 1
nice -n 19 bash "$SRC/tests/harness/servers.sh" up "$STATE" >/dev/null || exit 1
[ "${KEEP:-0}" = 1 ] || trap 'bash "$SRC/tests/harness/servers.sh" down "$STATE" >/dev/null' EXIT
export EXPORTQ_LONG=1 EXPORTQ_TEST_ENV="$STATE/servers.env" EXPORTQ_BIN="$BUILD/exportq" EXPORTQ_SOURCE_DIR="$SRC"
rc=0
for t in "$SRC"/tests/integration/rel_*.sh; do
  start=$(date +%s)
  echo "== $(basename "$t")"
  if nice -n 19 bash "$t"; then echo "== passed in $(($(date +%s) - start)) s"; else echo "== FAILED"; rc=1; fi
done
[ "${SKIP_FUZZ:-0}" = 1 ] || "$SRC/tests/reliability/fuzz-long.sh" || rc=1
exit $rc
