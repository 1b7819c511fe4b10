#!/usr/bin/env bash
# A slow SMTP server (issue 10.3; tests/harness/smtpd.py --delay-final):
#  1. The server answers the final "." 8 s late, two workers run: exactly one
#     delivery (the mail lease outlasts the longest send, so the second worker
#     never takes the mail over), recorded by its own claim (attempt 1).
#  2. A worker in the middle of a send that the server holds for 5 minutes
#     gets SIGTERM twice: it stops at once (not ~2 minutes later when
#     libesmtp's timeout would fire); the mail stays pending for a later send.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-mailslow-$$-$(date +%s)/" EXPORTQ_POLL_SECONDS=1
t=$(tmpdir)
certs=$(dirname "$EXPORTQ_SMTP_CA_FILE")
define_slow_kind

# slow_smtpd NAME DELAY: a second test SMTP server whose final reply is late;
# sets SLOW_PORT and SLOW_MAILDIR
slow_smtpd() {
  local port pid
  port=$(free_port)
  SLOW_MAILDIR="$t/$1.mail"
  /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/harness/smtpd.py" --host 127.0.0.1 --port "$port" \
    --cert "$certs/cert.pem" --key "$certs/key.pem" --maildir "$SLOW_MAILDIR" --log "$t/$1.log" \
    --ready-file "$t/$1.ready" --delay-final "$2" >"$t/$1.out" 2>&1 &
  pid=$!
  on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  wait_for "[ -s '$t/$1.ready' ]" 15 || fail "slow smtpd did not start: $(cat "$t/$1.out")"
  SLOW_PORT=$port
}
deliveries() { grep -lx "RCPT_TO=$2" "$1"/*.env 2>/dev/null | wc -l; }

# --- 1. late final reply, two workers ------------------------------------------------
slow_smtpd late 8
export EXPORTQ_SMTP_URL="smtp://exportq:smtp-secret@127.0.0.1:$SLOW_PORT" EXPORTQ_SMTP_TIMEOUT=30
addr="late-$$@example.test"
id=$("$EXPORTQ_BIN" enqueue slow --param rows=100 --param pause=0 --email "$addr")
rel_bg wa "$t/workerA.log" "$EXPORTQ_BIN" worker
rel_bg wb "$t/workerB.log" "$EXPORTQ_BIN" worker
wait_for "[ \"\$(psql_q \"SELECT mail_state FROM exportq.jobs WHERE id = $id\")\" = sent ]" 120 \
  || { tail -20 "$t/workerA.log" "$t/workerB.log" >&2; fail "the mail was never recorded sent"; }
# SIGTERM drains: a housekeeper finishes the send it is in before it exits
kill -TERM "$wa" "$wb"
wait "$wa" || fail "worker A did not exit cleanly"
wait "$wb" || fail "worker B did not exit cleanly"
assert_eq 1 "$(deliveries "$SLOW_MAILDIR" "$addr")" "one delivery, whatever the two workers did"
assert_eq 1 "$(psql_q "SELECT mail_attempts FROM exportq.jobs WHERE id = $id")" "one send attempt"
ok "final '.' answered 8 s late with two workers: one delivery, recorded by its own claim"

# --- 2. a second SIGTERM interrupts a send ------------------------------------------
slow_smtpd stuck 300
export EXPORTQ_SMTP_URL="smtp://exportq:smtp-secret@127.0.0.1:$SLOW_PORT" EXPORTQ_SMTP_TIMEOUT=240
addr2="stuck-$$@example.test"
id2=$("$EXPORTQ_BIN" enqueue slow --param rows=100 --param pause=0 --email "$addr2")
rel_bg wc "$t/workerC.log" "$EXPORTQ_BIN" worker
wait_for "grep -q 'holding the reply' '$t/stuck.log'" 60 || fail "the send never reached the final '.'"
kill -TERM "$wc"; sleep 0.5; kill -TERM "$wc"
wait_for "! kill -0 $wc" 20 || { tail -5 "$t/workerC.log" >&2; fail "the worker still waits for SMTP 20 s after the second SIGTERM"; }
wait "$wc" 2>/dev/null || true
grep -q "send interrupted" "$t/workerC.log" || fail "the log does not say the send was interrupted"
assert_eq pending "$(psql_q "SELECT mail_state FROM exportq.jobs WHERE id = $id2")" "the mail is still pending"
ok "a second SIGTERM stops a worker held in SMTP at once; the mail stays pending"
