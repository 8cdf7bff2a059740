/* test_dist.c: the single-process transport of src/train/dist.h and the
 * batch shares every transport uses. */
#include <string.h>

#include "../src/train/dist.h"
#include "test.h"

TEST(dist_shares_cover_the_batch) {
    for (int world = 1; world <= 7; world++)
        for (int B = 0; B <= 23; B++) {
            int next = 0, lo = B, hi = 0;
            for (int r = 0; r < world; r++) {
                int first, count;
                lst_dist_share(B, r, world, &first, &count);
                CHECK(first == next, "B %d world %d rank %d: starts at %d, not %d", B, world, r,
                      first, next);
                next = first + count;
                lo = count < lo ? count : lo;
                hi = count > hi ? count : hi;
                if (r > 0) {
                    int f0, c0;
                    lst_dist_share(B, r - 1, world, &f0, &c0);
                    CHECK(count <= c0, "B %d world %d: rank %d's share is longer than rank %d's", B,
                          world, r, r - 1);
                }
            }
            CHECK(next == B, "B %d world %d: the shares end at %d", B, world, next);
            CHECK(hi - lo <= 1, "B %d world %d: shares of %d and %d rows", B, world, lo, hi);
        }
}

TEST(dist_single_process) {
    lst_dist_t d;
    lst_err_t err;
    lst_dist_single(&d);
    CHECK(d.rank == 0 && d.world == 1 && d.ops && !strcmp(d.ops->name, "single"), "single: rank %d of %d",
          d.rank, d.world);
    float g[3] = {1, -2, 3};
    double l[2] = {0.5, 7};
    CHECK(d.ops->allreduce_sum(&d, g, 3, &err) == 0 && g[0] == 1 && g[1] == -2 && g[2] == 3,
          "a sum over one process changed the values");
    CHECK(d.ops->allreduce_sum_f64(&d, l, 2, &err) == 0 && l[0] == 0.5 && l[1] == 7, "f64 sum");
    int in[2] = {4, 5}, out[2] = {0, 0};
    CHECK(d.ops->gather(&d, in, out, sizeof in, &err) == 0 && out[0] == 4 && out[1] == 5, "gather");
    CHECK(d.ops->barrier(&d, &err) == 0, "barrier");
    d.ops->close(&d);
}
