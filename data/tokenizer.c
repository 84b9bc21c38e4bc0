/* Residue tokenizer: encode/decode and the Hugging Face tokenizer files. */
#define _POSIX_C_SOURCE 200809L
#include "tokenizer.h"

#include "safetensors.h"
#include "tg.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_VOCAB 64
#define TOK_LEN 16

static const char *const special_names[TOK_NSPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                        "[MASK]"};
/* special_tokens_map.json / tokenizer_config.json keys, same order. */
static const char *const special_keys[TOK_NSPECIAL] = {"pad_token", "unk_token", "cls_token",
                                                       "sep_token", "mask_token"};

struct tok_tokenizer {
    int n;
    char tok[TOK_MAX_VOCAB][TOK_LEN];
    int special[TOK_NSPECIAL]; /* ids of [PAD], [UNK], [CLS], [SEP], [MASK] */
    int by_char[128];          /* upper-case residue letter -> id, else -1 */
};

/* Builds the lookup tables from tok[0..n); TG_ERR_FORMAT naming `where` if
 * the vocabulary cannot be used. */
static int index_vocab(tok_tokenizer *t, const char *where)
{
    for (int i = 0; i < 128; i++)
        t->by_char[i] = -1;
    for (int s = 0; s < TOK_NSPECIAL; s++)
        t->special[s] = -1;
    for (int i = 0; i < t->n; i++) {
        const char *s = t->tok[i];
        int known = 0;
        for (int k = 0; k < TOK_NSPECIAL; k++)
            if (strcmp(s, special_names[k]) == 0) {
                if (t->special[k] >= 0)
                    return tg_error(TG_ERR_FORMAT, "%s:%d: duplicate token %s", where, i + 1, s);
                t->special[k] = i;
                known = 1;
            }
        if (known)
            continue;
        if (s[0] >= 'A' && s[0] <= 'Z' && s[1] == 0) {
            if (t->by_char[(int)s[0]] >= 0)
                return tg_error(TG_ERR_FORMAT, "%s:%d: duplicate token %s", where, i + 1, s);
            t->by_char[(int)s[0]] = i;
            continue;
        }
        return tg_error(TG_ERR_FORMAT,
                        "%s:%d: token \"%s\" is neither a special token ([PAD] [UNK] [CLS] [SEP] "
                        "[MASK]) nor a single upper-case residue letter",
                        where, i + 1, s);
    }
    for (int k = 0; k < TOK_NSPECIAL; k++)
        if (t->special[k] < 0)
            return tg_error(TG_ERR_FORMAT, "%s: special token %s missing from the vocabulary",
                            where, special_names[k]);
    return TG_OK;
}

int tok_new(tok_tokenizer **out)
{
    *out = NULL;
    tok_tokenizer *t = tg_calloc(1, sizeof *t, "tokenizer");
    if (!t)
        return TG_ERR_NOMEM;
    for (int i = 0; i < TOK_NSPECIAL; i++)
        strcpy(t->tok[t->n++], special_names[i]);
    for (const char *r = TOK_RESIDUES; *r; r++) {
        t->tok[t->n][0] = *r;
        t->n++;
    }
    int rc = index_vocab(t, "default vocabulary");
    if (rc != TG_OK) {
        tg_free(t);
        return rc;
    }
    *out = t;
    return TG_OK;
}

void tok_free(tok_tokenizer *t) { tg_free(t); }
int tok_vocab_size(const tok_tokenizer *t) { return t->n; }
const char *tok_token(const tok_tokenizer *t, int id) { return id >= 0 && id < t->n ? t->tok[id] : NULL; }

int tok_token_id(const tok_tokenizer *t, const char *token)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->tok[i], token) == 0)
            return i;
    return -1;
}

int tok_pad_id(const tok_tokenizer *t) { return t->special[TOK_PAD]; }
int tok_unk_id(const tok_tokenizer *t) { return t->special[TOK_UNK]; }
int tok_cls_id(const tok_tokenizer *t) { return t->special[TOK_CLS]; }
int tok_sep_id(const tok_tokenizer *t) { return t->special[TOK_SEP]; }
int tok_mask_id(const tok_tokenizer *t) { return t->special[TOK_MASK]; }

/* ---- encode / decode ---------------------------------------------------- */

