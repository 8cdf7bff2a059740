/* bundled.c: the files lst ships with (the T5 tokenizer, the GLUE TSVs)
 * found from where the binary is, never from the current directory, and a
 * model's own tokenizer preferred to them. Places, in order:
 *   <binary's dir>/../data/<rel>        the build tree (build/lst)
 *   <binary's dir>/../share/lst/<rel>   an install prefix (bin/lst)
 *   LST_SOURCE_DIR/data/<rel>           the tree it was built from (set by the Makefile) */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef LST_SOURCE_DIR
#define LST_SOURCE_DIR ""
#endif

static int exists(const char *p) { return access(p, R_OK) == 0; }

/* The binary's directory into dir (empty when /proc/self/exe cannot be read). */
static void exe_dir(char *dir, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", dir, cap - 1);
    dir[n > 0 ? n : 0] = 0;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else dir[0] = 0;
}

int lst_cli_bundled(const char *rel, char *out, size_t cap) {
    char dir[4096];
    exe_dir(dir, sizeof dir);
    const char *fmt[3] = {"%s/../data/%s", "%s/../share/lst/%s", "%s/data/%s"};
    for (int i = 0; i < 3; i++) {
        const char *base = i < 2 ? dir : LST_SOURCE_DIR;
        if (!base[0]) continue;
        const int k = snprintf(out, cap, fmt[i], base, rel);
        if (k > 0 && (size_t)k < cap && exists(out)) return 0;
    }
    out[0] = 0;
    return -1;
}

int lst_cli_tokenizer(const char *cmd, const char *given, const char *model, char *out, size_t cap) {
    if (given) {
        if (snprintf(out, cap, "%s", given) >= (int)cap) goto too_long;
        return 0;
    }
    if (model && snprintf(out, cap, "%s/spiece.model", model) < (int)cap && exists(out)) return 0;
    /* a model that ships another tokenizer must not get T5's silently */
    static const char *const other[] = {"tokenizer.json", "vocab.json", "merges.txt"};
    for (int i = 0; model && i < 3; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", model, other[i]);
        if (!exists(p)) continue;
        fprintf(stderr, "lst %s: %s has %s but no spiece.model: lst reads SentencePiece tokenizers "
                        "only (a BPE tokenizer, as CodeT5 ships, cannot be used); give --spm FILE if "
                        "the model has a SentencePiece one (T5's own: data/t5/spiece.model)\n", cmd,
                model, other[i]);
        return 2;
    }
    if (!lst_cli_bundled("t5/spiece.model", out, cap)) return 0;
    fprintf(stderr, "lst %s: no tokenizer: %s%s has no spiece.model and the bundled T5 tokenizer "
                    "(data/t5/spiece.model beside the binary, or share/lst/t5/spiece.model) is not "
                    "installed; give --spm FILE\n", cmd, model ? model : "", model ? "" : "the model");
    return 2;
too_long:
    fprintf(stderr, "lst %s: --spm: the path is too long\n", cmd);
    return 2;
}

int lst_cli_glue_dir(const char *cmd, const char *given, char *out, size_t cap) {
    if (given) {
        if (snprintf(out, cap, "%s", given) >= (int)cap) {
            fprintf(stderr, "lst %s: --data: the path is too long\n", cmd);
            return 2;
        }
        return 0;
    }
    /* not bundled: the old default, which the task's loader names if it is missing too (a
     * custom task never reads it) */
    if (lst_cli_bundled("glue", out, cap)) snprintf(out, cap, "data/glue");
    return 0;
}
