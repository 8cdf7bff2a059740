/* cmd_tokenize.c: placeholder, being written. */
#include "cli.h"
#include <stdio.h>
int lst_cmd_tokenize(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "lst tokenize: not implemented yet\n");
    return 2;
}
