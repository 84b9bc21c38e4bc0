/* at: the multi-head attention block of every model here (the RoBERTa
 * encoder now; a GPT-2 decoder's causal self-attention and
 * cross-attention later): projections, the fused tg_attention, the output
 * projection. Weights stay the model's own tensors under the model's own
 * names; the block only says how they are laid out.
 *
 *   RoBERTa:  {.q = {query.w, query.b}, .k = {...}, .v = {...},
 *              .out = {attention.output.dense.w, .b}}
 *   GPT-2:    {.qkv = {attn.c_attn.w, .b, 1}, .out = {attn.c_proj.w, .b, 1}}
 *             with causal = 1; cross-attention
 *             {.q = {crossattention.q_attn.w, .b, 1},
 *              .kv = {crossattention.c_attn.w, .b, 1}, .out = {c_proj, 1}}.
 * A fused projection's output is one [B, T, 3*dim] (or 2*dim) tensor that
 * tg_attention reads as column ranges: no split copies. */
#ifndef AT_ATTENTION_H
#define AT_ATTENTION_H

#include "tg_ops.h"

/* One projection y = x W (+ b). conv1d 0: torch nn.Linear, w [out, in];
 * 1: GPT-2's Conv1D, w [in, out]. b [out] or NULL. */
typedef struct {
    tg_tensor *w, *b;
    int conv1d;
} at_proj;

/* Exactly one way to get q, k, v: qkv (self-attention only), q + kv, or
 * q + k + v. An out with w NULL means no output projection. */
typedef struct {
    at_proj q, k, v;
    at_proj qkv; /* x -> [q | k | v], [.., 3*dim] */
    at_proj kv;  /* memory -> [k | v], [.., 2*dim] */
    at_proj out;
} at_weights;

typedef struct {
    int heads;
    int causal;    /* decoder self-attention */
    float dropout; /* on the attention probabilities (training mode only) */
    float scale;   /* 0: 1/sqrt(head size) */
    /* KV-cached self-attention (fused qkv, causal): cache is state
     * [B, T, 2*dim] (tg_cache_write) whose rows pos..pos+Tq-1 get this
     * call's k | v; the queries then attend over cache rows 0..pos+Tq-1
     * (tg_attention_decode; tg_attention when key_mask, [B, T] over cache
     * rows, is given). pos: int32 [1]. Both NULL: no cache. */
    tg_tensor *cache, *pos;
    /* Cross-attention (q + kv) whose memory is already kv's projection
     * [B, Tk, 2*dim] (computed once per source for generation): kv's
     * weight then only gives dim. */
    int memory_is_kv;
} at_config;

/* x [B, Tq, in]: the queries' source. memory [B, Tk, in'] : the keys' and
 * values' source for cross-attention, NULL for self-attention (memory = x).
 * key_mask: int32 [B, Tk] (nonzero = attend) or NULL. Returns
 * [B, Tq, out width] (or [B, Tq, dim] without an output projection); NULL
 * with the graph's sticky error on a bad combination or shape. */
tg_tensor *at_attention(tg_graph *g, const at_weights *w, const at_config *c, tg_tensor *x,
                        tg_tensor *memory, tg_tensor *key_mask);

/* y = x W (+ b) in either layout. */
tg_tensor *at_project(tg_graph *g, tg_tensor *x, const at_proj *p);

#endif
