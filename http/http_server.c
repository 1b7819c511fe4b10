/* http_server.c - see http_server.h
 *
 * Request life in MHD: the access handler is called first when the headers
 * are in (route, authentication, rate limit, Content-Length: early answers
 * need no body), then once per piece of body (kept up to HTTP_BODY_MAX), then
 * with no data to dispatch. A stream that waits for its first COPY output
 * suspends the connection there; MHD calls the handler again once resumed.
 * on_completed() ends every request: metrics, log line, stream clean-up.
 */
#include "http/http_server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/pg.h"
#include "http/http_dbpool.h"
#include "http/http_metrics.h"
#include "http/http_ratelimit.h"
#include "http/http_request.h"
#include "http/http_route.h"
#include "http/http_stream.h"
#include "http/http_watch.h"
#include "queue/queue.h"
#include "export/export_kind.h"
#include "s3/s3_client.h"

#define DB_POOL_SIZE 8
#define DB_POOL_WAIT_MS 5000
#define MHD_THREADS 4
#define RATELIMIT_KEYS 4096
#define RETRY_AFTER_STREAMS "1"
#define RETRY_AFTER_UNAVAILABLE "5"

struct http_server {
    const eq_config *cfg;
    struct MHD_Daemon *daemon;
    http_dbpool *pool;
    http_ratelimit *rl;
    http_watch *watch;
    s3_client *s3;
    pthread_mutex_t s3_lock; /* an s3_client is not thread-safe */
    bool s3_lock_ready;
    http_metrics metrics;
    atomic_bool stopping;
    bool quiesced;
    uint16_t port;
};

typedef struct req_ctx {
    http_route route;
    int route_status;
    eq_buf body;
    bool too_large;
    char owner[QUEUE_OWNER_MAX];
    long long token_id;
    int status; /* the status queued, 0 = none yet */
    http_stream *stream;
    bool stream_slot;    /* counted in metrics.streams_active */
    bool stream_gzip;
    char filename[EXPORT_KIND_FILENAME_MAX + 1];
    char method[8];
    char path[160];
} req_ctx;

/* ---- responses ------------------------------------------------------------------ */

/* Queues a response; takes `body` (malloc'ed, may be NULL when len is 0).
 * hdrs: NULL or name, value, ..., NULL. */
static enum MHD_Result respond(struct MHD_Connection *c, req_ctx *r, int status, const char *ctype, char *body,
                               size_t len, const char *const *hdrs)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; hdrs && hdrs[i] && hdrs[i + 1]; i += 2)
        MHD_add_response_header(resp, hdrs[i], hdrs[i + 1]);
    ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    return ret;
}

/* Takes the reference to doc. */
static enum MHD_Result respond_json(struct MHD_Connection *c, req_ctx *r, int status, json_t *doc,
                                    const char *const *hdrs)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    size_t len;
    json_decref(doc);
    if (!body) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        body = strdup(oom);
        return respond(c, r, 500, "application/json", body, body ? strlen(body) : 0, NULL);
    }
    len = strlen(body);
    return respond(c, r, status, "application/json", body, len, hdrs);
}

