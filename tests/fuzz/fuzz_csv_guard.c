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
 *    as COPY writes it): no cell of the output starts with a trigger unless
 *    it is an unquoted plain number (then it holds no operator but an
 *    exponent's sign, so it cannot be a formula), and every inserted quote is
 *    the first byte of a cell's content, followed by a trigger. (The properties above also hold for a guard that does
 *    nothing; this one pins the output down to exactly the guarded text.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/csv_guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Marks in start[] the offset of the first content byte of every non-empty
 * cell of t[0..n): the cell's first byte (1), or the byte after its opening
 * quote (2). An unquoted CR at a cell start is part of CRLF, not a cell. */
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
                start[i] = 2;
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

/* An unquoted cell at t[j..) that the guard may leave alone: a plain number
 * (ending at a delimiter, LF or CR). Checked independently too: its bytes
 * are digits, '.', e/E, and a sign only first or right after e/E. */
static int plain_number(const char *t, size_t n, size_t j)
{
    size_t e = j;
    while (e < n && t[e] != ',' && t[e] != '\n' && t[e] != '\r')
        e++;
    if (!csv_guard_is_number(t + j, e - j))
        return 0;
    for (size_t k = j; k < e; k++) {
        char c = t[k];
        int ok = (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
                 ((c == '+' || c == '-') && (k == j || t[k - 1] == 'e' || t[k - 1] == 'E'));
        if (!ok)
            abort();
    }
    return 1;
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
        if (starts[j] && csv_guard_is_trigger((unsigned char)a[j]) && !(starts[j] == 1 && plain_number(a, na, j)))
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
    if (nc == SIZE_MAX)
        abort();
    nb += nc;
    nc = csv_guard_finish(&g, b + nb, cap - nb); /* a signed cell held at the end */
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
