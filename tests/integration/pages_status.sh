#!/usr/bin/env bash
# pages_status.sh - the status page GET /exports/{id}?t=TOKEN (the status_url
# of a job) in Debian's headless Chromium (tests/integration/pages_browser.py)
# against the real serve, worker, PostgreSQL and S3: it goes queued ->
# running -> succeeded by itself (data-state watched, no reload), its
# download button yields bytes equal to psql's COPY, its cancel button
# cancels in place, and a tampered, foreign or missing token shows a 404
# page with nothing about the job; strict CSP (script by hash), no-JS
# fallback. Then, without a browser: the JSON it polls (ETag/304, one query
# a second per job), 410 once the link expired, the CSRF token of the cancel
# form, and no token in the log.
# Screenshots: $EXPORTQ_TEST_OUTPUT (default ./test-output)/pages_status/.
# Exit 77 when chromium or python3-websocket is missing.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"

command -v chromium >/dev/null || { echo "# SKIP: chromium is not installed"; exit 77; }
/usr/bin/python3 -c 'import websocket' 2>/dev/null || { echo "# SKIP: python3-websocket is not installed"; exit 77; }

OUT="${EXPORTQ_TEST_OUTPUT:-$PWD/test-output}/pages_status"
mkdir -p "$OUT"
rm -rf "$OUT/downloads"
T=$(tmpdir)
http_db_setup eqpages_status
define_slow_kind
T1=$(token_for u1)
PORT=$(free_port)
SECRET=$(openssl rand -hex 32)
serve_start EXPORTQ_HTTP_LISTEN="127.0.0.1:$PORT" EXPORTQ_PUBLIC_URL="http://127.0.0.1:$PORT" \
  EXPORTQ_LINK_SECRET="$SECRET"

enq() { # JSON -> the 202 body
  req POST /v1/exports "$T1" -d "$1"
  [ "$STATUS" = 202 ] || fail "enqueue $1: $STATUS $BODY"
  echo "$BODY"
}
body=$(enq '{"kind": "slow", "params": {"rows": 60000, "pause": 2}}')
id=$(jq -r .id <<<"$body")
surl=$(jq -r .status_url <<<"$body")
assert_contains "$surl" "http://127.0.0.1:$PORT/exports/$id?t=" "the 202 body has the status_url"
psql -XAtq -d "$EXPORTQ_DATABASE_URL" -c \
  "\\copy (SELECT * FROM app.slow_rows('{\"rows\": 60000, \"pause\": 0}'::jsonb)) TO '$T/expected.csv' WITH (FORMAT csv, HEADER)" \
  || fail "psql COPY"
ok "job $id queued; psql's COPY of it: $(stat -c %s "$T/expected.csv") bytes"

# without a browser first: what a page without script gets
html=$(curl -sS "$surl")
assert_contains "$html" '<meta http-equiv="refresh" content="10">' "noscript refresh"
assert_contains "$html" 'data-state="queued"' "server-rendered state"
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/exports/$id?t=x")
assert_eq 404 "$code" "a malformed token"
ok "the page is complete without script"

worker_cmd="exec env EXPORTQ_DRAIN_SECONDS=0 '$EXPORTQ_BIN' worker --concurrency 1"
enqueue_cmd="curl -sS -H 'Authorization: Bearer $T1' -d '{\"kind\": \"slow\", \"params\": {\"rows\": 2000000, \"pause\": 1}}' $URL/v1/exports | jq -r .status_url"
rc=0
/usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/integration/pages_browser.py" status "$URL" "$OUT" "$surl" \
  "$T/expected.csv" "$enqueue_cmd" "$worker_cmd" || rc=$?
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || fail "the browser checks failed (chromium log: $(tail -3 "$OUT/chromium.log" 2>/dev/null))"
for f in status-queued status-running status-succeeded status-cancelled status-404; do
  [ -s "$OUT/$f.png" ] || fail "no screenshot $f.png"
done

# ---- the JSON it polls ---------------------------------------------------------------------
jurl="${surl/\/exports\/$id?/\/exports\/$id\/status?}"
curl -sS -D "$T/h1" -o "$T/j1" "$jurl" || fail "status JSON"
assert_eq succeeded "$(jq -r .state "$T/j1")" "JSON state"
assert_eq 0 "$(jq -r .poll_after "$T/j1")" "final: poll_after 0"
etag=$(grep -i '^etag:' "$T/h1" | sed 's/^[^:]*: *//' | tr -d '\r')
[ -n "$etag" ] || fail "no ETag"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$jurl")
assert_eq 304 "$code" "unchanged: 304"
# one status query a second per job, however many pages poll: 200 polls in a burst
calls() { psql_q "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'progress'"; }
psql_q "ALTER DATABASE eqpages_status SET track_functions = 'pl'" >/dev/null
serve_stop
serve_start EXPORTQ_HTTP_LISTEN="127.0.0.1:$PORT" EXPORTQ_PUBLIC_URL="http://127.0.0.1:$PORT" \
  EXPORTQ_LINK_SECRET="$SECRET"
before=$(calls)
start=$(date +%s%N)
seq 200 | xargs -P 20 -I{} curl -sS -o /dev/null "$jurl"
secs=$(( ($(date +%s%N) - start + 999999999) / 1000000000 ))
sleep 1
after=$(calls)
# about one a second (window edges and the statistics' flush can add one a
# second more); without the cache it is one per poll: 200
[ $((after - before)) -le $((2 * secs + 2)) ] && [ $((after - before)) -lt 100 ] \
  || fail "200 polls cost $((after - before)) status queries in ${secs}s"
ok "status JSON: ETag and 304, poll_after 0 once final; 200 polls in ${secs}s cost $((after - before)) status queries"

# ---- 410 once the link expired; CSRF of the cancel form ------------------------------------
psql_q "UPDATE exportq.jobs SET link_expires_at = now() - interval '1 second' WHERE id = $id" >/dev/null
sleep 1.1
code=$(curl -sS -o "$T/gone.html" -w '%{http_code}' "$surl")
assert_eq 410 "$code" "an expired link"
assert_contains "$(cat "$T/gone.html")" "expired" "the 410 page says so"
body=$(enq '{"kind": "slow", "params": {"rows": 2000000, "pause": 1}}')
id2=$(jq -r .id <<<"$body")
surl2=$(jq -r .status_url <<<"$body")
curl2="${surl2/\/exports\/$id2?/\/exports\/$id2\/cancel?}"
code=$(curl -sS -o /dev/null -w '%{http_code}' -d 'csrf=0000' "$curl2")
assert_eq 303 "$code" "a cancel with a wrong CSRF token"
assert_eq queued "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id2")" "... cancels nothing"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$curl2")
assert_eq queued "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id2")" "a cancel without a CSRF token cancels nothing"
ok "410 once the link expired; the cancel form needs its CSRF token"

for f in "$SERVE_LOG" "$OUT/worker.log"; do
  ! grep -q -- "${surl##*t=}" "$f" || fail "a link token appears in $(basename "$f")"
done
ok "no link token in the logs; screenshots in $OUT"
