/* sigv4.c - see sigv4.h */
#include "s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "s3/s3_uri.h"

#define SIGV4_MAX_TEXT (64 * 1024) /* one encoded name, value or header */
#define SIGV4_MAX_CANON (256 * 1024)
#define SCOPE_MAX 256 /* DATE/REGION/SERVICE/aws4_request */

typedef struct enc_pair {
    eq_buf name;
    eq_buf value;
} enc_pair;

void sigv4_format_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

int sigv4_sha256_hex(const void *p, size_t n, char hex[65])
{
    uint8_t md[32];
    unsigned int mdlen = 0;
    hex[0] = '\0';
    if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    eq_hex_encode(md, 32, hex);
    return 0;
}

/* HMAC-SHA256; -1 when OpenSSL fails (out is then unusable) */
static int hmac(const uint8_t *key, size_t keylen, const char *msg, size_t msglen, uint8_t out[32])
{
    unsigned int len = 32;
    if (keylen > INT32_MAX ||
        !HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, msglen, out, &len) || len != 32)
        return -1;
    return 0;
}

int sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                      uint8_t key[32], eq_err *err)
{
    uint8_t k[32];
    size_t slen = strlen(secret);
    uint8_t *seed = malloc(slen + 4);
    int rc;
    if (!seed)
        return eq_fail(err, EQ_ERR_NOMEM, "sigv4: out of memory for the signing key");
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, slen);
    rc = hmac(seed, slen + 4, date8, strlen(date8), k);
    OPENSSL_cleanse(seed, slen + 4);
    free(seed);
    if (rc == 0)
        rc = hmac(k, 32, region, strlen(region), k);
    if (rc == 0)
        rc = hmac(k, 32, service, strlen(service), k);
    if (rc == 0)
        rc = hmac(k, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k, sizeof k);
    if (rc < 0) {
        OPENSSL_cleanse(key, 32);
        return eq_fail(err, EQ_ERR_NOMEM, "sigv4: HMAC-SHA256 failed");
    }
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->name.data, y->name.data);
    return c ? c : strcmp(x->value.data, y->value.data);
}

int sigv4_canonical_query(const sigv4_kv *q, size_t n, eq_buf *out, eq_err *err)
{
    enc_pair pairs[SIGV4_MAX_PARAMS];
    size_t i, made = 0;
    int rc = -1;

    if (n > SIGV4_MAX_PARAMS)
        return eq_fail(err, EQ_ERR_LIMIT, "sigv4: more than %d query parameters", SIGV4_MAX_PARAMS);
    for (i = 0; i < n; i++, made++) {
        const char *v = q[i].value ? q[i].value : "";
        eq_buf_init(&pairs[i].name, SIGV4_MAX_TEXT);
        eq_buf_init(&pairs[i].value, SIGV4_MAX_TEXT);
        if (eq_buf_reserve(&pairs[i].name, 1, err) < 0 || eq_buf_reserve(&pairs[i].value, 1, err) < 0 ||
            s3_uri_encode(&pairs[i].name, q[i].name, strlen(q[i].name), false, err) < 0 ||
            s3_uri_encode(&pairs[i].value, v, strlen(v), false, err) < 0) {
            made++;
            goto fail;
        }
        pairs[i].name.data[pairs[i].name.len] = '\0';
        pairs[i].value.data[pairs[i].value.len] = '\0';
    }
    qsort(pairs, n, sizeof pairs[0], pair_cmp);
    for (i = 0; i < n; i++) {
        if (eq_buf_printf(out, err, "%s%s=%s", i ? "&" : "", pairs[i].name.data, pairs[i].value.data) < 0)
            goto fail;
    }
    rc = 0;
fail:
    for (i = 0; i < made; i++) {
        eq_buf_cleanup(&pairs[i].name);
        eq_buf_cleanup(&pairs[i].value);
    }
    return rc;
}

typedef struct canon_header {
    char name[128];
    const char *value;
    size_t index; /* original order, so repeated names keep theirs */
} canon_header;

static int header_cmp(const void *a, const void *b)
{
    const canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Appends v trimmed, with each inner run of spaces and tabs made one space. */
static int append_trimmed(eq_buf *out, const char *v, eq_err *err)
{
    bool space = false, any = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = any;
            continue;
        }
        if (space && eq_buf_append(out, " ", 1, err) < 0)
            return -1;
        if (eq_buf_append(out, v, 1, err) < 0)
            return -1;
        space = false;
        any = true;
    }
    return 0;
}

