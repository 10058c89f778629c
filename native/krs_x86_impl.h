// krs_x86_impl.h: x86 SIMD kernels, instantiated twice: by krs_avx2.c
// (AVX2+FMA+F16C) and by krs_avx512.c (adds AVX-512 VNNI for the int8 dot
// products). The including file sets the target pragma, KRS_SUFFIX and
// KRS_VNNI before including this file.
#include <immintrin.h>
#include <math.h>
#include "krs.h"

#define KRS_CAT2(a, b) a##_##b
#define KRS_CAT(a, b) KRS_CAT2(a, b)
#define FN(name) KRS_CAT(name, KRS_SUFFIX)

#define KRS_INLINE static inline __attribute__((always_inline))

KRS_INLINE float hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

KRS_INLINE float hmax8(__m256 v) {
    __m128 lo = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

KRS_INLINE float fp16x(const uint8_t *p) { return _cvtsh_ss(krs_rd16(p)); }

// roundf (half away from zero) on 8 lanes, matching the scalar quantizer.
KRS_INLINE __m256 roundf8(__m256 y) {
    const __m256 signmask = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(signmask, _mm256_sub_ps(y, t));
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_and_ps(y, signmask), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

// exp on 8 lanes (Cephes polynomial, relative error about 2e-7).
KRS_INLINE __m256 exp8(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f));
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, z, x);
    y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static void __attribute__((unused)) FN(quant_q8)(const float *x, int64_t n, int8_t *q, float *d, int zp) {
    (void)zp;
    const __m256 signmask = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t ib = 0; ib < n / 32; ib++) {
        const float *xb = x + ib * 32;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signmask, v0), _mm256_andnot_ps(signmask, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(signmask, v2), _mm256_andnot_ps(signmask, v3)));
        const float amax = hmax8(m);
        const float dd = amax / 127.0f, id = dd != 0 ? 1.0f / dd : 0.0f;
        d[ib] = _cvtsh_ss(_cvtss_sh(dd, _MM_FROUND_TO_NEAREST_INT));
        const __m256 vid = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(roundf8(_mm256_mul_ps(v0, vid)));
        __m256i i1 = _mm256_cvtps_epi32(roundf8(_mm256_mul_ps(v1, vid)));
        __m256i i2 = _mm256_cvtps_epi32(roundf8(_mm256_mul_ps(v2, vid)));
        __m256i i3 = _mm256_cvtps_epi32(roundf8(_mm256_mul_ps(v3, vid)));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)(q + ib * 32), _mm256_permutevar8x32_epi32(p, perm));
    }
}

// Sum over lanes of |w|*sign(a,w) = w*a, as 8 int32 partial sums.
KRS_INLINE __m256i dot_i8(__m256i ax, __m256i sy) {
#if KRS_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
#endif
}

KRS_INLINE __m256i load_wq(const uint8_t *blk, int isq4) {
    if (isq4) {
        __m128i t = _mm_loadu_si128((const __m128i *)(blk + 2));
        __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
        return _mm256_sub_epi8(_mm256_and_si256(b, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
    }
    return _mm256_loadu_si256((const __m256i *)(blk + 2));
}

// One weight row against NT (1..4) activation vectors; two accumulators per
// vector so consecutive blocks do not wait on each other's FMA.
KRS_INLINE void q8_tile(const uint8_t *row, int64_t nb, int isq4, const int8_t *xq, const float *xd, int64_t cols,
                        int NT, float *res) {
    const int64_t bb = isq4 ? 18 : 34;
    __m256 acc[4][2];
    for (int j = 0; j < NT; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    int64_t ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        for (int u = 0; u < 2; u++) {
            const uint8_t *blk = row + (ib + u) * bb;
            const __m256i wq = load_wq(blk, isq4);
            const __m256i ax = _mm256_sign_epi8(wq, wq);
            const __m256 dw = _mm256_set1_ps(fp16x(blk));
            for (int j = 0; j < NT; j++) {
                __m256i a = _mm256_loadu_si256((const __m256i *)(xq + j * cols + (ib + u) * 32));
                __m256 s = _mm256_cvtepi32_ps(dot_i8(ax, _mm256_sign_epi8(a, wq)));
                __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(xd[j * nb * KRS_XD_STRIDE + ib + u]));
                acc[j][u] = _mm256_fmadd_ps(s, sc, acc[j][u]);
            }
        }
    }
    for (; ib < nb; ib++) {
        const uint8_t *blk = row + ib * bb;
        const __m256i wq = load_wq(blk, isq4);
        const __m256i ax = _mm256_sign_epi8(wq, wq);
        const __m256 dw = _mm256_set1_ps(fp16x(blk));
        for (int j = 0; j < NT; j++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(xq + j * cols + ib * 32));
            __m256 s = _mm256_cvtepi32_ps(dot_i8(ax, _mm256_sign_epi8(a, wq)));
            __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(xd[j * nb * KRS_XD_STRIDE + ib]));
            acc[j][0] = _mm256_fmadd_ps(s, sc, acc[j][0]);
        }
    }
    for (int j = 0; j < NT; j++) res[j] = hsum8(_mm256_add_ps(acc[j][0], acc[j][1]));
}

