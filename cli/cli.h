/* cli.h - shared plumbing of the `exportq` subcommands (cli/cmd_*.c).
 *
 * Each subcommand is `int cmd_NAME(int argc, char **argv)` where argv[0] is the
 * subcommand name; it returns the process exit status: 0 success, 1 failure,
 * 2 usage error. Every subcommand answers --help.
 */
#ifndef EXPORTQ_CLI_CLI_H
#define EXPORTQ_CLI_CLI_H

#include <stdio.h>

#include "common/config.h"
#include "common/error.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* The --config FILE given on the command line, or NULL. */
extern const char *cli_config_file;

/* Loads and validates the configuration a command needs (EQ_NEED_* bits) and
 * sets up logging from it. On error prints "exportq: <message naming the
 * variable>" to stderr and returns -1. The caller owns cfg (eq_config_cleanup). */
int cli_load_config(eq_config *cfg, unsigned need) EQ_MUST;

/* Prints "exportq CMD: message" and a hint to use --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) EQ_PRINTF(2, 3);

/* The options of a command that has none but --help: returns -1 to go on
 * (optind at the first operand), CLI_OK after printing usage(stdout) for
 * --help, CLI_USAGE for any other option. */
int cli_options_help_only(int argc, char **argv, const char *cmd, void (*usage)(FILE *out));

/* The one operand of a command taking exactly one job ID, from optind:
 * 0 with *id set, or CLI_USAGE (printed). */
int cli_job_id_operand(int argc, char **argv, const char *cmd, long long *id);

/* Prints "exportq: message" for a runtime error; returns CLI_FAIL. */
int cli_fail(const eq_err *err);

/* Adds --param NAME=VALUE to a JSON object (a jansson json_t*, owned by the
 * caller) as a string member. NAME must be 1..64 of [A-Za-z0-9_]. */
int cli_param_add(void *json_object, const char *arg, eq_err *err) EQ_MUST;

int cmd_migrate(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_enqueue(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_presign(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_webhooks(int argc, char **argv);

#endif
