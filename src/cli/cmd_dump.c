/* cmd_dump.c: placeholder, being written. */
#include "cli.h"
#include <stdio.h>
int lst_cmd_dump(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "lst dump: not implemented yet\n");
    return 2;
}
