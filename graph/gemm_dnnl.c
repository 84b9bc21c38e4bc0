/* The only file that includes oneDNN (its 3.x C API differs from 2.6):
 * the fp32 sgemm for small products, and the bf16 matmul primitives.
 *
 * A bf16 matmul primitive is made once per (batch, m, n, k, transposes,
 * leading dimensions, batch strides, alpha, beta) and cached for the
 * process: bf16 A and B, f32 C, f32 accumulation; alpha is the output
 * scale and beta a sum post-op (C = alpha op(A) op(B) + beta C). A batch
 * is one primitive with 3-D memory descriptors (stride 0 for a B shared
 * by the batch), so oneDNN threads it. Scratchpads are user-managed, one
 * per thread, so a primitive may run on several threads at once.
 *
 * Where oneDNN picks its gemm-based matmul rather than brgemm, it applies
 * output scales and sums in a scalar C++ loop that took longer than the
 * product, and oneDNN 2.6 takes brgemm (AMX) only for a dense C: such
 * entries run the plain product (dense C, no alpha, beta) into a
 * per-thread buffer and apply alpha, beta and C's strides here (one
 * vectorised pass; attention's tiles accumulating into strided head
 * columns). */
#include "tg_internal.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_dnnl_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, float beta, float *c, int ldc)
{
    /* dnnl_sgemm is row-major; it only fails on invalid arguments, which the
     * ops' shape checks exclude. */
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

typedef struct {
    int batch, ta, tb, m, n, k, lda, ldb, ldc, bias;
    size_t sa, sb, sc;
    float alpha, beta;
} mm_key;

typedef struct {
    mm_key key;
    dnnl_primitive_t prim; /* NULL: oneDNN has no bf16 matmul for it here */
    dnnl_memory_desc_t md[4]; /* A, B, C, bias */
    size_t scratch;
    char impl[64];         /* oneDNN's implementation name, "none" */
    int manual;            /* alpha, beta applied here (plain product in oneDNN) */
} mm_entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static mm_entry **cache; /* entries never move: callers keep pointers unlocked */
static int ncache, capcache;
static _Thread_local dnnl_stream_t tl_stream;
static _Thread_local void *tl_scratch;
static _Thread_local size_t tl_scratch_cap;
static _Thread_local float *tl_c;   /* product buffer of manual entries */
static _Thread_local size_t tl_c_cap;

/* Memory descriptor of a rows x cols operand (transposed: stored cols x
 * rows) with leading dimension ld, batch entries stride apart (stride 0:
 * one matrix for all). */
static int matrix_md(dnnl_memory_desc_t *md, int batch, int rows, int cols, int trans, int ld,
                     size_t stride, dnnl_data_type_t dt)
{
    dnnl_dims_t dims = {stride ? batch : 1, rows, cols};
    dnnl_dims_t st = {stride ? (dnnl_dim_t)stride : (dnnl_dim_t)ld * (trans ? cols : rows),
                      trans ? 1 : ld, trans ? ld : 1};
    return dnnl_memory_desc_init_by_strides(md, 3, dims, dt, st) != dnnl_success;
}

/* Makes the entry's primitive (left NULL when oneDNN refuses); with
 * plain != 0, without alpha and beta, C dense [batch, m, n]. Called with
 * the lock held. */
static void make_primitive(mm_entry *e, int plain)
{
    const mm_key *q = &e->key;
    float alpha = plain ? 1.0f : q->alpha, beta = plain ? 0.0f : q->beta;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_matmul_desc_t desc;
    e->prim = NULL;
    snprintf(e->impl, sizeof e->impl, "none");
    if (!engine && dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success)
        return;
    if (matrix_md(&e->md[0], q->batch, q->m, q->k, q->ta, q->lda, q->sa, dnnl_bf16) ||
        matrix_md(&e->md[1], q->batch, q->k, q->n, q->tb, q->ldb, q->sb, dnnl_bf16) ||
        matrix_md(&e->md[2], q->batch, q->m, q->n, 0, plain ? q->n : q->ldc,
                  plain && q->sc ? (size_t)q->m * q->n : q->sc, dnnl_f32))
        return;
    dnnl_dims_t bdims = {1, 1, q->n};
    if (q->bias &&
        dnnl_memory_desc_init_by_tag(&e->md[3], 3, bdims, dnnl_f32, dnnl_abc) != dnnl_success)
        return;
    if (dnnl_matmul_desc_init(&desc, &e->md[0], &e->md[1], q->bias ? &e->md[3] : NULL,
                              &e->md[2]) != dnnl_success ||
        dnnl_primitive_attr_create(&attr) != dnnl_success)
        return;
    int ok = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ==
             dnnl_success;
    if (ok && alpha != 1.0f)
        ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) == dnnl_success;
    if (ok && beta != 0.0f)
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, beta) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    if (ok && dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success) {
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        e->scratch = smd ? dnnl_memory_desc_get_size(smd) : 0;
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
            impl)
            snprintf(e->impl, sizeof e->impl, "%s", impl);
        if (dnnl_primitive_create(&e->prim, pd) != dnnl_success)
            e->prim = NULL;
    }
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    e->manual = plain;
    int strided_c = q->ldc != q->n || (q->batch > 1 && q->sc != (size_t)q->m * q->n);
    if (!plain && e->prim && !q->bias && strncmp(e->impl, "brg", 3) &&
        (q->alpha != 1.0f || q->beta != 0.0f || strided_c)) { /* see the top */
        mm_entry full = *e;
        make_primitive(e, 1);
        if (q->alpha == 1.0f && q->beta == 0.0f && (!e->prim || strncmp(e->impl, "brg", 3))) {
            if (e->prim) /* a strided C alone: the plain product is no faster */
                dnnl_primitive_destroy(e->prim);
            *e = full;
        } else {
            dnnl_primitive_destroy(full.prim);
        }
    }
}

