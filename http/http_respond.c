/* http_respond.c - see http_internal.h: JSON and error responses. */
#include "http/http_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log_ctx.h"
#include "common/log.h"

/* Stages a response (http_internal.h); takes `body`. */
enum MHD_Result http_respond(struct MHD_Connection *c, http_req *r, int status, const char *ctype, char *body,
                             size_t len, const char *const *hdrs)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    (void)c;
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
    return http_respond_stage(r, status, resp);
}

enum MHD_Result http_respond_stage(http_req *r, int status, struct MHD_Response *resp)
{
    if (r->resp) /* one answer per request: the last one wins */
        MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = status;
    return MHD_YES;
}

/* Takes the reference to doc. */
enum MHD_Result http_respond_json(struct MHD_Connection *c, http_req *r, int status, json_t *doc,
                                  const char *const *hdrs)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    size_t len;
    json_decref(doc);
    if (!body) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        body = strdup(oom);
        return http_respond(c, r, 500, "application/json", body, body ? strlen(body) : 0, NULL);
    }
    len = strlen(body);
    return http_respond(c, r, status, "application/json", body, len, hdrs);
}

enum MHD_Result http_respond_problem(struct MHD_Connection *c, http_req *r, const http_problem *p)
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
        hdrs[n++] = HTTP_RETRY_AFTER_UNAVAILABLE;
    }
    return http_respond(c, r, p->status, "application/json", body, body ? strlen(body) : 0, hdrs);
}

/* 429 with Retry-After (rate limit, stream cap). */
enum MHD_Result http_respond_429(struct MHD_Connection *c, http_req *r, const char *code,
                                 const char *retry_after, const char *msg)
{
    http_problem p;
    const char *hdrs[] = {MHD_HTTP_HEADER_RETRY_AFTER, retry_after, NULL};
    char *body;
    http_problem_set(&p, 429, code, "%s", msg);
    body = http_problem_json(&p);
    return http_respond(c, r, 429, "application/json", body, body ? strlen(body) : 0, hdrs);
}

/* Maps an internal error to what a client may know: 503 when the database
 * (or the pool) is unavailable, 500 otherwise. The details go to the log. */
void http_problem_from_err(http_problem *p, const http_req *r, const eq_err *err)
{
    char ctx[EQ_LOGCTX_MAX];
    eq_logctx_format(&(eq_logctx){.owner = r->owner[0] ? r->owner : "-"}, ctx, sizeof ctx);
    eq_error(ctx, "%s %s: %s", r->method, r->path, err->msg);
    if (err->code == EQ_ERR_DB || err->code == EQ_ERR_LIMIT)
        http_problem_set(p, 503, "unavailable", "the database is unavailable; try again later");
    else
        http_problem_set(p, 500, "internal", "internal error");
}

enum MHD_Result http_respond_html(struct MHD_Connection *c, http_req *r, int status, eq_buf *page, const char *csp,
                                  bool framable, const char *const *extra)
{
    const char *hdrs[16];
    size_t n = 0;
    char *body = page->data;
    size_t len = page->len;

    hdrs[n++] = "Content-Security-Policy";
    hdrs[n++] = csp;
    hdrs[n++] = "Referrer-Policy";
    hdrs[n++] = "no-referrer";
    hdrs[n++] = "X-Robots-Tag";
    hdrs[n++] = "noindex";
    if (!framable) {
        hdrs[n++] = "X-Frame-Options";
        hdrs[n++] = "DENY";
    }
    for (size_t i = 0; extra && extra[i] && extra[i + 1] && n + 3 < sizeof hdrs / sizeof hdrs[0]; i += 2) {
        hdrs[n++] = extra[i];
        hdrs[n++] = extra[i + 1];
    }
    hdrs[n] = NULL;
    page->data = NULL;
    eq_buf_cleanup(page);
    return http_respond(c, r, status, "text/html; charset=utf-8", body, body ? len : 0, hdrs);
}
