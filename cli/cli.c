/* cli.c - shared plumbing of the subcommands; see cli.h */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/id.h"
#include "common/log.h"
#include "export/export_kind.h"
#include "s3/aws_creds.h"

const char *cli_config_file = NULL;

int cli_load_config(eq_config *cfg, unsigned need)
{
    eq_err err;
    eq_err_clear(&err);
    if (eq_config_load(cfg, cli_config_file, &err) < 0 || eq_config_require(cfg, need, &err) < 0) {
        fprintf(stderr, "exportq: %s\n", err.msg);
        eq_config_cleanup(cfg);
        return -1;
    }
    eq_log_setup((eq_log_level)cfg->log_level, (eq_log_format)cfg->log_format);
    if (need & EQ_NEED_S3) {
        /* resolve the credential chain now: no source stops the program at
         * start-up; the reference is kept for the process's life so every S3
         * client shares the provider and its background refresh */
        static aws_credentials *creds;
        if (!creds && aws_credentials_acquire(cfg, &creds, &err) < 0) {
            fprintf(stderr, "exportq: %s\n", err.msg);
            eq_config_cleanup(cfg);
            return -1;
        }
    }
    return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "exportq %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'exportq %s --help'.\n", cmd);
    return CLI_USAGE;
}

int cli_options_help_only(int argc, char **argv, const char *cmd, void (*usage)(FILE *out))
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return CLI_OK;
        }
        return cli_usage_error(cmd, "unknown option");
    }
    return -1;
}

int cli_job_id_operand(int argc, char **argv, const char *cmd, long long *id)
{
    if (optind != argc - 1)
        return cli_usage_error(cmd, "exactly one job ID expected");
    if (eq_id_parse_str(argv[optind], id) < 0)
        return cli_usage_error(cmd, "'%s' is not a job id", argv[optind]);
    return 0;
}

int cli_fail(const eq_err *err)
{
    fprintf(stderr, "exportq: %s\n", err->msg);
    return CLI_FAIL;
}

int cli_param_add(void *json_object, const char *arg, eq_err *err)
{
    const char *eq = strchr(arg, '=');
    char name[EXPORT_PARAM_NAME_MAX + 1];
    size_t n;
    if (!eq)
        return eq_fail(err, EQ_ERR_INVALID, "--param '%s': expected NAME=VALUE", arg);
    n = (size_t)(eq - arg);
    if (!export_param_name_valid(arg, n))
        return eq_fail(err, EQ_ERR_INVALID, "--param: NAME must be 1 to %d letters, digits or _",
                       EXPORT_PARAM_NAME_MAX);
    memcpy(name, arg, n);
    name[n] = '\0';
    json_t *v = json_string(eq + 1);
    if (!v)
        return eq_fail(err, EQ_ERR_INVALID, "--param %s: value is not valid UTF-8", name);
    if (json_object_set_new((json_t *)json_object, name, v) < 0)
        return eq_fail(err, EQ_ERR_NOMEM, "--param %s: out of memory", name);
    return 0;
}
