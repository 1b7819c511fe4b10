#!/usr/bin/env bash
# Failure paths of the async flow:
#  - an export whose query fails for good ends `failed` at once (a SQL error is
#    not worth retrying), leaves no object and no upload, and the user gets a
#    short failure mail saying why;
#  - a mail server that is down does not fail or re-run the export: the job is
#    `succeeded`, the mail waits (`pending`) and is delivered once the server is
#    reachable, exactly once.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-fail-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880
t=$(tmpdir)

psql_q "CREATE SCHEMA app;
  CREATE FUNCTION app.boom(params jsonb) RETURNS TABLE(n int, v text) LANGUAGE sql STABLE AS \$\$
    SELECT i, repeat('x', 100) FROM generate_series(1, 200000) i
    WHERE CASE WHEN i = 150000 THEN (1 / 0) = 1 ELSE true END \$\$;
  CREATE FUNCTION app.fine(params jsonb) RETURNS TABLE(n int) LANGUAGE sql STABLE AS
    'SELECT i FROM generate_series(1, 1000) i';
  SELECT exportq.define_kind('boom', 'app.boom', 'boom.csv');
  SELECT exportq.define_kind('fine', 'app.fine', 'fine.csv')" >/dev/null

# --- a query that fails half-way through the upload --------------------------
addr="boom-$$@example.test"
id=$("$EXPORTQ_BIN" enqueue boom --email "$addr")
"$EXPORTQ_BIN" worker --drain 2> "$t/worker.log" || fail "worker exited non-zero"
assert_eq failed "$(psql_q "SELECT state FROM exportq.status($id)")" "a failing query fails the job"
assert_eq 1 "$(psql_q "SELECT attempts FROM exportq.status($id)")" "a SQL error is not retried"
assert_contains "$(psql_q "SELECT last_error FROM exportq.status($id)")" "division by zero" "last_error says why"
assert_eq 0 "$(uploads_under "$EXPORTQ_S3_PREFIX")" "the multipart upload was aborted"
assert_eq 0 "$(s3_list_keys "$EXPORTQ_S3_PREFIX" | grep -c .)" "no object written"
wait_for "[ -n \"\$(mail_for $addr)\" ]" 30 || fail "no failure mail"
body=$(/usr/bin/python3 -c '
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
print(m["Subject"]); print(m.get_body(preferencelist=("plain",)).get_content())' "$(mail_for "$addr")")
# a generic reason (job id, kind, short code): the error text stays in the logs and the API
assert_contains "$body" "job $id" "the failure mail names the job"
assert_contains "$body" "failed: export_failed" "the failure mail gives a short reason code"
case "$body" in *"division by zero"*) fail "the failure mail quotes the database error";; esac
case "$body" in *X-Amz-Signature*) fail "a failure mail must carry no link";; esac
ok "failed query: job failed once, upload aborted, failure mail sent"

# --- the mail server is down: the export succeeds, the mail waits --------------
addr2="later-$$@example.test"
id2=$("$EXPORTQ_BIN" enqueue fine --email "$addr2")
real_smtp=$EXPORTQ_SMTP_URL
closed_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EXPORTQ_SMTP_URL="smtp://exportq:smtp-secret@127.0.0.1:$closed_port" \
  "$EXPORTQ_BIN" worker --drain 2> "$t/worker2.log" || fail "worker exited non-zero with SMTP down"
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.status($id2)")" "the export does not depend on the mail"
assert_eq pending "$(psql_q "SELECT mail_state FROM exportq.jobs WHERE id = $id2")" "the mail waits"
[ -z "$(mail_for "$addr2")" ] || fail "no mail can have been delivered yet"
grep -q "mail not sent" "$t/worker2.log" || fail "the mail failure was not logged"
EXPORTQ_SMTP_URL=$real_smtp "$EXPORTQ_BIN" worker 2> "$t/worker3.log" &
w=$!
on_exit "kill -9 $w 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT mail_state FROM exportq.jobs WHERE id = $id2\")\" = sent ]" 90 \
  || { cat "$t/worker3.log" >&2; fail "the mail was not delivered once SMTP was back"; }
kill -TERM $w; wait $w || true
assert_eq 1 "$(grep -lx "RCPT_TO=$addr2" "$EXPORTQ_TEST_MAILDIR"/*.env | wc -l)" "delivered exactly once"
assert_eq 1 "$(psql_q "SELECT attempts FROM exportq.status($id2)")" "the export was not re-run"
grep -q "export started" "$t/worker3.log" && fail "the export ran again for a mail retry"
ok "SMTP down: export succeeded, mail delivered later, once, without re-running the export"

# --- a kind whose function was dropped: the job fails once, saying so --------
psql_q "CREATE FUNCTION app.gone(params jsonb) RETURNS TABLE(n int) LANGUAGE sql STABLE AS 'SELECT 1';
        SELECT exportq.define_kind('gone', 'app.gone', 'gone.csv')" >/dev/null
id3=$("$EXPORTQ_BIN" enqueue gone)
psql_q "DROP FUNCTION app.gone(jsonb)" >/dev/null
"$EXPORTQ_BIN" worker --drain 2> "$t/worker4.log" || fail "worker exited non-zero"
assert_eq failed "$(psql_q "SELECT state FROM exportq.status($id3)")" "a dropped function fails the job"
assert_eq 1 "$(psql_q "SELECT attempts FROM exportq.status($id3)")" "and is not retried"
[ -n "$(psql_q "SELECT last_error FROM exportq.status($id3)")" ] || fail "no last_error for the dropped function"
assert_contains "$(psql_q "SELECT last_error FROM exportq.status($id3)")" "no longer exists" "the error says the function is gone"
ok "kind whose function was dropped: failed once, saying so"

# pg_upgrade refuses user tables with reg* columns other than regclass/regrole/regtype
assert_eq 0 "$(psql_q "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'exportq' AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.atttypid IN ('regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype,
                                      'regoperator'::regtype, 'regconfig'::regtype, 'regdictionary'::regtype,
                                      'regnamespace'::regtype, 'regcollation'::regtype)")" \
  "no column of the exportq schema blocks pg_upgrade"
ok "schema is pg_upgrade-safe"
