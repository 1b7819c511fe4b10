/* hex.c - see hex.h */
#include "common/hex.h"

static const char lower[] = "0123456789abcdef";
static const char upper[] = "0123456789ABCDEF";

void eq_hex_encode(const void *p, size_t n, char *out)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = lower[s[i] >> 4];
        out[2 * i + 1] = lower[s[i] & 15];
    }
    out[2 * n] = '\0';
}

void eq_hex_escape(unsigned char c, char mark, char out[3])
{
    out[0] = mark;
    out[1] = upper[c >> 4];
    out[2] = upper[c & 15];
}

int eq_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int eq_b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}
