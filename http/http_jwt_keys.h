/* http_jwt_keys.h - what http_jwt.c and http_jwt_keys.c share (not for other
 * files: they use http_jwt.h): the key set and the strict base64url decoder.
 */
#ifndef EXPORTQ_HTTP_JWT_KEYS_H
#define EXPORTQ_HTTP_JWT_KEYS_H

#include <openssl/evp.h>
#include <stddef.h>

#include "http/http_jwt.h"

typedef enum http_jwt_key_type {
    HTTP_JWT_KEY_RSA = 0, /* RS256, RS384, RS512 */
    HTTP_JWT_KEY_P256,    /* ES256 */
    HTTP_JWT_KEY_P384,    /* ES384 */
    HTTP_JWT_KEY_P521,    /* ES512 */
    HTTP_JWT_KEY_EDDSA,   /* EdDSA: Ed25519 or Ed448 */
} http_jwt_key_type;

typedef struct http_jwt_key {
    http_jwt_key_type type;
    char kid[HTTP_JWT_KID_MAX + 1]; /* "" when none (PEM keys never have one) */
    char alg[16];                   /* a JWK's alg; "" when none */
    EVP_PKEY *pkey;                 /* owned */
    char *pem;                      /* owned: SubjectPublicKeyInfo PEM, what libjwt 1.10 reads */
    size_t pem_len;
} http_jwt_key;

struct http_jwt_keys {
    unsigned char *secret; /* owned; NULL: no HS tokens */
    size_t secret_len;
    http_jwt_key *keys; /* owned, n of them */
    size_t n;
};

/* Strict base64url (RFC 4648 section 5) without padding: only [A-Za-z0-9_-],
 * no length of 1 mod 4, unused bits zero (one encoding per value). Writes at
 * most outsz bytes. Returns the decoded length, or -1. */
long http_jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsz);

#endif
