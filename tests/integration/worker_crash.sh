#!/usr/bin/env bash
# kill -9 of a worker in the middle of a multipart export -> another worker
# rescues the job once the lease expires -> the job succeeds on attempt 2 with
# exactly one object (byte-equal to psql's COPY) from exactly one completed
# run (every attempt writes the same key, so the objects cannot show a second
# run: a counting proxy in front of S3 counts the uploads S3 completed per
# key), exactly one email, and no multipart upload left in ListMultipartUploads.
# Then kill -9 of a worker whose email the SMTP server has stored but not yet
# acknowledged: the rescue may send it again, and the copies share one
# Message-ID. Then a cancelled job whose worker died: housekeeping aborts its
# upload.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-crash-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=2 EXPORTQ_LEASE_SECONDS=5 EXPORTQ_POLL_SECONDS=1
t=$(tmpdir)
direct=$EXPORTQ_S3_ENDPOINT
s3proxy_start 0 "" 21   # counts, never fails
export EXPORTQ_S3_ENDPOINT=$S3PROXY_URL

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
[ "$(EXPORTQ_S3_ENDPOINT=$direct uploads_under "$EXPORTQ_S3_PREFIX")" -ge 1 ] || fail "expected the dead attempt's upload in progress"
assert_eq 0 "$(s3proxy_runs "$EXPORTQ_S3_PREFIX")" "the killed run completed nothing"

mport=$(free_port)
# /metrics on IPv6 loopback: the one listen-address parser serve uses too
EXPORTQ_METRICS_LISTEN="[::1]:$mport" "$EXPORTQ_BIN" worker 2> "$t/worker2.log" &
w2=$!
on_exit "kill -9 $w2 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT state FROM exportq.status($id)\")\" = succeeded ]" 120 \
  || { cat "$t/worker2.log" >&2; fail "job $id was not rescued and completed"; }
wait_for "[ \"\$(psql_q \"SELECT mail_state FROM exportq.jobs WHERE id = $id\")\" = sent ]" 30 || fail "no mail after the rescue"
curl -gsSf "http://[::1]:$mport/metrics" > "$t/metrics.txt" || fail "no /metrics from the worker"
grep -qx 'exportq_worker_rescued_total 1' "$t/metrics.txt" || fail "metrics: the rescue was not counted"
grep -qx 'exportq_worker_exports_total{outcome="succeeded"} 1' "$t/metrics.txt" || fail "metrics: no success counted"
grep -qx 'exportq_worker_mails_total{outcome="sent"} 1' "$t/metrics.txt" || fail "metrics: no mail counted"
parts=$(awk '/^exportq_worker_part_uploads_total /{print $2}' "$t/metrics.txt")
[ "${parts:-0}" -ge 5 ] || fail "metrics: $parts parts counted for a ~40 MB export in 5 MiB parts"
assert_eq "$parts" "$(awk '/^exportq_worker_part_upload_seconds_count /{print $2}' "$t/metrics.txt")" \
  "every acknowledged part has a latency sample"
ok "worker /metrics: rescue, success, mail, $parts parts with latencies"
# Once the worker has exited, nothing can send another message: count then
# (no sleep hoping that a duplicate, if any, has arrived).
kill -TERM $w2; wait $w2 || fail "the second worker did not exit cleanly on SIGTERM"
ok "rescued and completed by the second worker"

assert_eq 2 "$(psql_q "SELECT attempts FROM exportq.status($id)")" "the lost attempt was counted"
assert_eq 1 "$(s3proxy_runs "$EXPORTQ_S3_PREFIX")" "exactly one run completed an upload (S3 saw one Complete)"
keys=$(EXPORTQ_S3_ENDPOINT=$direct s3_list_keys "$EXPORTQ_S3_PREFIX")
assert_eq 1 "$(echo "$keys" | grep -c .)" "exactly one object for the job"
EXPORTQ_S3_ENDPOINT=$direct assert_no_uploads "$EXPORTQ_S3_PREFIX" "no multipart upload left behind"
assert_eq 1 "$(mails_to "$addr" | grep -c .)" "exactly one email"
EXPORTQ_S3_ENDPOINT=$direct s3_get_file "$keys" "$t/obj.csv"
psql -XAq -c "COPY (SELECT * FROM app.slow_rows('{\"rows\":\"200000\",\"pause\":\"0\"}'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)" > "$t/want.csv"
assert_eq "$(sha256_of "$t/want.csv")" "$(sha256_of "$t/obj.csv")" "the object equals psql's COPY"
ok "one run, one object ($(stat -c %s "$t/obj.csv") bytes, equal to COPY), one email, no leftover upload"

