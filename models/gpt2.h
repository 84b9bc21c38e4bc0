/* g2: GPT-2 for causal language modelling, with the semantics of Hugging
 * Face's GPT2LMHeadModel, as a composition of tg ops: the light-chain
 * decoder of heavy2light.
 *
 *   g2_model *m;  g2_model_new(&cfg, &m);  g2_model_init(m, 42);
 *   g2_graph gr;  g2_build(m, B, T, G2_LOSS, NULL, &gr);
 *   g2_set_batch(&gr, ids, attention_mask, labels);
 *   tg_forward(gr.g);  tg_backward(gr.g, gr.loss, NULL);
 *
 * Parameters carry the Hugging Face names (transformer.wte.weight,
 * transformer.h.N.attn.c_attn.weight, ...), Conv1D weights stored
 * [in, out] as in transformers, the LM head tied to transformer.wte. */
#ifndef G2_GPT2_H
#define G2_GPT2_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "tg_ops.h"
#include "tokenizer.h"
#include "weights.h"

struct cJSON;

/* transformers version whose config.json layout g2_config_save mirrors. */
#define G2_TRANSFORMERS_VERSION "4.52.4"

/* The Hugging Face GPT2Config keys a GPT2LMHeadModel uses. */
typedef struct {
    int vocab_size;
    int n_embd;
    int n_layer;
    int n_head;
    int n_inner;                     /* -1 = null: 4 * n_embd */
    int n_positions;
    char activation_function[32];    /* "gelu_new" / "gelu_pytorch_tanh" (tanh form), "gelu" (erf) */
    double resid_pdrop, embd_pdrop, attn_pdrop;
    double layer_norm_epsilon;
    double initializer_range;
    int bos_token_id, eos_token_id, pad_token_id; /* -1 = null */
    char model_type[32];             /* "gpt2" */
    /* 1: every layer has a cross-attention over encoder states
     * (ln_cross_attn, crossattention.q_attn / c_attn / c_proj), as
     * GPT2LMHeadModel with add_cross_attention inside an
     * EncoderDecoderModel; config.json then also says is_decoder. */
    int add_cross_attention;
    /* Keys of the file read that GPT2LMHeadModel does not use, comma-
     * separated, for a note; "" if none. */
    char ignored[192];
} g2_config;

/* transformers' GPT2Config() defaults (vocab 50257, n_embd 768, 12 layers,
 * 12 heads, n_inner null, n_positions 1024, gelu_new, dropouts 0.1, eps
 * 1e-5, init 0.02, bos = eos = 50256, pad null), model_type "gpt2". */
void g2_config_default(g2_config *c);
/* Sizes > 0, n_head divides n_embd, a supported activation, dropouts in
 * [0, 1), eps in (0, 1), token ids inside the vocabulary (or null).
 * TG_ERR_FORMAT "WHERE: key \"name\": problem" (WHERE: `where` or "config"). */
int g2_config_validate(const g2_config *c, const char *where);
/* Reads a GPT2Config config.json (a file, or a directory holding it).
 * Missing keys take the defaults; unknown keys are listed in c->ignored.
 * Rejected naming the file and key: malformed JSON, wrong types, values
 * failing g2_config_validate, model_type other than "gpt2",
 * scale_attn_by_inverse_layer_idx true, reorder_and_upcast_attn true,
 * scale_attn_weights false, tie_word_embeddings false. */
int g2_config_load(const char *path, g2_config *c);
/* The same from a parsed JSON object (an EncoderDecoderConfig's "decoder");
 * where names it in messages. *c is written only on success. */
int g2_config_from_json(const struct cJSON *root, const char *where, g2_config *c);
/* Writes config.json as transformers' save_pretrained writes a
 * GPT2LMHeadModel's (sorted keys, 2-space indent, Python floats);
 * path: a file or a directory. Validates first; atomic. */
int g2_config_save(const g2_config *c, const char *path);
int g2_config_to_json(const g2_config *c, char **out);
/* Parameters of GPT2LMHeadModel(c), the tied head counted once. */
int64_t g2_config_param_count(const g2_config *c);
/* n_inner, or 4 * n_embd when null. */
int g2_config_inner(const g2_config *c);
/* NULL if c->ignored is empty, else "FILE: keys not used by
 * GPT2LMHeadModel, ignored: ..." in buf. */
const char *g2_config_ignored_note(const g2_config *c, const char *file, char *buf, size_t n);

