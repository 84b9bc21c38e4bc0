/* ed: an encoder-decoder with the semantics of Hugging Face's
 * EncoderDecoderModel: a RoBERTa encoder (RobertaModel, no MLM head) and a
 * GPT-2 decoder with cross-attention (GPT2LMHeadModel, add_cross_attention)
 * joined as heavy2light joins the heavy model and the light decoder.
 *
 *   ed_model *m;  ed_from_pretrained(heavy_dir, light_dir, &o, &m, &tok, note);
 *   ed_graph gr;  ed_build(m, B, S, T, ED_LOSS, NULL, &gr);
 *   ed_set_batch(&gr, src_ids, src_mask, labels);
 *   tg_forward(gr.g);  tg_backward(gr.g, gr.loss, NULL);
 *
 * Parameter names are EncoderDecoderModel's: encoder.embeddings...,
 * encoder.encoder.layer.N..., decoder.transformer.h.N... (with
 * ln_cross_attn and crossattention.{q_attn,c_attn,c_proj}), the LM head
 * tied to decoder.transformer.wte (decoder.lm_head.weight not stored),
 * enc_to_dec_proj.{weight,bias} when the hidden sizes differ. Bottleneck
 * adapters (models/adapter.h), when the config has them, sit after the
 * self-attention and after the feed-forward block of every encoder and
 * decoder layer:
 *   encoder.encoder.layer.N.attention.output.adapters.heavy2light.*
 *   encoder.encoder.layer.N.output.adapters.heavy2light.*
 *   decoder.transformer.h.N.attention_adapters.adapters.heavy2light.*
 *   decoder.transformer.h.N.output_adapters.adapters.heavy2light.*
 *
 * What is trained: parameters live in two stores, m->train (trainable:
 * gradients, the optimizer's arrays) and m->frozen (no gradient, so no
 * update and no weight decay). With adapters only the adapters, the
 * cross-attention (and ln_cross_attn) and enc_to_dec_proj are trainable;
 * freeze_encoder moves every encoder.* tensor to the frozen store. */
#ifndef ED_ENCDEC_H
#define ED_ENCDEC_H

#include "gpt2.h"
#include "roberta.h"

typedef struct {
    rb_config enc;                /* "encoder" */
    g2_config dec;                /* "decoder": add_cross_attention true */
    int decoder_start_token_id;   /* the first decoder input (BOS) */
    int pad_token_id;             /* decoder inputs where labels are -100 */
    int eos_token_id;             /* -1 = null */
    int adapters;                 /* reduction factor, 0 = no adapters */
    char ignored[192];            /* top-level keys not used, for a note */
} ed_config;

/* Checks the sub-configs, decoder.add_cross_attention, equal vocabularies
 * (one tokenizer), the token ids, and that the adapter reduction factor
 * divides both hidden sizes. TG_ERR_FORMAT "WHERE: key ...". */
int ed_config_validate(const ed_config *c, const char *where);
/* Reads an EncoderDecoderConfig config.json (file or directory).
 * Rejected naming the file and key: model_type other than
 * "encoder-decoder", is_encoder_decoder false, tie_encoder_decoder true,
 * a missing or invalid "encoder" / "decoder" object (their own rejections,
 * rb_config_load's and g2_config_load's), decoder add_cross_attention not
 * true, decoder cross_attention_hidden_size set, adapters other than null
 * or {"config": "double_seq_bn", "non_linearity": "relu",
 * "reduction_factor": N}, and what ed_config_validate rejects. */
int ed_config_load(const char *path, ed_config *c);
int ed_config_to_json(const ed_config *c, char **out);
/* Writes config.json (path: file or directory), atomically. */
int ed_config_save(const ed_config *c, const char *path);

/* What ed_model_new freezes (bit flags; 0: the default, adapters => base
 * frozen). */
enum {
    ED_FREEZE_ENCODER = 1, /* every encoder.* tensor frozen */
    ED_TRAIN_ALL = 2       /* nothing frozen, adapters or not (tests, full fine-tuning) */
};

typedef struct {
    ed_config cfg;
    int freeze;                   /* ED_FREEZE_ENCODER | ED_TRAIN_ALL */
    tg_params *train, *frozen;    /* trainable / frozen tensors */
    rb_model enc;                 /* pointers into the stores; enc.params NULL */
    g2_model dec;                 /* idem */
    tg_tensor *proj_w, *proj_b;   /* enc_to_dec_proj [Hd, He], [Hd] or NULL */
} ed_model;

/* Declares and allocates the model of cfg (validated first), placing each
 * tensor in the train or frozen store as above and by freeze. Values are
 * zero. */
int ed_model_new(const ed_config *cfg, int freeze, ed_model **out);
void ed_model_free(ed_model *m);
/* Initialisation as the parts' own: the encoder as RoBERTa's
 * (rb_model_init), the decoder and cross-attention as GPT-2's
 * (g2_model_init: c_proj weights, also crossattention.c_proj, scaled by
 * 1/sqrt(2 n_layer)), enc_to_dec_proj normal(0, decoder
 * initializer_range), adapter down-projections normal(0, 0.02) and
 * up-projections zero (a model with fresh adapters computes what its base
 * computes). */
void ed_model_init(ed_model *m, uint64_t seed);
/* 1 when parameter `name` is trainable in m (in m->train). */
int ed_is_trainable(const ed_model *m, const char *name);
/* 1 for LayerNorm parameters (no weight decay). */
int ed_param_is_norm(const char *name);

