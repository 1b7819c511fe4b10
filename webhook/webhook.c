/* webhook.c - signature, event body, URL checks and one delivery; see webhook.h */
#include "webhook/webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/config.h"
#include "common/hex.h"

#define HOST_MAX 256
#define PIN_MAX 1024

int webhook_signature(const void *secret, size_t secret_len, long long t, const void *body, size_t len, char *out,
                      size_t outsz)
{
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    unsigned char md[32];
    char prefix[32], hex[65];
    size_t mdlen = 0;
    int plen, rc = -1;
    static const unsigned char empty[1] = {0};

    if (outsz)
        out[0] = '\0';
    plen = snprintf(prefix, sizeof prefix, "%lld.", t);
    if (plen < 0 || (size_t)plen >= sizeof prefix)
        return -1;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(ctx = EVP_MAC_CTX_new(mac)) ||
        !EVP_MAC_init(ctx, secret_len ? secret : empty, secret_len, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) ||
        (len && !EVP_MAC_update(ctx, body, len)) || !EVP_MAC_final(ctx, md, &mdlen, sizeof md) || mdlen != 32)
        goto done;
    eq_hex_encode(md, 32, hex);
    plen = snprintf(out, outsz, "t=%lld,v1=%s", t, hex);
    if (plen < 0 || (size_t)plen >= outsz) {
        if (outsz)
            out[0] = '\0';
        goto done;
    }
    rc = 0;
done:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

bool webhook_signature_verify(const void *secret, size_t secret_len, const char *header, const void *body,
                              size_t len, long long now, long long tolerance)
{
    char want[WEBHOOK_SIG_MAX];
    const char *p = header, *v1s[8];
    size_t nv1 = 0;
    long long t = 0;
    bool have_t = false, match = false;

    if (!header)
        return false;
    while (*p) { /* comma-separated key=value items */
        size_t n = strcspn(p, ",");
        if (n > 2 && p[0] == 't' && p[1] == '=' && !have_t) {
            char *end;
            char num[24];
            if (n - 2 >= sizeof num)
                return false;
            memcpy(num, p + 2, n - 2);
            num[n - 2] = '\0';
            t = strtoll(num, &end, 10);
            if (*end || num[0] == '-' || num[0] == '+' || num[0] == ' ')
                return false;
            have_t = true;
        } else if (n == 67 && strncmp(p, "v1=", 3) == 0 && nv1 < sizeof v1s / sizeof v1s[0]) {
            v1s[nv1++] = p + 3;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!have_t || !nv1 || (tolerance > 0 && (t < now - tolerance || t > now + tolerance)))
        return false;
    if (webhook_signature(secret, secret_len, t, body, len, want, sizeof want) < 0)
        return false;
    /* want is "t=T,v1=" + 64 hex: compare the hex part */
    for (size_t i = 0; i < nv1; i++)
        if (CRYPTO_memcmp(v1s[i], strstr(want, ",v1=") + 4, 64) == 0)
            match = true;
    return match;
}

char *webhook_event_body(const char *id, const char *type, long long created, json_t *data)
{
    json_t *o = json_object();
    char *s = NULL;
    if (!o)
        return NULL;
    if (json_object_set_new(o, "id", json_string(id)) == 0 && json_object_set_new(o, "type", json_string(type)) == 0 &&
        json_object_set_new(o, "created", json_integer(created)) == 0 && json_object_set(o, "data", data) == 0)
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s && strlen(s) > WEBHOOK_BODY_MAX) {
        free(s);
        s = NULL;
    }
    return s;
}

static bool is_loopback_name(const char *s, size_t n)
{
    return (n == 9 && strncasecmp(s, "localhost", 9) == 0) || (n == 9 && strncmp(s, "127.0.0.1", 9) == 0) ||
           (n == 3 && strncmp(s, "::1", 3) == 0) || (n == 5 && strncmp(s, "[::1]", 5) == 0);
}

int webhook_host_allowed(const char *host, const char *allowed)
{
    size_t hl = host ? strlen(host) : 0;
    const char *cur = allowed, *p;
    size_t n;
    int best = WEBHOOK_HOST_NO;
    if (hl > 1 && host[hl - 1] == '.')
        hl--; /* "example.com." is example.com */
    if (!hl || !cur)
        return WEBHOOK_HOST_NO;
    while (eq_config_list_next(&cur, &p, &n)) {
        if (n == hl && strncasecmp(p, host, n) == 0) {
            int m = is_loopback_name(p, n) ? WEBHOOK_HOST_LOOPBACK : WEBHOOK_HOST_EXACT;
            if (m > best)
                best = m;
        } else if (n > 2 && p[0] == '*' && p[1] == '.' && hl > n - 1 &&
                   strncasecmp(host + hl - (n - 1), p + 1, n - 1) == 0) {
            if (best < WEBHOOK_HOST_WILDCARD)
                best = WEBHOOK_HOST_WILDCARD; /* "*.example.com": a subdomain, not example.com */
        }
    }
    return best;
}

