/* The encoder-decoder (EncoderDecoderModel): parameters and their
 * trainability, initialisation, checkpoints, the teacher-forced graph and
 * the generation step. */
#include "encdec.h"

#include "cfg_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- parameters ---------------------------------------------------------- */

/* The tensors new to the joined model: never part of a pretrained base. */
static int is_new(const char *name)
{
    return ad_is_adapter(name) || strstr(name, ".crossattention.") ||
           strstr(name, ".ln_cross_attn.") || wt_starts_with(name, "enc_to_dec_proj.");
}

int ed_is_trainable(const ed_model *m, const char *name)
{
    if (m->freeze & ED_TRAIN_ALL)
        return 1;
    if ((m->freeze & ED_FREEZE_ENCODER) && wt_starts_with(name, "encoder."))
        return 0;
    return m->cfg.adapters ? is_new(name) : 1;
}

static int frozen_fn(const char *name, void *ctx) { return !ed_is_trainable(ctx, name); }

int ed_param_is_norm(const char *name)
{
    return strstr(name, "LayerNorm") != NULL || g2_param_is_norm(name);
}

static void release(ed_model *m)
{
    tg_params_free(m->train);
    tg_params_free(m->frozen);
    tg_free(m->enc.layers);
    tg_free(m->dec.layers);
    tg_free(m);
}

void ed_model_free(ed_model *m)
{
    if (m)
        release(m);
}

/* The adapters of every encoder and decoder layer (cfg.adapters > 0). */
static int declare_adapters(ed_model *m, const wt_scope *s)
{
    int r = m->cfg.adapters, rc = TG_OK;
    char w[TG_NAME_LEN];
    for (int i = 0; i < m->cfg.enc.num_hidden_layers && !rc; i++) {
        rb_layer *L = &m->enc.layers[i];
        int H = m->cfg.enc.hidden_size;
        snprintf(w, sizeof w, "encoder.encoder.layer.%d.attention.output", i);
        rc = ad_declare(s, w, H, r, &L->ad_attn);
        snprintf(w, sizeof w, "encoder.encoder.layer.%d.output", i);
        if (!rc)
            rc = ad_declare(s, w, H, r, &L->ad_ffn);
    }
    for (int i = 0; i < m->cfg.dec.n_layer && !rc; i++) {
        g2_layer *L = &m->dec.layers[i];
        int H = m->cfg.dec.n_embd;
        snprintf(w, sizeof w, "decoder.transformer.h.%d.attention_adapters", i);
        rc = ad_declare(s, w, H, r, &L->ad_attn);
        snprintf(w, sizeof w, "decoder.transformer.h.%d.output_adapters", i);
        if (!rc)
            rc = ad_declare(s, w, H, r, &L->ad_ffn);
    }
    return rc;
}

int ed_model_new(const ed_config *cfg, int freeze, ed_model **out)
{
    *out = NULL;
    int rc = ed_config_validate(cfg, NULL);
    if (rc)
        return rc;
    ed_model *m = tg_calloc(1, sizeof *m, "model");
    if (!m)
        return TG_ERR_NOMEM;
    m->cfg = *cfg;
    m->cfg.dec.add_cross_attention = 1;
    m->freeze = freeze;
    m->train = tg_params_new();
    m->frozen = tg_params_new();
    if (!m->train || !m->frozen) {
        release(m);
        return TG_ERR_NOMEM;
    }
    wt_scope s = {m->train, m->frozen, frozen_fn, m, "encoder."};
    rc = rb_model_declare(&m->enc, &cfg->enc, &s, 0);
    s.prefix = "decoder.";
    if (!rc)
        rc = g2_model_declare(&m->dec, &m->cfg.dec, &s);
    s.prefix = "";
    if (!rc && cfg->enc.hidden_size != cfg->dec.n_embd) {
        m->proj_w = wt_decl_in(&s, "enc_to_dec_proj.weight", cfg->dec.n_embd, cfg->enc.hidden_size);
        m->proj_b = wt_decl_in(&s, "enc_to_dec_proj.bias", cfg->dec.n_embd, 0);
    }
    if (!rc && cfg->adapters)
        rc = declare_adapters(m, &s);
    if (!rc)
        rc = tg_params_alloc(m->train);
    if (!rc)
        rc = tg_params_alloc(m->frozen);
    if (rc) {
        release(m);
        return rc;
    }
    *out = m;
    return TG_OK;
}

