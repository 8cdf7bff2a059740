/* test_registry.c: the method registry (src/model/methods.h) agrees with
 * the spec's facts and with the functions derived from it. */
#include <string.h>

#include "../src/model/methods.h"
#include "../src/model/t5/peft.h"
#include "test.h"

TEST(method_registry_facts) {
    static const struct {
        const char *name;
        double lr;
        int side, prefix;
    } want[] = {{"lst", 3e-3, 1, 1},    {"side-tuning", 3e-3, 1, 1}, {"compression", 3e-3, 1, 1},
                {"full", 3e-4, 0, 1},   {"adapters", 3e-4, 0, 0},    {"lora", 3e-4, 0, 1},
                {"bitfit", 3e-4, 0, 1}, {"prompt", 0.3, 0, 1}};
    const int n = (int)(sizeof want / sizeof want[0]);
    CHECK(lst_method_count() == n, "%d methods registered, the spec has %d", lst_method_count(), n);
    for (int i = 0; i < n; i++) {
        const lst_method_info_t *m = lst_method_info(want[i].name);
        CHECK(m && m == lst_method_at(i), "%s: not registered at %d", want[i].name, i);
        if (!m) continue;
        CHECK(m->paper_lr == want[i].lr, "%s: lr %g, the paper's %g", m->name, m->paper_lr, want[i].lr);
        CHECK(m->task_prefix == want[i].prefix, "%s: task prefix %d", m->name, m->task_prefix);
        int mode = -1;
        CHECK((lst_method_side_mode(m->name, &mode) == 0) == want[i].side && mode == m->side_mode,
              "%s: side mode", m->name);
        CHECK(lst_method_is_backbone(m->name) == !want[i].side, "%s: backbone method?", m->name);
        CHECK(!!(m->options & LST_MOPT_SIDE) == want[i].side, "%s: side options", m->name);
        CHECK(strstr(lst_method_names(), m->name), "%s missing from the names", m->name);
    }
    CHECK(!lst_method_info("magic") && !lst_method_at(n) && !lst_method_info(NULL), "unknown method found");
    CHECK(lst_method_is_backbone("magic") == 0, "unknown method is a backbone method");
}
