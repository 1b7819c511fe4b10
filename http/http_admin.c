/* http_admin.c - see http_internal.h: who is the operator (Bearer
 * EXPORTQ_ADMIN_TOKEN, or the session cookie of the login form), the CSRF
 * tokens, the job actions (cancel, retry, revoke) shared with the JSON API,
 * and the HTML routes: GET /admin, POST /admin/login, /admin/logout,
 * /admin/exports/{id}/{retry|cancel|revoke}.
 *
 * The session cookie is "EXP.NONCE.MAC": MAC = HMAC-SHA256 keyed with the
 * admin token over "exportq-admin-session", EXP and NONCE, so it expires
 * (EXPORTQ_ADMIN_SESSION_TTL) and every session ends when the token changes.
 * It is HttpOnly, SameSite=Strict, Path=/admin (Secure behind an https
 * EXPORTQ_PUBLIC_URL). The CSRF token is HMAC(token, "exportq-admin-csrf",
 * NONCE): bound to the session. The admin token is compared by digest
 * (http_secret_equal) and never logged. A JWT whose EXPORTQ_JWT_ADMIN_CLAIM is
 * true (http_jwt.h) is an admin Bearer too.
 */
#include "http/http_internal.h"

#include <netdb.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/clock.h"
#include "common/hex.h"
#include "common/id.h"
#include "common/log.h"
#include "common/log_ctx.h"
#include "http/http_admin.h"
#include "http/http_html.h"

#define COOKIE "eq_admin"
#define COOKIE_MAX 160
#define CSRF_LEN 32 /* hex digits of a CSRF token */

/* ---- identity ----------------------------------------------------------------- */

/* The key of the CSRF tokens: the admin token (stable across instances); with
 * JWT admins only, the link secret, else a random key of this process. */
static unsigned char process_key[32];
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;
static void process_key_init(void)
{
    if (RAND_bytes(process_key, sizeof process_key) != 1)
        memset(process_key, 0, sizeof process_key); /* then the tokens are guessable: but RAND never fails here */
}

static void csrf_for(const http_server *s, const char *nonce, char out[HTTP_MAC_HEX])
{
    if (s->cfg->admin_token) {
        http_mac_hex(s->cfg->admin_token, strlen(s->cfg->admin_token), "exportq-admin-csrf", nonce, out);
    } else if (s->cfg->link_secret) {
        http_mac_hex(s->cfg->link_secret, strlen(s->cfg->link_secret), "exportq-admin-csrf", nonce, out);
    } else {
        pthread_once(&process_key_once, process_key_init);
        http_mac_hex((const char *)process_key, sizeof process_key, "exportq-admin-csrf", nonce, out);
    }
    out[CSRF_LEN] = '\0';
}

/* A JWT whose EXPORTQ_JWT_ADMIN_CLAIM is true: its owner into who[]. */
static bool jwt_admin(http_server *s, const char *token, char *who, size_t whosz)
{
    http_jwt_claims claims;
    char why[160];
    int rc;
    if (!s->jwt || !s->cfg->jwt_admin_claim || !http_jwt_shaped(token))
        return false;
    pthread_rwlock_rdlock(&s->jwt_lock);
    rc = http_jwt_verify(s->jwt, &s->jwt_rules, token, (long long)time(NULL), &claims, why, sizeof why);
    pthread_rwlock_unlock(&s->jwt_lock);
    if (rc < 0 || !claims.admin) {
        eq_debug("component=admin", "JWT refused for admin: %s", rc < 0 ? why : "the admin claim is not true");
        return false;
    }
    snprintf(who, whosz, "%s", claims.owner);
    return true;
}

