-- 010_webhook_delivery.sql - webhook delivery outcomes fenced by attempt
-- (DESIGN.md "Notifications"; events, claim and backoff are in 007).
--
-- 007's webhook_result records an outcome whoever asks: a worker whose lease
-- ran out while its receiver was slow could turn an event that another
-- worker has since delivered back into 'pending' (and it would be sent once
-- more), or overwrite the newer attempt's outcome. webhook_settle records an
-- outcome only for the attempt that holds the claim (attempts = p_attempt,
-- still pending). webhook_result stays as it was (rolling upgrades).

CREATE FUNCTION exportq.webhook_settle(p_id text, p_attempt integer, p_delivered boolean, p_status integer,
                                       p_error text, p_final boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    UPDATE exportq.webhooks w
       SET state = CASE WHEN p_delivered THEN 'delivered'
                        WHEN p_final OR now() - w.created_at >= interval '24 hours' THEN 'failed'
                        ELSE 'pending' END,
           -- retried after min(10 s * 2^(attempts-1), 1 h) * random(0.5..1.5):
           -- the first retry within 15 s, then growing, for up to 24 h
           next_at = CASE WHEN p_delivered THEN w.next_at
                          ELSE now() + make_interval(secs => least(10 * power(2, least(greatest(w.attempts - 1, 0), 20)), 3600)
                                                             * (0.5 + random())) END,
           delivered_at = CASE WHEN p_delivered THEN now() ELSE NULL END,
           lease_expires_at = NULL, last_status = p_status,
           last_error = CASE WHEN p_delivered THEN NULL ELSE left(p_error, 1000) END
     WHERE w.id = p_id AND w.attempts = p_attempt AND w.state = 'pending'
    RETURNING w.state INTO st;
    IF FOUND THEN
        RETURN st;
    END IF;
    IF EXISTS (SELECT 1 FROM exportq.webhooks w WHERE w.id = p_id) THEN
        RETURN 'lost'; -- another attempt holds it now, or it was settled meanwhile
    END IF;
    RETURN 'gone'; -- deleted with its job
END $$;

-- A kind's webhook_url naming a link-local or cloud metadata address as an IP
-- literal is refused when the kind is defined (any version of define_kind,
-- or a direct write), before any event exists. The worker checks every
-- address again at delivery (names, other spellings of an address), so this
-- is the early, clear refusal, not the only one.
CREATE FUNCTION exportq.kinds_webhook_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    url text := NEW.options->>'webhook_url';
    host text;
    addr inet;
BEGIN
    IF url IS NULL THEN
        RETURN NEW;
    END IF;
    host := substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]]*\]|[^:/?#]*)');
    host := btrim(coalesce(host, ''), '[]');
    BEGIN
        addr := host::inet;
    EXCEPTION WHEN others THEN
        RETURN NEW; -- a name: resolved and checked at delivery
    END;
    IF addr << inet '169.254.0.0/16' OR addr << inet '100.64.0.0/10' OR addr << inet '0.0.0.0/8'
       OR addr << inet 'fe80::/10' OR addr << inet 'fd00:ec2::/32' OR addr << inet '::ffff:169.254.0.0/112'
       OR addr = inet '::' THEN
        PERFORM exportq.reject(format('option webhook_url must not name a link-local or metadata address (%s)',
                                      left(host, 60)));
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER kinds_webhook_check BEFORE INSERT OR UPDATE OF options ON exportq.kinds
    FOR EACH ROW EXECUTE FUNCTION exportq.kinds_webhook_check();
