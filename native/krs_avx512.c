// AVX-512 level: 512-bit Q8_0/Q4_0 kernels built on AVX-512 VNNI (this
// file), 512-bit float-weight kernels (krs_avx512_float.c), and the AVX2
// kernels of krs_x86_impl.h for Q4_K and the vector operations.
//
// The int8 kernels take two weight blocks per zmm register. Weights are
// made unsigned (Q8_0: w+128; Q4_0: the raw nibble q = w+8) so vpdpbusd can
// multiply them with the signed activations; the offset is taken out by
// seeding the accumulator with -zp/8·Σa in each lane, precomputed per
// activation block by quant_q8_512. A register tile covers 4 weight rows
// × up to 8 activation vectors: each weight block pair is loaded once per
// tile and each activation block pair once per 4 rows, and the four rows'
// sums are folded into one register before they are scaled (q8_step).
// Larger batches walk the vectors tile by tile while the rows stay in L1.
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#include <stdint.h>
#include "krs.h"
#include "krs_avx512_tile.h"

#define KRS_QJ 8 // activation vectors per int8 tile

#define KRS_SUFFIX avx512
#define KRS_NAME "avx512"
#define KRS_VNNI 1
#define KRS_MM_Q8 mm_q8_512
#define KRS_QUANT_Q8 quant_q8_512
static void mm_q8_512(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                      const int8_t *xq, const float *xd, int batch, float *out);
static void quant_q8_512(const float *x, int64_t n, int8_t *q, float *d, int zp);
#define KRS_MM_FLOAT krs_mm_float_512
void krs_mm_float_512(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                      const float *x, int batch, float *out);
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

// wu512 loads the weight block pair at a (block a and the next one) as
// unsigned bytes in the order of the activations: Q8_0 values + 128, Q4_0
// nibbles with the low nibbles of a block before its high ones.
KRS_INLINE __m512i wu512(const uint8_t *a, int isq4) {
    if (isq4) {
        const __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(a + 2))),
                                                  _mm_loadu_si128((const __m128i *)(a + 20)), 1);
        __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(y), _mm256_srli_epi16(y, 4), 1);
        z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)); // [lo a, hi a, lo b, hi b]
        return _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
    }
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 2))),
                                         _mm256_loadu_si256((const __m256i *)(a + 36)), 1);
    return _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80));
}

// dw4_512 returns the scales of four rows' block pairs at a[0..3] in the
// lane order of a folded sum (see q8_step): [a0 a1 a2 a3] in the two
// 128-bit lanes of the first block, the same for the second block. With
// tail set only the first block exists and both halves use it.
KRS_INLINE __m512 dw4_512(const uint8_t *const a[KRS_TR], int64_t bb, int tail) {
    uint16_t h[8];
    for (int i = 0; i < 4; i++) {
        memcpy(&h[i], a[i], 2);
        memcpy(&h[4 + i], a[i] + (tail ? 0 : bb), 2);
    }
    const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
    return _mm512_permutexvar_ps(_mm512_set_epi32(7, 6, 5, 4, 7, 6, 5, 4, 3, 2, 1, 0, 3, 2, 1, 0),
                                 _mm512_castps256_ps512(f));
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

// q8_step adds one block pair (tail: one block) at block ib of rows
// row[0..3] times vectors 0..NT-1 to acc[j]. The four vpdpbusd results of
// a vector (one per row, 8 partial sums per block) are folded with two
// rounds of unpack-and-add into one vector whose 128-bit lanes hold
// [row0 row1 row2 row3] partial sums of one block, so the conversion, the
// scale multiply and the FMA are done once for four rows. That moves work
// off the multiply ports, which bound this kernel, onto the shuffle and add
// ports.
KRS_INLINE void q8_step(const uint8_t *const row[KRS_TR], const int NT, int64_t ib, int64_t nb, int isq4, int tail,
                        const int8_t *xq, const float *xd, int64_t cols, __m512 acc[KRS_QJ]) {
    const int64_t bb = isq4 ? 18 : 34, stride = nb * KRS_XD_STRIDE;
    __m512i wu[KRS_TR];
    const uint8_t *a[KRS_TR];
    for (int i = 0; i < KRS_TR; i++) {
        a[i] = row[i] + ib * bb;
        wu[i] = tail ? zext256i(wu256(a[i], isq4)) : wu512(a[i], isq4);
    }
    const __m512 dw = dw4_512(a, bb, tail);
    for (int j = 0; j < NT; j++) {
        const float *xdj = xd + j * stride;
        __m512i corr, av;
        __m512 da;
        if (tail) {
            corr = zext256i(_mm256_loadu_si256((const __m256i *)(xdj + nb + 8 * ib)));
            da = zext256(_mm256_loadu_ps(xdj + 9 * nb + 8 * ib));
            av = zext256i(_mm256_loadu_si256((const __m256i *)(xq + j * cols + ib * 32)));
        } else {
            corr = _mm512_loadu_si512((const void *)(xdj + nb + 8 * ib));
            da = _mm512_loadu_ps(xdj + 9 * nb + 8 * ib);
            av = _mm512_loadu_si512((const void *)(xq + j * cols + ib * 32));
        }
        const __m512i s0 = _mm512_dpbusd_epi32(corr, wu[0], av), s1 = _mm512_dpbusd_epi32(corr, wu[1], av);
        const __m512i s2 = _mm512_dpbusd_epi32(corr, wu[2], av), s3 = _mm512_dpbusd_epi32(corr, wu[3], av);
        const __m512i c01 = _mm512_add_epi32(_mm512_unpacklo_epi32(s0, s1), _mm512_unpackhi_epi32(s0, s1));
        const __m512i c23 = _mm512_add_epi32(_mm512_unpacklo_epi32(s2, s3), _mm512_unpackhi_epi32(s2, s3));
        const __m512i c = _mm512_add_epi32(_mm512_unpacklo_epi64(c01, c23), _mm512_unpackhi_epi64(c01, c23));
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c), _mm512_mul_ps(dw, da), acc[j]);
    }
}

