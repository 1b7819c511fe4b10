#!/usr/bin/env bash
# export_bench.sh - the async export path (issue 4): `exportq worker --drain`
# exporting BENCH_ROWS seed-shaped rows of one owner to S3, side by side with
# two baselines measured in the same run against the same servers:
#   (a) psql COPY ... TO STDOUT > /dev/null       (what the database alone costs)
#   (b) psql COPY ... | /usr/bin/aws s3 cp - s3://  (the obvious shell pipeline)
# Each timed case runs BENCH_RUNS times (default 3), interleaved, and prints
# median (min..max). Also: the uploaded object's sha256 against psql's COPY
# output (once), a part size / concurrency sweep, and the peak RSS at
# BENCH_BIG_ROWS rows.
#
#   bench/export_bench.sh
#   BENCH_ROWS=200000 BENCH_BIG_ROWS=0 bench/export_bench.sh     (short)
#
# Env: BENCH_ROWS (1000000), BENCH_BIG_ROWS (10000000; 0 skips), BENCH_RUNS (3),
# BENCH_SWEEP ("PART:CONC ..." settings tried once each; "" skips),
# BENCH_STATE (/tmp/exportq-bench), BENCH_KEEP=1 (leave the servers up),
# S3_OBJECTSTORE / S3_MEMSTORE_BYTES (S3 server storage; memstore 8 GiB default).
# Everything talks to 127.0.0.1 only. Mail is off (SMTP unset): only the export
# is measured. No figure is asserted; the script fails only on wrong bytes or
# a failed job.
. "$(dirname "$0")/common.sh"

ROWS=${BENCH_ROWS:-1000000}
BIG=${BENCH_BIG_ROWS:-10000000}
RUNS=${BENCH_RUNS:-3}
SWEEP=${BENCH_SWEEP-5242880:2 5242880:4 8388608:2 8388608:4 8388608:8 16777216:2 16777216:4}
OWNER=bench-$ROWS
BIGOWNER=bench-$BIG

bench_setup
bench_workdir exportq-bench-run
export EXPORTQ_S3_PREFIX=bench/

bench_seed "$OWNER" "$ROWS"
[ "$BIG" -gt 0 ] && bench_seed "$BIGOWNER" "$BIG"

# ---- correctness first: the reference bytes, and a warm cache --------------------------
hr "export of $ROWS rows (owner $OWNER), $RUNS runs per case, interleaved"
bench_reference "$OWNER"

for ((i = 1; i <= RUNS; i++)); do
  bench_log "run $i/$RUNS"
  run_copy "$OWNER" "$T/copy.dat"
  run_aws "$OWNER" "bench/aws-$i.csv" "$T/aws.dat"
  if [ "$i" = 1 ]; then
    sha=$(s3_sha "bench/aws-$i.csv")
    [ "$sha" = "$REF_SHA" ] || bench_die "the awscli object differs from psql's COPY ($sha)"
  fi
  s3_rm "bench/aws-$i.csv"
  run_worker bench_raw "$OWNER" "$T/worker.dat"
  if [ "$i" = 1 ]; then
    sha=$(s3_sha "$KEY")
    [ "$sha" = "$REF_SHA" ] || bench_die "job $JOB's object differs from psql's COPY ($sha)"
    echo "verified: job $JOB's S3 object and the awscli object both have sha256 $REF_SHA"
  fi
  s3_rm "$KEY"
  run_worker user_activity "$OWNER" "$T/guard.dat"
  s3_rm "$KEY"
done

# ---- the table ------------------------------------------------------------------------
row() {  # row LABEL DAT: median (min..max) of the wall time, the job time, MB/s, RSS, CPU
  local label=$1 dat=$2 w j r
  read -r wm wl wh <<<"$(stats "$dat" 1)"
  read -r jm jl jh <<<"$(stats "$dat" 5)"
  read -r rm_ _ rh <<<"$(stats "$dat" 2)"
  read -r um _ _ <<<"$(stats "$dat" 3)"
  read -r sm _ _ <<<"$(stats "$dat" 4)"
  read -r pg _ _ <<<"$(stats "$dat" 7)"
  read -r rgw _ _ <<<"$(stats "$dat" 8)"
  read -r osd _ _ <<<"$(stats "$dat" 9)"
  read -r busy _ _ <<<"$(stats "$dat" 10)"
  # CPU the machine spent on anything else (colleagues' tests, the 0.5 s reaping pause...)
  local others
  others=$(awk '{ o = $11 - $3 - $4 - $7 - $8 - $9; if (o < 0) o = 0; print o }' "$dat" | sort -g \
           | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }')
  local bytes
  bytes=$(tail -n 1 "$dat" | awk '{print $6}')
  w="$wm ($wl..$wh)"
  if [ "$jm" = "-" ] || [ -z "$jm" ]; then j="-"; t=$wm; else
    j=$(printf '%.2f (%.2f..%.2f)' "$jm" "$jl" "$jh"); t=$jm; fi
  r=$(mib "$rh")
  printf '| %-34s | %-18s | %-18s | %6s | %5s | %9s | %4s | %4s | %4s | %4s | %3s%% | %4s |\n' \
    "$label" "$w" "$j" "$(mbps "$bytes" "$t")" "$(fmt_ratio "$t" "$COPY_MED")" "$r" \
    "$(awk -v u="$um" -v s="$sm" 'BEGIN{printf "%.1f", u+s}')" "$pg" "$(awk -v a="$rgw" -v b="$osd" 'BEGIN{printf "%.1f", a+b}')" "$others" "$busy" \
    "$(awk '{ if ($7 > 0) print ($5 == "-" ? $1 : $5) / $7 }' "$dat" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }')"
}
COPY_MED=$(stats "$T/copy.dat" 1 | cut -d' ' -f1)
hr "results: $ROWS rows, $REF_BYTES bytes; median (min..max) of $RUNS runs; ratio = time / psql COPY > /dev/null"
echo "| case | process wall s | job s (started..finished) | MB/s | ratio | peak RSS MiB (max) | own CPU s | pg CPU s | rgw+osd CPU s | other CPU s | machine busy | time / pg CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
row "psql COPY > /dev/null" "$T/copy.dat"
row "psql COPY | aws s3 cp -" "$T/aws.dat"
row "exportq worker (no guard, default)" "$T/worker.dat"
row "exportq worker (formula guard on)" "$T/guard.dat"
echo "(MB/s = bytes / job time for the worker, / wall time for the baselines; own CPU = user+sys of"
echo " the measured command and its children; pg = postmaster + backends; other = every other process"
echo " on the machine meanwhile; busy = share of both cores; CPU figures are medians; time / pg CPU ="
echo " wall (job) time over the PostgreSQL backend's CPU time in the same run: 1.00 = bound by the backend)"

