#!/usr/bin/env bash
# http_stream.sh - GET /v1/stream/{kind} of `exportq serve` with curl against the
# real PostgreSQL: bytes equal psql's COPY, gzip, the kind's options, parameters
# stay data and the owner is the token's, errors before and after the headers,
# the stream cap (429 without a new database connection), the query cancelled
# when the client goes away (before the first row, while waiting for rows, and
# while the database is blocked on a slow client), bounded memory, and the
# SIGTERM drain.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"

T=$(tmpdir)
http_db_setup eqhttp_stream
assert_eq 20000 "$(psql_q "SELECT app.seed_activity('u1', 20000)")" "seeded u1"
assert_eq 300000 "$(psql_q "SELECT app.seed_activity('big', 300000)")" "seeded big"
# slow kinds: one row every 0.2 s (rows of ~10 kB: PostgreSQL sends COPY data in
# 8 kB buffers); and a query that sleeps 30 s before its first row
psql_q "CREATE OR REPLACE FUNCTION app.http_slow(params jsonb) RETURNS TABLE (i integer, pad text)
        LANGUAGE sql STABLE AS \$\$
          SELECT g, repeat(md5(g::text), 300) || pg_sleep(0.2)::text
            FROM generate_series(1, coalesce((params->>'n')::int, 100000)) AS g \$\$;
        CREATE OR REPLACE FUNCTION app.http_sleepy(params jsonb) RETURNS TABLE (i integer)
        LANGUAGE sql STABLE AS \$\$
          SELECT g FROM generate_series(1, 3) AS g WHERE (SELECT pg_sleep(30)::text = '') \$\$;
        SELECT exportq.define_kind('http_slow', 'app.http_slow');
        SELECT exportq.define_kind('http_sleepy', 'app.http_sleepy');" >/dev/null
TU1=$(token_for u1)
TTR=$(token_for tricky)
TBIG=$(token_for big)
ok "database ready"

