/* half.c: IEEE binary16 conversions (half.h). */
#include "half.h"

#include <string.h>

uint16_t lst_f16_from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* 65520 and up: infinity */
    uint32_t h, rem, halfway;
    if (a >= 0x38800000u) { /* normal: drop 13 mantissa bits, rebias 127 -> 15 */
        h = (a >> 13) - ((127u - 15u) << 10);
        rem = a & 0x1fffu;
        halfway = 0x1000u;
    } else if (a >= 0x33000000u) { /* subnormal: units of 2^-24 */
        const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, shift = 126u - e;
        h = m >> shift;
        rem = m & ((1u << shift) - 1u);
        halfway = 1u << (shift - 1u);
    } else {
        return (uint16_t)sign; /* below 2^-25 (or exactly it: ties to even 0) */
    }
    if (rem > halfway || (rem == halfway && (h & 1u))) h++; /* a carry moves the exponent up */
    return (uint16_t)(sign | h);
}

float lst_f16_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalize */
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400));
            man &= 0x3ff;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}