// q8_tile512 computes rows [r, r+NR) against vectors [b0, b0+NT); xq and
// xd point at vector b0. A tile of fewer than 4 rows repeats its last row
// and discards those sums.
KRS_INLINE void q8_tile512(const uint8_t *row0, int64_t rb, const int NR, const int NT, int64_t nb, int isq4,
                           const int8_t *xq, const float *xd, int64_t cols, float *out, int64_t rows, int64_t r,
                           int b0) {
    const uint8_t *row[KRS_TR];
    for (int i = 0; i < KRS_TR; i++) row[i] = row0 + (i < NR ? i : NR - 1) * rb;
    __m512 acc[KRS_QJ];
    for (int j = 0; j < KRS_QJ; j++) acc[j] = _mm512_setzero_ps();
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) q8_step(row, NT, ib, nb, isq4, 0, xq, xd, cols, acc);
    if (ib < nb) q8_step(row, NT, ib, nb, isq4, 1, xq, xd, cols, acc);
    krs_tile_store_rows4(acc, NR, NT, out, rows, r, b0);
}

KRS_INLINE void body512(int isq4, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                        const int8_t *xq, const float *xd, int batch, float *out) {
    const int64_t nb = cols / 32;
    for (int64_t r = r0; r < r1; r += KRS_TR) {
        const uint8_t *row = w + r * rb;
        const int nr = r1 - r < KRS_TR ? (int)(r1 - r) : KRS_TR;
        for (int b0 = 0; b0 < batch; b0 += KRS_QJ) {
            const int8_t *q = xq + (int64_t)b0 * cols;
            const float *d = xd + (int64_t)b0 * nb * KRS_XD_STRIDE;
            const int nt = batch - b0 < KRS_QJ ? batch - b0 : KRS_QJ;
#define Q8_CALL(NR, NT) q8_tile512(row, rb, NR, NT, nb, isq4, q, d, cols, out, rows, r, b0)
            KRS_TILE_SWITCH8(Q8_CALL)
#undef Q8_CALL
        }
    }
}

static void mm_q8_512(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                      const int8_t *xq, const float *xd, int batch, float *out) {
    if (type == KRS_Q4_0)
        body512(1, w, rb, r0, r1, rows, cols, xq, xd, batch, out);
    else
        body512(0, w, rb, r0, r1, rows, cols, xq, xd, batch, out);
}
