/* http_jwt.c - see http_jwt.h: one JWT checked, signature then claims.
 *
 * libjwt 1.10 as read in its source and /usr/include/jwt.h (not from memory):
 * jwt_decode() takes the algorithm from the token's header and verifies with
 * whatever key bytes it is given (an HS token with PEM bytes would be an HMAC
 * with the PEM text as secret: the classic confusion), accepts alg "none"
 * when no key is passed, refuses a typ other than "JWT", and checks no claim
 * at all (no exp, nbf, aud, iss; it has no jwt_valid API). So exportq reads
 * the header first, chooses the key by the algorithm family itself, refuses
 * "none" before libjwt sees the token, never passes a NULL key, checks
 * jwt_get_alg() afterwards, and checks every claim here. It has no EdDSA:
 * those tokens are verified with OpenSSL directly.
 */
#include "http/http_jwt.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http_jwt_keys.h"
#include "mail/mail_message.h"

#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define EDDSA_SIG_MAX 114 /* Ed448 */

typedef enum family { FAM_NONE = 0, FAM_HS, FAM_RS, FAM_ES256, FAM_ES384, FAM_ES512, FAM_EDDSA } family;

static int refuse(char *why, size_t whysz, const char *fmt, ...) EQ_PRINTF(3, 4);
static int refuse(char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;
    if (why && whysz) {
        va_start(ap, fmt);
        vsnprintf(why, whysz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

bool http_jwt_shaped(const char *token)
{
    size_t n = strnlen(token, HTTP_JWT_MAX + 1), a, b;
    if (n > HTTP_JWT_MAX)
        return false;
    a = strspn(token, B64URL);
    if (a == 0 || token[a] != '.')
        return false;
    b = strspn(token + a + 1, B64URL);
    if (b == 0 || token[a + 1 + b] != '.')
        return false;
    return token[a + 1 + b + 1 + strspn(token + a + b + 2, B64URL)] == '\0';
}

static family alg_family(const char *alg, jwt_alg_t *lib)
{
    static const struct {
        const char *name;
        family fam;
        jwt_alg_t lib;
    } algs[] = {
        {"HS256", FAM_HS, JWT_ALG_HS256}, {"HS384", FAM_HS, JWT_ALG_HS384}, {"HS512", FAM_HS, JWT_ALG_HS512},
        {"RS256", FAM_RS, JWT_ALG_RS256}, {"RS384", FAM_RS, JWT_ALG_RS384}, {"RS512", FAM_RS, JWT_ALG_RS512},
        {"ES256", FAM_ES256, JWT_ALG_ES256}, {"ES384", FAM_ES384, JWT_ALG_ES384},
        {"ES512", FAM_ES512, JWT_ALG_ES512}, {"EdDSA", FAM_EDDSA, JWT_ALG_INVAL},
    };
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(alg, algs[i].name) == 0) { /* exact: "hs256" is not an algorithm */
            *lib = algs[i].lib;
            return algs[i].fam;
        }
    return FAM_NONE;
}

static bool key_fits(const http_jwt_key *k, family fam)
{
    switch (fam) {
    case FAM_RS:
        return k->type == HTTP_JWT_KEY_RSA;
    case FAM_ES256:
        return k->type == HTTP_JWT_KEY_P256;
    case FAM_ES384:
        return k->type == HTTP_JWT_KEY_P384;
    case FAM_ES512:
        return k->type == HTTP_JWT_KEY_P521;
    case FAM_EDDSA:
        return k->type == HTTP_JWT_KEY_EDDSA;
    default:
        return false;
    }
}

/* libjwt: the signature of `token` with these key bytes, and the algorithm
 * it read must be the one chosen here. */
static bool libjwt_verifies(const char *token, const unsigned char *key, size_t key_len, jwt_alg_t want)
{
    jwt_t *j = NULL;
    bool ok;
    if (!key || key_len == 0 || key_len > 1024 * 1024) /* no key would mean "no check" to libjwt */
        return false;
    ok = jwt_decode(&j, token, key, (int)key_len) == 0 && j && jwt_get_alg(j) == want;
    jwt_free(j);
    ERR_clear_error();
    return ok;
}

/* OpenSSL: Ed25519/Ed448 over "header.payload". */
static bool eddsa_verifies(EVP_PKEY *pk, const char *signed_part, size_t signed_len, const char *sig64,
                           size_t sig64_len)
{
    unsigned char sig[EDDSA_SIG_MAX];
    long sl = http_jwt_b64url_decode(sig64, sig64_len, sig, sizeof sig);
    EVP_MD_CTX *ctx;
    bool ok = false;
    if (sl <= 0 || !(ctx = EVP_MD_CTX_new()))
        return false;
    ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
         EVP_DigestVerify(ctx, sig, (size_t)sl, (const unsigned char *)signed_part, signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* A base64url segment decoded and parsed as a JSON object (NULL if not). */
static json_t *segment_json(const char *seg, size_t len)
{
    unsigned char buf[HTTP_JWT_MAX];
    long n = http_jwt_b64url_decode(seg, len, buf, sizeof buf);
    json_t *doc;
    if (n <= 0)
        return NULL;
    doc = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* The owner rule of the queue (exportq.check_owner, common/limits.h):
 * 1..EQ_IDENTITY_MAX_BYTES bytes, no control characters (C0, DEL, C1). */
static bool owner_valid(const char *s, size_t len)
{
    if (len == 0 || len > EQ_IDENTITY_MAX_BYTES || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                                      (unsigned char)s[i + 1] <= 0x9f))
            return false;
    }
    return true;
}

static int check_signature(const http_jwt_keys *keys, json_t *head, const char *token, size_t signed_len,
                           char *why, size_t whysz)
{
    const char *alg = json_string_value(json_object_get(head, "alg"));
    json_t *typ = json_object_get(head, "typ"), *kidv = json_object_get(head, "kid");
    const char *kid = json_string_value(kidv), *sig = token + signed_len + 1;
    jwt_alg_t lib = JWT_ALG_INVAL;
    family fam;
    size_t tried = 0;
    bool kid_known = false;
    if (!alg)
        return refuse(why, whysz, "header has no alg");
    if (strcasecmp(alg, "none") == 0)
        return refuse(why, whysz, "alg none is refused");
    if ((fam = alg_family(alg, &lib)) == FAM_NONE)
        return refuse(why, whysz, "algorithm not accepted (HS256/384/512, RS256/384/512, ES256/384/512, EdDSA)");
    if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        return refuse(why, whysz, "typ is not JWT");
    if (json_object_get(head, "crit"))
        return refuse(why, whysz, "crit header parameters are not supported");
    if (kidv && (!kid || strlen(kid) > HTTP_JWT_KID_MAX))
        return refuse(why, whysz, "kid is not a short string");
    if (*sig == '\0')
        return refuse(why, whysz, "no signature");
    if (fam == FAM_HS) { /* only ever the secret: public key bytes are no HMAC key */
        if (!keys->secret)
            return refuse(why, whysz, "an HS token, and no EXPORTQ_JWT_SECRET is set");
        if (!libjwt_verifies(token, keys->secret, keys->secret_len, lib))
            return refuse(why, whysz, "signature does not verify");
        return 0;
    }
    for (size_t i = 0; kid && i < keys->n; i++)
        kid_known |= strcmp(keys->keys[i].kid, kid) == 0;
    for (size_t i = 0; i < keys->n; i++) {
        const http_jwt_key *k = &keys->keys[i];
        bool ok;
        if (!key_fits(k, fam) || (k->alg[0] && strcmp(k->alg, alg) != 0))
            continue;
        if (kid_known ? strcmp(k->kid, kid) != 0 : k->kid[0] != '\0' && kid != NULL)
            continue; /* the token names another key (a key without kid stays a candidate) */
        tried++;
        ok = fam == FAM_EDDSA ? eddsa_verifies(k->pkey, token, signed_len, sig, strlen(sig))
                              : libjwt_verifies(token, (const unsigned char *)k->pem, k->pem_len, lib);
        if (ok)
            return 0;
    }
    if (tried == 0)
        return refuse(why, whysz, kid && !kid_known ? "no public key with this kid for this algorithm"
                                                    : "no public key for this algorithm");
    return refuse(why, whysz, "signature does not verify");
}

static bool aud_matches(json_t *aud, const char *want)
{
    size_t i;
    json_t *v;
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    json_array_foreach(aud, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

static int check_claims(const http_jwt_rules *rules, json_t *body, long long now, http_jwt_claims *out, char *why,
                        size_t whysz)
{
    json_t *exp = json_object_get(body, "exp"), *nbf = json_object_get(body, "nbf");
    json_t *owner = json_object_get(body, rules->owner_claim);
    double t = (double)now;
    if (!exp)
        return refuse(why, whysz, "exp is missing");
    if (!json_is_number(exp) || (nbf && !json_is_number(nbf)))
        return refuse(why, whysz, "exp or nbf is not a number");
    if (t >= json_number_value(exp) + HTTP_JWT_LEEWAY)
        return refuse(why, whysz, "expired");
    if (nbf && t + HTTP_JWT_LEEWAY < json_number_value(nbf))
        return refuse(why, whysz, "not valid yet (nbf)");
    if (rules->audience && !aud_matches(json_object_get(body, "aud"), rules->audience))
        return refuse(why, whysz, "aud does not name this audience");
    if (rules->issuer && (!json_is_string(json_object_get(body, "iss")) ||
                          strcmp(json_string_value(json_object_get(body, "iss")), rules->issuer) != 0))
        return refuse(why, whysz, "iss is not the configured issuer");
    if (!owner)
        return refuse(why, whysz, "the owner claim is missing");
    if (json_is_integer(owner)) {
        snprintf(out->owner, sizeof out->owner, "%lld", (long long)json_integer_value(owner));
    } else if (json_is_string(owner)) {
        if (!owner_valid(json_string_value(owner), json_string_length(owner)))
            return refuse(why, whysz, "the owner claim is empty, longer than %d bytes or has control characters",
                          EQ_IDENTITY_MAX_BYTES);
        memcpy(out->owner, json_string_value(owner), json_string_length(owner) + 1);
    } else {
        return refuse(why, whysz, "the owner claim is not a string or an integer");
    }
    if (rules->email_claim) {
        json_t *email = json_object_get(body, rules->email_claim);
        if (email) {
            const char *e = json_string_value(email);
            if (!e || strlen(e) != json_string_length(email) || strlen(e) > EQ_EMAIL_MAX_BYTES ||
                !mail_address_valid(e))
                return refuse(why, whysz, "the email claim is not a valid address");
            memcpy(out->email, e, strlen(e) + 1);
        }
    }
    if (rules->admin_claim)
        out->admin = json_is_true(json_object_get(body, rules->admin_claim));
    return 0;
}

int http_jwt_verify(const http_jwt_keys *keys, const http_jwt_rules *rules, const char *token, long long now,
                    http_jwt_claims *out, char *why, size_t whysz)
{
    const char *d1, *d2;
    json_t *head = NULL, *body = NULL;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (why && whysz)
        why[0] = '\0';
    if (!keys || !token)
        return refuse(why, whysz, "JWTs are not configured");
    if (strnlen(token, HTTP_JWT_MAX + 1) > HTTP_JWT_MAX)
        return refuse(why, whysz, "token longer than %d bytes", HTTP_JWT_MAX);
    if (!http_jwt_shaped(token))
        return refuse(why, whysz, "not three base64url segments");
    d1 = strchr(token, '.');
    d2 = strchr(d1 + 1, '.');
    if (!(head = segment_json(token, (size_t)(d1 - token)))) {
        refuse(why, whysz, "header is not a base64url JSON object");
        goto out;
    }
    if (check_signature(keys, head, token, (size_t)(d2 - token), why, whysz) < 0)
        goto out;
    if (!(body = segment_json(d1 + 1, (size_t)(d2 - d1 - 1)))) {
        refuse(why, whysz, "payload is not a base64url JSON object");
        goto out;
    }
    rc = check_claims(rules, body, now, out, why, whysz);
out:
    json_decref(head);
    json_decref(body);
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}
