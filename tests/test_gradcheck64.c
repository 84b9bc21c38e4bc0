/* Float64 gradient check of every op variant (the tg64 build: graph/ and
 * ops/ compiled with tg_real = double, scalar kernels, cblas_dgemm; see
 * CMakeLists.txt and docs/reliability.md).
 *
 * Each case builds one op (or several variants of it, flattened and
 * concatenated into one output) at realistic widths (64-768; softmax rows
 * of 128-300; attention heads of 64, with more keys than one 256-key tile
 * and more queries than one 128-query tile) on float64 parameters drawn
 * from N(0, 1), runs backward from the output with a random upstream
 * gradient R and compares, for f = sum(out * R):
 *  - the directional derivative <grad f, v> for a random direction v over
 *    all parameters with (f(x + h v) - f(x - h v)) / 2h, and
 *  - NELEM elements of every parameter's gradient (first, last, random)
 *    with (f(x + h e_i) - f(x - h e_i)) / 2h;
 * elements that get no gradient by definition (padding rows, overwritten
 * cache rows, queries that see no key, all-ignored targets) must be exactly
 * 0, and no parameter's gradient may be all zero where the differences are
 * not. The numeric side is summed as sum_i R_i (out_i(+) - out_i(-)) / 2h,
 * so outputs the perturbation does not reach contribute exactly 0.
 *
 * Tolerance (central differences, h = 1e-6, double: eps = 2^-52):
 *  - truncation: h^2 / 6 |f'''| / |f'| ~ 2e-13 for O(1) curvature; 1e-7 leaves
 *    a factor 1e5 for the steep ops (softmax, GELU, tanh at |x| ~ 3);
 *  - the analytic side rounds at ~eps * w relative (w: reduction width,
 *    <= 768 here): <= 2e-13;
 *  - rounding of the difference: each output carries a rounding error of
 *    about eps sqrt(w) |out_i| (a w-term sum with random-sign errors), so the
 *    quotient carries NOISE = (eps / h) sqrt(w sum_i (R_i out_i)^2) over the
 *    outputs the perturbation changed, independent errors adding in
 *    quadrature; we allow 8 NOISE (8 standard deviations).
 * A check passes when |analytic - numeric| <= 1e-7 max(|a|, |n|) + 8 NOISE.
 * For the directional check NOISE itself must stay below 1e-8 |<grad f, v>|
 * (asserted), so the 1e-7 relative bound is what decides: a backward that is
 * off by 1e-6 relative anywhere fails the suite (float32's test_gradcheck,
 * h = 1e-2, passes errors below ~1e-3). An op without a case fails the suite. */
#include "gradcheck.h"
#include "tg_internal.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(tg_real) == 8, "test_gradcheck64 links the float64 build (tg64)");

#define H 1e-6
#define TOL 1e-7
#define NOISE_SIGMAS 8.0
#define RESOLUTION 1e-6 /* the directional check's noise allowance, at most */
#define NELEM 6         /* per-element checks per parameter tensor */

typedef struct {
    int op;
    const char *what;
    int width; /* the widest reduction in the case (w above) */
    tg_tensor *(*build)(tg_graph *g, tg_params *p, tg_rng *r);
} gc_case;

/* up to 4 ranges [lo, hi) of parameters whose gradient is 0 by definition */
static struct {
    tg_tensor *t;
    size_t lo, hi;
} zeros[4];
static int nzeros;
/* called after the parameters are drawn (masks, kinks) */
static void (*post_init)(tg_params *p);

static void zero_range(tg_tensor *t, size_t lo, size_t hi)
{
    zeros[nzeros].t = t, zeros[nzeros].lo = lo, zeros[nzeros++].hi = hi;
}

static int in_zeros(const tg_tensor *t, size_t i)
{
    int zero = 0;
    for (int z = 0; z < nzeros; z++)
        zero |= zeros[z].t == t && i >= zeros[z].lo && i < zeros[z].hi;
    return zero;
}

/* a and b flattened and concatenated: several variants in one output */
static tg_tensor *cat(tg_graph *g, tg_tensor *a, tg_tensor *b)
{
    if (!a)
        return b;
    return tg_concat(g, tg_reshape(g, a, 2, (int[]){1, -1}), tg_reshape(g, b, 2, (int[]){1, -1}),
                     1);
}

/* ---- builders ------------------------------------------------------------ */

