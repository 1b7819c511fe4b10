/* http_pages.c - see http_internal.h and http_pages.h: the status page of one
 * export for the person who asked, reached by its status_url
 * (common/link.h: a token of scope "status" signing the job id and an expiry).
 *
 *   GET  /exports/{id}?t=TOKEN          the page (HTML)
 *   GET  /exports/{id}/status?t=TOKEN   its JSON, polled by the page
 *   POST /exports/{id}/cancel?t=TOKEN   its cancel form (csrf field)
 *
 * A bad token (malformed, forged, another scope or job) or a job that does
 * not exist is one 404 page saying nothing about any job, answered before
 * any query; a valid link past its expiry (or the job's link_expires_at) is
 * 410. The CSRF token of the cancel form is HMAC(EXPORTQ_LINK_SECRET,
 * "exportq-status-csrf", TOKEN): bound to the link.
 *
 * Many open pages, little database: the JSON of each job is cached for
 * CACHE_TTL_MS in a fixed table (CACHE_SLOTS slots, direct-mapped by id; while
 * one request refreshes an entry the others get the previous one), so a job
 * costs about one status query a second however many pages watch it,
 * and answers carry an ETag (304 when unchanged). The page polls as the
 * server says (poll_after: 2 s running, 2..8 s queued by position, never
 * once final), backs off on errors, and slows to 30 s in a hidden tab.
 * The token is never logged (the access log has the path without query).
 */
#include "http/http_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/link.h"
#include "common/log.h"
#include "common/log_ctx.h"
#include "http/http_html.h"
#include "http/http_pages.h"

#define CACHE_SLOTS 2048
#define CACHE_JSON_MAX 1536
#define CACHE_TTL_MS 1000

typedef struct cache_slot {
    long long id;
    long long at_ms;
    long long refreshing_ms; /* a request is refreshing it since then (0 = none) */
    long long link_expires_at;
    char etag[24];
    size_t len;
    char json[CACHE_JSON_MAX];
} cache_slot;

struct http_status_cache {
    pthread_mutex_t lock;
    cache_slot slots[CACHE_SLOTS];
};

http_status_cache *http_status_cache_new(void)
{
    http_status_cache *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->lock, NULL);
    return c;
}

