/* fuzz_s3_uri.c - the URI encoder: output only unreserved bytes and %XX,
 * decodes back to the input, length as predicted, never over the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eq_buf b;
    eq_err err;
    bool keep = size > 0 && (data[0] & 1);
    eq_buf_init(&b, 4096);
    if (s3_uri_encode(&b, (const char *)data, size, keep, &err) == 0) {
        size_t i = 0, o = 0;
        if (b.len > b.max)
            abort();
        while (i < b.len) {
            unsigned char c = (unsigned char)b.data[i];
            if (c == '%') {
                int hi, lo;
                if (i + 2 >= b.len)
                    abort();
                hi = hexval(b.data[i + 1]);
                lo = hexval(b.data[i + 2]);
                if (hi < 0 || lo < 0 || o >= size || data[o] != (uint8_t)(hi * 16 + lo))
                    abort();
                if (s3_uri_unreserved(data[o]) || (keep && data[o] == '/'))
                    abort(); /* encoded what must stay */
                i += 3;
            } else {
                if (!(s3_uri_unreserved(c) || (keep && c == '/')) || o >= size || data[o] != c)
                    abort();
                i++;
            }
            o++;
        }
        if (o != size)
            abort();
    } else if (size * 3 <= b.max - 1) {
        abort(); /* only a too-long output may fail */
    }
    eq_buf_cleanup(&b);
    return 0;
}
