/* The Hugging Face tokenizer files: tok_save and tok_load, in both layouts
 * (tokenizer.h, docs/checkpoints.md). */
#define _POSIX_C_SOURCE 200809L
#include "tok_internal.h"

#include "safetensors.h"
#include "tg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* special_tokens_map.json / tokenizer_config.json keys, same order. */
static const char *const special_keys[TOK_NSPECIAL] = {"pad_token", "unk_token", "cls_token",
                                                       "sep_token", "mask_token"};

/* tokenizer.json pieces. BertTokenizerFast's (what transformers converts
 * the published layout to), and ablm's own rules: residue letters
 * upper-cased (one Replace per residue, written by put_own_normalizer),
 * ASCII whitespace removed, every other character a token of its own. */
static const char BERT_NORMALIZER[] =
    "{\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true, "
    "\"strip_accents\": null, \"lowercase\": false}";
static const char BERT_PRE[] = "{\"type\": \"BertPreTokenizer\"}";
static const char OWN_PRE[] =
    "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
    "\"[\\t\\n\\u000b\\f\\r ]+\"}, \"behavior\": \"Removed\", \"invert\": false}, {\"type\": "
    "\"Split\", \"pattern\": {\"Regex\": \".\"}, \"behavior\": \"Isolated\", \"invert\": false}]}";
/* What ablm wrote before: whitespace split by Unicode White_Space and a
 * BertNormalizer (so HF dropped control characters and made lowercase
 * residues [UNK]); still read. */
static const char OWN_PRE_OLD[] =
    "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, {\"type\": "
    "\"Split\", \"pattern\": {\"Regex\": \".\"}, \"behavior\": \"Isolated\", \"invert\": false}]}";

/* ---- writing -------------------------------------------------------------- */

static int save_file(const char *dir, const char *name, st_text *o)
{
    char path[4096];
    if (o->oom)
        return TG_ERR_NOMEM;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return st_atomic_write_buf(path, o->s, o->len);
}

static void put_specials(st_text *o, const char *indent)
{
    /* Sorted by key: cls, mask, pad, sep, unk. */
    static const int order[TOK_NSPECIAL] = {TOK_CLS, TOK_MASK, TOK_PAD, TOK_SEP, TOK_UNK};
    for (int i = 0; i < TOK_NSPECIAL; i++)
        st_text_printf(o, "%s\"%s\": \"%s\"%s\n", indent, special_keys[order[i]],
                       tok_special_names[order[i]], i + 1 < TOK_NSPECIAL ? "," : "");
}

static int is_special(const tok_tokenizer *t, int id)
{
    for (int k = 0; k < TOK_NSPECIAL; k++)
        if (t->special[k] == id)
            return 1;
    return 0;
}

static void put_own_normalizer(st_text *o, const tok_tokenizer *t)
{
    st_text_printf(o, "{\"type\": \"Sequence\", \"normalizers\": [");
    const char *sep = "";
    for (int c = 'A'; c <= 'Z'; c++)
        if (t->by_char[c] >= 0) {
            st_text_printf(o, "%s{\"type\": \"Replace\", \"pattern\": {\"String\": \"%c\"}, "
                              "\"content\": \"%c\"}", sep, c + 32, c);
            sep = ", ";
        }
    st_text_printf(o, "]}");
}

/* tokenizer.json: the fast tokenizer giving the same ids as tok_encode
 * (ablm's layout: except "*", which it leaves [UNK]). */