/* The standard deviation of a tensor's normal init (see ed_model_init). */
static double ed_sd(const char *name, void *ctx)
{
    const ed_config *c = ctx;
    if (ad_is_up(name))
        return 0.0;
    if (ad_is_adapter(name))
        return 0.02;
    if (wt_starts_with(name, "encoder."))
        return c->enc.initializer_range;
    double sd = c->dec.initializer_range;
    return wt_ends_with(name, "c_proj.weight") ? sd / sqrt(2.0 * c->dec.n_layer) : sd;
}

void ed_model_init(ed_model *m, uint64_t seed)
{
    wt_init(m->train, seed, ed_param_is_norm, ed_sd, &m->cfg);
    wt_init(m->frozen, seed ^ 0x9e3779b97f4a7c15ULL, ed_param_is_norm, ed_sd, &m->cfg);
    /* nn.Embedding(padding_idx) rows of the encoder start at zero */
    int pad = m->cfg.enc.pad_token_id, H = m->cfg.enc.hidden_size;
    memset(tg_f32(m->enc.word) + (size_t)pad * H, 0, H * sizeof(float));
    memset(tg_f32(m->enc.pos) + (size_t)pad * H, 0, H * sizeof(float));
}

static const char *skipped_why(const char *name)
{
    if (!strcmp(name, "decoder.lm_head.weight"))
        return "tied to decoder.transformer.wte.weight";
    if (wt_starts_with(name, "encoder.pooler."))
        return "RobertaModel's pooler, not used by the encoder-decoder";
    if (wt_ends_with(name, ".attn.bias") || wt_ends_with(name, ".attn.masked_bias"))
        return "a causal-mask buffer, not a weight";
    return NULL;
}

int ed_model_load(ed_model *m, const char *path, void (*note)(const char *msg))
{
    tg_params *p[2] = {m->train, m->frozen};
    return wt_load_set(p, 2, path, NULL, skipped_why, note);
}

int ed_model_save(const ed_model *m, const char *dir)
{
    tg_params *p[2] = {m->train, m->frozen};
    return wt_save_set(p, 2, dir);
}

int ed_max_source(const ed_model *m)
{
    return m->cfg.enc.max_position_embeddings - m->cfg.enc.pad_token_id - 1;
}

int ed_max_target(const ed_model *m) { return m->cfg.dec.n_positions; }

int ed_save_pretrained(const ed_model *m, const tok_tokenizer *tok, const char *dir)
{
    int rc = wt_mkdir(dir);
    if (!rc)
        rc = ed_model_save(m, dir);
    if (!rc)
        rc = ed_config_save(&m->cfg, dir);
    if (!rc)
        rc = tok_save(tok, dir, ed_max_source(m));
    return rc;
}

int ed_load_pretrained(const char *dir, int freeze, ed_model **m, tok_tokenizer **tok,
                       void (*note)(const char *msg))
{
    *m = NULL;
    *tok = NULL;
    ed_config c;
    int rc = ed_config_load(dir, &c);
    if (!rc)
        rc = wt_load_tokenizer(dir, c.dec.vocab_size, tok);
    if (!rc)
        rc = ed_model_new(&c, freeze, m);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc)
        rc = ed_model_load(*m, path, note);
    if (!rc && note && c.ignored[0]) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s/config.json: keys not used by EncoderDecoderModel, ignored: %s",
                 dir, c.ignored);
        note(buf);
    }
    if (rc) {
        ed_model_free(*m);
        tok_free(*tok);
        *m = NULL;
        *tok = NULL;
    }
    return rc;
}