/* A valid session cookie: its nonce into nonce[33]. */
static bool session_valid(const http_server *s, const char *cookie, char nonce[33])
{
    char exp_s[24], mac[HTTP_MAC_HEX], body[64];
    const char *d1 = strchr(cookie, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    long long exp;
    char *end;
    if (!s->cfg->admin_token || !d1 || !d2 || (size_t)(d1 - cookie) >= sizeof exp_s || d2 - d1 - 1 != 32)
        return false;
    memcpy(exp_s, cookie, (size_t)(d1 - cookie));
    exp_s[d1 - cookie] = '\0';
    exp = strtoll(exp_s, &end, 10);
    if (*end || exp < (long long)time(NULL))
        return false;
    snprintf(body, sizeof body, "%.*s", (int)(d2 - cookie), cookie);
    http_mac_hex(s->cfg->admin_token, strlen(s->cfg->admin_token), "exportq-admin-session", body, mac);
    if (!http_secret_equal(mac, d2 + 1))
        return false;
    memcpy(nonce, d1 + 1, 32);
    nonce[32] = '\0';
    return true;
}

http_admin_auth http_admin_identify(http_server *s, struct MHD_Connection *c, http_req *r, bool cookie_ok,
                                    char *csrf)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *ck = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
    char value[COOKIE_MAX], nonce[33];
    csrf[0] = '\0';
    if (!s->cfg->admin_token && !(s->jwt && s->cfg->jwt_admin_claim))
        return HTTP_ADMIN_OFF;
    if (h) {
        char *token = malloc(HTTP_JWT_MAX + 1), who[QUEUE_OWNER_MAX + 8];
        http_admin_auth got = HTTP_ADMIN_REFUSED;
        if (token && http_bearer_token(h, token, HTTP_JWT_MAX + 1) == 0) {
            if (s->cfg->admin_token && http_secret_equal(token, s->cfg->admin_token)) {
                csrf_for(s, "bearer", csrf);
                got = HTTP_ADMIN_BEARER;
            } else if (jwt_admin(s, token, who + 4, sizeof who - 4)) {
                memcpy(who, "jwt:", 4);
                csrf_for(s, who, csrf);
                snprintf(r->owner, sizeof r->owner, "%s", who + 4); /* the access log's owner */
                got = HTTP_ADMIN_BEARER;
            }
        }
        free(token);
        return got;
    }
    if (cookie_ok && s->cfg->admin_token && ck && http_cookie_get(ck, COOKIE, value, sizeof value) == 0 &&
        session_valid(s, value, nonce)) {
        csrf_for(s, nonce, csrf);
        return HTTP_ADMIN_COOKIE;
    }
    return HTTP_ADMIN_NONE;
}

/* ---- actions ------------------------------------------------------------------ */

int http_job_action(http_server *s, PGconn *conn, long long id, http_action act, bool *ok, eq_err *err)
{
    char key[QUEUE_KEY_MAX];
    *ok = false;
    if (act == HTTP_ACT_CANCEL)
        return queue_cancel(conn, id, ok, err);
    if (act == HTTP_ACT_RETRY)
        return queue_retry(conn, id, ok, err);
    if (act != HTTP_ACT_REVOKE)
        return eq_fail(err, EQ_ERR_INVALID, "no such action");
    if (queue_revoke(conn, id, ok, key, sizeof key, err) < 0 || !*ok)
        return *ok ? -1 : 0;
    if (key[0]) {
        eq_err e2;
        int rc;
        pthread_mutex_lock(&s->s3_lock);
        rc = s3_delete_object(s->s3, key, &e2);
        pthread_mutex_unlock(&s->s3_lock);
        if (rc < 0) { /* links are 410 already; the retention sweeper deletes it later */
            char ctx[EQ_LOGCTX_MAX];
            eq_logctx_format(&(eq_logctx){.job = id}, ctx, sizeof ctx);
            eq_warn(ctx, "revoke: object not deleted yet (the retention sweep will): %s", e2.msg);
            return 0;
        }
    }
    return queue_expire_done(conn, id, err);
}

/* ---- HTML --------------------------------------------------------------------- */

static enum MHD_Result respond_page(struct MHD_Connection *c, http_req *r, int status, eq_buf *page,
                                    const char *const *extra)
{
    char hash[HTTP_CSP_HASH_MAX], csp[256];
    http_csp_hash(http_admin_css(), hash);
    snprintf(csp, sizeof csp,
             "default-src 'none'; style-src %s; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
             "base-uri 'none'",
             hash);
    return http_respond_html(c, r, status, page, csp, false, extra);
}

static enum MHD_Result login_page(struct MHD_Connection *c, http_req *r, int status, const char *msg,
                                  const char *const *extra)
{
    eq_buf page;
    eq_err err;
    eq_buf_init(&page, HTTP_HTML_MAX);
    if (http_admin_render_login(msg, &page, &err) < 0) {
        eq_buf_cleanup(&page);
        return MHD_NO;
    }
    return respond_page(c, r, status, &page, extra);
}

static enum MHD_Result redirect(struct MHD_Connection *c, http_req *r, const char *location, const char *cookie)
{
    const char *hdrs[] = {MHD_HTTP_HEADER_LOCATION, location, cookie ? MHD_HTTP_HEADER_SET_COOKIE : NULL, cookie,
                          NULL};
    return http_respond(c, r, 303, NULL, NULL, 0, hdrs);
}

static bool secure_cookies(const http_server *s)
{
    return s->cfg->public_url && strncmp(s->cfg->public_url, "https://", 8) == 0;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t outsz)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, outsz, "?");
    if (ci && ci->client_addr)
        (void)getnameinfo(ci->client_addr,
                          ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                 : sizeof(struct sockaddr_in),
                          out, (socklen_t)outsz, NULL, 0, NI_NUMERICHOST);
}

