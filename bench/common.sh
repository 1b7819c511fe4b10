# shellcheck shell=bash
# bench/common.sh - sourced by the benchmark scripts (bench/*_bench.sh).
#
# Prepares a fresh machine and a private set of servers, then offers small
# helpers for timing and reporting. Nothing here asserts on time: the scripts
# print figures next to a baseline measured in the same run.
#
#   bench_setup               install-deps (+ /usr/bin/time), Release build in
#                             build-bench, servers up in $BENCH_STATE, env loaded,
#                             exportq migrated, sample data and kinds loaded;
#                             servers stopped at exit unless BENCH_KEEP=1
#   bench_seed OWNER N        make app.activity hold exactly N rows of OWNER
#                             (re-seeds only when the count differs)
#   copy_sql OWNER            the COPY statement of the raw export of OWNER
#   timed OUT CMD...          run CMD under /usr/bin/time; appends
#                             "wall_s maxrss_kib user_s sys_s" to OUT
#   stats FILE COL            "median min max" of column COL (1-based) of FILE
#   now_ns                    monotonic-ish wall clock in ns (date +%s%N)
#   hr TITLE                  a section header
#   bench_workdir NAME        T = a fresh /tmp/NAME.XXXXXX, removed at exit
#   bench_reference OWNER     REF_BYTES and REF_SHA of psql's COPY of OWNER (printed)
#   run_copy OWNER DAT        psql COPY > /dev/null, timed; appends a .dat line
#   run_aws OWNER KEY DAT     psql COPY | aws s3 cp - s3://BUCKET/KEY, timed; appends
#   run_worker KIND OWNER DAT [VAR=VALUE...]
#                             enqueue KIND for OWNER, `worker --drain` with the
#                             VARs, timed; appends; sets JOB and KEY (its object)
#                             .dat line: wall_s maxrss_kib user_s sys_s job_s bytes
#                                        pg_cpu_s rgw_cpu_s osd_cpu_s busy_pct busy_s
#                             (job_s "-" for COPY and aws; bytes REF_BYTES, "-" unset)
#   s3_sha KEY / s3_rm KEY    sha256 of / delete an object of the bucket
#   AWS                       (after bench_setup) the aws command for the S3 server
#
# Env: BENCH_STATE (default /tmp/exportq-bench), BENCH_KEEP=1 keeps the servers,
# BENCH_NICE (default -10 as root, "" leaves priorities alone): the nice value of
# this script (so of every measured command) and of every thread of its own
# servers, so that other work on a shared machine disturbs the figures less;
# baseline and exportq get the same priority. The tables show the CPU other
# processes still took during each run ("other CPU s").
# S3_OBJECTSTORE / S3_MEMSTORE_BYTES pass through to the S3 server (memstore,
# 8 GiB by default here: objects live in ceph-osd's RAM; bluestore for big runs).

set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_STATE=${BENCH_STATE:-/tmp/exportq-bench}
BENCH_BUILD=$BENCH_ROOT/build-bench
EXPORTQ_BIN=$BENCH_BUILD/exportq
export S3_MEMSTORE_BYTES=${S3_MEMSTORE_BYTES:-8589934592}
_BENCH_EXIT_HOOKS=()

bench_log() { printf '# %s\n' "$*" >&2; }
bench_die() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }
hr() { printf '\n== %s\n' "$*"; }
now_ns() { date +%s%N; }