static enum MHD_Result respond_problem(struct MHD_Connection *c, req_ctx *r, const http_problem *p)
{
    const char *hdrs[5] = {NULL};
    char *body = http_problem_json(p);
    size_t n = 0;
    if (p->status == 401) {
        hdrs[n++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        hdrs[n++] = "Bearer realm=\"exportq\"";
    } else if (p->status == 405) {
        hdrs[n++] = MHD_HTTP_HEADER_ALLOW;
        hdrs[n++] = http_route_allow(r->route.endpoint);
    } else if (p->status == 503) {
        hdrs[n++] = MHD_HTTP_HEADER_RETRY_AFTER;
        hdrs[n++] = RETRY_AFTER_UNAVAILABLE;
    }
    return respond(c, r, p->status, "application/json", body, body ? strlen(body) : 0, hdrs);
}

/* 429 with Retry-After (rate limit, stream cap). */
static enum MHD_Result respond_429(struct MHD_Connection *c, req_ctx *r, const char *code, const char *retry_after,
                                   const char *msg)
{
    http_problem p;
    const char *hdrs[] = {MHD_HTTP_HEADER_RETRY_AFTER, retry_after, NULL};
    char *body;
    http_problem_set(&p, 429, code, "%s", msg);
    body = http_problem_json(&p);
    return respond(c, r, 429, "application/json", body, body ? strlen(body) : 0, hdrs);
}

/* Maps an internal error to what a client may know: 503 when the database
 * (or the pool) is unavailable, 500 otherwise. The details go to the log. */
static void problem_from_err(http_problem *p, const req_ctx *r, const eq_err *err)
{
    char ctx[64];
    snprintf(ctx, sizeof ctx, "owner=%s", r->owner[0] ? r->owner : "-");
    eq_error(ctx, "%s %s: %s", r->method, r->path, err->msg);
    if (err->code == EQ_ERR_DB || err->code == EQ_ERR_LIMIT)
        http_problem_set(p, 503, "unavailable", "the database is unavailable; try again later");
    else
        http_problem_set(p, 500, "internal", "internal error");
}

/* ---- shared steps --------------------------------------------------------------- */

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int authenticate(http_server *s, struct MHD_Connection *c, req_ctx *r, http_problem *p)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char token[HTTP_TOKEN_MAX + 1];
    PGconn *conn = NULL;
    eq_err err;
    eq_err_clear(&err);
    if (!h)
        return http_problem_set(p, 401, "unauthorized", "missing Authorization: Bearer token");
    if (http_bearer_token(h, token, sizeof token) < 0 || !queue_token_well_formed(token))
        return http_problem_set(p, 401, "unauthorized", "invalid or revoked token");
    if (http_dbpool_get(s->pool, &conn, &err) < 0 ||
        queue_token_lookup(conn, token, r->owner, sizeof r->owner, &r->token_id, &err) < 0) {
        http_dbpool_put(s->pool, conn);
        r->owner[0] = '\0';
        if (err.code == EQ_ERR_NOT_FOUND)
            return http_problem_set(p, 401, "unauthorized", "invalid or revoked token");
        problem_from_err(p, r, &err);
        return -1;
    }
    http_dbpool_put(s->pool, conn);
    return 0;
}

/* The job as the API shows it: queue_status_json() plus download_url (a
 * freshly presigned link) once succeeded and not yet past retention. */
