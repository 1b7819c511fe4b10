#!/usr/bin/env bash
# The docs stay true to the code: every setting the binary knows (its --help
# reference, generated from the configuration table) is documented in
# docs/operations.md and in systemd/exportq.env.example; and a bad value stops
# start-up with a message that names the variable, without echoing secrets.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
vars=$("$EXPORTQ_BIN" --help | sed -n '/^Configuration/,$p' | awk 'NR > 1 {print $1}')
[ "$(echo "$vars" | grep -c .)" -ge 25 ] || fail "the --help reference lists too few settings"
for v in $vars; do
  grep -q "\`$v\`" "$EXPORTQ_SOURCE_DIR/docs/operations.md" || fail "$v is missing from docs/operations.md"
  grep -q "^#\?$v=" "$EXPORTQ_SOURCE_DIR/systemd/exportq.env.example" || fail "$v is missing from exportq.env.example"
done
ok "$(echo "$vars" | wc -l) settings documented in operations.md and exportq.env.example"

check_bad() { # VAR VALUE
  local out rc=0
  out=$(env "$1=$2" "$EXPORTQ_BIN" migrate 2>&1) || rc=$?
  [ "$rc" = 1 ] || fail "$1=$2: exit $rc, expected 1"
  assert_contains "$out" "$1" "$1=$2: the message names the variable"
}
check_bad EXPORTQ_LINK_TTL 604801
check_bad EXPORTQ_PART_SIZE 1024
check_bad EXPORTQ_LOG_LEVEL loud
check_bad EXPORTQ_S3_ENDPOINT ftp://x
check_bad EXPORTQ_SMTP_TLS maybe
check_bad EXPORTQ_S3_PATH_STYLE perhaps
out=$(env -u EXPORTQ_DATABASE_URL "$EXPORTQ_BIN" migrate 2>&1) && fail "migrate without a database URL succeeded"
assert_contains "$out" "EXPORTQ_DATABASE_URL" "a missing required setting is named"
printf 'EXPORTQ_LINK_TTL=60\nEXPORTQ_TYPO=1\n' > "$(tmpdir)/bad.env"
out=$("$EXPORTQ_BIN" --config "$(tmpdir)/bad.env" migrate 2>&1) && fail "an unknown setting in --config was accepted"
assert_contains "$out" "EXPORTQ_TYPO" "an unknown setting in a config file is named"
out=$(EXPORTQ_DATABASE_URL="postgresql://u:hunter2secret@127.0.0.1:1/x" "$EXPORTQ_BIN" migrate 2>&1) && fail "connected to a closed port"
case "$out" in *hunter2secret*) fail "the database password reached an error message";; esac
ok "bad settings stop start-up naming the variable; no secret echoed"
