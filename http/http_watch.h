/* http_watch.h - wakes suspended MHD connections when their database socket
 * is ready, or when their client hangs up.
 *
 * A stream whose COPY has nothing to give suspends its connection (MHD then
 * neither calls it, busy-waiting, nor watches the client socket) and hands
 * both sockets to the watcher: one thread poll(2)s every watched pair and
 * resumes the connection when the database socket is ready for `db_events`,
 * or when the client socket reports a hang-up (POLLRDHUP/POLLHUP/POLLERR);
 * then *hangup is set first, so the stream can stop at once and the query is
 * cancelled within a poll round, not at the next write.
 *
 * The watcher owns its thread and table (at most `max` entries; one per
 * stream). http_watch_free() resumes every connection still watched (MHD
 * requires that before MHD_stop_daemon), stops the thread and frees; NULL is
 * fine.
 */
#ifndef EXPORTQ_HTTP_WATCH_H
#define EXPORTQ_HTTP_WATCH_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/error.h"

typedef struct http_watch http_watch;

int http_watch_new(int max, http_watch **out, eq_err *err) EQ_MUST;
void http_watch_free(http_watch *w);

/* Call right after MHD_suspend_connection(conn). The watch is one-shot: the
 * entry is removed when the connection is resumed. Fails (EQ_ERR_LIMIT) only
 * when the table is full or the watcher is closed; the caller must then
 * resume the connection itself. */
int http_watch_add(http_watch *w, struct MHD_Connection *conn, int db_fd, short db_events, int client_fd,
                   atomic_bool *hangup, eq_err *err) EQ_MUST;

/* Shutdown: resumes every watched connection now and refuses later watches
 * (http_watch_add then fails with EQ_ERR_CANCELLED), so that no connection is
 * left suspended when MHD stops. */
void http_watch_resume_all(http_watch *w);

#endif
