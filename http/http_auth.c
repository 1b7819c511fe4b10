/* http_auth.c - see http_internal.h: bearer token -> owner (queue tokens),
 * and the per-token rate limit. */
#include "http/http_internal.h"

#include <stdio.h>

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
        http_problem_from_err(p, r, &err);
        return -1;
    }
    http_dbpool_put(s->pool, conn);
    return 0;
}

bool http_auth_gate(http_server *s, struct MHD_Connection *c, http_req *r, enum MHD_Result *ret)
{
    http_problem p;
    int retry_after = 1;
    char key[32];
    if (authenticate(s, c, r, &p) < 0) {
        *ret = http_respond_problem(c, r, &p);
        return true;
    }
    snprintf(key, sizeof key, "%lld", r->token_id);
    if (!http_ratelimit_take(s->rl, key, eq_now_s(), &retry_after)) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after);
        *ret = http_respond_429(c, r, "rate_limited", ra, "too many requests for this token; slow down");
        return true;
    }
    return false;
}
