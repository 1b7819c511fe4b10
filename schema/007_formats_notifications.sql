-- 007_formats_notifications.sql - export formats, the installation id (mail
-- Message-IDs) and webhook events (DESIGN.md "Formats", "Notifications").
--
-- Rolling upgrade: every function of the previous release keeps its
-- signature and meaning. exportq.enqueue is replaced (not overloaded) by a
-- 7-argument version whose last argument, format, defaults to NULL, so every
-- existing call still resolves. enqueue_job (7 arguments) is untouched: the
-- format is set by a wrapper, so later changes to enqueue_job compose.

-- ---------------------------------------------------------------- formats
-- The format a job is exported in, resolved at enqueue (NULL: enqueued before
-- formats existed = csv). `warning`: something the user should know about a
-- finished export (xlsx cells cut at Excel's 32,767 characters).
ALTER TABLE exportq.jobs
    ADD COLUMN format text CHECK (format IS NULL OR format IN ('csv', 'tsv', 'jsonl', 'xlsx')),
    ADD COLUMN warning text;

-- The format a job of kind p_kind gets when it asks for p_format (NULL = the
-- kind's options.format, else csv), checked against options.formats.
CREATE FUNCTION exportq.resolve_format(p_kind text, p_format text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    o jsonb;
    f text;
BEGIN
    SELECT k.options INTO o FROM exportq.kinds k WHERE k.name = p_kind;
    f := coalesce(p_format, o->>'format', 'csv');
    IF f NOT IN ('csv', 'tsv', 'jsonl', 'xlsx') THEN
        PERFORM exportq.reject(format('unknown format %s (known: csv, tsv, jsonl, xlsx)',
                                      quote_literal(left(f, 40))));
    END IF;
    IF o ? 'formats' AND NOT (o->'formats') ? f THEN
        PERFORM exportq.reject(format('kind %s does not offer format %s (it offers: %s)', p_kind, f,
                                      (SELECT string_agg(e, ', ') FROM jsonb_array_elements_text(o->'formats') e)));
    END IF;
    RETURN f;
END $$;

-- enqueue_job with a format: validates it, enqueues, and records it on a new job.
CREATE FUNCTION exportq.enqueue_job_format(p_kind text, p_params jsonb, p_email text, p_owner text,
                                           p_priority integer, p_dedupe_key text,
                                           p_idempotency_key text, p_format text,
                                           OUT job_id bigint, OUT existing boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_format text;
BEGIN
    IF p_kind IS NOT NULL AND EXISTS (SELECT 1 FROM exportq.kinds k WHERE k.name = p_kind) THEN
        v_format := exportq.resolve_format(p_kind, p_format);
    END IF;
    SELECT e.job_id, e.existing INTO job_id, existing
      FROM exportq.enqueue_job(p_kind, p_params, p_email, p_owner, p_priority, p_dedupe_key,
                               p_idempotency_key) e;
    IF NOT existing THEN
        -- same transaction as the insert: no worker can claim the job before
        UPDATE exportq.jobs j SET format = v_format WHERE j.id = job_id;
    END IF;
END $$;

DROP FUNCTION exportq.enqueue(text, jsonb, text, text, integer, text);
CREATE FUNCTION exportq.enqueue(kind text, params jsonb DEFAULT '{}', email text DEFAULT NULL,
                                owner text DEFAULT NULL, priority integer DEFAULT 0,
                                dedupe_key text DEFAULT NULL, format text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql AS $$
    SELECT e.job_id FROM exportq.enqueue_job_format($1, $2, $3, $4, $5, $6, NULL, $7) e
$$;

-- A fenced warning on a running job (kept when it succeeds).
CREATE FUNCTION exportq.set_warning(p_id bigint, p_worker text, p_attempt integer, p_warning text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j SET warning = left(p_warning, 1000)
     WHERE j.id = p_id AND j.worker = p_worker AND j.attempts = p_attempt AND j.state = 'running';
    IF FOUND THEN RETURN 'ok'; END IF;
    RETURN exportq.fence_reason(p_id, p_worker, p_attempt);
END $$;

-- define_kind learns the options format, formats and webhook_url.
CREATE OR REPLACE FUNCTION exportq.define_kind(name text, function regproc, filename text DEFAULT NULL,
                                               options jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p_name ALIAS FOR $1;
    p_fn ALIAS FOR $2;
    p_filename ALIAS FOR $3;
    p_options jsonb := coalesce($4, '{}');
    fn record;
    opt record;
    known constant text[] := ARRAY['gzip', 'gzip_level', 'bom', 'formula_guard', 'header',
                                   'format', 'formats', 'webhook_url'];
    formats constant text[] := ARRAY['csv', 'tsv', 'jsonl', 'xlsx'];
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
        IF NOT opt.key = ANY (known) THEN
            PERFORM exportq.reject(format('unknown option %s (known: %s)', quote_literal(left(opt.key, 80)),
                                          array_to_string(known, ', ')));
        END IF;
        IF opt.key = 'gzip_level' THEN
            IF jsonb_typeof(opt.value) <> 'number' OR opt.value::text !~ '^[1-9]$' THEN
                PERFORM exportq.reject('option gzip_level must be a whole number from 1 to 9');
            END IF;
        ELSIF opt.key = 'format' THEN
            IF jsonb_typeof(opt.value) <> 'string' OR NOT (opt.value #>> '{}') = ANY (formats) THEN
                PERFORM exportq.reject('option format must be one of csv, tsv, jsonl, xlsx');
            END IF;
        ELSIF opt.key = 'formats' THEN
            IF jsonb_typeof(opt.value) <> 'array' OR jsonb_array_length(opt.value) = 0
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(opt.value) e
                           WHERE jsonb_typeof(e) <> 'string' OR NOT (e #>> '{}') = ANY (formats)) THEN
                PERFORM exportq.reject('option formats must be a non-empty array of csv, tsv, jsonl, xlsx');
            END IF;
        ELSIF opt.key = 'webhook_url' THEN
            IF jsonb_typeof(opt.value) <> 'string' OR length(opt.value #>> '{}') > 2048
               OR (opt.value #>> '{}') !~ '^https?://[^[:space:][:cntrl:]]+$' THEN
                PERFORM exportq.reject('option webhook_url must be an http:// or https:// URL (at most 2048 characters)');
            END IF;
        ELSIF jsonb_typeof(opt.value) <> 'boolean' THEN
            PERFORM exportq.reject(format('option %s must be true or false', opt.key));
        END IF;
    END LOOP;
    IF p_options ? 'format' AND p_options ? 'formats'
       AND NOT (p_options->'formats') ? (p_options->>'format') THEN
        PERFORM exportq.reject('option format must be one of the kind''s formats');
    END IF;
    INSERT INTO exportq.kinds AS k (name, function, filename, options)
    VALUES (p_name, pg_catalog.quote_ident(fn.nspname) || '.' || pg_catalog.quote_ident(fn.proname) || '(pg_catalog.jsonb)',
            p_filename, p_options)
    ON CONFLICT ON CONSTRAINT kinds_pkey DO UPDATE
        SET function = excluded.function, filename = excluded.filename,
            options = excluded.options, updated_at = now();
END $$;

-- ------------------------------------------------------------ installation
-- One random id per installation (database), made at migrate: it makes mail
-- Message-IDs unique across installations that share job ids.
CREATE TABLE exportq.installation (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    id         text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', '') CHECK (id ~ '^[0-9a-f]{32}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO exportq.installation DEFAULT VALUES;

-- --------------------------------------------------------------- webhooks
-- One row per event (at least once delivery): made by a trigger in the same
-- transaction as the job's state change, so no event is lost whoever changes
-- the state (worker, API, SQL, retention). `job` is the job row at the event,
-- so every retry sends the same data. `url` is the kind's webhook_url at the
-- event; NULL = the operator's EXPORTQ_WEBHOOK_URL. Deleted with the job.
CREATE TABLE exportq.webhooks (
    id               text PRIMARY KEY DEFAULT 'evt_' || replace(gen_random_uuid()::text, '-', ''),
    job_id           bigint NOT NULL REFERENCES exportq.jobs (id) ON DELETE CASCADE,
    type             text NOT NULL CHECK (type IN ('export.succeeded', 'export.failed',
                                                   'export.cancelled', 'export.expired')),
    url              text,
    job              jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0,
    next_at          timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX webhooks_due_idx ON exportq.webhooks (next_at) WHERE state = 'pending';
CREATE INDEX webhooks_job_idx ON exportq.webhooks (job_id);
CREATE INDEX webhooks_created_idx ON exportq.webhooks (created_at DESC);

CREATE FUNCTION exportq.webhook_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exportq.webhooks (job_id, type, url, job)
    VALUES (NEW.id, 'export.' || NEW.state,
            (SELECT k.options->>'webhook_url' FROM exportq.kinds k WHERE k.name = NEW.kind),
            to_jsonb(NEW));
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_webhook_event AFTER UPDATE OF state ON exportq.jobs
    FOR EACH ROW
    WHEN (NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired') AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION exportq.webhook_event();

-- Claims one due event (SKIP LOCKED) and leases it. p_global: whether the
-- caller has EXPORTQ_WEBHOOK_URL; without it, events with no URL of their
-- own are marked skipped (nobody to tell).
CREATE FUNCTION exportq.webhook_claim(p_lease_seconds integer, p_global boolean)
RETURNS SETOF exportq.webhooks
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT p_global THEN
        UPDATE exportq.webhooks w SET state = 'skipped', last_error = 'no webhook URL configured'
         WHERE w.state = 'pending' AND w.url IS NULL AND w.next_at <= now();
    END IF;
    RETURN QUERY
    WITH d AS (
        SELECT w.id FROM exportq.webhooks w
         WHERE w.state = 'pending' AND w.next_at <= now()
           AND (w.lease_expires_at IS NULL OR w.lease_expires_at < now())
         ORDER BY w.next_at
         LIMIT 1
         FOR UPDATE SKIP LOCKED)
    UPDATE exportq.webhooks w
       SET lease_expires_at = now() + make_interval(secs => p_lease_seconds), attempts = w.attempts + 1
      FROM d WHERE w.id = d.id
    RETURNING w.*;
END $$;

-- The outcome of an attempt: delivered; or retried after
-- min(10 s * 2^(attempts-1), 1 h) * random(0.5..1.5) (the first retry within
-- 15 s), until 24 h after the event, then failed. p_final: failed now (a URL
-- refused before any connection).
CREATE FUNCTION exportq.webhook_result(p_id text, p_delivered boolean, p_status integer, p_error text,
                                       p_final boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    UPDATE exportq.webhooks w
       SET state = CASE WHEN p_delivered THEN 'delivered'
                        WHEN p_final OR now() - w.created_at >= interval '24 hours' THEN 'failed'
                        ELSE 'pending' END,
           next_at = CASE WHEN p_delivered THEN w.next_at
                          ELSE now() + make_interval(secs => least(10 * power(2, least(greatest(w.attempts - 1, 0), 20)), 3600)
                                                             * (0.5 + random())) END,
           delivered_at = CASE WHEN p_delivered THEN now() ELSE NULL END,
           lease_expires_at = NULL, last_status = p_status,
           last_error = CASE WHEN p_delivered THEN NULL ELSE left(p_error, 1000) END
     WHERE w.id = p_id
    RETURNING w.state INTO st;
    RETURN coalesce(st, 'gone');
END $$;
