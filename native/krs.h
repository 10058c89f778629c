// krs.h: C kernels behind the Go package native. Every kernel exists once
// per instruction-set level; krs_dispatch.c picks a level at run time.
#ifndef KRS_H
#define KRS_H

#include <stdint.h>
#include <string.h>

enum { KRS_GENERIC = 0, KRS_AVX2 = 1, KRS_AVX512 = 2, KRS_NLEVELS = 3 };
enum { KRS_F32 = 0, KRS_F16 = 1, KRS_Q4_0 = 2, KRS_Q8_0 = 8, KRS_Q4_K = 12, KRS_BF16 = 30 };
enum { KRS_OK = 0, KRS_EINVAL = -1, KRS_ETYPE = -2, KRS_ELEVEL = -3 };

// Quantized activations: per vector, cols int8 values in xq and
// KRS_XD_STRIDE*cols/32 floats in xd: the nb block scales first, then (for
// the AVX-512 kernels) nb groups of 8 int32 zero-point corrections and nb
// groups of 8 copies of each scale.
#define KRS_XD_STRIDE 17

// Float-activation product over rows [r0,r1): out[b*rows + r] = W[r]·x[b].
typedef void (*krs_mm_float_fn)(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows,
                                int64_t cols, const float *x, int batch, float *out);
// Q8-activation product: xq holds batch vectors of cols int8, xd their
// cols/32 block scales each.
typedef void (*krs_mm_q8_fn)(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows,
                             int64_t cols, const int8_t *xq, const float *xd, int batch, float *out);

typedef struct {
    const char *name;
    void (*quant_q8)(const float *x, int64_t n, int8_t *q, float *d, int zp);
    krs_mm_float_fn mm_float; // F32, F16, BF16, Q4_K
    krs_mm_q8_fn mm_q8;       // Q8_0, Q4_0
    void (*rmsnorm)(float *out, const float *x, const float *w, int64_t n, float eps);
    void (*softmax)(float *x, int64_t n);
    void (*swiglu)(float *out, const float *g, const float *u, int64_t n);
    float (*dot)(const float *a, const float *b, int64_t n);
    void (*axpy)(float *y, float a, const float *x, int64_t n);
} krs_ops;

extern const krs_ops krs_ops_generic;
extern const krs_ops krs_ops_avx2;
extern const krs_ops krs_ops_avx512;

// Portable helpers shared by every level.
static inline float krs_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        float f = (float)mant * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t krs_fp32_to_fp16(float f) {
    const float scale_to_inf = 0x1.0p+112f, scale_to_zero = 0x1.0p-110f;
    float base = (__builtin_fabsf(f) * scale_to_inf) * scale_to_zero;
    uint32_t w;
    memcpy(&w, &f, 4);
    const uint32_t shl1_w = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xff000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    uint32_t bb = (bias >> 1) + 0x07800000u;
    float fb;
    memcpy(&fb, &bb, 4);
    base = fb + base;
    uint32_t bits;
    memcpy(&bits, &base, 4);
    const uint32_t nonsign = ((bits >> 13) & 0x7c00u) + (bits & 0x0fffu);
    return (uint16_t)((sign >> 16) | (shl1_w > 0xff000000u ? 0x7e00u : nonsign));
}

static inline uint16_t krs_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline float krs_bf16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// krs_dequant_q4k decodes one 144-byte Q4_K super-block into 256 floats.
static inline void krs_dequant_q4k(const uint8_t *b, float *y) {
    const float d = krs_fp16_to_fp32(krs_rd16(b)), dmin = krs_fp16_to_fp32(krs_rd16(b + 2));
    const uint8_t *sc = b + 4, *q = b + 16;
    for (int j = 0; j < 4; j++) {
        uint8_t s[2], m[2];
        for (int u = 0; u < 2; u++) {
            int k = 2 * j + u;
            if (k < 4) {
                s[u] = sc[k] & 63;
                m[u] = sc[k + 4] & 63;
            } else {
                s[u] = (sc[k + 4] & 0xf) | ((sc[k - 4] >> 6) << 4);
                m[u] = (sc[k + 4] >> 4) | ((sc[k] >> 6) << 4);
            }
        }
        const float d1 = d * s[0], m1 = dmin * m[0], d2 = d * s[1], m2 = dmin * m[1];
        for (int l = 0; l < 32; l++) {
            y[64 * j + l] = d1 * (float)(q[32 * j + l] & 0xf) - m1;
            y[64 * j + l + 32] = d2 * (float)(q[32 * j + l] >> 4) - m2;
        }
    }
}

// Entry points called from Go.
int krs_level_supported(int level);
const char *krs_features(void);
int krs_best_level(void);
int krs_quant_q8(int level, int type, const float *x, int64_t cols, int batch, int8_t *q, float *d);
int krs_matmul(int level, int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
               const float *x, const int8_t *xq, const float *xd, int batch, float *out);
int krs_rmsnorm(int level, float *out, const float *x, const float *w, int64_t n, float eps);
int krs_softmax(int level, float *x, int64_t n);
int krs_swiglu(int level, float *out, const float *g, const float *u, int64_t n);
int krs_rope(float *x, int64_t pos, int64_t head_dim, int64_t n_heads, float theta, float freq_scale, int neox);
int krs_attention(int level, float *out, const float *q, const float *k, const float *v, const int32_t *table,
                  int64_t n_pos, int64_t block_size, int64_t kv_dim, int64_t n_heads, int64_t n_kv_heads,
                  int64_t head_dim, float scale, int64_t h0, int64_t h1, float *scores);

#endif
