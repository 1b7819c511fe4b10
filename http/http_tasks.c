/* http_tasks.c - see http_tasks.h */
#include "http/http_tasks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef struct task {
    http_task_fn fn;
    void *arg;
} task;

struct http_tasks {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    task *ring; /* queue_max entries */
    int cap, head, len;
    bool stopping;
    pthread_t *threads;
    int nthreads; /* started */
    char name[32];
};

static void *run(void *cls)
{
    http_tasks *t = cls;
    for (;;) {
        task job;
        pthread_mutex_lock(&t->lock);
        while (t->len == 0 && !t->stopping)
            pthread_cond_wait(&t->cond, &t->lock);
        if (t->len == 0) { /* stopping and drained */
            pthread_mutex_unlock(&t->lock);
            return NULL;
        }
        job = t->ring[t->head];
        t->head = (t->head + 1) % t->cap;
        t->len--;
        pthread_mutex_unlock(&t->lock);
        job.fn(job.arg);
    }
}

int http_tasks_new(const char *name, int threads, int queue_max, http_tasks **out, eq_err *err)
{
    http_tasks *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return eq_fail(err, EQ_ERR_NOMEM, "%s tasks: out of memory", name);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->cap = queue_max;
    t->ring = calloc((size_t)queue_max, sizeof *t->ring);
    t->threads = calloc((size_t)threads, sizeof *t->threads);
    if (!t->ring || !t->threads) {
        eq_fail(err, EQ_ERR_NOMEM, "%s tasks: out of memory", name);
        goto fail;
    }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&t->threads[i], NULL, run, t) != 0) {
            eq_fail(err, EQ_ERR_IO, "%s tasks: cannot start a thread", name);
            goto fail;
        }
        t->nthreads++;
    }
    *out = t;
    return 0;
fail:
    http_tasks_free(t);
    return -1;
}

bool http_tasks_submit(http_tasks *t, http_task_fn fn, void *arg)
{
    bool ok = false;
    pthread_mutex_lock(&t->lock);
    if (!t->stopping && t->len < t->cap) {
        t->ring[(t->head + t->len) % t->cap] = (task){fn, arg};
        t->len++;
        ok = true;
        pthread_cond_signal(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
    if (!ok && !t->stopping)
        eq_warn("component=http", "%s tasks: queue full (%d waiting); answering 503", t->name, t->cap);
    return ok;
}

void http_tasks_drain(http_tasks *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    for (int i = 0; i < t->nthreads; i++)
        pthread_join(t->threads[i], NULL);
    t->nthreads = 0;
}

void http_tasks_free(http_tasks *t)
{
    if (!t)
        return;
    http_tasks_drain(t);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t->threads);
    free(t->ring);
    free(t);
}
