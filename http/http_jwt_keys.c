/* http_jwt_keys.c - see http_jwt.h: the key set of JWT verification (the
 * HMAC secret, PEM public keys or a JWKS) and the strict base64url decoder.
 *
 * A JWK becomes an EVP_PKEY through OpenSSL 3's EVP_PKEY_fromdata() (RSA n/e,
 * EC group + uncompressed point) or EVP_PKEY_new_raw_public_key() (Ed25519,
 * Ed448): the RSA_set0_key()/EC_KEY_set_public_key() route is deprecated in
 * OpenSSL 3, and fromdata gives one EVP_PKEY for every key type, which checks
 * an EC point is on its curve. PEM_write_bio_PUBKEY() then turns it into the
 * SubjectPublicKeyInfo PEM that libjwt 1.10 wants (it takes keys only as PEM
 * bytes), so PEM files and JWKS files end up as the same thing.
 */
#include "http/http_jwt_keys.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

#define RSA_MIN_BITS 2048
#define JWK_BIN_MAX 2048 /* bytes of one decoded JWK member (a 16384-bit modulus) */

long http_jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > outsz)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = eq_b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* unused low bits must be zero: one text per value */
        return -1;
    return (long)o;
}

static void key_cleanup(http_jwt_key *k)
{
    EVP_PKEY_free(k->pkey);
    free(k->pem);
    memset(k, 0, sizeof *k);
}

void http_jwt_keys_free(http_jwt_keys *keys)
{
    if (!keys)
        return;
    for (size_t i = 0; i < keys->n; i++)
        key_cleanup(&keys->keys[i]);
    free(keys->keys);
    if (keys->secret) {
        OPENSSL_cleanse(keys->secret, keys->secret_len);
        free(keys->secret);
    }
    free(keys);
}

size_t http_jwt_keys_count(const http_jwt_keys *keys)
{
    return keys ? keys->n : 0;
}

/* The key's type, or -1 (with a reason) when exportq cannot use it. */
static int classify(EVP_PKEY *pk, http_jwt_key_type *type, const char *origin, const char *what, eq_err *err)
{
    if (EVP_PKEY_is_a(pk, "RSA")) {
        if (EVP_PKEY_get_bits(pk) < RSA_MIN_BITS)
            return eq_fail(err, EQ_ERR_CONFIG, "%s: %s is an RSA key of %d bits; at least %d are needed", origin,
                           what, EVP_PKEY_get_bits(pk), RSA_MIN_BITS);
        *type = HTTP_JWT_KEY_RSA;
        return 0;
    }
    if (EVP_PKEY_is_a(pk, "EC")) {
        char group[64] = "";
        size_t gl = 0;
        if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &gl) != 1)
            group[0] = '\0';
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            *type = HTTP_JWT_KEY_P256;
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            *type = HTTP_JWT_KEY_P384;
        else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            *type = HTTP_JWT_KEY_P521;
        else
            return eq_fail(err, EQ_ERR_CONFIG, "%s: %s is an EC key on curve '%s'; P-256, P-384 or P-521 expected",
                           origin, what, group);
        return 0;
    }
    if (EVP_PKEY_is_a(pk, "ED25519") || EVP_PKEY_is_a(pk, "ED448")) {
        *type = HTTP_JWT_KEY_EDDSA;
        return 0;
    }
    return eq_fail(err, EQ_ERR_CONFIG, "%s: %s is a %s key; RSA, EC or Ed25519/Ed448 expected", origin, what,
                   EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "unknown");
}

/* Adds pk (taken, freed on failure) to the set with its kid and alg. */
static int add_key(http_jwt_keys *ks, EVP_PKEY *pk, const char *kid, const char *alg, const char *origin,
                   const char *what, eq_err *err)
{
    http_jwt_key *k;
    BIO *bio = NULL;
    char *data;
    long n;
    http_jwt_key_type type = HTTP_JWT_KEY_RSA;
    if (classify(pk, &type, origin, what, err) < 0)
        goto fail;
    if (ks->n >= HTTP_JWT_KEYS_MAX) {
        eq_fail(err, EQ_ERR_CONFIG, "%s: more than %d keys", origin, HTTP_JWT_KEYS_MAX);
        goto fail;
    }
    k = &ks->keys[ks->n];
    memset(k, 0, sizeof *k);
    if (!(bio = BIO_new(BIO_s_mem())) || PEM_write_bio_PUBKEY(bio, pk) != 1 ||
        (n = BIO_get_mem_data(bio, &data)) <= 0 || !(k->pem = malloc((size_t)n + 1))) {
        eq_fail(err, EQ_ERR_NOMEM, "%s: cannot encode %s", origin, what);
        goto fail;
    }
    memcpy(k->pem, data, (size_t)n);
    k->pem[n] = '\0';
    k->pem_len = (size_t)n;
    k->type = type;
    k->pkey = pk;
    snprintf(k->kid, sizeof k->kid, "%s", kid ? kid : "");
    snprintf(k->alg, sizeof k->alg, "%s", alg ? alg : "");
    ks->n++;
    BIO_free(bio);
    return 0;
fail:
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return -1;
}