static void put_fast(st_text *o, const tok_tokenizer *t)
{
    int bert = t->layout == TOK_LAYOUT_BERT_ADDED;
    st_text_printf(o, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
                      "  \"added_tokens\": [\n");
    for (int id = 0, first = 1; id < t->n; id++) {
        int sp = is_special(t, id);
        if (!sp && id < t->n_base)
            continue;
        st_text_printf(o, "%s    {\"id\": %d, \"content\": \"%s\", \"single_word\": false, "
                          "\"lstrip\": false, \"rstrip\": false, \"normalized\": %s, "
                          "\"special\": %s}", first ? "" : ",\n", id, t->tok[id],
                       sp ? "false" : "true", sp ? "true" : "false");
        first = 0;
    }
    st_text_printf(o, "\n  ],\n  \"normalizer\": ");
    if (bert)
        st_text_printf(o, "%s", BERT_NORMALIZER);
    else
        put_own_normalizer(o, t);
    int cls = t->special[TOK_CLS], sep = t->special[TOK_SEP];
    st_text_printf(o, ",\n  \"pre_tokenizer\": %s,\n", bert ? BERT_PRE : OWN_PRE);
    st_text_printf(o,
        "  \"post_processor\": {\"type\": \"TemplateProcessing\",\n"
        "    \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, "
        "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": "
        "\"[SEP]\", \"type_id\": 0}}],\n"
        "    \"pair\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, "
        "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": "
        "\"[SEP]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}, "
        "{\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 1}}],\n"
        "    \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [%d], \"tokens\": "
        "[\"[CLS]\"]}, \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [%d], \"tokens\": "
        "[\"[SEP]\"]}}},\n"
        "  \"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true},\n"
        "  \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", "
        "\"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100,\n"
        "    \"vocab\": {", cls, sep);
    for (int i = 0; i < t->n_base; i++)
        st_text_printf(o, "%s\"%s\": %d", i ? ", " : "", t->tok[i], i);
    st_text_printf(o, "}}\n}\n");
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int tok_save(const tok_tokenizer *t, const char *dir, int model_max_length)
{
    st_text o = {0};
    int rc;
    for (int i = 0; i < t->n_base; i++)
        st_text_printf(&o, "%s\n", t->tok[i]);
    rc = save_file(dir, "vocab.txt", &o);

    /* Added tokens sorted by key, as transformers writes them. */
    const char *keys[TOK_MAX_VOCAB];
    int nk = 0;
    for (int i = t->n_base; i < t->n; i++)
        keys[nk++] = t->tok[i];
    qsort(keys, (size_t)nk, sizeof *keys, by_key);
    o.len = 0;
    st_text_printf(&o, "{");
    for (int i = 0; i < nk; i++)
        st_text_printf(&o, "%s\n  \"%s\": %d", i ? "," : "", keys[i], tok_token_id(t, keys[i]));
    st_text_printf(&o, "%s}\n", nk ? "\n" : "");
    if (rc == TG_OK)
        rc = save_file(dir, "added_tokens.json", &o);

    o.len = 0;
    st_text_printf(&o, "{\n");
    put_specials(&o, "  ");
    st_text_printf(&o, "}\n");
    if (rc == TG_OK)
        rc = save_file(dir, "special_tokens_map.json", &o);

    o.len = 0;
    st_text_printf(&o, "{\n  \"clean_up_tokenization_spaces\": true,\n  \"cls_token\": \"[CLS]\",\n"
            "  \"do_basic_tokenize\": true,\n  \"do_lower_case\": false,\n"
            "  \"mask_token\": \"[MASK]\",\n  \"model_max_length\": %d,\n"
            "  \"never_split\": null,\n  \"pad_token\": \"[PAD]\",\n  \"sep_token\": \"[SEP]\",\n"
            "  \"strip_accents\": null,\n  \"tokenize_chinese_chars\": true,\n"
            "  \"tokenizer_class\": \"BertTokenizer\",\n  \"unk_token\": \"[UNK]\"\n}\n",
        model_max_length);
    if (rc == TG_OK)
        rc = save_file(dir, "tokenizer_config.json", &o);

    o.len = 0;
    put_fast(&o, t);
    if (rc == TG_OK)
        rc = save_file(dir, "tokenizer.json", &o);
    st_text_free(&o);
    return rc;
}

/* ---- reading -------------------------------------------------------------- */

static const char NEEDS[] =
    "tokenizer directory needs vocab.txt, tokenizer_config.json, special_tokens_map.json";

/* Reads DIR/NAME as JSON into *root (object). optional: a missing file
 * gives TG_OK with *root = NULL. */
static int load_json(const char *dir, const char *name, int optional, cJSON **root)
{
    char path[4096], *text = NULL;
    *root = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *probe = fopen(path, "rb");
    if (!probe && optional)
        return TG_OK;
    if (probe)
        fclose(probe);
    int rc = st_read_text(path, 1 << 22, &text, NULL);
    if (rc != TG_OK) {
        if (rc == TG_ERR_IO)
            tg_error(TG_ERR_IO, "%s: missing or unreadable (%s)", path, NEEDS);
        return rc;
    }
    *root = cJSON_ParseWithOpts(text, NULL, 1);
    tg_free(text);
    if (!*root || !cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return tg_error(TG_ERR_FORMAT, "%s: not a JSON object", path);
    }
    return TG_OK;
}

/* The special token string given for `key` (a string, or an object with
 * "content" as newer transformers write), or NULL if absent. */
static const char *special_value(const cJSON *root, const char *key, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *bad = 0;
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (cJSON_IsObject(v))
        v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

static int check_specials(const cJSON *root, const char *dir, const char *name)
{
    for (int k = 0; k < TOK_NSPECIAL; k++) {
        int bad;
        const char *v = special_value(root, special_keys[k], &bad);
        if (bad)
            return tg_error(TG_ERR_FORMAT, "%s/%s: \"%s\" is not a string", dir, name,
                            special_keys[k]);
        if (v && strcmp(v, tok_special_names[k]) != 0)
            return tg_error(TG_ERR_FORMAT, "%s/%s: \"%s\" is \"%s\"; ablm's tokenizer uses \"%s\"",
                            dir, name, special_keys[k], v, tok_special_names[k]);
    }
    return TG_OK;
}

static int read_vocab(tok_tokenizer *t, const char *dir)
{
    char path[4096], *text = NULL;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    int rc = st_read_text(path, 1 << 16, &text, NULL);
    if (rc != TG_OK) {
        if (rc == TG_ERR_IO)
            tg_error(TG_ERR_IO, "%s: missing or unreadable (%s)", path, NEEDS);
        return rc;
    }
    int line = 0;
    for (char *p = text; *p && rc == TG_OK;) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        if (l && p[l - 1] == '\r')
            l--;
        if (l == 0)
            rc = tg_error(TG_ERR_FORMAT, "%s:%d: empty token", path, line);
        else if (l >= TOK_LEN || t->n == TOK_MAX_VOCAB)
            rc = tg_error(TG_ERR_FORMAT, "%s:%d: token too long or more than %d tokens", path,
                          line, TOK_MAX_VOCAB);
        else {
            memcpy(t->tok[t->n], p, l);
            t->tok[t->n++][l] = 0;
        }
        p = nl ? nl + 1 : p + l;
    }
    tg_free(text);
    t->n_base = t->n;
    return rc == TG_OK ? tok_index_vocab(t, path) : rc;
}

/* Added tokens (added_tokens.json entries, or tokenizer_config.json's
 * added_tokens_decoder) not yet in the vocabulary, collected before they
 * are appended in id order. */
typedef struct {
    int n;
    int id[TOK_MAX_VOCAB];
    char tok[TOK_MAX_VOCAB][TOK_LEN];
} added_set;

/* Records token -> id from `file`: an existing token must have that id; a
 * new one must be a special token or a single upper-case letter. */
static int add_token(const tok_tokenizer *t, added_set *a, const char *token, const cJSON *id,
                     const char *dir, const char *file)
{
    if (!cJSON_IsNumber(id) || id->valuedouble != (double)id->valueint || id->valueint < 0)
        return tg_error(TG_ERR_FORMAT, "%s/%s: \"%s\": id is not a non-negative integer", dir,
                        file, token);
    int have = tok_token_id(t, token);
    if (have >= 0) {
        if (have != id->valueint)
            return tg_error(TG_ERR_FORMAT, "%s/%s: \"%s\" is not a vocab.txt token with that id "
                                           "(vocab.txt has it as %d, %s says %d)",
                            dir, file, token, have, file, id->valueint);
        return TG_OK;
    }
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->tok[i], token) == 0 || a->id[i] == id->valueint) {
            if (strcmp(a->tok[i], token) == 0 && a->id[i] == id->valueint)
                return TG_OK; /* the same entry from the other file */
            return tg_error(TG_ERR_FORMAT, "%s/%s: \"%s\" (id %d) clashes with added token \"%s\" "
                                           "(id %d)", dir, file, token, id->valueint, a->tok[i],
                            a->id[i]);
        }
    int letter = token[0] >= 'A' && token[0] <= 'Z' && token[1] == 0;
    int special = 0;
    for (int k = 0; k < TOK_NSPECIAL; k++)
        special |= strcmp(token, tok_special_names[k]) == 0;
    if (!letter && !special)
        return tg_error(TG_ERR_FORMAT, "%s/%s: added token \"%s\" is neither a special token "
                                       "([PAD] [UNK] [CLS] [SEP] [MASK]) nor a single upper-case "
                                       "residue letter", dir, file, token);
    if (a->n == TOK_MAX_VOCAB)
        return tg_error(TG_ERR_FORMAT, "%s/%s: more than %d added tokens", dir, file,
                        TOK_MAX_VOCAB);
    a->id[a->n] = id->valueint;
    strcpy(a->tok[a->n++], token);
    return TG_OK;
}

