/* cmd_worker.c - `exportq worker [--concurrency N] [--drain]` */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "mail/mail_send.h"
#include "worker/worker.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: exportq worker [--concurrency N] [--drain]\n\n"
               "Claims export jobs from the queue and runs them: COPY from the source database,\n"
               "multipart upload to S3, then an email with a presigned link. Also rescues jobs\n"
               "whose worker died, retries mails, and deletes objects past their retention.\n\n"
               "  --concurrency N  jobs run at once by this process (default 1)\n"
               "  --drain          exit once no job and no mail is ready\n\n"
               "SIGTERM: stop claiming, let running jobs finish for EXPORTQ_DRAIN_SECONDS, then\n"
               "release them to the queue; a second SIGTERM releases them at once.\n"
               "Needs EXPORTQ_DATABASE_URL, EXPORTQ_S3_BUCKET and AWS credentials; sends mail when\n"
               "EXPORTQ_SMTP_URL and EXPORTQ_SMTP_FROM are set.\n");
}

int cmd_worker(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"concurrency", required_argument, NULL, 'c'},
        {"drain", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    worker_opts opts = {.concurrency = 1, .drain = false};
    eq_config cfg;
    eq_err err;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 256)
                return cli_usage_error("worker", "--concurrency must be a whole number from 1 to 256");
            opts.concurrency = (int)n;
            break;
        }
        case 'd':
            opts.drain = true;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("worker", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("worker", "unexpected argument '%s'", argv[optind]);
    if (cli_load_config(&cfg, EQ_NEED_DB | EQ_NEED_S3) < 0)
        return CLI_FAIL;
    if (cfg.smtp_url && mail_config_check(&cfg, &err) < 0) {
        eq_config_cleanup(&cfg);
        return cli_fail(&err);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = worker_main(&cfg, &opts);
    curl_global_cleanup();
    eq_config_cleanup(&cfg);
    return rc;
}