int sigv4_canonical_request(const sigv4_request *r, eq_buf *out, char *signed_headers, size_t shsz,
                            eq_err *err)
{
    canon_header hs[SIGV4_MAX_PARAMS];
    size_t i, j, shlen = 0;

    if (r->nheaders > SIGV4_MAX_PARAMS)
        return eq_fail(err, EQ_ERR_LIMIT, "sigv4: more than %d headers", SIGV4_MAX_PARAMS);
    for (i = 0; i < r->nheaders; i++) {
        size_t n = strlen(r->headers[i].name);
        if (n == 0 || n >= sizeof hs[i].name)
            return eq_fail(err, EQ_ERR_INVALID, "sigv4: bad header name length %zu", n);
        for (j = 0; j < n; j++) {
            char c = r->headers[i].name[j];
            hs[i].name[j] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        hs[i].name[n] = '\0';
        hs[i].value = r->headers[i].value ? r->headers[i].value : "";
        hs[i].index = i;
    }
    qsort(hs, r->nheaders, sizeof hs[0], header_cmp);

    if (eq_buf_printf(out, err, "%s\n%s\n", r->method, r->uri && *r->uri ? r->uri : "/") < 0 ||
        sigv4_canonical_query(r->query, r->nquery, out, err) < 0 || eq_buf_puts(out, "\n", err) < 0)
        return -1;
    if (shsz)
        signed_headers[0] = '\0';
    for (i = 0; i < r->nheaders; i++) {
        bool repeat = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
        bool last_of_name = i + 1 == r->nheaders || strcmp(hs[i].name, hs[i + 1].name) != 0;
        if (!repeat) {
            int w = snprintf(signed_headers + shlen, shsz - shlen, "%s%s", shlen ? ";" : "", hs[i].name);
            if (w < 0 || (size_t)w >= shsz - shlen)
                return eq_fail(err, EQ_ERR_LIMIT, "sigv4: signed header list too long");
            shlen += (size_t)w;
            if (eq_buf_printf(out, err, "%s:", hs[i].name) < 0)
                return -1;
        } else if (eq_buf_puts(out, ",", err) < 0) {
            return -1;
        }
        if (append_trimmed(out, hs[i].value, err) < 0)
            return -1;
        if (last_of_name && eq_buf_puts(out, "\n", err) < 0)
            return -1;
    }
    return eq_buf_printf(out, err, "\n%s\n%s", signed_headers, r->payload_hash);
}

/* The credential scope DATE/REGION/SERVICE/aws4_request (DATE: the day of
 * amz_date) into out[size]. */
static int credential_scope(const sigv4_request *r, char *out, size_t size, eq_err *err)
{
    int w = snprintf(out, size, "%.8s/%s/%s/aws4_request", r->amz_date, r->region, r->service);
    if (w < 0 || (size_t)w >= size)
        return eq_fail(err, EQ_ERR_LIMIT, "sigv4: credential scope too long");
    return 0;
}

int sigv4_string_to_sign(const sigv4_request *r, const char *canonical_request, eq_buf *out, eq_err *err)
{
    char hash[65], scope[SCOPE_MAX];
    if (sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash) < 0)
        return eq_fail(err, EQ_ERR_NOMEM, "sigv4: SHA-256 failed");
    if (credential_scope(r, scope, sizeof scope, err) < 0)
        return -1;
    return eq_buf_printf(out, err, "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope, hash);
}

static int check_request(const sigv4_request *r, eq_err *err)
{
    if (!r->method || !r->region || !r->service || !r->amz_date || !r->payload_hash)
        return eq_fail(err, EQ_ERR_INVALID, "sigv4: incomplete request");
    if (strlen(r->amz_date) != 16 || r->amz_date[8] != 'T' || r->amz_date[15] != 'Z')
        return eq_fail(err, EQ_ERR_INVALID, "sigv4: bad date '%s'", r->amz_date);
    return 0;
}

/* signature (65 bytes) of the canonical request in canon */
static int sign_canonical(const sigv4_request *r, const sigv4_creds *creds, const char *canon, char sig[65],
                          eq_err *err)
{
    eq_buf sts;
    uint8_t key[32], mac[32];
    char date8[9];
    int rc = -1;

    eq_buf_init(&sts, 4096);
    if (sigv4_string_to_sign(r, canon, &sts, err) < 0)
        goto fail;
    memcpy(date8, r->amz_date, 8);
    date8[8] = '\0';
    if (sigv4_signing_key(creds->secret_key, date8, r->region, r->service, key, err) < 0)
        goto fail;
    if (hmac(key, sizeof key, sts.data, sts.len, mac) < 0) {
        eq_fail(err, EQ_ERR_NOMEM, "sigv4: HMAC-SHA256 failed");
        goto fail;
    }
    eq_hex_encode(mac, 32, sig);
    rc = 0;
fail:
    OPENSSL_cleanse(key, sizeof key);
    eq_buf_cleanup(&sts);
    return rc;
}

/* Canonicalises r, signs it: the signed headers' names (signed_headers[2048])
 * and the signature (sig[65]); the canonical request is appended to
 * canonical_out when not NULL. */
static int sign_request(const sigv4_request *r, const sigv4_creds *creds, char signed_headers[2048], char sig[65],
                        eq_buf *canonical_out, eq_err *err)
{
    eq_buf canon;
    int rc = -1;
    eq_buf_init(&canon, SIGV4_MAX_CANON);
    if (sigv4_canonical_request(r, &canon, signed_headers, 2048, err) < 0 ||
        sign_canonical(r, creds, canon.data, sig, err) < 0 ||
        (canonical_out && eq_buf_append(canonical_out, canon.data, canon.len, err) < 0))
        goto fail;
    rc = 0;
fail:
    eq_buf_cleanup(&canon);
    return rc;
}

int sigv4_authorization(const sigv4_request *r, const sigv4_creds *creds, char *auth, size_t authsz,
                        eq_buf *canonical_out, eq_err *err)
{
    char signed_headers[2048], sig[65], scope[SCOPE_MAX];
    int w;
    if (check_request(r, err) < 0 || credential_scope(r, scope, sizeof scope, err) < 0 ||
        sign_request(r, creds, signed_headers, sig, canonical_out, err) < 0)
        return -1;
    w = snprintf(auth, authsz, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                 creds->access_key, scope, signed_headers, sig);
    if (w < 0 || (size_t)w >= authsz)
        return eq_fail(err, EQ_ERR_LIMIT, "sigv4: Authorization header too long");
    return 0;
}

int sigv4_presign_query(const sigv4_request *r, const sigv4_creds *creds, long expires, eq_buf *query_out,
                        eq_buf *canonical_out, eq_err *err)
{
    sigv4_kv q[SIGV4_MAX_PARAMS];
    sigv4_request pr = *r;
    char credential[512], scope[SCOPE_MAX], exp[24], signed_headers[2048], sig[65];
    size_t n = 0, i, shlen = 0;

    if (check_request(r, err) < 0 || credential_scope(r, scope, sizeof scope, err) < 0)
        return -1;
    if (expires < 1 || expires > SIGV4_MAX_EXPIRES)
        return eq_fail(err, EQ_ERR_INVALID, "presigned URL lifetime %ld s is outside 1..%d", expires,
                       SIGV4_MAX_EXPIRES);
    if (r->nquery + 6 > SIGV4_MAX_PARAMS)
        return eq_fail(err, EQ_ERR_LIMIT, "sigv4: too many query parameters");
    /* The X-Amz-SignedHeaders value must be known before canonicalising;
     * build it the same way (sorted lower-case names). */
    {
        char scratch[2048];
        eq_buf tmp;
        int rc;
        sigv4_request hr = {.method = "GET", .uri = "/", .headers = r->headers, .nheaders = r->nheaders,
                            .payload_hash = "x"};
        eq_buf_init(&tmp, SIGV4_MAX_CANON);
        rc = sigv4_canonical_request(&hr, &tmp, scratch, sizeof scratch, err);
        eq_buf_cleanup(&tmp);
        if (rc < 0)
            return -1;
        shlen = strlen(scratch);
        memcpy(signed_headers, scratch, shlen + 1);
    }
    snprintf(credential, sizeof credential, "%s/%s", creds->access_key, scope);
    snprintf(exp, sizeof exp, "%ld", expires);
    for (i = 0; i < r->nquery; i++)
        q[n++] = r->query[i];
    q[n++] = (sigv4_kv){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
    q[n++] = (sigv4_kv){"X-Amz-Credential", credential};
    q[n++] = (sigv4_kv){"X-Amz-Date", r->amz_date};
    q[n++] = (sigv4_kv){"X-Amz-Expires", exp};
    if (creds->session_token && *creds->session_token)
        q[n++] = (sigv4_kv){"X-Amz-Security-Token", creds->session_token};
    q[n++] = (sigv4_kv){"X-Amz-SignedHeaders", signed_headers};
    pr.query = q;
    pr.nquery = n;
    pr.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
    if (sign_request(&pr, creds, signed_headers, sig, canonical_out, err) < 0 ||
        sigv4_canonical_query(q, n, query_out, err) < 0 ||
        eq_buf_printf(query_out, err, "&X-Amz-Signature=%s", sig) < 0)
        return -1;
    return 0;
}
