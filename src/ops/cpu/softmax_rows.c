/* softmax_rows.c: the row kernels of the attention softmax and its backward
 * (max, exp and sum, scale; the softmax gradient, the dropout mask read
 * back), shared by attention.c and cross_fold.c.
 *
 * Sixteen lanes at a time through GCC vector extensions: -O2 leaves the
 * plain loops scalar (its cost model, and the masked key loads), and these
 * rows are a tenth of a training step. Tails are padded, so every position
 * goes through the same arithmetic. The target clones are static, behind
 * plain exported wrappers: clang links multiversioned functions only within
 * their translation unit (and gave static copies in a header clashing
 * resolver names). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "softmax_rows.h"

/* Multiply-adds fused (ISO C, -std=c11, leaves them apart): the exp
 * polynomial is a chain of them, and the rows are a few percent of a step. */
#if defined(__clang__)
#pragma clang fp contract(fast)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif

/* No 64-byte vector is passed to or returned from a function (the helpers
 * are macros or take pointers): such calls have a different ABI in each
 * target clone, and clang rejects them outright. */
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint8_t v16b __attribute__((vector_size(16)));

#define SPLAT16(x) ((v16f){0} + (x))
/* m ? a : b, lane by lane (m: all ones or zeros per lane) */
#define SELECT16(m, a, b) ((v16f)(((v16i)(a) & (m)) | ((v16i)(b) & ~(m))))

/* *x = exp(*x), Cephes' expf: range reduction by ln 2 in two parts and a
 * degree-6 polynomial (within 2 ulp of expf); 0 below -87.3, NaN passed
 * through. Rounding to the nearest integer by adding and subtracting
 * 1.5 * 2^23 (exact for |x log2 e| < 2^22; x is clamped first). */
