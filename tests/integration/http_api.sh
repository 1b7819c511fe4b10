#!/usr/bin/env bash
# http_api.sh - the JSON endpoints of `exportq serve` with curl against the real
# PostgreSQL and S3: every status code of the contract, owner scoping,
# Idempotency-Key, pagination, the download redirect to a presigned link S3
# accepts, rate limit, body cap, 503 with the database down, and that no
# refused request writes anything.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"

T=$(tmpdir)
http_db_setup eqhttp_api
T1=$(token_for api-u1)
T2=$(token_for api-u2)
TR=$(token_for api-revoked)
"$EXPORTQ_BIN" token revoke "$(psql_q "SELECT id FROM exportq.tokens WHERE owner = 'api-revoked'")" >/dev/null \
  || fail "token revoke"
serve_start
ok "serve started at $URL"

jobs_count() { psql_q "SELECT count(*) FROM exportq.jobs"; }

# ---- health, metrics, routing ------------------------------------------------------
req GET /healthz ""
assert_eq 200 "$STATUS" "healthz"
assert_eq ok "$(jq -r .status <<<"$BODY")" "healthz body"
req GET /metrics ""
assert_eq 200 "$STATUS" "metrics"
assert_contains "$BODY" 'exportq_jobs{state="queued"} 0' "metrics: jobs by state"
assert_contains "$BODY" 'exportq_streams_active 0' "metrics: active streams"
assert_contains "$BODY" 'exportq_http_requests_total{code="200"}' "metrics: requests by status"
req GET /nope "$T1"
assert_eq 404 "$STATUS" "unknown route"
assert_eq not_found "$(jq -r .error.code <<<"$BODY")" "unknown route: JSON error"
req GET /v1/exports/abc "$T1"
assert_eq 404 "$STATUS" "non-numeric job id"
req PUT /v1/exports "$T1"
assert_eq 405 "$STATUS" "PUT /v1/exports"
assert_eq "GET, HEAD, POST" "$(hdr Allow)" "Allow of /v1/exports"
req POST /v1/exports/1 "$T1" -d '{}'
assert_eq 405 "$STATUS" "POST /v1/exports/1"
assert_eq "GET, HEAD, DELETE" "$(hdr Allow)" "Allow of /v1/exports/{id}"
ok "healthz, metrics, 404, 405 with Allow"

# ---- authentication ----------------------------------------------------------------
req GET /v1/exports ""
assert_eq 401 "$STATUS" "no token"
assert_contains "$(hdr WWW-Authenticate)" Bearer "WWW-Authenticate"
req GET /v1/exports "eqt_0000000000000000000000000000000000000000000000000000000000000000"
assert_eq 401 "$STATUS" "unknown token"
req GET /v1/exports "not-a-token"
assert_eq 401 "$STATUS" "malformed token"
req GET /v1/exports "$TR"
assert_eq 401 "$STATUS" "revoked token"
assert_eq unauthorized "$(jq -r .error.code <<<"$BODY")" "401 code"
ok "401: missing, unknown, malformed, revoked tokens"

