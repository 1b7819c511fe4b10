#!/usr/bin/env bash
# Reliability: hostile input, one table (one `row` per case, with the status or
# exit code it must get), through HTTP (curl), the CLI and SQL:
# SQL in every parameter and kind name, CR/LF in emails and file names, path
# traversal in keys and file names, huge bodies and headers, deeply nested
# JSON, invalid UTF-8, wrong methods, missing/invalid/revoked tokens, another
# owner's ids. After every row the row counts of exportq.jobs/kinds/tokens must
# be unchanged. Then accepted hostile jobs (SQL and ../ in values, owners like
# ../x, a/b, %2e%2e) really run (worker --drain): every object key stays under
# its owner's sanitised prefix, and the app's tables are still there.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
T=$(tmpdir)
http_db_setup "rel_hostile_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS rel_hostile_$$ WITH (FORCE)' >/dev/null 2>&1"
export EXPORTQ_S3_PREFIX="rel-hostile-$$-$(date +%s)/"
T1=$(token_for hostile-u1)
T2=$(token_for hostile-u2)
TR=$(token_for hostile-revoked)
"$EXPORTQ_BIN" token revoke "$(psql_q "SELECT id FROM exportq.tokens WHERE owner = 'hostile-revoked'")" >/dev/null
# one job of u2's, to try to reach from u1
J2=$(psql_q "SELECT exportq.enqueue('user_activity', '{}', NULL, 'hostile-u2')")
# one job of u1's made with an Idempotency-Key, to reuse with another body
psql_q "SELECT job_id FROM exportq.enqueue_job('user_activity', '{}', NULL, 'hostile-u1', 0, NULL, 'hostile-idem')" >/dev/null
# recipients limited to one domain (the CLI rows below see it too)
export EXPORTQ_MAIL_ALLOWED_DOMAINS=allowed.example
# 257 bytes whose first 256 are another owner's (128 x e-acute): refused, never cut
long_owner="$(printf '\xc3\xa9%.0s' $(seq 1 128))A"
# stable links: a job of u1's cancelled at set-up, and links of the test's own
# making (tests/harness/link_token.py, the format of common/link.h)
LSECRET="rel-hostile-link-secret-$$-0123456789abcdef"
J3=$(psql_q "SELECT exportq.enqueue('user_activity', '{}', NULL, 'hostile-u1')")
psql_q "SELECT exportq.cancel($J3)" >/dev/null
lmint() { /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/harness/link_token.py" "$LSECRET" "$@"; }
LTOK=$(lmint download "$J2" $(($(date +%s) + 3600)))
ADMIN="rel-hostile-admin-$$-0123456789abcdef"
# the application's JWTs (tests/integration/jwt_mint.py mints them; http_jwt.sh has the accepted cases)
JWT_SECRET="rel-hostile-jwt-secret-0123456789abcdef"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rs.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem"
openssl pkey -in "$T/rs.pem" -pubout -out "$T/rs.pub" && openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub"
cat "$T/rs.pub" "$T/ec.pub" >"$T/jwt-keys.pem"
jwt() { /usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/integration/jwt_mint.py" token "$@" || fail "jwt_mint.py $*"; }
jc() { echo "{\"sub\":\"hostile-u1\",\"aud\":\"eq\",\"iss\":\"https://id.test\",\"exp\":\"NOW+600\"${1:+,$1}}"; }
serve_start EXPORTQ_RATE_LIMIT=100000 EXPORTQ_PUBLIC_URL=http://127.0.0.1:1 EXPORTQ_LINK_SECRET="$LSECRET" \
  EXPORTQ_JWT_SECRET="$JWT_SECRET" EXPORTQ_JWT_PUBLIC_KEYS="$T/jwt-keys.pem" \
  EXPORTQ_JWT_AUDIENCE=eq EXPORTQ_JWT_ISSUER=https://id.test EXPORTQ_JWT_EMAIL_CLAIM=email \
  EXPORTQ_ADMIN_TOKEN="$ADMIN" EXPORTQ_JWT_ADMIN_CLAIM=admin \
  EXPORTQ_CORS_ORIGINS=https://app.test
tables_before=$(psql_q "SELECT count(*) FROM pg_tables WHERE schemaname IN ('app', 'exportq')")

# Bodies and values that a bash string cannot hold literally are made here.
deep=$(printf '[%.0s' $(seq 1 5000))$(printf ']%.0s' $(seq 1 5000))
printf '{"kind":"user_activity","params":{"since":"\xff\xfe"}}' >"$T/badutf8.json"
printf '{"kind":"user_\xc3\x28activity"}' >"$T/badutf8kind.json"
/usr/bin/python3 -c 'import sys; sys.stdout.write("{\"kind\":\"user_activity\",\"params\":{\"a\":\"" + "x" * (4 << 20) + "\"}}")' >"$T/huge.json"
{ printf "X-Big: "; head -c 200000 /dev/zero | tr "\\0" a; echo; } >"$T/bighdr.txt"

n=0 counts=$(db_counts)
check_unchanged() {
  local now
  now=$(db_counts)
  [ "$now" = "$counts" ] || fail "case $n ($1) changed the database: jobs/kinds/tokens $counts -> $now"
}
# row http STATUS DESC METHOD PATH TOKEN [curl args...]
# row cli  EXIT   DESC exportq-args...
# row sql  SQLSTATE DESC SQL
row() {
  local via=$1 want=$2 desc=$3 got
  shift 3
  n=$((n + 1))
  case $via in
    http)
      local method=$1 path=$2 token=$3
      shift 3
      local auth=()
      [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
      HDRS="$T/last.hdrs"
      STATUS=$(curl -sS --max-time 30 -X "$method" "${auth[@]}" -D "$HDRS" -o "$T/last.body" --path-as-is \
        -w '%{http_code}' "$@" "$URL$path" 2>"$T/curl.err") || STATUS="curl-error($(head -c 100 "$T/curl.err"))"
      BODY=$(cat "$T/last.body" 2>/dev/null || true)
      got=$STATUS
      if [[ $got =~ ^4[0-9][0-9]$ ]]; then
        # every refusal is the JSON error of the contract (HEAD has no body)
        [ "$method" = HEAD ] || [ "$got" = 414 ] || [ "$got" = 431 ] || jq -e .error.code <<<"$BODY" >/dev/null \
          || fail "case $n ($desc): HTTP $got without a JSON error: $(head -c 300 <<<"$BODY")"
      fi ;;
    cli)
      got=0
      "$EXPORTQ_BIN" "$@" >"$T/cli.out" 2>"$T/cli.err" || got=$?
      if [ "$got" != 0 ]; then [ -s "$T/cli.err" ] || fail "case $n ($desc): exit $got without a message"; fi ;;
    sql)
      got=$( (psql -XAtq -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1 || true) | grep -o 'ERROR:  [0-9A-Z]\{5\}' | head -1 | cut -c9- || true)
      got=${got:-ok} ;;
  esac
  [ "$got" = "$want" ] || fail "case $n ($via: $desc): expected $want, got $got $( [ "$via" = http ] && head -c 300 <<<"$BODY"; [ "$via" = cli ] && head -c 300 "$T/cli.err")"
  check_unchanged "$desc"
}

