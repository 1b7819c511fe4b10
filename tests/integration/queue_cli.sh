#!/usr/bin/env bash
# queue_cli.sh - the queue's CLI as a user runs it, on a fresh database:
# migrate (twice), enqueue, status (text and --json), cancel, token
# create/list/revoke; exit codes 0/1/2, clear messages, nothing written on
# rejected input, and every command answers --help.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"

BIN=${EXPORTQ_BIN:?}
DB=eqt_queue_cli_$$
psql_q "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_q "CREATE DATABASE $DB"
ADMIN_URL=$EXPORTQ_DATABASE_URL
on_exit "psql -XAtq -d '$ADMIN_URL' -c 'DROP DATABASE IF EXISTS $DB WITH (FORCE)' >/dev/null 2>&1"
export EXPORTQ_DATABASE_URL=${ADMIN_URL%/*}/$DB
T=$(tmpdir)

for cmd in migrate enqueue status cancel token; do
  out=$("$BIN" "$cmd" --help) || fail "exportq $cmd --help exited $?"
  assert_contains "$out" "usage: exportq $cmd" "$cmd --help"
done
ok "every queue command answers --help"

out=$("$BIN" migrate)
assert_contains "$out" "applied 001_queue" "first migrate applies 001"
last=$(ls "$EXPORTQ_SOURCE_DIR"/schema/[0-9][0-9][0-9]_*.sql | sort | tail -1)
last=$(basename "$last"); last=$((10#${last%%_*}))
assert_contains "$out" "schema is now at version $last" "first migrate reaches the last version"
out=$("$BIN" migrate)
assert_eq "schema is up to date (version $last)" "$out" "second migrate applies nothing"
ok "migrate is idempotent"

psql_q "CREATE FUNCTION public.t_rows(p jsonb) RETURNS TABLE (n int) LANGUAGE sql AS \$\$ SELECT generate_series(1, 3) \$\$"
psql_q "SELECT exportq.define_kind('rows', 'public.t_rows', 'rows.csv')"

id=$("$BIN" enqueue rows --param n=5 --param 'q=x'\''; drop table exportq.jobs; --' --owner u1 --email user@example.com --priority 7)
[[ $id =~ ^[0-9]+$ ]] || fail "enqueue printed '$id', not a job id"
assert_eq '{"n": "5", "q": "x'\''; drop table exportq.jobs; --", "owner": "u1"}' \
  "$(psql_q "SELECT params FROM exportq.jobs WHERE id = $id")" "params stored as data, owner forced"
assert_eq 7 "$(psql_q "SELECT priority FROM exportq.jobs WHERE id = $id")" "priority stored"
ok "enqueue prints the job id"

d1=$("$BIN" enqueue rows --dedupe-key nightly 2>/dev/null)
d2=$("$BIN" enqueue rows --dedupe-key nightly 2>"$T/err")
assert_eq "$d1" "$d2" "the same dedupe key gives the same job"
assert_contains "$(cat "$T/err")" "already queued or running" "dedupe is reported"
ok "enqueue --dedupe-key"

out=$("$BIN" status "$id")
assert_contains "$out" "job $id: rows (owner u1)" "status header"
assert_contains "$out" "queued, position 1" "status position"
assert_contains "$out" "0 rows, 0 B" "status progress"
json=$("$BIN" status "$id" --json)
assert_eq "queued 1 u1 user@example.com" \
  "$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j["position"], j["owner"], j["email"])')" \
  "status --json fields"
ok "status (text and --json)"

n_before=$(psql_q "SELECT count(*) FROM exportq.jobs")
check_rejected() {  # check_rejected WANT_RC WANT_MSG ARGS...
  local want_rc=$1 want_msg=$2 rc=0
  shift 2
  "$BIN" "$@" >"$T/out" 2>"$T/err" || rc=$?
  assert_eq "$want_rc" "$rc" "exit status of exportq $*"
  assert_contains "$(cat "$T/err")" "$want_msg" "message of exportq $*"
  [ ! -s "$T/out" ] || fail "exportq $* printed on stdout: $(cat "$T/out")"
}
check_rejected 1 "unknown export kind 'nope'" enqueue nope
check_rejected 1 "invalid email address" enqueue rows --email $'a@b.example\r\nBcc: c@d.example'
check_rejected 1 "invalid email address" enqueue rows --email 'Eve <eve@example.com>'
check_rejected 1 "invalid email address" enqueue rows --email 'a@b.example,c@d.example'
check_rejected 2 "--priority" enqueue rows --priority 5000
check_rejected 2 "--priority" enqueue rows --priority abc
check_rejected 2 "NAME=VALUE" enqueue rows --param novalue
check_rejected 2 "KIND is required" enqueue
check_rejected 2 "unknown option" enqueue rows --bogus
check_rejected 2 "not a job id" status 12x
check_rejected 1 "no job 999999" status 999999
check_rejected 2 "not a job id" cancel -- -3
assert_eq "$n_before" "$(psql_q "SELECT count(*) FROM exportq.jobs")" "rejected input wrote nothing"
ok "bad input: clear messages, exit 1 or 2, nothing written"

out=$("$BIN" cancel "$id")
assert_eq "cancelled job $id" "$out" "cancel output"
check_rejected 1 "job $id is cancelled; only queued or running jobs can be cancelled" cancel "$id"
check_rejected 1 "no job 999999" cancel 999999
assert_contains "$("$BIN" status "$id")" "state      cancelled" "status after cancel"
ok "cancel, and cancel of a finished job"

token=$("$BIN" token create --owner acme 2>"$T/err")
[[ $token =~ ^eqt_[0-9a-f]{64}$ ]] || fail "token create printed '$token'"
assert_eq 0 "$(psql_q "SELECT count(*) FROM exportq.tokens WHERE token_hash = '${token#eqt_}'")" "the token itself is not stored"
assert_eq "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" "$(psql_q "SELECT token_hash FROM exportq.tokens")" "its SHA-256 is"
list=$("$BIN" token list)
assert_contains "$list" "acme" "token list shows the owner"
case "$list" in *"$token"* | *"${token#eqt_}"*) fail "token list shows the token" ;; esac
tid=$(psql_q "SELECT id FROM exportq.tokens")
assert_eq "revoked token $tid" "$("$BIN" token revoke "$tid")" "token revoke"
check_rejected 1 "already revoked" token revoke "$tid"
check_rejected 2 "create needs --owner" token create
check_rejected 2 "unknown subcommand" token frobnicate
ok "token create, list, revoke"
