/* stdio.c: the commands' checks of stdin and stdout (see cli.h).
 *
 * A command's output is only as good as its last write: with stdout at
 * /dev/full, on a full disk or past `ulimit -f`, printf fails into stdio's
 * error flag and the data is lost. lst predict and lst eval exited 0 that
 * way; now main closes stdout for every command and reports the failure. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void write_error(const char *cmd, int e) {
    if (e) fprintf(stderr, "lst %s: error writing stdout: %s\n", cmd, strerror(e));
    else fprintf(stderr, "lst %s: error writing stdout\n", cmd);
}

int lst_cli_stdout_ok(const char *cmd) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    write_error(cmd, errno);
    return -1;
}

int lst_cli_close_stdout(const char *cmd, int status) {
    errno = 0;
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int e = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad) return status;
    /* a command that already failed has said why; one message is enough */
    if (status != 0) return status;
    write_error(cmd, e);
    return 1;
}

int lst_cli_stdin_ok(const char *cmd) {
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "lst %s: stdin is a directory; give the input lines on stdin\n", cmd);
        return -1;
    }
    return 0;
}

int lst_cli_stdin_done(const char *cmd, long lines) {
    /* getline also ends without EOF when it cannot grow its buffer */
    if (!ferror(stdin) && feof(stdin)) return 0;
    const int e = errno;
    fprintf(stderr, "lst %s: error reading stdin after line %ld: %s\n", cmd, lines,
            e ? strerror(e) : "read error");
    return -1;
}
