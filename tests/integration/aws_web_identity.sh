#!/usr/bin/env bash
# Web identity (EKS IRSA) through radosgw's own STS: a loopback OpenID Connect
# provider (tests/harness/awscreds.py idp) signs a token; radosgw, told about
# the provider and a role that trusts it, verifies the token's signature
# against the provider's keys on AssumeRoleWithWebIdentity and hands out the
# role's temporary credentials, which it then checks on every S3 request.
#   - an export with AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN +
#     AWS_ENDPOINT_URL_STS succeeds, and its link (with the session token) works;
#   - a token whose signature does not match is refused by STS, and start-up
#     stops naming the call; a token file without AWS_ROLE_ARN is a config error.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/harness/aws_lib.sh"
use_fresh_db
aws_up
t=$(tmpdir)
export EXPORTQ_S3_PREFIX="it-aws-wi-$$-$(date +%s)/" EXPORTQ_MAX_ATTEMPTS=1 EXPORTQ_POLL_SECONDS=1
define_slow_kind
py() { /usr/bin/python3 "$AWS_HARNESS/awscreds.py" "$@"; }

mkdir -p "$t/idp"
/usr/bin/python3 "$AWS_HARNESS/awscreds.py" idp --dir "$t/idp" --port-file "$t/idp.port" --log "$t/idp.log" \
  >"$t/idp.out" 2>&1 & # not through py(): $! must be python itself
on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
wait_for "[ -s $t/idp.port ]" 30 || { cat "$t/idp.out" >&2; fail "the identity provider did not start"; }
idp=http://127.0.0.1:$(cat "$t/idp.port")
role=$(py oidc-role --endpoint "$AWS_RGW" --idp "$idp" --dir "$t/idp" --role "exportq-wi-$$") \
  || fail "could not register the identity provider and role with radosgw"
py jwt --idp "$idp" --dir "$t/idp" >"$t/token"
ok "identity provider $idp, role $role"

wi=(AWS_WEB_IDENTITY_TOKEN_FILE="$t/token" AWS_ROLE_ARN="$role" AWS_ENDPOINT_URL_STS="$AWS_RGW"
    AWS_ROLE_SESSION_NAME="exportq-test-$$")
id=$("$EXPORTQ_BIN" enqueue slow --param rows=3000 --param pause=0 --email "wi-$$@example.test")
chain env "${wi[@]}" "$EXPORTQ_BIN" worker --drain >"$t/worker.log" 2>&1 \
  || { cat "$t/worker.log" >&2; fail "the worker exited non-zero"; }
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.status($id)")" \
  "web identity: job $id ($(psql_q "SELECT coalesce(last_error, '') FROM exportq.status($id)"))"
assert_contains "$(cat "$t/worker.log")" "AWS credentials from web-identity, valid until" "the log names the source"
grep -q '"/jwks"' "$t/idp.log" || fail "radosgw never fetched the provider's keys: the token was not verified"
wait_for "[ -n \"\$(mail_for wi-$$@example.test)\" ]" 30 || fail "no mail"
url=$(mail_link "$(mail_for "wi-$$@example.test")")
assert_contains "$url" "X-Amz-Security-Token=" "the link carries the session token"
curl -sSf -o "$t/dl.csv" "$url" || fail "the link does not download"
assert_eq 3001 "$(wc -l <"$t/dl.csv")" "the link downloads the export"
case "$(cat "$t/worker.log")" in *"$(cut -c1-40 "$t/token")"*) fail "the web identity token reached the log" ;; esac
ok "web identity: export with the role's session from radosgw STS; link works"

# a token whose signature does not match: STS refuses it
tok=$(cat "$t/token")
printf '%s' "${tok%.*}.$(printf 'A%.0s' $(seq 1 342))" >"$t/bad-token"
rc=0
out=$(chain env "${wi[@]}" AWS_WEB_IDENTITY_TOKEN_FILE="$t/bad-token" "$EXPORTQ_BIN" worker --drain 2>&1) || rc=$?
assert_eq 1 "$rc" "a forged token: exit status"
assert_contains "$out" "AssumeRoleWithWebIdentity: HTTP 4" "a forged token: STS's refusal is named"
rc=0
out=$(chain env AWS_WEB_IDENTITY_TOKEN_FILE="$t/token" "$EXPORTQ_BIN" worker --drain 2>&1) || rc=$?
assert_eq 1 "$rc" "no AWS_ROLE_ARN: exit status"
assert_contains "$out" "AWS_ROLE_ARN" "no AWS_ROLE_ARN: named"
ok "a forged token and a missing role stop start-up with a clear line"
