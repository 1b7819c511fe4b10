/* queue.c - jobs: enqueue, claim, the life of an attempt, status, cancel,
 * list. Thin C over the plpgsql functions of schema/001_queue.sql; see queue.h */
#include "queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_internal.h"

/* ---- enqueue ----------------------------------------------------------- */

int queue_enqueue(PGconn *conn, const queue_enqueue_req *req, long long *id, eq_err *err)
{
    char prio[16];
    PGresult *res = NULL;
    const char *params[8];
    *id = 0;
    if (req->existing)
        *req->existing = false;
    if (!req->kind || !*req->kind)
        return eq_fail(err, EQ_ERR_INVALID, "enqueue: an export kind is required");
    if (req->allowed_domains) {
        const char *dom[1] = {req->allowed_domains};
        if (queue_exec(conn, "enqueue: mail domains",
                       "SELECT set_config('exportq.mail_allowed_domains', $1, false)", 1, dom, NULL, err) < 0)
            return -1;
    }
    snprintf(prio, sizeof prio, "%d", req->priority);
    params[0] = req->kind;
    params[1] = req->params_json ? req->params_json : "{}";
    params[2] = req->email;
    params[3] = req->owner;
    params[4] = prio;
    params[5] = req->dedupe_key;
    params[6] = req->idempotency_key;
    params[7] = req->format;
    if (queue_exec(conn, "enqueue",
                   "SELECT job_id, existing FROM exportq.enqueue_job_format($1, $2::jsonb, $3, $4, $5::int, $6, $7, $8)",
                   8, params, &res, err) < 0)
        return -1;
    *id = queue_pg_ll(res, 0, 0);
    if (req->existing)
        *req->existing = queue_pg_bool(res, 0, 1);
    PQclear(res);
    return 0;
}

/* ---- claim and attempts ------------------------------------------------ */

void queue_job_cleanup(queue_job *job)
{
    if (!job)
        return;
    free(job->params);
    free(job->options);
    job->params = NULL;
    job->options = NULL;
}

int queue_claim(PGconn *conn, const char *worker_id, int lease_seconds, int owner_max_running,
                queue_job *job, bool *claimed, eq_err *err)
{
    char lease[16], cap[16];
    const char *params[3] = {worker_id, lease, owner_max_running > 0 ? cap : NULL};
    PGresult *res = NULL;
    bool copied;
    *claimed = false;
    memset(job, 0, sizeof *job);
    if (!worker_id || !*worker_id || strlen(worker_id) >= QUEUE_WORKER_MAX)
        return eq_fail(err, EQ_ERR_INVALID, "claim: worker id must be 1 to %d bytes",
                       QUEUE_WORKER_MAX - 1);
    snprintf(lease, sizeof lease, "%d", lease_seconds);
    snprintf(cap, sizeof cap, "%d", owner_max_running);
    /* the format is read beside the claim (a CTE with a volatile function
     * runs once), so exportq.claim itself stays as it is */
    if (queue_exec(conn, "claim",
                   "WITH c AS (SELECT * FROM exportq.claim($1, $2::int, $3::int)) "
                   "SELECT c.id, c.attempts, c.kind, c.params, c.email, c.owner, c.object_token, c.function, "
                   "c.filename, c.options, c.upload_id, c.created_at, j.format "
                   "FROM c LEFT JOIN exportq.jobs j ON j.id = c.id",
                   3, params, &res, err) < 0)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    job->id = queue_pg_ll(res, 0, 0);
    job->attempt = (int)queue_pg_ll(res, 0, 1);
    snprintf(job->worker, sizeof job->worker, "%s", worker_id);
    copied = queue_pg_str(res, 0, 2, job->kind, sizeof job->kind, err) == 0 &&
             queue_pg_str(res, 0, 4, job->email, sizeof job->email, err) == 0 &&
             queue_pg_str(res, 0, 5, job->owner, sizeof job->owner, err) == 0 &&
             queue_pg_str(res, 0, 6, job->object_token, sizeof job->object_token, err) == 0 &&
             queue_pg_str(res, 0, 7, job->function, sizeof job->function, err) == 0 &&
             queue_pg_str(res, 0, 8, job->filename, sizeof job->filename, err) == 0 &&
             queue_pg_str(res, 0, 10, job->prev_upload_id, sizeof job->prev_upload_id, err) == 0 &&
             queue_pg_str(res, 0, 12, job->format, sizeof job->format, err) == 0;
    job->params = queue_pg_dup(res, 0, 3);
    job->options = PQgetisnull(res, 0, 9) ? strdup("{}") : queue_pg_dup(res, 0, 9);
    job->created_at = queue_pg_ll(res, 0, 11);
    PQclear(res);
    if (!copied) {
        /* a value longer than this build allows (a row written before the
         * byte limits): never run it under a cut identity; fail it for good */
        eq_err e2;
        char msg[sizeof err->msg + 64];
        snprintf(msg, sizeof msg, "refused: %s", err->msg);
        if (queue_fail(conn, job, msg, false, 1, NULL, &e2) < 0)
            eq_err_context(err, "(and failing the job failed too: %s)", e2.msg);
        eq_err_context(err, "claim: job %lld failed", job->id);
        queue_job_cleanup(job);
        return -1;
    }
    /* the claim is committed: report it even if a copy failed, so the caller
     * can fail or release this attempt rather than leave it to the rescuer */
    *claimed = true;
    if (!job->params || !job->options)
        return eq_fail(err, EQ_ERR_NOMEM, "claim: job %lld: out of memory", job->id);
    return 0;
}