# ---- the table ------------------------------------------------------------------------
# HTTP: SQL in kind names and parameter names; parameter values are data (see below)
row http 400 "SQL in the kind"           POST /v1/exports "$T1" -d "{\"kind\":\"x'; DROP TABLE exportq.jobs; --\"}"
row http 400 "SQL in the kind (2)"       POST /v1/exports "$T1" -d '{"kind":"user_activity; SELECT pg_sleep(10)"}'
row http 400 "SQL in a param name"       POST /v1/exports "$T1" -d "{\"kind\":\"user_activity\",\"params\":{\"since'; DROP TABLE app.activity; --\":\"1\"}}"
row http 400 "SQL in the email"          POST /v1/exports "$T1" -d "{\"kind\":\"user_activity\",\"email\":\"a'; DELETE FROM exportq.jobs; --@x.example\"}"
row http 400 "SQL in a stream kind"      GET "/v1/stream/x%27%3B%20DROP%20TABLE%20exportq.jobs%3B--" "$T1"
row http 400 "SQL in a stream param name" GET "/v1/stream/user_activity?since%27%3BDROP%20TABLE%20app.activity%3B--=1" "$T1"
row http 400 "SQL in a stream param value (refused by the function)" GET "/v1/stream/user_activity?since=%27%3B%20DROP%20TABLE%20app.activity%3B--" "$T1"
row http 400 "SQL in the cursor"         GET "/v1/exports?cursor=1%3BDROP%20TABLE%20exportq.jobs" "$T1"
row http 400 "SQL in the limit"          GET "/v1/exports?limit=1%20OR%201%3D1" "$T1"
row http 404 "SQL in a job id"           GET "/v1/exports/1%20OR%201%3D1" "$T1"
row http 400 "SQL in the Idempotency-Key" POST /v1/exports "$T1" -H "Idempotency-Key: x'; DROP TABLE exportq.jobs; --" -d '{"kind":"user_activity"}'
row http 422 "Idempotency-Key reused, other params" POST /v1/exports "$T1" -H "Idempotency-Key: hostile-idem" -d '{"kind":"user_activity","params":{"since":"2020-01-01"}}'
row http 422 "Idempotency-Key reused, other email" POST /v1/exports "$T1" -H "Idempotency-Key: hostile-idem" -d '{"kind":"user_activity","email":"x@example.test"}'
row http 422 "Idempotency-Key reused, other kind" POST /v1/exports "$T1" -H "Idempotency-Key: hostile-idem" -d '{"kind":"user_activity_raw"}'
# CR/LF and header injection
row http 400 "CRLF in the email"         POST /v1/exports "$T1" -d '{"kind":"user_activity","email":"a@b.example\r\nBcc: victim@c.example"}'
row http 400 "LF in the email"           POST /v1/exports "$T1" -d '{"kind":"user_activity","email":"a@b.example\nSubject: hi"}'
row http 400 "two addresses"             POST /v1/exports "$T1" -d '{"kind":"user_activity","email":"a@b.example, c@d.example"}'
row http 400 "non-ASCII address"         POST /v1/exports "$T1" -d '{"kind":"user_activity","email":"josé@example.com"}'
# path traversal
row http 404 "traversal in the path"     GET "/v1/exports/../../etc/passwd" "$T1"
row http 404 "encoded traversal in a job id" GET "/v1/exports/%2e%2e%2f%2e%2e%2fetc%2fpasswd" "$T1"
row http 404 "traversal in a stream kind" GET "/v1/stream/..%2F..%2Fetc%2Fpasswd" "$T1"
row http 400 "traversal in the kind"     POST /v1/exports "$T1" -d '{"kind":"../../etc/passwd"}'
# sizes and shapes
row http 413 "4 MiB body"                POST /v1/exports "$T1" --data-binary @"$T/huge.json"
row http 400 "JSON nested 5000 deep"     POST /v1/exports "$T1" -d "$deep"
row http 400 "params nested 5000 deep"   POST /v1/exports "$T1" -d "{\"kind\":\"user_activity\",\"params\":{\"a\":$deep}}"
row http 400 "invalid UTF-8 in a value"  POST /v1/exports "$T1" --data-binary @"$T/badutf8.json"
row http 400 "invalid UTF-8 in the kind" POST /v1/exports "$T1" --data-binary @"$T/badutf8kind.json"
row http 400 "NUL in a value"            POST /v1/exports "$T1" -d '{"kind":"user_activity","params":{"since":"a\u0000b"}}'
row http 400 "invalid UTF-8 in a stream param" GET "/v1/stream/user_activity?since=%ff%fe" "$T1"
row http 400 "empty body"                POST /v1/exports "$T1" -d ''
row http 400 "a JSON string"             POST /v1/exports "$T1" -d '"user_activity"'
row http 400 "kind not a string"         POST /v1/exports "$T1" -d '{"kind":{"$ne":null}}'
row http 431 "200 kB header"             GET /v1/exports "$T1" -H @"$T/bighdr.txt"
# methods
row http 405 "PATCH a job"               PATCH "/v1/exports/$J2" "$T1"
row http 405 "PUT the list"              PUT /v1/exports "$T1" -d '{}'
row http 405 "DELETE a stream"           DELETE /v1/stream/user_activity "$T1"
row http 405 "POST healthz"              POST /healthz "" -d 'x'
row http 405 "TRACE"                     TRACE /v1/exports "$T1"
# tokens
row http 401 "no token"                  GET /v1/exports ""
row http 401 "unknown token"             GET /v1/exports "eqt_$(printf '0%.0s' $(seq 1 64))"
row http 401 "revoked token"             GET /v1/exports "$TR"
row http 401 "revoked token, POST"       POST /v1/exports "$TR" -d '{"kind":"user_activity"}'
row http 401 "revoked token, stream"     GET /v1/stream/user_activity "$TR"
row http 401 "SQL as the token"          GET /v1/exports "x' OR '1'='1"
row http 401 "Basic auth"                GET /v1/exports "" -u "hostile-u1:x"
row http 401 "8 kB token"                GET /v1/exports "$(head -c 8000 /dev/zero | tr '\0' A)"
# the application's JWTs: every refusal is 401 (the email claim's 422 aside)
jwt_good=$(jwt --alg HS256 --secret "$JWT_SECRET" "$(jc)")
jwt_other=$(jwt --alg HS256 --secret "$JWT_SECRET" "{\"sub\":\"hostile-u2\",\"aud\":\"eq\",\"iss\":\"https://id.test\",\"exp\":\"NOW+600\"}")
row http 401 "JWT alg none"              GET /v1/exports "$(jwt --alg none "$(jc)")"
row http 401 "JWT alg None, HMAC signed" GET /v1/exports "$(jwt --alg None --sign HS256 --secret "$JWT_SECRET" "$(jc)")"
row http 401 "JWT HS256 keyed with the PEM public key" GET /v1/exports "$(jwt --alg HS256 --secret-file "$T/rs.pub" "$(jc)")"
row http 401 "JWT RS256 header, ES256 signature" GET /v1/exports "$(jwt --alg RS256 --sign ES256 --key "$T/ec.pem" "$(jc)")"
row http 401 "JWT ES256 header, RS256 signature" GET /v1/exports "$(jwt --alg ES256 --sign RS256 --key "$T/rs.pem" "$(jc)")"
row http 401 "JWT expired"               GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" '{"sub":"hostile-u1","aud":"eq","iss":"https://id.test","exp":"NOW-300"}')"
row http 401 "JWT without exp"           GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" '{"sub":"hostile-u1","aud":"eq","iss":"https://id.test"}')"
row http 401 "JWT not valid yet (nbf)"   GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" "$(jc '"nbf":"NOW+600"')")"
row http 401 "JWT wrong audience"        GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" '{"sub":"hostile-u1","aud":"other","iss":"https://id.test","exp":"NOW+600"}')"
row http 401 "JWT wrong issuer"          GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" '{"sub":"hostile-u1","aud":"eq","iss":"https://evil.test","exp":"NOW+600"}')"
row http 401 "JWT without the owner claim" GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" '{"aud":"eq","iss":"https://id.test","exp":"NOW+600"}')"
row http 401 "JWT owner of 257 bytes"    GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" "{\"sub\":\"$(head -c 257 /dev/zero | tr '\0' o)\",\"aud\":\"eq\",\"iss\":\"https://id.test\",\"exp\":\"NOW+600\"}")"
row http 401 "JWT owner with a newline"  GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" '{"sub":"hostile-u1\nforged","aud":"eq","iss":"https://id.test","exp":"NOW+600"}')"
row http 401 "JWT owner claim an object" GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" '{"sub":{"$ne":null},"aud":"eq","iss":"https://id.test","exp":"NOW+600"}')"
row http 401 "JWT of 12 kB"              GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" "$(jc "\"pad\":\"$(head -c 9000 /dev/zero | tr '\0' p)\"")")"
row http 401 "JWT payload of another owner, first signature" GET /v1/exports "${jwt_other%.*}.${jwt_good##*.}"
row http 401 "JWT signature cut"         GET /v1/exports "${jwt_good%??????}"
row http 401 "JWT with padding"          GET /v1/exports "${jwt_good}=="
row http 401 "JWT of four segments"      GET /v1/exports "${jwt_good}.x"
row http 401 "JWT with a crit header"    GET /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" --header '{"crit":["exp"]}' "$(jc)")"
row http 401 "JWT header not JSON"       GET /v1/exports "bm90IGpzb24.${jwt_good#*.}"
row http 401 "JWT, POST"                 POST /v1/exports "$(jwt --alg none "$(jc)")" -d '{"kind":"user_activity"}'
row http 401 "JWT, stream"               GET /v1/stream/user_activity "$(jwt --alg HS256 --secret-file "$T/rs.pub" "$(jc)")"
row http 422 "JWT email claim, another address" POST /v1/exports "$(jwt --alg HS256 --secret "$JWT_SECRET" "$(jc '"email":"u1@allowed.example"')")" -d '{"kind":"user_activity","email":"victim@allowed.example"}'
row http 404 "JWT of u1, u2's job"       GET "/v1/exports/$J2" "$jwt_good"
# CORS: only the listed origin gets a preflight (http_cors.sh checks the headers)
row http 405 "CORS preflight from an unlisted origin" OPTIONS /v1/exports "" -H 'Origin: https://evil.test' -H 'Access-Control-Request-Method: POST'
row http 405 "CORS preflight, origin 'null'" OPTIONS /v1/exports "" -H 'Origin: null' -H 'Access-Control-Request-Method: DELETE'
# another owner's ids
row http 404 "another owner's job"       GET "/v1/exports/$J2" "$T1"
row http 404 "another owner's download"  GET "/v1/exports/$J2/download" "$T1"
row http 404 "another owner's cancel"    DELETE "/v1/exports/$J2" "$T1"
# stable links: every bad one is the same 404, a valid one of a cancelled job 410
row http 404 "tampered link"             GET "/v1/exports/$J2/download?t=${LTOK:0:30}$( [ "${LTOK:30:1}" = A ] && echo B || echo A )${LTOK:31}" ""
row http 404 "truncated link"            GET "/v1/exports/$J2/download?t=${LTOK:0:40}" ""
row http 404 "link of another job's path" GET "/v1/exports/$J3/download?t=$LTOK" ""
row http 404 "status-scope link on the download" GET "/v1/exports/$J2/download?t=$(lmint status "$J2" $(($(date +%s) + 3600)))" ""
row http 404 "link signed with another secret" GET "/v1/exports/$J2/download?t=$(/usr/bin/python3 "$EXPORTQ_SOURCE_DIR/tests/harness/link_token.py" "x$LSECRET" download "$J2" $(($(date +%s) + 3600)))" ""
row http 404 "SQL as the link token"     GET "/v1/exports/$J2/download?t=x%27%20OR%20%271%27%3D%271" ""
row http 404 "64 kB link token"          GET "/v1/exports/$J2/download?t=$(head -c 65000 /dev/zero | tr '\0' A)" ""
row http 404 "link token in base64 with padding" GET "/v1/exports/$J2/download?t=$LTOK%3D%3D" ""
row http 410 "link replayed after cancel" GET "/v1/exports/$J3/download?t=$(lmint download "$J3" $(($(date +%s) + 3600)))" ""
row http 410 "expired link"              GET "/v1/exports/$J2/download?t=$(lmint download "$J2" $(($(date +%s) - 1)))" ""
# the status page's JSON (same tokens, scope status; the HTML page answers the same codes)
STOK=$(lmint status "$J2" $(($(date +%s) + 3600)))
row http 404 "tampered status link"      GET "/exports/$J2/status?t=${STOK:0:30}$( [ "${STOK:30:1}" = A ] && echo B || echo A )${STOK:31}" ""
row http 404 "download-scope link on the status page" GET "/exports/$J2/status?t=$LTOK" ""
row http 404 "status link of another job's path" GET "/exports/$J3/status?t=$STOK" ""
row http 404 "SQL as the status token"   GET "/exports/$J2/status?t=x%27%20OR%20%271%27%3D%271" ""
row http 410 "expired status link"       GET "/exports/$J2/status?t=$(lmint status "$J2" $(($(date +%s) - 1)))" ""
# the admin API: only the admin token, never an owner's, a cookie or a guess
row http 401 "owner token on the admin API" GET /v1/admin/exports "$T1"
row http 401 "SQL as the admin token"    GET /v1/admin/exports "x' OR '1'='1"
row http 401 "admin token with a suffix" GET /v1/admin/exports "${ADMIN}x"
row http 401 "forged admin cookie on the admin API" GET /v1/admin/exports "" -b "eq_admin=9999999999.00000000000000000000000000000000.00"
row http 400 "SQL in the admin state filter" GET "/v1/admin/exports?state=failed%27%20OR%201%3D1" "$ADMIN"
row http 401 "admin retry with an owner token" POST "/v1/admin/exports/$J2/retry" "$T2"
# Prefer: respond-async never turns a refused stream into a job
row http 400 "Prefer: respond-async, SQL in a stream kind" GET "/v1/stream/x%27%3B%20DROP%20TABLE%20exportq.jobs%3B--" "$T1" -H 'Prefer: respond-async'
row http 400 "Prefer: respond-async, unknown kind" GET "/v1/stream/no_such_kind" "$T1" -H 'Prefer: respond-async'
row http 400 "Prefer: respond-async, SQL in a param name" GET "/v1/stream/user_activity?since%27%3BDROP%20TABLE%20app.activity%3B--=1" "$T1" -H 'Prefer: respond-async'
row http 406 "Prefer: respond-async, nothing acceptable" GET "/v1/stream/user_activity" "$T1" -H 'Prefer: respond-async' -H 'Accept: image/png'
row http 401 "Prefer: respond-async, revoked token" GET "/v1/stream/user_activity" "$TR" -H 'Prefer: respond-async'
# recipients and log lines
row http 422 "email outside the allowed domains" POST /v1/exports "$T1" -d '{"kind":"user_activity","email":"x@evil.example"}'
row http 422 "look-alike allowed domain" POST /v1/exports "$T1" -d '{"kind":"user_activity","email":"x@allowed.example.evil"}'
row http 404 "CR/LF in a path (log line injection)" GET "/v1/exports/1%0d%0a2026-01-01T00:00:00.000Z%20error%20FORGED" "$T1"

