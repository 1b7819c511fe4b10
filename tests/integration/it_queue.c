/* it_queue.c - the queue's semantics against the real PostgreSQL: position,
 * dedupe, idempotency, cancel, heartbeat fencing, rescue, max attempts,
 * backoff, release, owner cap, mail bookkeeping, retention, LISTEN/NOTIFY. */
#include "tests/integration/it_queue_db.h"

#include "queue/queue.h"
#include "worker/lease_keeper.h"

static tdb db;

static int setup(void **state)
{
    (void)state;
    tdb_create(&db, "queue");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tdb_drop(&db);
    return 0;
}

/* every test starts from an empty queue */
static void reset(void)
{
    PQclear(tq(db.conn, "DELETE FROM exportq.jobs"));
}

static long long enq(const char *owner, int priority, const char *email)
{
    queue_enqueue_req req = {.kind = "rows", .params_json = "{\"n\": 2}", .owner = owner,
                             .priority = priority, .email = email};
    long long id = 0;
    eq_err err;
    eq_err_clear(&err);
    if (queue_enqueue(db.conn, &req, &id, &err) < 0) {
        fprintf(stderr, "enqueue: %s\n", err.msg);
        fail();
    }
    assert_true(id > 0);
    return id;
}

static long long position(long long id)
{
    return tq_ll(db.conn, "SELECT position FROM exportq.status(%lld)", id);
}

static bool claim(const char *worker, int cap, queue_job *job)
{
    bool claimed = false;
    eq_err err;
    eq_err_clear(&err);
    if (queue_claim(db.conn, worker, 30, cap, job, &claimed, &err) < 0) {
        fprintf(stderr, "claim: %s\n", err.msg);
        fail();
    }
    return claimed;
}

static void state_is(long long id, const char *want)
{
    char st[32];
    tq_str(db.conn, st, sizeof st, "SELECT state FROM exportq.status(%lld)", id);
    assert_string_equal(st, want);
}

static void test_position(void **state)
{
    queue_job job = {0};
    (void)state;
    reset();
    /* ownerless jobs are one owner for turns: within a priority they keep
     * their enqueue order whatever their run_at */
    long long j1 = enq(NULL, 0, NULL);
    long long j2 = enq(NULL, 5, NULL);
    long long j3 = enq(NULL, 0, NULL);
    long long j4 = enq(NULL, -1, NULL);
    long long j5 = enq(NULL, 5, NULL);
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET run_at = now() - interval '1 hour' WHERE id = %lld", j5));
    /* claim order: j2, j5 (priority 5, turns 1 and 4), j1, j3 (0), j4 (-1) */
    assert_int_equal(position(j2), 1);
    assert_int_equal(position(j5), 2);
    assert_int_equal(position(j1), 3);
    assert_int_equal(position(j3), 4);
    assert_int_equal(position(j4), 5);

    assert_true(claim("w1", 0, &job));
    assert_int_equal(job.id, j2);
    queue_job_cleanup(&job);
    assert_int_equal(position(j2), 0); /* running */
    assert_int_equal(position(j5), 1);
    assert_int_equal(position(j1), 2);
    assert_int_equal(position(j4), 4);

    /* j5 waits for a retry time: no position, and the others move up */
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET run_at = now() + interval '1 hour' WHERE id = %lld", j5));
    assert_int_equal(position(j5), -1); /* NULL */
    assert_int_equal(position(j1), 1);
    assert_true(claim("w1", 0, &job));
    assert_int_equal(job.id, j1);
    queue_job_cleanup(&job);
    assert_int_equal(position(j3), 1);
    assert_int_equal(position(j4), 2);

    /* finished jobs have no position */
    bool ok = false;
    eq_err err;
    assert_int_equal(queue_cancel(db.conn, j3, &ok, &err), 0);
    assert_true(ok);
    assert_int_equal(position(j3), -1); /* NULL */
    assert_int_equal(position(j4), 1);
    /* the contract's columns, by name */
    PQclear(tq(db.conn, "SELECT id, kind, owner, state, position, rows, bytes, attempts, last_error, "
                        "created_at, started_at, finished_at, expires_at, rows_estimate, percent, "
                        "eta_seconds FROM exportq.status(%lld)", j4));
}

