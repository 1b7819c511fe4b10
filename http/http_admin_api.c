/* http_admin_api.c - see http_internal.h: the operator's JSON API, the same
 * queue functions as the dashboard (queue_list_all, cancel, retry, revoke,
 * counts, series), with Authorization: Bearer EXPORTQ_ADMIN_TOKEN only (no
 * cookie: a browser never sends the session here, so no CSRF either).
 *
 *   GET    /v1/admin/exports?state=&limit=&cursor=   every owner's jobs
 *   GET    /v1/admin/exports/{id}                    one job (+ worker)
 *   DELETE /v1/admin/exports/{id}                    cancel, or revoke once succeeded
 *   POST   /v1/admin/exports/{id}/retry              a failed or cancelled job again
 *   GET    /v1/admin/summary                         counts and the last hour
 */
#include "http/http_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/log_ctx.h"
#include "http/http_admin.h"
#include "http/http_html.h"

static json_t *admin_job_json(const queue_status_row *row)
{
    json_t *doc = queue_status_json(row);
    if (doc)
        json_object_set_new(doc, "worker", row->worker[0] ? json_string(row->worker) : json_null());
    return doc;
}

static bool state_valid(const char *s)
{
    static const char *const names[] = {"queued", "running", "succeeded", "failed", "cancelled", "expired"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

static enum MHD_Result list(http_server *s, struct MHD_Connection *c, http_req *r)
{
    const char *state = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
    const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *cur = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
    queue_status_row *rows = NULL;
    PGconn *conn = NULL;
    json_t *doc = NULL, *arr = NULL;
    http_problem p;
    int limit, n = 0;
    int64_t cursor;
    eq_err err;
    if (state && !state_valid(state)) {
        http_problem_set(&p, 400, "invalid_state", "state must be queued, running, succeeded, failed, cancelled or expired");
        return http_respond_problem(c, r, &p);
    }
    if (http_list_args_parse(lim, cur, &limit, &cursor, &p) < 0)
        return http_respond_problem(c, r, &p);
    rows = calloc((size_t)limit, sizeof *rows);
    if (!rows || http_dbpool_get(s->pool, &conn, &err) < 0 ||
        queue_list_all(conn, state, limit, (long long)cursor, rows, &n, &err) < 0) {
        if (!rows)
            eq_fail(&err, EQ_ERR_NOMEM, "out of memory");
        http_dbpool_put(s->pool, conn);
        free(rows);
        http_problem_from_err(&p, r, &err);
        return http_respond_problem(c, r, &p);
    }
    http_dbpool_put(s->pool, conn);
    doc = json_object();
    arr = json_array();
    json_object_set_new(doc, "exports", arr);
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, admin_job_json(&rows[i]));
    http_list_next_cursor(doc, n, limit, n > 0 ? rows[n - 1].id : 0);
    free(rows);
    return http_respond_json(c, r, 200, doc, NULL);
}

static enum MHD_Result summary(http_server *s, struct MHD_Connection *c, http_req *r)
{
    enum { NK = 256 };
    queue_state_count states[16];
    queue_kind_count *kinds = calloc(NK, sizeof *kinds);
    queue_minute series[HTTP_ADMIN_SERIES];
    size_t ns = 0, nk = 0, nm = 0;
    PGconn *conn = NULL;
    http_problem p;
    json_t *doc, *st, *bk, *se;
    eq_err err;
    if (!kinds || http_dbpool_get(s->pool, &conn, &err) < 0 ||
        queue_counts(conn, states, sizeof states / sizeof states[0], &ns, &err) < 0 ||
        queue_admin_counts(conn, 24, kinds, NK, &nk, &err) < 0 ||
        queue_admin_series(conn, HTTP_ADMIN_SERIES, series, HTTP_ADMIN_SERIES, &nm, &err) < 0) {
        if (!kinds)
            eq_fail(&err, EQ_ERR_NOMEM, "out of memory");
        http_dbpool_put(s->pool, conn);
        free(kinds);
        http_problem_from_err(&p, r, &err);
        return http_respond_problem(c, r, &p);
    }
    http_dbpool_put(s->pool, conn);
    doc = json_object();
    st = json_object();
    bk = json_array();
    se = json_array();
    json_object_set_new(doc, "states", st);
    json_object_set_new(doc, "by_kind", bk);
    json_object_set_new(doc, "last_hour", se);
    for (size_t i = 0; i < ns; i++)
        json_object_set_new(st, states[i].state, json_integer(states[i].jobs));
    for (size_t i = 0; i < nk; i++)
        json_array_append_new(bk, json_pack("{s:s,s:s,s:I}", "kind", kinds[i].kind, "state", kinds[i].state, "jobs",
                                            (json_int_t)kinds[i].jobs));
    for (size_t i = 0; i < nm; i++) {
        char iso[32];
        queue_time_iso(series[i].minute, iso, sizeof iso);
        json_array_append_new(se, json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "minute", iso, "succeeded",
                                            (json_int_t)series[i].succeeded, "failed", (json_int_t)series[i].failed,
                                            "bytes", (json_int_t)series[i].bytes, "started",
                                            (json_int_t)series[i].started, "wait_seconds",
                                            series[i].wait_seconds < 0 ? json_null()
                                                                       : json_real(series[i].wait_seconds)));
    }
    free(kinds);
    return http_respond_json(c, r, 200, doc, NULL);
}

