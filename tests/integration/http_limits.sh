#!/usr/bin/env bash
# http_limits.sh - what one client cannot take from the others in `exportq serve`
# (issue 10, items 4, 6 and 11), against the real PostgreSQL:
#   - 2,000 idle connections with half-sent headers: /healthz still answers;
#     the header phase times out; the per-IP limit applies when set;
#   - one owner at EXPORTQ_MAX_STREAMS_PER_OWNER gets 429, another owner 200;
#   - /healthz answers while every API thread waits on the database;
#   - /metrics: counts follow the queue (from counters, not a scan) and
#     EXPORTQ_METRICS_TOKEN guards it;
#   - the rate limit comes before authentication (no query for a limited token);
#   - Accept-Encoding: identity (or gzip;q=0) beats a gzip kind;
#   - an Idempotency-Key reused with another body is 422.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"

T=$(tmpdir)
http_db_setup eqhttp_limits
assert_eq 2000 "$(psql_q "SELECT app.seed_activity('lim-a', 2000)")" "seeded lim-a"
psql_q "CREATE OR REPLACE FUNCTION app.http_slow(params jsonb) RETURNS TABLE (i integer, pad text)
        LANGUAGE sql STABLE AS \$\$
          SELECT g, repeat(md5(g::text), 300) || pg_sleep(0.2)::text
            FROM generate_series(1, coalesce((params->>'n')::int, 100000)) AS g \$\$;
        SELECT exportq.define_kind('http_slow', 'app.http_slow');" >/dev/null
TA=$(token_for lim-a)
TB=$(token_for lim-b)
port_of() { sed 's|.*:||' <<<"$URL"; }
# idle N DIR: N half-header connections held by http_idle.py in the background
idle() {
  mkdir -p "$2"
  /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/integration/http_idle.py" "$(port_of)" "$1" "$2" 300 &
  IDLE_PID=$!
  on_exit "touch '$2/stop'; kill $IDLE_PID 2>/dev/null"
}
idle_stop() { touch "$1/stop"; wait "$IDLE_PID" 2>/dev/null || true; }
alive() { cat "$1/alive" 2>/dev/null || echo -1; }

# ---- 2,000 idle connections do not stop the API ------------------------------------
serve_start EXPORTQ_HTTP_HEADER_TIMEOUT=600
idle 2000 "$T/idle1"
wait_for "[ \"\$(alive '$T/idle1')\" -ge 0 ]" 60 || fail "idle client did not start"
wait_for "[ \"\$(alive '$T/idle1')\" = 2000 ]" 30 || fail "2,000 idle connections held open (alive: $(alive "$T/idle1"))"
rc=0
code=$(curl -sS --max-time 15 -o "$T/hz" -w '%{http_code}' "$URL/healthz" 2>"$T/hz.err") || rc=$?
assert_eq "0 200" "$rc $code" "/healthz with 2,000 idle connections open ($(cat "$T/hz.err"))"
req GET /v1/exports "$TA"
assert_eq 200 "$STATUS" "the API with 2,000 idle connections open"
assert_eq 2000 "$(alive "$T/idle1")" "the idle connections are still open (no header timeout yet)"
idle_stop "$T/idle1"
serve_stop
ok "2,000 idle half-header connections: /healthz and the API still answer"

# ---- the per-IP limit; the header phase times out ----------------------------------
serve_start EXPORTQ_HTTP_HEADER_TIMEOUT=600 EXPORTQ_HTTP_MAX_CONNECTIONS_PER_IP=20
idle 20 "$T/idle2"
wait_for "[ \"\$(alive '$T/idle2')\" = 20 ]" 30 || fail "20 idle connections open"
rc=0
curl -sS --max-time 5 -o /dev/null "$URL/healthz" 2>/dev/null || rc=$?
[ "$rc" != 0 ] || fail "a 21st connection from the same address must be refused at the per-IP limit"
idle_stop "$T/idle2"
req GET /healthz ""
assert_eq 200 "$STATUS" "/healthz once the idle connections are gone"
serve_stop
ok "per-IP connection limit"

