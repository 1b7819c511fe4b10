-- 004_position.sql - fair turns between owners, a position that costs no count
-- of the rows ahead, progress (rows_estimate, percent) and an ETA
-- (DESIGN.md "Position, ETA, progress, fairness" and "Decisions": Position).
--
-- Rolling upgrades: every function of 001/002 keeps its signature and result
-- columns (exportq.status() gains three columns at the end), so workers of the
-- previous release keep claiming, heartbeating and completing through the new
-- bodies while new ones start. Upgrade order: `exportq migrate`, then workers
-- and API in any order.
--
-- Order of claims (and so of positions): priority desc, turn, run_at, id.
-- A job's turn is fixed at enqueue: max(the owner's last turn + 1, the turn
-- of the job claimed last); a retried or released job keeps it. Ownerless jobs
-- are one owner for turns.
--
-- Position: a snapshot of "marks" (every 128th ready job of the order, with the
-- number of ready jobs before it) plus, at read time, a count of at most about
-- 128 index entries between the job and the mark before it, minus the claims
-- made since the snapshot. Nothing but claims changed since the snapshot
-- (counted through exportq.queue_changes, bumped by triggers on any other
-- change of the queued set, whatever statement made it): exact. Otherwise the
-- snapshot is taken again (at most once a second when more than
-- POSITION_SMALL jobs are ready; at once below that) and in between the
-- position is off by at most the changes of that second.

ALTER TABLE exportq.jobs ADD COLUMN turn bigint NOT NULL DEFAULT 0,
                         ADD COLUMN rows_estimate bigint;

-- the claim order; replaces jobs_claim_idx (priority DESC, run_at, id)
CREATE INDEX jobs_turn_idx ON exportq.jobs ((-priority), turn, run_at, id) WHERE state = 'queued';
DROP INDEX exportq.jobs_claim_idx;

-- Counters outside transactions (a sequence never blocks): the turn of the
-- job claimed last, the number of claims, the number of other changes of the
-- queued set. Each reads as its last_value.
CREATE SEQUENCE exportq.turn_claimed MINVALUE 0 START 0;
CREATE SEQUENCE exportq.claim_count MINVALUE 0 START 0;
CREATE SEQUENCE exportq.queue_changes MINVALUE 0 START 0;
SELECT nextval('exportq.turn_claimed'), nextval('exportq.claim_count'),
       nextval('exportq.queue_changes');

-- Writers of the queued set hold this advisory lock shared until they commit;
-- a snapshot is taken only once it got it exclusively for an instant, so it
-- never misses a change whose counter it read (exportq.position_refresh).
CREATE FUNCTION exportq.position_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 7308604897068083825::bigint $$;

CREATE FUNCTION exportq.queue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(exportq.position_lock_key());
    PERFORM nextval('exportq.queue_changes');
    RETURN NULL;
END $$;

-- Inserted rows count one each, up to 65 per statement (enough to tell a
-- few changes from many: exportq.position_mode).
CREATE FUNCTION exportq.queue_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(exportq.position_lock_key());
    PERFORM nextval('exportq.queue_changes') FROM (SELECT 1 FROM new_rows LIMIT 65) x;
    RETURN NULL;
END $$;

-- Any change of the queued set but a claim (queued -> running) counts.
CREATE TRIGGER jobs_queue_insert AFTER INSERT ON exportq.jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION exportq.queue_inserted();
CREATE TRIGGER jobs_queue_truncate AFTER TRUNCATE ON exportq.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION exportq.queue_changed();
CREATE TRIGGER jobs_queue_delete AFTER DELETE ON exportq.jobs
    FOR EACH ROW WHEN (OLD.state = 'queued') EXECUTE FUNCTION exportq.queue_changed();
CREATE TRIGGER jobs_queue_update AFTER UPDATE ON exportq.jobs
    FOR EACH ROW WHEN ((NEW.state = 'queued'
                        AND (OLD.state <> 'queued' OR OLD.priority <> NEW.priority
                             OR OLD.turn <> NEW.turn OR OLD.run_at <> NEW.run_at
                             OR OLD.id <> NEW.id))
                       OR (OLD.state = 'queued' AND NEW.state NOT IN ('queued', 'running')))
    EXECUTE FUNCTION exportq.queue_changed();

