/* cmd_worker.c - `exportq worker` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_worker(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq worker: not implemented yet\n");
    return CLI_FAIL;
}
