/* cmd_migrate.c - `exportq migrate`: apply the missing schema migrations. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "common/pg.h"
#include "schema/schema.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: exportq migrate\n\n"
                 "Applies the schema migrations the database is missing, in order, each in\n"
                 "its own transaction, and prints them. Running it again applies nothing;\n"
                 "several processes may run it at once (they take turns).\n"
                 "Needs EXPORTQ_DATABASE_URL.\n");
}

static void print_applied(const schema_migration *m, void *ud)
{
    (void)ud;
    printf("applied %03d_%s\n", m->version, m->name);
    fflush(stdout);
}

int cmd_migrate(int argc, char **argv)
{
    eq_config cfg = {0};
    eq_err err;
    PGconn *conn = NULL;
    int applied = 0, version = 0, rc;
    eq_err_clear(&err);
    if ((rc = cli_options_help_only(argc, argv, "migrate", usage)) >= 0)
        return rc;
    rc = CLI_FAIL;
    if (optind < argc)
        return cli_usage_error("migrate", "unexpected argument '%s'", argv[optind]);
    if (cli_load_config(&cfg, EQ_NEED_DB) < 0)
        return CLI_FAIL;
    if (eq_pg_connect(cfg.database_url, "migrate", &conn, &err) < 0 ||
        schema_migrate(conn, print_applied, NULL, &applied, &err) < 0 ||
        schema_current_version(conn, &version, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    if (applied == 0)
        printf("schema is up to date (version %d)\n", version);
    else
        printf("schema is now at version %d\n", version);
    rc = CLI_OK;
out:
    PQfinish(conn);
    eq_config_cleanup(&cfg);
    return rc;
}