/* The cached entry for key q, made on first use; NULL when out of memory. */
static const mm_entry *lookup(const mm_key *q)
{
    pthread_mutex_lock(&lock);
    mm_entry *e = NULL;
    for (int i = 0; i < ncache && !e; i++)
        if (!memcmp(&cache[i]->key, q, sizeof *q))
            e = cache[i];
    if (!e && ncache == capcache) {
        int cap = capcache ? 2 * capcache : 64;
        mm_entry **nc = tg_realloc(cache, cap * sizeof *nc, "bf16 matmul cache");
        if (nc)
            cache = nc, capcache = cap;
    }
    if (!e && ncache < capcache && (e = tg_calloc(1, sizeof *e, "bf16 matmul entry"))) {
        e->key = *q;
        make_primitive(e, 0);
        cache[ncache++] = e;
    }
    pthread_mutex_unlock(&lock);
    return e;
}

static mm_key key_of(int batch, int ta, int tb, int m, int n, int k, float alpha, int lda,
                     size_t sa, int ldb, size_t sb, float beta, int ldc, size_t sc, int bias)
{
    mm_key q;
    memset(&q, 0, sizeof q); /* padding compares equal */
    q.batch = batch, q.ta = ta != 0, q.tb = tb != 0, q.m = m, q.n = n, q.k = k;
    q.lda = lda, q.ldb = ldb, q.ldc = ldc;
    q.sa = batch > 1 ? sa : 0, q.sb = batch > 1 ? sb : 0, q.sc = batch > 1 ? sc : 0;
    q.alpha = alpha, q.beta = beta, q.bias = bias != 0;
    return q;
}

