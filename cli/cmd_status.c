/* cmd_status.c - `exportq status ID [--json]`: a job at a glance. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/pg.h"
#include "queue/queue.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: exportq status ID [--json]\n\n"
                 "Shows a job: state, queue position, progress (rows, bytes), attempts, last\n"
                 "error and times.\n\n"
                 "  --json  one JSON object instead (for scripts): id, kind, owner, state,\n"
                 "          position, rows, bytes, attempts, last_error, created_at,\n"
                 "          started_at, finished_at, expires_at, run_at, link_expires_at,\n"
                 "          email, mail_state\n\n"
                 "Exit status: 0 shown, 1 no such job or failure, 2 usage error.\n");
}

/* "12.3 MiB" */
static void human_bytes(long long n, char *out, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%lld B", n);
    else
        snprintf(out, size, "%.1f %s", v, units[u]);
}

static void print_time(const char *label, long long t)
{
    char iso[32];
    if (t == 0)
        return;
    queue_time_iso(t, iso, sizeof iso);
    printf("%-10s %s\n", label, iso);
}

static void print_text(const queue_status_row *s)
{
    char size[32];
    printf("job %lld: %s", s->id, s->kind);
    if (s->owner[0])
        printf(" (owner %s)", s->owner);
    printf("\n");
    if (strcmp(s->state, "queued") == 0) {
        printf("%-10s queued, position %lld", "state", s->position);
        if (s->attempts > 0)
            printf(" (retry after %d attempt%s)", s->attempts, s->attempts == 1 ? "" : "s");
        printf("\n");
    } else {
        printf("%-10s %s\n", "state", s->state);
    }
    human_bytes(s->bytes, size, sizeof size);
    printf("%-10s %lld rows, %s\n", "progress", s->rows, size);
    printf("%-10s %d\n", "attempts", s->attempts);
    if (s->last_error[0])
        printf("%-10s %s\n", "error", s->last_error);
    print_time("created", s->created_at);
    if (strcmp(s->state, "queued") == 0)
        print_time("runs at", s->run_at);
    print_time("started", s->started_at);
    print_time("finished", s->finished_at);
    if (strcmp(s->state, "succeeded") == 0)
        print_time("link until", s->link_expires_at);
    print_time(strcmp(s->state, "expired") == 0 ? "expired" : "expires", s->expires_at);
    if (s->email[0])
        printf("%-10s %s (%s)\n", "email", s->email, s->mail_state);
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    eq_config cfg = {0};
    eq_err err;
    PGconn *conn = NULL;
    queue_status_row row;
    bool json = false;
    long long id;
    char *end = NULL;
    int c, rc = CLI_FAIL;
    eq_err_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            usage(stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("status", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("status", "exactly one job ID expected");
    errno = 0;
    id = strtoll(argv[optind], &end, 10);
    if (errno || end == argv[optind] || *end || id <= 0)
        return cli_usage_error("status", "'%s' is not a job id", argv[optind]);
    if (cli_load_config(&cfg, EQ_NEED_DB) < 0)
        return CLI_FAIL;
    if (eq_pg_connect(cfg.database_url, "status", &conn, &err) < 0 ||
        queue_status(conn, id, &row, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    if (json) {
        json_t *o = queue_status_json(&row);
        if (!o || json_dumpf(o, stdout, JSON_COMPACT) < 0) {
            json_decref(o);
            eq_fail(&err, EQ_ERR_NOMEM, "status: cannot write JSON");
            rc = cli_fail(&err);
            goto out;
        }
        json_decref(o);
        printf("\n");
    } else {
        print_text(&row);
    }
    rc = CLI_OK;
out:
    PQfinish(conn);
    eq_config_cleanup(&cfg);
    return rc;
}
