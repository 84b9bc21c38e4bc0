/* rb_config: the Hugging Face RobertaConfig (config.json) of a
 * RobertaForMaskedLM checkpoint: defaults, validation, JSON read/write,
 * parameter count, and the pad_token_id check against the tokenizer. */
#ifndef RB_CONFIG_H
#define RB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

#define RB_MAX_ARCHS 4
/* transformers version whose config.json layout rb_config_save mirrors. */
#define RB_TRANSFORMERS_VERSION "4.52.4"

typedef struct {
    int vocab_size;
    int hidden_size;
    int num_hidden_layers;
    int num_attention_heads;
    int intermediate_size;
    char hidden_act[32];               /* only "gelu" (erf form) is supported */
    double hidden_dropout_prob;
    double attention_probs_dropout_prob;
    int max_position_embeddings;
    int type_vocab_size;
    double initializer_range;
    double layer_norm_eps;
    int pad_token_id;
    int bos_token_id;                  /* -1 = null */
    int eos_token_id;                  /* -1 = null */
    int n_architectures;
    char architectures[RB_MAX_ARCHS][64];
    char model_type[32];               /* "roberta" */
    /* Keys of the file read that RobertaForMaskedLM does not use (as
     * config4.json's max_seq_length and max_length), comma-separated, for
     * a note; "" if none. Not written back by rb_config_save. */
    char ignored[192];
} rb_config;

/* Fills c with transformers' RobertaConfig() defaults (vocab 50265, hidden
 * 768, 12 layers, 12 heads, intermediate 3072, gelu, dropout 0.1, max
 * positions 512, type vocab 2, init 0.02, eps 1e-12, pad 1, bos 0, eos 2)
 * and architectures ["RobertaForMaskedLM"], model_type "roberta". */
void rb_config_default(rb_config *c);

/* Largest parameter count rb_config_validate accepts (1e12: far beyond any
 * model that fits in memory, far below int64 overflow). */
#define RB_MAX_PARAMS 1000000000000.0

/* Checks that c describes a model ablm can build: sizes > 0, heads divide
 * hidden, activation "gelu", dropouts in [0, 1), eps > 0, token ids inside
 * the vocabulary, max_position_embeddings > pad_token_id + 1, every weight
 * matrix at most INT_MAX elements and at most RB_MAX_PARAMS parameters in
 * the layers. Returns TG_OK
 * or TG_ERR_FORMAT with "WHERE: key \"name\": problem" (WHERE = `where`, or
 * "config" if NULL). */
int rb_config_validate(const rb_config *c, const char *where);

/* Reads a Hugging Face config.json (path to the file, or to a directory
 * holding config.json). Missing keys take the RobertaConfig defaults as in
 * transformers; unknown keys are ignored and listed in c->ignored
 * (rb_config_ignored_note). Rejected with TG_ERR_FORMAT and a
 * message naming the file and key: malformed JSON, wrong value types, values
 * failing rb_config_validate, model_type other than "roberta",
 * position_embedding_type other than "absolute", is_decoder /
 * add_cross_attention true, tie_word_embeddings false. TG_ERR_IO if the file
 * cannot be read. */
int rb_config_load(const char *path, rb_config *c);
/* The same from a parsed JSON object (an EncoderDecoderConfig's
 * "encoder"); where names it in messages. *c is written only on success. */
struct cJSON;
int rb_config_from_json(const struct cJSON *root, const char *where, rb_config *c);

/* Writes c as config.json the way transformers' save_pretrained writes a
 * RobertaForMaskedLM config (sorted keys, 2-space indent, Python float
 * repr, plus classifier_dropout null, position_embedding_type "absolute",
 * torch_dtype "float32", use_cache true, transformers_version). path is the
 * file, or a directory (then DIR/config.json). Validates first; atomic. */
int rb_config_save(const rb_config *c, const char *path);
/* The same JSON text, tg_malloc'd into *out (caller tg_frees). */
int rb_config_to_json(const rb_config *c, char **out);

/* Number of parameters of RobertaForMaskedLM(c): embeddings (word,
 * position, token type, LayerNorm), encoder layers, LM head dense +
 * LayerNorm + bias; the decoder weight is tied to the word embeddings and
 * counted once; no pooler. */
int64_t rb_config_param_count(const rb_config *c);

/* NULL if c->ignored is empty; otherwise writes "FILE: keys not used by
 * RobertaForMaskedLM, ignored: k1, k2" into buf (size n) and returns it.
 * file names the config (NULL: "config.json"). */
const char *rb_config_ignored_note(const rb_config *c, const char *file, char *buf, size_t n);

/* The pad_token_id trap: many pipelines keep RoBERTa's default
 * pad_token_id=1 (the reference's config4.json does), which in a BERT-style
 * protein vocabulary is [UNK]. ablm then does what transformers does; this
 * says what that means. Returns NULL if c->pad_token_id equals the
 * tokenizer's [PAD] id; otherwise writes into buf (size n) and returns a
 * warning: id pad_token_id is the padding_idx of the position ids (a token
 * with that id takes position pad_token_id and does not advance the count,
 * the tokenizer's [PAD] does) and of the embeddings (its rows get no
 * gradient), while the attention mask comes from the tokenizer's [PAD]. */
const char *rb_config_pad_warning(const rb_config *c, const tok_tokenizer *tok, char *buf,
                                  size_t n);

#endif
