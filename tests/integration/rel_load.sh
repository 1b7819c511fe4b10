#!/usr/bin/env bash
# Reliability under load, on one database:
#  - 2 long exports run (a worker of their own) the whole time;
#  - N tiny jobs (CI 300, EXPORTQ_LONG=1: 1000) over 50 owners go through 4
#    worker processes x --concurrency 2: zero double claims (every job
#    succeeded with attempts = 1, exactly one object per job, and exactly one
#    run per job: a counting proxy in front of S3 sees one PutObject stored
#    per key; a second run would overwrite the same key unseen), all done;
#  - meanwhile 200 concurrent status polls hit `exportq serve`
#    (GET /v1/exports/{id}): two tokens under the rate limit get only 200s, a
#    third over it gets only 200s and the intended 429s;
#  - database connections of exportq (pg_stat_activity, sampled every 0.2 s)
#    never exceed the configured limits: per worker process 2 x concurrency + 1
#    (queue + source per job thread, housekeeper), for serve its pool (8) + 1.
# Printed figures (no timing assertion): throughput, claim latency
# (created_at -> started_at) p50/p95/max, dead tuples of exportq.jobs while the
# long exports hold their snapshots, and peak connections.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
use_fresh_db
export EXPORTQ_S3_PREFIX="rel-load-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_POLL_SECONDS=1 EXPORTQ_OWNER_MAX_RUNNING=2
t=$(tmpdir)
n=300; rel_long && n=1000
define_slow_kind
psql_q "CREATE FUNCTION app.tiny(params jsonb) RETURNS TABLE(owner text, n int) LANGUAGE sql STABLE AS
          \$\$ SELECT params->>'owner', i FROM generate_series(1, 3) i \$\$;
        SELECT exportq.define_kind('tiny', 'app.tiny', 'tiny.csv')" >/dev/null

# the long exports: ~2 x 40 MB, pausing 1 s every 20,000 rows (~ 10+ s each; long mode ~60 s)
long_rows=200000; rel_long && long_rows=1000000
for o in long1 long2; do "$EXPORTQ_BIN" enqueue slow --param rows=$long_rows --param pause=1 --owner $o >/dev/null; done
s3proxy_start 0 "" 31 # every worker goes through it: it counts the runs, never fails
EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg wl "$t/wlong.log" "$EXPORTQ_BIN" worker --concurrency 2
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.jobs WHERE kind = 'slow' AND state = 'running' AND bytes > 0\")\" = 2 ]" 60 \
  || fail "the long exports did not start"
ok "2 long exports running"

# connection sampler: "worker+export api" maxima, one line per sample
( while :; do
    psql -XAtq -c "SELECT count(*) FILTER (WHERE application_name IN ('exportq-worker', 'exportq-worker-aux', 'exportq-export')),
                          count(*) FILTER (WHERE application_name = 'exportq-api')
                   FROM pg_stat_activity WHERE datname = current_database()" -F ' ' 2>/dev/null
    sleep 0.2
  done ) >"$t/conns" &
sampler=$!
on_exit "kill $sampler 2>/dev/null"

TA=$(token_for o1) TB=$(token_for o2) TC=$(token_for o3)
serve_start EXPORTQ_RATE_LIMIT=150
psql_q "SELECT exportq.enqueue('tiny', '{}', NULL, 'o' || (i % 50)) FROM generate_series(1, $n) i" >/dev/null
t0=$(date +%s.%N)
ws=()
for i in 1 2 3 4; do EXPORTQ_S3_ENDPOINT=$S3PROXY_URL rel_bg w "$t/w$i.log" "$EXPORTQ_BIN" worker --concurrency 2; ws+=("$w"); done

