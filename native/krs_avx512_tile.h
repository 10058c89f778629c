// krs_avx512_tile.h: the end of an AVX-512 register tile. A tile kernel
// keeps acc[r][j], a 16-lane partial sum of W[row r]·x[vector j], for up to
// 4 rows × 4 vectors; krs_tile_store reduces all of them at once with a
// transposing shuffle tree (45 shuffles and adds instead of 16 separate
// horizontal sums) and writes out[(b0+j)*rows + r] with one masked store
// per vector. Included by the AVX-512 .c files after their target pragma.
#ifndef KRS_AVX512_TILE_H
#define KRS_AVX512_TILE_H
#include <immintrin.h>
#include <stdint.h>

#define KRS_TR 4 // rows per tile
#define KRS_TJ 4 // activation vectors per tile

#define KRS_TILE_INLINE static inline __attribute__((always_inline))

// krs_group4 returns, in 128-bit lane L, the sums of lane L of a0..a3:
// element k of lane L is a_k[4L]+a_k[4L+1]+a_k[4L+2]+a_k[4L+3].
KRS_TILE_INLINE __m512 krs_group4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    return _mm512_add_ps(_mm512_shuffle_ps(t0, t1, 0x44), _mm512_shuffle_ps(t0, t1, 0xee));
}

// krs_pair_lanes adds 128-bit lanes pairwise: [u0 L0+L1, u0 L2+L3, u1 L0+L1, u1 L2+L3].
KRS_TILE_INLINE __m512 krs_pair_lanes(__m512 u0, __m512 u1) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
}

#define KRS_STORE_J(j, v)                                                                                              \
    if (NT > j) _mm_mask_storeu_ps(out + (int64_t)(b0 + j) * rows + r, m, _mm512_extractf32x4_ps(v, j))

// krs_tile_store writes the NR×NT results of acc; entries outside the tile
// must be zero (they are summed and discarded).
KRS_TILE_INLINE void krs_tile_store(__m512 acc[KRS_TR][KRS_TJ], int NR, int NT, float *out, int64_t rows, int64_t r,
                                    int b0) {
    const __mmask8 m = (__mmask8)((1u << NR) - 1);
    if (NT == 1) {
        const __m512 u = krs_group4(acc[0][0], acc[1][0], acc[2][0], acc[3][0]);
        const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(u), _mm512_extractf32x8_ps(u, 1));
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_mask_storeu_ps(out + (int64_t)b0 * rows + r, m, s);
        return;
    }
    __m512 u[KRS_TJ];
    for (int j = 0; j < KRS_TJ; j++)
        u[j] = j < NT ? krs_group4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]) : _mm512_setzero_ps();
    const __m512 v = krs_pair_lanes(krs_pair_lanes(u[0], u[1]), krs_pair_lanes(u[2], u[3]));
    KRS_STORE_J(0, v);
    KRS_STORE_J(1, v);
    KRS_STORE_J(2, v);
    KRS_STORE_J(3, v);
}

// krs_tile_store_rows4 is krs_tile_store for row-folded accumulators:
// acc[j] holds [row 0 1 2 3] partial sums of vector j in every 128-bit
// lane; NT may be up to 2*KRS_TJ.
KRS_TILE_INLINE void krs_tile_store_rows4(__m512 *acc, int NR, int NT, float *out, int64_t rows, int64_t r, int b0) {
    const __mmask8 m = (__mmask8)((1u << NR) - 1);
    if (NT == 1) {
        const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc[0]), _mm512_extractf32x8_ps(acc[0], 1));
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_mask_storeu_ps(out + (int64_t)b0 * rows + r, m, s);
        return;
    }
    for (int h = 0; h < 2 && h * KRS_TJ < NT; h++) {
        __m512 u[KRS_TJ];
        for (int j = 0; j < KRS_TJ; j++) u[j] = h * KRS_TJ + j < NT ? acc[h * KRS_TJ + j] : _mm512_setzero_ps();
        const __m512 v = krs_pair_lanes(krs_pair_lanes(u[0], u[1]), krs_pair_lanes(u[2], u[3]));
        float *o = out + (int64_t)h * KRS_TJ * rows;
        const int n = NT - h * KRS_TJ;
        if (n > 0) _mm_mask_storeu_ps(o + (int64_t)b0 * rows + r, m, _mm512_extractf32x4_ps(v, 0));
        if (n > 1) _mm_mask_storeu_ps(o + (int64_t)(b0 + 1) * rows + r, m, _mm512_extractf32x4_ps(v, 1));
        if (n > 2) _mm_mask_storeu_ps(o + (int64_t)(b0 + 2) * rows + r, m, _mm512_extractf32x4_ps(v, 2));
        if (n > 3) _mm_mask_storeu_ps(o + (int64_t)(b0 + 3) * rows + r, m, _mm512_extractf32x4_ps(v, 3));
    }
}

// KRS_TILE_SWITCH expands CALL(NR, NT) for the run-time tile size nr×nt,
// each with constant arguments so the tile body is specialised.
#define KRS_TILE_NT(CALL, NR)                                                                                          \
    switch (nt) {                                                                                                      \
    case 1: CALL(NR, 1); break;                                                                                        \
    case 2: CALL(NR, 2); break;                                                                                        \
    case 3: CALL(NR, 3); break;                                                                                        \
    default: CALL(NR, 4); break;                                                                                       \
    }
#define KRS_TILE_NT8(CALL, NR)                                                                                         \
    switch (nt) {                                                                                                      \
    case 1: CALL(NR, 1); break;                                                                                        \
    case 2: CALL(NR, 2); break;                                                                                        \
    case 3: CALL(NR, 3); break;                                                                                        \
    case 4: CALL(NR, 4); break;                                                                                        \
    case 5: CALL(NR, 5); break;                                                                                        \
    case 6: CALL(NR, 6); break;                                                                                        \
    case 7: CALL(NR, 7); break;                                                                                        \
    default: CALL(NR, 8); break;                                                                                       \
    }
#define KRS_TILE_SWITCH8(CALL)                                                                                         \
    switch (nr) {                                                                                                      \
    case 1: KRS_TILE_NT8(CALL, 1) break;                                                                               \
    case 2: KRS_TILE_NT8(CALL, 2) break;                                                                               \
    case 3: KRS_TILE_NT8(CALL, 3) break;                                                                               \
    default: KRS_TILE_NT8(CALL, 4) break;                                                                              \
    }
#define KRS_TILE_SWITCH(CALL)                                                                                          \
    switch (nr) {                                                                                                      \
    case 1: KRS_TILE_NT(CALL, 1) break;                                                                                \
    case 2: KRS_TILE_NT(CALL, 2) break;                                                                                \
    case 3: KRS_TILE_NT(CALL, 3) break;                                                                                \
    default: KRS_TILE_NT(CALL, 4) break;                                                                               \
    }

#endif
