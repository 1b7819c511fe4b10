#!/usr/bin/env bash
# cli_startup.sh - the program's front door: `exportq --version`, `--help` of
# every command (exit 0, a usage line), and start-up validation of `worker` and
# `serve`: a bad or missing setting stops the program at once (non-zero exit,
# within a bounded time, before any work) with a message naming the variable,
# and never echoes a secret.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
t=$(tmpdir)
B=$EXPORTQ_BIN

out=$("$B" --version) || fail "--version exits non-zero"
[[ $out =~ ^exportq\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "--version prints '$out'"
for c in migrate worker serve enqueue status cancel stream presign token; do
  out=$(timeout 20 "$B" "$c" --help 2>&1) || fail "exportq $c --help exits non-zero: $out"
  grep -qi "^usage: exportq $c" <<<"$out" || fail "exportq $c --help: no usage line: $(head -3 <<<"$out")"
done
ok "--version ($("$B" --version)) and --help of every command"

# A clean environment with valid settings (nothing is reachable: validation
# must fail before any connection is tried), then one bad value per row.
base=(PATH="$PATH" EXPORTQ_DATABASE_URL=postgresql://exportq@127.0.0.1:1/none EXPORTQ_S3_BUCKET=exportq-startup
      EXPORTQ_S3_ENDPOINT=http://127.0.0.1:1 AWS_ACCESS_KEY_ID=AKIDSTARTUP AWS_SECRET_ACCESS_KEY=startup-secret-value
      AWS_EC2_METADATA_DISABLED=true EXPORTQ_SMTP_URL=smtp://u:smtp-pass-value@127.0.0.1:1 EXPORTQ_SMTP_FROM=a@b.example)
n=0
# bad CMD VARIABLE [VAR=VALUE]...: exportq CMD with the base settings plus these fails naming VARIABLE
bad() {
  local cmd=$1 var=$2 rc=0
  shift 2
  n=$((n + 1))
  timeout 30 env -i "${base[@]}" "$@" "$B" "$cmd" >"$t/out" 2>&1 || rc=$?
  [ "$rc" != 0 ] || fail "$cmd with $*: exit 0 (expected a refusal naming $var)"
  [ "$rc" != 124 ] || fail "$cmd with $*: still running after 30 s (expected a refusal at start-up)"
  assert_contains "$(cat "$t/out")" "$var" "$cmd with $*: the message names the variable"
  if grep -q 'startup-secret-value\|smtp-pass-value' "$t/out"; then fail "$cmd with $*: a secret in the message: $(cat "$t/out")"; fi
}
for cmd in worker serve; do
  bad "$cmd" EXPORTQ_DATABASE_URL EXPORTQ_DATABASE_URL=
  bad "$cmd" EXPORTQ_LOG_LEVEL EXPORTQ_LOG_LEVEL=loud
  bad "$cmd" EXPORTQ_LOG_FORMAT EXPORTQ_LOG_FORMAT=xml
  bad "$cmd" EXPORTQ_LINK_TTL EXPORTQ_LINK_TTL=604801
  bad "$cmd" EXPORTQ_S3_REGION 'EXPORTQ_S3_REGION=us east'
  bad "$cmd" EXPORTQ_S3_REGION 'EXPORTQ_S3_REGION=eu/west'
done
bad worker EXPORTQ_METRICS_LISTEN 'EXPORTQ_METRICS_LISTEN=::1:9100'
bad worker EXPORTQ_METRICS_LISTEN 'EXPORTQ_METRICS_LISTEN=127.0.0.1:65536'
bad worker EXPORTQ_PART_SIZE EXPORTQ_PART_SIZE=12
bad worker EXPORTQ_PART_SIZE EXPORTQ_PART_SIZE=lots
bad worker EXPORTQ_UPLOAD_CONCURRENCY EXPORTQ_UPLOAD_CONCURRENCY=0
bad worker EXPORTQ_LEASE_SECONDS EXPORTQ_LEASE_SECONDS=-5
bad worker EXPORTQ_MAX_ATTEMPTS EXPORTQ_MAX_ATTEMPTS=x
bad worker EXPORTQ_SMTP_TLS EXPORTQ_SMTP_TLS=sometimes
bad worker EXPORTQ_S3_BUCKET EXPORTQ_S3_BUCKET=
bad worker EXPORTQ_SMTP_URL 'EXPORTQ_SMTP_URL=http://u:smtp-pass-value@127.0.0.1:1'
bad serve EXPORTQ_HTTP_LISTEN EXPORTQ_HTTP_LISTEN=nonsense
bad serve EXPORTQ_HTTP_LISTEN EXPORTQ_HTTP_LISTEN=127.0.0.1:http
bad serve EXPORTQ_MAX_STREAMS EXPORTQ_MAX_STREAMS=0
bad serve EXPORTQ_RATE_LIMIT EXPORTQ_RATE_LIMIT=-1
# stable links: both settings or neither, a secret of 32 bytes or more, an absolute http(s) URL
for cmd in worker serve; do
  bad "$cmd" EXPORTQ_LINK_SECRET EXPORTQ_PUBLIC_URL=https://exports.example.com EXPORTQ_LINK_SECRET=startup-secret-value
  bad "$cmd" EXPORTQ_LINK_SECRET EXPORTQ_PUBLIC_URL=https://exports.example.com
  bad "$cmd" EXPORTQ_PUBLIC_URL EXPORTQ_LINK_SECRET=startup-secret-value-startup-secret-value
  bad "$cmd" EXPORTQ_PUBLIC_URL EXPORTQ_PUBLIC_URL=exports.example.com EXPORTQ_LINK_SECRET=startup-secret-value-startup-secret-value
  bad "$cmd" EXPORTQ_PUBLIC_URL 'EXPORTQ_PUBLIC_URL=https://exports.example.com/?x=1' EXPORTQ_LINK_SECRET=startup-secret-value-startup-secret-value
  bad "$cmd" EXPORTQ_PUBLIC_URL 'EXPORTQ_PUBLIC_URL=https://exports.example.com/#f' EXPORTQ_LINK_SECRET=startup-secret-value-startup-secret-value
  bad "$cmd" EXPORTQ_PUBLIC_URL 'EXPORTQ_PUBLIC_URL=ftp://exports.example.com' EXPORTQ_LINK_SECRET=startup-secret-value-startup-secret-value
  bad "$cmd" EXPORTQ_PUBLIC_URL 'EXPORTQ_PUBLIC_URL=https://u:p@exports.example.com' EXPORTQ_LINK_SECRET=startup-secret-value-startup-secret-value
  bad "$cmd" EXPORTQ_PRESIGN_TTL EXPORTQ_PRESIGN_TTL=0
done
bad serve EXPORTQ_STREAM_MAX_ROWS EXPORTQ_STREAM_MAX_ROWS=-1
ok "$n bad or missing settings: worker and serve stop at start-up naming the variable, no secret shown"

rc=0
timeout 20 "$B" worker --concurrency 0 >"$t/out" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "worker --concurrency 0: exit $rc"
assert_contains "$(cat "$t/out")" "concurrency" "worker --concurrency 0 names the option"
rc=0
timeout 20 "$B" worker --no-such-option >"$t/out" 2>&1 || rc=$?
assert_eq 2 "$rc" "an unknown option is a usage error (exit 2)"
ok "bad command-line options refused"
