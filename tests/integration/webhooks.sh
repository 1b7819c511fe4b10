#!/usr/bin/env bash
# webhooks.sh - signed webhooks from the real worker (DESIGN.md "Notifications")
# to receivers of the test's own (tests/harness/webhookd.py, 127.0.0.1 only):
#  1. a succeeded job: ONE event whose Exportq-Signature verifies with the
#     secret (Python's hmac, t of the attempt) and whose data is the job as
#     GET /v1/exports/{id} shows it; failed, cancelled and expired (past
#     retention) jobs give their events too;
#  2. a receiver that answers 500 first: retried with the same event id, then
#     delivered (webhooks list shows 2 attempts);
#  3. a receiver that holds its answer, and one that is dead: exports and
#     mails go on meanwhile (a second SIGTERM cuts the held attempt); the
#     dead one's event is retried;
#  4. a kind's webhook_url: delivered when its host is allowed; refused at
#     define_kind when it names a metadata/link-local IP literal; refused
#     before any connection at delivery for the metadata address in another
#     spelling, loopback named by a wildcard, a host not allowed, a private
#     range (a listener on the refused loopback address sees nothing);
#     `webhooks list --failed` shows them; no secret: refused, named;
#  5. two workers, a slow receiver: every event sent exactly once;
#  6. webhook_settle records an outcome only for the attempt holding the event.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-webhooks-$$-$(date +%s)/" EXPORTQ_POLL_SECONDS=1 AWS_EC2_METADATA_DISABLED=true
t=$(tmpdir)
PY=/usr/bin/python3
SECRET="whsec-it-$$-0123456789abcdef"
export EXPORTQ_WEBHOOK_SECRET=$SECRET
unset EXPORTQ_WEBHOOK_URL EXPORTQ_WEBHOOK_ALLOWED_HOSTS
psql -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || fail "setup"
CREATE SCHEMA app;
CREATE FUNCTION app.wh(params jsonb) RETURNS TABLE (n int, s text)
  LANGUAGE sql STABLE AS 'SELECT g, ''row '' || g FROM generate_series(1, 3) g';
CREATE FUNCTION app.wh_fail(params jsonb) RETURNS TABLE (n int)
  LANGUAGE sql STABLE AS 'SELECT 1 / 0';
SELECT exportq.define_kind('wh', 'app.wh', 'wh.csv');
SELECT exportq.define_kind('wh_fail', 'app.wh_fail');
SQL

# recv_start NAME [webhookd options]: a receiver; its URL base in RECV_URL
recv_start() {
  local name=$1 pid
  shift
  $PY "$EXPORTQ_SOURCE_DIR/tests/harness/webhookd.py" --port-file "$t/$name.port" --log "$t/$name.log" "$@" \
    >"$t/$name.out" 2>&1 &
  pid=$!
  on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  wait_for "[ -s '$t/$name.port' ]" 15 || fail "receiver $name did not start: $(cat "$t/$name.out")"
  touch "$t/$name.log"
  RECV_URL="http://127.0.0.1:$(cat "$t/$name.port")"
}
recv_count() { grep -c . "$t/$1.log" || true; }
# the requests of receiver $1 for job $2 (events of type $3 only), one JSON line each
recv_for_job() {
  $PY -c 'import json,sys
for l in open(sys.argv[1]):
    ev = json.loads(json.loads(l)["body"])
    if ev["data"]["id"] == int(sys.argv[2]) and sys.argv[3] in ("", ev["type"]): print(l.strip())' \
    "$t/$1.log" "$2" "${3:-}"
}
event_of() { psql_q "SELECT $2 FROM exportq.webhooks WHERE job_id = $1 ORDER BY created_at DESC LIMIT 1"; }

