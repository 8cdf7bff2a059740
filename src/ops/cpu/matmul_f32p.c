/* matmul_f32p.c: y = x @ W^T + b on float32 weights packed once (see
 * matmul_f32p.h for the layout and the sums).
 *
 * AVX-512 path: GotoBLAS-style blocking without packing x. A task is a block
 * of at most F32P_MC rows (and a group of panels when rows are few); for
 * each block of KC inputs it sweeps the panels over its rows with a
 * F32P_MR x NR register tile: per k, NR/16 zmm loads of W, F32P_MR
 * broadcasts of x straight from its rows and F32P_MR * NR/16 FMAs into
 * accumulators that stay in registers for the whole k block (24 of the 32
 * zmm). The panel's k slice (64 KiB) and the rows' (at most 120 KiB) stay
 * in L2. Row tails run a tile specialised for 1..5 rows, column tails (a
 * narrow last panel) masked loads and stores: nothing is copied. */
#include "matmul_f32p.h"

#include <immintrin.h>
#include <math.h>

#include "gemm_sched.h"

#define NR LST_F32P_NR
#define KC LST_F32P_KC
#define NV (NR / 16)
#define F32P_MR 6   /* rows per register tile: 6 x 4 accumulators + 4 W + 1 x */
#define F32P_MC 120 /* rows per block and per task (multiple of F32P_MR) */

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl")))

static int panels(int M) { return (M + NR - 1) / NR; }
static int panel_width(int M, int p) { return M - p * NR < NR ? M - p * NR : NR; }

/* packed[p * NR * K + k * w + j] = W[p * NR + j, k], w = panel_width(M, p) */
void lst_f32p_pack_weights(float *packed, const float *W, int M, int K) {
    for (int p = 0; p < panels(M); p++) {
        const int w = panel_width(M, p);
        float *d = packed + (size_t)p * NR * K;
        for (int j = 0; j < w; j++) {
            const float *s = W + (size_t)(p * NR + j) * K;
            for (int k = 0; k < K; k++) d[(size_t)k * w + j] = s[k];
        }
    }
}

void lst_f32p_unpack_weights(float *W, const float *packed, int M, int K) {
    for (int p = 0; p < panels(M); p++) {
        const int w = panel_width(M, p);
        const float *s = packed + (size_t)p * NR * K;
        for (int j = 0; j < w; j++) {
            float *d = W + (size_t)(p * NR + j) * K;
            for (int k = 0; k < K; k++) d[k] = s[(size_t)k * w + j];
        }
    }
}

int lst_f32p_native(void) { return lst_cpu_avx512(0); }

/* ---- AVX-512 path ---------------------------------------------------------- */

/* The register tile: c[R, w] (row stride ldc) = (first ? bias : c) + sum over
 * kc inputs of a[r, k] * b[k, j]. a: R rows of x (row stride lda); b: a
 * panel's k slice, w floats per k. R is a constant at every call site (the
 * loops unroll), mask says which of the NR columns exist (all ones for a
 * full panel). */
TGT static inline __attribute__((always_inline)) void
tile(const int R, int kc, const float *a, size_t lda, const float *b, int w, float *c, size_t ldc,
     int first, const float *bias, const __mmask16 *mask, const int full) {
    __m512 acc[F32P_MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            acc[r][v] = _mm512_setzero_ps();
            _mm_prefetch((const char *)(c + (size_t)r * ldc + 16 * v), _MM_HINT_T0);
        }
    for (int k = 0; k < kc; k++) {
        __m512 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = full ? _mm512_loadu_ps(b + (size_t)k * NR + 16 * v)
                         : _mm512_maskz_loadu_ps(mask[v], b + (size_t)k * w + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 av = _mm512_set1_ps(a[(size_t)r * lda + k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        float *cr = c + (size_t)r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __m512 t = acc[r][v];
            if (full) {
                if (!first) t = _mm512_add_ps(t, _mm512_loadu_ps(cr + 16 * v));
                else if (bias) t = _mm512_add_ps(t, _mm512_loadu_ps(bias + 16 * v));
                _mm512_storeu_ps(cr + 16 * v, t);
            } else {
                if (!first) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(mask[v], cr + 16 * v));
                else if (bias) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(mask[v], bias + 16 * v));
                _mm512_mask_storeu_ps(cr + 16 * v, mask[v], t);
            }
        }
    }
}