static int presign(http_server *s, const queue_status_row *row, char **url, eq_err *err)
{
    const char *slash = strrchr(row->object_key, '/');
    const char *filename = slash ? slash + 1 : row->object_key;
    long long now = (long long)time(NULL);
    long expires = s->cfg->link_ttl;
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
static int load_own_job(PGconn *conn, req_ctx *r, long long id, queue_status_row *row, http_problem *p)
{
    eq_err err;
    eq_err_clear(&err);
    if (queue_status(conn, id, row, &err) < 0) {
        if (err.code == EQ_ERR_NOT_FOUND)
            return http_problem_set(p, 404, "not_found", "no export %lld", id);
        problem_from_err(p, r, &err);
        return -1;
    }
    if (strcmp(row->owner, r->owner) != 0)
        return http_problem_set(p, 404, "not_found", "no export %lld", id);
    return 0;
}

/* ---- endpoints ------------------------------------------------------------------ */

static enum MHD_Result handle_healthz(http_server *s, struct MHD_Connection *c, req_ctx *r)
{
    PGconn *conn = NULL;
    eq_err err;
    http_problem p;
    eq_err_clear(&err);
    if (http_dbpool_get(s->pool, &conn, &err) < 0 || eq_pg_exec(conn, "health check", "SELECT 1", 0, NULL, NULL, &err) < 0) {
        http_dbpool_put(s->pool, conn);
        problem_from_err(&p, r, &err);
        return respond_problem(c, r, &p);
    }
    http_dbpool_put(s->pool, conn);
    return respond_json(c, r, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

/* Job counts by state straight from the queue's table (queue.h has no call
 * for it yet). */
static int job_counts(PGconn *conn, http_job_count *out, size_t cap, size_t *n, eq_err *err)
{
    PGresult *res = NULL;
    *n = 0;
    if (eq_pg_exec(conn, "metrics: jobs by state",
                   "SELECT state::text, count(*), coalesce(sum(bytes), 0)::bigint FROM exportq.jobs GROUP BY 1", 0,
                   NULL, &res, err) < 0)
        return -1;
    for (int i = 0; i < PQntuples(res) && *n < cap; i++) {
        snprintf(out[*n].state, sizeof out[*n].state, "%s", PQgetvalue(res, i, 0));
        out[*n].jobs = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        out[*n].bytes = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        (*n)++;
    }
    PQclear(res);
    return 0;
}

static enum MHD_Result handle_metrics(http_server *s, struct MHD_Connection *c, req_ctx *r)
{
    http_job_count counts[16];
    size_t n = 0;
    bool have_jobs = false;
    PGconn *conn = NULL;
    eq_buf out;
    eq_err err;
    http_problem p;
    eq_err_clear(&err);
    if (http_dbpool_get(s->pool, &conn, &err) == 0 && job_counts(conn, counts, 16, &n, &err) == 0)
        have_jobs = true;
    else
        eq_warn(NULL, "metrics: %s", err.msg);
    http_dbpool_put(s->pool, conn);
    eq_buf_init(&out, 256 * 1024);
    if (http_metrics_render(&s->metrics, have_jobs ? counts : NULL, n, &out, &err) < 0) {
        eq_buf_cleanup(&out);
        problem_from_err(&p, r, &err);
        return respond_problem(c, r, &p);
    }
    /* the buffer's storage is handed to MHD (free()d by it) */
    return respond(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len, NULL);
}

static enum MHD_Result handle_create(http_server *s, struct MHD_Connection *c, req_ctx *r)
{
    http_export_req req;
    http_problem p;
    queue_status_row *row = NULL;
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
        return respond_problem(c, r, &p);
    if (idem && !http_idempotency_key_valid(idem)) {
        http_problem_set(&p, 400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters");
        goto answer;
    }
    if (http_params_bind_owner(req.params, r->owner, &p) < 0)
        goto answer;
    params = json_dumps(req.params, JSON_COMPACT);
    row = calloc(1, sizeof *row);
    if (!params || !row) {
        http_problem_set(&p, 500, "internal", "out of memory");
        goto answer;
    }
    if (http_dbpool_get(s->pool, &conn, &err) < 0) {
        problem_from_err(&p, r, &err);
        goto answer;
    }
    if (export_kind_get(conn, req.kind, &kind, &err) < 0) {
        if (err.code == EQ_ERR_NOT_FOUND || err.code == EQ_ERR_INVALID)
            http_problem_set(&p, 400, "unknown_kind", "unknown export kind '%s'", req.kind);
        else
            problem_from_err(&p, r, &err);
        goto answer;
    }
    q = (queue_enqueue_req){.kind = req.kind,
                            .params_json = params,
                            .email = req.email[0] ? req.email : NULL,
                            .owner = r->owner,
                            .idempotency_key = idem,
                            .existing = &existing};
    if (queue_enqueue(conn, &q, &id, &err) < 0) {
        if (err.code == EQ_ERR_INVALID)
            http_problem_set(&p, 400, "invalid_request", "%s", err.msg);
        else
            problem_from_err(&p, r, &err);
        goto answer;
    }
    if (queue_status(conn, id, row, &err) < 0) {
        problem_from_err(&p, r, &err);
        goto answer;
    }
    http_dbpool_put(s->pool, conn);
    conn = NULL;
    {
        char location[64];
        json_t *doc = job_json(s, row, &err);
        const char *hdrs[] = {MHD_HTTP_HEADER_LOCATION, location, NULL};
        snprintf(location, sizeof location, "/v1/exports/%lld", id);
        if (!doc) {
            problem_from_err(&p, r, &err);
            goto answer;
        }
        if (!existing) {
            char ctx[320];
            snprintf(ctx, sizeof ctx, "job=%lld owner=%s kind=%s", id, r->owner, req.kind);
            eq_info(ctx, "export enqueued over HTTP");
        }
        ret = respond_json(c, r, 202, doc, hdrs);
    }
    goto done;
answer:
    ret = respond_problem(c, r, &p);
done:
    http_dbpool_put(s->pool, conn);
    free(params);
    free(row);
    http_export_req_cleanup(&req);
    return ret;
}

static enum MHD_Result handle_list(http_server *s, struct MHD_Connection *c, req_ctx *r)
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
        return respond_problem(c, r, &p);
    if (limit > QUEUE_LIST_MAX)
        limit = QUEUE_LIST_MAX;
    rows = calloc((size_t)limit, sizeof *rows);
    if (!rows) {
        http_problem_set(&p, 500, "internal", "out of memory");
        goto answer;
    }
    if (http_dbpool_get(s->pool, &conn, &err) < 0 ||
        queue_list(conn, r->owner, limit, (long long)cursor, rows, &n, &err) < 0) {
        problem_from_err(&p, r, &err);
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
            problem_from_err(&p, r, &err);
            goto answer;
        }
        json_array_append_new(arr, job);
    }
    if (n == limit && n > 0) {
        char next[32];
        snprintf(next, sizeof next, "%lld", rows[n - 1].id);
        json_object_set_new(doc, "next_cursor", json_string(next));
    } else {
        json_object_set_new(doc, "next_cursor", json_null());
    }
    free(rows);
    return respond_json(c, r, 200, doc, NULL);
answer:
    http_dbpool_put(s->pool, conn);
    json_decref(doc);
    free(rows);
    ret = respond_problem(c, r, &p);
    return ret;
}

/* GET, DELETE /v1/exports/{id} and GET /v1/exports/{id}/download. */
static enum MHD_Result handle_job(http_server *s, struct MHD_Connection *c, req_ctx *r)
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
        problem_from_err(&p, r, &err);
        goto answer;
    }
    if (load_own_job(conn, r, id, row, &p) < 0)
        goto answer;

    if (r->route.endpoint == HTTP_EP_EXPORT && r->route.method == HTTP_M_DELETE) {
        bool ok = false;
        if (queue_cancel(conn, id, &ok, &err) < 0) {
            problem_from_err(&p, r, &err);
            goto answer;
        }
        if (!ok) {
            http_problem_set(&p, 409, "already_finished", "export %lld is already %s", id, row->state);
            goto answer;
        }
        if (queue_status(conn, id, row, &err) < 0) {
            problem_from_err(&p, r, &err);
            goto answer;
        }
        {
            char ctx[320];
            snprintf(ctx, sizeof ctx, "job=%lld owner=%s", id, r->owner);
            eq_info(ctx, "export cancelled over HTTP");
        }
    }
    http_dbpool_put(s->pool, conn);
    conn = NULL;

    if (r->route.endpoint == HTTP_EP_EXPORT_DOWNLOAD) {
        char *url = NULL;
        json_t *doc;
        if (strcmp(row->state, "expired") == 0 ||
            (strcmp(row->state, "succeeded") == 0 && past_retention(row))) {
            http_problem_set(&p, 410, "expired", "export %lld has expired and its file was deleted", id);
            goto answer;
        }
        if (strcmp(row->state, "succeeded") != 0 || !row->object_key[0]) {
            if (strcmp(row->state, "queued") == 0 || strcmp(row->state, "running") == 0)
                http_problem_set(&p, 409, "not_ready", "export %lld is %s; try again when it has succeeded", id,
                                 row->state);
            else
                http_problem_set(&p, 409, "not_available", "export %lld %s; it has no file", id, row->state);
            goto answer;
        }
        if (presign(s, row, &url, &err) < 0) {
            problem_from_err(&p, r, &err);
            goto answer;
        }
        {
            const char *hdrs[] = {MHD_HTTP_HEADER_LOCATION, url, NULL};
            doc = json_pack("{s:s}", "download_url", url);
            ret = respond_json(c, r, 302, doc, hdrs);
        }
        free(url);
        free(row);
        return ret;
    }
    {
        json_t *doc = job_json(s, row, &err);
        if (!doc) {
            problem_from_err(&p, r, &err);
            goto answer;
        }
        free(row);
        return respond_json(c, r, 200, doc, NULL);
    }
answer:
    http_dbpool_put(s->pool, conn);
    free(row);
    return respond_problem(c, r, &p);
}

