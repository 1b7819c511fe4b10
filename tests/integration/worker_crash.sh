#!/usr/bin/env bash
# kill -9 of a worker in the middle of a multipart export -> another worker
# rescues the job once the lease expires -> the job succeeds on attempt 2 with
# exactly one object (byte-equal to psql's COPY), exactly one email, and no
# multipart upload left in ListMultipartUploads.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-crash-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=2 EXPORTQ_LEASE_SECONDS=5
t=$(tmpdir)

# The kind `slow` streams ~40 MB over a few seconds, so the kill lands while
# parts are being uploaded.
define_slow_kind
addr="crash-$$@example.test"
id=$("$EXPORTQ_BIN" enqueue slow --param rows=200000 --param pause=0.4 --email "$addr" --owner crash)

"$EXPORTQ_BIN" worker 2> "$t/worker1.log" &
w1=$!
on_exit "kill -9 $w1 2>/dev/null"
wait_for "[ -n \"\$(psql_q \"SELECT upload_id FROM exportq.jobs WHERE id = $id AND bytes > 0\")\" ]" 60 \
  || { cat "$t/worker1.log" >&2; fail "the first worker never got into a multipart upload"; }
kill -9 $w1
wait $w1 2>/dev/null || true
ok "worker killed with SIGKILL mid-export ($(psql_q "SELECT bytes FROM exportq.jobs WHERE id = $id") bytes sent)"
assert_eq running "$(psql_q "SELECT state FROM exportq.status($id)")" "the job still looks running"
[ "$(uploads_under "$EXPORTQ_S3_PREFIX")" -ge 1 ] || fail "expected the dead attempt's upload in progress"

mport=$(free_port)
EXPORTQ_METRICS_LISTEN=127.0.0.1:$mport "$EXPORTQ_BIN" worker 2> "$t/worker2.log" &
w2=$!
on_exit "kill -9 $w2 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT state FROM exportq.status($id)\")\" = succeeded ]" 120 \
  || { cat "$t/worker2.log" >&2; fail "job $id was not rescued and completed"; }
wait_for "[ -n \"\$(mail_for $addr)\" ]" 30 || fail "no mail after the rescue"
sleep 2   # give a duplicate mail, if any, time to arrive
curl -sSf "http://127.0.0.1:$mport/metrics" > "$t/metrics.txt" || fail "no /metrics from the worker"
grep -qx 'exportq_worker_rescued_total 1' "$t/metrics.txt" || fail "metrics: the rescue was not counted"
grep -qx 'exportq_worker_exports_total{outcome="succeeded"} 1' "$t/metrics.txt" || fail "metrics: no success counted"
grep -qx 'exportq_worker_mails_total{outcome="sent"} 1' "$t/metrics.txt" || fail "metrics: no mail counted"
parts=$(awk '/^exportq_worker_part_uploads_total /{print $2}' "$t/metrics.txt")
[ "${parts:-0}" -ge 5 ] || fail "metrics: $parts parts counted for a ~40 MB export in 5 MiB parts"
assert_eq "$parts" "$(awk '/^exportq_worker_part_upload_seconds_count /{print $2}' "$t/metrics.txt")" \
  "every acknowledged part has a latency sample"
ok "worker /metrics: rescue, success, mail, $parts parts with latencies"
kill -TERM $w2; wait $w2 || fail "the second worker did not exit cleanly on SIGTERM"
ok "rescued and completed by the second worker"

assert_eq 2 "$(psql_q "SELECT attempts FROM exportq.status($id)")" "the lost attempt was counted"
keys=$(s3_list_keys "$EXPORTQ_S3_PREFIX")
assert_eq 1 "$(echo "$keys" | grep -c .)" "exactly one object for the job"
assert_eq 0 "$(uploads_under "$EXPORTQ_S3_PREFIX")" "no multipart upload left behind"
assert_eq 1 "$(grep -lx "RCPT_TO=$addr" "$EXPORTQ_TEST_MAILDIR"/*.env | wc -l)" "exactly one email"
s3_get_file "$keys" "$t/obj.csv"
psql -XAq -c "COPY (SELECT * FROM app.slow_rows('{\"rows\":\"200000\",\"pause\":\"0\"}'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)" > "$t/want.csv"
assert_eq "$(sha256_of "$t/want.csv")" "$(sha256_of "$t/obj.csv")" "the object equals psql's COPY"
ok "one object ($(stat -c %s "$t/obj.csv") bytes, equal to COPY), one email, no leftover upload"

# --- a running job cancelled while its worker is dead: the upload it left is
# aborted by the housekeeping of the next worker (after two leases of grace).
addr2="crash2-$$@example.test"
id2=$("$EXPORTQ_BIN" enqueue slow --param rows=200000 --param pause=0.4 --email "$addr2" --owner crash2)
"$EXPORTQ_BIN" worker 2> "$t/worker3.log" &
w3=$!
on_exit "kill -9 $w3 2>/dev/null"
wait_for "[ -n \"\$(psql_q \"SELECT upload_id FROM exportq.jobs WHERE id = $id2 AND bytes > 0\")\" ]" 60 \
  || fail "job $id2 never got into a multipart upload"
kill -9 $w3; wait $w3 2>/dev/null || true
"$EXPORTQ_BIN" cancel "$id2" >/dev/null
[ "$(uploads_under "${EXPORTQ_S3_PREFIX}crash2/")" -ge 1 ] || fail "expected the dead worker's upload in progress"
sleep $((2 * EXPORTQ_LEASE_SECONDS + 1))
"$EXPORTQ_BIN" worker --drain 2> "$t/worker4.log" || fail "worker --drain failed"
assert_eq 0 "$(uploads_under "${EXPORTQ_S3_PREFIX}crash2/")" "the cancelled job's orphaned upload was aborted"
assert_eq cancelled "$(psql_q "SELECT state FROM exportq.status($id2)")" "still cancelled"
assert_eq 0 "$(s3_list_keys "${EXPORTQ_S3_PREFIX}crash2/" | grep -c .)" "no object for the cancelled job"
ok "a cancelled job's upload left by a dead worker is aborted by housekeeping"
