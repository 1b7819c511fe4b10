/* http_cors.c - see http_cors.h */
#include "http/http_cors.h"

#include <string.h>

bool http_cors_origin_allowed(const char *list, const char *origin)
{
    size_t olen;
    if (!list || !origin || !*origin)
        return false;
    olen = strlen(origin);
    for (const char *p = list; *p;) {
        size_t n;
        while (*p == ' ' || *p == ',')
            p++;
        n = strcspn(p, ", ");
        if (n && n == olen && memcmp(p, origin, n) == 0)
            return true;
        p += n;
    }
    return false;
}