/* x [8, 768]: the input of the elementwise ops and reductions */
static tg_tensor *x768(tg_params *p) { return gc_param(p, "x", 2, 8, 768, 0, 0); }

/* One transpose pair: 2-D x 2-D, batched 3-D, 3-D x shared 2-D (a linear
 * layer), batched 4-D. */
static tg_tensor *matmul_t(tg_graph *g, tg_params *p, int ta, int tb)
{
    int m = 48, k = 64, n = 40, B = 2, Hh = 2;
#define MA(name, nd, ...) gc_param(p, name, nd, __VA_ARGS__)
    tg_tensor *a2 = ta ? MA("a2", 2, k, m, 0, 0) : MA("a2", 2, m, k, 0, 0);
    tg_tensor *b2 = tb ? MA("b2", 2, n, k, 0, 0) : MA("b2", 2, k, n, 0, 0);
    tg_tensor *a3 = ta ? MA("a3", 3, B, k, m, 0) : MA("a3", 3, B, m, k, 0);
    tg_tensor *b3 = tb ? MA("b3", 3, B, n, k, 0) : MA("b3", 3, B, k, n, 0);
    tg_tensor *a4 = ta ? MA("a4", 4, B, Hh, k, m) : MA("a4", 4, B, Hh, m, k);
    tg_tensor *b4 = tb ? MA("b4", 4, B, Hh, n, k) : MA("b4", 4, B, Hh, k, n);
#undef MA
    tg_tensor *out = tg_matmul(g, a2, b2, ta, tb);
    out = cat(g, out, tg_matmul(g, a3, b3, ta, tb));
    out = cat(g, out, tg_matmul(g, a3, b2, ta, tb));
    return cat(g, out, tg_matmul(g, a4, b4, ta, tb));
}
static tg_tensor *b_mm_nn(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return matmul_t(g, p, 0, 0);
}
static tg_tensor *b_mm_tn(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return matmul_t(g, p, 1, 0);
}
static tg_tensor *b_mm_nt(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return matmul_t(g, p, 0, 1);
}
static tg_tensor *b_mm_tt(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return matmul_t(g, p, 1, 1);
}

/* a [2, 3, 16, 64] op b for every broadcast pattern b may take (same shape,
 * the last 1, 2 or 3 dims), a op a (one tensor as both sources), and a
 * 768-wide bias over 2-D rows. */
static tg_tensor *binary_all(tg_graph *g, tg_params *p, int op)
{
    tg_tensor *(*f)(tg_graph *, tg_tensor *, tg_tensor *) = op == TG_OP_ADD   ? tg_add
                                                            : op == TG_OP_SUB ? tg_sub
                                                                              : tg_mul;
    tg_tensor *a = gc_param(p, "a", 4, 2, 3, 16, 64);
    tg_tensor *out = f(g, a, gc_param(p, "same", 4, 2, 3, 16, 64));
    out = cat(g, out, f(g, a, gc_param(p, "last1", 1, 64, 0, 0, 0)));
    out = cat(g, out, f(g, a, gc_param(p, "last2", 2, 16, 64, 0, 0)));
    out = cat(g, out, f(g, a, gc_param(p, "last3", 3, 3, 16, 64, 0)));
    out = cat(g, out, f(g, a, a));
    tg_tensor *x = x768(p);
    return cat(g, out, f(g, x, gc_param(p, "bias768", 1, 768, 0, 0, 0)));
}
static tg_tensor *b_add(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return binary_all(g, p, TG_OP_ADD);
}
static tg_tensor *b_sub(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return binary_all(g, p, TG_OP_SUB);
}
static tg_tensor *b_mul(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return binary_all(g, p, TG_OP_MUL);
}

static tg_tensor *b_scale(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return tg_scale(g, x768(p), -1.7f);
}

/* rows of 768 (BERT-base) and of 64, eps 1e-5 and 1e-12 */
static tg_tensor *b_layer_norm(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_tensor *out =
        tg_layer_norm(g, gc_param(p, "x", 3, 2, 4, 768, 0), gc_param(p, "gamma", 1, 768, 0, 0, 0),
                      gc_param(p, "beta", 1, 768, 0, 0, 0), 1e-5f);
    return cat(g, out,
               tg_layer_norm(g, gc_param(p, "x64", 2, 6, 64, 0, 0),
                             gc_param(p, "g64", 1, 64, 0, 0, 0), gc_param(p, "b64", 1, 64, 0, 0, 0),
                             1e-12f));
}

