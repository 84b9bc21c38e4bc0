/* RobertaConfig: defaults, validation, config.json read/write, counts. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include "cfg_json.h"

#include "safetensors.h"
#include "tg.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void rb_config_default(rb_config *c)
{
    memset(c, 0, sizeof *c);
    c->vocab_size = 50265;
    c->hidden_size = 768;
    c->num_hidden_layers = 12;
    c->num_attention_heads = 12;
    c->intermediate_size = 3072;
    strcpy(c->hidden_act, "gelu");
    c->hidden_dropout_prob = 0.1;
    c->attention_probs_dropout_prob = 0.1;
    c->max_position_embeddings = 512;
    c->type_vocab_size = 2;
    c->initializer_range = 0.02;
    c->layer_norm_eps = 1e-12;
    c->pad_token_id = 1;
    c->bos_token_id = 0;
    c->eos_token_id = 2;
    c->n_architectures = 1;
    strcpy(c->architectures[0], "RobertaForMaskedLM");
    strcpy(c->model_type, "roberta");
}

#define BAD(key, ...) cfg_bad_key(where, key, __VA_ARGS__)

/* 1 if s holds a byte JSON must escape (a quote, a backslash, a control
 * character): architectures are class names, written back as they are,
 * and such a byte would not survive a save (found by fuzz_model_config). */
static int needs_escaping(const char *s)
{
    for (const unsigned char *q = (const unsigned char *)s; *q; q++)
        if (*q < 0x20 || *q == 0x7f || *q == '"' || *q == '\\')
            return 1;
    return 0;
}

int rb_config_validate(const rb_config *c, const char *where)
{
    if (!where)
        where = "config";
    const struct {
        const char *key;
        int v;
    } pos[] = {{"vocab_size", c->vocab_size},
               {"hidden_size", c->hidden_size},
               {"num_hidden_layers", c->num_hidden_layers},
               {"num_attention_heads", c->num_attention_heads},
               {"intermediate_size", c->intermediate_size},
               {"max_position_embeddings", c->max_position_embeddings},
               {"type_vocab_size", c->type_vocab_size}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v <= 0)
            return BAD(pos[i].key, "must be > 0, got %d", pos[i].v);
    /* sizes a model can have: every weight matrix indexable by int, and a
     * parameter count far from int64 overflow (rb_config_param_count) */
    const struct {
        const char *key;
        double rows;
    } mat[] = {{"vocab_size", c->vocab_size},
               {"max_position_embeddings", c->max_position_embeddings},
               {"type_vocab_size", c->type_vocab_size},
               {"intermediate_size", c->intermediate_size},
               {"hidden_size", c->hidden_size}};
    for (size_t i = 0; i < sizeof mat / sizeof mat[0]; i++)
        if (mat[i].rows * c->hidden_size > INT_MAX)
            return BAD(mat[i].key, "%d x hidden_size %d = %.0f weights in one tensor, more than "
                       "%d", (int)mat[i].rows, c->hidden_size, mat[i].rows * c->hidden_size, INT_MAX);
    double per_layer = 4.0 * c->hidden_size * c->hidden_size + 2.0 * c->hidden_size * c->intermediate_size;
    if (per_layer * c->num_hidden_layers > RB_MAX_PARAMS)
        return BAD("num_hidden_layers", "%d layers of %.0f weights: more than %.0f parameters",
                   c->num_hidden_layers, per_layer, (double)RB_MAX_PARAMS);
    if (c->hidden_size % c->num_attention_heads)
        return BAD("num_attention_heads", "%d does not divide hidden_size %d",
                   c->num_attention_heads, c->hidden_size);
    if (strcmp(c->hidden_act, "gelu") != 0)
        return BAD("hidden_act", "\"%s\" is not supported (only \"gelu\", the exact erf form)",
                   c->hidden_act);
    if (!(c->hidden_dropout_prob >= 0 && c->hidden_dropout_prob < 1))
        return BAD("hidden_dropout_prob", "must be in [0, 1), got %g", c->hidden_dropout_prob);
    if (!(c->attention_probs_dropout_prob >= 0 && c->attention_probs_dropout_prob < 1))
        return BAD("attention_probs_dropout_prob", "must be in [0, 1), got %g",
                   c->attention_probs_dropout_prob);
    if (!(c->initializer_range >= 0 && isfinite(c->initializer_range)))
        return BAD("initializer_range", "must be >= 0, got %g", c->initializer_range);
    if (!(c->layer_norm_eps > 0 && c->layer_norm_eps < 1))
        return BAD("layer_norm_eps", "must be in (0, 1), got %g", c->layer_norm_eps);
    if (c->pad_token_id < 0 || c->pad_token_id >= c->vocab_size)
        return BAD("pad_token_id", "%d is outside the vocabulary [0, %d)", c->pad_token_id,
                   c->vocab_size);
    if (c->bos_token_id < -1 || c->bos_token_id >= c->vocab_size)
        return BAD("bos_token_id", "%d is outside the vocabulary [0, %d)", c->bos_token_id,
                   c->vocab_size);
    if (c->eos_token_id < -1 || c->eos_token_id >= c->vocab_size)
        return BAD("eos_token_id", "%d is outside the vocabulary [0, %d)", c->eos_token_id,
                   c->vocab_size);
    if (c->max_position_embeddings < c->pad_token_id + 2)
        return BAD("max_position_embeddings",
                   "%d leaves no position: position ids start at pad_token_id + 1 = %d",
                   c->max_position_embeddings, c->pad_token_id + 1);
    if (strcmp(c->model_type, "roberta") != 0)
        return BAD("model_type", "\"%s\" is not supported (only \"roberta\")", c->model_type);
    return TG_OK;
}

