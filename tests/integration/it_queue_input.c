/* it_queue_input.c - hostile and malformed input against the real PostgreSQL:
 * every rejection is clear (EQ_ERR_INVALID / SQLSTATE 22023 with a message
 * naming the problem) and writes nothing (rows counted before and after);
 * SQL in kind names and params stays data. Also define_kind validation and
 * API tokens (only hashes stored, revoked tokens refused). */
#include "tests/integration/it_queue_db.h"

#include "queue/queue.h"

static tdb db;

static int setup(void **state)
{
    (void)state;
    tdb_create(&db, "queue_input");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tdb_drop(&db);
    return 0;
}

static long long njobs(void) { return tq_ll(db.conn, "SELECT count(*) FROM exportq.jobs"); }

/* Asserts that req is rejected as invalid with a message containing `want`,
 * and that no row was written. */
static void rejected(const queue_enqueue_req *req, const char *want)
{
    long long before = njobs(), id = 42;
    eq_err err;
    eq_err_clear(&err);
    assert_int_equal(queue_enqueue(db.conn, req, &id, &err), -1);
    if (err.code != EQ_ERR_INVALID || !strstr(err.msg, want)) {
        fprintf(stderr, "expected an invalid-input error containing '%s', got %s: %s\n", want,
                eq_code_name(err.code), err.msg);
        fail();
    }
    assert_int_equal(id, 0);
    assert_int_equal(njobs(), before);
}

static void test_unknown_kind(void **state)
{
    (void)state;
    queue_enqueue_req req = {.kind = "nope"};
    rejected(&req, "unknown export kind 'nope'");
    req.kind = "rows'; DROP TABLE exportq.jobs; --";
    rejected(&req, "unknown export kind");
    req.kind = "ROWS";
    rejected(&req, "unknown export kind");
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'exportq' AND tablename = 'jobs'"), 1);
}

static void test_bad_emails(void **state)
{
    static const char *const bad[] = {
        "no-at-sign",
        "user@example.com\r\nBcc: victim@example.org",
        "user@example.com\nBcc: victim@example.org",
        "user@example.com, victim@example.org",
        "Name <user@example.com>",
        "<user@example.com>",
        "user@example.com>",
        "user @example.com",
        "user@example",
        "user@@example.com",
        "user@exa\tmple.com",
        "user\x01@example.com",
        "@example.com",
        "user@",
        "",
        ".user@example.com",
        "us..er@example.com",
        "user@-example.com",
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        queue_enqueue_req req = {.kind = "rows", .email = bad[i]};
        rejected(&req, "invalid email address");
    }
    /* 255 characters: too long */
    char longaddr[300];
    memset(longaddr, 'a', sizeof longaddr);
    memcpy(longaddr + 255 - 12, "@example.com", 12);
    longaddr[255] = '\0';
    queue_enqueue_req req = {.kind = "rows", .email = longaddr};
    rejected(&req, "invalid email address");
    /* the SQL API refuses it the same way, with SQLSTATE 22023 */
    long long before = njobs();
    PGresult *r = PQexec(db.conn, "SELECT exportq.enqueue('rows', '{}', E'a@b.example\\r\\nBcc: c@d.example')");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22023");
    PQclear(r);
    assert_int_equal(njobs(), before);
    /* good ones pass */
    static const char *const good[] = {"user@example.com", "first.last+tag@sub.example.co.uk",
                                       "o'brien@example.ie", "x@a-b.example"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        queue_enqueue_req ok = {.kind = "rows", .email = good[i]};
        long long id = 0;
        eq_err err;
        assert_int_equal(queue_enqueue(db.conn, &ok, &id, &err), 0);
        char stored[128];
        tq_str(db.conn, stored, sizeof stored, "SELECT email FROM exportq.jobs WHERE id = %lld", id);
        assert_string_equal(stored, good[i]);
    }
}

