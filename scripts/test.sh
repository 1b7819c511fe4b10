#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root, or with sudo):
# installs the packages, builds twice (gcc with -Werror; clang with
# ASan+UBSan and the libFuzzer targets), starts the real test servers
# (PostgreSQL, Ceph radosgw, SMTP) on 127.0.0.1 through the ctest fixture,
# and runs every test in both builds. The last lines are ctest's summary.
#
#   scripts/test.sh              everything
#   scripts/test.sh -R queue     only tests matching a ctest regex (both builds)
#   EXPORTQ_TEST_ASAN=0 scripts/test.sh    skip the sanitizer build
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
run_ctest build "$@" || status=$?

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
