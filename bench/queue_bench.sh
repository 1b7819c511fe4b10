#!/usr/bin/env bash
# bench/queue_bench.sh - the queue's costs (issue 15), side by side in one run:
#
#   1. claim + complete: a bare UPDATE ... SKIP LOCKED pair on exportq.jobs
#      against exportq.claim() + exportq.complete() (pgbench, one job per
#      transaction, same table, same run, interleaved);
#   2. position read time at 1k / 10k / 100k queued (median, p99), next to
#      001's count of the rows ahead;
#   3. enqueue rate in one statement (exportq.enqueue per row, exportq.enqueue_many) next to a plain
#      INSERT of the same rows;
#   4. enqueue-to-start latency on an idle worker (LISTEN/NOTIFY), enqueued from a
#      warm session (a pooled connection) and from a new connection each time;
#   5. ETA accuracy for steady jobs: eta_seconds predicted at enqueue against
#      the real finish.
#
# Nothing is asserted on time; figures go to docs/benchmarks.md.
# Knobs: BENCH_PGBENCH_SECONDS (10), BENCH_PGBENCH_CLIENTS (2), BENCH_PGBENCH_RUNS (3),
# BENCH_POSITION_SIZES ("1000 10000 100000"), BENCH_ENQUEUE_ROWS (50000),
# BENCH_LATENCY_RUNS (20), BENCH_ETA_JOBS (8), BENCH_ETA_SECONDS (2), and those of
# bench/common.sh (BENCH_STATE, BENCH_KEEP, BENCH_NICE).
set -euo pipefail
. "$(dirname "$0")/common.sh"

SECS=${BENCH_PGBENCH_SECONDS:-10}
CLIENTS=${BENCH_PGBENCH_CLIENTS:-2}
RUNS=${BENCH_PGBENCH_RUNS:-3}
SIZES=${BENCH_POSITION_SIZES:-"1000 10000 100000"}
ENQ_ROWS=${BENCH_ENQUEUE_ROWS:-50000}
LAT_RUNS=${BENCH_LATENCY_RUNS:-20}
ETA_JOBS=${BENCH_ETA_JOBS:-8}
ETA_SECS=${BENCH_ETA_SECONDS:-2}

bench_setup
bench_workdir exportq-bench-queue
q() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }

q <<'SQL' >/dev/null
CREATE OR REPLACE FUNCTION app.bench_tiny(p jsonb) RETURNS TABLE (n int) LANGUAGE sql AS
  $$ SELECT g FROM generate_series(1, 3) g $$;
SELECT exportq.define_kind('bench_tiny', 'app.bench_tiny', 'tiny.csv');
-- steady jobs: (params.secs) seconds each, then 1000 rows
CREATE OR REPLACE FUNCTION app.bench_steady(p jsonb) RETURNS TABLE (n int) LANGUAGE plpgsql AS
  $$ BEGIN PERFORM pg_sleep((p->>'secs')::float8); RETURN QUERY SELECT g FROM generate_series(1, 1000) g; END $$;
SELECT exportq.define_kind('bench_steady', 'app.bench_steady', 'steady.csv');
SQL

# every table a claim + complete writes starts each case vacuumed: jobs, its counter rows and the
# webhook events of finished jobs (deleted with their jobs, so without a VACUUM each case would
# insert into the dead rows of all the cases before it)
reset_queue() {
  q -c "DELETE FROM exportq.jobs" -c "VACUUM ANALYZE exportq.jobs" -c "VACUUM ANALYZE exportq.webhooks" \
    -c "VACUUM ANALYZE exportq.job_counts" >/dev/null
}
# fill N: N ready jobs of 1,000 owners, by a plain INSERT (turns from the trigger)
fill() {
  q -c "INSERT INTO exportq.jobs (kind, params, owner) SELECT 'bench_tiny', jsonb_build_object('owner', 'o' || (g % 1000)), 'o' || (g % 1000) FROM generate_series(1, $1) g" >/dev/null
}
enqueue_n() { q -c "SELECT count(exportq.enqueue('bench_tiny', '{}', NULL, 'o' || (g % 1000))) FROM generate_series(1, $1) g" >/dev/null; }
# the same N jobs of 1,000 owners in one exportq.enqueue_many call (schema/014)
enqueue_many_n() {
  q -c "SELECT cardinality(exportq.enqueue_many('bench_tiny', (SELECT jsonb_agg(jsonb_build_object('owner', 'o' || (g % 1000))) FROM generate_series(1, $1) g)))" >/dev/null
}

