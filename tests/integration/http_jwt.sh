#!/usr/bin/env bash
# http_jwt.sh - the application's JWTs against a real `exportq serve` and
# PostgreSQL (DESIGN.md "Fitting into an application", "Decisions: JWT"):
# tokens minted here (tests/integration/jwt_mint.py: hmac, openssl) for every
# algorithm family, from PEM keys and from a JWKS with kids; the owner claim
# isolates data (another owner's job is 404) and is the same owner as
# exportq's own tokens; exp/nbf with the 60 s leeway, aud, iss; alg none,
# HS256 signed with the PEM public key as secret, a wrong algorithm, a huge
# token, a missing claim, an integer claim, the email claim (422 for another
# address); SIGHUP reloads a rotated key (a bad file keeps the old ones); the
# per-owner rate limit of JWTs; and no token in serve's log.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
T=$(tmpdir)
http_db_setup "http_jwt_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS http_jwt_$$ WITH (FORCE)' >/dev/null 2>&1"
MINT="$EXPORTQ_SOURCE_DIR/tests/integration/jwt_mint.py"
SECRET="jwt-test-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
for k in rs rs2; do openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/$k.pem" 2>/dev/null; done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem"
openssl genpkey -algorithm ED25519 -out "$T/ed.pem"
for k in rs rs2 ec ed; do openssl pkey -in "$T/$k.pem" -pubout -out "$T/$k.pub" || fail "openssl pkey $k"; done
cat "$T/rs.pub" "$T/ec.pub" "$T/ed.pub" >"$T/keys.pem"
: >"$T/tokens" # every token minted, to look for in the log at the end

# mint OPTIONS... PAYLOAD: a token (remembered)
mint() {
  local t
  t=$(/usr/bin/python3 "$MINT" token "$@") || fail "jwt_mint.py token $*"
  echo "$t" >>"$T/tokens"
  echo "$t"
}
# expect STATUS DESC METHOD PATH TOKEN [curl args]: the status, and a 401 is the JSON error
expect() {
  local want=$1 desc=$2
  shift 2
  req "$@"
  assert_eq "$want" "$STATUS" "$desc: $(head -c 200 <<<"$BODY")"
  if [ "$want" = 401 ]; then
    assert_eq unauthorized "$(jq -r .error.code <<<"$BODY")" "$desc: error code"
    [ -n "$(hdr WWW-Authenticate)" ] || fail "$desc: 401 without WWW-Authenticate"
  fi
}

AUD=exportq-test ISS=https://id.example.test
serve_start EXPORTQ_RATE_LIMIT=100000 EXPORTQ_JWT_SECRET="$SECRET" EXPORTQ_JWT_PUBLIC_KEYS="$T/keys.pem" \
  EXPORTQ_JWT_AUDIENCE=$AUD EXPORTQ_JWT_ISSUER=$ISS EXPORTQ_JWT_EMAIL_CLAIM=email
claims() { echo "{\"sub\":\"$1\",\"aud\":\"$AUD\",\"iss\":\"$ISS\",\"exp\":\"NOW+600\"${2:+,$2}}"; }

# ---- every algorithm family -------------------------------------------------------------
for alg in HS256 HS384 HS512; do
  expect 200 "$alg" GET /v1/exports "$(mint --alg $alg --typ JWT --secret "$SECRET" "$(claims jwt-a)")"
done
expect 200 "RS256 (PEM)" GET /v1/exports "$(mint --alg RS256 --key "$T/rs.pem" "$(claims jwt-a)")"
expect 200 "RS512 (PEM)" GET /v1/exports "$(mint --alg RS512 --key "$T/rs.pem" "$(claims jwt-a)")"
expect 200 "ES256 (PEM)" GET /v1/exports "$(mint --alg ES256 --key "$T/ec.pem" "$(claims jwt-a)")"
expect 200 "EdDSA (PEM)" GET /v1/exports "$(mint --alg EdDSA --key "$T/ed.pem" "$(claims jwt-a)")"
ok "HS256/384/512, RS256/512, ES256 and EdDSA tokens accepted"

