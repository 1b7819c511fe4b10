-- 001_queue.sql - the exportq job queue: kinds, jobs, tokens and the plpgsql
-- functions that give them their semantics (DESIGN.md "SQL API" and "Queue
-- semantics"). Applied by `exportq migrate` inside one transaction.
--
-- Every object is schema-qualified so the functions do not depend on the
-- caller's search_path. Errors raised for bad input use SQLSTATE 22023
-- (invalid_parameter_value) and leave nothing written.

CREATE SCHEMA IF NOT EXISTS exportq;

-- ---------------------------------------------------------------- kinds
CREATE TABLE exportq.kinds (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,64}$'),
    -- the function's signature, qualified whatever the search_path
    -- ('app.export_user_activity(pg_catalog.jsonb)'), resolved with
    -- to_regprocedure() where it is used (NULL once it was dropped). Not a
    -- regproc: pg_upgrade refuses user tables with reg* columns other than
    -- regclass, regrole and regtype, and a plain oid would not survive
    -- pg_upgrade or dump/restore.
    function   text NOT NULL,
    filename   text CHECK (filename IS NULL OR (length(filename) BETWEEN 1 AND 200
                                                AND filename !~ '[[:cntrl:]/\\]')),
    options    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- ----------------------------------------------------------------- jobs
-- fillfactor 70 leaves room on each page so heartbeats and progress updates
-- are HOT. Those updates touch lease_expires_at, heartbeat_at, rows, bytes:
-- none of them is indexed, nor used in an index predicate.
CREATE TABLE exportq.jobs (
    id                    bigserial PRIMARY KEY,
    kind                  text NOT NULL REFERENCES exportq.kinds (name) ON UPDATE CASCADE,
    params                jsonb NOT NULL DEFAULT '{}',
    email                 text,
    owner                 text,
    priority              integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    dedupe_key            text,
    idempotency_key       text,
    state                 text NOT NULL DEFAULT 'queued'
                          CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
                                           'cancelled', 'expired')),
    run_at                timestamptz NOT NULL DEFAULT now(),
    attempts              integer NOT NULL DEFAULT 0,
    lease_expires_at      timestamptz,
    heartbeat_at          timestamptz,
    worker                text,
    rows                  bigint NOT NULL DEFAULT 0,
    bytes                 bigint NOT NULL DEFAULT 0,
    last_error            text,
    object_token          text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    object_key            text,
    upload_id             text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    finished_at           timestamptz,
    expires_at            timestamptz,
    link_expires_at       timestamptz,
    mail_state            text NOT NULL DEFAULT 'none'
                          CHECK (mail_state IN ('none', 'pending', 'sent', 'failed')),
    mail_kind             text CHECK (mail_kind IN ('success', 'failure')),
    mail_attempts         integer NOT NULL DEFAULT 0,
    mail_next_at          timestamptz,
    mail_lease_expires_at timestamptz,
    mail_error            text
) WITH (fillfactor = 70);

