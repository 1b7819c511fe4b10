#!/usr/bin/env bash
# stream_memory.sh - `exportq stream` of 1M sample rows keeps a small, constant
# memory: max RSS (from /usr/bin/time -v) is reported for 1M rows (plain and
# guard+gzip) and must stay under a bound that does not depend on the data
# (the export is ~100 MB; the process holds one row plus two 64 KiB buffers).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
if is_sanitized; then
  echo "# SKIP: memory bounds mean nothing under ASan (its quarantine keeps freed rows resident)"
  exit 77
fi

T=$(tmpdir)
use_fresh_db
load_sample_data
psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT exportq.define_kind('activity_gz', 'app.export_user_activity', NULL, '{\"gzip\": true, \"formula_guard\": true, \"bom\": true}')" >/dev/null
assert_eq 1000000 "$(psql_q "SELECT app.seed_activity('m1', 1000000)")" "seeded 1M rows"
psql_q "ANALYZE app.activity" >/dev/null
ok "1M rows seeded"

max_rss_kb() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1"; }

/usr/bin/time -v -o "$T/time_plain.txt" "$EXPORTQ_BIN" stream user_activity --owner m1 -o /dev/null 2>"$T/err.log" \
  || fail "stream 1M rows: $(cat "$T/err.log")"
rss_plain=$(max_rss_kb "$T/time_plain.txt")
assert_contains "$(cat "$T/err.log")" "streamed 1000000 rows" "1M rows streamed"

/usr/bin/time -v -o "$T/time_gz.txt" "$EXPORTQ_BIN" stream activity_gz --owner m1 -o "$T/m1.csv.gz" 2>"$T/err.log" \
  || fail "stream 1M rows gzip: $(cat "$T/err.log")"
rss_gz=$(max_rss_kb "$T/time_gz.txt")
assert_eq 1000001 "$(gzip -dc "$T/m1.csv.gz" | /usr/bin/python3 -c 'import csv,sys,io; print(sum(1 for _ in csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=""))))')" \
  "gzip export holds header + 1M records"

# a small export for comparison: memory must not grow with the data
/usr/bin/time -v -o "$T/time_small.txt" "$EXPORTQ_BIN" stream user_activity --owner nobody -o /dev/null 2>/dev/null
rss_small=$(max_rss_kb "$T/time_small.txt")
echo "# max RSS: empty export ${rss_small} KiB; 1M rows ${rss_plain} KiB; 1M rows guard+gzip+bom ${rss_gz} KiB"
[ "$rss_plain" -lt 32768 ] || fail "1M rows used ${rss_plain} KiB (bound 32 MiB)"
[ "$rss_gz" -lt 32768 ] || fail "1M rows gzip used ${rss_gz} KiB (bound 32 MiB)"
[ "$rss_plain" -lt $((rss_small + 8192)) ] || fail "memory grew with the data: ${rss_small} -> ${rss_plain} KiB"
ok "constant memory: ${rss_plain} KiB (plain), ${rss_gz} KiB (guard+gzip) for 1M rows vs ${rss_small} KiB empty"
