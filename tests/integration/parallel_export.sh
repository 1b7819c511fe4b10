#!/usr/bin/env bash
# Parallel export (issue 16, DESIGN.md "Parallel export"): a kind with a split
# function runs as several ranges on several connections sharing one snapshot,
# stitched into ONE S3 object. What a user checks:
#   1. the object is byte-equal to the serial psql COPY: ranges whose last
#      parts are under 5 MiB (joined to the next range's head), an empty range,
#      one range bigger than all the others together, everything under one part
#      (one PutObject), more ranges than connections;
#   2. gzip (equal after gunzip), the BOM once, the formula guard in every range:
#      equal to the serial export (EXPORTQ_EXPORT_PARALLEL=1) of the same kind;
#   3. consistency: rows moved between ranges by an UPDATE committed after the
#      snapshot was taken (while the split function runs) appear exactly once,
#      as in the snapshot;
#   4. a split function cannot change the owner;
#   5. a failed range, a cancel and a kill -9 mid-export leave no multipart
#      upload behind (after a kill -9: once the job is rescued).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-par-$$-$(date +%s)/"
export EXPORTQ_LEASE_SECONDS=5 EXPORTQ_POLL_SECONDS=1 EXPORTQ_LOG_LEVEL=debug
unset EXPORTQ_SMTP_URL EXPORTQ_SMTP_FROM
t=$(tmpdir)

# app.pt: s (the sort key) and ~1000-byte values; every 7th value looks like a
# formula, some hold quotes, commas and newlines.
# app.pt_rows(params): rows of the owner (when given) with from <= s < before,
# ordered by s; `pause` seconds of pg_sleep before the row s = params.pause_at.
# app.pt_split(params, n): the ranges named by params.cuts "a,b,c":
# (-inf,a) [a,b) [b,c) [c,inf); params.split_pause: seconds of sleep first;
# params.evil: every range also sets owner = 'evil'.
psql_q "CREATE SCHEMA app;
  CREATE TABLE app.pt (id int PRIMARY KEY, s int NOT NULL, owner text NOT NULL, v text);
  CREATE INDEX ON app.pt (s);
  INSERT INTO app.pt
    SELECT i, i * 10, 'u1',
           CASE WHEN i % 7 = 0 THEN '=HYPERLINK(\"x\")' || repeat(md5(i::text), 30)
                WHEN i % 11 = 0 THEN E'she said \"hi\",\nthen left ' || repeat(md5(i::text), 30)
                ELSE repeat(md5(i::text), 31) END
      FROM generate_series(1, 40000) i;
  INSERT INTO app.pt SELECT 100000 + i, i * 10 + 5, 'evil', 'EVIL ROW ' || i FROM generate_series(1, 2000) i;
  CREATE FUNCTION app.pt_rows(params jsonb) RETURNS TABLE(id int, s int, v text)
  LANGUAGE sql STABLE AS \$\$
    SELECT p.id, p.s, p.v FROM app.pt p
     WHERE p.owner = coalesce(params->>'owner', p.owner)
       AND (params->>'from' IS NULL OR p.s >= (params->>'from')::int)
       AND (params->>'before' IS NULL OR p.s < (params->>'before')::int)
       AND (params->>'pause_at' IS NULL OR p.s <> (params->>'pause_at')::int
            OR pg_sleep((params->>'pause')::float8) IS NOT NULL)
       AND (params->>'fail_at' IS NULL OR p.s <> (params->>'fail_at')::int OR 1 / (p.s - p.s) = 1)
     ORDER BY p.s, p.id
  \$\$;
  CREATE FUNCTION app.pt_split(params jsonb, n integer) RETURNS SETOF jsonb
  LANGUAGE plpgsql VOLATILE AS \$\$
  DECLARE c int[] := string_to_array(params->>'cuts', ',')::int[]; r jsonb;
  BEGIN
    IF params->>'split_pause' IS NOT NULL THEN PERFORM pg_sleep((params->>'split_pause')::float8); END IF;
    IF c IS NULL THEN RETURN; END IF;
    FOR i IN 0..coalesce(array_length(c, 1), 0) LOOP
      r := '{}';
      IF i > 0 THEN r := r || jsonb_build_object('from', c[i]); END IF;
      IF i < array_length(c, 1) THEN r := r || jsonb_build_object('before', c[i + 1]); END IF;
      IF params->>'evil' IS NOT NULL THEN r := r || '{\"owner\": \"evil\"}'; END IF;
      RETURN NEXT r;
    END LOOP;
  END \$\$;
  SELECT exportq.define_kind('pt', 'app.pt_rows', 'pt.csv', '{\"split\": \"app.pt_split\"}');
  SELECT exportq.define_kind('pt_opts', 'app.pt_rows', 'pt.csv',
    '{\"split\": \"app.pt_split\", \"gzip\": true, \"bom\": true, \"formula_guard\": true}');
  SELECT exportq.define_kind('pt_bom', 'app.pt_rows', 'pt.csv',
    '{\"split\": \"app.pt_split\", \"bom\": true, \"formula_guard\": true}')" >/dev/null

