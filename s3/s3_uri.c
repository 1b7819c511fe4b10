/* s3_uri.c - see s3_uri.h. Written by hand: curl_easy_escape() encodes '~'
 * in old versions and cannot keep '/', and SigV4 needs exactly this set. */
#include "s3/s3_uri.h"

#include "common/hex.h"

bool s3_uri_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int s3_uri_encode(eq_buf *out, const char *s, size_t n, bool keep_slash, eq_err *err)
{
    size_t i, need = 0;
    char *p;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        need += (s3_uri_unreserved(c) || (keep_slash && c == '/')) ? 1 : 3;
    }
    if (need > out->max - out->len)
        return eq_fail(err, EQ_ERR_LIMIT, "URI-encoded text longer than %zu bytes", out->max);
    if (eq_buf_reserve(out, out->len + need, err) < 0)
        return -1;
    p = out->data + out->len;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (s3_uri_unreserved(c) || (keep_slash && c == '/')) {
            *p++ = (char)c;
        } else {
            eq_hex_escape(c, '%', p);
            p += 3;
        }
    }
    out->len += need;
    out->data[out->len] = '\0';
    return 0;
}
