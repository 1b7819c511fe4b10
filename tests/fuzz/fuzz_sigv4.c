/* fuzz_sigv4.c - canonical query and Content-Disposition on arbitrary names
 * and values: no crash, output within the bounds, sorted pairs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_presign.h"
#include "s3/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    sigv4_kv q[8];
    size_t n = 0;
    char *p;
    eq_buf b;
    eq_err err;
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    /* "name=value\nname=value..." */
    for (p = s; p && *p && n < 8;) {
        char *nl = strchr(p, '\n'), *eq;
        if (nl)
            *nl = '\0';
        eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        q[n].name = p;
        q[n].value = eq ? eq + 1 : NULL;
        n++;
        p = nl ? nl + 1 : NULL;
    }
    eq_buf_init(&b, 1 << 20);
    if (sigv4_canonical_query(q, n, &b, &err) == 0 && b.len > b.max)
        abort();
    eq_buf_cleanup(&b);
    eq_buf_init(&b, 1 << 20);
    if (s3_content_disposition(s, &b, &err) == 0 && strncmp(b.data, "attachment; filename=\"", 22) != 0)
        abort();
    eq_buf_cleanup(&b);
    free(s);
    return 0;
}