static enum MHD_Result login(http_server *s, struct MHD_Connection *c, http_req *r)
{
    char token[HTTP_TOKEN_MAX + 1], ip[64], key[80], ra[16], cookie[COOKIE_MAX + 128], body[64], mac[HTTP_MAC_HEX];
    unsigned char rnd[16];
    char nonce[33];
    int retry_after = 1;
    long long exp;
    client_ip(c, ip, sizeof ip);
    snprintf(key, sizeof key, "login:%s", ip);
    if (!http_ratelimit_take(s->rl, key, eq_now_s(), &retry_after)) {
        const char *hdrs[] = {MHD_HTTP_HEADER_RETRY_AFTER, ra, NULL};
        snprintf(ra, sizeof ra, "%d", retry_after);
        return login_page(c, r, 429, "Too many attempts; wait a minute.", hdrs);
    }
    if (!s->cfg->admin_token || http_form_get(r->body.data, r->body.len, "token", token, sizeof token) < 0 ||
        !http_secret_equal(token, s->cfg->admin_token)) {
        eq_warn("component=admin", "admin login refused from %s", ip);
        return login_page(c, r, 401, "That is not the admin token.", NULL);
    }
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return MHD_NO;
    eq_hex_encode(rnd, sizeof rnd, nonce);
    exp = (long long)time(NULL) + s->cfg->admin_session_ttl;
    snprintf(body, sizeof body, "%lld.%s", exp, nonce);
    http_mac_hex(s->cfg->admin_token, strlen(s->cfg->admin_token), "exportq-admin-session", body, mac);
    snprintf(cookie, sizeof cookie, COOKIE "=%s.%s; Path=/admin; Max-Age=%d; HttpOnly; SameSite=Strict%s", body, mac,
             s->cfg->admin_session_ttl, secure_cookies(s) ? "; Secure" : "");
    eq_info("component=admin", "admin login from %s", ip);
    return redirect(c, r, "/admin", cookie);
}

/* The flash message of ?done=ACTION&id=N or ?fail=ACTION&id=N (fixed texts:
 * nothing of the query is shown but the number). */
static const char *flash_of(struct MHD_Connection *c, char *out, size_t outsz, bool *bad)
{
    const char *done = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "done");
    const char *fail = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fail");
    const char *ids = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id");
    long long id = 0;
    const char *a = done ? done : fail;
    *bad = fail != NULL;
    if (!a)
        return NULL;
    if (ids && eq_id_parse(ids, strlen(ids), &id) < 0)
        id = 0;
    if (strcmp(a, "csrf") == 0)
        snprintf(out, outsz, "The form was out of date; nothing was done. Try again.");
    else if (strcmp(a, "retry") == 0)
        snprintf(out, outsz, done ? "Export %lld was queued again." : "Export %lld was not retried: only a failed "
                                                                      "or cancelled export can be.", id);
    else if (strcmp(a, "cancel") == 0)
        snprintf(out, outsz, done ? "Export %lld was cancelled." : "Export %lld was not cancelled: it had "
                                                                   "already finished.", id);
    else if (strcmp(a, "revoke") == 0)
        snprintf(out, outsz, done ? "Export %lld was revoked: its file is deleted and its links answer 410."
                                  : "Export %lld was not revoked: only a succeeded export can be.", id);
    else if (strcmp(a, "missing") == 0)
        snprintf(out, outsz, "There is no export %lld.", id);
    else
        return NULL;
    return out;
}

static enum MHD_Result dashboard(http_server *s, struct MHD_Connection *c, http_req *r, const char *csrf)
{
    enum { NRUN = 50, NQ = 20, NF = 20, NS = 10, NK = 256 };
    queue_status_row *rows = calloc(NRUN + NQ + NF + NS, sizeof *rows);
    queue_kind_count *kinds = calloc(NK, sizeof *kinds);
    queue_state_count states[16];
    queue_minute series[HTTP_ADMIN_SERIES];
    http_admin_view v;
    PGconn *conn = NULL;
    http_problem p;
    eq_buf page;
    eq_err err;
    char flash[160];

