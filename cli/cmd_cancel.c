/* cmd_cancel.c - `exportq cancel ID`: cancel a queued or running job. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
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
    eq_config cfg = {0};
    eq_err err;
    PGconn *conn = NULL;
    queue_status_row row;
    long long id;
    bool ok = false;
    int rc;
    eq_err_clear(&err);
    if ((rc = cli_options_help_only(argc, argv, "cancel", usage)) >= 0)
        return rc;
    rc = CLI_FAIL;
    if (cli_job_id_operand(argc, argv, "cancel", &id) != 0)
        return CLI_USAGE;
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
