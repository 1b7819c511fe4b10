/* cmd_serve.c - `exportq serve` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq serve: not implemented yet\n");
    return CLI_FAIL;
}