typedef struct {
    tg_tensor *ln1_w, *ln1_b;        /* ln_1 */
    tg_tensor *attn_w, *attn_b;      /* attn.c_attn: [H, 3H], [3H] */
    tg_tensor *aproj_w, *aproj_b;    /* attn.c_proj: [H, H], [H] */
    tg_tensor *ln2_w, *ln2_b;        /* ln_2 */
    tg_tensor *fc_w, *fc_b;          /* mlp.c_fc: [H, F], [F] */
    tg_tensor *mproj_w, *mproj_b;    /* mlp.c_proj: [F, H], [H] */
    /* add_cross_attention only (else NULL): */
    tg_tensor *lnx_w, *lnx_b;        /* ln_cross_attn */
    tg_tensor *xq_w, *xq_b;          /* crossattention.q_attn: [H, H], [H] */
    tg_tensor *xkv_w, *xkv_b;        /* crossattention.c_attn: [H, 2H], [2H] (k | v) */
    tg_tensor *xproj_w, *xproj_b;    /* crossattention.c_proj: [H, H], [H] */
    /* Bottleneck adapters on the self-attention's and the MLP's output
     * (before the residual add), absent unless declared (models/encdec). */
    ad_adapter ad_attn, ad_ffn;
} g2_layer;

typedef struct {
    g2_config cfg;
    tg_params *params;
    tg_tensor *wte, *wpe, *lnf_w, *lnf_b;
    g2_layer *layers;
} g2_model;

/* Declares and allocates every parameter for cfg (validated first); values
 * are zero until g2_model_init or g2_model_load. Returns a status. */
int g2_model_new(const g2_config *cfg, g2_model **out);
/* Declares the parameters of cfg (validated first) into scope s (names
 * prefixed by s->prefix), filling m's tensor pointers and allocating
 * m->layers; m->params is left NULL (the caller owns the stores and
 * allocates them). For models embedding a GPT-2 (models/encdec). */
int g2_model_declare(g2_model *m, const g2_config *cfg, const wt_scope *s);
void g2_model_free(g2_model *m);
/* GPT2PreTrainedModel._init_weights: normal(0, initializer_range) for the
 * Conv1D and embedding weights, zero biases, LayerNorm 1 and 0, and the
 * residual projections attn.c_proj.weight and mlp.c_proj.weight
 * normal(0, initializer_range / sqrt(2 * n_layer)). */
void g2_model_init(g2_model *m, uint64_t seed);

/* 1 when parameter `name` is a LayerNorm's (ln_1, ln_2, ln_cross_attn, ln_f). */
int g2_param_is_norm(const char *name);

/* Loads weights with Hugging Face names (F32, F16, BF16). lm_head.weight
 * (the tied copy) and the old causal-mask buffers attn.bias /
 * attn.masked_bias are skipped, other extra tensors ignored; each is
 * reported through note when non-NULL. A missing tensor or a wrong shape
 * is an error naming the file, the tensor and the shapes. */
int g2_model_load(g2_model *m, const char *path, void (*note)(const char *msg));
/* Writes dir/model.safetensors atomically as transformers saves a tied
 * GPT2LMHeadModel: lm_head.weight left out (it is transformer.wte). */
int g2_model_save(const g2_model *m, const char *dir);
/* A model directory: config.json, model.safetensors and the tokenizer
 * files (data/tokenizer: [PAD] 0 [UNK] 1 [CLS] 2 [SEP] 3 [MASK] 4 in the
 * default vocabulary, so [CLS] is the bos and [SEP] the eos id).
 * Loading takes the default vocabulary when dir has no vocab.txt and
 * reports skipped tensors, ignored keys, and bos/eos/pad ids that are not
 * the tokenizer's [CLS]/[SEP]/[PAD] through note. */
int g2_save_pretrained(const g2_model *m, const tok_tokenizer *tok, const char *dir);
int g2_load_pretrained(const char *dir, g2_model **m, tok_tokenizer **tok,
                       void (*note)(const char *msg));
/* NULL when bos/eos/pad ids of c are the tokenizer's [CLS]/[SEP]/[PAD] (or
 * null), else a warning in buf naming the ids. */
const char *g2_config_token_warning(const g2_config *c, const tok_tokenizer *tok, char *buf,
                                    size_t n);

/* What g2_build puts in the graph. */
enum { G2_HIDDEN = 0, G2_LOGITS = 1, G2_LOSS = 2 };

typedef struct {
    tg_graph *g;
    int batch, seq_len;
    tg_tensor *ids, *pos_ids, *mask, *labels; /* inputs; labels already shifted */
    tg_tensor *enc, *enc_mask;                /* cross-attention inputs: encoder states
                                                 [B, S, H] (g2_build_cross), key mask
                                                 int32 [B, S] (also step graphs) */
    tg_tensor *pos;                           /* step graphs: int32 [1], cache rows before */
    tg_tensor *hidden;                        /* [B, T, H] after ln_f */
    tg_tensor *logits;                        /* [B, T, V] or NULL */
    tg_tensor *loss;                          /* [1] or NULL */
} g2_graph;

/* Builds and plans the graph for [batch, seq_len] (seq_len <= n_positions),
 * into a shared activation arena when arena is non-NULL. With G2_LOSS it
 * is planned for backward. Dropout is off until tg_graph_set_training.
 * Returns a status; on error out->g is NULL. */
