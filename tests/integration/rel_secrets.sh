#!/usr/bin/env bash
# Reliability: no secret in any log line. A mini end to end at debug level,
# with failures, capturing ALL stderr (and the logs' stdout where it is not the
# command's product): worker (behind a faulty S3 proxy, then with a wrong AWS
# secret, a wrong SMTP password, a source database that refuses), serve (good,
# unknown and revoked tokens, create, status, list, download redirect, stream),
# CLI (token, enqueue, status, presign, stream). Then every log is searched for
# the AWS secret (right and wrong), the SMTP password (right and wrong), every
# token created, the database password, "X-Amz-Signature=", "Authorization: Bearer".
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
use_fresh_db
t=$(tmpdir)
logs="$t/logs"; mkdir -p "$logs"
dbpw="dbpw-$$-Zq81"
export EXPORTQ_DATABASE_URL="postgresql://$PGUSER:$dbpw@$PGHOST:$PGPORT/$PGDATABASE" # trust auth: accepted, must not leak
export EXPORTQ_S3_PREFIX="rel-sec-$$-$(date +%s)/" EXPORTQ_PART_SIZE=5242880 EXPORTQ_LOG_LEVEL=debug EXPORTQ_POLL_SECONDS=1
smtp_pw=${EXPORTQ_SMTP_URL#smtp://*:}; smtp_pw=${smtp_pw%%@*}
[ -n "$smtp_pw" ] && [ "$smtp_pw" != "$EXPORTQ_SMTP_URL" ] || fail "no SMTP password in EXPORTQ_SMTP_URL"
wrong_aws="WrongSecret$$xQ2r9Lk7Mv3T"
wrong_smtp="wrong-smtp-pw-$$"
define_slow_kind
L=0
run() { L=$((L + 1)); "$@" 2>"$logs/$L.err" || true; } # stdout is the command's product

# CLI and tokens
T1=$("$EXPORTQ_BIN" token create --owner sec 2>"$logs/tok1.err")
T2=$("$EXPORTQ_BIN" token create --owner sec2 2>"$logs/tok2.err")
TR=$("$EXPORTQ_BIN" token create --owner secr 2>"$logs/tok3.err")
run "$EXPORTQ_BIN" token list >/dev/null
run "$EXPORTQ_BIN" token revoke "$(psql_q "SELECT id FROM exportq.tokens WHERE owner = 'secr'")"
addr="sec-$$@example.test"
# worker: a wrong AWS secret (403 from S3: the job fails, a failure mail is due)
id0=$("$EXPORTQ_BIN" enqueue slow --param rows=1000 --param pause=0 --owner sec --email "$addr" 2>"$logs/enq0.err")
AWS_SECRET_ACCESS_KEY=$wrong_aws run "$EXPORTQ_BIN" worker --drain
assert_eq failed "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id0")" "a wrong AWS secret fails the job"
id1=$("$EXPORTQ_BIN" enqueue slow --param rows=60000 --param pause=0 --owner sec --email "$addr" 2>"$logs/enq1.err")
id2=$("$EXPORTQ_BIN" enqueue slow --param rows=1000 --param pause=0 --owner sec --email "$addr" 2>"$logs/enq2.err")
# worker: faulty S3 and a wrong SMTP password (mail retries later)
s3proxy_start 0.5 500,slowdown,drop,error200 21 1
EXPORTQ_S3_ENDPOINT=$S3PROXY_URL EXPORTQ_SMTP_URL="${EXPORTQ_SMTP_URL/:$smtp_pw@/:$wrong_smtp@}" run "$EXPORTQ_BIN" worker --drain
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id1")" "job $id1 went through the faults"
# worker: the real SMTP delivers the pending mails
psql_q "UPDATE exportq.jobs SET mail_next_at = now() WHERE mail_state = 'pending'" >/dev/null
run "$EXPORTQ_BIN" worker --drain
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.jobs WHERE mail_state = 'sent'\")\" = 3 ]" 30 || fail "mails not sent"
# worker: a source database that refuses the connection (with a password in its URL)
id3=$("$EXPORTQ_BIN" enqueue slow --param rows=10 --param pause=0 --owner sec 2>"$logs/enq3.err")
EXPORTQ_SOURCE_DATABASE_URL="postgresql://exportq:$dbpw@127.0.0.1:$(free_port)/nope" run timeout 5 "$EXPORTQ_BIN" worker --drain