static bool v4_allowed(uint32_t a, int match)
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16), b2 = (uint8_t)(a >> 8);
    if (b0 == 0 || b0 >= 224) /* this network, multicast, reserved, broadcast */
        return false;
    if (b0 == 169 && b1 == 254) /* link-local: cloud metadata 169.254.169.254, ECS 169.254.170.2 */
        return false;
    if (b0 == 100 && (b1 & 0xC0) == 64) /* 100.64/10 (CGNAT; some clouds' metadata, 100.100.100.200) */
        return false;
    if (b0 == 192 && b1 == 0 && b2 == 0) /* 192.0.0/24: IETF protocol assignments */
        return false;
    if (b0 == 127)
        return match == WEBHOOK_HOST_LOOPBACK;
    if (b0 == 10 || (b0 == 172 && (b1 & 0xF0) == 16) || (b0 == 192 && b1 == 168) || (b0 == 198 && (b1 & 0xFE) == 18))
        return match >= WEBHOOK_HOST_EXACT;
    return match >= WEBHOOK_HOST_WILDCARD;
}

static uint32_t v4_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool v6_allowed(const uint8_t *a, int match)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t zero[16] = {0};
    bool is_zero12 = memcmp(a, zero, 12) == 0;
    if (memcmp(a, zero, 16) == 0 || a[0] == 0xff) /* unspecified, multicast */
        return false;
    if (is_zero12 && a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] == 1) /* ::1 */
        return match == WEBHOOK_HOST_LOOPBACK;
    if (memcmp(a, mapped, 12) == 0 || is_zero12 || memcmp(a, nat64, 12) == 0) /* ::ffff:v4, ::v4, 64:ff9b::v4 */
        return v4_allowed(v4_at(a + 12), match);
    if (a[0] == 0x20 && a[1] == 0x02) /* 2002:v4::/48 6to4 */
        return v4_allowed(v4_at(a + 2), match);
    if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) /* 64:ff9b:1::/48, local NAT64 */
        return false;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) /* 2001::/32 Teredo (hides an IPv4) */
        return false;
    if (a[0] == 0xfe && (a[1] & 0xC0) == 0x80) /* fe80::/10 link-local */
        return false;
    if (a[0] == 0xfd && a[1] == 0x00 && a[2] == 0x0e && a[3] == 0xc2) /* fd00:ec2::/32: EC2 metadata (fd00:ec2::254) */
        return false;
    if ((a[0] & 0xFE) == 0xFC || (a[0] == 0xfe && (a[1] & 0xC0) == 0xC0)) /* fc00::/7, fec0::/10 */
        return match >= WEBHOOK_HOST_EXACT;
    return match >= WEBHOOK_HOST_WILDCARD;
}

bool webhook_address_allowed(const struct sockaddr *sa, int match)
{
    if (match == WEBHOOK_HOST_NO || !sa)
        return false;
    if (sa->sa_family == AF_INET)
        return v4_allowed(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr), match);
    if (sa->sa_family == AF_INET6)
        return v6_allowed(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr, match);
    return false;
}

static void addr_text(const struct addrinfo *ai, char *out, size_t size)
{
    const void *a = ai->ai_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
    if (!inet_ntop(ai->ai_family, a, out, (socklen_t)size))
        snprintf(out, size, "?");
}

/* For a kind's URL: checks the scheme, the host and every address it
 * resolves to, and pins the connection to the checked addresses (*pin, for
 * CURLOPT_RESOLVE). A refusal is EQ_ERR_INVALID; a name that does not
 * resolve is retryable EQ_ERR_IO. */
