/* EncoderDecoderConfig: validation, config.json read/write. */
#include "encdec.h"

#include "cfg_json.h"

#include <stdio.h>
#include <string.h>

#define BAD(key, ...) cfg_bad_key(where, key, __VA_ARGS__)

int ed_config_validate(const ed_config *c, const char *where)
{
    if (!where)
        where = "config";
    char sub[4200];
    snprintf(sub, sizeof sub, "%s: encoder", where);
    int rc = rb_config_validate(&c->enc, sub);
    snprintf(sub, sizeof sub, "%s: decoder", where);
    if (!rc)
        rc = g2_config_validate(&c->dec, sub);
    if (rc)
        return rc;
    if (!c->dec.add_cross_attention)
        return BAD("decoder.add_cross_attention", "must be true (the decoder attends to the encoder)");
    if (c->enc.vocab_size != c->dec.vocab_size)
        return BAD("decoder.vocab_size", "%d differs from encoder.vocab_size %d (one tokenizer serves both)",
                   c->dec.vocab_size, c->enc.vocab_size);
    const struct {
        const char *key;
        int v, null_ok;
    } ids[] = {{"decoder_start_token_id", c->decoder_start_token_id, 0},
               {"pad_token_id", c->pad_token_id, 0},
               {"eos_token_id", c->eos_token_id, 1}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].v < (ids[i].null_ok ? -1 : 0) || ids[i].v >= c->dec.vocab_size)
            return BAD(ids[i].key, "%d is outside the vocabulary [0, %d)%s", ids[i].v,
                       c->dec.vocab_size, ids[i].null_ok ? "" : " (null is not supported)");
    if (c->adapters < 0 || (c->adapters > 0 && (c->enc.hidden_size % c->adapters ||
                                                c->dec.n_embd % c->adapters)))
        return BAD("adapters.reduction_factor",
                   "%d must be > 0 and divide the hidden sizes (encoder %d, decoder %d)",
                   c->adapters, c->enc.hidden_size, c->dec.n_embd);
    return TG_OK;
}

static const char *const KNOWN_KEYS[] = {
    "encoder", "decoder", "model_type", "is_encoder_decoder", "decoder_start_token_id",
    "pad_token_id", "eos_token_id", "bos_token_id", "tie_encoder_decoder", "adapters",
    "architectures", "torch_dtype", "transformers_version"};

/* "adapters": null / absent, or the one configuration implemented. */
static int parse_adapters(const cJSON *root, const char *where, ed_config *c)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "adapters");
    c->adapters = 0;
    if (!a || cJSON_IsNull(a))
        return TG_OK;
    if (!cJSON_IsObject(a))
        return BAD("adapters", "expected an object or null");
    char conf[32] = "double_seq_bn", act[32] = "relu";
    int r = 16;
    int rc = cfg_get_str(a, where, "config", conf, sizeof conf);
    if (!rc)
        rc = cfg_get_str(a, where, "non_linearity", act, sizeof act);
    if (!rc)
        rc = cfg_get_int(a, where, "reduction_factor", &r, 0);
    if (rc)
        return rc;
    if (strcmp(conf, "double_seq_bn"))
        return BAD("adapters.config", "\"%s\" is not supported (only \"double_seq_bn\")", conf);
    if (strcmp(act, "relu"))
        return BAD("adapters.non_linearity", "\"%s\" is not supported (only \"relu\")", act);
    if (r < 1)
        return BAD("adapters.reduction_factor", "must be >= 1, got %d", r);
    c->adapters = r;
    return TG_OK;
}