# ---- refused requests write nothing ------------------------------------------------
before=$(jobs_count)
req POST /v1/exports "$T1" -d '{"kind": "user_activity",'
assert_eq 400 "$STATUS" "malformed JSON"
assert_eq invalid_json "$(jq -r .error.code <<<"$BODY")" "malformed JSON code"
req POST /v1/exports "$T1" -d '[1,2]'
assert_eq 400 "$STATUS" "JSON not an object"
req POST /v1/exports "$T1" -d '{"kind": "no_such_kind"}'
assert_eq 400 "$STATUS" "unknown kind"
assert_eq unknown_kind "$(jq -r .error.code <<<"$BODY")" "unknown kind code"
req POST /v1/exports "$T1" -d '{"kind": "user_activity", "params": [1]}'
assert_eq 400 "$STATUS" "params not an object"
assert_eq invalid_params "$(jq -r .error.code <<<"$BODY")" "params code"
req POST /v1/exports "$T1" -d '{"kind": "user_activity", "params": {"since": {"a": 1}}}'
assert_eq 400 "$STATUS" "non-scalar parameter"
req POST /v1/exports "$T1" -d '{"kind": "user_activity", "email": "not an address"}'
assert_eq 400 "$STATUS" "bad email"
assert_eq invalid_email "$(jq -r .error.code <<<"$BODY")" "email code"
req POST /v1/exports "$T1" -d '{"kind": "user_activity", "colour": "red"}'
assert_eq 400 "$STATUS" "unknown member"
head -c 70000 /dev/zero | tr '\0' 'a' | sed 's/^/{"kind":"user_activity","params":{"x":"/; s/$/"}}/' >"$T/big.json"
req POST /v1/exports "$T1" --data-binary @"$T/big.json" -H 'Content-Type: application/json'
assert_eq 413 "$STATUS" "oversize body (Content-Length)"
assert_eq body_too_large "$(jq -r .error.code <<<"$BODY")" "413 code"
req POST /v1/exports "$T1" --data-binary @"$T/big.json" -H 'Transfer-Encoding: chunked'
assert_eq 413 "$STATUS" "oversize body (chunked)"
assert_eq "$before" "$(jobs_count)" "no job written by refused requests"
ok "400 (malformed JSON, unknown kind, bad params, bad email), 413; nothing written"

# ---- create, owner binding, SQL stays data -----------------------------------------
evil="x'); DROP TABLE app.activity; --"
req POST /v1/exports "$T1" -H 'Content-Type: application/json' \
  -d "$(jq -nc --arg e "$evil" '{kind: "user_activity", params: {event: $e, owner: "api-u2"}, email: "u1@example.test"}')"
assert_eq 202 "$STATUS" "create"
id1=$(jq -r .id <<<"$BODY")
assert_eq "/v1/exports/$id1" "$(hdr Location)" "Location"
assert_eq queued "$(jq -r .state <<<"$BODY")" "state queued"
assert_eq 1 "$(jq -r .position <<<"$BODY")" "position"
assert_eq api-u1 "$(jq -r .owner <<<"$BODY")" "owner from the token"
assert_eq api-u1 "$(psql_q "SELECT params->>'owner' FROM exportq.jobs WHERE id = $id1")" "params.owner bound to the token's owner"
assert_eq "$evil" "$(psql_q "SELECT params->>'event' FROM exportq.jobs WHERE id = $id1")" "SQL in a parameter stored as data"
assert_eq 1 "$(psql_q "SELECT count(*) FROM pg_tables WHERE schemaname = 'app' AND tablename = 'activity'")" "app.activity still there"
ok "202 with Location; owner bound; SQL in a parameter stays data"

# ---- Idempotency-Key ---------------------------------------------------------------
req POST /v1/exports "$T1" -H 'Idempotency-Key: order-77' -d '{"kind": "user_activity"}'
assert_eq 202 "$STATUS" "idempotent create"
idk=$(jq -r .id <<<"$BODY")
req POST /v1/exports "$T1" -H 'Idempotency-Key: order-77' -d '{"kind": "user_activity"}'
assert_eq 202 "$STATUS" "idempotent repeat"
assert_eq "$idk" "$(jq -r .id <<<"$BODY")" "same job on repeat"
assert_eq 1 "$(psql_q "SELECT count(*) FROM exportq.jobs WHERE idempotency_key = 'order-77'")" "one row for the key"
req POST /v1/exports "$T2" -H 'Idempotency-Key: order-77' -d '{"kind": "user_activity"}'
assert_eq 202 "$STATUS" "same key, other owner"
[ "$(jq -r .id <<<"$BODY")" != "$idk" ] || fail "another owner's key must not return u1's job"
id_u2=$(jq -r .id <<<"$BODY")
req POST /v1/exports "$T1" -H 'Idempotency-Key: bad key with spaces' -d '{"kind": "user_activity"}'
assert_eq 400 "$STATUS" "malformed Idempotency-Key"
ok "Idempotency-Key returns the same job; scoped per owner"

