#!/usr/bin/env bash
# format_bench.sh - the formats of issue 17 on the async path: `exportq worker
# --drain` exporting BENCH_ROWS rows of the sample kind (app.export_user_activity,
# one owner) to S3 as csv, tsv, jsonl, xlsx and csv+gzip, side by side, with
# csv (the worker's default format) as the baseline measured in the same run,
# and psql's COPY > /dev/null as what the database alone costs.
# Each case runs BENCH_RUNS times (default 2), interleaved (csv, tsv, jsonl,
# xlsx, csv+gzip, csv, ...), and prints median (min..max) of the job time and
# the largest peak RSS of the worker process. Every job must succeed with
# BENCH_ROWS rows; nothing is asserted on time or memory.
#
#   bench/format_bench.sh
#   BENCH_ROWS=200000 BENCH_RUNS=1 bench/format_bench.sh     (short)
#
# Env: BENCH_ROWS (1000000), BENCH_RUNS (2), BENCH_FORMATS ("csv tsv jsonl xlsx
# csv+gzip"), BENCH_STATE (/tmp/exportq-bench), BENCH_KEEP=1 (leave the servers
# up), BENCH_NICE (see common.sh). Everything talks to 127.0.0.1 only; mail is
# off. xlsx is built in a temporary file under EXPORTQ_TMPDIR (or /tmp): its
# size is printed too.
. "$(dirname "$0")/common.sh"

ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-2}
FORMATS=${BENCH_FORMATS:-csv tsv jsonl xlsx csv+gzip}
OWNER=bench-$ROWS

bench_setup
# xlsx: libxlsxwriter's workbook_close (zipping the sheets) is one blocking
# call without heartbeats; at 1M rows on this machine it outlasts the default
# 30 s lease and the job is rescued (seen 2026-12-01). Every case gets the same
# long lease so that xlsx can be measured at all.
export EXPORTQ_LEASE_SECONDS=${BENCH_LEASE_SECONDS:-600}
bench_workdir exportq-bench-fmt
export EXPORTQ_S3_PREFIX=bench-fmt/
psql -XAtq -v ON_ERROR_STOP=1 \
  -c "SELECT exportq.define_kind('bench_gzip', 'app.export_user_activity', 'activity.csv', '{\"gzip\": true}')" >/dev/null
bench_seed "$OWNER" "$ROWS"

# run_fmt FORMAT DAT: one export in FORMAT; appends
#   wall_s maxrss_kib user_s sys_s job_s bytes pg_cpu_s rgw_cpu_s osd_cpu_s busy_pct busy_s
run_fmt() {
  local f=$1 dat=$2 kind=bench_raw args=() b a st state job_s bytes rows key
  case $f in
    csv+gzip) kind=bench_gzip ;;
    *) args=(--format "$f") ;;
  esac
  JOB=$("$EXPORTQ_BIN" enqueue "$kind" --owner "$OWNER" "${args[@]}")
  b=$(cpu_snap)
  timed "$T/t" "$EXPORTQ_BIN" worker --drain 2>>"$T/worker.log" \
    || { tail -n 20 "$T/worker.log" >&2; bench_die "worker --drain failed ($f)"; }
  a=$(cpu_snap end)
  st=$(psql -XAtq -F ' ' -c "SELECT state, extract(epoch FROM finished_at - started_at), bytes, rows, object_key
                                FROM exportq.jobs WHERE id = $JOB")
  read -r state job_s bytes rows key <<<"$st"
  [ "$state" = succeeded ] || { tail -n 20 "$T/worker.log" >&2; bench_die "job $JOB ($f) is $state"; }
  [ "$rows" = "$ROWS" ] || bench_die "job $JOB ($f) exported $rows rows, not $ROWS"
  echo "$(tail -n 1 "$T/t") $job_s $bytes $(cpu_diff "$b" "$a")" >>"$dat"
  s3_rm "$key"
}

hr "formats: $ROWS rows (owner $OWNER), $RUNS runs per case, interleaved"
psql -XAtq -c "$(copy_sql "$OWNER")" >/dev/null   # a warm cache for everyone
for ((i = 1; i <= RUNS; i++)); do
  bench_log "run $i/$RUNS"
  run_copy "$OWNER" "$T/copy.dat"
  for f in $FORMATS; do
    run_fmt "$f" "$T/${f/+/_}.dat"
  done
done

# ---- the table ------------------------------------------------------------------------
med() { stats "$1" "$2" | cut -d' ' -f1; }
CSV_J=$(med "$T/csv.dat" 5)
CSV_B=$(tail -n 1 "$T/csv.dat" | awk '{print $6}')
CSV_R=$(stats "$T/csv.dat" 2 | cut -d' ' -f3)
COPY_W=$(med "$T/copy.dat" 1)
hr "results: median (min..max) of $RUNS runs; x csv = against the csv export of the same run"
echo "| format | job s (started..finished) | x csv | rows/s | object MB | x csv | peak RSS MiB (max) | x csv | worker CPU s | pg CPU s | other CPU s | machine busy |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for f in $FORMATS; do
  dat="$T/${f/+/_}.dat"
  read -r jm jl jh <<<"$(stats "$dat" 5)"
  bytes=$(tail -n 1 "$dat" | awk '{print $6}')
  rss=$(stats "$dat" 2 | cut -d' ' -f3)
  cpu=$(awk '{ print $3 + $4 }' "$dat" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }')
  pg=$(med "$dat" 7)
  other=$(awk '{ o = $11 - $3 - $4 - $7 - $8 - $9; if (o < 0) o = 0; print o }' "$dat" | sort -g \
          | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }')
  printf '| %s | %.2f (%.2f..%.2f) | %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s%% |\n' "$f" "$jm" "$jl" "$jh" \
    "$(fmt_ratio "$jm" "$CSV_J")" "$(awk -v r="$ROWS" -v s="$jm" 'BEGIN { printf "%.0f", r / s }')" \
    "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$(fmt_ratio "$bytes" "$CSV_B")" "$(mib "$rss")" \
    "$(fmt_ratio "$rss" "$CSV_R")" "$cpu" "$pg" "$other" "$(med "$dat" 10)"
done
printf '| (psql COPY > /dev/null, csv) | %s (wall) | %s | | | | | | | %s | | |\n' "$COPY_W" \
  "$(fmt_ratio "$COPY_W" "$CSV_J")" "$(med "$T/copy.dat" 7)"
echo "(job s = finished_at - started_at of the job; peak RSS = the worker process's maximum resident set;"
echo " worker CPU = user+sys of the worker process; pg = postmaster + backends; other = every other process"
echo " on the machine meanwhile; busy = share of both cores during the run)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
