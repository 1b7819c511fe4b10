#!/usr/bin/env bash
# Exports read from EXPORTQ_SOURCE_DATABASE_URL (a read replica in production),
# not from the queue database: two databases here, the same function in both
# (a replica has the primary's schema), different rows; the object, the
# streamed CSV and the progress recorded on the job all come from the source.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
use_fresh_db
export EXPORTQ_S3_PREFIX="it-source-$$-$(date +%s)/"
t=$(tmpdir)
src=t_source_$$
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $src WITH (FORCE)" -c "CREATE DATABASE $src" >/dev/null
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS $src WITH (FORCE)' >/dev/null 2>&1"
schema="CREATE SCHEMA app; CREATE TABLE app.t(n int, who text);
  CREATE FUNCTION app.rows(params jsonb) RETURNS SETOF app.t LANGUAGE sql STABLE AS
    'SELECT * FROM app.t ORDER BY n'"
psql_q "$schema; INSERT INTO app.t SELECT i, 'queue-db' FROM generate_series(1, 3) i;
        SELECT exportq.define_kind('rows', 'app.rows', 'rows.csv')" >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 -d "$src" -c "$schema" \
     -c "INSERT INTO app.t SELECT i, 'source-db' FROM generate_series(1, 1000) i" >/dev/null
export EXPORTQ_SOURCE_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$src"

id=$("$EXPORTQ_BIN" enqueue rows)
"$EXPORTQ_BIN" worker --drain 2> "$t/worker.log" || { cat "$t/worker.log" >&2; fail "worker failed"; }
assert_eq succeeded "$(psql_q "SELECT state FROM exportq.status($id)")" "job succeeded"
assert_eq 1000 "$(psql_q "SELECT rows FROM exportq.status($id)")" "rows counted from the source"
s3_get_file "$(psql_q "SELECT object_key FROM exportq.jobs WHERE id = $id")" "$t/obj.csv"
psql -XAq -d "$src" -c "COPY (SELECT * FROM app.rows('{}')) TO STDOUT WITH (FORMAT csv, HEADER)" > "$t/want.csv"
assert_eq "$(sha256_of "$t/want.csv")" "$(sha256_of "$t/obj.csv")" "the object is the source database's COPY"
"$EXPORTQ_BIN" stream rows -o "$t/stream.csv" || fail "stream failed"
assert_eq "$(sha256_of "$t/want.csv")" "$(sha256_of "$t/stream.csv")" "exportq stream reads the source too"
ok "worker and stream read EXPORTQ_SOURCE_DATABASE_URL; the queue database only holds the queue"