bench_on_exit() { _BENCH_EXIT_HOOKS+=("$1"); }
_bench_exit() {
  local rc=$? i
  set +e
  for ((i = ${#_BENCH_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do eval "${_BENCH_EXIT_HOOKS[i]}"; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    bench_log "servers kept in $BENCH_STATE (stop: tests/harness/servers.sh down $BENCH_STATE)"
  elif [ -n "${_BENCH_SERVERS_UP:-}" ]; then
    "$BENCH_ROOT/tests/harness/servers.sh" down "$BENCH_STATE" >/dev/null 2>&1
  fi
  exit "$rc"
}
trap _bench_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_setup() {
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo "$BENCH_ROOT/scripts/install-deps.sh" >&2
  if [ ! -x /usr/bin/time ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends time >&2
  fi
  bench_log "building (Release) in $BENCH_BUILD"
  cmake -S "$BENCH_ROOT" -B "$BENCH_BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BENCH_BUILD" -j"$(nproc)" --target exportq >/dev/null
  bench_log "servers up in $BENCH_STATE (S3 store: ${S3_OBJECTSTORE:-memstore})"
  _BENCH_SERVERS_UP=1
  "$BENCH_ROOT/tests/harness/servers.sh" up "$BENCH_STATE" >"$BENCH_STATE.up.log" 2>&1 \
    || { cat "$BENCH_STATE.up.log" >&2; bench_die "servers did not come up"; }
  bench_prioritize
  set -a
  # shellcheck disable=SC1091
  . "$BENCH_STATE/servers.env"
  set +a
  # the benchmarks measure the export only: no mail
  unset EXPORTQ_SMTP_URL EXPORTQ_SMTP_FROM
  export AWS_DEFAULT_REGION=$EXPORTQ_S3_REGION AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
  export EXPORTQ_LOG_LEVEL=warn AWS_EC2_METADATA_DISABLED=true
  AWS=(/usr/bin/aws --endpoint-url "$EXPORTQ_S3_ENDPOINT")
  "$EXPORTQ_BIN" migrate >/dev/null
  psql -XAtq -v ON_ERROR_STOP=1 -f "$BENCH_ROOT/scripts/sample-data.sql" >/dev/null
  # the same export function without the formula guard: byte-equal to psql's COPY
  psql -XAtq -v ON_ERROR_STOP=1 \
    -c "SELECT exportq.define_kind('bench_raw', 'app.export_user_activity', 'activity.csv', '{}')" >/dev/null
}

bench_prioritize() {
  local n=${BENCH_NICE-} f pid
  if [ -z "${BENCH_NICE+x}" ] && [ "$(id -u)" = 0 ]; then n=-10; fi
  [ -n "$n" ] || return 0
  renice -n "$n" -p $$ >/dev/null
  # setpriority() on a pid moves one thread: renice every thread of every server process
  for f in "$BENCH_STATE/pg/data/postmaster.pid" "$BENCH_STATE"/s3/run/*.pid "$BENCH_STATE"/smtp/*.pid; do
    [ -r "$f" ] || continue
    pid=$(head -n 1 "$f")
    [[ $pid =~ ^[0-9]+$ ]] || continue
    for t in $(pgrep -P "$pid" 2>/dev/null) "$pid"; do  # the process and its children (pg backends)
      ls "/proc/$t/task" 2>/dev/null | xargs -r renice -n "$n" -p >/dev/null 2>&1 || true
    done
  done
  bench_log "priority: nice $n for this script and the threads of its servers"
}

bench_seed() {  # bench_seed OWNER N
  local owner=$1 n=$2 have t0
  have=$(psql -XAtq -c "SELECT count(*) FROM app.activity WHERE user_id = '$owner'")
  if [ "$have" != "$n" ]; then
    bench_log "seeding $n rows for $owner (about 20 s per million)"
    t0=$(now_ns)
    psql -XAtq -v ON_ERROR_STOP=1 -c "DELETE FROM app.activity WHERE user_id = '$owner'" \
      -c "SELECT app.seed_activity('$owner', $n)" >/dev/null
    bench_log "seeded in $(( ($(now_ns) - t0) / 1000000000 )) s"
  fi
  # hint bits and visibility map set now, not during the first timed read
  psql -XAtq -c "VACUUM (ANALYZE) app.activity" >/dev/null
}

copy_sql() {  # copy_sql OWNER
  printf '%s' "COPY (SELECT * FROM app.export_user_activity('{\"owner\": \"$1\"}'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)"
}

timed() {  # timed OUT CMD...
  local out=$1 tf rc=0
  shift
  tf=$(mktemp)
  /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" || rc=$?
  tail -n 1 "$tf" >>"$out"
  rm -f "$tf"
  return "$rc"
}

bench_workdir() {  # bench_workdir NAME
  T=$(mktemp -d "/tmp/$1.XXXXXX")
  bench_on_exit "rm -rf '$T'"
}

bench_reference() {  # bench_reference OWNER
  psql -XAtq -c "$(copy_sql "$1")" >"$T/ref.csv"
  REF_BYTES=$(stat -c %s "$T/ref.csv")
  REF_SHA=$(sha256sum "$T/ref.csv" | cut -d' ' -f1)
  rm -f "$T/ref.csv"
  echo "psql COPY output: $REF_BYTES bytes, sha256 $REF_SHA"
}

run_copy() {  # run_copy OWNER DAT
  local b a
  b=$(cpu_snap)
  timed "$T/t" bash -c 'psql -XAtq -c "$1" >/dev/null' _ "$(copy_sql "$1")"
  a=$(cpu_snap end)
  echo "$(tail -n 1 "$T/t") - ${REF_BYTES:--} $(cpu_diff "$b" "$a")" >>"$2"
}

run_aws() {  # run_aws OWNER KEY DAT
  local b a
  b=$(cpu_snap)
  timed "$T/t" bash -c 'set -o pipefail; psql -XAtq -c "$1" | "${@:2}"' _ \
    "$(copy_sql "$1")" "${AWS[@]}" s3 cp --only-show-errors - "s3://$EXPORTQ_S3_BUCKET/$2"
  a=$(cpu_snap end)
  echo "$(tail -n 1 "$T/t") - ${REF_BYTES:--} $(cpu_diff "$b" "$a")" >>"$3"
}

run_worker() {  # run_worker KIND OWNER DAT [VAR=VALUE...]: sets JOB and KEY
  local kind=$1 owner=$2 dat=$3 b a st state job_s bytes
  shift 3
  JOB=$("$EXPORTQ_BIN" enqueue "$kind" --owner "$owner")
  b=$(cpu_snap)
  timed "$T/t" env "$@" "$EXPORTQ_BIN" worker --drain 2>>"$T/worker.log" \
    || { tail -n 20 "$T/worker.log" >&2; bench_die "worker --drain failed"; }
  a=$(cpu_snap end)
  st=$(psql -XAtq -F ' ' -c "SELECT state, extract(epoch FROM finished_at - started_at), bytes, object_key
                                FROM exportq.jobs WHERE id = $JOB")
  # shellcheck disable=SC2034  # KEY is for the caller
  read -r state job_s bytes KEY <<<"$st"
  [ "$state" = succeeded ] || { tail -n 20 "$T/worker.log" >&2; bench_die "job $JOB is $state"; }
  echo "$(tail -n 1 "$T/t") $job_s $bytes $(cpu_diff "$b" "$a")" >>"$dat"
}

s3_sha() { "${AWS[@]}" s3 cp --only-show-errors "s3://$EXPORTQ_S3_BUCKET/$1" - | sha256sum | cut -d' ' -f1; }
s3_rm() { "${AWS[@]}" s3 rm --only-show-errors "s3://$EXPORTQ_S3_BUCKET/$1" >/dev/null || true; }

stats() {  # stats FILE COL: median min max
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '
    { v[NR] = $1 }
    END { if (NR == 0) { print "- - -"; exit }
          m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          print m, v[1], v[NR] }'
}

# fmt_ratio A B: A/B with two decimals
fmt_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
# mbps BYTES SECONDS
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b / s / 1e6; else printf "-" }'; }
# mib KIB
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---- CPU accounting: where the 2 cores go during one run ------------------------------
# cpu_snap: "pg rgw osd busy all" in clock ticks: PostgreSQL's postmaster with its
# reaped children (backends), radosgw, ceph-osd (utime+stime[+cutime+cstime]),
# and the whole machine's busy and total ticks from /proc/stat.
_ticks() {  # _ticks PIDFILE: utime+stime+cutime+cstime of the process in PIDFILE
  local pid
  pid=$(head -n 1 "$1" 2>/dev/null) || { echo 0; return; }
  awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0
}
cpu_snap() {  # cpu_snap [end]: the postmaster gets 0.5 s to reap the backends that ran
  local s=$BENCH_STATE m   # before; with "end" /proc/stat is read before that pause
  m=$(awk '/^cpu / { all = 0; for (i = 2; i <= NF; i++) all += $i; print all - $5 - $6, all }' /proc/stat)
  [ "${1:-}" = end ] && sleep 0.5
  [ "${1:-}" = end ] || { sleep 0.5; m=$(awk '/^cpu / { all = 0; for (i = 2; i <= NF; i++) all += $i; print all - $5 - $6, all }' /proc/stat); }
  printf '%s %s %s %s\n' "$(_ticks "$s/pg/data/postmaster.pid")" "$(_ticks "$s/s3/run/rgw.pid")" "$(_ticks "$s/s3/run/osd.pid")" "$m"
}
# cpu_diff BEFORE AFTER: "pg_s rgw_s osd_s busy_pct busy_s" (busy: of all cores)
cpu_diff() {
  local hz
  hz=$(getconf CLK_TCK)
  awk -v hz="$hz" -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    printf "%.1f %.1f %.1f %.0f %.1f", (y[1]-x[1])/hz, (y[2]-x[2])/hz, (y[3]-x[3])/hz,
           (y[5] > x[5]) ? 100 * (y[4]-x[4]) / (y[5]-x[5]) : 0, (y[4]-x[4])/hz }'
}
