/* RoBERTa for masked language modelling: parameters, initialisation,
 * checkpoints and the graph builder. */
#include "roberta.h"

#include "attention.h"
#include "safetensors.h"
#include "weights.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- parameters ---------------------------------------------------------- */


int rb_model_declare(rb_model *m, const rb_config *cfg, const wt_scope *s, int lm_head)
{
    int rc = rb_config_validate(cfg, NULL);
    if (rc)
        return rc;
    m->cfg = *cfg;
    m->layers = tg_calloc(cfg->num_hidden_layers, sizeof *m->layers, "model layers");
    if (!m->layers)
        return TG_ERR_NOMEM;
    int H = cfg->hidden_size, F = cfg->intermediate_size, V = cfg->vocab_size;
    m->word = wt_decl_in(s, "embeddings.word_embeddings.weight", V, H);
    m->pos = wt_decl_in(s, "embeddings.position_embeddings.weight", cfg->max_position_embeddings, H);
    m->type = wt_decl_in(s, "embeddings.token_type_embeddings.weight", cfg->type_vocab_size, H);
    m->emb_ln_w = wt_decl_in(s, "embeddings.LayerNorm.weight", H, 0);
    m->emb_ln_b = wt_decl_in(s, "embeddings.LayerNorm.bias", H, 0);
    for (int i = 0; i < cfg->num_hidden_layers; i++) {
        rb_layer *L = &m->layers[i];
        char n[TG_NAME_LEN];
#define LAYER(field, suffix, rows, cols)                                           \
    snprintf(n, sizeof n, "encoder.layer.%d.%s", i, suffix);                       \
    L->field = wt_decl_in(s, n, rows, cols)
        LAYER(q_w, "attention.self.query.weight", H, H);
        LAYER(q_b, "attention.self.query.bias", H, 0);
        LAYER(k_w, "attention.self.key.weight", H, H);
        LAYER(k_b, "attention.self.key.bias", H, 0);
        LAYER(v_w, "attention.self.value.weight", H, H);
        LAYER(v_b, "attention.self.value.bias", H, 0);
        LAYER(ao_w, "attention.output.dense.weight", H, H);
        LAYER(ao_b, "attention.output.dense.bias", H, 0);
        LAYER(ln1_w, "attention.output.LayerNorm.weight", H, 0);
        LAYER(ln1_b, "attention.output.LayerNorm.bias", H, 0);
        LAYER(i_w, "intermediate.dense.weight", F, H);
        LAYER(i_b, "intermediate.dense.bias", F, 0);
        LAYER(o_w, "output.dense.weight", H, F);
        LAYER(o_b, "output.dense.bias", H, 0);
        LAYER(ln2_w, "output.LayerNorm.weight", H, 0);
        LAYER(ln2_b, "output.LayerNorm.bias", H, 0);
#undef LAYER
    }
    if (lm_head) {
        wt_scope h = *s;
        h.prefix = "";
        m->lm_w = wt_decl_in(&h, "lm_head.dense.weight", H, H);
        m->lm_b = wt_decl_in(&h, "lm_head.dense.bias", H, 0);
        m->lm_ln_w = wt_decl_in(&h, "lm_head.layer_norm.weight", H, 0);
        m->lm_ln_b = wt_decl_in(&h, "lm_head.layer_norm.bias", H, 0);
        m->lm_bias = wt_decl_in(&h, "lm_head.bias", V, 0);
    }
    return TG_OK;
}

int rb_model_new(const rb_config *cfg, rb_model **out)
{
    *out = NULL;
    int rc = rb_config_validate(cfg, NULL);
    if (rc)
        return rc;
    rb_model *m = tg_calloc(1, sizeof *m, "model");
    if (!m)
        return TG_ERR_NOMEM;
    m->params = tg_params_new();
    if (!m->params) {
        rb_model_free(m);
        return TG_ERR_NOMEM;
    }
    rc = rb_model_declare(m, cfg, &(wt_scope){.p = m->params, .prefix = "roberta."}, 1);
    if (!rc)
        rc = tg_params_alloc(m->params);
    if (rc) {
        rb_model_free(m);
        return rc;
    }
    *out = m;
    return TG_OK;
}

