/* http_server.c - see http_server.h
 *
 * Request life in MHD: the access handler is called first when the headers
 * are in (route, authentication, rate limit, Content-Length: early answers
 * need no body), then once per piece of body (kept up to HTTP_BODY_MAX), then
 * with no data to dispatch. A stream that waits for its first COPY output
 * suspends the connection there; MHD calls the handler again once resumed.
 * The handlers live in the files listed in http_internal.h.
 * on_completed() ends every request: metrics, log line, stream clean-up.
 */
#include "http/http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/listen.h"
#include "common/log.h"
#include "common/log_ctx.h"
#include "http/http_cors.h"
#include "http/http_internal.h"
#include "http/http_openapi.h"

#define DB_POOL_SIZE 8
#define DB_POOL_WAIT_MS 5000
#define MHD_THREADS 4
#define RATELIMIT_KEYS 4096
#define TASK_QUEUE_MAX 1024     /* API requests waiting for a task thread; more are 503 */
#define HTTP_REQUEST_TIMEOUT 60 /* seconds idle once the headers are in */
#define FD_HEADROOM 256         /* descriptors besides client connections */

/* ---- MHD callbacks -------------------------------------------------------------- */

/* A CORS preflight (OPTIONS with Access-Control-Request-Method) from a listed
 * origin on a known path: 204 with what the path allows (http_cors.h). False
 * when it is not one (then OPTIONS is 405 as any method a path does not take). */
static bool cors_preflight(http_server *s, struct MHD_Connection *c, http_req *r)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *hdrs[] = {"Access-Control-Allow-Methods", http_route_allow(r->route.endpoint),
                          "Access-Control-Allow-Headers", HTTP_CORS_ALLOW_HEADERS,
                          "Access-Control-Max-Age", HTTP_CORS_MAX_AGE, NULL};
    if (strcmp(r->method, "OPTIONS") != 0 || r->route.endpoint == HTTP_EP_NONE ||
        !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Method") ||
        !http_cors_origin_allowed(s->cfg->cors_origins, origin))
        return false;
    (void)http_respond(c, r, 204, NULL, NULL, 0, hdrs);
    return true;
}

/* Vary: Origin on every answer once origins are configured; the CORS headers
 * when the request's Origin is listed (MHD's thread, before queueing). */
static void cors_headers(http_server *s, struct MHD_Connection *c, struct MHD_Response *resp)
{
    const char *origin;
    if (!s->cfg->cors_origins)
        return;
    MHD_add_response_header(resp, "Vary", "Origin");
    origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!http_cors_origin_allowed(s->cfg->cors_origins, origin))
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", HTTP_CORS_EXPOSE_HEADERS);
}

/* GET /v1/openapi.json: the embedded document, no authentication. */
static void openapi(struct MHD_Connection *c, http_req *r)
{
    http_problem p;
    char *body = malloc(http_openapi_json_len);
    if (!body) {
        http_problem_set(&p, 500, "internal", "out of memory");
        (void)http_respond_problem(c, r, &p);
        return;
    }
    memcpy(body, http_openapi_json, http_openapi_json_len);
    (void)http_respond(c, r, 200, "application/json", body, http_openapi_json_len, NULL);
}

/* First call, headers in: what can be answered without a body or a database
 * query (route, CORS preflight, rate limit, Content-Length). Stages the answer
 * when there is one. */
static void first_call(http_server *s, struct MHD_Connection *c, http_req *r)
{
    http_problem p;
    r->route_status = http_route_match(r->method, r->path, &r->route);
    if (cors_preflight(s, c, r))
        return;
    if (r->route_status == 404) {
        http_problem_set(&p, 404, "not_found", "no such endpoint");
        (void)http_respond_problem(c, r, &p);
        return;
    }
    if (r->route_status == 405) {
        http_problem_set(&p, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", r->method,
                         http_route_allow(r->route.endpoint));
        (void)http_respond_problem(c, r, &p);
        return;
    }
    if (r->route.endpoint == HTTP_EP_HEALTHZ)
        return;
    if (r->route.endpoint == HTTP_EP_OPENAPI) {
        openapi(c, r);
        return;
    }
    if (r->route.endpoint == HTTP_EP_METRICS) {
        (void)http_auth_metrics(s, c, r);
        return;
    }
    if (http_auth_ratelimit(s, c, r))
        return;
    if (r->route.method == HTTP_M_POST) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && (strlen(cl) > 9 || strtol(cl, NULL, 10) > HTTP_BODY_MAX)) {
            http_problem_set(&p, 413, "body_too_large", "request body is larger than %d bytes",
                             HTTP_BODY_MAX);
            (void)http_respond_problem(c, r, &p);
        }
    }
}

