/* cmd_enqueue.c - `exportq enqueue` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_enqueue(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq enqueue: not implemented yet\n");
    return CLI_FAIL;
}
