/* Gradient check of every op in the op table.
 *
 * Each case builds one op on random shapes (fixed seeds) whose float inputs
 * are trainable parameters. The harness runs backward from the op's output
 * with a random, non-uniform upstream gradient R, and compares every
 * analytic gradient element (up to MAX_CHECK per tensor) with a central
 * finite difference of f = sum(out * R), accumulated in double.
 * err = |analytic - numeric| / max(|analytic|, |numeric|, 1e-2); the case's
 * tolerance bounds the worst element. An op without a case fails the suite.
 *
 * Tolerances: float32 forward passes with h = 1e-2 leave truncation error
 * O(h^2) and rounding error ~1e-7 |f| / h; smooth ops pass at 1e-2, linear
 * ones (matmul, add, gather, ...) at 2e-3. */
#include "tg_ops.h"
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHECK 40
#define H 1e-2

typedef struct {
    int op;
    const char *what;
    double tol;
    tg_tensor *(*build)(tg_graph *g, tg_params *p, tg_rng *r);
} gc_case;

/* Elements [skip_lo, skip_hi) of parameter skip_t get no gradient by
 * definition (the embedding's padding row): checked to be exactly 0. */
static tg_tensor *skip_t;
static size_t skip_lo, skip_hi;

/* ---- builders: one per op ------------------------------------------------ */

static tg_tensor *b_matmul(tg_graph *g, tg_params *p, tg_rng *r)
{
    int m = gc_rnd(r, 2, 6), n = gc_rnd(r, 2, 6), k = gc_rnd(r, 2, 6), b = gc_rnd(r, 2, 4);
    tg_tensor *a = gc_param(p, "a", 3, b, k, m, 0);          /* used transposed */
    tg_tensor *w = gc_param(p, "w", 3, b, n, k, 0);          /* used transposed */
    tg_tensor *x = gc_param(p, "x", 3, b, m, k, 0);
    tg_tensor *w2 = gc_param(p, "w2", 2, n, k, 0, 0);        /* shared linear weight */
    tg_tensor *c1 = tg_matmul(g, a, w, 1, 1);             /* [b, m, n] */
    tg_tensor *c2 = tg_matmul(g, x, w2, 0, 1);            /* [b, m, n] */
    tg_tensor *c3 = tg_matmul(g, c1, tg_scale(g, c2, 0.5f), 0, 1); /* [b, m, m] batched */
    tg_tensor *c4 = tg_matmul(g, a, w2, 1, 1);            /* shared b, transposed a */
    return tg_concat(g, tg_reshape(g, c3, 2, (int[]){b * m, m}),
                     tg_reshape(g, c4, 2, (int[]){b * m, n}), 1);
}

static tg_tensor *b_binary(tg_graph *g, tg_params *p, tg_rng *r, int op)
{
    int d0 = gc_rnd(r, 2, 4), d1 = gc_rnd(r, 2, 5), d2 = gc_rnd(r, 2, 6);
    tg_tensor *a = gc_param(p, "a", 3, d0, d1, d2, 0);
    tg_tensor *b = gc_param(p, "b", 1, d2, 0, 0, 0);          /* bias-style broadcast */
    tg_tensor *c = gc_param(p, "c", 3, d0, d1, d2, 0);        /* same shape */
    tg_tensor *(*f)(tg_graph *, tg_tensor *, tg_tensor *) =
        op == TG_OP_ADD ? tg_add : op == TG_OP_SUB ? tg_sub : tg_mul;
    return f(g, f(g, a, b), c);
}
static tg_tensor *b_add(tg_graph *g, tg_params *p, tg_rng *r) { return b_binary(g, p, r, TG_OP_ADD); }
static tg_tensor *b_sub(tg_graph *g, tg_params *p, tg_rng *r) { return b_binary(g, p, r, TG_OP_SUB); }
static tg_tensor *b_mul(tg_graph *g, tg_params *p, tg_rng *r) { return b_binary(g, p, r, TG_OP_MUL); }

