/* dropout.c: inverted dropout whose mask is a pure function of (seed,
 * stream, element index), so backward regenerates it instead of storing
 * it, and a resumed run draws exactly the masks it would have drawn.
 *
 * Each Philox4x32-10 block (key = seed, counter = {block, stream}) gives
 * eight 16-bit fields, two per word. Elements come in groups of 64, and
 * element 64 G + 16 k + 2 j + h is bits [16 h, 16 h + 16) of word k of
 * block 8 G + j (k < 4, j < 8, h < 2): the 16 elements 64 G + 16 k .. + 15
 * are word k of the group's 8 blocks read as little-endian 16-bit fields,
 * so the fast path widens them into one 16-lane vector. Element i keeps
 * iff its field u >= ceil(p * 65536), i.e. with probability
 * 1 - ceil(p * 65536) / 65536 (0.89999390 for p = 0.1, at most 2^-16 under
 * 1 - p), and kept elements are scaled by 1 / (1 - p).
 *
 * Batch sites (ops.h) key each row by its example: one stream per example
 * (the key seed ^ lst_stream_example(e)), and element indices inside the
 * example that every padding gives alike; every row starts a group, so the
 * vector path runs whole groups. */
#include <math.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../core/streams.h"
#include "../ops.h"
#include "cpu.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(LST_DROPOUT_NO_AVX512)
#include <immintrin.h>
#define HAVE_AVX512_KERNEL 1
#else
#define HAVE_AVX512_KERNEL 0
#endif

#define CHUNK 4096 /* elements per chunk (threads split by chunks); a multiple of 64 */
#define GROUP 64   /* elements per group of 8 blocks */

#define M0 0xD2511F53u
#define M1 0xCD9E8D57u

typedef struct {
    uint32_t k0[10], k1[10]; /* the key of each round */
    uint32_t s_lo, s_hi;     /* the stream: counter words 2, 3 */
} philox_key_t;

/* fld[16 k + 2 j + h] = half h of word k of block 8 G + j (see the top).
 * Portable: the 8 blocks in structure-of-arrays form, the same rounds as
 * lst_philox4x32 (tested through lst_dropout_apply_ref). */
static inline void group_fields(const philox_key_t *K, uint64_t G, uint32_t fld[GROUP]) {
    uint32_t c[4][8]; /* c[k][j]: word k of block 8 G + j */
    for (int j = 0; j < 8; j++) {
        const uint64_t blk = 8 * G + (uint64_t)j;
        c[0][j] = (uint32_t)blk;
        c[1][j] = (uint32_t)(blk >> 32);
        c[2][j] = K->s_lo;
        c[3][j] = K->s_hi;
    }
    for (int r = 0; r < 10; r++)
        for (int j = 0; j < 8; j++) {
            const uint64_t p0 = (uint64_t)M0 * c[0][j], p1 = (uint64_t)M1 * c[2][j];
            const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1][j] ^ K->k0[r];
            const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3][j] ^ K->k1[r];
            c[1][j] = (uint32_t)p1;
            c[3][j] = (uint32_t)p0;
            c[0][j] = n0;
            c[2][j] = n2;
        }
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 8; j++) {
            fld[16 * k + 2 * j] = c[k][j] & 0xffffu;
            fld[16 * k + 2 * j + 1] = c[k][j] >> 16;
        }
}

#if HAVE_AVX512_KERNEL
/* The same with AVX-512, for NG groups G[0..NG) at once (two keep the
 * multipliers busy while a round's results come back). Each 64-bit lane
 * holds one block's word in its low half, so vpmuludq gives the 32x32->64
 * products of 8 blocks at once (GCC 12 turns no portable multiply into a
 * lone vpmuludq); the high halves carry junk that nothing reads. */
__attribute__((target("avx512f"), always_inline)) static inline void
groups_avx512(const philox_key_t *K, const uint64_t *G, const int NG, uint32_t *fld) {
    const __m512i m0 = _mm512_set1_epi64(M0), m1 = _mm512_set1_epi64(M1);
    __m512i c0[2], c1[2], c2[2], c3[2];
    for (int q = 0; q < NG; q++) {
        c0[q] = _mm512_add_epi64(_mm512_set1_epi64((long long)(8 * G[q])),
                                 _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
        c1[q] = _mm512_srli_epi64(c0[q], 32);
        c2[q] = _mm512_set1_epi32((int)K->s_lo);
        c3[q] = _mm512_set1_epi32((int)K->s_hi);
    }
    for (int r = 0; r < 10; r++) {
        const __m512i k0 = _mm512_set1_epi32((int)K->k0[r]);
        const __m512i k1 = _mm512_set1_epi32((int)K->k1[r]);
        for (int q = 0; q < NG; q++) {
            const __m512i p0 = _mm512_mul_epu32(c0[q], m0), p1 = _mm512_mul_epu32(c2[q], m1);
            c0[q] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1[q], k0, 0x96); /* ^ */
            c2[q] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3[q], k1, 0x96);
            c1[q] = p1;
            c3[q] = p0;
        }
    }
    /* low halves -> 8 words -> 16 zero-extended 16-bit fields, per word */