static void test_bad_params_and_priority(void **state)
{
    (void)state;
    queue_enqueue_req req = {.kind = "rows", .params_json = "[1, 2]"};
    rejected(&req, "params must be a JSON object");
    req.params_json = "\"text\"";
    rejected(&req, "params must be a JSON object");
    req.params_json = "42";
    rejected(&req, "params must be a JSON object");
    req.params_json = "null";
    rejected(&req, "params must be a JSON object");
    req.params_json = "{not json";
    rejected(&req, "json");
    /* more than 64 KiB */
    size_t n = 70000;
    char *big = malloc(n + 16);
    assert_non_null(big);
    memcpy(big, "{\"x\": \"", 7);
    memset(big + 7, 'a', n);
    memcpy(big + 7 + n, "\"}", 3);
    req.params_json = big;
    rejected(&req, "larger than 64 KiB");
    free(big);
    queue_enqueue_req p = {.kind = "rows", .priority = 1001};
    rejected(&p, "outside -1000..1000");
    p.priority = -1001;
    rejected(&p, "outside -1000..1000");
    queue_enqueue_req o = {.kind = "rows", .owner = "bad\nowner"};
    rejected(&o, "owner must be");
}

static void test_sql_in_params_is_data(void **state)
{
    eq_err err;
    long long id = 0;
    bool claimed = false;
    queue_job job = {0};
    (void)state;
    PQclear(tq(db.conn, "DELETE FROM exportq.jobs"));
    const char *evil = "{\"n\": \"1); DROP TABLE exportq.jobs; --\", \"q\": \"'$$\\\\\"}";
    queue_enqueue_req req = {.kind = "rows", .params_json = evil};
    assert_int_equal(queue_enqueue(db.conn, &req, &id, &err), 0);
    assert_int_equal(queue_claim(db.conn, "w", 30, 0, &job, &claimed, &err), 0);
    assert_true(claimed);
    assert_int_equal(job.id, id);
    /* the same JSON value came back */
    char eq[8];
    PGresult *r;
    const char *params[2] = {job.params, evil};
    r = PQexecParams(db.conn, "SELECT ($1::jsonb = $2::jsonb)::text", 2, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(eq, sizeof eq, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    assert_string_equal(eq, "true");
    queue_job_cleanup(&job);
    assert_int_equal(njobs(), 1);
}

static void test_define_kind_validation(void **state)
{
    (void)state;
    PQclear(tq(db.conn, "CREATE FUNCTION public.not_a_set(p jsonb) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$"));
    PQclear(tq(db.conn, "CREATE FUNCTION public.two_args(p jsonb, q int) RETURNS SETOF int LANGUAGE sql AS $$ SELECT 1 $$"));
    PQclear(tq(db.conn, "CREATE FUNCTION public.text_arg(p text) RETURNS SETOF int LANGUAGE sql AS $$ SELECT 1 $$"));
    static const struct {
        const char *sql, *want;
    } cases[] = {
        {"SELECT exportq.define_kind('Bad-Name', 'public.t_rows')", "invalid kind name"},
        {"SELECT exportq.define_kind('x; drop table exportq.kinds', 'public.t_rows')", "invalid kind name"},
        {"SELECT exportq.define_kind(repeat('a', 65), 'public.t_rows')", "invalid kind name"},
        {"SELECT exportq.define_kind('k1', 'public.not_a_set')", "must return a set"},
        {"SELECT exportq.define_kind('k1', 'public.two_args')", "exactly one jsonb argument"},
        {"SELECT exportq.define_kind('k1', 'public.text_arg')", "exactly one jsonb argument"},
        {"SELECT exportq.define_kind('k1', 'public.t_rows', NULL, '{\"zip\": true}')", "unknown option"},
        {"SELECT exportq.define_kind('k1', 'public.t_rows', NULL, '{\"gzip\": \"yes\"}')", "must be true or false"},
        {"SELECT exportq.define_kind('k1', 'public.t_rows', NULL, '[]')", "options must be a JSON object"},
        {"SELECT exportq.define_kind('k1', 'public.t_rows', '../etc/passwd')", "filename must be"},
    };
    long long before = tq_ll(db.conn, "SELECT count(*) FROM exportq.kinds");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        PGresult *r = PQexec(db.conn, cases[i].sql);
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        if (PQresultStatus(r) != PGRES_FATAL_ERROR || !msg || !strstr(msg, cases[i].want)) {
            fprintf(stderr, "%s: expected '%s', got: %s\n", cases[i].sql, cases[i].want,
                    msg ? msg : "success");
            PQclear(r);
            fail();
        }
        PQclear(r);
    }
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.kinds"), before);
    /* upsert: defining again updates in place */
    PQclear(tq(db.conn, "SELECT exportq.define_kind('rows', 'public.t_rows', 'activity.csv', '{\"gzip\": true, \"formula_guard\": true, \"header\": false}')"));
    char fn[64];
    tq_str(db.conn, fn, sizeof fn, "SELECT filename || ' ' || (options->>'gzip') FROM exportq.kinds WHERE name = 'rows'");
    assert_string_equal(fn, "activity.csv true");
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.kinds"), before);
}

static void test_tokens(void **state)
{
    eq_err err;
    char token[QUEUE_TOKEN_MAX], owner[QUEUE_OWNER_MAX], hash[65];
    long long id = 0, found = 0;
    bool ok = false;
    (void)state;
    assert_int_equal(queue_token_create(db.conn, "acme", token, sizeof token, &id, &err), 0);
    assert_true(queue_token_well_formed(token));
    assert_int_equal(strlen(token), 68);
    /* only the hash is stored */
    queue_token_hash(token, hash);
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.tokens WHERE token_hash = '%s'", hash), 1);
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.tokens WHERE token_hash LIKE '%%%s%%'", token + 4), 0);
    assert_int_equal(queue_token_lookup(db.conn, token, owner, sizeof owner, &found, &err), 0);
    assert_string_equal(owner, "acme");
    assert_int_equal(found, id);
    assert_int_equal(tq_ll(db.conn, "SELECT (last_used_at IS NOT NULL)::int FROM exportq.tokens WHERE id = %lld", id), 1);
    /* a second token differs */
    char token2[QUEUE_TOKEN_MAX];
    long long id2;
    assert_int_equal(queue_token_create(db.conn, "acme", token2, sizeof token2, &id2, &err), 0);
    assert_string_not_equal(token, token2);
    /* wrong, malformed and revoked tokens are not found */
    char wrong[QUEUE_TOKEN_MAX];
    snprintf(wrong, sizeof wrong, "%s", token);
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    eq_err_clear(&err);
    assert_int_equal(queue_token_lookup(db.conn, wrong, owner, sizeof owner, &found, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
    assert_int_equal(queue_token_lookup(db.conn, "' OR 1=1 --", owner, sizeof owner, &found, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
    assert_int_equal(queue_token_revoke(db.conn, id, &ok, &err), 0);
    assert_true(ok);
    assert_int_equal(queue_token_lookup(db.conn, token, owner, sizeof owner, &found, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
    assert_int_equal(queue_token_revoke(db.conn, id, &ok, &err), 0);
    assert_false(ok);
    assert_int_equal(queue_token_revoke(db.conn, 987654, &ok, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
    /* the other token still works */
    assert_int_equal(queue_token_lookup(db.conn, token2, owner, sizeof owner, &found, &err), 0);
    assert_int_equal(found, id2);
    eq_err_clear(&err);
    assert_int_equal(queue_token_create(db.conn, "", token, sizeof token, &id, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_bad_emails),
        cmocka_unit_test(test_bad_params_and_priority),
        cmocka_unit_test(test_sql_in_params_is_data),
        cmocka_unit_test(test_define_kind_validation),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
