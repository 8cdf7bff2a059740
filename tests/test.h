/* test.h: the tiny test harness. Each TEST registers itself at load time;
 * tests/test_main.c runs them (optionally filtered by a substring) and ends
 * with the line "N passed, N failed". A CHECK failure marks the test failed
 * and prints file:line and the message, and the test continues. */
#ifndef LST_TEST_H
#define LST_TEST_H

#include <stdio.h>

void lst_test_register(const char *name, void (*fn)(void));
void lst_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                      \
    static void name(void);                                             \
    __attribute__((constructor)) static void reg_##name(void) {         \
        lst_test_register(#name, name);                                 \
    }                                                                   \
    static void name(void)

#define CHECK(cond, ...)                                                \
    do {                                                                \
        if (!(cond)) lst_test_fail(__FILE__, __LINE__, __VA_ARGS__);    \
    } while (0)

/* Paths used by tests: the lst binary (env LST_BIN, default build/lst) and
 * a scratch directory unique to this run (removed at exit). */
const char *lst_test_bin(void);
const char *lst_test_tmpdir(void);

/* Runs `lst <args>` through /bin/sh with stdout+stderr captured into *out
 * (malloc'ed, caller frees); returns the exit status (or -1). */
int lst_test_run(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int lst_test_file_exists(const char *path);

#endif