/* tokenizer_config.json's added_tokens_decoder ({"5": {"content": "A",
 * ...}}, newer transformers): entries as add_token; single_word would
 * change the split and is refused. */
static int read_added_decoder(const tok_tokenizer *t, added_set *a, const cJSON *cfg,
                              const char *dir)
{
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder");
    const char *f = "tokenizer_config.json";
    if (!dec || cJSON_IsNull(dec))
        return TG_OK;
    if (!cJSON_IsObject(dec))
        return tg_error(TG_ERR_FORMAT, "%s/%s: \"added_tokens_decoder\" is not an object", dir, f);
    for (const cJSON *e = dec->child; e; e = e->next) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        char *end;
        long id = strtol(e->string, &end, 10);
        if (!cJSON_IsString(c) || *end || end == e->string || id < 0 || id > 1 << 20)
            return tg_error(TG_ERR_FORMAT, "%s/%s: added_tokens_decoder \"%s\" is not "
                                           "{\"content\": TOKEN} under an integer id", dir, f,
                            e->string);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "single_word")))
            return tg_error(TG_ERR_FORMAT, "%s/%s: added token \"%s\" has single_word true, "
                                           "which ablm does not reproduce", dir, f,
                            c->valuestring);
        cJSON *num = cJSON_CreateNumber((double)id);
        int rc = num ? add_token(t, a, c->valuestring, num, dir, f) : TG_ERR_NOMEM;
        cJSON_Delete(num);
        if (rc)
            return rc;
    }
    return TG_OK;
}

