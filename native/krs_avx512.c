// AVX-512 level: the AVX2 kernels of krs_x86_impl.h for the float paths,
// plus 512-bit Q8_0/Q4_0 kernels built on AVX-512 VNNI.
//
// The int8 kernels take two weight blocks per zmm register. Weights are
// made unsigned (Q8_0: w+128; Q4_0: the raw nibble q = w+8) so vpdpbusd can
// multiply them with the signed activations; the offset is taken out by
// seeding the accumulator with -zp/8·Σa in each lane, precomputed per
// activation block by quant_q8_512. Each step handles two weight rows
// against up to four activation vectors, so activation loads are shared.
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#include <stdint.h>
#include "krs.h"

#define KRS_SUFFIX avx512
#define KRS_NAME "avx512"
#define KRS_VNNI 1
#define KRS_MM_Q8 mm_q8_512
#define KRS_QUANT_Q8 quant_q8_512
static void mm_q8_512(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                      const int8_t *xq, const float *xd, int batch, float *out);
static void quant_q8_512(const float *x, int64_t n, int8_t *q, float *d, int zp);
#include "krs_x86_impl.h"

static void quant_q8_512(const float *x, int64_t n, int8_t *q, float *d, int zp) {
    FN(quant_q8)(x, n, q, d, zp);
    const int64_t nb = n / 32;
    int32_t *corr = (int32_t *)(void *)(d + nb);
    float *dexp = d + 9 * nb;
    const int per_lane = zp / 8;
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(q + ib * 32));
        // Σ of 32 int8 via vpdpbusd against ones (u8 1 × s8 v).
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), v);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        const int32_t sum = _mm_cvtsi128_si32(h);
        _mm256_storeu_si256((__m256i *)(corr + 8 * ib), _mm256_set1_epi32(-per_lane * sum));
        _mm256_storeu_ps(dexp + 8 * ib, _mm256_set1_ps(d[ib]));
    }
}

KRS_INLINE __m256i wu256(const uint8_t *blk, int isq4) {
    if (isq4) {
        __m128i t = _mm_loadu_si128((const __m128i *)(blk + 2));
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
    }
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), _mm256_set1_epi8((char)0x80));
}

KRS_INLINE __m512i zext256i(__m256i v) { return _mm512_inserti64x4(_mm512_setzero_si512(), v, 0); }
KRS_INLINE __m512 zext256(__m256 v) { return _mm512_insertf32x8(_mm512_setzero_ps(), v, 0); }

KRS_INLINE void tile512(const uint8_t *row0, int64_t rb, int NR, int NT, int64_t nb, int isq4, const int8_t *xq,
                        const float *xd, int64_t cols, float res[2][4]) {
    const int64_t bb = isq4 ? 18 : 34, stride = nb * KRS_XD_STRIDE;
    __m512 acc[2][4];
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NT; j++) acc[r][j] = _mm512_setzero_ps();
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        __m512i wu[2];
        __m512 dwv[2];
        for (int r = 0; r < NR; r++) {
            const uint8_t *a = row0 + r * rb + ib * bb, *b = a + bb;
            wu[r] = _mm512_inserti64x4(_mm512_castsi256_si512(wu256(a, isq4)), wu256(b, isq4), 1);
            dwv[r] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(fp16x(a))), _mm256_set1_ps(fp16x(b)), 1);
        }
        for (int j = 0; j < NT; j++) {
            const float *xdj = xd + j * stride;
            const __m512i corr = _mm512_loadu_si512((const void *)(xdj + nb + 8 * ib));
            const __m512 da = _mm512_loadu_ps(xdj + 9 * nb + 8 * ib);
            const __m512i av = _mm512_loadu_si512((const void *)(xq + j * cols + ib * 32));
            for (int r = 0; r < NR; r++) {
                __m512i s = _mm512_dpbusd_epi32(corr, wu[r], av);
                acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dwv[r], da), acc[r][j]);
            }
        }
    }
    if (ib < nb) { // odd block count: last block in the low half
        __m512i wu[2];
        __m512 dwv[2];
        for (int r = 0; r < NR; r++) {
            const uint8_t *a = row0 + r * rb + ib * bb;
            wu[r] = zext256i(wu256(a, isq4));
            dwv[r] = zext256(_mm256_set1_ps(fp16x(a)));
        }
        for (int j = 0; j < NT; j++) {
            const float *xdj = xd + j * stride;
            const __m512i corr = zext256i(_mm256_loadu_si256((const __m256i *)(xdj + nb + 8 * ib)));
            const __m512 da = zext256(_mm256_loadu_ps(xdj + 9 * nb + 8 * ib));
            const __m512i av = zext256i(_mm256_loadu_si256((const __m256i *)(xq + j * cols + ib * 32)));
            for (int r = 0; r < NR; r++) {
                __m512i s = _mm512_dpbusd_epi32(corr, wu[r], av);
                acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dwv[r], da), acc[r][j]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NT; j++) res[r][j] = _mm512_reduce_add_ps(acc[r][j]);
}

#define TILE_CASES(NR)                                                                                                 \
    switch (nt) {                                                                                                      \
    case 1: tile512(row, rb, NR, 1, nb, isq4, q, d, cols, res); break;                                                 \
    case 2: tile512(row, rb, NR, 2, nb, isq4, q, d, cols, res); break;                                                 \
    case 3: tile512(row, rb, NR, 3, nb, isq4, q, d, cols, res); break;                                                 \
    default: tile512(row, rb, NR, 4, nb, isq4, q, d, cols, res); break;                                                \
    }

KRS_INLINE void body512(int isq4, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                        const int8_t *xq, const float *xd, int batch, float *out) {
    const int64_t nb = cols / 32;
    float res[2][4];
    for (int64_t r = r0; r < r1;) {
        const uint8_t *row = w + r * rb;
        const int nr = r + 2 <= r1 ? 2 : 1;
        for (int b0 = 0; b0 < batch; b0 += 4) {
            const int8_t *q = xq + (int64_t)b0 * cols;
            const float *d = xd + (int64_t)b0 * nb * KRS_XD_STRIDE;
            const int nt = batch - b0 < 4 ? batch - b0 : 4;
            if (nr == 2) {
                TILE_CASES(2)
            } else {
                TILE_CASES(1)
            }
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < nt; j++) out[(int64_t)(b0 + j) * rows + r + i] = res[i][j];
        }
        r += nr;
    }
}

static void mm_q8_512(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                      const int8_t *xq, const float *xd, int batch, float *out) {
    if (type == KRS_Q4_0)
        body512(1, w, rb, r0, r1, rows, cols, xq, xd, batch, out);
    else
        body512(0, w, rb, r0, r1, rows, cols, xq, xd, batch, out);
}
