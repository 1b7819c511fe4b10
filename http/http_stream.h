/* http_stream.h - GET /v1/stream/{kind}: one export streamed from COPY to an
 * HTTP client, with backpressure and bounded memory.
 *
 *   source DB --COPY (non-blocking)--> export_filter (BOM, guard, gzip)
 *        --> pending buffer (~32 KiB + one record) --> MHD content reader
 *
 * The database is read only when the pending buffer has been taken by the
 * client (MHD calls the reader when its socket can take more), so the query
 * runs no faster than the client downloads. When the source has nothing yet,
 * the connection is suspended and handed to http_watch, which resumes it
 * when the database socket is readable or the client hangs up.
 *
 * Ownership: http_stream_start() opens the stream's own source connection and
 * returns a stream the caller owns; http_stream_free() (accepts NULL and
 * half-built streams) cancels an unfinished query, frees the COPY reader and
 * PQfinish'es the connection. The stream never owns the MHD connection, the
 * watcher or the metrics it is attached to.
 */
#ifndef EXPORTQ_HTTP_STREAM_H
#define EXPORTQ_HTTP_STREAM_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "http/http_metrics.h"
#include "http/http_watch.h"
#include "export/export_kind.h"

#define HTTP_STREAM_LOW_WATER (32 * 1024)        /* read the source while less is pending */
#define HTTP_STREAM_PENDING_MAX (16 * 1024 * 1024) /* hard cap: one huge record at most */

typedef struct http_stream http_stream;

enum { HTTP_PUMP_DATA = 1, HTTP_PUMP_WOULD_BLOCK = 2, HTTP_PUMP_DONE = 3 };

/* Opens the export (export_open: its own connection to source_url, `owner`
 * bound over params_json, the kind's COPY and filters). gzip: compress the
 * output (Content-Encoding). `ctx` is a log context ("kind=x owner=y"), copied. */
int http_stream_start(const char *source_url, const export_kind *kind, const char *params_json,
                      const char *owner, bool gzip, const char *tmpdir, const char *ctx, http_stream **out,
                      eq_err *err) EQ_MUST;

/* Moves output from the source through the filters into the pending buffer
 * until something is pending (HTTP_PUMP_DATA), the source would block with
 * nothing pending (HTTP_PUMP_WOULD_BLOCK), the export is complete with nothing
 * left (HTTP_PUMP_DONE), or it failed (-1, err set). */
int http_stream_pump(http_stream *s, eq_err *err) EQ_MUST;

/* True once the export is past its start: a data row came (not just the
 * header line), or it is complete, or a buffer's worth is pending. The server
 * waits for this before sending 200, so a query that fails at once (a kind
 * function refusing its parameters) can still be a JSON error. */
bool http_stream_started(const http_stream *s);

/* Suspends conn and asks the watcher to resume it when the source is ready
 * (or the client hangs up). Call only after HTTP_PUMP_WOULD_BLOCK, from an
 * MHD callback of that connection. */
int http_stream_suspend(http_stream *s, struct MHD_Connection *conn, http_watch *watch, eq_err *err) EQ_MUST;

/* Set by the watcher when the client hung up while suspended. */
bool http_stream_client_gone(http_stream *s);

/* The MHD content reader: cls is the http_stream, which must have been given
 * the connection, watcher and server stop flag by http_stream_attach(). */
void http_stream_attach(http_stream *s, struct MHD_Connection *conn, http_watch *watch,
                        const atomic_bool *stopping);
ssize_t http_stream_reader(void *cls, uint64_t pos, char *buf, size_t max);

/* Ends the stream's life: outcome (from how MHD completed the request) goes to
 * the metrics and the log, then the stream is freed. */
void http_stream_finish(http_stream *s, bool completed_ok, http_metrics *m);
void http_stream_free(http_stream *s);

#endif
