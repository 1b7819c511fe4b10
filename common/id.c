/* id.c - see id.h */
#include "common/id.h"

#include <string.h>

int eq_id_parse(const char *s, size_t n, long long *out)
{
    long long v = 0;
    if (!s || n == 0 || n > EQ_ID_DIGITS_MAX || s[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int eq_id_parse_str(const char *s, long long *out)
{
    return s ? eq_id_parse(s, strlen(s), out) : -1;
}