-- The snapshot: a cache, rebuilt from the jobs at any time (unlogged: a crash
-- empties it and the next read rebuilds it).
CREATE UNLOGGED TABLE exportq.position_meta (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    taken_at      timestamptz NOT NULL,
    changes       bigint NOT NULL,  -- exportq.queue_changes then
    claims        bigint NOT NULL,  -- exportq.claim_count then
    next_ready_at timestamptz,      -- the first run_at after taken_at of a waiting job
    ready         bigint NOT NULL   -- ready jobs then
);
CREATE UNLOGGED TABLE exportq.position_marks (
    np     integer NOT NULL,        -- -priority
    turn   bigint NOT NULL,
    run_at timestamptz NOT NULL,
    id     bigint NOT NULL,
    ahead  bigint NOT NULL,         -- ready jobs before this one in the snapshot
    PRIMARY KEY (np, turn, run_at, id)
);

-- Takes the snapshot again. False (nothing done) when another session is
-- taking one, a writer holds the lock, or this transaction cannot write.
CREATE FUNCTION exportq.position_refresh() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_changes bigint;
    v_claims bigint;
    v_ready bigint;
    v_next timestamptz;
    v_timeout text;
BEGIN
    IF current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN false;
    END IF;
    -- one refresher at a time; the others read the previous snapshot
    IF NOT pg_try_advisory_xact_lock(exportq.position_lock_key() + 1) THEN
        RETURN false;
    END IF;
    -- no writer in flight: every change counted so far is committed. Wait
    -- for the writers in flight (short transactions) at most 20 ms; new ones
    -- queue behind this request meanwhile, then go on at once.
    v_timeout := current_setting('lock_timeout');
    PERFORM set_config('lock_timeout', '20ms', true);
    BEGIN
        PERFORM pg_advisory_lock(exportq.position_lock_key());
    EXCEPTION WHEN lock_not_available THEN
        PERFORM set_config('lock_timeout', v_timeout, true);
        RETURN false;
    END;
    PERFORM set_config('lock_timeout', v_timeout, true);
    SELECT c.last_value, k.last_value INTO v_changes, v_claims
      FROM exportq.queue_changes c, exportq.claim_count k;
    PERFORM pg_advisory_unlock(exportq.position_lock_key());
    -- from here on a new statement snapshot sees every change counted above
    DELETE FROM exportq.position_marks;
    WITH o AS (
        SELECT -j.priority AS np, j.turn, j.run_at, j.id,
               row_number() OVER (ORDER BY -j.priority, j.turn, j.run_at, j.id) - 1 AS ahead
          FROM exportq.jobs j
         WHERE j.state = 'queued' AND j.run_at <= now())
    INSERT INTO exportq.position_marks (np, turn, run_at, id, ahead)
    SELECT o.np, o.turn, o.run_at, o.id, o.ahead FROM o WHERE o.ahead % 128 = 0;
    SELECT coalesce(max(m.ahead), -1) INTO v_ready FROM exportq.position_marks m;
    IF v_ready >= 0 THEN
        -- the jobs after the last mark
        SELECT v_ready + count(*) INTO v_ready FROM exportq.jobs j, exportq.position_marks m
         WHERE m.ahead = v_ready AND j.state = 'queued' AND j.run_at <= now()
           AND (-j.priority, j.turn, j.run_at, j.id) >= (m.np, m.turn, m.run_at, m.id);
    ELSE
        v_ready := 0;
    END IF;
    SELECT min(j.run_at) INTO v_next FROM exportq.jobs j
     WHERE j.state = 'queued' AND j.run_at > now();
    INSERT INTO exportq.position_meta AS pm (one, taken_at, changes, claims, next_ready_at, ready)
    VALUES (true, now(), v_changes, v_claims, v_next, v_ready)
    ON CONFLICT (one) DO UPDATE
        SET taken_at = excluded.taken_at, changes = excluded.changes, claims = excluded.claims,
            next_ready_at = excluded.next_ready_at, ready = excluded.ready;
    RETURN true;
END $$;

-- How positions are read now: 'snapshot' (marks, exact), 'stale' (marks of a
-- snapshot older than the latest changes) or 'count' (no usable snapshot:
-- count the ready jobs ahead), and the claims made since the snapshot.
CREATE FUNCTION exportq.position_mode(OUT mode text, OUT claims_since bigint)
LANGUAGE plpgsql AS $$
DECLARE
    m exportq.position_meta;
    v_changes bigint;
    v_claims bigint;
    small constant bigint := 2048;  -- POSITION_SMALL: below it a snapshot is cheap