# ---- get, owner scoping ------------------------------------------------------------
req GET "/v1/exports/$id1" "$T1"
assert_eq 200 "$STATUS" "get own job"
assert_eq "$id1" "$(jq -r .id <<<"$BODY")" "get: id"
for f in state position rows bytes attempts last_error created_at started_at finished_at expires_at; do
  jq -e "has(\"$f\")" <<<"$BODY" >/dev/null || fail "get: field $f missing"
done
req GET "/v1/exports/$id1" "$T2"
assert_eq 404 "$STATUS" "another owner's job is 404"
req GET "/v1/exports/$id1/download" "$T2"
assert_eq 404 "$STATUS" "another owner's download is 404"
req DELETE "/v1/exports/$id1" "$T2"
assert_eq 404 "$STATUS" "another owner's cancel is 404"
assert_eq queued "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id1")" "not cancelled by another owner"
req GET /v1/exports/999999 "$T1"
assert_eq 404 "$STATUS" "unknown job"
ok "GET /v1/exports/{id}; another owner's job is 404 (get, download, delete)"

# ---- list, pagination --------------------------------------------------------------
for i in 1 2 3; do
  req POST /v1/exports "$T1" -d '{"kind": "user_activity"}'
  assert_eq 202 "$STATUS" "create $i"
done
want=$(psql_q "SELECT string_agg(id::text, ' ' ORDER BY id DESC) FROM exportq.jobs WHERE owner = 'api-u1'")
req GET "/v1/exports?limit=2" "$T1"
assert_eq 200 "$STATUS" "list page 1"
got=$(jq -r '[.exports[].id] | join(" ")' <<<"$BODY")
cursor=$(jq -r .next_cursor <<<"$BODY")
[ "$cursor" != null ] || fail "page 1 has a next_cursor"
all=$got
while [ "$cursor" != null ]; do
  req GET "/v1/exports?limit=2&cursor=$cursor" "$T1"
  assert_eq 200 "$STATUS" "list next page"
  got=$(jq -r '[.exports[].id] | join(" ")' <<<"$BODY")
  [ -n "$got" ] && all="$all $got"
  cursor=$(jq -r .next_cursor <<<"$BODY")
done
assert_eq "$want" "$all" "all of u1's jobs, newest first, across pages"
req GET /v1/exports "$T2"
assert_eq "$id_u2" "$(jq -r '[.exports[].id] | join(" ")' <<<"$BODY")" "u2 sees only its own job"
req GET "/v1/exports?limit=0" "$T1"
assert_eq 400 "$STATUS" "limit=0"
req GET "/v1/exports?cursor=zz" "$T1"
assert_eq 400 "$STATUS" "bad cursor"
ok "GET /v1/exports: owner's jobs, newest first, paginated"

# ---- download: 409 not ready, 302 to a presigned link, 410 expired -----------------
req GET "/v1/exports/$id1/download" "$T1"
assert_eq 409 "$STATUS" "download while queued"
assert_eq not_ready "$(jq -r .error.code <<<"$BODY")" "409 code"
# A finished export: the object in the real S3 and the job row as a worker leaves it.
printf 'id,title\n1,hello\n' >"$T/object.csv"
key="exports/api-u1/$idk-test/activity.csv"
s3_put_file "$key" "$T/object.csv"
psql_q "UPDATE exportq.jobs SET state = 'succeeded', object_key = '$key', rows = 1, bytes = 17,
          started_at = now(), finished_at = now(), expires_at = now() + interval '1 day' WHERE id = $idk" >/dev/null
