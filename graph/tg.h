/* tg: tensors, a computation graph and reverse-mode autodiff.
 *
 * A graph is a node array in topological (creation) order. Op constructors
 * (tg_matmul, tg_add, ...; declared in ops/tg_ops.h) check shapes and append
 * a node. Errors are sticky: a constructor that fails, or that is given a
 * NULL input, returns NULL and leaves the first message in the graph, so
 * builder code can chain calls and check once at the end.
 *
 * Life of a graph:
 *   g = tg_graph_new();
 *   x = tg_input(g, TG_I32, 2, (int[]){B, T}, "input_ids");
 *   ... loss = tg_cross_entropy(g, logits, labels, -100);
 *   tg_graph_plan(g, loss);          // liveness plan, one arena, no more allocs
 *   loop: fill inputs; tg_forward(g); tg_backward(g, loss, NULL);
 *   tg_graph_free(g);
 *
 * Parameters live outside graphs in a tg_params store (one contiguous buffer
 * for values, one for gradients), so graphs can be rebuilt per input shape.
 * The same store holds state that survives between forward calls: a store
 * of non-trainable tensors (a KV cache) that ops such as tg_cache_write
 * update in place.
 */
#ifndef TG_H
#define TG_H

#include <stddef.h>
#include <stdint.h>

#define TG_MAX_DIMS 4
#define TG_MAX_SRC 5
#define TG_NAME_LEN 96

/* Status codes returned by library functions. 0 is success. */
enum {
    TG_OK = 0,
    TG_ERR_SHAPE = -1, /* shape or dtype mismatch */
    TG_ERR_NOMEM = -2, /* allocation failed */
    TG_ERR_ARG = -3,   /* invalid argument */
    TG_ERR_IO = -4,    /* file could not be read or written */
    TG_ERR_FORMAT = -5 /* malformed file contents */
};

/* ---- errors ------------------------------------------------------------ */

/* Records a printf-style message as this thread's last error and returns
 * `code`. Library code calls it where a failure starts; callers print
 * tg_last_error(). */
int tg_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message of the last error recorded on this thread ("" if none). */
const char *tg_last_error(void);

/* ---- allocation -------------------------------------------------------- */

/* All library allocations go through these. They record TG_ERR_NOMEM with a
 * message naming `what` on failure and return NULL. */
void *tg_malloc(size_t n, const char *what);
void *tg_calloc(size_t count, size_t size, const char *what);
void *tg_realloc(void *p, size_t n, const char *what);
void tg_free(void *p);
/* Test hook: make the n-th allocation from now fail (n >= 1); 0 disables. */
void tg_alloc_fail_after(long n);
/* Test hook: 1 once the failure armed by tg_alloc_fail_after has happened
 * (so a sweep can tell an absorbed failure from one never reached). */
int tg_alloc_fail_fired(void);

/* ---- threads ----------------------------------------------------------- */

/* One setting for every thread pool (OpenMP loops, oneDNN, OpenBLAS) so they
 * never oversubscribe the cores. n <= 0 means the number of online cores. */
void tg_set_threads(int n);
int tg_threads(void);

/* ---- random numbers ---------------------------------------------------- */

/* Counter-based generator: the same seed gives the same stream on any thread
 * count. */
typedef struct {
    uint64_t seed, counter;
} tg_rng;
void tg_rng_seed(tg_rng *r, uint64_t seed);
uint64_t tg_rng_next(tg_rng *r);      /* uniform 64-bit */
double tg_rng_uniform(tg_rng *r);     /* [0, 1) */
double tg_rng_normal(tg_rng *r);      /* N(0, 1) */
/* Stateless hash of (key, index) to [0, 1): used where each element needs its
 * own reproducible draw independent of evaluation order (dropout). */
double tg_hash_uniform(uint64_t key, uint64_t index);

/* ---- tensors ----------------------------------------------------------- */

/* The element type of TG_F32 tensors, their gradients and every op's
 * arithmetic: float, or double in the float64 test build of graph/ and ops/
 * (-DTG_REAL_DOUBLE: tests/test_gradcheck64.c; docs/reliability.md). */
#ifdef TG_REAL_DOUBLE
typedef double tg_real;
#else
typedef float tg_real;
#endif

typedef enum { TG_F32 = 0, TG_I32 = 1 } tg_dtype;

