#!/usr/bin/env bash
# pages_admin.sh - the operator's dashboard GET /admin in Debian's headless
# Chromium (tests/integration/pages_browser.py) against the real serve,
# worker, PostgreSQL and S3: the login form (wrong token refused; session
# cookie HttpOnly + SameSite=Strict), running (worker, progress), queued,
# failed (error) and succeeded jobs of every owner, two SVG charts, no script
# and no CSP violation; Retry, Cancel (queued and running) and Revoke from the
# page change the jobs; a POST without the CSRF token does nothing; log out.
# And the same actions in the JSON API /v1/admin/... (Bearer only).
# Screenshots: $EXPORTQ_TEST_OUTPUT (default ./test-output)/pages_admin/.
# Exit 77 when chromium or python3-websocket is missing.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"

command -v chromium >/dev/null || { echo "# SKIP: chromium is not installed"; exit 77; }
/usr/bin/python3 -c 'import websocket' 2>/dev/null || { echo "# SKIP: python3-websocket is not installed"; exit 77; }

OUT="${EXPORTQ_TEST_OUTPUT:-$PWD/test-output}/pages_admin"
mkdir -p "$OUT"
T=$(tmpdir)
AT=admin-$(openssl rand -hex 16)
http_db_setup eqpages_admin
define_slow_kind
T1=$(token_for u1)
T2=$(token_for u2)
JWT_SECRET="pages-admin-jwt-secret-0123456789abcdef"
serve_start EXPORTQ_ADMIN_TOKEN="$AT" EXPORTQ_JWT_SECRET="$JWT_SECRET" EXPORTQ_JWT_ADMIN_CLAIM=is_admin
jwt() { /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/integration/jwt_mint.py" token --alg HS256 --secret "$JWT_SECRET" "$1" \
  || fail "jwt_mint.py $1"; }

enq() { # OWNER_TOKEN JSON -> id
  req POST /v1/exports "$1" -d "$2"
  [ "$STATUS" = 202 ] || fail "enqueue $2: $STATUS $BODY"
  jq -r .id <<<"$BODY"
}

# one succeeded, one failed (attempts used up at once)
ok_id=$(enq "$T1" '{"kind": "user_activity", "params": {"user_id": "u1"}}')
bad_id=$(enq "$T2" '{"kind": "fail_midway"}')
EXPORTQ_MAX_ATTEMPTS=1 "$EXPORTQ_BIN" worker --drain 2>"$T/w1.log" || fail "worker: $(tail -3 "$T/w1.log")"
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $ok_id")" "job $ok_id succeeded"
assert_eq failed "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $bad_id")" "job $bad_id failed"
key=$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $ok_id")

# one running (a slow export on a one-job worker), one queued behind it
run_id=$(enq "$T1" '{"kind": "slow", "params": {"rows": 2000000, "pause": 1}}')
rel_bg WPID "$T/w2.log" env EXPORTQ_MAX_ATTEMPTS=1 "$EXPORTQ_BIN" worker --concurrency 1
wait_for "[ \"\$(psql_q \"SELECT state FROM exportq.jobs WHERE id = $run_id\")\" = running ]" 30 \
  || fail "job $run_id never ran: $(tail -3 "$T/w2.log")"
q_id=$(enq "$T2" '{"kind": "user_activity", "params": {"user_id": "u2"}}')
worker=$(psql_q "SELECT worker FROM exportq.jobs WHERE id = $run_id")
ok "jobs $ok_id succeeded, $bad_id failed, $run_id running on $worker, $q_id queued"

# ---- the JSON API: Bearer only ---------------------------------------------------------
req GET /v1/admin/exports ""
assert_eq 401 "$STATUS" "admin API without a token"
req GET /v1/admin/exports "$T1"
assert_eq 401 "$STATUS" "admin API with an owner's token"
req GET /v1/admin/exports "$AT-x"
assert_eq 401 "$STATUS" "admin API with a wrong admin token"
curl -sS -o /dev/null -w '%{http_code}' -b "eq_admin=1.2.3" "$URL/v1/admin/exports" | grep -q 401 \
  || fail "admin API with a cookie only is 401"
