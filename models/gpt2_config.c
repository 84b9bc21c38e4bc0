/* GPT2Config: defaults, validation, config.json read/write, counts. */
#include "gpt2.h"

#include "cfg_json.h"
#include "tg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void g2_config_default(g2_config *c)
{
    memset(c, 0, sizeof *c);
    c->vocab_size = 50257;
    c->n_embd = 768;
    c->n_layer = 12;
    c->n_head = 12;
    c->n_inner = -1;
    c->n_positions = 1024;
    strcpy(c->activation_function, "gelu_new");
    c->resid_pdrop = c->embd_pdrop = c->attn_pdrop = 0.1;
    c->layer_norm_epsilon = 1e-5;
    c->initializer_range = 0.02;
    c->bos_token_id = c->eos_token_id = 50256;
    c->pad_token_id = -1;
    strcpy(c->model_type, "gpt2");
}

#define BAD(key, ...) cfg_bad_key(where, key, __VA_ARGS__)

int g2_config_inner(const g2_config *c) { return c->n_inner > 0 ? c->n_inner : 4 * c->n_embd; }

int g2_config_validate(const g2_config *c, const char *where)
{
    if (!where)
        where = "config";
    const struct {
        const char *key;
        int v;
    } pos[] = {{"vocab_size", c->vocab_size}, {"n_embd", c->n_embd},
               {"n_layer", c->n_layer},       {"n_head", c->n_head},
               {"n_positions", c->n_positions}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v <= 0)
            return BAD(pos[i].key, "must be > 0, got %d", pos[i].v);
    if (c->n_inner == 0 || c->n_inner < -1)
        return BAD("n_inner", "must be > 0 or null, got %d", c->n_inner);
    if (c->n_embd % c->n_head)
        return BAD("n_head", "%d does not divide n_embd %d", c->n_head, c->n_embd);
    const char *act = c->activation_function;
    if (strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu"))
        return BAD("activation_function",
                   "\"%s\" is not supported (only \"gelu_new\" / \"gelu_pytorch_tanh\", the tanh "
                   "form, and \"gelu\", the erf form)", act);
    const struct {
        const char *key;
        double v;
    } drops[] = {{"resid_pdrop", c->resid_pdrop},
                 {"embd_pdrop", c->embd_pdrop},
                 {"attn_pdrop", c->attn_pdrop}};
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++)
        if (!(drops[i].v >= 0 && drops[i].v < 1))
            return BAD(drops[i].key, "must be in [0, 1), got %g", drops[i].v);
    if (!(c->initializer_range >= 0 && isfinite(c->initializer_range)))
        return BAD("initializer_range", "must be >= 0, got %g", c->initializer_range);
    if (!(c->layer_norm_epsilon > 0 && c->layer_norm_epsilon < 1))
        return BAD("layer_norm_epsilon", "must be in (0, 1), got %g", c->layer_norm_epsilon);
    const struct {
        const char *key;
        int v;
    } ids[] = {{"bos_token_id", c->bos_token_id},
               {"eos_token_id", c->eos_token_id},
               {"pad_token_id", c->pad_token_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].v < -1 || ids[i].v >= c->vocab_size)
            return BAD(ids[i].key, "%d is outside the vocabulary [0, %d)", ids[i].v, c->vocab_size);
    if (strcmp(c->model_type, "gpt2") != 0)
        return BAD("model_type", "\"%s\" is not supported (only \"gpt2\")", c->model_type);
    return TG_OK;
}

/* ---- reading ------------------------------------------------------------ */

/* Keys g2_config reads, checks, or writes itself. */
static const char *const KNOWN_KEYS[] = {
    "vocab_size", "n_embd", "n_layer", "n_head", "n_inner", "n_positions",
    "activation_function", "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon",
    "initializer_range", "bos_token_id", "eos_token_id", "pad_token_id", "model_type",
    "architectures", "add_cross_attention", "is_decoder", "scale_attn_by_inverse_layer_idx",
    "reorder_and_upcast_attn", "scale_attn_weights", "tie_word_embeddings", "use_cache",
    "torch_dtype", "transformers_version", "summary_activation", "summary_first_dropout",
    "summary_proj_to_labels", "summary_type", "summary_use_proj"};