# ---- the owner claim scopes everything, as exportq's own tokens do ----------------------------
JA=$(mint --alg RS256 --key "$T/rs.pem" "$(claims jwt-a)")
JB=$(mint --alg ES256 --key "$T/ec.pem" "$(claims jwt-b)")
expect 202 "A queues an export" POST /v1/exports "$JA" -d '{"kind":"user_activity"}'
ja=$(jq -r .id <<<"$BODY")
assert_eq jwt-a "$(psql_q "SELECT owner FROM exportq.jobs WHERE id = $ja")" "the job's owner is the sub claim"
expect 200 "A sees its job" GET "/v1/exports/$ja" "$JA"
expect 404 "B cannot see A's job" GET "/v1/exports/$ja" "$JB"
assert_eq not_found "$(jq -r .error.code <<<"$BODY")" "B: not_found"
expect 404 "B cannot cancel A's job" DELETE "/v1/exports/$ja" "$JB"
expect 200 "B's list" GET /v1/exports "$JB"
assert_eq 0 "$(jq '[.exports[] | select(.id == '"$ja"')] | length' <<<"$BODY")" "A's job is not in B's list"
TA=$(token_for jwt-a)
expect 200 "exportq's own token of the same owner still works, and sees the job" GET "/v1/exports/$ja" "$TA"
TB=$(token_for jwt-b)
expect 404 "exportq's own token of B does not see it" GET "/v1/exports/$ja" "$TB"
expect 200 "a stream with a JWT" GET "/v1/stream/user_activity_raw" "$JA"
ok "owner from the claim: A's job is 404 to B's JWT and B's token; exportq tokens still work"

# ---- claims: integer owner, missing claim, time, audience, issuer -----------------------------
expect 202 "an integer sub" POST /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":4242,\"aud\":\"$AUD\",\"iss\":\"$ISS\",\"exp\":\"NOW+600\"}")" -d '{"kind":"user_activity"}'
assert_eq 4242 "$(psql_q "SELECT owner FROM exportq.jobs WHERE id = $(jq -r .id <<<"$BODY")")" "an integer claim is the owner's decimal text"
expect 401 "no owner claim" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"aud\":\"$AUD\",\"iss\":\"$ISS\",\"exp\":\"NOW+600\"}")"
long=$(head -c 257 /dev/zero | tr '\0' o)
expect 401 "a 257-byte owner (never cut)" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "$(claims "$long")")"
expect 401 "no exp" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":\"jwt-a\",\"aud\":\"$AUD\",\"iss\":\"$ISS\"}")"
expect 401 "expired 2 minutes ago" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":\"jwt-a\",\"aud\":\"$AUD\",\"iss\":\"$ISS\",\"exp\":\"NOW-120\"}")"
expect 200 "expired 20 s ago (inside the 60 s leeway)" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":\"jwt-a\",\"aud\":\"$AUD\",\"iss\":\"$ISS\",\"exp\":\"NOW-20\"}")"
expect 401 "nbf in 5 minutes" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "$(claims jwt-a '"nbf":"NOW+300"')")"
expect 200 "nbf in 20 s (inside the leeway)" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "$(claims jwt-a '"nbf":"NOW+20"')")"
expect 401 "another audience" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":\"jwt-a\",\"aud\":\"other\",\"iss\":\"$ISS\",\"exp\":\"NOW+600\"}")"
expect 401 "no audience" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":\"jwt-a\",\"iss\":\"$ISS\",\"exp\":\"NOW+600\"}")"
expect 200 "audience in a list" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":\"jwt-a\",\"aud\":[\"x\",\"$AUD\"],\"iss\":\"$ISS\",\"exp\":\"NOW+600\"}")"
expect 401 "another issuer" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":\"jwt-a\",\"aud\":\"$AUD\",\"iss\":\"https://evil.example\",\"exp\":\"NOW+600\"}")"
ok "integer owner; missing/over-long owner, exp, nbf, aud, iss refused; 60 s leeway both ways"

