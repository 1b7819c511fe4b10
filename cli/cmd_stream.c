/* cmd_stream.c - `exportq stream` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_stream(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq stream: not implemented yet\n");
    return CLI_FAIL;
}
