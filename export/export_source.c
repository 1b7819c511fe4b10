/* export_source.c - see export_source.h */
#include "export/export_source.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pg.h"

enum { S_STARTING, S_COPYING, S_FINISHING, S_DONE, S_FAILED };

struct export_source {
    PGconn *conn;       /* borrowed */
    PGcancel *cancel;   /* owned: made at start so that cancel is signal-safe */
    char *chunk;        /* owned (PQfreemem): the record handed out last */
    int state;
    bool header;
    bool flushing;      /* libpq has unsent query bytes */
    volatile sig_atomic_t cancelled;
    uint64_t records;
    uint64_t bytes;
};

int export_source_start(PGconn *conn, const char *sql, export_source **out, eq_err *err)
{
    export_source *src;
    int f;

    *out = NULL;
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return eq_fail_retry(err, EQ_ERR_DB, "export query: no database connection");
    if (PQtransactionStatus(conn) == PQTRANS_ACTIVE)
        return eq_fail(err, EQ_ERR_CONFLICT, "export query: the connection is busy");
    if (!(src = calloc(1, sizeof *src)))
        return eq_fail(err, EQ_ERR_NOMEM, "export query: out of memory");
    src->conn = conn;
    src->header = true;
    src->state = S_STARTING;
    if (!(src->cancel = PQgetCancel(conn))) {
        eq_fail(err, EQ_ERR_DB, "export query: cannot prepare a cancel request");
        goto fail;
    }
    if (PQsetnonblocking(conn, 1) != 0) {
        eq_pg_fail(conn, NULL, "export query: non-blocking mode", err);
        goto fail;
    }
    if (!PQsendQuery(conn, sql)) {
        eq_pg_fail(conn, NULL, "export query", err);
        goto fail;
    }
    f = PQflush(conn);
    if (f < 0) {
        eq_pg_fail(conn, NULL, "export query: sending", err);
        goto fail;
    }
    src->flushing = f == 1;
    *out = src;
    return 0;
fail:
    export_source_free(src);
    return -1;
}

void export_source_set_header(export_source *src, bool header)
{
    src->header = header;
}

short export_source_events(const export_source *src)
{
    return (short)(POLLIN | (src->flushing ? POLLOUT : 0));
}

/* Fills err from a failed result; a query we cancelled is EQ_ERR_CANCELLED. */
static int result_fail(export_source *src, PGresult *res, eq_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    src->state = S_FAILED;
    if (src->cancelled && state && strcmp(state, "57014") == 0)
        return eq_fail(err, EQ_ERR_CANCELLED, "export query cancelled");
    return eq_pg_fail(src->conn, res, "export query", err);
}

/* Reads what the socket has; -1 with err on a broken connection. */
static int consume(export_source *src, eq_err *err)
{
    if (src->flushing) {
        int f = PQflush(src->conn);
        if (f < 0) {
            src->state = S_FAILED;
            return eq_pg_fail(src->conn, NULL, "export query: sending", err);
        }
        src->flushing = f == 1;
    }
    if (!PQconsumeInput(src->conn)) {
        src->state = S_FAILED;
        return eq_pg_fail(src->conn, NULL, "export query: reading", err);
    }
    return 0;
}

/* Takes the next result when libpq has it: 1 = got one (*res), 0 = would block. */
static int next_result(export_source *src, PGresult **res, eq_err *err)
{
    *res = NULL;
    if (PQisBusy(src->conn)) {
        if (consume(src, err) < 0)
            return -1;
        if (PQisBusy(src->conn))
            return 0;
    }
    *res = PQgetResult(src->conn);
    return 1;
}

