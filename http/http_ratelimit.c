/* http_ratelimit.c - see http_ratelimit.h */
#include "http/http_ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct bucket {
    char key[HTTP_RATELIMIT_KEY_MAX];
    double tokens;
    double updated; /* when tokens was last computed */
    bool used;
} bucket;

struct http_ratelimit {
    pthread_mutex_t lock;
    double capacity;
    double per_second;
    size_t nkeys;
    bucket *buckets;
};

http_ratelimit *http_ratelimit_new(int per_minute, size_t max_keys)
{
    http_ratelimit *rl;
    if (per_minute < 1 || max_keys < 1)
        return NULL;
    rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->buckets = calloc(max_keys, sizeof *rl->buckets);
    if (!rl->buckets) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->lock, NULL);
    rl->capacity = per_minute;
    rl->per_second = per_minute / 60.0;
    rl->nkeys = max_keys;
    return rl;
}

void http_ratelimit_free(http_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->buckets);
    free(rl);
}

/* The key's bucket, or a fresh (full) one in place of an unused or the
 * longest-idle entry. A linear scan: the table is small and bounded. */
static bucket *find_bucket(http_ratelimit *rl, const char *key, double now)
{
    bucket *victim = NULL;
    for (size_t i = 0; i < rl->nkeys; i++) {
        bucket *b = &rl->buckets[i];
        if (b->used && strncmp(b->key, key, sizeof b->key - 1) == 0)
            return b;
        if (!b->used) {
            if (!victim || victim->used)
                victim = b;
        } else if (!victim || (victim->used && b->updated < victim->updated)) {
            victim = b;
        }
    }
    memset(victim, 0, sizeof *victim);
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->used = true;
    victim->tokens = rl->capacity;
    victim->updated = now;
    return victim;
}

bool http_ratelimit_take(http_ratelimit *rl, const char *key, double now, int *retry_after)
{
    bucket *b;
    bool ok;
    pthread_mutex_lock(&rl->lock);
    b = find_bucket(rl, key ? key : "", now);
    if (now > b->updated) {
        b->tokens += (now - b->updated) * rl->per_second;
        if (b->tokens > rl->capacity)
            b->tokens = rl->capacity;
        b->updated = now;
    }
    ok = b->tokens >= 1.0;
    if (ok) {
        b->tokens -= 1.0;
    } else if (retry_after) {
        double wait = ceil((1.0 - b->tokens) / rl->per_second);
        *retry_after = wait < 1 ? 1 : wait > 86400 ? 86400 : (int)wait;
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}
