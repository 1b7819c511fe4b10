#!/usr/bin/env bash
# pages_bench.sh - 1,000 open status pages against one `exportq serve`: what
# they cost the database and serve (issue 18: "must hold at 1,000 open pages
# without hurting the database"). bench/pages_poll.py simulates the pages
# (keep-alive, If-None-Match, the server's poll_after). Two cases:
#   (a) BENCH_PAGES pages of BENCH_PAGES different queued jobs
#   (b) BENCH_PAGES pages of one running-like job (queued at position 1)
# Printed: requests, 200/304, p50/p99 latency, status queries made
# (calls of exportq.progress, track_functions = pl) per second, and serve's
# CPU seconds. No figure is asserted.
#
#   bench/pages_bench.sh            (BENCH_PAGES=1000, BENCH_SECONDS=60)
. "$(dirname "$0")/common.sh"

PAGES=${BENCH_PAGES:-1000}
SECS=${BENCH_SECONDS:-60}
bench_setup
bench_workdir exportq-bench-pages
psql -XAtq -c "ALTER DATABASE $PGDATABASE SET track_functions = 'pl'" >/dev/null
psql -XAtq -c "DELETE FROM exportq.jobs" >/dev/null
psql -XAtq -c "SELECT exportq.enqueue('user_activity', '{}', NULL, 'bench-pages-' || i) FROM generate_series(1, $PAGES) i" >/dev/null
ids=$(psql -XAtq -c "SELECT string_agg(id::text, ' ' ORDER BY id) FROM exportq.jobs")
first=${ids%% *}
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
secret=$(openssl rand -hex 32)
EXPORTQ_HTTP_LISTEN=127.0.0.1:$port EXPORTQ_PUBLIC_URL=http://127.0.0.1:$port EXPORTQ_LINK_SECRET=$secret \
  EXPORTQ_HTTP_MAX_CONNECTIONS=5000 "$EXPORTQ_BIN" serve >"$T/serve.log" 2>&1 &
spid=$!
bench_on_exit "kill $spid 2>/dev/null; wait $spid 2>/dev/null"
for _ in $(seq 100); do grep -q 'serving HTTP on' "$T/serve.log" && break; sleep 0.1; done

calls() { psql -XAtq -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'progress'"; }
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$spid/stat"; }
run() { # TITLE IDS...
  local title=$1 c0 c1 u0 u1 out
  shift
  c0=$(calls); u0=$(cpu)
  out=$(ulimit -n 8192; /usr/bin/python3 "$BENCH_ROOT/bench/pages_poll.py" 127.0.0.1 "$port" "$SECS" "$secret" "$@")
  sleep 1
  c1=$(calls); u1=$(cpu)
  printf '%-44s %s status_queries=%s (%.1f/s) serve_cpu_s=%.2f\n' "$title" "$out" $((c1 - c0)) \
    "$(echo "($c1 - $c0) / $SECS" | bc -l)" "$(echo "$u1 - $u0" | bc -l)"
}
hr "$PAGES open status pages for ${SECS}s"
# shellcheck disable=SC2086
run "(a) $PAGES pages, $PAGES different queued jobs" $ids
# shellcheck disable=SC2086
run "(b) $PAGES pages, one job" $(yes "$first" | head -n "$PAGES")
