/* daemon.c - see daemon.h. */
#include "common/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/clock.h"

/* the handler's only state: the write end of the one daemon's pipe */
static int signal_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (signal_fd >= 0 && write(signal_fd, &b, 1) < 0) {
        /* the pipe is full: signals are already pending, the next read sees them */
    }
    errno = saved;
}

static void daemon_sigset(sigset_t *s)
{
    sigemptyset(s);
    sigaddset(s, SIGTERM);
    sigaddset(s, SIGINT);
    sigaddset(s, SIGHUP);
}

int eq_daemon_start(eq_daemon *d, eq_err *err)
{
    struct sigaction sa;

    memset(d, 0, sizeof *d);
    d->pipe[0] = d->pipe[1] = -1;
    if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return eq_fail(err, EQ_ERR_IO, "cannot create the signal pipe: %s", strerror(errno));
    signal_fd = d->pipe[1];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, &d->old_term) < 0 || sigaction(SIGINT, &sa, &d->old_int) < 0 ||
        sigaction(SIGHUP, &sa, &d->old_hup) < 0) {
        int e = errno;
        eq_daemon_end(d);
        return eq_fail(err, EQ_ERR_IO, "cannot install signal handlers: %s", strerror(e));
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void eq_daemon_block(sigset_t *old)
{
    sigset_t s;
    daemon_sigset(&s);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

void eq_daemon_unblock(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void pet_watchdog(eq_daemon *d)
{
    long long now;
    if (!d->watchdog_usec)
        return;
    now = eq_now_ms();
    if (now < d->next_watchdog_ms)
        return;
    sd_notify(0, "WATCHDOG=1");
    d->next_watchdog_ms = now + (long long)(d->watchdog_usec / 2000);
}

int eq_daemon_wait(eq_daemon *d, int timeout_ms)
{
    struct pollfd pfd = {.fd = d->pipe[0], .events = POLLIN};
    unsigned char b;
    long long end = eq_now_ms() + timeout_ms;

    for (;;) {
        long long left = end - eq_now_ms();
        int slice;
        pet_watchdog(d);
        /* one signal a call: a second SIGTERM stays in the pipe for the next */
        if (read(d->pipe[0], &b, 1) == 1)
            return b;
        if (left <= 0)
            return 0;
        slice = left > 1000 ? 1000 : (int)left;
        if (poll(&pfd, 1, slice) < 0 && errno != EINTR)
            return 0;
    }
}

void eq_daemon_ready(eq_daemon *d, const char *status)
{
    char msg[256];
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status ? status : "running");
    sd_notify(0, msg);
    if (sd_watchdog_enabled(0, &d->watchdog_usec) <= 0)
        d->watchdog_usec = 0;
    d->next_watchdog_ms = 0;
}

void eq_daemon_stopping(eq_daemon *d, const char *status)
{
    char msg[256];
    (void)d;
    snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=%s", status ? status : "stopping");
    sd_notify(0, msg);
}

void eq_daemon_end(eq_daemon *d)
{
    if (d->pipe[1] >= 0) {
        sigaction(SIGTERM, &d->old_term, NULL);
        sigaction(SIGINT, &d->old_int, NULL);
        sigaction(SIGHUP, &d->old_hup, NULL);
        signal_fd = -1;
    }
    for (int i = 0; i < 2; i++) {
        if (d->pipe[i] >= 0)
            close(d->pipe[i]);
        d->pipe[i] = -1;
    }
}
