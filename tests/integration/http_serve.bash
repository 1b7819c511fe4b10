# shellcheck shell=bash
# http_serve.bash - helpers of the `exportq serve` tests (tests/integration/http_*.sh),
# sourced after tests/harness/lib.sh. (Not a test itself: only *.sh files are.)
#
#   http_db_setup DB          a fresh database DB: migrations, sample data, seed-test
#                             fixtures; exports EXPORTQ_DATABASE_URL / PGDATABASE to it
#   token_for OWNER           prints a new API token of OWNER
#   serve_start [VAR=VALUE]...
#                             starts `exportq serve` on a free port with the extra
#                             settings; sets URL, SERVE_PID, SERVE_LOG; stopped at exit
#   serve_stop                SIGTERM, then waits for the exit; sets SERVE_RC
#   req METHOD PATH TOKEN [curl args...]
#                             one request; sets STATUS, BODY and HDRS (header file)
#   hdr NAME                  a header of the last req (value, CR stripped)
#   stream_backends           source connections of streams now in pg_stat_activity

http_db_setup() {
  local db=$1 f
  psql -XAtq -d "$EXPORTQ_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" \
    || fail "cannot create database $db"
  export EXPORTQ_DATABASE_URL="${EXPORTQ_DATABASE_URL%/*}/$db" PGDATABASE=$db
  unset EXPORTQ_SOURCE_DATABASE_URL
  "$EXPORTQ_BIN" migrate >"$(tmpdir)/migrate.log" 2>&1 || fail "exportq migrate: $(cat "$(tmpdir)/migrate.log")"
  for f in sample-data.sql seed-test.sql; do
    psql -XAtq -v ON_ERROR_STOP=1 -f "$EXPORTQ_SOURCE_DIR/scripts/$f" >/dev/null 2>&1 || fail "scripts/$f failed"
  done
}

token_for() {
  local t
  t=$("$EXPORTQ_BIN" token create --owner "$1" 2>/dev/null) || fail "token create --owner $1"
  echo "$t"
}

_SERVE_N=0
serve_start() {
  _SERVE_N=$((_SERVE_N + 1))
  SERVE_LOG="$(tmpdir)/serve.$_SERVE_N.log"
  env EXPORTQ_HTTP_LISTEN=127.0.0.1:0 EXPORTQ_LOG_LEVEL=debug "$@" "$EXPORTQ_BIN" serve >"$SERVE_LOG" 2>&1 &
  SERVE_PID=$!
  on_exit "kill $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null"
  wait_for "grep -q 'serving HTTP on' '$SERVE_LOG'" 20 || fail "exportq serve did not start: $(cat "$SERVE_LOG")"
  URL="http://$(grep -o 'serving HTTP on [^ ]*' "$SERVE_LOG" | head -1 | sed 's/serving HTTP on //')"
}

serve_stop() {
  kill -TERM "$SERVE_PID"
  SERVE_RC=0
  wait "$SERVE_PID" || SERVE_RC=$?
}

req() {
  local method=$1 path=$2 token=$3
  shift 3
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  HDRS="$(tmpdir)/last.hdrs"
  STATUS=$(curl -sS --max-time 30 -X "$method" "${auth[@]}" -D "$HDRS" -o "$(tmpdir)/last.body" \
    -w '%{http_code}' "$@" "$URL$path") || fail "curl $method $path failed"
  BODY=$(cat "$(tmpdir)/last.body")
}

hdr() {
  grep -i "^$1:" "$HDRS" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

stream_backends() {
  psql -XAtq -d "$EXPORTQ_DATABASE_URL" -c \
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'exportq-stream' AND datname = current_database()"
}
