/* Internals shared by graph/ and ops/: the graph struct and node creation.
 * Not part of the public API. */
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

#include "tg.h"
#include "tg_ops.h"

struct tg_graph {
    tg_tensor **nodes; /* topological order = creation order */
    int n, cap;
    char err[1024];    /* first build error, "" if none */
    int training;
    int inference;     /* built without dropout nodes (tg_graph_set_inference) */
    int precision;     /* tg_precision of the matrix products */
    uint64_t seed;     /* dropout stream */
    uint64_t step;     /* forward passes run since seeding */
    int planned;
    int keep_all;      /* planned with keep_all (every buffer kept) */
    int plan_bf16;     /* the arena was planned for bf16 products */
    tg_tensor *loss;   /* root planned for backward, or NULL */
    /* memory */
    tg_arena *arena;        /* activations and intermediate gradients */
    int own_arena;          /* 1 unless shared with tg_graph_share_arena */
    unsigned char *bound;   /* arena base the node pointers were set for */
    size_t *data_off, *grad_off; /* per node offsets in the arena, or NO_OFF */
    size_t arena_bytes, unplanned_bytes;
    unsigned char *fixed;   /* inputs and op aux state */
    /* per backward step: gradients to zero before it runs */
    int *zero_start, *zero_list;
    /* per storage node: 1 while its gradient is due to be zeroed but has
     * had no writer yet (graph/exec.c) */
    unsigned char *grad_pending;
};

/* The tensor whose storage t shares (itself unless a view). */
static inline tg_tensor *tg_storage_of(tg_tensor *t)
{
    while (t->flags & TG_FLAG_VIEW)
        t = t->src[0];
    return t;
}

struct tg_arena {
    unsigned char *base;
    size_t cap;
};
#define TG_NO_OFF ((size_t)-1)

/* Dropout's keep decision, shared by every op that drops elements
 * (tg_dropout, tg_attention) so one stream definition serves all: a node's
 * key mixes (graph seed, node id, forward pass), and element i of the
 * stream is splitmix64 at position i (one multiply-xorshift finaliser),
 * compared as an integer with p * 2^64. Backward recomputes the decision
 * from the key the forward pass saved, so no mask is stored, and it does
 * not depend on the thread count. */
static inline uint64_t tg_drop_key(const tg_tensor *out)
{
    const tg_graph *g = out->graph;
    return g->seed * 0x100000001b3ULL ^ ((uint64_t)out->id << 40) ^ g->step;
}
static inline uint64_t tg_drop_threshold(float p)
{
    return (uint64_t)((double)p * 18446744073709551616.0);
}
static inline int tg_dropped(uint64_t key, uint64_t i, uint64_t threshold)
{
    uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) < threshold;
}

/* libm on op data (tg_real): the float functions, or the double ones in
 * the float64 build. Callers include <math.h>. */
#ifdef TG_REAL_DOUBLE
#define TG_EXP exp
#define TG_LOG log
#define TG_TANH tanh
#define TG_ERF erf
#else
#define TG_EXP expf
#define TG_LOG logf
#define TG_TANH tanhf
#define TG_ERF erff
#endif

/* Points node data and gradients into the arena if it moved since the
 * graph last ran. */
void tg_graph_bind(tg_graph *g);
/* 1 when the gradient of t (a storage node, not a view) has had no writer
 * in this backward pass yet and its zeroing was left to the caller, which
 * then must overwrite all of it (the pending mark is cleared); 0 when the
 * caller must add into it. Only for a source listed in its op's
 * TG_GRAD_OVERWRITE bits, called from that op's backward. */
int tg_grad_claim(tg_tensor *t);

/* Finds the graph of the first non-NULL tensor; NULL if all are NULL. */
tg_graph *tg_graph_of(int n, tg_tensor *const *ts);

/* Appends a node for op with the given output shape and sources. Checks
 * that every source is non-NULL and belongs to g or is a parameter.
 * Returns NULL (recording the error) otherwise. */
tg_tensor *tg_node(tg_graph *g, int op, tg_dtype dt, int ndim, const int *shape, int nsrc,
                   tg_tensor *const *src);

/* Number of elements for a shape; 0 for an invalid one. */
size_t tg_shape_numel(int ndim, const int *shape);
/* 1 if a and b have equal rank and dims. */
int tg_same_shape(const tg_tensor *a, const tg_tensor *b);

/* dst[j] += sign * sum_r src[r][j] (times mul[r][j] when mul is non-NULL)
 * for a rows x cols row-major src: bias and broadcast gradients. Columns
 * are split between threads, so the summation order is fixed. */
void tg_sum_rows_into(tg_real *dst, const tg_real *src, const tg_real *mul, tg_real sign,
                      size_t rows, size_t cols);

/* The GEMM used by every op: row-major C = alpha*op(A)*op(B) + beta*C,
 * with the kernel (OpenBLAS or oneDNN) chosen per shape. */
