#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root, or with sudo):
# installs the packages, builds twice (gcc with -Werror, where the unit tests
# run; clang with -Werror, ASan+UBSan and the libFuzzer targets, where the
# whole suite runs once: unit, integration against the real test servers
# (PostgreSQL, Ceph radosgw, SMTP, Chromium) on 127.0.0.1 started through the
# ctest fixture, and the fuzz targets' short runs). The last lines are ctest's
# summary.
#
#   scripts/test.sh              everything (as CI)
#   scripts/test.sh -R queue     only tests matching a ctest regex
#   EXPORTQ_TEST_ASAN=0 scripts/test.sh    no sanitizer build: the whole suite in the gcc build
#   EXPORTQ_TEST_BOTH=1 scripts/test.sh    the whole suite in both builds
#
# Exit status: non-zero when a test failed, or when a test was skipped (exit
# 77): a skip means a dependency is missing, and CI must not read it as a pass.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)

if [ "$(id -u)" = 0 ]; then
  scripts/install-deps.sh
else
  sudo scripts/install-deps.sh
fi

configure_and_build() { # dir, extra cmake args...
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -DEXPORTQ_WERROR=ON "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j"$jobs"
}

# run_ctest DIR ARGS...: ctest in DIR; its output also goes to DIR.ctest.log. A
# test that exits 77 (SKIP_RETURN_CODE) is "Skipped" in ctest's summary, and
# ctest still exits 0: CI must run everything, so a skip fails it (status 3).
run_ctest() {
  local dir=$1 rc=0
  shift
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "$@") 2>&1 | tee "$dir.ctest.log" || rc=$?
  [ "$rc" = 0 ] || return "$rc"
  if grep -q '\*\*\*Skipped\|(Skipped)' "$dir.ctest.log"; then return 3; fi
  return 0
}

mkdir -p build
configure_and_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEXPORTQ_TEST_STATE=/tmp/exportq-test
status=0
if [ "${EXPORTQ_TEST_ASAN:-1}" = 1 ] && [ "${EXPORTQ_TEST_BOTH:-0}" != 1 ]; then
  # the suite runs once, under the sanitizers below; here the optimised
  # build's unit tests (what -O2 could change: parsers, signers, encoders)
  echo "=== gcc -Werror build: unit tests (the whole suite runs under ASan+UBSan next) ==="
  run_ctest build -R '^unit\.' || status=$?
else
  run_ctest build "$@" || status=$?
fi

if [ "${EXPORTQ_TEST_ASAN:-1}" = 1 ]; then
  mkdir -p build-asan
  CC=clang configure_and_build build-asan -DCMAKE_BUILD_TYPE=Debug -DEXPORTQ_SANITIZE=ON \
    -DEXPORTQ_FUZZ=ON -DEXPORTQ_TEST_STATE=/tmp/exportq-test-asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  echo "=== the same suite under ASan+UBSan (clang) ==="
  run_ctest build-asan "$@" || status=$?
fi
exit $status
