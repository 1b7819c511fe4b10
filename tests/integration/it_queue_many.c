/* it_queue_many.c - exportq.enqueue_many (schema/014) against the real
 * PostgreSQL: one call gives the same jobs (kind, params, owner, email,
 * priority, turn, format, dedupe key), ids, counts and claim order as one
 * exportq.enqueue per element in a fresh database of its own; dedupe keys
 * repeated in the call and matching a live job give one id; an invalid
 * element rejects the whole call, naming the element, and writes nothing;
 * hostile strings stay data; two concurrent callers with overlapping keys
 * settle on one job per key. */
#include "tests/integration/it_queue_db.h"

static tdb many; /* enqueue_many */
static tdb one;  /* exportq.enqueue per element */

static int setup(void **state)
{
    (void)state;
    tdb_create(&many, "queue_many");
    tdb_create(&one, "queue_many_ref");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tdb_drop(&many);
    tdb_drop(&one);
    return 0;
}

/* owners (NULL too), priorities, emails, params, dedupe keys repeated in the
 * call and matching a live job, hostile strings */
static const char *mix =
    "[{\"owner\": \"alice\", \"params\": {\"n\": 1}, \"dedupe_key\": \"live\"},"
    " {\"owner\": \"alice\", \"email\": \"a@b.example\"},"
    " {\"owner\": \"bob\", \"priority\": 5, \"dedupe_key\": \"d1\"},"
    " {},"
    " {\"owner\": \"alice\", \"priority\": 0, \"params\": {\"q\": \"x'); DROP TABLE exportq.jobs; --\"}},"
    " {\"owner\": \"bob\", \"dedupe_key\": \"d1\", \"priority\": -3},"
    " {\"owner\": \"x'); DROP TABLE exportq.jobs; --\", \"dedupe_key\": \"$$;\\\\\"},"
    " {\"params\": null, \"email\": null, \"owner\": null, \"priority\": null, \"dedupe_key\": \"d1\"},"
    " {\"owner\": \"carol\", \"params\": {\"owner\": \"mallory\"}},"
    " {\"dedupe_key\": \"d1\"},"
    " {\"owner\": \"alice\", \"priority\": 5},"
    " {\"owner\": \"b\\u00e9b\", \"email\": \"x@y.example\", \"priority\": 1000},"
    " {\"owner\": \"bob\"}]";

static PGresult *many_call(PGconn *c, const char *jobs, const char *format)
{
    const char *p[2] = {jobs, format};
    return PQexecParams(c, "SELECT exportq.enqueue_many('rows', $1::jsonb, $2)::text", 2, NULL, p, NULL, NULL, 0);
}