/* A task thread: the database part of a request. Stages the answer (or, for
 * a stream, opens it), then gives the connection back to MHD. */
static void run_task(void *arg)
{
    http_req *r = arg;
    http_server *s = r->server;
    struct MHD_Connection *c = r->conn;
    http_problem p;
    if (atomic_load(&s->stopping)) {
        http_problem_set(&p, 503, "unavailable", "the server is stopping");
        (void)http_respond_problem(c, r, &p);
    } else {
        switch (r->route.endpoint) {
        case HTTP_EP_HEALTHZ:
            (void)http_ops_healthz(s, c, r);
            break;
        case HTTP_EP_METRICS:
            (void)http_ops_metrics(s, c, r);
            break;
        case HTTP_EP_EXPORTS:
        case HTTP_EP_EXPORT:
        case HTTP_EP_EXPORT_DOWNLOAD:
        case HTTP_EP_EXPORT_RETRY:
        case HTTP_EP_STREAM:
            if (http_links_request(c, r)) {
                (void)http_links_download(s, c, r);
                break;
            }
            if (http_auth_owner(s, c, r))
                break;
            if (r->route.endpoint == HTTP_EP_STREAM)
                http_stream_open(s, c, r);
            else if (r->route.endpoint == HTTP_EP_EXPORTS)
                (void)(r->route.method == HTTP_M_POST ? http_jobs_create(s, c, r) : http_jobs_list(s, c, r));
            else
                (void)http_jobs_show(s, c, r);
            break;
        case HTTP_EP_ADMIN:
        case HTTP_EP_ADMIN_LOGIN:
        case HTTP_EP_ADMIN_LOGOUT:
        case HTTP_EP_ADMIN_ACTION:
            (void)http_admin_handle(s, c, r);
            break;
        case HTTP_EP_ADMIN_EXPORTS:
        case HTTP_EP_ADMIN_EXPORT:
        case HTTP_EP_ADMIN_RETRY:
        case HTTP_EP_ADMIN_SUMMARY:
            (void)http_admin_api(s, c, r);
            break;
        case HTTP_EP_PAGE:
        case HTTP_EP_PAGE_STATUS:
        case HTTP_EP_PAGE_CANCEL:
            (void)http_pages_handle(s, c, r);
            break;
        case HTTP_EP_OPENAPI: /* answered at the first call */
        case HTTP_EP_NONE:
        case HTTP_EP_COUNT:
            http_problem_set(&p, 404, "not_found", "no such endpoint");
            (void)http_respond_problem(c, r, &p);
            break;
        }
    }
    r->phase = HTTP_PHASE_RESUMED;
    MHD_resume_connection(c);
}

/* Last call, body in: hands the request to a task thread (the connection is
 * suspended meanwhile), or answers at once when there is no room. */
static void dispatch(http_server *s, struct MHD_Connection *c, http_req *r)
{
    http_problem p;
    http_tasks *pool = r->route.endpoint == HTTP_EP_HEALTHZ ? s->health : s->api;
    if (r->too_large) {
        http_problem_set(&p, 413, "body_too_large", "request body is larger than %d bytes", HTTP_BODY_MAX);
        (void)http_respond_problem(c, r, &p);
        return;
    }
    r->phase = HTTP_PHASE_TASK;
    MHD_suspend_connection(c);
    if (http_tasks_submit(pool, run_task, r))
        return;
    MHD_resume_connection(c);
    r->phase = HTTP_PHASE_RESUMED;
    http_problem_set(&p, 503, "unavailable", "the server is busy; try again later");
    (void)http_respond_problem(c, r, &p);
}