void tg_gemm(int ta, int tb, int m, int n, int k, tg_real alpha, const tg_real *a, int lda,
             const tg_real *b, int ldb, tg_real beta, tg_real *c, int ldc);
/* batch independent GEMMs with the given strides between matrices; runs the
 * batch in parallel with single-threaded kernels (never loops small GEMMs
 * through a threaded BLAS). */
void tg_gemm_batched(int batch, int ta, int tb, int m, int n, int k, tg_real alpha,
                     const tg_real *a, int lda, size_t stride_a, const tg_real *b, int ldb,
                     size_t stride_b, tg_real beta, tg_real *c, int ldc, size_t stride_c);
/* The library of tg_gemm's large products on this machine: oneDNN's sgemm
 * where oneDNN has AVX-512 kernels (tg_dnnl_avx512) and OpenBLAS does not
 * run its own AVX-512 ones, else OpenBLAS; the environment variable
 * ABLM_GEMM=openblas|onednn|auto overrides it (read once). _set forces one
 * (tests, benchmarks; -1: back to the automatic choice), not while ops
 * run; _name gives "openblas" or "onednn". */
enum { TG_GEMM_OPENBLAS = 0, TG_GEMM_ONEDNN = 1 };
int tg_gemm_large_backend(void);
void tg_gemm_set_large_backend(int backend);
const char *tg_gemm_large_name(void);
/* 1 when oneDNN's effective ISA includes AVX-512 (avx512_core). */
int tg_dnnl_avx512(void);
/* oneDNN's sgemm (graph/gemm_dnnl.c, the only file that includes oneDNN). */
void tg_dnnl_sgemm(int ta, int tb, int m, int n, int k, tg_real alpha, const tg_real *a, int lda,
                   const tg_real *b, int ldb, tg_real beta, tg_real *c, int ldc);

/* ---- bf16 (graph/bf16.c, graph/gemm_dnnl.c) ------------------------------ */

typedef uint16_t tg_bf16; /* bfloat16 bits: the top half of a float32 */
#define TG_BF16_SLOTS 4   /* scratch buffers for activation operands */
/* As a slot argument: the data is what the caller's previous call put in
 * scratch `slot` (same data, same n): no conversion. */
#define TG_BF16_REUSE(slot) ((slot) + 16)

/* Round to nearest even (NaN quieted, denormals to signed zero); exact
 * widening back. */
tg_bf16 tg_bf16_of(float f);
float tg_bf16_to_float(tg_bf16 h);
/* dst[i] = the float32 value of src[i], i < n (exact). */
void tg_bf16_widen(tg_real *dst, const tg_bf16 *src, size_t n);
/* dst[i] = tg_bf16_of(src[i]) with the fastest kernel this CPU has
 * (threaded for long arrays); _scalar is the portable reference, and
 * tg_bf16_cvt_kernel names the kernel in use ("avx512bf16", "avx2",
 * "scalar"; the environment variable ABLM_BF16_CVT=scalar|avx2 forces a
 * fallback). */
void tg_f32_to_bf16(tg_bf16 *dst, const tg_real *src, size_t n);
void tg_f32_to_bf16_scalar(tg_bf16 *dst, const float *src, size_t n);
const char *tg_bf16_cvt_kernel(void);
/* The named kernel ("scalar", "avx2", "avx512bf16") on dst/src, unthreaded;
 * TG_ERR_ARG when this CPU lacks it (tests compare the kernels). */
int tg_f32_to_bf16_kernel(const char *name, tg_bf16 *dst, const float *src, size_t n);
/* The bf16 copy of a GEMM operand: data[0..n) (tensor t's values, or its
 * gradient, or a slice) converted. A parameter's values, and a node's
 * whole values (data == t->data, n == t->numel), come from the per-pass
 * caches (converted once per forward pass, shared by every op of the pass
 * and its backward); anything else is converted into scratch buffer
 * `slot`, valid until the next call with that slot. NULL when out of
 * memory or called inside a parallel region: the caller then computes in
 * fp32. A node's values must not change within a pass once read here
 * (ops never write their inputs). */
const tg_bf16 *tg_bf16_operand(const tg_tensor *t, const tg_real *data, size_t n, int slot);
/* For an op about to compute node t in a bf16 graph whose bf16 copy will
 * be read (TG_FLAG_BF16_SAVED: a linear layer's input), or reading every
 * value of such a t (GELU's input): t's copy for this pass, for the op to
 * fill with the conversion of every value (while they are in cache; a
 * later tg_bf16_operand finds it instead of reading t again). NULL when
 * there is nothing to do, or out of memory (the copy is then made from
 * t's values at its first use). */
tg_bf16 *tg_bf16_reserve(const tg_tensor *t);
/* Scratch buffer `slot` grown to n elements for the caller to fill (then
 * passed as TG_BF16_REUSE(slot)); NULL when out of memory or inside a
 * parallel region. */
