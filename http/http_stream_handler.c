/* http_stream_handler.c - see http_internal.h: GET /v1/stream/{kind}. Every
 * check (kind name, parameters, owner binding, the stream cap, the kind) runs
 * before the stream opens its own source connection (http_stream.c). */
#include "http/http_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log_ctx.h"
#include "common/log.h"
#include "common/pg.h"
#include "export/export_estimate.h"

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

/* A slot among the owner's streams (EXPORTQ_MAX_STREAMS_PER_OWNER). The table
 * has max_streams entries: an owner with a stream holds one, and the global
 * cap was taken first, so a free entry always exists. */
static bool owner_take(http_server *s, http_req *r)
{
    http_owner_streams *mine = NULL, *free_slot = NULL;
    bool ok = false;
    pthread_mutex_lock(&s->owners_lock);
    for (int i = 0; i < s->cfg->max_streams; i++) {
        http_owner_streams *o = &s->owners[i];
        if (o->n > 0 && strcmp(o->owner, r->owner) == 0) {
            mine = o;
            break;
        }
        if (o->n == 0 && !free_slot)
            free_slot = o;
    }
    if (!mine && free_slot) {
        mine = free_slot;
        snprintf(mine->owner, sizeof mine->owner, "%s", r->owner);
    }
    if (mine && mine->n < s->cfg->max_streams_per_owner) {
        mine->n++;
        ok = true;
    }
    pthread_mutex_unlock(&s->owners_lock);
    r->owner_slot = ok;
    return ok;
}

void http_stream_release(http_server *s, http_req *r)
{
    if (r->owner_slot) {
        pthread_mutex_lock(&s->owners_lock);
        for (int i = 0; i < s->cfg->max_streams; i++) {
            http_owner_streams *o = &s->owners[i];
            if (o->n > 0 && strcmp(o->owner, r->owner) == 0) {
                o->n--;
                break;
            }
        }
        pthread_mutex_unlock(&s->owners_lock);
        r->owner_slot = false;
    }
    if (r->stream_slot) {
        atomic_fetch_sub(&s->metrics.streams_active, 1);
        r->stream_slot = false;
    }
    if (r->cluster_slot >= 0) {
        http_slots_put(s->slots, r->cluster_slot);
        r->cluster_slot = -1;
    }
}

/* The stream caps, cheapest first: this process's EXPORTQ_MAX_STREAMS (no
 * query), the owner's (EXPORTQ_MAX_STREAMS_PER_OWNER, this process), then a
 * slot of the cluster-wide EXPORTQ_MAX_STREAMS (http_slots.h). 0 when all
 * are ours (released by http_stream_release); -1 with p set: 429 at a cap,
 * 503 when the database cannot be asked. */
static int caps_take(http_server *s, http_req *r, http_problem *p)
{
    eq_err err;
    int rc;
    eq_err_clear(&err);
    if (atomic_fetch_add(&s->metrics.streams_active, 1) >= s->cfg->max_streams) {
        atomic_fetch_sub(&s->metrics.streams_active, 1);
        atomic_fetch_add(&s->metrics.streams_rejected, 1);
        return http_problem_set(p, 429, "too_many_streams", "%d streams are running, the most this server allows",
                                s->cfg->max_streams);
    }
    r->stream_slot = true;
    if (!owner_take(s, r)) {
        atomic_fetch_add(&s->metrics.streams_rejected, 1);
        return http_problem_set(p, 429, "too_many_owner_streams",
                                "%d streams of this owner are running, the most one owner may have",
                                s->cfg->max_streams_per_owner);
    }
    rc = http_slots_take(s->slots, &r->cluster_slot, &err);
    if (rc < 0) {
        r->cluster_slot = -1;
        http_problem_from_err(p, r, &err);
        return -1;
    }
    if (rc == 0) {
        r->cluster_slot = -1;
        atomic_fetch_add(&s->metrics.streams_rejected, 1);
        return http_problem_set(p, 429, "too_many_streams",
                                "%d streams are running on this cluster, the most it allows", s->cfg->max_streams);
    }
    return 0;
}

/* The planner's row estimate of the stream (export_estimate.h), on the
 * source database: a pooled connection when it is the queue database, else
 * one of its own for this question. -1 when it cannot be had (the stream
 * then goes on as asked). */