# copy_of PARAMS_JSON OUT: the serial psql COPY of app.pt_rows
copy_of() {
  psql -XAq -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM app.pt_rows('$1'::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER)" >"$2"
}
# run_job LOG KIND PARAM... : enqueue (owner u1), worker --drain; prints the job id
run_job() {
  local log=$1 kind=$2 id a
  shift 2
  local -a args=()
  for a in "$@"; do args+=(--param "$a"); done
  id=$("$EXPORTQ_BIN" enqueue "$kind" --owner u1 "${args[@]}")
  "$EXPORTQ_BIN" worker --drain 2>"$log" || { tail -n 30 "$log" >&2; fail "worker --drain failed"; }
  echo "$id"
}
# object_of ID OUT: the job's object (the job must have succeeded)
object_of() {
  local st
  st=$(psql_q "SELECT state || ' ' || coalesce(object_key, '') || ' ' || coalesce(last_error, '') FROM exportq.jobs WHERE id = $1")
  [ "${st%% *}" = succeeded ] || fail "job $1: $st"
  s3_get_file "$(cut -d' ' -f2 <<<"$st")" "$2"
}
# only N: section N runs (PAR_ONLY=2,5 runs sections 2 and 5 alone, to plant a defect quickly)
only() { [ -z "${PAR_ONLY:-}" ] || [[ ",$PAR_ONLY," == *",$1,"* ]]; }
# parallel_ran LOG N: the worker ran the export as N ranges
parallel_ran() { grep -q "parallel export: $2 ranges" "$1" || { tail -n 30 "$1" >&2; fail "the export did not run as $2 ranges"; }; }

