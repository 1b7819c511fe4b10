/* http_jwt.h - JWT bearer tokens of the application (as PostgREST accepts
 * them), next to exportq's own tokens: pure checking, no socket, no database,
 * so all of it is unit-tested (tests/unit/test_http_jwt.c) and fuzzed
 * (tests/fuzz/fuzz_http_jwt.c).
 *
 * Keys (http_jwt_keys, http/http_jwt_keys.c): the HMAC secret of
 * EXPORTQ_JWT_SECRET (HS256/384/512) and the public keys of the file
 * EXPORTQ_JWT_PUBLIC_KEYS: PEM "PUBLIC KEY" blocks or a JWKS (RSA keys of
 * 2048 bits or more for RS256/384/512; EC P-256/P-384/P-521 for
 * ES256/384/512; Ed25519/Ed448 for EdDSA). A JWK's kid and alg are kept.
 *
 * Verification (http_jwt_verify, http/http_jwt.c):
 *   - the token is at most HTTP_JWT_MAX bytes, three base64url segments
 *     (no padding), checked before anything is decoded;
 *   - the header's alg picks the key family, never the other way round: an HS
 *     token is checked only against the secret (PEM bytes are never an HMAC
 *     key), RS/ES/EdDSA tokens only against public keys of that type (and
 *     curve); "none" and unknown algorithms are refused; a kid, when the
 *     token has one and a key carries it, narrows the keys to those;
 *   - signatures: libjwt 1.10 (jwt_decode) for HS, RS and ES; libjwt 1.10
 *     has no EdDSA, so Ed25519/Ed448 go to OpenSSL's EVP_DigestVerify;
 *   - claims (libjwt 1.10 checks none of them): exp required, nbf, and
 *     aud/iss when configured, each with HTTP_JWT_LEEWAY seconds; the owner
 *     claim is one exact top-level claim, a string or an integer, by the
 *     owner rule of the queue (1..EQ_IDENTITY_MAX_BYTES bytes, no control
 *     characters; never cut: a longer one is refused).
 * A refusal gives a short reason meant for a debug log line: it never holds
 * the token, a claim's value or a key.
 *
 * Ownership: http_jwt_keys_parse/_load allocate; http_jwt_keys_free frees
 * (NULL is fine). A key set is read-only once built and may be used by many
 * threads at once.
 */
#ifndef EXPORTQ_HTTP_JWT_H
#define EXPORTQ_HTTP_JWT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/limits.h"

#define HTTP_JWT_MAX 8192          /* bytes of a token; longer ones are refused unparsed */
#define HTTP_JWT_LEEWAY 60         /* seconds of clock skew allowed on exp and nbf */
#define HTTP_JWT_KEYS_MAX 64       /* public keys in one file */
#define HTTP_JWT_KEYS_FILE_MAX (1024 * 1024) /* bytes of EXPORTQ_JWT_PUBLIC_KEYS */
#define HTTP_JWT_SECRET_MIN 32     /* bytes of EXPORTQ_JWT_SECRET at least */
#define HTTP_JWT_KID_MAX 128
#define HTTP_JWT_CLAIM_MAX 64      /* bytes of a configured claim name */

typedef struct http_jwt_keys http_jwt_keys;

/* Builds a key set from the secret (NULL: no HS) and the text of the public
 * keys file (NULL: none). Fails with a message naming `origin` (e.g. the
 * setting) when the text holds anything but public keys exportq can use. */
int http_jwt_keys_parse(const char *secret, const char *text, size_t len, const char *origin,
                        http_jwt_keys **out, eq_err *err) EQ_MUST;
/* The same with the text read from `file` (NULL: none). */
int http_jwt_keys_load(const char *secret, const char *file, http_jwt_keys **out, eq_err *err) EQ_MUST;
void http_jwt_keys_free(http_jwt_keys *keys);
/* Public keys in the set. */
size_t http_jwt_keys_count(const http_jwt_keys *keys);

typedef struct http_jwt_rules {
    const char *owner_claim; /* e.g. "sub" */
    const char *audience;    /* NULL: aud is not checked */
    const char *issuer;      /* NULL: iss is not checked */
    const char *email_claim; /* NULL: none */
    const char *admin_claim; /* NULL: none */
} http_jwt_rules;

typedef struct http_jwt_claims {
    char owner[EQ_IDENTITY_MAX_BYTES + 1];
    char email[EQ_EMAIL_MAX_BYTES + 1]; /* the email claim's value; "" when none */
    bool admin;                         /* the admin claim is JSON true */
} http_jwt_claims;

/* True when `token` has the shape of a JWT (three dot-separated segments of
 * base64url) and fits HTTP_JWT_MAX; says nothing about its validity. */
bool http_jwt_shaped(const char *token);

/* Checks `token` at time `now` (Unix seconds). 0: valid, *out filled.
 * -1: refused, `why` (NUL-terminated, may be cut) says why. */
int http_jwt_verify(const http_jwt_keys *keys, const http_jwt_rules *rules, const char *token, long long now,
                    http_jwt_claims *out, char *why, size_t whysz) EQ_MUST;

#endif