/* ---- the stream endpoint -------------------------------------------------------- */

typedef struct arg_collect {
    json_t *params;
    http_problem *p;
    bool failed;
} arg_collect;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    arg_collect *a = cls;
    json_t *v;
    (void)kind;
    if (!http_param_name_valid(key)) {
        http_problem_set(a->p, 400, "invalid_params", "parameter names are 1 to %d letters, digits or _",
                         HTTP_PARAM_NAME_MAX);
        goto fail;
    }
    if (json_object_get(a->params, key)) {
        http_problem_set(a->p, 400, "invalid_params", "parameter '%s' is given twice", key);
        goto fail;
    }
    v = json_string(value ? value : "");
    if (!v) {
        http_problem_set(a->p, 400, "invalid_params", "parameter '%s' is not valid UTF-8", key);
        goto fail;
    }
    json_object_set_new(a->params, key, v);
    return MHD_YES;
fail:
    a->failed = true;
    return MHD_NO;
}

/* First call of a stream: every check, then the source connection. */
static int stream_open(http_server *s, struct MHD_Connection *c, req_ctx *r, http_problem *p)
{
    arg_collect a = {.params = json_object(), .p = p};
    export_kind kind;
    PGconn *conn = NULL;
    char *params = NULL;
    char ctx[384];
    eq_err err;
    int rc = -1;

    eq_err_clear(&err);
    if (!a.params)
        return http_problem_set(p, 500, "internal", "out of memory");
    if (!http_kind_name_valid(r->route.kind)) {
        http_problem_set(p, 400, "unknown_kind", "'%s' is not a kind name", r->route.kind);
        goto out;
    }
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    if (a.failed || http_params_validate(a.params, p) < 0)
        goto out;

    /* the cap, before any connection is opened */
    if (atomic_fetch_add(&s->metrics.streams_active, 1) >= s->cfg->max_streams) {
        atomic_fetch_sub(&s->metrics.streams_active, 1);
        atomic_fetch_add(&s->metrics.streams_rejected, 1);
        http_problem_set(p, 429, "too_many_streams", "%d streams are running, the most this server allows",
                         s->cfg->max_streams);
        goto out;
    }
    r->stream_slot = true;

    if (http_dbpool_get(s->pool, &conn, &err) < 0 || export_kind_get(conn, r->route.kind, &kind, &err) < 0) {
        if (err.code == EQ_ERR_NOT_FOUND || err.code == EQ_ERR_INVALID)
            http_problem_set(p, 400, "unknown_kind", "unknown export kind '%s'", r->route.kind);
        else
            problem_from_err(p, r, &err);
        goto out;
    }
    http_dbpool_put(s->pool, conn);
    conn = NULL;

    /* Content-Encoding: gzip makes the representation gzip; what the user
     * saves is the CSV, so the file name is the uncompressed one */
    r->stream_gzip = kind.options.gzip ||
                     http_accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    {
        export_kind plain = kind;
        plain.options.gzip = false;
        if (export_kind_filename(&plain, r->filename, sizeof r->filename, &err) < 0)
            snprintf(r->filename, sizeof r->filename, "export.csv");
    }
    params = json_dumps(a.params, JSON_COMPACT);
    if (!params) {
        http_problem_set(p, 500, "internal", "out of memory");
        goto out;
    }
    snprintf(ctx, sizeof ctx, "kind=%s owner=%s", kind.name, r->owner);
    if (http_stream_start(s->cfg->source_database_url ? s->cfg->source_database_url : s->cfg->database_url, &kind,
                          params, r->owner, r->stream_gzip, ctx, &r->stream, &err) < 0) {
        problem_from_err(p, r, &err);
        goto out;
    }
    http_stream_attach(r->stream, c, s->watch, &s->stopping);
    eq_info(ctx, "stream started%s", r->stream_gzip ? " (gzip)" : "");
    rc = 0;
out:
    http_dbpool_put(s->pool, conn);
    free(params);
    json_decref(a.params);
    return rc;
}