/* ---- PEM ----------------------------------------------------------------------- */

static int parse_pem(http_jwt_keys *ks, const char *text, size_t len, const char *origin, eq_err *err)
{
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    int rc = -1, count = 0;
    if (!bio)
        return eq_fail(err, EQ_ERR_NOMEM, "%s: out of memory", origin);
    for (;;) {
        char *name = NULL, *header = NULL, what[64];
        unsigned char *data = NULL;
        const unsigned char *p;
        long dlen = 0;
        EVP_PKEY *pk;
        if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1) {
            unsigned long e = ERR_peek_last_error();
            ERR_clear_error();
            if (count > 0 && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                break;
            eq_fail(err, EQ_ERR_CONFIG, "%s: %s", origin,
                    count ? "unreadable PEM after the last key" : "no PEM PUBLIC KEY block (and not a JWKS)");
            goto out;
        }
        count++;
        snprintf(what, sizeof what, "PEM block %d", count);
        p = data;
        pk = strcmp(name, "PUBLIC KEY") == 0 ? d2i_PUBKEY(NULL, &p, dlen) : NULL;
        if (!pk)
            eq_fail(err, EQ_ERR_CONFIG, "%s: %s is '%.40s', not a readable PUBLIC KEY (only public keys belong here)",
                    origin, what, name);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (!pk || add_key(ks, pk, NULL, NULL, origin, what, err) < 0)
            goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    BIO_free(bio);
    return rc;
}

/* ---- JWKS ---------------------------------------------------------------------- */

/* A base64url member of a JWK into out; -1 when missing or malformed. */
static long jwk_bytes(json_t *jwk, const char *member, unsigned char *out, size_t outsz)
{
    const char *s = json_string_value(json_object_get(jwk, member));
    return s ? http_jwt_b64url_decode(s, strlen(s), out, outsz) : -1;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    EVP_PKEY *pk = NULL;
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pk;
}

static EVP_PKEY *jwk_rsa(json_t *jwk)
{
    unsigned char n[JWK_BIN_MAX], e[16];
    long nl = jwk_bytes(jwk, "n", n, sizeof n), el = jwk_bytes(jwk, "e", e, sizeof e);
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pk = NULL;
    if (nl <= 0 || el <= 0)
        return NULL;
    if ((bn = BN_bin2bn(n, (int)nl, NULL)) && (be = BN_bin2bn(e, (int)el, NULL)) && (bld = OSSL_PARAM_BLD_new()) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        pk = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pk;
}

static EVP_PKEY *jwk_ec(json_t *jwk, const char *crv)
{
    unsigned char point[1 + 2 * 66];
    size_t size = strcmp(crv, "P-256") == 0 ? 32 : strcmp(crv, "P-384") == 0 ? 48 : 66;
    OSSL_PARAM_BLD *bld;
    EVP_PKEY *pk = NULL;
    point[0] = 0x04; /* uncompressed: 04 || x || y, each exactly the field size */
    if (jwk_bytes(jwk, "x", point + 1, size) != (long)size || jwk_bytes(jwk, "y", point + 1 + size, size) != (long)size)
        return NULL;
    if (!(bld = OSSL_PARAM_BLD_new()))
        return NULL;
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size) == 1)
        pk = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    return pk;
}

static EVP_PKEY *jwk_okp(json_t *jwk, const char *crv)
{
    unsigned char x[57];
    bool ed25519 = strcmp(crv, "Ed25519") == 0;
    long want = ed25519 ? 32 : 57;
    if (jwk_bytes(jwk, "x", x, (size_t)want) != want)
        return NULL;
    return EVP_PKEY_new_raw_public_key(ed25519 ? EVP_PKEY_ED25519 : EVP_PKEY_ED448, NULL, x, (size_t)want);
}

static bool alg_known(const char *alg)
{
    static const char *const algs[] = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(alg, algs[i]) == 0)
            return true;
    return false;
}

/* One JWK: added, skipped (a key not for signatures, or of a kind exportq
 * does not verify), or an error. */
