/* fuzz_csv_guard.c - libFuzzer target for the CSV formula guard.
 *
 * Properties checked on any input:
 *  - the output fits CSV_GUARD_OUT_MAX(len) and the guard never refuses it;
 *  - the output is the input with only single quotes inserted;
 *  - feeding the same bytes cut at an input-chosen point gives the same output
 *    (the state carries across chunk boundaries);
 *  - guarding is idempotent: a guarded cell starts with ', which is no
 *    trigger, so guard(guard(x)) == guard(x).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/csv_guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t cap = CSV_GUARD_OUT_MAX(size) + 1;
    char *a = malloc(cap), *b = malloc(cap), *c = malloc(CSV_GUARD_OUT_MAX(cap) + 1);
    size_t na, nb, nc, cut, i, j;
    csv_guard g;

    if (!a || !b || !c)
        abort();
    na = csv_guard_row(in, size, a, CSV_GUARD_OUT_MAX(size));
    if (na == SIZE_MAX || na > CSV_GUARD_OUT_MAX(size) || na < size)
        abort();

    /* output = input + inserted quotes */
    for (i = 0, j = 0; j < na; j++) {
        if (i < size && a[j] == in[i])
            i++;
        else if (a[j] != '\'')
            abort();
    }
    if (i != size)
        abort();

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