/* tg_dnnl_gemm_bf16 with an optional bias[n] added to every row. */
static int gemm_bf16(int batch, int ta, int tb, int m, int n, int k, float alpha, const tg_bf16 *a,
                     int lda, size_t sa, const tg_bf16 *b, int ldb, size_t sb, const float *bias,
                     float beta, float *c, int ldc, size_t sc)
{
    mm_key q = key_of(batch, ta, tb, m, n, k, alpha, lda, sa, ldb, sb, beta, ldc, sc, bias != NULL);
    const mm_entry *e = lookup(&q);
    if (!e || !e->prim)
        return TG_ERR_ARG;
    if (!tl_stream && dnnl_stream_create(&tl_stream, engine, dnnl_stream_default_flags) != dnnl_success)
        return tg_error(TG_ERR_NOMEM, "bf16 gemm: no oneDNN stream");
    if (e->scratch > tl_scratch_cap) {
        free(tl_scratch);
        tl_scratch = aligned_alloc(64, (e->scratch + 63) & ~(size_t)63);
        tl_scratch_cap = tl_scratch ? e->scratch : 0;
        if (!tl_scratch)
            return tg_error(TG_ERR_NOMEM, "bf16 gemm: no memory for a %zu-byte scratchpad", e->scratch);
    }
    float *dst = c;
    size_t nc = (size_t)batch * m * n;
    if (e->manual && nc > tl_c_cap) {
        free(tl_c);
        tl_c = aligned_alloc(64, (nc * sizeof(float) + 63) & ~(size_t)63);
        tl_c_cap = tl_c ? nc : 0;
        if (!tl_c)
            return tg_error(TG_ERR_NOMEM, "bf16 gemm: no memory for a %zux%d product", nc / n, n);
    }
    if (e->manual)
        dst = tl_c;
    dnnl_memory_t mem[5] = {NULL};
    void *h[4] = {(void *)a, (void *)b, dst, (void *)bias};
    int rc = TG_OK;
    for (int i = 0; i < (bias ? 4 : 3) && !rc; i++)
        if (dnnl_memory_create(&mem[i], &e->md[i], engine, h[i]) != dnnl_success)
            rc = tg_error(TG_ERR_NOMEM, "bf16 gemm: no oneDNN memory object");
    const dnnl_memory_desc_t *smd = NULL;
    dnnl_memory_desc_t zmd;
    if (!rc && e->scratch) {
        dnnl_dims_t d1 = {(dnnl_dim_t)e->scratch};
        dnnl_memory_desc_init_by_tag(&zmd, 1, d1, dnnl_u8, dnnl_a);
        smd = &zmd;
        if (dnnl_memory_create(&mem[4], smd, engine, tl_scratch) != dnnl_success)
            rc = tg_error(TG_ERR_NOMEM, "bf16 gemm: no oneDNN scratchpad object");
    }
    if (!rc) {
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, mem[0]}, {DNNL_ARG_WEIGHTS, mem[1]},
                                   {DNNL_ARG_DST, mem[2]}};
        int nargs = 3;
        if (bias)
            args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mem[3]};
        if (e->scratch)
            args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[4]};
        if (dnnl_primitive_execute(e->prim, tl_stream, nargs, args) != dnnl_success ||
            dnnl_stream_wait(tl_stream) != dnnl_success)
            rc = tg_error(TG_ERR_ARG, "bf16 gemm: oneDNN matmul failed (%dx%dx%d)", m, n, k);
    }
    for (int i = 0; i < 5; i++)
        if (mem[i])
            dnnl_memory_destroy(mem[i]);
    if (!rc && e->manual)
        for (int x = 0; x < batch; x++)
            for (int i = 0; i < m; i++) {
                const float *p = tl_c + ((size_t)x * m + i) * n;
                float *row = c + x * sc + (size_t)i * ldc;
                if (beta == 0.0f) {
#pragma omp simd
                    for (int j = 0; j < n; j++)
                        row[j] = alpha * p[j];
                } else {
#pragma omp simd
                    for (int j = 0; j < n; j++)
                        row[j] = alpha * p[j] + beta * row[j];
                }
            }
    return rc;
}

int tg_dnnl_gemm_bf16(int batch, int ta, int tb, int m, int n, int k, float alpha,
                      const tg_bf16 *a, int lda, size_t sa, const tg_bf16 *b, int ldb, size_t sb,
                      float beta, float *c, int ldc, size_t sc)
{
    return gemm_bf16(batch, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, NULL, beta, c, ldc, sc);
}

int tg_dnnl_gemm_bf16_bias(int m, int n, int k, const tg_bf16 *a, const tg_bf16 *b,
                           const float *bias, float *c)
{
    return gemm_bf16(1, 0, 1, m, n, k, 1, a, k, 0, b, k, 0, bias, 0, c, n, 0);
}

const char *tg_dnnl_bf16_impl(int batch, int ta, int tb, int m, int n, int k, float alpha,
                              int lda, size_t sa, int ldb, size_t sb, float beta, int ldc,
                              size_t sc)
{
    mm_key q = key_of(batch, ta, tb, m, n, k, alpha, lda, sa, ldb, sb, beta, ldc, sc, 0);
    const mm_entry *e = lookup(&q);
    return e ? e->impl : "none";
}

int tg_dnnl_avx512(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
}

int tg_dnnl_native_bf16(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}