/* Runs a fenced function returning 'ok' | 'cancelled' | 'lost' (or another
 * word, copied to outcome). */
static int fenced_call(PGconn *conn, const char *what, const char *sql, int n,
                       const char *const *params, const queue_job *job, char *outcome,
                       size_t outsz, eq_err *err)
{
    PGresult *res = NULL;
    char word[32];
    if (queue_exec(conn, what, sql, n, params, &res, err) < 0)
        return eq_err_context(err, "job %lld", job->id);
    if (queue_pg_str(res, 0, 0, word, sizeof word, err) < 0) {
        PQclear(res);
        return eq_err_context(err, "%s: job %lld", what, job->id);
    }
    PQclear(res);
    if (outcome)
        snprintf(outcome, outsz, "%s", word);
    if (strcmp(word, "cancelled") == 0 || strcmp(word, "lost") == 0)
        return queue_fence(word, what, job, err);
    return 0;
}

int queue_heartbeat(PGconn *conn, const queue_job *job, int lease_seconds, long long rows,
                    long long bytes, eq_err *err)
{
    char id[24], att[16], lease[16], r[24], b[24];
    const char *params[6] = {id, job->worker, att, lease, r, b};
    snprintf(id, sizeof id, "%lld", job->id);
    snprintf(att, sizeof att, "%d", job->attempt);
    snprintf(lease, sizeof lease, "%d", lease_seconds);
    snprintf(r, sizeof r, "%lld", rows);
    snprintf(b, sizeof b, "%lld", bytes);
    return fenced_call(conn, "heartbeat",
                       "SELECT exportq.heartbeat($1::bigint, $2, $3::int, $4::int, $5::bigint, $6::bigint)",
                       6, params, job, NULL, 0, err);
}

int queue_set_upload(PGconn *conn, const queue_job *job, const char *upload_id, eq_err *err)
{
    char id[24], att[16];
    const char *params[4] = {id, job->worker, att, upload_id};
    snprintf(id, sizeof id, "%lld", job->id);
    snprintf(att, sizeof att, "%d", job->attempt);
    return fenced_call(conn, "record upload id",
                       "SELECT exportq.set_upload($1::bigint, $2, $3::int, $4)", 4, params, job,
                       NULL, 0, err);
}

