#!/usr/bin/env bash
# Reliability: kill -9 of a worker at chosen points of an export, N times
# (CI 4, EXPORTQ_LONG=1: 20), one job per kill, each at one of:
#   copy      the COPY is streaming, no multipart upload exists yet: the
#             kind's query blocks at row 20,000 (~4 MB, under one part) on an
#             advisory lock the test holds
#   part      a multipart upload exists and a part is done: the query blocks
#             at row 40,000 (past the first 5 MiB part) on that lock
#   complete  CompleteMultipartUpload is done (the object exists) but the job
#             is not yet `succeeded`: s3proxy applies the Complete and holds
#             its reply (the worker keeps heartbeating meanwhile); the test
#             sees the object in S3 and kills the worker there
#   mail      the job succeeded and the SMTP server has stored the message but
#             holds back its final reply (smtpd.py --hold-final-reply): the
#             message is delivered, the worker has not recorded it
# The points are hit by watching the job row, S3, the maildir and
# pg_stat_activity: no hook in production code, no race against a timer. Then
# one worker rescues everything. Every job must end `succeeded`: one object
# byte-equal to psql's COPY; the real runs, counted by the proxies in front of
# S3 (uploads S3 completed per key; the object cannot show a second run, as
# every attempt writes the same key) are 1, and 2 for `complete` (the killed
# run had completed its upload; the rescue runs it again over the same key);
# one email, or after the `mail` kill copies that share one Message-ID; no
# multipart upload left; attempts = 2 (1 for the mail kill: no re-run).
# Each kill gets a database of its own, so a round's worker never picks up
# (rescues) the job of an earlier round. Waiting out the backoff after a rescue
# (10-20 s) and the mail lease (300 s) is replaced by moving run_at /
# mail_lease_expires_at to now() once the killed worker is gone; the job lease
# itself (5 s) expires for real.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
export EXPORTQ_S3_PREFIX="rel-kill-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=2 EXPORTQ_LEASE_SECONDS=5 EXPORTQ_POLL_SECONDS=1
t=$(tmpdir)
rows=60000 # ~12 MB: three parts

n=4
rel_long && n=20
points=(copy part complete mail)
direct=$EXPORTQ_S3_ENDPOINT real_smtp=$EXPORTQ_SMTP_URL
# every Complete applied by S3 and its reply held 60 s: for the `complete` point only
S3PROXY_ARGS="--stall complete=60" s3proxy_start 0 "" 7
slow_proxy=$S3PROXY_URL slow_stats=$S3PROXY_STATS
s3proxy_start 0 "" 8       # counts, never fails: every other S3 request
count_proxy=$S3PROXY_URL count_stats=$S3PROXY_STATS
S3PROXY_STATS=$slow_stats
smtpd_start held 600       # stores each message, never acknowledges it
held_maildir=$SMTPD_MAILDIR held_smtp=$SMTPD_URL

# gate_hold / gate_release: an exclusive advisory lock (key 4242) in the current
# test database, held by a background session; the kind `gated` stops at row
# params.gate until it is released.
gate_hold() {
  PGAPPNAME=rel-gate psql -XAtq -c "SELECT pg_advisory_lock(4242); SELECT pg_sleep(600)" >/dev/null 2>&1 &
  gate_pid=$!
  on_exit "kill $gate_pid 2>/dev/null"
  wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted\")\" = 1 ]" 30 \
    || fail "the gate lock was not taken"
}
gate_release() {
  psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rel-gate'
          AND datname = current_database()" >/dev/null
  wait "$gate_pid" 2>/dev/null || true
}
define_gated_kind() {
  psql_q "CREATE FUNCTION app.gated_rows(params jsonb) RETURNS TABLE(n int, payload text)
    LANGUAGE sql STABLE AS \$\$
      SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, (params->>'rows')::int) i
      WHERE i <> (params->>'gate')::int
         OR (pg_advisory_lock_shared(4242) IS NOT NULL AND pg_advisory_unlock_shared(4242))
    \$\$;
    SELECT exportq.define_kind('gated', 'app.gated_rows', 'slow.csv')" >/dev/null
}

jobs=() kinds=() dbs=()
job_field() { psql_q "SELECT $2 FROM exportq.jobs WHERE id = $1"; }

