#!/usr/bin/env bash
# The credential chain against a real radosgw with STS (tests/harness/s3_aws.sh):
# an export runs with credentials from each source, and radosgw itself checks
# the temporary ones (GetSessionToken sessions: refused without their token).
#   - no source at all: the worker stops at start-up with one line naming the chain;
#   - a container full URI outside loopback/ECS/EKS is refused before any
#     connection (a listener that would have answered sees nothing);
#   - shared credentials file + AWS_PROFILE (a session with aws_session_token;
#     the same keys without the token are refused by radosgw);
#   - container credentials (token file as Authorization; a wrong token stops
#     start-up) and the link in the mail carries X-Amz-Security-Token, works,
#     and its expiry (mail, link_expires_at) is cut to the credentials' life;
#   - IMDSv2 (token PUT, then the role's credentials; never a request without
#     the token).
# Nothing here talks to anything but 127.0.0.1: `chain` disables IMDS unless a
# loopback IMDS is given.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/harness/aws_lib.sh"
use_fresh_db
aws_up
t=$(tmpdir)
export EXPORTQ_S3_PREFIX="it-aws-chain-$$-$(date +%s)/" EXPORTQ_MAX_ATTEMPTS=1 EXPORTQ_POLL_SECONDS=1
define_slow_kind

# export_with LABEL ENV...: enqueue a small export, run `exportq worker --drain`
# through `chain` with ENV added; prints the job id; the worker log is $t/LABEL.log
export_with() {
  local label=$1 id
  shift
  id=$("$EXPORTQ_BIN" enqueue slow --param rows=3000 --param pause=0 --email "$label-$$@example.test")
  chain env "$@" "$EXPORTQ_BIN" worker --drain >"$t/$label.log" 2>&1 \
    || { cat "$t/$label.log" >&2; fail "$label: the worker exited non-zero"; }
  echo "$id"
}

job_state() { psql_q "SELECT state FROM exportq.status($1)"; }
job_error() { psql_q "SELECT coalesce(last_error, '') FROM exportq.status($1)"; }

# --- no source ---------------------------------------------------------------------
rc=0
out=$(chain "$EXPORTQ_BIN" worker --drain 2>&1) || rc=$?
assert_eq 1 "$rc" "no credentials: exit status"
assert_eq 1 "$(printf '%s\n' "$out" | grep -c .)" "no credentials: one line ($out)"
assert_contains "$out" "no AWS credentials found; tried environment" "the line names the chain"
for part in "shared files" "web identity" "container" "IMDSv2: disabled by AWS_EC2_METADATA_DISABLED"; do
  assert_contains "$out" "$part" "the line names $part"
done
ok "no source: start-up stops with one line naming the chain"

# --- full URIs that are not allowed: refused before any connection -------------------
creds_serve container 3600
for uri in "http://0.0.0.0:$CREDS_PORT/creds" "http://169.254.169.254/latest/meta-data/iam/security-credentials/r" \
           "http://10.255.255.1:$CREDS_PORT/creds" "http://127.0.0.1@example.com:$CREDS_PORT/creds" \
           "file:///etc/passwd"; do
  rc=0
  out=$(chain env AWS_CONTAINER_CREDENTIALS_FULL_URI="$uri" "$EXPORTQ_BIN" worker --drain 2>&1) || rc=$?
  assert_eq 1 "$rc" "full URI $uri: exit status"
  assert_contains "$out" "AWS_CONTAINER_CREDENTIALS_FULL_URI" "full URI $uri: the message names the variable"
done
assert_eq 0 "$(wc -l <"$CREDS_LOG")" "the listener behind the refused URIs saw no request"
ok "full URIs off loopback/ECS/EKS refused before any connection"

# --- shared credentials file + profile ------------------------------------------------
s=$(sts_session)
printf '[default]\naws_access_key_id = AKIDNOTTHISONE\naws_secret_access_key = nope\n\n[exports]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' \
  "$(json_field "$s" AccessKeyId)" "$(json_field "$s" SecretAccessKey)" "$(json_field "$s" SessionToken)" >"$t/credentials"
printf '[profile exports]\nregion = us-east-1\n' >"$t/config"
id=$(export_with profile AWS_SHARED_CREDENTIALS_FILE="$t/credentials" AWS_CONFIG_FILE="$t/config" AWS_PROFILE=exports)
assert_eq succeeded "$(job_state "$id")" "profile: job $id ($(job_error "$id"))"
assert_contains "$(cat "$t/profile.log")" "AWS credentials from profile" "profile: the log names the source"
key=$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id")
s3_get_file "$key" "$t/profile.csv"
assert_eq 3001 "$(wc -l <"$t/profile.csv")" "profile: the object holds the export"
# the same session keys without their token: radosgw refuses them
printf '[exports]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$(json_field "$s" AccessKeyId)" "$(json_field "$s" SecretAccessKey)" >"$t/credentials-notoken"
id=$(export_with profile-notoken AWS_SHARED_CREDENTIALS_FILE="$t/credentials-notoken" AWS_PROFILE=exports)
assert_eq failed "$(job_state "$id")" "session keys without their token are refused by radosgw"
assert_contains "$(job_error "$id")" "HTTP 403" "profile without token: 403"
case "$(cat "$t/profile.log" "$t/profile-notoken.log")" in
  *"$(json_field "$s" SecretAccessKey)"* | *"$(json_field "$s" SessionToken)"*) fail "a secret reached the log" ;;
