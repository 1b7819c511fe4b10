/* http_jobs.c - see http_internal.h: POST and GET /v1/exports, GET and DELETE
 * /v1/exports/{id}, POST /v1/exports/{id}/retry, GET /v1/exports/{id}/download. */
#include "http/http_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/link.h"
#include "common/log_ctx.h"
#include "common/log.h"
#include "export/object_key.h"
#include "mail/mail_message.h"
#include "s3/s3_presign.h"

int http_presign_job(http_server *s, const queue_status_row *row, long ttl, char **url, eq_err *err)
{
    const char *filename = object_key_basename(row->object_key);
    long long now = (long long)time(NULL);
    long expires = ttl;
    int rc;
    if (row->expires_at > 0 && row->expires_at - now < expires)
        expires = (long)(row->expires_at - now);
    if (expires < 1)
        expires = 1;
    pthread_mutex_lock(&s->s3_lock);
    rc = s3_presign_get(s->s3, row->object_key, expires, filename[0] ? filename : NULL, url, err);
    pthread_mutex_unlock(&s->s3_lock);
    return rc;
}

enum MHD_Result http_respond_presigned(http_server *s, struct MHD_Connection *c, http_req *r,
                                       const queue_status_row *row, long ttl)
{
    char *url = NULL;
    const char *hdrs[] = {MHD_HTTP_HEADER_LOCATION, NULL, NULL};
    enum MHD_Result ret;
    http_problem p;
    eq_err err;
    eq_err_clear(&err);
    if (http_presign_job(s, row, ttl, &url, &err) < 0) {
        http_problem_from_err(&p, r, &err);
        return http_respond_problem(c, r, &p);
    }
    hdrs[1] = url;
    ret = http_respond_json(c, r, 302, json_pack("{s:s}", "download_url", url), hdrs);
    free(url);
    return ret;
}

/* The job as the API shows it: queue_status_json() plus download_url (a
 * freshly presigned link of EXPORTQ_LINK_TTL) once succeeded and not yet past
 * retention. */
static int presign(http_server *s, const queue_status_row *row, char **url, eq_err *err)
{
    return http_presign_job(s, row, s->cfg->link_ttl, url, err);
}

static bool past_retention(const queue_status_row *row)
{
    return row->expires_at > 0 && row->expires_at <= (long long)time(NULL);
}

static json_t *job_json(http_server *s, const queue_status_row *row, eq_err *err)
{
    json_t *doc = queue_status_json(row);
    if (!doc) {
        eq_fail(err, EQ_ERR_NOMEM, "job %lld: out of memory", row->id);
        return NULL;
    }
    if (link_configured(s->cfg)) {
        /* stable links: under exportq's own address, a fresh presigned URL
         * only when one is clicked */
        bool ready = strcmp(row->state, "succeeded") == 0 && row->object_key[0] && !past_retention(row);
        if (http_links_add(s, row, doc, ready) < 0) {
            json_decref(doc);
            eq_fail(err, EQ_ERR_NOMEM, "job %lld: cannot make its links", row->id);
            return NULL;
        }
        return doc;
    }
    if (strcmp(row->state, "succeeded") == 0 && row->object_key[0] && !past_retention(row)) {
        char *url = NULL;
        if (presign(s, row, &url, err) < 0) {
            json_decref(doc);
            return NULL;
        }
        json_object_set_new(doc, "download_url", json_string(url));
        free(url);
    }
    return doc;
}

/* Loads job `id` if it belongs to the request's owner; 404 otherwise. */
static int load_own_job(PGconn *conn, http_req *r, long long id, queue_status_row *row, http_problem *p)
{
    eq_err err;
    eq_err_clear(&err);
    if (queue_status(conn, id, row, &err) < 0) {
        if (err.code == EQ_ERR_NOT_FOUND)
            return http_problem_set(p, 404, "not_found", "no export %lld", id);
        http_problem_from_err(p, r, &err);
        return -1;
    }
    if (strcmp(row->owner, r->owner) != 0)
        return http_problem_set(p, 404, "not_found", "no export %lld", id);
    return 0;
}

/* queue_enqueue(), the queue's refusal of the request being a 400
 * invalid_request problem. */
static int enqueue(PGconn *conn, const queue_enqueue_req *q, long long *id, http_req *r, http_problem *p)
{
    eq_err err;
    eq_err_clear(&err);
    if (queue_enqueue(conn, q, id, &err) == 0)
        return 0;
    if (err.code == EQ_ERR_INVALID)
        return http_problem_set(p, 400, "invalid_request", "%s", err.msg);
    http_problem_from_err(p, r, &err);
    return -1;
}