/* Queues the staged response, if any (MHD's thread). */
static enum MHD_Result queue_staged(struct MHD_Connection *c, http_req *r)
{
    enum MHD_Result ret;
    if (!r->resp)
        return MHD_YES;
    cors_headers(r->server, c, r->resp);
    ret = MHD_queue_response(c, (unsigned)r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    r->queued = true;
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server *s = cls;
    http_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->server = s;
        r->conn = c;
        r->cluster_slot = -1;
        eq_buf_init(&r->body, HTTP_BODY_MAX);
        snprintf(r->method, sizeof r->method, "%s", method ? method : "");
        snprintf(r->path, sizeof r->path, "%s", url ? url : "");
        *con_cls = r;
        /* headers are in: from now on the request has the normal timeout
         * (the short one covered the header phase) */
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HTTP_REQUEST_TIMEOUT);
        first_call(s, c, r);
        return queue_staged(c, r);
    }
    if (r->queued || r->resp) { /* answered early: drop any body */
        *upload_data_size = 0;
        return queue_staged(c, r);
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
    if (r->phase == HTTP_PHASE_HEADERS) {
        dispatch(s, c, r);
        return queue_staged(c, r);
    }
    if (r->phase == HTTP_PHASE_TASK) /* not resumed yet (should not be called) */
        return MHD_YES;
    if (r->route.endpoint == HTTP_EP_STREAM && r->stream) {
        enum MHD_Result ret = http_stream_handle(s, c, r);
        return ret == MHD_YES ? queue_staged(c, r) : ret;
    }
    return MHD_NO; /* the task could not stage an answer (out of memory): close */
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_req *r = *con_cls;
    char ctx[EQ_LOGCTX_MAX];
    if (!r)
        return;
    *con_cls = NULL;
    if (r->resp)
        MHD_destroy_response(r->resp);
    if (r->stream)
        http_stream_finish(r->stream, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, &s->metrics);
    http_stream_release(s, r);
    http_metrics_request(&s->metrics, r->status ? r->status : 499);
    eq_logctx_format(&(eq_logctx){.owner = r->owner[0] ? r->owner : "-"}, ctx, sizeof ctx);
    eq_log(r->route.endpoint == HTTP_EP_STREAM || r->status >= 500 ? EQ_LOG_INFO : EQ_LOG_DEBUG, ctx,
           "%s %s -> %d%s", r->method, r->path, r->status,
           toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    eq_buf_cleanup(&r->body);
    free(r);
    /* idle between requests (keep-alive): the short timeout again */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)s->cfg->http_header_timeout);
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

/* Raises the soft RLIMIT_NOFILE so that EXPORTQ_HTTP_MAX_CONNECTIONS fit
 * (each stream also holds a source connection); returns the connection limit
 * to give MHD, lowered (with a warning) when the hard limit is too low. */
static unsigned fd_budget(const eq_config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->http_max_connections + (rlim_t)cfg->max_streams + FD_HEADROOM;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return (unsigned)cfg->http_max_connections;
    if (rl.rlim_cur < want) {
        struct rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t fit = rl.rlim_cur > (rlim_t)cfg->max_streams + FD_HEADROOM + 16
                         ? rl.rlim_cur - (rlim_t)cfg->max_streams - FD_HEADROOM
                         : 16;
        eq_warn("component=http",
                "EXPORTQ_HTTP_MAX_CONNECTIONS=%d does not fit the open-files limit (%llu); using %llu "
                "(raise LimitNOFILE)",
                cfg->http_max_connections, (unsigned long long)rl.rlim_cur, (unsigned long long)fit);
        return (unsigned)fit;
    }
    return (unsigned)cfg->http_max_connections;
}