static enum MHD_Result stream_respond(struct MHD_Connection *c, req_ctx *r)
{
    struct MHD_Response *resp;
    char disp[EXPORT_KIND_FILENAME_MAX * 4 + 128];
    enum MHD_Result ret;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, http_stream_reader, r->stream, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/csv; charset=utf-8");
    if (http_content_disposition(r->filename, disp, sizeof disp) == 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    if (r->stream_gzip)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    r->status = 200;
    return ret;
}

/* Frees the stream and its connection now (an error before the headers). */
static void stream_abandon(http_server *s, req_ctx *r)
{
    http_stream_finish(r->stream, false, &s->metrics);
    r->stream = NULL;
}

static enum MHD_Result handle_stream(http_server *s, struct MHD_Connection *c, req_ctx *r)
{
    http_problem p;
    eq_err err;
    int rc;
    eq_err_clear(&err);
    if (!r->stream) {
        if (stream_open(s, c, r, &p) < 0) {
            if (p.status == 429)
                return respond_429(c, r, p.code, RETRY_AFTER_STREAMS, p.message);
            return respond_problem(c, r, &p);
        }
    }
    if (http_stream_client_gone(r->stream))
        return MHD_NO; /* closes the connection; on_completed cancels */
    if (atomic_load(&s->stopping)) {
        stream_abandon(s, r);
        http_problem_set(&p, 503, "unavailable", "the server is stopping");
        return respond_problem(c, r, &p);
    }
    /* wait for the first row (COPY sends the header line before running the
     * query) before answering, so a query that fails at once (a kind function
     * refusing its parameters) is a JSON error, not a 200 with a cut body */
    rc = http_stream_pump(r->stream, &err);
    if (rc == HTTP_PUMP_WOULD_BLOCK || (rc == HTTP_PUMP_DATA && !http_stream_started(r->stream))) {
        if (http_stream_suspend(r->stream, c, s->watch, &err) == 0)
            return MHD_YES;
        rc = -1;
    }
    if (rc < 0) {
        stream_abandon(s, r);
        if (err.retryable) {
            problem_from_err(&p, r, &err);
        } else {
            char ctx[320];
            snprintf(ctx, sizeof ctx, "kind=%s owner=%s", r->route.kind, r->owner);
            eq_warn(ctx, "stream refused: %s", err.msg);
            http_problem_set(&p, 400, "export_failed", "the export query failed: %s", err.msg);
        }
        return respond_problem(c, r, &p);
    }
    return stream_respond(c, r);
}

/* ---- MHD callbacks -------------------------------------------------------------- */

/* First call, headers in: what can be answered without a body. Returns true
 * when a response was queued (or the connection must close: *ret). */
static bool first_call(http_server *s, struct MHD_Connection *c, req_ctx *r, enum MHD_Result *ret)
{
    http_problem p;
    int retry_after = 1;
    r->route_status = http_route_match(r->method, r->path, &r->route);
    if (r->route_status == 404) {
        http_problem_set(&p, 404, "not_found", "no such endpoint");
        *ret = respond_problem(c, r, &p);
        return true;
    }
    if (r->route_status == 405) {
        http_problem_set(&p, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", r->method,
                         http_route_allow(r->route.endpoint));
        *ret = respond_problem(c, r, &p);
        return true;
    }
    if (r->route.endpoint == HTTP_EP_HEALTHZ || r->route.endpoint == HTTP_EP_METRICS)
        return false;
    if (authenticate(s, c, r, &p) < 0) {
        *ret = respond_problem(c, r, &p);
        return true;
    }
    {
        char key[32];
        snprintf(key, sizeof key, "%lld", r->token_id);
        if (!http_ratelimit_take(s->rl, key, now_monotonic(), &retry_after)) {
            char ra[16];
            snprintf(ra, sizeof ra, "%d", retry_after);
            *ret = respond_429(c, r, "rate_limited", ra, "too many requests for this token; slow down");
            return true;
        }
    }
    if (r->route.method == HTTP_M_POST) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && (strlen(cl) > 9 || strtol(cl, NULL, 10) > HTTP_BODY_MAX)) {
            http_problem_set(&p, 413, "body_too_large", "request body is larger than %d bytes", HTTP_BODY_MAX);
            *ret = respond_problem(c, r, &p);
            return true;
        }
    }
    return false;
}