# ---- part size / concurrency ------------------------------------------------------------
if [ -n "$SWEEP" ]; then
  hr "part size x upload concurrency, bench_raw, $ROWS rows, one run each (default: 8388608 x 4)"
  echo "(each setting right after its own psql COPY > /dev/null; ratio = job s / that COPY's s)"
  echo "| EXPORTQ_PART_SIZE | EXPORTQ_UPLOAD_CONCURRENCY | COPY s | process wall s | job s | MB/s | ratio | peak RSS MiB | other CPU s |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for s in $SWEEP; do
    part=${s%%:*} conc=${s##*:}
    rm -f "$T/sweep.dat" "$T/sweepcopy.dat"
    run_copy "$OWNER" "$T/sweepcopy.dat"
    run_worker bench_raw "$OWNER" "$T/sweep.dat" EXPORTQ_PART_SIZE="$part" EXPORTQ_UPLOAD_CONCURRENCY="$conc"
    s3_rm "$KEY"
    read -r cw _ <"$T/sweepcopy.dat"
    read -r w rss u sy j b pg rgw osd _ bs <"$T/sweep.dat"
    printf '| %s | %s | %s | %s | %.2f | %s | %s | %s | %s |\n' "$part" "$conc" "$cw" "$w" "$j" "$(mbps "$b" "$j")" \
      "$(fmt_ratio "$j" "$cw")" "$(mib "$rss")" \
      "$(awk -v a="$bs" -v b="$u" -v c="$sy" -v d="$pg" -v e="$rgw" -v f="$osd" 'BEGIN { o = a-b-c-d-e-f; printf "%.1f", o < 0 ? 0 : o }')"
  done
fi

# ---- memory at the big size ---------------------------------------------------------------
if [ "$BIG" -gt 0 ]; then
  hr "$BIG rows (owner $BIGOWNER): one run each, same servers"
  rm -f "$T/bigcopy.dat" "$T/bigworker.dat"
  REF_BYTES=$(psql -XAtq -c "$(copy_sql "$BIGOWNER")" | wc -c)   # also warms the cache
  run_copy "$BIGOWNER" "$T/bigcopy.dat"
  run_worker bench_raw "$BIGOWNER" "$T/bigworker.dat"
  s3_rm "$KEY"
  read -r bw _ bu bsy _ _ bpg brgw bosd _ bbs <"$T/bigcopy.dat"
  read -r ww wrss wu wsy wj wb wpg wrgw wosd _ wbs <"$T/bigworker.dat"
  [ "$wb" = "$REF_BYTES" ] || bench_die "job $JOB recorded $wb bytes, psql's COPY gives $REF_BYTES"
  other() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" -v e="$5" -v f="$6" 'BEGIN { o = a-b-c-d-e-f; printf "%.1f", o < 0 ? 0 : o }'; }
  echo "| case | wall s | job s | MB/s | ratio | peak RSS MiB | own CPU s | pg CPU s | rgw+osd CPU s | other CPU s |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '| psql COPY > /dev/null | %s | - | %s | 1.00 | - | %.1f | %s | %.1f | %s |\n' "$bw" "$(mbps "$REF_BYTES" "$bw")" \
    "$(awk -v a="$bu" -v b="$bsy" 'BEGIN{print a+b}')" "$bpg" "$(awk -v a="$brgw" -v b="$bosd" 'BEGIN{print a+b}')" \
    "$(other "$bbs" "$bu" "$bsy" "$bpg" "$brgw" "$bosd")"
  printf '| exportq worker (no guard, default) | %s | %.2f | %s | %s | %s | %.1f | %s | %.1f | %s |\n' "$ww" "$wj" \
    "$(mbps "$wb" "$wj")" "$(fmt_ratio "$wj" "$bw")" "$(mib "$wrss")" \
    "$(awk -v a="$wu" -v b="$wsy" 'BEGIN{print a+b}')" "$wpg" "$(awk -v a="$wrgw" -v b="$wosd" 'BEGIN{print a+b}')" \
    "$(other "$wbs" "$wu" "$wsy" "$wpg" "$wrgw" "$wosd")"
  echo "peak RSS of exportq worker: $(mib "$(stats "$T/worker.dat" 2 | cut -d' ' -f3)") MiB at $ROWS rows," \
       "$(mib "$wrss") MiB at $BIG rows ($wb bytes)"
fi
