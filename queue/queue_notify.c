/* queue_notify.c - wake-ups: LISTEN exportq_jobs and wait for a NOTIFY with
 * poll() on the connection's socket (libpq's documented pattern). See queue.h */
#include "queue/queue.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "common/pg.h"

int queue_listen(PGconn *conn, eq_err *err)
{
    return eq_pg_exec(conn, "LISTEN exportq_jobs", "LISTEN exportq_jobs", 0, NULL, NULL, err);
}

/* Consumes every queued notification; true if there was one. */
static bool drain(PGconn *conn)
{
    PGnotify *n;
    bool any = false;
    while ((n = PQnotifies(conn)) != NULL) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

int queue_wait(PGconn *conn, int timeout_ms, bool *notified, eq_err *err)
{
    struct pollfd pfd;
    int rc;
    *notified = false;
    /* notifications may already sit in libpq's buffer (read with a result) */
    if (PQconsumeInput(conn) == 0)
        return eq_pg_fail(conn, NULL, "wait for jobs", err);
    if (drain(conn)) {
        *notified = true;
        return 0;
    }
    pfd.fd = PQsocket(conn);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd < 0)
        return eq_fail_retry(err, EQ_ERR_DB, "wait for jobs: the database connection is closed");
    rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0) {
        if (errno == EINTR)
            return 0;
        return eq_fail(err, EQ_ERR_IO, "wait for jobs: poll: %s", strerror(errno));
    }
    if (rc == 0)
        return 0;
    if (PQconsumeInput(conn) == 0)
        return eq_pg_fail(conn, NULL, "wait for jobs", err);
    *notified = drain(conn);
    return 0;
}
