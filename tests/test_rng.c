/* test_rng.c: Philox4x32-10 known answers and the streams built on it.
 *
 * The known-answer vectors are Random123's kat_vectors for philox4x32_10;
 * the statistical checks only guard against gross mistakes (wrong scaling,
 * a log(0), a stuck counter), at tolerances of many standard errors. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../src/core/rng.h"
#include "../src/core/streams.h"
#include "test.h"

static void check_kat(const uint32_t ctr[4], const uint32_t key[2], const uint32_t want[4]) {
    uint32_t got[4];
    lst_philox4x32(key, ctr, got);
    for (int i = 0; i < 4; i++)
        CHECK(got[i] == want[i], "philox word %d: got 0x%08x, want 0x%08x", i, got[i], want[i]);
}

TEST(rng_philox_kat_zero) {
    const uint32_t ctr[4] = {0, 0, 0, 0}, key[2] = {0, 0};
    const uint32_t want[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    check_kat(ctr, key, want);
}

TEST(rng_philox_kat_ones) {
    const uint32_t ctr[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
    const uint32_t key[2] = {0xffffffff, 0xffffffff};
    const uint32_t want[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
    check_kat(ctr, key, want);
}

TEST(rng_philox_kat_pi) {
    const uint32_t ctr[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344};
    const uint32_t key[2] = {0xa4093822, 0x299f31d0};
    const uint32_t want[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
    check_kat(ctr, key, want);
}

/* The sequential stream is philox(key = seed, ctr = {block, 0, 0}) word by word. */
TEST(rng_stream_layout) {
    const uint64_t seed = 0x0123456789abcdefull;
    lst_rng_t r;
    lst_rng_seed(&r, seed);
    const uint32_t key[2] = {0x89abcdef, 0x01234567};
    for (uint32_t b = 0; b < 5; b++) {
        const uint32_t ctr[4] = {b, 0, 0, 0};
        uint32_t want[4];
        lst_philox4x32(key, ctr, want);
        for (int i = 0; i < 4; i++) {
            uint32_t got = lst_rng_u32(&r);
            CHECK(got == want[i], "block %u word %d: got 0x%08x want 0x%08x", b, i, got, want[i]);
        }
    }
    CHECK(r.counter == 5, "counter after 5 blocks is %llu", (unsigned long long)r.counter);
}

TEST(rng_reproducible) {
    lst_rng_t a, b, c, d;
    lst_rng_seed(&a, 42);
    lst_rng_seed(&b, 42);
    lst_rng_seed(&c, 43);
    lst_rng_seed(&d, 42ull | (1ull << 32)); /* the seed's high half matters */
    int same_ab = 1, same_ac = 0, same_ad = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = lst_rng_u32(&a), y = lst_rng_u32(&b), z = lst_rng_u32(&c),
                 w = lst_rng_u32(&d);
        same_ab &= x == y;
        same_ac += x == z;
        same_ad += x == w;
    }
    CHECK(same_ab, "same seed gave different sequences");
    CHECK(same_ac < 3, "seeds 42 and 43 agree on %d of 1000 words", same_ac);
    CHECK(same_ad < 3, "seeds differing in the high half agree on %d of 1000 words", same_ad);

    /* reseeding restarts the stream; normals are reproducible too */
    lst_rng_seed(&a, 7);
    double n1[16];
    for (int i = 0; i < 16; i++) n1[i] = lst_rng_normal(&a);
    lst_rng_seed(&a, 7);
    for (int i = 0; i < 16; i++) {
        double v = lst_rng_normal(&a);
        CHECK(v == n1[i], "normal %d not reproduced: %g vs %g", i, v, n1[i]);
    }
}

TEST(rng_uniform_range_mean) {
    lst_rng_t r;
    lst_rng_seed(&r, 1234);
    const int n = 100000;
    double sum = 0, lo = 1, hi = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float u = lst_rng_uniform(&r);
        if (!(u >= 0.0f && u < 1.0f)) bad++;
        sum += u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    const double mean = sum / n;
    CHECK(bad == 0, "%d uniforms outside [0, 1)", bad);
    CHECK(fabs(mean - 0.5) < 0.005, "uniform mean %g (sd of the mean ~0.0009)", mean);
    CHECK(lo < 0.001 && hi > 0.999, "uniforms span [%g, %g] only", lo, hi);
}