int queue_complete(PGconn *conn, const queue_job *job, const char *object_key, long long rows,
                   long long bytes, long retention_seconds, long link_ttl, eq_err *err)
{
    char id[24], att[16], r[24], b[24], ret[24], ttl[24];
    const char *params[8] = {id, job->worker, att, object_key, r, b, ret, ttl};
    snprintf(id, sizeof id, "%lld", job->id);
    snprintf(att, sizeof att, "%d", job->attempt);
    snprintf(r, sizeof r, "%lld", rows);
    snprintf(b, sizeof b, "%lld", bytes);
    snprintf(ret, sizeof ret, "%ld", retention_seconds);
    snprintf(ttl, sizeof ttl, "%ld", link_ttl);
    return fenced_call(conn, "complete",
                       "SELECT exportq.complete($1::bigint, $2, $3::int, $4, $5::bigint, $6::bigint, "
                       "$7::bigint, $8::bigint)",
                       8, params, job, NULL, 0, err);
}

int queue_fail(PGconn *conn, const queue_job *job, const char *message, bool retryable,
               int max_attempts, bool *requeued, eq_err *err)
{
    char id[24], att[16], max[16], outcome[32] = "";
    const char *params[6] = {id, job->worker, att, message ? message : "failed",
                             retryable ? "true" : "false", max};
    if (requeued)
        *requeued = false;
    snprintf(id, sizeof id, "%lld", job->id);
    snprintf(att, sizeof att, "%d", job->attempt);
    snprintf(max, sizeof max, "%d", max_attempts);
    if (fenced_call(conn, "fail",
                    "SELECT exportq.fail($1::bigint, $2, $3::int, $4, $5::boolean, $6::int)", 6,
                    params, job, outcome, sizeof outcome, err) < 0)
        return -1;
    if (requeued)
        *requeued = strcmp(outcome, "requeued") == 0;
    return 0;
}

int queue_release(PGconn *conn, const queue_job *job, eq_err *err)
{
    char id[24], att[16];
    const char *params[3] = {id, job->worker, att};
    snprintf(id, sizeof id, "%lld", job->id);
    snprintf(att, sizeof att, "%d", job->attempt);
    return fenced_call(conn, "release", "SELECT exportq.release($1::bigint, $2, $3::int)", 3,
                       params, job, NULL, 0, err);
}

int queue_set_estimate(PGconn *conn, const queue_job *job, long long rows, eq_err *err)
{
    char id[24], att[16], r[24];
    const char *params[4] = {id, job->worker, att, r};
    snprintf(id, sizeof id, "%lld", job->id);
    snprintf(att, sizeof att, "%d", job->attempt);
    snprintf(r, sizeof r, "%lld", rows < 0 ? 0 : rows);
    return fenced_call(conn, "record the row estimate",
                       "SELECT exportq.set_estimate($1::bigint, $2, $3::int, $4::bigint)", 4, params,
                       job, NULL, 0, err);
}

int queue_rescue(PGconn *conn, int max_attempts, int *n, eq_err *err)
{
    char max[16];
    const char *params[1] = {max};
    PGresult *res = NULL;
    *n = 0;
    snprintf(max, sizeof max, "%d", max_attempts);
    if (queue_exec(conn, "rescue", "SELECT exportq.rescue($1::int)", 1, params, &res, err) < 0)
        return -1;
    *n = (int)queue_pg_ll(res, 0, 0);
    PQclear(res);
    return 0;
}

int queue_set_warning(PGconn *conn, const queue_job *job, const char *warning, eq_err *err)
{
    char id[24], att[16];
    const char *params[4] = {id, job->worker, att, warning};
    snprintf(id, sizeof id, "%lld", job->id);
    snprintf(att, sizeof att, "%d", job->attempt);
    return fenced_call(conn, "record a warning", "SELECT exportq.set_warning($1::bigint, $2, $3::int, $4)", 4,
                       params, job, NULL, 0, err);
}

/* ---- status, cancel, list ---------------------------------------------- */

