#!/usr/bin/env bash
# http_links.sh - stable signed links (EXPORTQ_PUBLIC_URL + EXPORTQ_LINK_SECRET)
# against the real servers: the 202 and GET carry status_url; the worker mails
# PUBLIC_URL/v1/exports/{id}/download?t=TOKEN, which plain `curl -L` follows
# (302 to a presigned URL of EXPORTQ_PRESIGN_TTL) to bytes equal to psql's
# COPY; tampered, truncated, wrong-scope, other-job, other-secret links are
# one 404 that tells nothing; expired links and cancelled or expired jobs are
# 410, queued 409; no token or secret in the serve or worker log; without the
# settings, links stay presigned URLs.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"

T=$(tmpdir)
http_db_setup "eqhttp_links_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS eqhttp_links_$$ WITH (FORCE)' >/dev/null 2>&1"
export EXPORTQ_S3_PREFIX="it-links-$$-$(date +%s)/"
SECRET="links-test-secret-$$-0123456789abcdefghijklmnop"
PORT=$(free_port)
PUBLIC="http://127.0.0.1:$PORT"
export EXPORTQ_PUBLIC_URL="$PUBLIC/" EXPORTQ_LINK_SECRET="$SECRET"   # a trailing / is dropped
mint() { /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/harness/link_token.py" "$SECRET" "$@"; }
psql_q "SELECT app.seed_activity('links-u1', 3000)" >/dev/null
T1=$(token_for links-u1)
serve_start EXPORTQ_HTTP_LISTEN=127.0.0.1:$PORT
ok "serve with stable links at $URL"

# ---- the 202 and GET carry status_url; no download_url before success --------------
addr="links-$$@example.test"
req POST /v1/exports "$T1" -d "{\"kind\": \"user_activity_raw\", \"email\": \"$addr\"}"
assert_eq 202 "$STATUS" "create"
id=$(jq -r .id <<<"$BODY")
status_url=$(jq -r .status_url <<<"$BODY")
[[ $status_url == "$PUBLIC/exports/$id?t="* ]] || fail "status_url in the 202: '$status_url'"
assert_eq null "$(jq -r .download_url <<<"$BODY")" "no download_url while queued"
req GET "/v1/exports/$id" "$T1"
[[ $(jq -r .status_url <<<"$BODY") == "$PUBLIC/exports/$id?t="* ]] || fail "status_url in GET: $BODY"
status_tok=${status_url#*\?t=}
ok "202 and GET carry status_url under EXPORTQ_PUBLIC_URL"

# a download link of the queued job (the format of common/link.h): 409, and the
# redirect does not need the bearer token
q_tok=$(mint download "$id" $(($(date +%s) + 3600)))
req GET "/v1/exports/$id/download?t=$q_tok" ""
assert_eq 409 "$STATUS" "link of a queued job"
assert_eq not_ready "$(jq -r .error.code <<<"$BODY")" "409 code"

# ---- the worker mails the stable link; curl -L downloads psql's COPY -------------------
"$EXPORTQ_BIN" worker --drain 2>"$T/worker.log" || { cat "$T/worker.log" >&2; fail "worker"; }
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.status($id)")" "job succeeded"
wait_for "[ -n \"\$(mail_for $addr)\" ]" 30 || fail "no mail for job $id"
link=$(mail_link "$(mail_for "$addr")")
[[ $link == "$PUBLIC/v1/exports/$id/download?t="* ]] || fail "the mailed link is not the stable one: '$link'"
tok=${link#*\?t=}
psql -XAq -c "COPY (SELECT * FROM app.export_user_activity('{\"owner\":\"links-u1\"}'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)" >"$T/want.csv"
curl -sSfL --max-time 60 -o "$T/got.csv" "$link" || fail "curl -L of the mailed link"
assert_eq "$(sha256_of "$T/want.csv")" "$(sha256_of "$T/got.csv")" "the mailed link downloads psql's COPY"
[ "$(stat -c %s "$T/got.csv")" -gt 100000 ] || fail "download too small: $(stat -c %s "$T/got.csv")"
ok "the mailed stable link downloads bytes equal to psql's COPY with curl -L ($(stat -c %s "$T/got.csv") bytes)"

# the redirect itself: 302 to a presigned URL valid EXPORTQ_PRESIGN_TTL (300 s)
req GET "/v1/exports/$id/download?t=$tok" ""
assert_eq 302 "$STATUS" "stable link answers 302"
loc=$(hdr Location)
assert_contains "$loc" "X-Amz-Signature=" "302 to a presigned URL"
assert_contains "$loc" "X-Amz-Expires=300&" "the presigned URL lives EXPORTQ_PRESIGN_TTL"
link_exp=$(psql_q "SELECT floor(extract(epoch FROM link_expires_at))::bigint FROM exportq.jobs WHERE id = $id")
req GET "/v1/exports/$id" "$T1"
assert_eq "$PUBLIC/v1/exports/$id/download?t=$tok" "$(jq -r .download_url <<<"$BODY")" "GET: download_url is the same stable link"
[[ $(jq -r .status_url <<<"$BODY") == "$PUBLIC/exports/$id?t="* ]] || fail "GET: status_url once succeeded"
ok "302 to a presigned URL of 300 s; GET shows the same stable download_url and a status_url"

# ---- bad links: one 404 that says nothing about the job --------------------------------
req GET "/v1/exports/999999999/download?t=x" ""
nothing=$BODY
assert_eq 404 "$STATUS" "garbage token"
bad_link() { # DESC PATH
  req GET "$2" ""
  assert_eq 404 "$STATUS" "$1"
  assert_eq "$nothing" "$BODY" "$1: the same body as any bad link"
  case "$BODY" in *links-u1* | *succeeded* | *"$id"*) fail "$1: the body tells about the job: $BODY" ;; esac
}
flip=$( [ "${tok:10:1}" = A ] && echo B || echo A )
bad_link "tampered token" "/v1/exports/$id/download?t=${tok:0:10}$flip${tok:11}"
bad_link "truncated token" "/v1/exports/$id/download?t=${tok:0:${#tok}-1}"
bad_link "token with a character more" "/v1/exports/$id/download?t=${tok}A"
bad_link "empty token" "/v1/exports/$id/download?t="
bad_link "status token on the download" "/v1/exports/$id/download?t=$status_tok"
bad_link "another job's path" "/v1/exports/$((id + 1))/download?t=$tok"
bad_link "unknown job" "/v1/exports/987654/download?t=$(mint download 987654 $(($(date +%s) + 3600)))"
bad_link "another secret" "/v1/exports/$id/download?t=$(/usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/harness/link_token.py" "other-secret-$SECRET" download "$id" "$link_exp")"
bad_link "padded token" "/v1/exports/$id/download?t=$tok%3D"
ok "tampered, truncated, extended, empty, wrong-scope, other-job, unknown-job, other-secret links: 404, nothing told"

# ---- expiry and revocation: 410 ------------------------------------------------------
req GET "/v1/exports/$id/download?t=$(mint download "$id" $(($(date +%s) - 5)))" ""
assert_eq 410 "$STATUS" "a link past its expiry"
assert_eq link_expired "$(jq -r .error.code <<<"$BODY")" "410 code"
psql_q "UPDATE exportq.jobs SET link_expires_at = now() - interval '1 second' WHERE id = $id"
req GET "/v1/exports/$id/download?t=$tok" ""
assert_eq 410 "$STATUS" "the mailed link once the job's link_expires_at passed"
psql_q "UPDATE exportq.jobs SET link_expires_at = to_timestamp($link_exp), state = 'expired' WHERE id = $id"
req GET "/v1/exports/$id/download?t=$tok" ""
assert_eq 410 "$STATUS" "the mailed link of an expired (revoked) job"
# replayed after cancel
req POST /v1/exports "$T1" -d '{"kind": "user_activity_raw"}'
id2=$(jq -r .id <<<"$BODY")
tok2=$(mint download "$id2" $(($(date +%s) + 3600)))
req GET "/v1/exports/$id2/download?t=$tok2" ""
assert_eq 409 "$STATUS" "queued job's link before the cancel"
req DELETE "/v1/exports/$id2" "$T1"
assert_eq 200 "$STATUS" "cancel"
req GET "/v1/exports/$id2/download?t=$tok2" ""
assert_eq 410 "$STATUS" "the link replayed after the cancel"
ok "410: expired link, past link_expires_at, expired job, replayed after cancel"

# ---- no token or secret in any log line ------------------------------------------------
serve_stop
for f in "$SERVE_LOG" "$T/worker.log"; do
  for s in "$tok" "$status_tok" "$q_tok" "$tok2" "$SECRET" "X-Amz-Signature"; do
    if grep -qF -- "$s" "$f"; then fail "$(basename "$f") contains a link token or secret: $(grep -F -- "$s" "$f" | head -2)"; fi
  done
done
grep -q "GET /v1/exports/$id/download -> 302" "$SERVE_LOG" || fail "the access log lacks the redirect line"
ok "no link token, secret or presigned signature in the serve or worker log"

# ---- without the settings: presigned links as before ----------------------------------
unset EXPORTQ_PUBLIC_URL EXPORTQ_LINK_SECRET
psql_q "UPDATE exportq.jobs SET state = 'succeeded' WHERE id = $id"
serve_start
req GET "/v1/exports/$id" "$T1"
assert_contains "$(jq -r .download_url <<<"$BODY")" "X-Amz-Signature=" "without links: download_url is presigned"
assert_eq null "$(jq -r .status_url <<<"$BODY")" "without links: no status_url"
req GET "/v1/exports/$id/download?t=$tok" ""
assert_eq 404 "$STATUS" "without links: a link token is not a credential"
ok "without EXPORTQ_PUBLIC_URL/EXPORTQ_LINK_SECRET: presigned download_url, no status_url, ?t= refused"