serve_start EXPORTQ_HTTP_HEADER_TIMEOUT=2
idle 5 "$T/idle3"
wait_for "[ -s '$T/idle3/opened' ]" 30 || fail "idle client started"
assert_eq 5 "$(cat "$T/idle3/opened")" "5 half-header connections opened"
wait_for "[ \"\$(alive '$T/idle3')\" = 0 ]" 30 \
  || fail "half-sent headers must be cut after EXPORTQ_HTTP_HEADER_TIMEOUT (alive: $(alive "$T/idle3"))"
idle_stop "$T/idle3"
serve_stop
ok "the header phase times out (EXPORTQ_HTTP_HEADER_TIMEOUT)"

# ---- per-owner stream cap ----------------------------------------------------------
serve_start EXPORTQ_MAX_STREAMS=4 EXPORTQ_MAX_STREAMS_PER_OWNER=2
pids=()
for i in 1 2; do
  curl -sS -N -H "Authorization: Bearer $TA" -o "$T/a$i.csv" "$URL/v1/stream/http_slow" 2>/dev/null &
  pids+=($!)
done
on_exit "kill ${pids[*]} 2>/dev/null"
wait_for "[ -s '$T/a1.csv' ] && [ -s '$T/a2.csv' ]" 30 || fail "owner A's two streams running"
code=$(curl -sS --max-time 30 -H "Authorization: Bearer $TA" -D "$T/a3.hdrs" -o "$T/a3" -w '%{http_code}' \
  "$URL/v1/stream/http_slow?n=2")
assert_eq 429 "$code" "owner A's third stream"
assert_eq too_many_owner_streams "$(jq -r .error.code "$T/a3")" "owner cap code"
grep -qi '^Retry-After: [0-9]' "$T/a3.hdrs" || fail "429 has Retry-After"
code=$(curl -sS --max-time 30 -H "Authorization: Bearer $TB" -o "$T/b.csv" -w '%{http_code}' \
  "$URL/v1/stream/http_slow?n=2")
assert_eq 200 "$code" "owner B streams while A is at its cap"
assert_eq 3 "$(wc -l <"$T/b.csv")" "owner B: header + 2 rows"
kill "${pids[@]}" 2>/dev/null
wait "${pids[@]}" 2>/dev/null || true
wait_for "[ \"\$(curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $TA' '$URL/v1/stream/http_slow?n=1')\" = 200 ]" 20 \
  || fail "owner A streams again once its streams ended"
serve_stop
ok "per-owner stream cap: A at its cap gets 429, B gets 200"

# ---- /healthz does not wait behind database calls ----------------------------------
serve_start
# every token lookup now waits on this lock, so every API request blocks in the database
psql -XAtq -c "BEGIN; LOCK TABLE exportq.tokens IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(90); COMMIT;" \
  >/dev/null 2>&1 &
LOCK_PID=$!
on_exit "kill $LOCK_PID 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_locks WHERE relation = 'exportq.tokens'::regclass AND mode = 'AccessExclusiveLock' AND granted\")\" = 1 ]" 20 \
  || fail "lock taken"
apis=()
for i in $(seq 1 12); do
  curl -sS --max-time 120 -o "$T/slow$i" -w '%{http_code}' -H "Authorization: Bearer $TA" "$URL/v1/exports" \
    >"$T/slow$i.code" 2>/dev/null &
  apis+=($!)
done
waiting() {
  psql_q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
}
wait_for "[ \"\$(waiting)\" -ge 4 ]" 30 || fail "API requests waiting on the database (waiting: $(waiting))"
rc=0
code=$(curl -sS --max-time 10 -o "$T/hz2" -w '%{http_code}' "$URL/healthz" 2>/dev/null) || rc=$?
assert_eq "0 200" "$rc $code" "/healthz while $(waiting) API requests wait on the database"
psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
          AND query LIKE 'BEGIN; LOCK TABLE exportq.tokens%'" >/dev/null