static void test_dedupe_and_idempotency(void **state)
{
    eq_err err;
    long long a = 0, b = 0, c = 0;
    bool existing = false;
    (void)state;
    reset();
    queue_enqueue_req req = {.kind = "rows", .dedupe_key = "daily", .existing = &existing};
    assert_int_equal(queue_enqueue(db.conn, &req, &a, &err), 0);
    assert_false(existing);
    assert_int_equal(queue_enqueue(db.conn, &req, &b, &err), 0);
    assert_true(existing);
    assert_int_equal(a, b);
    /* the SQL API too */
    assert_int_equal(tq_ll(db.conn, "SELECT exportq.enqueue('rows', dedupe_key => 'daily')"), a);
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.jobs"), 1);
    /* once it is finished, the key queues a new job */
    bool ok;
    assert_int_equal(queue_cancel(db.conn, a, &ok, &err), 0);
    assert_int_equal(queue_enqueue(db.conn, &req, &c, &err), 0);
    assert_false(existing);
    assert_true(c != a);

    /* Idempotency-Key: same job per owner forever, even finished */
    long long i1 = 0, i2 = 0, i3 = 0;
    queue_enqueue_req ir = {.kind = "rows", .owner = "u1", .idempotency_key = "k-1", .existing = &existing};
    assert_int_equal(queue_enqueue(db.conn, &ir, &i1, &err), 0);
    assert_int_equal(queue_cancel(db.conn, i1, &ok, &err), 0);
    assert_int_equal(queue_enqueue(db.conn, &ir, &i2, &err), 0);
    assert_true(existing);
    assert_int_equal(i1, i2);
    ir.owner = "u2"; /* another owner's key space */
    assert_int_equal(queue_enqueue(db.conn, &ir, &i3, &err), 0);
    assert_false(existing);
    assert_true(i3 != i1);
}

static void test_owner_is_forced_into_params(void **state)
{
    eq_err err;
    long long id = 0;
    queue_job job = {0};
    (void)state;
    reset();
    queue_enqueue_req req = {.kind = "rows", .params_json = "{\"owner\": \"someone-else\", \"n\": 4}",
                             .owner = "u1"};
    assert_int_equal(queue_enqueue(db.conn, &req, &id, &err), 0);
    assert_true(claim("w1", 0, &job));
    assert_int_equal(job.id, id);
    char owner[64];
    tq_str(db.conn, owner, sizeof owner, "SELECT ('%s'::jsonb)->>'owner'", job.params);
    assert_string_equal(owner, "u1");
    assert_int_equal(tq_ll(db.conn, "SELECT ('%s'::jsonb)->>'n'", job.params), 4);
    assert_string_equal(job.owner, "u1");
    assert_string_equal(job.kind, "rows");
    assert_string_equal(job.function, "public.t_rows");
    assert_string_equal(job.filename, "rows.csv");
    assert_int_equal(tq_ll(db.conn, "SELECT ('%s'::jsonb @> '{\"bom\": true}')::int", job.options), 1);
    assert_int_equal(job.attempt, 1);
    assert_int_equal(strlen(job.object_token), 32);
    assert_true(job.created_at > 0);
    queue_job_cleanup(&job);
}

