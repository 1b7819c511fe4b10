#!/usr/bin/env bash
# stream_export.sh - `exportq stream` against the real PostgreSQL: its bytes
# equal psql's COPY output, the formula guard equals a reference computed by
# PostgreSQL itself, parameters stay data, errors exit 1 with PostgreSQL's
# message and never leave a (partial) file behind.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"

T=$(tmpdir)
use_fresh_db
load_sample_data
psql -XAtq -v ON_ERROR_STOP=1 -f "$EXPORTQ_SOURCE_DIR/scripts/seed-test.sql" >/dev/null \
  || fail "scripts/seed-test.sql failed"
assert_eq 20000 "$(psql_q "SELECT app.seed_activity('u1', 20000)")" "seeded rows"
ok "database $PGDATABASE ready"

copy_ref() {  # copy_ref PARAMS_JSON [HEADER true|false]: what psql's COPY gives
  psql -XAtq -v ON_ERROR_STOP=1 -c \
    "COPY (SELECT * FROM app.export_user_activity('$1'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER ${2:-true})"
}
# The guard's expected output, computed independently: PostgreSQL's own CSV
# writer over every column with ' prepended where the value starts with a
# trigger character (PostgreSQL quotes exactly the same values either way).
guard_ref() {
  # a signed plain number (-420.81) is a number, not a formula: left alone
  local g="CASE WHEN v ~ '^[-=+@\t\r]' AND NOT (length(v) <= 64 AND v ~ '^[-+]([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\$') THEN '''' || v ELSE v END"
  psql -XAtq -v ON_ERROR_STOP=1 -c "COPY (SELECT
      (SELECT $g FROM (SELECT id::text) s(v)) AS id, (SELECT $g FROM (SELECT updated::text) s(v)) AS updated,
      (SELECT $g FROM (SELECT event) s(v)) AS event, (SELECT $g FROM (SELECT title) s(v)) AS title,
      (SELECT $g FROM (SELECT amount::text) s(v)) AS amount, (SELECT $g FROM (SELECT tags) s(v)) AS tags,
      (SELECT $g FROM (SELECT ip) s(v)) AS ip
    FROM app.export_user_activity('$1'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)"
}

# 1. guard off: byte-equal to psql's COPY, to a file and to stdout
for owner in tricky u1; do
  copy_ref "{\"owner\":\"$owner\"}" >"$T/ref_$owner.csv"
  "$EXPORTQ_BIN" stream user_activity_raw --owner "$owner" -o "$T/out_$owner.csv" 2>"$T/err.log" \
    || fail "stream $owner: $(cat "$T/err.log")"
  assert_eq "$(sha256_of "$T/ref_$owner.csv")" "$(sha256_of "$T/out_$owner.csv")" "raw export of $owner = psql COPY"
  "$EXPORTQ_BIN" stream user_activity_raw --owner "$owner" >"$T/stdout_$owner.csv" 2>"$T/err.log" \
    || fail "stream to stdout: $(cat "$T/err.log")"
  assert_eq "$(sha256_of "$T/ref_$owner.csv")" "$(sha256_of "$T/stdout_$owner.csv")" "stdout export of $owner"
done
assert_eq 20001 "$(/usr/bin/python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$T/out_u1.csv")" \
  "u1 export: header + 20000 records"
assert_eq 21 "$(/usr/bin/python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$T/out_tricky.csv")" \
  "tricky export: header + 20 records"
grep -q '"she said ""hi"""' "$T/out_tricky.csv" || fail "embedded quotes are doubled"
grep -q 'Ünïcödé ☕ 東京 🚀' "$T/out_tricky.csv" || fail "unicode kept"
ok "guard off: byte-equal to psql COPY (tricky values and 20000 rows), file and stdout"

