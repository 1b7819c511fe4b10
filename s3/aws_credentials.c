/* aws_credentials.c - the credential chain, its cache and the background
 * refresh; see aws_creds.h */
#include "s3/aws_creds.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "s3/aws_source.h"

#define REFRESH_AHEAD_MAX 900 /* refresh at most 15 min before expiry ... */
#define HARD_MARGIN 10        /* ... and never sign with less than 10 s left */
#define RETRY_MAX 30          /* a failed background refresh is retried within 30 s */

typedef int (*source_fn)(const aws_settings *, aws_creds *, char *, size_t, eq_err *);

static const struct {
    const char *name;
    source_fn fn;
} chain[] = {
    {"environment", aws_source_env},
    {"shared files", aws_source_profile},
    {"web identity", aws_source_web_identity},
    {"container", aws_source_container},
    {"IMDSv2", aws_source_imds},
};
#define NCHAIN (sizeof chain / sizeof chain[0])

struct aws_credentials {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;          /* under g_lock */
    bool shared;       /* the process-wide chain provider (g_shared) */
    aws_settings set;
    size_t source;     /* index in chain[] */
    aws_creds cur;     /* under lock */
    time_t fetched_at; /* when cur was fetched */
    bool fetching;     /* a foreground fetch is running */
    bool stop;
    bool thread_started;
    pthread_t thread;
    unsigned refreshes;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static aws_credentials *g_shared;

void aws_creds_cleanse(aws_creds *c)
{
    if (c)
        OPENSSL_cleanse(c, sizeof *c);
}

/* ---- settings --------------------------------------------------------------- */

static char *dup_opt(const char *s, bool *oom)
{
    char *d;
    if (!s || !*s)
        return NULL;
    if (!(d = strdup(s)))
        *oom = true;
    return d;
}

static void free_str(char **s)
{
    if (*s) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

/* The string fields of aws_settings, for copying, comparing and freeing. */
#define SETTINGS_STRINGS(X)                                                                                       \
    X(access_key, aws_access_key_id)                                                                              \
    X(secret_key, aws_secret_access_key)                                                                          \
    X(session_token, aws_session_token)                                                                           \
    X(profile, aws_profile)                                                                                       \
    X(credentials_file, aws_shared_credentials_file)                                                              \
    X(config_file, aws_config_file)                                                                               \
    X(web_identity_token_file, aws_web_identity_token_file)                                                       \
    X(role_arn, aws_role_arn)                                                                                     \
    X(role_session_name, aws_role_session_name)                                                                   \
    X(sts_endpoint, aws_endpoint_url_sts)                                                                         \
    X(region, s3_region)                                                                                          \
    X(container_relative_uri, aws_container_relative_uri)                                                         \
    X(container_full_uri, aws_container_full_uri)                                                                 \
    X(container_token, aws_container_token)                                                                       \
    X(container_token_file, aws_container_token_file)                                                             \
    X(imds_endpoint, aws_imds_endpoint)                                                                           \
    X(ca_file, s3_ca_file)

static void settings_cleanup(aws_settings *s)
{
#define FREE_ONE(f, c) free_str(&s->f);
    SETTINGS_STRINGS(FREE_ONE)
#undef FREE_ONE
}

static int settings_from(const eq_config *cfg, aws_settings *s, eq_err *err)
{
    bool oom = false;
    memset(s, 0, sizeof *s);
#define COPY_ONE(f, c) s->f = dup_opt(cfg->c, &oom);
    SETTINGS_STRINGS(COPY_ONE)
#undef COPY_ONE
    s->imds_disabled = cfg->aws_imds_disabled;
    if (oom) {
        settings_cleanup(s);
        return eq_fail(err, EQ_ERR_NOMEM, "AWS credentials: out of memory");
    }
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool settings_equal(const aws_settings *a, const aws_settings *b)
{
#define SAME_ONE(f, c) &&same_str(a->f, b->f)
    return a->imds_disabled == b->imds_disabled SETTINGS_STRINGS(SAME_ONE);
#undef SAME_ONE
}

/* ---- the chain ------------------------------------------------------------------ */

/* Walks the chain; on success *source is the index of the source that gave. */
static int resolve(const aws_settings *s, aws_creds *out, size_t *source, eq_err *err)
{
    char tried[900] = "", why[256];
    size_t used = 0;
    for (size_t i = 0; i < NCHAIN; i++) {
        int rc;
        why[0] = '\0';
        rc = chain[i].fn(s, out, why, sizeof why, err);
        if (rc > 0) {
            *source = i;
            return 0;
        }
        if (rc < 0)
            return eq_err_context(err, "AWS credentials (%s)", chain[i].name);
        used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "",
                                 why[0] ? why : chain[i].name);
        if (used >= sizeof tried)
            used = sizeof tried - 1;
    }
    return eq_fail(err, EQ_ERR_CONFIG, "no AWS credentials found; tried %s", tried);
}

static void describe(const aws_creds *c, char *out, size_t outsz)
{
    struct tm tm;
    char when[32];
    if (!c->expires_at) {
        snprintf(out, outsz, "from %s", c->source);
        return;
    }
    gmtime_r(&c->expires_at, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, outsz, "from %s, valid until %s", c->source, when);
}

/* When the background thread should renew cur (0: never). Under lock. */
static time_t refresh_at(const aws_credentials *p)
{
    time_t life, ahead;
    if (!p->cur.expires_at)
        return 0;
    life = p->cur.expires_at - p->fetched_at;
    ahead = life / 2 < REFRESH_AHEAD_MAX ? life / 2 : REFRESH_AHEAD_MAX;
    if (ahead < HARD_MARGIN + 1)
        ahead = HARD_MARGIN + 1;
    return p->cur.expires_at - ahead;
}

/* Fetches anew from the source that gave the current credentials (no lock
 * held: it is network I/O), then installs them. */
static int renew(aws_credentials *p, eq_err *err)
{
    aws_creds *fresh = calloc(1, sizeof *fresh);
    char why[256], desc[96];
    int rc;
    if (!fresh)
        return eq_fail(err, EQ_ERR_NOMEM, "AWS credentials: out of memory");
    rc = chain[p->source].fn(&p->set, fresh, why, sizeof why, err);
    if (rc == 0)
        rc = eq_fail_retry(err, EQ_ERR_CONFIG, "AWS credentials: %s", why);
    else if (rc < 0)
        eq_err_context(err, "AWS credentials refresh (%s)", chain[p->source].name);
    if (rc > 0) {
        pthread_mutex_lock(&p->lock);
        aws_creds_cleanse(&p->cur);
        p->cur = *fresh;
        p->fetched_at = time(NULL);
        p->refreshes++;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        describe(fresh, desc, sizeof desc);
        eq_info(NULL, "AWS credentials refreshed %s", desc);
        rc = 0;
    }
    aws_creds_cleanse(fresh);
    free(fresh);
    return rc;
}

static void *refresh_thread(void *arg)
{
    aws_credentials *p = arg;
    time_t retry_at = 0;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        time_t now = time(NULL), due = refresh_at(p);
        struct timespec ts = {0, 0};
        eq_err err;
        int rc;
        if (retry_at > due)
            due = retry_at;
        if (due == 0 || now < due || p->fetching) {
            ts.tv_sec = due == 0 || p->fetching ? now + 60 : due;
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        rc = renew(p, &err);
        pthread_mutex_lock(&p->lock);
        if (rc == 0) {
            retry_at = 0;
        } else {
            time_t left = p->cur.expires_at - now, wait = left / 4;
            if (wait > RETRY_MAX)
                wait = RETRY_MAX;
            if (wait < 1)
                wait = 1;
            retry_at = now + wait;
            eq_warn(NULL, "AWS credentials refresh failed (retrying in %ld s; current ones valid %ld s more): %s",
                    (long)wait, (long)(left > 0 ? left : 0), err.msg);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void provider_free(aws_credentials *p)
{
    if (!p)
        return;
    if (p->thread_started) {
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    aws_creds_cleanse(&p->cur);
    settings_cleanup(&p->set);
    free(p);
}

/* A new provider owning *set (moved in), with its first credentials. */
static int provider_new(aws_settings *set, aws_credentials **out, eq_err *err)
{
    aws_credentials *p = calloc(1, sizeof *p);
    char desc[96];
    *out = NULL;
    if (!p) {
        settings_cleanup(set);
        return eq_fail(err, EQ_ERR_NOMEM, "AWS credentials: out of memory");
    }
    p->set = *set;
    memset(set, 0, sizeof *set);
    p->refs = 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (resolve(&p->set, &p->cur, &p->source, err) < 0)
        goto fail;
    p->fetched_at = time(NULL);
    if (p->cur.expires_at) {
        if (pthread_create(&p->thread, NULL, refresh_thread, p) != 0) {
            eq_fail(err, EQ_ERR_NOMEM, "AWS credentials: cannot start the refresh thread");
            goto fail;
        }
        p->thread_started = true;
    }
    describe(&p->cur, desc, sizeof desc);
    if (p->source == 0)
        eq_debug(NULL, "AWS credentials %s", desc);
    else
        eq_info(NULL, "AWS credentials %s", desc);
    *out = p;
    return 0;
fail:
    provider_free(p);
    return -1;
}

int aws_credentials_acquire(const eq_config *cfg, aws_credentials **out, eq_err *err)
{
    aws_settings set;
    int rc;
    *out = NULL;
    if (settings_from(cfg, &set, err) < 0)
        return -1;
    if (set.access_key || set.secret_key)
        return provider_new(&set, out, err); /* static keys: nothing to share */
    pthread_mutex_lock(&g_lock);
    if (g_shared && settings_equal(&g_shared->set, &set)) {
        g_shared->refs++;
        *out = g_shared;
        pthread_mutex_unlock(&g_lock);
        settings_cleanup(&set);
        return 0;
    }
    rc = provider_new(&set, out, err);
    if (rc == 0 && !g_shared) {
        g_shared = *out;
        g_shared->shared = true;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void aws_credentials_release(aws_credentials *p)
{
    bool last;
    if (!p)
        return;
    pthread_mutex_lock(&g_lock);
    last = --p->refs == 0;
    if (last && g_shared == p)
        g_shared = NULL;
    pthread_mutex_unlock(&g_lock);
    if (last)
        provider_free(p);
}

int aws_credentials_get(aws_credentials *p, aws_creds *out, eq_err *err)
{
    pthread_mutex_lock(&p->lock);
    for (;;) {
        time_t now = time(NULL);
        eq_err ferr;
        int rc;
        if (!p->cur.expires_at || now < p->cur.expires_at - HARD_MARGIN) {
            *out = p->cur;
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
        if (p->fetching) {
            pthread_cond_wait(&p->cond, &p->lock);
            continue;
        }
        /* the background refresh did not keep ahead: fetch here, one thread
         * at a time; the others wait for it */
        p->fetching = true;
        pthread_mutex_unlock(&p->lock);
        rc = renew(p, &ferr);
        pthread_mutex_lock(&p->lock);
        p->fetching = false;
        pthread_cond_broadcast(&p->cond);
        if (rc == 0)
            continue;
        if (now < p->cur.expires_at) {
            *out = p->cur; /* still valid for a few seconds */
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
        pthread_mutex_unlock(&p->lock);
        *err = ferr;
        err->retryable = true;
        return eq_err_context(err, "AWS credentials expired");
    }
}

time_t aws_credentials_expiry(aws_credentials *p)
{
    time_t t;
    pthread_mutex_lock(&p->lock);
    t = p->cur.expires_at;
    pthread_mutex_unlock(&p->lock);
    return t;
}

const char *aws_credentials_source(aws_credentials *p)
{
    return chain[p->source].name;
}

unsigned aws_credentials_refreshes(aws_credentials *p)
{
    unsigned n;
    pthread_mutex_lock(&p->lock);
    n = p->refreshes;
    pthread_mutex_unlock(&p->lock);
    return n;
}