/* 202 for enqueued job `id`: its status read on *conn (then given back to the
 * pool), its JSON, Location: /v1/exports/{id}, then the header pairs of
 * `extra` (NULL-terminated, at most 4 pairs; NULL = none). */
static enum MHD_Result respond_accepted(http_server *s, struct MHD_Connection *c, http_req *r, PGconn **conn,
                                        long long id, const char *const *extra)
{
    char location[64];
    const char *hdrs[11] = {MHD_HTTP_HEADER_LOCATION, location, NULL};
    queue_status_row *row = calloc(1, sizeof *row);
    json_t *doc = NULL;
    http_problem p;
    eq_err err;
    eq_err_clear(&err);
    snprintf(location, sizeof location, "/v1/exports/%lld", id);
    for (size_t i = 0; extra && extra[i] && i + 3 < sizeof hdrs / sizeof hdrs[0]; i += 2) {
        hdrs[i + 2] = extra[i];
        hdrs[i + 3] = extra[i + 1];
        hdrs[i + 4] = NULL;
    }
    if (!row)
        eq_fail(&err, EQ_ERR_NOMEM, "out of memory");
    else if (queue_status(*conn, id, row, &err) == 0)
        doc = job_json(s, row, &err);
    http_dbpool_put(s->pool, *conn);
    *conn = NULL;
    free(row);
    if (!doc) {
        http_problem_from_err(&p, r, &err);
        return http_respond_problem(c, r, &p);
    }
    return http_respond_json(c, r, 202, doc, hdrs);
}

enum MHD_Result http_jobs_create(http_server *s, struct MHD_Connection *c, http_req *r)
{
    http_export_req req;
    http_problem p;
    PGconn *conn = NULL;
    export_kind kind;
    char *params = NULL;
    long long id = 0;
    bool existing = false;
    eq_err err;
    enum MHD_Result ret;
    const char *idem = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    queue_enqueue_req q;

    eq_err_clear(&err);
    if (http_export_req_parse(r->body.data, r->body.len, &req, &p) < 0)
        return http_respond_problem(c, r, &p);
    if (idem && !http_idempotency_key_valid(idem)) {
        http_problem_set(&p, 400, "invalid_idempotency_key",
                         "Idempotency-Key must be 1 to 255 visible ASCII characters");
        goto answer;
    }
    if (r->via_jwt && s->cfg->jwt_email_claim) { /* the token's address is the recipient, and the only one */
        if (req.email[0] && strcasecmp(req.email, r->jwt_email) != 0) {
            http_problem_set(&p, 422, "email_not_allowed",
                             "email: the token's %s claim gives the recipient; this request names another address",
                             s->cfg->jwt_email_claim);
            goto answer;
        }
        snprintf(req.email, sizeof req.email, "%s", r->jwt_email);
    }
    if (req.email[0] && !mail_domain_allowed(req.email, s->cfg->mail_allowed_domains)) {
        http_problem_set(&p, 422, "email_not_allowed", "email: the domain of this address is not allowed here");
        goto answer;
    }
    if (http_params_bind_owner(req.params, r->owner, &p) < 0)
        goto answer;
    params = json_dumps(req.params, JSON_COMPACT);
    if (!params) {
        http_problem_set(&p, 500, "internal", "out of memory");
        goto answer;
    }
    if (http_dbpool_get(s->pool, &conn, &err) < 0) {
        http_problem_from_err(&p, r, &err);
        goto answer;
    }
    if (export_kind_get(conn, req.kind, &kind, &err) < 0) {
        if (err.code == EQ_ERR_NOT_FOUND || err.code == EQ_ERR_INVALID)
            http_problem_set(&p, 400, "unknown_kind", "unknown export kind '%s'", req.kind);
        else
            http_problem_from_err(&p, r, &err);
        goto answer;
    }
    q = (queue_enqueue_req){.kind = req.kind,
                            .params_json = params,
                            .email = req.email[0] ? req.email : NULL,
                            .owner = r->owner,
                            .idempotency_key = idem,
                            .format = req.format[0] ? req.format : NULL,
                            .existing = &existing,
                            .allowed_domains = s->cfg->mail_allowed_domains};
    if (enqueue(conn, &q, &id, r, &p) < 0)
        goto answer;
    if (existing && idem) {
        bool same = false;
        if (queue_same_request(conn, id, req.kind, params, q.email, &same, &err) < 0) {
            http_problem_from_err(&p, r, &err);
            goto answer;
        }
        if (!same) {
            http_problem_set(&p, 422, "idempotency_key_reused",
                             "this Idempotency-Key was used with a different request (export %lld)", id);
            goto answer;
        }
    }
    if (!existing) {
        char ctx[EQ_LOGCTX_MAX];
        eq_logctx_format(&(eq_logctx){.job = id, .owner = r->owner, .kind = req.kind}, ctx, sizeof ctx);
        eq_info(ctx, "export enqueued over HTTP");
    }
    ret = respond_accepted(s, c, r, &conn, id, NULL);
    goto done;
answer:
    ret = http_respond_problem(c, r, &p);
done:
    http_dbpool_put(s->pool, conn);
    free(params);
    http_export_req_cleanup(&req);
    return ret;
}

