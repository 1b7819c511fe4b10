/* cmd_presign.c - `exportq presign` (not implemented yet) */
#include <stdio.h>

#include "cli/cli.h"

int cmd_presign(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "exportq presign: not implemented yet\n");
    return CLI_FAIL;
}