static int estimate_rows(http_server *s, const export_kind *kind, const char *params, const char *owner,
                         long long *rows)
{
    const char *src = s->cfg->source_database_url ? s->cfg->source_database_url : s->cfg->database_url;
    bool pooled = strcmp(src, s->cfg->database_url) == 0;
    PGconn *conn = NULL;
    eq_err err;
    int rc;
    eq_err_clear(&err);
    rc = pooled ? http_dbpool_get(s->pool, &conn, &err) : eq_pg_connect(src, "stream-estimate", &conn, &err);
    if (rc == 0)
        rc = export_estimate_rows(conn, kind->function, params, owner, rows, &err);
    if (pooled)
        http_dbpool_put(s->pool, conn);
    else if (conn)
        PQfinish(conn);
    if (rc < 0) {
        char ctx[EQ_LOGCTX_MAX];
        eq_logctx_format(&(eq_logctx){.owner = owner, .kind = kind->name}, ctx, sizeof ctx);
        eq_debug(ctx, "no row estimate for Prefer: respond-async: %s", err.msg);
    }
    return rc;
}

/* Prefer: respond-async in any Prefer header of the request. */
static enum MHD_Result find_prefer(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    bool *found = cls;
    (void)kind;
    if (key && strcasecmp(key, "Prefer") == 0 && http_prefers_async(value)) {
        *found = true;
        return MHD_NO;
    }
    return MHD_YES;
}

/* gzip when the client asks for it, or when the kind compresses and the
 * client did not say: an Accept-Encoding that refuses gzip (identity,
 * gzip;q=0) always gets the identity encoding, whatever the kind says. */
static bool stream_wants_gzip(const export_kind *kind, struct MHD_Connection *c)
{
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    return ae ? http_accepts_gzip(ae) : kind->options.gzip;
}

/* First call of a stream: every check, then the source connection. 0: the
 * stream is open; 1: answered otherwise (Prefer: respond-async made it a
 * job); -1: p set. */
