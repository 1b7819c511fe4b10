/* link.h - stable signed links (DESIGN.md "Fitting into an application",
 * Decisions "Links"): one token format for the mailed download link and the
 * status page, signed with EXPORTQ_LINK_SECRET.
 *
 * A token is base64url (no padding) of 50 bytes:
 *
 *   version (1, = 1) | scope (1) | job id (8, big-endian) | expiry (8, unix
 *   seconds, big-endian) | HMAC-SHA256(secret, "exportq-link" NUL | the 18
 *   bytes before it) (32)
 *
 * so LINK_TOKEN_LEN characters, made only of [A-Za-z0-9_-] (safe in a URL
 * query as it is). Pure functions, no allocation; the MAC is compared in
 * constant time (CRYPTO_memcmp) and the encoding must be canonical, so one
 * token has exactly one spelling.
 *
 * link_token_verify() says nothing about expiry: the caller compares `exp`
 * with the clock (and the job's link_expires_at), because a valid but expired
 * link is a 410 and a bad one a 404.
 */
#ifndef EXPORTQ_COMMON_LINK_H
#define EXPORTQ_COMMON_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"

#define LINK_TOKEN_LEN 67               /* characters of a token */
#define LINK_TOKEN_MAX (LINK_TOKEN_LEN + 1) /* with the NUL */
#define LINK_SECRET_MIN 32              /* bytes of EXPORTQ_LINK_SECRET at least */
#define LINK_URL_MAX 2400               /* PUBLIC_URL (<= 2048) + path + token */

typedef enum link_scope {
    LINK_SCOPE_DOWNLOAD = 1, /* GET /v1/exports/{id}/download?t= */
    LINK_SCOPE_STATUS = 2,   /* GET /exports/{id}?t= (the status page) */
} link_scope;

/* Writes the token of (scope, job_id, exp) into out (LINK_TOKEN_MAX bytes).
 * -1 when OpenSSL fails or the arguments are out of range (job_id < 1). */
int link_token_mint(const char *secret, size_t secret_len, link_scope scope, int64_t job_id, int64_t exp,
                    char out[LINK_TOKEN_MAX]) EQ_MUST;

/* 0 when `token` (NUL-terminated, any length) is a canonical token of scope
 * `want` signed with `secret`: *job_id and *exp are set. -1 for anything else
 * (wrong length or alphabet, non-canonical, bad MAC, unknown version, other
 * scope); the outputs are then 0. */
int link_token_verify(const char *secret, size_t secret_len, const char *token, link_scope want,
                      int64_t *job_id, int64_t *exp) EQ_MUST;

/* True when EXPORTQ_PUBLIC_URL and EXPORTQ_LINK_SECRET are both set. */
bool link_configured(const eq_config *cfg);

/* The URL of a new token: PUBLIC_URL/v1/exports/{id}/download?t=TOKEN or
 * PUBLIC_URL/exports/{id}?t=TOKEN. The URL is a bearer credential: never log
 * it. -1 when links are not configured or it does not fit. */
int link_url(const eq_config *cfg, link_scope scope, int64_t job_id, int64_t exp, char *out, size_t outsz) EQ_MUST;

/* When a token minted now for a job expires: the job's link_expires_at when
 * it has one (unix seconds, > 0); before that (queued, running) now +
 * EXPORTQ_RETENTION, a ceiling, the job's link_expires_at being checked
 * again when the link is used. */
int64_t link_expiry(const eq_config *cfg, long long link_expires_at, long long now);

/* EXPORTQ_PUBLIC_URL's rule: an absolute http:// or https:// URL with a host,
 * without user info, query or fragment, of visible ASCII, at most 2048
 * bytes. 0 when valid; else -1 with a reason in why. */
int link_public_url_check(const char *url, char *why, size_t whysz) EQ_MUST;

#endif