BEGIN
    SELECT c.last_value, k.last_value INTO v_changes, v_claims
      FROM exportq.queue_changes c, exportq.claim_count k;
    SELECT * INTO m FROM exportq.position_meta;
    -- claims are taken to come from the head of the order; a capped owner's
    -- jobs are skipped, so past 10 s with claims the snapshot is taken again
    IF FOUND AND m.changes = v_changes AND (m.next_ready_at IS NULL OR now() < m.next_ready_at)
       AND (v_claims = m.claims OR m.taken_at > now() - interval '10 seconds') THEN
        mode := 'snapshot';
        claims_since := greatest(v_claims - m.claims, 0);
        RETURN;
    END IF;
    IF (NOT FOUND OR m.ready <= small OR m.taken_at <= now() - interval '1 second')
       AND exportq.position_refresh() THEN
        SELECT * INTO m FROM exportq.position_meta;
        mode := 'snapshot';
        SELECT k.last_value INTO v_claims FROM exportq.claim_count k;
        claims_since := greatest(v_claims - m.claims, 0);
        RETURN;
    END IF;
    -- stale marks only for a few changes (each off by one at most) on a
    -- recent snapshot of a large queue; else count
    IF FOUND AND m.ready > small AND m.taken_at > now() - interval '5 seconds'
       AND v_changes - m.changes <= 64 THEN
        mode := 'stale';
        claims_since := greatest(v_claims - m.claims, 0);
    ELSE
        mode := 'count';
        claims_since := 0;
    END IF;
END $$;