/* Appends the collected added tokens, which must take the ids right after
 * vocab.txt's (as transformers requires), and re-indexes. */
static int append_added(tok_tokenizer *t, const added_set *a, const char *dir)
{
    for (int want = t->n; want < t->n_base + a->n; want++) {
        int j = 0;
        while (j < a->n && a->id[j] != want)
            j++;
        if (j == a->n)
            return tg_error(TG_ERR_FORMAT, "%s/added_tokens.json: no added token has id %d; added "
                                           "tokens must take the ids after vocab.txt's %d tokens "
                                           "without gaps", dir, want, t->n_base);
        if (t->n == TOK_MAX_VOCAB)
            return tg_error(TG_ERR_FORMAT, "%s: more than %d tokens", dir, TOK_MAX_VOCAB);
        strcpy(t->tok[t->n++], a->tok[j]);
    }
    if (a->n)
        t->layout = TOK_LAYOUT_BERT_ADDED;
    char where[4096];
    snprintf(where, sizeof where, "%s/added_tokens.json", dir);
    return tok_index_vocab(t, where);
}

/* All 20 residues must be tokens the rules reach: in vocab.txt for ablm's
 * layout, added tokens for the BertTokenizer layout (a vocab.txt residue
 * there is only matched as a whole word, so "EE" would be one [UNK]). */