wait "${apis[@]}" 2>/dev/null || true
for i in $(seq 1 12); do
  assert_eq 200 "$(cat "$T/slow$i.code")" "API request $i answered once the database is free"
done
serve_stop
ok "/healthz answers while every API request waits on the database"

# ---- /metrics: counts from counters, and its token ---------------------------------
psql_q "DELETE FROM exportq.jobs" >/dev/null
for i in 1 2 3 4 5; do psql_q "SELECT exportq.enqueue('user_activity', '{}', NULL, 'lim-a')" >/dev/null; done
psql_q "UPDATE exportq.jobs SET state = 'succeeded', bytes = 1000, finished_at = now(), expires_at = now() + interval '1 day'
          WHERE id IN (SELECT id FROM exportq.jobs ORDER BY id LIMIT 2)" >/dev/null
psql_q "UPDATE exportq.jobs SET bytes = bytes + 234 WHERE id = (SELECT min(id) FROM exportq.jobs)" >/dev/null
psql_q "DELETE FROM exportq.jobs WHERE id = (SELECT max(id) FROM exportq.jobs)" >/dev/null
serve_start EXPORTQ_METRICS_TOKEN=metrics-s3cret-token
req GET /metrics ""
assert_eq 401 "$STATUS" "/metrics without the metrics token"
req GET /metrics "wrong-token"
assert_eq 401 "$STATUS" "/metrics with a wrong token"
req GET /metrics "metrics-s3cret-token"
assert_eq 200 "$STATUS" "/metrics with the metrics token"
assert_contains "$BODY" 'exportq_jobs{state="queued"} 2' "metrics: queued"
assert_contains "$BODY" 'exportq_jobs{state="succeeded"} 2' "metrics: succeeded"
assert_contains "$BODY" 'exportq_job_bytes{state="succeeded"} 2234' "metrics: bytes of succeeded"
truth=$(psql_q "SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM (SELECT state, count(*) n FROM exportq.jobs GROUP BY 1) s")
counted=$(psql_q "SELECT string_agg(state || '=' || jobs, ' ' ORDER BY state) FROM exportq.job_counts() WHERE jobs <> 0")
assert_eq "$truth" "$counted" "counters = a full count"
# a scrape does not read exportq.jobs: it answers while the table is locked
psql -XAtq -c "BEGIN; LOCK TABLE exportq.jobs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;" >/dev/null 2>&1 &
JLOCK=$!
on_exit "kill $JLOCK 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_locks WHERE relation = 'exportq.jobs'::regclass AND mode = 'AccessExclusiveLock' AND granted\")\" = 1 ]" 20 \
  || fail "jobs lock taken"
rc=0
code=$(curl -sS --max-time 10 -H "Authorization: Bearer metrics-s3cret-token" -o "$T/m" -w '%{http_code}' \
  "$URL/metrics" 2>/dev/null) || rc=$?
assert_eq "0 200" "$rc $code" "/metrics while exportq.jobs is locked"
assert_contains "$(cat "$T/m")" 'exportq_jobs{state="queued"} 2' "metrics under the lock: queued"
psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
          AND query LIKE 'BEGIN; LOCK TABLE exportq.jobs%'" >/dev/null
req GET /healthz ""
assert_eq 200 "$STATUS" "/healthz needs no token"
grep -q "metrics-s3cret-token" "$SERVE_LOG" && fail "the metrics token reached the log"
serve_stop
ok "/metrics: counts from counters equal a full count; EXPORTQ_METRICS_TOKEN required when set"

