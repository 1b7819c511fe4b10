#!/usr/bin/env bash
# Reliability: PostgreSQL restarted under a running system. A PRIVATE
# PostgreSQL (tests/harness/pg.sh up DIR; the shared one is never touched)
# serves `exportq worker` x 2 and `exportq serve` while tiny and medium exports
# run; it is stopped (pg_ctl stop -m fast) for ~3 s and started again on the
# same data directory and port. Then: /healthz said 503 while it was down and
# 200 after; the API accepts new exports (POST) and answers status; every job
# enqueued before and after ends `succeeded` - none lost, none doubled (one
# object per job, the medium exports byte-equal to psql's COPY; the runs, as a
# counting proxy in front of S3 sees them: exactly one for a job that took one
# attempt, and never more than its attempts).
# (The retry backoff of exports whose COPY died with the server, 10 s x
# jitter, is skipped in CI by moving run_at to now(); EXPORTQ_LONG=1 waits.)
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
t=$(tmpdir)
chmod 755 "$t"
pgdir="$t/privpg"
mkdir -p "$pgdir"
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
bash "$EXPORTQ_SOURCE_DIR/tests/harness/pg.sh" up "$pgdir" >"$t/pg-up.log" 2>&1 || fail "private PostgreSQL: $(tail -5 "$t/pg-up.log")"
on_exit "bash '$EXPORTQ_SOURCE_DIR/tests/harness/pg.sh' down '$pgdir' >/dev/null 2>&1"
port=$(cat "$pgdir/pg/port")
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=exportq PGDATABASE=exportq
export EXPORTQ_DATABASE_URL="postgresql://exportq@127.0.0.1:$port/exportq"
unset EXPORTQ_SOURCE_DATABASE_URL
export EXPORTQ_S3_PREFIX="rel-pgr-$$-$(date +%s)/" EXPORTQ_PART_SIZE=5242880 EXPORTQ_POLL_SECONDS=1 EXPORTQ_LEASE_SECONDS=10
as_pg() { (cd / && runuser -u postgres -- "$@"); }
"$EXPORTQ_BIN" migrate >/dev/null
define_slow_kind
psql_q "CREATE FUNCTION app.tiny(params jsonb) RETURNS TABLE(owner text, n int) LANGUAGE sql STABLE AS
          \$\$ SELECT params->>'owner', i FROM generate_series(1, 3) i \$\$;
        SELECT exportq.define_kind('tiny', 'app.tiny', 'tiny.csv')" >/dev/null
ok "private PostgreSQL on port $port"

TOK=$(token_for pgr)
serve_start
medium=100000 # ~20 MB, a 0.5 s pause every 20,000 rows: running when the server stops
for o in m1 m2; do "$EXPORTQ_BIN" enqueue slow --param rows=$medium --param pause=0.5 --owner $o >/dev/null; done
psql_q "SELECT exportq.enqueue('tiny', '{}', NULL, 'pgr' || (i % 10)) FROM generate_series(1, 30) i" >/dev/null
s3proxy_start 0 "" 41 # counts the runs, never fails
for i in 1 2; do EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg w "$t/w$i.log" "$EXPORTQ_BIN" worker --concurrency 2; done
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.jobs WHERE kind = 'slow' AND state = 'running' AND bytes > 0\")\" = 2 ]" 60 \
  || fail "the medium exports did not start"

# --- the restart ---------------------------------------------------------------------
as_pg "$PG_BIN/pg_ctl" stop -D "$pgdir/pg/data" -m fast -w >/dev/null || fail "pg_ctl stop"
down_at=$(date +%s)
req GET /healthz ""
assert_eq 503 "$STATUS" "healthz while the database is down"
req GET /v1/exports "$TOK"
assert_eq 503 "$STATUS" "API while the database is down"
sleep 3
as_pg "$PG_BIN/pg_ctl" start -D "$pgdir/pg/data" -l "$pgdir/pg/log/postgresql.log" -w -o "-p $port" >/dev/null \
  || fail "pg_ctl start"
ok "PostgreSQL stopped for $(($(date +%s) - down_at)) s and started again (same data, port $port)"
wait_for "req GET /healthz '' && [ \"\$STATUS\" = 200 ]" 30 || fail "healthz did not recover"

# --- after: the API takes new work, workers carry on --------------------------------------
for i in 1 2 3 4 5; do
  req POST /v1/exports "$TOK" -d '{"kind": "tiny"}'
  assert_eq 202 "$STATUS" "POST after the restart ($i)"
done
id=$(jq -r .id <<<"$BODY")
req GET "/v1/exports/$id" "$TOK"
assert_eq 200 "$STATUS" "status after the restart"
"$EXPORTQ_BIN" enqueue tiny --owner pgr-cli >/dev/null || fail "CLI enqueue after the restart"
total=$((2 + 30 + 5 + 1))
finished() {
  rel_long || psql_q "UPDATE exportq.jobs SET run_at = now() WHERE state = 'queued' AND run_at > now()" >/dev/null 2>&1
  [ "$(psql_q "SELECT count(*) FROM exportq.jobs WHERE state = 'succeeded'" 2>/dev/null)" = $total ]
}
wait_for finished 120 || { tail -20 "$t/w1.log" >&2; psql_q "SELECT id, kind, state, attempts, last_error FROM exportq.jobs WHERE state <> 'succeeded'" >&2; fail "not every job succeeded"; }
assert_eq "$total" "$(psql_q "SELECT count(*) FROM exportq.jobs")" "no job lost or added"
keys=$(s3_list_keys "$EXPORTQ_S3_PREFIX")
assert_eq "$total" "$(echo "$keys" | grep -c .)" "one object per job"
assert_eq "$total" "$(echo "$keys" | sed 's|.*/\([0-9]*\)-[^/]*/[^/]*$|\1|' | sort -u | wc -l)" "objects of $total distinct jobs"
psql -XAq -c "COPY (SELECT * FROM app.slow_rows('{\"rows\":$medium,\"pause\":0}')) TO STDOUT WITH (FORMAT csv, HEADER)" >"$t/want.csv"
for k in $(echo "$keys" | grep '/slow.csv$'); do
  s3_get_file "$k" "$t/obj.csv"
  assert_eq "$(sha256_of "$t/want.csv")" "$(sha256_of "$t/obj.csv")" "medium export $k equals COPY"
done
s3proxy_runs_by_job "$EXPORTQ_S3_PREFIX" >"$t/runs"
psql_q "SELECT id || ' ' || attempts FROM exportq.jobs" >"$t/attempts"
bad=$(awk 'NR == FNR {runs[$1] = $2; next}
           (runs[$1] + 0) < 1 || (runs[$1] + 0) > $2 || ($2 == 1 && runs[$1] != 1) {printf "job %s: %s runs in %s attempts; ", $1, runs[$1] + 0, $2}' \
       "$t/runs" "$t/attempts" | cut -c1-500)
[ -z "$bad" ] || fail "runs per job (uploads S3 completed or stored per key): $bad"
wait_for "[ \"\$(uploads_under "$EXPORTQ_S3_PREFIX")\" = 0 ]" 30 || fail "multipart uploads left behind"
assert_no_uploads "$EXPORTQ_S3_PREFIX" "no multipart upload left"
kill -0 "$SERVE_PID" || fail "serve died"
serve_stop
assert_eq 0 "$SERVE_RC" "serve exits 0 on SIGTERM after the restart"
ok "after the restart: $total jobs succeeded once each ($(psql_q "SELECT sum(attempts) FROM exportq.jobs") attempts; $(grep -h 'attempt failed' "$t"/w*.log | wc -l) failed attempts logged), API and workers reconnected"
