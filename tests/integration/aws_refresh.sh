#!/usr/bin/env bash
# Temporary credentials renewed during a long export, against radosgw with STS.
# The container endpoint hands out real radosgw sessions (GetSessionToken) but
# claims they expire 20 s later, so the worker renews them about every 9 s
# while a ~20 s export uploads its parts. A recording proxy between the worker
# and radosgw sees every request: all carry X-Amz-Security-Token, they are
# signed with more than one session (the later parts with the renewed one),
# radosgw accepts every one, and the export completes with all its rows.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/harness/aws_lib.sh"
use_fresh_db
aws_up
t=$(tmpdir)
export EXPORTQ_S3_PREFIX="it-aws-refresh-$$-$(date +%s)/" EXPORTQ_MAX_ATTEMPTS=1 EXPORTQ_POLL_SECONDS=1
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=2
define_slow_kind
creds_serve container 20
s3rec_start "127.0.0.1:$S3AWS_HTTP_PORT"

# 140,000 rows of ~200 bytes (~28 MB: 5+ parts), a 3 s pause every 20,000 rows
id=$("$EXPORTQ_BIN" enqueue slow --param rows=140000 --param pause=3)
CHAIN_ENDPOINT=$S3REC_URL chain env AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$CREDS_PORT/creds" \
  "$EXPORTQ_BIN" worker --drain >"$t/worker.log" 2>&1 || { cat "$t/worker.log" >&2; fail "the worker exited non-zero"; }
state=$(psql_q "SELECT state FROM exportq.status($id)")
[ "$state" = succeeded ] || { cat "$t/worker.log" >&2; fail "job $id: $state ($(psql_q "SELECT last_error FROM exportq.status($id)"))"; }
assert_eq 140000 "$(psql_q "SELECT rows FROM exportq.status($id)")" "all rows exported"

served=$(creds_count '"served" in e')
[ "$served" -ge 2 ] || fail "the credentials were fetched $served time(s): no renewal during the export"
grep -q "AWS credentials refreshed from container" "$t/worker.log" || fail "no renewal in the worker log"

report=$(/usr/bin/python3 - "$S3REC_LOG" "$CREDS_LOG" <<'EOF'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
served = [json.loads(l)["served"] for l in open(sys.argv[2]) if "served" in json.loads(l)]
parts = [r for r in reqs if r["method"] == "PUT"]
keys = [r["key"] for r in reqs]
bad = [r for r in reqs if not r["token"] or r["key"] not in served or r["status"] >= 300]
# the session in use at the end is a renewed one, not the first
print(len(reqs), len(parts), len(set(keys)), len(bad), int(keys[-1] != served[0]))
EOF
)
read -r nreq nput nkeys nbad renewed_last <<<"$report"
[ "$nput" -ge 3 ] || fail "only $nput PUT requests: the export was too small to span the renewal"
assert_eq 0 "$nbad" "requests without the session token, with unknown keys, or refused (of $nreq)"
[ "$nkeys" -ge 2 ] || fail "all $nreq requests were signed with one session: the renewed credentials were not used"
assert_eq 1 "$renewed_last" "the last requests are signed with a renewed session"
case "$(cat "$t/worker.log")" in *SecretAccessKey* | *X-Amz-Security-Token=*) fail "a credential reached the log" ;; esac
ok "long export: $served credential fetches, $nreq requests signed with $nkeys sessions, all with their token, all accepted"
