/* matmul_q4.c: y = x @ W^T + b with 4-bit NF4 weights (groups of
 * LST_Q4_GROUP inputs, a float32 absmax each) and float32 sums (see
 * matmul_q4.h for the numbers).
 *
 * AVX-512 path: a task is a block of at most Q4_MC rows (and, when rows are
 * few, a group of panels); for each block of LST_F32P_KC inputs and each
 * panel it dequantizes the panel's k slice (kc x 64 floats, 64 KiB) into its
 * thread's slice of the workspace (nibbles -> a code-book lookup in one zmm
 * -> times the group's scales) and runs matmul_f32p's register tiles over
 * its rows: the dequantizing costs one pass per task over the weight, the
 * tiles Q4_MC / 16 FMAs per weight. */
#include "matmul_q4.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "gemm_sched.h"
#include "matmul_f32p.h"

#define NR 64
#define HALF (NR / 2)
#define G LST_Q4_GROUP
#define KC LST_F32P_KC
#define Q4_MC 240 /* rows per block and per task: the dequantized slice serves them all */

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl")))

/* QLoRA's NF4: the quantiles of N(0, 1) scaled to [-1, 1], with an exact 0. */
static const float nf4[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
/* int4: (i - 8) / 7, the lowest code clamped to -1 (so 15 distinct levels). */
static const float int4[16] = {
    -1.0f, -1.0f, -6 / 7.0f, -5 / 7.0f, -4 / 7.0f, -3 / 7.0f, -2 / 7.0f, -1 / 7.0f,
    0.0f, 1 / 7.0f, 2 / 7.0f, 3 / 7.0f, 4 / 7.0f, 5 / 7.0f, 6 / 7.0f, 1.0f};

const float *lst_q4_codes_nf4(void) { return nf4; }
const float *lst_q4_codes_int4(void) { return int4; }

static int panels(int M) { return (M + NR - 1) / NR; }
static int groups(int K) { return (K + G - 1) / G; }
static size_t nibble_bytes(int M, int K) { return (size_t)panels(M) * HALF * K; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t lst_q4_packed_bytes(int M, int K) {
    if (M <= 0 || K <= 0) return 0;
    return align64(nibble_bytes(M, K)) + sizeof(float) * (size_t)panels(M) * groups(K) * NR;
}

static const float *scales(const void *P, int M, int K) {
    return (const float *)((const char *)P + align64(nibble_bytes(M, K)));
}
/* The scales of panel p, group g: 64 floats, one per column. */
static const float *group_scales(const float *s, int K, int p, int g) {
    return s + ((size_t)p * groups(K) + g) * NR;
}
/* The byte holding W[m, k]'s code and its shift (0: low nibble, 4: high). */
static size_t byte_at(int m, int k, int K, int *shift) {
    const int j = m % NR;
    *shift = j < HALF ? 0 : 4;
    return ((size_t)(m / NR) * K + k) * HALF + (size_t)(j % HALF);
}

/* The index of the code nearest v (ties: the lower): how many of the
 * midpoints between neighbouring codes lie below v. */
static int nearest(const float *mid, float v) {
    int c = 0;
    for (int i = 0; i < 15; i++) c += v > mid[i];
    return c;
}

void lst_q4_pack_weights_codes(void *packed, const float *W, int M, int K, const float *codes) {
    if (M <= 0 || K <= 0) return;
    memset(packed, 0, lst_q4_packed_bytes(M, K));
    uint8_t *q = packed;
    float *s = (float *)scales(packed, M, K);
    float mid[15];
    for (int i = 0; i < 15; i++) mid[i] = 0.5f * (codes[i] + codes[i + 1]);
    const int zero = nearest(mid, 0.0f);
    for (int m = 0; m < panels(M) * NR; m++)
        for (int g = 0; g < groups(K); g++) {
            const int k0 = g * G, k1 = k0 + G < K ? k0 + G : K;
            float amax = 0.0f;
            for (int k = k0; m < M && k < k1; k++) {
                const float a = fabsf(W[(size_t)m * K + k]);
                amax = a > amax ? a : amax;
            }
            if (!isfinite(amax)) amax = 0.0f;
            ((float *)group_scales(s, K, m / NR, g))[m % NR] = amax;
            for (int k = k0; k < k1; k++) {
                const int c = m < M && amax > 0.0f ? nearest(mid, W[(size_t)m * K + k] / amax) : zero;
                int shift;
                const size_t at = byte_at(m, k, K, &shift); /* sets shift: before it is read */
                q[at] |= (uint8_t)(c << shift);
            }
        }
}

void lst_q4_pack_weights(void *packed, const float *W, int M, int K) {
    lst_q4_pack_weights_codes(packed, W, M, K, nf4);
}

/* The dequantized W[m, k]: code times the group's scale, one rounding. */
static float weight(const void *P, const float *codes, int m, int k, int M, int K) {
    int shift;
    const uint8_t b = ((const uint8_t *)P)[byte_at(m, k, K, &shift)];
    return codes[(b >> shift) & 15] * group_scales(scales(P, M, K), K, m / NR, k / G)[m % NR];
}

void lst_q4_unpack_weights_codes(float *W, const void *packed, int M, int K, const float *codes) {
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) W[(size_t)m * K + k] = weight(packed, codes, m, k, M, K);
}

void lst_q4_unpack_weights(float *W, const void *packed, int M, int K) {
    lst_q4_unpack_weights_codes(W, packed, M, K, nf4);
}

int lst_q4_native(void) { return lst_f32p_native(); }

size_t lst_q4_workspace(int K, int M) {
    return lst_q4_native() ? (size_t)LST_MAX_THREADS * KC * NR * sizeof(float) : 0;
}

/* ---- AVX-512 path ---------------------------------------------------------- */

/* buf: [kc][w] <- panel p's inputs [k0, k0 + kc), dequantized. */
TGT static void dequant_slice(float *buf, const void *P, int M, int K, int p, int k0, int kc,
                              int w) {
    if (w < NR) { /* a narrow last panel: the plain loop, packed w wide */
        for (int k = 0; k < kc; k++)
            for (int j = 0; j < w; j++)
                buf[(size_t)k * w + j] = weight(P, nf4, p * NR + j, k0 + k, M, K);
        return;
    }
    const __m512 book = _mm512_loadu_ps(nf4);
    const __m128i low = _mm_set1_epi8(15);
    const float *s = scales(P, M, K);
    const uint8_t *q = (const uint8_t *)P + ((size_t)p * K + k0) * HALF;
    for (int k = 0; k < kc; k++) {
        const float *gs = group_scales(s, K, p, (k0 + k) / G);
        const __m128i b0 = _mm_loadu_si128((const __m128i *)(q + (size_t)k * HALF));
        const __m128i b1 = _mm_loadu_si128((const __m128i *)(q + (size_t)k * HALF + 16));
        const __m128i c[4] = {_mm_and_si128(b0, low), _mm_and_si128(b1, low),
                              _mm_and_si128(_mm_srli_epi16(b0, 4), low),
                              _mm_and_si128(_mm_srli_epi16(b1, 4), low)};
        for (int v = 0; v < 4; v++) {
            const __m512 f = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(c[v]), book);
            _mm512_storeu_ps(buf + (size_t)k * NR + 16 * v,
                             _mm512_mul_ps(f, _mm512_loadu_ps(gs + 16 * v)));
        }
    }
}

