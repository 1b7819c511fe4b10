#!/usr/bin/env bash
# Identities are limited in BYTES and never cut (issue 10, item 1). Owners
# A = 128 x "é" + "A" and B = 128 x "é" + "B" (257 bytes each) share their first
# 256 bytes with a third owner C = 128 x "é": they must never become C or each
# other. Checked through every door: `token create`, the SQL API, HTTP with a
# token written by an earlier release (the byte rule bypassed), a worker
# claiming such a job, and owners that fit (255 bytes) staying distinct.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
. "$EXPORTQ_SOURCE_DIR/tests/integration/http_serve.bash"
T=$(tmpdir)
http_db_setup "identity_bytes_$$"
on_exit "psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS identity_bytes_$$ WITH (FORCE)' >/dev/null 2>&1"
export EXPORTQ_S3_PREFIX="identity-$$-$(date +%s)/" EXPORTQ_POLL_SECONDS=1
e127=$(printf 'é%.0s' $(seq 1 127))
C="${e127}é"          # 256 bytes: the longest owner
A="${C}A" B="${C}B"   # 257 bytes
A2="${e127}A" B2="${e127}B" # 255 bytes: fit, and must stay two owners
assert_eq 256 "$(printf %s "$C" | wc -c)" "C is 256 bytes"
assert_eq 257 "$(printf %s "$A" | wc -c)" "A is 257 bytes"

# one constant: SQL and C agree (common/limits.h EQ_IDENTITY_MAX_BYTES = 256)
assert_eq 256 "$(psql_q "SELECT exportq.identity_max_bytes()")" "SQL identity limit"
assert_eq 200 "$(psql_q "SELECT exportq.filename_max_bytes()")" "SQL file name limit"
grep -q '#define EQ_IDENTITY_MAX_BYTES 256 ' "$EXPORTQ_SOURCE_DIR/common/limits.h" || fail "C identity limit is not 256"
grep -q '#define EQ_FILENAME_MAX_BYTES 200 ' "$EXPORTQ_SOURCE_DIR/common/limits.h" || fail "C file name limit is not 200"

# a kind whose rows belong to owners
psql_q "CREATE TABLE app.id_rows(owner text, v text);
  INSERT INTO app.id_rows VALUES ('$C', 'secret-of-C'), ('$A2', 'row-of-A2'), ('$B2', 'row-of-B2');
  CREATE FUNCTION app.id_export(params jsonb) RETURNS TABLE(v text) LANGUAGE sql STABLE AS
    \$\$ SELECT v FROM app.id_rows WHERE owner = params->>'owner' \$\$;
  SELECT exportq.define_kind('id_rows', 'app.id_export', 'id.csv')" >/dev/null

# ---- the doors refuse a 257-byte owner ------------------------------------------------
for o in "$A" "$B"; do
  if out=$("$EXPORTQ_BIN" token create --owner "$o" 2>&1); then fail "token create accepted a 257-byte owner: $out"; fi
  assert_contains "$out" "256 bytes" "token create names the byte limit"
  if out=$("$EXPORTQ_BIN" enqueue id_rows --owner "$o" 2>&1); then fail "enqueue accepted a 257-byte owner: $out"; fi
  assert_contains "$out" "256 bytes" "enqueue names the byte limit"
done
if psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT exportq.enqueue('id_rows', '{}', NULL, '$A')" >/dev/null 2>"$T/sql.err"; then
  fail "exportq.enqueue accepted a 257-byte owner"
fi
assert_contains "$(cat "$T/sql.err")" "256 bytes" "SQL enqueue refuses a 257-byte owner"
assert_eq 0 "$(psql_q "SELECT count(*) FROM exportq.tokens WHERE owner LIKE '$e127%'")" "no token of a long owner"
# a kind's file name: bytes, one rule with C (200)
long_fn="$(printf 'é%.0s' $(seq 1 101)).csv" # 101 characters, 206 bytes
if psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT exportq.define_kind('id_fn', 'app.id_export', '$long_fn')" >/dev/null 2>"$T/sql.err"; then
  fail "define_kind accepted a 206-byte file name"
fi
assert_contains "$(cat "$T/sql.err")" "200 bytes" "define_kind refuses a file name over 200 bytes"
ok "257-byte owners and 206-byte file names are refused by token create, enqueue (CLI and SQL), define_kind"

