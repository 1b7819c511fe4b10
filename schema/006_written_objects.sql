-- 006_written_objects.sql - objects an attempt may have written without the
-- job ending succeeded with them, and a fenced mail bookkeeping.
--
-- Objects: a worker records the key (object_written) before it sends
-- CompleteMultipartUpload or PutObject, and forgets it (object_kept) once
-- the job is recorded succeeded with that key. When the lease was lost
-- meanwhile (S3 stalled, the worker paused, a crash after Complete), the
-- record stays: once the job is failed or cancelled (or gone, or succeeded
-- with another key), any worker claims it (stray_claim), deletes the object
-- and drops the record (stray_done). So a job that did not succeed never
-- leaves a readable object that retention would not delete.
--
-- Mail: mail_done and mail_fail as released check only mail_state; the
-- two-argument forms here also check the claim (the attempt number that
-- mail_claim returned and the lease it set), so a sender whose lease ran out
-- cannot record the outcome of another sender's attempt. The released forms
-- stay for workers of the previous release during a rolling upgrade.

CREATE TABLE exportq.written_objects (
    job_id           bigint NOT NULL,
    object_key       text NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    PRIMARY KEY (job_id, object_key)
);

CREATE FUNCTION exportq.object_written(p_id bigint, p_key text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO exportq.written_objects (job_id, object_key) VALUES (p_id, p_key)
    ON CONFLICT (job_id, object_key) DO UPDATE SET recorded_at = now(), lease_expires_at = NULL;
$$;

-- Forgets the record once the job succeeded with this very key (retention
-- deletes that object with the job).
CREATE FUNCTION exportq.object_kept(p_id bigint, p_key text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM exportq.written_objects w
     USING exportq.jobs j
     WHERE w.job_id = p_id AND w.object_key = p_key
       AND j.id = w.job_id AND j.state = 'succeeded' AND j.object_key = w.object_key;
    RETURN FOUND;
END $$;

CREATE FUNCTION exportq.stray_claim(p_lease_seconds integer)
RETURNS TABLE (job_id bigint, object_key text)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM exportq.written_objects w
     USING exportq.jobs j
     WHERE j.id = w.job_id AND j.state = 'succeeded' AND j.object_key = w.object_key;
    RETURN QUERY
    WITH s AS (
        SELECT w.job_id, w.object_key FROM exportq.written_objects w
          LEFT JOIN exportq.jobs j ON j.id = w.job_id
         WHERE (j.id IS NULL OR j.state IN ('failed', 'cancelled')
                OR (j.state = 'succeeded' AND j.object_key IS DISTINCT FROM w.object_key))
           AND (w.lease_expires_at IS NULL OR w.lease_expires_at < now())
         ORDER BY w.recorded_at
         LIMIT 1
         FOR UPDATE OF w SKIP LOCKED)
    UPDATE exportq.written_objects w
       SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
      FROM s WHERE w.job_id = s.job_id AND w.object_key = s.object_key
    RETURNING w.job_id, w.object_key;
END $$;

CREATE FUNCTION exportq.stray_done(p_id bigint, p_key text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM exportq.written_objects w WHERE w.job_id = p_id AND w.object_key = p_key;
    RETURN FOUND;
END $$;

-- ------------------------------------------------------------------ mail

CREATE FUNCTION exportq.mail_done(p_id bigint, p_attempt integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j
       SET mail_state = 'sent', mail_lease_expires_at = NULL, mail_error = NULL
     WHERE j.id = p_id AND j.mail_state = 'pending' AND j.mail_attempts = p_attempt
       AND j.mail_lease_expires_at IS NOT NULL;
    RETURN FOUND;
END $$;

CREATE FUNCTION exportq.mail_fail(p_id bigint, p_attempt integer, p_message text,
                                  p_max_attempts integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j
       SET mail_state = CASE WHEN j.mail_attempts >= p_max_attempts THEN 'failed' ELSE 'pending' END,
           mail_next_at = now() + exportq.backoff(j.mail_attempts),
           mail_lease_expires_at = NULL, mail_error = left(p_message, 1000)
     WHERE j.id = p_id AND j.mail_state = 'pending' AND j.mail_attempts = p_attempt
       AND j.mail_lease_expires_at IS NOT NULL;
    RETURN FOUND;
END $$;