static int check_residues(const tok_tokenizer *t, const char *dir, int has_added)
{
    char miss[64] = "", base[64] = "";
    int nm = 0, nb = 0;
    for (const char *r = TOK_RESIDUES; *r; r++) {
        int id = t->by_char[(int)*r];
        if (id < 0)
            miss[nm++] = *r;
        else if (t->layout == TOK_LAYOUT_BERT_ADDED && id < t->n_base)
            base[nb++] = *r;
    }
    if (nm && t->layout == TOK_LAYOUT_ABLM)
        return tg_error(TG_ERR_FORMAT, "%s/vocab.txt: no token for %d of the 20 residues (%s) "
                                       "and %s/added_tokens.json %s: every such residue would be "
                                       "[UNK]", dir, nm, miss, dir,
                        has_added ? "adds none" : "is missing");
    if (nm)
        return tg_error(TG_ERR_FORMAT, "%s/added_tokens.json: no token for %d of the 20 residues "
                                       "(%s): they would be [UNK]", dir, nm, miss);
    if (nb)
        return tg_error(TG_ERR_FORMAT, "%s/added_tokens.json: residues %s are vocab.txt tokens "
                                       "while the others are added tokens; BertTokenizer would "
                                       "match them only as whole words (\"%c%c\" -> [UNK])", dir,
                        base, base[0], base[0]);
    return TG_OK;
}

/* tokenizer_config.json: the class and the BertTokenizer settings ablm
 * reproduces. */
static int check_config(const tok_tokenizer *t, const cJSON *cfg, const char *dir)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(cfg, "tokenizer_class");
    const char *f = "tokenizer_config.json";
    if (cls && !(cJSON_IsString(cls) && (strcmp(cls->valuestring, "BertTokenizer") == 0 ||
                                         strcmp(cls->valuestring, "BertTokenizerFast") == 0)))
        return tg_error(TG_ERR_FORMAT, "%s/%s: tokenizer_class must be \"BertTokenizer\" for this "
                                       "vocabulary", dir, f);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "do_lower_case")))
        return tg_error(TG_ERR_FORMAT, "%s/%s: do_lower_case is true; transformers would "
                                       "lower-case residues into [UNK]", dir, f);
    if (t->layout != TOK_LAYOUT_BERT_ADDED)
        return TG_OK;
    static const struct { const char *key; int bad_if_true; } opt[] = {
        {"do_basic_tokenize", 0}, {"tokenize_chinese_chars", 0}, {"strip_accents", 1}};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, opt[i].key);
        if (opt[i].bad_if_true ? cJSON_IsTrue(v) : cJSON_IsFalse(v))
            return tg_error(TG_ERR_FORMAT, "%s/%s: \"%s\" is %s; ablm reproduces BertTokenizer "
                                           "only with do_basic_tokenize true, "
                                           "tokenize_chinese_chars true, strip_accents off",
                            dir, f, opt[i].key, opt[i].bad_if_true ? "true" : "false");
    }
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(cfg, "never_split");
    if (ns && !cJSON_IsNull(ns) && !(cJSON_IsArray(ns) && cJSON_GetArraySize(ns) == 0))
        return tg_error(TG_ERR_FORMAT, "%s/%s: \"never_split\" is set; ablm does not reproduce it",
                        dir, f);
    return TG_OK;
}

/* 1 if j equals the JSON text s. */
static int json_is(const cJSON *j, const char *s)
{
    cJSON *want = cJSON_Parse(s);
    int eq = want && cJSON_Compare(j, want, 1);
    cJSON_Delete(want);
    return eq;
}

/* tokenizer.json, when present (AutoTokenizer uses it rather than the
 * other files), must agree with them and split text as tok_encode does. */
