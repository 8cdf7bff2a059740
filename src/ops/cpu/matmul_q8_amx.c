/* matmul_q8_amx.c: the int8 product's inner sums on AMX tiles (tdpbusd),
 * where the CPU has AMX-INT8 and Linux grants the tile state.
 *
 * The same integers as vpdpbusd (matmul_q8.c): u8 activations (qx + 128)
 * against s8 weights, summed exactly in int32, so every path gives the same
 * bits. A 32 x 32 block of outputs is four 16 x 16 int32 tiles; per 64
 * inputs (16 quads) two A tiles (16 rows of x's quads, from the thread's
 * quantized block) and two B tiles (16 columns x 16 quads, read straight
 * from the packed panel: its 16-column groups are 64 bytes apart in a
 * 256-byte quad row, so the tile's stride is 256) feed four tdpbusd. The
 * block accumulates in y's own int32 partial sums (loaded into the tiles,
 * or zero for the first k block, and stored back); a block at the edge of
 * y's rows or columns goes through a scratch tile, added within the rows
 * and columns that exist. Quads past the last multiple of 16 go to the
 * VNNI tile. */
#include "matmul_q8_amx.h"

#include <cpuid.h>
#include <immintrin.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gemm_sched.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,amx-tile,amx-int8")))

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int detect(void) {
    unsigned a, b, c, d;
    if (!lst_cpu_avx512_vnni() || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!((d >> 24) & 1) || !((d >> 25) & 1)) return 0; /* AMX-TILE, AMX-INT8 */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3) != 3) return 0; /* the OS saves XTILECFG and XTILEDATA */
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

int lst_q8_amx_available(void) {
    static int cached = -1; /* benign race: every thread stores the same value */
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        v = detect();
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* Palette 1, eight tiles of 16 rows x 64 bytes. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64))) tile_cfg_t;

/* A constant: built at run time, GCC 12 dropped the stores ldtilecfg reads. */
static const tile_cfg_t config = {
    1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

TGT void lst_q8_amx_begin(void) { _tile_loadconfig(&config); }

TGT void lst_q8_amx_end(void) { _tile_release(); }

/* c[rows, cols] (int32, stride ldc) = (first ? 0 : c) + t[rows, cols] (stride 32). */
static void add_block(int32_t *c, size_t ldc, const int32_t *t, int rows, int cols, int first) {
    for (int r = 0; r < rows; r++) {
        int32_t *cr = c + (size_t)r * ldc;
        const int32_t *tr = t + (size_t)r * 32;
        if (first) memcpy(cr, tr, sizeof(int32_t) * (size_t)cols);
        else
            for (int j = 0; j < cols; j++) cr[j] += tr[j];
    }
}

TGT void lst_q8_amx_panel(int32_t *c, size_t ldc, const uint32_t *a, int lda, const int8_t *b,
                          int nq, int rows, int cols, int first) {
    int32_t t[32 * 32] __attribute__((aligned(64)));
    const size_t sa = (size_t)lda * 4, sc = ldc * 4; /* bytes between x rows, y rows */
    for (int r0 = 0; r0 < rows; r0 += 32)
        for (int c0 = 0; c0 < cols; c0 += 32) {
            const int nr = rows - r0 < 32 ? rows - r0 : 32, nc = cols - c0 < 32 ? cols - c0 : 32;
            /* a whole block accumulates in y itself; an edge one in t */
            const int whole = nr == 32 && nc == 32;
            int32_t *cb = c + (size_t)r0 * ldc + c0;
            if (whole && !first) {
                _tile_loadd(0, cb, sc);
                _tile_loadd(1, cb + 16, sc);
                _tile_loadd(2, cb + 16 * ldc, sc);
                _tile_loadd(3, cb + 16 * ldc + 16, sc);
            } else {
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
            }
            for (int q = 0; q < nq; q += 16) {
                const uint32_t *ar = a + (size_t)r0 * lda + q;
                const int8_t *bq = b + (size_t)q * 256 + (size_t)c0 * 4;
                _tile_loadd(4, ar, sa);
                _tile_loadd(5, ar + (size_t)16 * lda, sa);
                _tile_loadd(6, bq, 256);
                _tile_loadd(7, bq + 64, 256);
                _tile_dpbusd(0, 4, 6);
                _tile_dpbusd(1, 4, 7);
                _tile_dpbusd(2, 5, 6);
                _tile_dpbusd(3, 5, 7);
            }
            if (whole) {
                _tile_stored(0, cb, sc);
                _tile_stored(1, cb + 16, sc);
                _tile_stored(2, cb + 16 * ldc, sc);
                _tile_stored(3, cb + 16 * ldc + 16, sc);
                continue;
            }
            _tile_stored(0, t, 128);
            _tile_stored(1, t + 16, 128);
            _tile_stored(2, t + 16 * 32, 128);
            _tile_stored(3, t + 16 * 32 + 16, 128);
            add_block(cb, ldc, t, nr, nc, first);
        }
}
