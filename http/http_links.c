/* http_links.c - see http_internal.h: stable signed links (common/link.h).
 * GET /v1/exports/{id}/download?t=TOKEN with no other credential, and the
 * download_url / status_url of the job JSON when EXPORTQ_PUBLIC_URL and
 * EXPORTQ_LINK_SECRET are set.
 *
 * A bad link (malformed, forged, truncated, another scope, a job that does
 * not exist) is one 404 whose body says nothing about the job; a valid link
 * past its expiry (or the job's link_expires_at), or of a job cancelled,
 * failed, expired or revoked, is 410; queued or running, 409. The token is
 * never logged: the access log shows the path without its query.
 */
#include "http/http_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/link.h"
#include "common/log_ctx.h"
#include "common/log.h"
#include "export/object_key.h"
#include "s3/s3_presign.h"

bool http_links_request(struct MHD_Connection *c, const http_req *r)
{
    return r->route.endpoint == HTTP_EP_EXPORT_DOWNLOAD &&
           MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "t") != NULL;
}

int http_links_add(http_server *s, const queue_status_row *row, json_t *doc, bool with_download)
{
    char url[LINK_URL_MAX];
    long long now = (long long)time(NULL);
    int64_t exp = link_expiry(s->cfg, row->link_expires_at, now);
    if (link_url(s->cfg, LINK_SCOPE_STATUS, row->id, exp, url, sizeof url) < 0 ||
        json_object_set_new(doc, "status_url", json_string(url)) < 0)
        return -1;
    if (with_download) {
        if (link_url(s->cfg, LINK_SCOPE_DOWNLOAD, row->id, exp, url, sizeof url) < 0 ||
            json_object_set_new(doc, "download_url", json_string(url)) < 0)
            return -1;
    }
    return 0;
}

enum MHD_Result http_links_download(http_server *s, struct MHD_Connection *c, http_req *r)
{
    const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "t");
    queue_status_row *row = NULL;
    PGconn *conn = NULL;
    http_problem p;
    int64_t id = 0, exp = 0;
    long long now = (long long)time(NULL);
    char ctx[EQ_LOGCTX_MAX];
    eq_err err;
    enum MHD_Result ret;

    eq_err_clear(&err);
    /* one answer for every bad link, before any query: nothing about the job */
    if (!link_configured(s->cfg) ||
        link_token_verify(s->cfg->link_secret, strlen(s->cfg->link_secret), t, LINK_SCOPE_DOWNLOAD, &id, &exp) < 0 ||
        id != r->route.job_id) {
        http_problem_set(&p, 404, "not_found", "no such link");
        goto answer;
    }
    row = calloc(1, sizeof *row);
    if (!row) {
        http_problem_set(&p, 500, "internal", "out of memory");
        goto answer;
    }
    if (http_dbpool_get(s->pool, &conn, &err) < 0 || queue_status(conn, (long long)id, row, &err) < 0) {
        if (err.code == EQ_ERR_NOT_FOUND)
            http_problem_set(&p, 404, "not_found", "no such link");
        else
            http_problem_from_err(&p, r, &err);
        goto answer;
    }
    http_dbpool_put(s->pool, conn);
    conn = NULL;
    snprintf(r->owner, sizeof r->owner, "%s", row->owner); /* the access log's owner */
    eq_logctx_format(&(eq_logctx){.job = row->id, .owner = row->owner}, ctx, sizeof ctx);
    if (now >= exp || (row->link_expires_at > 0 && now >= row->link_expires_at)) {
        http_problem_set(&p, 410, "link_expired", "this link has expired");
        goto answer;
    }
    if (strcmp(row->state, "queued") == 0 || strcmp(row->state, "running") == 0) {
        http_problem_set(&p, 409, "not_ready", "the export is %s; try again when it has succeeded", row->state);
        goto answer;
    }
    if (strcmp(row->state, "succeeded") != 0 || !row->object_key[0] ||
        (row->expires_at > 0 && row->expires_at <= now)) {
        http_problem_set(&p, 410, "not_available", "this export is %s; it has no file",
                         strcmp(row->state, "succeeded") == 0 ? "expired" : row->state);
        goto answer;
    }
    eq_debug(ctx, "stable link: redirect to a presigned URL");
    ret = http_respond_presigned(s, c, r, row, s->cfg->presign_ttl);
    free(row);
    return ret;
answer:
    http_dbpool_put(s->pool, conn);
    free(row);
    return http_respond_problem(c, r, &p);
}
