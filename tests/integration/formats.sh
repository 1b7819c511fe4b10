#!/usr/bin/env bash
# formats.sh - csv, tsv, jsonl and xlsx read back by independent readers
# (Python's csv and json, openpyxl) and compared with to_jsonb() of the same
# rows: types, NULLs, unicode, CR/LF and tabs in cells, formula-like text,
# numbers beyond 2^53 and 15 digits, dates and timestamps (UTC), cells past
# 32,767 characters (cut, with a warning on the job), more than one sheet.
# The paths: `exportq stream --format`, a queued job (SQL enqueue with format,
# the worker's S3 object, its extension and content type), and the HTTP
# stream chosen by Accept (406 when nothing fits, the kind's formats).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"

T=$(tmpdir)
PY=/usr/bin/python3
CHECK="$EXPORTQ_SOURCE_DIR/tests/integration/formats.py"
http_db_setup eqformats
psql -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || fail "setup failed"
CREATE DOMAIN app.amount2 AS numeric(12,2);
CREATE TABLE app.fmt_rows (
  i int, b bigint, big bigint, f float8, n numeric, nbig numeric, m app.amount2, t text, ok boolean,
  d date, ts timestamp, tz timestamptz, j jsonb, js json, arr int[], u uuid, nul text, empty text);
INSERT INTO app.fmt_rows VALUES
  (1, 42, 9007199254740993, 3.14, -420.81, 1234567890.123456789, 12.5,
   E'=cmd|'' /C calc''!A0\r\nline2\ttab "q" Ünïcödé ☕ 東京 🚀 _x000D_ literal', true, '2024-02-29',
   '2024-01-02 03:04:05.678', '2024-06-01 12:00:00+02', '{"a": [1, 2, {"b": null}]}', '{"x": 1}', '{1,2}',
   '00000000-0000-0000-0000-000000000001', NULL, ''),
  (2, -5, -9007199254740993, 'NaN', 'NaN', 0.5, NULL, repeat('é', 40000) || '🚀', false, '0044-03-15 BC',
   'infinity', '1899-12-31 23:00:00+00', 'null', NULL, NULL, NULL, NULL, NULL),
  (3, 9007199254740992, 0, -1.5e-300, 123456789012345, 0.000123456789012345678, -0.01, '+1,-2;@SUM(A1)',
   NULL, '9999-12-31', '1900-01-01 00:00:00', '2038-01-19 03:14:07.999+00', '[1, "x", {"k": "v"}]',
   '[]', '{}', NULL, '-', E'\t lead tab'),
  (4, 0, 1, 1e300, -1e-7, 12345678901234567890, 0, E'a\nb\rc', true, NULL, NULL, NULL, '"str"', 'true',
   NULL, NULL, '  spaced  ', '@');
CREATE FUNCTION app.fmt_types(params jsonb) RETURNS SETOF app.fmt_rows
  LANGUAGE sql STABLE AS 'SELECT * FROM app.fmt_rows ORDER BY i';
SELECT exportq.define_kind('fmt_types', 'app.fmt_types', 'types.csv');
SELECT exportq.define_kind('fmt_guarded', 'app.fmt_types', 'types.csv', '{"formula_guard": true, "bom": true}');
SELECT exportq.define_kind('fmt_only', 'app.fmt_types', 'only.csv', '{"format": "xlsx", "formats": ["jsonl", "xlsx"]}');
CREATE FUNCTION app.fmt_many(params jsonb) RETURNS TABLE (n int)
  LANGUAGE sql STABLE AS 'SELECT g FROM generate_series(1, (params->>''rows'')::int) g';
SELECT exportq.define_kind('fmt_many', 'app.fmt_many');
SQL
psql -XAtq -c "SELECT to_jsonb(t.*) FROM app.fmt_types('{}') t" >"$T/ref.jsonl"
psql -XAtq -c "SELECT to_jsonb(r.*) FROM (SELECT i::text AS i, b::text AS b, big::text AS big, f::text AS f,
  n::text AS n, nbig::text AS nbig, m::text AS m, t, CASE ok WHEN true THEN 't' WHEN false THEN 'f' END AS ok, d::text AS d, ts::text AS ts, tz::text AS tz,
  j::text AS j, js::text AS js, arr::text AS arr, u::text AS u, nul, empty FROM app.fmt_types('{}')) r" >"$T/ref_text.jsonl"
psql -XAtq -c "SELECT json_object_agg(attname, format_type(atttypid, NULL) ORDER BY attnum) FROM pg_attribute
  WHERE attrelid = 'app.fmt_rows'::regclass AND attnum > 0 AND NOT attisdropped" \
  | sed 's/"app.amount2"/"numeric"/' >"$T/types.json"
