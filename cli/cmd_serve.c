/* cmd_serve.c - `exportq serve`: runs the HTTP API (http/http_server.h) until
 * SIGTERM or SIGINT.
 *
 * The signal handler only writes a byte to a pipe. The first signal drains:
 * stop accepting connections (sd_notify STOPPING=1), let running streams
 * finish for up to EXPORTQ_DRAIN_SECONDS, then end the rest (their bodies end
 * abnormally, their queries are cancelled) and exit 0. A second signal ends
 * the drain at once. READY=1 and WATCHDOG=1 go to systemd when NOTIFY_SOCKET
 * is set (sd_notify does nothing otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "http/http_server.h"

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    char b = (char)sig;
    if (write(signal_pipe[1], &b, 1) < 0) {
        /* the pipe is full: a signal is already pending, nothing is lost */
    }
    errno = saved;
}

static int install_signals(void)
{
    struct sigaction sa;
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits up to timeout_ms for a signal; true when one came (consumed). */
static bool wait_signal(int timeout_ms)
{
    struct pollfd pfd = {.fd = signal_pipe[0], .events = POLLIN};
    char buf[16];
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return false;
    return read(signal_pipe[0], buf, sizeof buf) > 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: exportq serve\n\n"
                 "Runs the HTTP API and the streaming endpoint on EXPORTQ_HTTP_LISTEN.\n\n"
                 "  POST /v1/exports                 queue an export {\"kind\",\"params\",\"email\"}\n"
                 "  GET  /v1/exports                 your exports, newest first (?limit=&cursor=)\n"
                 "  GET  /v1/exports/{id}            one export (download_url once succeeded)\n"
                 "  DELETE /v1/exports/{id}          cancel it\n"
                 "  GET  /v1/exports/{id}/download   302 to a fresh presigned link\n"
                 "  GET  /v1/stream/{kind}?name=value   stream the CSV now\n"
                 "  GET  /healthz, GET /metrics\n\n"
                 "Requests need 'Authorization: Bearer TOKEN' (exportq token create --owner ID).\n"
                 "Settings: EXPORTQ_DATABASE_URL, EXPORTQ_SOURCE_DATABASE_URL, EXPORTQ_HTTP_LISTEN,\n"
                 "EXPORTQ_MAX_STREAMS, EXPORTQ_RATE_LIMIT, EXPORTQ_DRAIN_SECONDS, EXPORTQ_LINK_TTL and\n"
                 "the S3 settings (for download links); see `exportq --help`.\n"
                 "SIGTERM/SIGINT: stop accepting, let streams finish up to EXPORTQ_DRAIN_SECONDS, exit.\n");
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    eq_config cfg = {0};
    eq_err err;
    http_server *srv = NULL;
    uint64_t watchdog_us = 0;
    double last_watchdog = 0, deadline;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return CLI_OK;
        }
        return cli_usage_error("serve", "unknown option");
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (cli_load_config(&cfg, EQ_NEED_DB | EQ_NEED_S3) < 0)
        return CLI_FAIL;
    eq_err_clear(&err);
    if (install_signals() < 0) {
        eq_fail(&err, EQ_ERR_IO, "cannot install signal handlers: %s", strerror(errno));
        rc = cli_fail(&err);
        goto out;
    }
    if (http_server_new(&cfg, &srv, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    {
        char where[300];
        const char *colon = strrchr(cfg.http_listen, ':');
        snprintf(where, sizeof where, "%.*s:%u", colon ? (int)(colon - cfg.http_listen) : 0, cfg.http_listen,
                 (unsigned)http_server_port(srv));
        eq_info(NULL, "exportq %s serving HTTP on %s (max %d streams, %d requests/min per token)", EXPORTQ_VERSION,
                where, cfg.max_streams, cfg.rate_limit);
    }
    sd_notify(0, "READY=1");
    if (sd_watchdog_enabled(0, &watchdog_us) <= 0)
        watchdog_us = 0;

    for (;;) {
        if (wait_signal(1000))
            break;
        if (watchdog_us && now_s() - last_watchdog >= watchdog_us / 2e6) {
            sd_notify(0, "WATCHDOG=1");
            last_watchdog = now_s();
        }
    }

    sd_notify(0, "STOPPING=1");
    http_server_quiesce(srv);
    eq_info(NULL, "stopping: no new connections; %d streams running, waiting up to %d s",
            http_server_active_streams(srv), cfg.drain_seconds);
    deadline = now_s() + cfg.drain_seconds;
    while (http_server_active_streams(srv) > 0 && now_s() < deadline) {
        if (wait_signal(100)) {
            eq_warn(NULL, "second signal: ending the drain now");
            break;
        }
        if (watchdog_us && now_s() - last_watchdog >= watchdog_us / 2e6) {
            sd_notify(0, "WATCHDOG=1");
            last_watchdog = now_s();
        }
    }
    if (http_server_active_streams(srv) > 0)
        eq_warn(NULL, "ending %d streams still running", http_server_active_streams(srv));
    rc = CLI_OK;
out:
    http_server_free(srv);
    eq_config_cleanup(&cfg);
    eq_info(NULL, "stopped");
    return rc;
}
