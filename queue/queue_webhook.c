/* queue_webhook.c - webhook events: claim, outcome, listing; see queue.h */
#include "queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_internal.h"

/* The job as it was at the event (w.job, the row the trigger saw), as a
 * status row: a finished job has no position; percent and eta_seconds as
 * exportq.progress() gives them for a finished state. Then the event's own
 * columns, from QUEUE_STATUS_NCOLS on. */
#define CLAIM_SQL                                                                                            \
    "WITH w AS (SELECT * FROM exportq.webhook_claim($1::int, $2::boolean)) "                                 \
    "SELECT " QUEUE_STATUS_SELECT ", w.id, w.type, w.url, " QUEUE_EPOCH("w.created_at") ", w.attempts, "     \
    "cur.state "                                                                                             \
    "FROM w CROSS JOIN LATERAL jsonb_populate_record(NULL::exportq.jobs, w.job) j "                          \
    "CROSS JOIN LATERAL (SELECT NULL::bigint AS position, "                                                  \
    "  CASE WHEN j.state IN ('succeeded', 'expired') THEN 100 END AS percent, "                              \
    "  CASE WHEN j.state IN ('succeeded', 'expired') THEN 0 END::bigint AS eta_seconds) p "                  \
    "LEFT JOIN exportq.kinds k ON k.name = j.kind "                                                          \
    "LEFT JOIN exportq.jobs cur ON cur.id = w.job_id"

int queue_webhook_claim(PGconn *conn, int lease_seconds, bool have_global_url, queue_webhook *w, bool *got,
                        eq_err *err)
{
    char lease[16];
    const char *params[2] = {lease, have_global_url ? "true" : "false"};
    PGresult *res = NULL;
    const int b = QUEUE_STATUS_NCOLS;

    *got = false;
    memset(w, 0, sizeof *w);
    snprintf(lease, sizeof lease, "%d", lease_seconds);
    if (queue_exec(conn, "claim webhook", CLAIM_SQL, 2, params, &res, err) < 0)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    w->created_at = queue_pg_ll(res, 0, b + 3);
    w->attempt = (int)queue_pg_ll(res, 0, b + 4);
    if (queue_pg_str(res, 0, b, w->id, sizeof w->id, err) < 0 ||
        queue_pg_str(res, 0, b + 1, w->type, sizeof w->type, err) < 0 ||
        queue_pg_str(res, 0, b + 5, w->job_state_now, sizeof w->job_state_now, err) < 0 ||
        queue_status_from(res, 0, &w->job, err) < 0) {
        /* an event this build cannot hold: record it as failed for good */
        char id[QUEUE_EVENT_ID_MAX], msg[sizeof err->msg + 16];
        eq_err e2;
        snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, b));
        snprintf(msg, sizeof msg, "refused: %s", err->msg);
        w->attempt = (int)queue_pg_ll(res, 0, b + 4);
        snprintf(w->id, sizeof w->id, "%s", id);
        PQclear(res);
        {
            char st[QUEUE_STATE_MAX];
            if (queue_webhook_settle(conn, w, false, 0, msg, true, st, &e2) < 0)
                eq_err_context(err, "(and recording it failed: %s)", e2.msg);
        }
        memset(w, 0, sizeof *w);
        return eq_err_context(err, "webhook event %s", id);
    }
    if (!PQgetisnull(res, 0, b + 2) && !(w->url = queue_pg_dup(res, 0, b + 2))) {
        PQclear(res);
        memset(w, 0, sizeof *w);
        return eq_fail_retry(err, EQ_ERR_NOMEM, "claim webhook: out of memory");
    }
    PQclear(res);
    *got = true;
    return 0;
}

void queue_webhook_cleanup(queue_webhook *w)
{
    if (!w)
        return;
    free(w->url);
    w->url = NULL;
}

int queue_webhook_settle(PGconn *conn, const queue_webhook *w, bool delivered, int status, const char *error,
                         bool final, char *state, eq_err *err)
{
    char att[16], st[16];
    const char *params[6] = {w->id, att, delivered ? "true" : "false", status > 0 ? st : NULL, error,
                             final ? "true" : "false"};
    PGresult *res = NULL;
    int rc;
    snprintf(att, sizeof att, "%d", w->attempt);
    snprintf(st, sizeof st, "%d", status);
    state[0] = '\0';
    if (queue_exec(conn, "webhook outcome",
                   "SELECT exportq.webhook_settle($1, $2::int, $3::boolean, $4::int, $5, $6::boolean)", 6, params,
                   &res, err) < 0)
        return -1;
    rc = queue_pg_str(res, 0, 0, state, QUEUE_STATE_MAX, err);
    PQclear(res);
    return rc;
}

int queue_webhook_list(PGconn *conn, bool failed_only, int limit, void (*cb)(const queue_webhook_row *r, void *ud),
                       void *ud, eq_err *err)
{
    char lim[16];
    const char *params[2] = {failed_only ? "true" : "false", lim};
    PGresult *res = NULL;
    if (limit < 1 || limit > 1000)
        return eq_fail(err, EQ_ERR_INVALID, "webhook list: limit must be 1 to 1000");
    snprintf(lim, sizeof lim, "%d", limit);
    if (queue_exec(conn, "list webhooks",
                   "SELECT id, job_id, type, state, attempts, last_status, last_error, " QUEUE_EPOCH("created_at")
                   ", " QUEUE_EPOCH("next_at") ", " QUEUE_EPOCH("delivered_at") ", url "
                   "FROM exportq.webhooks WHERE (NOT $1::boolean OR state = 'failed') "
                   "ORDER BY created_at DESC, id DESC LIMIT $2::int",
                   2, params, &res, err) < 0)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        queue_webhook_row r;
        memset(&r, 0, sizeof r);
        r.job_id = queue_pg_ll(res, i, 1);
        r.attempts = (int)queue_pg_ll(res, i, 4);
        r.last_status = (int)queue_pg_ll(res, i, 5);
        queue_pg_text_cut(res, i, 6, r.last_error, sizeof r.last_error);
        r.created_at = queue_pg_ll(res, i, 7);
        r.next_at = queue_pg_ll(res, i, 8);
        r.delivered_at = queue_pg_ll(res, i, 9);
        queue_pg_text_cut(res, i, 10, r.url, sizeof r.url);
        if (queue_pg_str(res, i, 0, r.id, sizeof r.id, err) < 0 ||
            queue_pg_str(res, i, 2, r.type, sizeof r.type, err) < 0 ||
            queue_pg_str(res, i, 3, r.state, sizeof r.state, err) < 0) {
            PQclear(res);
            return -1;
        }
        cb(&r, ud);
    }
    PQclear(res);
    return 0;
}