#define FIELDS(c) _mm512_cvtepu16_epi32(_mm512_cvtepi64_epi32(c))
    for (int q = 0; q < NG; q++) {
        _mm512_storeu_si512(fld + GROUP * q + 0, FIELDS(c0[q]));
        _mm512_storeu_si512(fld + GROUP * q + 16, FIELDS(c1[q]));
        _mm512_storeu_si512(fld + GROUP * q + 32, FIELDS(c2[q]));
        _mm512_storeu_si512(fld + GROUP * q + 48, FIELDS(c3[q]));
    }
#undef FIELDS
}

__attribute__((target("avx512f"))) static void fields_avx512(const philox_key_t *K,
                                                             const uint64_t *G, int ng,
                                                             uint32_t *fld) {
    if (ng == 2) groups_avx512(K, G, 2, fld);
    else groups_avx512(K, G, 1, fld);
}
#endif

/* out[e] = f[e] >= thresh ? x[e] * scale : +0.0, branch-free (inlined in
 * each clone below, so it runs as wide as the clone's target). */
__attribute__((always_inline)) static inline void select_kept(float *op, const float *xp,
                                                              const uint32_t *f, int n,
                                                              uint32_t thresh, float scale) {
#pragma omp simd
    for (int e = 0; e < n; e++) {
        float v = xp[e] * scale;
        uint32_t u;
        memcpy(&u, &v, 4);
        u &= -(uint32_t)(f[e] >= thresh);
        memcpy(&op[e], &u, 4);
    }
}

/* Elements [a, b) of the site (x[0] is element `first`), two groups at a
 * time: their fields, then a branch-free select over their part of [a, b).
 * Cloned so the select runs 16 lanes wide where it can. Only the avx512f
 * clone takes the AVX-512 kernel (the CPU check says so in every clone, as
 * C cannot tell them apart). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
drop_span(float *out, const float *x, uint64_t first, uint64_t a, uint64_t b,
          const philox_key_t *K, uint32_t thresh, float scale) {
#if HAVE_AVX512_KERNEL
    const int wide = __builtin_cpu_supports("avx512f");
#endif
    uint32_t fld[2 * GROUP];
    for (uint64_t g0 = a & ~(uint64_t)(GROUP - 1); g0 < b; g0 += 2 * GROUP) {
        const int ng = b - g0 > GROUP ? 2 : 1;
        const uint64_t G[2] = {g0 / GROUP, g0 / GROUP + 1};
#if HAVE_AVX512_KERNEL
        if (wide) fields_avx512(K, G, ng, fld);
        else
#endif
            for (int q = 0; q < ng; q++) group_fields(K, G[q], fld + GROUP * q);
        const uint64_t s0 = g0 > a ? g0 : a, s1 = g0 + GROUP * ng < b ? g0 + GROUP * ng : b;
        select_kept(out + (s0 - first), x + (s0 - first), fld + (s0 - g0), (int)(s1 - s0), thresh,
                    scale);
    }
}

/* An attention block: row i of x, out: [Tq, Tk] is elements base + (i <<
 * 20) .. + Tk - 1 (base a multiple of 64). Its groups go two at a time
 * whichever rows they sit in: rows of up to 64 keys are one group each,
 * and pairs keep the AVX-512 kernel at its two-group pace. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
drop_block(float *out, const float *x, int Tq, int Tk, uint64_t base, const philox_key_t *K,
           uint32_t thresh, float scale) {
#if HAVE_AVX512_KERNEL
    const int wide = __builtin_cpu_supports("avx512f");
#endif
    const int per = (Tk + GROUP - 1) / GROUP, n = Tq * per;
    uint32_t fld[2 * GROUP];
    int i = 0, g = 0; /* the next group: row i, keys 64 g .. */
    for (int q0 = 0; q0 < n; q0 += 2) {
        const int ng = n - q0 > 1 ? 2 : 1;
        uint64_t G[2] = {0, 0};
        int row[2], col[2];
        for (int q = 0; q < ng; q++) {
            row[q] = i;
            col[q] = g * GROUP;
            G[q] = ((base + ((uint64_t)i << 20)) >> 6) + (uint64_t)g;
            if (++g == per) g = 0, i++;
        }
#if HAVE_AVX512_KERNEL
        if (wide) fields_avx512(K, G, ng, fld);
        else
#endif
            for (int q = 0; q < ng; q++) group_fields(K, G[q], fld + GROUP * q);
        /* two groups of one row: one select over both */
        const int both = ng == 2 && row[1] == row[0], span = both ? 2 * GROUP : GROUP;
        for (int q = 0; q < ng; q += 1 + both) {
            const size_t at = (size_t)row[q] * Tk + (size_t)col[q];
            select_kept(out + at, x + at, fld + GROUP * q,
                        Tk - col[q] < span ? Tk - col[q] : span, thresh, scale);
        }
    }
}

/* The round keys of (seed, stream), the threshold and the scale of p. */
typedef struct {
    philox_key_t K;
    uint32_t thresh;
    float scale;
} drop_key_t;

