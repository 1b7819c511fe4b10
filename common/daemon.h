/* daemon.h - the life of a long-running command, shared by `exportq worker`
 * and `exportq serve`: signals and systemd notifications.
 *
 * Signals (SIGTERM, SIGINT, SIGHUP) are caught by a handler that only writes
 * the signal number to a self-pipe; the main thread reads it in
 * eq_daemon_wait(). What a signal means is the caller's: both commands drain
 * on the first SIGTERM/SIGINT and stop at once on the second; serve reloads
 * keys on SIGHUP. State that threads share (the worker's stop level) is an
 * atomic_int owned by the caller. READY=1, WATCHDOG=1 (at half the
 * WatchdogSec interval, from eq_daemon_wait) and STOPPING=1 go to systemd when
 * NOTIFY_SOCKET is set; sd_notify does nothing otherwise.
 *
 * One eq_daemon per process (the signal handler is process-wide). */
#ifndef EXPORTQ_COMMON_DAEMON_H
#define EXPORTQ_COMMON_DAEMON_H

#include <signal.h>
#include <stdint.h>

#include "common/error.h"

typedef struct eq_daemon {
    int pipe[2];
    uint64_t watchdog_usec; /* 0: no watchdog */
    long long next_watchdog_ms;
    struct sigaction old_term, old_int, old_hup;
} eq_daemon;

/* Installs the handlers (SIGPIPE ignored). Returns 0 or -1 with err. */
EQ_MUST int eq_daemon_start(eq_daemon *d, eq_err *err);

/* Threads the caller starts between block and unblock inherit a mask without
 * SIGTERM/SIGINT/SIGHUP, so only the main thread's handler sees them and no
 * worker thread's system call is interrupted. */
void eq_daemon_block(sigset_t *old);
void eq_daemon_unblock(const sigset_t *old);

/* Waits up to timeout_ms for a signal, sending WATCHDOG=1 when it is due.
 * Returns the signal number, or 0 when none came. */
int eq_daemon_wait(eq_daemon *d, int timeout_ms);

/* READY=1 (and the watchdog from now on) / STOPPING=1, with a STATUS= line. */
void eq_daemon_ready(eq_daemon *d, const char *status);
void eq_daemon_stopping(eq_daemon *d, const char *status);

/* Restores the previous handlers and closes the pipe. */
void eq_daemon_end(eq_daemon *d);

#endif
