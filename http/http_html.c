/* http_html.c - see http_html.h */
#include "http/http_html.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/hex.h"

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (p[0] >= 0xe0 && p[0] <= 0xef) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f))
            return 0; /* overlong, surrogates */
        return 3;
    }
    if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
            return 0;
        return 4;
    }
    return 0;
}

int http_html_escape(eq_buf *b, const char *s, eq_err *err)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        const char *rep = NULL;
        size_t n;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep) {
            if (eq_buf_puts(b, rep, err) < 0)
                return -1;
            p++;
            continue;
        }
        if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f) {
            if (eq_buf_puts(b, "\xef\xbf\xbd", err) < 0)
                return -1;
            p++;
            continue;
        }
        n = utf8_len(p);
        if (n == 0) {
            if (eq_buf_puts(b, "\xef\xbf\xbd", err) < 0)
                return -1;
            p++;
            continue;
        }
        if (eq_buf_append(b, p, n, err) < 0)
            return -1;
        p += n;
    }
    return 0;
}

int http_html_escape_to(const char *s, char *out, size_t outsz)
{
    eq_buf b;
    eq_err err;
    int rc;
    if (outsz == 0)
        return -1;
    out[0] = '\0';
    eq_buf_init(&b, outsz);
    rc = http_html_escape(&b, s, &err);
    if (rc == 0 && b.len < outsz) {
        memcpy(out, b.data ? b.data : "", b.len);
        out[b.len] = '\0';
    } else {
        rc = -1;
    }
    eq_buf_cleanup(&b);
    return rc;
}

int http_html_printf(eq_buf *b, eq_err *err, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return eq_fail(err, EQ_ERR_NOMEM, "html: a value longer than %zu bytes", sizeof tmp - 1);
    return http_html_escape(b, tmp, err);
}

/* Decodes src[0..n) (%XX, '+') into out[outsz]; -1 when malformed or too long. */
static int form_decode(const char *src, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = eq_hex_value(src[i + 1]);
            lo = eq_hex_value(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= outsz)
            return -1;
        out[o++] = (char)c;
    }
    if (outsz == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

int http_form_get(const char *body, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name), i = 0;
    if (outsz)
        out[0] = '\0';
    if (!body)
        return -1;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *eq = memchr(body + i, '=', end - i);
        size_t klen = eq ? (size_t)(eq - (body + i)) : end - i;
        if (klen == nl && memcmp(body + i, name, nl) == 0) {
            if (!eq)
                return form_decode("", 0, out, outsz);
            return form_decode(eq + 1, end - (size_t)(eq + 1 - body), out, outsz);
        }
        i = end + 1;
    }
    return -1;
}

int http_cookie_get(const char *header, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    const char *p = header;
    if (outsz)
        out[0] = '\0';
    while (p && *p) {
        const char *semi;
        size_t len;
        while (*p == ' ' || *p == '\t')
            p++;
        semi = strchr(p, ';');
        len = semi ? (size_t)(semi - p) : strlen(p);
        if (len > nl && p[nl] == '=' && strncmp(p, name, nl) == 0) {
            size_t vl = len - nl - 1;
            if (vl + 1 > outsz)
                return -1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 0;
        }
        p = semi ? semi + 1 : NULL;
    }
    return -1;
}

void http_human_bytes(long long bytes, char *out, size_t outsz)
{
    static const char *const units[] = {"KB", "MB", "GB", "TB", "PB"};
    double v = (double)bytes;
    int u = -1;
    if (bytes < 1000) {
        snprintf(out, outsz, "%lld B", bytes < 0 ? 0 : bytes);
        return;
    }
    while (v >= 999.95 && u < 4) {
        v /= 1000.0;
        u++;
    }
    snprintf(out, outsz, "%.1f %s", v, units[u]);
}

void http_human_count(long long n, char *out, size_t outsz)
{
    char digits[32];
    size_t len, o = 0;
    snprintf(digits, sizeof digits, "%lld", n < 0 ? 0 : n);
    len = strlen(digits);
    for (size_t i = 0; i < len && o + 1 < outsz; i++) {
        if (i > 0 && (len - i) % 3 == 0) {
            if (o + 2 >= outsz)
                break;
            out[o++] = ',';
        }
        out[o++] = digits[i];
    }
    if (outsz)
        out[o < outsz ? o : outsz - 1] = '\0';
}

void http_human_duration(long long s, char *out, size_t outsz)
{
    if (s < 60)
        snprintf(out, outsz, "less than a minute");
    else if (s < 90)
        snprintf(out, outsz, "about a minute");
    else if (s < 3600)
        snprintf(out, outsz, "about %lld minutes", (s + 30) / 60);
    else if (s < 5400)
        snprintf(out, outsz, "about an hour");
    else if (s < 86400)
        snprintf(out, outsz, "about %lld hours", (s + 1800) / 3600);
    else
        snprintf(out, outsz, "about %lld days", (s + 43200) / 86400);
}

void http_csp_hash(const char *text, char out[HTTP_CSP_HASH_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char b64[64];
    EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
    EVP_EncodeBlock(b64, md, (int)mdlen);
    snprintf(out, HTTP_CSP_HASH_MAX, "'sha256-%s'", (const char *)b64);
}

void http_mac_hex(const char *key, size_t keylen, const char *a, const char *b, char out[HTTP_MAC_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char sep = 0x1f;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL, (const unsigned char *)key, keylen);
    size_t len = sizeof md;
    out[0] = '\0';
    if (!pkey)
        return;
    ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
        EVP_DigestSignUpdate(ctx, a, strlen(a)) == 1 && EVP_DigestSignUpdate(ctx, &sep, 1) == 1 &&
        EVP_DigestSignUpdate(ctx, b, strlen(b)) == 1 && EVP_DigestSignFinal(ctx, md, &len) == 1) {
        mdlen = (unsigned int)len;
        eq_hex_encode(md, mdlen, out);
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
}

bool http_secret_equal(const char *a, const char *b)
{
    unsigned char da[32], db[32];
    unsigned int la = 0, lb = 0;
    if (!a || !b)
        return false;
    EVP_Digest(a, strlen(a), da, &la, EVP_sha256(), NULL);
    EVP_Digest(b, strlen(b), db, &lb, EVP_sha256(), NULL);
    return la == 32 && lb == 32 && CRYPTO_memcmp(da, db, 32) == 0;
}
