#!/usr/bin/env bash
# What a token holder can make exportq mail (issue 10, items 5 and 11):
#  - a failure mail carries a generic reason (job, kind, short code), never the
#    database error that can quote an attacker's parameter;
#  - EXPORTQ_MAIL_RATE_PER_OWNER: mail past the rate is delayed, never dropped;
#  - EXPORTQ_MAIL_ALLOWED_DOMAINS: enqueue refuses other recipients (HTTP 422,
#    CLI and SQL errors);
#  - the success mail's link expiry is min(link TTL, retention).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
T=$(tmpdir)
http_db_setup "mail_abuse_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS mail_abuse_$$ WITH (FORCE)' >/dev/null 2>&1"
export EXPORTQ_S3_PREFIX="mail-abuse-$$-$(date +%s)/" EXPORTQ_POLL_SECONDS=1
define_slow_kind
psql_q "CREATE FUNCTION app.cast_since(params jsonb) RETURNS TABLE(t timestamptz) LANGUAGE sql STABLE AS
  \$\$ SELECT (params->>'since')::timestamptz \$\$;
  SELECT exportq.define_kind('cast_since', 'app.cast_since', 'since.csv')" >/dev/null
body_of() {
  /usr/bin/python3 -c '
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
print(m["Subject"]); print(m.get_body(preferencelist=("plain",)).get_content())' "$1"
}

# ---- failure mail: a generic reason only ------------------------------------------------
addr="victim-$$@example.test"
evil="URGENT: your account is locked, log in at https://evil.example/login"
id=$("$EXPORTQ_BIN" enqueue cast_since --owner attacker --email "$addr" --param "since=$evil")
"$EXPORTQ_BIN" worker --drain 2>"$T/w1.log" || fail "worker: $(tail -3 "$T/w1.log")"
assert_eq failed "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id")" "the job failed"
assert_contains "$(psql_q "SELECT last_error FROM exportq.jobs WHERE id = $id")" "evil.example" "the details stay in the API"
wait_for "[ -n \"\$(mail_for $addr)\" ]" 30 || fail "no failure mail"
body=$(body_of "$(mail_for "$addr")")
case "$body" in *evil*|*URGENT*|*locked*) fail "the failure mail carries the attacker's text: $body" ;; esac
assert_contains "$body" "job $id" "the failure mail names the job"
assert_contains "$body" "Export:   cast_since" "and the kind"
assert_contains "$body" "failed: export_failed" "and a short code"
ok "failure mail: job id, kind and code only; the attacker's parameter is not in it (it is in last_error)"

# ---- the per-owner mail rate: delayed, never dropped ---------------------------------
export EXPORTQ_MAIL_RATE_PER_OWNER=2
raddr="rate-$$@example.test" naddr="noowner-$$@example.test"
for i in 1 2 3; do
  "$EXPORTQ_BIN" enqueue slow --param rows=10 --param pause=0 --owner rate-u --email "$raddr" >/dev/null
  psql_q "SELECT exportq.enqueue('slow', '{\"rows\": \"10\", \"pause\": \"0\"}', '$naddr')" >/dev/null
done
"$EXPORTQ_BIN" worker --drain 2>"$T/w2.log" || fail "worker: $(tail -3 "$T/w2.log")"
wait_for "[ \"\$(grep -lx 'RCPT_TO=$naddr' $EXPORTQ_TEST_MAILDIR/*.env 2>/dev/null | wc -l)\" = 3 ]" 30 \
  || fail "jobs without an owner are not limited: expected 3 mails"