ok "database ready: 4 rows of 18 types"

# 1. exportq stream --format: every format read back
for f in csv tsv jsonl xlsx; do
  "$EXPORTQ_BIN" stream fmt_types --format "$f" -o "$T/s.$f" 2>"$T/err.log" || fail "stream $f: $(cat "$T/err.log")"
  ref="$T/ref.jsonl"; case $f in csv|tsv) ref="$T/ref_text.jsonl";; esac
  $PY "$CHECK" "$ref" "$T/types.json" "$f" "$T/s.$f" || fail "$f does not read back to to_jsonb()"
done
grep -q "1 cell longer than Excel's 32,767 characters was cut" "$T/err.log" || fail "no warning for the cut cell"
ok "csv, tsv, jsonl, xlsx from exportq stream match to_jsonb() (types, NULLs, unicode, CR/LF, 2^53, 15 digits, dates)"
for f in csv tsv; do
  "$EXPORTQ_BIN" stream fmt_guarded --format "$f" -o "$T/g.$f" 2>"$T/err.log" || fail "stream guarded $f"
  head -c 3 "$T/g.$f" | od -An -tx1 | grep -q "ef bb bf" || fail "$f: no BOM"
  $PY "$CHECK" "$T/ref_text.jsonl" "$T/types.json" "$f" "$T/g.$f" guard || fail "guarded $f"
done
grep -q ',-420.81,' "$T/g.csv" || fail "-420.81 is a number, not a formula"
"$EXPORTQ_BIN" stream fmt_guarded --format jsonl -o "$T/g.jsonl" 2>/dev/null || fail "guarded jsonl"
$PY "$CHECK" "$T/ref.jsonl" "$T/types.json" jsonl "$T/g.jsonl" || fail "guard/BOM must not touch jsonl"
"$EXPORTQ_BIN" stream fmt_guarded --format xlsx -o "$T/g.xlsx" 2>/dev/null || fail "guarded xlsx"
$PY "$CHECK" "$T/ref.jsonl" "$T/types.json" xlsx "$T/g.xlsx" || fail "xlsx text stays exact (no guard prefix)"
ok "formula guard and BOM on csv/tsv only (plain numbers left alone); jsonl and xlsx exact"

# 2. more than one sheet: 1,048,575 data rows fill Sheet1, the rest go on
"$EXPORTQ_BIN" stream fmt_many --param rows=1048577 --format xlsx -o "$T/many.xlsx" 2>"$T/err.log" \
  || fail "many rows: $(cat "$T/err.log")"
$PY - "$T/many.xlsx" <<'PY' || fail "sheets"
import openpyxl, sys
wb = openpyxl.load_workbook(sys.argv[1], read_only=True)
assert wb.sheetnames == ["Sheet1", "Sheet2"], wb.sheetnames
s1, s2 = wb.worksheets
assert s1.max_row == 1048576, s1.max_row
head = next(s1.iter_rows(max_row=1))
assert head[0].value == "n" and head[0].font.b
rows = [[c.value for c in r] for r in s2.iter_rows()]
assert rows == [["n"], [1048576], [1048577]], rows
assert next(s2.iter_rows(max_row=1))[0].font.b
PY
ok "1,048,577 rows: Sheet1 full (header + 1,048,575), Sheet2 with its own bold header and the last 2"

# 3. a queued job: SQL enqueue with format, the worker's object
set +e
psql -XAtq -c "SELECT exportq.enqueue('fmt_only', '{}', NULL, 'u1', 0, NULL, 'csv')" 2>"$T/err.log"
rc=$?
set -e
[ "$rc" != 0 ] || fail "a format the kind does not offer is accepted"
assert_contains "$(cat "$T/err.log")" "does not offer format csv" "the refusal names the format"
id_old=$(psql_q "SELECT exportq.enqueue('fmt_types', '{}', NULL, 'u1')")   # the 6-argument call still resolves
id_x=$(psql_q "SELECT exportq.enqueue('fmt_types', '{}', NULL, 'u1', 0, NULL, 'xlsx')")
id_def=$(psql_q "SELECT exportq.enqueue('fmt_only', '{}', NULL, 'u1')")
id_cli=$("$EXPORTQ_BIN" enqueue fmt_types --owner u1 --format jsonl)
assert_eq "csv xlsx xlsx jsonl" "$(psql_q "SELECT string_agg(format, ' ' ORDER BY id) FROM exportq.jobs
  WHERE id IN ($id_old, $id_x, $id_def, $id_cli)")" "formats resolved at enqueue (NULL = the kind's default)"