static int parse_jwk(http_jwt_keys *ks, json_t *jwk, size_t i, const char *origin, eq_err *err)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *alg = json_string_value(json_object_get(jwk, "alg"));
    json_t *kidv = json_object_get(jwk, "kid");
    const char *kid = json_string_value(kidv);
    char what[160];
    EVP_PKEY *pk = NULL;
    if (!json_is_object(jwk) || !kty)
        return eq_fail(err, EQ_ERR_CONFIG, "%s: keys[%zu] is not a JWK with a kty", origin, i);
    if (strcmp(kty, "oct") == 0)
        return eq_fail(err, EQ_ERR_CONFIG,
                       "%s: keys[%zu] is a symmetric (oct) key; a shared secret belongs in EXPORTQ_JWT_SECRET", origin, i);
    if ((kidv && (!kid || strlen(kid) > HTTP_JWT_KID_MAX)) || (json_object_get(jwk, "alg") && !alg))
        return eq_fail(err, EQ_ERR_CONFIG, "%s: keys[%zu]: kid must be a string of at most %d bytes, alg a string",
                       origin, i, HTTP_JWT_KID_MAX);
    if ((use && strcmp(use, "sig") != 0) || (alg && !alg_known(alg)))
        return 0; /* an encryption key, or an algorithm exportq does not verify */
    snprintf(what, sizeof what, "keys[%zu]%s%.*s", i, kid ? " kid " : "", kid ? 100 : 0, kid ? kid : "");
    if (strcmp(kty, "RSA") == 0)
        pk = jwk_rsa(jwk);
    else if (strcmp(kty, "EC") == 0 && crv &&
             (strcmp(crv, "P-256") == 0 || strcmp(crv, "P-384") == 0 || strcmp(crv, "P-521") == 0))
        pk = jwk_ec(jwk, crv);
    else if (strcmp(kty, "OKP") == 0 && crv && (strcmp(crv, "Ed25519") == 0 || strcmp(crv, "Ed448") == 0))
        pk = jwk_okp(jwk, crv);
    else
        return 0; /* X25519, secp256k1, ...: not a signature key exportq verifies */
    ERR_clear_error();
    if (!pk)
        return eq_fail(err, EQ_ERR_CONFIG, "%s: %s: malformed %s key (members missing, wrong sizes or off its curve)",
                       origin, what, kty);
    return add_key(ks, pk, kid, alg, origin, what, err);
}

static int parse_jwks(http_jwt_keys *ks, const char *text, size_t len, const char *origin, eq_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *arr;
    size_t i;
    json_t *jwk;
    int rc = -1;
    if (!doc)
        return eq_fail(err, EQ_ERR_CONFIG, "%s: not valid JSON (line %d): %s", origin, jerr.line, jerr.text);
    arr = json_object_get(doc, "keys");
    if (!json_is_array(arr)) {
        eq_fail(err, EQ_ERR_CONFIG, "%s: a JWKS needs a \"keys\" array", origin);
        goto out;
    }
    json_array_foreach(arr, i, jwk) {
        if (parse_jwk(ks, jwk, i, origin, err) < 0)
            goto out;
    }
    if (ks->n == 0) {
        eq_fail(err, EQ_ERR_CONFIG, "%s: no signature key exportq can use (RSA, EC P-256/384/521, Ed25519/Ed448)",
                origin);
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

/* ---- the set ------------------------------------------------------------------- */

int http_jwt_keys_parse(const char *secret, const char *text, size_t len, const char *origin,
                        http_jwt_keys **out, eq_err *err)
{
    http_jwt_keys *ks = calloc(1, sizeof *ks);
    size_t skip = 0;
    *out = NULL;
    if (!ks || !(ks->keys = calloc(HTTP_JWT_KEYS_MAX, sizeof *ks->keys))) {
        eq_fail(err, EQ_ERR_NOMEM, "%s: out of memory", origin);
        goto fail;
    }
    if (secret && *secret) {
        ks->secret_len = strlen(secret);
        if (!(ks->secret = malloc(ks->secret_len))) {
            eq_fail(err, EQ_ERR_NOMEM, "%s: out of memory", origin);
            goto fail;
        }
        memcpy(ks->secret, secret, ks->secret_len);
    }
    if (text) {
        while (skip < len && (text[skip] == ' ' || text[skip] == '\t' || text[skip] == '\r' || text[skip] == '\n'))
            skip++;
        if (len > HTTP_JWT_KEYS_FILE_MAX) {
            eq_fail(err, EQ_ERR_CONFIG, "%s: larger than %d bytes", origin, HTTP_JWT_KEYS_FILE_MAX);
            goto fail;
        }
        if (skip < len && text[skip] == '{' ? parse_jwks(ks, text, len, origin, err) < 0
                                            : parse_pem(ks, text, len, origin, err) < 0)
            goto fail;
    }
    *out = ks;
    return 0;
fail:
    http_jwt_keys_free(ks);
    return -1;
}

int http_jwt_keys_load(const char *secret, const char *file, http_jwt_keys **out, eq_err *err)
{
    FILE *f = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc;
    *out = NULL;
    if (file) {
        if (!(f = fopen(file, "rb")))
            return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_JWT_PUBLIC_KEYS: cannot read %s: %s", file, strerror(errno));
        if (!(text = malloc(HTTP_JWT_KEYS_FILE_MAX + 1))) {
            fclose(f);
            return eq_fail(err, EQ_ERR_NOMEM, "EXPORTQ_JWT_PUBLIC_KEYS: out of memory");
        }
        len = fread(text, 1, HTTP_JWT_KEYS_FILE_MAX + 1, f);
        if (ferror(f)) {
            fclose(f);
            free(text);
            return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_JWT_PUBLIC_KEYS: cannot read %s", file);
        }
        fclose(f);
    }
    rc = http_jwt_keys_parse(secret, text, len, "EXPORTQ_JWT_PUBLIC_KEYS", out, err);
    free(text);
    return rc;
}
