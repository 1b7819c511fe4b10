/* config_values.c - checks of setting values beyond their type and range;
 * see config_values.h. */
#include "common/config_values.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* True when smtp://user[:pass]@host carries user info. */
bool eq_config_smtp_url_has_credentials(const char *url)
{
    const char *auth = strstr(url, "://");
    size_t n;
    auth = auth ? auth + 3 : url;
    n = strcspn(auth, "/?#");
    return memchr(auth, '@', n) != NULL;
}

/* EXPORTQ_ADMIN_TOKEN: long enough not to be guessed, and sendable as a
 * Bearer token and a form field as it is. Never echoed. */
int eq_config_admin_token_check(const char *t, eq_err *err)
{
    size_t n = strlen(t);
    if (n < 24 || n > 256)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_ADMIN_TOKEN: 24 to 256 characters (e.g. openssl rand -hex 24)");
    for (size_t i = 0; i < n; i++)
        if (t[i] <= ' ' || t[i] > '~')
            return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_ADMIN_TOKEN: visible ASCII only (no spaces)");
    return 0;
}

/* EXPORTQ_FRAME_ANCESTORS: CSP source expressions we allow: 'self' or an
 * http(s) origin of [A-Za-z0-9.-:*] (a wildcard host as CSP has it). */
int eq_config_frame_ancestors_check(const char *list, eq_err *err)
{
    const char *p = list;
    int n = 0;
    while (*p) {
        size_t len;
        while (*p == ' ')
            p++;
        len = strcspn(p, " ");
        if (len == 0)
            break;
        if (!(len == 6 && strncmp(p, "'self'", 6) == 0)) {
            size_t scheme = strncmp(p, "https://", 8) == 0 ? 8 : strncmp(p, "http://", 7) == 0 ? 7 : 0;
            if (!scheme || len == scheme || len > 256)
                return eq_fail(err, EQ_ERR_CONFIG,
                               "EXPORTQ_FRAME_ANCESTORS: '%.*s' is not 'self' or an http(s)://host[:port] origin",
                               (int)(len > 80 ? 80 : len), p);
            for (size_t i = scheme; i < len; i++)
                if (!isalnum((unsigned char)p[i]) && !strchr(".-:*", p[i]))
                    return eq_fail(err, EQ_ERR_CONFIG,
                                   "EXPORTQ_FRAME_ANCESTORS: '%.*s' is not 'self' or an http(s)://host[:port] origin",
                                   (int)(len > 80 ? 80 : len), p);
        }
        p += len;
        n++;
    }
    if (n == 0)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_FRAME_ANCESTORS: empty (unset it to forbid framing)");
    return 0;
}

/* EXPORTQ_MAIL_ALLOWED_DOMAINS: "a.example, b.example": DNS names of two or
 * more labels (letters, digits, '-'), separated by commas. */
int eq_config_domains_check(const char *list, eq_err *err)
{
    const char *cur = list, *p;
    size_t n;
    int count = 0;
    while (eq_config_list_next(&cur, &p, &n)) {
        size_t labels = 1, label = 0;
        for (size_t i = 0; i < n; i++) {
            char c = p[i];
            if (c == '.') {
                if (label == 0 || p[i - 1] == '-')
                    labels = 0;
                else
                    labels++;
                label = 0;
            } else if (isalnum((unsigned char)c) || (c == '-' && label > 0)) {
                label++;
            } else {
                labels = 0;
            }
            if (labels == 0 || label > 63)
                break;
        }
        if (labels < 2 || label == 0 || p[n - 1] == '-' || n > 253)
            return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_MAIL_ALLOWED_DOMAINS: '%.*s' is not a domain name like example.com",
                           (int)(n > 80 ? 80 : n), p);
        count++;
    }
    if (count == 0)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_MAIL_ALLOWED_DOMAINS: no domain given");
    return 0;
}

/* A JWT claim name of a setting: 1..64 bytes of visible ASCII. */
static bool claim_name_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return n >= 1 && n <= 64;
}

int eq_config_jwt_check(const eq_config *cfg, eq_err *err)
{
    const struct {
        const char *name, *value;
    } claims[] = {{"EXPORTQ_JWT_OWNER_CLAIM", cfg->jwt_owner_claim},
                  {"EXPORTQ_JWT_EMAIL_CLAIM", cfg->jwt_email_claim},
                  {"EXPORTQ_JWT_ADMIN_CLAIM", cfg->jwt_admin_claim}};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++)
        if (claims[i].value && !claim_name_valid(claims[i].value))
            return eq_fail(err, EQ_ERR_CONFIG, "%s: a claim name is 1 to 64 visible ASCII characters", claims[i].name);
    if (cfg->jwt_secret && strlen(cfg->jwt_secret) < 32)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_JWT_SECRET: at least 32 bytes");
    /* a public key is no HMAC secret: that mix-up is how algorithm confusion starts */
    if (cfg->jwt_secret && strstr(cfg->jwt_secret, "-----BEGIN"))
        return eq_fail(err, EQ_ERR_CONFIG,
                       "EXPORTQ_JWT_SECRET: looks like a PEM key; public keys go in EXPORTQ_JWT_PUBLIC_KEYS");
    if (cfg->jwt_public_keys && access(cfg->jwt_public_keys, R_OK) != 0)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_JWT_PUBLIC_KEYS: cannot read %s: %s", cfg->jwt_public_keys,
                       strerror(errno));
    return 0;
}

/* EXPORTQ_CORS_ORIGINS: "https://a.example, http://localhost:3000": exact
 * origins (scheme://host[:port], no path, no wildcard). */
int eq_config_origins_check(const char *list, eq_err *err)
{
    const char *cur = list, *p;
    size_t n;
    int count = 0;
    while (eq_config_list_next(&cur, &p, &n)) {
        size_t host = strncmp(p, "https://", 8) == 0 ? 8 : strncmp(p, "http://", 7) == 0 ? 7 : 0;
        if (host == 0 || n == host || n > 200 || memchr(p + host, '/', n - host) || memchr(p, '*', n) ||
            strspn(p + host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") < n - host)
            return eq_fail(err, EQ_ERR_CONFIG,
                           "EXPORTQ_CORS_ORIGINS: '%.*s' is not an exact origin like https://app.example",
                           (int)(n > 80 ? 80 : n), p);
        count++;
    }
    if (count == 0)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_CORS_ORIGINS: no origin given");
    return 0;
}

bool eq_config_list_next(const char **cursor, const char **item, size_t *n)
{
    const char *p = *cursor + strspn(*cursor, ", ");
    *item = p;
    *n = strcspn(p, ", ");
    *cursor = p + *n;
    return *n > 0;
}

