#!/usr/bin/env bash
# Reliability: kill -9 of a worker at chosen points of an export, N times
# (CI 4, EXPORTQ_LONG=1: 20), one job per kill, each at one of:
#   copy      the COPY is streaming, no multipart upload exists yet
#   part      a multipart upload exists and parts are being uploaded
#   complete  CompleteMultipartUpload is done (the object exists) but the job
#             is not yet `succeeded`: s3proxy applies the Complete and holds
#             its reply (the worker keeps heartbeating meanwhile); the test
#             sees the object in S3 and kills the worker there
#   mail      the job succeeded and the worker is inside the SMTP session
#             (its SMTP server is a black hole that never answers)
# The points are hit by watching the job row, S3 and pg_stat_activity: no hook
# in production code. Then one worker rescues everything. Every job must end
# `succeeded` exactly once: one object byte-equal to psql's COPY, one email,
# no multipart upload left, attempts = 2 (1 for the mail kill: no re-run).
# Each kill gets a database of its own, so a round's worker never picks up
# (rescues) the job of an earlier round. Waiting out the backoff after a rescue
# (10-20 s) and the mail lease (300 s) is replaced by moving run_at /
# mail_lease_expires_at to now() once the killed worker is gone; the job lease
# itself (5 s) expires for real.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
export EXPORTQ_S3_PREFIX="rel-kill-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=2 EXPORTQ_LEASE_SECONDS=5 EXPORTQ_POLL_SECONDS=1
t=$(tmpdir)
rows=60000 # ~12 MB: three parts; a 1 s pause every 20,000 rows (~4 MB)

n=4
rel_long && n=20
points=(copy part complete mail)
real_endpoint=$EXPORTQ_S3_ENDPOINT real_smtp=$EXPORTQ_SMTP_URL
# every Complete applied by S3 and its reply held 60 s: for the `complete` point only
S3PROXY_ARGS="--stall complete=60" s3proxy_start 0 "" 7
blackhole_start

jobs=() kinds=() dbs=()
job_field() { psql_q "SELECT $2 FROM exportq.jobs WHERE id = $1"; }

for ((i = 0; i < n; i++)); do
  if rel_long; then point=${points[RANDOM % 4]}; else point=${points[i % 4]}; fi
  pause=1; [ "$point" = copy ] && pause=2.5 # the first part is not full for 2.5 s: time to see it
  use_fresh_db "rel_kill_$$_$i"
  define_slow_kind
  dbs+=("$PGDATABASE")
  id=$("$EXPORTQ_BIN" enqueue slow --param rows=$rows --param pause=$pause --email "kill$i-$$@example.test" --owner "k$i")
  jobs+=("$id") kinds+=("$point")
  endpoint=$real_endpoint smtp=$real_smtp
  case $point in
    complete) endpoint=$S3PROXY_URL ;;
    mail) smtp="smtp://exportq:smtp-secret@127.0.0.1:$BLACKHOLE_PORT" ;;
  esac
  base=$(s3proxy_stat stalled 2>/dev/null || echo 0)
  EXPORTQ_S3_ENDPOINT=$endpoint EXPORTQ_SMTP_URL=$smtp rel_bg w "$t/w$i.log" "$EXPORTQ_BIN" worker
  case $point in
    copy)
      wait_for "[ \"\$(job_field $id \"bytes > 0 AND upload_id IS NULL\")\" = t ]" 60 ;;
    part)
      wait_for "[ \"\$(job_field $id \"bytes > 0 AND upload_id IS NOT NULL\")\" = t ]" 60 ;;
    complete)
      wait_for "[ \"\$(s3proxy_stat stalled)\" -ge $((base + 1)) ] && [ -n \"\$(s3_list_keys ${EXPORTQ_S3_PREFIX}k$i/)\" ]" 90 \
        || { cat "$t/w$i.log" >&2; fail "job $id: the worker never waited for Complete with the object in S3"; } ;;
    mail)
      wait_for "[ \"\$(job_field $id \"state = 'succeeded' AND mail_state = 'pending' AND mail_lease_expires_at > now()\")\" = t ]" 90 ;;
  esac || { cat "$t/w$i.log" >&2; fail "job $id: point '$point' not reached"; }
  kill -9 "$w"; wait "$w" 2>/dev/null || true
  if [ "$point" = complete ]; then
    assert_eq running "$(job_field "$id" state)" "job $id: the kill landed before the status update"
  fi
  ok "kill $((i + 1))/$n: job $id killed at '$point' ($(job_field "$id" "state || ' bytes=' || bytes || ' upload=' || (upload_id IS NOT NULL)"))"
done

# One worker per database (the real S3 and SMTP) rescues and finishes each job.
ws=()
for ((i = 0; i < n; i++)); do
  PGDATABASE=${dbs[i]} EXPORTQ_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/${dbs[i]}" \
    rel_bg w "$t/rescue$i.log" "$EXPORTQ_BIN" worker
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
sleep 2 # a duplicate mail, if any, would arrive now
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
  assert_eq 1 "$(grep -lx "RCPT_TO=kill$i-$$@example.test" "$EXPORTQ_TEST_MAILDIR"/*.env | wc -l)" "job $id ($point): exactly one email"
done
assert_eq 0 "$(uploads_under "$EXPORTQ_S3_PREFIX")" "no multipart upload left behind"
ok "$n kills (${kinds[*]}): every job succeeded once, one object (= COPY), one email, no leftover upload"