# ---- algorithms refused ------------------------------------------------------------------------
expect 401 "alg none" GET /v1/exports "$(mint --alg none "$(claims jwt-a)")"
expect 401 "HS256 signed with the PEM public key as secret" GET /v1/exports "$(mint --alg HS256 --secret-file "$T/rs.pub" "$(claims jwt-a)")"
expect 401 "RS256 header, signed by the EC key" GET /v1/exports "$(mint --alg RS256 --sign ES256 --key "$T/ec.pem" "$(claims jwt-a)")"
expect 401 "ES256 header, signed by the RSA key" GET /v1/exports "$(mint --alg ES256 --sign RS256 --key "$T/rs.pem" "$(claims jwt-a)")"
expect 401 "HS256 header, RS256 signature" GET /v1/exports "$(mint --alg HS256 --sign RS256 --key "$T/rs.pem" "$(claims jwt-a)")"
expect 401 "PS256" GET /v1/exports "$(mint --alg PS256 --sign RS256 --key "$T/rs.pem" "$(claims jwt-a)")"
expect 401 "RS256 by a key not configured" GET /v1/exports "$(mint --alg RS256 --key "$T/rs2.pem" "$(claims jwt-a)")"
good=$(mint --alg HS256 --secret "$SECRET" "$(claims jwt-a)")
forged=$(mint --alg HS256 --secret "$SECRET" "$(claims jwt-b)")
expect 401 "A's signature on B's payload" GET /v1/exports "${forged%.*}.${good##*.}"
expect 401 "a truncated signature" GET /v1/exports "${good%?????}"
huge=$(mint --alg HS256 --secret "$SECRET" "$(claims jwt-a "\"pad\":\"$(head -c 9000 /dev/zero | tr '\0' p)\"")")
expect 401 "a 12 kB token (over 8 KiB: refused before parsing)" GET /v1/exports "$huge"
{ printf "Authorization: Bearer "; head -c 200000 /dev/zero | tr '\0' A; echo; } >"$T/bighdr.txt"
expect 431 "a 200 kB Authorization header (the HTTP layer's header limit)" GET /v1/exports "" -H @"$T/bighdr.txt"
ok "alg none, HS with the public key as secret, wrong algorithms, unknown key, forged payload, huge token refused"

# ---- the email claim names the recipient -------------------------------------------------------
JE=$(mint --alg ES256 --key "$T/ec.pem" "$(claims jwt-e '"email":"owner-e@example.test"')")
expect 422 "another address than the token's" POST /v1/exports "$JE" -d '{"kind":"user_activity","email":"other@example.test"}'
assert_eq email_not_allowed "$(jq -r .error.code <<<"$BODY")" "422 code"
expect 202 "no address: the token's" POST /v1/exports "$JE" -d '{"kind":"user_activity"}'
assert_eq owner-e@example.test "$(psql_q "SELECT email FROM exportq.jobs WHERE id = $(jq -r .id <<<"$BODY")")" "the recipient is the claim's address"
expect 202 "the token's own address" POST /v1/exports "$JE" -d '{"kind":"user_activity","email":"OWNER-E@example.test","params":{"n":"2"}}'
expect 422 "an address, and the token has none" POST /v1/exports "$JA" -d '{"kind":"user_activity","email":"x@example.test"}'
ok "EXPORTQ_JWT_EMAIL_CLAIM: the claim is the recipient; another address is 422"
serve_stop

