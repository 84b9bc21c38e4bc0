/* GPT-2 for causal language modelling: parameters, initialisation,
 * checkpoints and the graph builder. */
#include "gpt2.h"

#include "attention.h"

#include "weights.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- parameters ---------------------------------------------------------- */


int g2_model_declare(g2_model *m, const g2_config *cfg, const wt_scope *s)
{
    int rc = g2_config_validate(cfg, NULL);
    if (rc)
        return rc;
    m->cfg = *cfg;
    m->layers = tg_calloc(cfg->n_layer, sizeof *m->layers, "model layers");
    if (!m->layers)
        return TG_ERR_NOMEM;
    int H = cfg->n_embd, F = g2_config_inner(cfg);
    m->wte = wt_decl_in(s, "transformer.wte.weight", cfg->vocab_size, H);
    m->wpe = wt_decl_in(s, "transformer.wpe.weight", cfg->n_positions, H);
    for (int i = 0; i < cfg->n_layer; i++) {
        g2_layer *L = &m->layers[i];
        char n[TG_NAME_LEN];
#define LAYER(field, suffix, rows, cols)                                           \
    snprintf(n, sizeof n, "transformer.h.%d.%s", i, suffix);                       \
    L->field = wt_decl_in(s, n, rows, cols)
        LAYER(ln1_w, "ln_1.weight", H, 0);
        LAYER(ln1_b, "ln_1.bias", H, 0);
        LAYER(attn_w, "attn.c_attn.weight", H, 3 * H);
        LAYER(attn_b, "attn.c_attn.bias", 3 * H, 0);
        LAYER(aproj_w, "attn.c_proj.weight", H, H);
        LAYER(aproj_b, "attn.c_proj.bias", H, 0);
        if (cfg->add_cross_attention) {
            LAYER(lnx_w, "ln_cross_attn.weight", H, 0);
            LAYER(lnx_b, "ln_cross_attn.bias", H, 0);
            LAYER(xq_w, "crossattention.q_attn.weight", H, H);
            LAYER(xq_b, "crossattention.q_attn.bias", H, 0);
            LAYER(xkv_w, "crossattention.c_attn.weight", H, 2 * H);
            LAYER(xkv_b, "crossattention.c_attn.bias", 2 * H, 0);
            LAYER(xproj_w, "crossattention.c_proj.weight", H, H);
            LAYER(xproj_b, "crossattention.c_proj.bias", H, 0);
        }
        LAYER(ln2_w, "ln_2.weight", H, 0);
        LAYER(ln2_b, "ln_2.bias", H, 0);
        LAYER(fc_w, "mlp.c_fc.weight", H, F);
        LAYER(fc_b, "mlp.c_fc.bias", F, 0);
        LAYER(mproj_w, "mlp.c_proj.weight", F, H);
        LAYER(mproj_b, "mlp.c_proj.bias", H, 0);
#undef LAYER
    }
    m->lnf_w = wt_decl_in(s, "transformer.ln_f.weight", H, 0);
    m->lnf_b = wt_decl_in(s, "transformer.ln_f.bias", H, 0);
    return TG_OK;
}

int g2_model_new(const g2_config *cfg, g2_model **out)
{
    *out = NULL;
    int rc = g2_config_validate(cfg, NULL);
    if (rc)
        return rc;
    g2_model *m = tg_calloc(1, sizeof *m, "model");
    if (!m)
        return TG_ERR_NOMEM;
    m->params = tg_params_new();
    if (!m->params) {
        g2_model_free(m);
        return TG_ERR_NOMEM;
    }
    rc = g2_model_declare(m, cfg, &(wt_scope){.p = m->params});
    if (!rc)
        rc = tg_params_alloc(m->params);
    if (rc) {
        g2_model_free(m);
        return rc;
    }
    *out = m;
    return TG_OK;
}

void g2_model_free(g2_model *m)
{
    if (!m)
        return;
    tg_params_free(m->params);
    tg_free(m->layers);
    tg_free(m);
}



int g2_param_is_norm(const char *name) { return strstr(name, ".ln_") != NULL; }

/* initializer_range, and for the residual projections (c_proj) divided
 * by sqrt(2 n_layer). */
static double g2_sd(const char *name, void *ctx)
{
    const g2_config *c = ctx;
    double sd = c->initializer_range;
    return wt_ends_with(name, "c_proj.weight") ? sd / sqrt(2.0 * c->n_layer) : sd;
}