esac
# AWS_PROFILE naming a profile that is not there stops start-up
rc=0
out=$(chain env AWS_SHARED_CREDENTIALS_FILE="$t/credentials" AWS_PROFILE=nosuch "$EXPORTQ_BIN" worker --drain 2>&1) || rc=$?
assert_eq 1 "$rc" "unknown profile: exit status"
assert_contains "$out" "AWS_PROFILE: profile 'nosuch'" "unknown profile: named"
ok "shared file + profile: export with a session radosgw verified (and refused without its token)"

# --- container credentials -------------------------------------------------------------
echo "tok-$$-$RANDOM" >"$t/container-token"
creds_serve container 3000 --token-file "$t/container-token"
rc=0
out=$(chain env AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$CREDS_PORT/v2/credentials" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong "$EXPORTQ_BIN" worker --drain 2>&1) || rc=$?
assert_eq 1 "$rc" "container with a wrong token: exit status"
assert_contains "$out" "HTTP 401" "container with a wrong token: the endpoint's answer is named"
case "$out" in *wrong*) fail "the authorization token reached the message" ;; esac
before=$(date +%s)
id=$(export_with container AWS_CONTAINER_CREDENTIALS_FULL_URI="http://localhost:$CREDS_PORT/v2/credentials" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$t/container-token")
assert_eq succeeded "$(job_state "$id")" "container: job $id ($(job_error "$id"))"
[ "$(creds_count 'e["status"] == 200 and e["auth_ok"]')" -ge 1 ] || fail "container: no authorised fetch"
assert_eq 0 "$(creds_count 'e["status"] == 200 and not e["auth_ok"]')" "container: no fetch without the token"
lexp=$(psql_q "SELECT extract(epoch FROM link_expires_at)::bigint FROM exportq.jobs WHERE id = $id")
[ "$lexp" -le $((before + 3000 + 60)) ] || fail "container: link_expires_at outlives the credentials ($lexp vs $before)"
wait_for "[ -n \"\$(mail_for container-$$@example.test)\" ]" 30 || fail "container: no mail"
eml=$(mail_for "container-$$@example.test")
url=$(mail_link "$eml")
assert_contains "$url" "X-Amz-Security-Token=" "container: the link carries the session token"
expires=$(printf '%s' "$url" | sed -n 's/.*X-Amz-Expires=\([0-9]*\).*/\1/p')
[ "$expires" -le 3000 ] || fail "container: X-Amz-Expires=$expires outlives the credentials"
curl -sSf -o "$t/container-dl.csv" "$url" || fail "container: the link does not download"
assert_eq 3001 "$(wc -l <"$t/container-dl.csv")" "container: the link downloads the export"
# the mail tells the true expiry: the link's end, not now + EXPORTQ_LINK_TTL (1 day)
ttl_end=$(date -u -d "@$((before + 86400))" '+%Y-%m-%d %H:%M')
link_end=$(date -u -d "@$lexp" '+%Y-%m-%d %H:%M')
link_end1=$(date -u -d "@$((lexp + 1))" '+%Y-%m-%d %H:%M') # signed a second later
grep -qE "$link_end|$link_end1" "$eml" || fail "container: the mail does not say the link ends at $link_end UTC"
if grep -q "$ttl_end" "$eml"; then fail "container: the mail promises EXPORTQ_LINK_TTL ($ttl_end)"; fi
ok "container credentials: export, token file sent, link with token, expiry capped ($expires s)"

# --- IMDSv2 -----------------------------------------------------------------------------
creds_serve imds 3000
id=$(AWS_EC2_METADATA_DISABLED=false export_with imds AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$CREDS_PORT")
assert_eq succeeded "$(job_state "$id")" "IMDSv2: job $id ($(job_error "$id"))"
[ "$(creds_count 'e["method"] == "PUT" and e["status"] == 200')" -ge 1 ] || fail "IMDSv2: no token PUT"
[ "$(creds_count '"served" in e')" -ge 1 ] || fail "IMDSv2: no credentials fetched"
assert_eq 0 "$(creds_count 'e["method"] == "GET" and not e.get("token_ok")')" "IMDSv2: no request without the token (no IMDSv1)"
assert_contains "$(cat "$t/imds.log")" "AWS credentials from imds" "IMDSv2: the log names the source"
ok "IMDSv2: export with the instance role's credentials"
