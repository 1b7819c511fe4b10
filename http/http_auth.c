/* http_auth.c - see http_internal.h: bearer token -> owner (queue tokens),
 * the per-token rate limit (checked first, without the database) and the
 * optional /metrics token. */
#include "http/http_internal.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"

static int authenticate(http_server *s, struct MHD_Connection *c, http_req *r, http_problem *p)
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
        if (err.code == EQ_ERR_LIMIT) { /* an owner that does not fit is refused, never cut */
            eq_warn(NULL, "token refused: %s", err.msg);
            return http_problem_set(p, 401, "unauthorized", "invalid or revoked token");
        }
        http_problem_from_err(p, r, &err);
        return -1;
    }
    http_dbpool_put(s->pool, conn);
    return 0;
}

bool http_auth_ratelimit(http_server *s, struct MHD_Connection *c, http_req *r)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char hex[65], key[48], ra[16];
    int retry_after = 1;
    if (!h) /* answered 401 without a query */
        return false;
    queue_token_hash(h, hex);
    snprintf(key, sizeof key, "t:%.40s", hex);
    if (http_ratelimit_take(s->rl, key, eq_now_s(), &retry_after))
        return false;
    snprintf(ra, sizeof ra, "%d", retry_after);
    (void)http_respond_429(c, r, "rate_limited", ra, "too many requests for this token; slow down");
    return true;
}

bool http_auth_owner(http_server *s, struct MHD_Connection *c, http_req *r)
{
    http_problem p;
    if (authenticate(s, c, r, &p) == 0)
        return false;
    (void)http_respond_problem(c, r, &p);
    return true;
}

bool http_auth_metrics(http_server *s, struct MHD_Connection *c, http_req *r)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char token[HTTP_TOKEN_MAX + 1], want[65], got[65];
    http_problem p;
    if (!s->cfg->metrics_token)
        return false;
    /* compare hashes: the time taken says nothing about the token's bytes */
    queue_token_hash(s->cfg->metrics_token, want);
    if (h && http_bearer_token(h, token, sizeof token) == 0) {
        queue_token_hash(token, got);
        if (strcmp(want, got) == 0)
            return false;
    }
    http_problem_set(&p, 401, "unauthorized", "/metrics needs Authorization: Bearer with the metrics token");
    (void)http_respond_problem(c, r, &p);
    return true;
}