static tg_tensor *b_gelu(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return tg_gelu(g, x768(p));
}
static tg_tensor *b_gelu_new(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return tg_gelu_new(g, x768(p));
}
static tg_tensor *b_tanh(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return tg_tanh(g, x768(p));
}

/* ReLU's kink: inputs within 1e-3 of 0 moved to +-1e-3, so no difference
 * (|h v| < 1e-5 here) crosses it */
static void away_from_zero(tg_params *p)
{
    tg_real *x = tg_f32(tg_params_find(p, "x"));
    for (size_t i = 0; i < tg_params_find(p, "x")->numel; i++)
        if (fabs(x[i]) < 1e-3)
            x[i] = x[i] < 0 ? -1e-3 : 1e-3;
}
static tg_tensor *b_relu(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    post_init = away_from_zero;
    return tg_relu(g, x768(p));
}

/* Masked positions of the softmax masks: -30 added to the drawn value
 * (mask entries stay parameters, so their gradient is checked too). */
static void softmax_masks(tg_params *p)
{
    tg_tensor *c = tg_params_find(p, "causal"), *pad = tg_params_find(p, "padding");
    int t = c->shape[3];
    for (int i = 0; i < t; i++)
        for (int j = i + 1; j < t; j++)
            tg_f32(c)[(size_t)i * t + j] -= 30;
    for (int b = 0; b < pad->shape[0]; b++)
        for (int j = t - 16 * (b + 1); j < t; j++)
            tg_f32(pad)[(size_t)b * t + j] -= 30;
}

/* rows of 128 with no mask and masks of shape [B,1,1,T] (padding),
 * [1,1,T,T] (causal), [1,H,1,T] and the full shape; one 300-wide row set */
static tg_tensor *b_softmax(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    int B = 2, Hh = 2, T = 128;
    post_init = softmax_masks;
    tg_tensor *x = gc_param(p, "x", 4, B, Hh, 4, T);
    tg_tensor *xc = gc_param(p, "xc", 4, 1, 1, T, T);
    tg_tensor *out = tg_softmax(g, x, NULL);
    out = cat(g, out, tg_softmax(g, x, gc_param(p, "padding", 4, B, 1, 1, T)));
    out = cat(g, out, tg_softmax(g, xc, gc_param(p, "causal", 4, 1, 1, T, T)));
    out = cat(g, out, tg_softmax(g, x, gc_param(p, "head", 4, 1, Hh, 1, T)));
    out = cat(g, out, tg_softmax(g, x, gc_param(p, "full", 4, B, Hh, 4, T)));
    return cat(g, out, tg_softmax(g, gc_param(p, "x300", 2, 3, 300, 0, 0), NULL));
}

static tg_tensor *b_dropout(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_graph_set_training(g, 1); /* the harness fixes the rng state per forward */
    tg_tensor *x = x768(p);
    return cat(g, tg_dropout(g, x, 0.1f), tg_dropout(g, x, 0.5f));
}

/* vocab 100 x 768, padding row 1 (zero gradient), repeated ids; and the
 * same table without padding index */
static tg_tensor *b_embedding(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    int V = 100, Hd = 768, s[2] = {4, 64};
    tg_tensor *w = gc_param(p, "weight", 2, V, Hd, 0, 0),
              *w2 = gc_param(p, "weight2", 2, V, 64, 0, 0);
    zero_range(w, 1 * (size_t)Hd, 2 * (size_t)Hd);
    tg_tensor *ids = gc_int_input(g, 2, s, 0, V, 0);
    return cat(g, tg_embedding(g, w, ids, 1), tg_embedding(g, w2, ids, -1));
}

/* the masked LM head's gather: rows of an activation, picked with repeats */
static tg_tensor *b_gather_rows(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    int n = 64, h = 768, k[1] = {96}, flat[2] = {2 * n, h};
    tg_tensor *rows = tg_reshape(g, tg_scale(g, gc_param(p, "x", 3, 2, n, h, 0), 1.5f), 2, flat);
    return tg_embedding(g, rows, gc_int_input(g, 1, k, 0, 2 * n, 0), -1);
}

