/* test_http_jwt.c - JWT checking (http/http_jwt.h): every algorithm family
 * from PEM and JWKS keys, kid, alg none, HS-with-public-key confusion, an
 * algorithm that does not match the key, exp/nbf (60 s leeway), aud, iss, the
 * owner claim (string, integer, limits), email and admin claims, sizes and
 * shapes, and key files refused. Tokens are minted here with OpenSSL (HMAC,
 * EVP_DigestSign), not with libjwt, so the two sides do not share code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "http/http_jwt.h"
#include "http/http_jwt_keys.h"

#define NOW 1800000000LL
#define SECRET "0123456789abcdef0123456789abcdef-secret"

static EVP_PKEY *rsa, *p256, *p384, *ed, *rsa_small;
static char rsa_pem[4096], p256_pem[1024], p384_pem[1024], ed_pem[1024];

static void pub_pem(EVP_PKEY *pk, char *out, size_t outsz)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *d;
    long n;
    assert_int_equal(PEM_write_bio_PUBKEY(b, pk), 1);
    n = BIO_get_mem_data(b, &d);
    assert_true(n > 0 && (size_t)n < outsz);
    memcpy(out, d, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
}

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

/* header.payload signed: with hkey (HMAC by md), else with pk (md; NULL for
 * EdDSA), else no signature. ES signatures are turned into JOSE's r || s. */
static char tok[20000];
static const char *mint(const char *header, const char *payload, const EVP_MD *md, const void *hkey, size_t hlen,
                        EVP_PKEY *pk)
{
    unsigned char sig[1024];
    size_t sl = sizeof sig;
    size_t n;
    b64url((const unsigned char *)header, strlen(header), tok);
    n = strlen(tok);
    tok[n++] = '.';
    b64url((const unsigned char *)payload, strlen(payload), tok + n);
    n = strlen(tok);
    if (hkey) {
        unsigned int l = 0;
        HMAC(md, hkey, (int)hlen, (unsigned char *)tok, n, sig, &l);
        sl = l;
    } else if (pk) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, pk), 1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (unsigned char *)tok, n), 1);
        EVP_MD_CTX_free(ctx);
        if (EVP_PKEY_is_a(pk, "EC")) {
            const unsigned char *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
            size_t half = (size_t)(EVP_PKEY_get_bits(pk) + 7) / 8;
            assert_non_null(es);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, (int)half);
            sl = 2 * half;
            ECDSA_SIG_free(es);
        }
    } else {
        sl = 0;
    }
    tok[n++] = '.';
    b64url(sig, sl, tok + n);
    return tok;
}

static const char *hs256(const char *payload)
{
    return mint("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), SECRET, strlen(SECRET), NULL);
}

static const http_jwt_rules sub_rules = {.owner_claim = "sub"};

static int check(const http_jwt_keys *k, const http_jwt_rules *r, const char *t, http_jwt_claims *c, char *why)
{
    return http_jwt_verify(k, r, t, NOW, c, why, 200);
}

static http_jwt_keys *keys_from(const char *secret, const char *text)
{
    http_jwt_keys *k = NULL;
    eq_err err;
    if (http_jwt_keys_parse(secret, text, text ? strlen(text) : 0, "test", &k, &err) < 0)
        fail_msg("keys: %s", err.msg);
    return k;
}

static int setup(void **state)
{
    (void)state;
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!rsa || !rsa_small || !p256 || !p384 || !ed)
        return -1;
    pub_pem(rsa, rsa_pem, sizeof rsa_pem);
    pub_pem(p256, p256_pem, sizeof p256_pem);
    pub_pem(p384, p384_pem, sizeof p384_pem);
    pub_pem(ed, ed_pem, sizeof ed_pem);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa_small);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
    return 0;
}

static const char *valid_payload = "{\"sub\":\"u1\",\"exp\":1800000600}";