void http_status_cache_free(http_status_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The entry of job id copied out: true when fresh, or stale while another
 * request is refreshing it (so a second's many polls of one job make one
 * query, not one per task thread). false: the caller refreshes it. */
static bool cache_get(http_status_cache *c, long long id, cache_slot *out)
{
    cache_slot *s = &c->slots[(unsigned long long)id % CACHE_SLOTS];
    long long now = eq_now_ms();
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    if (s->id == id) {
        hit = now - s->at_ms < CACHE_TTL_MS || (s->refreshing_ms && now - s->refreshing_ms < 2 * CACHE_TTL_MS);
        if (hit)
            *out = *s;
        else
            s->refreshing_ms = now;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

static void cache_put(http_status_cache *c, const cache_slot *in)
{
    pthread_mutex_lock(&c->lock);
    c->slots[(unsigned long long)in->id % CACHE_SLOTS] = *in;
    pthread_mutex_unlock(&c->lock);
}

static void cache_drop(http_status_cache *c, long long id)
{
    cache_slot *s = &c->slots[(unsigned long long)id % CACHE_SLOTS];
    pthread_mutex_lock(&c->lock);
    if (s->id == id)
        s->id = 0;
    pthread_mutex_unlock(&c->lock);
}

/* ---- links ---------------------------------------------------------------------- */

/* The status token of the request, verified for this job: 0, else -1 (404). */
static int verify(http_server *s, struct MHD_Connection *c, const http_req *r, const char **token, int64_t *exp)
{
    const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "t");
    int64_t id = 0;
    *token = t;
    if (!t || !link_configured(s->cfg) ||
        link_token_verify(s->cfg->link_secret, strlen(s->cfg->link_secret), t, LINK_SCOPE_STATUS, &id, exp) < 0 ||
        id != r->route.job_id)
        return -1;
    return 0;
}

static bool link_expired(int64_t exp, long long link_expires_at)
{
    long long now = (long long)time(NULL);
    return now >= exp || (link_expires_at > 0 && now >= link_expires_at);
}

/* The stable download link of a succeeded job (relative), "" otherwise. */
static void download_url(http_server *s, const queue_status_row *row, char *out, size_t outsz)
{
    char tok[LINK_TOKEN_MAX];
    long long now = (long long)time(NULL);
    out[0] = '\0';
    if (strcmp(row->state, "succeeded") != 0 || !row->object_key[0] || (row->expires_at > 0 && row->expires_at <= now))
        return;
    if (link_token_mint(s->cfg->link_secret, strlen(s->cfg->link_secret), LINK_SCOPE_DOWNLOAD, row->id,
                        link_expiry(s->cfg, row->link_expires_at, now), tok) < 0)
        return;
    snprintf(out, outsz, "/v1/exports/%lld/download?t=%s", row->id, tok);
}

/* ---- answers -------------------------------------------------------------------- */

static enum MHD_Result respond_html(http_server *s, struct MHD_Connection *c, http_req *r, int status, eq_buf *page,
                                    const char *const *extra)
{
    char sh[HTTP_CSP_HASH_MAX], ch[HTTP_CSP_HASH_MAX], csp[1024];
    http_csp_hash(http_status_js(), sh);
    http_csp_hash(http_status_css(), ch);
    snprintf(csp, sizeof csp,
             "default-src 'none'; script-src %s; style-src %s; connect-src 'self'; img-src data:; "
             "form-action 'self'; base-uri 'none'; frame-ancestors %s",
             sh, ch, s->cfg->frame_ancestors ? s->cfg->frame_ancestors : "'none'");
    return http_respond_html(c, r, status, page, csp, s->cfg->frame_ancestors != NULL, extra);
}

static enum MHD_Result gone(http_server *s, struct MHD_Connection *c, http_req *r, int status)
{
    eq_buf page;
    eq_err err;
    eq_buf_init(&page, HTTP_HTML_MAX);
    if (http_status_render_gone(status, &page, &err) < 0) {
        eq_buf_cleanup(&page);
        return MHD_NO;
    }
    return respond_html(s, c, r, status, &page, NULL);
}

static enum MHD_Result db_error(struct MHD_Connection *c, http_req *r, const eq_err *err)
{
    http_problem p;
    http_problem_from_err(&p, r, err);
    return http_respond_problem(c, r, &p);
}

/* GET /exports/{id}?t= */
static enum MHD_Result page(http_server *s, struct MHD_Connection *c, http_req *r, const char *token, int64_t exp)
{
    static const char *const notices[][2] = {{"cancelled", "You cancelled this export."},
                                             {"finished", "It had already finished: nothing was cancelled."},
                                             {"csrf", "The form was out of date: nothing was done. Try again."}};
    const char *nq = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "notice");
    queue_status_row *row = calloc(1, sizeof *row);
    char poll[LINK_TOKEN_MAX + 64], cancel[LINK_TOKEN_MAX + 64], csrf[HTTP_MAC_HEX], dl[LINK_TOKEN_MAX + 64];
    PGconn *conn = NULL;
    http_status_view v;
    eq_buf out;
    eq_err err;
    enum MHD_Result ret;
    if (!row)
        return MHD_NO;
    if (http_dbpool_get(s->pool, &conn, &err) < 0 || queue_status(conn, (long long)r->route.job_id, row, &err) < 0) {
        http_dbpool_put(s->pool, conn);
        free(row);
        return err.code == EQ_ERR_NOT_FOUND ? gone(s, c, r, 404) : db_error(c, r, &err);
    }
    http_dbpool_put(s->pool, conn);
    snprintf(r->owner, sizeof r->owner, "%s", row->owner); /* the access log's owner */
    if (link_expired(exp, row->link_expires_at)) {
        free(row);
        return gone(s, c, r, 410);
    }
    snprintf(poll, sizeof poll, "/exports/%lld/status?t=%s", row->id, token);
    snprintf(cancel, sizeof cancel, "/exports/%lld/cancel?t=%s", row->id, token);
    http_mac_hex(s->cfg->link_secret, strlen(s->cfg->link_secret), "exportq-status-csrf", token, csrf);
    csrf[32] = '\0';
    download_url(s, row, dl, sizeof dl);
    memset(&v, 0, sizeof v);
    v.row = row;
    v.poll_url = poll;
    v.cancel_url = cancel;
    v.csrf = csrf;
    v.download_url = dl[0] ? dl : NULL;
    for (size_t i = 0; nq && i < sizeof notices / sizeof notices[0]; i++)
        if (strcmp(nq, notices[i][0]) == 0)
            v.notice = notices[i][1];
    eq_buf_init(&out, HTTP_HTML_MAX);
    if (http_status_render(&v, &out, &err) < 0) {
        eq_buf_cleanup(&out);
        free(row);
        return db_error(c, r, &err);
    }
    free(row);
    ret = respond_html(s, c, r, 200, &out, NULL);
    return ret;
}

/* GET /exports/{id}/status?t= */
static enum MHD_Result status_json(http_server *s, struct MHD_Connection *c, http_req *r, int64_t exp)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    long long id = (long long)r->route.job_id;
    cache_slot *e = calloc(1, sizeof *e);
    http_problem p;
    if (!e)
        return MHD_NO;
    if (!cache_get(s->status_cache, id, e)) {
        queue_status_row *row = calloc(1, sizeof *row);
        PGconn *conn = NULL;
        eq_err err;
        char dl[LINK_TOKEN_MAX + 64], *text;
        json_t *doc;
        if (!row) {
            free(e);
            return MHD_NO;
        }
        if (http_dbpool_get(s->pool, &conn, &err) < 0 || queue_status(conn, id, row, &err) < 0) {
            http_dbpool_put(s->pool, conn);
            free(row);
            free(e);
            if (err.code == EQ_ERR_NOT_FOUND) {
                http_problem_set(&p, 404, "not_found", "no such link");
                return http_respond_problem(c, r, &p);
            }
            return db_error(c, r, &err);
        }
        http_dbpool_put(s->pool, conn);
        download_url(s, row, dl, sizeof dl);
        doc = http_status_json(row, dl[0] ? dl : NULL);
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!text || strlen(text) >= sizeof e->json) {
            free(text);
            free(row);
            free(e);
            return MHD_NO;
        }
        e->id = id;
        e->at_ms = eq_now_ms();
        e->refreshing_ms = 0;
        e->link_expires_at = row->link_expires_at;
        e->len = strlen(text);
        memcpy(e->json, text, e->len + 1);
        {
            unsigned long long h = 1469598103934665603ULL; /* FNV-1a of the body */
            for (size_t i = 0; i < e->len; i++)
                h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
            snprintf(e->etag, sizeof e->etag, "\"%016llx\"", h);
        }
        free(text);
        free(row);
        cache_put(s->status_cache, e);
    }
    if (link_expired(exp, e->link_expires_at)) {
        free(e);
        http_problem_set(&p, 410, "link_expired", "this link has expired");
        return http_respond_problem(c, r, &p);
    }
    {
        const char *hdrs[] = {MHD_HTTP_HEADER_ETAG, e->etag, "Referrer-Policy", "no-referrer", NULL};
        enum MHD_Result ret;
        if (inm && strcmp(inm, e->etag) == 0)
            ret = http_respond(c, r, 304, NULL, NULL, 0, hdrs);
        else
            ret = http_respond(c, r, 200, "application/json", strdup(e->json), e->len, hdrs);
        free(e);
        return ret;
    }
}