enum {
    TG_FLAG_PARAM = 1 << 0,     /* lives in a tg_params store */
    TG_FLAG_TRAINABLE = 1 << 1, /* gets a gradient */
    TG_FLAG_INPUT = 1 << 2,     /* graph input: caller fills data */
    TG_FLAG_NEEDS_GRAD = 1 << 3,/* backward computes its gradient */
    TG_FLAG_VIEW = 1 << 4,      /* shares the data of src[0] */
    TG_FLAG_KEEP = 1 << 5,      /* output stays valid after the run */
    TG_FLAG_BF16_SAVED = 1 << 6 /* backward reads only its bf16 copy (graph/plan.c) */
};

typedef struct tg_graph tg_graph;
typedef struct tg_tensor tg_tensor;

struct tg_tensor {
    tg_dtype dtype;
    int ndim;
    int shape[TG_MAX_DIMS];
    size_t numel;
    void *data;    /* tg_real* or int32_t*; valid after tg_graph_plan */
    tg_real *grad; /* NULL unless a gradient is kept */
    int op;       /* index in the op table; -1 for leaves */
    int nsrc;
    tg_tensor *src[TG_MAX_SRC];
    float fp[4];  /* op parameters (eps, scale, p, ...) */
    int ip[8];    /* op parameters (flags, dim, ...) */
    void *aux;    /* op-owned saved state, allocated at plan time */
    size_t aux_bytes;
    int flags;
    int id;       /* index in its graph's node array; -1 for parameters */
    tg_graph *graph;
    char name[TG_NAME_LEN];
};