# check_event LINE TYPE JOB: the signature verifies (with the secret, for the
# body as received, t = the time of that attempt), the envelope is right
check_event() {
  $PY - "$1" "$2" "$3" "$SECRET" <<'PY'
import hashlib, hmac, json, re, sys
r, typ, job, secret = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
assert r["headers"]["content-type"] == "application/json", r["headers"]
sig = r["headers"]["exportq-signature"]
m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", sig)
assert m, sig
t, v1 = m.group(1), m.group(2)
want = hmac.new(secret.encode(), (t + "." + r["body"]).encode(), hashlib.sha256).hexdigest()
assert hmac.compare_digest(want, v1), "signature does not verify"
wrong = hmac.new(b"another-secret", (t + "." + r["body"]).encode(), hashlib.sha256).hexdigest()
assert not hmac.compare_digest(wrong, v1)
assert int(t) <= r["received"] + 1, (t, r["received"])  # signed at the attempt, never later
ev = json.loads(r["body"])
assert list(ev) == ["id", "type", "created", "data"], list(ev)
assert re.fullmatch(r"evt_[0-9a-f]{32}", ev["id"]), ev["id"]
assert ev["type"] == typ, (ev["type"], typ)
assert isinstance(ev["created"], int) and ev["created"] > 1700000000
assert ev["data"]["id"] == job and ev["data"]["state"] == typ.split(".")[1], ev["data"]
PY
}

# --- 1. succeeded: one signed event whose data is the job as the API shows it ---------
recv_start r1
export EXPORTQ_WEBHOOK_URL="$RECV_URL/hooks/exportq"
serve_start
tok=$(token_for whu1)
addr="wh-ok-$$@example.test"
id_ok=$(psql_q "SELECT exportq.enqueue('wh', '{}', '$addr', 'whu1')")
"$EXPORTQ_BIN" worker --drain 2>"$t/w1.log" || fail "worker: $(tail -5 "$t/w1.log")"
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id_ok")" "the job ran"
lines=$(recv_for_job r1 "$id_ok")
assert_eq 1 "$(grep -c . <<<"$lines")" "one request for the succeeded job"
check_event "$lines" export.succeeded "$id_ok" || fail "the succeeded event"
assert_eq /hooks/exportq "$(jq -r .path <<<"$lines")" "posted to EXPORTQ_WEBHOOK_URL's path"
req GET "/v1/exports/$id_ok" "$tok"
assert_eq 200 "$STATUS" "GET the job"
$PY - "$lines" "$BODY" <<'PY' || fail "the event's data is the job as GET /v1/exports/{id} shows it"
import json, sys, urllib.parse
ev = json.loads(json.loads(sys.argv[1])["body"])
api, data = json.loads(sys.argv[2]), ev["data"]
# mail_state moves on after the event (pending -> sent); download_url is presigned per request
for k in sorted(set(api) | set(data)):
    if k in ("mail_state", "download_url"):
        continue
    assert k in data and k in api and data[k] == api[k], (k, data.get(k), api.get(k))