/* Length of a UTF-8 character starting with byte c (1 for stray bytes). */
static size_t utf8_len(unsigned char c)
{
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

int tok_encode(const tok_tokenizer *t, const char *seq, size_t len, int max_len,
               tok_overflow policy, int32_t *ids, int *n_ids, tok_stats *st)
{
    tok_stats dummy;
    if (!st) {
        memset(&dummy, 0, sizeof dummy);
        st = &dummy;
    }
    *n_ids = 0;
    if (max_len < 2)
        return tg_error(TG_ERR_ARG, "max_len %d leaves no room for [CLS] and [SEP]", max_len);
    /* Counts are only committed once the sequence is accepted. */
    tok_stats add;
    memset(&add, 0, sizeof add);
    int cap = max_len - 2, n = 0;
    long total = 0;
    ids[0] = t->special[TOK_CLS];
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)seq[i];
        int id;
        size_t step = 1;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            i++;
            continue;
        }
        if (c == '*') {
            id = t->special[TOK_MASK];
            add.masks++;
        } else if (c == '[') {
            id = -1;
            for (int k = 0; k < TOK_NSPECIAL; k++) {
                size_t kl = strlen(special_names[k]);
                if (len - i >= kl && memcmp(seq + i, special_names[k], kl) == 0) {
                    id = t->special[k];
                    step = kl;
                    add.masks += k == TOK_MASK;
                }
            }
            if (id < 0) {
                id = t->special[TOK_UNK];
                add.unknown++;
                add.unknown_char['[']++;
            }
        } else if (c < 128) {
            int up = c >= 'a' && c <= 'z' ? c - 32 : c;
            id = t->by_char[up];
            if (id >= 0) {
                add.residues++;
                add.lowercase += up != c;
            } else {
                id = t->special[TOK_UNK];
                add.unknown++;
                add.unknown_char[up]++;
            }
        } else {
            step = utf8_len(c);
            if (step > len - i)
                step = len - i;
            id = t->special[TOK_UNK];
            add.unknown++;
            add.unknown_char[0]++;
        }
        i += step;
        total++;
        if (n < cap)
            ids[1 + n++] = id;
    }
    if (total > cap) {
        if (policy == TOK_REJECT) {
            st->rejected++;
            return tg_error(TG_ERR_ARG, "sequence has %ld tokens, more than max_len - 2 = %d",
                            total, cap);
        }
        st->truncated++;
        st->truncated_tokens += total - cap;
    }
    ids[1 + n] = t->special[TOK_SEP];
    *n_ids = n + 2;
    st->sequences++;
    st->residues += add.residues;
    st->lowercase += add.lowercase;
    st->masks += add.masks;
    st->unknown += add.unknown;
    for (int k = 0; k < 128; k++)
        st->unknown_char[k] += add.unknown_char[k];
    st->empty += total == 0;
    return TG_OK;
}

int tok_decode(const tok_tokenizer *t, const int32_t *ids, int n, int skip_special, char *buf,
               size_t cap)
{
    size_t k = 0;
    if (cap == 0)
        return tg_error(TG_ERR_SHAPE, "decode buffer has no room");
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n)
            return tg_error(TG_ERR_ARG, "token %d: id %d is outside the vocabulary [0, %d)", i,
                            ids[i], t->n);
        if (skip_special && (ids[i] == t->special[TOK_PAD] || ids[i] == t->special[TOK_CLS] ||
                             ids[i] == t->special[TOK_SEP]))
            continue;
        size_t l = strlen(t->tok[ids[i]]);
        if (k + l + 1 > cap)
            return tg_error(TG_ERR_SHAPE, "decode buffer of %zu bytes too small", cap);
        memcpy(buf + k, t->tok[ids[i]], l + 1);
        k += l;
    }
    return TG_OK;
}

void tok_stats_summary(const tok_stats *st, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%ld sequences, %ld residues (%ld lowercase), %ld [MASK], "
                                        "%ld [UNK]", st->sequences, st->residues, st->lowercase,
                                st->masks, st->unknown);
    const char *sep = " (";
    for (int c = 0; c < 128 && k < n; c++)
        if (st->unknown_char[c]) {
            if (c == 0)
                k += (size_t)snprintf(buf + k, n - k, "%snon-ASCII:%ld", sep, st->unknown_char[c]);
            else if (c > 32 && c < 127)
                k += (size_t)snprintf(buf + k, n - k, "%s%c:%ld", sep, c, st->unknown_char[c]);
            else
                k += (size_t)snprintf(buf + k, n - k, "%s0x%02x:%ld", sep, c, st->unknown_char[c]);
            sep = " ";
        }
    if (k < n && sep[0] == ' ' && sep[1] == 0)
        k += (size_t)snprintf(buf + k, n - k, ")");
    if (k < n)
        snprintf(buf + k, n - k, ", %ld empty, %ld truncated (%ld tokens dropped), %ld rejected",
                 st->empty, st->truncated, st->truncated_tokens, st->rejected);
}

/* ---- Hugging Face files ------------------------------------------------- */


static int save_file(const char *dir, const char *name, st_text *o)
{
    char path[4096];
    if (o->oom)
        return TG_ERR_NOMEM;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return st_atomic_write_buf(path, o->s, o->len);
}

static void put_specials(st_text *o, const tok_tokenizer *t, const char *indent)
{
    (void)t;
    /* Sorted by key: cls, mask, pad, sep, unk. */
    static const int order[TOK_NSPECIAL] = {TOK_CLS, TOK_MASK, TOK_PAD, TOK_SEP, TOK_UNK};
    for (int i = 0; i < TOK_NSPECIAL; i++)
        st_text_printf(o, "%s\"%s\": \"%s\"%s\n", indent, special_keys[order[i]],
            special_names[order[i]], i + 1 < TOK_NSPECIAL ? "," : "");
}

