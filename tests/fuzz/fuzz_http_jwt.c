/* fuzz_http_jwt.c - libFuzzer target for JWT checking (http/http_jwt.h) and
 * the key file parser. The input is split at NUL bytes into: a header JSON, a
 * payload JSON, a raw token, a key file's text.
 *  - header and payload are base64url-encoded and signed with HS256 and the
 *    fuzzer's secret, so the claim checks are reached;
 *  - the raw token is checked as it comes (shape, base64url, JSON, algorithms);
 *  - the key text is parsed as EXPORTQ_JWT_PUBLIC_KEYS (PEM or JWKS).
 * Properties:
 *  - nothing crashes or reads out of bounds (ASan/UBSan);
 *  - an accepted token's header alg is exactly "HS256" (the only key is the
 *    secret: no "none", no other family); its payload has a numeric exp not
 *    past the leeway; its owner is 1..256 bytes without control characters;
 *  - a refusal always gives a reason; the claims are left empty;
 *  - a parsed key file holds 1..HTTP_JWT_KEYS_MAX keys.
 */
#include <jansson.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_jwt.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzz-secret-fuzz-secret-fuzz-secret!"
#define NOW 1800000000LL

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = a[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

static void check_accepted(const char *header, const char *payload, const http_jwt_claims *c)
{
    json_t *h = json_loads(header, 0, NULL), *p = json_loads(payload, 0, NULL), *exp;
    size_t n = strlen(c->owner);
    if (!h || !p || strcmp(json_string_value(json_object_get(h, "alg")) ? json_string_value(json_object_get(h, "alg")) : "", "HS256") != 0)
        abort();
    exp = json_object_get(p, "exp");
    if (!json_is_number(exp) || (double)NOW >= json_number_value(exp) + HTTP_JWT_LEEWAY)
        abort();
    if (n == 0 || n > EQ_IDENTITY_MAX_BYTES)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c->owner[i] < 0x20 || c->owner[i] == 0x7f)
            abort();
    json_decref(h);
    json_decref(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static http_jwt_keys *keys;
    const uint8_t *p = data;
    size_t left = size;
    char *header = fuzz_piece(&p, &left), *payload = fuzz_piece(&p, &left), *raw = fuzz_piece(&p, &left);
    char *keytext = fuzz_piece(&p, &left);
    const http_jwt_rules rules = {.owner_claim = "sub", .audience = "aud1", .email_claim = "email", .admin_claim = "adm"};
    http_jwt_claims c;
    char why[160];
    eq_err err;
    http_jwt_keys *parsed = NULL;
    size_t hl = strlen(header), pl = strlen(payload);
    char *tok = malloc(4 * (hl + pl) / 3 + 80);

    if (!keys && http_jwt_keys_parse(SECRET, NULL, 0, "fuzz", &keys, &err) < 0)
        abort();
    if (!tok)
        abort();
    /* header.payload signed with the secret */
    if (hl < 6000 && pl < 6000) {
        unsigned char mac[64];
        unsigned int ml = 0;
        size_t n;
        b64url((const unsigned char *)header, hl, tok);
        n = strlen(tok);
        tok[n++] = '.';
        b64url((const unsigned char *)payload, pl, tok + n);
        n = strlen(tok);
        HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)tok, n, mac, &ml);
        tok[n++] = '.';
        b64url(mac, ml, tok + n);
        if (http_jwt_verify(keys, &rules, tok, NOW, &c, why, sizeof why) == 0)
            check_accepted(header, payload, &c);
        else if (!why[0] || c.owner[0])
            abort();
    }
    /* the raw token */
    if (http_jwt_verify(keys, &rules, raw, NOW, &c, why, sizeof why) == 0) {
        if (!c.owner[0])
            abort();
    } else if (!why[0] || c.owner[0]) {
        abort();
    }
    /* the key file */
    if (http_jwt_keys_parse(NULL, keytext, strlen(keytext), "fuzz", &parsed, &err) == 0) {
        if (http_jwt_keys_count(parsed) == 0 && keytext[0])
            abort();
        if (http_jwt_keys_count(parsed) > HTTP_JWT_KEYS_MAX)
            abort();
    } else if (parsed) {
        abort();
    }
    http_jwt_keys_free(parsed);
    free(tok);
    free(header);
    free(payload);
    free(raw);
    free(keytext);
    return 0;
}