void rb_model_free(rb_model *m)
{
    if (!m)
        return;
    tg_params_free(m->params);
    tg_free(m->layers);
    tg_free(m);
}


/* The tied copies transformers may save with the MLM head. */
static const char *skipped_why(const char *name)
{
    if (!strcmp(name, "lm_head.decoder.weight"))
        return "tied to roberta.embeddings.word_embeddings.weight";
    if (!strcmp(name, "lm_head.decoder.bias"))
        return "tied to lm_head.bias";
    return NULL;
}

/* A LayerNorm weight, told apart by its Hugging Face name. */
static int rb_is_norm(const char *name)
{
    return strstr(name, "LayerNorm") || strstr(name, "layer_norm");
}

static double rb_sd(const char *name, void *ctx)
{
    (void)name;
    return *(const double *)ctx;
}

void rb_model_init(rb_model *m, uint64_t seed)
{
    double sd = m->cfg.initializer_range;
    wt_init(m->params, seed, rb_is_norm, rb_sd, &sd);
    /* nn.Embedding(padding_idx) rows start at zero */
    int pad = m->cfg.pad_token_id, H = m->cfg.hidden_size;
    memset(tg_f32(m->word) + (size_t)pad * H, 0, H * sizeof(float));
    memset(tg_f32(m->pos) + (size_t)pad * H, 0, H * sizeof(float));
}

int rb_model_load(rb_model *m, const char *path, void (*note)(const char *msg))
{
    return wt_load(m->params, path, skipped_why, note);
}

int rb_model_save(const rb_model *m, const char *dir) { return wt_save(m->params, dir); }

int rb_save_pretrained(const rb_model *m, const tok_tokenizer *tok, const char *dir)
{
    int rc = wt_mkdir(dir);
    if (!rc)
        rc = rb_model_save(m, dir);
    if (!rc)
        rc = rb_config_save(&m->cfg, dir);
    if (!rc)
        rc = tok_save(tok, dir, m->cfg.max_position_embeddings - m->cfg.pad_token_id - 1);
    return rc;
}

int rb_load_pretrained(const char *dir, rb_model **m, tok_tokenizer **tok,
                       void (*note)(const char *msg))
{
    *m = NULL;
    *tok = NULL;
    rb_config c;
    char path[4200];
    int rc = rb_config_load(dir, &c);
    if (rc)
        return rc;
    rc = wt_load_tokenizer(dir, c.vocab_size, tok);
    if (!rc)
        rc = rb_model_new(&c, m);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc)
        rc = rb_model_load(*m, path, note);
    if (!rc && note) {
        char buf[1024];
        const char *w = rb_config_pad_warning(&c, *tok, buf, sizeof buf);
        if (w)
            note(w);
        snprintf(path, sizeof path, "%s/config.json", dir);
        if ((w = rb_config_ignored_note(&c, path, buf, sizeof buf)))
            note(w);
    }
    if (rc) {
        rb_model_free(*m);
        tok_free(*tok);
        *m = NULL;
        *tok = NULL;
    }
    return rc;
}

/* ---- the graph ----------------------------------------------------------- */

/* Self-attention of one layer with its output projection (the shared
 * block, models/attention.h). x: [B, T, H]; mask: int32 [B, T]. */
static tg_tensor *self_attention(tg_graph *g, const rb_layer *L, tg_tensor *x, tg_tensor *mask,
                                 const rb_config *c)
{
    at_weights w = {.q = {L->q_w, L->q_b, 0}, .k = {L->k_w, L->k_b, 0},
                    .v = {L->v_w, L->v_b, 0}, .out = {L->ao_w, L->ao_b, 0}};
    at_config ac = {.heads = c->num_attention_heads, .dropout = c->attention_probs_dropout_prob};
    return at_attention(g, &w, &ac, x, NULL, mask);
}

/* One post-LN encoder layer. */
static tg_tensor *encoder_layer(tg_graph *g, const rb_layer *L, tg_tensor *x, tg_tensor *mask,
                                const rb_config *c)
{
    float drop = c->hidden_dropout_prob, eps = c->layer_norm_eps;
    tg_tensor *a = ad_apply(g, &L->ad_attn, tg_dropout(g, self_attention(g, L, x, mask, c), drop));
    x = tg_layer_norm(g, tg_add(g, a, x), L->ln1_w, L->ln1_b, eps);
    tg_tensor *h = tg_gelu(g, tg_linear(g, x, L->i_w, L->i_b));
    h = ad_apply(g, &L->ad_ffn, tg_dropout(g, tg_linear(g, h, L->o_w, L->o_b), drop));
    return tg_layer_norm(g, tg_add(g, h, x), L->ln2_w, L->ln2_b, eps);
}

