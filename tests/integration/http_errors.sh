#!/usr/bin/env bash
# http_errors.sh - every HTTP error of the contract, table-driven: the table
# of docs/api.md ("Error codes": status, code) is read, and each pair must be
# provoked below by a real request to `exportq serve` that gets exactly that
# status and that JSON {"error": {"code"}} (plus Allow on 405, Retry-After on
# 429). A documented pair no case provokes fails the test, and so does a case
# whose pair is not documented: docs and code cannot drift apart.
# (Only `500 internal`, "out of memory", cannot be provoked from outside.)
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
T=$(tmpdir)
http_db_setup "http_errors_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS http_errors_$$ WITH (FORCE)' >/dev/null 2>&1"
define_slow_kind
TU=$(token_for err-u1)
TO=$(token_for err-u2)
serve_start EXPORTQ_RATE_LIMIT=100000 EXPORTQ_MAX_STREAMS=1 EXPORTQ_MAIL_ALLOWED_DOMAINS=allowed.example

# documented pairs: "STATUS CODE" lines from the table under "### Error codes"
/usr/bin/python3 - "$EXPORTQ_SOURCE_DIR/docs/api.md" >"$T/documented" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sec = text.split("### Error codes", 1)[1]
for line in sec.splitlines()[2:]:
    if not line.startswith("|"):
        if line.strip():
            break
        continue
    cells = [c.strip() for c in line.strip("|").split("|")]
    if not cells[0].isdigit():
        continue
    for code in re.findall(r"`([a-z_]+)`", cells[1]):
        print(cells[0], code)
PY
[ "$(grep -c . "$T/documented")" -ge 20 ] || fail "docs/api.md: could not read the error table: $(cat "$T/documented")"
: >"$T/covered"

# case STATUS CODE DESC METHOD PATH TOKEN [curl args...]
case_() {
  local want=$1 code=$2 desc=$3
  shift 3
  req "$@"
  assert_eq "$want" "$STATUS" "$desc: status"
  assert_eq "$code" "$(jq -r .error.code <<<"$BODY" 2>/dev/null)" "$desc: error code"
  [ -n "$(jq -r '.error.message // empty' <<<"$BODY")" ] || fail "$desc: no error message"
  grep -qxF "$want $code" "$T/documented" || fail "$desc: $want $code is not in docs/api.md's error table"
  echo "$want $code" >>"$T/covered"
}

long=$(head -c 300 /dev/zero | tr '\0' k)
case_ 400 invalid_json "malformed JSON" POST /v1/exports "$TU" -d '{"kind":'
case_ 400 invalid_json "JSON not an object" POST /v1/exports "$TU" -d '[1]'
case_ 400 invalid_request "unknown member" POST /v1/exports "$TU" -d '{"kind":"user_activity","bogus":1}'
case_ 400 invalid_kind "kind missing" POST /v1/exports "$TU" -d '{"params":{}}'
case_ 400 unknown_kind "kind not registered" POST /v1/exports "$TU" -d '{"kind":"no_such_kind"}'
case_ 400 invalid_params "params not an object" POST /v1/exports "$TU" -d '{"kind":"user_activity","params":[1]}'
case_ 400 invalid_email "CRLF in the email" POST /v1/exports "$TU" -d '{"kind":"user_activity","email":"a@b.example\r\nBcc: c@d.example"}'
case_ 400 invalid_format "an unknown format" POST /v1/exports "$TU" -d '{"kind":"user_activity","format":"pdf"}'
case_ 400 invalid_limit "limit 0" GET "/v1/exports?limit=0" "$TU"
case_ 400 invalid_cursor "a made-up cursor" GET "/v1/exports?cursor=zzz" "$TU"
case_ 400 invalid_idempotency_key "Idempotency-Key over 255" POST /v1/exports "$TU" -H "Idempotency-Key: $long" -d '{"kind":"user_activity"}'
case_ 400 export_failed "a parameter the kind's function refuses" GET "/v1/stream/user_activity_raw?since=not-a-date" "$TU"
case_ 401 unauthorized "no token" GET /v1/exports ""
case_ 401 unauthorized "unknown token" GET /v1/exports "nope"
case_ 404 not_found "no such job" GET /v1/exports/999999999 "$TU"
case_ 404 not_found "no such endpoint" GET /v1/nothing-here "$TU"
case_ 405 method_not_allowed "PUT on the collection" PUT /v1/exports "$TU"
[ -n "$(hdr Allow)" ] || fail "405 without an Allow header"
case_ 406 not_acceptable "the stream with an Accept no format meets" GET /v1/stream/user_activity_raw "$TU" -H 'Accept: application/pdf'
case_ 413 body_too_large "a 70 KiB body" POST /v1/exports "$TU" --data-binary "@$(head -c 71680 /dev/zero | tr '\0' ' ' >"$T/big.json"; echo "$T/big.json")"

# the same Idempotency-Key with another request (as Stripe: 422, never the first job)
req POST /v1/exports "$TU" -H "Idempotency-Key: err-idem-1" -d '{"kind":"user_activity","params":{"n":"1"}}'
assert_eq 202 "$STATUS" "first request with an Idempotency-Key"
case_ 422 idempotency_key_reused "the key reused with other params" POST /v1/exports "$TU" -H "Idempotency-Key: err-idem-1" -d '{"kind":"user_activity","params":{"n":"9"}}'

case_ 422 email_not_allowed "an address outside EXPORTQ_MAIL_ALLOWED_DOMAINS" POST /v1/exports "$TU" -d '{"kind":"user_activity","email":"x@other.example"}'