/* POST /exports/{id}/cancel?t= */
static enum MHD_Result cancel(http_server *s, struct MHD_Connection *c, http_req *r, const char *token, int64_t exp)
{
    char want[HTTP_MAC_HEX], got[HTTP_MAC_HEX], location[LINK_TOKEN_MAX + 96], ctx[EQ_LOGCTX_MAX];
    const char *notice = "cancelled";
    long long id = (long long)r->route.job_id;
    queue_status_row *row = calloc(1, sizeof *row);
    PGconn *conn = NULL;
    bool ok = false;
    eq_err err;
    if (!row)
        return MHD_NO;
    http_mac_hex(s->cfg->link_secret, strlen(s->cfg->link_secret), "exportq-status-csrf", token, want);
    want[32] = '\0';
    if (http_form_get(r->body.data, r->body.len, "csrf", got, sizeof got) < 0 || !http_secret_equal(got, want)) {
        notice = "csrf";
        goto back;
    }
    if (http_dbpool_get(s->pool, &conn, &err) < 0 || queue_status(conn, id, row, &err) < 0) {
        http_dbpool_put(s->pool, conn);
        free(row);
        return err.code == EQ_ERR_NOT_FOUND ? gone(s, c, r, 404) : db_error(c, r, &err);
    }
    snprintf(r->owner, sizeof r->owner, "%s", row->owner);
    if (link_expired(exp, row->link_expires_at)) {
        http_dbpool_put(s->pool, conn);
        free(row);
        return gone(s, c, r, 410);
    }
    if (queue_cancel(conn, id, &ok, &err) < 0) {
        http_dbpool_put(s->pool, conn);
        free(row);
        return err.code == EQ_ERR_NOT_FOUND ? gone(s, c, r, 404) : db_error(c, r, &err);
    }
    http_dbpool_put(s->pool, conn);
    cache_drop(s->status_cache, id);
    if (ok) {
        eq_logctx_format(&(eq_logctx){.job = id, .owner = row->owner}, ctx, sizeof ctx);
        eq_info(ctx, "export cancelled from its status page");
    } else {
        notice = "finished";
    }
back:
    free(row);
    snprintf(location, sizeof location, "/exports/%lld?t=%s&notice=%s", id, token, notice);
    {
        const char *hdrs[] = {MHD_HTTP_HEADER_LOCATION, location, "Referrer-Policy", "no-referrer", NULL};
        return http_respond(c, r, 303, NULL, NULL, 0, hdrs);
    }
}

enum MHD_Result http_pages_handle(http_server *s, struct MHD_Connection *c, http_req *r)
{
    const char *token = NULL;
    int64_t exp = 0;
    /* one answer for every bad link, before any query */
    if (verify(s, c, r, &token, &exp) < 0) {
        if (r->route.endpoint == HTTP_EP_PAGE_STATUS) {
            http_problem p;
            http_problem_set(&p, 404, "not_found", "no such link");
            return http_respond_problem(c, r, &p);
        }
        return gone(s, c, r, 404);
    }
    if (r->route.endpoint == HTTP_EP_PAGE_STATUS)
        return status_json(s, c, r, exp);
    if (r->route.endpoint == HTTP_EP_PAGE_CANCEL)
        return cancel(s, c, r, token, exp);
    return page(s, c, r, token, exp);
}