static tg_tensor *b_reshape(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_tensor *x = gc_param(p, "x", 2, 12, 64, 0, 0);
    return tg_scale(g, tg_reshape(g, tg_scale(g, x, 1.0f), 3, (int[]){4, -1, 32}), 2.0f);
}

/* the attention-head permutations and their inverses, a 3-D rotation */
static tg_tensor *b_permute(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_tensor *x = gc_param(p, "x", 4, 2, 16, 4, 64), *y = gc_param(p, "y", 3, 8, 16, 64, 0);
    tg_tensor *out = tg_permute(g, x, 4, (int[]){0, 2, 1, 3});
    out = cat(g, out, tg_permute(g, x, 4, (int[]){0, 2, 3, 1}));
    out = cat(g, out, tg_permute(g, x, 4, (int[]){3, 1, 2, 0}));
    return cat(g, out, tg_permute(g, y, 3, (int[]){2, 0, 1}));
}

static tg_tensor *b_concat(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_tensor *a = gc_param(p, "a", 3, 2, 8, 64, 0);
    tg_tensor *out = tg_concat(g, a, gc_param(p, "b0", 3, 3, 8, 64, 0), 0);
    out = cat(g, out, tg_concat(g, a, gc_param(p, "b1", 3, 2, 5, 64, 0), 1));
    return cat(g, out, tg_concat(g, a, gc_param(p, "b2", 3, 2, 8, 100, 0), 2));
}

static tg_tensor *b_slice(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_tensor *x = gc_param(p, "x", 3, 4, 16, 96, 0);
    tg_tensor *out = tg_slice(g, x, 0, 1, 2);
    out = cat(g, out, tg_slice(g, x, 1, 3, 10));
    return cat(g, out, tg_slice(g, x, 2, 64, 32));
}

/* [16, 512] logits with about 1 target in 4 ignored, [2, 8, 512] logits,
 * and a row set whose targets are all ignored (loss 0, gradient 0) */
static tg_tensor *b_cross_entropy(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    static const int32_t none[4] = {-100, -100, -100, -100};
    int n = 16, V = 512, s3[2] = {2, 8};
    tg_tensor *l3 = gc_param(p, "logits3", 3, 2, 8, V, 0),
              *l0 = gc_param(p, "ignored", 2, 4, V, 0, 0);
    zero_range(l0, 0, l0->numel);
    tg_tensor *out = tg_cross_entropy(g, gc_param(p, "logits", 2, n, V, 0, 0),
                                      gc_int_input(g, 1, &n, 0, V, 4), -100);
    out = cat(g, out, tg_cross_entropy(g, l3, gc_int_input(g, 2, s3, 0, V, 4), -100));
    return cat(g, out, tg_cross_entropy(g, l0, gc_int_fixed(g, 1, (int[]){4}, none), -100));
}

static tg_tensor *b_sum(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return tg_sum(g, x768(p));
}
static tg_tensor *b_mean(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return tg_mean(g, x768(p));
}

/* 768 -> 64 with bias on 3-D x, 64 -> 96 without bias, 2-D x with bias */
static tg_tensor *b_linear(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_tensor *x = gc_param(p, "x", 3, 2, 8, 768, 0);
    tg_tensor *y =
        tg_linear(g, x, gc_param(p, "w", 2, 64, 768, 0, 0), gc_param(p, "b", 1, 64, 0, 0, 0));
    tg_tensor *out = tg_linear(g, y, gc_param(p, "w2", 2, 96, 64, 0, 0), NULL);
    return cat(g, out,
               tg_linear(g, gc_param(p, "x2", 2, 5, 64, 0, 0), gc_param(p, "w3", 2, 32, 64, 0, 0),
                         gc_param(p, "b3", 1, 32, 0, 0, 0)));
}

/* q [b, tq, heads*64], k and v [b, tk, heads*64] */
static tg_tensor *attn(tg_graph *g, tg_params *p, int b, int tq, int tk, tg_tensor *mask,
                       tg_attn_args a)
{
    int w = a.heads * 64;
    tg_tensor *q = gc_param(p, "q", 3, b, tq, w, 0), *k = gc_param(p, "k", 3, b, tk, w, 0);
    return tg_attention(g, q, k, gc_param(p, "v", 3, b, tk, w, 0), mask, &a);
}