static int check_url(const char *url, const char *allowed, struct curl_slist **pin, eq_err *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    char h[HOST_MAX], entry[PIN_MAX], addr[INET6_ADDRSTRLEN + 2];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    int match, rc = -1;
    size_t hl, el;

    *pin = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        eq_fail(err, EQ_ERR_INVALID, "webhook URL refused: not a valid URL");
        goto done;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        eq_fail(err, EQ_ERR_INVALID, "webhook URL refused: only http and https");
        goto done;
    }
    hl = strlen(host);
    if (hl >= sizeof h || hl == 0) {
        eq_fail(err, EQ_ERR_INVALID, "webhook URL refused: bad host name length");
        goto done;
    }
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') /* "[::1]" -> "::1" */
        snprintf(h, sizeof h, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(h, sizeof h, "%s", host);
    if (strchr(h, '%')) { /* an IPv6 zone id ("fe80::1%eth0") names an interface */
        eq_fail(err, EQ_ERR_INVALID, "webhook URL refused: IPv6 zone ids are not allowed");
        goto done;
    }
    match = webhook_host_allowed(h, allowed);
    if (match == WEBHOOK_HOST_NO)
        match = webhook_host_allowed(host, allowed); /* "[::1]" written with brackets */
    if (match == WEBHOOK_HOST_NO) {
        eq_fail(err, EQ_ERR_INVALID, "webhook URL refused: host '%.100s' is not in EXPORTQ_WEBHOOK_ALLOWED_HOSTS", h);
        goto done;
    }
    if (getaddrinfo(h, port, &hints, &res) != 0 || !res) {
        eq_fail_retry(err, EQ_ERR_IO, "webhook: cannot resolve '%.100s'", h);
        goto done;
    }
    el = (size_t)snprintf(entry, sizeof entry, "%s:%s:", host, port);
    for (ai = res; ai; ai = ai->ai_next) {
        int w;
        addr_text(ai, addr, sizeof addr);
        if (!webhook_address_allowed(ai->ai_addr, match)) {
            eq_fail(err, EQ_ERR_INVALID,
                    "webhook URL refused: '%.100s' resolves to %s (link-local, metadata, loopback and private "
                    "addresses are not allowed for a kind's webhook_url unless EXPORTQ_WEBHOOK_ALLOWED_HOSTS names "
                    "the host)",
                    h, addr);
            goto done;
        }
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        w = snprintf(entry + el, sizeof entry - el, ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                     el > strlen(host) + strlen(port) + 2 ? "," : "", addr);
        if (w > 0 && (size_t)w < sizeof entry - el)
            el += (size_t)w; /* more addresses than fit: the first ones are enough */
    }
    if (el <= strlen(host) + strlen(port) + 2) {
        eq_fail(err, EQ_ERR_INVALID, "webhook URL refused: '%.100s' has no IP address", h);
        goto done;
    }
    if (!(*pin = curl_slist_append(NULL, entry))) {
        eq_fail(err, EQ_ERR_NOMEM, "webhook: out of memory");
        goto done;
    }
    rc = 0;
done:
    if (res)
        freeaddrinfo(res);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* The receiver's body does not matter, only its status: read up to
 * WEBHOOK_REPLY_MAX bytes, then stop the transfer. */
static size_t reply_sink(char *p, size_t size, size_t n, void *ud)
{
    size_t *seen = ud;
    (void)p;
    *seen += size * n;
    return *seen > WEBHOOK_REPLY_MAX ? 0 : size * n;
}

static int progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    const webhook_stop *stop = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return stop->stopped(stop->ud) ? 1 : 0;
}

int webhook_post(const char *url, bool trusted, const char *allowed_hosts, const char *secret, const char *body,
                 size_t len, int timeout_s, const webhook_stop *stop, webhook_result *res, eq_err *err)
{
    CURL *c = NULL;
    struct curl_slist *hdrs = NULL, *pin = NULL;
    char sig[WEBHOOK_SIG_MAX + 32];
    size_t seen = 0, pre;
    long code = 0;
    CURLcode cr;
    int rc = -1;

    res->status = 0;
    res->refused = false;
    if (len > WEBHOOK_BODY_MAX)
        return eq_fail(err, EQ_ERR_LIMIT, "webhook: body larger than %d bytes", WEBHOOK_BODY_MAX);
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        res->refused = true;
        return eq_fail(err, EQ_ERR_INVALID, "webhook URL refused: only http and https");
    }
    if (!secret || !*secret) {
        res->refused = true;
        return eq_fail(err, EQ_ERR_CONFIG, "webhook not sent: EXPORTQ_WEBHOOK_SECRET is not set");
    }
    if (!trusted && check_url(url, allowed_hosts, &pin, err) < 0) {
        res->refused = err->code == EQ_ERR_INVALID;
        return -1;
    }
    if (!(c = curl_easy_init())) {
        eq_fail(err, EQ_ERR_NOMEM, "webhook: out of memory");
        goto done;
    }
    pre = (size_t)snprintf(sig, sizeof sig, "Exportq-Signature: ");
    if (webhook_signature(secret, strlen(secret), (long long)time(NULL), body, len, sig + pre, sizeof sig - pre) < 0) {
        eq_fail(err, EQ_ERR_NOMEM, "webhook: cannot compute the signature");
        goto done;
    }
    if (!(hdrs = curl_slist_append(hdrs, "Content-Type: application/json")) ||
        !(hdrs = curl_slist_append(hdrs, sig)) || !(hdrs = curl_slist_append(hdrs, "Expect:"))) {
        eq_fail(err, EQ_ERR_NOMEM, "webhook: out of memory");
        goto done;
    }
    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK) {
        res->refused = true;
        eq_fail(err, EQ_ERR_INVALID, "webhook URL refused: not a valid http(s) URL");
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "exportq-webhook/" EXPORTQ_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(timeout_s < 5 ? timeout_s : 5));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a 3xx is an answer, not a new destination */
    curl_easy_setopt(c, CURLOPT_PROXY, "");          /* never a proxy from the environment */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
    if (pin)
        curl_easy_setopt(c, CURLOPT_RESOLVE, pin); /* connect to the addresses checked */
    if (stop && stop->stopped) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)stop);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    cr = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (cr != CURLE_OK && !(cr == CURLE_WRITE_ERROR && code > 0)) {
        eq_fail_retry(err, EQ_ERR_IO, "webhook: %s", curl_easy_strerror(cr));
        goto done;
    }
    res->status = (int)code;
    rc = 0;
done:
    curl_slist_free_all(hdrs);
    curl_slist_free_all(pin);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}
