/* tg ops: the op constructors a graph builder calls, and the op table.
 *
 * Each constructor checks shapes when the node is built; on a mismatch it
 * returns NULL and records "tg_OP: what differs: a is [..], b is [..]" in
 * the graph (tg_graph_error). Any NULL input also yields NULL, so builder
 * code chains calls and checks once.
 *
 * Each op lives in one file of ops/ with its shape rule, forward and
 * backward side by side, and one row in the op table (ops/optable.c).
 */
#ifndef TG_OPS_H
#define TG_OPS_H

#include "tg.h"

/* Op ids: the op table's index. Keep in step with ops/optable.c. */
enum {
    TG_OP_MATMUL,
    TG_OP_ADD,
    TG_OP_SUB,
    TG_OP_MUL,
    TG_OP_SCALE,
    TG_OP_LAYER_NORM,
    TG_OP_GELU,
    TG_OP_TANH,
    TG_OP_SOFTMAX,
    TG_OP_DROPOUT,
    TG_OP_EMBEDDING,
    TG_OP_RESHAPE,
    TG_OP_PERMUTE,
    TG_OP_CONCAT,
    TG_OP_SLICE,
    TG_OP_CROSS_ENTROPY,
    TG_OP_SUM,
    TG_OP_MEAN,
    TG_OP_LINEAR,
    TG_OP_ATTENTION,
    TG_OP_GELU_NEW,
    TG_OP_CACHE_WRITE,
    TG_OP_RELU,
    TG_OP_ATTENTION_DECODE,
    TG_OP_COUNT
};

/* One row of the op table. forward computes out from out->src and returns
 * a status (an op that validates data, like an index range, records the
 * error); backward ADDS into the gradient of every source whose grad is
 * non-NULL, reading out->grad. `keep` says which tensors backward reads: bit i for src[i],
 * TG_KEEP_OUT for the output; the memory plan keeps exactly those alive.
 * TG_KEEP_BF16(i) with TG_KEEP_SRC(i): in a bf16 graph, backward reads
 * src[i] only through the bf16 copy forward made (tg_bf16_operand; an fp32
 * fallback reads tg_bf16_widen_saved), so the plan need not keep its
 * float32 values (graph/plan.c); TG_KEEP_OUT_BF16 with TG_KEEP_OUT says
 * the same of the output (whose copy forward makes: tg_bf16_reserve).
 * TG_GRAD_OVERWRITE(i): backward asks tg_grad_claim(src[i]) before writing
 * src[i]'s gradient and, when it returns 1, overwrites every element of it
 * instead of adding (the first writer of a fresh gradient: graph/exec.c
 * then skips clearing it). */
#define TG_KEEP_SRC(i) (1u << (i))
#define TG_KEEP_OUT (1u << 8)
#define TG_KEEP_OUT_BF16 (1u << 9) /* with TG_KEEP_OUT: the output as TG_KEEP_BF16 a source */
#define TG_KEEP_BF16(i) (1u << (16 + (i)))
#define TG_GRAD_OVERWRITE(i) (1u << (24 + (i)))
typedef struct {
    const char *name;
    int (*forward)(tg_tensor *out);
    void (*backward)(tg_tensor *out);
    unsigned keep;
    int is_view; /* output aliases src[0]'s data (reshape) */
} tg_opdef;

extern const tg_opdef *const tg_optable[TG_OP_COUNT];

/* ---- constructors ------------------------------------------------------ */

/* Matrix product over the last two dims. a: [..., M, K] (or [..., K, M] if
 * ta), b: [..., K, N] (or [..., N, K] if tb). b may be 2-D and is then
 * shared by every batch entry (a linear layer); otherwise the leading dims
 * of a and b must be equal. Out: [..., M, N]. */
tg_tensor *tg_matmul(tg_graph *g, tg_tensor *a, tg_tensor *b, int ta, int tb);

/* Elementwise a op b. b's shape equals a's, or equals a's trailing dims and
 * is repeated over a's leading dims (bias add). Out has a's shape. */