void g2_model_init(g2_model *m, uint64_t seed)
{
    wt_init(m->params, seed, g2_param_is_norm, g2_sd, &m->cfg);
}

/* The tensors transformers may save that are not parameters here: the tied
 * head and the causal-mask buffers of old GPT-2 checkpoints. */
static const char *skipped_why(const char *name)
{
    if (!strcmp(name, "lm_head.weight"))
        return "tied to transformer.wte.weight";
    if (wt_ends_with(name, ".attn.bias") || wt_ends_with(name, ".attn.masked_bias"))
        return "a causal-mask buffer, not a weight";
    return NULL;
}

int g2_model_load(g2_model *m, const char *path, void (*note)(const char *msg))
{
    return wt_load(m->params, path, skipped_why, note);
}

int g2_model_save(const g2_model *m, const char *dir) { return wt_save(m->params, dir); }

int g2_save_pretrained(const g2_model *m, const tok_tokenizer *tok, const char *dir)
{
    int rc = wt_mkdir(dir);
    if (!rc)
        rc = g2_model_save(m, dir);
    if (!rc)
        rc = g2_config_save(&m->cfg, dir);
    if (!rc)
        rc = tok_save(tok, dir, m->cfg.n_positions);
    return rc;
}

int g2_load_pretrained(const char *dir, g2_model **m, tok_tokenizer **tok,
                       void (*note)(const char *msg))
{
    *m = NULL;
    *tok = NULL;
    g2_config c;
    char path[4200];
    int rc = g2_config_load(dir, &c);
    if (rc)
        return rc;
    rc = wt_load_tokenizer(dir, c.vocab_size, tok);
    if (!rc)
        rc = g2_model_new(&c, m);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc)
        rc = g2_model_load(*m, path, note);
    if (!rc && note) {
        char buf[1024];
        const char *w = g2_config_token_warning(&c, *tok, buf, sizeof buf);
        if (w)
            note(w);
        snprintf(path, sizeof path, "%s/config.json", dir);
        if ((w = g2_config_ignored_note(&c, path, buf, sizeof buf)))
            note(w);
    }
    if (rc) {
        g2_model_free(*m);
        tok_free(*tok);
        *m = NULL;
        *tok = NULL;
    }
    return rc;
}

/* ---- the graph ----------------------------------------------------------- */

/* Causal self-attention of one layer (GPT2Attention, scale_attn_weights):
 * the shared block with the fused c_attn [H, 3H] read as q | k | v column
 * ranges, causal, keys masked by the batch's attention_mask [B, T], attn_pdrop
 * on the probabilities, then c_proj. With kv (a step graph) the new rows'
 * k | v go into that layer's cache at pos and the queries attend over it. */
static tg_tensor *causal_self_attention(tg_graph *g, const g2_layer *L, tg_tensor *x,
                                        tg_tensor *mask, const g2_config *c, tg_tensor *kv,
                                        tg_tensor *pos)
{
    at_weights w = {.qkv = {L->attn_w, L->attn_b, 1}, .out = {L->aproj_w, L->aproj_b, 1}};
    at_config ac = {.heads = c->n_head, .causal = 1, .dropout = (float)c->attn_pdrop,
                    .cache = kv, .pos = pos};
    return at_attention(g, &w, &ac, x, NULL, mask);
}

/* Cross-attention of one layer (GPT2Attention(is_cross_attention)): q_attn
 * on the decoder states, c_attn [H, 2H] on the encoder states as k | v (or
 * layer i's cached k | v), not causal, keys masked by the encoder's
 * attention mask, attn_pdrop, c_proj. */
static tg_tensor *cross_attention(tg_graph *g, const g2_layer *L, tg_tensor *x,
                                  const g2_memory *mem, int i, const g2_config *c)
{
    at_weights w = {.q = {L->xq_w, L->xq_b, 1}, .kv = {L->xkv_w, L->xkv_b, 1},
                    .out = {L->xproj_w, L->xproj_b, 1}};
    at_config ac = {.heads = c->n_head, .dropout = (float)c->attn_pdrop,
                    .memory_is_kv = mem->kv != NULL};
    return at_attention(g, &w, &ac, x, mem->kv ? mem->kv[i] : mem->states, mem->mask);
}