static tg_tensor *b_scale(tg_graph *g, tg_params *p, tg_rng *r)
{
    return tg_scale(g, gc_param(p, "x", 2, gc_rnd(r, 2, 6), gc_rnd(r, 2, 6), 0, 0), -1.7f);
}

static tg_tensor *b_layer_norm(tg_graph *g, tg_params *p, tg_rng *r)
{
    int h = gc_rnd(r, 3, 9);
    return tg_layer_norm(g, gc_param(p, "x", 3, gc_rnd(r, 1, 3), gc_rnd(r, 2, 4), h, 0),
                         gc_param(p, "gamma", 1, h, 0, 0, 0), gc_param(p, "beta", 1, h, 0, 0, 0), 1e-5f);
}

static tg_tensor *b_gelu(tg_graph *g, tg_params *p, tg_rng *r)
{
    return tg_gelu(g, gc_param(p, "x", 2, gc_rnd(r, 2, 6), gc_rnd(r, 2, 6), 0, 0));
}

static tg_tensor *b_gelu_new(tg_graph *g, tg_params *p, tg_rng *r)
{
    return tg_gelu_new(g, gc_param(p, "x", 2, gc_rnd(r, 2, 6), gc_rnd(r, 2, 6), 0, 0));
}

static tg_tensor *b_tanh(tg_graph *g, tg_params *p, tg_rng *r)
{
    return tg_tanh(g, gc_param(p, "x", 2, gc_rnd(r, 2, 6), gc_rnd(r, 2, 6), 0, 0));
}

static tg_tensor *b_relu(tg_graph *g, tg_params *p, tg_rng *r)
{
    return tg_relu(g, gc_param(p, "x", 2, gc_rnd(r, 2, 6), gc_rnd(r, 2, 6), 0, 0));
}

static tg_tensor *b_softmax(tg_graph *g, tg_params *p, tg_rng *r)
{
    int b = gc_rnd(r, 1, 3), h = gc_rnd(r, 1, 3), t = gc_rnd(r, 2, 6);
    tg_tensor *x = gc_param(p, "x", 4, b, h, t, t);
    tg_tensor *m = gc_param(p, "mask", 4, b, 1, 1, t); /* padding-style broadcast */
    tg_tensor *y = tg_softmax(g, x, m);                        /* [b, h, t, t] */
    tg_tensor *z = tg_softmax(g, gc_param(p, "x2", 2, t, t, 0, 0), NULL); /* no mask */
    return tg_add(g, y, z);
}

static tg_tensor *b_dropout(tg_graph *g, tg_params *p, tg_rng *r)
{
    tg_graph_set_training(g, 1);
    return tg_dropout(g, gc_param(p, "x", 2, gc_rnd(r, 3, 8), gc_rnd(r, 3, 8), 0, 0), 0.3f);
}

/* Elementwise ops whose input is an intermediate: the first writer of a
 * pending gradient in backward overwrites it (TG_GRAD_OVERWRITE: gelu,
 * gelu_new, dropout, add, sub, layer_norm), the later ones add into it. Twice, the
 * readers of h and k made in opposite orders, so that each op is the
 * first writer once and a later one once: h feeds gelu, dropout, sub (as
 * A, minus a broadcast m: cleared, then row sums), sub (as B) and
 * layer_norm; k feeds
 * gelu_new and sub (as A). Training mode. */