tg_tensor *tg_add(tg_graph *g, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_sub(tg_graph *g, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_mul(tg_graph *g, tg_tensor *a, tg_tensor *b);
/* x * s for a constant s. */
tg_tensor *tg_scale(tg_graph *g, tg_tensor *x, float s);

/* Layer norm over the last dim: (x - mean) / sqrt(var + eps) * gamma + beta,
 * biased variance as torch. gamma, beta: [last dim]. */
tg_tensor *tg_layer_norm(tg_graph *g, tg_tensor *x, tg_tensor *gamma, tg_tensor *beta,
                         float eps);
/* GELU, exact erf form: x/2 * (1 + erf(x/sqrt 2)). */
tg_tensor *tg_gelu(tg_graph *g, tg_tensor *x);
tg_tensor *tg_tanh(tg_graph *g, tg_tensor *x);
/* max(x, 0); the gradient is 0 where the output is 0. */
tg_tensor *tg_relu(tg_graph *g, tg_tensor *x);
/* GELU, tanh approximation (GPT-2's "gelu_new", torch's gelu(approximate=
 * "tanh")): x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))). */
tg_tensor *tg_gelu_new(tg_graph *g, tg_tensor *x);
/* Softmax over the last dim of x + mask. mask is NULL or broadcastable to x
 * (each dim equal or 1, same rank): padding masks [B,1,1,T], causal [1,1,T,T]
 * with 0 for kept and a large negative number for masked positions. */
tg_tensor *tg_softmax(tg_graph *g, tg_tensor *x, tg_tensor *mask);
/* Inverted dropout with probability p; identity when the graph is not in
 * training mode or p == 0. Masks come from the graph's seeded stream. */
tg_tensor *tg_dropout(tg_graph *g, tg_tensor *x, float p);
/* Row gather: weight [V, H], idx int32 [...] -> [..., H]. Backward
 * scatter-adds into weight, skipping rows equal to padding_idx (-1: none).
 * An index outside [0, V) makes tg_forward fail naming the tensor. */
tg_tensor *tg_embedding(tg_graph *g, tg_tensor *weight, tg_tensor *idx, int padding_idx);
/* Same elements, new shape (a view, no copy). One dim may be -1. */
tg_tensor *tg_reshape(tg_graph *g, tg_tensor *x, int ndim, const int *shape);
/* Copy with dims reordered: out dim i is x dim perm[i]. */
tg_tensor *tg_permute(tg_graph *g, tg_tensor *x, int ndim, const int *perm);
/* Concatenation of a and b along dim (other dims equal). */
tg_tensor *tg_concat(tg_graph *g, tg_tensor *a, tg_tensor *b, int dim);
/* Elements [start, start+len) along dim. */
tg_tensor *tg_slice(tg_graph *g, tg_tensor *x, int dim, int start, int len);
/* Mean cross-entropy of logits [N, V] (or [..., V]) against int32 targets
 * [N] (or [...]), ignoring targets equal to ignore_index; log-softmax fused.
 * Out: [1]. With no counted target the loss is 0 and gradients are 0.
 * A target outside [0, V) other than ignore_index makes tg_forward fail. */
tg_tensor *tg_cross_entropy(tg_graph *g, tg_tensor *logits, tg_tensor *targets,
                            int ignore_index);
/* Sum and mean of all elements. Out: [1]. */
tg_tensor *tg_sum(tg_graph *g, tg_tensor *x);
tg_tensor *tg_mean(tg_graph *g, tg_tensor *x);

/* Fused linear layer: x @ w^T + b with torch's [out, in] weight layout.
 * x: [..., K], w: [N, K], b: [N] or NULL. Out: [..., N]. */
tg_tensor *tg_linear(tg_graph *g, tg_tensor *x, tg_tensor *w, tg_tensor *b);

/* Options of tg_attention. Zero means the default for every field but
 * heads, so callers write &(tg_attn_args){.heads = nh, .causal = 1}. */
typedef struct {
    int heads;         /* number of heads (>= 1); head size hd = dim / heads */
    int dim;           /* width read from each of q, k, v and written to out;
                          0: q's last dim minus q_col */
    int q_col, k_col, v_col; /* first column of q, k, v in their last dim, so a
                          fused [.., 3*dim] projection (GPT-2's c_attn) feeds
                          q, k and v without a copy */
    float scale;       /* score scale; 0: 1/sqrt(hd) */
    int causal;        /* query i sees only keys j <= i + pos */
    float dropout;     /* dropout on the attention probabilities, in [0, 1);
                          active in training mode only, as tg_dropout */
    tg_tensor *pos;    /* causal only: int32 [1], read at each forward, the key
                          index of query 0 (a KV-cached step: the cache
                          length before it); NULL: Tk - Tq */
} tg_attn_args;

/* Fused multi-head scaled dot-product attention (flash-style).
 * q: [B, Tq, Wq], k: [B, Tk, Wk], v: [B, Tk, Wv] float32 (linear outputs);
 * head h of q is columns q_col + h*hd .. q_col + (h+1)*hd, read with
 * strides (no permute copies), likewise k and v. key_mask: int32 [B, Tk]
 * (nonzero = attend, 0 = padding) or NULL. Out: [B, Tq, dim], head h in
 * columns h*hd..(h+1)*hd:
 *   out[b, i, h] = sum_j P[b, h, i, j] v[b, j, h],
 *   P = softmax_j(scale * q[b, i, h] . k[b, j, h]) over the visible keys j
 *   (key_mask[b, j] != 0 and, when causal, j <= i + pos), then dropout.
 * A query that sees no key gets output 0 and gradient 0 (never NaN).
 * Backward keeps q, k, v, the mask and the output plus one log-sum-exp
 * per (b, h, i); the [B, heads, Tq, Tk] probabilities are never stored.
 * q, k, v may be the same tensor (a fused projection) when their column
 * ranges are equal or disjoint. With pos, tg_forward fails unless
 * 0 <= pos <= Tk - Tq, and keys past pos + Tq - 1 are never read. */
tg_tensor *tg_attention(tg_graph *g, tg_tensor *q, tg_tensor *k, tg_tensor *v,
                        tg_tensor *key_mask, const tg_attn_args *a);

/* Attention of a generation step (ops/attention_decode.c): the semantics of
 * tg_attention without dropout and with key padding given as lengths,
 * for few queries against many keys (a KV cache): key j is visible to
 * query i of batch row b when j < lengths[b] (lengths: int32 [B], or NULL:
 * all keys) and, when causal, j <= i + pos (pos as tg_attention's:
 * an int32 [1] read at each forward, 0 <= pos <= Tk - Tq, else Tk - Tq).
 * Keys past the visible ones are never read, so a cache's rows past
 * pos + Tq - 1 may hold anything. q, k, v and their column ranges as
 * tg_attention's, read in place by strides (no copy). a->dropout must be
 * 0 unless the graph is an inference graph (where dropout is off). A
 * query that sees no key gets output 0 and gradient 0. Backward keeps
 * one log-sum-exp per (b, head, query). */
tg_tensor *tg_attention_decode(tg_graph *g, tg_tensor *q, tg_tensor *k, tg_tensor *v,
                               tg_tensor *lengths, const tg_attn_args *a);

/* In-place write into persistent state (a KV cache): rows pos..pos+Tn-1 of
 * cache [B, T, W] get columns x_col..x_col+W-1 of x [B, Tn, Wx]. cache is a
 * tensor of a parameter store (non-trainable for generation: a state store
 * that survives between forward calls); pos is an int32 [1] read at each
 * forward, which fails unless 0 <= pos <= T - Tn. The output is the cache
 * itself (a view, no buffer, no copy): the rows written by earlier steps
 * plus the new ones, for tg_attention with .pos. Backward: the gradient of
 * the written rows goes to x and is reset in the cache's gradient (their
 * old contents never reached the output); it needs a cache with a gradient
 * (tg_graph_plan refuses a non-trainable one), and with a trainable cache
 * it resets those rows of the gradient accumulated so far too. */
tg_tensor *tg_cache_write(tg_graph *g, tg_tensor *cache, tg_tensor *x, int x_col, tg_tensor *pos);

#endif
