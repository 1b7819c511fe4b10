#!/usr/bin/env bash
# parallel_bench.sh - parallel export (issue 16): one export of BENCH_ROWS rows
# of the sample data (one owner) side by side, same servers, same run:
#   psql COPY ... TO STDOUT > /dev/null          (one backend, no upload)
#   psql COPY ... | aws s3 cp -                   (the shell pipeline a user would write)
#   exportq worker --drain, EXPORTQ_EXPORT_PARALLEL = 1, 2, 4
#     (kind bench_split: app.export_user_activity without the formula guard and
#      with the split function app.split_user_activity of scripts/sample-data.sql)
# with peak RSS and where the CPU went (PostgreSQL, radosgw + ceph-osd, the
# measured command). Each case runs BENCH_RUNS times, interleaved; the object of
# every parallel level is checked once against psql's COPY (sha256).
# Optionally BENCH_BIG_ROWS rows (e.g. 10000000) at parallel 2 against COPY:
# off by default (0), since the machine is shared.
#
#   bench/parallel_bench.sh
#   BENCH_ROWS=200000 BENCH_RUNS=1 bench/parallel_bench.sh         (short)
#   BENCH_BIG_ROWS=10000000 bench/parallel_bench.sh                 (+ 10M rows)
#
# Env: BENCH_ROWS (1000000), BENCH_RUNS (3), BENCH_BIG_ROWS (0), BENCH_LEVELS
# ("1 2 4"), and common.sh's BENCH_STATE, BENCH_KEEP, BENCH_NICE. Talks to
# 127.0.0.1 only. Nothing is asserted on time; it fails only on wrong bytes or
# a failed job.
. "$(dirname "$0")/common.sh"

ROWS=${BENCH_ROWS:-1000000}
BIG=${BENCH_BIG_ROWS:-0}
RUNS=${BENCH_RUNS:-3}
LEVELS=${BENCH_LEVELS:-1 2 4}
OWNER=bench-$ROWS
BIGOWNER=bench-$BIG

bench_setup
psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT exportq.define_kind('bench_split', 'app.export_user_activity',
  'activity.csv', '{\"split\": \"app.split_user_activity\"}')" >/dev/null
bench_workdir exportq-pbench
export EXPORTQ_S3_PREFIX=pbench/
bench_seed "$OWNER" "$ROWS"
[ "$BIG" -gt 0 ] && bench_seed "$BIGOWNER" "$BIG"

hr "export of $ROWS rows (owner $OWNER), $RUNS runs per case, interleaved; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_reference "$OWNER"
echo "split: $(psql -XAtq -c "SELECT count(*) FROM app.split_user_activity('{\"owner\": \"$OWNER\"}', 4)") ranges for n = 4"

for ((i = 1; i <= RUNS; i++)); do
  bench_log "run $i/$RUNS"
  run_copy "$OWNER" "$T/copy.dat"
  run_aws "$OWNER" "pbench/aws-$i.csv" "$T/aws.dat"
  [ "$i" = 1 ] && { [ "$(s3_sha "pbench/aws-$i.csv")" = "$REF_SHA" ] || bench_die "the awscli object differs from COPY"; }
  s3_rm "pbench/aws-$i.csv"
  for p in $LEVELS; do
    run_worker bench_split "$OWNER" "$T/p$p.dat" EXPORTQ_EXPORT_PARALLEL="$p"
    if [ "$i" = 1 ]; then
      [ "$(s3_sha "$KEY")" = "$REF_SHA" ] || bench_die "parallel $p: job $JOB's object differs from COPY"
      echo "verified: parallel $p (job $JOB) object has psql COPY's sha256"
    fi
    s3_rm "$KEY"
  done
done

COPY_MED=$(stats "$T/copy.dat" 1 | cut -d' ' -f1)
row() {  # row LABEL DAT
  local label=$1 dat=$2 wm wl wh jm jl jh t j rh um sm pg rgw osd
  read -r wm wl wh <<<"$(stats "$dat" 1)"
  read -r jm jl jh <<<"$(stats "$dat" 5)"
  read -r _ _ rh <<<"$(stats "$dat" 2)"
  read -r um _ _ <<<"$(stats "$dat" 3)"
  read -r sm _ _ <<<"$(stats "$dat" 4)"
  read -r pg _ _ <<<"$(stats "$dat" 7)"
  read -r rgw _ _ <<<"$(stats "$dat" 8)"
  read -r osd _ _ <<<"$(stats "$dat" 9)"
  if awk '$5 == "-" { b = 1 } END { exit !b }' "$dat"; then j="-"; t=$wm; else j=$(printf '%.2f (%.2f..%.2f)' "$jm" "$jl" "$jh"); t=$jm; fi
  printf '| %-32s | %-18s | %-18s | %5s | %5s | %6s | %5s | %5s | %5s |\n' "$label" "$wm ($wl..$wh)" "$j" \
    "$(mbps "$REF_BYTES" "$t")" "$(fmt_ratio "$t" "$COPY_MED")" "$(mib "$rh")" \
    "$(awk -v u="$um" -v s="$sm" 'BEGIN{printf "%.1f", u+s}')" "$pg" "$(awk -v a="$rgw" -v b="$osd" 'BEGIN{printf "%.1f", a+b}')"
}
hr "results: $ROWS rows, $REF_BYTES bytes; median (min..max) of $RUNS runs; ratio = time / psql COPY > /dev/null; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| case | process wall s | job s (started..finished) | MB/s | ratio | peak RSS MiB | own CPU s | pg CPU s | rgw+osd CPU s |"
echo "|---|---|---|---|---|---|---|---|---|"
row "psql COPY > /dev/null" "$T/copy.dat"
row "psql COPY | aws s3 cp -" "$T/aws.dat"
for p in $LEVELS; do row "exportq worker, parallel $p" "$T/p$p.dat"; done
echo "(ratio uses the job time for the worker, the wall time for the baselines; own CPU = user+sys of the"
echo " measured command and its children; pg = postmaster + backends; CPU figures are medians)"

if [ "$BIG" -gt 0 ]; then
  hr "$BIG rows (owner $BIGOWNER), one run each: COPY > /dev/null, then the worker at parallel 2"
  REF_BYTES=$(psql -XAtq -c "$(copy_sql "$BIGOWNER")" | wc -c)
  run_copy "$BIGOWNER" "$T/bigcopy.dat"
  run_worker bench_split "$BIGOWNER" "$T/bigp2.dat" EXPORTQ_EXPORT_PARALLEL=2
  read -r _ _ _ _ _ wb _ <"$T/bigp2.dat"
  [ "$wb" = "$REF_BYTES" ] || bench_die "job $JOB recorded $wb bytes, psql's COPY gives $REF_BYTES"
  s3_rm "$KEY"
  COPY_MED=$(stats "$T/bigcopy.dat" 1 | cut -d' ' -f1)
  echo "| case | process wall s | job s | MB/s | ratio | peak RSS MiB | own CPU s | pg CPU s | rgw+osd CPU s |"
  echo "|---|---|---|---|---|---|---|---|---|"
  row "psql COPY > /dev/null" "$T/bigcopy.dat"
  row "exportq worker, parallel 2" "$T/bigp2.dat"
fi
