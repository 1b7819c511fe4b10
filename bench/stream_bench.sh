#!/usr/bin/env bash
# stream_bench.sh - the streaming endpoint (issue 5): `exportq serve` on a free
# port of 127.0.0.1, GET /v1/stream/{kind} with curl, next to a baseline
# measured in the same run:
#   (1) throughput of one BENCH_ROWS-row stream (curl -o /dev/null), median of
#       BENCH_RUNS, vs psql COPY ... TO STDOUT > /dev/null of the same rows;
#       the streamed bytes are checked once against psql's (sha256)
#   (2) VmRSS of serve idle vs during BENCH_PAR (8) concurrent streams, sampled
#       every 100 ms from /proc/PID/status: peak - idle
#   (3) BENCH_CLIENTS (50) clients at once at EXPORTQ_MAX_STREAMS=8: how many
#       200s and 429s, and the most exportq connections pg_stat_activity shows
#       (sampled every 100 ms), against the bound max_streams + the API's pool
#
#   bench/stream_bench.sh
#   BENCH_ROWS=200000 bench/stream_bench.sh                      (short)
#
# Env: BENCH_ROWS (1000000), BENCH_RUNS (3), BENCH_PAR (8), BENCH_CLIENTS (50),
# BENCH_STATE, BENCH_KEEP=1. No figure is asserted; the script fails only on
# wrong bytes, a status other than 200/429, or more connections than the bound.
. "$(dirname "$0")/common.sh"

ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}
PAR=${BENCH_PAR:-8}
CLIENTS=${BENCH_CLIENTS:-50}
MAX_STREAMS=8
POOL=8          # DB_POOL_SIZE in http/http_server.c: the JSON API's queue connections
OWNER=bench-$ROWS
LOOP_LIMIT_S=900  # every wait/sample loop below gives up after this long

bench_setup
bench_workdir exportq-bench-run
bench_seed "$OWNER" "$ROWS"
TOKEN=$("$EXPORTQ_BIN" token create --owner "$OWNER")

# serve: its own rate limit is raised so that only the stream cap answers 429
EXPORTQ_HTTP_LISTEN=127.0.0.1:0 EXPORTQ_LOG_LEVEL=info EXPORTQ_MAX_STREAMS=$MAX_STREAMS \
  EXPORTQ_RATE_LIMIT=100000 "$EXPORTQ_BIN" serve >"$T/serve.log" 2>&1 &
SERVE_PID=$!
bench_on_exit "kill $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null"
for ((i = 0; i < 200; i++)); do
  grep -q 'serving HTTP on' "$T/serve.log" 2>/dev/null && break
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q 'serving HTTP on' "$T/serve.log" || { cat "$T/serve.log" >&2; bench_die "exportq serve did not start"; }
URL="http://$(grep -o 'serving HTTP on [^ ]*' "$T/serve.log" | head -n 1 | sed 's/serving HTTP on //')"
case "$URL" in http://127.0.0.1:*) ;; *) bench_die "serve listens on $URL, not 127.0.0.1" ;; esac
vmrss() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status"; }
serve_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SERVE_PID/stat"; }
HZ=$(getconf CLK_TCK)
sleep 1
IDLE0=$(vmrss)
echo "exportq serve pid $SERVE_PID on $URL; idle VmRSS at start: $IDLE0 KiB"

get() {  # get KIND OUT: one stream; prints "code bytes seconds"
  curl -sS --max-time "$LOOP_LIMIT_S" -H "Authorization: Bearer $TOKEN" -o "$2" \
    -w '%{http_code} %{size_download} %{time_total}\n' "$URL/v1/stream/$1" \
    | awk '{ printf "%s %s %.2f\n", $1, $2, $3 }'
}

# ---- (1) throughput -------------------------------------------------------------------
hr "(1) one stream of $ROWS rows vs psql COPY > /dev/null; $RUNS runs each, interleaved"
psql -XAtq -c "$(copy_sql "$OWNER")" >"$T/ref.csv"
REF_BYTES=$(stat -c %s "$T/ref.csv")
read -r code bytes _ <<<"$(get bench_raw "$T/stream.csv")"
[ "$code" = 200 ] || bench_die "stream answered $code"
cmp -s "$T/ref.csv" "$T/stream.csv" || bench_die "the streamed CSV differs from psql's COPY"
echo "verified: GET /v1/stream/bench_raw is byte-equal to psql's COPY ($REF_BYTES bytes, sha256 $(sha256sum <"$T/ref.csv" | cut -c1-16)...)"
rm -f "$T/ref.csv" "$T/stream.csv"

for ((i = 1; i <= RUNS; i++)); do
  bench_log "run $i/$RUNS"
  b=$(cpu_snap)
  timed "$T/t" bash -c 'psql -XAtq -c "$1" >/dev/null' _ "$(copy_sql "$OWNER")"
  a=$(cpu_snap end)
  echo "$(cut -d' ' -f1 "$T/t" | tail -n 1) $REF_BYTES - $(cpu_diff "$b" "$a")" >>"$T/copy.dat"
  for kind in bench_raw user_activity; do
    b=$(cpu_snap); s0=$(serve_ticks)
    read -r code bytes secs <<<"$(get "$kind" /dev/null)"
    a=$(cpu_snap end); s1=$(serve_ticks)
    [ "$code" = 200 ] || bench_die "stream $kind answered $code"
    echo "$secs $bytes $(awk -v a="$s0" -v b="$s1" -v hz="$HZ" 'BEGIN{printf "%.1f", (b-a)/hz}') $(cpu_diff "$b" "$a")" >>"$T/$kind.dat"
  done