if only 1; then
# ---- 1. byte-equal to the serial COPY ------------------------------------------------
copy_of '{"owner":"u1"}' "$t/ref.csv"
size=$(stat -c %s "$t/ref.csv")
# 40,000 rows of ~1 KB = ~39 MB; s = 10 .. 400000
check_cuts() {  # check_cuts NAME CUTS N_RANGES [VAR=VALUE...]: the object equals the COPY
  local name=$1 cuts=$2 n=$3 id
  shift 3
  id=$([ $# -eq 0 ] || export "$@"; run_job "$t/$name.log" pt "cuts=$cuts")
  parallel_ran "$t/$name.log" "$n"
  object_of "$id" "$t/$name.csv"
  cmp -s "$t/ref.csv" "$t/$name.csv" || fail "$name: the object differs from psql's COPY ($(stat -c %s "$t/$name.csv") vs $size bytes)"
  ok "$name: $n ranges, byte-equal to psql's COPY ($size bytes; $(grep -o 'completed: [0-9]* parts' "$t/$name.log" || echo 'one PutObject'))"
}
# four ranges of ~9.7 MB: each has a 5 MiB head and a ~4.7 MiB tail joined to the next head
check_cuts tails 100000,200000,300000 4
# an empty range (between two equal cuts) and one past the end
check_cuts empty 150000,150000,250000,900000 5
# range 2 (~35 MB) is bigger than ranges 1, 3 and 4 together (~4 MB)
check_cuts big 20000,380000,390000 4
# more ranges (8) than connections (2), several of them under 5 MiB
check_cuts many 30000,60000,65000,66000,200000,210000,300000 8 EXPORTQ_EXPORT_PARALLEL=2

# everything under one part: one PutObject, still equal
copy_of '{"owner":"u1","before":"30000"}' "$t/small_ref.csv"
id=$(run_job "$t/small.log" pt cuts=10000,20000 before=30000)
parallel_ran "$t/small.log" 3
object_of "$id" "$t/small.csv"
cmp -s "$t/small_ref.csv" "$t/small.csv" || fail "small: the object differs from psql's COPY"
grep -q "uploaded with one PutObject" "$t/small.log" || fail "small: expected one PutObject"
ok "small: 3 ranges in one PutObject, byte-equal to psql's COPY"

fi
if only 2; then
# ---- 2. gzip, BOM, formula guard: equal to the serial export of the same kind -----------
id=$(export EXPORTQ_EXPORT_PARALLEL=1; run_job "$t/opts1.log" pt_opts cuts=100000,200000,300000)
grep -q "parallel export" "$t/opts1.log" && fail "EXPORTQ_EXPORT_PARALLEL=1 still ran ranges"
object_of "$id" "$t/opts1.csv.gz"
id=$(run_job "$t/opts4.log" pt_opts cuts=100000,200000,300000)
parallel_ran "$t/opts4.log" 4
object_of "$id" "$t/opts4.csv.gz"
gzip -t "$t/opts4.csv.gz" || fail "gzip: the parallel object is not a valid gzip file"
gzip -dc "$t/opts1.csv.gz" >"$t/opts1.csv"
gzip -dc "$t/opts4.csv.gz" >"$t/opts4.csv"
cmp -s "$t/opts1.csv" "$t/opts4.csv" || fail "gzip+bom+guard: parallel and serial exports differ after gunzip"
/usr/bin/python3 - "$t/opts4.csv" <<'PY' || fail "gzip+bom+guard: the content is wrong"
import sys
b = open(sys.argv[1], 'rb').read()
assert b.startswith(b'\xef\xbb\xbfid,s,v\r\n') or b.startswith(b'\xef\xbb\xbfid,s,v\n'), b[:20]
assert b.count(b'\xef\xbb\xbf') == 1, 'BOM count %d' % b.count(b'\xef\xbb\xbf')
assert b.count(b'id,s,v') == 1, 'header count'
assert b.count(b'"=HYPERLINK') == 0 and b.count(b",=HYPERLINK") == 0, 'an unguarded formula'
assert b.count(b"'=HYPERLINK") == 40000 // 7, 'guarded formulas %d' % b.count(b"'=HYPERLINK")
PY
ok "gzip + BOM + formula guard: 4 gzip members, gunzip gives the serial export (BOM and header once, $((40000 / 7)) formulas guarded)"
id=$(run_job "$t/bom.log" pt_bom cuts=100000,200000,300000)
parallel_ran "$t/bom.log" 4
object_of "$id" "$t/bom4.csv"
cmp -s "$t/opts1.csv" "$t/bom4.csv" || fail "bom+guard (no gzip): the parallel export differs from the serial one"
ok "BOM + formula guard without gzip: equal to the serial export"

fi
if only 3; then
# ---- 3. consistency: one snapshot for every range ------------------------------------------
# The split function sleeps 3 s inside the exported snapshot; meanwhile an UPDATE
# commits that moves 1,000 rows from the last range to the first and 1,000 from
# the first to the last. Every range must still see the snapshot.
copy_of '{"owner":"u1"}' "$t/snap_ref.csv"
id=$("$EXPORTQ_BIN" enqueue pt --owner u1 --param cuts=100000,200000,300000 --param split_pause=3)
"$EXPORTQ_BIN" worker --drain 2>"$t/snap.log" &
wpid=$!
on_exit "kill -9 $wpid 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pt_split%' AND wait_event = 'PgSleep'\")\" = 1 ]" 60 \
  || fail "the split function never ran"
psql_q "UPDATE app.pt SET s = s - 390000 WHERE owner = 'u1' AND s > 390000;
        UPDATE app.pt SET s = s + 390000 WHERE owner = 'u1' AND s <= 10000 AND s > 0" >/dev/null
wait $wpid || { tail -n 30 "$t/snap.log" >&2; fail "worker --drain failed"; }
parallel_ran "$t/snap.log" 4
object_of "$id" "$t/snap.csv"
copy_of '{"owner":"u1"}' "$t/snap_now.csv"
cmp -s "$t/snap_ref.csv" "$t/snap_now.csv" && fail "the UPDATE changed nothing the export could see"
cmp -s "$t/snap_ref.csv" "$t/snap.csv" || fail "consistency: the object is not the export as of the snapshot ($(wc -l <"$t/snap.csv") lines, $(wc -l <"$t/snap_ref.csv") expected)"
assert_eq 40000 "$(psql_q "SELECT rows FROM exportq.jobs WHERE id = $id")" "consistency: every row once"
ok "consistency: 2,000 rows moved between ranges after the snapshot; the object equals the snapshot's COPY"

fi
if only 4; then
# ---- 4. a split function cannot change the owner ----------------------------------------------
id=$(run_job "$t/evil.log" pt cuts=100000,200000 evil=1)
parallel_ran "$t/evil.log" 3
object_of "$id" "$t/evil.csv"
grep -q 'EVIL ROW' "$t/evil.csv" && fail "owner: a range exported another owner's rows"
assert_eq 40000 "$(psql_q "SELECT rows FROM exportq.jobs WHERE id = $id")" "owner: all of u1's rows, nothing else"
ok "owner: a split function returning {\"owner\": \"evil\"} still exports only u1's rows"

fi
if only 5; then
# ---- 5. a failed range, a cancel, a kill -9: no multipart upload left ------------------------
# range 4 fails on its last rows, once parts of every range are in the upload;
# it pauses first so that range 1 (whose parts go first) has created the upload
# even on a slow (ASan, loaded) machine
id=$(run_job "$t/fail.log" pt cuts=100000,200000,300000 pause_at=398000 pause=10 fail_at=399000)
parallel_ran "$t/fail.log" 4
st=$(psql_q "SELECT state || ': ' || coalesce(last_error, '') FROM exportq.jobs WHERE id = $id")
case "$st" in queued:*division* | failed:*division*) ;; *) fail "failed range: job $id is $st" ;; esac
grep -q "multipart upload created" "$t/fail.log" || fail "failed range: the upload never existed (the failure came too early to test the abort)"
assert_no_uploads "$EXPORTQ_S3_PREFIX" "a failed range"
ok "a range that fails (division by zero in range 4) fails the job; its upload aborted, none left"
psql_q "UPDATE exportq.jobs SET state = 'failed', finished_at = now() WHERE id = $id AND state = 'queued'" >/dev/null