copy_ref() {  # copy_ref PARAMS_JSON: what psql's COPY of the export function gives
  psql -XAtq -v ON_ERROR_STOP=1 -c \
    "COPY (SELECT * FROM app.export_user_activity('$1'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)"
}
guard_ref() {  # the formula guard's expected output, computed by PostgreSQL
  # a signed plain number (-420.81) is a number, not a formula: left alone
  local g="CASE WHEN v ~ '^[-=+@\t\r]' AND NOT (length(v) <= 64 AND v ~ '^[-+]([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\$') THEN '''' || v ELSE v END"
  psql -XAtq -v ON_ERROR_STOP=1 -c "COPY (SELECT
      (SELECT $g FROM (SELECT id::text) s(v)) AS id, (SELECT $g FROM (SELECT updated::text) s(v)) AS updated,
      (SELECT $g FROM (SELECT event) s(v)) AS event, (SELECT $g FROM (SELECT title) s(v)) AS title,
      (SELECT $g FROM (SELECT amount::text) s(v)) AS amount, (SELECT $g FROM (SELECT tags) s(v)) AS tags,
      (SELECT $g FROM (SELECT ip) s(v)) AS ip
    FROM app.export_user_activity('$1'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)"
}
# stream TOKEN PATH OUT [curl args]: GET, body to OUT, headers to OUT.hdrs; prints the status
stream() {
  local token=$1 path=$2 out=$3
  shift 3
  curl -sS --max-time 120 -H "Authorization: Bearer $token" -D "$out.hdrs" -o "$out" -w '%{http_code}' "$@" "$URL$path"
}
h() { grep -i "^$1:" "$2.hdrs" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'; }

serve_start EXPORTQ_MAX_STREAMS=2

# ---- bytes -------------------------------------------------------------------------
for owner in tricky u1 big; do
  copy_ref "{\"owner\":\"$owner\"}" >"$T/ref_$owner.csv"
done
assert_eq 200 "$(stream "$TTR" /v1/stream/user_activity_raw "$T/tricky.csv")" "stream tricky"
hwm0=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
assert_eq "$(sha256_of "$T/ref_tricky.csv")" "$(sha256_of "$T/tricky.csv")" "tricky values byte-equal to psql COPY"
assert_eq "text/csv; charset=utf-8" "$(h Content-Type "$T/tricky.csv")" "Content-Type"
assert_contains "$(h Content-Disposition "$T/tricky.csv")" 'attachment; filename="activity.csv"' "Content-Disposition"
assert_eq chunked "$(h Transfer-Encoding "$T/tricky.csv")" "chunked"
[ -z "$(h Content-Encoding "$T/tricky.csv")" ] || fail "no Content-Encoding without Accept-Encoding"
assert_eq 200 "$(stream "$TBIG" /v1/stream/user_activity_raw "$T/big.csv")" "stream big"
assert_eq "$(sha256_of "$T/ref_big.csv")" "$(sha256_of "$T/big.csv")" "300000 rows byte-equal to psql COPY"
ok "streamed CSV byte-equal to psql's COPY ($(stat -c %s "$T/big.csv") bytes)"

# memory does not follow the export's size: the peak RSS grows by less than
# 8 MiB over a 23 MiB stream (skipped under ASan, whose quarantine keeps freed rows)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
if is_sanitized; then
  ok "# skip peak RSS check under ASan (${hwm} KiB)"
else
  [ $((hwm - hwm0)) -lt $((8 * 1024)) ] \
    || fail "serve's peak RSS grew from ${hwm0} to ${hwm} KiB streaming $(stat -c %s "$T/big.csv") bytes"
  ok "peak RSS ${hwm0} -> ${hwm} KiB over a $(($(stat -c %s "$T/big.csv") / 1024 / 1024)) MiB stream"
fi

# ---- gzip --------------------------------------------------------------------------
assert_eq 200 "$(stream "$TU1" /v1/stream/user_activity_raw "$T/u1.gz" -H 'Accept-Encoding: gzip')" "gzip stream"
assert_eq gzip "$(h Content-Encoding "$T/u1.gz")" "Content-Encoding: gzip"
gzip -t "$T/u1.gz" || fail "a complete gzip member"
gzip -dc "$T/u1.gz" >"$T/u1_from_gz.csv"
assert_eq "$(sha256_of "$T/ref_u1.csv")" "$(sha256_of "$T/u1_from_gz.csv")" "gzip decompresses to psql's bytes"
assert_eq 200 "$(stream "$TU1" /v1/stream/user_activity_raw "$T/u1q0.csv" -H 'Accept-Encoding: gzip;q=0, identity')" "q=0"
[ -z "$(h Content-Encoding "$T/u1q0.csv")" ] || fail "gzip;q=0 refuses gzip"
assert_eq "$(sha256_of "$T/ref_u1.csv")" "$(sha256_of "$T/u1q0.csv")" "identity bytes"
# a gzip kind (gzip + BOM): gzip whatever the client says; the saved file is the CSV
assert_eq 200 "$(stream "$TU1" /v1/stream/user_activity_gz "$T/kindgz")" "gzip kind"
assert_eq gzip "$(h Content-Encoding "$T/kindgz")" "gzip kind: Content-Encoding"
assert_contains "$(h Content-Disposition "$T/kindgz")" 'filename="activity.csv"' "gzip kind: file name"
{ printf '\357\273\277'; cat "$T/ref_u1.csv"; } >"$T/ref_u1_bom.csv"
gzip -dc "$T/kindgz" >"$T/kindgz.csv"
assert_eq "$(sha256_of "$T/ref_u1_bom.csv")" "$(sha256_of "$T/kindgz.csv")" "gzip kind = BOM + psql's bytes"
ok "gzip: Accept-Encoding honoured (q=0 too), gzip kinds, decompresses to the same bytes"

# ---- kind options, parameters, owner ------------------------------------------------
guard_ref '{"owner":"tricky"}' >"$T/ref_guard.csv"
assert_eq 200 "$(stream "$TTR" /v1/stream/user_activity "$T/guard.csv")" "guarded kind"
assert_eq "$(sha256_of "$T/ref_guard.csv")" "$(sha256_of "$T/guard.csv")" "formula guard as computed by PostgreSQL"
assert_eq 200 "$(stream "$TU1" "/v1/stream/user_activity_raw?since=2024-12-31T00:00:00Z&event=login" "$T/f.csv")" "params"
copy_ref '{"owner":"u1","since":"2024-12-31T00:00:00Z","event":"login"}' >"$T/ref_f.csv"
assert_eq "$(sha256_of "$T/ref_f.csv")" "$(sha256_of "$T/f.csv")" "since/event parameters"
[ "$(wc -l <"$T/f.csv")" -gt 1 ] || fail "the filtered export has rows"
assert_eq 200 "$(stream "$TTR" "/v1/stream/user_activity_raw?owner=u1" "$T/own.csv")" "owner in the query"
assert_eq "$(sha256_of "$T/ref_tricky.csv")" "$(sha256_of "$T/own.csv")" "owner is the token's, whatever the query says"
evil="x'); DROP TABLE app.activity; --"
enc=$(jq -rn --arg v "$evil" '$v|@uri')
assert_eq 200 "$(stream "$TTR" "/v1/stream/user_activity_raw?event=$enc" "$T/evil.csv")" "SQL in a parameter"
copy_ref "$(jq -nc --arg e "$evil" '{owner: "tricky", event: $e}' | sed "s/'/''/g")" >"$T/ref_evil.csv"
assert_eq "$(sha256_of "$T/ref_evil.csv")" "$(sha256_of "$T/evil.csv")" "SQL in a parameter is matched as data"
assert_eq 2 "$(wc -l <"$T/evil.csv")" "header + the one row whose event is that text"
assert_eq 320020 "$(psql_q "SELECT count(*) FROM app.activity")" "app.activity intact"
ok "kind options, parameters as data, owner bound to the token"

# ---- errors before the headers: JSON; after them: no clean end ----------------------
code=$(stream "$TU1" "/v1/stream/user_activity_raw?since=not-a-date" "$T/e1")
assert_eq 400 "$code" "a parameter the kind's function refuses"
assert_eq export_failed "$(jq -r .error.code "$T/e1")" "400 code"
assert_contains "$(jq -r .error.message "$T/e1")" "not-a-date" "PostgreSQL's message"
assert_eq 400 "$(stream "$TU1" "/v1/stream/user_activity_raw?a-b=1" "$T/e2")" "bad parameter name"
assert_eq 400 "$(stream "$TU1" "/v1/stream/no_such_kind" "$T/e3")" "unknown kind"
assert_eq unknown_kind "$(jq -r .error.code "$T/e3")" "unknown kind code"
assert_eq 401 "$(stream "" /v1/stream/user_activity_raw "$T/e4")" "no token"
rc=0
curl -sS --max-time 60 -H "Authorization: Bearer $TU1" -o "$T/mid.csv" "$URL/v1/stream/fail_midway" 2>"$T/mid.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a stream failing midway must not end cleanly (curl exit 0)"
[ "$(wc -l <"$T/mid.csv")" -ge 1000 ] || fail "fail_midway sent rows before failing"
grep -q "stream failed" "$SERVE_LOG" || fail "the failure is logged"
ok "errors: 400 JSON before the headers; a failure midway ends the body abnormally (curl exit $rc)"

# ---- the cap, and cancellation on disconnect -----------------------------------------
assert_eq 0 "$(stream_backends)" "no stream connection left"
curl -sS -N -H "Authorization: Bearer $TU1" -o "$T/slow1.csv" "$URL/v1/stream/http_slow" 2>/dev/null &
s1=$!
curl -sS -N -H "Authorization: Bearer $TU1" -o "$T/slow2.csv" "$URL/v1/stream/http_slow" 2>/dev/null &
s2=$!
on_exit "kill $s1 $s2 2>/dev/null"
wait_for '[ "$(stream_backends)" = 2 ] && [ -s "$T/slow1.csv" ] && [ -s "$T/slow2.csv" ]' 20 \
  || fail "two slow streams running"
assert_eq 429 "$(stream "$TU1" /v1/stream/user_activity_raw "$T/capped")" "third stream at the cap"
assert_eq too_many_streams "$(jq -r .error.code "$T/capped")" "429 code"
[[ "$(h Retry-After "$T/capped")" =~ ^[0-9]+$ ]] || fail "429 has Retry-After"
assert_eq 2 "$(stream_backends)" "no database connection for the refused stream"
req GET /metrics ""
assert_contains "$BODY" "exportq_streams_active 2" "metrics: active streams"
assert_contains "$BODY" "exportq_streams_rejected_total 1" "metrics: rejected streams"
ok "cap: the 3rd stream is 429 with Retry-After at once, without a database connection"

kill "$s1" "$s2"
wait "$s1" "$s2" 2>/dev/null || true
wait_for '[ "$(stream_backends)" = 0 ]' 5 || fail "queries still running after the clients left"
assert_eq 200 "$(stream "$TU1" "/v1/stream/http_slow?n=2" "$T/after.csv")" "a stream again below the cap"
assert_eq 3 "$(wc -l <"$T/after.csv")" "header + 2 rows"
ok "client gone while waiting for rows: query cancelled, connection released"

rc=0
curl -sS --max-time 1 -H "Authorization: Bearer $TU1" -o /dev/null "$URL/v1/stream/http_sleepy" 2>/dev/null || rc=$?
assert_eq 28 "$rc" "curl gave up before the first row"
wait_for '[ "$(stream_backends)" = 0 ]' 5 || fail "query still running after the client left before the first row"
ok "client gone before the first row: query cancelled (the query would have slept 30 s)"

curl -sS --limit-rate 50k -H "Authorization: Bearer $TBIG" -o /dev/null "$URL/v1/stream/user_activity_raw" 2>/dev/null &
s3=$!
on_exit "kill $s3 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'exportq-stream' AND wait_event = 'ClientWrite'\")\" = 1 ]" 30 \
  || fail "the database waits on the slow client (backpressure)"
kill "$s3"
wait "$s3" 2>/dev/null || true
wait_for '[ "$(stream_backends)" = 0 ]' 5 || fail "query still running after the slow client left"
ok "backpressure: the database blocks on a slow client; cancelled when it leaves"

req GET /metrics ""
assert_contains "$BODY" 'exportq_stream_exports_total{outcome="cancelled"} 4' "metrics: cancelled streams"
assert_contains "$BODY" 'exportq_stream_exports_total{outcome="error"}' "metrics: failed streams"
assert_contains "$BODY" "exportq_streams_active 0" "metrics: no active stream"
serve_stop
assert_eq 0 "$SERVE_RC" "serve exits 0"

# ---- SIGTERM drain ---------------------------------------------------------------------
serve_start EXPORTQ_DRAIN_SECONDS=60
curl -sS -N -H "Authorization: Bearer $TU1" -o "$T/drain.csv" "$URL/v1/stream/http_slow?n=15" 2>"$T/drain.err" &
s4=$!
wait_for '[ -s "$T/drain.csv" ]' 10 || fail "drain stream started"
kill -TERM "$SERVE_PID"
wait_for "grep -q 'stopping: no new connections' '$SERVE_LOG'" 5 || fail "drain begins"
rc=0
curl -sS --max-time 5 -o /dev/null "$URL/healthz" 2>/dev/null || rc=$?
assert_eq 7 "$rc" "no new connections while draining"
wait "$s4" || fail "the running stream finished: $(cat "$T/drain.err")"
assert_eq 16 "$(wc -l <"$T/drain.csv")" "the whole stream (header + 15 rows) during the drain"
SERVE_RC=0
wait "$SERVE_PID" || SERVE_RC=$?
assert_eq 0 "$SERVE_RC" "serve exits 0 after the drain"
ok "SIGTERM: stops accepting, lets the stream finish, exits 0"

serve_start EXPORTQ_DRAIN_SECONDS=1
curl -sS -N -H "Authorization: Bearer $TU1" -o "$T/cut.csv" "$URL/v1/stream/http_slow" 2>/dev/null &
s5=$!
wait_for '[ -s "$T/cut.csv" ]' 10 || fail "endless stream started"
serve_stop
assert_eq 0 "$SERVE_RC" "serve exits 0 after the drain time"
rc=0
wait "$s5" || rc=$?
[ "$rc" -ne 0 ] || fail "a stream cut by the drain must not end cleanly"
wait_for '[ "$(stream_backends)" = 0 ]' 5 || fail "query still running after serve stopped"
ok "SIGTERM: a stream still running after EXPORTQ_DRAIN_SECONDS is cut (curl exit $rc), its query cancelled"
