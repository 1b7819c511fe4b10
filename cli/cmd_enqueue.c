/* cmd_enqueue.c - `exportq enqueue KIND [--param NAME=VALUE]...`: queue an export. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "common/pg.h"
#include "queue/queue.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: exportq enqueue KIND [--param NAME=VALUE]... [--email ADDR] [--owner ID]\n"
            "                       [--priority N] [--dedupe-key KEY] [--format F]\n\n"
            "Queues an export of KIND (a kind registered with exportq.define_kind) and\n"
            "prints the job id.\n\n"
            "  --param NAME=VALUE  a parameter of the kind's function (repeatable)\n"
            "  --email ADDR        mail the download link (or the failure) to ADDR\n"
            "  --owner ID          whose data: the parameter 'owner' is set to ID\n"
            "  --priority N        -1000..1000, higher runs first (default 0)\n"
            "  --format F          csv, tsv, jsonl or xlsx (default: the kind's format)\n"
            "  --dedupe-key KEY    while a job with KEY is queued or running, print its id\n"
            "                      instead of queueing another\n\n"
            "Exit status: 0 queued, 1 rejected or failed, 2 usage error.\n");
}

static int parse_priority(const char *s, int *out)
{
    char *end = NULL;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -1000 || v > 1000)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_enqueue(int argc, char **argv)
{
    static const struct option opts[] = {
        {"param", required_argument, NULL, 'p'},  {"email", required_argument, NULL, 'e'},
        {"owner", required_argument, NULL, 'o'},  {"priority", required_argument, NULL, 'P'},
        {"dedupe-key", required_argument, NULL, 'd'}, {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    queue_enqueue_req req = {0};
    eq_config cfg = {0};
    eq_err err;
    PGconn *conn = NULL;
    json_t *params = json_object();
    char *params_text = NULL;
    long long id = 0;
    bool existing = false;
    int c, rc = CLI_FAIL;
    eq_err_clear(&err);
    if (!params) {
        eq_fail(&err, EQ_ERR_NOMEM, "enqueue: out of memory");
        return cli_fail(&err);
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (cli_param_add(params, optarg, &err) < 0) {
                rc = cli_usage_error("enqueue", "%s", err.msg);
                goto out;
            }
            break;
        case 'e': req.email = optarg; break;
        case 'o': req.owner = optarg; break;
        case 'd': req.dedupe_key = optarg; break;
        case 'f': req.format = optarg; break; /* checked by the database against the kind */
        case 'P':
            if (parse_priority(optarg, &req.priority) < 0) {
                rc = cli_usage_error("enqueue", "--priority '%s': expected an integer from -1000 to 1000", optarg);
                goto out;
            }
            break;
        case 'h':
            usage(stdout);
            rc = CLI_OK;
            goto out;
        default:
            rc = cli_usage_error("enqueue", "unknown option");
            goto out;
        }
    }
    if (optind != argc - 1) {
        rc = cli_usage_error("enqueue", optind >= argc ? "KIND is required" : "exactly one KIND expected");
        goto out;
    }
    req.kind = argv[optind];
    req.existing = &existing;
    params_text = json_dumps(params, JSON_COMPACT);
    if (!params_text) {
        eq_fail(&err, EQ_ERR_NOMEM, "enqueue: out of memory");
        rc = cli_fail(&err);
        goto out;
    }
    req.params_json = params_text;
    if (cli_load_config(&cfg, EQ_NEED_DB) < 0)
        goto out;
    req.allowed_domains = cfg.mail_allowed_domains;
    if (eq_pg_connect(cfg.database_url, "enqueue", &conn, &err) < 0 ||
        queue_enqueue(conn, &req, &id, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    if (existing)
        fprintf(stderr, "exportq enqueue: job %lld with dedupe key '%s' is already queued or running\n",
                id, req.dedupe_key ? req.dedupe_key : "");
    printf("%lld\n", id);
    rc = CLI_OK;
out:
    PQfinish(conn);
    free(params_text);
    json_decref(params);
    eq_config_cleanup(&cfg);
    return rc;
}