/* Weights with EncoderDecoderModel names from a safetensors file.
 * decoder.lm_head.weight (tied) and encoder.pooler.* (RobertaModel's
 * pooler, unused by the loss) are skipped with a note; a missing tensor
 * or a wrong shape is an error naming the file, tensor and shapes. */
int ed_model_load(ed_model *m, const char *path, void (*note)(const char *msg));
/* dir/model.safetensors with every tensor of both stores, atomically. */
int ed_model_save(const ed_model *m, const char *dir);
/* A model directory: config.json, model.safetensors, tokenizer files. */
int ed_save_pretrained(const ed_model *m, const tok_tokenizer *tok, const char *dir);
int ed_load_pretrained(const char *dir, int freeze, ed_model **m, tok_tokenizer **tok,
                       void (*note)(const char *msg));
/* 1 when dir's config.json says model_type "encoder-decoder". */
int ed_is_encdec_dir(const char *dir);

typedef struct {
    int adapters;          /* reduction factor, 0 = none */
    int freeze;            /* ed_model_new's */
    uint64_t seed;         /* of the fresh tensors */
} ed_from_opts;
/* EncoderDecoderModel.from_encoder_decoder_pretrained: the encoder from an
 * `ablm train` (RobertaForMaskedLM) directory, its MLM head dropped (a
 * note), the decoder from an `ablm train-clm` (GPT2LMHeadModel) directory
 * with add_cross_attention set; cross-attention, adapters and
 * enc_to_dec_proj fresh (ed_model_init). decoder_start_token_id = the
 * decoder's bos_token_id (else the tokenizer's [CLS]), pad = the
 * decoder's pad (else [PAD]), eos = the decoder's eos. The tokenizer is
 * the encoder directory's; the decoder's must have the same special ids
 * and size (else TG_ERR_FORMAT naming both directories). */
int ed_from_pretrained(const char *enc_dir, const char *dec_dir, const ed_from_opts *o,
                       ed_model **m, tok_tokenizer **tok, void (*note)(const char *msg));

/* Longest source (encoder) and target (decoder) the model takes. */
int ed_max_source(const ed_model *m);
int ed_max_target(const ed_model *m);

enum { ED_LOGITS = 1, ED_LOSS = 2 };

typedef struct {
    tg_graph *g;
    int batch, src_len, tgt_len;
    int enc_pad, start_id, dec_pad;
    tg_tensor *src_ids, *src_pos, *src_type, *src_mask; /* encoder inputs [B, S] */
    tg_tensor *ids, *pos_ids, *mask;                    /* decoder inputs [B, T] */
    tg_tensor *labels;                                  /* [B, T] (ED_LOSS) */
    tg_tensor *enc_hidden;                              /* [B, S, Hd] after enc_to_dec_proj */
    tg_tensor *logits;                                  /* [B, T, V] */
    tg_tensor *loss;                                    /* [1] or NULL */
} ed_graph;

/* The teacher-forced graph for sources [batch, src_len] and targets
 * [batch, tgt_len]; with ED_LOSS planned for backward. Dropout is off until
 * tg_graph_set_training. Returns a status; on error out->g is NULL. */
int ed_build(const ed_model *m, int batch, int src_len, int tgt_len, int what, tg_arena *arena,
             ed_graph *out);
void ed_graph_free(ed_graph *gr);
/* Fills the inputs as EncoderDecoderModel.forward(input_ids,
 * attention_mask, labels) takes them: encoder position ids as RoBERTa's
 * (rb_position_ids), src_mask [B, S] nonzero = token (NULL all ones);
 * decoder input ids = labels shifted right with decoder_start_token_id
 * first and -100 replaced by pad_token_id (shift_tokens_right), decoder
 * positions 0..T-1, no decoder attention mask (transformers' default when
 * it is derived from labels); labels [B, T] with -100 ignored: the loss is
 * the mean cross-entropy of logits at t against labels at t (no second
 * shift). */
void ed_set_batch(ed_graph *gr, const int32_t *src_ids, const int32_t *src_mask,
                  const int32_t *labels);

/* Generation state (ed_build_step): the encoder runs once per chunk of
 * sources, writing every decoder layer's cross-attention k | v into the
 * cache's persistent state; each step then feeds one token per row at a
 * position through g2's step graph (self-attention KV cache). */
typedef struct {
    const ed_model *m;
    int batch, src_len, max_len;
    g2_cache cache;
    ed_graph enc;                 /* encoder + per-layer k | v (inference graph) */
    tg_tensor **xkv;              /* [n_layer] outputs of enc */
    g2_graph step;                /* one token per row */
    int32_t *src_mask;            /* [batch, src_len] of the current chunk */
} ed_stepper;
/* Builds both graphs for batch rows, sources up to src_len tokens and
 * max_len decoder positions (<= n_positions). Returns a status. */
int ed_build_step(const ed_model *m, int batch, int src_len, int max_len, ed_stepper *st);
void ed_stepper_free(ed_stepper *st);
/* Runs the encoder on src_ids [batch, src_len] (src_mask as ed_set_batch)
 * and fills the cross-attention cache. */
int ed_step_begin(ed_stepper *st, const int32_t *src_ids, const int32_t *src_mask);
/* Feeds tok[r] at decoder position pos; *logits [batch, V] valid until the
 * next call. */
int ed_step(ed_stepper *st, const int32_t *tok, int pos, const float **logits);

#endif
