/* http_dbpool.h - a small bounded pool of queue-database connections for the
 * API's JSON endpoints (MHD calls handlers from several threads).
 *
 * At most `size` connections exist; they are opened lazily and kept. A caller
 * borrows one with http_dbpool_get() and must hand it back with
 * http_dbpool_put() (broken connections are closed there and reopened on a
 * later get). When all are borrowed, get waits up to `wait_ms` and then fails
 * with EQ_ERR_LIMIT; when the database cannot be reached it fails with a
 * retryable EQ_ERR_DB (the API answers 503 for both).
 *
 * The pool owns its connections; http_dbpool_free() closes them (borrowed
 * ones must have been returned) and accepts NULL.
 */
#ifndef EXPORTQ_HTTP_DBPOOL_H
#define EXPORTQ_HTTP_DBPOOL_H

#include <libpq-fe.h>

#include "common/error.h"

typedef struct http_dbpool http_dbpool;

/* Copies url. Opens nothing yet. */
int http_dbpool_new(const char *url, int size, int wait_ms, http_dbpool **out, eq_err *err) EQ_MUST;
void http_dbpool_free(http_dbpool *pool);

int http_dbpool_get(http_dbpool *pool, PGconn **conn, eq_err *err) EQ_MUST;
/* Returns a borrowed connection (NULL is ignored). */
void http_dbpool_put(http_dbpool *pool, PGconn *conn);

#endif