int ed_is_encdec_dir(const char *dir)
{
    cJSON *root;
    char *file;
    if (cfg_read(dir, &root, &file))
        return 0;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    int yes = cJSON_IsString(mt) && !strcmp(mt->valuestring, "encoder-decoder");
    cJSON_Delete(root);
    tg_free(file);
    return yes;
}

/* What a RobertaForMaskedLM file has beyond the encoder. */
static const char *mlm_head_why(const char *name)
{
    return wt_starts_with(name, "lm_head.") ? "RobertaForMaskedLM's MLM head, not part of the encoder" : NULL;
}

/* Parameters that a pretrained base does not have. */
static int absent_ok(const char *name) { return is_new(name); }

int ed_from_pretrained(const char *enc_dir, const char *dec_dir, const ed_from_opts *o,
                       ed_model **m, tok_tokenizer **tok, void (*note)(const char *msg))
{
    *m = NULL;
    *tok = NULL;
    ed_config c;
    memset(&c, 0, sizeof c);
    tok_tokenizer *dtok = NULL;
    int rc = rb_config_load(enc_dir, &c.enc);
    if (!rc)
        rc = g2_config_load(dec_dir, &c.dec);
    if (!rc)
        rc = wt_load_tokenizer(enc_dir, c.enc.vocab_size, tok);
    if (!rc)
        rc = wt_load_tokenizer(dec_dir, c.dec.vocab_size, &dtok);
    if (!rc && (tok_vocab_size(*tok) != tok_vocab_size(dtok) ||
                tok_cls_id(*tok) != tok_cls_id(dtok) || tok_sep_id(*tok) != tok_sep_id(dtok) ||
                tok_pad_id(*tok) != tok_pad_id(dtok)))
        rc = tg_error(TG_ERR_FORMAT, "%s and %s: the tokenizers differ (size %d / %d, [CLS] %d / %d, [SEP] %d / %d, [PAD] %d / %d)",
                      enc_dir, dec_dir, tok_vocab_size(*tok), tok_vocab_size(dtok),
                      tok_cls_id(*tok), tok_cls_id(dtok), tok_sep_id(*tok), tok_sep_id(dtok),
                      tok_pad_id(*tok), tok_pad_id(dtok));
    tok_free(dtok);
    if (rc) {
        tok_free(*tok);
        *tok = NULL;
        return rc;
    }
    c.dec.add_cross_attention = 1;
    c.decoder_start_token_id = c.dec.bos_token_id >= 0 ? c.dec.bos_token_id : tok_cls_id(*tok);
    c.pad_token_id = c.dec.pad_token_id >= 0 ? c.dec.pad_token_id : tok_pad_id(*tok);
    c.eos_token_id = c.dec.eos_token_id;
    c.adapters = o->adapters;
    char where[8500];
    snprintf(where, sizeof where, "%s + %s", enc_dir, dec_dir);
    rc = ed_config_validate(&c, where);
    if (!rc)
        rc = ed_model_new(&c, o->freeze, m);
    if (!rc) {
        ed_model_init(*m, o->seed);
        tg_params *p[2] = {(*m)->train, (*m)->frozen};
        char path[4200];
        wt_map enc = {"encoder.", "roberta.", absent_ok};
        snprintf(path, sizeof path, "%s/model.safetensors", enc_dir);
        rc = wt_load_set(p, 2, path, &enc, mlm_head_why, note);
        wt_map dec = {"decoder.", "", absent_ok};
        snprintf(path, sizeof path, "%s/model.safetensors", dec_dir);
        if (!rc)
            rc = wt_load_set(p, 2, path, &dec, NULL, note);
    }
    if (rc) {
        ed_model_free(*m);
        tok_free(*tok);
        *m = NULL;
        *tok = NULL;
    }
    return rc;
}

/* ---- the graphs ---------------------------------------------------------- */

