-- 012: job counts of inserts and deletes added once per statement.
--
-- 005 added every inserted or deleted job to its counter row one at a time.
-- In one statement (a bulk enqueue, a retention purge) that is one UPDATE of
-- the same counter row per job: every version stays in the transaction, the
-- next upsert walks them all, and the statement grows with the square of its
-- rows (80,000 jobs in one INSERT took more than 30 minutes). Now the
-- statement's transition table is summed by state and each counter row is
-- updated once. Updates (claims, heartbeats: one row a statement) keep 005's
-- row trigger. Rolling upgrade: triggers only; no SQL function changes.

LOCK TABLE exportq.jobs IN SHARE ROW EXCLUSIVE MODE;

DROP TRIGGER jobs_counts_insert_delete ON exportq.jobs;

CREATE FUNCTION exportq.job_counts_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM exportq.job_counts_add(n.state, n.jobs, n.bytes)
       FROM (SELECT r.state, count(*) AS jobs, coalesce(sum(r.bytes), 0)::bigint AS bytes
               FROM new_rows r GROUP BY r.state) n;
    RETURN NULL;
END $$;

CREATE FUNCTION exportq.job_counts_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM exportq.job_counts_add(o.state, -o.jobs, -o.bytes)
       FROM (SELECT r.state, count(*) AS jobs, coalesce(sum(r.bytes), 0)::bigint AS bytes
               FROM old_rows r GROUP BY r.state) o;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_counts_insert AFTER INSERT ON exportq.jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION exportq.job_counts_inserted();
CREATE TRIGGER jobs_counts_delete AFTER DELETE ON exportq.jobs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION exportq.job_counts_deleted();