enum MHD_Result http_jobs_list(http_server *s, struct MHD_Connection *c, http_req *r)
{
    const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *cur = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
    int limit, n = 0;
    int64_t cursor;
    http_problem p;
    queue_status_row *rows = NULL;
    PGconn *conn = NULL;
    json_t *doc = NULL, *arr;
    eq_err err;
    enum MHD_Result ret;

    eq_err_clear(&err);
    if (http_list_args_parse(lim, cur, &limit, &cursor, &p) < 0)
        return http_respond_problem(c, r, &p);
    if (limit > QUEUE_LIST_MAX)
        limit = QUEUE_LIST_MAX;
    rows = calloc((size_t)limit, sizeof *rows);
    if (!rows) {
        http_problem_set(&p, 500, "internal", "out of memory");
        goto answer;
    }
    if (http_dbpool_get(s->pool, &conn, &err) < 0 ||
        queue_list(conn, r->owner, limit, (long long)cursor, rows, &n, &err) < 0) {
        http_problem_from_err(&p, r, &err);
        goto answer;
    }
    http_dbpool_put(s->pool, conn);
    conn = NULL;
    doc = json_object();
    arr = json_array();
    if (!doc || !arr || json_object_set_new(doc, "exports", arr) < 0) {
        http_problem_set(&p, 500, "internal", "out of memory");
        goto answer;
    }
    for (int i = 0; i < n; i++) {
        json_t *job = job_json(s, &rows[i], &err);
        if (!job) {
            http_problem_from_err(&p, r, &err);
            goto answer;
        }
        json_array_append_new(arr, job);
    }
    http_list_next_cursor(doc, n, limit, n > 0 ? rows[n - 1].id : 0);
    free(rows);
    return http_respond_json(c, r, 200, doc, NULL);
answer:
    http_dbpool_put(s->pool, conn);
    json_decref(doc);
    free(rows);
    ret = http_respond_problem(c, r, &p);
    return ret;
}

/* DELETE /v1/exports/{id}: cancel a queued or running job, or revoke a
 * succeeded one (object deleted, state expired, every link 410); POST
 * /v1/exports/{id}/retry: a failed or cancelled job queued again. The
 * dashboard's actions (http_job_action), on the caller's own job only
 * (load_own_job ran before). On success row is the job after the action. */
static int owner_action(http_server *s, PGconn *conn, http_req *r, long long id, queue_status_row *row,
                        http_problem *p)
{
    http_action act = r->route.endpoint == HTTP_EP_EXPORT_RETRY  ? HTTP_ACT_RETRY
                      : strcmp(row->state, "succeeded") == 0 ? HTTP_ACT_REVOKE
                                                               : HTTP_ACT_CANCEL;
    char ctx[EQ_LOGCTX_MAX];
    bool ok = false;
    eq_err err;

    eq_err_clear(&err);
    if (http_job_action(s, conn, id, act, &ok, &err) < 0) {
        if (err.code == EQ_ERR_INVALID)
            http_problem_set(p, 409, "conflict", "%s", err.msg);
        else
            http_problem_from_err(p, r, &err);
        return -1;
    }
    if (queue_status(conn, id, row, &err) < 0) {
        http_problem_from_err(p, r, &err);
        return -1;
    }
    if (!ok) {
        if (act == HTTP_ACT_RETRY)
            http_problem_set(p, 409, "not_retryable",
                             "export %lld is %s; only a failed or cancelled export can be retried", id, row->state);
        else
            http_problem_set(p, 409, "already_finished", "export %lld is already %s", id, row->state);
        return -1;
    }
    eq_logctx_format(&(eq_logctx){.job = id, .owner = r->owner}, ctx, sizeof ctx);
    eq_info(ctx, "export %s over HTTP",
            act == HTTP_ACT_RETRY ? "retried" : act == HTTP_ACT_REVOKE ? "revoked" : "cancelled");
    return 0;
}

