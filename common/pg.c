/* pg.c - see pg.h */
#include "common/pg.h"

#include <stdio.h>
#include <string.h>

int eq_pg_connect(const char *url, const char *role, PGconn **out, eq_err *err)
{
    char app[64];
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {url, app, "10", NULL};
    PGconn *c;
    snprintf(app, sizeof app, "exportq-%s", role ? role : "cli");
    *out = NULL;
    /* expand_dbname=1: `url` may be a URI or a conninfo string; our keys after it
     * only fill what the URL leaves unset, except application_name we want ours */
    c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        return eq_fail_retry(err, EQ_ERR_DB, "database connection (%s): out of memory", role ? role : "cli");
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        msg[strcspn(msg, "\n")] = '\0';
        PQfinish(c);
        return eq_fail_retry(err, EQ_ERR_DB, "cannot connect to the database (%s): %s", role ? role : "cli", msg);
    }
    *out = c;
    return 0;
}

int eq_pg_fail(PGconn *conn, const PGresult *res, const char *what, eq_err *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char m[700];
    int retry;
    if (!msg || !*msg)
        msg = conn ? PQerrorMessage(conn) : "no connection";
    snprintf(m, sizeof m, "%s", msg);
    m[strcspn(m, "\n")] = '\0';
    retry = (conn && PQstatus(conn) != CONNECTION_OK) ||
            (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "40001") == 0 ||
                       strcmp(state, "40P01") == 0 || strcmp(state, "57P01") == 0));
    if (retry)
        return eq_fail_retry(err, EQ_ERR_DB, "%s: %s", what, m);
    return eq_fail(err, EQ_ERR_DB, "%s: %s", what, m);
}

int eq_pg_exec(PGconn *conn, const char *what, const char *sql, int nparams,
               const char *const *params, PGresult **out, eq_err *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (out)
        *out = NULL;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        eq_pg_fail(conn, res, what, err);
        PQclear(res);
        return -1;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

int eq_pg_broken(PGconn *conn)
{
    return !conn || PQstatus(conn) != CONNECTION_OK;
}
