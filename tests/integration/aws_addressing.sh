#!/usr/bin/env bash
# Virtual-hosted addressing and HTTPS with a private CA, against the harness's
# second radosgw (tests/harness/s3_aws.sh: rgw_dns_name = localhost, a beast
# TLS endpoint with a certificate from a CA made by openssl).
#   - EXPORTQ_S3_PATH_STYLE=false: requests and the link go to
#     exportq-test.localhost (the bucket in the host name, not the path), and
#     radosgw accepts the signatures;
#   - https + EXPORTQ_S3_CA_FILE, path-style and virtual-hosted: exports work
#     and the link downloads with curl trusting the same CA;
#   - a CA that did not sign the server's certificate: the export fails
#     clearly (the message names the certificate and EXPORTQ_S3_CA_FILE), with
#     no retry of the request, and nothing is written.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/harness/aws_lib.sh"
use_fresh_db
aws_up
t=$(tmpdir)
export EXPORTQ_S3_PREFIX="it-aws-addr-$$-$(date +%s)/" EXPORTQ_MAX_ATTEMPTS=1 EXPORTQ_POLL_SECONDS=1
define_slow_kind

# run LABEL ENDPOINT PATH_STYLE CA: one export with the test user's static keys;
# prints the job id; the worker log is $t/LABEL.log
run() {
  local label=$1 id
  id=$("$EXPORTQ_BIN" enqueue slow --param rows=3000 --param pause=0 --email "$label-$$@example.test")
  env EXPORTQ_S3_ENDPOINT="$2" EXPORTQ_S3_PATH_STYLE="$3" EXPORTQ_S3_CA_FILE="$4" \
    "$EXPORTQ_BIN" worker --drain >"$t/$label.log" 2>&1 || { cat "$t/$label.log" >&2; fail "$label: worker exited non-zero"; }
  echo "$id"
}
state_of() { psql_q "SELECT state || ' ' || coalesce(last_error, '') FROM exportq.status($1)"; }

# check LABEL ID URL_PREFIX [CURL_ARGS...]: the job succeeded and the mailed link,
# which starts with URL_PREFIX, downloads the export
check() {
  local label=$1 id=$2 prefix=$3 eml url
  shift 3
  assert_eq "succeeded " "$(state_of "$id")" "$label: job $id"
  wait_for "[ -n \"\$(mail_for $label-$$@example.test)\" ]" 30 || fail "$label: no mail"
  eml=$(mail_for "$label-$$@example.test")
  url=$(mail_link "$eml")
  case "$url" in "$prefix"*) ;; *) fail "$label: the link does not start with $prefix: ${url%%\?*}" ;; esac
  curl -sSf "$@" -o "$t/$label.csv" "$url" || fail "$label: the link does not download"
  assert_eq 3001 "$(wc -l <"$t/$label.csv")" "$label: the link downloads the export"
}

host=exportq-test.localhost
id=$(run vhost "http://localhost:$S3AWS_HTTP_PORT" false "")
check vhost "$id" "http://$host:$S3AWS_HTTP_PORT/$EXPORTQ_S3_PREFIX"
ok "virtual-hosted over http: requests and link on $host"

id=$(run tls-path "https://localhost:$S3AWS_HTTPS_PORT" true "$S3AWS_CA")
check tls-path "$id" "https://localhost:$S3AWS_HTTPS_PORT/exportq-test/$EXPORTQ_S3_PREFIX" --cacert "$S3AWS_CA"
id=$(run tls-vhost "https://localhost:$S3AWS_HTTPS_PORT" false "$S3AWS_CA")
check tls-vhost "$id" "https://$host:$S3AWS_HTTPS_PORT/$EXPORTQ_S3_PREFIX" --cacert "$S3AWS_CA"
ok "https with EXPORTQ_S3_CA_FILE, path-style and virtual-hosted"

id=$(run tls-wrong "https://localhost:$S3AWS_HTTPS_PORT" true "$S3AWS_WRONG_CA")
out=$(state_of "$id")
assert_contains "$out" "failed" "wrong CA: job $id fails"
assert_contains "$out" "certificate" "wrong CA: the error says what is wrong"
assert_contains "$out" "EXPORTQ_S3_CA_FILE" "wrong CA: the error names the setting"
case "$out" in *"after "*" attempts"*) fail "wrong CA: the request was retried: $out" ;; esac
if grep -q "retrying" "$t/tls-wrong.log"; then fail "wrong CA: the worker retried: $(grep retrying "$t/tls-wrong.log" | head -1)"; fi
assert_eq "" "$(s3_list_keys "${EXPORTQ_S3_PREFIX}_/$id-")" "wrong CA: nothing written"
# a CA file that does not exist stops start-up naming the setting
rc=0
out=$(env EXPORTQ_S3_ENDPOINT="https://localhost:$S3AWS_HTTPS_PORT" EXPORTQ_S3_CA_FILE="$t/none.pem" \
  "$EXPORTQ_BIN" worker --drain 2>&1) || rc=$?
assert_eq 1 "$rc" "a missing CA file stops start-up"
assert_contains "$out" "EXPORTQ_S3_CA_FILE" "a missing CA file is named"
ok "a wrong CA fails at once, clearly, without retries; verification is never turned off"
