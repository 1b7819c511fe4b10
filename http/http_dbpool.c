/* http_dbpool.c - see http_dbpool.h */
#include "http/http_dbpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pg.h"

struct http_dbpool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *url;
    int size;
    int wait_ms;
    int borrowed;  /* connections handed out (or being opened) */
    int nidle;
    PGconn **idle; /* [size] */
};

int http_dbpool_new(const char *url, int size, int wait_ms, http_dbpool **out, eq_err *err)
{
    http_dbpool *p;
    pthread_condattr_t ca;
    *out = NULL;
    if (!url || size < 1)
        return eq_fail(err, EQ_ERR_INVALID, "database pool: a URL and a size >= 1 are needed");
    p = calloc(1, sizeof *p);
    if (!p)
        return eq_fail(err, EQ_ERR_NOMEM, "database pool: out of memory");
    p->url = strdup(url);
    p->idle = calloc((size_t)size, sizeof *p->idle);
    if (!p->url || !p->idle) {
        free(p->url);
        free(p->idle);
        free(p);
        return eq_fail(err, EQ_ERR_NOMEM, "database pool: out of memory");
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    p->size = size;
    p->wait_ms = wait_ms;
    *out = p;
    return 0;
}

void http_dbpool_free(http_dbpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nidle; i++)
        PQfinish(p->idle[i]);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p->idle);
    free(p->url);
    free(p);
}

int http_dbpool_get(http_dbpool *p, PGconn **conn, eq_err *err)
{
    struct timespec deadline;
    PGconn *c = NULL;
    *conn = NULL;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += p->wait_ms / 1000;
    deadline.tv_nsec += (long)(p->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->nidle == 0 && p->borrowed >= p->size) {
        if (pthread_cond_timedwait(&p->freed, &p->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->lock);
            return eq_fail_retry(err, EQ_ERR_LIMIT, "all %d database connections are busy", p->size);
        }
    }
    if (p->nidle > 0)
        c = p->idle[--p->nidle];
    p->borrowed++;
    pthread_mutex_unlock(&p->lock);

    /* a kept connection may have died since (server restart): reset it once */
    if (c && PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        c = NULL;
    }
    if (!c && eq_pg_connect(p->url, "api", &c, err) < 0) {
        pthread_mutex_lock(&p->lock);
        p->borrowed--;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    *conn = c;
    return 0;
}

void http_dbpool_put(http_dbpool *p, PGconn *conn)
{
    if (!conn)
        return;
    /* a connection left inside a transaction or broken is not reused */
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQfinish(conn);
        conn = NULL;
    }
    pthread_mutex_lock(&p->lock);
    p->borrowed--;
    if (conn)
        p->idle[p->nidle++] = conn;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}