int g2_build(const g2_model *m, int batch, int seq_len, int what, tg_arena *arena,
             g2_graph *out);
/* The same for a model with add_cross_attention (g2_build refuses one):
 * inputs also encoder_hidden_states [batch, enc_len, n_embd] and
 * encoder_attention_mask [batch, enc_len], set with g2_set_encoder. */
int g2_build_cross(const g2_model *m, int batch, int seq_len, int enc_len, int what,
                   tg_arena *arena, g2_graph *out);
/* Copies encoder states [B, S, H] and their mask [B, S] (nonzero = a
 * token; NULL: all ones) into a cross graph's inputs (states may be NULL
 * in a step graph, which has only the mask). */
void g2_set_encoder(g2_graph *gr, const float *states, const int32_t *mask);
void g2_graph_free(g2_graph *gr);

/* The cross-attention memory of a decoder in a larger graph: encoder
 * states [B, S, H] with key mask [B, S], or (step graphs) per layer the
 * projected k | v [B, S, 2H] (kv[i]) with the mask. */
typedef struct {
    tg_tensor *states, *mask;
    tg_tensor *const *kv;
} g2_memory;
/* Adds GPT2Model to graph g: ids and position ids [B, T], attention mask
 * [B, T] (or NULL in step graphs), mem (NULL unless add_cross_attention),
 * the cache and pos of a step graph (else NULL). Returns the hidden states
 * after ln_f (NULL with the graph's sticky error). */
tg_tensor *g2_decode(tg_graph *g, const g2_model *m, tg_tensor *ids, tg_tensor *pos_ids,
                     tg_tensor *mask, const g2_memory *mem, tg_tensor *const *cache,
                     tg_tensor *pos);
/* The LM head tied to transformer.wte: hidden [.., H] -> logits [.., V]. */
tg_tensor *g2_lm_head(tg_graph *g, const g2_model *m, tg_tensor *hidden);
/* Layer i's crossattention.c_attn over encoder states: k | v [B, S, 2H]. */
tg_tensor *g2_cross_kv(tg_graph *g, const g2_model *m, int layer, tg_tensor *states);
/* Fills the inputs as GPT2LMHeadModel.forward(input_ids, attention_mask,
 * labels) takes them: position ids 0..T-1 in every row; attention_mask
 * [B, T] nonzero = token, 0 = padding removed as a key (NULL: all ones),
 * combined with the causal mask; labels [B, T] unshifted as the caller
 * gives them to transformers (-100 ignored; NULL: all -100): the loss is
 * the mean cross-entropy of logits at t against labels at t + 1. */
void g2_set_batch(g2_graph *gr, const int32_t *ids, const int32_t *attention_mask,
                  const int32_t *labels);

/* The KV cache of generation: per layer one state tensor
 * cache.h.N.attn.kv [batch, max_len, 2 * n_embd] (k | v, heads in columns
 * as c_attn lays them out) in a store of non-trainable tensors that
 * survives between forward calls. max_len <= n_positions. */
typedef struct {
    tg_params *state;
    tg_tensor **kv;  /* [n_layer] */
    tg_tensor **xkv; /* [n_layer] cross-attention k | v [batch, enc_len, 2H], or NULL */
    int batch, max_len, enc_len;
} g2_cache;
int g2_cache_new(const g2_model *m, int batch, int max_len, g2_cache *out);
/* The same for a model with add_cross_attention: also per layer
 * cache.h.N.crossattention.kv [batch, enc_len, 2 * n_embd], which the
 * caller fills once per source (g2_cross_kv); the step graph reads it. */
int g2_cache_new_cross(const g2_model *m, int batch, int max_len, int enc_len, g2_cache *out);
void g2_cache_free(g2_cache *c);

/* Builds and plans the step graph of generation: n_new tokens per row
 * (ids [batch, n_new]) at cache position pos (an input, so one graph
 * serves every step): only the new tokens are projected, each layer
 * writes their k | v into its cache rows pos..pos+n_new-1 and attends
 * over rows 0..pos+n_new-1; logits [batch, n_new, V]. An inference graph
 * (no dropout nodes), forward only. Shares the layer code of g2_build
 * (the same block, the attention differing only in the cache). With
 * add_cross_attention (a cache from g2_cache_new_cross) the cross-
 * attention reads the cached k | v, keys masked by the input enc_mask
 * [batch, enc_len] (g2_set_encoder with states NULL). */
int g2_build_step(const g2_model *m, const g2_cache *cache, int n_new, tg_arena *arena,
                  g2_graph *out);
/* Fills a step graph's inputs: ids [batch, n_new], position ids pos + t,
 * and the cache position pos (tg_forward fails unless
 * 0 <= pos <= max_len - n_new). */
void g2_set_step(g2_graph *gr, const int32_t *ids, int pos);

#endif