static int parse_config(const cJSON *root, const char *where, g2_config *c)
{
    int rc = TG_OK;
    if (!cJSON_IsObject(root))
        return tg_error(TG_ERR_FORMAT, "%s: not a JSON object", where);
    struct {
        const char *key;
        int *p;
        int allow_null;
    } ints[] = {{"vocab_size", &c->vocab_size, 0},     {"n_embd", &c->n_embd, 0},
                {"n_layer", &c->n_layer, 0},           {"n_head", &c->n_head, 0},
                {"n_inner", &c->n_inner, 1},           {"n_positions", &c->n_positions, 0},
                {"bos_token_id", &c->bos_token_id, 1}, {"eos_token_id", &c->eos_token_id, 1},
                {"pad_token_id", &c->pad_token_id, 1}};
    for (size_t i = 0; rc == TG_OK && i < sizeof ints / sizeof ints[0]; i++)
        rc = cfg_get_int(root, where, ints[i].key, ints[i].p, ints[i].allow_null);
    struct {
        const char *key;
        double *p;
    } nums[] = {{"resid_pdrop", &c->resid_pdrop},
                {"embd_pdrop", &c->embd_pdrop},
                {"attn_pdrop", &c->attn_pdrop},
                {"layer_norm_epsilon", &c->layer_norm_epsilon},
                {"initializer_range", &c->initializer_range}};
    for (size_t i = 0; rc == TG_OK && i < sizeof nums / sizeof nums[0]; i++)
        rc = cfg_get_num(root, where, nums[i].key, nums[i].p);
    if (rc == TG_OK)
        rc = cfg_get_str(root, where, "activation_function", c->activation_function,
                         sizeof c->activation_function);
    if (rc == TG_OK)
        rc = cfg_get_str(root, where, "model_type", c->model_type, sizeof c->model_type);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, "add_cross_attention");
    if (rc == TG_OK && x && !cJSON_IsNull(x) && !cJSON_IsBool(x))
        rc = BAD("add_cross_attention", "expected true or false");
    c->add_cross_attention = cJSON_IsTrue(x);
    if (rc == TG_OK)
        rc = cfg_check_bool(root, where, "scale_attn_by_inverse_layer_idx", 1,
                            "attention scores are scaled by 1/sqrt(head size) only");
    if (rc == TG_OK)
        rc = cfg_check_bool(root, where, "reorder_and_upcast_attn", 1,
                            "attention runs in float32 in one order");
    if (rc == TG_OK)
        rc = cfg_check_bool(root, where, "scale_attn_weights", 0,
                            "attention scores are always scaled by 1/sqrt(head size)");
    if (rc == TG_OK)
        rc = cfg_check_bool(root, where, "tie_word_embeddings", 0,
                            "the LM head is always tied to transformer.wte");
    if (rc != TG_OK)
        return rc;
    cfg_note_ignored(root, KNOWN_KEYS, sizeof KNOWN_KEYS / sizeof KNOWN_KEYS[0], c->ignored,
                     sizeof c->ignored);
    return g2_config_validate(c, where);
}

/* GPT2Config() defaults, then the file's keys; *out is
 * written only on success. */
static int parse_into(const cJSON *root, const char *file, void *out)
{
    g2_config tmp;
    g2_config_default(&tmp);
    int rc = parse_config(root, file, &tmp);
    if (rc == TG_OK)
        *(g2_config *)out = tmp;
    return rc;
}

int g2_config_load(const char *path, g2_config *c) { return cfg_load(path, parse_into, c); }

int g2_config_from_json(const cJSON *root, const char *where, g2_config *c)
{
    return parse_into(root, where, c);
}

/* ---- writing ------------------------------------------------------------ */

