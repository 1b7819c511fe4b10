#!/usr/bin/env bash
# Reliability: the worker behind tests/harness/s3proxy.py.
#  1. Every S3 operation of an export meets every fault: PutObject (exports
#     under one part), CreateMultipartUpload, UploadPart and
#     CompleteMultipartUpload each fail requests 1, 3, 5, ... (--every 2) with,
#     in turn, 500, 503, SlowDown, a 200 carrying an <Error>, a dropped
#     connection and a slow reply; one Complete is applied by S3 but its reply
#     lost, so the retried Complete reaches the real server. A batch (CI 6+6,
#     long 24+24) succeeds; each object, fetched from radosgw directly, equals
#     psql's COPY; each job ran exactly once (one Complete or PutObject applied
#     by S3 per key, counted by the proxy); the worker's part retries are
#     exactly the UploadPart faults that cost a retry; no multipart upload left.
#  2. Every UploadPart fails (ratio 1.0) with EXPORTQ_MAX_ATTEMPTS=2: the job
#     ends `failed` after 2 attempts, its upload is aborted, no object exists,
#     and the failure mail is sent. (In CI the retry backoff between the two
#     attempts, 10 s x jitter, is skipped by moving run_at to now(); with
#     EXPORTQ_LONG=1 the test waits it out.)
#  3. Every Complete answers 200 with an <Error> body (EXPORTQ_MAX_ATTEMPTS=1):
#     the job fails naming CompleteMultipartUpload, the upload is aborted, no
#     object exists.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="rel-s3f-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=3 EXPORTQ_POLL_SECONDS=1
t=$(tmpdir)
define_slow_kind
direct=$EXPORTQ_S3_ENDPOINT
modes=500,503,slowdown,error200,drop,slow

# --- 1. every fault on every operation --------------------------------------------
n=6; rel_long && n=24
rows=60000 small=2000 # ~12 MB: 3 parts each; ~400 KB: one PutObject
s3proxy_start 0 "$modes" 11 2 all --every 2 --lose-complete-replies 1
ids=()
for ((i = 0; i < n; i++)); do
  ids+=("$("$EXPORTQ_BIN" enqueue slow --param rows=$rows --param pause=0 --owner "f$i" --email "s3f$i-$$@example.test")")
  ids+=("$("$EXPORTQ_BIN" enqueue slow --param rows=$small --param pause=0 --owner "p$i")")
done
mport=$(free_port)
EXPORTQ_METRICS_LISTEN=127.0.0.1:$mport EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg w "$t/worker.log" "$EXPORTQ_BIN" worker --concurrency 2
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.jobs WHERE state IN ('succeeded','failed')\")\" = $((2 * n)) ]" $((60 + 20 * n)) \
  || { tail -50 "$t/worker.log" >&2; fail "the batch did not finish"; }
curl -sSf "http://127.0.0.1:$mport/metrics" >"$t/metrics.txt" || fail "no /metrics from the worker"
kill -TERM "$w"; wait "$w" || fail "worker did not exit cleanly"
assert_eq "$((2 * n))" "$(psql_q "SELECT count(*) FROM exportq.jobs WHERE state = 'succeeded'")" "every job of the batch succeeded"
for op in PutObject Create UploadPart Complete; do
  got=$(/usr/bin/python3 -c 'import json,sys; print(",".join(sorted(json.load(open(sys.argv[1]))["by_op"].get(sys.argv[2], {}).get("modes", {}))))' "$S3PROXY_STATS" "$op")
  assert_eq "$(tr , '\n' <<<"$modes" | sort | paste -sd,)" "$got" "$op met every fault"
done
assert_eq 1 "$(s3proxy_stat lost_complete)" "one Complete applied by S3 with its reply lost"
psql -XAq -c "COPY (SELECT * FROM app.slow_rows('{\"rows\":$rows,\"pause\":0}')) TO STDOUT WITH (FORMAT csv, HEADER)" >"$t/want.csv"
psql -XAq -c "COPY (SELECT * FROM app.slow_rows('{\"rows\":$small,\"pause\":0}')) TO STDOUT WITH (FORMAT csv, HEADER)" >"$t/want_small.csv"
for ((i = 0; i < n; i++)); do
  for o in f p; do
    ref=$t/want.csv; [ $o = p ] && ref=$t/want_small.csv
    keys=$(EXPORTQ_S3_ENDPOINT=$direct s3_list_keys "${EXPORTQ_S3_PREFIX}$o$i/")
    assert_eq 1 "$(echo "$keys" | grep -c .)" "owner $o$i: one object"
    EXPORTQ_S3_ENDPOINT=$direct s3_get_file "$keys" "$t/obj.csv"
    assert_eq "$(sha256_of "$ref")" "$(sha256_of "$t/obj.csv")" "owner $o$i: object equals psql's COPY"
    assert_eq 1 "$(s3proxy_runs "${EXPORTQ_S3_PREFIX}$o$i/")" "owner $o$i: the export ran exactly once (S3 applied one Complete/PutObject)"
  done