/* The values of a TG_F32 tensor (tg_real: float but in the float64 build). */
static inline tg_real *tg_f32(const tg_tensor *t) { return (tg_real *)t->data; }
static inline int32_t *tg_i32(const tg_tensor *t) { return (int32_t *)t->data; }
/* Writes "[a, b, c]" into buf (at least 64 bytes); returns buf. */
char *tg_shape_str(const tg_tensor *t, char *buf, size_t n);
/* Sets the tensor's name (printf-style); returns t. NULL-safe. */
tg_tensor *tg_set_name(tg_tensor *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- parameters -------------------------------------------------------- */

typedef struct tg_params tg_params;

tg_params *tg_params_new(void);
void tg_params_free(tg_params *p);
/* Declares a float32 parameter. Values and gradients are placed in the
 * store's contiguous buffers by tg_params_alloc; declare everything first.
 * Returns NULL (with tg_last_error) on a bad shape or a duplicate name. */
tg_tensor *tg_params_add(tg_params *p, const char *name, int ndim, const int *shape,
                         int trainable);
/* Allocates one zeroed buffer for all values and one for all gradients
 * (none when no tensor is trainable: a state store). Returns a status; fails, repeating its message, if any tg_params_add
 * failed (so a NULL from a failed declaration cannot go unnoticed). */
int tg_params_alloc(tg_params *p);
int tg_params_count(const tg_params *p);          /* number of tensors */
tg_tensor *tg_params_at(const tg_params *p, int i);
tg_tensor *tg_params_find(const tg_params *p, const char *name);
size_t tg_params_numel(const tg_params *p);       /* buffer floats, incl. 64-byte alignment gaps */
tg_real *tg_params_values(tg_params *p);          /* contiguous values */
tg_real *tg_params_grads(tg_params *p);           /* contiguous grads  */
/* Offset of tensor t's first element in the contiguous buffers. */
size_t tg_params_offset(const tg_params *p, const tg_tensor *t);
void tg_params_zero_grad(tg_params *p);

/* ---- graphs ------------------------------------------------------------ */

tg_graph *tg_graph_new(void);
void tg_graph_free(tg_graph *g);
/* Declares an input tensor that the caller fills after tg_graph_plan. */
tg_tensor *tg_input(tg_graph *g, tg_dtype dt, int ndim, const int *shape, const char *name);
/* First error recorded while building (NULL if none). */
const char *tg_graph_error(const tg_graph *g);
/* Records g's first build error (printf-style; later ones are dropped) and
 * returns NULL, as the op constructors do on a shape mismatch: for
 * builders composing ops (models/) that find a problem of their own. */
tg_tensor *tg_fail(tg_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tg_graph_nodes(const tg_graph *g);
tg_tensor *tg_graph_node(const tg_graph *g, int i);

/* Training mode enables dropout. Default: training off. */
void tg_graph_set_training(tg_graph *g, int on);
int tg_graph_training(const tg_graph *g);
/* An inference graph has no dropout: call on a new, empty graph (ignored
 * once a node exists); tg_dropout then returns its input unchanged (no
 * node) and tg_attention drops its dropout, so training mode has nothing
 * to switch on. Generation's step graphs are built so. */
void tg_graph_set_inference(tg_graph *g, int on);
int tg_graph_inference(const tg_graph *g);
/* Precision of the graph's matrix products (tg_linear, tg_matmul and the
 * GEMMs of tg_attention), forward and backward. TG_PREC_BF16 is PyTorch
 * autocast's contract: GEMM operands rounded to bfloat16 (round to
 * nearest even), products accumulated in fp32 into fp32 outputs; every
 * other op (LayerNorm, softmax, the loss), the parameters, their gradients
 * and the optimizer stay fp32. Takes effect at the next forward; the
 * default is TG_PREC_F32. A planned graph's activation arena is re-planned
 * for the new precision (bf16 keeps only the bf16 copy of a linear layer's
 * input for backward); inputs keep their values. If that runs out of
 * memory the graph records the error and tg_forward returns it. Where oneDNN has no bf16 matmul (a CPU without
 * AVX-512: tg_bf16_available() == 0) the products stay fp32. */
typedef enum { TG_PREC_F32 = 0, TG_PREC_BF16 = 1 } tg_precision;
void tg_graph_set_precision(tg_graph *g, tg_precision p);
tg_precision tg_graph_precision(const tg_graph *g);
/* 0: no bf16 matmul on this machine; 1: oneDNN emulates it (AVX-512
 * without AVX512-BF16: slower than fp32); 2: native (AVX512-BF16 or AMX).
 * Probes oneDNN once (ONEDNN_MAX_CPU_ISA caps what it may use). */
int tg_bf16_available(void);
/* TG_OK when tg_bf16_available(), else TG_ERR_ARG with a message naming
 * `flag` ("--bf16: this CPU has no bfloat16 matrix products ..."). */
int tg_bf16_require(const char *flag);

/* Seeds the graph's random stream (dropout). Each tg_forward advances it. */
void tg_graph_seed(tg_graph *g, uint64_t seed);
uint64_t tg_graph_rng_state(const tg_graph *g);
void tg_graph_set_rng_state(tg_graph *g, uint64_t step);

/* Plans memory for forward and, when loss is non-NULL, backward from loss:
 * marks which nodes need gradients, computes buffer lifetimes over the
 * execution order, and places all activations and intermediate gradients in
 * one arena. Tensors backward needs stay alive; the rest share memory.
 * keep_all != 0 gives every tensor its own buffer (debugging, tests).
 * Returns a status. After it, no allocation happens in forward/backward. */
int tg_graph_plan(tg_graph *g, tg_tensor *loss, int keep_all);
/* Bytes of the activation arena, and what keep-everything would need. */
size_t tg_graph_planned_bytes(const tg_graph *g);
size_t tg_graph_unplanned_bytes(const tg_graph *g);

/* Graphs that never run at the same time (a cache of graphs by input
 * shape) can share one activation arena, so caching a graph per shape costs
 * no extra activation memory. The arena grows to the largest plan; a graph
 * re-points its buffers when the arena has moved since its last run. Call
 * tg_graph_share_arena before tg_graph_plan; the arena must outlive the
 * graphs. */
typedef struct tg_arena tg_arena;
tg_arena *tg_arena_new(void);
void tg_arena_free(tg_arena *a);
size_t tg_arena_bytes(const tg_arena *a);
void tg_graph_share_arena(tg_graph *g, tg_arena *a);

/* Marks a node's output as needed after the run (kept from reuse). Call
 * before tg_graph_plan; the loss and its root are always kept. */
void tg_graph_keep(tg_graph *g, tg_tensor *t);

/* Runs the forward pass. Returns a status. */
int tg_forward(tg_graph *g);
/* Runs backward from root with upstream gradient `seed` (root->numel floats;
 * NULL means all ones). Parameter gradients are ADDED to (accumulate across
 * calls until tg_params_zero_grad); intermediate gradients are reset. */
int tg_backward(tg_graph *g, tg_tensor *root, const tg_real *seed);
/* A function tg_backward calls on the calling thread after each node's
 * backward step (nodes in reverse order; node is the one just done), so a
 * caller can act on gradients as they become final (examples/dist.c posts
 * the all-reduce of complete gradient buckets). NULL: none (the default). */
void tg_set_backward_hook(void (*fn)(void *ctx, const tg_tensor *node), void *ctx);

/* ---- profiling --------------------------------------------------------- */

/* When enabled, tg_forward/tg_backward time every node and add the time to
 * its op's forward or backward total. */
void tg_profile_enable(int on);
void tg_profile_reset(void);
/* Prints a table of op, calls, forward and backward milliseconds, sorted by
 * total time. Ops are named by the op table. */
void tg_profile_report(void *file /* FILE* */);

#endif