static tg_tensor *b_fresh_grads(tg_graph *g, tg_params *p, tg_rng *r)
{
    tg_graph_set_training(g, 1);
    int a = gc_rnd(r, 2, 4), b = gc_rnd(r, 2, 6);
    tg_tensor *s = NULL;
    for (int order = 0; order < 2; order++) {
        tg_tensor *h = tg_tanh(g, gc_param(p, order ? "x1" : "x0", 2, a, b, 0, 0));
        tg_tensor *k = tg_tanh(g, gc_param(p, order ? "y1" : "y0", 2, a, b, 0, 0));
        tg_tensor *m = tg_tanh(g, gc_param(p, order ? "z1" : "z0", 1, b, 0, 0, 0));
        tg_tensor *gm = gc_param(p, order ? "gamma1" : "gamma0", 1, b, 0, 0, 0);
        tg_tensor *bt = gc_param(p, order ? "beta1" : "beta0", 1, b, 0, 0, 0);
        tg_tensor *t[6];
        for (int i = 0; i < 6; i++) {
            int which = order ? 5 - i : i;
            t[i] = which == 0   ? tg_gelu(g, h)
                   : which == 1 ? tg_dropout(g, h, 0.3f)
                   : which == 2 ? tg_sub(g, h, m)
                   : which == 3 ? tg_sub(g, k, h)
                   : which == 4 ? tg_layer_norm(g, h, gm, bt, 1e-5f)
                                : tg_gelu_new(g, k);
        }
        for (int i = 0; i < 6; i++)
            s = s ? tg_add(g, s, t[i]) : t[i];
    }
    return s;
}

static tg_tensor *b_embedding(tg_graph *g, tg_params *p, tg_rng *r)
{
    int v = gc_rnd(r, 4, 8), h = gc_rnd(r, 2, 5), s[2] = {gc_rnd(r, 2, 4), gc_rnd(r, 3, 7)};
    tg_tensor *w = gc_param(p, "weight", 2, v, h, 0, 0);
    skip_t = w, skip_lo = 1 * (size_t)h, skip_hi = 2 * (size_t)h; /* padding row 1 */
    return tg_embedding(g, w, gc_int_input(g, 2, s, 0, v, 0), 1);
}

/* the masked LM head's gather (rb_build_masked): rows of an activation,
 * some picked twice, the gradient scatter-added back through a reshape */
static tg_tensor *b_gather_rows(tg_graph *g, tg_params *p, tg_rng *r)
{
    int n = gc_rnd(r, 3, 6), h = gc_rnd(r, 2, 5), k[1] = {gc_rnd(r, 4, 10)}, flat[2] = {2 * n, h};
    tg_tensor *x = gc_param(p, "x", 3, 2, n, h, 0);
    tg_tensor *rows = tg_reshape(g, tg_scale(g, x, 1.5f), 2, flat);
    return tg_embedding(g, rows, gc_int_input(g, 1, k, 0, 2 * n, 0), -1);
}

static tg_tensor *b_reshape(tg_graph *g, tg_params *p, tg_rng *r)
{
    int a = gc_rnd(r, 2, 5), b = gc_rnd(r, 2, 5);
    tg_tensor *x = gc_param(p, "x", 2, a, b, 0, 0);
    return tg_reshape(g, tg_scale(g, x, 1.0f), 3, (int[]){b, -1, 1});
}

static tg_tensor *b_permute(tg_graph *g, tg_params *p, tg_rng *r)
{
    tg_tensor *x = gc_param(p, "x", 4, gc_rnd(r, 1, 3), gc_rnd(r, 2, 4), gc_rnd(r, 2, 4), gc_rnd(r, 2, 4));
    return tg_permute(g, x, 4, (int[]){0, 2, 1, 3});
}

static tg_tensor *b_concat(tg_graph *g, tg_params *p, tg_rng *r)
{
    int a = gc_rnd(r, 2, 4), b = gc_rnd(r, 1, 4), c = gc_rnd(r, 2, 4);
    return tg_concat(g, gc_param(p, "a", 3, a, b, c, 0), gc_param(p, "b", 3, a, b + 1, c, 0), 1);
}

static tg_tensor *b_slice(tg_graph *g, tg_params *p, tg_rng *r)
{
    int a = gc_rnd(r, 2, 4), b = gc_rnd(r, 4, 7);
    return tg_slice(g, gc_param(p, "x", 3, a, b, 3, 0), 1, 1, b - 2);
}