done
EXPORTQ_S3_ENDPOINT=$direct assert_no_uploads "$EXPORTQ_S3_PREFIX" "no multipart upload left"
# Each UploadPart fault costs the uploader one part retry, except `slow` (2 s,
# under the worker's stall timeout) and `drop` on a reused connection (libcurl
# itself resends a request whose reused connection died before any reply),
# which may or may not. The worker counts them in memory
# (exportq_worker_part_retries_total).
retries=$(awk '/^exportq_worker_part_retries_total /{print $2}' "$t/metrics.txt")
read -r part_faults part_maybe < <(/usr/bin/python3 -c 'import json,sys; m = json.load(open(sys.argv[1]))["by_op"]["UploadPart"]["modes"]; print(sum(v for k, v in m.items() if k not in ("slow", "drop")), m.get("slow", 0) + m.get("drop", 0))' "$S3PROXY_STATS")
[ "$part_faults" -ge 4 ] || fail "only $part_faults UploadPart faults were injected"
[ "${retries:-0}" -ge "$part_faults" ] && [ "$retries" -le $((part_faults + part_maybe)) ] \
  || fail "part retries: the worker counted ${retries:-none} for $part_faults failed (+ $part_maybe slow or dropped) UploadPart replies"
attempts=$(psql_q "SELECT sum(attempts) FROM exportq.jobs")
ok "every fault on every operation ($(/usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["by_op"]))' "$S3PROXY_STATS")); $retries part retries; $attempts job attempts for $((2 * n)) jobs; every job ran once; all objects equal COPY"
kill "$S3PROXY_PID" 2>/dev/null; wait "$S3PROXY_PID" 2>/dev/null || true

# --- 2. persistent UploadPart failure --------------------------------------------------
s3proxy_start 1.0 500,503,slowdown 12
addr="s3dead-$$@example.test"
id=$("$EXPORTQ_BIN" enqueue slow --param rows=$rows --param pause=0 --owner dead --email "$addr")
EXPORTQ_MAX_ATTEMPTS=2 EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg w "$t/worker2.log" "$EXPORTQ_BIN" worker
wait_for "[ \"\$(uploads_under ${EXPORTQ_S3_PREFIX}dead/)\" -ge 1 ]" 60 || fail "the failing job's upload was never in flight"
finished() {
  rel_long || psql_q "UPDATE exportq.jobs SET run_at = now() WHERE id = $id AND state = 'queued' AND run_at > now()" >/dev/null
  [ "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id")" = failed ]
}
wait_for finished 120 || { tail -30 "$t/worker2.log" >&2; fail "job $id did not fail"; }
wait_for "[ -n \"\$(mail_for $addr)\" ]" 30 || fail "no failure mail"
kill -TERM "$w"; wait "$w" || fail "worker did not exit cleanly"
assert_eq 2 "$(psql_q "SELECT attempts FROM exportq.jobs WHERE id = $id")" "EXPORTQ_MAX_ATTEMPTS=2 attempts"
assert_contains "$(psql_q "SELECT last_error FROM exportq.jobs WHERE id = $id")" "UploadPart" "last_error names the failing S3 call"
assert_no_uploads "${EXPORTQ_S3_PREFIX}dead/" "the upload was aborted"
assert_eq 0 "$(s3_list_keys "${EXPORTQ_S3_PREFIX}dead/" | grep -c .)" "no object"
subject=$(grep -i '^Subject:' "$(mail_for "$addr")")
ok "persistent S3 failure: failed after 2 attempts ($(psql_q "SELECT last_error FROM exportq.jobs WHERE id = $id" | head -c 120)), upload aborted, failure mail ($subject)"
kill "$S3PROXY_PID" 2>/dev/null; wait "$S3PROXY_PID" 2>/dev/null || true

# --- 3. every Complete is a 200 with an <Error> body --------------------------------------
s3proxy_start 1.0 error200 13 0 Complete
id=$("$EXPORTQ_BIN" enqueue slow --param rows=$rows --param pause=0 --owner badcomplete)
EXPORTQ_MAX_ATTEMPTS=1 EXPORTQ_S3_ENDPOINT=$S3PROXY_URL "$EXPORTQ_BIN" worker --drain 2>"$t/worker3.log" || true
assert_eq failed "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id")" "a Complete that always answers 200 <Error> fails the job"
assert_contains "$(psql_q "SELECT last_error FROM exportq.jobs WHERE id = $id")" "CompleteMultipartUpload" "last_error names Complete"
[ "$(s3proxy_op_stat Complete failed)" -ge 2 ] || fail "the 200 <Error> Complete was not retried"
assert_eq 0 "$(s3_list_keys "${EXPORTQ_S3_PREFIX}badcomplete/" | grep -c .)" "no object"
assert_no_uploads "${EXPORTQ_S3_PREFIX}badcomplete/" "the upload was aborted"
ok "200 <Error> on every Complete: retried $(s3proxy_op_stat Complete failed) times, job failed, upload aborted"