/* The columns of a status row; position, percent and eta_seconds come from
 * exportq.progress(), which reads the position snapshot once per call and the
 * queue's speed once per kind (see schema/004_position.sql). */
#define STATUS_FROM "FROM exportq.jobs j LEFT JOIN exportq.kinds k ON k.name = j.kind "
#define STATUS_COLUMNS QUEUE_STATUS_SELECT STATUS_FROM

static long long ll_or_null(const PGresult *res, int i, int col)
{
    return PQgetisnull(res, i, col) ? -1 : queue_pg_ll(res, i, col);
}

int queue_status_from(const PGresult *res, int i, queue_status_row *s, eq_err *err)
{
    memset(s, 0, sizeof *s);
    s->id = queue_pg_ll(res, i, 0);
    s->position = ll_or_null(res, i, 4);
    s->rows = queue_pg_ll(res, i, 5);
    s->bytes = queue_pg_ll(res, i, 6);
    s->attempts = (int)queue_pg_ll(res, i, 7);
    queue_pg_text_cut(res, i, 8, s->last_error, sizeof s->last_error);
    s->created_at = queue_pg_ll(res, i, 9);
    s->started_at = queue_pg_ll(res, i, 10);
    s->finished_at = queue_pg_ll(res, i, 11);
    s->expires_at = queue_pg_ll(res, i, 12);
    s->run_at = queue_pg_ll(res, i, 13);
    s->link_expires_at = queue_pg_ll(res, i, 14);
    s->rows_estimate = ll_or_null(res, i, 23);
    s->percent = (int)ll_or_null(res, i, 24);
    s->eta_seconds = ll_or_null(res, i, 25);
    queue_pg_text_cut(res, i, 22, s->warning, sizeof s->warning);
    if (queue_pg_str(res, i, 1, s->kind, sizeof s->kind, err) < 0 ||
        queue_pg_str(res, i, 2, s->owner, sizeof s->owner, err) < 0 ||
        queue_pg_str(res, i, 3, s->state, sizeof s->state, err) < 0 ||
        queue_pg_str(res, i, 15, s->email, sizeof s->email, err) < 0 ||
        queue_pg_str(res, i, 16, s->upload_id, sizeof s->upload_id, err) < 0 ||
        queue_pg_str(res, i, 17, s->object_key, sizeof s->object_key, err) < 0 ||
        queue_pg_str(res, i, 18, s->filename, sizeof s->filename, err) < 0 ||
        queue_pg_str(res, i, 19, s->mail_state, sizeof s->mail_state, err) < 0 ||
        queue_pg_str(res, i, 20, s->mail_kind, sizeof s->mail_kind, err) < 0 ||
        queue_pg_str(res, i, 21, s->format, sizeof s->format, err) < 0)
        return eq_err_context(err, "job %lld", s->id);
    return 0;
}