KRS_INLINE void mm_q8_body(int isq4, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows,
                           int64_t cols, const int8_t *xq, const float *xd, int batch, float *out) {
    const int64_t nb = cols / 32;
    float res[4];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        for (int b0 = 0; b0 < batch; b0 += 4) {
            const int8_t *q = xq + (int64_t)b0 * cols;
            const float *d = xd + (int64_t)b0 * nb * KRS_XD_STRIDE;
            const int nt = batch - b0 < 4 ? batch - b0 : 4;
            switch (nt) {
            case 1: q8_tile(row, nb, isq4, q, d, cols, 1, res); break;
            case 2: q8_tile(row, nb, isq4, q, d, cols, 2, res); break;
            case 3: q8_tile(row, nb, isq4, q, d, cols, 3, res); break;
            default: q8_tile(row, nb, isq4, q, d, cols, 4, res); break;
            }
            for (int j = 0; j < nt; j++) out[(int64_t)(b0 + j) * rows + r] = res[j];
        }
    }
}

static void FN(mm_q8_0)(const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                        const int8_t *xq, const float *xd, int batch, float *out) {
    mm_q8_body(0, w, rb, r0, r1, rows, cols, xq, xd, batch, out);
}

static void FN(mm_q4_0)(const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                        const int8_t *xq, const float *xd, int batch, float *out) {
    mm_q8_body(1, w, rb, r0, r1, rows, cols, xq, xd, batch, out);
}

static void __attribute__((unused)) FN(mm_q8)(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                      const int8_t *xq, const float *xd, int batch, float *out) {
    if (type == KRS_Q4_0)
        FN(mm_q4_0)(w, rb, r0, r1, rows, cols, xq, xd, batch, out);
    else
        FN(mm_q8_0)(w, rb, r0, r1, rows, cols, xq, xd, batch, out);
}

// Weight loads for the float-activation kernels; type is a constant after
// inlining.
KRS_INLINE __m256 load_w8(int type, const uint8_t *p) {
    switch (type) {
    case KRS_F32: return _mm256_loadu_ps((const float *)p);
    case KRS_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    default:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    }
}

KRS_INLINE float load_w1(int type, const uint8_t *p) {
    switch (type) {
    case KRS_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case KRS_F16: return krs_fp16_to_fp32(krs_rd16(p));
    default: return krs_bf16_to_fp32(krs_rd16(p));
    }
}

KRS_INLINE void f_tile(int type, const uint8_t *row, const float *x, int64_t cols, int NT, float *res) {
    const int es = type == KRS_F32 ? 4 : 2;
    __m256 acc[4][2];
    for (int j = 0; j < NT; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        const __m256 w0 = load_w8(type, row + c * es), w1 = load_w8(type, row + (c + 8) * es);
        for (int j = 0; j < NT; j++) {
            acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + j * cols + c), acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + j * cols + c + 8), acc[j][1]);
        }
    }
    for (; c + 8 <= cols; c += 8) {
        const __m256 w0 = load_w8(type, row + c * es);
        for (int j = 0; j < NT; j++) acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + j * cols + c), acc[j][0]);
    }
    for (int j = 0; j < NT; j++) res[j] = hsum8(_mm256_add_ps(acc[j][0], acc[j][1]));
    for (; c < cols; c++) {
        const float wv = load_w1(type, row + c * es);
        for (int j = 0; j < NT; j++) res[j] += wv * x[j * cols + c];
    }
}