-- claimable jobs, in claim order
CREATE INDEX jobs_claim_idx ON exportq.jobs (priority DESC, run_at, id) WHERE state = 'queued';
-- running jobs: rescue scans them, the owner cap counts them
CREATE INDEX jobs_running_idx ON exportq.jobs (owner) WHERE state = 'running';
-- an owner's jobs, newest first (API listing)
CREATE INDEX jobs_owner_idx ON exportq.jobs (owner, id DESC);
-- one live job per (owner, dedupe_key); race-safe through the unique index
CREATE UNIQUE INDEX jobs_dedupe_idx ON exportq.jobs ((coalesce(owner, '')), dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running');
-- HTTP Idempotency-Key: one job per (owner, key), forever (until purged)
CREATE UNIQUE INDEX jobs_idempotency_idx ON exportq.jobs ((coalesce(owner, '')), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- mails to send
CREATE INDEX jobs_mail_idx ON exportq.jobs (mail_next_at) WHERE mail_state = 'pending';
-- objects to delete after their retention
CREATE INDEX jobs_expire_idx ON exportq.jobs (expires_at) WHERE state = 'succeeded';
-- finished rows to purge
CREATE INDEX jobs_purge_idx ON exportq.jobs ((coalesce(expires_at, finished_at)))
    WHERE state IN ('failed', 'cancelled', 'expired');

-- --------------------------------------------------------------- tokens
CREATE TABLE exportq.tokens (
    id           bigserial PRIMARY KEY,
    owner        text NOT NULL CHECK (length(owner) BETWEEN 1 AND 256 AND owner !~ '[[:cntrl:]]'),
    token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- ------------------------------------------------------------- helpers

-- Raises 22023 invalid_parameter_value with `msg`.
CREATE FUNCTION exportq.reject(msg text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = msg;
END $$;

-- True for a plain mailbox "local@domain.tld" that is safe in a mail header:
-- RFC 5322 dot-atom local part, DNS host name, at most 254 characters, and
-- therefore no CR/LF, control characters, spaces, commas or angle brackets.
CREATE FUNCTION exportq.valid_email(addr text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT length(addr) <= 254
       AND addr ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$'
       AND length(split_part(addr, '@', 1)) <= 64
$$;

-- Retry delay after `attempts` attempts: min(2^attempts * 5 s, 10 min) with
-- jitter 0.5..1.5 so retries of many jobs do not come back in lockstep.
CREATE FUNCTION exportq.backoff(attempts integer) RETURNS interval
LANGUAGE sql VOLATILE AS $$
    SELECT make_interval(secs => least(power(2, least(greatest(attempts, 0), 20)) * 5, 600)
                                 * (0.5 + random()))
$$;

-- Position of a job: queued -> 1 + queued jobs claimed before it (priority
-- desc, run_at, id); running -> 0; finished -> NULL.
CREATE FUNCTION exportq.job_position(j exportq.jobs) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE j.state
        WHEN 'queued' THEN 1 + (SELECT count(*) FROM exportq.jobs q
                                WHERE q.state = 'queued'
                                  AND (q.priority > j.priority
                                       OR (q.priority = j.priority
                                           AND (q.run_at, q.id) < (j.run_at, j.id))))
        WHEN 'running' THEN 0
        ELSE NULL END
$$;

-- ---------------------------------------------------------- public API

CREATE FUNCTION exportq.define_kind(name text, function regproc, filename text DEFAULT NULL,
                                    options jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p_name ALIAS FOR $1;
    p_fn ALIAS FOR $2;
    p_filename ALIAS FOR $3;
    p_options jsonb := coalesce($4, '{}');
    fn record;
    opt record;
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z0-9_]{1,64}$' THEN
        PERFORM exportq.reject(format('invalid kind name %s: use 1 to 64 of a-z, 0-9 and _',
                                      coalesce(quote_literal(left(p_name, 80)), 'NULL')));
    END IF;
    IF p_fn IS NULL THEN
        PERFORM exportq.reject('define_kind: function is required');
    END IF;
    SELECT p.pronargs, p.proargtypes, p.proretset, p.prokind, p.proname, n.nspname INTO fn
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE p.oid = p_fn;
    IF NOT FOUND THEN
        PERFORM exportq.reject(format('function %s does not exist', p_fn));
    END IF;
    IF fn.prokind <> 'f' OR fn.pronargs <> 1 OR fn.proargtypes[0] <> 'jsonb'::regtype THEN
        PERFORM exportq.reject(format('function %s must take exactly one jsonb argument', p_fn));
    END IF;
    IF NOT fn.proretset THEN
        PERFORM exportq.reject(format('function %s must return a set (RETURNS TABLE or SETOF)', p_fn));
    END IF;
    IF p_filename IS NOT NULL AND (length(p_filename) NOT BETWEEN 1 AND 200
                                   OR p_filename ~ '[[:cntrl:]/\\]' OR p_filename ~ '^\.') THEN
        PERFORM exportq.reject('filename must be 1 to 200 characters without /, \, control characters or a leading dot');
    END IF;
    IF jsonb_typeof(p_options) <> 'object' THEN
        PERFORM exportq.reject('options must be a JSON object');
    END IF;
    FOR opt IN SELECT e.key, e.value FROM jsonb_each(p_options) e LOOP
        IF opt.key NOT IN ('gzip', 'gzip_level', 'bom', 'formula_guard', 'header') THEN
            PERFORM exportq.reject(format('unknown option %s (known: gzip, gzip_level, bom, formula_guard, header)',
                                          quote_literal(left(opt.key, 80))));
        END IF;
        IF opt.key = 'gzip_level' THEN
            IF jsonb_typeof(opt.value) <> 'number' OR opt.value::text !~ '^[1-9]$' THEN
                PERFORM exportq.reject('option gzip_level must be a whole number from 1 to 9');
            END IF;
        ELSIF jsonb_typeof(opt.value) <> 'boolean' THEN
            PERFORM exportq.reject(format('option %s must be true or false', opt.key));
        END IF;
    END LOOP;
    INSERT INTO exportq.kinds AS k (name, function, filename, options)
    VALUES (p_name, pg_catalog.quote_ident(fn.nspname) || '.' || pg_catalog.quote_ident(fn.proname) || '(pg_catalog.jsonb)',
            p_filename, p_options)
    ON CONFLICT ON CONSTRAINT kinds_pkey DO UPDATE
        SET function = excluded.function, filename = excluded.filename,
            options = excluded.options, updated_at = now();
END $$;

-- The enqueue behind exportq.enqueue() and the API: validates, applies
-- dedupe_key (per owner, while queued or running) and idempotency_key (per
-- owner, forever), inserts and notifies. existing = an existing job returned.
CREATE FUNCTION exportq.enqueue_job(p_kind text, p_params jsonb, p_email text, p_owner text,
                                    p_priority integer, p_dedupe_key text,
                                    p_idempotency_key text,
                                    OUT job_id bigint, OUT existing boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_params jsonb := coalesce(p_params, '{}');
    v_priority integer := coalesce(p_priority, 0);
    tries integer := 0;
BEGIN
    existing := false;
    IF p_kind IS NULL OR NOT EXISTS (SELECT 1 FROM exportq.kinds k WHERE k.name = p_kind) THEN
        PERFORM exportq.reject(format('unknown export kind %s',
                                      coalesce(quote_literal(left(p_kind, 80)), 'NULL')));
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
        INSERT INTO exportq.jobs (kind, params, email, owner, priority, dedupe_key, idempotency_key)
        VALUES (p_kind, v_params, p_email, p_owner, v_priority, p_dedupe_key, p_idempotency_key)
        ON CONFLICT DO NOTHING
        RETURNING id INTO job_id;
        IF job_id IS NOT NULL THEN
            PERFORM pg_notify('exportq_jobs', job_id::text);
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

CREATE FUNCTION exportq.enqueue(kind text, params jsonb DEFAULT '{}', email text DEFAULT NULL,
                                owner text DEFAULT NULL, priority integer DEFAULT 0,
                                dedupe_key text DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    SELECT e.job_id FROM exportq.enqueue_job($1, $2, $3, $4, $5, $6, NULL) e
$$;

CREATE FUNCTION exportq.status(job_id bigint)
RETURNS TABLE (id bigint, kind text, owner text, state text, "position" bigint, rows bigint,
               bytes bigint, attempts integer, last_error text, created_at timestamptz,
               started_at timestamptz, finished_at timestamptz, expires_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT j.id, j.kind, j.owner, j.state, exportq.job_position(j), j.rows, j.bytes, j.attempts,
           j.last_error, j.created_at, j.started_at, j.finished_at, j.expires_at
      FROM exportq.jobs j WHERE j.id = $1
$$;

-- Cancels a queued or running job (a running one learns it at its next
-- heartbeat; exportq_cancel is notified for workers that listen).
CREATE FUNCTION exportq.cancel(job_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j
       SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL,
           last_error = coalesce(j.last_error, 'cancelled')
     WHERE j.id = $1 AND j.state IN ('queued', 'running');
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('exportq_cancel', $1::text);
    RETURN true;
END $$;

-- ------------------------------------------------- worker-side functions

-- Claims the next ready job whose owner is under the cap. The owner cap holds
-- under concurrency: the claimer takes a transaction advisory lock on the
-- owner before counting its running jobs (a try-lock, so claimers never wait
-- on each other and cannot deadlock: a busy owner is skipped this round).
CREATE FUNCTION exportq.claim(p_worker text, p_lease_seconds integer, p_owner_max integer)
RETURNS TABLE (id bigint, attempts integer, kind text, params text, email text, owner text,
               object_token text, function text, filename text, options text,
               upload_id text, created_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
    cand record;
    skipped_owners text[] := '{}';
    running bigint;
    rounds integer := 0;
BEGIN
    IF p_worker IS NULL OR length(p_worker) NOT BETWEEN 1 AND 127 THEN
        PERFORM exportq.reject('worker id must be 1 to 127 characters');
    END IF;
    LOOP
        rounds := rounds + 1;
        EXIT WHEN rounds > 100;
        SELECT j.id, j.owner INTO cand FROM exportq.jobs j
         WHERE j.state = 'queued' AND j.run_at <= now()
           AND (j.owner IS NULL OR NOT (j.owner = ANY (skipped_owners)))
         ORDER BY j.priority DESC, j.run_at, j.id
         LIMIT 1
         FOR UPDATE SKIP LOCKED;
        EXIT WHEN NOT FOUND;
        IF cand.owner IS NOT NULL AND p_owner_max IS NOT NULL THEN
            IF NOT pg_try_advisory_xact_lock(hashtext('exportq.owner'), hashtext(cand.owner)) THEN
                skipped_owners := skipped_owners || cand.owner;
                CONTINUE;
            END IF;
            SELECT count(*) INTO running FROM exportq.jobs r
             WHERE r.state = 'running' AND r.owner = cand.owner;
            IF running >= p_owner_max THEN
                skipped_owners := skipped_owners || cand.owner;
                CONTINUE;
            END IF;
        END IF;
        RETURN QUERY
        WITH c AS (
            UPDATE exportq.jobs j
               SET state = 'running', attempts = j.attempts + 1, worker = p_worker,
                   lease_expires_at = now() + make_interval(secs => p_lease_seconds),
                   heartbeat_at = now(), started_at = now()
             WHERE j.id = cand.id
            RETURNING j.*)
        SELECT c.id, c.attempts, c.kind, c.params::text, c.email, c.owner, c.object_token,
               (SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
                  FROM pg_catalog.pg_proc p
                  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                 WHERE p.oid = pg_catalog.to_regprocedure(k.function)),
               k.filename, k.options::text, c.upload_id,
               floor(extract(epoch FROM c.created_at))::bigint
          FROM c LEFT JOIN exportq.kinds k ON k.name = c.kind;
        RETURN;
    END LOOP;
END $$;

-- Why a fenced update found nothing: 'cancelled' when this attempt was
-- cancelled, else 'lost' (rescued, re-claimed, finished or gone).
CREATE FUNCTION exportq.fence_reason(p_id bigint, p_worker text, p_attempt integer) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT 'cancelled' FROM exportq.jobs j
                      WHERE j.id = p_id AND j.state = 'cancelled'
                        AND j.worker = p_worker AND j.attempts = p_attempt), 'lost')
$$;

CREATE FUNCTION exportq.heartbeat(p_id bigint, p_worker text, p_attempt integer,
                                  p_lease_seconds integer, p_rows bigint, p_bytes bigint)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j
       SET lease_expires_at = now() + make_interval(secs => p_lease_seconds),
           heartbeat_at = now(), rows = greatest(p_rows, 0), bytes = greatest(p_bytes, 0)
     WHERE j.id = p_id AND j.worker = p_worker AND j.attempts = p_attempt AND j.state = 'running';
    IF FOUND THEN RETURN 'ok'; END IF;
    RETURN exportq.fence_reason(p_id, p_worker, p_attempt);
END $$;

CREATE FUNCTION exportq.set_upload(p_id bigint, p_worker text, p_attempt integer, p_upload_id text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    -- clearing is allowed after a cancel too: the worker aborted the upload
    UPDATE exportq.jobs j SET upload_id = p_upload_id
     WHERE j.id = p_id AND j.worker = p_worker AND j.attempts = p_attempt
       AND (j.state = 'running' OR (p_upload_id IS NULL AND j.state = 'cancelled'));
    IF FOUND THEN RETURN 'ok'; END IF;
    RETURN exportq.fence_reason(p_id, p_worker, p_attempt);
END $$;

CREATE FUNCTION exportq.complete(p_id bigint, p_worker text, p_attempt integer, p_object_key text,
                                 p_rows bigint, p_bytes bigint, p_retention_seconds bigint,
                                 p_link_ttl bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j
       SET state = 'succeeded', object_key = p_object_key, upload_id = NULL,
           rows = p_rows, bytes = p_bytes, finished_at = now(), lease_expires_at = NULL,
           last_error = NULL,
           expires_at = now() + make_interval(secs => p_retention_seconds),
           link_expires_at = now() + make_interval(secs => least(p_link_ttl, p_retention_seconds)),
           mail_state = CASE WHEN j.email IS NULL THEN 'none' ELSE 'pending' END,
           mail_kind = CASE WHEN j.email IS NULL THEN NULL ELSE 'success' END,
           mail_next_at = now(), mail_attempts = 0
     WHERE j.id = p_id AND j.worker = p_worker AND j.attempts = p_attempt AND j.state = 'running';
    IF FOUND THEN RETURN 'ok'; END IF;
    RETURN exportq.fence_reason(p_id, p_worker, p_attempt);
END $$;

-- Returns 'requeued' or 'failed' (or 'cancelled'/'lost' when fenced out).
CREATE FUNCTION exportq.fail(p_id bigint, p_worker text, p_attempt integer, p_message text,
                             p_retryable boolean, p_max_attempts integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    retry boolean;
BEGIN
    UPDATE exportq.jobs j
       SET state = CASE WHEN p_retryable AND j.attempts < p_max_attempts THEN 'queued' ELSE 'failed' END,
           run_at = CASE WHEN p_retryable AND j.attempts < p_max_attempts
                         THEN now() + exportq.backoff(j.attempts) ELSE j.run_at END,
           finished_at = CASE WHEN p_retryable AND j.attempts < p_max_attempts THEN NULL ELSE now() END,
           last_error = left(p_message, 1000), lease_expires_at = NULL,
           worker = CASE WHEN p_retryable AND j.attempts < p_max_attempts THEN NULL ELSE j.worker END,
           mail_state = CASE WHEN (p_retryable AND j.attempts < p_max_attempts) OR j.email IS NULL
                             THEN j.mail_state ELSE 'pending' END,
           mail_kind = CASE WHEN (p_retryable AND j.attempts < p_max_attempts) OR j.email IS NULL
                            THEN j.mail_kind ELSE 'failure' END,
           mail_next_at = now(), mail_attempts = 0
     WHERE j.id = p_id AND j.worker = p_worker AND j.attempts = p_attempt AND j.state = 'running'
    RETURNING j.state = 'queued' INTO retry;
    IF NOT FOUND THEN
        RETURN exportq.fence_reason(p_id, p_worker, p_attempt);
    END IF;
    RETURN CASE WHEN retry THEN 'requeued' ELSE 'failed' END;
END $$;

-- Graceful drain: back to the queue at once, the attempt not counted.
CREATE FUNCTION exportq.release(p_id bigint, p_worker text, p_attempt integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j
       SET state = 'queued', attempts = j.attempts - 1, run_at = now(), worker = NULL,
           lease_expires_at = NULL
     WHERE j.id = p_id AND j.worker = p_worker AND j.attempts = p_attempt AND j.state = 'running';
    IF NOT FOUND THEN
        RETURN exportq.fence_reason(p_id, p_worker, p_attempt);
    END IF;
    PERFORM pg_notify('exportq_jobs', p_id::text);
    RETURN 'ok';
END $$;

-- Running jobs whose lease expired: queued again with backoff (the lost
-- attempt counts) or failed when their attempts are used up.
CREATE FUNCTION exportq.rescue(p_max_attempts integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH lost AS (
        SELECT j.id FROM exportq.jobs j
         WHERE j.state = 'running' AND j.lease_expires_at < now()
         FOR UPDATE SKIP LOCKED)
    UPDATE exportq.jobs j
       SET state = CASE WHEN j.attempts < p_max_attempts THEN 'queued' ELSE 'failed' END,
           run_at = CASE WHEN j.attempts < p_max_attempts
                         THEN now() + exportq.backoff(j.attempts) ELSE j.run_at END,
           finished_at = CASE WHEN j.attempts < p_max_attempts THEN NULL ELSE now() END,
           last_error = format('attempt %s lost: worker %s stopped renewing its lease',
                               j.attempts, coalesce(j.worker, '?')),
           worker = NULL, lease_expires_at = NULL,
           mail_state = CASE WHEN j.attempts < p_max_attempts OR j.email IS NULL
                             THEN j.mail_state ELSE 'pending' END,
           mail_kind = CASE WHEN j.attempts < p_max_attempts OR j.email IS NULL
                            THEN j.mail_kind ELSE 'failure' END,
           mail_next_at = now(), mail_attempts = 0
      FROM lost WHERE j.id = lost.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- ------------------------------------------------------------------ mail

CREATE FUNCTION exportq.mail_claim(p_worker text, p_lease_seconds integer)
RETURNS TABLE (id bigint, mail_kind text, kind text, email text, owner text, object_key text,
               filename text, rows bigint, bytes bigint, last_error text, created_at bigint,
               finished_at bigint, expires_at bigint, link_expires_at bigint,
               mail_attempts integer)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH m AS (
        SELECT j.id FROM exportq.jobs j
         WHERE j.mail_state = 'pending' AND j.mail_next_at <= now()
           AND (j.mail_lease_expires_at IS NULL OR j.mail_lease_expires_at < now())
         ORDER BY j.mail_next_at
         LIMIT 1
         FOR UPDATE SKIP LOCKED),
    c AS (
        UPDATE exportq.jobs j
           SET mail_lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               mail_attempts = j.mail_attempts + 1
          FROM m WHERE j.id = m.id
        RETURNING j.*)
    SELECT c.id, c.mail_kind, c.kind, c.email, c.owner, c.object_key, k.filename, c.rows, c.bytes,
           c.last_error, floor(extract(epoch FROM c.created_at))::bigint,
           floor(extract(epoch FROM c.finished_at))::bigint,
           floor(extract(epoch FROM c.expires_at))::bigint,
           floor(extract(epoch FROM c.link_expires_at))::bigint, c.mail_attempts
      FROM c LEFT JOIN exportq.kinds k ON k.name = c.kind;
END $$;

CREATE FUNCTION exportq.mail_done(p_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j
       SET mail_state = 'sent', mail_lease_expires_at = NULL, mail_error = NULL
     WHERE j.id = p_id AND j.mail_state = 'pending';
    RETURN FOUND;
END $$;

CREATE FUNCTION exportq.mail_fail(p_id bigint, p_message text, p_max_attempts integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j
       SET mail_state = CASE WHEN j.mail_attempts >= p_max_attempts THEN 'failed' ELSE 'pending' END,
           mail_next_at = now() + exportq.backoff(j.mail_attempts),
           mail_lease_expires_at = NULL, mail_error = left(p_message, 1000)
     WHERE j.id = p_id AND j.mail_state = 'pending';
    RETURN FOUND;
END $$;

-- ------------------------------------------------------------- retention

CREATE FUNCTION exportq.expire_claim(p_lease_seconds integer)
RETURNS TABLE (id bigint, object_key text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH e AS (
        SELECT j.id FROM exportq.jobs j
         WHERE j.state = 'succeeded' AND j.expires_at <= now()
           AND (j.lease_expires_at IS NULL OR j.lease_expires_at < now())
         ORDER BY j.expires_at
         LIMIT 1
         FOR UPDATE SKIP LOCKED)
    UPDATE exportq.jobs j
       SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
      FROM e WHERE j.id = e.id
    RETURNING j.id, j.object_key;
END $$;

CREATE FUNCTION exportq.expire_done(p_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j SET state = 'expired', lease_expires_at = NULL
     WHERE j.id = p_id AND j.state = 'succeeded';
    RETURN FOUND;
END $$;

CREATE FUNCTION exportq.purge(p_keep_seconds bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM exportq.jobs j
     WHERE j.state IN ('failed', 'cancelled', 'expired')
       AND coalesce(j.expires_at, j.finished_at) < now() - make_interval(secs => p_keep_seconds);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
