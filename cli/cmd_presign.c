/* cmd_presign.c - `exportq presign KEY [--expires SECONDS] [--filename NAME]`:
 * prints a presigned GET URL for an object of the bucket. The URL is a bearer
 * secret: it goes to stdout only, never to the log. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "export/object_key.h"
#include "s3/s3_client.h"
#include "s3/s3_presign.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: exportq presign KEY [--expires SECONDS] [--filename NAME]\n"
            "Print a presigned GET URL (SigV4 query signing) for object KEY of EXPORTQ_S3_BUCKET.\n"
            "  --expires SECONDS  link lifetime, 1..604800 (default EXPORTQ_LINK_TTL)\n"
            "  --filename NAME    file name the browser saves (response-content-disposition);\n"
            "                     default: the last segment of KEY\n"
            "  --help             this help\n");
}

int cmd_presign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"expires", required_argument, NULL, 'e'},
        {"filename", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    eq_config cfg = {0};
    s3_client *client = NULL;
    eq_err err;
    const char *filename = NULL, *key;
    char *url = NULL, *end;
    long expires = -1;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            errno = 0;
            expires = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || expires < 1 || expires > 604800)
                return cli_usage_error("presign", "--expires must be 1..604800 seconds, not '%s'", optarg);
            break;
        case 'f':
            filename = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("presign", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("presign", "expected exactly one KEY");
    key = argv[optind];
    if (!*key)
        return cli_usage_error("presign", "KEY must not be empty");
    if (!filename)
        filename = object_key_basename(key);
    if (cli_load_config(&cfg, EQ_NEED_S3) < 0)
        return CLI_FAIL;
    if (expires < 0)
        expires = cfg.link_ttl;
    eq_err_clear(&err);
    if (s3_client_new(&cfg, &client, &err) < 0 || s3_presign_get(client, key, expires, filename, &url, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    printf("%s\n", url);
    rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
out:
    free(url);
    s3_client_free(client);
    eq_config_cleanup(&cfg);
    return rc;
}