static inline __attribute__((always_inline)) void exp16(v16f *xp) {
    const v16f x = *xp, lo = SPLAT16(-87.33654f), hi = SPLAT16(88.72283f);
    v16f xc = SELECT16(x > lo, x, lo); /* NaN -> lo here, restored below */
    xc = SELECT16(xc < hi, xc, hi);
    const v16f magic = SPLAT16(12582912.0f);
    const v16f n = (xc * 1.44269504088896341f + magic) - magic;
    v16f r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    v16f p = SPLAT16(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + (r + 1.0f);
    const v16i e = (__builtin_convertvector(n, v16i) + 127) << 23; /* 2^n, n in [-126, 128] */
    v16f y = p * (v16f)e;
    y = SELECT16(x < lo, SPLAT16(0.0f), y);
    *xp = SELECT16(x == x, y, x);
}

/* *vis: lanes j0 .. j0+15 of a row, all ones where key j is visible
 * (j < n, j <= limit, km[j] != 0). */
static inline __attribute__((always_inline)) void visible16(v16i *vis, int j0, int n, int limit,
                                                            const uint8_t *km) {
    const v16i lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const v16i j = lane + j0;
    const int last = limit < n - 1 ? limit : n - 1;
    *vis = j <= last;
    if (km) {
        v16b kb = {0};
        if (n - j0 >= 16) memcpy(&kb, km + j0, sizeof kb);
        else for (int t = 0; t < n - j0; t++) kb[t] = km[j0 + t];
        *vis &= __builtin_convertvector(kb, v16i) != 0;
    }
}

/* m <= 16 floats, zero padded. Whole vectors are one unaligned load or
 * store (v16fu); the few tails go element by element (a variable-length
 * memcpy here became rep movs, which dominated the rows). */
typedef float v16fu __attribute__((vector_size(64), aligned(4), may_alias));
static inline __attribute__((always_inline)) void load16(v16f *x, const float *s, int m) {
    if (m == 16) {
        *x = *(const v16fu *)s;
    } else {
        *x = SPLAT16(0.0f);
        for (int t = 0; t < m; t++) (*x)[t] = s[t];
    }
}
static inline __attribute__((always_inline)) void store16(float *s, const v16f *x, int m) {
    if (m == 16)
        *(v16fu *)s = *x;
    else
        for (int t = 0; t < m; t++) s[t] = (*x)[t];
}

/* Horizontal sum and max of a 16-lane vector by halving (4 steps): lane by
 * lane the 16 scalar steps were a dependent chain as long as a 128-key row's
 * own work. Macros, so no 64-byte vector crosses a call (see above). */
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
#define HALVE16(v, OP)                                                                      \
    ({                                                                                      \
        const v8f h8 = OP(__builtin_shufflevector((v), (v), 0, 1, 2, 3, 4, 5, 6, 7),        \
                          __builtin_shufflevector((v), (v), 8, 9, 10, 11, 12, 13, 14, 15)); \
        const v4f h4 = OP(__builtin_shufflevector(h8, h8, 0, 1, 2, 3),                      \
                          __builtin_shufflevector(h8, h8, 4, 5, 6, 7));                     \
        const float a0 = OP##_1(h4[0], h4[2]), a1 = OP##_1(h4[1], h4[3]);                   \
        OP##_1(a0, a1);                                                                     \
    })
#define VADD(a, b) ((a) + (b))
#define VADD_1(a, b) ((a) + (b))
typedef int32_t v8i __attribute__((vector_size(32)));
typedef int32_t v4i __attribute__((vector_size(16)));
/* lane-wise max by mask (C has no vector ?:); the vectors are v8f or v4f */
#define VMAX(a, b)                                                                 \
    ({                                                                             \
        const __typeof__(a) x_ = (a), y_ = (b);                                    \
        const __typeof__(x_ > y_) m_ = x_ > y_;                                    \
        (__typeof__(x_))(((__typeof__(m_))x_ & m_) | ((__typeof__(m_))y_ & ~m_));  \
    })
#define VMAX_1(a, b) ((a) > (b) ? (a) : (b))
#define HSUM16(v) HALVE16(v, VADD)
#define HMAX16(v) HALVE16(v, VMAX)

/* max of s[j] over visible j; -inf if none. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static float
row_max(const float *s, int n, int limit, const uint8_t *km) {
    v16f mx = SPLAT16(-INFINITY), x;
    v16i vis;
    for (int j = 0; j < n; j += 16) {
        load16(&x, s + j, n - j < 16 ? n - j : 16);
        visible16(&vis, j, n, limit, km);
        mx = SELECT16(vis & (x > mx), x, mx);
    }
    return HMAX16(mx);
}

/* s[j] = visible(j) ? exp(s[j] - shift) : 0 over a row; returns the sum:
 * float lanes over 1024 keys at a time, then double (vocabulary-wide rows of
 * the cross-entropy lose nothing). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static double
row_exp(float *s, int n, float shift, int limit, const uint8_t *km) {
    v16f acc = SPLAT16(0.0f), y;
    v16i vis;
    double sum = 0;
    for (int j = 0; j < n; j += 16) {
        const int m = n - j < 16 ? n - j : 16;
        load16(&y, s + j, m);
        y -= shift;
        exp16(&y);
        visible16(&vis, j, n, limit, km);
        y = (v16f)((v16i)y & vis);
        acc += y;
        store16(s + j, &y, m);
        if ((j & 1023) == 1008) {
            sum += HSUM16(acc);
            acc = SPLAT16(0.0f);
        }
    }
    sum += HSUM16(acc);
    return sum;
}

/* s[j] *= a over a row. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
row_scale(float *s, int n, float a) {
    for (int j = 0; j < n; j += 16) {
        const int m = n - j < 16 ? n - j : 16;
        v16f y;
        load16(&y, s + j, m);
        y *= a;
        store16(s + j, &y, m);
    }
}

/* The softmax backward of one row, in place: g = p * (g - di), where g is
 * the gradient of the probabilities and di = sum_j g_j p_j. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
row_dsoftmax(float *g, const float *p, int n, float di) {
    v16f x, y;
    for (int j = 0; j < n; j += 16) {
        const int m = n - j < 16 ? n - j : 16;
        load16(&x, g + j, m);
        load16(&y, p + j, m);
        x = y * (x - di);
        store16(g + j, &x, m);
    }
}

/* The dropout mask read back off the dropped probabilities, in place over
 * n values: g = pd != 0 ? g * keep_scale : 0 (where p is 0 the softmax
 * backward gives 0 either way). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
row_dropped_grad(float *g, const float *pd, int64_t n, float keep_scale) {
    v16f x, y;
    for (int64_t j = 0; j < n; j += 16) {
        const int m = n - j < 16 ? (int)(n - j) : 16;
        load16(&x, g + j, m);
        load16(&y, pd + j, m);
        x *= keep_scale;
        x = (v16f)((v16i)x & (y != SPLAT16(0.0f)));
        store16(g + j, &x, m);
    }
}

/* ---- the exported entry points (softmax_rows.h) ---------------------------- */

float lst_row_max(const float *s, int n, int limit, const uint8_t *km) {
    return row_max(s, n, limit, km);
}
double lst_row_exp(float *s, int n, float shift, int limit, const uint8_t *km) {
    return row_exp(s, n, shift, limit, km);
}
void lst_row_scale(float *s, int n, float a) { row_scale(s, n, a); }
void lst_row_dsoftmax(float *g, const float *p, int n, float di) { row_dsoftmax(g, p, n, di); }
void lst_row_dropped_grad(float *g, const float *pd, int64_t n, float keep_scale) {
    row_dropped_grad(g, pd, n, keep_scale);
}
