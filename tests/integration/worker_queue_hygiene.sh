#!/usr/bin/env bash
# The worker as the queue sees it while exports run:
#  - no transaction stays open on the queue database for the length of an
#    export: while exports are held mid-COPY, no queue connection of the worker
#    (application_name exportq-worker) has a transaction that began at or
#    before its job started (pg_stat_activity.xact_start; the claim is one
#    short transaction, committed before the export starts);
#  - the per-owner cap as the worker enforces it (EXPORTQ_OWNER_MAX_RUNNING=1,
#    --concurrency 3): of owner A's two jobs, both ahead of a later job in
#    position (one without an owner, exempt from the cap), one runs and the
#    other is passed over while it runs, although a slot is free: the later
#    job takes that slot. Once A's first job is done, the second runs.
# The exports are held by an advisory lock the test holds (no timers).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-hyg-$$-$(date +%s)/" EXPORTQ_POLL_SECONDS=1 EXPORTQ_OWNER_MAX_RUNNING=1 EXPORTQ_LEASE_SECONDS=6
t=$(tmpdir)
psql_q "CREATE SCHEMA app;
  CREATE FUNCTION app.gated(params jsonb) RETURNS TABLE(n int, payload text) LANGUAGE sql STABLE AS \$\$
    SELECT i, md5(i::text) FROM generate_series(1, 2000) i
    WHERE i <> 1000 OR (pg_advisory_lock_shared(4343) IS NOT NULL AND pg_advisory_unlock_shared(4343))
  \$\$;
  SELECT exportq.define_kind('gated', 'app.gated', 'g.csv')" >/dev/null
PGAPPNAME=hyg-gate psql -XAtq -c "SELECT pg_advisory_lock(4343); SELECT pg_sleep(600)" >/dev/null 2>&1 &
gate=$!
on_exit "kill $gate 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4343 AND granted\")\" = 1 ]" 30 \
  || fail "the gate lock was not taken"
a1=$("$EXPORTQ_BIN" enqueue gated --owner A)
a2=$("$EXPORTQ_BIN" enqueue gated --owner A)
# jobs without an owner are one owner for turns and exempt from the cap: the
# turns put n1 ahead of A2 and n2 behind it
b1=$("$EXPORTQ_BIN" enqueue gated)
c1=$("$EXPORTQ_BIN" enqueue gated)
state() { psql_q "SELECT state FROM exportq.jobs WHERE id = $1"; }
pos() { psql_q "SELECT position FROM exportq.status($1)"; }
held() { psql_q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'"; }
[ "$(pos "$a1")" -lt "$(pos "$c1")" ] && [ "$(pos "$a2")" -lt "$(pos "$c1")" ] \
  || fail "precondition: both of A's jobs (positions $(pos "$a1"), $(pos "$a2")) are ahead of C1 (position $(pos "$c1"))"

rel_bg w "$t/worker.log" "$EXPORTQ_BIN" worker --concurrency 3
wait_for "[ \"\$(held)\" = 3 ]" 60 || { cat "$t/worker.log" >&2; fail "three exports never got to the gate"; }
assert_eq "running running" "$(state "$b1") $(state "$c1")" "B1 and C1 run"
# which of A's two jobs won the claim race does not matter; one runs, one waits
first=$a1 second=$a2
[ "$(state "$a2")" = running ] && first=$a2 second=$a1
assert_eq "running queued" "$(state "$first") $(state "$second")" "one of A's jobs runs; the other, ahead of C1, waits for A's cap"
assert_eq 1 "$(psql_q "SELECT count(*) FROM exportq.jobs WHERE owner = 'A' AND state = 'running'")" "owner A runs one job (cap 1)"


# the queue connections: no transaction open since (or before) a job started
open=$(psql_q "SELECT count(*) FROM pg_stat_activity a WHERE a.datname = current_database()
                 AND a.application_name = 'exportq-worker' AND a.xact_start IS NOT NULL
                 AND a.xact_start <= (SELECT max(started_at) FROM exportq.jobs WHERE state = 'running')")
assert_eq 0 "$open" "queue connections with a transaction open since a running job started"
# ... nor one that outlives a heartbeat: the open transactions of the queue
# connections now, then again once every running job's lease was renewed
# (committed) since: none may be in both samples
xacts() { psql_q "SELECT pid || '@' || xact_start FROM pg_stat_activity WHERE datname = current_database()
                  AND application_name = 'exportq-worker' AND xact_start IS NOT NULL" | sort; }
xacts >"$t/xacts1"
lease1=$(psql_q "SELECT max(lease_expires_at) FROM exportq.jobs WHERE state = 'running'")
wait_for "[ \"\$(psql_q \"SELECT bool_and(lease_expires_at > '$lease1') FROM exportq.jobs WHERE state = 'running'\")\" = t ]" 60 \
  || fail "no committed heartbeat of every running job (a transaction held open?)"
xacts >"$t/xacts2"
assert_eq "" "$(comm -12 "$t/xacts1" "$t/xacts2" | tr '\n' ' ')" "queue transactions open across a heartbeat"
ok "3 exports held mid-COPY: A's second job passed over for a later owner's (cap 1); no queue transaction open across them"

psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hyg-gate'" >/dev/null
wait "$gate" 2>/dev/null || true
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.jobs WHERE state = 'succeeded'\")\" = 4 ]" 60 \
  || { cat "$t/worker.log" >&2; fail "not every job succeeded once the gate opened"; }
assert_eq t "$(psql_q "SELECT (SELECT started_at FROM exportq.jobs WHERE id = $second) >= (SELECT finished_at FROM exportq.jobs WHERE id = $first)")" \
  "A's second job started only after the first finished"
kill -TERM "$w"; wait "$w" || fail "worker did not exit cleanly"
ok "per-owner cap 1: A's second job passed over for a later owner's job while the first ran, then run"