tg_bf16 *tg_bf16_scratch(int slot, size_t n);
/* tg_sum_rows_into(dst, src, NULL, 1, rows, cols) that also writes the
 * bf16 copy of src into h (same layout) in the same pass over src: a
 * linear layer's bias gradient and the bf16 dY of its two products. */
void tg_sum_rows_into_bf16(tg_real *dst, const tg_real *src, tg_bf16 *h, size_t rows, size_t cols);
/* Starts a new pass (tg_forward): parameter copies are refreshed at their
 * next use. */
void tg_bf16_next_pass(void);
/* Backward of the current pass starts (tg_backward): from now on the copy
 * of a TG_FLAG_BF16_SAVED tensor (its float32 values are gone) is only
 * looked up, never made. */
void tg_bf16_backward_begin(void);
/* The name of the first TG_FLAG_BF16_SAVED tensor whose bf16 copy could
 * not be made (out of memory) or was gone when backward needed it (another
 * bf16 pass ran in between) since the last call, or NULL; clears it. */
const char *tg_bf16_take_lost(void);
/* Records t as such a tensor (an op whose backward could not run its
 * products on t's bf16 copy, out of memory); thread-safe. */
void tg_bf16_note_lost(const tg_tensor *t);
/* The bf16 copy of a TG_FLAG_BF16_SAVED tensor widened back to float32
 * into a new buffer (the caller frees it): what an fp32 fallback of a
 * backward product reads instead of the float32 values the plan did not
 * keep. NULL when the copy is gone or out of memory (recorded as lost). */
float *tg_bf16_widen_saved(const tg_tensor *t);
/* 1 when t (or the storage it views) has TG_FLAG_BF16_SAVED. */
int tg_bf16_saved(const tg_tensor *t);
/* Counters for tests: conversions of parameters to bf16 since the
 * process started. */
long tg_bf16_param_conversions(void);
/* Frees the parameter copies and scratch buffers (tests, tools). */
void tg_bf16_release(void);
/* 1 when the ops of a bf16 graph run their products in bf16 (the graph
 * asks for it and this machine can: tg_bf16_available). */
int tg_bf16_on(const tg_tensor *out);
/* Re-plans g's arena when its precision changed since it was planned
 * (graph/plan.c); TG_OK, or TG_ERR_NOMEM with g unplanned. */
int tg_graph_replan(tg_graph *g);

/* bf16 GEMM on oneDNN: batch products C = alpha op(A) op(B) + beta C with
 * bf16 A, B, f32 C and f32 accumulation; entries stride_* apart (stride_b
 * 0: one B for all). Cached primitive per shape. Returns TG_OK, or
 * TG_ERR_ARG when oneDNN has no bf16 matmul for it on this CPU (nothing
 * written), or another status on failure. */
int tg_dnnl_gemm_bf16(int batch, int ta, int tb, int m, int n, int k, float alpha, const tg_bf16 *a,
                      int lda, size_t stride_a, const tg_bf16 *b, int ldb, size_t stride_b,
                      float beta, tg_real *c, int ldc, size_t stride_c);
/* A linear layer's forward in bf16: C[m, n] = A[m, k] B[n, k]^T + bias[n]
 * (dense rows), the bias added by oneDNN. Returns as tg_dnnl_gemm_bf16. */
int tg_dnnl_gemm_bf16_bias(int m, int n, int k, const tg_bf16 *a, const tg_bf16 *b,
                           const tg_real *bias, tg_real *c);
/* oneDNN's implementation name for that product ("brg:avx512_core_amx_bf16",
 * "none" when it has none). */
const char *tg_dnnl_bf16_impl(int batch, int ta, int tb, int m, int n, int k, float alpha,
                              int lda, size_t stride_a, int ldb, size_t stride_b, float beta,
                              int ldc, size_t stride_c);
/* 1 when oneDNN's effective ISA has native bf16 (AVX512-BF16 or AMX). */
int tg_dnnl_native_bf16(void);
/* The GEMM of the ops in the graph's precision: tg_gemm_batched on fp32
 * (a, b), or, when tg_bf16_on(out), on their bf16 copies (tensors ta_t,
 * tb_t own a, b: parameters are cached; slot_a, slot_b pick scratch for
 * the others), falling back to fp32 if that fails. a_n, b_n: the floats
 * of a and b to convert. A gradient goes in with a NULL tensor: a tensor
 * whose data pointer equals the operand is taken for that activation
 * (its bf16 copy), and the plan may place a gradient at the address its
 * tensor's float32 values had. */
void tg_gemm_prec(const tg_tensor *out, int batch, int ta, int tb, int m, int n, int k,
                  tg_real alpha, const tg_tensor *a_t, const tg_real *a, size_t a_n, int lda,
                  size_t stride_a, int slot_a, const tg_tensor *b_t, const tg_real *b, size_t b_n,
                  int ldb, size_t stride_b, int slot_b, tg_real beta, tg_real *c, int ldc,
                  size_t stride_c);

#endif
