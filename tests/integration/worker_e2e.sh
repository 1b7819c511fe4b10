#!/usr/bin/env bash
# The async flow end to end against the real servers: enqueue by SQL and by the
# CLI -> `exportq worker --drain` -> the object in S3 is byte-equal to psql's COPY
# of the same kind and params -> the email arrives with a link that plain curl
# downloads to the same bytes. Also: values with quotes, commas, newlines,
# unicode, NULLs and formula prefixes survive (guard on: as Excel should read
# them), and no multipart upload is left behind.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-e2e-$$-$(date +%s)/"
export EXPORTQ_PART_SIZE=5242880 EXPORTQ_UPLOAD_CONCURRENCY=3
t=$(tmpdir)

load_sample_data
psql_q "SELECT app.seed_activity('alice', 150000)" >/dev/null  # ~ 12 MB: multipart
psql_q "SELECT app.seed_activity('bob', 50)" >/dev/null         # one small PutObject
# A kind without the formula guard, so the object must equal psql's COPY byte for byte.
psql_q "SELECT exportq.define_kind('activity_raw', 'app.export_user_activity', 'raw.csv', '{}')" >/dev/null
# Hostile values in a table of their own, exported with the guard on.
psql_q "CREATE TABLE app.tricky(id int, v text);
        INSERT INTO app.tricky VALUES (1, 'plain'), (2, 'comma, here'), (3, 'quote \"q\"'),
          (4, E'new\nline'), (5, 'ünïcødé ✓'), (6, NULL), (7, '=HYPERLINK(\"x\")'), (8, '+1'),
          (9, '-2'), (10, '@SUM(A1)'), (11, E'\tTab'), (12, E'\rCR'), (13, '');
        CREATE FUNCTION app.export_tricky(params jsonb) RETURNS SETOF app.tricky
          LANGUAGE sql STABLE AS 'SELECT * FROM app.tricky ORDER BY id';
        SELECT exportq.define_kind('tricky', 'app.export_tricky', 'tricky.csv', '{\"formula_guard\": true}')" >/dev/null

alice_mail="alice-$$@example.test"; bob_mail="bob-$$@example.test"; tricky_mail="tricky-$$@example.test"
id_sql=$(psql_q "SELECT exportq.enqueue('activity_raw', '{}', '$alice_mail', 'alice')")
id_cli=$("$EXPORTQ_BIN" enqueue activity_raw --owner bob --email "$bob_mail")
id_tricky=$("$EXPORTQ_BIN" enqueue tricky --email "$tricky_mail")
ok "enqueued $id_sql (SQL), $id_cli and $id_tricky (CLI)"
assert_eq queued "$(psql_q "SELECT state FROM exportq.status($id_cli)")" "queued before the worker runs"
assert_eq 2 "$(psql_q "SELECT position FROM exportq.status($id_cli)")" "position of the second job"

"$EXPORTQ_BIN" worker --drain --concurrency 2 2> "$t/worker.log" || { cat "$t/worker.log" >&2; fail "worker exited non-zero"; }
for id in $id_sql $id_cli $id_tricky; do
  assert_eq succeeded "$(psql_q "SELECT state FROM exportq.status($id)")" "job $id succeeded"
done

check_job() { # id owner mail expected-file
  local id=$1 owner=$2 addr=$3 want=$4 key eml url
  key=$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id")
  assert_contains "$key" "${EXPORTQ_S3_PREFIX}${owner}/$id-" "object key of job $id"
  s3_get_file "$key" "$t/obj-$id.csv"
  assert_eq "$(sha256_of "$want")" "$(sha256_of "$t/obj-$id.csv")" "object of job $id equals the expected CSV"
  assert_eq "$(psql_q "SELECT bytes FROM exportq.status($id)")" "$(stat -c %s "$want")" "bytes recorded on job $id"
  wait_for "[ -n \"\$(mail_for $addr)\" ]" 30 || fail "no mail for job $id"
  eml=$(mail_for "$addr")
  url=$(mail_link "$eml")
  assert_contains "$url" "X-Amz-Signature=" "job $id: the mail carries a presigned link"
  curl -sSf -o "$t/dl-$id.csv" -D "$t/dl-$id.hdr" "$url" || fail "job $id: download of the link failed"
  assert_eq "$(sha256_of "$want")" "$(sha256_of "$t/dl-$id.csv")" "job $id: the link downloads the same bytes"
  grep -qi '^content-disposition: attachment' "$t/dl-$id.hdr" || fail "job $id: no Content-Disposition"
  ok "job $id: object, mail and download all equal ($(stat -c %s "$want") bytes)"
}

psql -XAq -c "COPY (SELECT * FROM app.export_user_activity('{\"owner\":\"alice\"}'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)" > "$t/alice.csv"
psql -XAq -c "COPY (SELECT * FROM app.export_user_activity('{\"owner\":\"bob\"}'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)" > "$t/bob.csv"
assert_eq 150000 "$(psql_q "SELECT rows FROM exportq.status($id_sql)")" "rows recorded on job $id_sql"
check_job "$id_sql" alice "$alice_mail" "$t/alice.csv"
check_job "$id_cli" bob "$bob_mail" "$t/bob.csv"

# The guarded export, read back as a CSV reader (Excel-like) would read it.
cat > "$t/tricky.expected" <<'CSV'
id,v
1,plain
2,"comma, here"
3,"quote ""q"""
4,"new
line"
5,ünïcødé ✓
6,
7,"'=HYPERLINK(""x"")"
8,+1
9,-2
10,'@SUM(A1)
11,'	Tab
12,"'CR"
13,""
CSV
# row 12 is a CR-led cell: PostgreSQL quotes it, the guard puts ' inside the quotes
printf 'id,v\r\n' > /dev/null
/usr/bin/python3 - "$t/tricky.expected" <<'PY'
import sys
p = sys.argv[1]
s = open(p, encoding='utf-8').read().replace('"\'CR"', '"\'\rCR"')
open(p, 'w', encoding='utf-8', newline='').write(s)
PY
check_job "$id_tricky" _ "$tricky_mail" "$t/tricky.expected"
/usr/bin/python3 - "$t/obj-$id_tricky.csv" <<'PY' || fail "the guarded CSV does not parse back to the values"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding='utf-8', newline='')))
vals = {r[0]: r[1] for r in rows[1:]}
assert vals['2'] == 'comma, here' and vals['3'] == 'quote "q"' and vals['4'] == 'new\nline', vals
assert vals['5'] == 'ünïcødé ✓' and vals['6'] == '' and vals['7'] == "'=HYPERLINK(\"x\")", vals
assert all(vals[k].startswith("'") for k in ('7', '10', '11', '12')), vals
assert vals['8'] == '+1' and vals['9'] == '-2', vals  # plain numbers stay numbers
PY
ok "quotes, commas, newlines, unicode, NULLs and formula prefixes read back as intended"

assert_no_uploads "$EXPORTQ_S3_PREFIX" "no multipart upload left behind"
ok "no multipart upload left under $EXPORTQ_S3_PREFIX"
grep -q "X-Amz-Signature\|$AWS_SECRET_ACCESS_KEY\|smtp-secret" "$t/worker.log" && fail "a secret reached the worker log"
ok "no secret in the worker log"
