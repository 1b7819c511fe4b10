-- 003_kind_function_text.sql - exportq.kinds.function becomes text.
--
-- pg_upgrade refuses user tables with reg* columns other than regclass,
-- regrole and regtype, so a regproc column would block a major upgrade of the
-- application's database; a plain oid would not survive pg_upgrade or
-- dump/restore either. The function is now stored as its signature, qualified
-- whatever the search_path ('app.export_user_activity(jsonb)'), and resolved
-- with to_regprocedure() where it is used (NULL, and the job fails, once the
-- function was dropped). Also: the gzip_level option (1..9) the export core
-- understands.

-- with only pg_catalog on the search_path, regprocedure's text output
-- qualifies every other schema
SET LOCAL search_path = pg_catalog;
ALTER TABLE exportq.kinds
    ALTER COLUMN function TYPE text USING function::oid::regprocedure::text;
RESET search_path;

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

-- The claim of 001, resolving the kind's function by its stored signature.
CREATE OR REPLACE FUNCTION exportq.claim(p_worker text, p_lease_seconds integer, p_owner_max integer)
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