/* the reference: one exportq.enqueue per element, in order, in one transaction */
static void one_by_one(PGconn *c, const char *jobs, const char *format, char *ids, size_t size)
{
    long long n = 0;
    size_t used = 0;
    char idx[16];
    const char *p[3] = {jobs, idx, format};
    PQclear(tq(c, "BEGIN"));
    {
        PGresult *r = PQexecParams(c, "SELECT jsonb_array_length($1::jsonb)", 1, NULL, p, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    used += (size_t)snprintf(ids + used, size - used, "{");
    for (long long i = 0; i < n; i++) {
        snprintf(idx, sizeof idx, "%lld", i);
        PGresult *r = PQexecParams(
            c,
            "SELECT exportq.enqueue('rows', coalesce(nullif(e->'params', 'null'), '{}'), e->>'email', e->>'owner', "
            "coalesce((e->>'priority')::int, 0), e->>'dedupe_key', $3) FROM (SELECT $1::jsonb -> $2::int AS e) x",
            3, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fprintf(stderr, "enqueue: %s", PQerrorMessage(c));
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        used += (size_t)snprintf(ids + used, size - used, "%s%s", i ? "," : "", PQgetvalue(r, 0, 0));
        PQclear(r);
        assert_true(used < size);
    }
    snprintf(ids + used, size - used, "}");
    PQclear(tq(c, "COMMIT"));
}

#define ROWS_SQL                                                                                       \
    "SELECT string_agg(format('%%s|%%s|%%s|%%s|%%s|%%s|%%s|%%s|%%s|%%s', id, kind, params, owner, email, " \
    "priority, turn, format, dedupe_key, state), E'\\n' ORDER BY id) FROM exportq.jobs"

static void claim_order(PGconn *c, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < 40; i++) {
        long long id = tq_ll(c, "SELECT id FROM exportq.claim('w', 300, NULL)");
        if (id < 0)
            break;
        used += (size_t)snprintf(out + used, size - used, "%lld,", id);
        assert_true(used < size);
    }
}

static void test_same_as_one_by_one(void **state)
{
    static char rows_many[16384], rows_one[16384], ids_many[1024], ids_one[1024];
    (void)state;
    PGconn *dbs[2] = {many.conn, one.conn};
    for (int i = 0; i < 2; i++) {
        /* a live job whose key the call repeats, and a finished one whose key it may reuse */
        PQclear(tq(dbs[i], "SELECT exportq.enqueue('rows', '{}', NULL, 'alice', 0, 'live')"));
        PQclear(tq(dbs[i], "SELECT exportq.enqueue('rows', '{}', NULL, 'bob', 0, 'old')"));
        PQclear(tq(dbs[i], "SELECT exportq.cancel(2)"));
    }
    for (int round = 0; round < 2; round++) {
        const char *format = round ? "tsv" : NULL;
        PGresult *r = many_call(many.conn, mix, format);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fprintf(stderr, "enqueue_many: %s", PQerrorMessage(many.conn));
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        snprintf(ids_many, sizeof ids_many, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        one_by_one(one.conn, mix, format, ids_one, sizeof ids_one);
        assert_string_equal(ids_many, ids_one);
    }
    /* in-call dedupe: elements 2 and 5 (bob, d1) share an id; element 0 got the live job 1 */
    assert_int_equal(tq_ll(many.conn, "SELECT ('%s'::bigint[])[1]", ids_many), 1);
    assert_int_equal(tq_ll(many.conn, "SELECT count(*) FROM exportq.jobs WHERE owner = 'bob' AND dedupe_key = 'd1'"), 1);
    tq_str(many.conn, rows_many, sizeof rows_many, ROWS_SQL);
    tq_str(one.conn, rows_one, sizeof rows_one, ROWS_SQL);
    assert_string_equal(rows_many, rows_one);
    /* the turn trigger saw the earlier rows of the statement: alice's turns go on */
    assert_true(tq_ll(many.conn, "SELECT max(turn) FROM exportq.jobs WHERE owner = 'alice'") >= 3);
    /* hostile strings are data */
    assert_int_equal(tq_ll(many.conn, "SELECT count(*) FROM exportq.jobs WHERE owner = 'x''); DROP TABLE "
                                      "exportq.jobs; --' AND dedupe_key = '$$;\\'"),
                     1);
    assert_int_equal(tq_ll(many.conn, "SELECT count(*) FROM exportq.jobs WHERE params->>'owner' = 'carol'"), 2); /* one per round */
    tq_str(many.conn, rows_many, sizeof rows_many, "SELECT string_agg(format('%%s=%%s', state, jobs), ',' ORDER BY state) FROM exportq.job_counts()");
    tq_str(one.conn, rows_one, sizeof rows_one, "SELECT string_agg(format('%%s=%%s', state, jobs), ',' ORDER BY state) FROM exportq.job_counts()");
    assert_string_equal(rows_many, rows_one);
    tq_str(many.conn, rows_many, sizeof rows_many, "SELECT string_agg(format('%%s:%%s', j.id, s.position), ',' ORDER BY j.id) FROM exportq.jobs j, LATERAL exportq.status(j.id) s");
    tq_str(one.conn, rows_one, sizeof rows_one, "SELECT string_agg(format('%%s:%%s', j.id, s.position), ',' ORDER BY j.id) FROM exportq.jobs j, LATERAL exportq.status(j.id) s");
    assert_string_equal(rows_many, rows_one);
    claim_order(many.conn, rows_many, sizeof rows_many);
    claim_order(one.conn, rows_one, sizeof rows_one);
    assert_true(rows_many[0] != '\0');
    assert_string_equal(rows_many, rows_one);
}

/* The call is refused with SQLSTATE 22023 and a message containing want;
 * nothing is written. */
static void refused(const char *jobs, const char *want)
{
    long long before = tq_ll(many.conn, "SELECT count(*) FROM exportq.jobs");
    long long seq = tq_ll(many.conn, "SELECT last_value FROM exportq.jobs_id_seq");
    PGresult *r = many_call(many.conn, jobs, NULL);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (!msg || !strstr(msg, want))
        fprintf(stderr, "want \"%s\", got \"%s\"\n", want, msg ? msg : "(none)");
    assert_non_null(state);
    assert_string_equal(state, "22023");
    assert_non_null(strstr(msg, want));
    PQclear(r);
    assert_int_equal(tq_ll(many.conn, "SELECT count(*) FROM exportq.jobs"), before);
    assert_int_equal(tq_ll(many.conn, "SELECT last_value FROM exportq.jobs_id_seq"), seq);
}

static void test_invalid_element_rejects_all(void **state)
{
    (void)state;
    static char big[4096];
    refused("[{\"owner\": \"u\"}, {\"email\": \"a@b.example\\r\\nBcc: c@d.example\"}]",
            "jobs[1]: invalid email address");
    refused("[{}, {\"owner\": \"u\", \"prio\": 1}]", "jobs[1]: unknown key 'prio'");
    refused("[{}, {}, {\"params\": [1]}]", "jobs[2]: params must be a JSON object, not array");
    refused("[{}, {\"priority\": 1.5}]", "jobs[1]: priority must be an integer");
    refused("[{}, {\"priority\": \"1\"}]", "jobs[1]: priority must be an integer, not string");
    refused("[{}, {\"priority\": 1001}]", "jobs[1]: priority 1001 is outside -1000..1000");
    refused("[{}, {\"owner\": 7}]", "jobs[1]: owner must be a JSON string, not number");
    refused("[{}, \"x'; DROP TABLE exportq.jobs; --\"]", "jobs[1]: a job must be a JSON object, not string");
    refused("[{}, {\"owner\": \"a\\nb\"}]", "jobs[1]: owner must be 1 to 256 characters");
    /* 129 two-byte characters: 258 bytes, over the byte limit (never cut) */
    size_t used = (size_t)snprintf(big, sizeof big, "[{}, {\"owner\": \"");
    for (int i = 0; i < 129; i++)
        used += (size_t)snprintf(big + used, sizeof big - used, "\xc3\xa9");
    snprintf(big + used, sizeof big - used, "\"}]");
    refused(big, "jobs[1]: owner must be 1 to 256 bytes without control characters (got 258 bytes)");
    /* the first invalid element is named */
    refused("[{}, {\"priority\": 2000}, {\"foo\": 1}]", "jobs[1]: priority 2000");
    PQclear(tq(many.conn, "SET exportq.mail_allowed_domains = 'allowed.example'"));
    refused("[{\"email\": \"a@allowed.example\"}, {\"email\": \"x@evil.example\"}]",
            "jobs[1]: email domain 'evil.example' is not allowed");
    PQclear(tq(many.conn, "RESET exportq.mail_allowed_domains"));
    refused("{\"owner\": \"u\"}", "jobs must be a JSON array");
    refused("1", "jobs must be a JSON array");
    /* over the cap */
    PGresult *r = PQexec(many.conn, "SELECT exportq.enqueue_many('rows', (SELECT jsonb_agg('{}'::jsonb) "
                                    "FROM generate_series(1, exportq.enqueue_many_max() + 1)))");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), "at most 100000"));
    PQclear(r);
    /* empty: nothing, no error */
    char out[32];
    tq_str(many.conn, out, sizeof out, "SELECT exportq.enqueue_many('rows', '[]')::text");
    assert_string_equal(out, "{}");
}