tg_tensor *rb_encode(tg_graph *g, const rb_model *m, tg_tensor *ids, tg_tensor *pos_ids,
                     tg_tensor *type_ids, tg_tensor *mask)
{
    const rb_config *c = &m->cfg;
    int pad = c->pad_token_id;
    /* embeddings: word + position + token type, LayerNorm, dropout */
    tg_tensor *x = tg_add(g, tg_embedding(g, m->word, ids, pad), tg_embedding(g, m->pos, pos_ids, pad));
    x = tg_add(g, x, tg_embedding(g, m->type, type_ids, -1));
    x = tg_layer_norm(g, x, m->emb_ln_w, m->emb_ln_b, c->layer_norm_eps);
    x = tg_dropout(g, x, c->hidden_dropout_prob);
    for (int i = 0; i < c->num_hidden_layers; i++)
        x = encoder_layer(g, &m->layers[i], x, mask, c);
    return x;
}

/* LM head: dense, GELU, LayerNorm, then the decoder tied to the word
 * embeddings plus its own bias. */
static tg_tensor *lm_head(tg_graph *g, const rb_model *m, tg_tensor *x)
{
    x = tg_gelu(g, tg_linear(g, x, m->lm_w, m->lm_b));
    x = tg_layer_norm(g, x, m->lm_ln_w, m->lm_ln_b, m->cfg.layer_norm_eps);
    return tg_linear(g, x, m->word, m->lm_bias);
}

int rb_build(const rb_model *m, int batch, int seq_len, int what, rb_graph *out)
{
    return rb_build_shared(m, batch, seq_len, what, NULL, out);
}