worker_log="$T/worker.log"
"$EXPORTQ_BIN" worker --drain >"$worker_log" 2>&1 || fail "worker: $(tail -5 "$worker_log")"
for id in $id_x $id_def $id_cli $id_old; do
  assert_eq succeeded "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id")" "job $id"
done
key_x=$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id_x")
case "$key_x" in */types.xlsx) ;; *) fail "xlsx object key $key_x does not end in types.xlsx";; esac
case "$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id_cli")" in */types.jsonl) ;; *) fail "jsonl key";; esac
case "$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id_def")" in */only.xlsx) ;; *) fail "default format key";; esac
s3_get_file "$key_x" "$T/job.xlsx"
$PY "$CHECK" "$T/ref.jsonl" "$T/types.json" xlsx "$T/job.xlsx" || fail "the worker's xlsx"
s3_get_file "$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id_cli")" "$T/job.jsonl"
$PY "$CHECK" "$T/ref.jsonl" "$T/types.json" jsonl "$T/job.jsonl" || fail "the worker's jsonl"
ctype=$(s3_curl HEAD "/$EXPORTQ_S3_BUCKET/$key_x" -I | grep -i '^content-type:' | tr -d '\r')
assert_contains "$ctype" "spreadsheetml.sheet" "the xlsx object's Content-Type"
assert_contains "$(psql_q "SELECT warning FROM exportq.jobs WHERE id = $id_x")" "was cut there" "the warning on the job"
"$EXPORTQ_BIN" status "$id_x" --json | jq -e '.format == "xlsx" and (.warning | test("32,767"))' >/dev/null \
  || fail "status --json shows format and warning"
ok "jobs: SQL/CLI format, kind default and restriction, worker objects named .xlsx/.jsonl with their type, warning"

# 3b. a queued job of a gzip + BOM + guard kind: the object's name, its
# Content-Type (application/gzip, no Content-Encoding), and its bytes once decompressed equal the
# stream's (BOM first, guard applied); jsonl gzipped without a BOM; xlsx never gzipped
psql -XAtq -v ON_ERROR_STOP=1 >/dev/null -c "SELECT exportq.define_kind('fmt_gz', 'app.fmt_types', 'types.csv',
  '{\"gzip\": true, \"bom\": true, \"formula_guard\": true}')" || fail "define fmt_gz"
declare -A gz_id
for f in csv tsv jsonl xlsx; do
  gz_id[$f]=$(psql_q "SELECT exportq.enqueue('fmt_gz', '{}', NULL, 'u1', 0, NULL, '$f')")
done
"$EXPORTQ_BIN" worker --drain >"$worker_log" 2>&1 || fail "worker (gzip kind): $(tail -5 "$worker_log")"
for f in csv tsv jsonl xlsx; do
  id=${gz_id[$f]}
  assert_eq succeeded "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id")" "gzip kind job ($f)"
  key=$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id")
  want_name="types.$f.gz"; [ "$f" = xlsx ] && want_name=types.xlsx
  case "$key" in */"$want_name") ;; *) fail "gzip kind $f: object key $key does not end in $want_name";; esac
  hdrs=$(s3_curl HEAD "/$EXPORTQ_S3_BUCKET/$key" -I | tr -d '\r')
  enc=$(printf '%s\n' "$hdrs" | grep -i '^content-encoding:' | sed 's/^[^:]*: *//' || true)
  ctype=$(printf '%s\n' "$hdrs" | grep -i '^content-type:' | sed 's/^[^:]*: *//')
  s3_get_file "$key" "$T/gz.$f"
  case $f in
    xlsx)
      [ -z "$enc" ] || fail "xlsx object must not carry Content-Encoding ($enc)"
      assert_contains "$ctype" "spreadsheetml.sheet" "xlsx Content-Type"
      $PY "$CHECK" "$T/ref.jsonl" "$T/types.json" xlsx "$T/gz.xlsx" || fail "gzip kind xlsx"
      continue ;;
    *) ;;
  esac
  # a .gz file to download: application/gzip and no Content-Encoding, so a
  # browser saves the compressed bytes under the .gz name it shows
  assert_contains "$ctype" "application/gzip" "gzip kind $f: Content-Type of a .gz file"
  assert_eq "" "$enc" "gzip kind $f: no Content-Encoding (a browser would decompress it under a .gz name)"
  gzip -t "$T/gz.$f" || fail "gzip kind $f: not a complete gzip stream"
  gzip -dc "$T/gz.$f" >"$T/gz.$f.plain"
  case $f in
    jsonl)
      [ "$(head -c 3 "$T/gz.$f.plain" | od -An -tx1 | tr -d ' ')" != efbbbf ] || fail "jsonl must not get a BOM"
      $PY "$CHECK" "$T/ref.jsonl" "$T/types.json" jsonl "$T/gz.$f.plain" || fail "gzip kind jsonl" ;;
    *)
      "$EXPORTQ_BIN" stream fmt_guarded --format "$f" -o "$T/gz.$f.ref" 2>/dev/null || fail "reference stream $f"
      cmp "$T/gz.$f.plain" "$T/gz.$f.ref" || fail "gzip kind $f: decompressed object differs from the stream"
      head -c 3 "$T/gz.$f.plain" | od -An -tx1 | grep -q "ef bb bf" || fail "gzip kind $f: no BOM" ;;
  esac