/* ---- reading ------------------------------------------------------------ */

/* Keys rb_config reads, checks, or writes itself. */
static const char *const KNOWN_KEYS[] = {
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "intermediate_size", "max_position_embeddings", "type_vocab_size", "pad_token_id",
    "bos_token_id", "eos_token_id", "hidden_dropout_prob", "attention_probs_dropout_prob",
    "initializer_range", "layer_norm_eps", "hidden_act", "model_type", "architectures",
    "position_embedding_type", "is_decoder", "add_cross_attention", "tie_word_embeddings",
    "classifier_dropout", "torch_dtype", "transformers_version", "use_cache"};


static int parse_config(const cJSON *root, const char *where, rb_config *c)
{
    int rc = TG_OK;
    if (!cJSON_IsObject(root))
        return tg_error(TG_ERR_FORMAT, "%s: not a JSON object", where);
    struct {
        const char *key;
        int *p;
        int allow_null;
    } ints[] = {{"vocab_size", &c->vocab_size, 0},
                {"hidden_size", &c->hidden_size, 0},
                {"num_hidden_layers", &c->num_hidden_layers, 0},
                {"num_attention_heads", &c->num_attention_heads, 0},
                {"intermediate_size", &c->intermediate_size, 0},
                {"max_position_embeddings", &c->max_position_embeddings, 0},
                {"type_vocab_size", &c->type_vocab_size, 0},
                {"pad_token_id", &c->pad_token_id, 0},
                {"bos_token_id", &c->bos_token_id, 1},
                {"eos_token_id", &c->eos_token_id, 1}};
    for (size_t i = 0; rc == TG_OK && i < sizeof ints / sizeof ints[0]; i++)
        rc = cfg_get_int(root, where, ints[i].key, ints[i].p, ints[i].allow_null);
    struct {
        const char *key;
        double *p;
    } nums[] = {{"hidden_dropout_prob", &c->hidden_dropout_prob},
                {"attention_probs_dropout_prob", &c->attention_probs_dropout_prob},
                {"initializer_range", &c->initializer_range},
                {"layer_norm_eps", &c->layer_norm_eps}};
    for (size_t i = 0; rc == TG_OK && i < sizeof nums / sizeof nums[0]; i++)
        rc = cfg_get_num(root, where, nums[i].key, nums[i].p);
    if (rc == TG_OK)
        rc = cfg_get_str(root, where, "hidden_act", c->hidden_act, sizeof c->hidden_act);
    if (rc == TG_OK)
        rc = cfg_get_str(root, where, "model_type", c->model_type, sizeof c->model_type);
    if (rc != TG_OK)
        return rc;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (a && !cJSON_IsNull(a)) {
        if (!cJSON_IsArray(a))
            return BAD("architectures", "expected a list of strings");
        c->n_architectures = 0;
        for (const cJSON *e = a->child; e; e = e->next) {
            if (!cJSON_IsString(e) || strlen(e->valuestring) >= sizeof c->architectures[0])
                return BAD("architectures", "expected a list of strings");
            if (c->n_architectures == RB_MAX_ARCHS)
                return BAD("architectures", "more than %d entries", RB_MAX_ARCHS);
            if (needs_escaping(e->valuestring))
                return BAD("architectures", "entry %d is not a class name (a quote, "
                           "backslash or control character)", c->n_architectures);
            strcpy(c->architectures[c->n_architectures++], e->valuestring);
        }
    }
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
    if (pe && !cJSON_IsNull(pe) &&
        (!cJSON_IsString(pe) || strcmp(pe->valuestring, "absolute") != 0))
        return BAD("position_embedding_type", "only \"absolute\" is supported");
    if ((rc = cfg_check_bool(root, where, "is_decoder", 1, "ablm builds encoders only")) ||
        (rc = cfg_check_bool(root, where, "add_cross_attention", 1, "no cross-attention")) ||
        (rc = cfg_check_bool(root, where, "tie_word_embeddings", 0,
                         "the LM decoder is always tied to the word embeddings")))
        return rc;
    cfg_note_ignored(root, KNOWN_KEYS, sizeof KNOWN_KEYS / sizeof KNOWN_KEYS[0], c->ignored,
                     sizeof c->ignored);
    return rb_config_validate(c, where);
}