# serve
serve_start
for tok in "$T1" "$T2" "$TR" "eqt_$(printf 'f%.0s' $(seq 1 64))" "garbage"; do
  req GET /v1/exports "$tok"
  req GET "/v1/exports/$id1" "$tok"
  req GET "/v1/exports/$id1/download" "$tok"
done
req POST /v1/exports "$T1" -d '{"kind":"slow","params":{"rows":"10","pause":"0"}}'
req GET "/v1/exports/$id1/download" "$T1"
assert_eq 302 "$STATUS" "download redirect"
req GET "/v1/stream/slow?rows=1000&pause=0" "$T1"
assert_eq 200 "$STATUS" "stream"
req GET "/v1/stream/slow?rows=x" "$T1"
serve_stop

# CLI with products on stdout
key=$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id1")
url=$("$EXPORTQ_BIN" presign "$key" 2>"$logs/presign.err")
assert_contains "$url" "X-Amz-Signature=" "presign prints a signed URL on stdout"
run "$EXPORTQ_BIN" status "$id1" >/dev/null
run "$EXPORTQ_BIN" stream slow --param rows=1000 --param pause=0 --owner sec -o "$t/s.csv"
run "$EXPORTQ_BIN" stream slow --param rows=x --owner sec -o "$t/s2.csv"
cp "$SERVE_LOG" "$logs/serve.log"

lines=$(cat "$logs"/* | wc -l)
[ "$lines" -gt 50 ] || fail "only $lines log lines: the logs were not captured"
for needle in "$AWS_SECRET_ACCESS_KEY" "$wrong_aws" "$smtp_pw" "$wrong_smtp" "$T1" "$T2" "$TR" "$dbpw" \
              "X-Amz-Signature=" "Authorization: Bearer" "${url#*\?}"; do
  if hits=$(grep -rlF -- "$needle" "$logs"); then
    fail "a secret (${needle:0:6}...) is in: $hits: $(grep -rhF -- "$needle" "$logs" | head -3)"
  fi
done
# ... nor in base64: the AUTH PLAIN payload ("\0user\0password") and AUTH LOGIN
# password as the SMTP session sends them, and every secret base64-encoded at
# each of the 3 byte alignments it can have inside a longer encoded string.
smtp_user=${EXPORTQ_SMTP_URL#smtp://}; smtp_user=${smtp_user%%:*}
/usr/bin/python3 - "$smtp_user" "$smtp_pw" "$wrong_smtp" "$AWS_SECRET_ACCESS_KEY" "$wrong_aws" "$T1" "$T2" "$TR" "$dbpw" \
  >"$t/b64needles" <<'PY'
import base64, sys
user, pw, wrong = (a.encode() for a in sys.argv[1:4])
for p in (pw, wrong):
    print(base64.b64encode(b"\0" + user + b"\0" + p).decode())        # AUTH PLAIN
    print(base64.b64encode(b"\0" + user + b"\0" + p).decode().rstrip("="))
for secret in (a.encode() for a in sys.argv[2:]):
    for pad in range(3):  # the chars of the 3-byte groups made of the secret's bytes alone
        enc = base64.b64encode(b"\0" * pad + secret).decode()
        first, last = -(-pad // 3), (pad + len(secret)) // 3  # groups [first, last)
        inner = enc[4 * first:4 * last]
        if len(inner) >= 8:
            print(inner)
PY
b64n=0
while IFS= read -r needle; do
  b64n=$((b64n + 1))
  if hits=$(grep -rlF -- "$needle" "$logs"); then
    fail "a secret in base64 (${needle:0:6}...) is in: $hits: $(grep -rhF -- "$needle" "$logs" | head -3)"
  fi
done <"$t/b64needles"
[ "$b64n" -ge 20 ] || fail "only $b64n base64 needles"
ok "no secret in $lines log lines of $(ls "$logs" | wc -l) processes (worker x5, serve, CLI), plain or in base64 ($b64n forms, AUTH PLAIN included)"
