/* cli.c - shared plumbing of the subcommands; see cli.h */
#include "cli/cli.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
