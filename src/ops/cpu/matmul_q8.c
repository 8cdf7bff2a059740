/* matmul_q8.c: y = x @ W^T + b with int8 weights and per-row int8
 * activations, integer sums (see matmul_q8.h for the numbers).
 *
 * Fast path (AVX512_VNNI, chosen at run time): GotoBLAS-style blocking like
 * matmul_bf16.c. A task is a block of at most Q8_MC rows (and, when rows are
 * few, a group of panels). It takes its rows' scales first (a max over the
 * whole row), then for each block of Q8_KCQ input quads quantizes its rows
 * once into its thread's slice of the workspace (u8 = qx + 128, a quad per
 * dword) and sweeps the panels over it with a Q8_MR x NR register tile: per
 * quad, NR/16 zmm loads of W, Q8_MR dword broadcasts of x and Q8_MR * NR/16
 * vpdpbusd into int32 accumulators. The partial sums live in y's own
 * storage as int32 until the task's last block, then become floats. */
#include "matmul_q8.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "gemm_sched.h"
#include "matmul_q8_amx.h"

#define NR LST_Q8_NR
#define NV (NR / 16)
#define Q8_MR 6    /* rows per register tile: 6 x 4 accumulators + 4 W + 1 x */
#define Q8_MC 120  /* rows per block and per task (multiple of Q8_MR) */
#define Q8_KCQ 128 /* quads per block: a panel's slice is 32 KiB, x's 60 KiB */

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

static int quads(int K) { return (K + 3) / 4; }
static int panels(int M) { return (M + NR - 1) / NR; }
static size_t quant_bytes(int M, int K) { return (size_t)panels(M) * NR * quads(K) * 4; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t lst_q8_packed_bytes(int M, int K) {
    if (M <= 0 || K <= 0) return 0;
    return align64(quant_bytes(M, K)) + (size_t)panels(M) * NR * (sizeof(float) + sizeof(int32_t));
}

static const float *row_scales(const void *P, int M, int K) {
    return (const float *)((const char *)P + align64(quant_bytes(M, K)));
}
static const int32_t *col_sums(const void *P, int M, int K) {
    return (const int32_t *)(row_scales(P, M, K) + (size_t)panels(M) * NR);
}
/* Where W[m, k]'s int8 lives in the packed form. */
static size_t at(int m, int k, int K) {
    return ((size_t)(m / NR) * quads(K) + (size_t)(k / 4)) * NR * 4 + (size_t)(m % NR) * 4 + k % 4;
}

/* The scale of a row with largest magnitude amax, and the factor that
 * quantizes it (0 for a row of zeros or one that is not finite). */
static void scale_of(float amax, float *s, float *inv) {
    const int ok = amax > 0.0f && isfinite(amax);
    *s = ok ? amax / 127.0f : 0.0f;
    *inv = ok ? 127.0f / amax : 0.0f;
}

static int quant(float v, float inv) {
    const long q = lrintf(v * inv);
    return q > 127 ? 127 : q < -127 ? -127 : (int)q;
}

static float row_amax(const float *x, int K) {
    float a = 0.0f;
    for (int k = 0; k < K; k++) a = fabsf(x[k]) > a ? fabsf(x[k]) : a;
    return a;
}

void lst_q8_pack_weights(void *packed, const float *W, int M, int K) {
    if (M <= 0 || K <= 0) return;
    memset(packed, 0, lst_q8_packed_bytes(M, K));
    int8_t *q = packed;
    float *sw = (float *)row_scales(packed, M, K);
    int32_t *cs = (int32_t *)col_sums(packed, M, K);
    for (int m = 0; m < M; m++) {
        const float *w = W + (size_t)m * K;
        float inv;
        scale_of(row_amax(w, K), &sw[m], &inv);
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            const int v = quant(w[k], inv);
            q[at(m, k, K)] = (int8_t)v;
            sum += v;
        }
        cs[m] = sum;
    }
}

