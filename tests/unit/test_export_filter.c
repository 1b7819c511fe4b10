/* test_export_filter.c - the BOM -> guard -> gzip chain: the bytes a user gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "common/buf.h"
#include "export/csv_guard.h"
#include "export/export_filter.h"

typedef struct collect {
    eq_buf out;
    int calls;
    const void *last_ptr;
    int fail_after; /* fail on this call number (1-based); 0 = never */
} collect;

static int collect_sink(void *ctx, const void *data, size_t len, eq_err *err)
{
    collect *c = ctx;
    c->calls++;
    c->last_ptr = data;
    if (c->fail_after && c->calls >= c->fail_after)
        return eq_fail(err, EQ_ERR_IO, "test sink: disk full");
    return eq_buf_append(&c->out, data, len, err);
}

static void collect_init(collect *c)
{
    memset(c, 0, sizeof *c);
    eq_buf_init(&c->out, 64u << 20);
}

/* Inflates one complete gzip stream (fails the test on a missing or bad
 * trailer); returns malloc'ed bytes and their length. */
static unsigned char *gunzip(const void *in, size_t inlen, size_t *outlen)
{
    z_stream z;
    size_t cap = inlen * 4 + 1024, n = 0;
    unsigned char *out = malloc(cap);
    int r;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)inlen;
    do {
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        r = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        assert_true(r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR);
    } while (r != Z_STREAM_END && (z.avail_in > 0 || z.avail_out == 0));
    /* a whole gzip member: the CRC-32 and length trailer was read and checked
     * (inflate says Z_STREAM_END only then), and nothing follows it */
    assert_int_equal(r, Z_STREAM_END);
    assert_int_equal(z.avail_in, 0);
    inflateEnd(&z);
    *outlen = n;
    return out;
}

/* A CSV of `rows` records with quotes, commas, newlines and formula-like cells. */
static void make_csv(eq_buf *b, int rows)
{
    eq_err err;
    eq_buf_init(b, 256u << 20);
    assert_int_equal(eq_buf_puts(b, "id,title,amount\n", &err), 0);
    for (int i = 0; i < rows; i++) {
        static const char *const titles[] = {"plain", "\"=cmd|' /C calc'!A0\"", "\"a, b\"",
                                             "\"line1\nline2\"", "+33 1 23", "\"say \"\"hi\"\"\"",
                                             "@user", "caf\xc3\xa9", ""};
        assert_int_equal(eq_buf_printf(b, &err, "%d,%s,%d.%02d\n", i, titles[i % 9], (i % 7) - 3, i % 100), 0);
    }
}

/* Writes `in` through a filter in uneven chunks, then finishes. */
static void run_filter(const export_options *o, const eq_buf *in, collect *c)
{
    export_filter *f = NULL;
    eq_err err;
    size_t off = 0, step = 1;
    assert_int_equal(export_filter_new(o, collect_sink, c, &f, &err), 0);
    while (off < in->len) {
        size_t n = step < in->len - off ? step : in->len - off;
        assert_int_equal(export_filter_write(f, in->data + off, n, &err), 0);
        off += n;
        step = step * 7 % 9973 + 1; /* 1, 8, 57, ... uneven cuts, also inside records */
    }
    assert_int_equal(export_filter_finish(f, &err), 0);
    assert_int_equal(export_filter_bytes_out(f), c->out.len);
    export_filter_free(f);
}

static void test_passthrough_no_copy(void **state)
{
    export_options o;
    export_filter *f = NULL;
    collect c;
    eq_err err;
    static const char row[] = "1,=x,\"a,b\"\n";
    (void)state;
    export_options_default(&o);
    collect_init(&c);
    assert_int_equal(export_filter_new(&o, collect_sink, &c, &f, &err), 0);
    assert_int_equal(export_filter_write(f, row, sizeof row - 1, &err), 0);
    assert_ptr_equal(c.last_ptr, row); /* the caller's bytes, not a copy */
    assert_int_equal(export_filter_finish(f, &err), 0);
    assert_int_equal(c.out.len, sizeof row - 1);
    assert_memory_equal(c.out.data, row, sizeof row - 1);
    export_filter_free(f);
    eq_buf_cleanup(&c.out);
}

static void test_bom(void **state)
{
    export_options o;
    collect c;
    eq_buf in;
    (void)state;
    export_options_default(&o);
    o.bom = true;
    make_csv(&in, 100);
    collect_init(&c);
    run_filter(&o, &in, &c);
    assert_int_equal(c.out.len, in.len + 3);
    assert_memory_equal(c.out.data, "\xEF\xBB\xBF", 3);
    assert_memory_equal(c.out.data + 3, in.data, in.len);
    eq_buf_cleanup(&c.out);

    /* an empty export is still a BOM-marked file */
    in.len = 0;
    collect_init(&c);
    run_filter(&o, &in, &c);
    assert_int_equal(c.out.len, 3);
    assert_memory_equal(c.out.data, "\xEF\xBB\xBF", 3);
    eq_buf_cleanup(&c.out);
    eq_buf_cleanup(&in);
}

