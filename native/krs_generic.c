// Portable C kernels: the fallback level and the definition of what the
// SIMD levels compute.
#include <math.h>
#include "krs.h"

static void quant_q8_generic(const float *x, int64_t n, int8_t *q, float *d, int zp) {
    (void)zp;
    for (int64_t ib = 0; ib < n / 32; ib++) {
        const float *xb = x + ib * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float dd = amax / 127.0f, id = dd != 0 ? 1.0f / dd : 0.0f;
        d[ib] = krs_fp16_to_fp32(krs_fp32_to_fp16(dd));
        for (int j = 0; j < 32; j++) q[ib * 32 + j] = (int8_t)roundf(xb[j] * id);
    }
}

static float load_w(int type, const uint8_t *row, int64_t c) {
    switch (type) {
    case KRS_F32: {
        float f;
        memcpy(&f, row + 4 * c, 4);
        return f;
    }
    case KRS_F16: return krs_fp16_to_fp32(krs_rd16(row + 2 * c));
    default: return krs_bf16_to_fp32(krs_rd16(row + 2 * c));
    }
}

static void mm_float_generic(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows,
                             int64_t cols, const float *x, int batch, float *out) {
    float tmp[256];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        for (int b = 0; b < batch; b++) {
            const float *xb = x + (int64_t)b * cols;
            float s = 0;
            if (type == KRS_Q4_K) {
                for (int64_t ib = 0; ib < cols / 256; ib++) {
                    krs_dequant_q4k(row + ib * 144, tmp);
                    for (int j = 0; j < 256; j++) s += tmp[j] * xb[ib * 256 + j];
                }
            } else {
                for (int64_t c = 0; c < cols; c++) s += load_w(type, row, c) * xb[c];
            }
            out[(int64_t)b * rows + r] = s;
        }
    }
}

static void mm_q8_generic(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows,
                          int64_t cols, const int8_t *xq, const float *xd, int batch, float *out) {
    const int64_t nb = cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        for (int b = 0; b < batch; b++) {
            const int8_t *qb = xq + (int64_t)b * cols;
            const float *db = xd + (int64_t)b * nb * KRS_XD_STRIDE;
            float s = 0;
            for (int64_t ib = 0; ib < nb; ib++) {
                int32_t isum = 0;
                float dw;
                if (type == KRS_Q8_0) {
                    const uint8_t *blk = row + ib * 34;
                    dw = krs_fp16_to_fp32(krs_rd16(blk));
                    for (int j = 0; j < 32; j++) isum += (int32_t)(int8_t)blk[2 + j] * qb[ib * 32 + j];
                } else {
                    const uint8_t *blk = row + ib * 18;
                    dw = krs_fp16_to_fp32(krs_rd16(blk));
                    for (int j = 0; j < 16; j++) {
                        isum += ((blk[2 + j] & 0xf) - 8) * qb[ib * 32 + j];
                        isum += ((blk[2 + j] >> 4) - 8) * qb[ib * 32 + j + 16];
                    }
                }
                s += (float)isum * (dw * db[ib]);
            }
            out[(int64_t)b * rows + r] = s;
        }
    }
}

static void rmsnorm_generic(float *out, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++) out[i] = w[i] * (scale * x[i]);
}

static void softmax_generic(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t i = 1; i < n; i++) mx = fmaxf(mx, x[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

static void swiglu_generic(float *out, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static float dot_generic(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_generic(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

const krs_ops krs_ops_generic = {
    .name = "generic",
    .quant_q8 = quant_q8_generic,
    .mm_float = mm_float_generic,
    .mm_q8 = mm_q8_generic,
    .rmsnorm = rmsnorm_generic,
    .softmax = softmax_generic,
    .swiglu = swiglu_generic,
    .dot = dot_generic,
    .axpy = axpy_generic,
};
