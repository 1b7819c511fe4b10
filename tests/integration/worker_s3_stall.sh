#!/usr/bin/env bash
# An S3 that stalls longer than the lease (issue 10.2), through
# tests/harness/s3proxy.py (--stall: S3 applies the request, its reply is
# held back 9 s; the lease is 5 s):
#  1. ListMultipartUploads (the leftover check at a job's start),
#     CreateMultipartUpload, CompleteMultipartUpload and PutObject stall: the
#     worker heartbeats through every wait, so a multipart export and a
#     one-part export each succeed on attempt 1, with one object each; the
#     job is never rescued.
#  2. The lease is really lost during a stalled Complete (the worker is
#     paused longer than the lease; another worker rescues the job and, with
#     EXPORTQ_MAX_ATTEMPTS=1, fails it): the job ends `failed` and the object
#     that the late Complete made is deleted (never a readable object for a
#     failed job).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-stall-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=2 EXPORTQ_LEASE_SECONDS=5 EXPORTQ_POLL_SECONDS=1
t=$(tmpdir)
direct=$EXPORTQ_S3_ENDPOINT
define_slow_kind
S3PROXY_ARGS="--stall list=9 --stall create=9 --stall complete=9 --stall put=9" s3proxy_start 0 "" 5

# --- 1. heartbeat through the stalled waits ----------------------------------------
big=$("$EXPORTQ_BIN" enqueue slow --param rows=60000 --param pause=0 --owner big)   # ~12 MB: 3 parts
small=$("$EXPORTQ_BIN" enqueue slow --param rows=1000 --param pause=0 --owner small) # one PutObject
EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg w1 "$t/worker1.log" "$EXPORTQ_BIN" worker --concurrency 2
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.jobs WHERE state IN ('succeeded','failed')\")\" = 2 ]" 120 \
  || { tail -40 "$t/worker1.log" >&2; fail "the jobs did not finish"; }
[ "$(s3proxy_stat stalled)" -ge 5 ] || fail "the proxy stalled $(s3proxy_stat stalled) replies (a test that cannot fail)"
for id in $big $small; do
  assert_eq "succeeded 1" "$(psql_q "SELECT state || ' ' || attempts FROM exportq.jobs WHERE id = $id")" \
    "job $id succeeded on its first attempt"
done
grep -q "rescued" "$t/worker1.log" && fail "a job was rescued while its worker waited for S3"
for o in big small; do
  assert_eq 1 "$(EXPORTQ_S3_ENDPOINT=$direct s3_list_keys "${EXPORTQ_S3_PREFIX}$o/" | grep -c .)" "one object for $o"
done
assert_eq 0 "$(psql_q "SELECT count(*) FROM exportq.written_objects")" "no object record left for succeeded jobs"
kill -TERM "$w1"; wait "$w1" || fail "worker 1 did not exit cleanly"
ok "ListMultipartUploads, Create, Complete and PutObject stalled 9 s with a 5 s lease: both jobs succeeded once, never rescued"

# --- 2. the lease really lost during a stalled Complete ----------------------------
export EXPORTQ_MAX_ATTEMPTS=1
lost=$("$EXPORTQ_BIN" enqueue slow --param rows=60000 --param pause=0 --owner lost)
stalled0=$(s3proxy_stat stalled)
EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg wa "$t/workerA.log" "$EXPORTQ_BIN" worker
wait_for "[ \"\$(psql_q \"SELECT state FROM exportq.jobs WHERE id = $lost\")\" = running ]" 30 || fail "job $lost not claimed"
rel_bg wb "$t/workerB.log" "$EXPORTQ_BIN" worker # the rescuer (talks to S3 directly)
# the listing stalls first (+1), then Create (+2), then Complete (+3): pause A while Complete is held
wait_for "[ \"\$(s3proxy_stat stalled)\" -ge $((stalled0 + 3)) ]" 90 \
  || { tail -30 "$t/workerA.log" >&2; fail "Complete never reached the proxy"; }
kill -STOP "$wa"
wait_for "[ \"\$(psql_q \"SELECT state FROM exportq.jobs WHERE id = $lost\")\" = failed ]" 60 \
  || { kill -CONT "$wa"; fail "the job was not failed by the rescuer"; }
kill -CONT "$wa"
ok "worker A paused during Complete; the rescuer failed job $lost"
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.written_objects\")\" = 0 ] && \
  [ -n \"\$(grep 'lease lost\|stopped' '$t/workerA.log')\" ]" 60 \
  || { tail -20 "$t/workerA.log" "$t/workerB.log" >&2; fail "the written object was not settled"; }
assert_eq 0 "$(EXPORTQ_S3_ENDPOINT=$direct s3_list_keys "${EXPORTQ_S3_PREFIX}lost/" | grep -c .)" \
  "no object is left for the failed job"
assert_eq failed "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $lost")" "the job stays failed"
ok "a Complete that landed after the lease was lost leaves no object for the failed job"