static tg_tensor *activation(tg_graph *g, tg_tensor *x, const g2_config *c)
{
    return strcmp(c->activation_function, "gelu") == 0 ? tg_gelu(g, x) : tg_gelu_new(g, x);
}

/* One pre-LN block (GPT2Block): x + drop(attn(ln_1(x))), with
 * cross-attention then x + drop(crossattn(ln_cross_attn(x), memory)), then
 * x + drop(mlp(ln_2(x))). Adapters, when declared, act on the attention's
 * and the MLP's output before the residual add. */
static tg_tensor *block(tg_graph *g, const g2_layer *L, int i, tg_tensor *x, tg_tensor *mask,
                        const g2_memory *mem, const g2_config *c, tg_tensor *kv, tg_tensor *pos)
{
    float eps = (float)c->layer_norm_epsilon, drop = (float)c->resid_pdrop;
    tg_tensor *a = causal_self_attention(g, L, tg_layer_norm(g, x, L->ln1_w, L->ln1_b, eps),
                                         mask, c, kv, pos);
    x = tg_add(g, x, ad_apply(g, &L->ad_attn, tg_dropout(g, a, drop)));
    if (L->xq_w) {
        a = cross_attention(g, L, tg_layer_norm(g, x, L->lnx_w, L->lnx_b, eps), mem, i, c);
        x = tg_add(g, x, tg_dropout(g, a, drop));
    }
    tg_tensor *h = at_project(g, tg_layer_norm(g, x, L->ln2_w, L->ln2_b, eps),
                              &(at_proj){L->fc_w, L->fc_b, 1});
    h = at_project(g, activation(g, h, c), &(at_proj){L->mproj_w, L->mproj_b, 1});
    return tg_add(g, x, ad_apply(g, &L->ad_ffn, tg_dropout(g, h, drop)));
}

tg_tensor *g2_decode(tg_graph *g, const g2_model *m, tg_tensor *ids, tg_tensor *pos_ids,
                     tg_tensor *mask, const g2_memory *mem, tg_tensor *const *cache,
                     tg_tensor *pos)
{
    const g2_config *c = &m->cfg;
    if (c->add_cross_attention != (mem != NULL))
        return tg_fail(g, c->add_cross_attention
                              ? "g2_decode: a model with cross-attention needs encoder states"
                              : "g2_decode: encoder states given to a model without cross-attention");
    tg_tensor *x = tg_add(g, tg_embedding(g, m->wte, ids, -1), tg_embedding(g, m->wpe, pos_ids, -1));
    x = tg_dropout(g, x, (float)c->embd_pdrop);
    for (int i = 0; i < c->n_layer; i++)
        x = block(g, &m->layers[i], i, x, mask, mem, c, cache ? cache[i] : NULL, pos);
    return tg_layer_norm(g, x, m->lnf_w, m->lnf_b, (float)c->layer_norm_epsilon);
}

tg_tensor *g2_lm_head(tg_graph *g, const g2_model *m, tg_tensor *hidden)
{
    return tg_linear(g, hidden, m->wte, NULL); /* tied to wte, no bias */
}

tg_tensor *g2_cross_kv(tg_graph *g, const g2_model *m, int layer, tg_tensor *states)
{
    const g2_layer *L = &m->layers[layer];
    if (!L->xkv_w)
        return tg_fail(g, "g2_cross_kv: layer %d has no cross-attention", layer);
    return at_project(g, states, &(at_proj){L->xkv_w, L->xkv_b, 1});
}

/* The decoder from the graph's ids and position ids to logits (when what
 * >= G2_LOGITS), shared by the full graph and the cached step. Fills
 * out->hidden and out->logits. */
static void decoder(const g2_model *m, tg_graph *g, int what, tg_tensor *mask,
                    const g2_memory *mem, const g2_cache *cache, tg_tensor *pos, g2_graph *out)
{
    tg_tensor *x = g2_decode(g, m, out->ids, out->pos_ids, mask, mem, cache ? cache->kv : NULL, pos);
    out->hidden = x;
    tg_graph_keep(g, x);
    if (what >= G2_LOGITS) {
        out->logits = g2_lm_head(g, m, x);
        tg_graph_keep(g, out->logits);
    }
}

/* A new graph (into arena when non-NULL) with the ids and position ids
 * inputs [batch, len] in out. */
