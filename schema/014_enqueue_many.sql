-- 014_enqueue_many.sql - many jobs in one call: exportq.enqueue_many(kind,
-- jobs jsonb, format) (issue 15: >= 20,000 jobs/s in one statement).
--
-- exportq.enqueue() is one INSERT per call: each call pays an executor
-- start-up of its own, so SELECT exportq.enqueue(...) FROM generate_series
-- stays well below a plain multi-row INSERT. enqueue_many validates the whole
-- array in one query, then inserts every new job with ONE INSERT ... SELECT.
--
-- Same result as calling exportq.enqueue(kind, params, email, owner,
-- priority, dedupe_key, format) once per element, in order, in one statement:
--   - the same checks and messages (those of enqueue_job_format, then those
--     of the jobs_check_identity trigger for a job that is inserted),
--     prefixed with the element, 0-based as in JSON paths: "jobs[3]: ...";
--     the first invalid element (in array order) is reported, and nothing
--     is inserted (all or nothing). The kind and the format are arguments of
--     the call: their errors carry no prefix and are raised even for [];
--   - dedupe: an element whose owner + dedupe_key names a queued or running
--     job gets that job's id; two elements of the call with the same owner +
--     dedupe_key get the id of the first. A concurrent caller that inserts
--     the same key meanwhile wins without an error (ON CONFLICT on
--     jobs_dedupe_idx, then a look-up), as for exportq.enqueue;
--   - ids ascend in array order and rows are inserted in that order, so the
--     per-row turn trigger (jobs_set_turn, which sees the earlier rows of its
--     own statement) gives the turns, and so the positions and the start
--     order, of one call per element;
--   - counts (jobs_inserted, per statement) and one NOTIFY 'exportq_jobs'
--     with the kind as payload when at least one job was inserted.
-- Each element is an object with the optional keys "params" (object),
-- "email", "owner", "dedupe_key" (strings) and "priority" (integer); JSON
-- null is the same as a missing key. Other keys, or other types, are refused.
-- At most exportq.enqueue_many_max() = 100,000 elements per call.
--
-- Rolling upgrade: a new function; nothing existing changes.

CREATE FUNCTION exportq.enqueue_many_max() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 100000';

CREATE FUNCTION exportq.enqueue_many(kind text, jobs jsonb, format text DEFAULT NULL)
RETURNS bigint[]
-- the planner guesses 10-100 rows for unnest() and CTEs over it: a nested
-- loop between two of them would be n^2 (minutes at 50,000 jobs)
LANGUAGE plpgsql SET enable_nestloop = off AS $$
DECLARE
    p_kind constant text := $1;
    p_jobs constant jsonb := $2;
    o jsonb;
    v_format text := $3;
    n integer;
    err_ord bigint;
    err_msg text;
    a_params jsonb[];
    a_email text[];
    a_owner text[];
    a_priority integer[];
    a_dedupe text[];
    ids bigint[];
    inserted bigint := 0;
    left_over bigint;
    tries integer := 0;