# ---- the jobs trigger refuses exactly what identity_problem() names (schema/016) -------
# The trigger's WHEN (builtins, the limit written in from identity_max_bytes()) must let
# through every row the rule refuses: a plain INSERT and an UPDATE of the ids, over values
# on both sides of each limit, fail with identity_problem()'s message, or pass when it is NULL.
out=$(psql -XAtq -v ON_ERROR_STOP=1 -d "$EXPORTQ_DATABASE_URL" 2>&1 <<'SQL'
DO $$
DECLARE
    e text := repeat('é', 128);  -- 256 bytes
    v record;
    got text;
    want text;
    n integer := 0;
BEGIN
    FOR v IN SELECT * FROM (VALUES
        (NULL, NULL, NULL), ('a', NULL, NULL), ('', NULL, NULL), (e, NULL, NULL), (e || 'A', NULL, NULL),
        (repeat('x', 256), NULL, NULL), (repeat('x', 257), NULL, NULL), ('a' || chr(1) || 'b', NULL, NULL),
        ('a' || chr(10), NULL, NULL), ('del' || chr(127), NULL, NULL), ('tab' || chr(9), NULL, NULL),
        ('ok', e, NULL), ('ok', e || 'k', NULL), ('ok', NULL, e), ('ok', NULL, e || 'k'),
        (NULL, repeat('d', 257), NULL), (e || 'A', repeat('d', 300), repeat('i', 300)))
        AS t(owner, dedupe, idem)
    LOOP
        want := exportq.identity_problem(v.owner, v.dedupe, v.idem);
        FOR pass IN 1..2 LOOP
            got := NULL;
            BEGIN
                IF pass = 1 THEN
                    INSERT INTO exportq.jobs (kind, owner, dedupe_key, idempotency_key)
                    VALUES ('id_rows', v.owner, v.dedupe, v.idem);
                ELSE  -- an UPDATE of the ids of a valid job
                    INSERT INTO exportq.jobs (kind, owner) VALUES ('id_rows', 'upd') RETURNING id INTO n;
                    UPDATE exportq.jobs SET owner = v.owner, dedupe_key = v.dedupe, idempotency_key = v.idem
                     WHERE id = n;
                END IF;
                RAISE EXCEPTION 'rollback' USING ERRCODE = 'P0002';
            EXCEPTION
                WHEN no_data_found THEN got := NULL;
                WHEN OTHERS THEN got := SQLERRM;
            END;
            IF got IS DISTINCT FROM want THEN
                RAISE EXCEPTION 'pass % owner % (% bytes), dedupe % bytes, idem % bytes: got %, want %', pass,
                    quote_nullable(left(v.owner, 8)), octet_length(v.owner), octet_length(v.dedupe),
                    octet_length(v.idem), quote_nullable(got), quote_nullable(want);
            END IF;
        END LOOP;
    END LOOP;
    RAISE NOTICE 'agreed';
END $$;
SQL
) || fail "the trigger and identity_problem() disagree: $out"
assert_eq 0 "$(psql_q "SELECT count(*) FROM exportq.jobs WHERE owner = 'upd' OR kind = 'id_rows' AND owner IS NULL")" "nothing of the check was kept"

# ---- owners that fit stay distinct ---------------------------------------------------
TA=$(token_for "$A2") TB=$(token_for "$B2") TC=$(token_for "$C")
serve_start EXPORTQ_RATE_LIMIT=100000
req POST /v1/exports "$TA" -d '{"kind":"id_rows"}'
assert_eq 202 "$STATUS" "A2 enqueues"
ja=$(jq -r .id <<<"$BODY")
assert_eq "$A2" "$(psql_q "SELECT owner FROM exportq.jobs WHERE id = $ja")" "A2's job is A2's, whole"
req GET "/v1/exports/$ja" "$TB"
assert_eq 404 "$STATUS" "B2 cannot see A2's job"
req DELETE "/v1/exports/$ja" "$TB"
assert_eq 404 "$STATUS" "B2 cannot cancel A2's job"
req GET "/v1/exports" "$TB"
assert_eq 0 "$(jq '.items // .exports // .jobs // . | length' <<<"$BODY")" "B2's list is empty"
req GET "/v1/stream/id_rows" "$TA"
assert_eq 200 "$STATUS" "A2 streams"
assert_eq "$(printf 'v\nrow-of-A2')" "$(tr -d '\r' <<<"$BODY")" "A2's stream has only A2's rows"
req GET "/v1/stream/id_rows" "$TC"
assert_eq "$(printf 'v\nsecret-of-C')" "$(tr -d '\r' <<<"$BODY")" "C's stream has only C's rows"
ok "255- and 256-byte owners stay distinct: no cross-owner read, cancel, list or stream"

# ---- rows written by an earlier release (the byte rule bypassed) -----------------------
# A token of A (257 bytes) and a queued job of A, as an older release could
# store them; old CHECKs counted characters.
tok_a="eqt_$(openssl rand -hex 32)"
hash_a=$(printf %s "$tok_a" | sha256sum | cut -d' ' -f1)
psql_q "SET session_replication_role = replica;
  INSERT INTO exportq.tokens (owner, token_hash) VALUES ('$A', '$hash_a');
  INSERT INTO exportq.jobs (kind, params, owner) VALUES ('id_rows', jsonb_build_object('owner', '$A'), '$A');
  RESET session_replication_role" >/dev/null
jl=$(psql_q "SELECT id FROM exportq.jobs WHERE owner = '$A'")
req POST /v1/exports "$TC" -d '{"kind":"id_rows"}'
jc=$(jq -r .id <<<"$BODY")
req GET "/v1/exports/$jc" "$tok_a"
assert_eq 401 "$STATUS" "a legacy 257-byte token does not read C's job"
req GET "/v1/exports" "$tok_a"
assert_eq 401 "$STATUS" "a legacy 257-byte token does not list C's jobs"
req DELETE "/v1/exports/$jc" "$tok_a"
assert_eq 401 "$STATUS" "a legacy 257-byte token does not cancel C's job"
req GET "/v1/stream/id_rows" "$tok_a"
assert_eq 401 "$STATUS" "a legacy 257-byte token does not stream C's rows"
assert_eq queued "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $jc")" "C's job untouched"
serve_stop
# the worker refuses the legacy job rather than run it as C
psql_q "UPDATE exportq.jobs SET state = 'cancelled' WHERE id IN ($ja, $jc)" >/dev/null
"$EXPORTQ_BIN" worker --drain >"$T/worker.log" 2>&1 || true
assert_eq failed "$(psql_q "SELECT state FROM exportq.jobs WHERE id = $jl")" "the legacy job failed: $(tail -3 "$T/worker.log")"
assert_contains "$(psql_q "SELECT last_error FROM exportq.jobs WHERE id = $jl")" "refused" "it says why"
if s3_list_keys "$EXPORTQ_S3_PREFIX" | grep -q .; then fail "an object was written for the legacy job"; fi
ok "legacy 257-byte token: 401 everywhere; legacy job: failed by the worker, no object, C's rows never exported"