static void test_every_family_from_pem(void **state)
{
    char all[8192], why[200];
    http_jwt_claims c;
    http_jwt_keys *k;
    (void)state;
    snprintf(all, sizeof all, "%s%s%s%s", rsa_pem, p256_pem, p384_pem, ed_pem);
    k = keys_from(SECRET, all);
    assert_int_equal(http_jwt_keys_count(k), 4);
    assert_int_equal(check(k, &sub_rules, hs256(valid_payload), &c, why), 0);
    assert_string_equal(c.owner, "u1");
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"HS384\"}", valid_payload, EVP_sha384(), SECRET,
                                                 strlen(SECRET), NULL), &c, why), 0);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"HS512\"}", valid_payload, EVP_sha512(), SECRET,
                                                 strlen(SECRET), NULL), &c, why), 0);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"RS256\"}", valid_payload, EVP_sha256(), NULL, 0, rsa),
                           &c, why), 0);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"RS512\"}", valid_payload, EVP_sha512(), NULL, 0, rsa),
                           &c, why), 0);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"ES256\"}", valid_payload, EVP_sha256(), NULL, 0, p256),
                           &c, why), 0);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"ES384\"}", valid_payload, EVP_sha384(), NULL, 0, p384),
                           &c, why), 0);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"EdDSA\"}", valid_payload, NULL, NULL, 0, ed), &c, why), 0);
    assert_string_equal(c.owner, "u1");
    /* a tampered payload: same signature, other owner */
    {
        char t[4096], *d1, *d2, forged[200];
        snprintf(t, sizeof t, "%s", mint("{\"alg\":\"RS256\"}", valid_payload, EVP_sha256(), NULL, 0, rsa));
        d1 = strchr(t, '.');
        d2 = strchr(d1 + 1, '.');
        b64url((const unsigned char *)"{\"sub\":\"u2\",\"exp\":1800000600}", 29, forged);
        memmove(d1 + 1 + strlen(forged), d2, strlen(d2) + 1);
        memcpy(d1 + 1, forged, strlen(forged));
        assert_int_equal(check(k, &sub_rules, t, &c, why), -1);
        assert_string_equal(why, "signature does not verify");
        assert_string_equal(c.owner, "");
    }
    http_jwt_keys_free(k);
}

static void test_algorithm_confusion(void **state)
{
    char why[200];
    http_jwt_claims c;
    http_jwt_keys *pub = keys_from(NULL, rsa_pem), *both = keys_from(SECRET, rsa_pem);
    (void)state;
    /* HS256 with the PEM public key as the HMAC secret: the classic confusion */
    const char *t = mint("{\"alg\":\"HS256\"}", valid_payload, EVP_sha256(), rsa_pem, strlen(rsa_pem), NULL);
    assert_int_equal(check(pub, &sub_rules, t, &c, why), -1);
    assert_non_null(strstr(why, "no EXPORTQ_JWT_SECRET"));
    assert_int_equal(check(both, &sub_rules, t, &c, why), -1);
    assert_string_equal(why, "signature does not verify");
    /* alg none, with and without a signature, any case */
    assert_int_equal(check(both, &sub_rules, mint("{\"alg\":\"none\"}", valid_payload, NULL, NULL, 0, NULL), &c, why), -1);
    assert_string_equal(why, "alg none is refused");
    assert_int_equal(check(both, &sub_rules, mint("{\"alg\":\"NONE\"}", valid_payload, EVP_sha256(), SECRET,
                                                    strlen(SECRET), NULL), &c, why), -1);
    assert_int_equal(check(both, &sub_rules, mint("{\"typ\":\"JWT\"}", valid_payload, EVP_sha256(), SECRET,
                                                    strlen(SECRET), NULL), &c, why), -1);
    /* an ES token against an RSA key, an RS token signed by the EC key */
    assert_int_equal(check(both, &sub_rules, mint("{\"alg\":\"ES256\"}", valid_payload, EVP_sha256(), NULL, 0, p256),
                           &c, why), -1);
    assert_string_equal(why, "no public key for this algorithm");
    http_jwt_keys_free(pub);
    pub = keys_from(NULL, p384_pem);
    assert_int_equal(check(pub, &sub_rules, mint("{\"alg\":\"ES256\"}", valid_payload, EVP_sha256(), NULL, 0, p384),
                           &c, why), -1); /* ES256 names P-256; the key is P-384 */
    assert_int_equal(check(pub, &sub_rules, mint("{\"alg\":\"PS256\"}", valid_payload, EVP_sha256(), NULL, 0, p384),
                           &c, why), -1);
    assert_non_null(strstr(why, "algorithm not accepted"));
    assert_int_equal(check(pub, &sub_rules, mint("{\"alg\":\"es384\"}", valid_payload, EVP_sha384(), NULL, 0, p384),
                           &c, why), -1);
    /* headers exportq does not follow */
    assert_int_equal(check(both, &sub_rules, mint("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", valid_payload,
                                                    EVP_sha256(), SECRET, strlen(SECRET), NULL), &c, why), -1);
    assert_int_equal(check(both, &sub_rules, mint("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", valid_payload,
                                                    EVP_sha256(), SECRET, strlen(SECRET), NULL), &c, why), -1);
    http_jwt_keys_free(pub);
    http_jwt_keys_free(both);
}