done
ok "queued jobs of a gzip+BOM+guard kind: types.csv.gz/.tsv.gz/.jsonl.gz as application/gzip, decompressed bytes equal to the stream; xlsx not gzipped"

# 4. the HTTP stream: Accept with q-values, the kind's formats, 406
TU1=$(token_for u1)
serve_start
get() {  # get ACCEPT PATH OUT: status; headers in OUT.hdrs
  curl -sS --max-time 120 -H "Authorization: Bearer $TU1" ${1:+-H "Accept: $1"} -D "$3.hdrs" -o "$3" \
    -w '%{http_code}' "$URL$2"
}
hv() { grep -i "^$1:" "$2.hdrs" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'; }
assert_eq 200 "$(get "" /v1/stream/fmt_types "$T/h.csv")" "no Accept"
assert_contains "$(hv content-type "$T/h.csv")" "text/csv" "no Accept: csv"
$PY "$CHECK" "$T/ref_text.jsonl" "$T/types.json" csv "$T/h.csv" || fail "http csv"
assert_eq 200 "$(get "text/tab-separated-values" /v1/stream/fmt_types "$T/h.tsv")" "tsv"
$PY "$CHECK" "$T/ref_text.jsonl" "$T/types.json" tsv "$T/h.tsv" || fail "http tsv"
assert_eq 200 "$(get "text/csv;q=0.5, application/x-ndjson;q=0.9" /v1/stream/fmt_types "$T/h.jsonl")" "q-values"
assert_contains "$(hv content-type "$T/h.jsonl")" "application/x-ndjson" "q decides: jsonl"
$PY "$CHECK" "$T/ref.jsonl" "$T/types.json" jsonl "$T/h.jsonl" || fail "http jsonl"
assert_eq 200 "$(get "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" /v1/stream/fmt_types "$T/h.xlsx")" "xlsx"
assert_contains "$(hv content-disposition "$T/h.xlsx")" 'types.xlsx' "the file name follows the format"
$PY "$CHECK" "$T/ref.jsonl" "$T/types.json" xlsx "$T/h.xlsx" || fail "http xlsx"
assert_eq 200 "$(curl -sS -H "Authorization: Bearer $TU1" -H 'Accept-Encoding: gzip' -H 'Accept: */*' \
  -D "$T/hz.hdrs" -o "$T/hz" -w '%{http_code}' "$URL/v1/stream/fmt_only")" "*/* on a restricted kind"
assert_contains "$(hv content-type "$T/hz")" "spreadsheetml.sheet" "*/*: the kind's default"
[ -z "$(hv content-encoding "$T/hz")" ] || fail "xlsx must not be gzipped"
assert_eq 406 "$(get "text/csv" /v1/stream/fmt_only "$T/h406")" "csv from a kind without csv"
assert_eq not_acceptable "$(jq -r .error.code "$T/h406")" "406 body"
assert_eq 406 "$(get "text/html" /v1/stream/fmt_types "$T/h406b")" "text/html"
req POST /v1/exports "$TU1" -H 'Content-Type: application/json' -d '{"kind": "fmt_types", "format": "tsv"}'
assert_eq 202 "$STATUS" "POST with format: $BODY"
assert_eq tsv "$(echo "$BODY" | jq -r .format)" "the job's format in the API"
req POST /v1/exports "$TU1" -H 'Content-Type: application/json' -d '{"kind": "fmt_only", "format": "csv"}'
assert_eq 400 "$STATUS" "POST with a format the kind does not offer: $BODY"
ok "HTTP: Accept chooses (q-values, */*, default), 406, xlsx never gzipped, POST format"
