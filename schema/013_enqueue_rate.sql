-- 013_enqueue_rate.sql - one statement enqueues many jobs at a steady rate
-- (issue 15: >= 20,000 jobs/s from SELECT exportq.enqueue(...) FROM ...).
--
-- What each exportq.enqueue() call cost before, every call being its own
-- INSERT inside the calling statement's transaction:
--   - job counts (012): each INSERT upserted the backend's counter row, so a
--     transaction of n calls left n versions of one row and each upsert walked
--     them all: n^2 (50,000 calls did not finish in 12 minutes);
--   - the turn (004): the owner's newest job was looked up by a plan cached
--     when the table looked empty (after a purge and ANALYZE), a sequential
--     scan of the rows inserted so far: n^2 again;
--   - enqueue_job_format (007) inserted the job, then updated it to set its
--     format: two row versions per job, and three nested function calls.
--
-- Now:
--   - counts: a transaction's first 32 INSERT/DELETE statements add to the
--     backend's counter row as before; after that each 32 statements add to a
--     row of their own (a negative shard from a sequence, never shared), so no
--     row gets more than 32 versions in one transaction. A later writer
--     (READ COMMITTED) folds committed rows of negative shards into its
--     counter row, skipping locked ones. Readers sum all rows by state (as
--     exportq.job_counts() always did), so the counts stay exact throughout;
--   - turns: same rule and trigger as 004, with the lookup bound to the
--     (owner, id DESC) index whatever the statistics say, and not called at
--     all for an explicit turn > 0;
--   - enqueue_job_format does the checks of enqueue_job and resolve_format
--     itself (same messages, same order) and inserts the job with its format
--     in one row version; exportq.enqueue calls it directly.
--
-- Rolling upgrade: every function keeps its signature and results;
-- enqueue_job (7 arguments, the release before 007) is untouched and still
-- works (its jobs get the format NULL = csv, as before). Workers and serve of
-- the previous release call enqueue_job_format / exportq.enqueue and get the
-- new bodies.

-- ------------------------------------------------------------ job counts

CREATE SEQUENCE exportq.job_counts_slot MINVALUE 1 MAXVALUE 2147483647 CYCLE;
CREATE INDEX job_counts_slot_idx ON exportq.job_counts (shard) WHERE shard < 0;

-- Adds the counts of committed rows of negative shards to this backend's
-- counter row and deletes them; rows another transaction holds are left for
-- a later fold. Only in READ COMMITTED (a repeatable-read transaction would
-- fail on a row another fold deleted meanwhile).
CREATE FUNCTION exportq.job_counts_fold() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed'
       OR NOT EXISTS (SELECT 1 FROM exportq.job_counts c WHERE c.shard < 0) THEN
        RETURN;
    END IF;
    WITH gone AS (
        DELETE FROM exportq.job_counts c
         WHERE (c.state, c.shard) IN (SELECT s.state, s.shard FROM exportq.job_counts s
                                       WHERE s.shard < 0 FOR UPDATE SKIP LOCKED)
        RETURNING c.state, c.jobs, c.bytes)
    INSERT INTO exportq.job_counts AS c (state, shard, jobs, bytes)
    SELECT g.state, pg_backend_pid() % 16, sum(g.jobs), sum(g.bytes) FROM gone g GROUP BY g.state
    ON CONFLICT (state, shard) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs, bytes = c.bytes + EXCLUDED.bytes;
END $$;

-- The counter row (shard) for this transaction's next INSERT/DELETE
-- statement: the backend's (0..15) for the first 32, then a new negative one
-- for each 32 more. The statements so far and the current slot live in a
-- transaction-local setting (undone with a rolled-back subtransaction, as the
-- rows it counted are).
CREATE FUNCTION exportq.job_counts_shard() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v text := current_setting('exportq.counts_slot', true);
    n bigint := 1;
    slot integer := 0;
    per_slot constant integer := 32;
BEGIN
    IF v IS NULL OR v = '' THEN
        PERFORM exportq.job_counts_fold();
    ELSE
        n := split_part(v, ':', 1)::bigint + 1;
        slot := split_part(v, ':', 2)::integer;
    END IF;
    IF n > per_slot AND n % per_slot = 1 THEN
        slot := -nextval('exportq.job_counts_slot')::integer;
    END IF;
    PERFORM set_config('exportq.counts_slot', n || ':' || slot, true);
    RETURN CASE WHEN n <= per_slot THEN pg_backend_pid() % 16 ELSE slot END;