/* A JWKS of the generated keys, with kids. */
static void jwks(char *out, size_t outsz, const char *rsa_kid_alg)
{
    unsigned char n[512], e[8], x[32], y[32], edx[32];
    char nb[700], eb[16], xb[64], yb[64], edb[64];
    BIGNUM *bn = NULL, *be = NULL, *bx = NULL, *by = NULL;
    size_t edl = sizeof edx;
    assert_int_equal(EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &be), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(p256, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(p256, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
    assert_int_equal(EVP_PKEY_get_raw_public_key(ed, edx, &edl), 1);
    b64url(n, (size_t)BN_bn2bin(bn, n), nb);
    b64url(e, (size_t)BN_bn2bin(be, e), eb);
    BN_bn2binpad(bx, x, 32);
    BN_bn2binpad(by, y, 32);
    b64url(x, 32, xb);
    b64url(y, 32, yb);
    b64url(edx, edl, edb);
    snprintf(out, outsz,
             "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"r0\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"RSA\",%s\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\",\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"d1\",\"x\":\"%s\"},"
             "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\"}]}",
             nb, eb, rsa_kid_alg, nb, eb, xb, yb, edb, edb);
    BN_free(bn);
    BN_free(be);
    BN_free(bx);
    BN_free(by);
}

static void test_jwks_and_kid(void **state)
{
    char doc[4096], why[200];
    http_jwt_claims c;
    http_jwt_keys *k;
    (void)state;
    jwks(doc, sizeof doc, "\"kid\":\"r1\",\"alg\":\"RS256\",");
    k = keys_from(NULL, doc);
    assert_int_equal(http_jwt_keys_count(k), 3); /* the enc key and X25519 are left out */
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"RS256\",\"kid\":\"r1\"}", valid_payload, EVP_sha256(),
                                                 NULL, 0, rsa), &c, why), 0);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"RS256\"}", valid_payload, EVP_sha256(), NULL, 0, rsa),
                           &c, why), 0); /* no kid: every key of the type */
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"ES256\",\"kid\":\"e1\"}", valid_payload, EVP_sha256(),
                                                 NULL, 0, p256), &c, why), 0);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"EdDSA\",\"kid\":\"d1\"}", valid_payload, NULL, NULL, 0,
                                                 ed), &c, why), 0);
    /* a kid naming another key, an unknown kid, the JWK's alg not the token's */
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"RS256\",\"kid\":\"e1\"}", valid_payload, EVP_sha256(),
                                                 NULL, 0, rsa), &c, why), -1);
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"RS256\",\"kid\":\"zz\"}", valid_payload, EVP_sha256(),
                                                 NULL, 0, rsa), &c, why), -1);
    assert_non_null(strstr(why, "kid"));
    assert_int_equal(check(k, &sub_rules, mint("{\"alg\":\"RS384\",\"kid\":\"r1\"}", valid_payload, EVP_sha384(),
                                                 NULL, 0, rsa), &c, why), -1);
    http_jwt_keys_free(k);
}

static void test_time_claims(void **state)
{
    char why[200], p[200];
    http_jwt_claims c;
    http_jwt_keys *k = keys_from(SECRET, NULL);
    (void)state;
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":\"u1\"}"), &c, why), -1);
    assert_string_equal(why, "exp is missing");
    snprintf(p, sizeof p, "{\"sub\":\"u1\",\"exp\":%lld}", NOW - 59); /* inside the leeway */
    assert_int_equal(check(k, &sub_rules, hs256(p), &c, why), 0);
    snprintf(p, sizeof p, "{\"sub\":\"u1\",\"exp\":%lld}", NOW - 60);
    assert_int_equal(check(k, &sub_rules, hs256(p), &c, why), -1);
    assert_string_equal(why, "expired");
    snprintf(p, sizeof p, "{\"sub\":\"u1\",\"exp\":\"%lld\"}", NOW + 600);
    assert_int_equal(check(k, &sub_rules, hs256(p), &c, why), -1);
    snprintf(p, sizeof p, "{\"sub\":\"u1\",\"exp\":%lld,\"nbf\":%lld}", NOW + 600, NOW + 59);
    assert_int_equal(check(k, &sub_rules, hs256(p), &c, why), 0);
    snprintf(p, sizeof p, "{\"sub\":\"u1\",\"exp\":%lld,\"nbf\":%lld}", NOW + 600, NOW + 61);
    assert_int_equal(check(k, &sub_rules, hs256(p), &c, why), -1);
    assert_string_equal(why, "not valid yet (nbf)");
    http_jwt_keys_free(k);
}