/* Encoder inputs [B, S] and the encoder (plus enc_to_dec_proj) in gr. */
static tg_tensor *encoder(const ed_model *m, tg_graph *g, int B, int S, ed_graph *gr)
{
    int bs[2] = {B, S};
    gr->src_ids = tg_input(g, TG_I32, 2, bs, "input_ids");
    gr->src_pos = tg_input(g, TG_I32, 2, bs, "position_ids");
    gr->src_type = tg_input(g, TG_I32, 2, bs, "token_type_ids");
    gr->src_mask = tg_input(g, TG_I32, 2, bs, "attention_mask");
    tg_tensor *h = rb_encode(g, &m->enc, gr->src_ids, gr->src_pos, gr->src_type, gr->src_mask);
    if (m->proj_w)
        h = tg_linear(g, h, m->proj_w, m->proj_b);
    gr->enc_hidden = h;
    return h;
}

/* Plans g (backward from loss when set); frees it and clears gr on error. */
static int finish(ed_graph *gr)
{
    tg_graph *g = gr->g;
    int rc = tg_graph_error(g) ? tg_error(TG_ERR_SHAPE, "%s", tg_graph_error(g))
                               : tg_graph_plan(g, gr->loss, 0);
    if (rc) {
        tg_graph_free(g);
        memset(gr, 0, sizeof *gr);
    }
    return rc;
}

static int check_lengths(const ed_model *m, int batch, int src_len, int tgt_len, const char *fn)
{
    if (batch < 1 || src_len < 1 || src_len > ed_max_source(m) || tgt_len < 1 ||
        tgt_len > ed_max_target(m))
        return tg_error(TG_ERR_SHAPE, "%s: batch %d, source %d, target %d: lengths must be 1..%d (encoder) and 1..%d (decoder n_positions)",
                        fn, batch, src_len, tgt_len, ed_max_source(m), ed_max_target(m));
    return TG_OK;
}

static void graph_init(const ed_model *m, tg_graph *g, int B, int S, int T, ed_graph *out)
{
    out->g = g;
    out->batch = B, out->src_len = S, out->tgt_len = T;
    out->enc_pad = m->cfg.enc.pad_token_id;
    out->start_id = m->cfg.decoder_start_token_id;
    out->dec_pad = m->cfg.pad_token_id;
}

int ed_build(const ed_model *m, int batch, int src_len, int tgt_len, int what, tg_arena *arena,
             ed_graph *out)
{
    memset(out, 0, sizeof *out);
    int rc = check_lengths(m, batch, src_len, tgt_len, "ed_build");
    if (rc)
        return rc;
    tg_graph *g = tg_graph_new();
    if (!g)
        return TG_ERR_NOMEM;
    if (arena)
        tg_graph_share_arena(g, arena);
    graph_init(m, g, batch, src_len, tgt_len, out);
    tg_tensor *h = encoder(m, g, batch, src_len, out);
    int bt[2] = {batch, tgt_len};
    out->ids = tg_input(g, TG_I32, 2, bt, "decoder_input_ids");
    out->pos_ids = tg_input(g, TG_I32, 2, bt, "decoder_position_ids");
    out->mask = tg_input(g, TG_I32, 2, bt, "decoder_attention_mask");
    g2_memory mem = {h, out->src_mask, NULL};
    tg_tensor *x = g2_decode(g, &m->dec, out->ids, out->pos_ids, out->mask, &mem, NULL, NULL);
    out->logits = g2_lm_head(g, &m->dec, x);
    tg_graph_keep(g, out->logits);
    if (what >= ED_LOSS) {
        out->labels = tg_input(g, TG_I32, 2, bt, "labels");
        out->loss = tg_cross_entropy(g, out->logits, out->labels, -100);
    }
    return finish(out);
}

void ed_graph_free(ed_graph *gr)
{
    tg_graph_free(gr->g);
    memset(gr, 0, sizeof *gr);
}

