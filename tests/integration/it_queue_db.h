/* it_queue_db.h - helpers of the queue's integration tests (it_queue*.c):
 * each test program gets a fresh database of its own on the harness's
 * PostgreSQL (so ctest -j runs them side by side), migrated with the embedded
 * migrations, with a tiny test kind. Test-only code: failures abort the test.
 */
#ifndef EXPORTQ_IT_QUEUE_DB_H
#define EXPORTQ_IT_QUEUE_DB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "common/error.h"
#include "schema/schema.h"

typedef struct tdb {
    char name[64];  /* the database created for this program */
    char url[1024]; /* EXPORTQ_DATABASE_URL pointing at it */
    PGconn *conn;   /* a connection to it */
} tdb;

static inline PGconn *tdb_connect_url(const char *url)
{
    const char *keys[] = {"dbname", NULL};
    const char *vals[] = {url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        fail();
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static inline PGconn *tdb_connect(const tdb *t) { return tdb_connect_url(t->url); }

static inline PGresult *tq(PGconn *c, const char *fmt, ...) EQ_PRINTF(2, 3);
/* Runs a test query (built with printf: test values only) and asserts it worked. */
static inline PGresult *tq(PGconn *c, const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "query failed: %s\n  %s", sql, PQerrorMessage(c));
        PQclear(r);
        fail();
    }
    return r;
}

static inline long long tq_ll(PGconn *c, const char *fmt, ...) EQ_PRINTF(2, 3);
/* The first value of a test query as an integer (-1 for NULL or no row). */
static inline long long tq_ll(PGconn *c, const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = tq(c, "%s", sql);
    long long v = -1;
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static inline void tq_str(PGconn *c, char *out, size_t size, const char *fmt, ...) EQ_PRINTF(4, 5);
/* The first value of a test query as text ("" for NULL or no row). */
static inline void tq_str(PGconn *c, char *out, size_t size, const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = tq(c, "%s", sql);
    out[0] = '\0';
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* Creates an empty database named after `tag` and this process. */
static inline void tdb_create_empty(tdb *t, const char *tag)
{
    const char *base = getenv("EXPORTQ_DATABASE_URL");
    const char *slash;
    memset(t, 0, sizeof *t);
    if (!base || !strstr(base, "://") || strchr(base, '?')) {
        fprintf(stderr, "EXPORTQ_DATABASE_URL must be a postgresql:// URL without a query "
                        "(run through ctest with the servers fixture)\n");
        fail();
    }
    snprintf(t->name, sizeof t->name, "eqt_%s_%ld", tag, (long)getpid());
    slash = strrchr(base, '/');
    snprintf(t->url, sizeof t->url, "%.*s/%s", (int)(slash - base), base, t->name);
    PGconn *admin = tdb_connect_url(base);
    PQclear(tq(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name));
    PQclear(tq(admin, "CREATE DATABASE %s", t->name));
    PQfinish(admin);
    t->conn = tdb_connect(t);
}

/* A fresh, migrated database with the test kind `rows`:
 * rows(params) = n rows (params.n, default 3) of (n, owner). */
static inline void tdb_create(tdb *t, const char *tag)
{
    eq_err err;
    int applied = 0;
    eq_err_clear(&err);
    tdb_create_empty(t, tag);
    if (schema_migrate(t->conn, NULL, NULL, &applied, &err) < 0) {
        fprintf(stderr, "migrate: %s\n", err.msg);
        fail();
    }
    assert_int_equal(applied, (int)schema_migrations_count);
    PQclear(tq(t->conn,
               "CREATE FUNCTION public.t_rows(p jsonb) RETURNS TABLE (n int, owner text) "
               "LANGUAGE sql AS $$ SELECT g, p->>'owner' FROM "
               "generate_series(1, coalesce((p->>'n')::int, 3)) g $$"));
    PQclear(tq(t->conn, "SELECT exportq.define_kind('rows', 'public.t_rows', 'rows.csv', "
                        "'{\"gzip\": false, \"bom\": true}')"));
}

static inline void tdb_drop(tdb *t)
{
    const char *base = getenv("EXPORTQ_DATABASE_URL");
    if (t->conn)
        PQfinish(t->conn);
    t->conn = NULL;
    if (!base || !t->name[0])
        return;
    PGconn *admin = tdb_connect_url(base);
    PQclear(tq(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name));
    PQfinish(admin);
}

#endif