/* GET, DELETE /v1/admin/exports/{id}, POST .../retry. */
static enum MHD_Result one(http_server *s, struct MHD_Connection *c, http_req *r)
{
    long long id = (long long)r->route.job_id;
    queue_status_row *row = calloc(1, sizeof *row);
    PGconn *conn = NULL;
    http_problem p;
    eq_err err;
    enum MHD_Result ret;
    http_action act = HTTP_ACT_NONE;
    char ctx[EQ_LOGCTX_MAX];

    eq_err_clear(&err);
    if (!row) {
        http_problem_set(&p, 500, "internal", "out of memory");
        return http_respond_problem(c, r, &p);
    }
    if (http_dbpool_get(s->pool, &conn, &err) < 0 || queue_status(conn, id, row, &err) < 0)
        goto dberr;
    if (r->route.endpoint == HTTP_EP_ADMIN_RETRY)
        act = HTTP_ACT_RETRY;
    else if (r->route.method == HTTP_M_DELETE)
        act = strcmp(row->state, "succeeded") == 0 ? HTTP_ACT_REVOKE : HTTP_ACT_CANCEL;
    if (act != HTTP_ACT_NONE) {
        bool ok = false;
        if (http_job_action(s, conn, id, act, &ok, &err) < 0) {
            if (err.code == EQ_ERR_INVALID) {
                http_problem_set(&p, 409, "conflict", "%s", err.msg);
                goto answer;
            }
            goto dberr;
        }
        if (!ok) {
            http_problem_set(&p, 409, act == HTTP_ACT_RETRY ? "not_retryable" : "already_finished",
                             act == HTTP_ACT_RETRY ? "export %lld is %s; only a failed or cancelled export can be "
                                                     "retried"
                                                   : "export %lld is already %s",
                             id, row->state);
            goto answer;
        }
        eq_logctx_format(&(eq_logctx){.job = id, .owner = row->owner}, ctx, sizeof ctx);
        eq_info(ctx, "admin: %s over HTTP", act == HTTP_ACT_RETRY ? "retry" : act == HTTP_ACT_REVOKE ? "revoke"
                                                                                                      : "cancel");
        if (queue_status(conn, id, row, &err) < 0)
            goto dberr;
    }
    /* the worker is known to the list only: take it from there */
    {
        int n = 0;
        queue_status_row *w = calloc(1, sizeof *w);
        if (w && queue_list_all(conn, NULL, 1, id + 1, w, &n, &err) == 0 && n == 1 && w->id == id)
            memcpy(row->worker, w->worker, sizeof row->worker);
        free(w);
    }
    http_dbpool_put(s->pool, conn);
    ret = http_respond_json(c, r, 200, admin_job_json(row), NULL);
    free(row);
    return ret;
dberr:
    if (err.code == EQ_ERR_NOT_FOUND)
        http_problem_set(&p, 404, "not_found", "no export %lld", id);
    else
        http_problem_from_err(&p, r, &err);
answer:
    http_dbpool_put(s->pool, conn);
    free(row);
    return http_respond_problem(c, r, &p);
}

enum MHD_Result http_admin_api(http_server *s, struct MHD_Connection *c, http_req *r)
{
    char csrf[HTTP_MAC_HEX];
    http_problem p;
    http_admin_auth who = http_admin_identify(s, c, r, false, csrf);
    if (who == HTTP_ADMIN_OFF) {
        http_problem_set(&p, 404, "not_found", "the admin API is off (set EXPORTQ_ADMIN_TOKEN)");
        return http_respond_problem(c, r, &p);
    }
    if (who != HTTP_ADMIN_BEARER) {
        http_problem_set(&p, 401, "unauthorized", "the admin API needs Authorization: Bearer with the admin token or an admin JWT");
        return http_respond_problem(c, r, &p);
    }
    switch (r->route.endpoint) {
    case HTTP_EP_ADMIN_EXPORTS:
        return list(s, c, r);
    case HTTP_EP_ADMIN_SUMMARY:
        return summary(s, c, r);
    default:
        return one(s, c, r);
    }
}