int g2_config_to_json(const g2_config *c, char **out)
{
    *out = NULL;
    int rc = g2_config_validate(c, "config");
    if (rc != TG_OK)
        return rc;
    st_text o = {0};
    char ap[40], ep[40], ir[40], eps[40], rp[40];
    cfg_py_float(c->attn_pdrop, ap, sizeof ap);
    cfg_py_float(c->embd_pdrop, ep, sizeof ep);
    cfg_py_float(c->initializer_range, ir, sizeof ir);
    cfg_py_float(c->layer_norm_epsilon, eps, sizeof eps);
    cfg_py_float(c->resid_pdrop, rp, sizeof rp);
    /* sorted keys, as json.dumps(sort_keys=True, indent=2) */
    st_text_printf(&o, "{\n  \"activation_function\": \"%s\",\n", c->activation_function);
    if (c->add_cross_attention)
        st_text_printf(&o, "  \"add_cross_attention\": true,\n");
    st_text_printf(&o, "  \"architectures\": [\n    \"GPT2LMHeadModel\"\n  ],\n");
    st_text_printf(&o, "  \"attn_pdrop\": %s,\n", ap);
    cfg_put_id(&o, "bos_token_id", c->bos_token_id);
    st_text_printf(&o, "  \"embd_pdrop\": %s,\n", ep);
    cfg_put_id(&o, "eos_token_id", c->eos_token_id);
    st_text_printf(&o, "  \"initializer_range\": %s,\n", ir);
    if (c->add_cross_attention)
        st_text_printf(&o, "  \"is_decoder\": true,\n");
    st_text_printf(&o, "  \"layer_norm_epsilon\": %s,\n", eps);
    st_text_printf(&o, "  \"model_type\": \"gpt2\",\n");
    st_text_printf(&o, "  \"n_embd\": %d,\n", c->n_embd);
    st_text_printf(&o, "  \"n_head\": %d,\n", c->n_head);
    cfg_put_id(&o, "n_inner", c->n_inner);
    st_text_printf(&o, "  \"n_layer\": %d,\n", c->n_layer);
    st_text_printf(&o, "  \"n_positions\": %d,\n", c->n_positions);
    cfg_put_id(&o, "pad_token_id", c->pad_token_id);
    st_text_printf(&o, "  \"reorder_and_upcast_attn\": false,\n");
    st_text_printf(&o, "  \"resid_pdrop\": %s,\n", rp);
    st_text_printf(&o, "  \"scale_attn_by_inverse_layer_idx\": false,\n");
    st_text_printf(&o, "  \"scale_attn_weights\": true,\n");
    st_text_printf(&o, "  \"summary_activation\": null,\n");
    st_text_printf(&o, "  \"summary_first_dropout\": 0.1,\n");
    st_text_printf(&o, "  \"summary_proj_to_labels\": true,\n");
    st_text_printf(&o, "  \"summary_type\": \"cls_index\",\n");
    st_text_printf(&o, "  \"summary_use_proj\": true,\n");
    st_text_printf(&o, "  \"torch_dtype\": \"float32\",\n");
    st_text_printf(&o, "  \"transformers_version\": \"%s\",\n", G2_TRANSFORMERS_VERSION);
    st_text_printf(&o, "  \"use_cache\": true,\n");
    st_text_printf(&o, "  \"vocab_size\": %d\n}\n", c->vocab_size);
    if (o.oom) {
        st_text_free(&o);
        return TG_ERR_NOMEM;
    }
    *out = o.s;
    return TG_OK;
}

int g2_config_save(const g2_config *c, const char *path)
{
    char *json;
    int rc = g2_config_to_json(c, &json);
    return rc ? rc : cfg_write(path, json);
}

int64_t g2_config_param_count(const g2_config *c)
{
    int64_t H = c->n_embd, F = g2_config_inner(c), V = c->vocab_size;
    int64_t emb = (V + c->n_positions) * H;   /* wte (also the LM head), wpe */
    int64_t layer = 2 * H                     /* ln_1 */
                    + (H * 3 * H + 3 * H)     /* attn.c_attn */
                    + (H * H + H)             /* attn.c_proj */
                    + 2 * H                   /* ln_2 */
                    + (H * F + F)             /* mlp.c_fc */
                    + (F * H + H);            /* mlp.c_proj */
    if (c->add_cross_attention)
        layer += 2 * H                        /* ln_cross_attn */
                 + (H * H + H)                /* crossattention.q_attn */
                 + (H * 2 * H + 2 * H)        /* crossattention.c_attn */
                 + (H * H + H);               /* crossattention.c_proj */
    return emb + c->n_layer * layer + 2 * H;  /* ln_f */
}

const char *g2_config_ignored_note(const g2_config *c, const char *file, char *buf, size_t n)
{
    if (!c->ignored[0])
        return NULL;
    snprintf(buf, n, "%s: keys not used by GPT2LMHeadModel, ignored: %s",
             file ? file : "config.json", c->ignored);
    return buf;
}

const char *g2_config_token_warning(const g2_config *c, const tok_tokenizer *tok, char *buf,
                                    size_t n)
{
    int bos = tok_cls_id(tok), eos = tok_sep_id(tok), pad = tok_pad_id(tok);
    if ((c->bos_token_id < 0 || c->bos_token_id == bos) &&
        (c->eos_token_id < 0 || c->eos_token_id == eos) &&
        (c->pad_token_id < 0 || c->pad_token_id == pad))
        return NULL;
    snprintf(buf, n,
             "config.json has bos_token_id %d, eos_token_id %d, pad_token_id %d; the tokenizer's "
             "[CLS] (the sequence start ablm writes) is %d, [SEP] (the end) %d, [PAD] %d",
             c->bos_token_id, c->eos_token_id, c->pad_token_id, bos, eos, pad);
    return buf;
}