# --- kill -9 after the SMTP server stored the message, before its 250 reply --------
smtpd_start held 600
addr3="crash3-$$@example.test"
id3=$("$EXPORTQ_BIN" enqueue slow --param rows=100 --param pause=0 --email "$addr3" --owner crash3)
EXPORTQ_SMTP_URL=$SMTPD_URL EXPORTQ_SMTP_CA_FILE=$EXPORTQ_TEST_STATE/smtp/ca.pem "$EXPORTQ_BIN" worker 2> "$t/worker5.log" &
w5=$!
on_exit "kill -9 $w5 2>/dev/null"
wait_for "[ -n \"\$(mails_to $addr3 $SMTPD_MAILDIR)\" ]" 60 || { cat "$t/worker5.log" >&2; fail "the held server never stored the message"; }
kill -9 $w5; wait $w5 2>/dev/null || true
assert_eq pending "$(psql_q "SELECT mail_state FROM exportq.jobs WHERE id = $id3")" "the kill landed before the mail was recorded as sent"
ok "worker killed while the SMTP server held back its reply to the stored message"
# the mail lease (minutes) would expire on its own; a test does not wait it out
psql_q "UPDATE exportq.jobs SET mail_lease_expires_at = now() WHERE id = $id3" >/dev/null
"$EXPORTQ_BIN" worker 2> "$t/worker6.log" &
w6=$!
on_exit "kill -9 $w6 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT mail_state FROM exportq.jobs WHERE id = $id3\")\" = sent ]" 60 \
  || { cat "$t/worker6.log" >&2; fail "the mail was never recorded as sent after the rescue"; }
kill -TERM $w6; wait $w6 || fail "the rescuing worker did not exit cleanly"
assert_one_mail "$addr3" "mail after a kill in the SMTP reply window" "$SMTPD_MAILDIR" "$EXPORTQ_TEST_MAILDIR"
[ "$MAIL_COPIES" -le 2 ] || fail "$MAIL_COPIES copies of one mail"
assert_eq 1 "$(psql_q "SELECT attempts FROM exportq.jobs WHERE id = $id3")" "a mail retry never re-runs the export"
ok "mail after a kill in the reply window: $MAIL_COPIES message(s), one Message-ID, the export not re-run"

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
[ "$(EXPORTQ_S3_ENDPOINT=$direct uploads_under "${EXPORTQ_S3_PREFIX}crash2/")" -ge 1 ] || fail "expected the dead worker's upload in progress"
# housekeeping takes an orphan once it is finished for two leases and its lease is over
wait_for "[ \"\$(psql_q \"SELECT finished_at < now() - interval '$((2 * EXPORTQ_LEASE_SECONDS)) seconds'
            AND (lease_expires_at IS NULL OR lease_expires_at < now()) FROM exportq.jobs WHERE id = $id2\")\" = t ]" 60 \
  || fail "job $id2 never became an orphan"
"$EXPORTQ_BIN" worker --drain 2> "$t/worker4.log" || fail "worker --drain failed"
EXPORTQ_S3_ENDPOINT=$direct assert_no_uploads "${EXPORTQ_S3_PREFIX}crash2/" "the cancelled job's orphaned upload was aborted"
assert_eq cancelled "$(psql_q "SELECT state FROM exportq.status($id2)")" "still cancelled"
assert_eq 0 "$(EXPORTQ_S3_ENDPOINT=$direct s3_list_keys "${EXPORTQ_S3_PREFIX}crash2/" | grep -c .)" "no object for the cancelled job"
ok "a cancelled job's upload left by a dead worker is aborted by housekeeping"