static void test_aud_iss(void **state)
{
    char why[200];
    http_jwt_claims c;
    http_jwt_keys *k = keys_from(SECRET, NULL);
    http_jwt_rules r = {.owner_claim = "sub", .audience = "exportq", .issuer = "https://id.example"};
    (void)state;
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"aud\":\"exportq\",\"iss\":\"https://id.example\"}"), &c, why), 0);
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"aud\":[\"x\",\"exportq\"],\"iss\":\"https://id.example\"}"), &c, why), 0);
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"aud\":\"other\",\"iss\":\"https://id.example\"}"), &c, why), -1);
    assert_string_equal(why, "aud does not name this audience");
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"iss\":\"https://id.example\"}"), &c, why), -1);
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"aud\":\"exportq\",\"iss\":\"https://evil.example\"}"), &c, why), -1);
    assert_string_equal(why, "iss is not the configured issuer");
    /* no audience configured: aud is not checked */
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"aud\":\"other\"}"), &c, why), 0);
    http_jwt_keys_free(k);
}

static void test_owner_claim(void **state)
{
    char why[200], p[2048], big[300];
    http_jwt_claims c;
    http_jwt_keys *k = keys_from(SECRET, NULL);
    http_jwt_rules r = {.owner_claim = "https://app.example/tenant"};
    (void)state;
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":12345,\"exp\":1800000600}"), &c, why), 0);
    assert_string_equal(c.owner, "12345");
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":1.5,\"exp\":1800000600}"), &c, why), -1);
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":true,\"exp\":1800000600}"), &c, why), -1);
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":\"\",\"exp\":1800000600}"), &c, why), -1);
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":\"a\\nb\",\"exp\":1800000600}"), &c, why), -1);
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":\"a\\u0000b\",\"exp\":1800000600}"), &c, why), -1);
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":\"a\\u0085b\",\"exp\":1800000600}"), &c, why), -1);
    assert_int_equal(check(k, &sub_rules, hs256("{\"user\":\"u1\",\"exp\":1800000600}"), &c, why), -1);
    assert_string_equal(why, "the owner claim is missing");
    /* exact claim name (no nesting, no case folding) */
    assert_int_equal(check(k, &r, hs256("{\"https://app.example/tenant\":\"t9\",\"sub\":\"u\",\"exp\":1800000600}"), &c, why), 0);
    assert_string_equal(c.owner, "t9");
    assert_int_equal(check(k, &r, hs256("{\"HTTPS://app.example/tenant\":\"t9\",\"exp\":1800000600}"), &c, why), -1);
    /* 256 bytes fit, 257 are refused, never cut */
    memset(big, 'o', 256);
    big[256] = '\0';
    snprintf(p, sizeof p, "{\"sub\":\"%s\",\"exp\":1800000600}", big);
    assert_int_equal(check(k, &sub_rules, hs256(p), &c, why), 0);
    assert_int_equal(strlen(c.owner), 256);
    snprintf(p, sizeof p, "{\"sub\":\"%so\",\"exp\":1800000600}", big);
    assert_int_equal(check(k, &sub_rules, hs256(p), &c, why), -1);
    assert_string_equal(c.owner, "");
    http_jwt_keys_free(k);
}

static void test_email_admin(void **state)
{
    char why[200];
    http_jwt_claims c;
    http_jwt_keys *k = keys_from(SECRET, NULL);
    http_jwt_rules r = {.owner_claim = "sub", .email_claim = "email", .admin_claim = "https://app.example/admin"};
    (void)state;
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"email\":\"a@b.example\",\"https://app.example/admin\":true}"), &c, why), 0);
    assert_string_equal(c.email, "a@b.example");
    assert_true(c.admin);
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"https://app.example/admin\":\"true\"}"), &c, why), 0);
    assert_string_equal(c.email, "");
    assert_false(c.admin);
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"email\":\"a@b.example\\r\\nBcc: x@y.example\"}"), &c, why), -1);
    assert_int_equal(check(k, &r, hs256("{\"sub\":\"u\",\"exp\":1800000600,\"email\":42}"), &c, why), -1);
    http_jwt_keys_free(k);
}

