// Run-time dispatch: detect the CPU once, route each entry point to the
// kernels of the requested level, and implement RoPE and paged attention
// on top of the per-level primitives.
#include <math.h>
#include <stdio.h>
#include "krs.h"

static const krs_ops *const levels[KRS_NLEVELS] = {&krs_ops_generic, &krs_ops_avx2, &krs_ops_avx512};

static int detected = -1;
static char features[256];

static void detect(void) {
    if (detected >= 0) return;
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vnni");
    snprintf(features, sizeof features, "%s%s%s%s%s%s%s", __builtin_cpu_supports("avx512f") ? "avx512f " : "",
             __builtin_cpu_supports("avx512bw") ? "avx512bw " : "",
             __builtin_cpu_supports("avx512vnni") ? "avx512vnni " : "",
             __builtin_cpu_supports("avx512bf16") ? "avx512bf16 " : "", __builtin_cpu_supports("avx2") ? "avx2 " : "",
             __builtin_cpu_supports("fma") ? "fma " : "", __builtin_cpu_supports("f16c") ? "f16c" : "");
    size_t n = strlen(features);
    if (n > 0 && features[n - 1] == ' ') features[n - 1] = 0;
    __atomic_store_n(&detected, avx512 ? KRS_AVX512 : avx2 ? KRS_AVX2 : KRS_GENERIC, __ATOMIC_RELEASE);
}

// The constructor runs before Go code, so later readers need no locking.
__attribute__((constructor)) static void krs_init(void) { detect(); }

int krs_best_level(void) { return detected; }

const char *krs_features(void) { return features; }

int krs_level_supported(int level) { return level >= 0 && level <= detected; }

#define OPS(level)                                                                                                     \
    if (!krs_level_supported(level)) return KRS_ELEVEL;                                                                \
    const krs_ops *ops = levels[level]

int krs_quant_q8(int level, int type, const float *x, int64_t cols, int batch, int8_t *q, float *d) {
    OPS(level);
    if (cols % 32 != 0 || batch < 1 || (type != KRS_Q8_0 && type != KRS_Q4_0)) return KRS_EINVAL;
    const int zp = type == KRS_Q8_0 ? 128 : 8;
    for (int b = 0; b < batch; b++)
        ops->quant_q8(x + (int64_t)b * cols, cols, q + (int64_t)b * cols, d + (int64_t)b * (cols / 32) * KRS_XD_STRIDE, zp);
    return KRS_OK;
}

int krs_matmul(int level, int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
               const float *x, const int8_t *xq, const float *xd, int batch, float *out) {
    OPS(level);
    if (r0 < 0 || r1 > rows || r0 > r1 || cols <= 0 || batch < 1) return KRS_EINVAL;
    switch (type) {
    case KRS_F32:
    case KRS_F16:
    case KRS_BF16:
        ops->mm_float(type, w, rb, r0, r1, rows, cols, x, batch, out);
        return KRS_OK;
    case KRS_Q4_K:
        if (cols % 256) return KRS_EINVAL;
        ops->mm_float(type, w, rb, r0, r1, rows, cols, x, batch, out);
        return KRS_OK;
    case KRS_Q8_0:
    case KRS_Q4_0:
        if (cols % 32) return KRS_EINVAL;
        ops->mm_q8(type, w, rb, r0, r1, rows, cols, xq, xd, batch, out);
        return KRS_OK;
    }
    return KRS_ETYPE;
}

int krs_rmsnorm(int level, float *out, const float *x, const float *w, int64_t n, float eps) {
    OPS(level);
    ops->rmsnorm(out, x, w, n, eps);
    return KRS_OK;
}

int krs_softmax(int level, float *x, int64_t n) {
    OPS(level);
    ops->softmax(x, n);
    return KRS_OK;
}

int krs_swiglu(int level, float *out, const float *g, const float *u, int64_t n) {
    OPS(level);
    ops->swiglu(out, g, u, n);
    return KRS_OK;
}

// krs_rope computes each pair's angle in double precision, the same
// formula as the Go reference, so both agree to float32 rounding.
int krs_rope(float *x, int64_t pos, int64_t head_dim, int64_t n_heads, float theta, float freq_scale, int neox) {
    if (head_dim <= 0 || head_dim % 2 || n_heads <= 0 || pos < 0) return KRS_EINVAL;
    const double fs = freq_scale == 0 ? 1.0 : (double)freq_scale;
    const int64_t half = head_dim / 2;
    for (int64_t k = 0; k < half; k++) {
        const double ang = fs * (double)pos * pow((double)theta, -2.0 * (double)k / (double)head_dim);
        const double c = cos(ang), s = sin(ang);
        for (int64_t h = 0; h < n_heads; h++) {
            int64_t i0 = h * head_dim + 2 * k, i1 = i0 + 1;
            if (neox) {
                i0 = h * head_dim + k;
                i1 = i0 + half;
            }
            const double x0 = x[i0], x1 = x[i1];
            x[i0] = (float)(x0 * c - x1 * s);
            x[i1] = (float)(x0 * s + x1 * c);
        }
    }
    return KRS_OK;
}

// krs_attention handles query heads [h0,h1). scores has room for n_heads *
// n_pos floats; head h uses the slice at h*n_pos, so threads working on
// disjoint head ranges never share scratch.
int krs_attention(int level, float *out, const float *q, const float *k, const float *v, const int32_t *table,
                  int64_t n_pos, int64_t block_size, int64_t kv_dim, int64_t n_heads, int64_t n_kv_heads,
                  int64_t head_dim, float scale, int64_t h0, int64_t h1, float *scores) {
    OPS(level);
    if (n_kv_heads <= 0 || n_heads % n_kv_heads || h0 < 0 || h1 > n_heads || block_size <= 0 || n_pos <= 0)
        return KRS_EINVAL;
    const int64_t group = n_heads / n_kv_heads;
    for (int64_t h = h0; h < h1; h++) {
        const float *qh = q + h * head_dim;
        const int64_t koff = (h / group) * head_dim;
        float *sc = scores + h * n_pos;
        for (int64_t t = 0; t < n_pos; t++) {
            const int64_t base = ((int64_t)table[t / block_size] * block_size + t % block_size) * kv_dim + koff;
            sc[t] = ops->dot(qh, k + base, head_dim) * scale;
        }
        ops->softmax(sc, n_pos);
        float *oh = out + h * head_dim;
        memset(oh, 0, sizeof(float) * head_dim);
        for (int64_t t = 0; t < n_pos; t++) {
            const int64_t base = ((int64_t)table[t / block_size] * block_size + t % block_size) * kv_dim + koff;
            ops->axpy(oh, sc[t], v + base, head_dim);
        }
    }
    return KRS_OK;
}
