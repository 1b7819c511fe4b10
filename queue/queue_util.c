/* queue_util.c - libpq value helpers and pure helpers of the queue; see
 * queue_internal.h and queue.h */
#include "queue/queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pg.h"

int queue_exec(PGconn *conn, const char *what, const char *sql, int nparams,
               const char *const *params, PGresult **out, eq_err *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (out)
        *out = NULL;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out)
            *out = res;
        else
            PQclear(res);
        return 0;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (state && primary && strncmp(state, "22", 2) == 0) {
        eq_fail(err, EQ_ERR_INVALID, "%s", primary);
    } else {
        eq_pg_fail(conn, res, what, err);
    }
    PQclear(res);
    return -1;
}

int queue_id_action(PGconn *conn, const char *what, const char *noun, const char *sql, long long id,
                    PGresult **out, eq_err *err)
{
    char ids[24];
    const char *params[1] = {ids};
    snprintf(ids, sizeof ids, "%lld", id);
    if (queue_exec(conn, what, sql, 1, params, out, err) < 0)
        return -1;
    if (!queue_pg_bool(*out, 0, 1)) {
        PQclear(*out);
        *out = NULL;
        return eq_fail(err, EQ_ERR_NOT_FOUND, "no %s %lld", noun, id);
    }
    return 0;
}

int queue_pg_str(const PGresult *res, int row, int col, char *dst, size_t size, eq_err *err)
{
    const char *v;
    size_t n;
    if (size == 0)
        return eq_fail(err, EQ_ERR_LIMIT, "column %s: no room", PQfname(res, col));
    dst[0] = '\0';
    if (PQgetisnull(res, row, col))
        return 0;
    v = PQgetvalue(res, row, col);
    n = (size_t)PQgetlength(res, row, col);
    if (n >= size || strlen(v) != n)
        return eq_fail(err, EQ_ERR_LIMIT, "column %s: a %zu-byte value does not fit in %zu bytes (refused, not cut)",
                       PQfname(res, col), n, size - 1);
    memcpy(dst, v, n + 1);
    return 0;
}

void queue_pg_text_cut(const PGresult *res, int row, int col, char *dst, size_t size)
{
    const char *v;
    size_t n;
    if (size == 0)
        return;
    dst[0] = '\0';
    if (PQgetisnull(res, row, col))
        return;
    v = PQgetvalue(res, row, col);
    n = strlen(v);
    if (n >= size) {
        n = size - 1;
        /* do not cut a UTF-8 sequence: back up over continuation bytes */
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

long long queue_pg_ll(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

char *queue_pg_dup(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return strdup(PQgetvalue(res, row, col));
}

bool queue_pg_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

int queue_fence(const char *outcome, const char *what, const queue_job *job, eq_err *err)
{
    if (strcmp(outcome, "ok") == 0)
        return 0;
    if (strcmp(outcome, "cancelled") == 0)
        return eq_fail(err, EQ_ERR_CANCELLED, "%s: job %lld was cancelled", what, job->id);
    return eq_fail(err, EQ_ERR_CONFLICT,
                   "%s: job %lld attempt %d no longer belongs to worker %s (lease lost)", what,
                   job->id, job->attempt, job->worker);
}

void queue_time_iso(long long epoch, char *out, size_t size)
{
    struct tm tm;
    time_t t = (time_t)epoch;
    if (size == 0)
        return;
    out[0] = '\0';
    if (epoch == 0 || !gmtime_r(&t, &tm))
        return;
    if (strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

long queue_backoff_base(int attempts)
{
    long d = 5;
    if (attempts < 0)
        attempts = 0;
    for (int i = 0; i < attempts && d < 600; i++)
        d *= 2;
    return d < 600 ? d : 600;
}