/* RobertaConfig() defaults, then the file's keys; *out is
 * written only on success. */
static int parse_into(const cJSON *root, const char *file, void *out)
{
    rb_config tmp;
    rb_config_default(&tmp);
    int rc = parse_config(root, file, &tmp);
    if (rc == TG_OK)
        *(rb_config *)out = tmp;
    return rc;
}

int rb_config_load(const char *path, rb_config *c) { return cfg_load(path, parse_into, c); }

int rb_config_from_json(const cJSON *root, const char *where, rb_config *c)
{
    return parse_into(root, where, c);
}

/* ---- writing ------------------------------------------------------------ */

int rb_config_to_json(const rb_config *c, char **out)
{
    *out = NULL;
    int rc = rb_config_validate(c, "config");
    if (rc != TG_OK)
        return rc;
    for (int i = 0; i < c->n_architectures; i++)
        if (needs_escaping(c->architectures[i]))
            return tg_error(TG_ERR_ARG, "config: key \"architectures\": entry needs escaping");
    st_text o = {0};
    char a[40], b[40], d[40], e[40];
    cfg_py_float(c->attention_probs_dropout_prob, a, sizeof a);
    cfg_py_float(c->hidden_dropout_prob, b, sizeof b);
    cfg_py_float(c->initializer_range, d, sizeof d);
    cfg_py_float(c->layer_norm_eps, e, sizeof e);
    /* Keys in sorted order, as json.dumps(sort_keys=True, indent=2). */
    st_text_printf(&o, "{\n  \"architectures\": [");
    for (int i = 0; i < c->n_architectures; i++)
        st_text_printf(&o, "%s\n    \"%s\"", i ? "," : "", c->architectures[i]);
    st_text_printf(&o, "%s],\n", c->n_architectures ? "\n  " : "");
    st_text_printf(&o, "  \"attention_probs_dropout_prob\": %s,\n", a);
    cfg_put_id(&o, "bos_token_id", c->bos_token_id);
    st_text_printf(&o, "  \"classifier_dropout\": null,\n");
    cfg_put_id(&o, "eos_token_id", c->eos_token_id);
    st_text_printf(&o, "  \"hidden_act\": \"%s\",\n", c->hidden_act);
    st_text_printf(&o, "  \"hidden_dropout_prob\": %s,\n", b);
    st_text_printf(&o, "  \"hidden_size\": %d,\n", c->hidden_size);
    st_text_printf(&o, "  \"initializer_range\": %s,\n", d);
    st_text_printf(&o, "  \"intermediate_size\": %d,\n", c->intermediate_size);
    st_text_printf(&o, "  \"layer_norm_eps\": %s,\n", e);
    st_text_printf(&o, "  \"max_position_embeddings\": %d,\n", c->max_position_embeddings);
    st_text_printf(&o, "  \"model_type\": \"%s\",\n", c->model_type);
    st_text_printf(&o, "  \"num_attention_heads\": %d,\n", c->num_attention_heads);
    st_text_printf(&o, "  \"num_hidden_layers\": %d,\n", c->num_hidden_layers);
    cfg_put_id(&o, "pad_token_id", c->pad_token_id);
    st_text_printf(&o, "  \"position_embedding_type\": \"absolute\",\n");
    st_text_printf(&o, "  \"torch_dtype\": \"float32\",\n");
    st_text_printf(&o, "  \"transformers_version\": \"%s\",\n", RB_TRANSFORMERS_VERSION);
    st_text_printf(&o, "  \"type_vocab_size\": %d,\n", c->type_vocab_size);
    st_text_printf(&o, "  \"use_cache\": true,\n");
    st_text_printf(&o, "  \"vocab_size\": %d\n}\n", c->vocab_size);
    if (o.oom) {
        st_text_free(&o);
        return TG_ERR_NOMEM;
    }
    *out = o.s;
    return TG_OK;
}

