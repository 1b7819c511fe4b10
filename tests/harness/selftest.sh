#!/usr/bin/env bash
# Harness self-test: proves the three test servers are real and strict.
# Needs EXPORTQ_TEST_ENV=<state>/servers.env (ctest sets it).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

T=$(tmpdir)
RUN_ID=$(date +%s)-$$-$RANDOM

# ---- PostgreSQL ---------------------------------------------------------------------
assert_eq 1 "$(psql_q 'select 1')" "PostgreSQL answers select 1"
assert_eq exportq "$(psql_q 'select current_user')" "connected as exportq"
assert_eq t "$(psql_q "select rolsuper from pg_roles where rolname = 'exportq'")" "exportq is a superuser"
ok "postgres answers select 1 as superuser exportq on $PGHOST:$PGPORT"

# ---- S3 ----------------------------------------------------------------------------
head -c 1048576 /dev/urandom >"$T/obj.bin"
printf 'tail line\n' >>"$T/obj.bin"
KEY="selftest/$RUN_ID/obj.bin"
code=$(s3_curl PUT "/$EXPORTQ_S3_BUCKET/$KEY" -T "$T/obj.bin" -o "$T/put.out" -w '%{http_code}')
assert_eq 200 "$code" "signed PUT of $KEY (body: $(cat "$T/put.out"))"
ok "S3 accepts a correctly signed PUT"

code=$(s3_curl GET "/$EXPORTQ_S3_BUCKET/$KEY" -o "$T/got.bin" -w '%{http_code}')
assert_eq 200 "$code" "signed GET of $KEY"
assert_eq "$(sha256_of "$T/obj.bin")" "$(sha256_of "$T/got.bin")" "GET returns the bytes PUT stored"
ok "S3 GET returns the same bytes"

