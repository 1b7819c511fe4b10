#!/usr/bin/env bash
# memory_bench.sh - the worker's peak RSS per job (issue 12's goal: <= 48 MiB
# per job at the defaults, whatever the S3 speed or the export size), side by
# side in one run:
#   (a) S3 as fast as it is here (radosgw on 127.0.0.1)             - the baseline
#   (b) S3 slower than the database: every UploadPart reply held back
#       BENCH_STALL seconds by tests/harness/s3proxy.py (no faults), so parts
#       pile up in memory up to EXPORTQ_UPLOAD_MEMORY
# at BENCH_ROWS rows and, unless BENCH_BIG_ROWS=0, at BENCH_BIG_ROWS rows (10M:
# parts past the 1,000th grow, and fewer stay in flight). Also the idle RSS of
# a worker that found no job, and the object's sha256 against psql's COPY.
#
#   bench/memory_bench.sh
#   BENCH_BIG_ROWS=0 bench/memory_bench.sh        (1M rows only)
#
# Env: BENCH_ROWS (1000000), BENCH_BIG_ROWS (10000000; 0 skips), BENCH_STALL
# (10 s), EXPORTQ_UPLOAD_MEMORY (the default 32 MiB unless set), plus
# bench/common.sh's. Only 127.0.0.1 is used. No figure is asserted.
. "$(dirname "$0")/common.sh"

ROWS=${BENCH_ROWS:-1000000}
BIG=${BENCH_BIG_ROWS:-10000000}
STALL=${BENCH_STALL:-10}

bench_setup
bench_workdir exportq-bench-mem
export EXPORTQ_S3_PREFIX=bench-mem/
unset EXPORTQ_SMTP_URL EXPORTQ_SMTP_FROM || true

# the proxy: a stall on every part, nothing failed
python3 "$BENCH_ROOT/tests/harness/s3proxy.py" --upstream "${EXPORTQ_S3_ENDPOINT#http://}" \
  --port-file "$T/proxy.port" --stats "$T/proxy.stats" --ratio 0 --stall "part=$STALL" >"$T/proxy.log" 2>&1 &
PROXY=$!
bench_on_exit "kill $PROXY 2>/dev/null"
for _ in $(seq 1 100); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
[ -s "$T/proxy.port" ] || bench_die "s3proxy did not start: $(cat "$T/proxy.log")"
SLOW=http://127.0.0.1:$(cat "$T/proxy.port")

# run_case OWNER LABEL [VAR=VALUE...]: one `worker --drain` job; prints a table row
run_case() {
  local owner=$1 label=$2 job st state secs bytes key wall rss
  shift 2
  job=$("$EXPORTQ_BIN" enqueue bench_raw --owner "$owner")
  timed "$T/t" env "$@" "$EXPORTQ_BIN" worker --drain 2>>"$T/worker.log" \
    || { tail -n 20 "$T/worker.log" >&2; bench_die "worker --drain failed"; }
  st=$(psql -XAtq -F ' ' -c "SELECT state, round(extract(epoch FROM finished_at - started_at)::numeric, 1), bytes,
                                    object_key FROM exportq.jobs WHERE id = $job")
  read -r state secs bytes key <<<"$st"
  [ "$state" = succeeded ] || { tail -n 20 "$T/worker.log" >&2; bench_die "job $job is $state"; }
  read -r wall rss _ <<<"$(tail -n 1 "$T/t")"
  if [ -n "${CHECK_SHA:-}" ]; then
    got=$(s3_sha "$key")
    [ "$got" = "$CHECK_SHA" ] || bench_die "job $job's object differs from psql's COPY"
  fi
  s3_rm "$key"
  printf '| %s | %s | %s | %s | %.1f |\n' "$label" "$owner" "$bytes" "$secs" "$(echo "$rss / 1024" | bc -l)"
}

idle_rss() {  # a worker with an empty queue: its peak RSS
  timed "$T/t" "$EXPORTQ_BIN" worker --drain 2>>"$T/worker.log" || bench_die "idle worker failed"
  read -r _ rss _ <<<"$(tail -n 1 "$T/t")"
  echo "$rss"
}

hr "worker peak RSS per job (EXPORTQ_UPLOAD_MEMORY=${EXPORTQ_UPLOAD_MEMORY:-33554432 (default)}, part stall ${STALL}s on the slow S3)"
idle=$(idle_rss)
printf 'idle worker (no job): peak RSS %.1f MiB\n\n' "$(echo "$idle / 1024" | bc -l)"
echo "| case | owner | bytes | job s | peak RSS MiB |"
echo "|---|---|---|---|---|"
for n in "$ROWS" "$BIG"; do
  [ "$n" -gt 0 ] || continue
  owner=bench-mem-$n
  bench_seed "$owner" "$n"
  CHECK_SHA=$(psql -XAtq -c "$(copy_sql "$owner")" | sha256sum | cut -d' ' -f1)
  run_case "$owner" "$n rows, S3 direct (baseline)"
  run_case "$owner" "$n rows, S3 slower than the database" EXPORTQ_S3_ENDPOINT="$SLOW"
done
echo
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("slow S3: %d requests, %d stalled" % (s.get("requests",0), s.get("stalled",0)))' "$T/proxy.stats"