/* Two callers with overlapping dedupe keys at once: B's INSERT waits on A's
 * uncommitted keys (jobs_dedupe_idx); when A commits, B's elements of those
 * keys get A's ids without an error and B inserts only its other keys; when A
 * rolls back, B inserts every key of its own. Never two live jobs per key. */
static void concurrent_round(int commit)
{
    PGconn *b = tdb_connect(&many);
    char a_ids[4096], b_ids[4096], want[4096];
    PQclear(tq(many.conn, "DELETE FROM exportq.jobs"));
    PQclear(tq(many.conn, "BEGIN"));
    tq_str(many.conn, a_ids, sizeof a_ids,
           "SELECT exportq.enqueue_many('rows', (SELECT jsonb_agg(jsonb_build_object('owner', 'race', "
           "'dedupe_key', 'k' || g) ORDER BY g) FROM generate_series(1, 100) g))::text");
    /* B: keys 51..150, sent now; it must wait for A */
    assert_int_equal(PQsendQuery(b, "SELECT exportq.enqueue_many('rows', (SELECT jsonb_agg(jsonb_build_object("
                                    "'owner', 'race', 'dedupe_key', 'k' || g) ORDER BY g) "
                                    "FROM generate_series(51, 150) g))::text"),
                     1);
    for (int i = 0; i < 20; i++) { /* B still running: it waits on A's keys */
        usleep(20 * 1000);
        assert_int_equal(PQconsumeInput(b), 1);
        assert_int_equal(PQisBusy(b), 1);
    }
    PQclear(tq(many.conn, commit ? "COMMIT" : "ROLLBACK"));
    PGresult *r = PQgetResult(b);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "enqueue_many B: %s", PQerrorMessage(b));
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(b_ids, sizeof b_ids, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    assert_null(PQgetResult(b));
    PQfinish(b);
    /* one live job per key, 150 (A committed) or 100 (only B's) in all */
    assert_int_equal(tq_ll(many.conn, "SELECT count(*) FROM exportq.jobs"), commit ? 150 : 100);
    assert_int_equal(tq_ll(many.conn, "SELECT count(DISTINCT dedupe_key) FROM exportq.jobs"), commit ? 150 : 100);
    /* B's ids, in B's array order, are the ids of the jobs holding its keys */
    tq_str(many.conn, want, sizeof want,
           "SELECT array_agg((SELECT j.id FROM exportq.jobs j WHERE j.owner = 'race' AND j.dedupe_key = 'k' || g) "
           "ORDER BY g)::text FROM generate_series(51, 150) g");
    assert_string_equal(b_ids, want);
    if (commit) { /* the shared keys are A's jobs */
        char shared[4096];
        tq_str(many.conn, shared, sizeof shared,
               "SELECT array_agg(x ORDER BY o)::text FROM unnest('%s'::bigint[]) WITH ORDINALITY u(x, o) WHERE o > 50",
               a_ids);
        tq_str(many.conn, want, sizeof want,
               "SELECT array_agg(x ORDER BY o)::text FROM unnest('%s'::bigint[]) WITH ORDINALITY u(x, o) WHERE o <= 50",
               b_ids);
        assert_string_equal(shared, want);
    }
}

static void test_concurrent_dedupe(void **state)
{
    (void)state;
    concurrent_round(1);
    concurrent_round(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_one_by_one),
        cmocka_unit_test(test_invalid_element_rejects_all),
        cmocka_unit_test(test_concurrent_dedupe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
