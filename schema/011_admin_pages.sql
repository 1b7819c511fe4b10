-- 011_admin_pages.sql - what the operator's dashboard (/admin, /v1/admin/...)
-- and the owner's retry/revoke need (DESIGN.md "Pages", "HTTP API"): retry
-- a failed or cancelled job, revoke a succeeded one, jobs by state and kind,
-- and a per-minute series of the last hour.
--
-- Rolling upgrade: new functions and one index only; every function of the
-- previous release keeps its signature and meaning.

-- Jobs finished recently (the dashboard's series and counts by kind read the
-- last hour or day through it). finished_at is written once per attempt's
-- end, with the state (never by a heartbeat): heartbeats stay HOT.
CREATE INDEX jobs_finished_idx ON exportq.jobs (finished_at) WHERE finished_at IS NOT NULL;

-- A failed or cancelled job queued again, ready now: true. False (nothing
-- done) in any other state. Its attempts are kept (so fencing stays exact and
-- the attempt count says what happened); a job whose attempts were used up
-- gets one more. It takes a turn as a new job of its owner would (behind the
-- owner's queued jobs, never ahead of other owners'). Its upload id, if a dead
-- attempt left one, stays so the next claim aborts that upload. Mail starts
-- afresh (the new outcome is mailed); a failed job keeps its last error until
-- the next outcome, a cancelled one loses 'cancelled'; a retry that would make a second live
-- job with the same dedupe key is refused.
CREATE FUNCTION exportq.retry(job_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    j exportq.jobs;
    v_turn bigint;
BEGIN
    SELECT * INTO j FROM exportq.jobs q WHERE q.id = $1 FOR UPDATE;
    IF NOT FOUND OR j.state NOT IN ('failed', 'cancelled') THEN
        RETURN false;
    END IF;
    IF j.dedupe_key IS NOT NULL AND EXISTS (
        SELECT 1 FROM exportq.jobs q
         WHERE coalesce(q.owner, '') = coalesce(j.owner, '') AND q.dedupe_key = j.dedupe_key
           AND q.state IN ('queued', 'running') AND q.id <> j.id) THEN
        PERFORM exportq.reject(format('retry: job %s has the dedupe key of a job that is queued or running', j.id));
    END IF;
    SELECT max(q.turn) + 1 INTO v_turn FROM exportq.jobs q
     WHERE q.state = 'queued' AND q.owner IS NOT DISTINCT FROM j.owner;
    v_turn := greatest(coalesce(v_turn, 0), (SELECT t.last_value FROM exportq.turn_claimed t), j.turn);
    UPDATE exportq.jobs q
       SET state = 'queued', run_at = now(), turn = v_turn, finished_at = NULL, started_at = NULL,
           lease_expires_at = NULL, heartbeat_at = NULL, worker = NULL, rows = 0, bytes = 0,
           rows_estimate = NULL, warning = NULL, expires_at = NULL, link_expires_at = NULL,
           mail_state = 'none', mail_kind = NULL, mail_attempts = 0, mail_next_at = NULL,
           mail_lease_expires_at = NULL, mail_error = NULL,
           last_error = CASE WHEN j.state = 'cancelled' THEN NULL ELSE j.last_error END
     WHERE q.id = j.id;
    PERFORM pg_notify('exportq_jobs', j.kind);
    RETURN true;
END $$;

-- Revokes a succeeded job: from now on it is past its retention (every link
-- answers 410) and its object key is returned for the caller to delete, who
-- then calls exportq.expire_done(). Should the caller die first, the
-- retention sweeper deletes the object. NULL when the job is not succeeded.
CREATE FUNCTION exportq.revoke(job_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_key text;
BEGIN
    UPDATE exportq.jobs j
       SET expires_at = least(j.expires_at, now()), link_expires_at = least(j.link_expires_at, now()),
           last_error = coalesce(j.last_error, 'revoked')
     WHERE j.id = $1 AND j.state = 'succeeded'
    RETURNING coalesce(j.object_key, '') INTO v_key;
    RETURN v_key;
END $$;

-- Jobs by state and kind: every queued and running job, and the jobs that
-- finished in the last p_hours (never a scan of the whole history).
CREATE FUNCTION exportq.admin_counts(p_hours integer)
RETURNS TABLE (state text, kind text, jobs bigint)
LANGUAGE sql STABLE AS $$
    SELECT j.state, j.kind, count(*)
      FROM exportq.jobs j
     WHERE j.state IN ('queued', 'running')
        OR j.finished_at >= now() - make_interval(hours => p_hours)
     GROUP BY j.state, j.kind
     ORDER BY j.kind, j.state
$$;

-- The last p_minutes minute by minute (oldest first): jobs succeeded and
-- failed in each minute, their bytes, and the mean wait (created -> started)
-- of the jobs that started in it (NULL when none did).
CREATE FUNCTION exportq.admin_series(p_minutes integer)
RETURNS TABLE (minute timestamptz, succeeded bigint, failed bigint, bytes bigint,
               started bigint, wait_seconds double precision)
LANGUAGE sql STABLE AS $$
    WITH m AS (
        SELECT generate_series(date_trunc('minute', now()) - make_interval(mins => p_minutes - 1),
                               date_trunc('minute', now()), interval '1 minute') AS minute
    ), recent AS (
        SELECT j.state, j.bytes, j.created_at, j.started_at, j.finished_at
          FROM exportq.jobs j
         WHERE j.finished_at >= date_trunc('minute', now()) - make_interval(mins => p_minutes - 1)
            OR j.state = 'running'
    ), fin AS (
        SELECT date_trunc('minute', r.finished_at) AS minute,
               count(*) FILTER (WHERE r.state IN ('succeeded', 'expired')) AS succeeded,
               count(*) FILTER (WHERE r.state = 'failed') AS failed,
               sum(r.bytes) FILTER (WHERE r.state IN ('succeeded', 'expired')) AS bytes
          FROM recent r WHERE r.finished_at IS NOT NULL GROUP BY 1
    ), st AS (
        SELECT date_trunc('minute', r.started_at) AS minute, count(*) AS started,
               avg(extract(epoch FROM r.started_at - r.created_at))::double precision AS wait_seconds
          FROM recent r WHERE r.started_at IS NOT NULL GROUP BY 1
    )
    SELECT m.minute, coalesce(fin.succeeded, 0), coalesce(fin.failed, 0), coalesce(fin.bytes, 0)::bigint,
           coalesce(st.started, 0), st.wait_seconds
      FROM m LEFT JOIN fin ON fin.minute = m.minute LEFT JOIN st ON st.minute = m.minute
     ORDER BY m.minute
$$;