for ((i = 0; i < n; i++)); do
  if rel_long; then point=${points[RANDOM % 4]}; else point=${points[i % 4]}; fi
  use_fresh_db "rel_kill_$$_$i"
  define_slow_kind
  define_gated_kind
  dbs+=("$PGDATABASE")
  gate=0
  case $point in copy) gate=20000 ;; part) gate=40000 ;; esac
  [ "$gate" = 0 ] || gate_hold
  id=$("$EXPORTQ_BIN" enqueue gated --param rows=$rows --param gate=$gate --email "kill$i-$$@example.test" --owner "k$i")
  jobs+=("$id") kinds+=("$point")
  endpoint=$count_proxy smtp=$real_smtp
  case $point in
    complete) endpoint=$slow_proxy ;;
    mail) smtp=$held_smtp ;;
  esac
  base=$(s3proxy_stat stalled 2>/dev/null || echo 0)
  EXPORTQ_S3_ENDPOINT=$endpoint EXPORTQ_SMTP_URL=$smtp rel_bg w "$t/w$i.log" "$EXPORTQ_BIN" worker
  case $point in
    copy | part)
      # the query waits at the gate: bytes flow no more, the upload state is fixed
      want="upload_id IS NULL"; [ "$point" = part ] && want="upload_id IS NOT NULL"
      wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                  AND wait_event_type = 'Lock' AND wait_event = 'advisory'\")\" = 1 ] &&
                [ \"\$(job_field $id \"bytes > 0 AND $want\")\" = t ]" 90 ;;
    complete)
      wait_for "[ \"\$(s3proxy_stat stalled)\" -ge $((base + 1)) ] && [ -n \"\$(EXPORTQ_S3_ENDPOINT=$direct s3_list_keys ${EXPORTQ_S3_PREFIX}k$i/)\" ]" 90 \
        || { cat "$t/w$i.log" >&2; fail "job $id: the worker never waited for Complete with the object in S3"; } ;;
    mail)
      wait_for "[ -n \"\$(mails_to kill$i-$$@example.test $held_maildir)\" ] &&
                [ \"\$(job_field $id \"state = 'succeeded' AND mail_state = 'pending'\")\" = t ]" 90 ;;
  esac || { cat "$t/w$i.log" >&2; fail "job $id: point '$point' not reached"; }
  kill -9 "$w"; wait "$w" 2>/dev/null || true
  [ "$gate" = 0 ] || gate_release
  [ "$point" = part ] && { [ "$(EXPORTQ_S3_ENDPOINT=$direct uploads_under "${EXPORTQ_S3_PREFIX}k$i/")" -ge 1 ] \
    || fail "job $id: the killed run's upload is not in flight"; }
  if [ "$point" = complete ]; then
    assert_eq running "$(job_field "$id" state)" "job $id: the kill landed before the status update"
  fi
  ok "kill $((i + 1))/$n: job $id killed at '$point' ($(job_field "$id" "state || ' bytes=' || bytes || ' upload=' || (upload_id IS NOT NULL)"))"
done

# One worker per database (the real S3 and SMTP) rescues and finishes each job.
ws=()
for ((i = 0; i < n; i++)); do
  PGDATABASE=${dbs[i]} EXPORTQ_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/${dbs[i]}" \
    EXPORTQ_S3_ENDPOINT=$count_proxy rel_bg w "$t/rescue$i.log" "$EXPORTQ_BIN" worker
  ws+=("$w")
done
all_done() {
  local d done=0
  for d in "${dbs[@]}"; do
    done=$((done + $(psql -XAtq -d "$d" -c "UPDATE exportq.jobs SET run_at = now() WHERE state = 'queued' AND run_at > now();
      UPDATE exportq.jobs SET mail_lease_expires_at = now() WHERE mail_state = 'pending' AND mail_lease_expires_at > now()" \
      -c "SELECT count(*) FROM exportq.jobs WHERE state = 'succeeded' AND mail_state = 'sent'")))
  done
  [ "$done" = "$n" ]
}
wait_for all_done $((60 + 5 * n)) || { cat "$t"/rescue*.log >&2; fail "not every job succeeded with its mail sent"; }
# once the workers have exited nothing can send another message: count then
for w in "${ws[@]}"; do kill -TERM "$w"; wait "$w" || fail "a rescuing worker did not exit cleanly"; done

psql -XAq -c "COPY (SELECT * FROM app.slow_rows('{\"rows\":$rows,\"pause\":0}')) TO STDOUT WITH (FORMAT csv, HEADER)" >"$t/want.csv"
want=$(sha256_of "$t/want.csv")
for ((i = 0; i < n; i++)); do
  id=${jobs[i]} point=${kinds[i]}
  export EXPORTQ_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/${dbs[i]}"
  assert_eq "succeeded" "$(job_field "$id" state)" "job $id ($point)"
  exp_attempts=2; [ "$point" = mail ] && exp_attempts=1
  assert_eq "$exp_attempts" "$(job_field "$id" attempts)" "job $id ($point): attempts"
  keys=$(s3_list_keys "${EXPORTQ_S3_PREFIX}k$i/")
  assert_eq 1 "$(echo "$keys" | grep -c .)" "job $id ($point): exactly one object"
  s3_get_file "$keys" "$t/obj.csv"
  assert_eq "$want" "$(sha256_of "$t/obj.csv")" "job $id ($point): the object equals psql's COPY"
  exp_runs=1; [ "$point" = complete ] && exp_runs=2
  assert_eq "$exp_runs" "$(s3proxy_runs "${EXPORTQ_S3_PREFIX}k$i/" "$slow_stats" "$count_stats")" \
    "job $id ($point): uploads S3 completed (real runs)"
  if [ "$point" = mail ]; then
    assert_one_mail "kill$i-$$@example.test" "job $id ($point)" "$held_maildir" "$EXPORTQ_TEST_MAILDIR"
    [ "$MAIL_COPIES" -le 2 ] || fail "job $id ($point): $MAIL_COPIES copies"
  else
    assert_eq 1 "$(mails_to "kill$i-$$@example.test" "$held_maildir" "$EXPORTQ_TEST_MAILDIR" | grep -c .)" "job $id ($point): exactly one email"
  fi
done
assert_no_uploads "$EXPORTQ_S3_PREFIX" "no multipart upload left behind"
ok "$n kills (${kinds[*]}): every job succeeded, one object (= COPY), the real runs expected (1; 2 after a kill past Complete), one email (copies with one Message-ID after the mail kill), no leftover upload"