/* GET, DELETE /v1/exports/{id}, POST .../retry and GET .../download. */
enum MHD_Result http_jobs_show(http_server *s, struct MHD_Connection *c, http_req *r)
{
    queue_status_row *row = calloc(1, sizeof *row);
    PGconn *conn = NULL;
    http_problem p;
    eq_err err;
    enum MHD_Result ret;
    long long id = (long long)r->route.job_id;

    eq_err_clear(&err);
    if (!row) {
        http_problem_set(&p, 500, "internal", "out of memory");
        goto answer;
    }
    if (http_dbpool_get(s->pool, &conn, &err) < 0) {
        http_problem_from_err(&p, r, &err);
        goto answer;
    }
    if (load_own_job(conn, r, id, row, &p) < 0)
        goto answer;

    if ((r->route.endpoint == HTTP_EP_EXPORT && r->route.method == HTTP_M_DELETE) ||
        r->route.endpoint == HTTP_EP_EXPORT_RETRY) {
        if (owner_action(s, conn, r, id, row, &p) < 0)
            goto answer;
    }
    http_dbpool_put(s->pool, conn);
    conn = NULL;

    if (r->route.endpoint == HTTP_EP_EXPORT_DOWNLOAD) {
        if (strcmp(row->state, "expired") == 0 ||
            (strcmp(row->state, "succeeded") == 0 && past_retention(row))) {
            http_problem_set(&p, 410, "expired", "export %lld has expired and its file was deleted", id);
            goto answer;
        }
        if (strcmp(row->state, "succeeded") != 0 || !row->object_key[0]) {
            if (strcmp(row->state, "queued") == 0 || strcmp(row->state, "running") == 0)
                http_problem_set(&p, 409, "not_ready", "export %lld is %s; try again when it has succeeded",
                                 id, row->state);
            else
                http_problem_set(&p, 410, "not_available", "export %lld %s; it has no file", id, row->state);
            goto answer;
        }
        ret = http_respond_presigned(s, c, r, row, s->cfg->link_ttl);
        free(row);
        return ret;
    }
    {
        json_t *doc = job_json(s, row, &err);
        if (!doc) {
            http_problem_from_err(&p, r, &err);
            goto answer;
        }
        free(row);
        return http_respond_json(c, r, 200, doc, NULL);
    }
answer:
    http_dbpool_put(s->pool, conn);
    free(row);
    return http_respond_problem(c, r, &p);
}

/* GET /v1/stream/{kind} with Prefer: respond-async that cannot stream now:
 * the same export as a job (kind, params with the owner bound, the format
 * Accept chose), answered like POST /v1/exports plus Preference-Applied. */
enum MHD_Result http_jobs_accept_async(http_server *s, struct MHD_Connection *c, http_req *r, const char *kind,
                                       const char *params_json, const char *format, const char *why)
{
    PGconn *conn = NULL;
    http_problem p;
    long long id = 0;
    eq_err err;
    queue_enqueue_req q = {.kind = kind,
                           .params_json = params_json,
                           .owner = r->owner,
                           .format = format,
                           .allowed_domains = s->cfg->mail_allowed_domains};

    eq_err_clear(&err);
    if (http_dbpool_get(s->pool, &conn, &err) < 0) {
        http_problem_from_err(&p, r, &err);
        goto answer;
    }
    if (enqueue(conn, &q, &id, r, &p) < 0)
        goto answer;
    {
        static const char *const extra[] = {"Preference-Applied", "respond-async", MHD_HTTP_HEADER_VARY, "Prefer",
                                            NULL};
        char ctx[EQ_LOGCTX_MAX];
        eq_logctx_format(&(eq_logctx){.job = id, .owner = r->owner, .kind = kind}, ctx, sizeof ctx);
        eq_info(ctx, "stream became an export job (Prefer: respond-async; %s)", why);
        return respond_accepted(s, c, r, &conn, id, extra);
    }
answer:
    http_dbpool_put(s->pool, conn);
    return http_respond_problem(c, r, &p);
}
