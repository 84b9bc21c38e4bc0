/* bfloat16: conversion from float32, the bf16 copies of parameters and
 * the scratch buffers of the bf16 GEMM tier (graph/gemm.c).
 *
 * Conversion rounds to nearest, ties to even, as oneDNN and PyTorch do;
 * NaN stays NaN (quieted, sign and top payload kept), infinities stay
 * infinite, a float overflowing bf16 by rounding becomes infinity, and a
 * float32 denormal becomes a zero of its sign (as the AVX512-BF16
 * instruction vcvtne2ps2bf16 does: bf16 has float32's exponent range, so
 * only denormal inputs are affected, below 1.2e-38). Three kernels give
 * the same bits: AVX512-BF16, AVX2 integer arithmetic and scalar C, chosen
 * at run time from cpuid, so no instruction runs that the CPU lacks.
 *
 * Parameter copies are valid for one forward pass and the backward of
 * that pass: every tg_forward starts a new pass (tg_bf16_next_pass), and a
 * parameter is converted at its first bf16 use in a pass. Weights change
 * only between passes (optimizer step, loading), so a copy is never stale
 * and no writer of weights needs to announce a change; a training step
 * converts each weight once (PyTorch autocast caches its weight casts for
 * the same span).
 *
 * Activations get the same treatment within a pass: a tensor's values do
 * not change between the op that computes them and the end of the pass
 * (buffers are reused only after a tensor's last reader), so the copy of
 * (tensor, data) made at its first bf16 use serves every later one: the
 * three projections reading one hidden state and the backward products
 * reading it again convert it once. The buffers of a past pass are
 * recycled, so they hold at most one pass's worth (bf16 copies of the
 * GEMM inputs). Gradients and slices go to per-call scratch slots.
 *
 * A TG_FLAG_BF16_SAVED tensor (graph/plan.c: its float32 buffer is reused
 * after forward, only its bf16 copy serves backward) must have its copy
 * made in forward: in backward it is only looked up. A copy that cannot be
 * made or is gone is recorded (tg_bf16_take_lost) and tg_forward or
 * tg_backward returns an error naming the tensor; no product reads the
 * reused float32 buffer. */
#include "tg_internal.h"

#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

tg_bf16 tg_bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: quiet it */
        return (tg_bf16)((u >> 16) | 0x40);
    if (!(u & 0x7f800000u)) /* zero or denormal: signed zero */
        return (tg_bf16)((u >> 16) & 0x8000);
    u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even; overflow gives inf */
    return (tg_bf16)(u >> 16);
}

void tg_bf16_widen(float *dst, const tg_bf16 *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

float tg_bf16_to_float(tg_bf16 h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void tg_f32_to_bf16_scalar(tg_bf16 *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = tg_bf16_of(src[i]);
}

__attribute__((target("avx2"))) static void cvt_avx2(tg_bf16 *dst, const float *src, size_t n)
{
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), expm = _mm256_set1_epi32(0x7f800000);
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    const __m256i quiet = _mm256_set1_epi32(0x40), sign = _mm256_set1_epi32(0x8000);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i hi = _mm256_srli_epi32(x, 16);
        __m256i r = _mm256_add_epi32(x, _mm256_add_epi32(bias, _mm256_and_si256(hi, one)));
        r = _mm256_srli_epi32(r, 16);
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, absm), expm);
        __m256i den = _mm256_cmpeq_epi32(_mm256_and_si256(x, expm), _mm256_setzero_si256());
        r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, quiet), nan);
        r = _mm256_blendv_epi8(r, _mm256_and_si256(hi, sign), den);
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_castsi256_si128(p));
    }
    tg_f32_to_bf16_scalar(dst + i, src + i, n - i);
}

__attribute__((target("avx512f,avx512bf16"))) static void cvt_avx512bf16(tg_bf16 *dst,
                                                                         const float *src,
                                                                         size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
        _mm512_storeu_si512((void *)(dst + i), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    tg_f32_to_bf16_scalar(dst + i, src + i, n - i);
}

typedef void (*cvt_fn)(tg_bf16 *, const float *, size_t);

/* The conversion kernel for this CPU (and the ABLM_BF16_CVT override:
 * "scalar" or "avx2", for tests of the fallbacks). */
static cvt_fn pick_cvt(void)
{
    static cvt_fn fn;
    if (fn)
        return fn;
    const char *force = getenv("ABLM_BF16_CVT");
    __builtin_cpu_init();
    cvt_fn f = tg_f32_to_bf16_scalar;
    if (force && !strcmp(force, "scalar"))
        f = tg_f32_to_bf16_scalar;
    else if (__builtin_cpu_supports("avx512bf16") && !(force && !strcmp(force, "avx2")))
        f = cvt_avx512bf16;
    else if (__builtin_cpu_supports("avx2"))
        f = cvt_avx2;
    fn = f;
    return fn;
}

const char *tg_bf16_cvt_kernel(void)
{
    cvt_fn f = pick_cvt();
    return f == cvt_avx512bf16 ? "avx512bf16" : f == cvt_avx2 ? "avx2" : "scalar";
}

int tg_f32_to_bf16_kernel(const char *name, tg_bf16 *dst, const float *src, size_t n)
{
    __builtin_cpu_init();
    cvt_fn f = NULL;
    if (!strcmp(name, "scalar"))
        f = tg_f32_to_bf16_scalar;
    else if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2"))
        f = cvt_avx2;
    else if (!strcmp(name, "avx512bf16") && __builtin_cpu_supports("avx512bf16"))
        f = cvt_avx512bf16;
    if (!f)
        return tg_error(TG_ERR_ARG, "bf16 conversion kernel '%s' is not available on this CPU", name);
    f(dst, src, n);
    return TG_OK;
}

void tg_f32_to_bf16(tg_bf16 *dst, const float *src, size_t n)
{
    cvt_fn f = pick_cvt();
    const size_t chunk = 1 << 16;
    if (n < 2 * chunk || omp_in_parallel()) {
        f(dst, src, n);
        return;
    }
    long nc = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static)
    for (long c = 0; c < nc; c++) {
        size_t i = (size_t)c * chunk;
        f(dst + i, src + i, i + chunk <= n ? chunk : n - i);
    }
}