static void test_cancel_queued_and_running(void **state)
{
    eq_err err;
    bool ok = false;
    queue_job job = {0};
    (void)state;
    reset();
    long long q = enq(NULL, 0, NULL);
    long long r = enq(NULL, -5, NULL);
    assert_int_equal(queue_cancel(db.conn, q, &ok, &err), 0);
    assert_true(ok);
    state_is(q, "cancelled");
    /* the cancelled one is never claimed */
    assert_true(claim("w1", 0, &job));
    assert_int_equal(job.id, r);
    assert_int_equal(queue_heartbeat(db.conn, &job, 30, 10, 100, &err), 0);
    assert_int_equal(tq_ll(db.conn, "SELECT rows FROM exportq.status(%lld)", r), 10);
    assert_int_equal(queue_set_upload(db.conn, &job, "upload-1", &err), 0);
    /* SQL API cancel of the running job */
    assert_int_equal(tq_ll(db.conn, "SELECT exportq.cancel(%lld)::int", r), 1);
    state_is(r, "cancelled");
    eq_err_clear(&err);
    assert_int_equal(queue_heartbeat(db.conn, &job, 30, 20, 200, &err), -1);
    assert_int_equal(err.code, EQ_ERR_CANCELLED);
    assert_int_equal(queue_complete(db.conn, &job, "k", 1, 1, 60, 60, &err), -1);
    assert_int_equal(err.code, EQ_ERR_CANCELLED);
    /* the worker aborted its upload and says so */
    assert_int_equal(queue_set_upload(db.conn, &job, NULL, &err), 0);
    state_is(r, "cancelled");
    /* finished jobs cannot be cancelled; unknown ones are not found */
    assert_int_equal(queue_cancel(db.conn, r, &ok, &err), 0);
    assert_false(ok);
    assert_int_equal(queue_cancel(db.conn, 999999, &ok, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
    queue_job_cleanup(&job);
}

static void expire_lease(long long id)
{
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = %lld", id));
}

static void make_ready(long long id)
{
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET run_at = now() - interval '1 second' WHERE id = %lld", id));
}

static void test_rescue_and_max_attempts(void **state)
{
    eq_err err;
    int n = 0;
    queue_job a = {0}, b = {0};
    (void)state;
    reset();
    long long id = enq("u1", 0, "user@example.com");
    long long other = enq(NULL, -10, NULL);
    assert_true(claim("dead-worker", 0, &a));
    assert_int_equal(a.id, id);
    assert_true(claim("live-worker", 0, &b));
    assert_int_equal(b.id, other);
    queue_job_cleanup(&b);
    /* a lease not yet expired is left alone */
    assert_int_equal(queue_rescue(db.conn, 3, &n, &err), 0);
    assert_int_equal(n, 0);
    expire_lease(id);
    assert_int_equal(queue_rescue(db.conn, 3, &n, &err), 0);
    assert_int_equal(n, 1);
    state_is(id, "queued");
    assert_int_equal(tq_ll(db.conn, "SELECT attempts FROM exportq.status(%lld)", id), 1);
    assert_int_equal(tq_ll(db.conn, "SELECT (run_at > now())::int FROM exportq.jobs WHERE id = %lld", id), 1);
    char msg[256];
    tq_str(db.conn, msg, sizeof msg, "SELECT last_error FROM exportq.status(%lld)", id);
    assert_non_null(strstr(msg, "dead-worker"));
    /* the live job was not touched */
    state_is(other, "running");
    /* the dead worker comes back: fenced out */
    eq_err_clear(&err);
    assert_int_equal(queue_heartbeat(db.conn, &a, 30, 1, 1, &err), -1);
    assert_int_equal(err.code, EQ_ERR_CONFLICT);
    queue_job_cleanup(&a);

    /* attempts 2 and 3 die too: then it is failed, with a failure mail pending */
    for (int attempt = 2; attempt <= 3; attempt++) {
        make_ready(id);
        assert_true(claim("dead-worker", 0, &a));
        assert_int_equal(a.id, id);
        assert_int_equal(a.attempt, attempt);
        queue_job_cleanup(&a);
        expire_lease(id);
        assert_int_equal(queue_rescue(db.conn, 3, &n, &err), 0);
        assert_int_equal(n, 1);
    }
    state_is(id, "failed");
    assert_int_equal(tq_ll(db.conn, "SELECT attempts FROM exportq.status(%lld)", id), 3);
    char mail[64];
    tq_str(db.conn, mail, sizeof mail, "SELECT mail_state || '/' || mail_kind FROM exportq.jobs WHERE id = %lld", id);
    assert_string_equal(mail, "pending/failure");
    assert_int_equal(tq_ll(db.conn, "SELECT (finished_at IS NOT NULL)::int FROM exportq.status(%lld)", id), 1);
}

static void test_fail_backoff_and_release(void **state)
{
    eq_err err;
    bool requeued = false;
    queue_job job = {0}, again = {0};
    (void)state;
    reset();
    long long id = enq(NULL, 0, "user@example.com");
    assert_true(claim("w1", 0, &job));
    assert_int_equal(queue_set_upload(db.conn, &job, "upload-A", &err), 0);
    assert_int_equal(queue_fail(db.conn, &job, "S3 503 SlowDown", true, 5, &requeued, &err), 0);
    assert_true(requeued);
    queue_job_cleanup(&job);
    state_is(id, "queued");
    /* backoff: attempt 1 -> 10 s * 0.5..1.5, so later than now and not claimable */
    assert_int_equal(tq_ll(db.conn, "SELECT (run_at >= now() + interval '4 seconds' AND "
                                    "run_at <= now() + interval '16 seconds')::int FROM exportq.jobs WHERE id = %lld", id), 1);
    assert_false(claim("w1", 0, &job));
    /* the next attempt learns the dead attempt's upload id (to abort it) */
    make_ready(id);
    assert_true(claim("w2", 0, &job));
    assert_int_equal(job.attempt, 2);
    assert_string_equal(job.prev_upload_id, "upload-A");
    /* graceful drain: back at once, the attempt not counted */
    assert_int_equal(queue_release(db.conn, &job, &err), 0);
    queue_job_cleanup(&job);
    state_is(id, "queued");
    assert_int_equal(tq_ll(db.conn, "SELECT attempts FROM exportq.status(%lld)", id), 1);
    assert_true(claim("w3", 0, &again));
    assert_int_equal(again.id, id);
    assert_int_equal(again.attempt, 2);
    /* a non-retryable failure is final */
    assert_int_equal(queue_fail(db.conn, &again, "function does not exist", false, 5, &requeued, &err), 0);
    assert_false(requeued);
    state_is(id, "failed");
    char e[128];
    tq_str(db.conn, e, sizeof e, "SELECT last_error FROM exportq.status(%lld)", id);
    assert_string_equal(e, "function does not exist");
    queue_job_cleanup(&again);
    assert_int_equal(queue_backoff_base(0), 5);
    assert_int_equal(queue_backoff_base(3), 40);
    assert_int_equal(queue_backoff_base(30), 600);
}

static void test_owner_cap(void **state)
{
    queue_job j[4] = {{0}};
    (void)state;
    reset();
    long long a1 = enq("alice", 10, NULL);
    long long a2 = enq("alice", 10, NULL);
    long long a3 = enq("alice", 10, NULL);
    long long b1 = enq("bob", 0, NULL);
    (void)a3;
    assert_true(claim("w", 2, &j[0]));
    assert_int_equal(j[0].id, a1);
    assert_true(claim("w", 2, &j[1]));
    assert_int_equal(j[1].id, a2);
    /* alice is at her cap: bob's lower-priority job goes first */
    assert_true(claim("w", 2, &j[2]));
    assert_int_equal(j[2].id, b1);
    assert_false(claim("w", 2, &j[3]));
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.jobs WHERE owner = 'alice' AND state = 'running'"), 2);
    /* alice finishes one: her third may run */
    eq_err err;
    assert_int_equal(queue_complete(db.conn, &j[0], "k1", 2, 10, 3600, 600, &err), 0);
    assert_true(claim("w", 2, &j[3]));
    assert_int_equal(j[3].id, a3);
    for (int i = 0; i < 4; i++)
        queue_job_cleanup(&j[i]);
}

static void test_complete_and_mail(void **state)
{
    eq_err err;
    bool got = false;
    queue_job job = {0};
    queue_mail m, m2;
    queue_status_row s;
    (void)state;
    reset();
    long long id = enq("u9", 0, "user@example.com");
    long long quiet = enq(NULL, -1, NULL);
    assert_true(claim("w1", 0, &job));
    assert_int_equal(queue_complete(db.conn, &job, "exports/u9/1/x/rows.csv", 1234, 56789, 86400, 3600, &err), 0);
    queue_job_cleanup(&job);
    assert_int_equal(queue_status(db.conn, id, &s, &err), 0);
    assert_string_equal(s.state, "succeeded");
    assert_int_equal(s.rows, 1234);
    assert_int_equal(s.bytes, 56789);
    assert_string_equal(s.object_key, "exports/u9/1/x/rows.csv");
    assert_string_equal(s.mail_state, "pending");
    assert_int_equal(s.position, -1);
    assert_true(s.link_expires_at > 0 && s.link_expires_at <= s.expires_at);
    /* the job without email gets no mail */
    assert_true(claim("w1", 0, &job));
    assert_int_equal(job.id, quiet);
    assert_int_equal(queue_complete(db.conn, &job, "k", 1, 1, 86400, 3600, &err), 0);
    queue_job_cleanup(&job);

    assert_int_equal(queue_mail_claim(db.conn, "w1", 60, 0, &m, &got, &err), 0);
    assert_true(got);
    assert_int_equal(m.job_id, id);
    assert_string_equal(m.mail_kind, "success");
    assert_string_equal(m.email, "user@example.com");
    assert_string_equal(m.filename, "rows.csv");
    assert_int_equal(m.rows, 1234);
    assert_int_equal(m.mail_attempt, 1);
    /* leased: nobody else sends it meanwhile */
    assert_int_equal(queue_mail_claim(db.conn, "w2", 60, 0, &m2, &got, &err), 0);
    assert_false(got);
    /* SMTP said no: retried later, not now */
    assert_int_equal(queue_mail_fail(db.conn, id, "421 try later", 3, &err), 0);
    assert_int_equal(queue_mail_claim(db.conn, "w2", 60, 0, &m2, &got, &err), 0);
    assert_false(got);
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET mail_next_at = now() WHERE id = %lld", id));
    assert_int_equal(queue_mail_claim(db.conn, "w2", 60, 0, &m2, &got, &err), 0);
    assert_true(got);
    assert_int_equal(m2.mail_attempt, 2);
    assert_int_equal(queue_mail_done(db.conn, id, &err), 0);
    assert_int_equal(queue_status(db.conn, id, &s, &err), 0);
    assert_string_equal(s.mail_state, "sent");
    /* a mail that keeps failing ends failed (the export is not re-run) */
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET mail_state = 'pending', mail_attempts = 0, mail_next_at = now() WHERE id = %lld", id));
    for (int i = 0; i < 2; i++) {
        PQclear(tq(db.conn, "UPDATE exportq.jobs SET mail_next_at = now() WHERE id = %lld", id));
        assert_int_equal(queue_mail_claim(db.conn, "w2", 60, 0, &m2, &got, &err), 0);
        assert_true(got);
        assert_int_equal(queue_mail_fail(db.conn, id, "550 no such user", 2, &err), 0);
    }
    assert_int_equal(queue_status(db.conn, id, &s, &err), 0);
    assert_string_equal(s.mail_state, "failed");
    assert_string_equal(s.state, "succeeded");
}

static void test_retention(void **state)
{
    eq_err err;
    bool got = false;
    int n = 0;
    queue_job job = {0};
    queue_expired e;
    (void)state;
    reset();
    long long id = enq(NULL, 0, NULL);
    assert_true(claim("w1", 0, &job));
    assert_int_equal(queue_complete(db.conn, &job, "exports/k.csv", 1, 1, 3600, 600, &err), 0);
    queue_job_cleanup(&job);
    assert_int_equal(queue_expire_claim(db.conn, 60, &e, &got, &err), 0);
    assert_false(got); /* not yet */
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET expires_at = now() - interval '1 second' WHERE id = %lld", id));
    assert_int_equal(queue_expire_claim(db.conn, 60, &e, &got, &err), 0);
    assert_true(got);
    assert_int_equal(e.job_id, id);
    assert_string_equal(e.object_key, "exports/k.csv");
    assert_int_equal(queue_expire_claim(db.conn, 60, &e, &got, &err), 0);
    assert_false(got); /* leased to the first deleter */
    assert_int_equal(queue_expire_done(db.conn, id, &err), 0);
    state_is(id, "expired");
    assert_int_equal(queue_purge(db.conn, 3600, &n, &err), 0);
    assert_int_equal(n, 0);
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET expires_at = now() - interval '2 hours' WHERE id = %lld", id));
    assert_int_equal(queue_purge(db.conn, 3600, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.jobs WHERE id = %lld", id), 0);
}

static void test_list(void **state)
{
    eq_err err;
    queue_status_row rows[3];
    int n = 0;
    long long ids[5];
    (void)state;
    reset();
    for (int i = 0; i < 5; i++)
        ids[i] = enq("lister", 0, NULL);
    enq("someone-else", 0, NULL);
    assert_int_equal(queue_list(db.conn, "lister", 3, 0, rows, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].id, ids[4]);
    assert_int_equal(rows[2].id, ids[2]);
    /* turns: lister's jobs 1..5 in turns 0..4, someone-else's in turn 0 */
    assert_int_equal(rows[0].position, 6);
    assert_int_equal(queue_list(db.conn, "lister", 3, rows[2].id, rows, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, ids[1]);
    assert_int_equal(rows[1].id, ids[0]);
}

static void test_listen_wait(void **state)
{
    eq_err err;
    bool notified = false;
    PGconn *listener = tdb_connect(&db);
    (void)state;
    reset();
    assert_int_equal(queue_listen(listener, &err), 0);
    assert_int_equal(queue_wait(listener, 50, &notified, &err), 0);
    assert_false(notified);
    enq(NULL, 0, NULL);
    /* generous timeout: the notify is already on its way */
    assert_int_equal(queue_wait(listener, 10000, &notified, &err), 0);
    assert_true(notified);
    assert_int_equal(queue_wait(listener, 50, &notified, &err), 0);
    assert_false(notified); /* consumed */
    PQfinish(listener);
}

static void test_orphaned_upload(void **state)
{
    eq_err err;
    bool got = false, ok = false;
    queue_job job = {0};
    queue_orphan o;
    int n = 0;
    (void)state;
    reset();
    long long id = enq("u7", 0, NULL);
    assert_true(claim("w1", 0, &job));
    assert_int_equal(queue_set_upload(db.conn, &job, "upload-X", &err), 0);
    /* the worker vanishes; the user cancels */
    assert_int_equal(queue_cancel(db.conn, id, &ok, &err), 0);
    assert_true(ok);
    /* within the grace period the (maybe live) worker is left to abort it */
    assert_int_equal(queue_orphan_claim(db.conn, 60, 30, &o, &got, &err), 0);
    assert_false(got);
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET finished_at = now() - interval '2 minutes' WHERE id = %lld", id));
    assert_int_equal(queue_orphan_claim(db.conn, 60, 30, &o, &got, &err), 0);
    assert_true(got);
    assert_int_equal(o.job_id, id);
    assert_string_equal(o.upload_id, "upload-X");
    assert_string_equal(o.owner, "u7");
    assert_string_equal(o.object_token, job.object_token);
    assert_string_equal(o.filename, "rows.csv");
    assert_int_equal(queue_orphan_claim(db.conn, 60, 30, &o, &got, &err), 0);
    assert_false(got); /* leased */
    assert_int_equal(queue_orphan_done(db.conn, id, "upload-X", &err), 0);
    char up[32];
    tq_str(db.conn, up, sizeof up, "SELECT coalesce(upload_id, 'none') FROM exportq.jobs WHERE id = %lld", id);
    assert_string_equal(up, "none");
    queue_job_cleanup(&job);
    /* failed by the rescuer with an upload recorded: the same */
    long long id2 = enq("u7", 0, NULL);
    assert_true(claim("w1", 0, &job));
    assert_int_equal(queue_set_upload(db.conn, &job, "upload-Y", &err), 0);
    expire_lease(id2);
    assert_int_equal(queue_rescue(db.conn, 1, &n, &err), 0);
    assert_int_equal(n, 1);
    state_is(id2, "failed");
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET finished_at = now() - interval '2 minutes' WHERE id = %lld", id2));
    assert_int_equal(queue_orphan_claim(db.conn, 60, 30, &o, &got, &err), 0);
    assert_true(got);
    assert_int_equal(o.job_id, id2);
    assert_string_equal(o.upload_id, "upload-Y");
    queue_job_cleanup(&job);
}

/* Heartbeats must stay HOT (no index on lease/progress columns): counted with
 * the transaction-level statistics, so no waiting for the stats collector. */
static void test_heartbeat_is_hot(void **state)
{
    queue_job job = {0};
    eq_err err;
    char sql[256];
    (void)state;
    reset();
    /* HOT needs room on the row's heap page: clear the dead rows of earlier
     * tests first, so the page has space (a HOT update can still miss when a
     * page fills; an index on a heartbeat column makes them all miss) */
    PQclear(tq(db.conn, "VACUUM exportq.jobs"));
    enq("u1", 0, NULL);
    assert_true(claim("w1", 0, &job));
    /* these counters also hold earlier, not yet flushed transactions of this
     * backend, and are not flushed inside a transaction block: use deltas */
    PQclear(tq(db.conn, "BEGIN"));
    long long updated0 = tq_ll(db.conn, "SELECT pg_stat_get_xact_tuples_updated('exportq.jobs'::regclass)");
    long long hot0 = tq_ll(db.conn, "SELECT pg_stat_get_xact_tuples_hot_updated('exportq.jobs'::regclass)");
    for (int i = 1; i <= 10; i++) {
        snprintf(sql, sizeof sql, "SELECT exportq.heartbeat(%lld, 'w1', 1, 30, %d, %d)", job.id, i * 100, i * 1000);
        char outcome[16];
        tq_str(db.conn, outcome, sizeof outcome, "%s", sql);
        assert_string_equal(outcome, "ok");
    }
    long long updated = tq_ll(db.conn, "SELECT pg_stat_get_xact_tuples_updated('exportq.jobs'::regclass)");
    long long hot = tq_ll(db.conn, "SELECT pg_stat_get_xact_tuples_hot_updated('exportq.jobs'::regclass)");
    PQclear(tq(db.conn, "COMMIT"));
    assert_int_equal(updated - updated0, 10);
    assert_true(hot - hot0 >= 8); /* with an index on lease/progress: 0 */
    /* and through the C API the progress is recorded */
    assert_int_equal(queue_heartbeat(db.conn, &job, 30, 12345, 678910, &err), 0);
    assert_int_equal(tq_ll(db.conn, "SELECT bytes FROM exportq.status(%lld)", job.id), 678910);
    queue_job_cleanup(&job);
}

/* The counters /metrics reads stay equal to a full count through statements
 * of many rows (a bulk enqueue, a purge), added once per statement (012). */
static void test_counts_bulk(void **state)
{
    (void)state;
    reset();
    PQclear(tq(db.conn, "INSERT INTO exportq.jobs (kind, params, owner, state, bytes) "
                        "SELECT 'rows', '{}', 'o' || (g %% 50), "
                        "CASE WHEN g %% 3 = 0 THEN 'failed' ELSE 'queued' END, g %% 7 "
                        "FROM generate_series(1, 20000) g"));
    PQclear(tq(db.conn, "DELETE FROM exportq.jobs WHERE id %% 4 = 1"));
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET state = 'cancelled' WHERE id %% 10 = 2 AND state = 'queued'"));
    long long bad = tq_ll(db.conn,
                          "SELECT count(*) FROM (SELECT state, sum(jobs) AS n, sum(bytes) AS b FROM exportq.job_counts "
                          "GROUP BY state HAVING sum(jobs) <> 0) c FULL JOIN (SELECT state, count(*) AS n, "
                          "sum(coalesce(bytes, 0)) AS b FROM exportq.jobs GROUP BY state) j USING (state) "
                          "WHERE c.n IS DISTINCT FROM j.n OR c.b IS DISTINCT FROM j.b");
    assert_int_equal(bad, 0);
    assert_true(tq_ll(db.conn, "SELECT sum(jobs) FROM exportq.job_counts") == 15000);
}

/* The worker's lease keeper (xlsx: the workbook is zipped in one blocking
 * call) renews the lease and records the published progress from a thread
 * and a connection of its own; a job left alone would have lost its lease. */
static void test_lease_keeper(void **state)
{
    queue_job job = {0};
    lease_keeper *k = NULL;
    eq_err err;
    (void)state;
    reset();
    long long id = enq("u-keeper", 0, NULL);
    assert_true(claim("w1", 0, &job));
    PQclear(tq(db.conn, "UPDATE exportq.jobs SET lease_expires_at = now() + interval '2 seconds' WHERE id = %lld", id));
    assert_int_equal(lease_keeper_start(db.url, &job, 5, "test", &k, &err), 0);
    lease_keeper_progress(k, 42, 4200);
    /* past the 2 s the lease had, and past a whole 5 s lease */
    usleep(6500 * 1000);
    assert_true(tq_ll(db.conn, "SELECT (lease_expires_at > now() + interval '1 second')::int FROM exportq.jobs "
                               "WHERE id = %lld", id) == 1);
    assert_int_equal(tq_ll(db.conn, "SELECT rows FROM exportq.jobs WHERE id = %lld", id), 42);
    state_is(id, "running");
    lease_keeper_stop(k);
    queue_job_cleanup(&job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_position),
        cmocka_unit_test(test_dedupe_and_idempotency),
        cmocka_unit_test(test_owner_is_forced_into_params),
        cmocka_unit_test(test_cancel_queued_and_running),
        cmocka_unit_test(test_rescue_and_max_attempts),
        cmocka_unit_test(test_fail_backoff_and_release),
        cmocka_unit_test(test_owner_cap),
        cmocka_unit_test(test_complete_and_mail),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_listen_wait),
        cmocka_unit_test(test_heartbeat_is_hot),
        cmocka_unit_test(test_orphaned_upload),
        cmocka_unit_test(test_counts_bulk),
        cmocka_unit_test(test_lease_keeper),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