END $$;

-- After an INSERT statement, one trigger for what 004 (queue changes) and
-- 012 (counts) did in two: each exportq.enqueue() call is a statement.
CREATE FUNCTION exportq.jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s integer := exportq.job_counts_shard();  -- before: it may fold
BEGIN
    INSERT INTO exportq.job_counts AS c (state, shard, jobs, bytes)
    SELECT r.state, s, count(*), coalesce(sum(r.bytes), 0)
      FROM new_rows r GROUP BY r.state
    ON CONFLICT (state, shard) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs, bytes = c.bytes + EXCLUDED.bytes;
    -- as exportq.queue_inserted (004): one change per row, up to 65
    PERFORM pg_advisory_xact_lock_shared(exportq.position_lock_key());
    PERFORM nextval('exportq.queue_changes') FROM (SELECT 1 FROM new_rows LIMIT 65) x;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION exportq.job_counts_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s integer := exportq.job_counts_shard();
BEGIN
    INSERT INTO exportq.job_counts AS c (state, shard, jobs, bytes)
    SELECT r.state, s, -count(*), -coalesce(sum(r.bytes), 0)
      FROM old_rows r GROUP BY r.state
    ON CONFLICT (state, shard) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs, bytes = c.bytes + EXCLUDED.bytes;
    RETURN NULL;
END $$;

LOCK TABLE exportq.jobs IN SHARE ROW EXCLUSIVE MODE;
DROP TRIGGER jobs_counts_insert ON exportq.jobs;
DROP TRIGGER jobs_queue_insert ON exportq.jobs;
DROP FUNCTION exportq.job_counts_inserted();
DROP FUNCTION exportq.queue_inserted();
CREATE TRIGGER jobs_inserted AFTER INSERT ON exportq.jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION exportq.jobs_inserted();

-- ----------------------------------------------------------------- turns

-- As in 004. enable_seqscan off: a plan cached while the table looked empty
-- (a purge, then ANALYZE) would otherwise scan every row inserted since, per
-- row.
CREATE OR REPLACE FUNCTION exportq.jobs_set_turn() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_last bigint;
BEGIN
    IF NEW.turn > 0 THEN
        RETURN NEW;
    END IF;
    IF NEW.owner IS NULL THEN
        SELECT j.turn INTO v_last FROM exportq.jobs j WHERE j.owner IS NULL ORDER BY j.id DESC LIMIT 1;
    ELSE
        SELECT j.turn INTO v_last FROM exportq.jobs j WHERE j.owner = NEW.owner ORDER BY j.id DESC LIMIT 1;
    END IF;
    -- the sequence read by a function, not a scan (no plan to disable)
    NEW.turn := greatest(coalesce(v_last + 1, 0),
                         pg_catalog.pg_sequence_last_value('exportq.turn_claimed'::regclass));
    RETURN NEW;
END $$;

DROP TRIGGER jobs_turn ON exportq.jobs;
CREATE TRIGGER jobs_turn BEFORE INSERT ON exportq.jobs
    FOR EACH ROW WHEN (NEW.turn <= 0) EXECUTE FUNCTION exportq.jobs_set_turn();

-- --------------------------------------------------------------- enqueue

-- enqueue_job (001) + resolve_format (007) in one function: the same checks
-- with the same messages in the same order, one look at the kind, and the
-- job inserted with its format.
CREATE OR REPLACE FUNCTION exportq.enqueue_job_format(p_kind text, p_params jsonb, p_email text, p_owner text,
                                                      p_priority integer, p_dedupe_key text,
                                                      p_idempotency_key text, p_format text,
                                                      OUT job_id bigint, OUT existing boolean)
LANGUAGE plpgsql AS $$
DECLARE
    o jsonb;
    v_format text;
    v_params jsonb := coalesce(p_params, '{}');
    v_priority integer := coalesce(p_priority, 0);
    tries integer := 0;