static int check_fast(const tok_tokenizer *t, const cJSON *root, const char *dir)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return tg_error(TG_ERR_FORMAT, "%s/tokenizer.json: no model.vocab object", dir);
    int count = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, count++) {
        int id = tok_token_id(t, e->string);
        if (!cJSON_IsNumber(e) || id < 0 || id != e->valueint)
            return tg_error(TG_ERR_FORMAT, "%s/tokenizer.json: token \"%s\" does not match "
                                           "vocab.txt", dir, e->string);
    }
    if (count != t->n_base)
        return tg_error(TG_ERR_FORMAT, "%s/tokenizer.json: %d tokens, vocab.txt has %d", dir,
                        count, t->n_base);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *e;
    cJSON_ArrayForEach(e, added) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsString(c) || !cJSON_IsNumber(id) ||
            tok_token_id(t, c->valuestring) != id->valueint)
            return tg_error(TG_ERR_FORMAT, "%s/tokenizer.json: added token %s does not match "
                                           "vocab.txt / added_tokens.json", dir,
                            cJSON_IsString(c) ? c->valuestring : "(no content)");
    }
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    int ok;
    if (t->layout == TOK_LAYOUT_BERT_ADDED) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(norm, "type");
        ok = cJSON_IsString(ty) && strcmp(ty->valuestring, "BertNormalizer") == 0 &&
             !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(norm, "clean_text")) &&
             !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(norm, "handle_chinese_chars")) &&
             !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(norm, "strip_accents")) &&
             !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(norm, "lowercase")) &&
             json_is(pre, BERT_PRE);
    } else {
        st_text own = {0};
        put_own_normalizer(&own, t);
        if (own.oom) {
            st_text_free(&own);
            return TG_ERR_NOMEM;
        }
        ok = (json_is(norm, own.s) && json_is(pre, OWN_PRE)) ||
             (json_is(norm, BERT_NORMALIZER) && json_is(pre, OWN_PRE_OLD));
        st_text_free(&own);
    }
    if (!ok)
        return tg_error(TG_ERR_FORMAT, "%s/tokenizer.json: normalizer / pre_tokenizer are not "
                                       "the ones ablm writes for this layout (%s), so "
                                       "transformers' fast tokenizer would split text "
                                       "differently; remove tokenizer.json to use the other files",
                        dir, t->layout == TOK_LAYOUT_BERT_ADDED ? "BertNormalizer without "
                        "lowercasing + BertPreTokenizer" : "one token per character");
    return TG_OK;
}

int tok_load(const char *dir, tok_tokenizer **out)
{
    *out = NULL;
    tok_tokenizer *t = tg_calloc(1, sizeof *t, "tokenizer");
    added_set *a = tg_calloc(1, sizeof *a, "added tokens");
    if (!t || !a) {
        tg_free(t);
        tg_free(a);
        return TG_ERR_NOMEM;
    }
    cJSON *cfg = NULL, *map = NULL, *added = NULL, *fast = NULL;
    int rc = read_vocab(t, dir);
    if (rc == TG_OK)
        rc = load_json(dir, "tokenizer_config.json", 0, &cfg);
    if (rc == TG_OK)
        rc = load_json(dir, "special_tokens_map.json", 0, &map);
    if (rc == TG_OK)
        rc = load_json(dir, "added_tokens.json", 1, &added);
    if (rc == TG_OK)
        rc = load_json(dir, "tokenizer.json", 1, &fast);
    for (const cJSON *e = added ? added->child : NULL; e && rc == TG_OK; e = e->next)
        rc = add_token(t, a, e->string, e, dir, "added_tokens.json");
    if (rc == TG_OK)
        rc = read_added_decoder(t, a, cfg, dir);
    if (rc == TG_OK)
        rc = append_added(t, a, dir);
    if (rc == TG_OK)
        rc = check_residues(t, dir, added != NULL);
    if (rc == TG_OK)
        rc = check_config(t, cfg, dir);
    if (rc == TG_OK)
        rc = check_specials(cfg, dir, "tokenizer_config.json");
    if (rc == TG_OK)
        rc = check_specials(map, dir, "special_tokens_map.json");
    if (rc == TG_OK && fast)
        rc = check_fast(t, fast, dir);
    cJSON_Delete(cfg);
    cJSON_Delete(map);
    cJSON_Delete(added);
    cJSON_Delete(fast);
    tg_free(a);
    if (rc != TG_OK) {
        tg_free(t);
        return rc;
    }
    *out = t;
    return TG_OK;
}