int export_source_read(export_source *src, export_chunk *chunk, eq_err *err)
{
    PGresult *res;
    int r;

    chunk->data = NULL;
    chunk->len = 0;
    if (src->chunk) {
        PQfreemem(src->chunk);
        src->chunk = NULL;
    }
    for (;;) {
        switch (src->state) {
        case S_STARTING:
            if ((r = next_result(src, &res, err)) <= 0)
                return r < 0 ? -1 : EXPORT_WOULD_BLOCK;
            if (PQresultStatus(res) == PGRES_COPY_OUT) {
                PQclear(res);
                src->state = S_COPYING;
                continue;
            }
            if (!res) {
                src->state = S_FAILED;
                return eq_fail(err, EQ_ERR_DB, "export query: the server sent no result");
            }
            if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
                result_fail(src, res, err);
            } else {
                src->state = S_FAILED;
                eq_fail(err, EQ_ERR_INVALID, "export query is not a COPY ... TO STDOUT (%s)",
                        PQresStatus(PQresultStatus(res)));
            }
            PQclear(res);
            return -1;
        case S_COPYING: {
            char *buf = NULL;
            int n = PQgetCopyData(src->conn, &buf, 1);
            if (n == 0) {
                if (consume(src, err) < 0)
                    return -1;
                n = PQgetCopyData(src->conn, &buf, 1);
                if (n == 0)
                    return EXPORT_WOULD_BLOCK;
            }
            if (n > 0) {
                src->chunk = buf;
                src->records++;
                src->bytes += (uint64_t)n;
                chunk->data = buf;
                chunk->len = (size_t)n;
                return EXPORT_READY;
            }
            if (n == -2) {
                src->state = S_FAILED;
                return eq_pg_fail(src->conn, NULL, "export query: reading", err);
            }
            src->state = S_FINISHING; /* -1: end of COPY, the final result follows */
            continue;
        }
        case S_FINISHING:
            if ((r = next_result(src, &res, err)) <= 0)
                return r < 0 ? -1 : EXPORT_WOULD_BLOCK;
            if (!res) {
                src->state = S_DONE;
                return EXPORT_DONE;
            }
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                /* export_source_free() collects the terminating NULL result */
                result_fail(src, res, err);
                PQclear(res);
                return -1;
            }
            PQclear(res);
            continue; /* until PQgetResult returns NULL */
        case S_DONE:
            return EXPORT_DONE;
        default:
            return eq_fail(err, EQ_ERR_CONFLICT, "export query already failed");
        }
    }
}

int export_source_cancel(export_source *src)
{
    char errbuf[256];
    if (!src || !src->cancel)
        return -1;
    src->cancelled = 1;
    return PQcancel(src->cancel, errbuf, (int)sizeof errbuf) ? 0 : -1;
}

uint64_t export_source_rows(const export_source *src)
{
    if (src->header && src->records > 0)
        return src->records - 1;
    return src->records;
}

uint64_t export_source_bytes(const export_source *src)
{
    return src->bytes;
}

/* Blocking drain so that the connection is idle again: stop the query if it
 * still runs, then discard the rest of its output and results. */
static void drain(export_source *src)
{
    PGconn *conn = src->conn;
    PGresult *res;
    char *buf;

    if (PQstatus(conn) != CONNECTION_OK)
        return;
    if (src->state != S_DONE && src->state != S_FAILED)
        (void)export_source_cancel(src);
    PQsetnonblocking(conn, 0);
    while (PQflush(conn) == 1)
        ;
    for (int guard = 0; guard < 1000000; guard++) {
        if (PQstatus(conn) != CONNECTION_OK)
            return;
        res = PQgetResult(conn);
        if (!res)
            return;
        if (PQresultStatus(res) == PGRES_COPY_OUT) {
            int n;
            while ((n = PQgetCopyData(conn, &buf, 0)) > 0)
                PQfreemem(buf);
        }
        PQclear(res);
    }
}

void export_source_free(export_source *src)
{
    if (!src)
        return;
    if (src->chunk)
        PQfreemem(src->chunk);
    if (src->conn)
        drain(src);
    if (src->conn)
        PQsetnonblocking(src->conn, 0);
    if (src->cancel)
        PQfreeCancel(src->cancel);
    free(src);
}
