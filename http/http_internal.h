/* http_internal.h - what the files of http/ share behind http_server.h; not
 * for other folders (they use http_server.h).
 *
 *   http_server.c          the MHD daemon, request life (first call, body,
 *                          dispatch, completion) and the draining stop
 *   http_respond.c         JSON and error responses
 *   http_auth.c            bearer token -> owner, and the per-token rate limit
 *   http_ops.c             GET /healthz and GET /metrics
 *   http_jobs.c            /v1/exports and /v1/exports/{id}[/download]
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
#include "http/http_metrics.h"
#include "http/http_ratelimit.h"
#include "http/http_request.h"
#include "http/http_route.h"
#include "http/http_server.h"
#include "http/http_stream.h"
#include "http/http_watch.h"
#include "queue/queue.h"
#include "s3/s3_client.h"

#define HTTP_RETRY_AFTER_STREAMS "1"
#define HTTP_RETRY_AFTER_UNAVAILABLE "5"

struct http_server {
    const eq_config *cfg;
    struct MHD_Daemon *daemon;
    http_dbpool *pool;
    http_ratelimit *rl;
    http_watch *watch;
    s3_client *s3;
    pthread_mutex_t s3_lock; /* an s3_client is not thread-safe */
    bool s3_lock_ready;
    http_metrics metrics;
    atomic_bool stopping;
    bool quiesced;
    uint16_t port;
};

typedef struct http_req {
    http_route route;
    int route_status;
    eq_buf body;
    bool too_large;
    char owner[QUEUE_OWNER_MAX];
    long long token_id;
    int status; /* the status queued, 0 = none yet */
    http_stream *stream;
    bool stream_slot; /* counted in metrics.streams_active */
    bool stream_gzip;
    int stream_format;   /* export_format negotiated from Accept */
    char filename[EXPORT_KIND_FILENAME_MAX + 1];
    char method[8];
    char path[160];
} http_req;

/* ---- http_respond.c ---- */

/* Queues a response; takes `body` (malloc'ed, may be NULL when len is 0).
 * hdrs: NULL or name, value, ..., NULL. Sets r->status. */
enum MHD_Result http_respond(struct MHD_Connection *c, http_req *r, int status, const char *ctype, char *body,
                             size_t len, const char *const *hdrs);
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

/* Authentication and rate limit of an API request, headers in. Returns true
 * when a response was queued (*ret), false to go on with r->owner set. */
bool http_auth_gate(http_server *s, struct MHD_Connection *c, http_req *r, enum MHD_Result *ret);

/* ---- http_ops.c ---- */

enum MHD_Result http_ops_healthz(http_server *s, struct MHD_Connection *c, http_req *r);
enum MHD_Result http_ops_metrics(http_server *s, struct MHD_Connection *c, http_req *r);

/* ---- http_jobs.c ---- */

enum MHD_Result http_jobs_create(http_server *s, struct MHD_Connection *c, http_req *r);
enum MHD_Result http_jobs_list(http_server *s, struct MHD_Connection *c, http_req *r);
/* GET, DELETE /v1/exports/{id} and GET /v1/exports/{id}/download. */
enum MHD_Result http_jobs_show(http_server *s, struct MHD_Connection *c, http_req *r);

/* ---- http_stream_handler.c ---- */

/* GET /v1/stream/{kind}: called again after each resume until answered. */
enum MHD_Result http_stream_handle(http_server *s, struct MHD_Connection *c, http_req *r);

#endif
