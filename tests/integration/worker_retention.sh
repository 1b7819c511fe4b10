#!/usr/bin/env bash
# Retention: once a succeeded job passes its expires_at, a worker's
# housekeeping deletes its object and the job becomes `expired`; the link in
# the mail stops working. (expires_at is moved into the past instead of
# waiting EXPORTQ_RETENTION.)
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-retention-$$-$(date +%s)/"
t=$(tmpdir)
psql_q "CREATE SCHEMA app;
  CREATE FUNCTION app.few(params jsonb) RETURNS TABLE(n int) LANGUAGE sql STABLE AS
    'SELECT i FROM generate_series(1, 100) i';
  SELECT exportq.define_kind('few', 'app.few', 'few.csv')" >/dev/null
addr="keep-$$@example.test"
id=$("$EXPORTQ_BIN" enqueue few --email "$addr")
"$EXPORTQ_BIN" worker --drain 2> "$t/w1.log" || fail "worker failed"
key=$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id")
assert_eq 1 "$(s3_list_keys "$EXPORTQ_S3_PREFIX" | grep -c .)" "the object exists"
wait_for "[ -n \"\$(mail_for $addr)\" ]" 30 || fail "no mail"
url=$(mail_link "$(mail_for "$addr")")
curl -sSf -o /dev/null "$url" || fail "the link works before expiry"

psql_q "UPDATE exportq.jobs SET expires_at = now() - interval '1 second' WHERE id = $id" >/dev/null
"$EXPORTQ_BIN" worker --drain 2> "$t/w2.log" || fail "worker failed"
assert_eq expired "$(psql_q "SELECT state FROM exportq.status($id)")" "the job is expired"
assert_eq 0 "$(s3_list_keys "$EXPORTQ_S3_PREFIX" | grep -c .)" "its object was deleted"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url")
[ "$code" = 404 ] || [ "$code" = 403 ] || fail "the link still answers $code after expiry"
grep -q "expired: object deleted" "$t/w2.log" || fail "the expiry was not logged"
ok "past retention: object deleted, job expired, link dead (HTTP $code)"