req GET "/v1/exports/$idk/download" "$T1"
assert_eq 302 "$STATUS" "download succeeded export"
loc=$(hdr Location)
assert_contains "$loc" "X-Amz-Signature=" "Location is a presigned URL"
curl -sS -f -o "$T/downloaded.csv" "$loc" || fail "S3 refused the presigned link"
assert_eq "$(sha256_of "$T/object.csv")" "$(sha256_of "$T/downloaded.csv")" "downloaded bytes = object"
req GET "/v1/exports/$idk" "$T1"
assert_eq succeeded "$(jq -r .state <<<"$BODY")" "state succeeded"
url=$(jq -r .download_url <<<"$BODY")
curl -sS -f -o "$T/downloaded2.csv" "$url" || fail "download_url of GET /v1/exports/{id} works"
assert_eq "$(sha256_of "$T/object.csv")" "$(sha256_of "$T/downloaded2.csv")" "download_url bytes"
grep -q "X-Amz-Signature" "$SERVE_LOG" && fail "a presigned signature reached the log"
psql_q "UPDATE exportq.jobs SET expires_at = now() - interval '1 second' WHERE id = $idk" >/dev/null
req GET "/v1/exports/$idk/download" "$T1"
assert_eq 410 "$STATUS" "download past retention"
psql_q "UPDATE exportq.jobs SET state = 'expired' WHERE id = $idk" >/dev/null
req GET "/v1/exports/$idk/download" "$T1"
assert_eq 410 "$STATUS" "download of an expired export"
assert_eq expired "$(jq -r .error.code <<<"$BODY")" "410 code"
ok "download: 409 not ready, 302 to a presigned URL S3 accepts, 410 expired"

# ---- cancel ------------------------------------------------------------------------
req DELETE "/v1/exports/$id1" "$T1"
assert_eq 200 "$STATUS" "cancel"
assert_eq cancelled "$(jq -r .state <<<"$BODY")" "cancelled in the answer"
assert_eq cancelled "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id1")" "cancelled in the queue"
req DELETE "/v1/exports/$id1" "$T1"
assert_eq 409 "$STATUS" "cancel twice"
assert_eq already_finished "$(jq -r .error.code <<<"$BODY")" "cancel twice: code"
req GET "/v1/exports/$id1/download" "$T1"
assert_eq 410 "$STATUS" "download of a cancelled export (DESIGN: 410)"
assert_eq not_available "$(jq -r .error.code <<<"$BODY")" "download of a cancelled export: code"
ok "DELETE cancels; 409 already_finished once finished; its download 410 not_available"

# ---- retry (a cancelled job queued again) and revoke (a succeeded job's file gone) ----
req GET "/v1/exports/$id1/retry" "$T1"
assert_eq 405 "$STATUS" "GET .../retry"
assert_eq POST "$(hdr Allow)" "Allow of /v1/exports/{id}/retry"
req POST "/v1/exports/$id1/retry" "$T2"
assert_eq 404 "$STATUS" "another owner's retry is 404"
assert_eq cancelled "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id1")" "not retried by another owner"
req POST "/v1/exports/$id1/retry" "$T1"
assert_eq 200 "$STATUS" "retry of a cancelled export"
assert_eq queued "$(jq -r .state <<<"$BODY")" "retried: queued in the answer"
[[ $(jq -r .position <<<"$BODY") =~ ^[1-9][0-9]*$ ]] || fail "retried: a position ($(jq -c .position <<<"$BODY"))"
assert_eq queued "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id1")" "retried: queued in the queue"
req POST "/v1/exports/$id1/retry" "$T1"
assert_eq 409 "$STATUS" "retry of a queued export"
assert_eq not_retryable "$(jq -r .error.code <<<"$BODY")" "retry of a queued export: code"
req POST "/v1/exports/999999/retry" "$T1"
assert_eq 404 "$STATUS" "retry of an unknown export"
# revoke: a succeeded export whose object is in the real S3
req POST /v1/exports "$T1" -d '{"kind": "user_activity"}'
assert_eq 202 "$STATUS" "create the export to revoke"
idv=$(jq -r .id <<<"$BODY")
keyv="exports/api-u1/$idv-test/activity.csv"
s3_put_file "$keyv" "$T/object.csv"
psql_q "UPDATE exportq.jobs SET state = 'succeeded', object_key = '$keyv', rows = 1, bytes = 17,
          started_at = now(), finished_at = now(), expires_at = now() + interval '1 day' WHERE id = $idv" >/dev/null