# pgbench -l writes one line per transaction: client xact time_us ...; pct P of them
pct() { awk '{print $3}' "$@" | sort -n | awk -v p="$PCT" '{v[NR]=$1} END {i=int(NR*p/100+0.5); if(i<1)i=1; printf "%.3f", v[i]/1000}'; }

# ---- 1. claim + complete -------------------------------------------------------------
hr "claim + complete: bare SKIP LOCKED pair vs exportq's functions (pgbench -c $CLIENTS, ${SECS} s x $RUNS, one job per transaction)"
cat >"$T/raw.sql" <<'SQL'
UPDATE exportq.jobs SET state = 'running', attempts = attempts + 1, worker = 'raw', heartbeat_at = now(),
       lease_expires_at = now() + interval '30 seconds', started_at = now()
 WHERE id = (SELECT id FROM exportq.jobs WHERE state = 'queued' AND run_at <= now()
              ORDER BY -priority, turn, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, attempts \gset
UPDATE exportq.jobs SET state = 'succeeded', finished_at = now(), lease_expires_at = NULL, object_key = 'k',
       rows = 1, bytes = 1 WHERE id = :id AND worker = 'raw' AND attempts = :attempts AND state = 'running';
SQL
cat >"$T/exportq.sql" <<'SQL'
SELECT id, attempts FROM exportq.claim('bench', 30, 2) \gset
SELECT exportq.complete(:id, 'bench', :attempts, 'k', 1, 1, 3600, 3600);
SQL
: >"$T/tps_raw"; : >"$T/tps_eq"
need=$((CLIENTS * SECS * 4000))
for r in $(seq 1 "$RUNS"); do
  order="raw exportq"; [ $((r % 2)) = 0 ] && order="exportq raw"  # neither always goes first
  for v in $order; do
    reset_queue; fill "$need"; q -c "VACUUM ANALYZE exportq.jobs" >/dev/null
    tps=$(pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -f "$T/$v.sql" 2>/dev/null \
          | awk '/^tps = / {print $3; exit}')
    [ "$v" = raw ] && echo "$tps" >>"$T/tps_raw" || echo "$tps" >>"$T/tps_eq"
    bench_log "run $r $v: $tps jobs/s"
  done
done
read -r raw_m raw_lo raw_hi <<<"$(stats "$T/tps_raw" 1)"
read -r eq_m eq_lo eq_hi <<<"$(stats "$T/tps_eq" 1)"
printf '| case | jobs/s median (min..max) | ratio |\n|---|---|---|\n'
printf '| bare UPDATE ... SKIP LOCKED + UPDATE | %.0f (%.0f..%.0f) | 1.00 |\n' "$raw_m" "$raw_lo" "$raw_hi"
printf '| exportq.claim + exportq.complete | %.0f (%.0f..%.0f) | %s |\n' "$eq_m" "$eq_lo" "$eq_hi" "$(fmt_ratio "$eq_m" "$raw_m")"

# ---- 2. position read time --------------------------------------------------------------
hr "position read time (pgbench, 1 client, 5 s each; ms as the client sees it)"
printf '| queued | exportq.status() position median | p99 | 001 count of the rows ahead median | p99 |\n|---|---|---|---|---|\n'
for n in $SIZES; do
  reset_queue; fill "$n"; q -c "VACUUM ANALYZE exportq.jobs" >/dev/null
  lo=$(q -c "SELECT min(id) FROM exportq.jobs"); hi=$(q -c "SELECT max(id) FROM exportq.jobs")
  q -c "SELECT position FROM exportq.status($hi)" >/dev/null  # the snapshot, once
  printf '\\set id random(%s, %s)\nSELECT position FROM exportq.status(:id);\n' "$lo" "$hi" >"$T/pos.sql"
  printf '\\set id random(%s, %s)\nSELECT 1 + (SELECT count(*) FROM exportq.jobs q WHERE q.state = %s AND (q.priority > j.priority OR (q.priority = j.priority AND (q.run_at, q.id) < (j.run_at, j.id)))) FROM exportq.jobs j WHERE j.id = :id;\n' \
    "$lo" "$hi" "'queued'" >"$T/count.sql"
  for v in pos count; do
    rm -f "$T"/pgbench_log.*
    (cd "$T" && pgbench -n -M prepared -c 1 -T 5 -l -f "$T/$v.sql" >/dev/null 2>&1)
    PCT=50; m=$(pct "$T"/pgbench_log.*); PCT=99; p=$(pct "$T"/pgbench_log.*)
    eval "${v}_m=$m ${v}_p=$p"
  done
  printf '| %s | %s | %s | %s | %s |\n' "$n" "$pos_m" "$pos_p" "$count_m" "$count_p"
done

# ---- 3. enqueue rate ------------------------------------------------------------------------
hr "enqueue rate, $ENQ_ROWS jobs in one statement (1,000 owners)"
: >"$T/enq"; : >"$T/many"; : >"$T/ins"
for r in 1 2 3; do
  reset_queue
  t0=$(now_ns); enqueue_n "$ENQ_ROWS"; t1=$(now_ns)
  echo $(( ENQ_ROWS * 1000000000 / (t1 - t0) )) >>"$T/enq"
  reset_queue
  t0=$(now_ns); enqueue_many_n "$ENQ_ROWS"; t1=$(now_ns)
  echo $(( ENQ_ROWS * 1000000000 / (t1 - t0) )) >>"$T/many"
  reset_queue
  t0=$(now_ns); fill "$ENQ_ROWS"; t1=$(now_ns)
  echo $(( ENQ_ROWS * 1000000000 / (t1 - t0) )) >>"$T/ins"
done
read -r e_m e_lo e_hi <<<"$(stats "$T/enq" 1)"
read -r m_m m_lo m_hi <<<"$(stats "$T/many" 1)"
read -r i_m i_lo i_hi <<<"$(stats "$T/ins" 1)"
printf '| case | jobs/s median (min..max) |\n|---|---|\n'
printf '| SELECT exportq.enqueue(...) FROM generate_series | %s (%s..%s) |\n' "$e_m" "$e_lo" "$e_hi"
printf '| SELECT exportq.enqueue_many(kind, jobs) (one call) | %s (%s..%s) |\n' "$m_m" "$m_lo" "$m_hi"
printf '| plain INSERT ... SELECT (no validation, no NOTIFY) | %s (%s..%s) |\n' "$i_m" "$i_lo" "$i_hi"

# ---- 4. enqueue-to-start latency ---------------------------------------------------------
# Two ways to enqueue: from a warm session (one psql kept open, as an application's pooled
# connection), and from a new connection per enqueue (psql -c: a fresh backend whose first
# call compiles and caches exportq.enqueue and the triggers, tens of ms on its own).
hr "enqueue-to-start on an idle worker (LISTEN/NOTIFY), $LAT_RUNS jobs one at a time"
reset_queue
"$EXPORTQ_BIN" worker --concurrency 1 >"$T/worker.log" 2>&1 &
wpid=$!
bench_on_exit "kill $wpid 2>/dev/null; wait $wpid 2>/dev/null"
sleep 2
wait_started() {  # wait_started ID: until the worker has taken job ID
  for _ in $(seq 1 100); do
    [ "$(q -c "SELECT state <> 'queued' FROM exportq.jobs WHERE id = $1")" = t ] && break
    sleep 0.05
  done
  sleep 0.3  # idle again
}
coproc WARM { psql -XAtq -v ON_ERROR_STOP=1; }
echo "SELECT exportq.enqueue('bench_tiny', '{}', NULL, 'lat-warm');" >&"${WARM[1]}"
read -r -t 30 id <&"${WARM[0]}" || bench_die "warm session: no job id"
wait_started "$id"
q -c "DELETE FROM exportq.jobs WHERE owner = 'lat-warm'" >/dev/null  # the session's first call was cold
for i in $(seq 1 "$LAT_RUNS"); do
  echo "SELECT exportq.enqueue('bench_tiny', '{}', NULL, 'lat-warm');" >&"${WARM[1]}"
  read -r -t 30 id <&"${WARM[0]}" || bench_die "warm session: no job id"
  wait_started "$id"
  id=$(q -c "SELECT exportq.enqueue('bench_tiny', '{}', NULL, 'lat-cold')")
  wait_started "$id"
done
echo '\q' >&"${WARM[1]}"
printf '| enqueued from | median ms | p95 ms | max ms |\n|---|---|---|---|\n'
for o in warm cold; do
  q -c "SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 2) || ' ' ||
               round((percentile_cont(0.95) WITHIN GROUP (ORDER BY ms))::numeric, 2) || ' ' || round(max(ms)::numeric, 2)
          FROM (SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM exportq.jobs
                 WHERE owner = 'lat-$o' AND started_at IS NOT NULL) x" >"$T/lat"
  read -r l50 l95 lmax <"$T/lat"
  case $o in
    warm) label="a warm session (pooled connection): created_at -> started_at" ;;
    cold) label="a new connection per enqueue (psql -c): created_at -> started_at" ;;
  esac
  printf '| %s | %s | %s | %s |\n' "$label" "$l50" "$l95" "$lmax"
