// AVX2 + FMA + F16C level.
#pragma GCC target("avx2,fma,f16c")
#define KRS_SUFFIX avx2
#define KRS_NAME "avx2"
#define KRS_VNNI 0
#include "krs_x86_impl.h"