static int graph_begin(int batch, int len, tg_arena *arena, int inference, g2_graph *out)
{
    memset(out, 0, sizeof *out);
    tg_graph *g = tg_graph_new();
    if (!g)
        return TG_ERR_NOMEM;
    tg_graph_set_inference(g, inference);
    if (arena)
        tg_graph_share_arena(g, arena);
    int bt[2] = {batch, len};
    out->g = g;
    out->batch = batch;
    out->seq_len = len;
    out->ids = tg_input(g, TG_I32, 2, bt, "input_ids");
    out->pos_ids = tg_input(g, TG_I32, 2, bt, "position_ids");
    return TG_OK;
}

/* Checks the build error, plans (backward from out->loss when set); on
 * failure frees the graph and clears out. */
static int graph_end(g2_graph *out)
{
    tg_graph *g = out->g;
    int rc = tg_graph_error(g) ? tg_error(TG_ERR_SHAPE, "%s", tg_graph_error(g))
                               : tg_graph_plan(g, out->loss, 0);
    if (rc) {
        tg_graph_free(g);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* g2_build and g2_build_cross: enc_len 0 = no cross-attention inputs. */
static int build(const g2_model *m, int batch, int seq_len, int enc_len, int what,
                 tg_arena *arena, g2_graph *out)
{
    const g2_config *c = &m->cfg;
    memset(out, 0, sizeof *out);
    if (batch < 1 || seq_len < 1 || seq_len > c->n_positions)
        return tg_error(TG_ERR_SHAPE, "g2_build: batch %d x length %d: length must be 1..%d (n_positions)",
                        batch, seq_len, c->n_positions);
    if (c->add_cross_attention != (enc_len > 0))
        return tg_error(TG_ERR_ARG, c->add_cross_attention
                                        ? "g2_build: the model has cross-attention: use g2_build_cross"
                                        : "g2_build_cross: the model has no cross-attention");
    int rc = graph_begin(batch, seq_len, arena, 0, out);
    if (rc)
        return rc;
    tg_graph *g = out->g;
    int bt[2] = {batch, seq_len};
    out->mask = tg_input(g, TG_I32, 2, bt, "attention_mask");
    g2_memory mem = {0};
    if (enc_len > 0) {
        out->enc = tg_input(g, TG_F32, 3, (int[]){batch, enc_len, c->n_embd}, "encoder_hidden_states");
        out->enc_mask = tg_input(g, TG_I32, 2, (int[]){batch, enc_len}, "encoder_attention_mask");
        mem = (g2_memory){out->enc, out->enc_mask, NULL};
    }
    decoder(m, g, what, out->mask, enc_len > 0 ? &mem : NULL, NULL, NULL, out);
    if (what >= G2_LOSS) {
        out->labels = tg_input(g, TG_I32, 2, bt, "shifted_labels");
        out->loss = tg_cross_entropy(g, out->logits, out->labels, -100);
    }
    return graph_end(out);
}

int g2_build(const g2_model *m, int batch, int seq_len, int what, tg_arena *arena,
             g2_graph *out)
{
    return build(m, batch, seq_len, 0, what, arena, out);
}

int g2_build_cross(const g2_model *m, int batch, int seq_len, int enc_len, int what,
                   tg_arena *arena, g2_graph *out)
{
    if (enc_len < 1) {
        memset(out, 0, sizeof *out);
        return tg_error(TG_ERR_SHAPE, "g2_build_cross: encoder length %d must be >= 1", enc_len);
    }
    return build(m, batch, seq_len, enc_len, what, arena, out);
}

void g2_set_encoder(g2_graph *gr, const float *states, const int32_t *mask)
{
    if (states && gr->enc)
        memcpy(gr->enc->data, states, gr->enc->numel * sizeof(float));
    int32_t *m = tg_i32(gr->enc_mask);
    for (size_t i = 0; i < gr->enc_mask->numel; i++)
        m[i] = !mask || mask[i];
}

int g2_cache_new_cross(const g2_model *m, int batch, int max_len, int enc_len, g2_cache *out)
{
    const g2_config *c = &m->cfg;
    memset(out, 0, sizeof *out);
    if (batch < 1 || max_len < 1 || max_len > c->n_positions)
        return tg_error(TG_ERR_SHAPE, "g2_cache_new: batch %d x length %d: length must be 1..%d (n_positions)",
                        batch, max_len, c->n_positions);
    if (c->add_cross_attention != (enc_len > 0))
        return tg_error(TG_ERR_ARG, c->add_cross_attention
                                        ? "g2_cache_new: the model has cross-attention: use g2_cache_new_cross"
                                        : "g2_cache_new_cross: the model has no cross-attention");
    out->state = tg_params_new();
    out->kv = tg_calloc(c->n_layer, sizeof *out->kv, "KV cache");
    out->xkv = enc_len > 0 ? tg_calloc(c->n_layer, sizeof *out->xkv, "cross KV cache") : NULL;
    if (!out->state || !out->kv || (enc_len > 0 && !out->xkv)) {
        g2_cache_free(out);
        return TG_ERR_NOMEM;
    }
    int shape[3] = {batch, max_len, 2 * c->n_embd};
    int xshape[3] = {batch, enc_len, 2 * c->n_embd};
    for (int i = 0; i < c->n_layer; i++) {
        char n[TG_NAME_LEN];
        snprintf(n, sizeof n, "cache.h.%d.attn.kv", i);
        out->kv[i] = tg_params_add(out->state, n, 3, shape, 0);
        if (enc_len > 0) {
            snprintf(n, sizeof n, "cache.h.%d.crossattention.kv", i);
            out->xkv[i] = tg_params_add(out->state, n, 3, xshape, 0);
        }
    }
    int rc = tg_params_alloc(out->state);
    if (rc) {
        g2_cache_free(out);
        return rc;
    }
    out->batch = batch;
    out->max_len = max_len;
    out->enc_len = enc_len;
    return TG_OK;
}

int g2_cache_new(const g2_model *m, int batch, int max_len, g2_cache *out)
{
    return g2_cache_new_cross(m, batch, max_len, 0, out);
}

void g2_cache_free(g2_cache *c)
{
    tg_params_free(c->state);
    tg_free(c->kv);
    tg_free(c->xkv);
    memset(c, 0, sizeof *c);
}

int g2_build_step(const g2_model *m, const g2_cache *cache, int n_new, tg_arena *arena,
                  g2_graph *out)
{
    memset(out, 0, sizeof *out);
    if (n_new < 1 || n_new > cache->max_len)
        return tg_error(TG_ERR_SHAPE, "g2_build_step: %d new tokens for a cache of %d rows",
                        n_new, cache->max_len);
    int rc = graph_begin(cache->batch, n_new, arena, 1, out);
    if (rc)
        return rc;
    out->pos = tg_input(out->g, TG_I32, 1, (int[]){1}, "cache_pos");
    g2_memory mem = {0};
    if (cache->xkv) {
        out->enc_mask = tg_input(out->g, TG_I32, 2, (int[]){cache->batch, cache->enc_len},
                                 "encoder_attention_mask");
        mem = (g2_memory){NULL, out->enc_mask, cache->xkv};
    }
    decoder(m, out->g, G2_LOGITS, NULL, cache->xkv ? &mem : NULL, cache, out->pos, out);
    return graph_end(out);
}

void g2_set_step(g2_graph *gr, const int32_t *ids, int pos)
{
    int B = gr->batch, T = gr->seq_len;
    memcpy(gr->ids->data, ids, (size_t)B * T * sizeof(int32_t));
    int32_t *p = tg_i32(gr->pos_ids);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            p[(size_t)b * T + t] = pos + t;
    tg_i32(gr->pos)[0] = pos;
}

void g2_graph_free(g2_graph *gr)
{
    tg_graph_free(gr->g);
    memset(gr, 0, sizeof *gr);
}

void g2_set_batch(g2_graph *gr, const int32_t *ids, const int32_t *attention_mask,
                  const int32_t *labels)
{
    int B = gr->batch, T = gr->seq_len;
    memcpy(gr->ids->data, ids, (size_t)B * T * sizeof(int32_t));
    int32_t *pos = tg_i32(gr->pos_ids);
    int32_t *mask = tg_i32(gr->mask);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            pos[(size_t)b * T + t] = t;
            mask[(size_t)b * T + t] = !attention_mask || attention_mask[(size_t)b * T + t];
        }
    if (gr->labels) {
        int32_t *lab = tg_i32(gr->labels);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                lab[(size_t)b * T + t] = labels && t + 1 < T ? labels[(size_t)b * T + t + 1] : -100;
    }
}