static void test_gzip_roundtrip(void **state)
{
    export_options o;
    collect c;
    eq_buf in;
    unsigned char *plain;
    size_t plen;
    (void)state;
    export_options_default(&o);
    o.gzip = true;
    make_csv(&in, 50000); /* ~1.4 MB: many full output buffers */
    collect_init(&c);
    run_filter(&o, &in, &c);
    assert_true(c.out.len > 10 && c.out.len < in.len);
    assert_memory_equal(c.out.data, "\x1f\x8b", 2); /* gzip magic */
    plain = gunzip(c.out.data, c.out.len, &plen);
    assert_int_equal(plen, in.len);
    assert_memory_equal(plain, in.data, in.len);
    free(plain);
    eq_buf_cleanup(&c.out);
    eq_buf_cleanup(&in);
}

static void test_guard_and_gzip(void **state)
{
    export_options o;
    collect c;
    eq_buf in;
    unsigned char *plain;
    char *want;
    size_t plen, wlen;
    (void)state;
    export_options_default(&o);
    o.gzip = true;
    o.gzip_level = 1;
    o.formula_guard = true;
    o.bom = true;
    make_csv(&in, 20000);
    want = malloc(CSV_GUARD_OUT_MAX(in.len));
    wlen = csv_guard_row(in.data, in.len, want, CSV_GUARD_OUT_MAX(in.len));
    assert_true(wlen > in.len); /* the data has formula-like cells */
    collect_init(&c);
    run_filter(&o, &in, &c);
    plain = gunzip(c.out.data, c.out.len, &plen);
    assert_int_equal(plen, wlen + 3);
    assert_memory_equal(plain, "\xEF\xBB\xBF", 3);
    assert_memory_equal(plain + 3, want, wlen);
    /* spot check what a user would see */
    assert_non_null(memmem(plain, plen, "\"'=cmd|' /C calc'!A0\"", 21));
    assert_non_null(memmem(plain, plen, ",'+33 1 23,", 11));
    /* a negative amount is a number, not a formula (issue 17) */
    assert_non_null(memmem(plain, plen, ",-3.", 4));
    assert_null(memmem(plain, plen, ",'-3.", 5));
    free(plain);
    free(want);
    eq_buf_cleanup(&c.out);
    eq_buf_cleanup(&in);
}

static void test_guard_huge_record(void **state)
{
    /* one record far larger than the filter's buffers */
    export_options o;
    export_filter *f = NULL;
    collect c;
    eq_err err;
    size_t big = 300000;
    char *row = malloc(big);
    (void)state;
    row[0] = '=';
    memset(row + 1, 'x', big - 2);
    row[big - 1] = '\n';
    export_options_default(&o);
    o.formula_guard = true;
    collect_init(&c);
    assert_int_equal(export_filter_new(&o, collect_sink, &c, &f, &err), 0);
    assert_int_equal(export_filter_write(f, row, big, &err), 0);
    assert_int_equal(export_filter_finish(f, &err), 0);
    assert_int_equal(c.out.len, big + 1);
    assert_memory_equal(c.out.data, "'=x", 3);
    assert_memory_equal(c.out.data + 1, row, big);
    assert_true(c.calls > 1); /* it went out in bounded pieces */
    export_filter_free(f);
    eq_buf_cleanup(&c.out);
    free(row);
}

static void test_gzip_flush_makes_data_readable(void **state)
{
    export_options o;
    export_filter *f = NULL;
    collect c;
    eq_err err;
    z_stream z;
    unsigned char out[256];
    static const char row[] = "1,hello\n2,world\n";
    (void)state;
    export_options_default(&o);
    o.gzip = true;
    collect_init(&c);
    assert_int_equal(export_filter_new(&o, collect_sink, &c, &f, &err), 0);
    assert_int_equal(export_filter_write(f, row, sizeof row - 1, &err), 0);
    assert_int_equal(export_filter_flush(f, &err), 0);
    /* without the trailer, a client can already inflate everything written */
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)c.out.data;
    z.avail_in = (uInt)c.out.len;
    z.next_out = out;
    z.avail_out = sizeof out;
    assert_int_equal(inflate(&z, Z_SYNC_FLUSH), Z_OK);
    assert_int_equal(sizeof out - z.avail_out, sizeof row - 1);
    assert_memory_equal(out, row, sizeof row - 1);
    inflateEnd(&z);
    assert_int_equal(export_filter_finish(f, &err), 0);
    export_filter_free(f);
    eq_buf_cleanup(&c.out);
}

static void test_sink_error_stops_chain(void **state)
{
    export_options o;
    export_filter *f = NULL;
    collect c;
    eq_err err;
    (void)state;
    export_options_default(&o);
    o.formula_guard = true;
    collect_init(&c);
    c.fail_after = 2;
    assert_int_equal(export_filter_new(&o, collect_sink, &c, &f, &err), 0);
    assert_int_equal(export_filter_write(f, "a\n", 2, &err), 0);
    assert_int_equal(export_filter_write(f, "b\n", 2, &err), -1);
    assert_string_equal(err.msg, "test sink: disk full");
    assert_int_equal(export_filter_write(f, "c\n", 2, &err), -1); /* refused after an error */
    assert_int_equal(export_filter_finish(f, &err), -1);
    assert_int_equal(c.out.len, 2);
    export_filter_free(f);
    eq_buf_cleanup(&c.out);
    export_filter_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passthrough_no_copy),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_gzip_roundtrip),
        cmocka_unit_test(test_guard_and_gzip),
        cmocka_unit_test(test_guard_huge_record),
        cmocka_unit_test(test_gzip_flush_makes_data_readable),
        cmocka_unit_test(test_sink_error_stops_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