static tg_tensor *b_cross_entropy(tg_graph *g, tg_params *p, tg_rng *r)
{
    int n = gc_rnd(r, 4, 9), v = gc_rnd(r, 3, 7);
    return tg_cross_entropy(g, gc_param(p, "logits", 2, n, v, 0, 0),
                            gc_int_input(g, 1, &n, 0, v, 3), -100);
}

static tg_tensor *b_sum(tg_graph *g, tg_params *p, tg_rng *r)
{
    return tg_sum(g, gc_param(p, "x", 3, gc_rnd(r, 2, 4), gc_rnd(r, 2, 4), gc_rnd(r, 2, 4), 0));
}

static tg_tensor *b_mean(tg_graph *g, tg_params *p, tg_rng *r)
{
    return tg_mean(g, gc_param(p, "x", 2, gc_rnd(r, 2, 6), gc_rnd(r, 2, 6), 0, 0));
}

static tg_tensor *b_linear(tg_graph *g, tg_params *p, tg_rng *r)
{
    int b = gc_rnd(r, 1, 3), t = gc_rnd(r, 2, 5), k = gc_rnd(r, 2, 6), n = gc_rnd(r, 2, 6);
    tg_tensor *x = gc_param(p, "x", 3, b, t, k, 0);
    tg_tensor *w = gc_param(p, "w", 2, n, k, 0, 0), *bias = gc_param(p, "b", 1, n, 0, 0, 0);
    tg_tensor *w2 = gc_param(p, "w2", 2, 3, n, 0, 0);
    return tg_linear(g, tg_linear(g, x, w, bias), w2, NULL); /* with and without bias */
}

/* Attention: q [b, tq, nh*hd], k and v [b, tk, nh*hd] as parameters, 1-4
 * heads of size 1-3 (several head counts over the seeds). */
static tg_tensor *attn_qkv(tg_graph *g, tg_params *p, tg_rng *r, int b, int tq, int tk,
                           tg_tensor *mask, tg_attn_args a)
{
    int w = a.heads * gc_rnd(r, 1, 4);
    tg_tensor *q = gc_param(p, "q", 3, b, tq, w, 0), *k = gc_param(p, "k", 3, b, tk, w, 0);
    return tg_attention(g, q, k, gc_param(p, "v", 3, b, tk, w, 0), mask, &a);
}

static tg_tensor *b_attn_self(tg_graph *g, tg_params *p, tg_rng *r)
{
    int t = gc_rnd(r, 2, 6);
    return attn_qkv(g, p, r, gc_rnd(r, 1, 3), t, t, NULL, (tg_attn_args){.heads = gc_rnd(r, 1, 5)});
}

static tg_tensor *b_attn_causal(tg_graph *g, tg_params *p, tg_rng *r)
{
    int t = gc_rnd(r, 2, 6);
    return attn_qkv(g, p, r, gc_rnd(r, 1, 3), t, t, NULL,
                    (tg_attn_args){.heads = gc_rnd(r, 1, 5), .causal = 1});
}

static tg_tensor *b_attn_cross(tg_graph *g, tg_params *p, tg_rng *r)
{
    int tq = gc_rnd(r, 2, 5), tk = tq + gc_rnd(r, 1, 4); /* Tq != Tk, scale given */
    if (gc_rnd(r, 0, 2))
        tq = tk + 1;
    return attn_qkv(g, p, r, gc_rnd(r, 1, 3), tq, tk, NULL,
                    (tg_attn_args){.heads = gc_rnd(r, 1, 4), .scale = 0.7f});
}

