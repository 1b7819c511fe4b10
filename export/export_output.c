/* export_output.c - see export_output.h */
#include "export/export_output.h"

#include <stdlib.h>

struct export_output {
    export_filter *filter; /* csv, tsv, jsonl */
    xlsx_writer *xlsx;     /* xlsx */
};

int export_output_new(const export_options *o, const export_columns *cols, const char *tmpdir, export_sink_fn sink,
                      void *sink_ctx, export_output **out, eq_err *err)
{
    export_output *x;
    int rc;
    *out = NULL;
    if (!(x = calloc(1, sizeof *x)))
        return eq_fail(err, EQ_ERR_NOMEM, "export output: out of memory");
    if (o->format == EXPORT_FORMAT_XLSX) {
        if (!cols || cols->n == 0) {
            free(x);
            return eq_fail(err, EQ_ERR_INVALID, "xlsx: the export's columns are unknown");
        }
        rc = xlsx_writer_new(tmpdir, cols->n, (const char *const *)cols->names, cols->types, o->header, sink,
                             sink_ctx, &x->xlsx, err);
    } else {
        rc = export_filter_new(o, sink, sink_ctx, &x->filter, err);
    }
    if (rc < 0) {
        export_output_free(x);
        return -1;
    }
    *out = x;
    return 0;
}

int export_output_write(export_output *x, const void *data, size_t len, eq_err *err)
{
    if (x->xlsx)
        return xlsx_writer_row(x->xlsx, data, len, err);
    return export_filter_write(x->filter, data, len, err);
}

int export_output_flush(export_output *x, eq_err *err)
{
    return x->filter ? export_filter_flush(x->filter, err) : 0;
}

int export_output_finish(export_output *x, eq_err *err)
{
    if (x->xlsx)
        return xlsx_writer_finish(x->xlsx, err) < 0 ? -1 : 1;
    return export_filter_finish(x->filter, err);
}

int export_output_drain(export_output *x, eq_err *err)
{
    return x->xlsx ? xlsx_writer_drain(x->xlsx, err) : 0;
}

uint64_t export_output_bytes(const export_output *x)
{
    if (!x)
        return 0;
    return x->xlsx ? xlsx_writer_bytes_out(x->xlsx) : export_filter_bytes_out(x->filter);
}

void export_output_warning(const export_output *x, char *out, size_t outsz)
{
    if (outsz)
        out[0] = '\0';
    if (x && x->xlsx)
        xlsx_writer_warning(x->xlsx, out, outsz);
}

void export_output_free(export_output *x)
{
    if (!x)
        return;
    export_filter_free(x->filter);
    xlsx_writer_free(x->xlsx);
    free(x);
}
