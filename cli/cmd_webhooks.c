/* cmd_webhooks.c - `exportq webhooks list [--failed] [--limit N] [--json]`:
 * the webhook deliveries, newest first. */
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
    fprintf(out, "usage: exportq webhooks list [--failed] [--limit N] [--json]\n\n"
                 "Webhook events (one per job that succeeded, failed, was cancelled or expired) and\n"
                 "their delivery, newest first.\n"
                 "  --failed    only events given up on (refused URL, or not delivered within 24 h)\n"
                 "  --limit N   at most N events (1..1000, default 50)\n"
                 "  --json      one JSON array instead of the table\n"
                 "States: pending (being retried: NEXT is the next attempt), delivered, failed,\n"
                 "skipped (no URL to send it to). URL '-' = EXPORTQ_WEBHOOK_URL.\n");
}

/* Prints s with control characters as '?' (a receiver's or a URL's text). */
static void put_clean(const char *s, size_t max)
{
    size_t n = 0;
    for (; *s && n < max; s++, n++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
    if (*s)
        fputs("...", stdout);
}

static void print_row(const queue_webhook_row *r, void *ud)
{
    char created[32], when[32], status[8];
    (void)ud;
    queue_time_iso(r->created_at, created, sizeof created);
    queue_time_iso(strcmp(r->state, "delivered") == 0 ? r->delivered_at
                   : strcmp(r->state, "pending") == 0 ? r->next_at
                                                      : 0,
                   when, sizeof when);
    snprintf(status, sizeof status, "%d", r->last_status);
    printf("%-36s %-8lld %-17s %-9s %-5d %-4s %-20s %-20s ", r->id, r->job_id, r->type, r->state, r->attempts,
           r->last_status ? status : "-", created, when[0] ? when : "-");
    if (r->url[0])
        put_clean(r->url, 100);
    else
        putchar('-');
    if (r->last_error[0]) {
        fputs("  ", stdout);
        put_clean(r->last_error, 300);
    }
    putchar('\n');
}

static json_t *opt_time(long long t)
{
    char iso[32];
    queue_time_iso(t, iso, sizeof iso);
    return iso[0] ? json_string(iso) : json_null();
}

static void json_row(const queue_webhook_row *r, void *ud)
{
    json_t *arr = ud;
    json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "id", r->id,
                                         "job_id", (json_int_t)r->job_id, "type", r->type, "state", r->state,
                                         "attempts", r->attempts, "last_status",
                                         r->last_status ? json_integer(r->last_status) : json_null(), "last_error",
                                         r->last_error[0] ? json_string(r->last_error) : json_null(), "url",
                                         r->url[0] ? json_string(r->url) : json_null(), "created_at",
                                         opt_time(r->created_at), "next_at",
                                         strcmp(r->state, "pending") == 0 ? opt_time(r->next_at) : json_null(),
                                         "delivered_at", opt_time(r->delivered_at)));
}

int cmd_webhooks(int argc, char **argv)
{
    static const struct option opts[] = {{"failed", no_argument, NULL, 'f'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    eq_config cfg = {0};
    eq_err err;
    PGconn *conn = NULL;
    bool failed = false, as_json = false;
    long limit = 50;
    json_t *arr = NULL;
    int c, rc = CLI_FAIL;

    eq_err_clear(&err);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc < 2 || strcmp(argv[1], "list") != 0)
        return cli_usage_error("webhooks", argc < 2 ? "expected list" : "unknown subcommand '%s' (list)", argv[1]);
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        if (c == 'f') {
            failed = true;
        } else if (c == 'j') {
            as_json = true;
        } else if (c == 'l') {
            char *end;
            limit = strtol(optarg, &end, 10);
            if (end == optarg || *end || limit < 1 || limit > 1000)
                return cli_usage_error("webhooks", "--limit must be a whole number from 1 to 1000");
        } else if (c == 'h') {
            usage(stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("webhooks", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("webhooks", "unexpected argument '%s'", argv[optind + 1]);
    if (cli_load_config(&cfg, EQ_NEED_DB) < 0)
        goto out; /* already printed */
    if (eq_pg_connect(cfg.database_url, "webhooks", &conn, &err) < 0)
        goto fail;
    if (as_json) {
        char *s;
        if (!(arr = json_array())) {
            eq_fail(&err, EQ_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (queue_webhook_list(conn, failed, (int)limit, json_row, arr, &err) < 0)
            goto fail;
        if (!(s = json_dumps(arr, JSON_INDENT(2)))) {
            eq_fail(&err, EQ_ERR_NOMEM, "out of memory");
            goto fail;
        }
        puts(s);
        free(s);
    } else {
        printf("%-36s %-8s %-17s %-9s %-5s %-4s %-20s %-20s %s\n", "EVENT", "JOB", "TYPE", "STATE", "TRIES", "HTTP",
               "CREATED", "NEXT/DELIVERED", "URL  ERROR");
        if (queue_webhook_list(conn, failed, (int)limit, print_row, NULL, &err) < 0)
            goto fail;
    }
    rc = CLI_OK;
    goto out;
fail:
    rc = cli_fail(&err);
out:
    json_decref(arr);
    PQfinish(conn);
    eq_config_cleanup(&cfg);
    return rc;
}
