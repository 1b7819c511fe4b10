/* cmd_cancel.c - `exportq cancel ID`: cancel a queued or running job. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "common/id.h"
#include "common/pg.h"
#include "queue/queue.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: exportq cancel ID\n\n"
                 "Cancels a queued or running job. A running job stops within a heartbeat:\n"
                 "its query is cancelled and its multipart upload aborted.\n\n"
                 "Exit status: 0 cancelled, 1 no such job or already finished, 2 usage error.\n");
}

int cmd_cancel(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    eq_config cfg = {0};
    eq_err err;
    PGconn *conn = NULL;
    queue_status_row row;
    long long id;
    bool ok = false;
    int c, rc = CLI_FAIL;
    eq_err_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return CLI_OK;
        }
        return cli_usage_error("cancel", "unknown option");
    }
    if (optind != argc - 1)
        return cli_usage_error("cancel", "exactly one job ID expected");
    if (eq_id_parse_str(argv[optind], &id) < 0)
        return cli_usage_error("cancel", "'%s' is not a job id", argv[optind]);
    if (cli_load_config(&cfg, EQ_NEED_DB) < 0)
        return CLI_FAIL;
    if (eq_pg_connect(cfg.database_url, "cancel", &conn, &err) < 0 ||
        queue_cancel(conn, id, &ok, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    if (!ok) {
        if (queue_status(conn, id, &row, &err) < 0)
            rc = cli_fail(&err);
        else
            fprintf(stderr, "exportq: job %lld is %s; only queued or running jobs can be cancelled\n",
                    id, row.state);
        goto out;
    }
    printf("cancelled job %lld\n", id);
    rc = CLI_OK;
out:
    PQfinish(conn);
    eq_config_cleanup(&cfg);
    return rc;
}