static int parse_into(const cJSON *root, const char *where, void *out)
{
    if (!cJSON_IsObject(root))
        return tg_error(TG_ERR_FORMAT, "%s: not a JSON object", where);
    ed_config c;
    memset(&c, 0, sizeof c);
    char mt[32] = "";
    int rc = cfg_get_str(root, where, "model_type", mt, sizeof mt);
    if (!rc && strcmp(mt, "encoder-decoder"))
        rc = BAD("model_type", "\"%s\" is not an encoder-decoder (expected \"encoder-decoder\")", mt);
    if (!rc)
        rc = cfg_check_bool(root, where, "is_encoder_decoder", 0,
                            "EncoderDecoderModel is an encoder-decoder");
    if (!rc)
        rc = cfg_check_bool(root, where, "tie_encoder_decoder", 1,
                            "encoder and decoder have their own weights");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "encoder");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (!rc && !cJSON_IsObject(e))
        rc = BAD("encoder", "missing or not an object");
    if (!rc && !cJSON_IsObject(d))
        rc = BAD("decoder", "missing or not an object");
    char sub[4200];
    snprintf(sub, sizeof sub, "%s: encoder", where);
    if (!rc)
        rc = rb_config_from_json(e, sub, &c.enc);
    snprintf(sub, sizeof sub, "%s: decoder", where);
    if (!rc)
        rc = g2_config_from_json(d, sub, &c.dec);
    const cJSON *xh = d ? cJSON_GetObjectItemCaseSensitive(d, "cross_attention_hidden_size") : NULL;
    if (!rc && xh && !cJSON_IsNull(xh))
        rc = BAD("decoder.cross_attention_hidden_size", "is not supported (use null)");
    c.decoder_start_token_id = c.dec.bos_token_id;
    c.pad_token_id = c.dec.pad_token_id;
    c.eos_token_id = c.dec.eos_token_id;
    if (!rc)
        rc = cfg_get_int(root, where, "decoder_start_token_id", &c.decoder_start_token_id, 1);
    if (!rc)
        rc = cfg_get_int(root, where, "pad_token_id", &c.pad_token_id, 1);
    if (!rc)
        rc = cfg_get_int(root, where, "eos_token_id", &c.eos_token_id, 1);
    if (!rc)
        rc = parse_adapters(root, where, &c);
    if (rc)
        return rc;
    cfg_note_ignored(root, KNOWN_KEYS, sizeof KNOWN_KEYS / sizeof KNOWN_KEYS[0], c.ignored,
                     sizeof c.ignored);
    rc = ed_config_validate(&c, where);
    if (!rc)
        *(ed_config *)out = c;
    return rc;
}

int ed_config_load(const char *path, ed_config *c) { return cfg_load(path, parse_into, c); }

/* text with every line after the first indented by two spaces, the final
 * newline dropped: a sub-config's JSON nested one level. */
static void put_nested(st_text *o, const char *text)
{
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n')
        n--;
    for (size_t i = 0; i < n; i++) {
        st_text_printf(o, "%c", text[i]);
        if (text[i] == '\n')
            st_text_printf(o, "  ");
    }
}

int ed_config_to_json(const ed_config *c, char **out)
{
    *out = NULL;
    int rc = ed_config_validate(c, "config");
    if (rc)
        return rc;
    char *enc = NULL, *dec = NULL;
    rc = rb_config_to_json(&c->enc, &enc);
    if (!rc)
        rc = g2_config_to_json(&c->dec, &dec);
    if (rc) {
        tg_free(enc);
        return rc;
    }
    st_text o = {0};
    st_text_printf(&o, "{\n");
    if (c->adapters)
        st_text_printf(&o, "  \"adapters\": {\n    \"config\": \"double_seq_bn\",\n    \"name\": \"" AD_NAME
                           "\",\n    \"non_linearity\": \"relu\",\n    \"reduction_factor\": %d\n  },\n",
                       c->adapters);
    else
        st_text_printf(&o, "  \"adapters\": null,\n");
    st_text_printf(&o, "  \"architectures\": [\n    \"EncoderDecoderModel\"\n  ],\n");
    st_text_printf(&o, "  \"decoder\": ");
    put_nested(&o, dec);
    st_text_printf(&o, ",\n");
    cfg_put_id(&o, "decoder_start_token_id", c->decoder_start_token_id);
    st_text_printf(&o, "  \"encoder\": ");
    put_nested(&o, enc);
    st_text_printf(&o, ",\n");
    cfg_put_id(&o, "eos_token_id", c->eos_token_id);
    st_text_printf(&o, "  \"is_encoder_decoder\": true,\n");
    st_text_printf(&o, "  \"model_type\": \"encoder-decoder\",\n");
    cfg_put_id(&o, "pad_token_id", c->pad_token_id);
    st_text_printf(&o, "  \"tie_encoder_decoder\": false,\n");
    st_text_printf(&o, "  \"torch_dtype\": \"float32\",\n");
    st_text_printf(&o, "  \"transformers_version\": \"%s\"\n}\n", G2_TRANSFORMERS_VERSION);
    tg_free(enc);
    tg_free(dec);
    if (o.oom) {
        st_text_free(&o);
        return TG_ERR_NOMEM;
    }
    *out = o.s;
    return TG_OK;
}

int ed_config_save(const ed_config *c, const char *path)
{
    char *json;
    int rc = ed_config_to_json(c, &json);
    return rc ? rc : cfg_write(path, json);
}
