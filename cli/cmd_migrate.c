/* cmd_migrate.c - `exportq migrate` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_migrate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq migrate: not implemented yet\n");
    return CLI_FAIL;
}