TEST(rng_normal_moments) {
    lst_rng_t r;
    lst_rng_seed(&r, 99);
    const int n = 100000;
    double s1 = 0, s2 = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double z = lst_rng_normal(&r);
        if (!isfinite(z)) bad++;
        s1 += z;
        s2 += z * z;
    }
    const double mean = s1 / n, var = s2 / n - mean * mean;
    CHECK(bad == 0, "%d non-finite normals", bad);
    CHECK(fabs(mean) < 0.02, "normal mean %g (sd of the mean ~0.003)", mean);
    CHECK(fabs(var - 1.0) < 0.03, "normal variance %g (sd ~0.0045)", var);
}

/* A zero word must not give log(0): the smallest u1 is 2^-32, z finite. */
TEST(rng_normal_extreme_word) {
    lst_rng_t r;
    lst_rng_seed(&r, 5);
    r.buf[0] = 0;
    r.buf[1] = 0;
    r.buf[2] = 0xffffffffu;
    r.buf[3] = 0xffffffffu;
    r.avail = 4;
    double a = lst_rng_normal(&r), b = lst_rng_normal(&r);
    CHECK(isfinite(a) && fabs(a) < 7.0, "normal from zero words: %g", a);
    CHECK(isfinite(b), "normal from all-ones words: %g", b);
}

TEST(rng_uniform_at) {
    const uint64_t seed = 0xdeadbeefcafef00dull;
    int same_stream = 0, bad = 0;
    double sum = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        float a = lst_rng_uniform_at(seed, 3, (uint64_t)i);
        float b = lst_rng_uniform_at(seed, 3, (uint64_t)i);
        float c = lst_rng_uniform_at(seed, 4, (uint64_t)i);
        CHECK(a == b, "uniform_at(%d) not reproducible", i);
        if (!(a >= 0.0f && a < 1.0f)) bad++;
        same_stream += a == c;
        sum += a;
    }
    CHECK(bad == 0, "%d values outside [0, 1)", bad);
    CHECK(same_stream < 10, "streams 3 and 4 agree on %d of %d values", same_stream, n);
    CHECK(fabs(sum / n - 0.5) < 0.01, "uniform_at mean %g", sum / n);

    /* the documented layout: word index % 4 of block index / 4, stream in ctr[2..3] */
    const uint64_t stream = 0x0000000500000007ull, index = (1ull << 34) + 6;
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint64_t blk = index / 4;
    const uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 7, 5};
    uint32_t out[4];
    lst_philox4x32(key, ctr, out);
    const float want = (float)(out[2] >> 8) * (1.0f / 16777216.0f);
    const float got = lst_rng_uniform_at(seed, stream, index);
    CHECK(got == want, "uniform_at layout: got %.9g want %.9g", got, want);

    /* high bits of stream and index both matter */
    int same_hi = 0;
    for (int i = 0; i < 100; i++)
        same_hi += lst_rng_uniform_at(seed, 1, (uint64_t)i) ==
                   lst_rng_uniform_at(seed, 1ull | (1ull << 40), (uint64_t)i);
    CHECK(same_hi < 3, "streams differing in the high half agree on %d of 100", same_hi);
}

/* Sequential uniforms and stateless stream 0 see the same counters. */
TEST(rng_uniform_matches_stream0) {
    lst_rng_t r;
    lst_rng_seed(&r, 77);
    for (uint64_t i = 0; i < 64; i++) {
        float a = lst_rng_uniform(&r), b = lst_rng_uniform_at(77, 0, i);
        CHECK(a == b, "index %llu: sequential %g vs stateless %g", (unsigned long long)i, a, b);
    }
}

/* The example key offset (streams.h): splitmix64's output function of
 * e + golden ratio, a bijection, so examples of one run never share a key:
 * the splitmix64 reference values, no collision over the first 2^16 ids
 * (sorted), and no fixed point at 0 (seed ^ 0 would be the bare seed). */
static int cmp_u64(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

TEST(rng_example_keys_distinct) {
    /* splitmix64 seeded with 0: its first outputs are the mix of k * golden */
    CHECK(lst_stream_example(0) == 0xE220A8397B1DCDAFull, "mix(0) = %llx",
          (unsigned long long)lst_stream_example(0));
    CHECK(lst_stream_example(0x9E3779B97F4A7C15ull) == 0x6E789E6AA1B965F4ull, "mix(golden) = %llx",
          (unsigned long long)lst_stream_example(0x9E3779B97F4A7C15ull));
    enum { N = 1 << 16 };
    static uint64_t v[N];
    for (uint64_t e = 0; e < N; e++) v[e] = lst_stream_example(e);
    qsort(v, N, sizeof v[0], cmp_u64);
    int dup = 0;
    for (int i = 1; i < N; i++) dup += v[i] == v[i - 1];
    CHECK(dup == 0, "%d colliding example keys", dup);
    CHECK(lst_stream_example(0) != 0, "example 0 keeps the bare seed");
}