req GET "/v1/exports/$idv" "$T1"
presigned=$(jq -r .download_url <<<"$BODY")
curl -sS -f -o /dev/null "$presigned" || fail "the link works before the revoke"
req DELETE "/v1/exports/$idv" "$T2"
assert_eq 404 "$STATUS" "another owner's revoke is 404"
code=$(s3_curl HEAD "/$EXPORTQ_S3_BUCKET/$keyv" -o /dev/null -w '%{http_code}' -I) || true
assert_eq 200 "$code" "the object stays after another owner's revoke"
req POST "/v1/exports/$idv/retry" "$T1"
assert_eq 409 "$STATUS" "retry of a succeeded export"
req DELETE "/v1/exports/$idv" "$T1"
assert_eq 200 "$STATUS" "revoke of a succeeded export"
assert_eq expired "$(jq -r .state <<<"$BODY")" "revoked: expired in the answer"
assert_eq expired "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $idv")" "revoked: expired in the queue"
code=$(s3_curl HEAD "/$EXPORTQ_S3_BUCKET/$keyv" -o /dev/null -w '%{http_code}' -I) || true
assert_eq 404 "$code" "revoked: the object is deleted"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$presigned") || true
assert_eq 404 "$code" "revoked: the presigned link no longer downloads"
req GET "/v1/exports/$idv/download" "$T1"
assert_eq 410 "$STATUS" "revoked: download 410"
req DELETE "/v1/exports/$idv" "$T1"
assert_eq 409 "$STATUS" "revoke twice"
assert_eq already_finished "$(jq -r .error.code <<<"$BODY")" "revoke twice: code"
ok "POST .../retry queues a cancelled job again (404 for another owner, 409 otherwise); DELETE revokes a succeeded job (object deleted, links dead)"

req GET /metrics ""
for st in queued expired; do
  n=$(psql_q "SELECT count(*) FROM exportq.jobs WHERE state = '$st'")
  assert_contains "$BODY" "exportq_jobs{state=\"$st\"} $n" "metrics: $st jobs counted"
done
[ "$(psql_q "SELECT count(*) FROM exportq.jobs WHERE state = 'expired'")" -ge 2 ] || fail "the revoked job is expired"
assert_contains "$BODY" 'exportq_http_requests_total{code="404"}' "metrics: 404s counted"
ok "metrics follow the queue"

serve_stop
assert_eq 0 "$SERVE_RC" "serve exits 0 on SIGTERM"

# ---- rate limit --------------------------------------------------------------------
serve_start EXPORTQ_RATE_LIMIT=3
for i in 1 2 3; do
  req GET /v1/exports "$T1"
  assert_eq 200 "$STATUS" "request $i within the limit"
done
req GET /v1/exports "$T1"
assert_eq 429 "$STATUS" "4th request in a minute"
assert_eq rate_limited "$(jq -r .error.code <<<"$BODY")" "429 code"
ra=$(hdr Retry-After)
[[ $ra =~ ^[0-9]+$ ]] && [ "$ra" -ge 1 ] && [ "$ra" -le 60 ] || fail "Retry-After '$ra'"
before=$(jobs_count)
req POST /v1/exports "$T1" -d '{"kind": "user_activity"}'
assert_eq 429 "$STATUS" "POST over the limit"
assert_eq "$before" "$(jobs_count)" "nothing written over the limit"
req GET /v1/exports "$T2"
assert_eq 200 "$STATUS" "another token has its own bucket"
serve_stop
ok "rate limit per token: 429 with Retry-After"

# ---- database down: 503 ------------------------------------------------------------
dead_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
serve_start "EXPORTQ_DATABASE_URL=postgresql://exportq@127.0.0.1:$dead_port/none?connect_timeout=2"
req GET /healthz ""
assert_eq 503 "$STATUS" "healthz with the database down"
req GET /v1/exports "$T1"
assert_eq 503 "$STATUS" "API with the database down"
assert_eq unavailable "$(jq -r .error.code <<<"$BODY")" "503 code"
[ -n "$(hdr Retry-After)" ] || fail "503 has Retry-After"
serve_stop
ok "503 when the database is down"

for t in "$T1" "$T2" "$TR"; do
  grep -q "$t" "$(tmpdir)"/serve.*.log && fail "a token reached the server log"
done
ok "no token in the logs"
