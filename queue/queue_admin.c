/* queue_admin.c - see queue.h "operators": every owner's jobs by state, retry,
 * revoke, and the dashboard's counts and series (schema/011_admin_pages.sql). */
#include "queue/queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int queue_list_all(PGconn *conn, const char *state, int limit, long long before_id, queue_status_row *rows,
                   int *n, eq_err *err)
{
    return queue_page(conn, QUEUE_PAGE_STATE, state, limit, before_id, rows, n, err);
}

int queue_retry(PGconn *conn, long long id, bool *ok, eq_err *err)
{
    PGresult *res = NULL;
    *ok = false;
    if (queue_id_action(conn, "retry", "job",
                   "SELECT exportq.retry($1::bigint), EXISTS (SELECT 1 FROM exportq.jobs WHERE id = $1::bigint)",
                   id, &res, err) < 0)
        return -1;
    *ok = queue_pg_bool(res, 0, 0);
    PQclear(res);
    return 0;
}

int queue_revoke(PGconn *conn, long long id, bool *ok, char *object_key, size_t size, eq_err *err)
{
    PGresult *res = NULL;
    *ok = false;
    if (size)
        object_key[0] = '\0';
    if (queue_id_action(conn, "revoke", "job",
                   "SELECT exportq.revoke($1::bigint), EXISTS (SELECT 1 FROM exportq.jobs WHERE id = $1::bigint)",
                   id, &res, err) < 0)
        return -1;
    *ok = !PQgetisnull(res, 0, 0);
    if (*ok && queue_pg_str(res, 0, 0, object_key, size, err) < 0) {
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int queue_admin_counts(PGconn *conn, int hours, queue_kind_count *out, size_t cap, size_t *n, eq_err *err)
{
    char h[16];
    const char *params[1] = {h};
    PGresult *res = NULL;
    *n = 0;
    snprintf(h, sizeof h, "%d", hours);
    if (queue_exec(conn, "jobs by state and kind", "SELECT state, kind, jobs FROM exportq.admin_counts($1::int)", 1,
                   params, &res, err) < 0)
        return -1;
    for (int i = 0; i < PQntuples(res) && *n < cap; i++) {
        if (queue_pg_str(res, i, 0, out[*n].state, sizeof out[*n].state, err) < 0 ||
            queue_pg_str(res, i, 1, out[*n].kind, sizeof out[*n].kind, err) < 0) {
            PQclear(res);
            return -1;
        }
        out[*n].jobs = queue_pg_ll(res, i, 2);
        (*n)++;
    }
    PQclear(res);
    return 0;
}

int queue_admin_series(PGconn *conn, int minutes, queue_minute *out, size_t cap, size_t *n, eq_err *err)
{
    char m[16];
    const char *params[1] = {m};
    PGresult *res = NULL;
    *n = 0;
    if (minutes < 1 || minutes > 1440)
        return eq_fail(err, EQ_ERR_INVALID, "series: 1 to 1440 minutes");
    snprintf(m, sizeof m, "%d", minutes);
    if (queue_exec(conn, "series",
                   "SELECT " QUEUE_EPOCH("minute") ", succeeded, failed, bytes, started, wait_seconds "
                   "FROM exportq.admin_series($1::int)",
                   1, params, &res, err) < 0)
        return -1;
    for (int i = 0; i < PQntuples(res) && *n < cap; i++) {
        queue_minute *q = &out[(*n)++];
        q->minute = queue_pg_ll(res, i, 0);
        q->succeeded = queue_pg_ll(res, i, 1);
        q->failed = queue_pg_ll(res, i, 2);
        q->bytes = queue_pg_ll(res, i, 3);
        q->started = queue_pg_ll(res, i, 4);
        q->wait_seconds = PQgetisnull(res, i, 5) ? -1.0 : strtod(PQgetvalue(res, i, 5), NULL);
    }
    PQclear(res);
    return 0;
}
