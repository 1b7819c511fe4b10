#!/usr/bin/env bash
# http_cors.sh - CORS for EXPORTQ_CORS_ORIGINS and the OpenAPI document, against
# a real `exportq serve` (DESIGN.md "Fitting into an application"): a listed
# origin's preflight is 204 with the path's methods and the headers the API
# reads, its answers (errors too) carry Access-Control-Allow-Origin with that
# exact origin and never credentials; an unlisted origin gets no CORS header;
# Vary: Origin once configured; none of it without the setting; a wildcard is
# refused at start-up. GET /v1/openapi.json serves docs/openapi.json as is,
# without a token.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
T=$(tmpdir)
http_db_setup "http_cors_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS http_cors_$$ WITH (FORCE)' >/dev/null 2>&1"
TU=$(token_for cors-u1)
APP=https://app.example.test
serve_start EXPORTQ_RATE_LIMIT=100000 EXPORTQ_CORS_ORIGINS="$APP, http://localhost:3000"
no_cors() { # DESC: no Access-Control-* header in the last answer
  ! grep -qi '^access-control-' "$HDRS" || fail "$1: CORS headers: $(grep -i '^access-control-' "$HDRS" | tr '\r\n' '  ')"
}

# ---- the OpenAPI document -------------------------------------------------------------
req GET /v1/openapi.json ""
assert_eq 200 "$STATUS" "GET /v1/openapi.json without a token"
assert_contains "$(hdr Content-Type)" application/json "its Content-Type"
printf '%s' "$BODY" | cmp -s - <(printf '%s' "$(cat "$EXPORTQ_SOURCE_DIR/docs/openapi.json")") \
  || fail "GET /v1/openapi.json is not docs/openapi.json"
assert_eq 3.1.0 "$(jq -r .openapi <<<"$BODY")" "an OpenAPI 3.1 document"
req HEAD /v1/openapi.json "" -I
assert_eq 200 "$STATUS" "HEAD /v1/openapi.json"
req POST /v1/openapi.json "" -d x
assert_eq 405 "$STATUS" "POST /v1/openapi.json"
ok "GET /v1/openapi.json serves docs/openapi.json (no token needed)"

# ---- preflight -----------------------------------------------------------------------
req OPTIONS /v1/exports "" -H "Origin: $APP" -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: authorization, content-type, idempotency-key'
assert_eq 204 "$STATUS" "preflight from a listed origin"
assert_eq "$APP" "$(hdr Access-Control-Allow-Origin)" "the exact origin, not *"
assert_contains "$(hdr Access-Control-Allow-Methods)" POST "allowed methods"
for h in Authorization Content-Type Idempotency-Key Prefer; do
  assert_contains "$(hdr Access-Control-Allow-Headers)" "$h" "allowed request header $h"
done
assert_contains "$(hdr Vary)" Origin "Vary: Origin on the preflight"
[ -z "$(hdr Access-Control-Allow-Credentials)" ] || fail "credentials allowed"
req OPTIONS /v1/stream/user_activity "" -H 'Origin: http://localhost:3000' -H 'Access-Control-Request-Method: GET'
assert_eq 204 "$STATUS" "preflight of the stream from the second origin"
assert_eq "GET" "$(hdr Access-Control-Allow-Methods)" "the stream's methods"
req OPTIONS /v1/exports "" -H 'Origin: https://evil.example.test' -H 'Access-Control-Request-Method: POST'
assert_eq 405 "$STATUS" "preflight from an unlisted origin"
no_cors "preflight from an unlisted origin"
req OPTIONS /v1/exports "" -H "Origin: $APP.evil" -H 'Access-Control-Request-Method: POST'
no_cors "an origin that only starts like a listed one"
req OPTIONS /v1/nothing "" -H "Origin: $APP" -H 'Access-Control-Request-Method: GET'
assert_eq 404 "$STATUS" "preflight of an unknown path"
ok "preflight: 204 with methods and headers for listed origins; nothing for others"

# ---- actual requests ------------------------------------------------------------------
req GET /v1/exports "$TU" -H "Origin: $APP"
assert_eq 200 "$STATUS" "GET from a listed origin"
assert_eq "$APP" "$(hdr Access-Control-Allow-Origin)" "its Allow-Origin"
assert_contains "$(hdr Access-Control-Expose-Headers)" Location "Location exposed"
assert_contains "$(hdr Vary)" Origin "Vary: Origin"
req GET /v1/exports "" -H "Origin: $APP"
assert_eq 401 "$STATUS" "no token from a listed origin"
assert_eq "$APP" "$(hdr Access-Control-Allow-Origin)" "an error is readable by the page too"
req GET /v1/exports "$TU" -H 'Origin: https://evil.example.test'
assert_eq 200 "$STATUS" "GET from an unlisted origin (not a browser's business to block here)"
no_cors "an unlisted origin's answer"
assert_contains "$(hdr Vary)" Origin "Vary: Origin for every answer"
curl -sS -o /dev/null -D "$T/stream.hdrs" -H "Authorization: Bearer $TU" -H "Origin: $APP" "$URL/v1/stream/user_activity_raw" \
  || fail "stream from a listed origin"
grep -qi "^access-control-allow-origin: $APP" "$T/stream.hdrs" || fail "the stream's 200 has no Allow-Origin"
ok "answers (errors and the stream too) carry the listed origin; unlisted ones get none; Vary: Origin"
serve_stop

# ---- off by default; a wildcard is refused ------------------------------------------------
serve_start EXPORTQ_RATE_LIMIT=100000
req GET /v1/exports "$TU" -H "Origin: $APP"
no_cors "without EXPORTQ_CORS_ORIGINS"
[ -z "$(hdr Vary)" ] || fail "Vary without EXPORTQ_CORS_ORIGINS"
req OPTIONS /v1/exports "" -H "Origin: $APP" -H 'Access-Control-Request-Method: POST'
assert_eq 405 "$STATUS" "no preflight without EXPORTQ_CORS_ORIGINS"
serve_stop
for bad in '*' 'https://app.example.test/' 'app.example.test' 'null'; do
  out=$(EXPORTQ_CORS_ORIGINS="$bad" EXPORTQ_HTTP_LISTEN=127.0.0.1:0 "$EXPORTQ_BIN" serve 2>&1) && fail "EXPORTQ_CORS_ORIGINS='$bad' was accepted"
  assert_contains "$out" EXPORTQ_CORS_ORIGINS "'$bad' refused naming the variable"
done
ok "no CORS without the setting; *, paths, bare hosts and null refused at start-up"