void lst_q8_unpack_weights(float *W, const void *packed, int M, int K) {
    const int8_t *q = packed;
    const float *sw = row_scales(packed, M, K);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) W[(size_t)m * K + k] = (float)q[at(m, k, K)] * sw[m];
}

void lst_q8_round(float *y, const float *x, size_t rows, int K) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * K;
        float s, inv;
        scale_of(row_amax(xr, K), &s, &inv);
        for (int k = 0; k < K; k++) y[r * K + k] = (float)quant(xr[k], inv) * s;
    }
}

int lst_q8_native(void) { return lst_cpu_avx512_vnni(); }

static int max_path = LST_Q8_AMX;

void lst_q8_use_path(int path) { max_path = path; }

int lst_q8_path(void) {
    if (max_path >= LST_Q8_AMX && lst_q8_amx_available()) return LST_Q8_AMX;
    if (max_path >= LST_Q8_VNNI && lst_q8_native()) return LST_Q8_VNNI;
    return LST_Q8_PLAIN;
}

/* Each thread's quantized x: [Q8_MC_PAD rows][Q8_KCQ quads] dwords (the AMX
 * tiles read rows in 32s), or one whole row of quads for the plain-C path,
 * whichever is larger. */
#define Q8_MC_PAD ((Q8_MC + 31) / 32 * 32)
static size_t thread_words(int K) {
    const size_t block = (size_t)Q8_MC_PAD * Q8_KCQ, row = (size_t)quads(K);
    return block > row ? block : row;
}

size_t lst_q8_workspace(int K, int M) {
    return (size_t)LST_MAX_THREADS * thread_words(K) * sizeof(uint32_t);
}

/* y = (acc - 128 * csum) * (sx * sw) + b, one rounding (the same on both paths). */
static float finish(int32_t acc, int32_t csum, float sx, float sw, float b) {
    return fmaf((float)(acc - 128 * csum), sx * sw, b);
}

/* ---- AVX512_VNNI path ------------------------------------------------------ */

TGT static float row_amax_native(const float *x, int K) {
    __m512 a = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) a = _mm512_max_ps(a, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
    if (k < K) {
        const __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
        a = _mm512_max_ps(a, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + k)));
    }
    return _mm512_reduce_max_ps(a); /* max is exact: any order gives the same value */
}

/* dst: [rows][kcq] dwords, u8 = qx + 128 for inputs [4 * q0, 4 * (q0 + kcq)),
 * 128 past K (the weights there are 0). x: rows of stride K. */
TGT static void quantize_block(uint32_t *dst, const float *x, int K, int rows, int q0, int kcq,
                               const float *inv) {
    const int k0 = 4 * q0, n = 4 * kcq;
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    const __m512i off = _mm512_set1_epi32(128);
    for (int r = 0; r < rows; r++) {
        const float *s = x + (size_t)r * K + k0;
        uint8_t *d = (uint8_t *)(dst + (size_t)r * kcq);
        const __m512 f = _mm512_set1_ps(inv[r]);
        for (int i = 0; i < n; i += 16) {
            const int left = K - k0 - i;
            const __mmask16 m = (__mmask16)(left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1);
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + i), f));
            q = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), off);
            q = _mm512_mask_blend_epi32(m, off, q);
            _mm_storeu_si128((__m128i *)(d + i), _mm512_cvtepi32_epi8(q));
        }
    }
}

/* The register tile: c[R, w] (int32, row stride ldc) = (first ? 0 : c) +
 * sum over kcq quads of a[r, q] . b[q, j]. a: [R, lda] dwords; b: a panel's
 * slice, NR dwords per quad. R is a constant at every call site. */
