/* http_stream.c - see http_stream.h */
#include "http/http_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log_ctx.h"
#include "common/buf.h"
#include "common/log.h"
#include "export/export.h"

struct http_stream {
    export_stream *x;
    eq_buf pending;  /* filter output not yet taken by MHD */
    size_t off;      /* bytes of pending already taken */
    bool done;       /* source finished and the filter finished */
    bool failed;     /* the export failed (error logged) */
    bool reader_end; /* the reader returned END_OF_STREAM */
    atomic_bool hangup;
    struct MHD_Connection *mhd;
    http_watch *watch;
    const atomic_bool *stopping;
    uint64_t sent;
    char ctx[EQ_LOGCTX_MAX];
};

static int sink(void *ctx, const void *data, size_t len, eq_err *err)
{
    http_stream *s = ctx;
    if (eq_buf_append(&s->pending, data, len, err) < 0)
        return eq_err_context(err, "stream output (one record larger than %d bytes?)", HTTP_STREAM_PENDING_MAX);
    return 0;
}

int http_stream_start(const char *source_url, const export_kind *kind, const char *params_json,
                      const char *owner, bool gzip, const char *tmpdir, const char *ctx, http_stream **out,
                      eq_err *err)
{
    http_stream *s;
    export_spec spec = {.source_url = source_url,
                        .app_role = "stream",
                        .function = kind->function,
                        .options = kind->options,
                        .params_json = params_json,
                        .owner = owner,
                        .tmpdir = tmpdir};

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return eq_fail(err, EQ_ERR_NOMEM, "stream: out of memory");
    eq_buf_init(&s->pending, HTTP_STREAM_PENDING_MAX);
    atomic_init(&s->hangup, false);
    snprintf(s->ctx, sizeof s->ctx, "%s", ctx ? ctx : "");
    spec.options.gzip = gzip;
    if (export_open(&spec, sink, s, &s->x, err) < 0) {
        http_stream_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

static size_t pending_len(const http_stream *s)
{
    return s->pending.len - s->off;
}

int http_stream_pump(http_stream *s, eq_err *err)
{
    if (s->failed)
        return eq_fail(err, EQ_ERR_DB, "stream already failed");
    while (!s->done && s->pending.len - s->off < HTTP_STREAM_LOW_WATER) {
        int r;
        if (s->off > 0 && s->off == s->pending.len) {
            eq_buf_reset(&s->pending);
            s->off = 0;
        }
        r = export_next(s->x, err);
        if (r == EXPORT_WOULD_BLOCK) {
            /* the database is slower than the client: let the client have
             * what the filters hold (gzip: a sync flush) before waiting */
            if (pending_len(s) == 0 && export_flush(s->x, err) < 0)
                goto fail;
            if (pending_len(s) == 0)
                return HTTP_PUMP_WOULD_BLOCK;
            break;
        } else if (r == EXPORT_DONE) {
            s->done = true;
        } else if (r < 0) {
            goto fail;
        }
    }
    if (pending_len(s) > 0)
        return HTTP_PUMP_DATA;
    return HTTP_PUMP_DONE;
fail:
    s->failed = true;
    return -1;
}

bool http_stream_started(const http_stream *s)
{
    return s->done || export_rows(s->x) > 0 || pending_len(s) >= HTTP_STREAM_LOW_WATER;
}

int http_stream_suspend(http_stream *s, struct MHD_Connection *conn, http_watch *watch, eq_err *err)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int client_fd = ci ? ci->connect_fd : -1;
    MHD_suspend_connection(conn);
    if (http_watch_add(watch, conn, export_socket(s->x), export_events(s->x), client_fd, &s->hangup,
                       err) < 0) {
        MHD_resume_connection(conn);
        return -1;
    }
    return 0;
}

bool http_stream_client_gone(http_stream *s)
{
    return atomic_load(&s->hangup);
}

void http_stream_attach(http_stream *s, struct MHD_Connection *conn, http_watch *watch,
                        const atomic_bool *stopping)
{
    s->mhd = conn;
    s->watch = watch;
    s->stopping = stopping;
}

ssize_t http_stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_stream *s = cls;
    eq_err err;
    int r;
    (void)pos;
    eq_err_clear(&err);
    if (atomic_load(&s->hangup))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->stopping && atomic_load(s->stopping) && !s->done) {
        eq_warn(s->ctx, "stream: server stopping, ending the stream before its end");
        s->failed = true;
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    r = pending_len(s) > 0 ? HTTP_PUMP_DATA : http_stream_pump(s, &err);
    if (r == HTTP_PUMP_DATA) {
        size_t n = pending_len(s);
        if (n > max)
            n = max;
        memcpy(buf, s->pending.data + s->off, n);
        s->off += n;
        s->sent += n;
        return (ssize_t)n;
    }
    if (r == HTTP_PUMP_DONE) {
        s->reader_end = true;
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (r == HTTP_PUMP_WOULD_BLOCK) {
        if (http_stream_suspend(s, s->mhd, s->watch, &err) == 0)
            return 0;
    }
    /* an error after the headers went out: end the chunked body without its
     * terminating chunk so the client cannot take a cut file for a whole one */
    eq_error(s->ctx, "stream failed after %llu bytes: %s", (unsigned long long)s->sent, err.msg);
    s->failed = true;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

void http_stream_finish(http_stream *s, bool completed_ok, http_metrics *m)
{
    http_stream_outcome o;
    if (!s)
        return;
    if (s->failed)
        o = HTTP_STREAM_ERROR;
    else if (completed_ok && s->reader_end)
        o = HTTP_STREAM_OK;
    else
        o = HTTP_STREAM_CANCELLED;
    if (m)
        http_metrics_stream_done(m, o, s->sent);
    eq_info(s->ctx, "stream %s: %llu rows, %llu bytes sent", http_stream_outcome_name(o),
            (unsigned long long)export_rows(s->x), (unsigned long long)s->sent);
    http_stream_free(s);
}

void http_stream_free(http_stream *s)
{
    if (!s)
        return;
    if (s->x && !s->done)
        (void)export_cancel(s->x);
    export_close(s->x);
    eq_buf_cleanup(&s->pending);
    free(s);
}