int http_server_new(const eq_config *cfg, http_server **out, eq_err *err)
{
    http_server *s;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    /* epoll: no FD_SETSIZE ceiling, so thousands of connections are fine */
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    unsigned max_conn;

    *out = NULL;
    if (eq_listen_parse("EXPORTQ_HTTP_LISTEN", cfg->http_listen, &ss, &sslen, err) < 0)
        return -1;
    s = calloc(1, sizeof *s);
    if (!s)
        return eq_fail(err, EQ_ERR_NOMEM, "http server: out of memory");
    s->cfg = cfg;
    atomic_init(&s->stopping, false);
    http_metrics_init(&s->metrics);
    pthread_mutex_init(&s->s3_lock, NULL);
    s->s3_lock_ready = true;
    if (http_dbpool_new(cfg->database_url, DB_POOL_SIZE, DB_POOL_WAIT_MS, &s->pool, err) < 0 ||
        http_dbpool_new(cfg->database_url, 1, DB_POOL_WAIT_MS, &s->health_pool, err) < 0)
        goto fail;
    if (http_tasks_new("api", DB_POOL_SIZE, TASK_QUEUE_MAX, &s->api, err) < 0 ||
        http_tasks_new("health", 1, TASK_QUEUE_MAX, &s->health, err) < 0)
        goto fail;
    if (http_slots_new(cfg->database_url, cfg->max_streams, &s->slots, err) < 0)
        goto fail;
    s->owners = calloc((size_t)cfg->max_streams, sizeof *s->owners);
    if (!s->owners) {
        eq_fail(err, EQ_ERR_NOMEM, "http server: out of memory");
        goto fail;
    }
    pthread_mutex_init(&s->owners_lock, NULL);
    s->owners_lock_ready = true;
    s->rl = http_ratelimit_new(cfg->rate_limit, RATELIMIT_KEYS);
    if (!s->rl) {
        eq_fail(err, EQ_ERR_NOMEM, "http server: out of memory");
        goto fail;
    }
    if (http_watch_new(cfg->max_streams + 1, &s->watch, err) < 0)
        goto fail;
    s->status_cache = http_status_cache_new();
    if (!s->status_cache) {
        eq_fail(err, EQ_ERR_NOMEM, "http server: out of memory");
        goto fail;
    }
    if (pthread_rwlock_init(&s->jwt_lock, NULL) != 0) {
        eq_fail(err, EQ_ERR_NOMEM, "http server: cannot create a lock");
        goto fail;
    }
    s->jwt_lock_ready = true;
    s->jwt_rules = (http_jwt_rules){.owner_claim = cfg->jwt_owner_claim ? cfg->jwt_owner_claim : "sub",
                                    .audience = cfg->jwt_audience,
                                    .issuer = cfg->jwt_issuer,
                                    .email_claim = cfg->jwt_email_claim,
                                    .admin_claim = cfg->jwt_admin_claim};
    if ((cfg->jwt_secret || cfg->jwt_public_keys) &&
        http_jwt_keys_load(cfg->jwt_secret, cfg->jwt_public_keys, &s->jwt, err) < 0)
        goto fail;
    if (s3_client_new(cfg, &s->s3, err) < 0)
        goto fail;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    max_conn = fd_budget(cfg);
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                                 (unsigned)MHD_THREADS, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_header_timeout,
                                 MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 (unsigned)cfg->http_max_connections_per_ip,
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

int http_server_reload_keys(http_server *s, size_t *count, eq_err *err)
{
    http_jwt_keys *fresh = NULL, *old;
    if (!s->jwt)
        return eq_fail(err, EQ_ERR_CONFIG, "no JWT keys are configured");
    if (http_jwt_keys_load(s->cfg->jwt_secret, s->cfg->jwt_public_keys, &fresh, err) < 0)
        return -1; /* the keys in use stay */
    pthread_rwlock_wrlock(&s->jwt_lock);
    old = s->jwt;
    s->jwt = fresh;
    pthread_rwlock_unlock(&s->jwt_lock);
    http_jwt_keys_free(old);
    *count = http_jwt_keys_count(fresh);
    return 0;
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
    /* ... and the tasks: each ends quickly (503) and resumes its connection */
    http_tasks_drain(s->api);
    http_tasks_drain(s->health);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    http_tasks_free(s->api);
    http_tasks_free(s->health);
    http_watch_free(s->watch);
    http_status_cache_free(s->status_cache);
    http_dbpool_free(s->pool);
    http_dbpool_free(s->health_pool);
    http_slots_free(s->slots);
    free(s->owners);
    if (s->owners_lock_ready)
        pthread_mutex_destroy(&s->owners_lock);
    http_ratelimit_free(s->rl);
    http_jwt_keys_free(s->jwt);
    if (s->jwt_lock_ready)
        pthread_rwlock_destroy(&s->jwt_lock);
    s3_client_free(s->s3);
    if (s->s3_lock_ready)
        pthread_mutex_destroy(&s->s3_lock);
    free(s);
}