static tg_tensor *b_attn_self(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return attn(g, p, 2, 24, 24, NULL, (tg_attn_args){.heads = 2});
}
/* 160 queries and keys: two query tiles (128 each) */
static tg_tensor *b_attn_causal(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return attn(g, p, 1, 160, 160, NULL, (tg_attn_args){.heads = 1, .causal = 1});
}
/* Tq < Tk over two key tiles (300 keys, 256 per tile), scale given */
static tg_tensor *b_attn_cross(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return attn(g, p, 1, 6, 300, NULL, (tg_attn_args){.heads = 2, .scale = 0.05f});
}
static tg_tensor *b_attn_cross_long(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    return attn(g, p, 2, 40, 12, NULL, (tg_attn_args){.heads = 2});
}
static tg_tensor *b_attn_causal_cross(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r; /* query i sees keys <= i + tk - tq */
    return attn(g, p, 2, 7, 20, NULL, (tg_attn_args){.heads = 2, .causal = 1});
}

/* key padding on 3 sequences of 16 keys: none, trailing 9, all (whose
 * queries see nothing: output 0, q gradient exactly 0) */
static tg_tensor *b_attn_padding(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    static int32_t m[48];
    for (int j = 0; j < 16; j++)
        m[j] = 1, m[16 + j] = j < 7, m[32 + j] = 0;
    tg_tensor *out =
        attn(g, p, 3, 10, 16, gc_int_fixed(g, 2, (int[]){3, 16}, m), (tg_attn_args){.heads = 2});
    tg_tensor *q = tg_params_find(p, "q"), *k = tg_params_find(p, "k"), *v = tg_params_find(p, "v");
    zero_range(q, 2 * q->numel / 3, q->numel);
    zero_range(k, 2 * k->numel / 3, k->numel); /* the padded keys */
    zero_range(v, 2 * v->numel / 3, v->numel);
    return out;
}

/* causal + padding, more queries than keys: query 0 of sequence 0 sees one
 * key, sequence 1's first queries see only padding */
static tg_tensor *b_attn_causal_padding(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    static const int32_t m[16] = {1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1};
    return attn(g, p, 2, 10, 8, gc_int_fixed(g, 2, (int[]){2, 8}, m),
                (tg_attn_args){.heads = 2, .causal = 1});
}

static tg_tensor *b_attn_dropout(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_graph_set_training(g, 1);
    tg_tensor *out = attn(g, p, 2, 20, 20, NULL, (tg_attn_args){.heads = 2, .dropout = 0.2f});
    return out;
}

static tg_tensor *b_attn_dropout_causal(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    tg_graph_set_training(g, 1);
    return attn(g, p, 1, 24, 24, NULL, (tg_attn_args){.heads = 2, .causal = 1, .dropout = 0.3f});
}

/* q, k, v as column ranges of one tensor (GPT-2's c_attn) after one
 * leading column, and a dim narrower than q (q_col offset) */
static tg_tensor *b_attn_fused(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    int nh = 2, dim = 128, t = 12;
    tg_tensor *x = gc_param(p, "qkv", 3, 2, t, 1 + 3 * dim, 0);
    tg_attn_args a = {
        .heads = nh, .dim = dim, .q_col = 1, .k_col = 1 + dim, .v_col = 1 + 2 * dim, .causal = 1};
    return tg_attention(g, x, x, x, NULL, &a);
}

/* a KV-cached step: 2 queries at pos 9 of a 16-key cache; keys past
 * pos + Tq - 1 are never read (gradient exactly 0) */
static tg_tensor *b_attn_pos(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    static const int32_t pos[1] = {9};
    int tq = 2, w = 128;
    tg_tensor *q = gc_param(p, "q", 3, 1, tq, w, 0), *k = gc_param(p, "k", 3, 1, 16, w, 0);
    tg_tensor *v = gc_param(p, "v", 3, 1, 16, w, 0);
    tg_attn_args a = {.heads = 2, .causal = 1, .pos = gc_int_fixed(g, 1, (int[]){1}, pos)};
    zero_range(k, (size_t)(pos[0] + tq) * w, k->numel);
    zero_range(v, (size_t)(pos[0] + tq) * w, v->numel);
    return tg_attention(g, q, k, v, NULL, &a);
}

/* 3 new rows, columns 5.. of x, written at pos 6 into a trainable 16-row
 * cache that causal attention reads: the written rows (overwritten) and the
 * rows past them (never read) get gradient exactly 0 */
