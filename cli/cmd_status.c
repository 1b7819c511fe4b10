/* cmd_status.c - `exportq status` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq status: not implemented yet\n");
    return CLI_FAIL;
}
