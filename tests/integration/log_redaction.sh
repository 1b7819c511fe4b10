#!/usr/bin/env bash
# What reaches the logs (issue 10, items 9, 10, 11):
#  - a percent-decoded path with CR/LF cannot forge a line of the text log
#    (control characters are escaped as in JSON mode);
#  - a database password never appears in an error that quotes libpq, even
#    when libpq cannot parse the URL ("invalid percent-encoded token");
#  - EXPORTQ_SMTP_TLS=optional with SMTP credentials is refused at start-up,
#    naming the variable.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
T=$(tmpdir)
http_db_setup "log_redaction_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS log_redaction_$$ WITH (FORCE)' >/dev/null 2>&1"
TK=$(token_for logs-u1)

# ---- item 9: no forged log line --------------------------------------------------------
serve_start EXPORTQ_LOG_FORMAT=text
forged="2026-01-01T00:00:00.000Z error [owner=admin] FORGED-$$"
enc=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' $'\r\n'"$forged")
req GET "/v1/exports/1$enc" "$TK"
req GET "/v1/stream/user_activity$enc" "$TK"
req GET "/v1/exports?limit=1$enc" "$TK"
serve_stop
grep -q "FORGED-$$" "$SERVE_LOG" || fail "the request was not logged at all (cannot check the escaping)"
if grep -n "^2026-01-01T00:00:00.000Z" "$SERVE_LOG"; then fail "a forged line is in the text log"; fi
grep "FORGED-$$" "$SERVE_LOG" | grep -q '\\u000d\\u000a' || fail "CR/LF not escaped: $(grep "FORGED-$$" "$SERVE_LOG" | head -2)"
ok "CR/LF in a request path is escaped (\\u000d\\u000a) in the text log; no forged line"

# ---- item 10: the database password never leaks through libpq's messages --------------
pw="Pw%zzSecret$$"
for url in "postgresql://exportq:$pw@127.0.0.1:$PGPORT/nope" \
           "postgresql://exportq@127.0.0.1:$PGPORT/nope?password=$pw" \
           "host=127.0.0.1 port=$PGPORT dbname=nope password=Pw%zz Secret$$ user=exportq" \
           "postgresql://exportq:Pw%41Secret$$@127.0.0.1:$(free_port)/nope"; do
  for cmd in "status 1" "token list" "worker --drain"; do
    # shellcheck disable=SC2086
    # (a worker keeps retrying its connection: stopped after a few seconds)
    if EXPORTQ_DATABASE_URL=$url timeout -k 2 4 "$EXPORTQ_BIN" $cmd >"$T/out" 2>"$T/err"; then
      fail "'$cmd' with a broken URL succeeded"
    fi
    for needle in "$pw" "zzSecret$$" "Secret$$" "PwASecret$$"; do
      if grep -qF -- "$needle" "$T/err" "$T/out"; then
        fail "the password leaked ($cmd, url form ${url:0:12}): $(cat "$T/err")"
      fi
    done
    grep -qi "database" "$T/err" || fail "no database error reported ($cmd): $(cat "$T/err")"
  done
done
ok "no password in libpq errors (URI user info, URI query, key/value, unreachable server) x (status, token, worker)"

# ---- item 11: optional TLS with credentials is refused at start-up ------------------
for cmd in "worker --drain" "serve" "status 1"; do
  # shellcheck disable=SC2086
  if EXPORTQ_SMTP_TLS=optional EXPORTQ_SMTP_URL="smtp://mailer:Sm7pPw$$@127.0.0.1:25" timeout -k 2 10 \
       "$EXPORTQ_BIN" $cmd >"$T/out" 2>"$T/err"; then
    fail "'$cmd' started with EXPORTQ_SMTP_TLS=optional and credentials"
  fi
  assert_contains "$(cat "$T/err")" "EXPORTQ_SMTP_TLS" "the refusal names the variable ($cmd)"
  if grep -qF "Sm7pPw$$" "$T/err"; then fail "the SMTP password is in the refusal"; fi
done
EXPORTQ_SMTP_TLS=optional EXPORTQ_SMTP_URL="smtp://127.0.0.1:25" "$EXPORTQ_BIN" status 999999 >/dev/null 2>"$T/err" || true
if grep -q EXPORTQ_SMTP_TLS "$T/err"; then fail "optional TLS without credentials is refused: $(cat "$T/err")"; fi
ok "EXPORTQ_SMTP_TLS=optional with credentials: refused at start-up naming the variable; without credentials: accepted"