# A PUT whose x-amz-content-sha256 does not match the body must be refused.
printf 'other bytes' >"$T/other.bin"
code=$(curl -sS -X PUT -T "$T/other.bin" -o "$T/badsha.out" -w '%{http_code}' \
  -H "x-amz-content-sha256: $(sha256_of "$T/obj.bin")" \
  --aws-sigv4 "aws:amz:$EXPORTQ_S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  "$EXPORTQ_S3_ENDPOINT/$EXPORTQ_S3_BUCKET/$KEY.badsha")
assert_eq 400 "$code" "PUT with a wrong payload hash"
assert_contains "$(cat "$T/badsha.out")" XAmzContentSHA256Mismatch "wrong payload hash error code"
ok "S3 refuses a body that does not match x-amz-content-sha256 (400 XAmzContentSHA256Mismatch)"

code=$(curl -sS -o "$T/badsig.out" -w '%{http_code}' \
  -H "x-amz-content-sha256: $EXPORTQ_EMPTY_SHA256" \
  --aws-sigv4 "aws:amz:$EXPORTQ_S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:${AWS_SECRET_ACCESS_KEY%?}Z" \
  "$EXPORTQ_S3_ENDPOINT/$EXPORTQ_S3_BUCKET/$KEY")
assert_eq 403 "$code" "GET signed with a wrong secret"
assert_contains "$(cat "$T/badsig.out")" SignatureDoesNotMatch "wrong secret error code"
ok "S3 refuses a wrong secret (403 SignatureDoesNotMatch)"

code=$(curl -sS -o "$T/badkey.out" -w '%{http_code}' \
  -H "x-amz-content-sha256: $EXPORTQ_EMPTY_SHA256" \
  --aws-sigv4 "aws:amz:$EXPORTQ_S3_REGION:s3" --user "AKIDUNKNOWNEXPORTQ00:$AWS_SECRET_ACCESS_KEY" \
  "$EXPORTQ_S3_ENDPOINT/$EXPORTQ_S3_BUCKET/$KEY")
assert_eq 403 "$code" "GET with an unknown access key"
assert_contains "$(cat "$T/badkey.out")" InvalidAccessKeyId "unknown key error code"
ok "S3 refuses an unknown access key (403 InvalidAccessKeyId)"

code=$(curl -sS -o "$T/anon.out" -w '%{http_code}' "$EXPORTQ_S3_ENDPOINT/$EXPORTQ_S3_BUCKET/$KEY")
assert_eq 403 "$code" "unsigned GET of a private object"
ok "S3 refuses an anonymous GET (403)"

# s3_list_uploads: pages (max-uploads=1 over 3 uploads), filters by prefix,
# and fails rather than reading an error as "no upload"
lp="selftest-uploads-$$/"
ids=()
for k in a b c; do
  ids+=("$(s3_curl POST "/$EXPORTQ_S3_BUCKET/$lp$k.csv?uploads" -f | grep -o '<UploadId>[^<]*' | cut -d'>' -f2)")
done
s3_curl POST "/$EXPORTQ_S3_BUCKET/${lp%/}-other.csv?uploads" -f | grep -o '<UploadId>[^<]*' | cut -d'>' -f2 >"$(tmpdir)/other.id"
assert_eq 3 "$(S3_LIST_MAX_UPLOADS=1 s3_list_uploads "$lp" | grep -c .)" "3 uploads under the prefix, listed 1 a page"
assert_eq "${lp}a.csv" "$(S3_LIST_MAX_UPLOADS=1 s3_list_uploads "$lp" | head -1 | cut -f1)" "the first key"
assert_eq 3 "$(uploads_under "$lp")" "uploads_under counts them"
if (EXPORTQ_S3_BUCKET=no-such-bucket-$$ s3_list_uploads "$lp") >/dev/null 2>&1; then
  fail "a listing of a bucket that does not exist must fail"
fi
assert_eq "" "$(EXPORTQ_S3_BUCKET=no-such-bucket-$$ uploads_under "$lp" 2>/dev/null)" "uploads_under prints no count on error"
i=0
for k in a b c; do
  s3_curl DELETE "/$EXPORTQ_S3_BUCKET/$lp$k.csv?uploadId=${ids[i]}" -f -o /dev/null
  i=$((i + 1))
done
s3_curl DELETE "/$EXPORTQ_S3_BUCKET/${lp%/}-other.csv?uploadId=$(cat "$(tmpdir)/other.id")" -f -o /dev/null
assert_no_uploads "$lp" "selftest prefix"
ok "S3 ListMultipartUploads: paged, by prefix, errors fail, control upload seen"

code=$(s3_curl DELETE "/$EXPORTQ_S3_BUCKET/$KEY" -o /dev/null -w '%{http_code}')
assert_eq 204 "$code" "DELETE of $KEY"
ok "S3 DELETE works"

# ---- SMTP ---------------------------------------------------------------------------
SUBJECT="exportq harness selftest $RUN_ID"
before=$(mail_count)
/usr/bin/python3 - "$EXPORTQ_SMTP_URL" "$EXPORTQ_SMTP_CA_FILE" "$EXPORTQ_SMTP_FROM" "$SUBJECT" <<'EOF'
import smtplib, ssl, sys
from email.message import EmailMessage
from urllib.parse import urlsplit

url, cafile, sender, subject = sys.argv[1:5]
u = urlsplit(url)
host, port, user, password = u.hostname, u.port, u.username, u.password

def expect(cond, what):
    if not cond:
        sys.exit("not ok - " + what)
    print("ok - " + what)

# 1. before STARTTLS: MAIL and AUTH are refused
s = smtplib.SMTP(host, port, timeout=10)
s.ehlo("selftest.example.test")
expect(s.has_extn("starttls"), "SMTP offers STARTTLS")
code, msg = s.mail(sender)
expect(code == 530, "SMTP refuses MAIL FROM before STARTTLS (%d %s)" % (code, msg.decode()))
code, msg = s.docmd("AUTH", "PLAIN AGV4cG9ydHEAc210cC1zZWNyZXQ=")
expect(code == 530, "SMTP refuses AUTH before STARTTLS (%d %s)" % (code, msg.decode()))
s.quit()

ctx = ssl.create_default_context(cafile=cafile)

# 2. after STARTTLS but without AUTH: MAIL refused; wrong password refused
s = smtplib.SMTP(host, port, timeout=10)
s.starttls(context=ctx)
s.ehlo("selftest.example.test")
code, msg = s.mail(sender)
expect(code == 530, "SMTP refuses MAIL FROM without AUTH (%d %s)" % (code, msg.decode()))
s.rset()
try:
    s.login(user, password + "x")
    expect(False, "SMTP refuses a wrong password")
except smtplib.SMTPAuthenticationError as e:
    expect(e.smtp_code == 535, "SMTP refuses a wrong password (%d)" % e.smtp_code)
s.quit()

# 3. STARTTLS (certificate verified against the CA file) + AUTH LOGIN and PLAIN
for mech in ("LOGIN", "PLAIN"):
    s = smtplib.SMTP(host, port, timeout=10)
    s.starttls(context=ctx)
    s.ehlo("selftest.example.test")
    s.user, s.password = user, password
    code, msg = s.auth(mech, getattr(s, "auth_" + mech.lower()), initial_response_ok=(mech == "PLAIN"))
    expect(code == 235, "SMTP AUTH %s over STARTTLS (%d)" % (mech, code))
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "recipient@example.test"
    m["Subject"] = "%s %s" % (subject, mech)
    m.set_content("hello from the harness selftest\n.leading dot line\n")
    refused = s.send_message(m, to_addrs=["recipient@example.test", "cc@example.test"])
    expect(refused == {}, "SMTP accepts the message after AUTH %s" % mech)
    s.quit()
EOF

mail_wait $((before + 2)) 10
found=0
for f in $(mail_files); do
  grep -q "^Subject: $SUBJECT LOGIN" "$f" || continue
  found=1
  envf=${f%.eml}.env
  [ -f "$envf" ] || fail "no envelope file $envf"
  assert_contains "$(cat "$envf")" "MAIL_FROM=$EXPORTQ_SMTP_FROM" "envelope sender recorded"
  assert_contains "$(cat "$envf")" "RCPT_TO=cc@example.test" "envelope recipients recorded"
  assert_contains "$(cat "$envf")" "AUTH_USER=exportq" "authenticated user recorded"
  assert_contains "$(cat "$envf")" "TLS=1" "TLS recorded"
  grep -q '^\.leading dot line' "$f" || fail "dot-stuffing not undone in $f"
  grep -q $'\r$' "$f" || fail "$f does not keep the CRLF line ends as received"
done
assert_eq 1 "$found" "the LOGIN message is in $EXPORTQ_TEST_MAILDIR"
ok "SMTP stored the message ($(mail_count) in maildir) with its envelope"

ok "harness selftest passed"
