#!/usr/bin/env bash
# s3_presign.sh - `exportq presign` as a user runs it: the printed URL, fetched
# by plain curl, returns the object's bytes with the friendly Content-Disposition;
# the same URL tampered with (key, expiry, signature) is refused; bad arguments
# are usage errors (exit 2); nothing secret reaches stderr.
set -euo pipefail
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"

T=$(tmpdir)
key="s3-presign-$$/Q1 report (r"$'\xc3\xa9'"sum"$'\xc3\xa9'")+100%.csv"
printf 'id,value\n1,caf\xc3\xa9\n2,"a,b"\n' > "$T/body.csv"
enc=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/~"))' "$key")
s3_put_file "$enc" "$T/body.csv"
ok "object uploaded"

"$EXPORTQ_BIN" presign --help | grep -q -- '--expires' || fail "--help does not mention --expires"
ok "--help"

url=$("$EXPORTQ_BIN" presign "$key" --expires 120 2> "$T/err")
assert_contains "$url" "X-Amz-Expires=120" "lifetime in the link"
code=$(curl -sS -g -D "$T/h" -o "$T/got" -w '%{http_code}' "$url")
assert_eq 200 "$code" "presigned GET"
assert_eq "$(sha256_of "$T/body.csv")" "$(sha256_of "$T/got")" "same bytes"
assert_contains "$(tr -d '\r' < "$T/h")" \
  "Content-Disposition: attachment; filename=\"Q1 report (r_sum_)+100_.csv\"; filename*=UTF-8''Q1%20report%20%28r%C3%A9sum%C3%A9%29+100%25.csv" \
  "friendly file name"
ok "presigned link fetched by curl"

# default lifetime is EXPORTQ_LINK_TTL
url2=$(EXPORTQ_LINK_TTL=777 "$EXPORTQ_BIN" presign "$key")
assert_contains "$url2" "X-Amz-Expires=777" "EXPORTQ_LINK_TTL default"

# tampering: another expiry, another signature, another key
for bad in "${url/X-Amz-Expires=120/X-Amz-Expires=121}" \
           "$(echo "$url" | sed -E 's/(X-Amz-Signature=)(.)/\1\2\2/; s/(X-Amz-Signature=[0-9a-f]{64}).*/\1/')" \
           "${url/Q1%20report/Q2%20report}"; do
  code=$(curl -sS -g -o /dev/null -w '%{http_code}' "$bad")
  assert_eq 403 "$code" "tampered link refused"
done
ok "tampered links refused"

set +e
"$EXPORTQ_BIN" presign "$key" --expires 604801 2> "$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "--expires over 7 days is a usage error"
set +e
"$EXPORTQ_BIN" presign 2> /dev/null; rc=$?
set -e
assert_eq 2 "$rc" "missing KEY is a usage error"
if grep -q "$AWS_SECRET_ACCESS_KEY" "$T/err"; then fail "secret on stderr"; fi
ok "usage errors"