/* rb_build_shared, and rb_build_masked when head_rows > 0 */
static int build(const rb_model *m, int batch, int seq_len, int what, int head_rows,
                 tg_arena *arena, rb_graph *out)
{
    const rb_config *c = &m->cfg;
    memset(out, 0, sizeof *out);
    int max_t = c->max_position_embeddings - c->pad_token_id - 1;
    if (batch < 1 || seq_len < 1 || seq_len > max_t)
        return tg_error(TG_ERR_SHAPE, "rb_build: batch %d x length %d: length must be 1..%d (max_position_embeddings %d, pad %d)",
                        batch, seq_len, max_t, c->max_position_embeddings, c->pad_token_id);
    if (head_rows < 0 || head_rows > batch * seq_len)
        return tg_error(TG_ERR_SHAPE, "rb_build_masked: %d head rows for a batch of %d x %d",
                        head_rows, batch, seq_len);
    tg_graph *g = tg_graph_new();
    if (!g)
        return TG_ERR_NOMEM;
    if (arena)
        tg_graph_share_arena(g, arena);
    int bt[2] = {batch, seq_len};
    out->g = g;
    out->batch = batch;
    out->seq_len = seq_len;
    out->pad_token_id = c->pad_token_id;
    out->ids = tg_input(g, TG_I32, 2, bt, "input_ids");
    out->pos_ids = tg_input(g, TG_I32, 2, bt, "position_ids");
    out->type_ids = tg_input(g, TG_I32, 2, bt, "token_type_ids");
    out->mask = tg_input(g, TG_I32, 2, bt, "attention_mask");
    tg_tensor *x = rb_encode(g, m, out->ids, out->pos_ids, out->type_ids, out->mask);
    out->hidden = x;
    tg_graph_keep(g, x);
    if (head_rows) { /* the head's rows gathered as embedding rows of hidden */
        int flat[2] = {batch * seq_len, c->hidden_size};
        out->head_rows = head_rows;
        out->head_idx = tg_input(g, TG_I32, 1, &head_rows, "head_rows");
        x = tg_embedding(g, tg_reshape(g, x, 2, flat), out->head_idx, -1);
    }
    if (what >= RB_LOGITS) {
        out->logits = lm_head(g, m, x);
        tg_graph_keep(g, out->logits);
    }
    if (what >= RB_LOSS) {
        out->labels = head_rows ? tg_input(g, TG_I32, 1, &head_rows, "labels")
                                : tg_input(g, TG_I32, 2, bt, "labels");
        out->loss = tg_cross_entropy(g, out->logits, out->labels, -100);
    }
    int rc = tg_graph_error(g) ? tg_error(TG_ERR_SHAPE, "%s", tg_graph_error(g))
                               : tg_graph_plan(g, out->loss, 0);
    if (rc) {
        tg_graph_free(g);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int rb_build_shared(const rb_model *m, int batch, int seq_len, int what, tg_arena *arena,
                    rb_graph *out)
{
    return build(m, batch, seq_len, what, 0, arena, out);
}

int rb_build_masked(const rb_model *m, int batch, int seq_len, int what, int head_rows,
                    tg_arena *arena, rb_graph *out)
{
    if (head_rows < 1 || (what != RB_LOGITS && what != RB_LOSS))
        return tg_error(TG_ERR_SHAPE, "rb_build_masked: %d head rows (need >= 1), what %d (need logits or loss)",
                        head_rows, what);
    return build(m, batch, seq_len, what, head_rows, arena, out);
}

int rb_set_head_rows(rb_graph *gr, const int32_t *rows, int n)
{
    int all = gr->batch * gr->seq_len;
    if (!gr->head_rows || n < 0 || n > gr->head_rows)
        return tg_error(TG_ERR_ARG, "rb_set_head_rows: %d rows for a head of %d", n, gr->head_rows);
    int32_t *row = tg_i32(gr->head_idx);
    for (int k = 0; k < gr->head_rows; k++) {
        if (k < n && (rows[k] < 0 || rows[k] >= all))
            return tg_error(TG_ERR_ARG, "rb_set_head_rows: row %d is %d, outside the batch's %d",
                            k, rows[k], all);
        row[k] = k < n ? rows[k] : 0;
    }
    return TG_OK;
}

int rb_head_rows_for(int count, int n)
{
    int k = count < 1 ? 64 : (count + 63) / 64 * 64;
    return k < n ? k : n;
}

void rb_graph_free(rb_graph *gr)
{
    tg_graph_free(gr->g);
    memset(gr, 0, sizeof *gr);
}

void rb_position_ids(const int32_t *ids, int B, int T, int pad, int32_t *pos)
{
    for (int b = 0; b < B; b++) {
        int count = 0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * T + t;
            int counted = ids[i] != pad;
            count += counted;
            pos[i] = counted ? pad + count : pad;
        }
    }
}

int rb_set_batch(rb_graph *gr, const int32_t *ids, const int32_t *attention_mask,
                 const int32_t *labels)
{
    int B = gr->batch, T = gr->seq_len;
    memcpy(gr->ids->data, ids, (size_t)B * T * sizeof(int32_t));
    rb_position_ids(ids, B, T, gr->pad_token_id, tg_i32(gr->pos_ids));
    int32_t *typ = tg_i32(gr->type_ids), *mask = tg_i32(gr->mask);
    for (int i = 0; i < B * T; i++) {
        typ[i] = 0;
        mask[i] = !attention_mask || attention_mask[i] ? 1 : 0;
    }
    if (gr->labels && gr->head_rows) {
        int32_t *lab = tg_i32(gr->labels), *row = tg_i32(gr->head_idx);
        int k = 0;
        for (int i = 0; labels && i < B * T; i++)
            if (labels[i] != -100) {
                if (k == gr->head_rows)
                    return tg_error(TG_ERR_ARG, "rb_set_batch: more than %d labelled positions for a head of %d rows",
                                    k, gr->head_rows);
                row[k] = i, lab[k++] = labels[i];
            }
        for (; k < gr->head_rows; k++)
            row[k] = 0, lab[k] = -100;
    } else if (gr->labels) {
        int32_t *lab = tg_i32(gr->labels);
        for (int i = 0; i < B * T; i++)
            lab[i] = labels ? labels[i] : -100;
    } else if (gr->head_rows) { /* rows from rb_set_head_rows */
        memset(gr->head_idx->data, 0, (size_t)gr->head_rows * sizeof(int32_t));
    }
    return TG_OK;
}
