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
#   s3_list_uploads [PREFIX]    multipart uploads in progress ("KEY<TAB>ID" lines;
#                               fails on any error; follows the markers)
#   uploads_under PREFIX        their number (nothing, and failure, on error)
#   assert_no_uploads PREFIX MSG  none left, after a control upload is seen
#   psql_q SQL                  run SQL on the test database; unaligned, tuples only
#   wait_for CMD TIMEOUT_S      poll CMD (a string, eval'd) every 0.1 s until it succeeds
#   mail_count                  number of messages in $EXPORTQ_TEST_MAILDIR
#   mail_wait N TIMEOUT_S       wait until at least N messages are there
#   mail_files                  the .eml paths, oldest first
#   mails_to ADDR [DIR...]      the .eml paths sent to ADDR
#   assert_one_mail ADDR MSG [DIR...]  one message, or copies sharing one Message-ID
#   smtpd_start NAME [HOLD_S]   an SMTP server of the test's own (SMTPD_URL);
#                               HOLD_S: stores, then holds back the final reply
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

# _uri STRING: STRING percent-encoded for a query value (S3's unreserved set kept).
_uri() { /usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-_.~"))' "$1"; }

# s3_list_uploads [PREFIX]: every multipart upload in progress under PREFIX (all
# of the bucket without it), one "KEY<TAB>UPLOAD_ID" a line. Fails (exit 1,
# nothing printed for the failed page) when S3 answers an error or anything
# but a ListMultipartUploadsResult, so a broken listing never reads as "none";
# follows NextKeyMarker/NextUploadIdMarker while IsTruncated.
# S3_LIST_MAX_UPLOADS sets max-uploads (small values test the paging).
s3_list_uploads() {
  local prefix=${1:-} q page parsed next='' kmark='' umark='' pages=0
  while :; do
    q="uploads&prefix=$(_uri "$prefix")"
    [ -n "${S3_LIST_MAX_UPLOADS:-}" ] && q+="&max-uploads=$S3_LIST_MAX_UPLOADS"
    [ -n "$kmark" ] && q+="&key-marker=$(_uri "$kmark")&upload-id-marker=$(_uri "$umark")"
    page=$(s3_curl GET "/$EXPORTQ_S3_BUCKET?$q" -f) || { echo "# s3_list_uploads: the listing failed" >&2; return 1; }
    parsed=$(/usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
if root.tag != ns + "ListMultipartUploadsResult":
    sys.exit("not a ListMultipartUploadsResult: " + root.tag)
for u in root.findall(ns + "Upload"):
    print("U	%s	%s" % (u.findtext(ns + "Key"), u.findtext(ns + "UploadId")))
t = (root.findtext(ns + "IsTruncated") or "false").strip() == "true"
print("N	%d	%s	%s" % (t, root.findtext(ns + "NextKeyMarker") or "", root.findtext(ns + "NextUploadIdMarker") or ""))
' <<<"$page") || { echo "# s3_list_uploads: bad reply: $(head -c 300 <<<"$page")" >&2; return 1; }
    grep '^U' <<<"$parsed" | cut -f2- || true
    next=$(grep '^N' <<<"$parsed")
    [ "$(cut -f2 <<<"$next")" = 1 ] || break
    kmark=$(cut -f3 <<<"$next") umark=$(cut -f4 <<<"$next")
    [ -n "$kmark" ] || { echo "# s3_list_uploads: truncated without NextKeyMarker" >&2; return 1; }
    pages=$((pages + 1))
    [ "$pages" -lt 10000 ] || { echo "# s3_list_uploads: more than 10,000 pages" >&2; return 1; }
  done
  return 0
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

# uploads_under PREFIX: how many multipart uploads are in progress under PREFIX;
# prints nothing and fails when the listing fails (so "0" is never a guess).
uploads_under() {
  local l
  l=$(s3_list_uploads "$1") || return 1
  grep -c . <<<"$l" || true
}

# assert_no_uploads PREFIX MSG: no multipart upload in progress under PREFIX.
# With a control first: it starts an upload of its own under PREFIX, must see
# it with the same listing (so a listing that is broken, filtered wrongly or
# cut short cannot pass), aborts it, then asserts that none is left.
assert_no_uploads() {
  local prefix=$1 msg=$2 ctl id l n
  ctl="${prefix}zz-control-$$-$RANDOM.csv"
  id=$(s3_curl POST "/$EXPORTQ_S3_BUCKET/$ctl?uploads" -f | grep -o '<UploadId>[^<]*' | cut -d'>' -f2) || true
  [ -n "$id" ] || fail "$msg: control: could not start a multipart upload under $prefix"
  l=$(s3_list_uploads "$prefix") || fail "$msg: ListMultipartUploads failed"
  grep -qxF "$ctl	$id" <<<"$l" || fail "$msg: control: the listing does not show an upload in flight under $prefix"
  s3_curl DELETE "/$EXPORTQ_S3_BUCKET/$ctl?uploadId=$(_uri "$id")" -f -o /dev/null || fail "$msg: control: abort failed"
  l=$(s3_list_uploads "$prefix") || fail "$msg: ListMultipartUploads failed"
  n=$(grep -c . <<<"$l" || true)
  [ "$n" = 0 ] || fail "$msg: $n multipart upload(s) left under $prefix: $(head -5 <<<"$l" | tr '\n' ' ')"
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

# s3proxy_start RATIO MODES SEED [SLOW_SECONDS [OPS [EXTRA...]]]: runs
# tests/harness/s3proxy.py in front of the test S3 server, failing RATIO of the
# OPS requests (default UploadPart; "all" = PutObject,Create,UploadPart,Complete;
# EXTRA: more s3proxy.py options, e.g. --every 2); sets S3PROXY_URL
# (use it as EXPORTQ_S3_ENDPOINT), S3PROXY_PID and S3PROXY_STATS (its JSON
# counters). Stopped at exit. RATIO 0: a counting proxy (see s3proxy_runs).
# More s3proxy.py options also in S3PROXY_ARGS (e.g. "--stall complete=9").
s3proxy_start() {
  local base ratio=$1 modes=$2 seed=$3 slow=${4:-3} ops=${5:-UploadPart}
  shift $(($# < 5 ? $# : 5))
  base="$(tmpdir)/s3proxy.$seed"
  rm -f -- "$base.port"
  /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/harness/s3proxy.py" --upstream "${EXPORTQ_S3_ENDPOINT#http://}" \
    --port-file "$base.port" --stats "$base.stats" --ratio "$ratio" --modes "$modes" --seed "$seed" \
    --slow-seconds "$slow" --ops "$ops" ${S3PROXY_ARGS:-} "$@" >"$base.log" 2>&1 &
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

# s3proxy_op_stat OP FIELD [STATS]: requests or failed of one operation
# (PutObject, Create, UploadPart, Complete, Abort, GET, ...).
s3proxy_op_stat() {
  /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[3])).get("by_op", {}).get(sys.argv[1], {}).get(sys.argv[2], 0))' \
    "$1" "$2" "${3:-$S3PROXY_STATS}"
}

# s3proxy_runs PREFIX [STATS...]: real runs of the exports under PREFIX, as S3
# saw them through the proxies: Complete or PutObject requests that S3
# answered with success, summed over the keys under PREFIX (and the stats
# files given, default $S3PROXY_STATS). A job that ran twice counts 2 even
# though its second object overwrote the first.
s3proxy_runs() {
  local prefix=$1
  shift
  [ "$#" -gt 0 ] || set -- "$S3PROXY_STATS"
  /usr/bin/python3 -c '
import json, sys
n = 0
for f in sys.argv[2:]:
    for k, v in json.load(open(f)).get("runs", {}).items():
        n += v if k.startswith(sys.argv[1]) else 0
print(n)' "$prefix" "$@"
}

# s3proxy_runs_by_job PREFIX [STATS]: "JOB_ID RUNS" lines, one per job whose
# object key (PREFIX + owner/ID-token/file) the proxy saw completed or stored.
s3proxy_runs_by_job() {
  /usr/bin/python3 -c '
import json, re, sys
runs = {}
for k, v in json.load(open(sys.argv[2])).get("runs", {}).items():
    m = re.match(re.escape(sys.argv[1]) + r"[^/]+/([0-9]+)-[^/]+/[^/]+$", k)
    if m:
        runs[int(m.group(1))] = runs.get(int(m.group(1)), 0) + v
for j in sorted(runs):
    print(j, runs[j])' "$1" "${2:-$S3PROXY_STATS}"
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

# smtpd_start NAME [HOLD_SECONDS]: a test SMTP server of this test's own
# (tests/harness/smtpd.py with the harness's certificate and credentials) on a
# free port, storing into $(tmpdir)/NAME.mail; with HOLD_SECONDS it stores each
# message, then holds back the final reply that long (--hold-final-reply).
# Sets SMTPD_URL (use as EXPORTQ_SMTP_URL) and SMTPD_MAILDIR. Stopped at exit.
smtpd_start() {
  local base port
  base="$(tmpdir)/$1"
  mkdir -p "$base.mail"
  rm -f -- "$base.ready"
  port=$(free_port)
  /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/harness/smtpd.py" --host 127.0.0.1 --port "$port" \
    --cert "$EXPORTQ_TEST_STATE/smtp/cert.pem" --key "$EXPORTQ_TEST_STATE/smtp/key.pem" \
    --maildir "$base.mail" --log "$base.log" --ready-file "$base.ready" \
    --hold-final-reply "${2:-0}" >"$base.out" 2>&1 &
  local pid=$!
  on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  wait_for "[ -s '$base.ready' ]" 15 || fail "smtpd $1 did not start: $(cat "$base.out")"
  SMTPD_URL="smtp://exportq:smtp-secret@127.0.0.1:$port"
  SMTPD_MAILDIR="$base.mail"
}

# mails_to ADDR [MAILDIR...]: the .eml files whose envelope recipient is ADDR
# (default the shared $EXPORTQ_TEST_MAILDIR), one a line.
mails_to() {
  local addr=$1 d f
  shift
  [ "$#" -gt 0 ] || set -- "$EXPORTQ_TEST_MAILDIR"
  for d in "$@"; do
    for f in "$d"/[0-9]*.env; do
      [ -e "$f" ] && grep -qxF "RCPT_TO=$addr" "$f" && echo "${f%.env}.eml"
    done
  done
  return 0
}

# assert_one_mail ADDR MSG [MAILDIR...]: exactly one message to ADDR, or
# duplicates that all carry the same Message-ID (a resend after a crash in
# the window between delivery and its record: a mail client shows it once).
assert_one_mail() {
  local addr=$1 msg=$2 files n ids
  shift 2
  files=$(mails_to "$addr" "$@")
  n=$(grep -c . <<<"$files" || true)
  [ "$n" -ge 1 ] || fail "$msg: no message to $addr"
  ids=$(while IFS= read -r f; do grep -im1 '^Message-ID:' "$f" | tr -d '\r' | sed 's/^[^:]*: *//'; done <<<"$files" | sort -u)
  [ -n "$ids" ] || fail "$msg: the message to $addr has no Message-ID"
  [ "$(grep -c . <<<"$ids")" = 1 ] || fail "$msg: $n messages to $addr with different Message-IDs: $(tr '\n' ' ' <<<"$ids")"
  MAIL_COPIES=$n
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