/* ---- parameter copies and scratch ---------------------------------------- */

typedef struct {
    const float *src; /* the parameter's float32 values */
    size_t n;
    uint64_t pass;    /* pass the copy was made in */
    tg_bf16 *bf;
} wcopy;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t pass = 1;
static wcopy *copies;
static int ncopies, capcopies;
static struct {
    tg_bf16 *p;
    size_t cap;
} scratch[TG_BF16_SLOTS];

typedef struct {
    const tg_tensor *t; /* the activation */
    const float *src;   /* its values when converted */
    size_t n, cap;
    uint64_t pass;      /* pass of the copy; another pass: free for reuse */
    tg_bf16 *bf;
} acopy;
static acopy *acts;
static int nacts, capacts;
static int in_backward;          /* backward of the current pass has begun */
static const tg_tensor *lost;    /* first saved tensor without its copy */
static long param_conversions;

int tg_bf16_saved(const tg_tensor *t)
{
    while (t->flags & TG_FLAG_VIEW)
        t = t->src[0];
    return (t->flags & TG_FLAG_BF16_SAVED) != 0;
}

static void note_lost(const tg_tensor *t)
{
    if (!lost)
        lost = t;
}

/* The copy of activation t's values src[0..n) for this pass: found, or
 * made in a recycled or new buffer (converted from src when convert is
 * set, else left for the caller to fill: tg_bf16_reserve). NULL when out
 * of memory. Called with the lock held. */
static tg_bf16 *act_copy(const tg_tensor *t, const float *src, size_t n, int convert)
{
    acopy *free_fit = NULL, *free_any = NULL;
    for (int i = 0; i < nacts; i++) {
        acopy *a = &acts[i];
        if (a->pass == pass) {
            if (a->t == t && a->src == src && a->n == n)
                return a->bf;
        } else if (a->cap >= n && (!free_fit || a->cap < free_fit->cap)) {
            free_fit = a;
        } else if (!free_any) {
            free_any = a;
        }
    }
    if (tg_bf16_saved(t) && in_backward) { /* its float32 values are gone */
        if (convert)
            note_lost(t);
        return NULL;
    }
    acopy *a = free_fit ? free_fit : free_any;
    if (!a) {
        if (nacts == capacts) {
            int cap = capacts ? 2 * capacts : 64;
            acopy *na = tg_realloc(acts, cap * sizeof *na, "bf16 activation copies");
            if (!na) {
                if (convert && tg_bf16_saved(t))
                    note_lost(t);
                return NULL;
            }
            acts = na, capacts = cap;
        }
        a = &acts[nacts++];
        memset(a, 0, sizeof *a);
    }
    if (a->cap < n) {
        tg_free(a->bf);
        a->bf = tg_malloc(n * sizeof(tg_bf16), "bf16 activation copy");
        a->cap = a->bf ? n : 0;
        if (!a->bf) {
            a->pass = 0;
            if (convert && tg_bf16_saved(t))
                note_lost(t);
            return NULL;
        }
    }
    if (convert)
        tg_f32_to_bf16(a->bf, src, n);
    a->t = t, a->src = src, a->n = n, a->pass = pass;
    return a->bf;
}

void tg_bf16_next_pass(void)
{
    pthread_mutex_lock(&lock);
    pass++;
    in_backward = 0;
    pthread_mutex_unlock(&lock);
}

void tg_bf16_backward_begin(void)
{
    pthread_mutex_lock(&lock);
    in_backward = 1;
    pthread_mutex_unlock(&lock);
}

void tg_bf16_note_lost(const tg_tensor *t)
{
    pthread_mutex_lock(&lock);
    note_lost(t);
    pthread_mutex_unlock(&lock);
}

const char *tg_bf16_take_lost(void)
{
    pthread_mutex_lock(&lock);
    const char *name = lost ? lost->name : NULL;
    lost = NULL;
    pthread_mutex_unlock(&lock);
    return name;
}

