-- 003_identity_mail.sql - identities limited by bytes, never cut; recipient
-- domains; the per-owner mail rate (issue 10, items 1 and 5).
--
-- Identities (owner ids, dedupe and idempotency keys) are limited in BYTES
-- (octet_length) by one constant, exportq.identity_max_bytes(), the same as
-- EQ_IDENTITY_MAX_BYTES in common/limits.h (a test checks they agree); a
-- kind's file name by exportq.filename_max_bytes() = EQ_FILENAME_MAX_BYTES.
-- The C side refuses any value that does not fit its buffer instead of
-- cutting it: two owners equal in their first 256 bytes were one owner.
--
-- The rules are enforced by triggers and CHECK constraints on the tables, so
-- they hold whichever function (of this or a later migration) inserts the
-- rows. The previous release's SQL API keeps its signatures.

CREATE FUNCTION exportq.identity_max_bytes() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 256';

CREATE FUNCTION exportq.filename_max_bytes() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 200';

-- Rows written before this release that break the byte rules cannot be cut
-- (that was the bug) and must not keep working under a cut identity with
-- older binaries during a rolling upgrade: their tokens are revoked and their
-- unfinished jobs cancelled. Only ids longer than 256 bytes (for instance
-- 129+ two-byte characters) are affected.
UPDATE exportq.tokens SET revoked_at = now()
 WHERE revoked_at IS NULL AND octet_length(owner) > exportq.identity_max_bytes();
UPDATE exportq.jobs
   SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL,
       last_error = 'cancelled: owner id longer than 256 bytes'
 WHERE state IN ('queued', 'running') AND octet_length(owner) > exportq.identity_max_bytes();

-- A CHECK constraint, even NOT VALID, is enforced on every later UPDATE of a
-- row whatever column it touches (retention, last_used_at), so jobs and tokens
-- get their byte rules from the triggers below, which fire on INSERT and on
-- UPDATE OF the ids. Kinds are only written by define_kind, which sets the
-- file name each time: they get a CHECK as well.
ALTER TABLE exportq.kinds ADD CONSTRAINT kinds_filename_bytes
    CHECK (filename IS NULL OR octet_length(filename) <= exportq.filename_max_bytes()) NOT VALID;

