# shellcheck shell=bash
# lib.sh: sourced by exportq's integration test scripts (bash).
#
#   . "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
#
# Loads the servers' settings from $EXPORTQ_TEST_ENV (the servers.env that
# 'tests/harness/servers.sh up' wrote) and exports every key, then offers:
#
#   ok MSG                      print "ok - MSG" (every test reports its steps so)
#   fail MSG                    print "not ok - MSG" to stderr, exit 1
#   assert_eq EXPECTED ACTUAL MSG
#   assert_contains HAYSTACK NEEDLE MSG
#   sha256_of FILE              hex SHA-256 of FILE
#   s3_curl METHOD PATH [curl args...]
#                               SigV4-signed request to the test S3 server; PATH is
#                               /bucket/key[?query]. Prints the body; add -w/-o/-i as
#                               needed. Uploads (-T FILE, --upload-file FILE,
#                               --data-binary @FILE) get their payload hash; other
#                               requests the empty payload's. Debian's curl 7.88
#                               signs the query string exactly as given, while S3
#                               signs it canonically: s3_curl therefore sorts the
#                               parameters and writes 'uploads' as 'uploads='.
#                               Values must already be URI-encoded (%2F, not /).
#   s3_put_file KEY FILE        PUT FILE as s3://$EXPORTQ_S3_BUCKET/KEY (fails on non-200)
#   s3_get_file KEY OUT         GET s3://$EXPORTQ_S3_BUCKET/KEY into OUT (fails on non-200)
#   s3_list_uploads             ListMultipartUploads XML of the test bucket
#   psql_q SQL                  run SQL on the test database; unaligned, tuples only
#   wait_for CMD TIMEOUT_S      poll CMD (a string, eval'd) every 0.1 s until it succeeds
#   mail_count                  number of messages in $EXPORTQ_TEST_MAILDIR
#   mail_wait N TIMEOUT_S       wait until at least N messages are there
#   mail_files                  the .eml paths, oldest first
#   tmpdir                      this test's temp dir (removed at exit;
#                               EXPORTQ_KEEP_TMP=1 keeps it)
#   on_exit CMD                 run CMD (a string) at exit, before the temp dir goes

set -euo pipefail

if [ -z "${EXPORTQ_TEST_ENV:-}" ]; then
  echo "not ok - EXPORTQ_TEST_ENV is not set (path to servers.env; run tests/harness/servers.sh up)" >&2
  exit 1
fi
if [ ! -r "$EXPORTQ_TEST_ENV" ]; then
  echo "not ok - cannot read EXPORTQ_TEST_ENV=$EXPORTQ_TEST_ENV (run tests/harness/servers.sh up)" >&2
  exit 1
fi
while IFS= read -r _line || [ -n "$_line" ]; do
  case "$_line" in '' | '#'*) continue ;; esac
  _key=${_line%%=*}
  if [[ ! $_key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ "$_key" = "$_line" ]; then
    echo "not ok - bad line in $EXPORTQ_TEST_ENV: $_line" >&2
    exit 1
  fi
  export "$_key=${_line#*=}"
done <"$EXPORTQ_TEST_ENV"
unset _line _key

# ---- reporting and assertions -------------------------------------------------------
ok() { echo "ok - $*"; }

fail() {
  echo "not ok - $*" >&2
  exit 1
}

assert_eq() {  # assert_eq EXPECTED ACTUAL MSG
  [ "$#" -eq 3 ] || fail "assert_eq needs EXPECTED ACTUAL MSG (got $# args)"
  if [ "$1" != "$2" ]; then
    fail "$3: expected '$1', got '$2'"
  fi
}

assert_contains() {  # assert_contains HAYSTACK NEEDLE MSG
  [ "$#" -eq 3 ] || fail "assert_contains needs HAYSTACK NEEDLE MSG (got $# args)"
  case "$1" in
    *"$2"*) ;;
    *) fail "$3: '$2' not found in: $(printf '%s' "$1" | head -c 2000)" ;;
  esac
}

sha256_of() {  # sha256_of FILE
  local out
  out=$(sha256sum -- "$1") || fail "sha256_of: cannot read $1"
  echo "${out%% *}"
}