TGT static inline __attribute__((always_inline)) void
tile(const int R, int kcq, const uint32_t *a, int lda, const int8_t *b, int32_t *c, size_t ldc,
     int first, const __mmask16 *mask) {
    __m512i acc[Q8_MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_si512();
    for (int q = 0; q < kcq; q++) {
        __m512i bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = _mm512_loadu_si512((const void *)(b + (size_t)q * NR * 4 + 64 * v));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512i av = _mm512_set1_epi32((int)a[(size_t)r * lda + q]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, bv[v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        int32_t *cr = c + (size_t)r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __m512i t = acc[r][v];
            if (!first) t = _mm512_add_epi32(t, _mm512_maskz_loadu_epi32(mask[v], cr + 16 * v));
            _mm512_mask_storeu_epi32(cr + 16 * v, mask[v], t);
        }
    }
}

TGT static void tile_any(int rows, int kcq, const uint32_t *a, int lda, const int8_t *b,
                         int32_t *c, size_t ldc, int first, int cols) {
    __mmask16 mask[NV];
    for (int v = 0; v < NV; v++) {
        const int left = cols - 16 * v;
        mask[v] = (__mmask16)(left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1);
    }
    switch (rows) {
    case 1: tile(1, kcq, a, lda, b, c, ldc, first, mask); break;
    case 2: tile(2, kcq, a, lda, b, c, ldc, first, mask); break;
    case 3: tile(3, kcq, a, lda, b, c, ldc, first, mask); break;
    case 4: tile(4, kcq, a, lda, b, c, ldc, first, mask); break;
    case 5: tile(5, kcq, a, lda, b, c, ldc, first, mask); break;
    case 6: tile(6, kcq, a, lda, b, c, ldc, first, mask); break;
    }
}

/* The task's int32 sums in y (rows [i0, i0 + mc), panels [p0, p1)) to floats. */
TGT static void finish_block(float *y, const float *sx, const float *sw, const int32_t *cs,
                             const float *bias, int i0, int mc, int p0, int p1, int M) {
    const __m512i c128 = _mm512_set1_epi32(128);
    for (int r = 0; r < mc; r++) {
        float *yr = y + (size_t)(i0 + r) * M;
        const __m512 s = _mm512_set1_ps(sx[r]);
        for (int m = p0 * NR; m < p1 * NR && m < M; m += 16) {
            const __mmask16 k = (__mmask16)(M - m >= 16 ? 0xffff : (1u << (M - m)) - 1);
            __m512i acc = _mm512_maskz_loadu_epi32(k, yr + m);
            acc = _mm512_sub_epi32(acc, _mm512_mullo_epi32(c128, _mm512_loadu_si512(cs + m)));
            const __m512 b = bias ? _mm512_maskz_loadu_ps(k, bias + m) : _mm512_setzero_ps();
            const __m512 f = _mm512_mul_ps(s, _mm512_loadu_ps(sw + m));
            _mm512_mask_storeu_ps(yr + m, k, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), f, b));
        }
    }
}

TGT static void block_native(float *y, const float *x, const void *Wp, const float *bias, int i0,
                             int mc, int p0, int p1, int K, int M, uint32_t *abuf, int amx) {
    const int Kq = quads(K);
    const int8_t *Wq = Wp;
    float sx[Q8_MC], inv[Q8_MC];
    for (int r = 0; r < mc; r++) scale_of(row_amax_native(x + (size_t)(i0 + r) * K, K), &sx[r], &inv[r]);
    int32_t *yi = (int32_t *)y;
    for (int q0 = 0; q0 < Kq; q0 += Q8_KCQ) {
        const int kcq = Kq - q0 < Q8_KCQ ? Kq - q0 : Q8_KCQ, first = q0 == 0;
        quantize_block(abuf, x + (size_t)i0 * K, K, mc, q0, kcq, inv);
        /* AMX takes the quads in 16s, the VNNI tile the rest (integers: any split sums the same) */
        const int nq = amx ? kcq / 16 * 16 : 0;
        for (int p = p0; p < p1; p++) {
            const int8_t *bp = Wq + ((size_t)p * Kq + q0) * NR * 4;
            const int cols = M - p * NR < NR ? M - p * NR : NR;
            int32_t *yp = yi + (size_t)i0 * M + (size_t)p * NR;
            if (nq) lst_q8_amx_panel(yp, (size_t)M, abuf, kcq, bp, nq, mc, cols, first);
            if (nq == kcq) continue;
            for (int ir = 0; ir < mc; ir += Q8_MR) {
                const int rows = mc - ir < Q8_MR ? mc - ir : Q8_MR;
                tile_any(rows, kcq - nq, abuf + (size_t)ir * kcq + nq, kcq, bp + (size_t)nq * NR * 4,
                         yp + (size_t)ir * M, (size_t)M, first && !nq, cols);
            }
        }
    }
    finish_block(y, sx, row_scales(Wp, M, K), col_sums(Wp, M, K), bias, i0, mc, p0, p1, M);
}

