-- 016_enqueue_set_based.sql - enqueue_many pays no per-row trigger work of
-- its own (issue 15: >= 20,000 jobs/s in one statement).
--
-- Every INSERT into exportq.jobs ran two PL/pgSQL row triggers:
--   - jobs_check_identity (003): the byte rules of owner, dedupe and
--     idempotency keys, and the recipient domain, about a fifth of a plain
--     multi-row INSERT's time, for rows that are almost always fine;
--   - jobs_turn (004/013): the owner's newest job looked up once per row.
-- enqueue_many (014) already checks every element as a set before it
-- inserts; now it also gives each job its turn set-based (one look-up per
-- distinct owner, then the owner's next turns in array order: the trigger's
-- rule, which sees the earlier rows of its own statement), so jobs_turn is
-- skipped (WHEN NEW.turn <= 0).
--
-- The identity rule gets one definition as an expression,
-- exportq.identity_problem(owner, dedupe_key, idempotency_key): the message
-- of the first broken rule, or NULL. A one-SELECT SQL function, so it is
-- inlined where it is used: in check_owner (tokens), in the trigger function
-- and in enqueue_many. The identity trigger gets a WHEN (builtins only, see
-- below), so its PL/pgSQL function runs only for a row that breaks a rule (or
-- has a recipient while exportq.mail_allowed_domains names domains), to raise
-- the error.
--
-- Same rules, same messages, same order (owner, dedupe_key, idempotency key,
-- then the recipient domain on INSERT). Rolling upgrade: bodies and a
-- trigger's WHEN only; no signature changes.

-- -------------------------------------------------------------- identity

CREATE FUNCTION exportq.identity_problem(p_owner text, p_dedupe_key text, p_idempotency_key text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
    WHEN p_owner IS NOT NULL AND (octet_length(p_owner) NOT BETWEEN 1 AND exportq.identity_max_bytes()
                                  OR p_owner ~ '[[:cntrl:]]') THEN
         format('owner must be 1 to %s bytes without control characters (got %s bytes)',
                exportq.identity_max_bytes(), octet_length(p_owner))
    WHEN octet_length(p_dedupe_key) > exportq.identity_max_bytes() THEN
         format('dedupe_key must be at most %s bytes', exportq.identity_max_bytes())
    WHEN octet_length(p_idempotency_key) > exportq.identity_max_bytes() THEN
         format('idempotency key must be at most %s bytes', exportq.identity_max_bytes())
    END
$$;

CREATE OR REPLACE FUNCTION exportq.check_owner(p_owner text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    problem constant text := exportq.identity_problem(p_owner, NULL, NULL);
BEGIN
    IF problem IS NOT NULL THEN
        PERFORM exportq.reject(problem);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION exportq.jobs_check_identity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    problem constant text := exportq.identity_problem(NEW.owner, NEW.dedupe_key, NEW.idempotency_key);
BEGIN
    IF problem IS NOT NULL THEN
        PERFORM exportq.reject(problem);
    END IF;
    IF TG_OP = 'INSERT' AND NOT exportq.email_domain_allowed(NEW.email) THEN
        PERFORM exportq.reject(format('email domain %s is not allowed (allowed: %s)',
                                      quote_literal(left(split_part(NEW.email, '@', 2), 80)),
                                      current_setting('exportq.mail_allowed_domains', true)));
    END IF;
    RETURN NEW;
END $$;

-- The function raises; the WHEN decides whether there is anything to raise.
-- A trigger's WHEN is prepared once per statement, and constant-folding a
-- SQL function there means parsing and planning its body each time (a SQL
-- function with no arguments, such as identity_max_bytes(), is even run
-- through the SQL-function executor): for a one-row INSERT, the common
-- exportq.enqueue() call, that cost more than the PL/pgSQL call it saves
-- (callgrind: 1.55 M instructions per one-row INSERT against 1.39 M without a
-- WHEN). So the WHEN holds builtins only: the byte limit is written into it
-- here from exportq.identity_max_bytes() (the one constant), and it lets
-- through every row that exportq.identity_problem() could refuse (a test in
-- it.identity_bytes runs both over the same values). On an UPDATE of the ids
-- a recipient under restricted domains runs the function too; it checks the
-- domain on INSERT only, as before.
DROP TRIGGER jobs_check_identity ON exportq.jobs;
DO $$
BEGIN
    EXECUTE format($t$
        CREATE TRIGGER jobs_check_identity BEFORE INSERT OR UPDATE OF owner, dedupe_key, idempotency_key
            ON exportq.jobs FOR EACH ROW
            WHEN (octet_length(NEW.owner) NOT BETWEEN 1 AND %1$s OR NEW.owner ~ '[[:cntrl:]]'
                  OR octet_length(NEW.dedupe_key) > %1$s OR octet_length(NEW.idempotency_key) > %1$s
                  OR (NEW.email IS NOT NULL
                      AND current_setting('exportq.mail_allowed_domains', true) ~ '[^ ,]'))
            EXECUTE FUNCTION exportq.jobs_check_identity()$t$, exportq.identity_max_bytes());
END $$;

-- --------------------------------------------------------- enqueue_many

-- As in 014 (same checks, messages, dedupe, ids, counts and NOTIFY), with
-- the identity checks through exportq.identity_problem and the turns given
-- set-based (see above).
CREATE OR REPLACE FUNCTION exportq.enqueue_many(kind text, jobs jsonb, format text DEFAULT NULL)
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
    claimed bigint;
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
               coalesce(r.err, CASE WHEN NOT r.known THEN coalesce(
                   exportq.identity_problem(r.owner, r.dedupe, NULL),
                   CASE WHEN r.email IS NOT NULL AND NOT exportq.email_domain_allowed(r.email) THEN
                        format('email domain %s is not allowed (allowed: %s)',
                               quote_literal(left(split_part(r.email, '@', 2), 80)),
                               current_setting('exportq.mail_allowed_domains', true))
                   END) END) AS err
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
        -- read once per statement, as if every job of it arrived at one instant
        claimed := pg_catalog.pg_sequence_last_value('exportq.turn_claimed'::regclass);
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
        ), owners AS MATERIALIZED (
            -- jobs_set_turn's rule once per owner: after the owner's newest
            -- job, not before the turn claimed last
            SELECT coalesce(o.owner, '') AS okey,
                   greatest(coalesce(CASE WHEN o.owner IS NULL
                                     THEN (SELECT j.turn FROM exportq.jobs j WHERE j.owner IS NULL
                                            ORDER BY j.id DESC LIMIT 1)
                                     ELSE (SELECT j.turn FROM exportq.jobs j WHERE j.owner = o.owner
                                            ORDER BY j.id DESC LIMIT 1) END + 1, 0),
                            claimed) AS first_turn
              FROM (SELECT DISTINCT f.owner FROM fresh f) o
        ), turns AS MATERIALIZED (
            -- an owner's jobs of this call take its next turns in array order,
            -- as one enqueue per element (the trigger sees the earlier rows)
            -- ('' is no owner's id: owners are 1 byte or more)
            SELECT f.rn, w.first_turn + row_number() OVER (PARTITION BY w.okey ORDER BY f.ord) - 1 AS turn
              FROM fresh f JOIN owners w ON w.okey = coalesce(f.owner, '')
        ), ins AS (
            INSERT INTO exportq.jobs (id, kind, params, email, owner, priority, dedupe_key, format, turn)
            SELECT i.id, p_kind, f.params, f.email, f.owner, f.priority, f.dedupe, v_format, t.turn
              FROM fresh f JOIN newid i USING (rn) JOIN turns t USING (rn)
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