-- The 1-based position of a ready queued job with this key: the mark at or
-- before it, then a walk along the claim index from the mark to the job (a
-- loop that stops at the job: a btree range scan would not stop at a row
-- comparison's upper bound). Clean, that is at most 127 ready entries;
-- stale, at most 1024 are walked.
CREATE FUNCTION exportq.position_at(p_np integer, p_turn bigint, p_run_at timestamptz, p_id bigint,
                                    p_mode text, p_claims_since bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    mk record;
    r record;
    n bigint := 0;
BEGIN
    IF p_mode <> 'count' THEN
        SELECT m.np, m.turn, m.run_at, m.id, m.ahead INTO mk FROM exportq.position_marks m
         WHERE (m.np, m.turn, m.run_at, m.id) <= (p_np, p_turn, p_run_at, p_id)
         ORDER BY m.np DESC, m.turn DESC, m.run_at DESC, m.id DESC
         LIMIT 1;
        IF FOUND THEN
            FOR r IN SELECT -j.priority AS np, j.turn, j.run_at, j.id FROM exportq.jobs j
                      WHERE j.state = 'queued' AND j.run_at <= now()
                        AND (-j.priority, j.turn, j.run_at, j.id) >= (mk.np, mk.turn, mk.run_at, mk.id)
                      ORDER BY -j.priority, j.turn, j.run_at, j.id
                      LIMIT 1024 LOOP  -- the limit makes it an ordered index scan
                EXIT WHEN (r.np, r.turn, r.run_at, r.id) >= (p_np, p_turn, p_run_at, p_id);
                n := n + 1;
            END LOOP;
            RETURN 1 + greatest(mk.ahead - p_claims_since, 0) + n;
        END IF;
    END IF;
    SELECT count(*) INTO n FROM exportq.jobs j
     WHERE j.state = 'queued' AND j.run_at <= now()
       AND (-j.priority, j.turn, j.run_at, j.id) < (p_np, p_turn, p_run_at, p_id);
    RETURN 1 + n;
END $$;

-- Position of a job: queued and ready -> 1-based rank in claim order; queued
-- waiting for its run_at -> NULL; running -> 0; finished -> NULL.
CREATE OR REPLACE FUNCTION exportq.job_position(j exportq.jobs) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    pm record;
BEGIN
    IF j.state = 'running' THEN
        RETURN 0;
    END IF;
    IF j.state <> 'queued' OR j.run_at > now() THEN
        RETURN NULL;
    END IF;
    pm := exportq.position_mode();
    RETURN exportq.position_at(-j.priority, j.turn, j.run_at, j.id, pm.mode, pm.claims_since);
END $$;

-- Positions of many jobs in one call (an API page): the snapshot is looked at
-- once, then each queued job costs one short index range.
CREATE FUNCTION exportq.positions(p_ids bigint[])
RETURNS TABLE (id bigint, "position" bigint)
LANGUAGE plpgsql AS $$
DECLARE
    pm record;
    j record;
BEGIN
    pm := exportq.position_mode();
    FOR j IN SELECT q.id, q.state, q.priority, q.turn, q.run_at FROM exportq.jobs q
              WHERE q.id = ANY (p_ids) LOOP
        id := j.id;
        "position" := CASE
            WHEN j.state = 'running' THEN 0
            WHEN j.state <> 'queued' OR j.run_at > now() THEN NULL
            ELSE exportq.position_at(-j.priority, j.turn, j.run_at, j.id, pm.mode, pm.claims_since) END;
        RETURN NEXT;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- turns

-- A new job's turn: max(the owner's last turn + 1, the turn of the job claimed
-- last). The owner's last turn is its newest job's (an owner's turns only
-- grow). A trigger, so every way in (exportq.enqueue, the API, a plain INSERT)
-- gets one; an explicit turn > 0 is kept.
CREATE FUNCTION exportq.jobs_set_turn() RETURNS trigger
LANGUAGE plpgsql AS $$
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
    NEW.turn := greatest(coalesce(v_last + 1, 0), (SELECT t.last_value FROM exportq.turn_claimed t));
    RETURN NEW;
END $$;
CREATE TRIGGER jobs_turn BEFORE INSERT ON exportq.jobs
    FOR EACH ROW EXECUTE FUNCTION exportq.jobs_set_turn();

-- ---------------------------------------------------------------- claim

-- As in 001 (same arguments and columns), in the order above, and the owner
-- cap applied in the candidate query itself: owners at their cap are left out
-- there, however many they are (001 gave up after 100 capped owners). The
-- advisory lock and the count after it keep the cap exact under concurrent
-- claimers; a candidate lost to such a race is skipped and the next one taken.
CREATE OR REPLACE FUNCTION exportq.claim(p_worker text, p_lease_seconds integer, p_owner_max integer)
RETURNS TABLE (id bigint, attempts integer, kind text, params text, email text, owner text,
               object_token text, function text, filename text, options text,
               upload_id text, created_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
    cand record;
    skipped text[] := '{}';
    rounds integer := 0;
BEGIN
    IF p_worker IS NULL OR length(p_worker) NOT BETWEEN 1 AND 127 THEN
        PERFORM exportq.reject('worker id must be 1 to 127 characters');
    END IF;
    LOOP
        rounds := rounds + 1;
        -- the capped owners: an uncorrelated subquery, run once per statement
        SELECT j.id, j.owner, j.turn INTO cand FROM exportq.jobs j
         WHERE j.state = 'queued' AND j.run_at <= now()
           AND (j.owner IS NULL OR p_owner_max IS NULL
                OR NOT (j.owner = ANY (skipped)
                        OR j.owner = ANY (ARRAY(SELECT r.owner FROM exportq.jobs r
                                                 WHERE r.state = 'running' AND r.owner IS NOT NULL
                                                 GROUP BY r.owner HAVING count(*) >= p_owner_max))))
         ORDER BY -j.priority, j.turn, j.run_at, j.id
         LIMIT 1
         FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        -- the owner's lock, then the UPDATE below (a new statement, so a new
        -- snapshot) counts its running jobs: it sees every claim of this
        -- owner committed by the claimers that held the lock before
        IF cand.owner IS NULL OR p_owner_max IS NULL
           OR pg_try_advisory_xact_lock(hashtext('exportq.owner'), hashtext(cand.owner)) THEN
            -- bump (only when the row was claimed): the claim counted under the
            -- writers' shared lock, taken first (see exportq.position_refresh),
            -- and the turn read by the next enqueues
            RETURN QUERY
            WITH c AS (
                UPDATE exportq.jobs j
                   SET state = 'running', attempts = j.attempts + 1, worker = p_worker,
                       lease_expires_at = now() + make_interval(secs => p_lease_seconds),
                       heartbeat_at = now(), started_at = now(), rows_estimate = NULL
                 WHERE j.id = cand.id
                   AND (cand.owner IS NULL OR p_owner_max IS NULL
                        OR (SELECT count(*) FROM exportq.jobs r
                             WHERE r.state = 'running' AND r.owner = cand.owner) < p_owner_max)
                RETURNING j.*),
            bump AS (
                SELECT pg_advisory_xact_lock_shared(exportq.position_lock_key()) AS l,
                       nextval('exportq.claim_count') AS n, setval('exportq.turn_claimed', c.turn) AS t
                  FROM c)
            SELECT c.id, c.attempts, c.kind, c.params::text, c.email, c.owner, c.object_token,
                   (SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
                      FROM pg_catalog.pg_proc p
                      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                     WHERE p.oid = pg_catalog.to_regprocedure(k.function)),
                   k.filename, k.options::text, c.upload_id,
                   floor(extract(epoch FROM c.created_at))::bigint
              FROM c CROSS JOIN bump LEFT JOIN exportq.kinds k ON k.name = c.kind;
            IF FOUND THEN
                RETURN;
            END IF;
        END IF;
        -- lost a race for this owner; only concurrent claimers cause this
        IF rounds >= 64 THEN
            RETURN;
        END IF;
        skipped := skipped || cand.owner;
    END LOOP;
END $$;

-- ------------------------------------------------------------- progress

-- The planner's estimate of the export's rows, recorded by the worker when the
-- attempt starts (fenced like a heartbeat).
CREATE FUNCTION exportq.set_estimate(p_id bigint, p_worker text, p_attempt integer, p_rows bigint)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j SET rows_estimate = greatest(p_rows, 0)
     WHERE j.id = p_id AND j.worker = p_worker AND j.attempts = p_attempt AND j.state = 'running';
    IF FOUND THEN RETURN 'ok'; END IF;
    RETURN exportq.fence_reason(p_id, p_worker, p_attempt);
END $$;

-- What the queue knows about speed: over the newest succeeded jobs, the mean
-- duration of jobs of this kind (kind_secs) and of any kind (any_secs), rows
-- per second of this kind (kind_rate); the live worker slots (job threads
-- connected to this database, at least the workers holding live leases); the
-- running jobs and the seconds they still need by the mean duration (rem_secs).
CREATE FUNCTION exportq.queue_speed(p_kind text, OUT kind_secs double precision,
                                    OUT any_secs double precision, OUT kind_rate double precision,
                                    OUT slots bigint, OUT running bigint, OUT rem_secs double precision)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    WITH recent AS (
        SELECT r.kind, r.rows,
               greatest(extract(epoch FROM r.finished_at - r.started_at), 0.001)::double precision AS secs,
               row_number() OVER (PARTITION BY r.kind ORDER BY r.expires_at DESC) AS nk,
               row_number() OVER (ORDER BY r.expires_at DESC) AS na
          FROM (SELECT s.kind, s.rows, s.started_at, s.finished_at, s.expires_at FROM exportq.jobs s
                 WHERE s.state = 'succeeded' AND s.started_at IS NOT NULL
                 ORDER BY s.expires_at DESC LIMIT 200) r)
    SELECT avg(secs) FILTER (WHERE kind = p_kind AND nk <= 20),
           avg(secs) FILTER (WHERE na <= 50),
           sum(rows) FILTER (WHERE kind = p_kind AND nk <= 20)
             / nullif(sum(secs) FILTER (WHERE kind = p_kind AND nk <= 20), 0)
      INTO kind_secs, any_secs, kind_rate FROM recent;
    SELECT count(*), sum(greatest(coalesce(any_secs, 0)
                                  - extract(epoch FROM now() - r.started_at), 0))
      INTO running, rem_secs
      FROM exportq.jobs r WHERE r.state = 'running';
    SELECT count(*) INTO slots FROM pg_catalog.pg_stat_activity a
     WHERE a.datname = current_database() AND a.application_name = 'exportq-worker';
    slots := greatest(slots, (SELECT count(DISTINCT r.worker) FROM exportq.jobs r
                               WHERE r.state = 'running' AND r.lease_expires_at > now()));
END $$;

-- Position, percent and eta_seconds of many jobs in one call (a status, an
-- API page): the snapshot is looked at once, the speed once per kind. NULL
-- where nothing honest can be said. percent: 0 while queued, rows over the
-- planner's estimate while running (at most 99), 100 once succeeded.
-- eta_seconds: queued: the work ahead (the running jobs' rest and the jobs
-- ahead at the mean duration) shared by the live slots, plus this job's own
-- mean duration (a job waiting for its retry time: that wait plus its own
-- duration); running: the rest of the estimate at the job's own rate (at the
-- kind's before rows flow), else the kind's mean duration minus the time
-- spent; NULL without history or without a live worker.
CREATE FUNCTION exportq.progress(p_ids bigint[])
RETURNS TABLE (id bigint, "position" bigint, percent integer, eta_seconds bigint)
LANGUAGE plpgsql AS $$
DECLARE
    pm record;
    sp record;
    sp_kind text;
    j record;
    own double precision;
    elapsed double precision;
    rest double precision;
BEGIN
    FOR j IN SELECT q.id, q.state, q.kind, q.priority, q.turn, q.run_at, q.rows, q.rows_estimate,
                    q.started_at
               FROM exportq.jobs q WHERE q.id = ANY (p_ids) ORDER BY q.kind LOOP
        id := j.id;
        "position" := NULL;
        percent := NULL;
        eta_seconds := NULL;
        rest := NULL;
        IF j.state IN ('succeeded', 'expired') THEN
            percent := 100;
            eta_seconds := 0;
        ELSIF j.state IN ('queued', 'running') THEN
            IF sp_kind IS DISTINCT FROM j.kind THEN
                sp := exportq.queue_speed(j.kind);
                sp_kind := j.kind;
            END IF;
            own := coalesce(sp.kind_secs, sp.any_secs);
            IF j.state = 'running' THEN
                "position" := 0;
                IF j.rows_estimate IS NOT NULL THEN
                    percent := CASE WHEN j.rows_estimate = 0 THEN 99
                                    ELSE least(99, floor(100.0 * j.rows / j.rows_estimate))::integer END;
                END IF;
                elapsed := greatest(extract(epoch FROM now() - j.started_at), 0);
                IF j.rows_estimate > j.rows AND j.rows > 0 AND elapsed >= 2 THEN
                    rest := (j.rows_estimate - j.rows) * elapsed / j.rows;
                ELSIF j.rows_estimate > j.rows AND sp.kind_rate > 0 THEN
                    rest := (j.rows_estimate - j.rows) / sp.kind_rate;
                ELSIF own IS NOT NULL THEN
                    rest := greatest(own - elapsed, 1);
                END IF;
            ELSE
                percent := 0;
                IF j.run_at <= now() THEN
                    IF pm IS NULL THEN
                        pm := exportq.position_mode();
                    END IF;
                    "position" := exportq.position_at(-j.priority, j.turn, j.run_at, j.id,
                                                      pm.mode, pm.claims_since);
                END IF;
                IF own IS NOT NULL AND sp.slots > 0 THEN
                    IF "position" IS NULL THEN
                        rest := greatest(extract(epoch FROM j.run_at - now()), 0) + own;
                    ELSIF "position" <= sp.slots - sp.running THEN
                        rest := own;
                    ELSE
                        rest := (coalesce(sp.rem_secs, 0)
                                 + ("position" - 1) * coalesce(sp.any_secs, own)) / sp.slots + own;
                    END IF;
                END IF;
            END IF;
            eta_seconds := ceil(rest)::bigint;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- status

-- As in 001, plus rows_estimate, percent and eta_seconds (columns added at the
-- end: callers that name columns are unaffected).
DROP FUNCTION exportq.status(bigint);
CREATE FUNCTION exportq.status(job_id bigint)
RETURNS TABLE (id bigint, kind text, owner text, state text, "position" bigint, rows bigint,
               bytes bigint, attempts integer, last_error text, created_at timestamptz,
               started_at timestamptz, finished_at timestamptz, expires_at timestamptz,
               rows_estimate bigint, percent integer, eta_seconds bigint)
LANGUAGE sql VOLATILE AS $$
    SELECT j.id, j.kind, j.owner, j.state, p.position, j.rows, j.bytes, j.attempts,
           j.last_error, j.created_at, j.started_at, j.finished_at, j.expires_at,
           j.rows_estimate, p.percent, p.eta_seconds
      FROM exportq.jobs j JOIN exportq.progress(ARRAY[$1]) p ON p.id = j.id
     WHERE j.id = $1
$$;