static int stream_open(http_server *s, struct MHD_Connection *c, http_req *r, http_problem *p)
{
    bool async = false;
    arg_collect a = {.params = json_object(), .p = p};
    export_kind kind;
    PGconn *conn = NULL;
    char *params = NULL;
    char ctx[EQ_LOGCTX_MAX];
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

    MHD_get_connection_values(c, MHD_HEADER_KIND, find_prefer, &async);

    /* the caps, before any connection is opened (with Prefer: respond-async,
     * once the kind and format are known: a refused stream becomes a job) */
    if (!async && caps_take(s, r, p) < 0)
        goto out;

    if (http_dbpool_get(s->pool, &conn, &err) < 0 || export_kind_get(conn, r->route.kind, &kind, &err) < 0) {
        if (err.code == EQ_ERR_NOT_FOUND || err.code == EQ_ERR_INVALID)
            http_problem_set(p, 400, "unknown_kind", "unknown export kind '%s'", r->route.kind);
        else
            http_problem_from_err(p, r, &err);
        goto out;
    }
    http_dbpool_put(s->pool, conn);
    conn = NULL;

    /* the format: Accept with q-values among the kind's formats; none or
     * star/star = the kind's default; nothing acceptable = 406 */
    {
        export_format f;
        if (export_format_negotiate(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT),
                                    kind.options.formats, kind.options.format, &f) < 0) {
            char offered[96] = "";
            for (int i = 0; i < EXPORT_FORMAT_COUNT; i++) {
                if (kind.options.formats & EXPORT_FORMAT_BIT(i)) {
                    size_t n = strlen(offered);
                    snprintf(offered + n, sizeof offered - n, "%s%s", n ? ", " : "",
                             export_format_mime((export_format)i));
                }
            }
            http_problem_set(p, 406, "not_acceptable", "kind '%s' offers none of the types in Accept (it offers: %s)",
                             kind.name, offered);
            goto out;
        }
        kind.options.format = f;
        r->stream_format = (int)f;
    }
    /* Content-Encoding: gzip makes the representation gzip; what the user
     * saves is the file, so the file name is the uncompressed one (xlsx is
     * a zip already: never gzipped) */
    r->stream_gzip = export_format_has_gzip(kind.options.format) && stream_wants_gzip(&kind, c);
    {
        export_kind plain = kind;
        plain.options.gzip = false;
        if (export_kind_filename(&plain, r->filename, sizeof r->filename, &err) < 0)
            snprintf(r->filename, sizeof r->filename, "export%s", export_format_extension(kind.options.format));
    }
    params = json_dumps(a.params, JSON_COMPACT);
    if (!params) {
        http_problem_set(p, 500, "internal", "out of memory");
        goto out;
    }
    if (async) {
        const char *why = NULL;
        long long rows = 0;
        if (s->cfg->stream_max_rows > 0 && estimate_rows(s, &kind, params, r->owner, &rows) == 0 &&
            rows > s->cfg->stream_max_rows)
            why = "the planner estimates more than EXPORTQ_STREAM_MAX_ROWS rows";
        else if (caps_take(s, r, p) < 0) {
            if (p->status != 429)
                goto out;
            why = p->code; /* too_many_streams, too_many_owner_streams */
        }
        if (why) {
            char *job_params = NULL;
            http_stream_release(s, r); /* no slot is kept for a job */
            if (http_params_bind_owner(a.params, r->owner, p) < 0)
                goto out;
            job_params = json_dumps(a.params, JSON_COMPACT);
            if (!job_params) {
                http_problem_set(p, 500, "internal", "out of memory");
                goto out;
            }
            (void)http_jobs_accept_async(s, c, r, kind.name, job_params, export_format_name(kind.options.format),
                                         why);
            free(job_params);
            rc = 1;
            goto out;
        }
    }
    eq_logctx_format(&(eq_logctx){.owner = r->owner, .kind = kind.name, .format = export_format_name(kind.options.format)},
                     ctx, sizeof ctx);
    if (http_stream_start(s->cfg->source_database_url ? s->cfg->source_database_url : s->cfg->database_url,
                          &kind, params, r->owner, r->stream_gzip, s->cfg->tmpdir, ctx, &r->stream, &err) < 0) {
        http_problem_from_err(p, r, &err);
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

static enum MHD_Result stream_respond(struct MHD_Connection *c, http_req *r)
{
    struct MHD_Response *resp;
    char disp[EXPORT_KIND_FILENAME_MAX * 4 + 128];
    resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, http_stream_reader, r->stream, NULL);
    if (!resp)
        return MHD_NO;
    {
        export_format f = (export_format)r->stream_format;
        char ctype[128];
        snprintf(ctype, sizeof ctype, "%s%s", export_format_mime(f),
                 f == EXPORT_FORMAT_CSV || f == EXPORT_FORMAT_TSV ? "; charset=utf-8" : "");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    }
    if (http_content_disposition(r->filename, disp, sizeof disp) == 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    if (r->stream_gzip)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    return http_respond_stage(r, 200, resp);
}

/* Frees the stream and its connection now (an error before the headers). */
static void stream_abandon(http_server *s, http_req *r)
{
    http_stream_finish(r->stream, false, &s->metrics);
    r->stream = NULL;
}

void http_stream_open(http_server *s, struct MHD_Connection *c, http_req *r)
{
    http_problem p;
    if (stream_open(s, c, r, &p) >= 0)
        return;
    if (p.status == 429)
        (void)http_respond_429(c, r, p.code, HTTP_RETRY_AFTER_STREAMS, p.message);
    else
        (void)http_respond_problem(c, r, &p);
}

enum MHD_Result http_stream_handle(http_server *s, struct MHD_Connection *c, http_req *r)
{
    http_problem p;
    eq_err err;
    int rc;
    eq_err_clear(&err);
    if (!r->stream) {
        http_problem_set(&p, 500, "internal", "internal error");
        return http_respond_problem(c, r, &p);
    }
    if (http_stream_client_gone(r->stream))
        return MHD_NO; /* closes the connection; on_completed cancels */
    if (atomic_load(&s->stopping)) {
        stream_abandon(s, r);
        http_problem_set(&p, 503, "unavailable", "the server is stopping");
        return http_respond_problem(c, r, &p);
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
            http_problem_from_err(&p, r, &err);
        } else {
            char ctx[EQ_LOGCTX_MAX];
            eq_logctx_format(&(eq_logctx){.owner = r->owner, .kind = r->route.kind}, ctx, sizeof ctx);
            eq_warn(ctx, "stream refused: %s", err.msg);
            http_problem_set(&p, 400, "export_failed", "the export query failed: %s", err.msg);
        }
        return http_respond_problem(c, r, &p);
    }
    return stream_respond(c, r);
}