sent=$(grep -lx "RCPT_TO=$raddr" "$EXPORTQ_TEST_MAILDIR"/*.env 2>/dev/null | wc -l)
assert_eq 2 "$sent" "2 mails of owner rate-u went out (rate 2 per hour)"
assert_eq "2 1" "$(psql_q "SELECT count(*) FILTER (WHERE mail_state = 'sent'), count(*) FILTER (WHERE mail_state = 'pending')
                           FROM exportq.jobs WHERE owner = 'rate-u'" | tr '|' ' ')" "the third is pending, not dropped"
assert_eq t "$(psql_q "SELECT mail_next_at > now() + interval '50 minutes' FROM exportq.jobs
                       WHERE owner = 'rate-u' AND mail_state = 'pending'")" "due when a slot frees (about an hour)"
# an hour later
psql_q "UPDATE exportq.jobs SET mail_sent_at = mail_sent_at - interval '1 hour', mail_next_at = now() - interval '1 second'
        WHERE owner = 'rate-u'" >/dev/null
"$EXPORTQ_BIN" worker --drain 2>"$T/w3.log" || fail "worker: $(tail -3 "$T/w3.log")"
wait_for "[ \"\$(grep -lx 'RCPT_TO=$raddr' $EXPORTQ_TEST_MAILDIR/*.env 2>/dev/null | wc -l)\" = 3 ]" 30 \
  || fail "the delayed mail was not sent once its slot freed"
unset EXPORTQ_MAIL_RATE_PER_OWNER
ok "rate 2/h: 2 mails, the 3rd delayed ~1 h then delivered; jobs without an owner not limited"

# ---- link expiry: min(link TTL, retention) ---------------------------------------------
laddr="link-$$@example.test"
id=$(EXPORTQ_RETENTION=3600 "$EXPORTQ_BIN" enqueue slow --param rows=10 --param pause=0 --owner link-u --email "$laddr")
EXPORTQ_RETENTION=3600 EXPORTQ_LINK_TTL=86400 "$EXPORTQ_BIN" worker --drain 2>"$T/w4.log" || fail "worker: $(tail -3 "$T/w4.log")"
wait_for "[ -n \"\$(mail_for $laddr)\" ]" 30 || fail "no success mail"
body=$(body_of "$(mail_for "$laddr")")
shown=$(grep -o 'Link expires: [0-9-]* [0-9:]* UTC' <<<"$body" | sed 's/Link expires: //; s/ UTC//')
[ -n "$shown" ] || fail "no expiry in the mail: $body"
expires=$(psql_q "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM exportq.jobs WHERE id = $id")
[[ ! "$shown" > "$expires" ]] || fail "the mail says the link lasts until $shown, the object is deleted at $expires"
link=$(mail_link "$(mail_for "$laddr")")
ttl=$(grep -o 'X-Amz-Expires=[0-9]*' <<<"$link" | cut -d= -f2)
[ -n "$ttl" ] && [ "$ttl" -le 3600 ] || fail "presigned for $ttl s, retention is 3600 s"
ok "success mail with 1 h retention and 24 h link TTL: link expires $shown (object $expires), presigned ${ttl}s"

# ---- allowed recipient domains -----------------------------------------------------------
export EXPORTQ_MAIL_ALLOWED_DOMAINS="corp.example, other.example"
TK=$(token_for dom-u)
serve_start
req POST /v1/exports "$TK" -d '{"kind":"slow","params":{"rows":"1","pause":"0"},"email":"x@evil.example"}'
assert_eq 422 "$STATUS" "HTTP: a recipient outside the allowed domains"
assert_eq email_not_allowed "$(jq -r .error.code <<<"$BODY")" "with its code"
req POST /v1/exports "$TK" -d '{"kind":"slow","params":{"rows":"1","pause":"0"},"email":"x@corp.example.evil"}'
assert_eq 422 "$STATUS" "HTTP: a look-alike domain"
req POST /v1/exports "$TK" -d '{"kind":"slow","params":{"rows":"1","pause":"0"},"email":"x@mail.corp.example"}'
assert_eq 202 "$STATUS" "HTTP: a subdomain of an allowed domain"
serve_stop
if out=$("$EXPORTQ_BIN" enqueue slow --owner dom-u --email x@evil.example 2>&1); then fail "CLI accepted x@evil.example"; fi
assert_contains "$out" "not allowed" "CLI: a clear error"
"$EXPORTQ_BIN" enqueue slow --owner dom-u --email x@other.example >/dev/null || fail "CLI refused an allowed domain"
unset EXPORTQ_MAIL_ALLOWED_DOMAINS
if psql -XAtq -v ON_ERROR_STOP=1 -c "SET exportq.mail_allowed_domains = 'corp.example'" \
     -c "SELECT exportq.enqueue('slow', '{}', 'x@evil.example', 'dom-u')" >/dev/null 2>"$T/sql.err"; then
  fail "SQL accepted x@evil.example"
fi
assert_contains "$(cat "$T/sql.err")" "not allowed" "SQL: a clear error"
psql_q "SELECT exportq.enqueue('slow', '{}', 'x@evil.example', 'dom-u')" >/dev/null || fail "no list set: any domain"
ok "allowed domains: HTTP 422 email_not_allowed, CLI and SQL errors; subdomains allowed; look-alikes refused"
