/* cmd_token.c - `exportq token` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_token(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq token: not implemented yet\n");
    return CLI_FAIL;
}
