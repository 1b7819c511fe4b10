/* main.c - the `exportq` binary: global options, then one subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/config.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"migrate", cmd_migrate, "apply the missing schema migrations"},
    {"worker", cmd_worker, "claim and run export jobs [--concurrency N] [--drain]"},
    {"serve", cmd_serve, "run the HTTP API and the streaming endpoint"},
    {"enqueue", cmd_enqueue, "queue an export: KIND [--param NAME=VALUE]... [--email ADDR] [--owner ID] [--priority N]"},
    {"status", cmd_status, "show a job: ID [--json]"},
    {"cancel", cmd_cancel, "cancel a job: ID"},
    {"stream", cmd_stream, "stream an export to a file or stdout: KIND [--param NAME=VALUE]... [-o FILE]"},
    {"presign", cmd_presign, "print a presigned download URL: KEY [--expires SECONDS]"},
    {"token", cmd_token, "API tokens: create --owner ID | list | revoke ID"},
    {"webhooks", cmd_webhooks, "webhook deliveries: list [--failed] [--limit N] [--json]"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: exportq [--config FILE] COMMAND [ARGS]\n\n"
                 "Queue CSV exports from PostgreSQL to S3 and email the link, or stream them.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nGlobal options:\n"
                 "  --config FILE  read KEY=VALUE settings from FILE (they override the environment)\n"
                 "  --version      print the version\n"
                 "  --help         this text; `exportq COMMAND --help` for a command's\n\n");
    eq_config_print_reference(out);
}

int main(int argc, char **argv)
{
    int i = 1;
    /* global options come before the command */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--version") == 0) {
            printf("exportq %s\n", EXPORTQ_VERSION);
            return CLI_OK;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            cli_config_file = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            cli_config_file = argv[i] + 9;
            i++;
        } else {
            fprintf(stderr, "exportq: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].run(argc - i, argv + i);
    fprintf(stderr, "exportq: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return CLI_USAGE;
}