static enum MHD_Result dispatch(http_server *s, struct MHD_Connection *c, req_ctx *r)
{
    http_problem p;
    if (r->too_large) {
        http_problem_set(&p, 413, "body_too_large", "request body is larger than %d bytes", HTTP_BODY_MAX);
        return respond_problem(c, r, &p);
    }
    switch (r->route.endpoint) {
    case HTTP_EP_HEALTHZ:
        return handle_healthz(s, c, r);
    case HTTP_EP_METRICS:
        return handle_metrics(s, c, r);
    case HTTP_EP_EXPORTS:
        return r->route.method == HTTP_M_POST ? handle_create(s, c, r) : handle_list(s, c, r);
    case HTTP_EP_EXPORT:
    case HTTP_EP_EXPORT_DOWNLOAD:
        return handle_job(s, c, r);
    case HTTP_EP_STREAM:
        return handle_stream(s, c, r);
    case HTTP_EP_NONE:
        break;
    }
    http_problem_set(&p, 404, "not_found", "no such endpoint");
    return respond_problem(c, r, &p);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server *s = cls;
    req_ctx *r = *con_cls;
    (void)version;
    if (!r) {
        enum MHD_Result ret = MHD_YES;
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        eq_buf_init(&r->body, HTTP_BODY_MAX);
        snprintf(r->method, sizeof r->method, "%s", method ? method : "");
        snprintf(r->path, sizeof r->path, "%s", url ? url : "");
        *con_cls = r;
        first_call(s, c, r, &ret);
        return ret;
    }
    if (r->status) { /* answered early: drop any body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        eq_err err;
        if (!r->too_large && eq_buf_append(&r->body, upload_data, *upload_data_size, &err) < 0) {
            r->too_large = true;
            eq_buf_cleanup(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(s, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    req_ctx *r = *con_cls;
    char ctx[320];
    (void)c;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->stream)
        http_stream_finish(r->stream, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, &s->metrics);
    if (r->stream_slot)
        atomic_fetch_sub(&s->metrics.streams_active, 1);
    http_metrics_request(&s->metrics, r->status ? r->status : 499);
    snprintf(ctx, sizeof ctx, "owner=%s", r->owner[0] ? r->owner : "-");
    eq_log(r->route.endpoint == HTTP_EP_STREAM || r->status >= 500 ? EQ_LOG_INFO : EQ_LOG_DEBUG, ctx,
           "%s %s -> %d%s", r->method, r->path, r->status,
           toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    eq_buf_cleanup(&r->body);
    free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) EQ_PRINTF(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    eq_warn("component=microhttpd", "%s", msg);
}

/* ---- life ----------------------------------------------------------------------- */

/* "host:port" or "[v6]:port" into a socket address (numeric or resolved). */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, eq_err *err)
{
    char host[256];
    const char *colon, *port;
    struct addrinfo hints = {0}, *ai = NULL;
    size_t hl;
    int gai;
    if (!listen || !*listen)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_HTTP_LISTEN: empty");
    colon = strrchr(listen, ':');
    if (!colon || !colon[1])
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_HTTP_LISTEN '%s': expected host:port", listen);
    port = colon + 1;
    hl = (size_t)(colon - listen);
    if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
        listen++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_HTTP_LISTEN: expected host:port");
    memcpy(host, listen, hl);
    host[hl] = '\0';
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0 || !ai)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_HTTP_LISTEN: cannot use '%s' port '%s': %s", host, port,
                       gai_strerror(gai));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int http_server_new(const eq_config *cfg, http_server **out, eq_err *err)
{
    http_server *s;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    if (parse_listen(cfg->http_listen, &ss, &sslen, err) < 0)
        return -1;
    s = calloc(1, sizeof *s);
    if (!s)
        return eq_fail(err, EQ_ERR_NOMEM, "http server: out of memory");
    s->cfg = cfg;
    atomic_init(&s->stopping, false);
    http_metrics_init(&s->metrics);
    pthread_mutex_init(&s->s3_lock, NULL);
    s->s3_lock_ready = true;
    if (http_dbpool_new(cfg->database_url, DB_POOL_SIZE, DB_POOL_WAIT_MS, &s->pool, err) < 0)
        goto fail;
    s->rl = http_ratelimit_new(cfg->rate_limit, RATELIMIT_KEYS);
    if (!s->rl) {
        eq_fail(err, EQ_ERR_NOMEM, "http server: out of memory");
        goto fail;
    }
    if (http_watch_new(cfg->max_streams + 1, &s->watch, err) < 0)
        goto fail;
    if (s3_client_new(cfg, &s->s3, err) < 0)
        goto fail;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)MHD_THREADS, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!s->daemon) {
        eq_fail(err, EQ_ERR_IO, "cannot listen on %s (address in use or not available?)", cfg->http_listen);
        goto fail;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *out = s;
    return 0;
fail:
    http_server_free(s);
    return -1;
}

uint16_t http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_quiesce(http_server *s)
{
    MHD_socket fd;
    if (!s || !s->daemon || s->quiesced)
        return;
    fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    s->quiesced = true;
}

int http_server_active_streams(http_server *s)
{
    return atomic_load(&s->metrics.streams_active);
}

void http_server_free(http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    /* MHD must not be stopped with suspended connections: wake them all; the
     * streams see `stopping` and end (their queries are cancelled) */
    http_watch_resume_all(s->watch);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    http_watch_free(s->watch);
    http_dbpool_free(s->pool);
    http_ratelimit_free(s->rl);
    s3_client_free(s->s3);
    if (s->s3_lock_ready)
        pthread_mutex_destroy(&s->s3_lock);
    free(s);
}
