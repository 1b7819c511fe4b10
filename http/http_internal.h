/* http_internal.h - what the files of http/ share behind http_server.h; not
 * for other folders (they use http_server.h).
 *
 *   http_server.c          the MHD daemon, request life (first call, body,
 *                          dispatch, completion) and the draining stop
 *   http_respond.c         JSON and error responses
 *   http_auth.c            bearer token -> owner (exportq's tokens, or JWTs by
 *                          http_jwt.h), and the per-token rate limit
 *   http_ops.c             GET /healthz and GET /metrics
 *   http_jobs.c            /v1/exports and /v1/exports/{id}[/download]
 *   http_links.c           stable signed links: download?t= and the URLs
 *   http_admin.c           the operator: admin token / session cookie, CSRF,
 *                          the job actions, GET /admin and its forms
 *                          (rendered by http_admin_page.c, http_admin_chart.c)
 *   http_admin_api.c       /v1/admin/... (JSON)
 *   http_pages.c           the status page /exports/{id}?t= and its JSON
 *   http_stream_handler.c  GET /v1/stream/{kind} (the checks, the cap, the
 *                          response); http_stream.c is the streaming engine
 *
 * Ownership: the server owns every member of struct http_server; an http_req
 * lives from the first call of a request to on_completed() (http_server.c)
 * and owns its body buffer and its stream.
 */
#ifndef EXPORTQ_HTTP_INTERNAL_H
#define EXPORTQ_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/error.h"
#include "export/export_kind.h"
#include "http/http_dbpool.h"
#include "http/http_jwt.h"
#include "http/http_metrics.h"
#include "http/http_ratelimit.h"
#include "http/http_request.h"
#include "http/http_route.h"
#include "http/http_server.h"
#include "http/http_slots.h"
#include "http/http_stream.h"
#include "http/http_tasks.h"
#include "http/http_watch.h"
#include "queue/queue.h"
#include "s3/s3_client.h"

#define HTTP_RETRY_AFTER_STREAMS "1"
#define HTTP_RETRY_AFTER_UNAVAILABLE "5"

/* Streams per owner now (EXPORTQ_MAX_STREAMS_PER_OWNER); n == 0 is free. */
typedef struct http_owner_streams {
    char owner[QUEUE_OWNER_MAX];
    int n;
} http_owner_streams;

typedef struct http_status_cache http_status_cache;

struct http_server {
    const eq_config *cfg;
    struct MHD_Daemon *daemon;
    http_dbpool *pool;
    http_tasks *api;            /* database work of the API (auth, handlers, stream set-up) */
    http_tasks *health;         /* /healthz, with its own connection */
    http_dbpool *health_pool;   /* one connection, used by the one health thread */
    http_slots *slots;          /* the cluster-wide stream cap (advisory locks) */
    http_owner_streams *owners; /* cfg->max_streams entries */
    pthread_mutex_t owners_lock;
    bool owners_lock_ready;
    http_ratelimit *rl;
    http_jwt_keys *jwt;          /* NULL: JWTs not configured; swapped on SIGHUP under jwt_lock */
    pthread_rwlock_t jwt_lock;
    bool jwt_lock_ready;
    http_jwt_rules jwt_rules;    /* points into cfg */
    http_watch *watch;
    http_status_cache *status_cache; /* http_pages.c */
    s3_client *s3;
    pthread_mutex_t s3_lock; /* an s3_client is not thread-safe */
    bool s3_lock_ready;
    http_metrics metrics;
    atomic_bool stopping;
    bool quiesced;
    uint16_t port;
};

typedef enum http_phase {
    HTTP_PHASE_HEADERS = 0, /* first call done; body may follow */
    HTTP_PHASE_TASK,        /* suspended, a task thread runs the handler */
    HTTP_PHASE_RESUMED,     /* the task is done; back on MHD's thread */
} http_phase;

