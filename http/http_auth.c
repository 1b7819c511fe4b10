/* http_auth.c - see http_internal.h: bearer token -> owner (queue tokens or
 * the application's JWTs),
 * the per-token rate limit (checked first, without the database) and the
 * optional /metrics token. */
#include "http/http_internal.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

/* A JWT (http_jwt.h) -> owner, without the database; then the per-owner
 * rate limit: a gateway may mint a fresh token per request, so the bucket of
 * a JWT is its owner's ("o:" + the owner's hash), not the token's. The
 * reason of a refusal goes to the debug log, never the token. */
static int authenticate_jwt(http_server *s, struct MHD_Connection *c, http_req *r, const char *token,
                            http_problem *p)
{
    http_jwt_claims claims;
    char why[160], hex[65], key[48], ra[16];
    int rc, retry_after = 1;
    pthread_rwlock_rdlock(&s->jwt_lock);
    rc = http_jwt_verify(s->jwt, &s->jwt_rules, token, (long long)time(NULL), &claims, why, sizeof why);
    pthread_rwlock_unlock(&s->jwt_lock);
    if (rc < 0) {
        eq_debug("component=http", "JWT refused: %s", why);
        return http_problem_set(p, 401, "unauthorized", "invalid JWT: %s", why);
    }
    queue_token_hash(claims.owner, hex);
    snprintf(key, sizeof key, "o:%.40s", hex);
    if (!http_ratelimit_take(s->rl, key, eq_now_s(), &retry_after)) {
        snprintf(ra, sizeof ra, "%d", retry_after);
        (void)http_respond_429(c, r, "rate_limited", ra, "too many requests for this owner; slow down");
        return -1;
    }
    memcpy(r->owner, claims.owner, sizeof r->owner < sizeof claims.owner ? sizeof r->owner : sizeof claims.owner);
    memcpy(r->jwt_email, claims.email, sizeof r->jwt_email);
    r->admin = claims.admin;
    r->via_jwt = true;
    r->token_id = 0;
    return 0;
}

/* 0: r->owner is set; -1: p says why, or (status already staged) a 429. */
static int authenticate(http_server *s, struct MHD_Connection *c, http_req *r, http_problem *p)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char token[HTTP_JWT_MAX + 1];
    PGconn *conn = NULL;
    eq_err err;
    eq_err_clear(&err);
    if (!h)
        return http_problem_set(p, 401, "unauthorized", "missing Authorization: Bearer token");
    /* a token over HTTP_JWT_MAX bytes is refused here, before any parsing */
    if (http_bearer_token(h, token, sizeof token) < 0)
        return http_problem_set(p, 401, "unauthorized", "invalid or revoked token");
    if (!queue_token_well_formed(token)) {
        if (s->jwt && http_jwt_shaped(token))
            return authenticate_jwt(s, c, r, token, p);
        return http_problem_set(p, 401, "unauthorized", "invalid or revoked token");
    }
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
    p.status = 0;
    if (authenticate(s, c, r, &p) == 0)
        return false;
    if (p.status) /* else the 429 is staged */
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