assert data["mail_state"] == "pending", data["mail_state"]
a, d = urllib.parse.urlsplit(api["download_url"]), urllib.parse.urlsplit(data["download_url"])
assert (a.scheme, a.netloc, a.path) == (d.scheme, d.netloc, d.path), (a, d)
assert "X-Amz-Signature=" in d.query
# created is the event's time: when the job finished
import datetime
fin = datetime.datetime.strptime(api["finished_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
assert abs(ev["created"] - fin.timestamp()) <= 1, (ev["created"], api["finished_at"])
PY
code=$(curl -sS -o "$t/dl.csv" -w '%{http_code}' "$(jq -r .body <<<"$lines" | jq -r .data.download_url)")
assert_eq 200 "$code" "the event's download_url downloads"
assert_contains "$(cat "$t/dl.csv")" "row 3" "the export"
wait_for "[ -n \"\$(mail_for $addr)\" ]" 60 || fail "the mail was sent too"
ok "succeeded: one event, signature verifies with the secret, data = GET /v1/exports/$id_ok (+ a working download_url)"

# failed, cancelled, expired (a revoked succeeded job)
id_fail=$(psql_q "SELECT exportq.enqueue('wh_fail', '{}', NULL, 'whu1')")
id_can=$(psql_q "SELECT exportq.enqueue('wh', '{}', NULL, 'whu1')")
"$EXPORTQ_BIN" cancel "$id_can" >/dev/null || fail "cancel"
psql_q "UPDATE exportq.jobs SET expires_at = now() - interval '1 second' WHERE id = $id_ok" # past retention
EXPORTQ_MAX_ATTEMPTS=1 "$EXPORTQ_BIN" worker --drain 2>"$t/w2.log" || fail "worker: $(tail -5 "$t/w2.log")"
assert_eq expired "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id_ok")" "expired by retention"
for pair in "$id_fail:export.failed" "$id_can:export.cancelled" "$id_ok:export.expired"; do
  j=${pair%%:*} typ=${pair#*:}
  line=$(recv_for_job r1 "$j" "$typ")
  assert_eq 1 "$(grep -c . <<<"$line")" "one $typ event for job $j"
  check_event "$line" "$typ" "$j" || fail "the $typ event"
done
jq -r .body <<<"$(recv_for_job r1 "$id_fail")" | jq -e '.data.last_error | test("division by zero")' >/dev/null \
  || fail "the failed event carries the job's error"
ok "failed, cancelled and expired jobs give signed export.failed/cancelled/expired events"
serve_stop

# --- 2. 500 first: retried with the same event id, then delivered --------------------
recv_start r2 --plan 500
export EXPORTQ_WEBHOOK_URL="$RECV_URL/h"
id_r=$(psql_q "SELECT exportq.enqueue('wh', '{}', NULL, 'whu2')")
rel_bg wr "$t/w3.log" "$EXPORTQ_BIN" worker
wait_for "[ \"\$(event_of $id_r state)\" = delivered ]" 90 || fail "not delivered after a 500: $(tail -5 "$t/w3.log")"
kill -TERM "$wr"; wait "$wr" || true
$PY - "$t/r2.log" "$(event_of "$id_r" id)" <<'PY' || fail "the retry"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
ids = [json.loads(r["body"])["id"] for r in reqs]
assert [r["status"] for r in reqs] == [500, 200], [r["status"] for r in reqs]
assert ids[0] == ids[1] == sys.argv[2], ids
t = [int(r["headers"]["exportq-signature"].split(",")[0][2:]) for r in reqs]
assert t[1] > t[0], t  # t is the time of each attempt (the retry comes >= 5 s later)
PY
check_event "$(sed -n 2p "$t/r2.log")" export.succeeded "$id_r" || fail "the retried event"
"$EXPORTQ_BIN" webhooks list --json >"$t/list.json" || fail "webhooks list"
jq -e --arg id "$(event_of "$id_r" id)" '.[] | select(.id == $id) | .state == "delivered" and .attempts == 2 and .last_status == 200' \
  "$t/list.json" >/dev/null || fail "webhooks list shows 2 attempts: $(cat "$t/list.json")"
ok "a 500 is retried with the same event id (new t), then delivered; webhooks list shows 2 attempts"

# --- 3. a receiver that holds its answer, a dead one: exports and mail go on ----------
recv_start r3 --hold-file "$t/release" --plan 500
export EXPORTQ_WEBHOOK_URL="$RECV_URL/h" EXPORTQ_WEBHOOK_TIMEOUT=60
id_h1=$(psql_q "SELECT exportq.enqueue('wh', '{}', NULL, 'whu3')")
rel_bg wh "$t/w4.log" "$EXPORTQ_BIN" worker
wait_for "[ \"\$(recv_count r3)\" -ge 1 ]" 60 || fail "the held receiver got nothing"
addr_h2="wh-held-$$@example.test"
id_h2=$(psql_q "SELECT exportq.enqueue('wh', '{}', '$addr_h2', 'whu3')")
held() { psql_q "SELECT count(*), min(state), min(attempts) FROM exportq.webhooks
  WHERE job_id = $id_h1 AND lease_expires_at > now()" | tr '|' ' '; }
# the mail comes, or the held attempt ends (EXPORTQ_WEBHOOK_TIMEOUT): whichever is first
wait_for "[ -n \"\$(mail_for $addr_h2)\" ] || [ \"\$(held)\" != '1 pending 1' ]" 120 || fail "neither"
assert_eq "1 pending 1" "$(held)" "the first event's attempt is still held"
[ -n "$(mail_for "$addr_h2")" ] || fail "a job's mail waited for a held webhook"
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id_h2")" "the second job ran"
assert_eq 1 "$(recv_count r3)" "the receiver still holds its only request"
# a second SIGTERM stops the worker at once, not when the held attempt times out
kill -TERM "$wh"; sleep 0.5; kill -TERM "$wh"
wait_for "! kill -0 $wh" 20 || fail "a worker held in a webhook did not stop on the second SIGTERM"
wait "$wh" || true
assert_eq "pending 1" "$(event_of "$id_h1" "state || ' ' || attempts")" "the cut attempt is retried later"
touch "$t/release"
ok "while a receiver held its answer, another job ran and its mail was sent; a second SIGTERM cut the attempt"

dead_port=$(free_port)
export EXPORTQ_WEBHOOK_URL="http://127.0.0.1:$dead_port/h"
addr_d="wh-dead-$$@example.test"
id_d=$(psql_q "SELECT exportq.enqueue('wh', '{}', '$addr_d', 'whu4')")
"$EXPORTQ_BIN" worker --drain 2>"$t/w5.log" || fail "worker: $(tail -5 "$t/w5.log")"
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id_d")" "the job ran"
[ -n "$(mail_for "$addr_d")" ] || fail "the mail was sent"
assert_eq "pending 1 t" "$(psql_q "SELECT state, attempts, next_at <= now() + interval '30 seconds'
  FROM exportq.webhooks WHERE job_id = $id_d" | tr '|' ' ')" "a dead receiver: pending, retried within 30 s"
rel_bg wd "$t/w6.log" "$EXPORTQ_BIN" worker
wait_for "[ \"\$(event_of $id_d attempts)\" -ge 2 ]" 60 || fail "the dead receiver's event was not retried"
kill -TERM "$wd"; wait "$wd" || true
assert_contains "$(event_of "$id_d" last_error)" "webhook:" "the error is recorded"
ok "a dead receiver: the job and its mail done at once, the event retried ($(event_of "$id_d" attempts) attempts)"

# --- 4. a kind's webhook_url: allowed hosts, refused addresses ----------------------
recv_start r4                      # the kind's own receiver, reached as localhost (allowed)
kind_ok_url="http://localhost:$(cat "$t/r4.port")/kind"
recv_start r5                      # would see a refused loopback URL if anything connected
loop_url="$RECV_URL/never"
recv_start r6
export EXPORTQ_WEBHOOK_URL="$RECV_URL/op"
export EXPORTQ_WEBHOOK_ALLOWED_HOSTS="localhost, *.0.0.1, 169.254.169.254, 2852039166"
psql -XAtq -v ON_ERROR_STOP=1 >/dev/null <<SQL || fail "kinds"
SELECT exportq.define_kind('wh_kind', 'app.wh', NULL, '{"webhook_url": "$kind_ok_url"}');
SELECT exportq.define_kind('wh_meta', 'app.wh', NULL, '{"webhook_url": "http://2852039166/latest/meta-data/iam/"}');
SELECT exportq.define_kind('wh_loop', 'app.wh', NULL, '{"webhook_url": "$loop_url"}');
SELECT exportq.define_kind('wh_other', 'app.wh', NULL, '{"webhook_url": "https://hooks.evil.example/x"}');
SELECT exportq.define_kind('wh_private', 'app.wh', NULL, '{"webhook_url": "http://10.0.0.1:8080/x"}');
SQL
# the metadata address written as an IP literal is refused when the kind is defined
for u in "http://169.254.169.254/latest/meta-data/" "http://[fd00:ec2::254]/latest/" "http://[::ffff:a9fe:a9fe]/" \
         "https://x@169.254.170.2:443/v2/credentials" "http://[fe80::1]/"; do
  err=$(psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT exportq.define_kind('wh_bad', 'app.wh', NULL, '{\"webhook_url\": \"$u\"}')" 2>&1) \
    && fail "define_kind accepted webhook_url $u"
  assert_contains "$err" "link-local or metadata address" "define_kind refuses $u"
done
declare -A kid
for k in wh_kind wh_meta wh_loop wh_other wh_private; do
  kid[$k]=$(psql_q "SELECT exportq.enqueue('$k', '{}', NULL, 'whu5')")
done
"$EXPORTQ_BIN" worker --drain 2>"$t/w7.log" || fail "worker: $(tail -5 "$t/w7.log")"
line=$(recv_for_job r4 "${kid[wh_kind]}")
check_event "$line" export.succeeded "${kid[wh_kind]}" || fail "the kind's event"
assert_eq /kind "$(jq -r .path <<<"$line")" "the kind's own URL"
assert_eq "" "$(recv_for_job r6 "${kid[wh_kind]}")" "a kind's URL replaces the operator's for its events"
assert_eq 0 "$(recv_count r5)" "nothing connected to the refused loopback URL"
"$EXPORTQ_BIN" webhooks list --failed --json >"$t/failed.json" || fail "webhooks list --failed"
"$EXPORTQ_BIN" webhooks list --failed >"$t/failed.txt" || fail "webhooks list --failed (table)"
for k in wh_meta wh_loop wh_other wh_private; do
  jq -e --argjson j "${kid[$k]}" '.[] | select(.job_id == $j) | .state == "failed" and .attempts == 1
    and .last_status == null and (.last_error | test("refused"))' "$t/failed.json" >/dev/null \
    || fail "$k: refused before any connection, listed as failed: $(cat "$t/failed.json")"
  grep -q "$(event_of "${kid[$k]}" id) .* failed " "$t/failed.txt" || fail "$k not in the table: $(cat "$t/failed.txt")"
  assert_eq "" "$(recv_for_job r6 "${kid[$k]}")" "$k's event never went to the operator's URL"
done
assert_contains "$(event_of "${kid[wh_meta]}" last_error)" "169.254.169.254" "the metadata address is named"
assert_contains "$(event_of "${kid[wh_other]}" last_error)" "EXPORTQ_WEBHOOK_ALLOWED_HOSTS" "a host not allowed is named"
if jq -e --argjson j "${kid[wh_kind]}" '.[] | select(.job_id == $j)' "$t/failed.json" >/dev/null; then
  fail "the allowed kind URL is listed as failed"
fi
ok "kind URLs: allowed one delivered; metadata (refused at define_kind as a literal, at delivery as 2852039166), wildcard loopback, other host, private range refused before any connection; webhooks list --failed shows them"

# no secret: the kind's event is refused, saying why; no global URL: skipped
unset EXPORTQ_WEBHOOK_URL EXPORTQ_WEBHOOK_SECRET
before=$(recv_count r4)
id_ns=$(psql_q "SELECT exportq.enqueue('wh_kind', '{}', NULL, 'whu6')")
id_skip=$(psql_q "SELECT exportq.enqueue('wh', '{}', NULL, 'whu6')")
"$EXPORTQ_BIN" worker --drain 2>"$t/w8.log" || fail "worker: $(tail -5 "$t/w8.log")"
assert_eq failed "$(event_of "$id_ns" state)" "no secret: refused"
assert_contains "$(event_of "$id_ns" last_error)" "EXPORTQ_WEBHOOK_SECRET" "the refusal names the setting"
assert_contains "$(cat "$t/w8.log")" "EXPORTQ_WEBHOOK_SECRET is not set, but kind(s)" "the worker says so at start-up"
assert_eq "$before" "$(recv_count r4)" "nothing unsigned was sent"
assert_eq skipped "$(event_of "$id_skip" state)" "no URL at all: skipped"
ok "a kind's webhook_url without EXPORTQ_WEBHOOK_SECRET: refused, naming it; no URL: skipped"

# --- 5. two workers, a slow receiver: each event sent exactly once --------------------
recv_start r7 --delay 0.3
export EXPORTQ_WEBHOOK_URL="$RECV_URL/h" EXPORTQ_WEBHOOK_SECRET=$SECRET
unset EXPORTQ_WEBHOOK_ALLOWED_HOSTS
first=$(psql_q "SELECT coalesce(max(id), 0) FROM exportq.jobs")
for i in $(seq 1 12); do psql_q "SELECT exportq.enqueue('wh', '{}', NULL, 'whm$i')" >/dev/null; done
rel_bg wa "$t/w9.log" "$EXPORTQ_BIN" worker --concurrency 2
rel_bg wb "$t/w10.log" "$EXPORTQ_BIN" worker --concurrency 2
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM exportq.webhooks WHERE job_id > $first AND state = 'delivered'\")\" = 12 ]" 120 \
  || fail "12 events delivered: $(psql_q "SELECT state, count(*) FROM exportq.webhooks WHERE job_id > $first GROUP BY 1")"
kill -TERM "$wa" "$wb"; wait "$wa" || true; wait "$wb" || true
$PY - "$t/r7.log" "$first" <<'PY' || fail "every event exactly once"
import collections, json, sys
evs = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])]
ids = collections.Counter(e["id"] for e in evs if e["data"]["id"] > int(sys.argv[2]))
assert len(ids) == 12 and set(ids.values()) == {1}, ids
PY
grep -q "webhook export.succeeded delivered" "$t/w9.log" && grep -q "webhook export.succeeded delivered" "$t/w10.log" \
  || echo "# (one worker delivered them all this time)"
ok "two workers, 12 events, each sent once"

# --- 6. an outcome counts only for the attempt that holds the event ------------------
id_f=$(psql_q "SELECT exportq.enqueue('wh', '{}', NULL, 'whf')")
"$EXPORTQ_BIN" cancel "$id_f" >/dev/null || fail "cancel"
evt=$(event_of "$id_f" id)
# (no worker runs now; other events out of the way, so the claims below take this one)
psql_q "UPDATE exportq.webhooks SET state = 'failed' WHERE id <> '$evt' AND state = 'pending'" >/dev/null
claim() { psql_q "SELECT id || ' ' || attempts FROM exportq.webhook_claim(600, true) WHERE id = '$evt'"; }
assert_eq "$evt 1" "$(claim)" "attempt 1 claims the event"
assert_eq "" "$(claim)" "while leased, nobody else claims it"
psql_q "UPDATE exportq.webhooks SET lease_expires_at = now() - interval '1 second' WHERE id = '$evt'" >/dev/null
assert_eq "$evt 2" "$(claim)" "after the lease, attempt 2 claims it"
settle() { psql_q "SELECT exportq.webhook_settle('$evt', $1, $2, NULL, 'x', false)"; }
assert_eq lost "$(settle 1 false)" "attempt 1's late failure is not recorded"
assert_eq "pending 2" "$(event_of "$id_f" "state || ' ' || attempts")" "still attempt 2's"
assert_eq delivered "$(settle 2 true)" "attempt 2 delivered"
assert_eq lost "$(settle 1 false)" "a late outcome cannot undo a delivery"
assert_eq delivered "$(event_of "$id_f" state)" "delivered stays delivered"
ok "webhook_settle records an outcome only for the attempt holding the event; a lease keeps others off"