static void block_native(float *y, const float *x, const void *Wp, const float *bias, int i0,
                         int mc, int p0, int p1, int K, int M, float *buf) {
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC;
        for (int p = p0; p < p1; p++) {
            const int w = M - p * NR < NR ? M - p * NR : NR;
            dequant_slice(buf, Wp, M, K, p, k0, kc, w);
            lst_f32p_rows_native(y + (size_t)i0 * M + (size_t)p * NR, (size_t)M,
                                 x + (size_t)i0 * K + k0, (size_t)K, buf, w, kc, mc, k0 == 0,
                                 bias ? bias + (size_t)p * NR : NULL);
        }
    }
}

static void forward_native(float *y, const float *x, const void *Wp, const float *bias, int N,
                           int K, int M, void *ws) {
    const int NP = panels(M);
    const lst_gemm_sched_t s = lst_gemm_sched(N, NP, 2.0 * N * K * M, Q4_MC, 6);
#pragma omp parallel num_threads(s.threads) if (s.threads > 1)
    {
        float *buf = (float *)ws + (size_t)omp_get_thread_num() * KC * NR;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < s.tasks; t++) {
            int i0, rows, p0, p1;
            lst_gemm_task(&s, t, N, NP, &i0, &rows, &p0, &p1);
            block_native(y, x, Wp, bias, i0, rows, p0, p1, K, M, buf);
        }
    }
}

/* ---- portable path ----------------------------------------------------------- */

/* matmul_f32p's plain-C sums on the dequantized weights. */
void lst_matmul_forward_q4_portable(float *y, const float *x, const void *Wp, const float *bias,
                                    int N, int K, int M) {
    if (lst_gemm_trivial(y, bias, N, K, M)) return;
    const int P = lst_gemm_parts(2.0 * N * K * M, N);
#pragma omp parallel for num_threads(P) if (P > 1)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * K;
        for (int p = 0; p < panels(M); p++) {
            const int w = M - p * NR < NR ? M - p * NR : NR;
            float *o = y + (size_t)n * M + (size_t)p * NR;
            for (int k0 = 0; k0 < K; k0 += KC) {
                const int kend = K - k0 < KC ? K : k0 + KC;
                float acc[NR] = {0};
                for (int k = k0; k < kend; k++)
                    for (int j = 0; j < w; j++)
                        acc[j] = fmaf(xr[k], weight(Wp, nf4, p * NR + j, k, M, K), acc[j]);
                for (int j = 0; j < w; j++)
                    o[j] = k0 ? o[j] + acc[j] : bias ? acc[j] + bias[p * NR + j] : acc[j];
            }
        }
    }
}

/* ---- entry point ------------------------------------------------------------- */

void lst_matmul_forward_q4(float *y, const float *x, const void *Wp, const float *bias, int N,
                           int K, int M, void *ws) {
    if (lst_gemm_trivial(y, bias, N, K, M)) return;
    if (lst_q4_native() && ws) forward_native(y, x, Wp, bias, N, K, M, ws);
    else lst_matmul_forward_q4_portable(y, x, Wp, bias, N, K, M);
}