KRS_INLINE void mm_f_body(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows,
                          int64_t cols, const float *x, int batch, float *out) {
    float res[4];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        for (int b0 = 0; b0 < batch; b0 += 4) {
            const float *xb = x + (int64_t)b0 * cols;
            const int nt = batch - b0 < 4 ? batch - b0 : 4;
            switch (nt) {
            case 1: f_tile(type, row, xb, cols, 1, res); break;
            case 2: f_tile(type, row, xb, cols, 2, res); break;
            case 3: f_tile(type, row, xb, cols, 3, res); break;
            default: f_tile(type, row, xb, cols, 4, res); break;
            }
            for (int j = 0; j < nt; j++) out[(int64_t)(b0 + j) * rows + r] = res[j];
        }
    }
}

static void FN(mm_q4k)(const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows, int64_t cols,
                       const float *x, int batch, float *out) {
    float tmp[256];
    const int64_t nb = cols / 256;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        __m256 acc[16];
        for (int b = 0; b < batch && b < 16; b++) acc[b] = _mm256_setzero_ps();
        for (int b0 = 0; b0 < batch; b0 += 16) {
            const int nt = batch - b0 < 16 ? batch - b0 : 16;
            for (int j = 0; j < nt; j++) acc[j] = _mm256_setzero_ps();
            for (int64_t ib = 0; ib < nb; ib++) {
                krs_dequant_q4k(row + ib * 144, tmp);
                for (int j = 0; j < nt; j++) {
                    const float *xb = x + (int64_t)(b0 + j) * cols + ib * 256;
                    __m256 a = acc[j];
                    for (int l = 0; l < 256; l += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(tmp + l), _mm256_loadu_ps(xb + l), a);
                    acc[j] = a;
                }
            }
            for (int j = 0; j < nt; j++) out[(int64_t)(b0 + j) * rows + r] = hsum8(acc[j]);
        }
    }
}

static void FN(mm_float)(int type, const uint8_t *w, int64_t rb, int64_t r0, int64_t r1, int64_t rows,
                         int64_t cols, const float *x, int batch, float *out) {
    switch (type) {
#ifdef KRS_MM_FLOAT
    case KRS_F32:
    case KRS_F16:
    case KRS_BF16: KRS_MM_FLOAT(type, w, rb, r0, r1, rows, cols, x, batch, out); break;
#else
    case KRS_F32: mm_f_body(KRS_F32, w, rb, r0, r1, rows, cols, x, batch, out); break;
    case KRS_F16: mm_f_body(KRS_F16, w, rb, r0, r1, rows, cols, x, batch, out); break;
    case KRS_BF16: mm_f_body(KRS_BF16, w, rb, r0, r1, rows, cols, x, batch, out); break;
#endif
    default: FN(mm_q4k)(w, rb, r0, r1, rows, cols, x, batch, out); break;
    }
}

static float FN(dot)(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void FN(axpy)(float *y, float a, const float *x, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static void FN(rmsnorm)(float *out, const float *x, const float *w, int64_t n, float eps) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    double ss = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) ss += (double)x[i] * x[i];
    const float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    const __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(vs, _mm256_loadu_ps(x + i))));
    for (; i < n; i++) out[i] = w[i] * (scale * x[i]);
}

static void FN(softmax)(float *x, int64_t n) {
    if (n <= 0) return;
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float mx = hmax8(vm);
    for (; i < n; i++) mx = fmaxf(mx, x[i]);
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        _mm256_storeu_ps(x + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    double sum = hsum8(vsum);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    const __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
    for (; i < n; i++) x[i] *= inv;
}

static void FN(swiglu)(float *out, const float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 e = exp8(_mm256_xor_ps(gv, neg));
        __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

const krs_ops FN(krs_ops) = {
    .name = KRS_NAME,
#ifdef KRS_MM_Q8
    .quant_q8 = KRS_QUANT_Q8,
    .mm_q8 = KRS_MM_Q8,
#else
    .quant_q8 = FN(quant_q8),
    .mm_q8 = FN(mm_q8),
#endif
    .mm_float = FN(mm_float),
    .rmsnorm = FN(rmsnorm),
    .softmax = FN(softmax),
    .swiglu = FN(swiglu),
    .dot = FN(dot),
    .axpy = FN(axpy),
};
