/* kern_avx2: the kernels of kern.h for AVX2 + FMA (8 floats per vector),
 * from the template kern_vec.h. Compiled for baseline x86-64 like the rest;
 * only these functions carry target("avx2,fma"), and tg_kern_get hands them
 * out only when cpuid says the CPU and the OS support them. */
/* no FMA contraction: products and sums round as the scalar kernels' */
#ifdef __clang__
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif
#include "kern.h"

#include <immintrin.h>

#define KV_TARGET __attribute__((target("avx2,fma")))
#define KV(name) name##_avx2
#define W 8
#define VF __m256
#define VD __m256d
#define LD(p) _mm256_loadu_ps(p)
#define ST(p, v) _mm256_storeu_ps(p, v)
#define SET1(x) _mm256_set1_ps(x)
#define ADD(a, b) _mm256_add_ps(a, b)
#define SUB(a, b) _mm256_sub_ps(a, b)
#define MUL(a, b) _mm256_mul_ps(a, b)
#define DIV(a, b) _mm256_div_ps(a, b)
#define MAXV(a, b) _mm256_max_ps(a, b)
#define MINV(a, b) _mm256_min_ps(a, b)
#define SQRT(a) _mm256_sqrt_ps(a)
#define ABS(a) _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)))
#define SEL_LT(a, b, x, y) _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ))
#define ROUND(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ADDEXP(p, n)                                                                               \
    _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p),                                     \
                                          _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23)))
#define DZERO _mm256_setzero_pd()
#define DSET1(x) _mm256_set1_pd(x)
#define DADD(a, b) _mm256_add_pd(a, b)
#define DSUB(a, b) _mm256_sub_pd(a, b)
#define DMUL(a, b) _mm256_mul_pd(a, b)
#define DLO(v) _mm256_cvtps_pd(_mm256_castps256_ps128(v))
#define DHI(v) _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))
#define LDN(p, r) ((r) >= W ? LD(p) : _mm256_maskload_ps(p, tail_mask(r)))
#define STN(p, r, v)                                                                               \
    ((r) >= W ? ST(p, v) : _mm256_maskstore_ps(p, tail_mask(r), v))
#define DHSUM(a) dhsum(a)
#define HSUM(a) hsum(a)
#define KEEPMUL(key, idx, thr, v) _mm256_and_ps(v, keep_mask(key, idx, thr))

/* lanes 0 .. r-1 set */
KV_TARGET static inline __m256i tail_mask(size_t r)
{
    static const int32_t t[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(t + 8 - r));
}

KV_TARGET static inline double dhsum(__m256d a)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

KV_TARGET static inline float hsum(__m256 a)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

/* a * c for 64-bit lanes (AVX2 multiplies 32 x 32 -> 64 only) */
KV_TARGET static inline __m256i mul64(__m256i a, uint64_t c)
{
    __m256i clo = _mm256_set1_epi64x((long long)(c & 0xffffffffu));
    __m256i chi = _mm256_set1_epi64x((long long)(c >> 32));
    __m256i lo = _mm256_mul_epu32(a, clo);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), clo),
                                     _mm256_mul_epu32(a, chi));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

/* tg_dropped for 4 consecutive elements: all ones in a 64-bit lane if dropped */
KV_TARGET static inline __m256i dropped4(uint64_t key, uint64_t idx, uint64_t thr)
{
    __m256i i = _mm256_add_epi64(_mm256_set1_epi64x((long long)(idx + 1)),
                                 _mm256_set_epi64x(3, 2, 1, 0));
    __m256i z = _mm256_add_epi64(_mm256_set1_epi64x((long long)key),
                                 mul64(i, 0x9e3779b97f4a7c15ULL));
    z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), 0xbf58476d1ce4e5b9ULL);
    z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), 0x94d049bb133111ebULL);
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
    /* unsigned z < thr as a signed compare with the top bits flipped */
    __m256i flip = _mm256_set1_epi64x((long long)0x8000000000000000ULL);
    return _mm256_cmpgt_epi64(_mm256_xor_si256(_mm256_set1_epi64x((long long)thr), flip),
                              _mm256_xor_si256(z, flip));
}

/* float lanes of 8 elements from idx: all ones where kept */
KV_TARGET static inline __m256 keep_mask(uint64_t key, uint64_t idx, uint64_t thr)
{
    __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256i a = _mm256_permutevar8x32_epi32(dropped4(key, idx, thr), even);
    __m256i b = _mm256_permutevar8x32_epi32(dropped4(key, idx + 4, thr), even);
    __m256i d = _mm256_permute2x128_si256(a, b, 0x20);
    return _mm256_castsi256_ps(_mm256_xor_si256(d, _mm256_set1_epi32(-1)));
}

#include "kern_vec.h"

const tg_kern tg_kern_avx2 = KV_TABLE("avx2");