int tok_save(const tok_tokenizer *t, const char *dir, int model_max_length)
{
    st_text o = {0};
    int rc;
    for (int i = 0; i < t->n; i++)
        st_text_printf(&o, "%s\n", t->tok[i]);
    rc = save_file(dir, "vocab.txt", &o);

    o.len = 0;
    st_text_printf(&o, "{}\n");
    if (rc == TG_OK)
        rc = save_file(dir, "added_tokens.json", &o);

    o.len = 0;
    st_text_printf(&o, "{\n");
    put_specials(&o, t, "  ");
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

    /* tokenizer.json for the fast tokenizer: BertNormalizer without
     * lowercasing (what BertTokenizerFast expects for do_lower_case false),
     * whitespace split then one piece per character, WordPiece over the
     * vocabulary (single characters always match whole), [CLS] $A [SEP]. */
    o.len = 0;
    st_text_printf(&o, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
            "  \"added_tokens\": [\n");
    for (int k = 0; k < TOK_NSPECIAL; k++)
        st_text_printf(&o, "    {\"id\": %d, \"content\": \"%s\", \"single_word\": false, \"lstrip\": false, "
                "\"rstrip\": false, \"normalized\": false, \"special\": true}%s\n",
            t->special[k], special_names[k], k + 1 < TOK_NSPECIAL ? "," : "");
    int cls = t->special[TOK_CLS], sep = t->special[TOK_SEP];
    st_text_printf(&o, "  ],\n  \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, "
            "\"handle_chinese_chars\": true, \"strip_accents\": null, \"lowercase\": false},\n"
            "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
            "\"WhitespaceSplit\"}, {\"type\": \"Split\", \"pattern\": {\"Regex\": \".\"}, "
            "\"behavior\": \"Isolated\", \"invert\": false}]},\n"
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
            "    \"vocab\": {",
        cls, sep);
    for (int i = 0; i < t->n; i++)
        st_text_printf(&o, "%s\"%s\": %d", i ? ", " : "", t->tok[i], i);
    st_text_printf(&o, "}}\n}\n");
    if (rc == TG_OK)
        rc = save_file(dir, "tokenizer.json", &o);
    st_text_free(&o);
    return rc;
}

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
            tg_error(TG_ERR_IO, "%s: missing or unreadable (tokenizer directory needs vocab.txt, "
                                "tokenizer_config.json, special_tokens_map.json)", path);
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
        if (v && strcmp(v, special_names[k]) != 0)
            return tg_error(TG_ERR_FORMAT, "%s/%s: \"%s\" is \"%s\"; ablm's tokenizer uses \"%s\"",
                            dir, name, special_keys[k], v, special_names[k]);
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
            tg_error(TG_ERR_IO, "%s: missing or unreadable (tokenizer directory needs vocab.txt, "
                                "tokenizer_config.json, special_tokens_map.json)", path);
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
    return rc == TG_OK ? index_vocab(t, path) : rc;
}

/* tokenizer.json, when present, must agree with vocab.txt. */
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
    if (count != t->n)
        return tg_error(TG_ERR_FORMAT, "%s/tokenizer.json: %d tokens, vocab.txt has %d", dir,
                        count, t->n);
    return TG_OK;
}

int tok_load(const char *dir, tok_tokenizer **out)
{
    *out = NULL;
    tok_tokenizer *t = tg_calloc(1, sizeof *t, "tokenizer");
    if (!t)
        return TG_ERR_NOMEM;
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
    if (rc == TG_OK) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(cfg, "tokenizer_class");
        const cJSON *lower = cJSON_GetObjectItemCaseSensitive(cfg, "do_lower_case");
        if (cls && !(cJSON_IsString(cls) && (strcmp(cls->valuestring, "BertTokenizer") == 0 ||
                                              strcmp(cls->valuestring, "BertTokenizerFast") == 0)))
            rc = tg_error(TG_ERR_FORMAT, "%s/tokenizer_config.json: tokenizer_class must be "
                                         "\"BertTokenizer\" for this vocabulary", dir);
        else if (cJSON_IsTrue(lower))
            rc = tg_error(TG_ERR_FORMAT, "%s/tokenizer_config.json: do_lower_case is true; "
                                         "transformers would lower-case residues into [UNK]",
                          dir);
    }
    if (rc == TG_OK)
        rc = check_specials(cfg, dir, "tokenizer_config.json");
    if (rc == TG_OK)
        rc = check_specials(map, dir, "special_tokens_map.json");
    for (const cJSON *e = added ? added->child : NULL; e && rc == TG_OK; e = e->next)
        if (!cJSON_IsNumber(e) || tok_token_id(t, e->string) != e->valueint)
            rc = tg_error(TG_ERR_FORMAT, "%s/added_tokens.json: \"%s\" is not a vocab.txt token "
                                         "with that id", dir, e->string);
    if (rc == TG_OK && fast)
        rc = check_fast(t, fast, dir);
    cJSON_Delete(cfg);
    cJSON_Delete(map);
    cJSON_Delete(added);
    cJSON_Delete(fast);
    if (rc != TG_OK) {
        tg_free(t);
        return rc;
    }
    *out = t;
    return TG_OK;
}