    memset(&v, 0, sizeof v);
    eq_buf_init(&page, HTTP_HTML_MAX);
    if (!rows || !kinds) {
        eq_fail(&err, EQ_ERR_NOMEM, "admin: out of memory");
        goto fail;
    }
    v.running = rows;
    v.queued = rows + NRUN;
    v.failed = rows + NRUN + NQ;
    v.succeeded = rows + NRUN + NQ + NF;
    if (http_dbpool_get(s->pool, &conn, &err) < 0 ||
        queue_counts(conn, states, sizeof states / sizeof states[0], &v.nstates, &err) < 0 ||
        queue_admin_counts(conn, 24, kinds, NK, &v.nkinds, &err) < 0 ||
        queue_list_all(conn, "running", NRUN, 0, rows, &v.nrunning, &err) < 0 ||
        queue_list_all(conn, "queued", NQ, 0, rows + NRUN, &v.nqueued, &err) < 0 ||
        queue_list_all(conn, "failed", NF, 0, rows + NRUN + NQ, &v.nfailed, &err) < 0 ||
        queue_list_all(conn, "succeeded", NS, 0, rows + NRUN + NQ + NF, &v.nsucceeded, &err) < 0 ||
        queue_admin_series(conn, HTTP_ADMIN_SERIES, series, HTTP_ADMIN_SERIES, &v.nseries, &err) < 0)
        goto fail;
    http_dbpool_put(s->pool, conn);
    conn = NULL;
    v.states = states;
    v.kinds = kinds;
    v.series = series;
    v.csrf = csrf;
    v.now = (long long)time(NULL);
    v.flash = flash_of(c, flash, sizeof flash, &v.flash_error);
    if (http_admin_render(&v, &page, &err) < 0)
        goto fail;
    free(rows);
    free(kinds);
    return respond_page(c, r, 200, &page, NULL);
fail:
    http_dbpool_put(s->pool, conn);
    free(rows);
    free(kinds);
    eq_buf_cleanup(&page);
    http_problem_from_err(&p, r, &err);
    return http_respond_problem(c, r, &p);
}

static enum MHD_Result action(http_server *s, struct MHD_Connection *c, http_req *r, const char *csrf)
{
    static const char *const names[] = {"", "retry", "cancel", "revoke"};
    const char *name = names[r->route.action];
    long long id = (long long)r->route.job_id;
    char got[HTTP_MAC_HEX], location[96], ctx[EQ_LOGCTX_MAX];
    PGconn *conn = NULL;
    bool ok = false;
    eq_err err;
    http_problem p;
    if (http_form_get(r->body.data, r->body.len, "csrf", got, sizeof got) < 0 || !http_secret_equal(got, csrf))
        return redirect(c, r, "/admin?fail=csrf", NULL);
    if (http_dbpool_get(s->pool, &conn, &err) < 0 || http_job_action(s, conn, id, r->route.action, &ok, &err) < 0) {
        http_dbpool_put(s->pool, conn);
        if (err.code == EQ_ERR_NOT_FOUND) {
            snprintf(location, sizeof location, "/admin?fail=missing&id=%lld", id);
            return redirect(c, r, location, NULL);
        }
        if (err.code == EQ_ERR_INVALID) {
            snprintf(location, sizeof location, "/admin?fail=%s&id=%lld", name, id);
            return redirect(c, r, location, NULL);
        }
        http_problem_from_err(&p, r, &err);
        return http_respond_problem(c, r, &p);
    }
    http_dbpool_put(s->pool, conn);
    eq_logctx_format(&(eq_logctx){.job = id}, ctx, sizeof ctx);
    if (ok)
        eq_info(ctx, "admin: %s", name);
    snprintf(location, sizeof location, "/admin?%s=%s&id=%lld", ok ? "done" : "fail", name, id);
    return redirect(c, r, location, NULL);
}

enum MHD_Result http_admin_handle(http_server *s, struct MHD_Connection *c, http_req *r)
{
    char csrf[HTTP_MAC_HEX];
    http_admin_auth who = http_admin_identify(s, c, r, true, csrf);
    if (who == HTTP_ADMIN_OFF) {
        http_problem p;
        http_problem_set(&p, 404, "not_found", "the admin pages are off (set EXPORTQ_ADMIN_TOKEN)");
        return http_respond_problem(c, r, &p);
    }
    if (r->route.endpoint == HTTP_EP_ADMIN_LOGIN)
        return login(s, c, r);
    if (who == HTTP_ADMIN_REFUSED || who == HTTP_ADMIN_NONE) {
        const char *hdrs[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"exportq-admin\"", NULL};
        return login_page(c, r, 401, who == HTTP_ADMIN_REFUSED ? "That is not the admin token." : NULL, hdrs);
    }
    if (r->route.endpoint == HTTP_EP_ADMIN_LOGOUT) {
        char got[HTTP_MAC_HEX];
        if (http_form_get(r->body.data, r->body.len, "csrf", got, sizeof got) < 0 || !http_secret_equal(got, csrf))
            return redirect(c, r, "/admin?fail=csrf", NULL);
        return redirect(c, r, "/admin", COOKIE "=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict");
    }
    if (r->route.endpoint == HTTP_EP_ADMIN_ACTION)
        return action(s, c, r, csrf);
    return dashboard(s, c, r, csrf);
}