# ---- temp dir and exit hooks ----------------------------------------------------------
_EXPORTQ_TMP=$(mktemp -d "${TMPDIR:-/tmp}/exportq-test.XXXXXX")
_EXPORTQ_EXIT_HOOKS=()

on_exit() { _EXPORTQ_EXIT_HOOKS+=("$1"); }

_exportq_exit() {
  local rc=$? i
  set +e
  for ((i = ${#_EXPORTQ_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
    eval "${_EXPORTQ_EXIT_HOOKS[i]}"
  done
  if [ "${EXPORTQ_KEEP_TMP:-0}" = 1 ]; then
    echo "# kept temp dir $_EXPORTQ_TMP" >&2
  else
    rm -rf -- "$_EXPORTQ_TMP"
  fi
  exit "$rc"
}
trap _exportq_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tmpdir() { echo "$_EXPORTQ_TMP"; }

# ---- polling ------------------------------------------------------------------------
wait_for() {  # wait_for CMD TIMEOUT_S
  local cmd=$1 timeout=${2:-30} deadline
  deadline=$(($(date +%s%N) + timeout * 1000000000))
  until (eval "$cmd") >/dev/null 2>&1; do
    if [ "$(date +%s%N)" -ge "$deadline" ]; then
      echo "# wait_for: '$cmd' did not succeed within ${timeout}s" >&2
      return 1
    fi
    sleep 0.1
  done
}

# ---- PostgreSQL -----------------------------------------------------------------------
psql_q() {  # psql_q SQL
  psql -XAtq -v ON_ERROR_STOP=1 -d "$EXPORTQ_DATABASE_URL" -c "$1"
}

# ---- S3 -------------------------------------------------------------------------------
EXPORTQ_EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# _s3_canonical_path /b/k?q: the same path with its query in SigV4 canonical
# order (sorted by name, then value) and every parameter written name=value.
_s3_canonical_path() {
  local path=$1 q p
  local -a params=()
  case "$path" in *'?'*) ;; *) echo "$path"; return 0 ;; esac
  q=${path#*\?}
  IFS='&' read -r -a params <<<"$q"
  for p in "${!params[@]}"; do
    [[ ${params[p]} == *=* ]] || params[p]+="="
  done
  q=$(printf '%s\n' "${params[@]}" | LC_ALL=C sort -t= -k1,1 -k2 | paste -sd'&' -)
  echo "${path%%\?*}?$q"
}

s3_curl() {  # s3_curl METHOD PATH [curl args...]
  local method=$1 path sha=$EXPORTQ_EMPTY_SHA256 prev='' a
  path=$(_s3_canonical_path "$2")
  shift 2
  for a in "$@"; do
    case "$prev" in
      -T | --upload-file) sha=$(sha256_of "$a") ;;
      --data-binary) [[ $a == @* ]] && sha=$(sha256_of "${a#@}") ;;
    esac
    prev=$a
  done
  curl -sS --max-time 60 -X "$method" \
    -H "x-amz-content-sha256: $sha" \
    --aws-sigv4 "aws:amz:$EXPORTQ_S3_REGION:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    "$@" "$EXPORTQ_S3_ENDPOINT$path"
}

s3_put_file() {  # s3_put_file KEY FILE
  local code
  code=$(s3_curl PUT "/$EXPORTQ_S3_BUCKET/$1" -T "$2" -o /dev/null -w '%{http_code}') || true
  [ "$code" = 200 ] || fail "s3_put_file $1: HTTP $code"
}

s3_get_file() {  # s3_get_file KEY OUT
  local code
  code=$(s3_curl GET "/$EXPORTQ_S3_BUCKET/$1" -o "$2" -w '%{http_code}') || true
  [ "$code" = 200 ] || fail "s3_get_file $1: HTTP $code"
}

s3_list_uploads() {
  s3_curl GET "/$EXPORTQ_S3_BUCKET?uploads"
}

# ---- SMTP -----------------------------------------------------------------------------
mail_files() {
  local f
  for f in "$EXPORTQ_TEST_MAILDIR"/[0-9]*.eml; do
    [ -e "$f" ] && echo "$f"
  done
  return 0
}