# job states: queued (not ready), cancelled (no file), finished (cannot cancel), expired
req POST /v1/exports "$TU" -d '{"kind":"user_activity"}'
assert_eq 202 "$STATUS" "an export is accepted"
jq_id=$(jq -r .id <<<"$BODY")
case_ 409 not_ready "download of a queued job" GET "/v1/exports/$jq_id/download" "$TU"
case_ 404 not_found "another owner's job" GET "/v1/exports/$jq_id" "$TO"
req DELETE "/v1/exports/$jq_id" "$TU"
[[ $STATUS == 20? ]] || fail "cancel of a queued job: HTTP $STATUS $BODY"
case_ 410 not_available "download of a cancelled job (DESIGN: 410)" GET "/v1/exports/$jq_id/download" "$TU"
case_ 409 already_finished "cancel of a cancelled job" DELETE "/v1/exports/$jq_id" "$TU"
req POST /v1/exports "$TU" -d '{"kind":"user_activity","params":{"n":"4"}}'
jr=$(jq -r .id <<<"$BODY")
case_ 409 not_retryable "retry of a queued job" POST "/v1/exports/$jr/retry" "$TU"
# a cancelled job whose dedupe key another live job of the owner now holds
jd1=$(psql_q "SELECT exportq.enqueue('user_activity', '{}', NULL, 'err-u1', 0, 'daily')")
psql_q "SELECT exportq.cancel($jd1)" >/dev/null
psql_q "SELECT exportq.enqueue('user_activity', '{}', NULL, 'err-u1', 0, 'daily')" >/dev/null
case_ 409 conflict "retry while another live job holds its dedupe key" POST "/v1/exports/$jd1/retry" "$TU"
req POST /v1/exports "$TU" -d '{"kind":"user_activity","params":{"n":"2"}}'
jf=$(jq -r .id <<<"$BODY")
psql_q "UPDATE exportq.jobs SET state = 'failed', finished_at = now(), last_error = 'test' WHERE id = $jf" >/dev/null
case_ 410 not_available "download of a failed job (DESIGN: 410)" GET "/v1/exports/$jf/download" "$TU"
req POST /v1/exports "$TU" -d '{"kind":"user_activity","params":{"n":"3"}}'
je=$(jq -r .id <<<"$BODY")
psql_q "UPDATE exportq.jobs SET state = 'expired', finished_at = now() WHERE id = $je" >/dev/null
case_ 410 expired "download of an expired job" GET "/v1/exports/$je/download" "$TU"

# the stream cap (EXPORTQ_MAX_STREAMS=1): one slow stream holds it
curl -sS -N -H "Authorization: Bearer $TU" -o /dev/null "$URL/v1/stream/slow?rows=10000000&pause=5" 2>/dev/null &
sp=$!
on_exit "kill $sp 2>/dev/null"
wait_for "[ \"\$(stream_backends)\" = 1 ]" 30 || fail "the slow stream did not start"
case_ 429 too_many_streams "a second stream over the cap" GET /v1/stream/user_activity_raw "$TU"
[ -n "$(hdr Retry-After)" ] || fail "429 too_many_streams without Retry-After"
kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true
serve_stop

# the per-owner stream cap: one owner's slow stream holds its only slot
wait_for "[ \"\$(stream_backends)\" = 0 ]" 30 || fail "the first slow stream's backend did not end"
serve_start EXPORTQ_RATE_LIMIT=100000 EXPORTQ_MAX_STREAMS=8 EXPORTQ_MAX_STREAMS_PER_OWNER=1
curl -sS -N -H "Authorization: Bearer $TU" -o /dev/null "$URL/v1/stream/slow?rows=10000000&pause=5" 2>/dev/null &
sp=$!
on_exit "kill $sp 2>/dev/null"
wait_for "[ \"\$(stream_backends)\" = 1 ]" 30 || fail "the owner's slow stream did not start"
case_ 429 too_many_owner_streams "a second stream of the same owner over its cap" GET /v1/stream/user_activity_raw "$TU"
[ -n "$(hdr Retry-After)" ] || fail "429 too_many_owner_streams without Retry-After"
kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true
serve_stop

# a recipient outside EXPORTQ_MAIL_ALLOWED_DOMAINS
serve_start EXPORTQ_RATE_LIMIT=100000 EXPORTQ_MAIL_ALLOWED_DOMAINS=allowed.example
case_ 422 email_not_allowed "a recipient outside the allowed domains" POST /v1/exports "$TU" -d '{"kind":"user_activity","email":"x@elsewhere.example"}'
serve_stop

# the rate limit: 2 requests a minute per token
serve_start EXPORTQ_RATE_LIMIT=2
for i in 1 2 3 4; do req GET /v1/exports "$TU"; [ "$STATUS" = 429 ] && break; done
case_ 429 rate_limited "past EXPORTQ_RATE_LIMIT" GET /v1/exports "$TU"
[ -n "$(hdr Retry-After)" ] || fail "429 rate_limited without Retry-After"

# the database goes away: 503
psql -XAtq -d postgres -c "ALTER DATABASE http_errors_$$ ALLOW_CONNECTIONS false" \
  -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'http_errors_$$'" >/dev/null
on_exit "psql -XAtq -d postgres -c 'ALTER DATABASE http_errors_$$ ALLOW_CONNECTIONS true' >/dev/null 2>&1"
case_ 503 unavailable "the database is down" GET /v1/exports "$TO"
serve_stop

# every documented pair was provoked (but the one that cannot be)
missing=$(sort -u "$T/documented" | grep -vxF "500 internal" | comm -23 - <(sort -u "$T/covered"))
[ -z "$missing" ] || fail "documented in docs/api.md but provoked by no case: $(tr '\n' ',' <<<"$missing")"
ok "$(sort -u "$T/covered" | wc -l) documented status/code pairs, each provoked and answered as documented ($(grep -c . "$T/covered") cases)"
