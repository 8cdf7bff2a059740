/* matmul_bf16.c: y = x @ W^T + b with bf16 inputs and float32 sums, for the
 * frozen backbone (see matmul_bf16.h for the numbers it computes).
 *
 * Fast path (AVX512_BF16, chosen at run time; the file builds for any
 * x86-64 because only the functions that need it carry target attributes):
 * GotoBLAS-style blocking. A task is a block of at most BF16_MC rows (and,
 * when rows are few, a group of W panels); for each block of BF16_KCP input
 * pairs it rounds its rows of x to bf16 once into its thread's slice of the
 * caller's workspace
 * (row-major, each pair of k one dword), then sweeps the W panels over it
 * with a BF16_MR x LST_BF16_NR register tile: per pair of k, NR/16 zmm loads
 * of W, BF16_MR dword broadcasts of x and BF16_MR * NR/16 vdpbf16ps into
 * float32 accumulators that stay in registers for the whole k block (24 of
 * the 32 zmm). The x block (180 KiB) and one panel's k slice (96 KiB) live
 * in L2; the hardware prefetcher streams both, which measured as well as
 * 16 KiB L1-sized slices and makes 6x fewer passes over y. Edge tiles (rows
 * or columns past the end) run the same kernel on a zero-padded copy. */
#include "matmul_bf16.h"

#include <immintrin.h>
#include <omp.h>
#include <string.h>

#include "gemm_sched.h"

#define NR LST_BF16_NR
#define NV (NR / 16) /* zmm vectors per tile row */
#ifndef BF16_MR
#define BF16_MR 6 /* rows per register tile: 6 x 4 accumulators + 4 W + 1 x */
#endif
#ifndef BF16_KCP
#define BF16_KCP 384 /* k pairs per block: a panel's slice (96 KiB) and x's (180 KiB) sit in L2 */
#endif
#ifndef BF16_MC
#define BF16_MC 120 /* rows per block and per task (multiple of BF16_MR) */
#endif
#define MC_PAD (((BF16_MC + BF16_MR - 1) / BF16_MR) * BF16_MR)

#define TGT __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))

static int kpairs(int K) { return (K + 1) / 2; }
static int panels(int M) { return (M + NR - 1) / NR; }

size_t lst_bf16_packed_size(int M, int K) {
    if (M <= 0 || K <= 0) return 0;
    return (size_t)panels(M) * NR * (size_t)kpairs(K) * 2;
}

/* packed[((p * Kp + kp) * NR + j) * 2 + t] = bf16(W[p * NR + j, 2 * kp + t]) */
void lst_bf16_pack_weights(uint16_t *packed, const float *W, int M, int K) {
    const int Kp = kpairs(K), P = panels(M);
    for (int p = 0; p < P; p++)
        for (int kp = 0; kp < Kp; kp++) {
            uint16_t *d = packed + ((size_t)p * Kp + kp) * NR * 2;
            for (int j = 0; j < NR; j++) {
                const int m = p * NR + j;
                for (int t = 0; t < 2; t++) {
                    const int k = 2 * kp + t;
                    d[2 * j + t] = (m < M && k < K) ? lst_bf16_from_float(W[(size_t)m * K + k]) : 0;
                }
            }
        }
}

void lst_bf16_unpack_weights(float *W, const uint16_t *packed, int M, int K) {
    const int Kp = kpairs(K);
    for (int m = 0; m < M; m++) {
        const uint16_t *panel = packed + (size_t)(m / NR) * Kp * NR * 2 + 2 * (m % NR);
        for (int k = 0; k < K; k++)
            W[(size_t)m * K + k] = lst_bf16_to_float(panel[(size_t)(k / 2) * NR * 2 + (k & 1)]);
    }
}

void lst_bf16_round(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = lst_bf16_to_float(lst_bf16_from_float(x[i]));
}

int lst_bf16_native(void) { return lst_cpu_avx512(1); }

/* ---- AVX512_BF16 path ------------------------------------------------------ */

/* Each thread's bf16 copy of one x block: [MC_PAD rows][kcp pairs], kcp =
 * min(BF16_KCP, pairs of K), for LST_MAX_THREADS threads; rows of x do not
 * enter it, so one workspace serves every N. */
static size_t thread_words(int K) {
    const int kcp = kpairs(K) < BF16_KCP ? kpairs(K) : BF16_KCP;
    return (size_t)MC_PAD * (size_t)(kcp > 0 ? kcp : 1);
}

size_t lst_bf16_workspace(int K, int M) {
    if (!lst_bf16_native()) return 0; /* the portable path needs none */
    return (size_t)LST_MAX_THREADS * thread_words(K) * sizeof(uint32_t);
}