/* The encoder inputs of a [B, S] chunk. */
static void set_source(ed_graph *gr, const int32_t *src_ids, const int32_t *src_mask)
{
    int B = gr->batch, S = gr->src_len;
    memcpy(gr->src_ids->data, src_ids, (size_t)B * S * sizeof(int32_t));
    rb_position_ids(src_ids, B, S, gr->enc_pad, tg_i32(gr->src_pos));
    int32_t *typ = tg_i32(gr->src_type), *mask = tg_i32(gr->src_mask);
    for (int i = 0; i < B * S; i++) {
        typ[i] = 0;
        mask[i] = !src_mask || src_mask[i] ? 1 : 0;
    }
}

void ed_set_batch(ed_graph *gr, const int32_t *src_ids, const int32_t *src_mask,
                  const int32_t *labels)
{
    int B = gr->batch, T = gr->tgt_len;
    set_source(gr, src_ids, src_mask);
    int32_t *ids = tg_i32(gr->ids), *pos = tg_i32(gr->pos_ids), *mask = tg_i32(gr->mask);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * T + t;
            int prev = t == 0 ? gr->start_id : labels[i - 1];
            ids[i] = prev == -100 ? gr->dec_pad : prev;
            pos[i] = t;
            mask[i] = 1;
        }
    if (gr->labels)
        memcpy(gr->labels->data, labels, (size_t)B * T * sizeof(int32_t));
}

/* ---- generation ---------------------------------------------------------- */

int ed_build_step(const ed_model *m, int batch, int src_len, int max_len, ed_stepper *st)
{
    memset(st, 0, sizeof *st);
    int rc = check_lengths(m, batch, src_len, max_len, "ed_build_step");
    if (rc)
        return rc;
    st->m = m;
    st->batch = batch, st->src_len = src_len, st->max_len = max_len;
    int L = m->cfg.dec.n_layer;
    st->xkv = tg_calloc(L, sizeof *st->xkv, "cross k|v outputs");
    st->src_mask = tg_malloc((size_t)batch * src_len * sizeof(int32_t), "source mask");
    tg_graph *g = tg_graph_new();
    if (!st->xkv || !st->src_mask || !g) {
        tg_graph_free(g);
        ed_stepper_free(st);
        return TG_ERR_NOMEM;
    }
    tg_graph_set_inference(g, 1);
    graph_init(m, g, batch, src_len, 1, &st->enc);
    tg_tensor *h = encoder(m, g, batch, src_len, &st->enc);
    for (int i = 0; i < L; i++) {
        st->xkv[i] = g2_cross_kv(g, &m->dec, i, h);
        tg_graph_keep(g, st->xkv[i]);
    }
    rc = finish(&st->enc);
    if (!rc)
        rc = g2_cache_new_cross(&m->dec, batch, max_len, src_len, &st->cache);
    if (!rc)
        rc = g2_build_step(&m->dec, &st->cache, 1, NULL, &st->step);
    if (rc)
        ed_stepper_free(st);
    return rc;
}

void ed_stepper_free(ed_stepper *st)
{
    ed_graph_free(&st->enc);
    g2_graph_free(&st->step);
    g2_cache_free(&st->cache);
    tg_free(st->xkv);
    tg_free(st->src_mask);
    memset(st, 0, sizeof *st);
}

int ed_step_begin(ed_stepper *st, const int32_t *src_ids, const int32_t *src_mask)
{
    set_source(&st->enc, src_ids, src_mask);
    memcpy(st->src_mask, st->enc.src_mask->data, (size_t)st->batch * st->src_len * sizeof(int32_t));
    int rc = tg_forward(st->enc.g);
    if (rc)
        return rc;
    for (int i = 0; i < st->m->cfg.dec.n_layer; i++)
        memcpy(st->cache.xkv[i]->data, st->xkv[i]->data, st->xkv[i]->numel * sizeof(float));
    return TG_OK;
}

int ed_step(ed_stepper *st, const int32_t *tok, int pos, const float **logits)
{
    g2_set_step(&st->step, tok, pos);
    g2_set_encoder(&st->step, NULL, st->src_mask);
    int rc = tg_forward(st->step.g);
    *logits = rc ? NULL : tg_f32(st->step.logits);
    return rc;
}