mail_count() {
  local n=0 f
  for f in "$EXPORTQ_TEST_MAILDIR"/[0-9]*.eml; do
    [ -e "$f" ] && n=$((n + 1))
  done
  echo "$n"
}

mail_wait() {  # mail_wait N TIMEOUT_S
  local n=$1 timeout=${2:-30}
  wait_for "[ \"\$(mail_count)\" -ge $n ]" "$timeout" \
    || fail "mail_wait: expected >= $n messages in $EXPORTQ_TEST_MAILDIR within ${timeout}s, have $(mail_count)"
}

# ---- per-test isolation -------------------------------------------------------------
# use_fresh_db [NAME]: creates an empty database for this test on the test server,
# points EXPORTQ_DATABASE_URL / PGDATABASE at it, runs `exportq migrate` when
# EXPORTQ_BIN is set, and drops the database at exit.
use_fresh_db() {
  local name=${1:-t_$(basename "${0%.*}")_$$}
  name=$(echo "$name" | tr -c 'a-zA-Z0-9_\n' '_' | cut -c1-60)
  psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
  export PGDATABASE=$name
  export EXPORTQ_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$name"
  unset EXPORTQ_SOURCE_DATABASE_URL
  on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS $name WITH (FORCE)' >/dev/null 2>&1"
  if [ -n "${EXPORTQ_BIN:-}" ]; then "$EXPORTQ_BIN" migrate >/dev/null; fi
}

