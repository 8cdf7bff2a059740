/* test_method_parts.c: the methods' parts (t5_hooks.h) own their tensors:
 * every tensor a method adds is marked with a part of its registry row,
 * every block tensor binds into the block's extension exactly once, a plain
 * backbone's blocks have an empty extension, and lst_t5_lin_plain says
 * which linears a method touches (what the folded cross-attention reads). */
#include <string.h>

#include "../src/model/methods.h"
#include "../src/model/t5/peft.h"
#include "../src/model/t5/t5_hooks.h"
#include "test.h"

static int open_model(lst_t5_t *m, const char *model, const char *method) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s/config.json", model);
    lst_err_t err;
    lst_t5_config_t cfg;
    lst_method_t me;
    lst_method_default(&me, method);
    me.lora_rank = 4;
    me.prompt_len = 5;
    lst_t5_ext_t e;
    if (lst_t5_config_load(&cfg, path, &err) || lst_method_ext(&me, 0, &cfg, &e, &err) ||
        lst_t5_create_ext(m, &cfg, cfg.vocab_size, &e, &err)) {
        CHECK(0, "%s/%s: %s", model, method, err.msg);
        return -1;
    }
    return 0;
}

/* Non-NULL tensor pointers of a block's extension. */
static int bound(const lst_t5_block_ext_t *x) {
    int n = 0;
    for (int i = 0; i < LST_N_LIN; i++)
        n += (x->bitfit.lin[i] != NULL) + (x->lora.A[i] != NULL) + (x->lora.B[i] != NULL);
    for (int s = 0; s < LST_N_SUB; s++) {
        n += x->bitfit.norm[s] != NULL;
        for (int k = 0; k < 4; k++) n += x->adapter.w[s][k] != NULL;
    }
    return n;
}

static int in_row(const lst_method_info_t *info, const lst_t5_part_t *part) {
    for (int i = 0; info->parts && info->parts[i]; i++)
        if (info->parts[i] == part) return 1;
    return 0;
}

static void parts_own(const char *model) {
    for (int k = 0; k < lst_method_count(); k++) {
        const lst_method_info_t *info = lst_method_at(k);
        if (info->side_mode >= 0) continue;
        lst_t5_t m;
        if (open_model(&m, model, info->name)) continue;
        int owned[8] = {0}, block_ext = 0;
        for (int i = 0; i < m.n_params; i++) {
            const lst_param_t *p = &m.params[i];
            if (!p->ext) continue;
            CHECK(p->ext >= 1 && p->ext <= lst_t5_n_parts, "%s %s: part %d", info->name, p->name,
                  p->ext);
            if (p->ext < 1 || p->ext > lst_t5_n_parts) continue;
            CHECK(in_row(info, lst_t5_parts[p->ext - 1]), "%s: %s comes from part %s, not its own",
                  info->name, p->name, lst_t5_parts[p->ext - 1]->name);
            owned[p->ext - 1]++;
            block_ext += strstr(p->name, ".block.") != NULL;
        }
        for (int i = 0; info->parts && info->parts[i]; i++)
            for (int j = 0; j < lst_t5_n_parts; j++)
                if (lst_t5_parts[j] == info->parts[i])
                    CHECK(owned[j] > 0, "%s: part %s added nothing", info->name, lst_t5_parts[j]->name);
        int n = 0;
        for (int i = 0; i < m.cfg.num_layers; i++) n += bound(&m.w.enc[i].ext);
        for (int i = 0; i < m.cfg.num_decoder_layers; i++) n += bound(&m.w.dec[i].ext);
        CHECK(n == block_ext, "%s: %d block tensors added, %d bound", info->name, block_ext, n);
        lst_t5_free(&m);
    }
}

TEST(method_parts_own_and_bind_their_tensors) {
    parts_own("t5-tiny-relu");
    parts_own("t5-tiny-gated");
}

TEST(method_plain_blocks_have_an_empty_extension) {
    lst_t5_t m;
    if (open_model(&m, "t5-tiny-gated", "full")) return;
    static const lst_t5_block_ext_t empty;
    for (int i = 0; i < m.cfg.num_decoder_layers; i++) {
        CHECK(!memcmp(&m.w.dec[i].ext, &empty, sizeof empty), "decoder block %d has an extension", i);
        for (int id = 0; id < LST_N_LIN; id++)
            CHECK(lst_t5_lin_plain(&m.w.dec[i], id), "decoder block %d linear %d not plain", i, id);
    }
    for (int i = 0; i < m.cfg.num_layers; i++)
        CHECK(!memcmp(&m.w.enc[i].ext, &empty, sizeof empty), "encoder block %d has an extension", i);
    lst_t5_free(&m);
}

TEST(method_lin_plain_follows_the_parts) {
    lst_t5_t m;
    if (!open_model(&m, "t5-tiny-gated", "adapters")) {
        for (int id = 0; id < LST_N_LIN; id++)
            CHECK(lst_t5_lin_plain(&m.w.dec[0], id), "adapters touch linear %d", id);
        lst_t5_free(&m);
    }
    if (!open_model(&m, "t5-tiny-gated", "lora")) { /* LoRA on q, v; BitFit on all */
        for (int id = 0; id < LST_N_LIN; id++)
            CHECK(!lst_t5_lin_plain(&m.w.dec[0], id), "lora leaves decoder linear %d plain", id);
        CHECK(m.w.dec[0].ext.lora.A[LST_LIN_CV] && !m.w.dec[0].ext.lora.A[LST_LIN_CK] &&
                  m.w.enc[0].ext.lora.A[LST_LIN_Q] && !m.w.enc[0].ext.lora.A[LST_LIN_CQ],
              "LoRA's linears");
        CHECK(m.w.dec[0].ext.lora.r == 4 && m.w.dec[0].ext.lora.scale == 8.0f, "LoRA's rank, scale");
        lst_t5_free(&m);
    }
}