typedef struct http_req {
    http_server *server;
    struct MHD_Connection *conn;
    http_phase phase;
    struct MHD_Response *resp; /* staged, queued by on_request (MHD's thread) */
    bool queued;               /* a response was queued */
    bool owner_slot;           /* counted in server->owners */
    http_route route;
    int route_status;
    eq_buf body;
    bool too_large;
    char owner[QUEUE_OWNER_MAX];
    long long token_id;  /* exportq's own token; 0 for a JWT */
    bool via_jwt;        /* authenticated by a JWT */
    bool admin;          /* the JWT's EXPORTQ_JWT_ADMIN_CLAIM is true */
    char jwt_email[EQ_EMAIL_MAX_BYTES + 1]; /* with EXPORTQ_JWT_EMAIL_CLAIM: the recipient ("" = none) */
    int status; /* the status queued, 0 = none yet */
    http_stream *stream;
    bool stream_slot; /* counted in metrics.streams_active */
    int cluster_slot; /* held in server->slots (EXPORTQ_MAX_STREAMS cluster-wide); -1 = none */
    bool stream_gzip;
    int stream_format;   /* export_format negotiated from Accept */
    char filename[EXPORT_KIND_FILENAME_MAX + 1];
    char method[8];
    char path[160];
} http_req;

/* ---- http_respond.c ----
 * Handlers run on task threads, where MHD does not allow queueing a response:
 * they stage it in r (resp, status) and on_request() queues it on MHD's
 * thread once the connection is resumed. */

/* Stages a response; takes `body` (malloc'ed, may be NULL when len is 0).
 * hdrs: NULL or name, value, ..., NULL. Sets r->status. */
enum MHD_Result http_respond(struct MHD_Connection *c, http_req *r, int status, const char *ctype, char *body,
                             size_t len, const char *const *hdrs);

/* A presigned GET of a succeeded job's object (its file name as the
 * download name) valid `ttl` seconds, never past the object's retention and
 * (s3_presign_get) never past the credentials' life. *url is malloc'ed. */
int http_presign_job(http_server *s, const queue_status_row *row, long ttl, char **url, eq_err *err) EQ_MUST;
/* 302 to a presigned URL of the job's object (http_presign_job, ttl):
 * Location and {"download_url": URL}; the problem when presigning fails. The
 * one answer of GET /v1/exports/{id}/download and of the stable link. */
enum MHD_Result http_respond_presigned(http_server *s, struct MHD_Connection *c, http_req *r,
                                       const queue_status_row *row, long ttl);

/* An HTML page (the pages' one rule for their headers): `csp` as
 * Content-Security-Policy, Referrer-Policy: no-referrer (a page URL may carry
 * a link token), X-Robots-Tag: noindex, X-Frame-Options: DENY unless
 * `framable`, then the NULL-terminated name/value pairs of `extra`. Takes the
 * page's bytes (page is emptied). */
enum MHD_Result http_respond_html(struct MHD_Connection *c, http_req *r, int status, eq_buf *page, const char *csp,
                                  bool framable, const char *const *extra);
/* Stages resp (taken) with status. */
enum MHD_Result http_respond_stage(http_req *r, int status, struct MHD_Response *resp);
/* Takes the reference to doc. */
enum MHD_Result http_respond_json(struct MHD_Connection *c, http_req *r, int status, json_t *doc,
                                  const char *const *hdrs);
/* The JSON error, with WWW-Authenticate (401), Allow (405), Retry-After (503). */
enum MHD_Result http_respond_problem(struct MHD_Connection *c, http_req *r, const http_problem *p);
/* 429 with Retry-After (rate limit, stream cap). */
enum MHD_Result http_respond_429(struct MHD_Connection *c, http_req *r, const char *code,
                                 const char *retry_after, const char *msg);
/* Maps an internal error to what a client may know: 503 when the database
 * (or the pool) is unavailable, 500 otherwise. The details go to the log. */
void http_problem_from_err(http_problem *p, const http_req *r, const eq_err *err);

/* ---- http_auth.c ---- */

/* The rate limit, before any database work: keyed by the bearer token's
 * hash (or "anonymous"), so a bad token repeated costs no query once its
 * bucket is empty. Returns true when a 429 was staged. */
bool http_auth_ratelimit(http_server *s, struct MHD_Connection *c, http_req *r);
/* Bearer token -> owner (task thread): exportq's own token (a query), or a
 * JWT when configured (no query; then also the per-owner rate limit).
 * Returns true when an error was staged, false to go on with r->owner set. */
bool http_auth_owner(http_server *s, struct MHD_Connection *c, http_req *r);
/* /metrics with EXPORTQ_METRICS_TOKEN set: true when a 401 was staged. */
bool http_auth_metrics(http_server *s, struct MHD_Connection *c, http_req *r);

/* ---- http_ops.c ---- */