# mail_for ADDR: the newest .eml whose envelope recipient is ADDR (empty if none).
mail_for() {
  local envf
  envf=$(grep -lx "RCPT_TO=$1" "$EXPORTQ_TEST_MAILDIR"/*.env 2>/dev/null | sort | tail -n 1)
  [ -n "$envf" ] && echo "${envf%.env}.eml"
  return 0
}

# mail_link EML: the first http(s) URL in the message body, decoded (quoted-printable).
mail_link() {
  /usr/bin/python3 - "$1" <<'PY'
import email, re, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
body = msg.get_body(preferencelist=('plain',)).get_content()
m = re.search(r'https?://\S+', body)
print(m.group(0) if m else '')
PY
}

# s3_list_keys PREFIX: every object key under PREFIX in the test bucket, one a line.
s3_list_keys() {
  local enc token='' page next
  _uri() { /usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-_.~"))' "$1"; }
  enc=$(_uri "$1")
  while :; do   # ListObjectsV2 answers at most 1,000 keys a page: follow the continuation token
    page=$(s3_curl GET "/$EXPORTQ_S3_BUCKET?list-type=2&prefix=$enc${token:+&continuation-token=$(_uri "$token")}")
    grep -o '<Key>[^<]*</Key>' <<<"$page" | sed 's/<[^>]*>//g' || true
    next=$(grep -o '<NextContinuationToken>[^<]*</NextContinuationToken>' <<<"$page" | sed 's/<[^>]*>//g' || true)
    grep -q '<IsTruncated>true</IsTruncated>' <<<"$page" && [ -n "$next" ] || break
    token=$next
  done
  return 0
}

# uploads_under PREFIX: how many multipart uploads are in progress under PREFIX.
uploads_under() {
  s3_list_uploads | grep -o "<Key>$1[^<]*</Key>" | wc -l
}

# define_slow_kind: creates schema app and the kind `slow` over app.slow_rows(params):
# (params->>'rows') rows of ~200 bytes, pausing (params->>'pause') seconds every
# 20,000 rows, so an export is still running when a test acts on it. STABLE +
# LANGUAGE sql: PostgreSQL inlines it, so rows stream (a VOLATILE or plpgsql
# set-returning function is materialised whole before COPY sends a byte).
define_slow_kind() {
  psql_q "CREATE SCHEMA IF NOT EXISTS app;
    CREATE FUNCTION app.slow_rows(params jsonb) RETURNS TABLE(n int, payload text)
    LANGUAGE sql STABLE AS \$\$
      SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, (params->>'rows')::int) i
      WHERE i % 20000 <> 0 OR pg_sleep((params->>'pause')::float8) IS NOT NULL
    \$\$;
    SELECT exportq.define_kind('slow', 'app.slow_rows', 'slow.csv')" >/dev/null
}

# ---- reliability suite helpers (tests/integration/rel_*.sh) ----------------------------
# rel_long: true when EXPORTQ_LONG=1 (the heavy versions of the rel_* tests).
rel_long() { [ "${EXPORTQ_LONG:-0}" = 1 ]; }

# rel_bg VAR LOG CMD...: runs CMD in the background with stderr (and stdout) in
# LOG, stores its pid in VAR, and kills it (SIGKILL) at exit if still alive.
rel_bg() {
  local __var=$1 __log=$2
  shift 2
  "$@" >"$__log" 2>&1 &
  printf -v "$__var" '%s' "$!"
  on_exit "kill -9 $! 2>/dev/null; wait $! 2>/dev/null"
}

# s3proxy_start RATIO MODES SEED [SLOW_SECONDS]: runs tests/harness/s3proxy.py in
# front of the test S3 server; sets S3PROXY_URL (use it as EXPORTQ_S3_ENDPOINT),
# S3PROXY_PID and S3PROXY_STATS (its JSON counters). Stopped at exit. Extra
# s3proxy.py options in S3PROXY_ARGS (e.g. "--stall complete=9").
s3proxy_start() {
  local base
  base="$(tmpdir)/s3proxy.$3"
  rm -f -- "$base.port"
  /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/harness/s3proxy.py" --upstream "${EXPORTQ_S3_ENDPOINT#http://}" \
    --port-file "$base.port" --stats "$base.stats" --ratio "$1" --modes "$2" --seed "$3" \
    --slow-seconds "${4:-3}" ${S3PROXY_ARGS:-} >"$base.log" 2>&1 &
  S3PROXY_PID=$!
  S3PROXY_STATS="$base.stats"
  on_exit "kill $S3PROXY_PID 2>/dev/null; wait $S3PROXY_PID 2>/dev/null"
  wait_for "[ -s '$base.port' ]" 10 || fail "s3proxy did not start: $(cat "$base.log")"
  S3PROXY_URL="http://127.0.0.1:$(cat "$base.port")"
}

# s3proxy_stat KEY: a top-level counter of the running proxy (requests, upload_part, failed).
s3proxy_stat() {
  /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' "$S3PROXY_STATS" "$1"
}

# blackhole_start: a TCP server on 127.0.0.1 that accepts connections and never
# answers (an SMTP server that hangs); sets BLACKHOLE_PORT. Stopped at exit.
blackhole_start() {
  local pf
  pf="$(tmpdir)/blackhole.port"
  /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    c, _ = s.accept(); held.append(c)' "$pf" &
  local pid=$!
  on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  wait_for "[ -s '$pf' ]" 10 || fail "blackhole server did not start"
  BLACKHOLE_PORT=$(cat "$pf")
}

# db_counts: "jobs kinds tokens" row counts of the current test database.
db_counts() {
  psql_q "SELECT (SELECT count(*) FROM exportq.jobs) || ' ' || (SELECT count(*) FROM exportq.kinds)
          || ' ' || (SELECT count(*) FROM exportq.tokens)"
}

# exportq_conns: connections of exportq processes to the current test database now.
exportq_conns() {
  psql_q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
          AND application_name LIKE 'exportq%'"
}


# is_sanitized: true when $EXPORTQ_BIN is an ASan build (gcc links libasan
# dynamically, clang statically; both leave __asan_init in the binary). Memory
# bounds are meaningless there: ASan's quarantine keeps freed memory resident.
is_sanitized() { grep -q __asan_init "$EXPORTQ_BIN"; }

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# load_sample_data: scripts/sample-data.sql into the test database (schema app,
# the JSONB activity table, app.seed_activity(), the kind user_activity).
load_sample_data() {
  psql -XAtq -v ON_ERROR_STOP=1 -f "$EXPORTQ_SOURCE_DIR/scripts/sample-data.sql" >/dev/null \
    || fail "scripts/sample-data.sql failed"
}
