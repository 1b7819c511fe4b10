/* http_server.h - `exportq serve`: the HTTP API (libmicrohttpd + jansson).
 *
 *   POST /v1/exports, GET /v1/exports, GET|DELETE /v1/exports/{id},
 *   GET /v1/exports/{id}/download, GET /v1/stream/{kind}, GET /healthz,
 *   GET /metrics   (contract: DESIGN.md "HTTP API")
 *
 * What this module owns: the MHD daemon (4 epoll threads that only move bytes;
 * database work runs on task threads, http_tasks.h; suspend/resume), per-request state, authentication
 * (bearer token -> owner via queue_token_lookup), the per-token rate limit,
 * the stream cap, JSON errors and the draining stop. Handlers borrow
 * queue-database connections from a bounded pool; each stream opens its own
 * source-database connection only once it has passed every check.
 *
 * Ownership: http_server_new() keeps a pointer to `cfg` (the caller keeps it
 * alive until http_server_free()) and owns everything else it creates.
 * http_server_free() accepts NULL; it ends the streams still running (their
 * bodies end abnormally, their queries are cancelled) and stops the daemon.
 */
#ifndef EXPORTQ_HTTP_SERVER_H
#define EXPORTQ_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"

typedef struct http_server http_server;

/* Starts listening on cfg->http_listen ("host:port", "[v6]:port"; port 0
 * picks a free port: see http_server_port()). */
int http_server_new(const eq_config *cfg, http_server **out, eq_err *err) EQ_MUST;

/* The port actually bound. */
uint16_t http_server_port(const http_server *s);

/* SIGHUP: reads EXPORTQ_JWT_PUBLIC_KEYS again and swaps the JWT key set
 * (requests in progress finish with the old one). On failure the keys in use
 * stay and err says why. *count: public keys now loaded. */
int http_server_reload_keys(http_server *s, size_t *count, eq_err *err) EQ_MUST;

/* Stops accepting connections (drain); requests in progress go on. */
void http_server_quiesce(http_server *s);

/* Streams being sent now. */
int http_server_active_streams(http_server *s);

void http_server_free(http_server *s);

#endif
