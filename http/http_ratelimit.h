/* http_ratelimit.h - per-key token buckets for the API's rate limit.
 *
 * Each key (a token id) has a bucket of `per_minute` tokens that refills
 * continuously at per_minute/60 tokens a second; a request takes one. The
 * table has a hard maximum of keys: when it is full, the key idle longest is
 * forgotten (an idle key's bucket is usually full again, so forgetting it
 * costs nothing). Thread-safe (one mutex). Time is passed in (seconds, any
 * monotonic origin) so the logic is unit-tested without sleeping.
 *
 * http_ratelimit_new() allocates; http_ratelimit_free() frees (NULL is fine).
 */
#ifndef EXPORTQ_HTTP_RATELIMIT_H
#define EXPORTQ_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct http_ratelimit http_ratelimit;

#define HTTP_RATELIMIT_KEY_MAX 64 /* longer keys are cut (token ids are short) */

http_ratelimit *http_ratelimit_new(int per_minute, size_t max_keys);
void http_ratelimit_free(http_ratelimit *rl);

/* Takes one token from key's bucket at time `now`. Returns true when allowed;
 * false when the bucket is empty, with *retry_after set to the whole seconds
 * (>= 1) until a token is back. */
bool http_ratelimit_take(http_ratelimit *rl, const char *key, double now, int *retry_after);

#endif
