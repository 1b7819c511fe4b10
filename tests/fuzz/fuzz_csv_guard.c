/* fuzz_csv_guard.c - libFuzzer target for the CSV formula guard.
 *
 * Properties checked on any input:
 *  - the output fits CSV_GUARD_OUT_MAX(len) and the guard never refuses it;
 *  - the output is the input with only single quotes inserted;
 *  - feeding the same bytes cut at an input-chosen point gives the same output
 *    (the state carries across chunk boundaries);
 *  - guarding is idempotent: a guarded cell starts with ', which is no
 *    trigger, so guard(guard(x)) == guard(x);
 *  - the guard does its job, read by an independent cell scanner (RFC 4180
 *    as COPY writes it): no cell of the output starts with a trigger, and
 *    every inserted quote is the first byte of a cell's content, followed by
 *    a trigger. (The properties above also hold for a guard that does
 *    nothing; this one pins the output down to exactly the guarded text.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/csv_guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Marks in start[] the offset of the first content byte of every non-empty
 * cell of t[0..n): the cell's first byte, or the byte after its opening
 * quote. An unquoted CR at a cell start is part of CRLF, not a cell. */
static void cell_starts(const char *t, size_t n, unsigned char *start)
{
    size_t p = 0;
    memset(start, 0, n);
    while (p < n) {
        char c = t[p];
        if (c == ',' || c == '\n' || c == '\r') {
            p++;
            continue;
        }
        if (c == '"') {
            size_t i = p + 1;
            if (i < n && t[i] != '"')
                start[i] = 1;
            while (i < n) { /* to the closing quote; "" is an escaped quote */
                if (t[i] == '"') {
                    if (i + 1 < n && t[i + 1] == '"') {
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                i++;
            }
            p = i;
        } else {
            start[p] = 1;
        }
        while (p < n && t[p] != ',' && t[p] != '\n') /* the rest of the cell */
            p++;
        if (p < n)
            p++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t cap = CSV_GUARD_OUT_MAX(size) + 1;
    char *a = malloc(cap), *b = malloc(cap), *c = malloc(CSV_GUARD_OUT_MAX(cap) + 1);
    size_t na, nb, nc, cut, i, j;
    unsigned char *starts;
    csv_guard g;

    if (!a || !b || !c)
        abort();
    na = csv_guard_row(in, size, a, CSV_GUARD_OUT_MAX(size));
    if (na == SIZE_MAX || na > CSV_GUARD_OUT_MAX(size) || na < size)
        abort();

    /* output = input + inserted quotes; every inserted quote opens a cell's
     * content before a trigger, and no cell starts with a trigger */
    starts = malloc(na + 1);
    if (!starts)
        abort();
    cell_starts(a, na, starts);
    for (i = 0, j = 0; j < na; j++) {
        if (starts[j] && csv_guard_is_trigger((unsigned char)a[j]))
            abort();
        if (i < size && a[j] == in[i]) {
            i++;
        } else if (a[j] != '\'') {
            abort();
        } else if (!starts[j] || j + 1 >= na || !csv_guard_is_trigger((unsigned char)a[j + 1])) {
            abort();
        }
    }
    if (i != size)
        abort();
    free(starts);

    /* cut anywhere: same bytes */
    cut = size ? data[0] % (size + 1) : 0;
    csv_guard_init(&g);
    nb = csv_guard_feed(&g, in, cut, b, cap);
    if (nb == SIZE_MAX)
        abort();
    nc = csv_guard_feed(&g, in + cut, size - cut, b + nb, cap - nb);
    if (nc == SIZE_MAX || nb + nc != na || memcmp(a, b, na) != 0)
        abort();

    /* idempotent */
    nc = csv_guard_row(a, na, c, CSV_GUARD_OUT_MAX(cap));
    if (nc != na || memcmp(a, c, na) != 0)
        abort();

    free(a);
    free(b);
    free(c);
    return 0;
}