# ---- the rate limit comes before authentication ------------------------------------
dead_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
serve_start EXPORTQ_RATE_LIMIT=2 "EXPORTQ_DATABASE_URL=postgresql://exportq@127.0.0.1:$dead_port/none?connect_timeout=2"
bad="eqt_$(printf 'ab%.0s' $(seq 1 32))"
req GET /v1/exports "$bad"
assert_eq 503 "$STATUS" "1st request: the token lookup needs the (down) database"
req GET /v1/exports "$bad"
assert_eq 503 "$STATUS" "2nd request"
req GET /v1/exports "$bad"
assert_eq 429 "$STATUS" "3rd request is limited before any query"
assert_eq rate_limited "$(jq -r .error.code <<<"$BODY")" "429 code"
serve_stop
ok "rate limit per token hash, checked before the token is looked up"

# ---- Accept-Encoding: identity beats a gzip kind -----------------------------------
serve_start
psql -XAtq -v ON_ERROR_STOP=1 -c \
  "COPY (SELECT * FROM app.export_user_activity('{\"owner\":\"lim-a\"}'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)" \
  >"$T/ref.csv"
{ printf '\357\273\277'; cat "$T/ref.csv"; } >"$T/ref_bom.csv"
for ae in identity 'gzip;q=0' 'gzip;q=0, identity'; do
  code=$(curl -sS --max-time 60 -H "Authorization: Bearer $TA" -H "Accept-Encoding: $ae" -D "$T/id.hdrs" \
    -o "$T/id.csv" -w '%{http_code}' "$URL/v1/stream/user_activity_gz")
  assert_eq 200 "$code" "gzip kind with Accept-Encoding: $ae"
  grep -qi '^Content-Encoding:' "$T/id.hdrs" && fail "Accept-Encoding: $ae must get the identity encoding"
  assert_eq "$(sha256_of "$T/ref_bom.csv")" "$(sha256_of "$T/id.csv")" "identity bytes = BOM + psql's ($ae)"
done
code=$(curl -sS --max-time 60 -H "Authorization: Bearer $TA" -D "$T/gz.hdrs" -o "$T/gz" -w '%{http_code}' \
  "$URL/v1/stream/user_activity_gz")
assert_eq 200 "$code" "gzip kind, no Accept-Encoding"
grep -qi '^Content-Encoding: gzip' "$T/gz.hdrs" || fail "a gzip kind still compresses when the client says nothing"
ok "Accept-Encoding: identity / gzip;q=0 get identity from a gzip kind"

# ---- Idempotency-Key reused with another body --------------------------------------
req POST /v1/exports "$TA" -H 'Idempotency-Key: lim-77' -d '{"kind": "user_activity", "params": {"since": "2024-01-01", "event": "x"}}'
assert_eq 202 "$STATUS" "first use of the key"
id=$(jq -r .id <<<"$BODY")
req POST /v1/exports "$TA" -H 'Idempotency-Key: lim-77' -d '{"params": {"event": "x", "since": "2024-01-01"}, "kind": "user_activity"}'
assert_eq 202 "$STATUS" "the same request again (members reordered)"
assert_eq "$id" "$(jq -r .id <<<"$BODY")" "the same job"
before=$(psql_q "SELECT count(*) FROM exportq.jobs")
req POST /v1/exports "$TA" -H 'Idempotency-Key: lim-77' -d '{"kind": "user_activity", "params": {"since": "2025-01-01"}}'
assert_eq 422 "$STATUS" "the key with other params"
assert_eq idempotency_key_reused "$(jq -r .error.code <<<"$BODY")" "422 code"
req POST /v1/exports "$TA" -H 'Idempotency-Key: lim-77' -d '{"kind": "user_activity", "params": {"since": "2024-01-01", "event": "x"}, "email": "a@example.test"}'
assert_eq 422 "$STATUS" "the key with another email"
assert_eq "$before" "$(psql_q "SELECT count(*) FROM exportq.jobs")" "nothing written"
serve_stop
ok "Idempotency-Key reused with a different body: 422 idempotency_key_reused"
