/* http_slots.c - see http_slots.h */
#include "http/http_slots.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pg.h"

#define SLOT_KEY "hashtext('exportq.stream_slot')"

typedef enum { SLOT_FREE = 0, SLOT_HELD, SLOT_RELEASING } slot_state;

struct http_slots {
    char *url;
    int cap;
    PGconn *conn;          /* NULL when lost; reopened by the next take */
    pthread_mutex_t lock;  /* everything below, and the connection */
    pthread_cond_t wake;   /* a slot to release, or stop */
    pthread_t thread;
    bool thread_started;
    bool stop;
    int releasing;         /* slots in SLOT_RELEASING */
    int next;              /* where the next take starts looking */
    unsigned char *state;  /* [cap] slot_state, as this process sees it */
};

/* One pg_try_advisory_lock or pg_advisory_unlock of slot i: 1 true, 0 false, -1 error. */
static int slot_call(http_slots *s, const char *fn, int i, eq_err *err)
{
    char sql[128], num[16];
    const char *params[1] = {num};
    PGresult *res = NULL;
    int rc;
    snprintf(sql, sizeof sql, "SELECT %s(" SLOT_KEY ", $1::int)", fn);
    snprintf(num, sizeof num, "%d", i);
    if (eq_pg_exec(s->conn, "stream slots", sql, 1, params, &res, err) < 0) {
        if (eq_pg_broken(s->conn)) {
            PQfinish(s->conn);
            s->conn = NULL;
        }
        return -1;
    }
    rc = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

/* Lock held. After a lost connection: a new one, and the slots of the
 * streams still running taken again. */
static int ensure_conn(http_slots *s, eq_err *err)
{
    int lost = 0;
    if (s->conn)
        return 0;
    if (eq_pg_connect(s->url, "slots", &s->conn, err) < 0) {
        s->conn = NULL;
        err->retryable = true;
        return -1;
    }
    for (int i = 0; i < s->cap; i++) {
        if (s->state[i] == SLOT_RELEASING) { /* gone with the old session */
            s->state[i] = SLOT_FREE;
            s->releasing--;
        } else if (s->state[i] == SLOT_HELD) {
            eq_err e;
            if (slot_call(s, "pg_try_advisory_lock", i, &e) != 1)
                lost++;
        }
    }
    if (lost)
        eq_warn("component=http", "stream slots: reconnected; %d running stream(s) could not take their slot "
                "again (the cluster may run more than EXPORTQ_MAX_STREAMS streams until they end)", lost);
    else
        eq_info("component=http", "stream slots: reconnected to the queue database");
    return 0;
}

static void *release_thread(void *arg)
{
    http_slots *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stop && s->releasing == 0)
            pthread_cond_wait(&s->wake, &s->lock);
        if (s->stop)
            break;
        for (int i = 0; i < s->cap && s->releasing > 0; i++) {
            eq_err err;
            if (s->state[i] != SLOT_RELEASING)
                continue;
            if (s->conn && slot_call(s, "pg_advisory_unlock", i, &err) < 0)
                eq_warn("component=http", "stream slots: cannot give slot %d back: %s", i, err.msg);
            /* freed either way: a lost session holds nothing */
            s->state[i] = SLOT_FREE;
            s->releasing--;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int http_slots_new(const char *database_url, int cap, http_slots **out, eq_err *err)
{
    http_slots *s;
    *out = NULL;
    if (!database_url || cap < 1)
        return eq_fail(err, EQ_ERR_INVALID, "stream slots: a database URL and a cap >= 1 are needed");
    s = calloc(1, sizeof *s);
    if (!s)
        return eq_fail(err, EQ_ERR_NOMEM, "stream slots: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    s->cap = cap;
    s->url = strdup(database_url);
    s->state = calloc((size_t)cap, 1);
    if (!s->url || !s->state) {
        eq_fail(err, EQ_ERR_NOMEM, "stream slots: out of memory");
        goto fail;
    }
    {
        eq_err e; /* the database may come later: the first take connects then */
        if (eq_pg_connect(s->url, "slots", &s->conn, &e) < 0) {
            s->conn = NULL;
            eq_warn("component=http", "stream slots: %s (will retry on the first stream)", e.msg);
        }
    }
    if (pthread_create(&s->thread, NULL, release_thread, s) != 0) {
        eq_fail(err, EQ_ERR_NOMEM, "stream slots: cannot start a thread");
        goto fail;
    }
    s->thread_started = true;
    *out = s;
    return 0;
fail:
    http_slots_free(s);
    return -1;
}

int http_slots_take(http_slots *s, int *slot, eq_err *err)
{
    int rc = 0;
    *slot = -1;
    pthread_mutex_lock(&s->lock);
    /* a slot on its way back passes to this request: no round trip */
    for (int i = 0; i < s->cap && s->releasing > 0; i++) {
        if (s->state[i] == SLOT_RELEASING) {
            s->state[i] = SLOT_HELD;
            s->releasing--;
            *slot = i;
            rc = 1;
            goto out;
        }
    }
    if (ensure_conn(s, err) < 0) {
        rc = -1;
        goto out;
    }
    for (int k = 0; k < s->cap; k++) {
        int i = (s->next + k) % s->cap, got;
        if (s->state[i] != SLOT_FREE)
            continue;
        got = slot_call(s, "pg_try_advisory_lock", i, err);
        if (got < 0) {
            err->retryable = true;
            rc = -1;
            goto out;
        }
        if (got == 1) {
            s->state[i] = SLOT_HELD;
            s->next = (i + 1) % s->cap;
            *slot = i;
            rc = 1;
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void http_slots_put(http_slots *s, int slot)
{
    if (!s || slot < 0 || slot >= s->cap)
        return;
    pthread_mutex_lock(&s->lock);
    if (s->state[slot] == SLOT_HELD) {
        s->state[slot] = SLOT_RELEASING;
        s->releasing++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
}

void http_slots_free(http_slots *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    if (s->conn)
        PQfinish(s->conn); /* the session ends: PostgreSQL frees every slot */
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s->state);
    free(s->url);
    free(s);
}
