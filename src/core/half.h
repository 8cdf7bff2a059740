/* half.h: the 16-bit float formats' conversions, one place for every
 * layer: IEEE binary16 (f16) and bfloat16 (bf16) to and from float32.
 * Narrowing rounds to nearest, ties to even; widening is exact. */
#ifndef LST_HALF_H
#define LST_HALF_H

#include <stdint.h>

/* float -> bf16 bits, round to nearest even, subnormals -> signed zero, NaN
 * stays a (quiet) NaN; and back (exact). */
static inline uint16_t lst_bf16_from_float(float f) {
    union { float f; uint32_t u; } v = {f};
    uint32_t u = v.u;
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static inline float lst_bf16_to_float(uint16_t h) {
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}

/* float -> binary16 bits: round to nearest even, subnormals kept, values
 * past 65504 (from 65520 on) to infinity, NaN stays a quiet NaN. */
uint16_t lst_f16_from_float(float f);
/* binary16 -> float, exact (subnormals, infinities, NaN). */
float lst_f16_to_float(uint16_t h);

#endif