int queue_status(PGconn *conn, long long id, queue_status_row *row, eq_err *err)
{
    char ids[24];
    const char *params[1] = {ids};
    PGresult *res = NULL;
    snprintf(ids, sizeof ids, "%lld", id);
    if (queue_exec(conn, "status", "SELECT " STATUS_COLUMNS
                   "JOIN exportq.progress(ARRAY[$1::bigint]) p ON p.id = j.id WHERE j.id = $1::bigint", 1, params,
                   &res, err) < 0)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return eq_fail(err, EQ_ERR_NOT_FOUND, "no job %lld", id);
    }
    if (queue_status_from(res, 0, row, err) < 0) {
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int queue_cancel(PGconn *conn, long long id, bool *ok, eq_err *err)
{
    PGresult *res = NULL;
    *ok = false;
    if (queue_id_action(conn, "cancel", "job",
                        "SELECT exportq.cancel($1::bigint), EXISTS (SELECT 1 FROM exportq.jobs WHERE id = $1::bigint)",
                        id, &res, err) < 0)
        return -1;
    *ok = queue_pg_bool(res, 0, 0);
    PQclear(res);
    return 0;
}

/* The page query of queue_page(), filtered on column `col` of the job
 * (`extra`: more columns after QUEUE_STATUS_SELECT). */
#define PAGE_SQL(col, extra)                                                                          \
    "WITH page AS (SELECT q.id FROM exportq.jobs q "                                                  \
    "WHERE ($1::text IS NULL OR q." col " = $1) "                                                     \
    "AND ($2::bigint = 0 OR q.id < $2::bigint) "                                                      \
    "ORDER BY q.id DESC LIMIT $3::int) "                                                              \
    "SELECT " QUEUE_STATUS_SELECT extra STATUS_FROM                                                   \
    "JOIN exportq.progress(ARRAY(SELECT id FROM page)) p ON p.id = j.id "                            \
    "ORDER BY j.id DESC"

int queue_page(PGconn *conn, queue_page_by by, const char *value, int limit, long long before_id,
               queue_status_row *rows, int *n, eq_err *err)
{
    char lim[16], before[24];
    const char *params[3] = {value, before, lim};
    PGresult *res = NULL;
    int got;
    *n = 0;
    if (limit < 1 || limit > QUEUE_LIST_MAX)
        return eq_fail(err, EQ_ERR_INVALID, "list: limit must be 1 to %d", QUEUE_LIST_MAX);
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(before, sizeof before, "%lld", before_id > 0 ? before_id : 0);
    if (queue_exec(conn, by == QUEUE_PAGE_STATE ? "list all owners" : "list",
                   by == QUEUE_PAGE_STATE ? PAGE_SQL("state", ", j.worker ") : PAGE_SQL("owner", ""), 3, params,
                   &res, err) < 0)
        return -1;
    got = PQntuples(res);
    for (int i = 0; i < got && i < limit; i++) {
        if (queue_status_from(res, i, &rows[i], err) < 0) {
            PQclear(res);
            return -1;
        }
        if (by == QUEUE_PAGE_STATE)
            queue_pg_text_cut(res, i, QUEUE_STATUS_NCOLS, rows[i].worker, sizeof rows[i].worker);
    }
    *n = got < limit ? got : limit;
    PQclear(res);
    return 0;
}

int queue_list(PGconn *conn, const char *owner, int limit, long long before_id,
               queue_status_row *rows, int *n, eq_err *err)
{
    return queue_page(conn, QUEUE_PAGE_OWNER, owner, limit, before_id, rows, n, err);
}

int queue_positions(PGconn *conn, const long long *ids, int n, long long *positions, eq_err *err)
{
    char arr[QUEUE_LIST_MAX * 21 + 3];
    size_t len = 0;
    const char *params[1] = {arr};
    PGresult *res = NULL;
    if (n < 0 || n > QUEUE_LIST_MAX)
        return eq_fail(err, EQ_ERR_INVALID, "positions: 0 to %d jobs at a time", QUEUE_LIST_MAX);
    for (int i = 0; i < n; i++)
        positions[i] = -1;
    if (n == 0)
        return 0;
    arr[len++] = '{';
    for (int i = 0; i < n; i++) {
        int w = snprintf(arr + len, sizeof arr - len, "%s%lld", i ? "," : "", ids[i]);
        if (w < 0 || (size_t)w >= sizeof arr - len)
            return eq_fail(err, EQ_ERR_INVALID, "positions: job ids too long");
        len += (size_t)w;
    }
    if (len + 2 > sizeof arr)
        return eq_fail(err, EQ_ERR_INVALID, "positions: job ids too long");
    arr[len++] = '}';
    arr[len] = '\0';
    if (queue_exec(conn, "positions", "SELECT id, position FROM exportq.positions($1::bigint[])", 1,
                   params, &res, err) < 0)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        long long id = queue_pg_ll(res, r, 0);
        for (int i = 0; i < n; i++)
            if (ids[i] == id)
                positions[i] = ll_or_null(res, r, 1);
    }
    PQclear(res);
    return 0;
}