static void forward_native(float *y, const float *x, const void *Wp, const float *bias, int N,
                           int K, int M, void *ws) {
    const int NP = panels(M);
    const lst_gemm_sched_t s = lst_gemm_sched(N, NP, 2.0 * N * K * M, Q8_MC, Q8_MR);
    const int amx = lst_q8_path() == LST_Q8_AMX && quads(K) >= 16;
#pragma omp parallel num_threads(s.threads) if (s.threads > 1)
    {
        uint32_t *abuf = (uint32_t *)ws + (size_t)omp_get_thread_num() * thread_words(K);
        if (amx) lst_q8_amx_begin();
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < s.tasks; t++) {
            int i0, rows, p0, p1;
            lst_gemm_task(&s, t, N, NP, &i0, &rows, &p0, &p1);
            block_native(y, x, Wp, bias, i0, rows, p0, p1, K, M, abuf, amx);
        }
        if (amx) lst_q8_amx_end();
    }
}

/* ---- portable path ----------------------------------------------------------- */

void lst_matmul_forward_q8_portable(float *y, const float *x, const void *Wp, const float *bias,
                                    int N, int K, int M, void *ws) {
    if (lst_gemm_trivial(y, bias, N, K, M)) return;
    const int8_t *q = Wp;
    const float *sw = row_scales(Wp, M, K);
    const int32_t *cs = col_sums(Wp, M, K);
    const int P = lst_gemm_parts(2.0 * N * K * M, N);
#pragma omp parallel for num_threads(P) if (P > 1)
    for (int p = 0; p < P; p++) {
        uint8_t *u = (uint8_t *)((uint32_t *)ws + (size_t)omp_get_thread_num() * thread_words(K));
        const int lo = (int)((long)N * p / P), hi = (int)((long)N * (p + 1) / P);
        for (int n = lo; n < hi; n++) {
            const float *xr = x + (size_t)n * K;
            float sx, inv;
            scale_of(row_amax(xr, K), &sx, &inv);
            for (int k = 0; k < K; k++) u[k] = (uint8_t)(quant(xr[k], inv) + 128);
            for (int m = 0; m < M; m++) {
                int32_t acc = 0;
                for (int k = 0; k < K; k++) acc += (int32_t)u[k] * q[at(m, k, K)];
                y[(size_t)n * M + m] = finish(acc, cs[m], sx, sw[m], bias ? bias[m] : 0.0f);
            }
        }
    }
}

/* ---- entry point ------------------------------------------------------------- */

void lst_matmul_forward_q8(float *y, const float *x, const void *Wp, const float *bias, int N,
                           int K, int M, void *ws) {
    if (lst_gemm_trivial(y, bias, N, K, M)) return;
    if (lst_q8_path() >= LST_Q8_VNNI) forward_native(y, x, Wp, bias, N, K, M, ws);
    else lst_matmul_forward_q8_portable(y, x, Wp, bias, N, K, M, ws);
}
