/* rb: RoBERTa for masked language modelling, with the semantics of Hugging
 * Face's RobertaForMaskedLM, as a composition of tg ops.
 *
 *   rb_model *m;  rb_model_new(&cfg, &m);  rb_model_init(m, 42);
 *   rb_graph gr;  rb_build(m, B, T, RB_LOSS, &gr);
 *   rb_set_batch(&gr, ids, attention_mask, labels);
 *   tg_forward(gr.g);  tg_backward(gr.g, gr.loss, NULL);
 *
 * Parameters carry the Hugging Face names (roberta.embeddings..., lm_head...)
 * so checkpoints load in transformers and the other way round. */
#ifndef RB_ROBERTA_H
#define RB_ROBERTA_H

#include "adapter.h"
#include "config.h"
#include "tg_ops.h"
#include "weights.h"

typedef struct {
    tg_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* attention.self */
    tg_tensor *ao_w, *ao_b, *ln1_w, *ln1_b;       /* attention.output */
    tg_tensor *i_w, *i_b;                          /* intermediate.dense */
    tg_tensor *o_w, *o_b, *ln2_w, *ln2_b;          /* output */
    /* Bottleneck adapters on attention.output's and output's dense
     * (after dropout, before the residual add and LayerNorm), absent
     * unless declared (models/encdec). */
    ad_adapter ad_attn, ad_ffn;
} rb_layer;

typedef struct {
    rb_config cfg;
    tg_params *params;
    tg_tensor *word, *pos, *type, *emb_ln_w, *emb_ln_b;
    rb_layer *layers;
    tg_tensor *lm_w, *lm_b, *lm_ln_w, *lm_ln_b, *lm_bias; /* lm_head */
} rb_model;

/* Declares and allocates every parameter for cfg (validated first); values
 * are zero until rb_model_init or rb_model_load. Returns a status. */
int rb_model_new(const rb_config *cfg, rb_model **out);
void rb_model_free(rb_model *m);
/* Declares the parameters of cfg (validated first) into scope s, names
 * "embeddings...", "encoder.layer.N..." after s->prefix ("roberta." in
 * RobertaForMaskedLM, "encoder." in an EncoderDecoderModel), plus the MLM
 * head "lm_head..." (without the prefix) when lm_head is 1. Fills m's
 * pointers and allocates m->layers; m->params stays NULL (the caller owns
 * and allocates the stores). */
int rb_model_declare(rb_model *m, const rb_config *cfg, const wt_scope *s, int lm_head);
/* Hugging Face's RoBERTa initialisation: normal(0, initializer_range) for
 * linear and embedding weights, zero biases, LayerNorm weight 1 and bias 0,
 * row pad_token_id (nn.Embedding's padding_idx) of the word and position
 * embeddings zero. */
void rb_model_init(rb_model *m, uint64_t seed);

/* Loads weights from a safetensors file with Hugging Face names. F32, F16
 * and BF16 are accepted. lm_head.decoder.weight/bias (tied copies) and
 * other extra tensors (a pooler, ...) are skipped; each skipped tensor is
 * reported through `note` when non-NULL. A missing tensor or a wrong shape
 * is an error naming the file, the tensor and both shapes. */
int rb_model_load(rb_model *m, const char *path, void (*note)(const char *msg));
/* Writes model.safetensors into dir (atomically), tensors in HF layout. */
int rb_model_save(const rb_model *m, const char *dir);

/* A Hugging Face model directory: config.json, model.safetensors and the
 * tokenizer files. Saving writes each file atomically into dir (created if
 * missing). Loading reads config, weights and tokenizer (the default
 * vocabulary if dir has no vocab.txt), and passes notes (skipped tensors,
 * a pad_token_id that is not the tokenizer's [PAD]: rb_config_pad_warning;
 * config keys ignored: rb_config_ignored_note) to `note`. */
int rb_save_pretrained(const rb_model *m, const tok_tokenizer *tok, const char *dir);
int rb_load_pretrained(const char *dir, rb_model **m, tok_tokenizer **tok,
                       void (*note)(const char *msg));

/* What rb_build puts in the graph. */
enum {
    RB_HIDDEN = 0, /* encoder output only */
    RB_LOGITS = 1, /* plus the LM head's logits */
    RB_LOSS = 2    /* plus the mean cross-entropy over labels != -100 */
};

