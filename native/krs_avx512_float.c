// AVX-512 MatMul for float weights (F32, F16, BF16) against float
// activations: a register tile of up to 4 weight rows × 4 activation
// vectors with 16 zmm accumulators. Each 16-column step loads (and for
// F16/BF16 converts) one vector per weight row and one per activation
// vector, then does one FMA per (row, vector) pair, so a weight load is
// shared by the tile's vectors and an activation load by its rows. Column
// tails use masked loads. A single vector streams one row at a time. Larger batches walk the vectors in tiles of 4
// while the tile's weight rows stay in L1.
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#include <immintrin.h>
#include "krs.h"
#include "krs_avx512_tile.h"

void krs_mm_float_512(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                      const float *x, int batch, float *out);

// wload16 loads 16 weights at p as floats; lanes outside m read as zero.
KRS_TILE_INLINE __m512 wload16(int type, const uint8_t *p, __mmask16 m, int masked) {
    switch (type) {
    case KRS_F32: return masked ? _mm512_maskz_loadu_ps(m, p) : _mm512_loadu_ps((const float *)p);
    case KRS_F16: {
        const __m256i h = masked ? _mm256_maskz_loadu_epi16(m, p) : _mm256_loadu_si256((const __m256i *)p);
        return _mm512_cvtph_ps(h);
    }
    default: {
        const __m256i h = masked ? _mm256_maskz_loadu_epi16(m, p) : _mm256_loadu_si256((const __m256i *)p);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    }
}

KRS_TILE_INLINE void f_step(int type, const uint8_t *row0, int64_t rb, const int NR, const int NT, const float *x,
                            int64_t cols, int64_t c, __mmask16 m, int masked, __m512 acc[KRS_TR][KRS_TJ]) {
    const int es = type == KRS_F32 ? 4 : 2;
    __m512 wv[KRS_TR];
    for (int i = 0; i < NR; i++) wv[i] = wload16(type, row0 + i * rb + c * es, m, masked);
    for (int j = 0; j < NT; j++) {
        const __m512 xv = masked ? _mm512_maskz_loadu_ps(m, x + j * cols + c) : _mm512_loadu_ps(x + j * cols + c);
        for (int i = 0; i < NR; i++) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
    }
}

// f_tile computes rows [r, r+NR) against vectors [b0, b0+NT); x points at
// vector b0.
KRS_TILE_INLINE void f_tile(int type, const uint8_t *row0, int64_t rb, const int NR, const int NT, const float *x,
                            int64_t cols, float *out, int64_t rows, int64_t r, int b0) {
    __m512 acc[KRS_TR][KRS_TJ];
    for (int i = 0; i < KRS_TR; i++)
        for (int j = 0; j < KRS_TJ; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) f_step(type, row0, rb, NR, NT, x, cols, c, 0, 0, acc);
    if (c < cols) f_step(type, row0, rb, NR, NT, x, cols, c, (__mmask16)((1u << (cols - c)) - 1), 1, acc);
    krs_tile_store(acc, NR, NT, out, rows, r, b0);
}

// f_row1 is the single-vector product of one row. Decode at batch 1 is
// bound by memory bandwidth, and one sequential stream per thread keeps
// the hardware prefetcher ahead better than the four of a row tile.
KRS_TILE_INLINE float f_row1(int type, const uint8_t *row, const float *x, int64_t cols) {
    const int es = type == KRS_F32 ? 4 : 2;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t c = 0;
    for (; c + 64 <= cols; c += 64) {
        a0 = _mm512_fmadd_ps(wload16(type, row + c * es, 0, 0), _mm512_loadu_ps(x + c), a0);
        a1 = _mm512_fmadd_ps(wload16(type, row + (c + 16) * es, 0, 0), _mm512_loadu_ps(x + c + 16), a1);
        a2 = _mm512_fmadd_ps(wload16(type, row + (c + 32) * es, 0, 0), _mm512_loadu_ps(x + c + 32), a2);
        a3 = _mm512_fmadd_ps(wload16(type, row + (c + 48) * es, 0, 0), _mm512_loadu_ps(x + c + 48), a3);
    }
    for (; c + 16 <= cols; c += 16) a0 = _mm512_fmadd_ps(wload16(type, row + c * es, 0, 0), _mm512_loadu_ps(x + c), a0);
    if (c < cols) {
        const __mmask16 m = (__mmask16)((1u << (cols - c)) - 1);
        a1 = _mm512_fmadd_ps(wload16(type, row + c * es, m, 1), _mm512_maskz_loadu_ps(m, x + c), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

KRS_TILE_INLINE void f_body(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows,
                            int64_t cols, const float *x, int batch, float *out) {
    if (batch == 1) {
        for (int64_t r = r0; r < r1; r++) out[r] = f_row1(type, w + r * rb, x, cols);
        return;
    }
    for (int64_t r = r0; r < r1; r += KRS_TR) {
        const uint8_t *row = w + r * rb;
        const int nr = r1 - r < KRS_TR ? (int)(r1 - r) : KRS_TR;
        for (int b0 = 0; b0 < batch; b0 += KRS_TJ) {
            const float *xb = x + (int64_t)b0 * cols;
            const int nt = batch - b0 < KRS_TJ ? batch - b0 : KRS_TJ;
#define F_CALL(NR, NT) f_tile(type, row, rb, NR, NT, xb, cols, out, rows, r, b0)
            KRS_TILE_SWITCH(F_CALL)
#undef F_CALL
        }
    }
}

void krs_mm_float_512(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                      const float *x, int batch, float *out) {
    switch (type) {
    case KRS_F32: f_body(KRS_F32, w, rb, r0, r1, rows, cols, x, batch, out); break;
    case KRS_F16: f_body(KRS_F16, w, rb, r0, r1, rows, cols, x, batch, out); break;
    default: f_body(KRS_BF16, w, rb, r0, r1, rows, cols, x, batch, out); break;
    }
}