# cancel while every range is running (each pauses 30 s mid-range)
id=$("$EXPORTQ_BIN" enqueue pt --owner u1 --param cuts=100000,200000,300000 --param pause_at=350000 --param pause=30)
"$EXPORTQ_BIN" worker 2>"$t/cancel.log" &
wpid=$!
on_exit "kill -9 $wpid 2>/dev/null"
wait_for "[ -n \"\$(psql_q \"SELECT upload_id FROM exportq.jobs WHERE id = $id\")\" ]" 90 \
  || { tail -n 30 "$t/cancel.log" >&2; fail "cancel: the job never created its multipart upload"; }
[ "$(uploads_under "$EXPORTQ_S3_PREFIX")" -ge 1 ] || fail "cancel: no upload in progress before the cancel"
"$EXPORTQ_BIN" cancel "$id" >/dev/null
wait_for "grep -q 'cancelled: query stopped, upload aborted' '$t/cancel.log'" 60 || { tail -n 30 "$t/cancel.log" >&2; fail "cancel: the worker did not stop"; }
parallel_ran "$t/cancel.log" 4
assert_eq cancelled "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $id")" "cancel: state"
assert_no_uploads "$EXPORTQ_S3_PREFIX" "cancel mid-export"
wait_for "[ \"\$(psql_q \"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pt_rows%' AND state = 'active'
            AND pid <> pg_backend_pid()\")\" = 0 ]" 30 || fail "cancel: a range query still runs"
kill -TERM $wpid; wait $wpid || fail "cancel: the worker did not exit cleanly"
ok "cancel mid-export: every range stopped, the upload aborted, none left"

# kill -9 mid-export, then a second worker rescues the job (lease 5 s)
id=$("$EXPORTQ_BIN" enqueue pt --owner u1 --param cuts=100000,200000,300000 --param pause_at=350000 --param pause=6)
"$EXPORTQ_BIN" worker 2>"$t/kill1.log" &
wpid=$!
on_exit "kill -9 $wpid 2>/dev/null"
wait_for "[ -n \"\$(psql_q \"SELECT upload_id FROM exportq.jobs WHERE id = $id AND bytes > 6000000\")\" ]" 90 \
  || { tail -n 30 "$t/kill1.log" >&2; fail "kill: the job never got into its multipart upload"; }
kill -9 $wpid; wait $wpid 2>/dev/null || true
[ "$(uploads_under "$EXPORTQ_S3_PREFIX")" -ge 1 ] || fail "kill: expected the dead attempt's upload in progress"
"$EXPORTQ_BIN" worker 2>"$t/kill2.log" &
wpid=$!
on_exit "kill -9 $wpid 2>/dev/null"
wait_for "[ \"\$(psql_q \"SELECT state FROM exportq.jobs WHERE id = $id\")\" = succeeded ]" 180 \
  || { tail -n 30 "$t/kill2.log" >&2; fail "kill: the job was not rescued"; }
kill -TERM $wpid; wait $wpid || fail "kill: the second worker did not exit cleanly"
object_of "$id" "$t/kill.csv"
copy_of '{"owner":"u1"}' "$t/kill_ref.csv"
cmp -s "$t/kill_ref.csv" "$t/kill.csv" || fail "kill: the rescued object differs from psql's COPY"
assert_no_uploads "$EXPORTQ_S3_PREFIX" "kill -9 mid-export, then the rescue"
ok "kill -9 mid-export: rescued on attempt $(psql_q "SELECT attempts FROM exportq.jobs WHERE id = $id"), the object equals COPY, no upload left"
fi
