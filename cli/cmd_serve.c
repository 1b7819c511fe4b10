/* cmd_serve.c - `exportq serve`: runs the HTTP API (http/http_server.h) until
 * SIGTERM or SIGINT.
 *
 * Its life is common/daemon.h's (a self-pipe for signals, systemd
 * notifications). The first SIGTERM/SIGINT drains:
 * stop accepting connections (sd_notify STOPPING=1), let running streams
 * finish for up to EXPORTQ_DRAIN_SECONDS, then end the rest (their bodies end
 * abnormally, their queries are cancelled) and exit 0. A second signal ends
 * the drain at once. SIGHUP reads the JWT keys again (EXPORTQ_JWT_PUBLIC_KEYS).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/daemon.h"
#include "common/log.h"
#include "http/http_server.h"

/* SIGHUP: the JWT keys again; a bad file keeps the keys in use. */
static void reload(http_server *srv)
{
    eq_err err;
    size_t n = 0;
    eq_err_clear(&err);
    if (http_server_reload_keys(srv, &n, &err) < 0)
        eq_warn(NULL, "SIGHUP: JWT keys not reloaded, the previous ones stay: %s", err.msg);
    else
        eq_info(NULL, "SIGHUP: JWT keys reloaded (%zu public keys)", n);
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
                 "  GET  /healthz, GET /metrics\n"
                 "  GET  /v1/openapi.json            the OpenAPI 3.1 document of this API\n\n"
                 "Requests need 'Authorization: Bearer TOKEN' (exportq token create --owner ID),\n"
                 "or the application's JWT (EXPORTQ_JWT_SECRET / EXPORTQ_JWT_PUBLIC_KEYS).\n"
                 "Settings: EXPORTQ_DATABASE_URL, EXPORTQ_SOURCE_DATABASE_URL, EXPORTQ_HTTP_LISTEN,\n"
                 "EXPORTQ_MAX_STREAMS, EXPORTQ_RATE_LIMIT, EXPORTQ_DRAIN_SECONDS, EXPORTQ_LINK_TTL and\n"
                 "the S3 settings (for download links); see `exportq --help`.\n"
                 "SIGTERM/SIGINT: stop accepting, let streams finish up to EXPORTQ_DRAIN_SECONDS, exit.\n"
                 "SIGHUP: read EXPORTQ_JWT_PUBLIC_KEYS again.\n");
}

int cmd_serve(int argc, char **argv)
{
    eq_config cfg = {0};
    eq_err err;
    http_server *srv = NULL;
    eq_daemon daemon = {.pipe = {-1, -1}};
    sigset_t old;
    long long deadline;
    int sig;
    int rc;

    if ((rc = cli_options_help_only(argc, argv, "serve", usage)) >= 0)
        return rc;
    rc = CLI_FAIL;
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (cli_load_config(&cfg, EQ_NEED_DB | EQ_NEED_S3) < 0)
        return CLI_FAIL;
    eq_err_clear(&err);
    if (eq_daemon_start(&daemon, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    /* the server's threads take no signals: the main thread's handler does */
    eq_daemon_block(&old);
    if (http_server_new(&cfg, &srv, &err) < 0) {
        eq_daemon_unblock(&old);
        rc = cli_fail(&err);
        goto out;
    }
    eq_daemon_unblock(&old);
    {
        char where[300];
        const char *colon = strrchr(cfg.http_listen, ':');
        snprintf(where, sizeof where, "%.*s:%u", colon ? (int)(colon - cfg.http_listen) : 0, cfg.http_listen,
                 (unsigned)http_server_port(srv));
        eq_info(NULL, "exportq %s serving HTTP on %s (max %d streams, %d requests/min per token)", EXPORTQ_VERSION,
                where, cfg.max_streams, cfg.rate_limit);
    }
    eq_daemon_ready(&daemon, "serving");
    for (;;) {
        sig = eq_daemon_wait(&daemon, 1000);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP)
            reload(srv);
    }

    eq_daemon_stopping(&daemon, "draining streams");
    http_server_quiesce(srv);
    eq_info(NULL, "stopping: no new connections; %d streams running, waiting up to %d s",
            http_server_active_streams(srv), cfg.drain_seconds);
    deadline = eq_now_ms() + cfg.drain_seconds * 1000LL;
    while (http_server_active_streams(srv) > 0 && eq_now_ms() < deadline) {
        sig = eq_daemon_wait(&daemon, 100);
        if (sig == SIGTERM || sig == SIGINT) {
            eq_warn(NULL, "second signal: ending the drain now");
            break;
        }
    }
    if (http_server_active_streams(srv) > 0)
        eq_warn(NULL, "ending %d streams still running", http_server_active_streams(srv));
    rc = CLI_OK;
out:
    http_server_free(srv);
    eq_daemon_end(&daemon);
    eq_config_cleanup(&cfg);
    eq_info(NULL, "stopped");
    return rc;
}