# ---- a JWKS with kids, a custom owner claim; SIGHUP reloads rotated keys -------------------------
/usr/bin/python3 "$MINT" jwks "$T/rs.pub:r1:RS256" "$T/ed.pub:d1" >"$T/jwks.json" || fail "jwks"
serve_start EXPORTQ_RATE_LIMIT=100000 EXPORTQ_JWT_PUBLIC_KEYS="$T/jwks.json" EXPORTQ_JWT_OWNER_CLAIM=https://app.example/uid
uid() { echo "{\"https://app.example/uid\":\"$1\",\"sub\":\"ignored\",\"exp\":\"NOW+600\"}"; }
R1=$(mint --alg RS256 --kid r1 --key "$T/rs.pem" "$(uid jwk-a)")
R2=$(mint --alg RS256 --kid r2 --key "$T/rs2.pem" "$(uid jwk-a)")
expect 202 "RS256 kid r1 from the JWKS" POST /v1/exports "$R1" -d '{"kind":"user_activity"}'
assert_eq jwk-a "$(psql_q "SELECT owner FROM exportq.jobs WHERE id = $(jq -r .id <<<"$BODY")")" "owner from the custom claim"
expect 200 "EdDSA kid d1 from the JWKS" GET /v1/exports "$(mint --alg EdDSA --kid d1 --key "$T/ed.pem" "$(uid jwk-a)")"
expect 401 "an HS token with no secret configured" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "$(uid jwk-a)")"
expect 401 "the custom claim missing (sub is not it)" GET /v1/exports "$(mint --alg RS256 --kid r1 --key "$T/rs.pem" '{"sub":"jwk-a","exp":"NOW+600"}')"
expect 401 "kid r2 before the rotation" GET /v1/exports "$R2"
/usr/bin/python3 "$MINT" jwks "$T/rs2.pub:r2" "$T/ed.pub:d1" >"$T/jwks.new" && mv "$T/jwks.new" "$T/jwks.json"
kill -HUP "$SERVE_PID"
wait_for "grep -q 'JWT keys reloaded (2 public keys)' '$SERVE_LOG'" 20 || fail "no reload after SIGHUP: $(tail -5 "$SERVE_LOG")"
expect 200 "kid r2 after SIGHUP" GET /v1/exports "$R2"
expect 401 "kid r1, rotated out" GET /v1/exports "$R1"
echo '{"keys": [' >"$T/jwks.json" # a broken file: the keys in use stay
kill -HUP "$SERVE_PID"
wait_for "grep -q 'JWT keys not reloaded' '$SERVE_LOG'" 20 || fail "a bad file after SIGHUP was not reported"
expect 200 "kid r2 still, after a bad file" GET /v1/exports "$R2"
kill -0 "$SERVE_PID" || fail "serve died on SIGHUP"
ok "JWKS with kids (RS256, EdDSA), custom owner claim; SIGHUP swaps rotated keys, a bad file keeps them"
serve_stop

# ---- the rate limit counts a JWT's owner, however many tokens it has ----------------------------
serve_start EXPORTQ_RATE_LIMIT=3 EXPORTQ_JWT_SECRET="$SECRET"
got=""
for i in 1 2 3 4 5; do
  req GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" "{\"sub\":\"jwt-rl\",\"exp\":\"NOW+600\",\"jti\":\"$i\"}")"
  got="$got $STATUS"
done
[[ $got == *429* ]] || fail "five fresh tokens of one owner past EXPORTQ_RATE_LIMIT=3: no 429 ($got)"
[ -n "$(hdr Retry-After)" ] || fail "429 without Retry-After"
expect 200 "another owner is not limited" GET /v1/exports "$(mint --alg HS256 --secret "$SECRET" '{"sub":"jwt-other","exp":"NOW+600"}')"
ok "rate limit per owner for JWTs:$got"
serve_stop

# ---- nothing secret in the log -------------------------------------------------------------------
cat "$T"/serve.*.log >"$T/all.log"
grep -q 'JWT refused: expired' "$T/all.log" || fail "refusals are not logged with their reason (debug)"
while read -r t; do
  [ -n "$t" ] || continue
  for part in "$t" "${t##*.}" "${t%.*}"; do
    [ -n "$part" ] || continue
    grep -qF -- "${part:0:200}" "$T/all.log" && fail "a token (or its signature) is in serve's log"
  done
done < <(sort -u "$T/tokens" | grep -v '^.\{0,40\}$')
grep -qF -- "$SECRET" "$T/all.log" && fail "the JWT secret is in serve's log"
ok "$(sort -u "$T/tokens" | wc -l) tokens minted; none, nor a signature, nor the secret in serve's log"
