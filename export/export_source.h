/* export_source.h - the asynchronous COPY ... TO STDOUT reader.
 *
 * Runs one COPY statement (export_build_copy_sql) on a connection the caller
 * owns and hands its output back one chunk at a time without ever blocking:
 *
 *   export_source_start(conn, sql, &src, &err);
 *   for (;;) {
 *       int r = export_source_read(src, &chunk, &err);
 *       if (r == EXPORT_READY)            write chunk.data/chunk.len somewhere;
 *       else if (r == EXPORT_WOULD_BLOCK) poll(PQsocket(conn), export_source_events(src));
 *       else if (r == EXPORT_DONE)        break;            // success
 *       else                              fail with err;     // r < 0
 *   }
 *   export_source_free(src);
 *
 * In COPY OUT each chunk is exactly one CSV record (a record may span lines
 * when a value holds a newline). Backpressure is the caller's: it stops
 * calling read while its sink is full, libpq stops reading the socket, and the
 * server blocks on its send. Memory: at most one chunk (one row) is held here.
 *
 * Ownership: the source borrows `conn` (never PQfinish'es it) and owns each
 * chunk until the next read or free. export_source_free() accepts NULL; it
 * cancels an unfinished query and drains the connection so that it is idle
 * and reusable (blocking until the server has stopped, normally milliseconds).
 * export_source_cancel() may be called from another thread or a signal
 * handler: it only sends a cancel request; the read loop then ends with an
 * EQ_ERR_CANCELLED error.
 */
#ifndef EXPORTQ_WORKER_EXPORT_SOURCE_H
#define EXPORTQ_WORKER_EXPORT_SOURCE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum {
    EXPORT_DONE = 0,        /* COPY finished successfully; no more chunks */
    EXPORT_READY = 1,       /* *chunk holds one record */
    EXPORT_WOULD_BLOCK = 2, /* wait for export_source_events(src) on PQsocket(conn) */
};

typedef struct export_chunk {
    const char *data; /* owned by the source; valid until the next read or free */
    size_t len;
} export_chunk;

typedef struct export_source export_source;

/* Sends `sql` (a COPY ... TO STDOUT) on `conn`, which must be idle, and puts
 * the connection in non-blocking mode until export_source_free(). */
int export_source_start(PGconn *conn, const char *sql, export_source **out, eq_err *err) EQ_MUST;

/* Whether the COPY has a header line (default true), so that
 * export_source_rows() counts data rows only. Call before the first read. */
void export_source_set_header(export_source *src, bool header);

/* Returns EXPORT_READY, EXPORT_WOULD_BLOCK, EXPORT_DONE, or -1 with err set
 * (the SQL error message; EQ_ERR_CANCELLED after export_source_cancel). */
int export_source_read(export_source *src, export_chunk *chunk, eq_err *err) EQ_MUST;

/* The poll(2) events to wait for on PQsocket(conn): POLLIN, plus POLLOUT while
 * libpq still has query bytes to send. */
short export_source_events(const export_source *src);

/* Asks the server to stop the query (PQcancel on a PGcancel made at start).
 * Async-signal-safe and thread-safe. Returns 0 when the request was sent. */
int export_source_cancel(export_source *src);

/* Data rows received so far (records minus the header line). */
uint64_t export_source_rows(const export_source *src);
/* CSV bytes received so far (header included). */
uint64_t export_source_bytes(const export_source *src);

void export_source_free(export_source *src);

#endif
