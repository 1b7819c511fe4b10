-- 009: parallel export (issue 16). define_kind learns the option "split":
-- "schema.fn" naming fn(params jsonb, n integer) RETURNS SETOF jsonb, the
-- ranges of one export that the worker runs on several connections sharing a
-- snapshot (DESIGN.md "Parallel export"). Same signature as before, so every
-- call keeps working; a worker of the previous release reads the kind's
-- options and refuses the unknown key, so upgrade the workers before defining
-- a kind with "split".

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
                                   'format', 'formats', 'webhook_url', 'split'];
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
        ELSIF opt.key = 'split' THEN
            -- schema.function, both lower-case unquoted identifiers (export_split_name_valid),
            -- naming fn(jsonb, integer) RETURNS SETOF jsonb
            IF jsonb_typeof(opt.value) <> 'string' OR length(opt.value #>> '{}') > 127
               OR (opt.value #>> '{}') !~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$' THEN
                PERFORM exportq.reject('option split must name a function as schema.function (lower case)');
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                            WHERE p.oid = pg_catalog.to_regprocedure((opt.value #>> '{}') || '(pg_catalog.jsonb, pg_catalog.int4)')
                              AND p.proretset AND p.prorettype = 'pg_catalog.jsonb'::pg_catalog.regtype
                              AND p.prokind = 'f') THEN
                PERFORM exportq.reject(format('option split: %s(jsonb, integer) RETURNS SETOF jsonb does not exist',
                                              opt.value #>> '{}'));
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
