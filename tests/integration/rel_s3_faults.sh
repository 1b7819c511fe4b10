#!/usr/bin/env bash
# Reliability: the worker behind tests/harness/s3proxy.py.
#  1. ~20% of UploadPart requests fail (500, 503, SlowDown, a 200 carrying an
#     <Error>, a dropped connection) or are slow: every job of a batch
#     (CI 6, long 24) succeeds, and each object, fetched from radosgw directly,
#     equals psql's COPY; no multipart upload is left.
#  2. Every UploadPart fails (ratio 1.0) with EXPORTQ_MAX_ATTEMPTS=2: the job
#     ends `failed` after 2 attempts, its upload is aborted, no object exists,
#     and the failure mail is sent. (In CI the retry backoff between the two
#     attempts, 10 s x jitter, is skipped by moving run_at to now(); with
#     EXPORTQ_LONG=1 the test waits it out.)
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="rel-s3f-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=3 EXPORTQ_POLL_SECONDS=1
t=$(tmpdir)
define_slow_kind
direct=$EXPORTQ_S3_ENDPOINT

# --- 1. intermittent faults ---------------------------------------------------------
n=6; rel_long && n=24
rows=60000 # ~12 MB: 3 parts each
s3proxy_start 0.2 drop,slow,500,slowdown,503,error200 11 2
ids=()
for ((i = 0; i < n; i++)); do
  ids+=("$("$EXPORTQ_BIN" enqueue slow --param rows=$rows --param pause=0 --owner "f$i" --email "s3f$i-$$@example.test")")
done
EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg w "$t/worker.log" "$EXPORTQ_BIN" worker --concurrency 2
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.jobs WHERE state IN ('succeeded','failed')\")\" = $n ]" $((60 + 15 * n)) \
  || { tail -50 "$t/worker.log" >&2; fail "the batch did not finish"; }
kill -TERM "$w"; wait "$w" || fail "worker did not exit cleanly"
failed=$(s3proxy_stat failed) parts=$(s3proxy_stat upload_part)
[ "$failed" -gt 0 ] || fail "the proxy injected no fault (a test that cannot fail)"
assert_eq "$n" "$(psql_q "SELECT count(*) FROM exportq.jobs WHERE state = 'succeeded'")" "every job of the batch succeeded"
psql -XAq -c "COPY (SELECT * FROM app.slow_rows('{\"rows\":$rows,\"pause\":0}')) TO STDOUT WITH (FORMAT csv, HEADER)" >"$t/want.csv"
want=$(sha256_of "$t/want.csv")
for ((i = 0; i < n; i++)); do
  keys=$(EXPORTQ_S3_ENDPOINT=$direct s3_list_keys "${EXPORTQ_S3_PREFIX}f$i/")
  assert_eq 1 "$(echo "$keys" | grep -c .)" "job ${ids[i]}: one object"
  EXPORTQ_S3_ENDPOINT=$direct s3_get_file "$keys" "$t/obj.csv"
  assert_eq "$want" "$(sha256_of "$t/obj.csv")" "job ${ids[i]}: object equals psql's COPY"
done
assert_eq 0 "$(uploads_under "$EXPORTQ_S3_PREFIX")" "no multipart upload left"
retries=$(grep -o 'completed: [0-9]* parts, [0-9]* bytes, [0-9]* retries' "$t/worker.log" | awk '{s += $6} END {print s + 0}')
attempts=$(psql_q "SELECT sum(attempts) FROM exportq.jobs")
ok "faults: $failed of $parts UploadPart requests failed or slow ($(cat "$S3PROXY_STATS")); $retries part retries; $attempts job attempts for $n jobs; all $n objects equal COPY"
kill "$S3PROXY_PID" 2>/dev/null; wait "$S3PROXY_PID" 2>/dev/null || true

# --- 2. persistent failure ------------------------------------------------------------
s3proxy_start 1.0 500,503,slowdown 12
addr="s3dead-$$@example.test"
id=$("$EXPORTQ_BIN" enqueue slow --param rows=$rows --param pause=0 --owner dead --email "$addr")
EXPORTQ_MAX_ATTEMPTS=2 EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg w "$t/worker2.log" "$EXPORTQ_BIN" worker
finished() {
  rel_long || psql_q "UPDATE exportq.jobs SET run_at = now() WHERE id = $id AND state = 'queued' AND run_at > now()" >/dev/null
  [ "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id")" = failed ]
}
wait_for finished 120 || { tail -30 "$t/worker2.log" >&2; fail "job $id did not fail"; }
wait_for "[ -n \"\$(mail_for $addr)\" ]" 30 || fail "no failure mail"
kill -TERM "$w"; wait "$w" || fail "worker did not exit cleanly"
assert_eq 2 "$(psql_q "SELECT attempts FROM exportq.jobs WHERE id = $id")" "EXPORTQ_MAX_ATTEMPTS=2 attempts"
assert_contains "$(psql_q "SELECT last_error FROM exportq.jobs WHERE id = $id")" "UploadPart" "last_error names the failing S3 call"
assert_eq 0 "$(uploads_under "${EXPORTQ_S3_PREFIX}dead/")" "the upload was aborted"
assert_eq 0 "$(s3_list_keys "${EXPORTQ_S3_PREFIX}dead/" | grep -c .)" "no object"
subject=$(grep -i '^Subject:' "$(mail_for "$addr")")
ok "persistent S3 failure: failed after 2 attempts ($(psql_q "SELECT last_error FROM exportq.jobs WHERE id = $id" | head -c 120)), upload aborted, failure mail ($subject)"