req GET "/v1/admin/exports?limit=100" "$AT"
assert_eq 200 "$STATUS" "admin API list"
assert_eq "u1 u2" "$(jq -r '[.exports[].owner] | unique | join(" ")' <<<"$BODY")" "every owner's jobs"
assert_eq "$worker" "$(jq -r ".exports[] | select(.id == $run_id) | .worker" <<<"$BODY")" "the running job's worker"
req GET "/v1/admin/exports?state=failed" "$AT"
assert_eq "$bad_id" "$(jq -r '[.exports[].id] | join(" ")' <<<"$BODY")" "state filter"
req GET "/v1/admin/exports?state=bogus" "$AT"
assert_eq 400 "$STATUS" "unknown state"
req GET /v1/admin/summary "$AT"
assert_eq 200 "$STATUS" "summary"
assert_eq 1 "$(jq -r .states.failed <<<"$BODY")" "summary: failed count"
assert_eq 60 "$(jq -r '.last_hour | length' <<<"$BODY")" "summary: 60 minutes"
assert_eq 1 "$(jq -r '[.last_hour[].succeeded] | add' <<<"$BODY")" "summary: one succeeded this hour"
req POST "/v1/admin/exports/$ok_id/retry" "$AT"
assert_eq 409 "$STATUS" "retry of a succeeded job"
req POST /v1/admin/exports/999999/retry "$AT"
assert_eq 404 "$STATUS" "retry of no job"
req GET "/v1/admin/exports/$run_id" "$AT"
assert_eq running "$(jq -r .state <<<"$BODY")" "one job"
# a JWT whose EXPORTQ_JWT_ADMIN_CLAIM is (JSON) true is an admin; any other is not
req GET "/v1/admin/exports?state=failed" "$(jwt '{"sub": "ops", "is_admin": true, "exp": "NOW+600"}')"
assert_eq 200 "$STATUS" "admin JWT"
assert_eq "$bad_id" "$(jq -r '[.exports[].id] | join(" ")' <<<"$BODY")" "admin JWT sees every owner"
req GET /v1/admin/exports "$(jwt '{"sub": "ops", "is_admin": false, "exp": "NOW+600"}')"
assert_eq 401 "$STATUS" "JWT with the admin claim false"
req GET /v1/admin/exports "$(jwt '{"sub": "ops", "is_admin": "true", "exp": "NOW+600"}')"
assert_eq 401 "$STATUS" "JWT with the admin claim a string"
req GET /v1/admin/exports "$(jwt '{"sub": "ops", "is_admin": true, "exp": "NOW-600"}')"
assert_eq 401 "$STATUS" "expired admin JWT"
req GET /admin "$(jwt '{"sub": "ops", "is_admin": true, "exp": "NOW+600"}')"
assert_eq 200 "$STATUS" "the dashboard with an admin JWT"
ok "/v1/admin: 401 without the admin Bearer (owner token, cookie), every owner, state filter, summary, 409/404; admin JWTs (claim true) only"

# ---- the page --------------------------------------------------------------------------
# the target of the forged POST: a queued job no worker takes meanwhile (run_at tomorrow),
# so its state changes only if the forged cancel is accepted (the worker is free once the
# page cancels the running job, and takes the retried one)
held_id=$(enq "$T2" '{"kind": "user_activity", "params": {"user_id": "u2"}}')
psql_q "UPDATE exportq.jobs SET run_at = now() + interval '1 day' WHERE id = $held_id" >/dev/null
ids=$(jq -nc --arg r "$run_id" --arg q "$q_id" --arg f "$bad_id" --arg s "$ok_id" --arg h "$held_id" --arg w "$worker" \
  '{running: $r, queued: $q, failed: $f, succeeded: $s, held: $h, worker: $w}')
rc=0
/usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/integration/pages_browser.py" admin "$URL" "$AT" "$OUT" "$ids" || rc=$?
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || fail "the browser checks failed (chromium log: $(tail -3 "$OUT/chromium.log" 2>/dev/null))"
[ -s "$OUT/admin.png" ] || fail "no screenshot"

# what the page did, seen from outside: the revoked object is gone, its link 410
code=$(s3_curl HEAD "/$EXPORTQ_S3_BUCKET/$key" -o /dev/null -w '%{http_code}' -I) || true
assert_eq 404 "$code" "the revoked job's object is deleted"
req GET "/v1/exports/$ok_id/download" "$T1"
assert_eq 410 "$STATUS" "the revoked job's download is 410"
wait_for "grep -q 'cancel' '$T/w2.log'" 30 || true
ok "revoked: object deleted, download 410; screenshots in $OUT"
! grep -q -- "$AT" "$SERVE_LOG" || fail "the admin token appears in the log"
ok "the admin token is never logged"