long tg_bf16_param_conversions(void) { return param_conversions; }

float *tg_bf16_widen_saved(const tg_tensor *t)
{
    pthread_mutex_lock(&lock);
    const tg_bf16 *h = NULL;
    for (int i = 0; i < nacts && !h; i++)
        if (acts[i].pass == pass && acts[i].t == t && acts[i].src == t->data &&
            acts[i].n == t->numel)
            h = acts[i].bf;
    float *f = h ? tg_malloc(t->numel * sizeof(float), "bf16 widened operand") : NULL;
    if (f)
        for (size_t i = 0; i < t->numel; i++)
            f[i] = tg_bf16_to_float(h[i]);
    else
        note_lost(t);
    pthread_mutex_unlock(&lock);
    return f;
}

/* The copy of parameter values src[0..n), made or refreshed for this pass;
 * NULL when out of memory. Called with the lock held. */
static const tg_bf16 *param_copy(const float *src, size_t n)
{
    wcopy *c = NULL;
    for (int i = 0; i < ncopies && !c; i++)
        if (copies[i].src == src)
            c = &copies[i];
    if (!c) {
        if (ncopies == capcopies) {
            int cap = capcopies ? 2 * capcopies : 64;
            wcopy *nc = tg_realloc(copies, cap * sizeof *nc, "bf16 parameter copies");
            if (!nc)
                return NULL;
            copies = nc, capcopies = cap;
        }
        c = &copies[ncopies++];
        memset(c, 0, sizeof *c);
        c->src = src;
    }
    if (c->n != n || !c->bf) { /* a new store may reuse an address with another size */
        tg_free(c->bf);
        c->bf = tg_malloc(n * sizeof(tg_bf16), "bf16 parameter copy");
        c->n = c->bf ? n : 0;
        c->pass = 0;
        if (!c->bf)
            return NULL;
    }
    if (c->pass != pass) {
        tg_f32_to_bf16(c->bf, src, n);
        c->pass = pass;
        param_conversions++;
    }
    return c->bf;
}

const tg_bf16 *tg_bf16_operand(const tg_tensor *t, const float *data, size_t n, int slot)
{
    int reuse = slot >= 16;
    slot -= reuse ? 16 : 0;
    if (slot < 0 || slot >= TG_BF16_SLOTS || omp_in_parallel()) {
        if (t && tg_bf16_saved(t) && data == t->data) {
            pthread_mutex_lock(&lock);
            note_lost(t);
            pthread_mutex_unlock(&lock);
        }
        return NULL;
    }
    pthread_mutex_lock(&lock);
    const tg_bf16 *r;
    if (t && (t->flags & TG_FLAG_PARAM)) {
        r = param_copy(data, n);
    } else if (t && data == t->data && n == t->numel) {
        r = act_copy(t, data, n, 1);
    } else if (reuse) {
        r = scratch[slot].cap >= n ? scratch[slot].p : NULL;
    } else {
        if (scratch[slot].cap < n) {
            tg_free(scratch[slot].p);
            scratch[slot].p = tg_malloc(n * sizeof(tg_bf16), "bf16 scratch");
            scratch[slot].cap = scratch[slot].p ? n : 0;
        }
        if (scratch[slot].p)
            tg_f32_to_bf16(scratch[slot].p, data, n);
        r = scratch[slot].p;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

tg_bf16 *tg_bf16_reserve(const tg_tensor *t)
{
    if (!tg_bf16_on(t) || !tg_bf16_saved(t) || (t->flags & TG_FLAG_VIEW) || omp_in_parallel())
        return NULL;
    pthread_mutex_lock(&lock);
    tg_bf16 *r = in_backward ? NULL : act_copy(t, t->data, t->numel, 0);
    pthread_mutex_unlock(&lock);
    return r;
}

tg_bf16 *tg_bf16_scratch(int slot, size_t n)
{
    if (slot < 0 || slot >= TG_BF16_SLOTS || omp_in_parallel())
        return NULL;
    pthread_mutex_lock(&lock);
    if (scratch[slot].cap < n) {
        tg_free(scratch[slot].p);
        scratch[slot].p = tg_malloc(n * sizeof(tg_bf16), "bf16 scratch");
        scratch[slot].cap = scratch[slot].p ? n : 0;
    }
    tg_bf16 *r = scratch[slot].p;
    pthread_mutex_unlock(&lock);
    return r;
}

void tg_bf16_release(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < ncopies; i++)
        tg_free(copies[i].bf);
    tg_free(copies);
    copies = NULL, ncopies = capcopies = 0;
    for (int i = 0; i < nacts; i++)
        tg_free(acts[i].bf);
    tg_free(acts);
    acts = NULL, nacts = capacts = 0;
    for (int s = 0; s < TG_BF16_SLOTS; s++) {
        tg_free(scratch[s].p);
        scratch[s].p = NULL, scratch[s].cap = 0;
    }
    pthread_mutex_unlock(&lock);
}
