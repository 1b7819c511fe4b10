#!/usr/bin/env bash
# fuzz-long.sh - every libFuzzer target (tests/fuzz/fuzz_*.c) for a long run
# under ASan+UBSan: 10M executions each, or a time budget per target.
#
#   tests/reliability/fuzz-long.sh [BUILD_DIR]
#     BUILD_DIR       default build-fuzz-long (configured here with clang,
#                     -DEXPORTQ_FUZZ=ON -DEXPORTQ_SANITIZE=ON if missing)
#     FUZZ_RUNS       executions per target (default 10000000)
#     FUZZ_SECONDS    time budget per target (default 1800)
#     FUZZ_JOBS       parallel targets (default 1)
#     FUZZ_TARGETS    the targets to run, in this order (default: every
#                     tests/fuzz/fuzz_*.c, by name)
#     FUZZ_TIMEOUT    seconds one input may take (default 30: a loaded machine
#                     once stalled ASan's allocator 12 s inside fclose)
# New inputs go to BUILD_DIR/fuzz-long/<target>/ (the checked-in corpus is read
# only); a crash leaves crash-* there and the script exits 1.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$SRC/build-fuzz-long}
RUNS=${FUZZ_RUNS:-10000000} SECS=${FUZZ_SECONDS:-1800} JOBS=${FUZZ_JOBS:-1}
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  CC=clang cmake -S "$SRC" -B "$BUILD" -DEXPORTQ_FUZZ=ON -DEXPORTQ_SANITIZE=ON >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
rc=0
run_one() {
  local src=$1 name work corpus
  name=$(basename "${src%.c}")
  work="$BUILD/fuzz-long/$name"
  corpus="$SRC/tests/fuzz/corpus/$name"
  mkdir -p "$work"
  [ -d "$corpus" ] || corpus=
  echo "== $name: $RUNS runs or ${SECS}s"
  if (cd "$work" && nice -n 19 "$BUILD/tests/fuzz/$name" -runs="$RUNS" -max_total_time="$SECS" -timeout="${FUZZ_TIMEOUT:-30}" \
        -rss_limit_mb=2048 -print_final_stats=1 "$work" ${corpus:+"$corpus"} >"$work/log" 2>&1); then
    echo "ok - $name: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$work/log"), corpus $(ls "$work" | grep -vc '^log$\|^crash-')"
  else
    echo "not ok - $name: $(grep -m1 'ERROR\|SUMMARY' "$work/log"); see $work/log"
    return 1
  fi
}
export -f run_one; export BUILD SRC RUNS SECS
if [ -n "${FUZZ_TARGETS:-}" ]; then
  for t in $FUZZ_TARGETS; do echo "$SRC/tests/fuzz/$t.c"; done
else
  ls "$SRC"/tests/fuzz/fuzz_*.c
fi | xargs -P "$JOBS" -I{} bash -c 'run_one {}' || rc=1
exit $rc