BEGIN
    -- the call's arguments: as enqueue_job_format, same messages
    IF p_kind IS NOT NULL THEN
        SELECT k.options INTO o FROM exportq.kinds k WHERE k.name = p_kind;
    END IF;
    IF o IS NULL THEN
        PERFORM exportq.reject(format('unknown export kind %s',
                                      coalesce(quote_literal(left(p_kind, 80)), 'NULL')));
    END IF;
    v_format := exportq.resolve_format(p_kind, v_format);  -- 007's rule, same messages
    IF p_jobs IS NULL OR jsonb_typeof(p_jobs) <> 'array' THEN
        PERFORM exportq.reject(format('jobs must be a JSON array of job objects, not %s',
                                      coalesce(jsonb_typeof(p_jobs), 'NULL')));
    END IF;
    n := jsonb_array_length(p_jobs);
    IF n > exportq.enqueue_many_max() THEN
        PERFORM exportq.reject(format('jobs has %s elements, at most %s are allowed in one call',
                                      n, exportq.enqueue_many_max()));
    END IF;
    IF n = 0 THEN
        RETURN '{}';
    END IF;

    -- One pass: each element's first error (types, then enqueue_job_format's
    -- checks in its order, then the trigger's checks for a job that will be
    -- inserted), and the parsed values in array order.
    WITH e AS (
        SELECT t.ord, t.v, jsonb_typeof(t.v) AS ty
          FROM jsonb_array_elements(p_jobs) WITH ORDINALITY t(v, ord)
    ), typed AS (
        SELECT e.ord, e.v,
               CASE
               WHEN e.ty <> 'object' THEN format('a job must be a JSON object, not %s', e.ty)
               WHEN e.v - '{params,email,owner,priority,dedupe_key}'::text[] <> '{}'::jsonb THEN
                    format('unknown key %s (known: params, email, owner, priority, dedupe_key)',
                           (SELECT quote_literal(left(min(k), 40))
                              FROM jsonb_object_keys(e.v - '{params,email,owner,priority,dedupe_key}'::text[]) k))
               WHEN jsonb_typeof(e.v->'email') NOT IN ('string', 'null') THEN
                    format('email must be a JSON string, not %s', jsonb_typeof(e.v->'email'))
               WHEN jsonb_typeof(e.v->'owner') NOT IN ('string', 'null') THEN
                    format('owner must be a JSON string, not %s', jsonb_typeof(e.v->'owner'))
               WHEN jsonb_typeof(e.v->'dedupe_key') NOT IN ('string', 'null') THEN
                    format('dedupe_key must be a JSON string, not %s', jsonb_typeof(e.v->'dedupe_key'))
               WHEN jsonb_typeof(e.v->'priority') NOT IN ('number', 'null') THEN
                    format('priority must be an integer, not %s', jsonb_typeof(e.v->'priority'))
               WHEN jsonb_typeof(e.v->'priority') = 'number'
                    AND (e.v->'priority')::numeric <> trunc((e.v->'priority')::numeric) THEN
                    format('priority must be an integer, not %s', left(e.v->>'priority', 40))
               END AS err
          FROM e
    ), val AS (
        SELECT t.ord, t.err,
               CASE WHEN jsonb_typeof(t.v->'params') IS DISTINCT FROM 'null' THEN t.v->'params' END AS params,
               t.v->>'email' AS email, t.v->>'owner' AS owner, t.v->>'dedupe_key' AS dedupe,
               CASE WHEN t.err IS NULL AND jsonb_typeof(t.v->'priority') = 'number'
                    THEN (t.v->'priority')::numeric END AS prio
          FROM typed t
    ), chk AS (
        SELECT v.ord, v.email, v.owner, v.dedupe,
               coalesce(v.params, '{}') AS params,
               CASE WHEN v.err IS NULL THEN coalesce(v.prio, 0) END AS prio,
               coalesce(v.err, CASE
               WHEN jsonb_typeof(coalesce(v.params, '{}')) <> 'object' THEN
                    format('params must be a JSON object, not %s', jsonb_typeof(v.params))
               WHEN octet_length(coalesce(v.params, '{}')::text) > 65536 THEN 'params are larger than 64 KiB'
               WHEN v.email IS NOT NULL AND NOT exportq.valid_email(v.email) THEN
                    'invalid email address: expected a single plain address like name@example.com'
               WHEN coalesce(v.prio, 0) NOT BETWEEN -1000 AND 1000 THEN
                    format('priority %s is outside -1000..1000', v.prio)
               WHEN v.owner IS NOT NULL AND (length(v.owner) NOT BETWEEN 1 AND 256 OR v.owner ~ '[[:cntrl:]]') THEN
                    'owner must be 1 to 256 characters without control characters'
               WHEN length(v.dedupe) NOT BETWEEN 1 AND 256 THEN 'dedupe_key must be 1 to 256 characters'
               END) AS err
          FROM val v
    ), res AS (
        SELECT c.*,
               c.dedupe IS NOT NULL AND (
                   min(c.ord) OVER (PARTITION BY coalesce(c.owner, ''), c.dedupe) < c.ord
                   OR EXISTS (SELECT 1 FROM exportq.jobs j
                               WHERE coalesce(j.owner, '') = coalesce(c.owner, '') AND j.dedupe_key = c.dedupe
                                 AND j.state IN ('queued', 'running'))) AS known
          FROM chk c
    ), fin AS (
        SELECT r.ord, r.params, r.email, r.owner, r.prio, r.dedupe,
               coalesce(r.err, CASE WHEN NOT r.known THEN CASE
               WHEN r.owner IS NOT NULL AND (octet_length(r.owner) NOT BETWEEN 1 AND exportq.identity_max_bytes()
                                             OR r.owner ~ '[[:cntrl:]]') THEN
                    format('owner must be 1 to %s bytes without control characters (got %s bytes)',
                           exportq.identity_max_bytes(), octet_length(r.owner))
               WHEN octet_length(r.dedupe) > exportq.identity_max_bytes() THEN
                    format('dedupe_key must be at most %s bytes', exportq.identity_max_bytes())
               WHEN NOT exportq.email_domain_allowed(r.email) THEN
                    format('email domain %s is not allowed (allowed: %s)',
                           quote_literal(left(split_part(r.email, '@', 2), 80)),
                           current_setting('exportq.mail_allowed_domains', true))
               END END) AS err
          FROM res r
         ORDER BY r.ord
    )
    SELECT min(f.ord) FILTER (WHERE f.err IS NOT NULL),
           (array_agg(f.err) FILTER (WHERE f.err IS NOT NULL))[1],
           array_agg(CASE WHEN f.err IS NOT NULL OR f.owner IS NULL THEN f.params
                          ELSE f.params || jsonb_build_object('owner', f.owner) END),
           array_agg(f.email), array_agg(f.owner),
           array_agg(CASE WHEN f.err IS NULL THEN f.prio::integer END), array_agg(f.dedupe)
      INTO err_ord, err_msg, a_params, a_email, a_owner, a_priority, a_dedupe
      FROM fin f;
    IF err_ord IS NOT NULL THEN
        PERFORM exportq.reject(format('jobs[%s]: %s', err_ord - 1, err_msg));
    END IF;

    -- Insert the new jobs in one statement; ids (taken in array order) go to
    -- the elements that resolve to no live job and are the first of their
    -- key. ids[i] stays NULL only for an element whose key a concurrent
    -- caller inserted meanwhile (ON CONFLICT): the next round finds it.
    LOOP
        WITH cur AS (
            SELECT p.ord, p.params, p.email, p.owner, p.priority, p.dedupe, d.id AS done
              FROM unnest(a_params, a_email, a_owner, a_priority, a_dedupe)
                   WITH ORDINALITY p(params, email, owner, priority, dedupe, ord)
              LEFT JOIN unnest(ids) WITH ORDINALITY d(id, ord) ON d.ord = p.ord
        ), plan AS MATERIALIZED (
            SELECT c.ord, c.params, c.email, c.owner, c.priority, c.dedupe, c.done,
                   CASE WHEN c.done IS NULL AND c.dedupe IS NOT NULL THEN
                        (SELECT j.id FROM exportq.jobs j
                          WHERE coalesce(j.owner, '') = coalesce(c.owner, '') AND j.dedupe_key = c.dedupe
                            AND j.state IN ('queued', 'running'))
                   END AS live,
                   CASE WHEN c.dedupe IS NULL THEN c.ord
                        ELSE min(c.ord) FILTER (WHERE c.done IS NULL)
                               OVER (PARTITION BY coalesce(c.owner, ''), c.dedupe) END AS first
              FROM cur c
        ), fresh AS MATERIALIZED (
            SELECT p.*, row_number() OVER (ORDER BY p.ord) AS rn
              FROM plan p WHERE p.done IS NULL AND p.live IS NULL AND p.first = p.ord
        ), newid AS MATERIALIZED (
            SELECT s.id, row_number() OVER (ORDER BY s.id) AS rn
              FROM (SELECT nextval('exportq.jobs_id_seq'::regclass) AS id FROM fresh) s
        ), ins AS (
            INSERT INTO exportq.jobs (id, kind, params, email, owner, priority, dedupe_key, format)
            SELECT i.id, p_kind, f.params, f.email, f.owner, f.priority, f.dedupe, v_format
              FROM fresh f JOIN newid i USING (rn)
             ORDER BY i.id
            ON CONFLICT DO NOTHING
            RETURNING id
        ), got AS (
            SELECT f.ord, i.id FROM fresh f JOIN newid i USING (rn) JOIN ins USING (id)
        )
        SELECT array_agg(coalesce(p.done, p.live, g.id) ORDER BY p.ord),
               (SELECT count(*) FROM got),
               count(*) FILTER (WHERE coalesce(p.done, p.live, g.id) IS NULL)
          INTO ids, inserted, left_over
          FROM plan p LEFT JOIN got g ON g.ord = p.first;
        IF inserted > 0 THEN
            -- as enqueue_job_format: the payload is the kind
            PERFORM pg_notify('exportq_jobs', p_kind);
        END IF;
        EXIT WHEN left_over = 0;
        tries := tries + 1;
        IF tries > 10 THEN
            RAISE EXCEPTION USING ERRCODE = '40001',
                MESSAGE = 'enqueue_many: could not settle a concurrent dedupe key, retry';
        END IF;
    END LOOP;
    RETURN ids;
END $$;