BEGIN
    existing := false;
    IF p_kind IS NOT NULL THEN
        SELECT k.options INTO o FROM exportq.kinds k WHERE k.name = p_kind;
    END IF;
    IF o IS NULL THEN  -- kinds.options is NOT NULL: no such kind
        PERFORM exportq.reject(format('unknown export kind %s',
                                      coalesce(quote_literal(left(p_kind, 80)), 'NULL')));
    END IF;
    v_format := coalesce(p_format, o->>'format', 'csv');
    IF v_format NOT IN ('csv', 'tsv', 'jsonl', 'xlsx') THEN
        PERFORM exportq.reject(format('unknown format %s (known: csv, tsv, jsonl, xlsx)',
                                      quote_literal(left(v_format, 40))));
    END IF;
    IF o ? 'formats' AND NOT (o->'formats') ? v_format THEN
        PERFORM exportq.reject(format('kind %s does not offer format %s (it offers: %s)', p_kind, v_format,
                                      (SELECT string_agg(e, ', ') FROM jsonb_array_elements_text(o->'formats') e)));
    END IF;
    IF jsonb_typeof(v_params) <> 'object' THEN
        PERFORM exportq.reject(format('params must be a JSON object, not %s', jsonb_typeof(v_params)));
    END IF;
    IF octet_length(v_params::text) > 65536 THEN
        PERFORM exportq.reject('params are larger than 64 KiB');
    END IF;
    IF p_email IS NOT NULL AND NOT exportq.valid_email(p_email) THEN
        PERFORM exportq.reject('invalid email address: expected a single plain address like name@example.com');
    END IF;
    IF v_priority NOT BETWEEN -1000 AND 1000 THEN
        PERFORM exportq.reject(format('priority %s is outside -1000..1000', v_priority));
    END IF;
    IF p_owner IS NOT NULL THEN
        IF length(p_owner) NOT BETWEEN 1 AND 256 OR p_owner ~ '[[:cntrl:]]' THEN
            PERFORM exportq.reject('owner must be 1 to 256 characters without control characters');
        END IF;
        -- the server, not the caller, says whose data this is
        v_params := v_params || jsonb_build_object('owner', p_owner);
    END IF;
    IF length(p_dedupe_key) NOT BETWEEN 1 AND 256 THEN
        PERFORM exportq.reject('dedupe_key must be 1 to 256 characters');
    END IF;
    IF length(p_idempotency_key) NOT BETWEEN 1 AND 256 THEN
        PERFORM exportq.reject('idempotency key must be 1 to 256 characters');
    END IF;

    LOOP
        -- each statement sees what concurrent enqueues committed meanwhile
        IF p_idempotency_key IS NOT NULL THEN
            SELECT j.id INTO job_id FROM exportq.jobs j
             WHERE coalesce(j.owner, '') = coalesce(p_owner, '')
               AND j.idempotency_key = p_idempotency_key;
            IF FOUND THEN existing := true; RETURN; END IF;
        END IF;
        IF p_dedupe_key IS NOT NULL THEN
            SELECT j.id INTO job_id FROM exportq.jobs j
             WHERE coalesce(j.owner, '') = coalesce(p_owner, '')
               AND j.dedupe_key = p_dedupe_key AND j.state IN ('queued', 'running');
            IF FOUND THEN existing := true; RETURN; END IF;
        END IF;
        INSERT INTO exportq.jobs (kind, params, email, owner, priority, dedupe_key, idempotency_key, format)
        VALUES (p_kind, v_params, p_email, p_owner, v_priority, p_dedupe_key, p_idempotency_key, v_format)
        ON CONFLICT DO NOTHING
        RETURNING id INTO job_id;
        IF job_id IS NOT NULL THEN
            -- the payload is the kind (as 011's retries): one notification per kind
            -- and transaction however many jobs it enqueues
            PERFORM pg_notify('exportq_jobs', p_kind);
            RETURN;
        END IF;
        -- a concurrent enqueue with the same key won: look again
        tries := tries + 1;
        IF tries > 10 THEN
            RAISE EXCEPTION USING ERRCODE = '40001',
                MESSAGE = 'enqueue: could not settle a concurrent dedupe/idempotency key, retry';
        END IF;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION exportq.enqueue(kind text, params jsonb DEFAULT '{}', email text DEFAULT NULL,
                                           owner text DEFAULT NULL, priority integer DEFAULT 0,
                                           dedupe_key text DEFAULT NULL, format text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    RETURN (exportq.enqueue_job_format($1, $2, $3, $4, $5, $6, NULL, $7)).job_id;
END $$;