static tg_tensor *b_attn_causal_cross(tg_graph *g, tg_params *p, tg_rng *r)
{
    int tq = gc_rnd(r, 1, 4), tk = tq + gc_rnd(r, 1, 4); /* query i sees keys <= i + tk - tq */
    return attn_qkv(g, p, r, gc_rnd(r, 1, 3), tq, tk, NULL,
                    (tg_attn_args){.heads = gc_rnd(r, 1, 4), .causal = 1});
}

/* Key padding on 3 sequences of 4 keys: all kept, trailing padding, and all
 * padding (its queries see nothing: output 0, q gradient exactly 0). */
static tg_tensor *b_attn_padding(tg_graph *g, tg_params *p, tg_rng *r)
{
    static const int32_t m[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    int tq = gc_rnd(r, 2, 5), nh = gc_rnd(r, 1, 4);
    tg_tensor *mask = gc_int_fixed(g, 2, (int[]){3, 4}, m);
    tg_tensor *out = attn_qkv(g, p, r, 3, tq, 4, mask, (tg_attn_args){.heads = nh});
    skip_t = tg_params_find(p, "q"); /* sequence 2 */
    skip_lo = 2 * skip_t->numel / 3, skip_hi = skip_t->numel;
    return out;
}

/* Causal with padding and more queries than keys: query 0 sees no key
 * (causal rule), and in sequence 1 queries 0-1 see only padding. */
static tg_tensor *b_attn_causal_padding(tg_graph *g, tg_params *p, tg_rng *r)
{
    static const int32_t m[8] = {1, 0, 1, 1, 0, 0, 1, 1};
    return attn_qkv(g, p, r, 2, 5, 4, gc_int_fixed(g, 2, (int[]){2, 4}, m),
                    (tg_attn_args){.heads = gc_rnd(r, 1, 4), .causal = 1});
}

static tg_tensor *b_attn_dropout(tg_graph *g, tg_params *p, tg_rng *r)
{
    tg_graph_set_training(g, 1); /* the harness fixes the rng state per forward */
    int t = gc_rnd(r, 3, 6);
    return attn_qkv(g, p, r, 2, t, t, NULL,
                    (tg_attn_args){.heads = gc_rnd(r, 1, 4), .causal = gc_rnd(r, 0, 2), .dropout = 0.3f});
}

/* q, k and v as column ranges of one tensor (GPT-2's fused c_attn), after
 * one leading column. */
static tg_tensor *b_attn_fused(tg_graph *g, tg_params *p, tg_rng *r)
{
    int nh = gc_rnd(r, 1, 4), dim = nh * gc_rnd(r, 1, 4), t = gc_rnd(r, 2, 5);
    tg_tensor *x = gc_param(p, "qkv", 3, gc_rnd(r, 1, 3), t, 1 + 3 * dim, 0);
    tg_attn_args a = {.heads = nh, .dim = dim, .q_col = 1, .k_col = 1 + dim,
                      .v_col = 1 + 2 * dim, .causal = 1};
    return tg_attention(g, x, x, x, NULL, &a);
}

/* A KV-cached step: 1-2 queries at position pos of a 6-key cache; cache
 * rows past pos + Tq - 1 are never read (gradient exactly 0). */
static tg_tensor *b_attn_pos(tg_graph *g, tg_params *p, tg_rng *r)
{
    static int32_t pos[1];
    int tq = gc_rnd(r, 1, 3), nh = gc_rnd(r, 1, 3), w = nh * gc_rnd(r, 1, 4);
    pos[0] = gc_rnd(r, 0, 6 - tq);
    tg_tensor *q = gc_param(p, "q", 3, 1, tq, w, 0), *k = gc_param(p, "k", 3, 1, 6, w, 0);
    tg_attn_args a = {.heads = nh, .causal = 1, .pos = gc_int_fixed(g, 1, (int[]){1}, pos)};
    tg_tensor *out = tg_attention(g, q, k, gc_param(p, "v", 3, 1, 6, w, 0), NULL, &a);
    skip_t = k, skip_lo = (size_t)(pos[0] + tq) * w, skip_hi = k->numel;
    return out;
}

/* A KV-cache step: 1-2 new rows, taken from a column range of x, written
 * at pos into a trainable 6-row cache that causal attention then reads.
 * The cache's written rows (overwritten) and the rows past them (never
 * read) get gradient exactly 0; x's gradient is the written rows'. */
static tg_tensor *b_cache_write(tg_graph *g, tg_params *p, tg_rng *r)
{
    static int32_t pos[1];
    int tq = gc_rnd(r, 1, 3), nh = gc_rnd(r, 1, 3), w = nh * gc_rnd(r, 1, 3), col = gc_rnd(r, 0, 3);
    pos[0] = gc_rnd(r, 0, 7 - tq);
    tg_tensor *cache = gc_param(p, "cache", 3, 1, 6, 2 * w, 0);
    tg_tensor *x = gc_param(p, "x", 3, 1, tq, col + 2 * w + 1, 0);
    tg_tensor *P = gc_int_fixed(g, 1, (int[]){1}, pos);
    tg_tensor *kv = tg_cache_write(g, cache, x, col, P);
    tg_attn_args a = {.heads = nh, .causal = 1, .dim = w, .v_col = w, .pos = P};
    skip_t = cache, skip_lo = (size_t)pos[0] * 2 * w, skip_hi = cache->numel;
    return tg_attention(g, gc_param(p, "q", 3, 1, tq, w, 0), kv, kv, NULL, &a);
}

/* tg_attention_decode: a KV-cached step of 1-2 queries at pos over 6
 * keys, head sizes 1-20 (the vector kernels' full and tail lanes), rows
 * with lengths 6, 2 and 0 (the last sees no key: q gradient exactly 0). */
static tg_tensor *b_attn_decode(tg_graph *g, tg_params *p, tg_rng *r)
{
    static int32_t pos[1];
    static const int32_t len[3] = {6, 2, 0};
    int tq = gc_rnd(r, 1, 3), nh = gc_rnd(r, 1, 3), w = nh * gc_rnd(r, 1, 21);
    pos[0] = gc_rnd(r, 0, 7 - tq);
    tg_tensor *q = gc_param(p, "q", 3, 3, tq, w, 0), *k = gc_param(p, "k", 3, 3, 6, w, 0);
    tg_attn_args a = {.heads = nh, .causal = 1, .pos = gc_int_fixed(g, 1, (int[]){1}, pos)};
    tg_tensor *out = tg_attention_decode(g, q, k, gc_param(p, "v", 3, 3, 6, w, 0),
                                         gc_int_fixed(g, 1, (int[]){3}, len), &a);
    skip_t = q, skip_lo = 2 * q->numel / 3, skip_hi = q->numel;
    return out;
}

/* Not causal, k | v as column ranges of one cache-like tensor, scale
 * given, all keys visible (no lengths). */
static tg_tensor *b_attn_decode_kv(tg_graph *g, tg_params *p, tg_rng *r)
{
    int nh = gc_rnd(r, 1, 4), w = nh * gc_rnd(r, 1, 6), b = gc_rnd(r, 1, 3), tk = gc_rnd(r, 1, 7);
    tg_tensor *kv = gc_param(p, "kv", 3, b, tk, 2 * w + 1, 0);
    tg_attn_args a = {.heads = nh, .dim = w, .k_col = 1, .v_col = 1 + w, .scale = 0.6f};
    return tg_attention_decode(g, gc_param(p, "q", 3, b, gc_rnd(r, 1, 3), w, 0), kv, kv, NULL, &a);
}

static const gc_case cases[] = {
    {TG_OP_MATMUL, "batched, shared and transposed products", 2e-3, b_matmul},
    {TG_OP_ADD, "same shape and bias broadcast", 2e-3, b_add},
    {TG_OP_SUB, "same shape and bias broadcast", 2e-3, b_sub},
    {TG_OP_MUL, "same shape and bias broadcast", 5e-3, b_mul},
    {TG_OP_SCALE, "constant factor", 2e-3, b_scale},
    {TG_OP_LAYER_NORM, "x, gamma, beta", 1e-2, b_layer_norm},
    {TG_OP_GELU, "erf form", 1e-2, b_gelu},
    {TG_OP_TANH, "", 1e-2, b_tanh},
    {TG_OP_SOFTMAX, "with broadcast additive mask", 1e-2, b_softmax},
    {TG_OP_DROPOUT, "training mode, p = 0.3", 2e-3, b_dropout},
    {TG_OP_EMBEDDING, "with padding row", 2e-3, b_embedding},
    {TG_OP_RESHAPE, "view with inferred dim", 2e-3, b_reshape},
    {TG_OP_PERMUTE, "attention-head permutation", 2e-3, b_permute},
    {TG_OP_CONCAT, "along a middle dim", 2e-3, b_concat},
    {TG_OP_SLICE, "along a middle dim", 2e-3, b_slice},
    {TG_OP_CROSS_ENTROPY, "with ignored targets", 1e-2, b_cross_entropy},
    {TG_OP_SUM, "", 2e-3, b_sum},
    {TG_OP_MEAN, "", 2e-3, b_mean},
    {TG_OP_LINEAR, "fused, two chained layers, with and without bias", 1e-2, b_linear},
    {TG_OP_ATTENTION, "self-attention, 1-4 heads", 5e-3, b_attn_self},
    {TG_OP_ATTENTION, "causal self-attention", 5e-3, b_attn_causal},
    {TG_OP_ATTENTION, "cross-length (Tq != Tk), scale given", 5e-3, b_attn_cross},
    {TG_OP_ATTENTION, "causal, Tq < Tk", 5e-3, b_attn_causal_cross},
    {TG_OP_ATTENTION, "key padding, a fully padded sequence", 5e-3, b_attn_padding},
    {TG_OP_ATTENTION, "causal + padding, rows that see no key", 5e-3, b_attn_causal_padding},
    {TG_OP_ATTENTION, "dropout p = 0.3, fixed rng state", 5e-3, b_attn_dropout},
    {TG_OP_ATTENTION, "q, k, v as column ranges of one tensor", 5e-3, b_attn_fused},
    {TG_OP_ATTENTION, "KV-cached step (pos input)", 5e-3, b_attn_pos},
    {TG_OP_GELU_NEW, "tanh form", 1e-2, b_gelu_new},
    {TG_OP_GELU, "gradients of intermediates written first, then added (also dropout, add, sub, layer_norm, gelu_new)", 1e-2, b_fresh_grads},
    {TG_OP_CACHE_WRITE, "KV cache write at pos, read by causal attention", 5e-3, b_cache_write},
    {TG_OP_RELU, "", 1e-2, b_relu},
    {TG_OP_EMBEDDING, "row gather of an activation (masked LM head)", 2e-3, b_gather_rows},
    {TG_OP_ATTENTION_DECODE, "cached step at pos, lengths 6, 2, 0, head size 1-20", 5e-3, b_attn_decode},
    {TG_OP_ATTENTION_DECODE, "not causal, k | v columns of one tensor", 5e-3, b_attn_decode_kv},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* f = sum(out * R) in double, after a forward pass with a fixed dropout
 * stream. */
static double objective(tg_graph *g, tg_tensor *out, const float *R)
{
    tg_graph_set_rng_state(g, 7);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    double f = 0;
    for (size_t i = 0; i < out->numel; i++)
        f += (double)tg_f32(out)[i] * R[i];
    return f;
}

/* Runs one case with the given seed; returns the worst error and reports
 * the element where it occurred. */
static double check_case(const gc_case *c, uint64_t seed, char *where, size_t wlen)
{
    tg_rng r;
    tg_rng_seed(&r, seed);
    gc_nints = 0;
    skip_t = NULL;
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    tg_tensor *out = c->build(g, p, &r);
    ck_assert_msg(out, "%s: build failed: %s", tg_optable[c->op]->name, tg_graph_error(g));
    int has_op = 0;
    for (int i = 0; i < tg_graph_nodes(g); i++)
        has_op |= tg_graph_node(g, i)->op == c->op;
    ck_assert_msg(has_op, "%s: case does not contain the op", tg_optable[c->op]->name);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    for (size_t i = 0; i < tg_params_numel(p); i++)
        tg_params_values(p)[i] = (float)tg_rng_normal(&r);
    ck_assert_msg(tg_graph_plan(g, out, 0) == TG_OK, "plan: %s", tg_last_error());
    gc_fill_ints(&r);
    float *R = malloc(out->numel * sizeof *R);
    for (size_t i = 0; i < out->numel; i++)
        R[i] = (float)(0.5 + tg_rng_uniform(&r)) * (i % 2 ? -1.f : 1.f) * (1 + i % 3);
    objective(g, out, R);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, out, R), TG_OK);
    float *an = malloc(tg_params_numel(p) * sizeof *an);
    memcpy(an, tg_params_grads(p), tg_params_numel(p) * sizeof *an);
    double worst = 0;
    for (int t = 0; t < tg_params_count(p); t++) {
        tg_tensor *pt = tg_params_at(p, t);
        size_t off = tg_params_offset(p, pt);
        int nonzero = 0, fd_nonzero = 0;
        size_t step = pt->numel > MAX_CHECK ? pt->numel / MAX_CHECK + 1 : 1;
        for (size_t i = 0; i < pt->numel; i++) {
            float a = an[off + i];
            ck_assert_msg(isfinite(a), "%s: gradient of '%s'[%zu] is not finite",
                          tg_optable[c->op]->name, pt->name, i);
            if (pt == skip_t && i >= skip_lo && i < skip_hi) {
                ck_assert_msg(a == 0, "'%s'[%zu]: padding row has gradient %g", pt->name, i, a);
                continue;
            }
            nonzero |= a != 0;
            if (i % step)
                continue;
            float *x = tg_f32(pt) + i, x0 = *x;
            *x = x0 + (float)H;
            double fp = objective(g, out, R);
            *x = x0 - (float)H;
            double fm = objective(g, out, R);
            *x = x0;
            double fd = (fp - fm) / (2 * H);
            fd_nonzero |= fabs(fd) > 1e-6;
            double den = fmax(fmax(fabs(a), fabs(fd)), 1e-2);
            double err = fabs(a - fd) / den;
            if (err > worst) {
                worst = err;
                snprintf(where, wlen, "'%s'[%zu]: analytic %.6g, numeric %.6g", pt->name, i, a, fd);
            }
        }
        ck_assert_msg(nonzero || !fd_nonzero, "%s: gradient of '%s' missing (all zero)",
                      tg_optable[c->op]->name, pt->name);
    }
    free(an);
    free(R);
    tg_graph_free(g);
    tg_params_free(p);
    return worst;
}

START_TEST(every_op_has_a_case)
{
    gc_assert_every_op(cases, sizeof cases[0], NCASES, "gradient-check");
}
END_TEST

START_TEST(gradcheck_case)
{
    const gc_case *c = &cases[_i];
    for (uint64_t seed = 1; seed <= 3; seed++) {
        char where[256] = "";
        double worst = check_case(c, seed * 1000 + _i, where, sizeof where);
        ck_assert_msg(worst <= c->tol, "%s (%s), seed %llu: worst error %.3g > %.3g at %s",
                      tg_optable[c->op]->name, c->what, (unsigned long long)seed, worst, c->tol,
                      where);
    }
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_op_has_a_case);
    tcase_add_loop_test(tc, gradcheck_case, 0, NCASES);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
