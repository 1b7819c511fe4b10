#!/usr/bin/env bash
# bench/queue_cost.sh - where a claim + complete pair's cost goes (issue 15), in CPU
# instructions, not time: the same pairs as queue_bench.sh's first table, each run by a
# single-user PostgreSQL (`postgres --single`) under valgrind's callgrind, which counts the
# instructions the backend executes. A count does not move with the load of the machine
# (the pgbench figures of a shared 2-core machine moved by +-30 % between runs), so small
# differences between variants can be read; it leaves out waits, locks between clients and
# cache misses, which queue_bench.sh's wall-clock figures include.
#
# Rows (each a claim then a complete, one transaction each, prepared statements, on a
# private copy of the same database holding 3,000 queued jobs of 1,000 owners):
#   bare pair          queue_bench.sh's UPDATE ... SKIP LOCKED + UPDATE (the baseline)
#   wrappers only      a PL/pgSQL claim doing just SELECT ... FOR UPDATE SKIP LOCKED, then
#                      UPDATE ... RETURNING id, attempts; then exportq.complete()
#   + position         the same, plus the claim's bookkeeping for positions (shared advisory
#                      lock, claim counter, turn claimed last; schema/004)
#   + job payload      wrappers only, plus the row the worker needs (kind, params, email,
#                      owner, the export function's name, file name, options...)
#   exportq            exportq.claim() (all of the above, fairness cap per owner) + complete()
# Per pair = (instructions with N pairs - instructions with none) / N.
#
# Then the enqueue side, instructions per job, BENCH_COST_JOBS (5,000) jobs of 1,000 owners:
#   enqueue_many       one SELECT exportq.enqueue_many(kind, jobs) call
#   enqueue per row    one SELECT exportq.enqueue(...) FROM generate_series statement
#   plain INSERT       one INSERT ... SELECT of the same rows (no validation, no NOTIFY)
#   one per call       exportq.enqueue() once per transaction, the application's usual call
#
# Knobs: BENCH_COST_PAIRS (500), BENCH_COST_JOBS (5000), BENCH_STATE (default /tmp/exportq-bench-cost). Needs
# valgrind (installed here if missing). Nothing is asserted; figures go to docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PAIRS=${BENCH_COST_PAIRS:-500}
JOBS=${BENCH_COST_JOBS:-5000}
STATE=${BENCH_STATE:-/tmp/exportq-bench-cost}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
log() { printf '# %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "queue_cost.sh: run as root (the single-user server runs as postgres)" >&2; exit 2; }
"$ROOT/scripts/install-deps.sh" >&2
command -v valgrind >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind >&2
cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build-bench" -j"$(nproc)" --target exportq >/dev/null

# a private server: migrate, define the kind and the variants, then stop it
"$ROOT/tests/harness/pg.sh" down "$STATE" >/dev/null 2>&1 || true
rm -rf "$STATE"; mkdir -p "$STATE"; chmod 755 "$STATE"
"$ROOT/tests/harness/pg.sh" up "$STATE" >/dev/null
PORT=$(cat "$STATE/pg/port")
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=exportq PGDATABASE=exportq
export EXPORTQ_DATABASE_URL="postgresql://exportq@127.0.0.1:$PORT/exportq"
"$ROOT/build-bench/exportq" migrate >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
CREATE SCHEMA app;
CREATE FUNCTION app.bench_tiny(p jsonb) RETURNS TABLE (n int) LANGUAGE sql AS
  $$ SELECT g FROM generate_series(1, 3) g $$;
SELECT exportq.define_kind('bench_tiny', 'app.bench_tiny', 'tiny.csv');
SQL
# the claim of "wrappers only" and its two additions: one UPDATE (exportq.claim's, schema/004)
UPDATE="UPDATE exportq.jobs j SET state = 'running', attempts = j.attempts + 1, worker = p_worker,
  lease_expires_at = now() + make_interval(secs => p_lease_seconds), heartbeat_at = now(),
  started_at = now(), rows_estimate = NULL WHERE j.id = cand.id"
psql -XAtq -v ON_ERROR_STOP=1 <<SQL
CREATE SCHEMA cost;
-- the claim of "wrappers only"; BUMP and PAYLOAD switch the two additions on
CREATE FUNCTION cost.claim(p_worker text, p_lease_seconds integer, bump boolean, payload boolean)
RETURNS TABLE (id bigint, attempts integer, kind text, params text, email text, owner text,
               object_token text, function text, filename text, options text,
               upload_id text, created_at bigint)
LANGUAGE plpgsql AS \$\$
DECLARE
    cand record;
BEGIN
    SELECT j.id INTO cand FROM exportq.jobs j
     WHERE j.state = 'queued' AND j.run_at <= now()
     ORDER BY -j.priority, j.turn, j.run_at, j.id LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT bump AND NOT payload THEN
        RETURN QUERY
        $UPDATE
        RETURNING j.id, j.attempts, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
                  NULL::text, NULL::text, NULL::text, NULL::text, NULL::bigint;
    ELSIF bump THEN
        RETURN QUERY
        WITH c AS (
            $UPDATE
            RETURNING j.id, j.attempts, j.turn),
        b AS (SELECT pg_advisory_xact_lock_shared(exportq.position_lock_key()) AS l,
                     nextval('exportq.claim_count') AS n, setval('exportq.turn_claimed', c.turn) AS t
                FROM c)
        SELECT c.id, c.attempts, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
               NULL::text, NULL::text, NULL::text, NULL::text, NULL::bigint
          FROM c CROSS JOIN b;
    ELSE  -- the columns and the kind look-up of exportq.claim (schema/004)
        RETURN QUERY
        WITH c AS (
            $UPDATE
            RETURNING j.*)
        SELECT c.id, c.attempts, c.kind, c.params::text, c.email, c.owner, c.object_token,
               (SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
                  FROM pg_catalog.pg_proc p
                  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                 WHERE p.oid = pg_catalog.to_regprocedure(k.function)),
               k.filename, k.options::text, c.upload_id,
               floor(extract(epoch FROM c.created_at))::bigint
          FROM c LEFT JOIN exportq.kinds k ON k.name = c.kind;
    END IF;
END \$\$;
SQL
"$ROOT/tests/harness/pg.sh" down "$STATE" >/dev/null
DATA=$STATE/pg/data

# script VARIANT N: the statements the single-user server reads, one per line
script() {
  echo "DELETE FROM exportq.jobs"
  echo "INSERT INTO exportq.jobs (kind, params, owner) SELECT 'bench_tiny', jsonb_build_object('owner', 'o' || (g % 1000)), 'o' || (g % 1000) FROM generate_series(1, 3000) g"
  echo "VACUUM ANALYZE exportq.jobs"
  echo "VACUUM ANALYZE exportq.webhooks"
  local complete="PREPARE d AS SELECT exportq.complete(j.id, 'bench', j.attempts, 'k', 1, 1, 3600, 3600) FROM exportq.jobs j WHERE j.state = 'running' AND j.worker = 'bench'"
  case $1 in
  bare)
    echo "PREPARE c AS UPDATE exportq.jobs SET state = 'running', attempts = attempts + 1, worker = 'raw', heartbeat_at = now(), lease_expires_at = now() + interval '30 seconds', started_at = now() WHERE id = (SELECT id FROM exportq.jobs WHERE state = 'queued' AND run_at <= now() ORDER BY -priority, turn, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, attempts"
    echo "PREPARE d AS UPDATE exportq.jobs SET state = 'succeeded', finished_at = now(), lease_expires_at = NULL, object_key = 'k', rows = 1, bytes = 1 WHERE state = 'running' AND worker = 'raw'" ;;
  wrappers) echo "PREPARE c AS SELECT id, attempts FROM cost.claim('bench', 30, false, false)"; echo "$complete" ;;
  position) echo "PREPARE c AS SELECT id, attempts FROM cost.claim('bench', 30, true, false)"; echo "$complete" ;;
  payload) echo "PREPARE c AS SELECT id, attempts FROM cost.claim('bench', 30, false, true)"; echo "$complete" ;;
  exportq) echo "PREPARE c AS SELECT id, attempts FROM exportq.claim('bench', 30, 2)"; echo "$complete" ;;
  esac
  local jobs="(SELECT jsonb_agg(jsonb_build_object('owner', 'o' || (g % 1000))) FROM generate_series(1, $2) g)"
  case $1 in
  enqueue_many) [ "$2" = 0 ] || echo "SELECT cardinality(exportq.enqueue_many('bench_tiny', $jobs))"; return ;;
  enqueue_per_row) [ "$2" = 0 ] || echo "SELECT count(exportq.enqueue('bench_tiny', '{}', NULL, 'o' || (g % 1000))) FROM generate_series(1, $2) g"; return ;;
  plain_insert) [ "$2" = 0 ] || echo "INSERT INTO exportq.jobs (kind, params, owner) SELECT 'bench_tiny', jsonb_build_object('owner', 'o' || (g % 1000)), 'o' || (g % 1000) FROM generate_series(1, $2) g"; return ;;
  one_per_call)
    echo "PREPARE e(text) AS SELECT exportq.enqueue('bench_tiny', '{}', NULL, \$1)"
    for ((i = 0; i < $2; i++)); do echo "EXECUTE e('o$((i % 1000))')"; done; return ;;
  esac
  for ((i = 0; i < $2; i++)); do echo "EXECUTE c"; echo "EXECUTE d"; done
}
# instr VARIANT N: instructions of the whole single-user run
instr() {
  local d=$STATE/run-$1-$2
  rm -rf "$d"; cp -a "$DATA" "$d"; rm -f "$d/postmaster.pid"
  script "$1" "$2" >"$STATE/$1-$2.sql"
  runuser -u postgres -- valgrind --tool=callgrind --callgrind-out-file="$STATE/cg-$1-$2" \
    "$PG_BIN/postgres" --single -D "$d" -c jit=off exportq <"$STATE/$1-$2.sql" >"$STATE/$1-$2.log" 2>&1
  grep -q ERROR "$STATE/$1-$2.log" && { grep -m3 ERROR "$STATE/$1-$2.log" >&2; exit 1; }
  rm -rf "$d"
  awk '/^summary:/ {print $2}' "$STATE/cg-$1-$2"
}
chown -R postgres "$STATE"

printf '\n== claim + complete, instructions per pair (callgrind, %s pairs, single-user PostgreSQL 15)\n' "$PAIRS"
printf '| case | instructions per pair | bare pair / case |\n|---|---|---|\n'
base=
for v in bare wrappers position payload exportq; do
  log "$v: $PAIRS pairs under callgrind (about a minute)"
  z=$(instr "$v" 0); n=$(instr "$v" "$PAIRS")
  per=$(( (n - z) / PAIRS ))
  [ -n "$base" ] || base=$per
  printf '| %s | %s | %s |\n' "$v" "$per" "$(awk -v a="$base" -v b="$per" 'BEGIN {printf "%.2f", a / b}')"
done

printf '\n== enqueue, instructions per job (callgrind, %s jobs of 1,000 owners)\n' "$JOBS"
printf '| case | instructions per job |\n|---|---|\n'
for v in enqueue_many enqueue_per_row plain_insert one_per_call; do
  log "$v: $JOBS jobs under callgrind"
  z=$(instr "$v" 0); n=$(instr "$v" "$JOBS")
  printf '| %s | %s |\n' "${v//_/ }" "$(( (n - z) / JOBS ))"
done
rm -rf "$STATE"
