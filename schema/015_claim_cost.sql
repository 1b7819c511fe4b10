-- 015_claim_cost.sql - claim + complete cost less (issue 15: exportq.claim +
-- exportq.complete against a bare UPDATE ... SKIP LOCKED pair).
--
-- Every claim (queued -> running) and every complete (running -> succeeded)
-- fires jobs_counts_update (005), whose trigger function added to the counters
-- through exportq.job_counts_add(), a SQL function called twice per change. A
-- SQL function called from PL/pgSQL is planned again on every transaction's
-- first call (its cache lives in the transaction's expression state): about a
-- fifth of a claim + complete pair's backend time (perf, pgbench). The
-- trigger now does the same upserts itself, one statement for both counter
-- rows of a state change (plans cached for the session).
--
-- Same counts, same counter rows (the backend's shard, pg_backend_pid() % 16,
-- as before; 013's per-statement slots are for INSERT/DELETE only), same row
-- lock order (the old state's row first). Rolling upgrade: a trigger
-- function's body only; no signature changes, job_counts_add() stays.

CREATE OR REPLACE FUNCTION exportq.job_counts_track() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s integer := pg_backend_pid() % 16;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO exportq.job_counts AS c (state, shard, jobs, bytes)
        VALUES (NEW.state, s, 1, coalesce(NEW.bytes, 0))
        ON CONFLICT (state, shard) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs, bytes = c.bytes + EXCLUDED.bytes;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO exportq.job_counts AS c (state, shard, jobs, bytes)
        VALUES (OLD.state, s, -1, -coalesce(OLD.bytes, 0))
        ON CONFLICT (state, shard) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs, bytes = c.bytes + EXCLUDED.bytes;
    ELSIF OLD.state = NEW.state THEN
        INSERT INTO exportq.job_counts AS c (state, shard, jobs, bytes)
        VALUES (NEW.state, s, 0, coalesce(NEW.bytes, 0) - coalesce(OLD.bytes, 0))
        ON CONFLICT (state, shard) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs, bytes = c.bytes + EXCLUDED.bytes;
    ELSE
        -- two rows of different states: ON CONFLICT touches each once
        INSERT INTO exportq.job_counts AS c (state, shard, jobs, bytes)
        VALUES (OLD.state, s, -1, -coalesce(OLD.bytes, 0)), (NEW.state, s, 1, coalesce(NEW.bytes, 0))
        ON CONFLICT (state, shard) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs, bytes = c.bytes + EXCLUDED.bytes;
    END IF;
    RETURN NULL;
END $$;
