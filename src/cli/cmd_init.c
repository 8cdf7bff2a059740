/* cmd_init.c: placeholder, being written. */
#include "cli.h"
#include <stdio.h>
int lst_cmd_init(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "lst init: not implemented yet\n");
    return 2;
}