# 2. guard on (the sample kind): equal to the reference transformation
for owner in tricky u1; do
  guard_ref "{\"owner\":\"$owner\"}" >"$T/gref_$owner.csv"
  "$EXPORTQ_BIN" stream user_activity --owner "$owner" -o "$T/g_$owner.csv" 2>"$T/err.log" \
    || fail "guarded stream $owner: $(cat "$T/err.log")"
  assert_eq "$(sha256_of "$T/gref_$owner.csv")" "$(sha256_of "$T/g_$owner.csv")" "guarded export of $owner = reference"
done
grep -q "^[0-9]*,[^,]*,comment,'=1+2," "$T/g_tricky.csv" || fail "unquoted =1+2 is guarded"
grep -q "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" "$T/g_tricky.csv" || fail "quoted formula is guarded inside the quotes"
grep -q ",a=b\\, not a formula\\|\"a=b, not a formula\"" "$T/g_tricky.csv" || fail "a mid-cell = is left alone"
cmp -s "$T/g_tricky.csv" "$T/ref_tricky.csv" && fail "the guard changed nothing"
ok "guard on: equal to PostgreSQL-computed reference"

# 3. parameters are data
before=$(psql_q "SELECT count(*) FROM app.activity")
inj="x'); DROP TABLE app.activity; --"
"$EXPORTQ_BIN" stream user_activity_raw --owner u1 --param "event=$inj" -o "$T/inj.csv" 2>"$T/err.log" \
  || fail "injection as event: $(cat "$T/err.log")"
assert_eq "id,updated,event,title,amount,tags,ip" "$(cat "$T/inj.csv")" "event=<sql> matches nothing: header only"
"$EXPORTQ_BIN" stream user_activity_raw --owner tricky --param "event=$inj" -o "$T/inj2.csv" 2>"$T/err.log" \
  || fail "injection as event (tricky): $(cat "$T/err.log")"
assert_eq 2 "$(wc -l <"$T/inj2.csv")" "the one event literally named like the SQL matches"
"$EXPORTQ_BIN" stream user_activity_raw --owner "$inj" -o "$T/inj3.csv" 2>"$T/err.log" || fail "injection as owner"
assert_eq 1 "$(wc -l <"$T/inj3.csv")" "owner=<sql>: header only"
set +e
"$EXPORTQ_BIN" stream user_activity_raw --owner u1 --param "since=$inj" -o "$T/inj4.csv" 2>"$T/err.log"
rc=$?
set -e
assert_eq 1 "$rc" "since=<sql> is a bad timestamp: exit 1"
assert_contains "$(cat "$T/err.log")" "invalid input syntax for type timestamp with time zone" "PostgreSQL's message"
[ ! -e "$T/inj4.csv" ] || fail "no file after a failed export"
assert_eq "$before" "$(psql_q "SELECT count(*) FROM app.activity")" "app.activity untouched"
"$EXPORTQ_BIN" stream user_activity_raw --owner u1 --param owner=tricky -o "$T/own.csv" 2>/dev/null
assert_eq "$(sha256_of "$T/ref_u1.csv")" "$(sha256_of "$T/own.csv")" "--owner wins over --param owner"
ok "parameters carrying SQL stay data"

# 4. filters, header option
"$EXPORTQ_BIN" stream user_activity_raw --owner u1 --param since=2024-12-31T00:00:00Z --param event=login -o "$T/f.csv"
copy_ref '{"owner":"u1","since":"2024-12-31T00:00:00Z","event":"login"}' >"$T/fref.csv"
assert_eq "$(sha256_of "$T/fref.csv")" "$(sha256_of "$T/f.csv")" "since/event filters"
[ "$(wc -l <"$T/f.csv")" -gt 10 ] || fail "the filter keeps some rows"
"$EXPORTQ_BIN" stream user_activity_noheader --owner tricky -o "$T/nh.csv"
copy_ref '{"owner":"tricky"}' false >"$T/nhref.csv"
assert_eq "$(sha256_of "$T/nhref.csv")" "$(sha256_of "$T/nh.csv")" "header false"
ok "since/event filters and header=false"