# 200 concurrent polls: 100 with token A, 100 with B (under the limit of 150/min)
ida=$(psql_q "SELECT min(id) FROM exportq.jobs WHERE owner = 'o1'")
idb=$(psql_q "SELECT min(id) FROM exportq.jobs WHERE owner = 'o2'")
idc=$(psql_q "SELECT min(id) FROM exportq.jobs WHERE owner = 'o3'")
poll_cfg() { # token id count
  local i
  for ((i = 0; i < $3; i++)); do
    printf 'next\nurl = "%s/v1/exports/%s"\nheader = "Authorization: Bearer %s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$URL" "$2" "$1"
  done
}
{ poll_cfg "$TA" "$ida" 100; poll_cfg "$TB" "$idb" 100; } >"$t/polls.cfg"
curl -sS -Z --parallel-max 200 --parallel-immediate -K "$t/polls.cfg" >"$t/polls.out" 2>"$t/polls.err" || true
codes=$(sort "$t/polls.out" | uniq -c | awk '{printf "%s x%s ", $2, $1}')
assert_eq "200 x200 " "$codes" "200 concurrent polls under the limit"
# 200 more with token C, over its 150/min: only 200s and intended 429s
poll_cfg "$TC" "$idc" 200 >"$t/pollc.cfg"
curl -sS -Z --parallel-max 200 --parallel-immediate -K "$t/pollc.cfg" >"$t/pollc.out" 2>"$t/pollc.err" || true
codes_c=$(sort "$t/pollc.out" | uniq -c | awk '{printf "%s x%s ", $2, $1}')
[ "$(grep -cvx '200\|429' "$t/pollc.out")" = 0 ] || fail "over the limit: unexpected statuses: $codes_c"
grep -qx 429 "$t/pollc.out" || fail "over the limit but no 429: $codes_c"
ok "polls: tokens A+B $codes; token C over its limit $codes_c"

wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.jobs WHERE kind = 'tiny' AND state = 'succeeded'\")\" = $n ]" $((60 + n / 2)) \
  || { tail -20 "$t/w1.log" >&2; psql_q "SELECT state, count(*) FROM exportq.jobs GROUP BY 1" >&2; fail "tiny jobs did not all succeed"; }
t1=$(date +%s.%N)
dead=$(psql_q "SELECT n_dead_tup || ' dead / ' || n_live_tup || ' live' FROM pg_stat_user_tables WHERE relid = 'exportq.jobs'::regclass")
long_state=$(psql_q "SELECT string_agg(state, ',') FROM exportq.jobs WHERE kind = 'slow'")
for w in "${ws[@]}"; do kill -TERM "$w"; wait "$w" || fail "a worker did not exit cleanly"; done
kill -TERM "$wl"; wait "$wl" || true
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true

assert_eq "$n" "$(psql_q "SELECT count(*) FROM exportq.jobs WHERE kind = 'tiny' AND attempts = 1")" "every tiny job ran exactly once (attempts = 1)"
keys=$(s3_list_keys "$EXPORTQ_S3_PREFIX" | grep '/tiny.csv$' || true)
assert_eq "$n" "$(echo "$keys" | grep -c .)" "one object per tiny job"
assert_eq "$n" "$(echo "$keys" | sed 's|.*/\([0-9]*\)-[^/]*/tiny.csv$|\1|' | sort -u | wc -l)" "objects belong to $n distinct jobs"
s3proxy_runs_by_job "$EXPORTQ_S3_PREFIX" >"$t/runs"
psql_q "SELECT id FROM exportq.jobs WHERE kind = 'tiny'" >"$t/tiny_ids"
bad=$(awk 'NR == FNR {runs[$1] = $2; next} runs[$1] != 1 {printf "job %s: %s runs; ", $1, runs[$1] + 0}' "$t/runs" "$t/tiny_ids" | cut -c1-500)
[ -z "$bad" ] || fail "a tiny job did not run exactly once (PutObjects S3 stored per key): $bad"
max_w=$(awk '$1 > m {m = $1} END {print m + 0}' "$t/conns")
max_api=$(awk '$2 > m {m = $2} END {print m + 0}' "$t/conns")
limit_w=$((5 * (2 * 2 + 1)))
[ "$max_w" -le "$limit_w" ] || fail "worker connections peaked at $max_w > $limit_w"
[ "$max_api" -le 9 ] || fail "serve connections peaked at $max_api > 9"
lat=$(psql_q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::numeric, 2) || ' / ' ||
                     round(percentile_cont(0.95) WITHIN GROUP (ORDER BY s)::numeric, 2) || ' / ' || round(max(s)::numeric, 2)
              FROM (SELECT extract(epoch FROM started_at - created_at) s FROM exportq.jobs WHERE kind = 'tiny') x")
rate=$(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN {printf "%.1f", n / (b - a)}')
ok "load: $n tiny jobs by 4 workers x 2 (through a counting proxy) in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s = $rate jobs/s, zero double claims, one run each"
ok "claim latency p50 / p95 / max (s): $lat (while 2 long exports ran: $long_state at the end)"
ok "exportq.jobs while the long exports held their snapshots: $dead"
ok "peak connections: workers $max_w (limit $limit_w), serve $max_api (limit 9)"