static tg_tensor *b_cache_write(tg_graph *g, tg_params *p, tg_rng *r)
{
    (void)r;
    static const int32_t pos[1] = {6};
    int tq = 3, w = 128, col = 5;
    tg_tensor *cache = gc_param(p, "cache", 3, 1, 16, 2 * w, 0);
    tg_tensor *x = gc_param(p, "x", 3, 1, tq, col + 2 * w + 3, 0);
    tg_tensor *P = gc_int_fixed(g, 1, (int[]){1}, pos);
    tg_tensor *kv = tg_cache_write(g, cache, x, col, P);
    tg_attn_args a = {.heads = 2, .causal = 1, .dim = w, .v_col = w, .pos = P};
    zero_range(cache, (size_t)pos[0] * 2 * w, cache->numel);
    return tg_attention(g, gc_param(p, "q", 3, 1, tq, w, 0), kv, kv, NULL, &a);
}

static const gc_case cases[] = {
    {TG_OP_MATMUL, "A B: 2-D, batched 3-D, shared 2-D B, batched 4-D", 64, b_mm_nn},
    {TG_OP_MATMUL, "A^T B: 2-D, batched 3-D, shared 2-D B, batched 4-D", 64, b_mm_tn},
    {TG_OP_MATMUL, "A B^T: 2-D, batched 3-D, shared 2-D B, batched 4-D", 64, b_mm_nt},
    {TG_OP_MATMUL, "A^T B^T: 2-D, batched 3-D, shared 2-D B, batched 4-D", 64, b_mm_tt},
    {TG_OP_ADD, "same shape, last 1/2/3 dims, a + a, 768 bias", 2, b_add},
    {TG_OP_SUB, "same shape, last 1/2/3 dims, a - a, 768 bias", 2, b_sub},
    {TG_OP_MUL, "same shape, last 1/2/3 dims, a * a, 768 bias", 2, b_mul},
    {TG_OP_SCALE, "constant factor, 768 wide", 1, b_scale},
    {TG_OP_LAYER_NORM, "rows of 768 (eps 1e-5) and 64 (eps 1e-12)", 768, b_layer_norm},
    {TG_OP_GELU, "erf form, 768 wide", 1, b_gelu},
    {TG_OP_GELU_NEW, "tanh form, 768 wide", 1, b_gelu_new},
    {TG_OP_TANH, "768 wide", 1, b_tanh},
    {TG_OP_RELU, "768 wide, inputs off the kink", 1, b_relu},
    {TG_OP_SOFTMAX, "rows of 128/300; no mask, padding, causal, per-head, full masks", 300,
     b_softmax},
    {TG_OP_DROPOUT, "training mode, p = 0.1 and 0.5, fixed rng state", 1, b_dropout},
    {TG_OP_EMBEDDING, "768 wide, padding row, and no padding index", 1, b_embedding},
    {TG_OP_EMBEDDING, "row gather of an activation (masked LM head)", 1, b_gather_rows},
    {TG_OP_RESHAPE, "view with inferred dim", 1, b_reshape},
    {TG_OP_PERMUTE, "head split/merge permutations, 3-D rotation", 1, b_permute},
    {TG_OP_CONCAT, "along dims 0, 1 and 2", 1, b_concat},
    {TG_OP_SLICE, "along dims 0, 1 and 2", 1, b_slice},
    {TG_OP_CROSS_ENTROPY, "V = 512, 2-D and 3-D, ignored targets, all ignored", 512,
     b_cross_entropy},
    {TG_OP_SUM, "8 x 768", 6144, b_sum},
    {TG_OP_MEAN, "8 x 768", 6144, b_mean},
    {TG_OP_LINEAR, "768 -> 64 with bias, 64 -> 96 without, 2-D input", 768, b_linear},
    {TG_OP_ATTENTION, "self-attention, 2 heads of 64", 64, b_attn_self},
    {TG_OP_ATTENTION, "causal, 160 queries (two query tiles)", 160, b_attn_causal},
    {TG_OP_ATTENTION, "Tq < Tk over two key tiles (300 keys), scale given", 300, b_attn_cross},
    {TG_OP_ATTENTION, "Tq > Tk (40 queries, 12 keys)", 64, b_attn_cross_long},
    {TG_OP_ATTENTION, "causal, Tq < Tk", 64, b_attn_causal_cross},
    {TG_OP_ATTENTION, "key padding, a fully padded sequence", 64, b_attn_padding},
    {TG_OP_ATTENTION, "causal + padding, Tq > Tk, rows that see no key", 64, b_attn_causal_padding},
    {TG_OP_ATTENTION, "dropout p = 0.2, fixed rng state", 64, b_attn_dropout},
    {TG_OP_ATTENTION, "causal + dropout p = 0.3", 64, b_attn_dropout_causal},
    {TG_OP_ATTENTION, "q, k, v as column ranges of one tensor", 128, b_attn_fused},
    {TG_OP_ATTENTION, "KV-cached step (pos input)", 64, b_attn_pos},
    {TG_OP_CACHE_WRITE, "KV cache write at pos, read by causal attention", 64, b_cache_write},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* A forward pass with a fixed dropout stream; copies the output to y. */
static void run(tg_graph *g, tg_tensor *out, tg_real *y)
{
    tg_graph_set_rng_state(g, 7);
    ck_assert_msg(tg_forward(g) == TG_OK, "forward: %s", tg_last_error());
    memcpy(y, tg_f32(out), out->numel * sizeof *y);
}

/* The central difference sum_i R_i (yp_i - ym_i) / 2h and its rounding
 * NOISE (header) for a case of reduction width w. */
static double difference(const tg_tensor *out, const tg_real *R, const tg_real *yp,
                         const tg_real *ym, int w, double *noise)
{
    double d = 0, s2 = 0;
    for (size_t i = 0; i < out->numel; i++) {
        d += R[i] * (yp[i] - ym[i]);
        double m = R[i] * fmax(fabs(yp[i]), fabs(ym[i]));
        s2 += m * m;
    }
    *noise = DBL_EPSILON / (2 * H * sqrt(6.0)) * sqrt(w * s2);
    return d / (2 * H);
}

/* Fails unless analytic a and numeric n agree within the header's bound. */
static void compare(const gc_case *c, uint64_t seed, const char *what, double a, double n,
                    double noise, double *worst)
{
    double diff = fabs(a - n), big = fmax(fabs(a), fabs(n)),
           bound = TOL * big + NOISE_SIGMAS * noise;
    if (diff > 0)
        *worst = fmax(*worst, diff / bound);
    ck_assert_msg(diff <= bound,
                  "%s (%s), seed %llu, %s: analytic %.12g, numeric %.12g, rel. error %.3g "
                  "(tolerance %.0e + noise %.2g)",
                  tg_optable[c->op]->name, c->what, (unsigned long long)seed, what, a, n,
                  big > 0 ? diff / big : 0.0, TOL, NOISE_SIGMAS * noise);
}

/* Runs one case with the given seed; returns the largest fraction of its
 * bound that an error used, and raises *res to the directional check's
 * 8 NOISE / |D|. */
static double check_case(const gc_case *c, uint64_t seed, double *res)
{
    tg_rng r;
    tg_rng_seed(&r, seed);
    gc_nints = nzeros = 0;
    post_init = NULL;
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    tg_tensor *out = c->build(g, p, &r);
    ck_assert_msg(out, "%s: build failed: %s", tg_optable[c->op]->name, tg_graph_error(g));
    int has_op = 0;
    for (int i = 0; i < tg_graph_nodes(g); i++)
        has_op |= tg_graph_node(g, i)->op == c->op;
    ck_assert_msg(has_op, "%s: case does not contain the op", tg_optable[c->op]->name);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    size_t np = tg_params_numel(p);
    tg_real *x = tg_params_values(p);
    for (size_t i = 0; i < np; i++)
        x[i] = tg_rng_normal(&r);
    if (post_init)
        post_init(p);
    ck_assert_msg(tg_graph_plan(g, out, 0) == TG_OK, "plan: %s", tg_last_error());
    gc_fill_ints(&r);
    size_t no = out->numel;
    tg_real *R = malloc(no * sizeof *R), *yp = malloc(no * sizeof *yp);
    tg_real *ym = malloc(no * sizeof *ym), *an = malloc(np * sizeof *an);
    tg_real *v = malloc(np * sizeof *v), *x0 = malloc(np * sizeof *x0);
    ck_assert(R && yp && ym && an && v && x0);
    for (size_t i = 0; i < no; i++)
        R[i] = (0.5 + tg_rng_uniform(&r)) * (i % 2 ? -1 : 1) * (double)(1 + i % 3);
    run(g, out, yp);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, out, R), TG_OK);
    memcpy(an, tg_params_grads(p), np * sizeof *an);
    memcpy(x0, x, np * sizeof *x0);
    double worst = 0, noise;
    char what[160];

    /* the directional derivative along v ~ N(0, 1) */
    double da = 0;
    for (size_t i = 0; i < np; i++)
        v[i] = tg_rng_normal(&r);
    for (int z = 0; z < nzeros; z++) /* no gradient by definition: not along v */
        for (size_t i = zeros[z].lo; i < zeros[z].hi; i++)
            v[tg_params_offset(p, zeros[z].t) + i] = 0;
    for (size_t i = 0; i < np; i++)
        da += an[i] * v[i];
    for (size_t i = 0; i < np; i++)
        x[i] = x0[i] + H * v[i];
    run(g, out, yp);
    for (size_t i = 0; i < np; i++)
        x[i] = x0[i] - H * v[i];
    run(g, out, ym);
    memcpy(x, x0, np * sizeof *x);
    double dn = difference(out, R, yp, ym, c->width, &noise);
    compare(c, seed, "directional derivative", da, dn, noise, &worst);
    ck_assert_msg(NOISE_SIGMAS * noise <= RESOLUTION * fabs(da),
                  "%s (%s): the directional check cannot resolve %.0e (8 noise %.3g of %.3g)",
                  tg_optable[c->op]->name, c->what, RESOLUTION, NOISE_SIGMAS * noise, fabs(da));
    *res = fmax(*res, NOISE_SIGMAS * noise / fabs(da));

    /* elements of every parameter */
    for (int t = 0; t < tg_params_count(p); t++) {
        tg_tensor *pt = tg_params_at(p, t);
        size_t off = tg_params_offset(p, pt);
        int nonzero = 0, fd_nonzero = 0, nz = 0;
        for (size_t i = 0; i < pt->numel; i++) {
            double a = an[off + i];
            ck_assert_msg(isfinite(a), "gradient of '%s'[%zu] is not finite", pt->name, i);
            int zero = in_zeros(pt, i);
            if (zero) {
                ck_assert_msg(a == 0, "%s (%s): '%s'[%zu] must get no gradient, got %g",
                              tg_optable[c->op]->name, c->what, pt->name, i, a);
                nz++;
            }
            nonzero |= !zero && a != 0;
        }
        for (int e = 0; e < NELEM && nz < (int)pt->numel; e++) {
            size_t i = e == 0 ? 0 : e == 1 ? pt->numel - 1 : (size_t)gc_rnd(&r, 0, (int)pt->numel);
            while (in_zeros(pt, i)) /* checked above to be 0 */
                i = (size_t)gc_rnd(&r, 0, (int)pt->numel);
            double xi = x[off + i];
            x[off + i] = xi + H;
            run(g, out, yp);
            x[off + i] = xi - H;
            run(g, out, ym);
            x[off + i] = xi;
            dn = difference(out, R, yp, ym, c->width, &noise);
            fd_nonzero |= dn != 0;
            snprintf(what, sizeof what, "'%s'[%zu]", pt->name, i);
            compare(c, seed, what, an[off + i], dn, noise, &worst);
        }
        ck_assert_msg(nonzero || !fd_nonzero, "%s (%s): gradient of '%s' missing (all zero)",
                      tg_optable[c->op]->name, c->what, pt->name);
    }
    free(R), free(yp), free(ym), free(an), free(v), free(x0);
    tg_graph_free(g);
    tg_params_free(p);
    return worst;
}

START_TEST(every_op_has_a_case)
{
    gc_assert_every_op(cases, sizeof cases[0], NCASES, "float64 gradient-check");
}
END_TEST

START_TEST(gradcheck64_case)
{
    const gc_case *c = &cases[_i];
    double worst = 0, res = 0;
    for (uint64_t seed = 1; seed <= 2; seed++)
        worst = fmax(worst, check_case(c, seed * 1000 + _i, &res));
    printf("%-14s %-66s error/bound <= %.2f, 8 noise / |D| <= %.1e\n", tg_optable[c->op]->name,
           c->what, worst, res);
}
END_TEST

int main(void)
{
    tg_set_threads(1);
    Suite *s = suite_create("gradcheck64");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_op_has_a_case);
    tcase_add_loop_test(tc, gradcheck64_case, 0, NCASES);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