done
kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null || true

# ---- 5. ETA accuracy -----------------------------------------------------------------------
hr "ETA accuracy: $ETA_JOBS steady jobs of ${ETA_SECS} s, 1 worker x 2, after 4 jobs of history"
reset_queue
"$EXPORTQ_BIN" worker --concurrency 2 >"$T/worker2.log" 2>&1 &
wpid=$!
bench_on_exit "kill $wpid 2>/dev/null; wait $wpid 2>/dev/null"
for i in 1 2 3 4; do q -c "SELECT exportq.enqueue('bench_steady', '{\"secs\": \"$ETA_SECS\"}', NULL, 'hist$i')" >/dev/null; done
for _ in $(seq 1 600); do
  [ "$(q -c "SELECT count(*) FROM exportq.jobs WHERE state = 'succeeded'")" = 4 ] && break; sleep 0.1
done
ids=$(q -c "SELECT exportq.enqueue('bench_steady', '{\"secs\": \"$ETA_SECS\"}', NULL, 'eta' || g) FROM generate_series(1, $ETA_JOBS) g")
# predicted finish = the first status read's clock + eta_seconds
for id in $ids; do
  q -c "SELECT id, extract(epoch FROM clock_timestamp()) + eta_seconds FROM exportq.status($id)" -F ' '
done >"$T/pred"
for _ in $(seq 1 1200); do
  [ "$(q -c "SELECT count(*) FROM exportq.jobs WHERE owner LIKE 'eta%' AND state = 'succeeded'")" = "$ETA_JOBS" ] && break; sleep 0.1
done
t_enq=$(q -c "SELECT extract(epoch FROM min(created_at)) FROM exportq.jobs WHERE owner LIKE 'eta%'")
printf '| job | predicted s from enqueue | real s | predicted / real |\n|---|---|---|---|\n'
while read -r id pred; do
  real=$(q -c "SELECT extract(epoch FROM finished_at) FROM exportq.jobs WHERE id = $id")
  awk -v id="$id" -v p="$pred" -v r="$real" -v t="$t_enq" 'BEGIN { printf "| %s | %.1f | %.1f | %.2f |\n", id, p - t, r - t, (p - t) / (r - t) }'
done <"$T/pred" | tee "$T/eta"
awk -F'|' '{print $5}' "$T/eta" | sort -g | awk '{v[NR]=$1} END {printf "ratio median %.2f, min %.2f, max %.2f\n", v[int((NR+1)/2)], v[1], v[NR]}'
