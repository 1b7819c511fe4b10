/* it_export_source.c - the async COPY reader and kind lookup against the real
 * PostgreSQL of the harness (EXPORTQ_DATABASE_URL): counts, SQL errors,
 * cancellation (the query leaves pg_stat_activity), connection reuse, and the
 * COPY statement keeping parameters as data. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/pg.h"
#include "export/export.h"
#include "export/export_kind.h"
#include "export/export_query.h"
#include "export/export_source.h"

static PGconn *connect_db(const char *role)
{
    PGconn *c = NULL;
    eq_err err;
    const char *url = getenv("EXPORTQ_DATABASE_URL");
    assert_non_null(url);
    if (eq_pg_connect(url, role, &c, &err) < 0)
        fail_msg("connect: %s", err.msg);
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    eq_err err;
    if (eq_pg_exec(c, "test", sql, 0, NULL, NULL, &err) < 0)
        fail_msg("%s: %s", sql, err.msg);
}

/* Reads the source to the end, waiting on the socket; returns the last read's
 * result and appends the bytes to out (when not NULL, up to cap). */
static int read_all(PGconn *c, export_source *src, char *out, size_t cap, size_t *outlen, eq_err *err)
{
    export_chunk ch;
    size_t n = 0;
    for (;;) {
        int r = export_source_read(src, &ch, err);
        if (r == EXPORT_READY) {
            if (out && n + ch.len <= cap)
                memcpy(out + n, ch.data, ch.len);
            n += ch.len;
        } else if (r == EXPORT_WOULD_BLOCK) {
            struct pollfd p = {.fd = PQsocket(c), .events = export_source_events(src)};
            poll(&p, 1, 1000);
        } else {
            if (outlen)
                *outlen = n;
            return r;
        }
    }
}

static long count_active(PGconn *watch, const char *app)
{
    char sql[256];
    PGresult *res;
    long n;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' AND state = 'active'", app);
    res = PQexec(watch, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

/* Waits up to `seconds` for no active query of `app`; returns the count left. */
static long wait_gone(PGconn *watch, const char *app, int seconds)
{
    long n = 0;
    for (int i = 0; i < seconds * 20; i++) {
        if ((n = count_active(watch, app)) == 0)
            return 0;
        usleep(50000);
    }
    return n;
}

/* Waits up to `seconds` until the backend of `app` is blocked writing to its
 * client (wait_event ClientWrite: the socket buffers are full); 0 when so. */
static int wait_client_write(PGconn *watch, const char *app, int seconds)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' AND wait_event = 'ClientWrite'",
             app);
    for (int i = 0; i < seconds * 20; i++) {
        PGresult *res = PQexec(watch, sql);
        long n;
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if (n == 1)
            return 0;
        usleep(50000);
    }
    return -1;
}

static void test_rows_bytes_and_content(void **state)
{
    PGconn *c = connect_db("it-src");
    export_source *src = NULL;
    eq_err err;
    static char out[1 << 16];
    size_t len = 0;
    (void)state;
    if (export_source_start(c, "COPY (SELECT i, 'v' || i AS s FROM generate_series(1, 1000) i) TO STDOUT "
                               "WITH (FORMAT csv, HEADER)", &src, &err) < 0)
        fail_msg("start: %s", err.msg);
    assert_int_equal(read_all(c, src, out, sizeof out, &len, &err), EXPORT_DONE);
    assert_int_equal(export_source_rows(src), 1000);
    assert_int_equal(export_source_bytes(src), len);
    assert_memory_equal(out, "i,s\n1,v1\n2,v2\n", 14);
    assert_memory_equal(out + len - 11, "1000,v1000\n", 11);
    export_source_free(src);

    /* header off: every record is a row; the connection was left reusable */
    if (export_source_start(c, "COPY (SELECT 1 UNION ALL SELECT 2) TO STDOUT WITH (FORMAT csv, HEADER false)",
                            &src, &err) < 0)
        fail_msg("start 2: %s", err.msg);
    export_source_set_header(src, false);
    assert_int_equal(read_all(c, src, out, sizeof out, &len, &err), EXPORT_DONE);
    assert_int_equal(export_source_rows(src), 2);
    assert_int_equal(len, 4);
    export_source_free(src);
    exec_ok(c, "SELECT 1");
    PQfinish(c);
}

