/* export.c - see export.h */
#include "export/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "export/export_output.h"
#include "export/export_query.h"

struct export_stream {
    PGconn *conn;
    bool own_conn;
    bool in_txn; /* a snapshot was imported: the transaction ends at close */
    export_source *src;
    export_output *output;
    export_columns cols; /* xlsx: the columns' names and types */
    bool dirty;    /* written to the filters since the last flush */
    bool draining; /* COPY ended; the output still hands its file over (xlsx) */
    bool done;     /* COPY ended and the output was finished */
};

/* The statement the kind runs, in the format its options ask for. */
static int build_statement(export_stream *x, const export_spec *spec, char **sql, eq_err *err)
{
    char *params = NULL;
    int rc;
    if (export_params_build(spec->params_json, spec->owner && *spec->owner ? spec->owner : NULL, &params, err) < 0)
        return -1;
    rc = export_query_build(x->conn, spec->options.format, spec->function, params, spec->options.header, sql,
                            &x->cols, err);
    free(params);
    return rc;
}

/* A parallel range: the coordinator's snapshot, imported before the COPY. */
static int import_snapshot(export_stream *x, const char *snapshot, eq_err *err)
{
    char *lit, sql[128];
    size_t n = strlen(snapshot);
    if (n == 0 || n > 63 || strspn(snapshot, "0123456789ABCDEFabcdef-") != n)
        return eq_fail(err, EQ_ERR_INVALID, "export: malformed snapshot name");
    if (eq_pg_exec(x->conn, "export: BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL,
                   err) < 0)
        return -1;
    x->in_txn = true;
    if (!(lit = PQescapeLiteral(x->conn, snapshot, n)))
        return eq_pg_fail(x->conn, NULL, "export: quoting the snapshot", err);
    snprintf(sql, sizeof sql, "SET TRANSACTION SNAPSHOT %s", lit);
    PQfreemem(lit);
    return eq_pg_exec(x->conn, "export: importing the snapshot", sql, 0, NULL, NULL, err);
}

/* The output chain the format and the kind's options ask for. */
static int build_chain(export_stream *x, const export_spec *spec, export_sink_fn sink, void *sink_ctx,
                       eq_err *err)
{
    return export_output_new(&spec->options, &x->cols, spec->tmpdir, sink, sink_ctx, &x->output, err);
}

int export_open(const export_spec *spec, export_sink_fn sink, void *sink_ctx, export_stream **out, eq_err *err)
{
    export_stream *x;
    char *sql = NULL;

    *out = NULL;
    if (!spec->function || !*spec->function)
        return eq_fail(err, EQ_ERR_INVALID, "export: the kind has no function");
    if (spec->snapshot && spec->options.format == EXPORT_FORMAT_XLSX)
        return eq_fail(err, EQ_ERR_INVALID, "export: xlsx ranges are not supported (the workbook is one file)");
    if (!spec->conn && !spec->source_url)
        return eq_fail(err, EQ_ERR_CONFIG, "export: no source database");
    x = calloc(1, sizeof *x);
    if (!x)
        return eq_fail(err, EQ_ERR_NOMEM, "export: out of memory");
    if (spec->conn) {
        x->conn = spec->conn;
    } else {
        if (eq_pg_connect(spec->source_url, spec->app_role ? spec->app_role : "export", &x->conn, err) < 0)
            goto fail;
        x->own_conn = true;
    }
    if ((spec->snapshot && import_snapshot(x, spec->snapshot, err) < 0) || build_statement(x, spec, &sql, err) < 0 || build_chain(x, spec, sink, sink_ctx, err) < 0 ||
        export_source_start(x->conn, sql, &x->src, err) < 0)
        goto fail;
    /* only csv and tsv have a header line in the COPY output */
    export_source_set_header(x->src, spec->options.header && (spec->options.format == EXPORT_FORMAT_CSV ||
                                                               spec->options.format == EXPORT_FORMAT_TSV));
    free(sql);
    *out = x;
    return 0;
fail:
    free(sql);
    export_close(x);
    return -1;
}

int export_next(export_stream *x, eq_err *err)
{
    export_chunk c;
    int r;
    if (x->done)
        return EXPORT_DONE;
    if (x->draining) { /* one piece of the finished file per call */
        r = export_output_drain(x->output, err);
        if (r < 0)
            return -1;
        if (r > 0)
            return EXPORT_READY;
        x->draining = false;
        x->done = true;
        return EXPORT_DONE;
    }
    r = export_source_read(x->src, &c, err);
    if (r == EXPORT_READY) {
        if (export_output_write(x->output, c.data, c.len, err) < 0)
            return -1;
        x->dirty = true;
    } else if (r == EXPORT_DONE) {
        int f = export_output_finish(x->output, err);
        if (f < 0)
            return -1;
        x->dirty = false;
        if (f > 0) {
            x->draining = true;
            return EXPORT_READY;
        }
        x->done = true;
    }
    return r;
}

int export_flush(export_stream *x, eq_err *err)
{
    if (!x->dirty || x->done)
        return 0;
    if (export_output_flush(x->output, err) < 0)
        return -1;
    x->dirty = false;
    return 0;
}

int export_socket(const export_stream *x)
{
    return PQsocket(x->conn);
}

short export_events(const export_stream *x)
{
    return export_source_events(x->src);
}

int export_cancel(export_stream *x)
{
    return x && x->src ? export_source_cancel(x->src) : -1;
}

bool export_done(const export_stream *x)
{
    return x->done;
}

uint64_t export_rows(const export_stream *x)
{
    return x && x->src ? export_source_rows(x->src) : 0;
}

uint64_t export_bytes_csv(const export_stream *x)
{
    return x && x->src ? export_source_bytes(x->src) : 0;
}

uint64_t export_bytes_out(const export_stream *x)
{
    return x ? export_output_bytes(x->output) : 0;
}

void export_warning(const export_stream *x, char *out, size_t outsz)
{
    if (outsz)
        out[0] = '\0';
    if (x)
        export_output_warning(x->output, out, outsz);
}

void export_close(export_stream *x)
{
    if (!x)
        return;
    export_source_free(x->src); /* cancels and drains an unfinished COPY */
    export_output_free(x->output); /* removes an xlsx temporary file */
    export_columns_cleanup(&x->cols);
    if (x->in_txn && !x->own_conn && PQstatus(x->conn) == CONNECTION_OK &&
        PQtransactionStatus(x->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(x->conn, "ROLLBACK"); /* read only: nothing to commit */
        PQclear(r);
    }
    if (x->own_conn)
        PQfinish(x->conn);
    free(x);
}