int rb_config_save(const rb_config *c, const char *path)
{
    char *json;
    int rc = rb_config_to_json(c, &json);
    return rc ? rc : cfg_write(path, json);
}

int64_t rb_config_param_count(const rb_config *c)
{
    int64_t H = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int64_t emb = (V + c->max_position_embeddings + c->type_vocab_size) * H + 2 * H;
    int64_t layer = 4 * (H * H + H)   /* query, key, value, attention output dense */
                    + 2 * H           /* attention output LayerNorm */
                    + (H * I + I)     /* intermediate dense */
                    + (I * H + H)     /* output dense */
                    + 2 * H;          /* output LayerNorm */
    int64_t head = (H * H + H) + 2 * H + V; /* dense, layer_norm, bias (decoder tied) */
    return emb + c->num_hidden_layers * layer + head;
}

const char *rb_config_ignored_note(const rb_config *c, const char *file, char *buf, size_t n)
{
    if (!c->ignored[0])
        return NULL;
    snprintf(buf, n, "%s: keys not used by RobertaForMaskedLM, ignored: %s",
             file ? file : "config.json", c->ignored);
    return buf;
}

const char *rb_config_pad_warning(const rb_config *c, const tok_tokenizer *tok, char *buf,
                                  size_t n)
{
    int pad = tok_pad_id(tok), P = c->pad_token_id;
    if (P == pad)
        return NULL;
    const char *as = tok_token(tok, P);
    char what[96];
    if (as)
        snprintf(what, sizeof what, "%s tokens", as);
    else
        snprintf(what, sizeof what, "tokens with id %d", P);
    snprintf(buf, n,
             "config.json has pad_token_id=%d (%s in this tokenizer), not the tokenizer's [PAD] "
             "%d; as in transformers, id %d is the padding_idx of the position ids and "
             "embeddings: %s take position %d and do not advance the position count, [PAD] "
             "tokens do, and row %d of the word and position embeddings gets no gradient; the "
             "attention mask comes from the tokenizer's [PAD] (%d). A model trained this way must "
             "keep it; for a new model, pad_token_id=%d gives every residue its own position",
             P, as ? as : "outside the vocabulary", pad, P, what, P, P, pad, pad);
    return buf;
}
