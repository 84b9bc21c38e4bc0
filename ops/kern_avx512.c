/* kern_avx512: the kernels of kern.h for AVX-512 F/BW/VL/DQ (16 floats per
 * vector), from the template kern_vec.h. Only these functions carry the
 * AVX-512 target; tg_kern_get hands them out only when cpuid and XCR0 say
 * the CPU and the OS support them. */
/* no FMA contraction: products and sums round as the scalar kernels' */
#ifdef __clang__
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif
#include "kern.h"

#include <immintrin.h>

#define KV_TARGET __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")))
#define KV(name) name##_avx512
#define W 16
#define VF __m512
#define VD __m512d
#define LD(p) _mm512_loadu_ps(p)
#define ST(p, v) _mm512_storeu_ps(p, v)
#define SET1(x) _mm512_set1_ps(x)
#define ADD(a, b) _mm512_add_ps(a, b)
#define SUB(a, b) _mm512_sub_ps(a, b)
#define MUL(a, b) _mm512_mul_ps(a, b)
#define DIV(a, b) _mm512_div_ps(a, b)
#define MAXV(a, b) _mm512_max_ps(a, b)
#define MINV(a, b) _mm512_min_ps(a, b)
#define SQRT(a) _mm512_sqrt_ps(a)
#define ABS(a) _mm512_and_ps(a, _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff)))
#define SEL_LT(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x)
#define ROUND(a) _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ADDEXP(p, n)                                                                               \
    _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p),                                     \
                                          _mm512_slli_epi32(_mm512_cvtps_epi32(n), 23)))
#define DZERO _mm512_setzero_pd()
#define DSET1(x) _mm512_set1_pd(x)
#define DADD(a, b) _mm512_add_pd(a, b)
#define DSUB(a, b) _mm512_sub_pd(a, b)
#define DMUL(a, b) _mm512_mul_pd(a, b)
#define DLO(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define DHI(v) _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1))
#define TAIL(r) ((__mmask16)((1u << (r)) - 1))
#define LDN(p, r) ((r) >= W ? LD(p) : _mm512_maskz_loadu_ps(TAIL(r), p))
#define STN(p, r, v) ((r) >= W ? ST(p, v) : _mm512_mask_storeu_ps(p, TAIL(r), v))
#define DHSUM(a) _mm512_reduce_add_pd(a)
#define HSUM(a) _mm512_reduce_add_ps(a)
#define KEEPMUL(key, idx, thr, v) _mm512_maskz_mov_ps(keep_mask(key, idx, thr), v)

/* tg_dropped for 8 consecutive elements: bit set if dropped */
KV_TARGET static inline __mmask8 dropped8(uint64_t key, uint64_t idx, uint64_t thr)
{
    __m512i i = _mm512_add_epi64(_mm512_set1_epi64((long long)(idx + 1)),
                                 _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    __m512i z = _mm512_add_epi64(_mm512_set1_epi64((long long)key),
                                 _mm512_mullo_epi64(i, _mm512_set1_epi64((long long)0x9e3779b97f4a7c15ULL)));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                           _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                           _mm512_set1_epi64((long long)0x94d049bb133111ebULL));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    return _mm512_cmplt_epu64_mask(z, _mm512_set1_epi64((long long)thr));
}

/* 16 elements from idx: bit set where kept */
KV_TARGET static inline __mmask16 keep_mask(uint64_t key, uint64_t idx, uint64_t thr)
{
    unsigned d = (unsigned)dropped8(key, idx, thr) | (unsigned)dropped8(key, idx + 8, thr) << 8;
    return (__mmask16)~d;
}

#include "kern_vec.h"

const tg_kern tg_kern_avx512 = KV_TABLE("avx512");