/* tile() for R = rows (1..F32P_MR), full or masked: one specialisation each. */
TGT static void tile_any(int rows, int kc, const float *a, size_t lda, const float *b, int w,
                         float *c, size_t ldc, int first, const float *bias) {
    __mmask16 mask[NV];
    for (int v = 0; v < NV; v++) {
        const int left = w - 16 * v;
        mask[v] = (__mmask16)(left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1);
    }
#define CASE(R)                                                                          \
    case R:                                                                              \
        if (w == NR) tile(R, kc, a, lda, b, w, c, ldc, first, bias, mask, 1);            \
        else tile(R, kc, a, lda, b, w, c, ldc, first, bias, mask, 0);                    \
        break;
    switch (rows) {
        CASE(1)
        CASE(2)
        CASE(3)
        CASE(4)
        CASE(5)
        CASE(6)
    }
#undef CASE
}

TGT void lst_f32p_rows_native(float *y, size_t ldy, const float *x, size_t ldx, const float *b,
                              int w, int kc, int rows, int first, const float *bias) {
    for (int ir = 0; ir < rows; ir += F32P_MR)
        tile_any(rows - ir < F32P_MR ? rows - ir : F32P_MR, kc, x + (size_t)ir * ldx, ldx, b, w,
                 y + (size_t)ir * ldy, ldy, first, bias);
}

/* One task: rows [i0, i0 + mc) and panels [p0, p1) of y. */
TGT static void block_native(float *y, const float *x, const float *Wp, const float *bias, int i0,
                             int mc, int p0, int p1, int K, int M) {
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC, first = k0 == 0;
        for (int p = p0; p < p1; p++) {
            const int w = panel_width(M, p);
            const float *bp = Wp + (size_t)p * NR * K + (size_t)k0 * w;
            const float *bb = bias ? bias + (size_t)p * NR : NULL;
            for (int ir = 0; ir < mc; ir += F32P_MR) {
                const int rows = mc - ir < F32P_MR ? mc - ir : F32P_MR;
                tile_any(rows, kc, x + (size_t)(i0 + ir) * K + k0, (size_t)K, bp, w,
                         y + (size_t)(i0 + ir) * M + (size_t)p * NR, (size_t)M, first, bb);
            }
        }
    }
}

static void forward_native(float *y, const float *x, const float *Wp, const float *bias, int N,
                           int K, int M) {
    const int NP = panels(M);
    const lst_gemm_sched_t s = lst_gemm_sched(N, NP, 2.0 * N * K * M, F32P_MC, F32P_MR);
#pragma omp parallel for schedule(dynamic, 1) num_threads(s.threads) if (s.threads > 1)
    for (int t = 0; t < s.tasks; t++) {
        int i0, rows, p0, p1;
        lst_gemm_task(&s, t, N, NP, &i0, &rows, &p0, &p1);
        block_native(y, x, Wp, bias, i0, rows, p0, p1, K, M);
    }
}

/* ---- portable path ----------------------------------------------------------- */

void lst_matmul_forward_f32p_portable(float *y, const float *x, const float *Wp,
                                      const float *bias, int N, int K, int M) {
    if (lst_gemm_trivial(y, bias, N, K, M)) return;
    const int P = lst_gemm_parts(2.0 * N * K * M, N);
#pragma omp parallel for num_threads(P) if (P > 1)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * K;
        for (int p = 0; p < panels(M); p++) {
            const int w = panel_width(M, p);
            float *o = y + (size_t)n * M + (size_t)p * NR;
            for (int k0 = 0; k0 < K; k0 += KC) {
                const int kend = K - k0 < KC ? K : k0 + KC;
                float acc[NR] = {0};
                for (int k = k0; k < kend; k++) {
                    const float *wk = Wp + (size_t)p * NR * K + (size_t)k * w;
                    for (int j = 0; j < w; j++) acc[j] = fmaf(xr[k], wk[j], acc[j]);
                }
                for (int j = 0; j < w; j++)
                    o[j] = k0 ? o[j] + acc[j] : bias ? acc[j] + bias[p * NR + j] : acc[j];
            }
        }
    }
}

/* ---- entry point ------------------------------------------------------------- */

void lst_matmul_forward_f32p(float *y, const float *x, const float *Wp, const float *bias, int N,
                             int K, int M) {
    if (lst_gemm_trivial(y, bias, N, K, M)) return;
    if (lst_f32p_native()) forward_native(y, x, Wp, bias, N, K, M);
    else lst_matmul_forward_f32p_portable(y, x, Wp, bias, N, K, M);
}