# CLI
row cli 1 "SQL in the kind"              enqueue "x'; DROP TABLE exportq.jobs; --"
row cli 2 "SQL in a param name"          enqueue user_activity --param "since'; DROP TABLE app.activity; --=1"
row cli 2 "param without ="              enqueue user_activity --param "since"
row cli 1 "CRLF in the email"            enqueue user_activity --email $'a@b.example\r\nBcc: victim@c.example'
# AWS credential sources that must be refused before any connection (a config
# file's empty AWS_ACCESS_KEY_ID overrides the test's static keys)
aws_cfg() { printf 'AWS_ACCESS_KEY_ID=\nAWS_SECRET_ACCESS_KEY=\nAWS_EC2_METADATA_DISABLED=true\n%s\n' "$@" >"$T/aws.env"; echo "$T/aws.env"; }
printf 'tok\r\nX-Injected: 1\n' >"$T/crlf-token"
row cli 1 "container credentials at the instance metadata address" --config "$(aws_cfg AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.169.254/latest/meta-data/iam/security-credentials/r)" presign k
row cli 1 "container credentials URL with user info"  --config "$(aws_cfg AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1@example.com/creds)" presign k
row cli 1 "container relative URI escaping the host"  --config "$(aws_cfg AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=@example.com/creds)" presign k
row cli 1 "CRLF in the container authorization token" --config "$(aws_cfg AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9/creds AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$T/crlf-token)" presign k
row cli 2 "SQL as the priority"          enqueue user_activity --priority "1; DROP TABLE exportq.jobs"
row cli 2 "priority out of range"        enqueue user_activity --priority 100000
row cli 2 "SQL as a job id (status)"     status "1 OR 1=1"
row cli 2 "SQL as a job id (cancel)"     cancel "1; DELETE FROM exportq.jobs"
row cli 2 "negative job id"              cancel -- -1
row cli 2 "SQL as a token id"            token revoke "1 OR 1=1"
# one id rule (common/id.h) for the CLI and the URL: no sign, space or leading zero
row cli 2 "signed job id (status)"       status "+1"
row cli 2 "job id with a space (cancel)" cancel " 1"
row cli 2 "job id with a leading zero"   status "01"
row cli 2 "signed token id"              token revoke "+1"
row http 404 "signed job id in the URL"  GET "/v1/exports/+1" "$T1"
row cli 2 "SQL in a stream kind"         stream "x'; DROP TABLE exportq.jobs; --" -o "$T/never.csv"
row cli 2 "unknown option"               enqueue user_activity --owner-override x
row cli 2 "traversal in presign expiry"  presign x.csv --expires ../../1
row cli 1 "257-byte owner (token create)" token create --owner "$long_owner"
row cli 1 "257-byte owner (enqueue)"     enqueue user_activity --owner "$long_owner"
row cli 1 "email outside the allowed domains" enqueue user_activity --email x@evil.example
printf 'EXPORTQ_SMTP_TLS=optional\nEXPORTQ_SMTP_URL=smtp://u:p@127.0.0.1:25\n' >"$T/tls.conf"
row cli 1 "SMTP_TLS optional with credentials" --config "$T/tls.conf" status 1
# webhooks: settings refused at start-up, the listing's arguments
printf 'EXPORTQ_WEBHOOK_URL=http://127.0.0.1:9/h\n' >"$T/wh1.conf"
row cli 1 "webhook URL without a secret" --config "$T/wh1.conf" status 1
printf 'EXPORTQ_WEBHOOK_URL=file:///etc/passwd\nEXPORTQ_WEBHOOK_SECRET=0123456789abcdef0123\n' >"$T/wh2.conf"
row cli 1 "webhook URL not http(s)"      --config "$T/wh2.conf" status 1
printf 'EXPORTQ_WEBHOOK_URL=http://127.0.0.1:9/h\nEXPORTQ_WEBHOOK_SECRET=short\n' >"$T/wh3.conf"
row cli 1 "webhook secret too short"     --config "$T/wh3.conf" status 1
# the pages' settings
printf 'EXPORTQ_ADMIN_TOKEN=short\n' >"$T/adm1.conf"
row cli 1 "admin token too short"        --config "$T/adm1.conf" status 1
printf 'EXPORTQ_ADMIN_TOKEN=0123456789abcdef 0123456789abcdef\n' >"$T/adm2.conf"
row cli 1 "admin token with a space"     --config "$T/adm2.conf" status 1
printf "EXPORTQ_FRAME_ANCESTORS=https://a.example; script-src *\n" >"$T/fa1.conf"
row cli 1 "CSP injection in frame ancestors" --config "$T/fa1.conf" status 1
row cli 2 "SQL as the webhooks limit"    webhooks list --limit "1; DROP TABLE exportq.webhooks"
row cli 2 "webhooks limit out of range"  webhooks list --limit 100000
row cli 2 "webhooks: unknown subcommand" webhooks retry-all
printf 'EXPORTQ_PUBLIC_URL=https://x.example\nEXPORTQ_LINK_SECRET=short\n' >"$T/link1.conf"
row cli 1 "EXPORTQ_LINK_SECRET under 32 bytes" --config "$T/link1.conf" status 1
printf 'EXPORTQ_PUBLIC_URL=https://x.example/?next=//evil.example\nEXPORTQ_LINK_SECRET=%s\n' "$LSECRET" >"$T/link2.conf"
row cli 1 "EXPORTQ_PUBLIC_URL with a query" --config "$T/link2.conf" status 1
printf 'EXPORTQ_PUBLIC_URL=javascript:alert(1)\nEXPORTQ_LINK_SECRET=%s\n' "$LSECRET" >"$T/link3.conf"
row cli 1 "EXPORTQ_PUBLIC_URL not http(s)" --config "$T/link3.conf" status 1
# SQL API
row sql 22023 "CRLF in a kind's file name"  "SELECT exportq.define_kind('k_crlf', 'app.export_user_activity', E'a\\r\\nb.csv')"
row sql 22023 "../ in a kind's file name"   "SELECT exportq.define_kind('k_dots', 'app.export_user_activity', '../../x.csv')"
row sql 22023 "/ in a kind's file name"     "SELECT exportq.define_kind('k_slash', 'app.export_user_activity', 'a/b.csv')"
row sql 22023 "SQL as a kind name"          "SELECT exportq.define_kind('k''; DROP TABLE exportq.jobs; --', 'app.export_user_activity', 'x.csv')"
row sql 22023 "SQL as a split function"     "SELECT exportq.define_kind('k_split', 'app.export_user_activity', 'x.csv', '{\"split\": \"app.split_user_activity(''{}'', 2); DROP TABLE exportq.jobs; --\"}')"
row sql 22023 "quoted split function name"  "SELECT exportq.define_kind('k_split', 'app.export_user_activity', 'x.csv', '{\"split\": \"\\\"app\\\".split_user_activity\"}')"
row sql 22023 "split: wrong signature"      "SELECT exportq.define_kind('k_split', 'app.export_user_activity', 'x.csv', '{\"split\": \"app.export_user_activity\"}')"
row sql 22023 "CRLF in the email"           "SELECT exportq.enqueue('user_activity', '{}', E'a@b.example\\r\\nBcc: c@d.example', 'u')"
row sql 22023 "params not an object"        "SELECT exportq.enqueue('user_activity', '[1]', NULL, 'u')"
row sql 22023 "unknown kind (SQL text)"     "SELECT exportq.enqueue('user_activity; DROP TABLE exportq.jobs', '{}', NULL, 'u')"
row sql 22023 "257-byte owner"              "SELECT exportq.enqueue('user_activity', '{}', NULL, '$long_owner')"
row sql 22023 "257-byte owner (token row)"  "INSERT INTO exportq.tokens (owner, token_hash) VALUES ('$long_owner', repeat('a', 64))"
row sql 22023 "257-byte dedupe key"         "SELECT exportq.enqueue('user_activity', '{}', NULL, 'u', 0, '$long_owner')"
row sql 22023 "206-byte kind file name"     "SELECT exportq.define_kind('k_long', 'app.export_user_activity', '$(printf '\xc3\xa9%.0s' $(seq 1 101)).csv')"
# a kind's webhook_url (SSRF): schemes, header injection, link-local and metadata IP literals
row sql 22023 "webhook_url file://"         "SELECT exportq.define_kind('k_wh1', 'app.export_user_activity', NULL, '{\"webhook_url\": \"file:///etc/passwd\"}')"
row sql 22023 "webhook_url gopher://"       "SELECT exportq.define_kind('k_wh2', 'app.export_user_activity', NULL, '{\"webhook_url\": \"gopher://127.0.0.1:6379/_FLUSHALL\"}')"
row sql 22023 "CRLF in a webhook_url"       "SELECT exportq.define_kind('k_wh3', 'app.export_user_activity', NULL, '{\"webhook_url\": \"https://a.example/x\\r\\nX-Injected: 1\"}')"
row sql 22023 "webhook_url at 169.254.169.254" "SELECT exportq.define_kind('k_wh4', 'app.export_user_activity', NULL, '{\"webhook_url\": \"http://169.254.169.254/latest/meta-data/\"}')"
row sql 22023 "webhook_url at the ECS credentials address" "SELECT exportq.define_kind('k_wh5', 'app.export_user_activity', NULL, '{\"webhook_url\": \"http://169.254.170.2/v2/credentials\"}')"
row sql 22023 "webhook_url at fd00:ec2::254" "SELECT exportq.define_kind('k_wh6', 'app.export_user_activity', NULL, '{\"webhook_url\": \"http://[fd00:ec2::254]/latest/\"}')"
row sql 22023 "webhook_url, metadata as ::ffff:" "SELECT exportq.define_kind('k_wh7', 'app.export_user_activity', NULL, '{\"webhook_url\": \"http://[::ffff:169.254.169.254]/\"}')"
row sql 22023 "webhook_url with user info before the metadata address" "SELECT exportq.define_kind('k_wh8', 'app.export_user_activity', NULL, '{\"webhook_url\": \"http://hooks.example.com@169.254.169.254/\"}')"
row sql 22023 "webhook_url set by a direct UPDATE" "UPDATE exportq.kinds SET options = options || '{\"webhook_url\": \"http://169.254.169.254/\"}' WHERE name = 'user_activity'"
row sql 22023 "email outside the allowed domains" "SET exportq.mail_allowed_domains = 'allowed.example'; SELECT exportq.enqueue('user_activity', '{}', 'x@evil.example', 'u')"
row sql 22023 "enqueue_many: CRLF in an email"   "SELECT exportq.enqueue_many('user_activity', '[{\"owner\": \"u\"}, {\"email\": \"a@b.example\\r\\nBcc: c@d.example\"}]')"
row sql 22023 "enqueue_many: unknown key"        "SELECT exportq.enqueue_many('user_activity', '[{\"owner\": \"u\", \"kind\": \"x; DROP TABLE exportq.jobs\"}]')"
row sql 22023 "enqueue_many: 257-byte owner"     "SELECT exportq.enqueue_many('user_activity', '[{}, {\"owner\": \"$long_owner\"}]')"
row sql 22023 "enqueue_many: params not an object" "SELECT exportq.enqueue_many('user_activity', '[{}, {\"params\": [1]}]')"
row sql 22023 "enqueue_many: priority not an integer" "SELECT exportq.enqueue_many('user_activity', '[{}, {\"priority\": \"1; DROP TABLE exportq.jobs\"}]')"
row sql 22023 "enqueue_many: SQL text as an element" "SELECT exportq.enqueue_many('user_activity', '[\"x''); DROP TABLE exportq.jobs; --\"]')"
row sql 22023 "enqueue_many: not an array"       "SELECT exportq.enqueue_many('user_activity', '{\"owner\": \"u\"}')"
row sql 22023 "enqueue_many: over 100,000 jobs"  "SELECT exportq.enqueue_many('user_activity', (SELECT jsonb_agg('{}'::jsonb) FROM generate_series(1, 100001)))"
if grep -q '^2026-01-01T00:00:00.000Z' "$SERVE_LOG"; then fail "a forged line is in serve's log"; fi
ok "$n hostile cases: each refused with its status/exit code, database row counts unchanged ($counts)"

