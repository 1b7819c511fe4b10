# shellcheck shell=bash
# aws_lib.sh: sourced after lib.sh by the tests of "AWS as deployed"
# (tests/integration/aws_*.sh).
#
#   aws_up                   starts (or reuses) the STS/virtual-host/TLS radosgw of
#                            tests/harness/s3_aws.sh and loads S3AWS_HTTP_PORT,
#                            S3AWS_HTTPS_PORT, S3AWS_CA, S3AWS_WRONG_CA; sets
#                            AWS_RGW=http://127.0.0.1:$S3AWS_HTTP_PORT
#   chain CMD...             runs CMD with no static keys, HOME in the temp dir,
#                            no shared files and IMDS disabled (unless the caller
#                            sets AWS_EC2_METADATA_DISABLED=false for a loopback
#                            IMDS), and EXPORTQ_S3_ENDPOINT=$AWS_RGW unless set:
#                            only the credential source the test adds is there
#   sts_session              a fresh radosgw session (JSON) for the test user
#   json_field JSON NAME     one string field of a JSON object
#   creds_serve MODE LIFETIME [ARGS...]
#                            tests/harness/awscreds.py serve (container|imds) on
#                            127.0.0.1; sets CREDS_PORT and CREDS_LOG; stopped at exit
#   creds_count FILTER       how many lines of CREDS_LOG match a python expression
#                            over `e` (one logged request), e.g. 'e["status"] == 200'
#   s3rec_start UPSTREAM     the recording proxy (awscreds.py proxy); sets S3REC_URL
#                            and S3REC_LOG; stopped at exit
#
# Safety: every test of this family talks to 127.0.0.1 only. `chain` disables
# IMDS by default, so nothing ever asks 169.254.169.254.

AWS_HARNESS=$EXPORTQ_SOURCE_DIR/tests/harness

aws_up() {
  bash "$AWS_HARNESS/s3_aws.sh" up "$EXPORTQ_TEST_STATE" >"$(tmpdir)/s3aws-up.log" 2>&1 \
    || { cat "$(tmpdir)/s3aws-up.log" >&2; fail "the STS radosgw (s3_aws.sh) did not come up"; }
  # shellcheck disable=SC1091
  . "$EXPORTQ_TEST_STATE/s3aws/env"
  AWS_RGW=http://127.0.0.1:$S3AWS_HTTP_PORT
}

chain() {
  local home
  home="$(tmpdir)/home"
  mkdir -p "$home"
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
    HOME="$home" AWS_SHARED_CREDENTIALS_FILE="${AWS_SHARED_CREDENTIALS_FILE:-$home/none}" \
    AWS_CONFIG_FILE="${AWS_CONFIG_FILE:-$home/none}" \
    AWS_EC2_METADATA_DISABLED="${AWS_EC2_METADATA_DISABLED:-true}" \
    EXPORTQ_S3_ENDPOINT="${CHAIN_ENDPOINT:-$AWS_RGW}" "$@"
}

sts_session() {
  /usr/bin/python3 "$AWS_HARNESS/awscreds.py" session --endpoint "$AWS_RGW"
}

json_field() {
  /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

creds_serve() {
  local mode=$1 life=$2 base
  shift 2
  base="$(tmpdir)/creds-$mode-$RANDOM"
  /usr/bin/python3 "$AWS_HARNESS/awscreds.py" serve --mode "$mode" --endpoint "$AWS_RGW" \
    --port-file "$base.port" --log "$base.log" --lifetime "$life" "$@" >"$base.out" 2>&1 &
  on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
  wait_for "[ -s $base.port ]" 20 || { cat "$base.out" >&2; fail "awscreds.py serve did not start"; }
  CREDS_PORT=$(cat "$base.port")
  CREDS_LOG=$base.log
}

creds_count() {
  /usr/bin/python3 - "$CREDS_LOG" "$1" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if eval(sys.argv[2], {}, {"e": e}):
        n += 1
print(n)
EOF
}

s3rec_start() {
  local base
  base="$(tmpdir)/s3rec-$RANDOM"
  /usr/bin/python3 "$AWS_HARNESS/awscreds.py" proxy --upstream "$1" --port-file "$base.port" \
    --log "$base.log" >"$base.out" 2>&1 &
  on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
  wait_for "[ -s $base.port ]" 20 || { cat "$base.out" >&2; fail "awscreds.py proxy did not start"; }
  S3REC_URL=http://127.0.0.1:$(cat "$base.port")
  S3REC_LOG=$base.log
}