static void test_shapes_and_sizes(void **state)
{
    char why[200], *huge;
    http_jwt_claims c;
    http_jwt_keys *k = keys_from(SECRET, NULL);
    (void)state;
    assert_false(http_jwt_shaped("eqt_0123"));
    assert_false(http_jwt_shaped("a.b"));
    assert_false(http_jwt_shaped("a.b.c.d"));
    assert_false(http_jwt_shaped("a=.b.c"));
    assert_true(http_jwt_shaped("a.b."));
    assert_int_equal(check(k, &sub_rules, "a.b.c", &c, why), -1);
    assert_int_equal(check(k, &sub_rules, "..", &c, why), -1);
    /* padding is not base64url */
    {
        char t[1024];
        snprintf(t, sizeof t, "%s=", hs256(valid_payload));
        assert_int_equal(check(k, &sub_rules, t, &c, why), -1);
    }
    /* a payload of 9000 bytes makes a token over HTTP_JWT_MAX: refused unparsed */
    huge = malloc(9100);
    memset(huge, ' ', 9100);
    memcpy(huge, "{\"sub\":\"u1\",\"exp\":1800000600", 28);
    memcpy(huge + 9098, "}", 2);
    assert_int_equal(check(k, &sub_rules, hs256(huge), &c, why), -1);
    assert_non_null(strstr(why, "longer than"));
    free(huge);
    assert_int_equal(check(k, &sub_rules, hs256("[1]"), &c, why), -1);
    assert_int_equal(check(k, &sub_rules, hs256("{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1800000600}"), &c, why), -1);
    assert_int_equal(check(NULL, &sub_rules, hs256(valid_payload), &c, why), -1);
    http_jwt_keys_free(k);
}

static void test_b64url_strict(void **state)
{
    unsigned char out[8];
    (void)state;
    assert_int_equal(http_jwt_b64url_decode("QQ", 2, out, sizeof out), 1);
    assert_int_equal(out[0], 'A');
    assert_int_equal(http_jwt_b64url_decode("QR", 2, out, sizeof out), -1); /* unused bits set */
    assert_int_equal(http_jwt_b64url_decode("Q", 1, out, sizeof out), -1);
    assert_int_equal(http_jwt_b64url_decode("QQ==", 4, out, sizeof out), -1);
    assert_int_equal(http_jwt_b64url_decode("+/+/", 4, out, sizeof out), -1);
    assert_int_equal(http_jwt_b64url_decode("-_-_", 4, out, sizeof out), 3);
    assert_int_equal(http_jwt_b64url_decode("AAAAAAAAAAAA", 12, out, sizeof out), -1); /* 9 > 8 */
}

static void test_key_files_refused(void **state)
{
    http_jwt_keys *k = NULL;
    eq_err err;
    char priv[4096], small[2048], doc[4096];
    BIO *b = BIO_new(BIO_s_mem());
    char *d;
    long n;
    (void)state;
    assert_int_equal(PEM_write_bio_PrivateKey(b, p256, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(b, &d);
    memcpy(priv, d, (size_t)n);
    priv[n] = '\0';
    BIO_free(b);
    pub_pem(rsa_small, small, sizeof small);
#define REFUSED(text, needle)                                                                                  \
    do {                                                                                                       \
        assert_int_equal(http_jwt_keys_parse(NULL, text, strlen(text), "EXPORTQ_JWT_PUBLIC_KEYS", &k, &err), -1); \
        assert_null(k);                                                                                        \
        assert_non_null(strstr(err.msg, "EXPORTQ_JWT_PUBLIC_KEYS"));                                           \
        assert_non_null(strstr(err.msg, needle));                                                              \
    } while (0)
    REFUSED(priv, "PRIVATE KEY");
    REFUSED(small, "1024 bits");
    REFUSED("hello", "no PEM");
    REFUSED("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", "oct");
    REFUSED("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}", "malformed");
    REFUSED("{\"keys\":[]}", "no signature key");
    REFUSED("{\"keys\":", "not valid JSON");
    jwks(doc, sizeof doc, "\"kid\":7,");
    REFUSED(doc, "kid");
#undef REFUSED
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_family_from_pem), cmocka_unit_test(test_algorithm_confusion),
        cmocka_unit_test(test_jwks_and_kid),          cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_aud_iss),               cmocka_unit_test(test_owner_claim),
        cmocka_unit_test(test_email_admin),           cmocka_unit_test(test_shapes_and_sizes),
        cmocka_unit_test(test_b64url_strict),         cmocka_unit_test(test_key_files_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