-- The one owner rule: 1 to 256 bytes, no control characters.
CREATE FUNCTION exportq.check_owner(p_owner text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_owner IS NOT NULL AND (octet_length(p_owner) NOT BETWEEN 1 AND exportq.identity_max_bytes()
                                OR p_owner ~ '[[:cntrl:]]') THEN
        PERFORM exportq.reject(format('owner must be 1 to %s bytes without control characters (got %s bytes)',
                                      exportq.identity_max_bytes(), octet_length(p_owner)));
    END IF;
END $$;

-- Recipient domains allowed by the setting exportq.mail_allowed_domains
-- ("a.example, b.example"; unset or empty: any). A domain allows its
-- subdomains too. exportq processes set it from EXPORTQ_MAIL_ALLOWED_DOMAINS;
-- for applications that call exportq.enqueue() themselves, set it with
-- ALTER DATABASE ... SET exportq.mail_allowed_domains = '...'.
CREATE FUNCTION exportq.email_domain_allowed(addr text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    WITH s AS (SELECT coalesce(current_setting('exportq.mail_allowed_domains', true), '') AS v)
    SELECT addr IS NULL OR btrim(s.v, ' ,') = ''
        OR EXISTS (SELECT 1 FROM regexp_split_to_table(lower(s.v), '[ ,]+') d
                    WHERE d <> '' AND (lower(split_part(addr, '@', 2)) = d
                                       OR lower(split_part(addr, '@', 2)) LIKE '%.' || d))
      FROM s
$$;

CREATE FUNCTION exportq.jobs_check_identity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM exportq.check_owner(NEW.owner);
    IF octet_length(NEW.dedupe_key) > exportq.identity_max_bytes() THEN
        PERFORM exportq.reject(format('dedupe_key must be at most %s bytes', exportq.identity_max_bytes()));
    END IF;
    IF octet_length(NEW.idempotency_key) > exportq.identity_max_bytes() THEN
        PERFORM exportq.reject(format('idempotency key must be at most %s bytes', exportq.identity_max_bytes()));
    END IF;
    IF TG_OP = 'INSERT' AND NOT exportq.email_domain_allowed(NEW.email) THEN
        PERFORM exportq.reject(format('email domain %s is not allowed (allowed: %s)',
                                      quote_literal(left(split_part(NEW.email, '@', 2), 80)),
                                      current_setting('exportq.mail_allowed_domains', true)));
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_check_identity BEFORE INSERT OR UPDATE OF owner, dedupe_key, idempotency_key
    ON exportq.jobs FOR EACH ROW EXECUTE FUNCTION exportq.jobs_check_identity();

CREATE FUNCTION exportq.tokens_check_identity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner IS NULL THEN
        PERFORM exportq.reject('a token needs an owner');
    END IF;
    PERFORM exportq.check_owner(NEW.owner);
    RETURN NEW;
END $$;

CREATE TRIGGER tokens_check_identity BEFORE INSERT OR UPDATE OF owner
    ON exportq.tokens FOR EACH ROW EXECUTE FUNCTION exportq.tokens_check_identity();

CREATE FUNCTION exportq.kinds_check_filename() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF octet_length(NEW.filename) > exportq.filename_max_bytes() THEN
        PERFORM exportq.reject(format('filename must be 1 to %s bytes without /, \, control characters or a leading dot (got %s bytes)',
                                      exportq.filename_max_bytes(), octet_length(NEW.filename)));
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER kinds_check_filename BEFORE INSERT OR UPDATE OF filename
    ON exportq.kinds FOR EACH ROW EXECUTE FUNCTION exportq.kinds_check_filename();

-- ------------------------------------------------------------ mail rate
-- When each mail went out, for the per-owner rate (set by a trigger, so any
-- version of mail_done records it).
ALTER TABLE exportq.jobs ADD COLUMN mail_sent_at timestamptz;
CREATE INDEX jobs_mail_sent_idx ON exportq.jobs (owner, mail_sent_at) WHERE mail_sent_at IS NOT NULL;

CREATE FUNCTION exportq.jobs_mail_sent() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.mail_state = 'sent' AND OLD.mail_state IS DISTINCT FROM 'sent' THEN
        NEW.mail_sent_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_mail_sent BEFORE UPDATE OF mail_state ON exportq.jobs
    FOR EACH ROW EXECUTE FUNCTION exportq.jobs_mail_sent();

-- Called right after exportq.mail_claim(): when the job's owner already had
-- p_rate mails sent (or being sent) in the last hour, the mail is put back,
-- due when the oldest of them is an hour old, its attempt not counted, and
-- the new due time is returned; otherwise NULL (send it). Delayed, never
-- dropped. Jobs without an owner (enqueued by the application itself) are
-- not limited. Owners are serialised by a transaction advisory lock, so
-- concurrent senders cannot both take the last slot.
CREATE FUNCTION exportq.mail_rate_defer(p_id bigint, p_rate integer) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    v_owner text;
    v_used bigint;
    v_due timestamptz;
BEGIN
    SELECT j.owner INTO v_owner FROM exportq.jobs j WHERE j.id = p_id;
    IF v_owner IS NULL OR p_rate IS NULL OR p_rate < 1 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('exportq.mail_rate'), hashtext(v_owner));
    SELECT count(*), min(s.at) INTO v_used, v_due FROM (
        SELECT j.mail_sent_at AS at FROM exportq.jobs j
         WHERE j.owner = v_owner AND j.mail_sent_at > now() - interval '1 hour'
        UNION ALL
        SELECT now() FROM exportq.jobs j
         WHERE j.owner = v_owner AND j.id <> p_id AND j.mail_state = 'pending'
           AND j.mail_lease_expires_at > now()) s;
    IF v_used < p_rate THEN
        RETURN NULL;
    END IF;
    -- the slot frees when the oldest of the window is an hour old
    SELECT greatest(now() + interval '1 second', t.at + interval '1 hour') INTO v_due
      FROM (SELECT j.mail_sent_at AS at FROM exportq.jobs j
             WHERE j.owner = v_owner AND j.mail_sent_at > now() - interval '1 hour'
             ORDER BY j.mail_sent_at DESC OFFSET p_rate - 1 LIMIT 1) t;
    v_due := coalesce(v_due, now() + interval '1 minute');
    UPDATE exportq.jobs j
       SET mail_next_at = v_due, mail_lease_expires_at = NULL,
           mail_attempts = greatest(j.mail_attempts - 1, 0)
     WHERE j.id = p_id AND j.mail_state = 'pending';
    RETURN v_due;
END $$;