done
COPY_MED=$(stats "$T/copy.dat" 1 | cut -d' ' -f1)
COPY_RATE=$(mbps "$REF_BYTES" "$COPY_MED")
srow() {  # srow LABEL DAT
  local m l h b rate
  read -r m l h <<<"$(stats "$2" 1)"
  b=$(tail -n 1 "$2" | cut -d' ' -f2)
  rate=$(mbps "$b" "$m")
  printf '| %-32s | %-18s | %s | %6s | %4s | %4s | %4s | %4s | %3s%% |\n' "$1" "$m ($l..$h)" "$b" "$rate" \
    "$(fmt_ratio "$rate" "$COPY_RATE")" "$(stats "$2" 3 | cut -d' ' -f1)" "$(stats "$2" 4 | cut -d' ' -f1)" \
    "$(awk '{s += $5 + $6} END {printf "%.1f", s / NR}' "$2")" "$(stats "$2" 7 | cut -d' ' -f1)"
}
echo "| case | wall s median (min..max) | bytes | MB/s | rate / psql rate | serve CPU s | pg CPU s | rgw+osd CPU s | machine busy |"
echo "|---|---|---|---|---|---|---|---|---|"
srow "psql COPY > /dev/null" "$T/copy.dat"
srow "GET /v1/stream/bench_raw" "$T/bench_raw.dat"
srow "GET /v1/stream/user_activity (guard)" "$T/user_activity.dat"

# ---- (2) memory under 8 concurrent streams -------------------------------------------------
hr "(2) VmRSS of exportq serve: idle vs during $PAR concurrent $ROWS-row streams (100 ms samples)"
sleep 1
IDLE=$(vmrss)
pids=()
for ((i = 1; i <= PAR; i++)); do
  get bench_raw /dev/null >"$T/par.$i" &
  pids+=($!)
done
peak=$IDLE n=0 t0=$(now_ns)
while :; do
  running=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
  [ "$running" -gt 0 ] || break
  [ $(( ($(now_ns) - t0) / 1000000000 )) -lt "$LOOP_LIMIT_S" ] || bench_die "streams still running after ${LOOP_LIMIT_S}s"
  r=$(vmrss); n=$((n + 1))
  [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.1
done
wall=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN{printf "%.1f", (b-a)/1e9}')
wait "${pids[@]}" || true
okc=$(cat "$T"/par.* | awk -v want="$REF_BYTES" '$1 == 200 && $2 == want' | wc -l)
[ "$okc" = "$PAR" ] || { cat "$T"/par.* >&2; bench_die "$okc of $PAR concurrent streams complete"; }
echo "| VmRSS idle at start KiB | idle before the run KiB | peak during $PAR streams KiB | peak - idle MiB | samples | all $PAR streams done in |"
echo "|---|---|---|---|---|---|"
echo "| $IDLE0 | $IDLE | $peak | $(mib $((peak - IDLE))) | $n | ${wall} s ($(mbps $((REF_BYTES * PAR)) "$wall") MB/s together) |"
echo "VmHWM (kernel's peak RSS of serve so far): $(awk '/^VmHWM:/ {print $2}' "/proc/$SERVE_PID/status") KiB"

# ---- (3) the cap: 50 clients at once ---------------------------------------------------
hr "(3) $CLIENTS clients at once, EXPORTQ_MAX_STREAMS=$MAX_STREAMS (bound on connections: $MAX_STREAMS streams + $POOL pool = $((MAX_STREAMS + POOL)))"
conns() {
  psql -XAtq -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'exportq%'"
}
before=$(conns)
pids=()
for ((i = 1; i <= CLIENTS; i++)); do
  get bench_raw /dev/null >"$T/cap.$i" 2>/dev/null &
  pids+=($!)
done
maxc=0 n=0 t0=$(now_ns)
while :; do
  running=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
  [ "$running" -gt 0 ] || break
  [ $(( ($(now_ns) - t0) / 1000000000 )) -lt "$LOOP_LIMIT_S" ] || bench_die "clients still running after ${LOOP_LIMIT_S}s"
  c=$(conns); n=$((n + 1))
  [ "$c" -gt "$maxc" ] && maxc=$c
  sleep 0.1
done
wait "${pids[@]}" || true
c200=$(cat "$T"/cap.* | awk '$1 == 200' | wc -l)
c429=$(cat "$T"/cap.* | awk '$1 == 429' | wc -l)
other=$((CLIENTS - c200 - c429))
full=$(cat "$T"/cap.* | awk -v want="$REF_BYTES" '$1 == 200 && $2 == want' | wc -l)
echo "| clients | 200 | of which complete | 429 | other | exportq connections before | max during (samples) | bound |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $CLIENTS | $c200 | $full | $c429 | $other | $before | $maxc ($n) | $((MAX_STREAMS + POOL)) |"
[ "$other" = 0 ] || { cat "$T"/cap.* >&2; bench_die "$other answers were neither 200 nor 429"; }
[ "$maxc" -le $((MAX_STREAMS + POOL)) ] || bench_die "$maxc exportq connections: more than $MAX_STREAMS streams + $POOL pool"
[ "$full" = "$c200" ] || bench_die "$((c200 - full)) accepted streams did not deliver all $REF_BYTES bytes"
