#!/usr/bin/env bash
# Cancel of a running export: the query disappears from pg_stat_activity and
# the multipart upload is aborted within seconds; the job ends cancelled and
# no object is written. Also: SIGTERM drains (a running job is released back
# to the queue when the grace period ends).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-cancel-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=2
t=$(tmpdir)

define_slow_kind
db=$PGDATABASE
running_queries() {
  psql -XAtq -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'
     AND application_name = 'exportq-export' AND state = 'active'"
}

# --- cancel -------------------------------------------------------------------
id=$("$EXPORTQ_BIN" enqueue slow --param rows=2000000 --param pause=0.3)
"$EXPORTQ_BIN" worker 2> "$t/worker.log" &
w=$!
on_exit "kill -9 $w 2>/dev/null"
wait_for "[ -n \"\$(psql_q \"SELECT upload_id FROM exportq.jobs WHERE id = $id\")\" ]" 60 \
  || { cat "$t/worker.log" >&2; fail "the export never started its multipart upload"; }
assert_eq 1 "$(running_queries)" "the export query is running"
[ "$(uploads_under "$EXPORTQ_S3_PREFIX")" = 1 ] || fail "expected one multipart upload in progress"
"$EXPORTQ_BIN" cancel "$id" >/dev/null || fail "exportq cancel failed"
start=$(date +%s)
wait_for "[ \"\$(running_queries)\" = 0 ]" 15 || fail "the query is still running after cancel"
wait_for "[ \"\$(uploads_under $EXPORTQ_S3_PREFIX)\" = 0 ]" 15 || fail "the multipart upload was not aborted"
ok "cancel: query gone and upload aborted within $(( $(date +%s) - start )) s"
assert_eq cancelled "$(psql_q "SELECT state FROM exportq.status($id)")" "the job is cancelled"
assert_eq 0 "$(s3_list_keys "$EXPORTQ_S3_PREFIX" | grep -c .)" "no object written"
grep -q "cancelled" "$t/worker.log" || fail "the worker did not log the cancel"

# --- drain: SIGTERM lets the job run for EXPORTQ_DRAIN_SECONDS, then releases it
kill -TERM $w; wait $w || true
id2=$("$EXPORTQ_BIN" enqueue slow --param rows=2000000 --param pause=0.3)
EXPORTQ_DRAIN_SECONDS=1 "$EXPORTQ_BIN" worker 2> "$t/worker2.log" &
w=$!
wait_for "[ \"\$(psql_q \"SELECT bytes > 0 FROM exportq.jobs WHERE id = $id2\")\" = t ]" 60 || fail "job $id2 did not start"
# SIGHUP neither kills the worker nor stops the job (its default action would)
kill -HUP $w
wait_for "grep -q SIGHUP '$t/worker2.log'" 20 || fail "the worker did not take SIGHUP"
kill -0 $w || fail "SIGHUP killed the worker"
assert_eq running "$(psql_q "SELECT state FROM exportq.status($id2)")" "the job runs on after SIGHUP"
kill -TERM $w
wait_for "! kill -0 $w" 20 || fail "the worker did not exit after its drain grace"
wait $w || fail "the worker exited non-zero after draining"
assert_eq queued "$(psql_q "SELECT state FROM exportq.status($id2)")" "the job was released back to the queue"
assert_eq 0 "$(psql_q "SELECT attempts FROM exportq.status($id2)")" "a released attempt is not counted"
wait_for "[ \"\$(uploads_under $EXPORTQ_S3_PREFIX)\" = 0 ]" 15 || fail "the released job's upload was not aborted"
assert_eq 0 "$(running_queries)" "no export query left running"
ok "SIGTERM: released after the grace period, upload aborted, query stopped"
