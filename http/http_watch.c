/* http_watch.c - see http_watch.h */
#include "http/http_watch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct entry {
    struct MHD_Connection *conn;
    int db_fd;
    short db_events;
    int client_fd;
    atomic_bool *hangup;
} entry;

struct http_watch {
    pthread_mutex_t lock;
    pthread_t thread;
    bool thread_started;
    bool stop;
    bool closed; /* resume_all ran: no more watches */
    int wake_fd; /* eventfd: table changed or stop */
    int max, n;
    entry *entries;    /* [max] */
    struct pollfd *fds; /* [1 + 2 * max], thread-private */
    entry *snapshot;    /* [max], thread-private */
};

static void wake(http_watch *w)
{
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(w->wake_fd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
}

static void *watch_main(void *arg)
{
    http_watch *w = arg;
    for (;;) {
        int n;
        pthread_mutex_lock(&w->lock);
        if (w->stop) {
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        n = w->n;
        memcpy(w->snapshot, w->entries, (size_t)n * sizeof *w->snapshot);
        pthread_mutex_unlock(&w->lock);

        w->fds[0] = (struct pollfd){.fd = w->wake_fd, .events = POLLIN};
        for (int i = 0; i < n; i++) {
            w->fds[1 + 2 * i] = (struct pollfd){.fd = w->snapshot[i].db_fd, .events = w->snapshot[i].db_events};
            w->fds[2 + 2 * i] = (struct pollfd){.fd = w->snapshot[i].client_fd, .events = POLLRDHUP};
        }
        if (poll(w->fds, (nfds_t)(1 + 2 * n), -1) < 0)
            continue; /* EINTR */
        if (w->fds[0].revents & POLLIN) {
            uint64_t v;
            if (read(w->wake_fd, &v, sizeof v) < 0) {
                /* nothing to do: a spurious wake-up only costs one round */
            }
        }
        for (int i = 0; i < n; i++) {
            bool db_ready = w->fds[1 + 2 * i].revents != 0;
            bool gone = (w->fds[2 + 2 * i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
            if (!db_ready && !gone)
                continue;
            /* remove the entry (if still there) and resume it, under the lock
             * so that resume_all never resumes the same connection twice */
            pthread_mutex_lock(&w->lock);
            for (int j = 0; j < w->n; j++) {
                if (w->entries[j].conn != w->snapshot[i].conn)
                    continue;
                if (gone)
                    atomic_store(w->entries[j].hangup, true);
                MHD_resume_connection(w->entries[j].conn);
                w->entries[j] = w->entries[--w->n];
                break;
            }
            pthread_mutex_unlock(&w->lock);
        }
    }
}

int http_watch_new(int max, http_watch **out, eq_err *err)
{
    http_watch *w;
    *out = NULL;
    if (max < 1)
        return eq_fail(err, EQ_ERR_INVALID, "stream watcher: max must be >= 1");
    w = calloc(1, sizeof *w);
    if (!w)
        return eq_fail(err, EQ_ERR_NOMEM, "stream watcher: out of memory");
    w->wake_fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    w->max = max;
    w->entries = calloc((size_t)max, sizeof *w->entries);
    w->snapshot = calloc((size_t)max, sizeof *w->snapshot);
    w->fds = calloc((size_t)(1 + 2 * max), sizeof *w->fds);
    if (!w->entries || !w->snapshot || !w->fds) {
        eq_fail(err, EQ_ERR_NOMEM, "stream watcher: out of memory");
        goto fail;
    }
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0) {
        eq_fail(err, EQ_ERR_IO, "stream watcher: eventfd: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        eq_fail(err, EQ_ERR_IO, "stream watcher: cannot start its thread");
        goto fail;
    }
    w->thread_started = true;
    *out = w;
    return 0;
fail:
    http_watch_free(w);
    return -1;
}

void http_watch_resume_all(http_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < w->n; i++)
        MHD_resume_connection(w->entries[i].conn);
    w->n = 0;
    w->closed = true;
    pthread_mutex_unlock(&w->lock);
    wake(w);
}

void http_watch_free(http_watch *w)
{
    if (!w)
        return;
    if (w->thread_started) {
        http_watch_resume_all(w);
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_mutex_unlock(&w->lock);
        wake(w);
        pthread_join(w->thread, NULL);
    }
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    pthread_mutex_destroy(&w->lock);
    free(w->entries);
    free(w->snapshot);
    free(w->fds);
    free(w);
}

int http_watch_add(http_watch *w, struct MHD_Connection *conn, int db_fd, short db_events, int client_fd,
                   atomic_bool *hangup, eq_err *err)
{
    pthread_mutex_lock(&w->lock);
    if (w->closed) {
        pthread_mutex_unlock(&w->lock);
        return eq_fail(err, EQ_ERR_CANCELLED, "stream watcher: the server is stopping");
    }
    if (w->n >= w->max) {
        pthread_mutex_unlock(&w->lock);
        return eq_fail(err, EQ_ERR_LIMIT, "stream watcher: %d connections watched already", w->max);
    }
    w->entries[w->n++] = (entry){conn, db_fd, db_events, client_fd, hangup};
    pthread_mutex_unlock(&w->lock);
    wake(w);
    return 0;
}
