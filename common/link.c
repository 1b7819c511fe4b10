/* link.c - stable signed links; see link.h */
#include "common/link.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "common/hex.h"

#define LINK_VERSION 1
#define PAYLOAD_LEN 18 /* version, scope, job id, expiry */
#define MAC_LEN 32
#define RAW_LEN (PAYLOAD_LEN + MAC_LEN)

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; out has room for 4 * ceil(n / 3) + 1 */
static size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

/* Decodes exactly LINK_TOKEN_LEN characters into RAW_LEN bytes; -1 on any
 * character outside the alphabet or non-zero leftover bits (non-canonical). */
static int decode_token(const char *t, unsigned char raw[RAW_LEN])
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < LINK_TOKEN_LEN; i++) {
        int v = eq_b64url_value(t[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < RAW_LEN)
                raw[o] = (unsigned char)(acc >> bits);
            o++;
        }
    }
    if (o != RAW_LEN || (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return 0;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int mac(const char *secret, size_t secret_len, const unsigned char payload[PAYLOAD_LEN],
               unsigned char out[MAC_LEN])
{
    static const char domain[] = "exportq-link"; /* the NUL is signed too */
    unsigned char msg[sizeof domain + PAYLOAD_LEN];
    unsigned int len = 0;
    memcpy(msg, domain, sizeof domain);
    memcpy(msg + sizeof domain, payload, PAYLOAD_LEN);
    if (!secret || secret_len == 0 || secret_len > 4096)
        return -1;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, msg, sizeof msg, out, &len) || len != MAC_LEN)
        return -1;
    return 0;
}

int link_token_mint(const char *secret, size_t secret_len, link_scope scope, int64_t job_id, int64_t exp,
                    char out[LINK_TOKEN_MAX])
{
    unsigned char raw[RAW_LEN];
    out[0] = '\0';
    if (job_id < 1 || exp < 0 || (scope != LINK_SCOPE_DOWNLOAD && scope != LINK_SCOPE_STATUS))
        return -1;
    raw[0] = LINK_VERSION;
    raw[1] = (unsigned char)scope;
    put_be64(raw + 2, (uint64_t)job_id);
    put_be64(raw + 10, (uint64_t)exp);
    if (mac(secret, secret_len, raw, raw + PAYLOAD_LEN) < 0)
        return -1;
    if (b64url_encode(raw, RAW_LEN, out) != LINK_TOKEN_LEN) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int link_token_verify(const char *secret, size_t secret_len, const char *token, link_scope want,
                      int64_t *job_id, int64_t *exp)
{
    unsigned char raw[RAW_LEN], want_mac[MAC_LEN];
    uint64_t id, e;
    *job_id = 0;
    *exp = 0;
    if (!token || strnlen(token, LINK_TOKEN_LEN + 1) != LINK_TOKEN_LEN || decode_token(token, raw) < 0)
        return -1;
    if (mac(secret, secret_len, raw, want_mac) < 0)
        return -1;
    /* the MAC first, in constant time: nothing about a forged token's
     * payload is looked at before it is known to be ours */
    if (CRYPTO_memcmp(want_mac, raw + PAYLOAD_LEN, MAC_LEN) != 0)
        return -1;
    id = get_be64(raw + 2);
    e = get_be64(raw + 10);
    if (raw[0] != LINK_VERSION || raw[1] != (unsigned char)want || id < 1 || id > INT64_MAX || e > INT64_MAX)
        return -1;
    *job_id = (int64_t)id;
    *exp = (int64_t)e;
    return 0;
}

bool link_configured(const eq_config *cfg)
{
    return cfg && cfg->public_url && cfg->link_secret;
}

int link_url(const eq_config *cfg, link_scope scope, int64_t job_id, int64_t exp, char *out, size_t outsz)
{
    char token[LINK_TOKEN_MAX];
    int n;
    if (outsz)
        out[0] = '\0';
    if (!link_configured(cfg) ||
        link_token_mint(cfg->link_secret, strlen(cfg->link_secret), scope, job_id, exp, token) < 0)
        return -1;
    if (scope == LINK_SCOPE_DOWNLOAD)
        n = snprintf(out, outsz, "%s/v1/exports/%lld/download?t=%s", cfg->public_url, (long long)job_id, token);
    else
        n = snprintf(out, outsz, "%s/exports/%lld?t=%s", cfg->public_url, (long long)job_id, token);
    OPENSSL_cleanse(token, sizeof token);
    if (n < 0 || (size_t)n >= outsz) {
        if (outsz)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

int64_t link_expiry(const eq_config *cfg, long long link_expires_at, long long now)
{
    if (link_expires_at > 0)
        return (int64_t)link_expires_at;
    return (int64_t)now + (int64_t)cfg->retention_seconds;
}

int link_public_url_check(const char *url, char *why, size_t whysz)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *frag = NULL;
    int rc = -1;
    size_t n = strlen(url);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f) {
            snprintf(why, whysz, "must be visible ASCII without spaces");
            return -1;
        }
    }
    if (n > 2048) {
        snprintf(why, whysz, "longer than 2048 bytes");
        return -1;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(why, whysz, "must start with http:// or https://");
        return -1;
    }
    {
        const char *auth = strstr(url, "://") + 3;
        if (*auth == '\0' || *auth == '/') { /* curl would take "https:///x" as host x */
            snprintf(why, whysz, "has no host");
            return -1;
        }
    }
    u = curl_url();
    if (!u) {
        snprintf(why, whysz, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(why, whysz, "is not an absolute URL");
        goto out;
    }
    (void)curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    (void)curl_url_get(u, CURLUPART_HOST, &host, 0);
    (void)curl_url_get(u, CURLUPART_USER, &user, 0);
    (void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
    (void)curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
    if (!scheme || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        snprintf(why, whysz, "must start with http:// or https://");
    else if (!host || !*host)
        snprintf(why, whysz, "has no host");
    else if (user || strchr(url, '@'))
        snprintf(why, whysz, "must not carry user info (user@)");
    else if (query || frag || strpbrk(url, "?#"))
        snprintf(why, whysz, "must not have a query (?) or fragment (#)");
    else
        rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(query);
    curl_free(frag);
    curl_url_cleanup(u);
    return rc;
}
