/* log_ctx.c - see log_ctx.h */
#include "common/log_ctx.h"
#include "common/hex.h"

#include <stdio.h>
#include <string.h>

static bool needs_quotes(const char *v)
{
    if (!*v)
        return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '=' || *p == '"' || *p == '\\')
            return true;
    return false;
}

/* Appends " key=value" (quoted and escaped when needed) when it fits whole. */
static void put(char *out, size_t outsz, size_t *n, const char *key, const char *v)
{
    char tmp[EQ_LOGCTX_MAX];
    size_t t = 0;
    int w = snprintf(tmp, sizeof tmp, "%s%s=", *n ? " " : "", key);
    if (w < 0 || (size_t)w >= sizeof tmp)
        return;
    t = (size_t)w;
    if (!needs_quotes(v)) {
        w = snprintf(tmp + t, sizeof tmp - t, "%s", v);
        if (w < 0 || (size_t)w >= sizeof tmp - t)
            return;
        t += (size_t)w;
    } else {
        tmp[t++] = '"';
        for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
            if (t + 8 >= sizeof tmp)
                return;
            if (*p == '"' || *p == '\\') {
                tmp[t++] = '\\';
                tmp[t++] = (char)*p;
            } else if (*p < 0x20 || *p == 0x7f) {
                t += (size_t)snprintf(tmp + t, sizeof tmp - t, "\\u%04x", *p);
            } else {
                tmp[t++] = (char)*p;
            }
        }
        tmp[t++] = '"';
    }
    if (*n + t >= outsz)
        return;
    memcpy(out + *n, tmp, t);
    *n += t;
    out[*n] = '\0';
}

const char *eq_logctx_format(const eq_logctx *c, char *out, size_t outsz)
{
    char num[32];
    size_t n = 0;
    if (!outsz)
        return out;
    out[0] = '\0';
    if (c->job) {
        snprintf(num, sizeof num, "%lld", c->job);
        put(out, outsz, &n, "job", num);
    }
    if (c->attempt) {
        snprintf(num, sizeof num, "%d", c->attempt);
        put(out, outsz, &n, "attempt", num);
    }
    if (c->owner && *c->owner)
        put(out, outsz, &n, "owner", c->owner);
    if (c->kind && *c->kind)
        put(out, outsz, &n, "kind", c->kind);
    if (c->format && *c->format)
        put(out, outsz, &n, "format", c->format);
    if (c->part) {
        snprintf(num, sizeof num, "%d", c->part);
        put(out, outsz, &n, "part", num);
    }
    return out;
}

bool eq_logctx_next(const char **p, const char **key, size_t *keylen, char *val, size_t valsz)
{
    const char *s = *p;
    size_t v = 0;
    for (;;) {
        const char *word, *eq;
        while (*s == ' ')
            s++;
        if (!*s) {
            *p = s;
            return false;
        }
        word = s;
        s += strcspn(s, " =");
        if (*s != '=') { /* a word without a value: skip it */
            continue;
        }
        eq = s++;
        *key = word;
        *keylen = (size_t)(eq - word);
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                char c = *s;
                if (c == '\\' && s[1] == 'u' && eq_hex_value(s[2]) >= 0 && eq_hex_value(s[3]) >= 0 && eq_hex_value(s[4]) >= 0 &&
                    eq_hex_value(s[5]) >= 0) {
                    c = (char)(eq_hex_value(s[4]) * 16 + eq_hex_value(s[5]));
                    s += 5;
                } else if (c == '\\' && s[1]) {
                    c = *++s;
                }
                if (v + 1 < valsz)
                    val[v++] = c;
            }
            if (*s == '"')
                s++;
        } else {
            size_t n = strcspn(s, " ");
            for (size_t i = 0; i < n; i++)
                if (v + 1 < valsz)
                    val[v++] = s[i];
            s += n;
        }
        if (valsz)
            val[v] = '\0';
        *p = s;
        return true;
    }
}
