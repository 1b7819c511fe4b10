/* export_filter.c - see export_filter.h */
#include "export/export_filter.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "export/csv_guard.h"

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

struct export_filter {
    export_sink_fn sink;
    void *ctx;
    bool bom_pending;
    bool guard_on;
    bool gzip_on;
    bool z_ready;  /* deflateInit2 succeeded: deflateEnd needed */
    bool failed;   /* the sink or zlib failed: refuse further writes */
    bool finished;
    csv_guard guard;
    char *gbuf;    /* guard output, EXPORT_FILTER_BUF_SIZE */
    unsigned char *zbuf; /* deflate output, EXPORT_FILTER_BUF_SIZE */
    z_stream z;
    uint64_t bytes_out;
};

static int to_sink(export_filter *f, const void *data, size_t len, eq_err *err)
{
    if (len == 0)
        return 0;
    if (f->sink(f->ctx, data, len, err) < 0) {
        f->failed = true;
        return -1;
    }
    f->bytes_out += len;
    return 0;
}

/* Runs deflate over `len` bytes with `flush`, handing full buffers to the sink. */
static int gz_write(export_filter *f, const void *data, size_t len, int flush, eq_err *err)
{
    int zr;
    f->z.next_in = (Bytef *)(uintptr_t)data;
    /* feed in slices so a huge write never overflows uInt */
    do {
        size_t slice = len > (1u << 30) ? (1u << 30) : len;
        f->z.avail_in = (uInt)slice;
        len -= slice;
        for (;;) {
            int mode = len ? Z_NO_FLUSH : flush;
            zr = deflate(&f->z, mode);
            if (zr == Z_STREAM_ERROR) {
                f->failed = true;
                return eq_fail(err, EQ_ERR_IO, "gzip: deflate failed");
            }
            if (f->z.avail_out == 0) {
                if (to_sink(f, f->zbuf, EXPORT_FILTER_BUF_SIZE, err) < 0)
                    return -1;
                f->z.next_out = f->zbuf;
                f->z.avail_out = EXPORT_FILTER_BUF_SIZE;
                continue; /* deflate may have more */
            }
            if (f->z.avail_in == 0 && (mode == Z_NO_FLUSH || mode == Z_SYNC_FLUSH || zr == Z_STREAM_END))
                break;
        }
    } while (len > 0);
    if (flush != Z_NO_FLUSH) {
        size_t have = EXPORT_FILTER_BUF_SIZE - f->z.avail_out;
        if (to_sink(f, f->zbuf, have, err) < 0)
            return -1;
        f->z.next_out = f->zbuf;
        f->z.avail_out = EXPORT_FILTER_BUF_SIZE;
    }
    return 0;
}

/* The stage after the guard: gzip or the sink. */
static int after_guard(export_filter *f, const void *data, size_t len, eq_err *err)
{
    if (f->gzip_on)
        return gz_write(f, data, len, Z_NO_FLUSH, err);
    return to_sink(f, data, len, err);
}

static int put_bom(export_filter *f, eq_err *err)
{
    if (!f->bom_pending)
        return 0;
    f->bom_pending = false;
    return after_guard(f, utf8_bom, sizeof utf8_bom, err);
}

int export_filter_new(const export_options *o, export_sink_fn sink, void *ctx, export_filter **out,
                      eq_err *err)
{
    export_filter *f;
    *out = NULL;
    if (!(f = calloc(1, sizeof *f)))
        return eq_fail(err, EQ_ERR_NOMEM, "export filter: out of memory");
    f->sink = sink;
    f->ctx = ctx;
    /* the BOM and the guard are for csv and tsv; gzip for all but xlsx */
    f->bom_pending = o->bom && export_format_has_bom(o->format);
    f->guard_on = o->formula_guard && export_format_has_guard(o->format);
    f->gzip_on = o->gzip && export_format_has_gzip(o->format);
    csv_guard_init_delim(&f->guard, o->format == EXPORT_FORMAT_TSV ? '\t' : ',');
    if (f->guard_on && !(f->gbuf = malloc(EXPORT_FILTER_BUF_SIZE)))
        goto nomem;
    if (f->gzip_on) {
        int level = o->gzip_level >= 1 && o->gzip_level <= 9 ? o->gzip_level : EXPORT_GZIP_LEVEL_DEFAULT;
        if (!(f->zbuf = malloc(EXPORT_FILTER_BUF_SIZE)))
            goto nomem;
        /* windowBits 15 + 16: a gzip wrapper instead of zlib's */
        if (deflateInit2(&f->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            goto nomem;
        f->z_ready = true;
        f->z.next_out = f->zbuf;
        f->z.avail_out = EXPORT_FILTER_BUF_SIZE;
    }
    *out = f;
    return 0;
nomem:
    export_filter_free(f);
    return eq_fail(err, EQ_ERR_NOMEM, "export filter: out of memory");
}

int export_filter_write(export_filter *f, const void *data, size_t len, eq_err *err)
{
    const char *p = data;
    /* largest input slice whose guarded output always fits gbuf */
    const size_t slice_max = (EXPORT_FILTER_BUF_SIZE - CSV_GUARD_PEND_MAX - 2) * 2 / 3;

    if (f->failed || f->finished)
        return eq_fail(err, EQ_ERR_CONFLICT, "export filter: write after %s", f->failed ? "an error" : "finish");
    if (put_bom(f, err) < 0)
        return -1;
    if (!f->guard_on)
        return after_guard(f, data, len, err);
    while (len > 0) {
        size_t n = len < slice_max ? len : slice_max;
        size_t o = csv_guard_feed(&f->guard, p, n, f->gbuf, EXPORT_FILTER_BUF_SIZE);
        if (o == SIZE_MAX) { /* cannot happen: CSV_GUARD_OUT_MAX(slice_max) fits */
            f->failed = true;
            return eq_fail(err, EQ_ERR_NOMEM, "export filter: guard buffer too small");
        }
        if (after_guard(f, f->gbuf, o, err) < 0)
            return -1;
        p += n;
        len -= n;
    }
    return 0;
}

int export_filter_flush(export_filter *f, eq_err *err)
{
    if (f->failed || f->finished)
        return eq_fail(err, EQ_ERR_CONFLICT, "export filter: flush after %s", f->failed ? "an error" : "finish");
    if (!f->gzip_on)
        return 0;
    return gz_write(f, NULL, 0, Z_SYNC_FLUSH, err);
}

int export_filter_finish(export_filter *f, eq_err *err)
{
    if (f->failed || f->finished)
        return eq_fail(err, EQ_ERR_CONFLICT, "export filter: finish after %s", f->failed ? "an error" : "finish");
    if (put_bom(f, err) < 0)
        return -1;
    if (f->guard_on) { /* a signed cell the guard still holds */
        size_t o = csv_guard_finish(&f->guard, f->gbuf, EXPORT_FILTER_BUF_SIZE);
        if (o == SIZE_MAX || after_guard(f, f->gbuf, o, err) < 0) {
            f->failed = true;
            return o == SIZE_MAX ? eq_fail(err, EQ_ERR_NOMEM, "export filter: guard buffer too small") : -1;
        }
    }
    if (f->gzip_on && gz_write(f, NULL, 0, Z_FINISH, err) < 0)
        return -1;
    f->finished = true;
    return 0;
}

uint64_t export_filter_bytes_out(const export_filter *f)
{
    return f->bytes_out;
}

void export_filter_free(export_filter *f)
{
    if (!f)
        return;
    if (f->z_ready)
        deflateEnd(&f->z);
    free(f->gbuf);
    free(f->zbuf);
    free(f);
}