enum MHD_Result http_ops_healthz(http_server *s, struct MHD_Connection *c, http_req *r);
enum MHD_Result http_ops_metrics(http_server *s, struct MHD_Connection *c, http_req *r);

/* ---- http_jobs.c ---- */

enum MHD_Result http_jobs_create(http_server *s, struct MHD_Connection *c, http_req *r);
enum MHD_Result http_jobs_list(http_server *s, struct MHD_Connection *c, http_req *r);
/* GET, DELETE /v1/exports/{id}, POST /v1/exports/{id}/retry, GET /v1/exports/{id}/download. */
enum MHD_Result http_jobs_show(http_server *s, struct MHD_Connection *c, http_req *r);
/* A stream that Prefer: respond-async turns into a job: enqueued for
 * r->owner (params_json with the owner bound), 202 + Location +
 * Preference-Applied. `why` goes to the log. */
enum MHD_Result http_jobs_accept_async(http_server *s, struct MHD_Connection *c, http_req *r, const char *kind,
                                       const char *params_json, const char *format, const char *why);

/* ---- http_links.c ---- */

/* True for GET /v1/exports/{id}/download?t=...: the link token is the
 * credential (no bearer token is looked at). */
bool http_links_request(struct MHD_Connection *c, const http_req *r);
/* The redirect of a stable link (task thread). */
enum MHD_Result http_links_download(http_server *s, struct MHD_Connection *c, http_req *r);
/* With links configured: status_url (always) and download_url (when
 * with_download) into the job's JSON. -1 on failure. */
int http_links_add(http_server *s, const queue_status_row *row, json_t *doc, bool with_download) EQ_MUST;

/* ---- http_admin.c, http_admin_api.c ---- */

typedef enum http_admin_auth {
    HTTP_ADMIN_OFF = 0, /* no EXPORTQ_ADMIN_TOKEN and no admin JWTs: the admin routes are 404 */
    HTTP_ADMIN_NONE,    /* no credential */
    HTTP_ADMIN_REFUSED, /* a credential, not the admin's */
    HTTP_ADMIN_BEARER,  /* Authorization: Bearer with the admin token, or a JWT whose admin claim is true */
    HTTP_ADMIN_COOKIE,  /* the login form's session cookie (cookie_ok only) */
} http_admin_auth;

/* Who asks (task thread, no query); csrf[HTTP_MAC_HEX] gets the CSRF token
 * of the session (or of Bearer use), "" otherwise. */
http_admin_auth http_admin_identify(http_server *s, struct MHD_Connection *c, http_req *r, bool cookie_ok,
                                    char *csrf);
/* cancel (queued, running), retry (failed, cancelled) or revoke (succeeded:
 * the object is deleted, state expired) job id: *ok = false when its state
 * does not allow it; EQ_ERR_NOT_FOUND when there is no job. */
int http_job_action(http_server *s, PGconn *conn, long long id, http_action act, bool *ok, eq_err *err) EQ_MUST;
/* /admin, /admin/login, /admin/logout, /admin/exports/{id}/{action}. */
enum MHD_Result http_admin_handle(http_server *s, struct MHD_Connection *c, http_req *r);
/* /v1/admin/exports[/{id}[/retry]], /v1/admin/summary (Bearer only). */
enum MHD_Result http_admin_api(http_server *s, struct MHD_Connection *c, http_req *r);

/* ---- http_pages.c ---- */

/* The status JSON of each job for about a second (many pages, one query). */
http_status_cache *http_status_cache_new(void);
void http_status_cache_free(http_status_cache *c);

/* /exports/{id}?t=, /exports/{id}/status?t=, POST /exports/{id}/cancel?t=. */
enum MHD_Result http_pages_handle(http_server *s, struct MHD_Connection *c, http_req *r);

/* ---- http_stream_handler.c ---- */

/* Task thread: every check (kind, parameters, stream caps), then the stream
 * and its source connection (r->stream); an error is staged instead. */
void http_stream_open(http_server *s, struct MHD_Connection *c, http_req *r);
/* MHD's thread, once opened: waits for the first row (suspending) and stages
 * the 200; called again after each resume until answered. */
enum MHD_Result http_stream_handle(http_server *s, struct MHD_Connection *c, http_req *r);
/* on_completed: frees the owner's slot. */
void http_stream_release(http_server *s, http_req *r);

#endif
