-- 002_orphan_uploads.sql - multipart uploads left behind by attempts that
-- will never run again: a job cancelled (or failed by the rescuer) while its
-- worker was gone keeps its upload_id. Any worker claims such a job after a
-- grace period (a live worker aborts its own upload at once), aborts the
-- upload and clears upload_id. A retried job needs none of this: its next
-- attempt gets the previous upload_id from exportq.claim.

CREATE INDEX jobs_orphan_idx ON exportq.jobs (finished_at)
    WHERE upload_id IS NOT NULL AND state IN ('failed', 'cancelled');

CREATE FUNCTION exportq.orphan_claim(p_grace_seconds integer, p_lease_seconds integer)
RETURNS TABLE (id bigint, owner text, kind text, object_token text, filename text,
               upload_id text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH o AS (
        SELECT j.id FROM exportq.jobs j
         WHERE j.upload_id IS NOT NULL AND j.state IN ('failed', 'cancelled')
           AND j.finished_at < now() - make_interval(secs => p_grace_seconds)
           AND (j.lease_expires_at IS NULL OR j.lease_expires_at < now())
         ORDER BY j.finished_at
         LIMIT 1
         FOR UPDATE SKIP LOCKED),
    c AS (
        UPDATE exportq.jobs j
           SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
          FROM o WHERE j.id = o.id
        RETURNING j.*)
    SELECT c.id, c.owner, c.kind, c.object_token, k.filename, c.upload_id
      FROM c LEFT JOIN exportq.kinds k ON k.name = c.kind;
END $$;

-- Clears upload_id once aborted (only if it is still the one aborted).
CREATE FUNCTION exportq.orphan_done(p_id bigint, p_upload_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exportq.jobs j SET upload_id = NULL, lease_expires_at = NULL
     WHERE j.id = p_id AND j.upload_id = p_upload_id AND j.state IN ('failed', 'cancelled');
    RETURN FOUND;
END $$;