/* dst: [rows_pad, kcp] pairs; rows past `rows` and k past `kend` are zero.
 * x: row-major with row stride ldx, starting at column k0. */
TGT static void convert_block(uint32_t *dst, const float *x, size_t ldx, int rows, int rows_pad,
                              int k0, int kend, int kcp) {
    const int n = kend - k0, width = 2 * kcp;
    for (int r = 0; r < rows; r++) {
        const float *s = x + (size_t)r * ldx + k0;
        uint16_t *d = (uint16_t *)(dst + (size_t)r * kcp);
        int i = 0;
        for (; i + 32 <= n; i += 32) {
            __m512 lo = _mm512_loadu_ps(s + i), hi = _mm512_loadu_ps(s + i + 16);
            _mm512_storeu_si512((void *)(d + i), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
        for (; i < width; i += 32) {
            int left = n - i;
            left = left < 0 ? 0 : left;
            const int nhi = left >= 32 ? 16 : left <= 16 ? 0 : left - 16;
            const __mmask16 mlo = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
            const __mmask16 mhi = (__mmask16)(nhi == 16 ? 0xffff : (1u << nhi) - 1);
            __m512 lo = _mm512_maskz_loadu_ps(mlo, s + i);
            __m512 hi = _mm512_maskz_loadu_ps(mhi, s + i + 16);
            const int w = width - i < 32 ? width - i : 32;
            const __mmask32 mst = (__mmask32)(w >= 32 ? 0xffffffffu : (1u << w) - 1);
            _mm512_mask_storeu_epi16((void *)(d + i), mst, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
    for (int r = rows; r < rows_pad; r++) memset(dst + (size_t)r * kcp, 0, sizeof(uint32_t) * kcp);
}

/* The register tile: c[BF16_MR, NR] (row stride ldc) = (first ? bias : c) +
 * sum over kcp pairs of a[r, kp] . b[kp, j].
 * a: [BF16_MR, lda] pairs; b: a panel slice, NR * 2 bf16 per pair. */
TGT static void tile(int kcp, const uint32_t *a, int lda, const uint16_t *b, float *c, size_t ldc,
                     int first, const float *bias) {
    __m512 acc[BF16_MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < BF16_MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) {
            acc[r][v] = _mm512_setzero_ps();
#ifndef BF16_NO_PREFETCH_C
            _mm_prefetch((const char *)(c + (size_t)r * ldc + 16 * v), _MM_HINT_T0);
#endif
        }
    for (int kp = 0; kp < kcp; kp++) {
        __m512bh bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            bv[v] = (__m512bh)_mm512_loadu_si512((const void *)(b + (size_t)kp * 2 * NR + 32 * v));
#pragma GCC unroll 16
        for (int r = 0; r < BF16_MR; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[(size_t)r * lda + kp]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < BF16_MR; r++) {
        float *cr = c + (size_t)r * ldc;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) {
            __m512 t = acc[r][v];
            if (!first) t = _mm512_add_ps(t, _mm512_loadu_ps(cr + 16 * v));
            else if (bias) t = _mm512_add_ps(t, _mm512_loadu_ps(bias + 16 * v));
            _mm512_storeu_ps(cr + 16 * v, t);
        }
    }
}

/* A tile that sticks out past row `rows` or column `cols` of y: run on a
 * padded copy, then copy the valid part back. */
TGT static void edge_tile(int kcp, const uint32_t *a, int lda, const uint16_t *b, float *c,
                          size_t ldc, int first, const float *bias, int rows, int cols) {
    float tmp[BF16_MR * NR] __attribute__((aligned(64)));
    for (int r = 0; r < BF16_MR; r++)
        for (int j = 0; j < NR; j++)
            tmp[r * NR + j] = (r < rows && j < cols) ? (first ? (bias ? bias[j] : 0.0f)
                                                              : c[(size_t)r * ldc + j])
                                                     : 0.0f;
    tile(kcp, a, lda, b, tmp, NR, 0, NULL);
    for (int r = 0; r < rows; r++) memcpy(c + (size_t)r * ldc, tmp + r * NR, sizeof(float) * cols);
}

/* One task: rows [i0, i0 + mc) (mc <= BF16_MC) and panels [p0, p1) of y, on
 * the calling thread. */
TGT static void block_native(float *y, const float *x, const uint16_t *Wp, const float *bias,
                             int i0, int mc, int p0, int p1, int K, int M, uint32_t *abuf) {
    const int Kp = kpairs(K);
    const int mc_pad = ((mc + BF16_MR - 1) / BF16_MR) * BF16_MR;
    for (int kp0 = 0; kp0 < Kp; kp0 += BF16_KCP) {
        const int kcp = Kp - kp0 < BF16_KCP ? Kp - kp0 : BF16_KCP;
        const int kend = 2 * (kp0 + kcp) < K ? 2 * (kp0 + kcp) : K;
        const int first = kp0 == 0;
        convert_block(abuf, x + (size_t)i0 * K, (size_t)K, mc, mc_pad, 2 * kp0, kend, kcp);
        for (int p = p0; p < p1; p++) {
            const uint16_t *bp = Wp + ((size_t)p * Kp + kp0) * NR * 2;
            const int cols = M - p * NR < NR ? M - p * NR : NR;
            const float *bb = bias ? bias + (size_t)p * NR : NULL;
            for (int ir = 0; ir < mc; ir += BF16_MR) {
                const int rows = mc - ir < BF16_MR ? mc - ir : BF16_MR;
                float *c = y + (size_t)(i0 + ir) * M + (size_t)p * NR;
                const uint32_t *a = abuf + (size_t)ir * kcp;
                if (rows == BF16_MR && cols == NR)
                    tile(kcp, a, kcp, bp, c, (size_t)M, first, bb);
                else
                    edge_tile(kcp, a, kcp, bp, c, (size_t)M, first, bb, rows, cols);
            }
        }
    }
}

static void forward_native(float *y, const float *x, const uint16_t *Wp, const float *bias, int N,
                           int K, int M, void *ws) {
    const int NP = panels(M);
    const lst_gemm_sched_t s = lst_gemm_sched(N, NP, 2.0 * N * K * M, BF16_MC, BF16_MR);
#pragma omp parallel num_threads(s.threads) if (s.threads > 1)
    {
        uint32_t *abuf = (uint32_t *)ws + (size_t)omp_get_thread_num() * thread_words(K);
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < s.tasks; t++) {
            int i0, rows, p0, p1;
            lst_gemm_task(&s, t, N, NP, &i0, &rows, &p0, &p1);
            block_native(y, x, Wp, bias, i0, rows, p0, p1, K, M, abuf);
        }
    }
}

/* ---- portable path ----------------------------------------------------------- */

/* Same sums as vdpbf16ps lane by lane: acc += x1 * w1, then acc += x0 * w0
 * (each product of two bf16 is exact in float). */
void lst_matmul_forward_bf16_portable(float *y, const float *x, const uint16_t *Wp,
                                      const float *bias, int N, int K, int M) {
    if (lst_gemm_trivial(y, bias, N, K, M)) return;
    const int Kp = kpairs(K), NP = panels(M);
    const int P = lst_gemm_parts(2.0 * N * K * M, N);
#pragma omp parallel for num_threads(P) if (P > 1)
    for (int p = 0; p < P; p++) {
        const int lo = (int)((long)N * p / P), hi = (int)((long)N * (p + 1) / P);
        for (int n = lo; n < hi; n++) {
            const float *xr = x + (size_t)n * K;
            for (int q = 0; q < NP; q++) {
                float acc[NR] = {0};
                for (int kp = 0; kp < Kp; kp++) {
                    const float x0 = lst_bf16_to_float(lst_bf16_from_float(xr[2 * kp]));
                    const float x1 = 2 * kp + 1 < K
                                         ? lst_bf16_to_float(lst_bf16_from_float(xr[2 * kp + 1]))
                                         : 0.0f;
                    const uint16_t *w = Wp + ((size_t)q * Kp + kp) * NR * 2;
                    for (int j = 0; j < NR; j++) {
                        acc[j] += x1 * lst_bf16_to_float(w[2 * j + 1]);
                        acc[j] += x0 * lst_bf16_to_float(w[2 * j]);
                    }
                }
                const int cols = M - q * NR < NR ? M - q * NR : NR;
                float *o = y + (size_t)n * M + (size_t)q * NR;
                for (int j = 0; j < cols; j++) o[j] = acc[j] + (bias ? bias[q * NR + j] : 0.0f);
            }
        }
    }
}

/* ---- entry points ---------------------------------------------------------- */

void lst_matmul_forward_bf16(float *y, const float *x, const uint16_t *Wp, const float *bias, int N,
                             int K, int M, void *ws) {
    if (lst_gemm_trivial(y, bias, N, K, M)) return;
    if (lst_bf16_native()) forward_native(y, x, Wp, bias, N, K, M, ws);
    else lst_matmul_forward_bf16_portable(y, x, Wp, bias, N, K, M);
}

void lst_matmul_forward_bf16_ref(float *y, const float *x, const float *W, const float *bias, int N,
                                 int K, int M) {
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += lst_bf16_to_float(lst_bf16_from_float(x[(size_t)n * K + k])) *
                     lst_bf16_to_float(lst_bf16_from_float(W[(size_t)m * K + k]));
            y[(size_t)n * M + m] = s + (bias ? bias[m] : 0.0f);
        }
}