# Parameter VALUES are data, never SQL: an accepted export with SQL and
# traversal in its values stores them verbatim, runs (worker --drain), and
# writes its object inside the owner's prefix. So do jobs of owners that look
# like paths: every key must stay under PREFIX + the owner's sanitised
# segment ([A-Za-z0-9._-], no "..", no leading dot) + "/".
req POST /v1/exports "$T1" -d "{\"kind\":\"user_activity\",\"params\":{\"note\":\"'); DROP TABLE app.activity; --\",\"path\":\"../../../etc/passwd\",\"crlf\":\"x\\r\\nX-Injected: 1\"}}"
assert_eq 202 "$STATUS" "SQL and ../ in parameter values are accepted as data"
id=$(jq -r .id <<<"$BODY")
assert_eq "'); DROP TABLE app.activity; --" "$(psql_q "SELECT params->>'note' FROM exportq.jobs WHERE id = $id")" "stored verbatim"
assert_eq "hostile-u1" "$(psql_q "SELECT params->>'owner' FROM exportq.jobs WHERE id = $id")" "owner forced"
psql_q "DELETE FROM exportq.jobs WHERE id = $J2 OR idempotency_key = 'hostile-idem'" >/dev/null   # u2's job and the Idempotency-Key row's job are not part of this
declare -A want_dir=([$id]="hostile-u1")
# owner -> the segment it must become
while IFS='|' read -r owner seg; do
  jid=$(psql_q "SELECT exportq.enqueue('user_activity', '{}', NULL, \$o\$$owner\$o\$)")
  want_dir[$jid]=$seg
