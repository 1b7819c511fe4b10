/* cmd_cancel.c - `exportq cancel` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_cancel(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq cancel: not implemented yet\n");
    return CLI_FAIL;
}
