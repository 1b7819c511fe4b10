/* queue_admin.c - see queue.h "operators": every owner's jobs by state, retry,
 * revoke, and the dashboard's counts and series (schema/011_admin_pages.sql). */
#include "queue/queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int queue_list_all(PGconn *conn, const char *state, int limit, long long before_id, queue_status_row *rows,
                   int *n, eq_err *err)
{
    char lim[16], before[24];
    const char *params[3] = {state, before, lim};
    PGresult *res = NULL;
    int got;
    *n = 0;
    if (limit < 1 || limit > QUEUE_LIST_MAX)
        return eq_fail(err, EQ_ERR_INVALID, "list: limit must be 1 to %d", QUEUE_LIST_MAX);
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(before, sizeof before, "%lld", before_id > 0 ? before_id : 0);
    if (queue_exec(conn, "list all owners",
                   "WITH page AS (SELECT q.id FROM exportq.jobs q "
                   "WHERE ($1::text IS NULL OR q.state = $1) "
                   "AND ($2::bigint = 0 OR q.id < $2::bigint) "
                   "ORDER BY q.id DESC LIMIT $3::int) "
                   "SELECT " QUEUE_STATUS_SELECT ", j.worker "
                   "FROM exportq.jobs j LEFT JOIN exportq.kinds k ON k.name = j.kind "
                   "JOIN exportq.progress(ARRAY(SELECT id FROM page)) p ON p.id = j.id "
                   "ORDER BY j.id DESC",
                   3, params, &res, err) < 0)
        return -1;
    got = PQntuples(res);
    for (int i = 0; i < got && i < limit; i++) {
        if (queue_status_from(res, i, &rows[i], err) < 0) {
            PQclear(res);
            return -1;
        }
        queue_pg_text_cut(res, i, QUEUE_STATUS_NCOLS, rows[i].worker, sizeof rows[i].worker);
    }
    *n = got < limit ? got : limit;
    PQclear(res);
    return 0;
}

/* One call of a job action `fn` returning a value: *ok when it is not NULL
 * (and, for booleans, true); EQ_ERR_NOT_FOUND when there is no such job. */
static int job_action(PGconn *conn, const char *what, const char *sql, long long id, PGresult **out,
                      eq_err *err)
{
    char ids[24];
    const char *params[1] = {ids};
    snprintf(ids, sizeof ids, "%lld", id);
    /* EXISTS sees the statement's snapshot: the job as it was before */
    if (queue_exec(conn, what, sql, 1, params, out, err) < 0)
        return -1;
    if (!queue_pg_bool(*out, 0, 1)) {
        PQclear(*out);
        *out = NULL;
        return eq_fail(err, EQ_ERR_NOT_FOUND, "no job %lld", id);
    }
    return 0;
}

int queue_retry(PGconn *conn, long long id, bool *ok, eq_err *err)
{
    PGresult *res = NULL;
    *ok = false;
    if (job_action(conn, "retry",
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
    if (job_action(conn, "revoke",
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