done <<'OWNERS'
../x|_._x
a/b|a_b
%2e%2e|_2e_2e
..|_.
../../../../etc|_._.__.__.__etc
.hidden|_hidden
a\b|a_b
OWNERS
EXPORTQ_S3_PREFIX=$EXPORTQ_S3_PREFIX "$EXPORTQ_BIN" worker --drain 2>"$T/worker.log" || { cat "$T/worker.log" >&2; fail "worker --drain failed"; }
s3_list_keys "$EXPORTQ_S3_PREFIX" >"$T/keys"
# nor where a client or server normalising dot segments would have put them
# (PREFIX/../x/... -> x/...): the jobs' random tokens appear in no key there
psql_q "SELECT object_token FROM exportq.jobs" >"$T/tokens"
for p in x/ etc/ b/ ../ ./ %2e%2e/ _/; do s3_list_keys "$p"; done | grep -F -f "$T/tokens" >"$T/outside" || true
for jid in "${!want_dir[@]}"; do
  owner=$(psql_q "SELECT owner FROM exportq.jobs WHERE id = $jid")
  assert_eq succeeded "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $jid")" "job $jid (owner '$owner') ran"
  key=$(grep -E "^${EXPORTQ_S3_PREFIX}[^/]+/$jid-[A-Za-z0-9-]+/[^/]+\$" "$T/keys" || true)
  [ "$(grep -c . <<<"$key")" = 1 ] || fail "job $jid (owner '$owner'): no single object key for it in: $(tr '\n' ' ' <"$T/keys")"
  dir=${key#"$EXPORTQ_S3_PREFIX"}
  dir=${dir%%/*}
  case "$dir" in .* | *..* | */* | '') fail "job $jid (owner '$owner'): unsafe owner segment '$dir' in $key" ;; esac
  assert_eq "${want_dir[$jid]}" "$dir" "job $jid (owner '$owner'): the key's owner segment"
done
[ "$(grep -c . "$T/keys")" = "${#want_dir[@]}" ] || fail "objects other than the jobs' under the prefix: $(tr '\n' ' ' <"$T/keys")"
[ ! -s "$T/outside" ] || fail "an object outside the prefix: $(cat "$T/outside")"
ok "${#want_dir[@]} hostile jobs ran (worker --drain): every key under its owner's sanitised prefix"
assert_eq "$tables_before" "$(psql_q "SELECT count(*) FROM pg_tables WHERE schemaname IN ('app', 'exportq')")" "no table was dropped"
assert_no_uploads "$EXPORTQ_S3_PREFIX" "no upload left"
kill -0 "$SERVE_PID" || fail "exportq serve died"
req GET /healthz ""
assert_eq 200 "$STATUS" "serve still healthy after the table"
ok "values are data; no table dropped, keys inside their prefix, serve still healthy"