# 5. gzip + BOM: decompresses to BOM + the same bytes
"$EXPORTQ_BIN" stream user_activity_gz --owner u1 -o "$T/u1.csv.gz"
[ "$(head -c 2 "$T/u1.csv.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "gzip magic"
{ printf '\xef\xbb\xbf'; cat "$T/ref_u1.csv"; } >"$T/bomref.csv"
gzip -dc "$T/u1.csv.gz" >"$T/u1.gunzip.csv" || fail "gzip -t"
assert_eq "$(sha256_of "$T/bomref.csv")" "$(sha256_of "$T/u1.gunzip.csv")" "gunzip = BOM + COPY bytes"
ok "gzip + bom"

# 6. errors: exit codes, messages, no partial file, an existing file kept
set +e
"$EXPORTQ_BIN" stream nope -o "$T/nope.csv" 2>"$T/err.log"; rc=$?
set -e
assert_eq 1 "$rc" "unknown kind exits 1"
assert_contains "$(cat "$T/err.log")" "unknown export kind 'nope'" "unknown kind message"
set +e
"$EXPORTQ_BIN" stream "bad kind;" 2>"$T/err.log"; rc=$?
set -e
assert_eq 2 "$rc" "malformed kind name is a usage error"
echo "previous export" >"$T/keep.csv"
set +e
"$EXPORTQ_BIN" stream fail_midway -o "$T/keep.csv" 2>"$T/err.log"; rc=$?
set -e
assert_eq 1 "$rc" "failing function exits 1"
assert_contains "$(cat "$T/err.log")" "division by zero" "PostgreSQL's error message"
assert_eq "previous export" "$(cat "$T/keep.csv")" "the existing file is untouched"
[ -z "$(find "$T" -name '*.tmp.*')" ] || fail "temporary file left behind: $(find "$T" -name '*.tmp.*')"
set +e
"$EXPORTQ_BIN" stream fail_midway >"$T/stdout_fail.csv" 2>"$T/err.log"; rc=$?
set -e
assert_eq 1 "$rc" "failing function to stdout exits 1"
ok "errors: exit 1 with PostgreSQL's message, no partial file"

# 7. SIGTERM mid-export: exit 1, no file, the query is gone from the server
psql_q "SELECT app.seed_activity('big', 300000)" >/dev/null
"$EXPORTQ_BIN" stream user_activity --owner big -o "$T/sig.csv" 2>"$T/sig.log" &
pid=$!
wait_for "[ -n \"\$(find '$T' -name 'sig.csv.tmp.*' -size +100k)\" ]" 30 || fail "stream did not start writing"
kill -TERM "$pid"
set +e
wait "$pid"; rc=$?
set -e
assert_eq 1 "$rc" "SIGTERM: exit 1"
[ ! -e "$T/sig.csv" ] && [ -z "$(find "$T" -name 'sig.csv.tmp.*')" ] || fail "file left after SIGTERM"
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'exportq-stream'\")\" = 0 ]" 10 \
  || fail "an exportq-stream backend is left after SIGTERM"
ok "SIGTERM: query cancelled, no file"

# -o onto something that is not a regular file (a FIFO here; /dev/null in real
# use) is written in place: never replaced by a renamed temporary file.
mkfifo "$T/fifo"
cat "$T/fifo" > "$T/from_fifo.csv" &
reader=$!
"$EXPORTQ_BIN" stream user_activity_raw --owner u1 -o "$T/fifo" || { kill $reader; fail "stream into a FIFO failed"; }
[ -p "$T/fifo" ] || { kill $reader; fail "-o replaced the FIFO with a regular file"; }
wait $reader
assert_eq "$(sha256_of "$T/ref_u1.csv")" "$(sha256_of "$T/from_fifo.csv")" "a FIFO reader gets the same bytes"
ok "-o onto a FIFO/device writes in place"
