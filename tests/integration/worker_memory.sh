#!/usr/bin/env bash
# A worker's memory is a function of its settings, not of the traffic or of
# the export (issues 10.7 and 12):
#  1. EXPORTQ_UPLOAD_MEMORY bounds the part buffers: with 10 MiB for 5 MiB
#     parts and 4 parts allowed in flight, against an S3 slower than the
#     database (every part reply held 2 s by s3proxy), the worker's peak RSS
#     grows by at most the budget plus a few MiB over its idle RSS (without
#     the budget, 5 buffers of 5 MiB would fill), and the object is right.
#  2. While one long job runs, 60,000 jobs are enqueued in small batches
#     (each enqueue NOTIFYs the worker's LISTENing connection): the worker's
#     RSS stays flat (a generous bound) because each heartbeat drains them.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
if is_sanitized; then echo "# memory figures mean nothing under ASan"; exit 77; fi
use_fresh_db
export EXPORTQ_S3_PREFIX="it-mem-$$-$(date +%s)/" EXPORTQ_POLL_SECONDS=1
export EXPORTQ_UPLOAD_MEMORY=10485760 EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=4
t=$(tmpdir)
direct=$EXPORTQ_S3_ENDPOINT
define_slow_kind
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# --- 1. the upload memory bound against a slow S3 ------------------------------------
s3proxy_start 1.0 slow 3 2
EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg w "$t/worker.log" "$EXPORTQ_BIN" worker
wait_for "grep -q 'worker started' '$t/worker.log'" 20 || fail "worker did not start"
sleep 1 # let the threads connect (idle RSS)
idle=$(kb "$w" VmRSS)
id=$("$EXPORTQ_BIN" enqueue slow --param rows=150000 --param pause=0 --owner mem) # ~30 MB: 6 parts
wait_for "[ \"\$(psql_q \"SELECT state FROM exportq.jobs WHERE id = $id\")\" = succeeded ]" 180 \
  || { tail -20 "$t/worker.log" >&2; fail "the export did not succeed"; }
peak=$(kb "$w" VmHWM)
[ "$(s3proxy_stat failed)" -ge 6 ] || fail "the proxy held back only $(s3proxy_stat failed) parts"
grow=$(((peak - idle) / 1024))
echo "# idle RSS $((idle / 1024)) MiB, peak $((peak / 1024)) MiB: +$grow MiB for a 10 MiB upload memory"
[ "$grow" -le 16 ] || fail "peak RSS grew by $grow MiB over idle with EXPORTQ_UPLOAD_MEMORY=10 MiB"
key=$(EXPORTQ_S3_ENDPOINT=$direct s3_list_keys "${EXPORTQ_S3_PREFIX}mem/")
EXPORTQ_S3_ENDPOINT=$direct s3_get_file "$key" "$t/obj.csv"
psql -XAq -c "COPY (SELECT * FROM app.slow_rows('{\"rows\":150000,\"pause\":0}')) TO STDOUT WITH (FORMAT csv, HEADER)" >"$t/want.csv"
assert_eq "$(sha256_of "$t/want.csv")" "$(sha256_of "$t/obj.csv")" "the object equals psql's COPY"
kill -TERM "$w"; wait "$w" || fail "worker did not exit cleanly"
ok "slow S3: peak RSS +$grow MiB over idle with a 10 MiB upload memory; object right"

# --- 2. enqueues while a long job runs ------------------------------------------------
# a lease long enough that a loaded machine's late heartbeat does not lose the job
export EXPORTQ_LEASE_SECONDS=15
long=$("$EXPORTQ_BIN" enqueue slow --param rows=3000000 --param pause=1 --owner long)
rel_bg w2 "$t/worker2.log" "$EXPORTQ_BIN" worker
wait_for "[ \"\$(psql_q \"SELECT bytes > 12000000 FROM exportq.jobs WHERE id = $long\")\" = t ]" 90 \
  || fail "the long job did not get going"
before=$(kb "$w2" VmRSS)
for ((i = 0; i < 60; i++)); do
  psql_q "SELECT count(exportq.enqueue('slow', '{\"rows\":\"1\",\"pause\":\"0\"}'::jsonb)) FROM generate_series(1, 1000)" >/dev/null
done
# a heartbeat after the last enqueue (the lease is renewed past now() + 14 s)
mark=$(psql_q "SELECT extract(epoch FROM now() + interval '14 s')::bigint")
wait_for "[ \"\$(psql_q \"SELECT extract(epoch FROM lease_expires_at)::bigint >= $mark FROM exportq.jobs WHERE id = $long\")\" = t ]" 30 \
  || fail "no heartbeat after the enqueues"
after=$(kb "$w2" VmRSS)
assert_eq running "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $long")" "the long job is still running"
grow=$(((after - before) / 1024))
echo "# RSS $((before / 1024)) MiB before 60,000 enqueues, $((after / 1024)) MiB after"
[ "$grow" -le 2 ] || fail "worker RSS grew by $grow MiB over 60,000 enqueues"
"$EXPORTQ_BIN" cancel "$long" >/dev/null
kill -TERM "$w2"; wait "$w2" || fail "worker 2 did not exit cleanly"
ok "60,000 enqueues while a job ran: worker RSS +$grow MiB"
