/* schema.c - the migration runner; see schema.h */
#include "schema/schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"

/* Session advisory lock key serialising migration runners ("exportq" in ASCII). */
#define SCHEMA_LOCK_KEY "28561396949218417"

static const char bootstrap_sql[] =
    "CREATE SCHEMA IF NOT EXISTS exportq;"
    "CREATE TABLE IF NOT EXISTS exportq.schema_migrations ("
    "  version integer PRIMARY KEY,"
    "  name text NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now())";

static int current_version(PGconn *conn, int *version, eq_err *err)
{
    PGresult *res = NULL;
    *version = 0;
    if (eq_pg_exec(conn, "migrate: read exportq.schema_migrations",
                   "SELECT coalesce(max(version), 0) FROM exportq.schema_migrations", 0, NULL,
                   &res, err) < 0)
        return -1;
    *version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* Whether migration `version` is recorded. Versions are checked one by one, not
 * against the highest: a migration numbered below one already applied (branches
 * that landed out of order) is still applied. */
static int is_applied(PGconn *conn, int version, bool *yes, eq_err *err)
{
    char ver[16];
    const char *params[1] = {ver};
    PGresult *res = NULL;
    snprintf(ver, sizeof ver, "%d", version);
    *yes = false;
    if (eq_pg_exec(conn, "migrate: read exportq.schema_migrations",
                   "SELECT EXISTS (SELECT 1 FROM exportq.schema_migrations WHERE version = $1::int)", 1, params,
                   &res, err) < 0)
        return -1;
    *yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

int schema_current_version(PGconn *conn, int *version, eq_err *err)
{
    PGresult *res = NULL;
    *version = 0;
    if (eq_pg_exec(conn, "migrate: look for exportq.schema_migrations",
                   "SELECT to_regclass('exportq.schema_migrations') IS NOT NULL", 0, NULL, &res,
                   err) < 0)
        return -1;
    bool exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return exists ? current_version(conn, version, err) : 0;
}

/* Runs `sql` (possibly several statements) with the simple query protocol. */
static int exec_script(PGconn *conn, const char *what, const char *sql, eq_err *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        eq_pg_fail(conn, res, what, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

static int apply_one(PGconn *conn, const schema_migration *m, eq_err *err)
{
    char what[160], ver[16];
    const char *params[2] = {ver, m->name};
    snprintf(what, sizeof what, "migration %03d_%s", m->version, m->name);
    snprintf(ver, sizeof ver, "%d", m->version);
    if (exec_script(conn, what, "BEGIN", err) < 0)
        return -1;
    if (exec_script(conn, what, m->sql, err) < 0)
        goto fail;
    if (eq_pg_exec(conn, what,
                   "INSERT INTO exportq.schema_migrations (version, name) VALUES ($1::int, $2)", 2,
                   params, NULL, err) < 0)
        goto fail;
    if (exec_script(conn, what, "COMMIT", err) < 0)
        goto fail;
    return 0;
fail:
    /* best effort: the error we report is the first one */
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

int schema_migrate(PGconn *conn, schema_applied_fn on_applied, void *ud, int *applied, eq_err *err)
{
    int have = 0, n = 0, rc = -1;
    bool locked = false;
    if (applied)
        *applied = 0;
    if (eq_pg_exec(conn, "migrate: pg_advisory_lock", "SELECT pg_advisory_lock(" SCHEMA_LOCK_KEY ")",
                   0, NULL, NULL, err) < 0)
        return -1;
    locked = true;
    /* no "already exists, skipping" notices on the user's terminal */
    if (exec_script(conn, "migrate: set client_min_messages", "SET client_min_messages = warning", err) < 0)
        goto out;
    /* only one runner gets here at a time, so IF NOT EXISTS cannot race */
    if (exec_script(conn, "migrate: create exportq.schema_migrations", bootstrap_sql, err) < 0)
        goto out;
    if (current_version(conn, &have, err) < 0)
        goto out;
    if (schema_migrations_count > 0 &&
        have > schema_migrations[schema_migrations_count - 1].version) {
        eq_fail(err, EQ_ERR_CONFLICT,
                "migrate: the database is at schema version %d, newer than this exportq knows (%d); "
                "upgrade exportq",
                have, schema_migrations[schema_migrations_count - 1].version);
        goto out;
    }
    for (size_t i = 0; i < schema_migrations_count; i++) {
        const schema_migration *m = &schema_migrations[i];
        bool done = false;
        if (is_applied(conn, m->version, &done, err) < 0)
            goto out;
        if (done)
            continue;
        if (apply_one(conn, m, err) < 0)
            goto out;
        n++;
        if (on_applied)
            on_applied(m, ud);
    }
    rc = 0;
out:
    if (locked) {
        /* a broken connection releases the lock anyway */
        PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" SCHEMA_LOCK_KEY ")"));
        PQclear(PQexec(conn, "RESET client_min_messages"));
    }
    if (applied)
        *applied = n;
    return rc;
}