typedef struct {
    tg_graph *g;
    int batch, seq_len;
    int pad_token_id; /* config.pad_token_id: padding_idx of the position ids */
    tg_tensor *ids, *pos_ids, *type_ids, *mask, *labels; /* inputs; mask int32 [B, T] */
    tg_tensor *hidden;                                   /* [B, T, H] */
    tg_tensor *logits;                                   /* [B, T, V], [K, V] or NULL */
    tg_tensor *loss;                                     /* [1] or NULL */
    int head_rows;        /* K > 0: the LM head runs on K gathered rows (rb_build_masked) */
    tg_tensor *head_idx;  /* int32 [K]: the rows (b * T + t) of hidden the head reads */
} rb_graph;

/* Builds and plans the graph for a [batch, seq_len] input (seq_len at most
 * max_position_embeddings - pad_token_id - 1). With RB_LOSS it is planned
 * for backward. Training mode (dropout) is off; see tg_graph_set_training.
 * Returns a status; on error out->g is NULL. */
int rb_build(const rb_model *m, int batch, int seq_len, int what, rb_graph *out);
/* The same, planning into a shared activation arena (tg_graph_share_arena)
 * so that a cache of graphs by shape costs one arena. */
int rb_build_shared(const rb_model *m, int batch, int seq_len, int what, tg_arena *arena,
                    rb_graph *out);
/* A graph (what: RB_LOGITS or RB_LOSS) whose LM head (dense, GELU,
 * LayerNorm, decoder) and loss run only on head_rows gathered positions
 * instead of all B * T: gr->logits is [head_rows, V], gr->labels int32
 * [head_rows]. With a loss, rb_set_batch gathers the positions whose label
 * is not -100, in order, and pads the rest with row 0 and label -100 (no
 * loss, zero gradient): loss and gradients are those of rb_build's graph
 * within float rounding (the GEMMs see fewer rows). Without a loss,
 * rb_set_head_rows names the rows. head_rows in 1 .. batch * seq_len. */
int rb_build_masked(const rb_model *m, int batch, int seq_len, int what, int head_rows,
                    tg_arena *arena, rb_graph *out);
/* Sets the rows (b * seq_len + t) a masked graph's head reads: rows[0..n),
 * n <= head_rows, the rest row 0. Call after rb_set_batch. Returns a status
 * (a row outside the batch or too many rows is an error). */
int rb_set_head_rows(rb_graph *gr, const int32_t *rows, int n);
/* Rows for a masked graph holding `count` labelled positions of a batch
 * of n: count rounded up to a multiple of 64 (at least 64), at most n, so
 * that a few graphs serve a training run. */
int rb_head_rows_for(int count, int n);
void rb_graph_free(rb_graph *gr);
/* Adds RobertaModel's embeddings and encoder layers to graph g: ids,
 * position ids, token type ids, attention mask int32 [B, T]. Returns the
 * last hidden states [B, T, H] (NULL with the graph's sticky error). */
tg_tensor *rb_encode(tg_graph *g, const rb_model *m, tg_tensor *ids, tg_tensor *pos_ids,
                     tg_tensor *type_ids, tg_tensor *mask);
/* Position ids of ids [B, T] as create_position_ids_from_input_ids with
 * padding_idx pad (rb_set_batch's rule) into pos [B, T]. */
void rb_position_ids(const int32_t *ids, int B, int T, int pad, int32_t *pos);
/* Fills the inputs of a [B, T] batch as RobertaForMaskedLM.forward(
 * input_ids, attention_mask, labels) takes them in transformers:
 * - position ids from ids and config.pad_token_id (P), as
 *   create_position_ids_from_input_ids: a token whose id is P gets position
 *   P and does not advance the count; every other token gets P + the number
 *   of non-P tokens up to and including it, whatever attention_mask says.
 *   With a tokenizer whose [PAD] is not P (the reference's pad_token_id 1 =
 *   [UNK]), an [UNK] residue takes position P and padding tokens advance
 *   the count.
 * - attention_mask [B, T]: nonzero = a token, 0 = padding, removed from
 *   attention as a key (tg_attention's key mask: the same probabilities as
 *   transformers' additive float32 lowest, except that a sequence of
 *   padding only gets output 0 where transformers averages all keys). It
 *   comes from the batching (the tokenizer's [PAD]), not from P; NULL = all
 *   ones, transformers' default.
 * - token types 0; labels (NULL: all -100) when the graph has a loss;
 *   with a masked head (rb_build_masked) the labelled positions are
 *   gathered, and more of them than head_rows is an error.
 * Returns a status. */
int rb_set_batch(rb_graph *gr, const int32_t *ids, const int32_t *attention_mask,
                 const int32_t *labels);

#endif
