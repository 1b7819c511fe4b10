#!/usr/bin/env bash
# http_cluster_cap.sh - the stream cap shared by every `exportq serve` of one
# queue database (advisory-lock slots, http/http_slots.h), and Prefer:
# respond-async: two serve processes with EXPORTQ_MAX_STREAMS=2 admit two
# streams in total (slow-reading clients hold them), the third is 429 with
# Retry-After on either; a serve holding a slot killed with -9 frees it (the
# other admits again); Prefer: respond-async at the cap, and above
# EXPORTQ_STREAM_MAX_ROWS, gives 202 + Location + Preference-Applied and the
# job then succeeds (worker --drain).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"

T=$(tmpdir)
http_db_setup "eqhttp_cap_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS eqhttp_cap_$$ WITH (FORCE)' >/dev/null 2>&1"
export EXPORTQ_S3_PREFIX="it-cap-$$-$(date +%s)/"
define_slow_kind
psql_q "SELECT app.seed_activity('cap-u3', 2000)" >/dev/null
TU1=$(token_for cap-u1)
TU2=$(token_for cap-u2)
TU3=$(token_for cap-u3)
slots_held() {
  psql_q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
          WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
            AND a.application_name = 'exportq-slots' AND a.datname = current_database()"
}
# hold URL TOKEN NAME: a stream read at 2 kB/s in the background (it stays open)
hold() {
  curl -sS -N --limit-rate 2k --max-time 300 -H "Authorization: Bearer $2" -D "$T/$3.hdr" -o /dev/null \
    "$1/v1/stream/slow?rows=1000000&pause=0" 2>/dev/null &
  on_exit "kill $! 2>/dev/null"
}
# get URL TOKEN PATH OUT [curl args]: one request, prints the status
get() {
  local url=$1 tok=$2 path=$3 out=$4
  shift 4
  curl -sS --max-time 30 -H "Authorization: Bearer $tok" -D "$out.hdr" -o "$out" -w '%{http_code}' "$@" "$url$path"
}
h() { grep -i "^$1:" "$2.hdr" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'; }

serve_start EXPORTQ_MAX_STREAMS=2
A=$URL A_PID=$SERVE_PID
serve_start EXPORTQ_MAX_STREAMS=2
B=$URL B_PID=$SERVE_PID
ok "two serve processes on one queue database: $A and $B"

# ---- two streams in total across both ---------------------------------------------------
hold "$A" "$TU1" s1
wait_for "grep -q '^HTTP/1.1 200' '$T/s1.hdr'" 20 || fail "first stream (on A) did not start"
hold "$B" "$TU2" s2
wait_for "grep -q '^HTTP/1.1 200' '$T/s2.hdr'" 20 || fail "second stream (on B) did not start"
assert_eq 2 "$(slots_held)" "two slots held in PostgreSQL"
assert_eq 429 "$(get "$A" "$TU3" /v1/stream/user_activity_raw "$T/c1")" "third stream on A"
assert_eq too_many_streams "$(jq -r .error.code "$T/c1")" "429 code on A"
[[ $(h Retry-After "$T/c1") =~ ^[0-9]+$ ]] || fail "429 on A has Retry-After"
assert_eq 429 "$(get "$B" "$TU3" /v1/stream/user_activity_raw "$T/c2")" "third stream on B"
[[ $(h Retry-After "$T/c2") =~ ^[0-9]+$ ]] || fail "429 on B has Retry-After"
ok "EXPORTQ_MAX_STREAMS=2 on two serves: 2 streams in total, the 3rd is 429 with Retry-After on either"

# ---- Prefer: respond-async at the cap: a job -----------------------------------------------
assert_eq 202 "$(get "$B" "$TU3" /v1/stream/user_activity_raw "$T/p1" -H 'Prefer: respond-async, wait=5' -H 'Accept: application/x-ndjson')" \
  "Prefer: respond-async at the cap"
pid1=$(jq -r .id "$T/p1")
assert_eq "/v1/exports/$pid1" "$(h Location "$T/p1")" "Location of the job"
assert_eq respond-async "$(h Preference-Applied "$T/p1")" "Preference-Applied"
assert_eq queued "$(jq -r .state "$T/p1")" "the job is queued"
assert_eq user_activity_raw "$(jq -r .kind "$T/p1")" "same kind"
assert_eq cap-u3 "$(jq -r .owner "$T/p1")" "same owner"
assert_eq jsonl "$(jq -r .format "$T/p1")" "format from Accept"
assert_eq cap-u3 "$(psql_q "SELECT params->>'owner' FROM exportq.jobs WHERE id = $pid1")" "owner bound in the params"
assert_eq 2 "$(slots_held)" "the job took no slot"
ok "Prefer: respond-async at the cap: 202, Location, Preference-Applied, the same kind/owner/format as a job"

# ---- kill -9 of a serve holding a slot frees it ---------------------------------------------
kill -9 "$A_PID"
wait "$A_PID" 2>/dev/null || true
n=0
until [ "$(get "$B" "$TU3" /v1/stream/user_activity_raw "$T/after")" = 200 ]; do
  n=$((n + 1))
  [ "$n" -lt 100 ] || fail "B never admitted a stream after A was killed (last: $(cat "$T/after"))"
  sleep 0.2
done
[ "$(wc -l <"$T/after")" -gt 2000 ] || fail "the admitted stream is not the whole export: $(wc -l <"$T/after") lines"
ok "serve A killed with -9: its slot was freed, B admits a stream again (after $n refusals)"

# ---- above EXPORTQ_STREAM_MAX_ROWS ------------------------------------------------------------
serve_start EXPORTQ_MAX_STREAMS=2 EXPORTQ_STREAM_MAX_ROWS=100
C=$URL
# the planner estimates 1000 rows for generate_series over a parameter
assert_eq 202 "$(get "$C" "$TU3" "/v1/stream/slow?rows=5000&pause=0" "$T/p2" -H 'Prefer: respond-async')" \
  "Prefer: respond-async above EXPORTQ_STREAM_MAX_ROWS"
pid2=$(jq -r .id "$T/p2")
assert_eq respond-async "$(h Preference-Applied "$T/p2")" "Preference-Applied (rows)"
assert_eq "/v1/exports/$pid2" "$(h Location "$T/p2")" "Location (rows)"
assert_eq 200 "$(get "$C" "$TU3" "/v1/stream/slow?rows=50&pause=0" "$T/nopref")" "the same without Prefer streams"
assert_eq "" "$(h Preference-Applied "$T/nopref")" "no Preference-Applied on a stream"
assert_eq 51 "$(wc -l <"$T/nopref")" "the stream without Prefer is whole"
ok "Prefer: respond-async above EXPORTQ_STREAM_MAX_ROWS is a job; without Prefer the stream runs"

# ---- both jobs succeed ------------------------------------------------------------------------
"$EXPORTQ_BIN" worker --drain 2>"$T/worker.log" || { cat "$T/worker.log" >&2; fail "worker"; }
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.status($pid1)")" "the job made at the cap succeeded"
assert_eq 2000 "$(psql_q "SELECT rows FROM exportq.status($pid1)")" "its rows"
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.status($pid2)")" "the job made above the rows cap succeeded"
assert_eq 5000 "$(psql_q "SELECT rows FROM exportq.status($pid2)")" "its rows"
ok "the jobs made from Prefer: respond-async succeeded"