static void test_sql_errors(void **state)
{
    PGconn *c = connect_db("it-src");
    export_source *src = NULL;
    eq_err err;
    size_t len;
    (void)state;
    /* before the first row */
    if (export_source_start(c, "COPY (SELECT * FROM no_such_table) TO STDOUT WITH (FORMAT csv)", &src, &err) < 0)
        fail_msg("start: %s", err.msg);
    assert_int_equal(read_all(c, src, NULL, 0, &len, &err), -1);
    assert_int_equal(err.code, EQ_ERR_DB);
    assert_non_null(strstr(err.msg, "relation \"no_such_table\" does not exist"));
    export_source_free(src);
    /* in the middle: rows came, then the error */
    if (export_source_start(c, "COPY (SELECT i, 1 / (i - 30000) FROM generate_series(1, 60000) i) TO STDOUT "
                               "WITH (FORMAT csv, HEADER)", &src, &err) < 0)
        fail_msg("start: %s", err.msg);
    assert_int_equal(read_all(c, src, NULL, 0, &len, &err), -1);
    assert_non_null(strstr(err.msg, "division by zero"));
    assert_true(export_source_rows(src) > 0);
    export_source_free(src);
    /* not a COPY */
    if (export_source_start(c, "SELECT 1", &src, &err) < 0)
        fail_msg("start: %s", err.msg);
    assert_int_equal(read_all(c, src, NULL, 0, &len, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
    export_source_free(src);
    exec_ok(c, "SELECT 1");
    PQfinish(c);
}

static void test_cancel_stops_the_query(void **state)
{
    PGconn *c = connect_db("it-cancel");
    PGconn *watch = connect_db("it-watch");
    export_source *src = NULL;
    export_chunk ch;
    eq_err err;
    size_t len;
    int got = 0;
    (void)state;
    /* a query that would run for minutes */
    if (export_source_start(c, "COPY (SELECT a.i, b.j, repeat('x', 100) FROM generate_series(1, 100000) a(i), generate_series(1, 100000) b(j)) "
                               "TO STDOUT WITH (FORMAT csv)", &src, &err) < 0)
        fail_msg("start: %s", err.msg);
    while (got < 1000) {
        int r = export_source_read(src, &ch, &err);
        assert_true(r == EXPORT_READY || r == EXPORT_WOULD_BLOCK);
        if (r == EXPORT_READY)
            got++;
        else {
            struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
            poll(&p, 1, 1000);
        }
    }
    assert_int_equal(count_active(watch, "exportq-it-cancel"), 1);
    assert_int_equal(export_source_cancel(src), 0);
    assert_int_equal(read_all(c, src, NULL, 0, &len, &err), -1);
    assert_int_equal(err.code, EQ_ERR_CANCELLED);
    assert_int_equal(wait_gone(watch, "exportq-it-cancel", 30), 0);
    export_source_free(src);
    exec_ok(c, "SELECT 1");

    /* a consumer that stopped reading (server blocked on its socket): free()
     * alone stops the query and leaves the connection idle */
    if (export_source_start(c, "COPY (SELECT a.i, b.j, repeat('x', 100) FROM generate_series(1, 100000) a(i), generate_series(1, 100000) b(j)) "
                               "TO STDOUT WITH (FORMAT csv)", &src, &err) < 0)
        fail_msg("start: %s", err.msg);
    for (got = 0; got < 10;) {
        int r = export_source_read(src, &ch, &err);
        if (r == EXPORT_READY)
            got++;
        else {
            struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
            poll(&p, 1, 1000);
        }
    }
    /* the server fills the socket buffers and blocks: wait for that state */
    assert_int_equal(wait_client_write(watch, "exportq-it-cancel", 30), 0);
    assert_int_equal(count_active(watch, "exportq-it-cancel"), 1);
    export_source_free(src);
    assert_int_equal(wait_gone(watch, "exportq-it-cancel", 30), 0);
    exec_ok(c, "SELECT 1");
    PQfinish(c);
    PQfinish(watch);
}

static void test_kind_and_copy_sql(void **state)
{
    PGconn *c = connect_db("it-kind");
    export_kind k;
    export_source *src = NULL;
    eq_err err;
    char *sql = NULL, out[4096];
    size_t len = 0;
    (void)state;
    exec_ok(c, "CREATE SCHEMA IF NOT EXISTS \"Odd Schema\"");
    exec_ok(c, "CREATE OR REPLACE FUNCTION \"Odd Schema\".\"Echo\"(p jsonb) RETURNS TABLE(k text, v text) "
               "LANGUAGE sql AS $$ SELECT key, value FROM jsonb_each_text(p) ORDER BY key $$");
    exec_ok(c, "SELECT exportq.define_kind('it_echo', '\"Odd Schema\".\"Echo\"'::regproc, NULL, "
               "'{\"formula_guard\": true}')");
    if (export_kind_get(c, "it_echo", &k, &err) < 0)
        fail_msg("kind: %s", err.msg);
    assert_string_equal(k.function, "\"Odd Schema\".\"Echo\"");
    assert_string_equal(k.filename, "");
    assert_true(k.options.formula_guard);
    assert_false(k.options.gzip);

    assert_int_equal(export_kind_get(c, "it_nope", &k, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "unknown export kind 'it_nope'"));
    assert_int_equal(export_kind_get(c, "x'; --", &k, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);

    /* quotes, backslashes and SQL in values come back verbatim */
    if (export_kind_get(c, "it_echo", &k, &err) < 0 ||
        export_build_copy_sql(c, k.function, "{\"a\":\"x'); DROP TABLE exportq.kinds; --\",\"b\":\"back\\\\slash\"}",
                              true, &sql, &err) < 0)
        fail_msg("build: %s", err.msg);
    if (export_source_start(c, sql, &src, &err) < 0)
        fail_msg("start: %s", err.msg);
    assert_int_equal(read_all(c, src, out, sizeof out, &len, &err), EXPORT_DONE);
    out[len] = '\0';
    assert_string_equal(out, "k,v\na,x'); DROP TABLE exportq.kinds; --\nb,back\\slash\n");
    export_source_free(src);
    free(sql);
    exec_ok(c, "SELECT 1 FROM exportq.kinds LIMIT 1");
    /* not an object, not a name */
    assert_int_equal(export_build_copy_sql(c, k.function, "[1]", true, &sql, &err), -1);
    assert_int_equal(export_build_copy_sql(c, "f(); DROP TABLE x; --", "{}", true, &sql, &err), -1);
    assert_int_equal(export_build_copy_sql(c, "pg_catalog.now", "{}", true, &sql, &err), 0);
    free(sql);
    PQfinish(c);
}

static void echo_kind(PGconn *c)
{
    exec_ok(c, "CREATE SCHEMA IF NOT EXISTS \"Odd Schema\"");
    exec_ok(c, "CREATE OR REPLACE FUNCTION \"Odd Schema\".\"Echo\"(p jsonb) RETURNS TABLE(k text, v text) "
               "LANGUAGE sql AS $$ SELECT key, value FROM jsonb_each_text(p) ORDER BY key $$");
}

/* The kind-name rule is the SQL one: export_kind_name_valid() takes exactly
 * the names exportq.define_kind() takes (issue 12: a 64-byte name). */
static void test_kind_name_is_the_sql_rule(void **state)
{
    static const char *const names[] = {"a", "user_activity", "_x", "0day", "v2.orders", "a-b", "Upper", "a b",
                                        "caf\xc3\xa9", "", "x'; --",
                                        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
                                        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"};
    PGconn *c = connect_db("it-kindname");
    (void)state;
    echo_kind(c);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *params[1] = {names[i]};
        PGresult *res;
        bool sql_ok;
        exec_ok(c, "BEGIN");
        res = PQexecParams(c, "SELECT exportq.define_kind($1, '\"Odd Schema\".\"Echo\"'::regproc)", 1, NULL, params,
                           NULL, NULL, 0);
        sql_ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        exec_ok(c, "ROLLBACK");
        print_message("kind name '%s' (%zu bytes): SQL %s\n", names[i], strlen(names[i]), sql_ok ? "takes" : "refuses");
        assert_int_equal(export_kind_name_valid(names[i]), sql_ok);
    }
    PQfinish(c);
}

typedef struct mem_sink {
    char data[4096];
    size_t len;
} mem_sink;

static int to_mem(void *ctx, const void *data, size_t len, eq_err *err)
{
    mem_sink *m = ctx;
    if (m->len + len >= sizeof m->data)
        return eq_fail(err, EQ_ERR_LIMIT, "test sink full");
    memcpy(m->data + m->len, data, len);
    m->len += len;
    m->data[m->len] = '\0';
    return 0;
}

/* Runs spec to the end into a memory sink; returns the last export_next. */
static int run_export(const export_spec *spec, mem_sink *m, uint64_t *rows, eq_err *err)
{
    export_stream *x = NULL;
    int r;
    memset(m, 0, sizeof *m);
    if (export_open(spec, to_mem, m, &x, err) < 0)
        return -1;
    while ((r = export_next(x, err)) == EXPORT_READY || r == EXPORT_WOULD_BLOCK) {
        if (r == EXPORT_WOULD_BLOCK) {
            struct pollfd p = {.fd = export_socket(x), .events = export_events(x)};
            if (export_flush(x, err) < 0)
                break;
            poll(&p, 1, 1000);
        }
    }
    if (rows)
        *rows = export_rows(x);
    if (r == EXPORT_DONE)
        assert_int_equal(export_bytes_out(x), m->len);
    export_close(x);
    return r;
}

/* export_open, the one entry point: the owner bound over the parameters (NULL
 * or "" = no owner), the kind's options wired, a borrowed connection left
 * idle, an own connection when given a URL. */
static void test_export_open(void **state)
{
    PGconn *c = connect_db("it-open");
    export_spec spec = {.conn = c, .function = "\"Odd Schema\".\"Echo\"",
                        .params_json = "{\"owner\":\"mallory\",\"a\":\"=1\"}", .owner = "Jane Doe kind=forged"};
    mem_sink m;
    uint64_t rows = 0;
    eq_err err;
    (void)state;
    echo_kind(c);
    export_options_default(&spec.options);
    assert_int_equal(run_export(&spec, &m, &rows, &err), EXPORT_DONE);
    assert_string_equal(m.data, "k,v\na,=1\nowner,Jane Doe kind=forged\n");
    assert_int_equal(rows, 2);
    exec_ok(c, "SELECT 1"); /* the borrowed connection is idle and reusable */

    /* no owner: the caller's value stays (exportq stream without --owner) */
    spec.owner = "";
    assert_int_equal(run_export(&spec, &m, NULL, &err), EXPORT_DONE);
    assert_string_equal(m.data, "k,v\na,=1\nowner,mallory\n");
    spec.owner = NULL;
    assert_int_equal(run_export(&spec, &m, NULL, &err), EXPORT_DONE);
    assert_string_equal(m.data, "k,v\na,=1\nowner,mallory\n");

    /* the kind's options: no header, formula guard, BOM; an own connection */
    spec.conn = NULL;
    spec.source_url = getenv("EXPORTQ_DATABASE_URL");
    spec.app_role = "it-open-own";
    spec.owner = "u1";
    spec.options.header = false;
    spec.options.formula_guard = true;
    spec.options.bom = true;
    assert_int_equal(run_export(&spec, &m, &rows, &err), EXPORT_DONE);
    assert_string_equal(m.data, "\xef\xbb\xbf" "a,'=1\nowner,u1\n");
    assert_int_equal(rows, 2);

    /* refused before any query: parameters that are not an object, no function */
    spec.params_json = "[1]";
    assert_int_equal(run_export(&spec, &m, NULL, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
    spec.params_json = NULL;
    spec.function = "";
    assert_int_equal(run_export(&spec, &m, NULL, &err), -1);
    assert_int_equal(wait_gone(c, "exportq-it-open-own", 5), 0);
    PQfinish(c);
}

static int setup_db(void **state)
{
    /* the exportq schema at this binary's version (migrate is idempotent) */
    const char *bin = getenv("EXPORTQ_BIN");
    char cmd[1100];
    (void)state;
    snprintf(cmd, sizeof cmd, "'%s' migrate >/dev/null", bin ? bin : "exportq");
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_bytes_and_content),
        cmocka_unit_test(test_sql_errors),
        cmocka_unit_test(test_cancel_stops_the_query),
        cmocka_unit_test(test_kind_and_copy_sql),
        cmocka_unit_test(test_kind_name_is_the_sql_rule),
        cmocka_unit_test(test_export_open),
    };
    return cmocka_run_group_tests(tests, setup_db, NULL);
}