static drop_key_t drop_key(const lst_drop_t *d) {
    const uint64_t seed = d->seed;
    drop_key_t k = {.K = {.s_lo = (uint32_t)d->stream, .s_hi = (uint32_t)(d->stream >> 32)}};
    k.K.k0[0] = (uint32_t)seed;
    k.K.k1[0] = (uint32_t)(seed >> 32);
    for (int r = 1; r < 10; r++) { /* bumped between rounds, as lst_philox4x32 */
        k.K.k0[r] = k.K.k0[r - 1] + 0x9E3779B9u;
        k.K.k1[r] = k.K.k1[r - 1] + 0xBB67AE85u;
    }
    k.scale = 1.0f / (1.0f - d->p);
    k.thresh = (uint32_t)ceil((double)d->p * 65536.0);
    return k;
}

static void copy_unless_same(float *out, const float *x, int64_t N) {
    if (out != x) memmove(out, x, sizeof(float) * (size_t)(N > 0 ? N : 0));
}

void lst_cpu_dropout_apply(float *out, const float *x, int64_t N, const lst_drop_t *d,
                       uint64_t first) {
    if (!lst_drop_active(d)) {
        copy_unless_same(out, x, N);
        return;
    }
    if (N <= 0) return;
    const drop_key_t k = drop_key(d);
    const uint64_t hi = first + (uint64_t)N;
    const int nt = N > 8 * CHUNK ? lst_threads() : 1;
    if (nt == 1) { /* no parallel region: most calls are one row */
        drop_span(out, x, first, first, hi, &k.K, k.thresh, k.scale);
        return;
    }
    /* chunks aligned to global indices so every group is drawn by one thread */
    const uint64_t lo = first & ~(uint64_t)(CHUNK - 1);
    const int64_t n_chunks = (int64_t)((hi - lo + CHUNK - 1) / CHUNK);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < n_chunks; c++) {
        uint64_t a = lo + (uint64_t)c * CHUNK, b = a + CHUNK;
        if (a < first) a = first;
        if (b > hi) b = hi;
        drop_span(out, x, first, a, b, &k.K, k.thresh, k.scale);
    }
}

lst_drop_t lst_drop_example(const lst_drop_t *d, int b) {
    lst_drop_t e = {0, 0, 0, 0, NULL};
    if (!d) return e;
    const uint64_t ex = d->rows ? (uint64_t)d->rows[b] : (uint64_t)b;
    e.p = d->p;
    e.seed = d->seed ^ lst_stream_example(ex);
    e.stream = d->stream;
    return e;
}

void lst_cpu_dropout_rows(float *out, const float *x, int64_t N, const lst_drop_t *d) {
    if (!lst_drop_active(d)) {
        copy_unless_same(out, x, N);
        return;
    }
    const int B = d->B > 0 ? d->B : 1;
    const int64_t L = N / B; /* each row from its own start: no chunk straddles two rows */
    if (L <= 0) return;
    const int64_t per = (L + CHUNK - 1) / CHUNK, n_tasks = per * B;
    const int nt = N > 8 * CHUNK ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t t = 0; t < n_tasks; t++) {
        const int b = (int)(t / per);
        const uint64_t a = (uint64_t)(t % per) * CHUNK;
        const uint64_t e = a + CHUNK < (uint64_t)L ? a + CHUNK : (uint64_t)L;
        const lst_drop_t ex = lst_drop_example(d, b);
        const drop_key_t k = drop_key(&ex);
        drop_span(out + (size_t)b * L, x + (size_t)b * L, 0, a, e, &k.K, k.thresh, k.scale);
    }
}

void lst_cpu_dropout_probs(float *out, const float *x, int Tq, int Tk, const lst_drop_t *d, int b,
                       int h) {
    if (!lst_drop_active(d)) {
        copy_unless_same(out, x, (int64_t)Tq * Tk);
        return;
    }
    const lst_drop_t ex = lst_drop_example(d, b);
    const drop_key_t k = drop_key(&ex);
    drop_block(out, x, Tq, Tk, (uint64_t)h << 40, &k.K, k.thresh, k.scale);
}

/* The plain definition, element by element: the reference for the above. */
void lst_dropout_apply_ref(float *out, const float *x, int64_t N, const lst_drop_t *d,
                           uint64_t first) {
    if (!lst_drop_active(d)) { /* the identity, as the fast path (a NULL site too) */
        copy_unless_same(out, x, N);
        return;
    }
    const float scale = 1.0f / (1.0f - d->p);
    for (int64_t i = 0; i < N; i++) {
        const uint64_t g = first + (uint64_t)i, e = g % 64;
        const uint64_t k = e / 16, j = (e % 16) / 2, h = e % 2;
        /* word k of block 8 (g / 64) + j, through the stateless form
         * (index = 4 block + word) */
        const uint32_t w = lst_rng_u32_at(d->seed, d->stream, 4 * (8 * (g / 64) + j) + k);
        const float u = (float)((w >> (16 * h)) & 0xffffu) / 65536.0f; /* exact */
        out[i] = u >= d->p ? x[i] * scale : 0.0f;
    }
}
