/* http_cors.c - see http_cors.h */
#include "http/http_cors.h"

#include <string.h>

#include "common/config.h"

bool http_cors_origin_allowed(const char *list, const char *origin)
{
    size_t olen, n;
    if (!list || !origin || !*origin)
        return false;
    olen = strlen(origin);
    for (const char *cur = list, *p; eq_config_list_next(&cur, &p, &n);)
        if (n == olen && memcmp(p, origin, n) == 0)
            return true;
    return false;
}
