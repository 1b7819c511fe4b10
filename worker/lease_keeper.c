/* lease_keeper.c - see lease_keeper.h */
#include "worker/lease_keeper.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/pg.h"

struct lease_keeper {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool stop;
    const char *url;
    const queue_job *job;
    const char *logctx;
    int lease_seconds;
    atomic_llong rows, bytes;
};

static void *keeper_main(void *arg)
{
    lease_keeper *k = arg;
    PGconn *conn = NULL;
    eq_err e;
    /* renew at a third of the lease (at least every 10 s) */
    long period_ms = k->lease_seconds * 1000L / 3;
    if (period_ms > 10000)
        period_ms = 10000;

    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += period_ms / 1000;
        ts.tv_nsec += (period_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!k->stop && pthread_cond_timedwait(&k->cv, &k->mu, &ts) == 0) {
        }
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->mu);
        if (!conn && eq_pg_connect(k->url, "worker-keeper", &conn, &e) < 0) {
            eq_warn(k->logctx, "lease keeper: %s", e.msg);
            conn = NULL;
        } else if (queue_heartbeat(conn, k->job, k->lease_seconds, atomic_load(&k->rows), atomic_load(&k->bytes),
                                   &e) < 0) {
            if (e.code == EQ_ERR_CANCELLED || e.code == EQ_ERR_CONFLICT) {
                /* the job thread sees it at its next tick: renew no more */
                eq_debug(k->logctx, "lease keeper: %s", e.msg);
                pthread_mutex_lock(&k->mu);
                break;
            }
            eq_warn(k->logctx, "lease keeper: heartbeat: %s", e.msg);
            PQfinish(conn);
            conn = NULL;
        }
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    PQfinish(conn);
    return NULL;
}

int lease_keeper_start(const char *database_url, const queue_job *job, int lease_seconds, const char *logctx,
                       lease_keeper **out, eq_err *err)
{
    lease_keeper *k = calloc(1, sizeof *k);
    pthread_condattr_t ca;

    *out = NULL;
    if (!k)
        return eq_fail(err, EQ_ERR_NOMEM, "lease keeper: out of memory");
    k->url = database_url;
    k->job = job;
    k->logctx = logctx;
    k->lease_seconds = lease_seconds;
    atomic_init(&k->rows, 0);
    atomic_init(&k->bytes, 0);
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&k->tid, NULL, keeper_main, k) != 0) {
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        free(k);
        return eq_fail(err, EQ_ERR_NOMEM, "lease keeper: cannot start a thread");
    }
    *out = k;
    return 0;
}

void lease_keeper_progress(lease_keeper *k, long long rows, long long bytes)
{
    if (!k)
        return;
    atomic_store(&k->rows, rows);
    atomic_store(&k->bytes, bytes);
}

void lease_keeper_stop(lease_keeper *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->tid, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
