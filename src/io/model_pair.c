/* model_pair.c: see model_pair.h. */
#include "model_pair.h"

#include <stdio.h>
#include <string.h>

int lst_model_pair_check(const char *dir, const lst_t5_config_t *c, const lst_st_set_t *s,
                         lst_err_t *err) {
    const char *wid = lst_st_set_meta(s, LST_INIT_ID_KEY);
    const char *cid = c->init_id[0] ? c->init_id : NULL;
    /* lst init writes the weights first: weights with an id the config
     * lacks, or another id, are what a kill between its two renames leaves.
     * Weights without one were written by something else (a converter, an
     * edit): their config's id says nothing about them. */
    if (!wid || (cid && !strcmp(wid, cid))) return 0;
    char ws[64] = "none", cs[64] = "none";
    if (wid) snprintf(ws, sizeof ws, "\"%.40s\"", wid);
    if (cid) snprintf(cs, sizeof cs, "\"%s\"", cid);
    return lst_fail(err, "%s/config.json and %s are not from the same lst init (lst_init_id %s in the "
                    "config, %s in the weights): one of them was replaced without the other, "
                    "e.g. by an interrupted lst init; run lst init again", dir,
                    lst_st_set_path(s), cs, ws);
}

int lst_model_pair_check_dir(const char *dir, const lst_t5_config_t *c, lst_err_t *err) {
    if (!lst_st_set_present(dir)) return 0;
    lst_st_set_t s;
    if (lst_st_set_open(&s, dir, err)) return -1;
    int rc = lst_model_pair_check(dir, c, &s, err);
    lst_st_set_close(&s);
    return rc;
}
