/* Residue tokenizer: vocabulary, encoding with ablm's rules, decoding and the
 * statistics summary. BertTokenizer rules: tok_bert.c; files: tok_files.c. */
#define _POSIX_C_SOURCE 200809L
#include "tok_internal.h"

#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const tok_special_names[TOK_NSPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                     "[MASK]"};

int tok_index_vocab(tok_tokenizer *t, const char *where)
{
    for (int i = 0; i < 128; i++)
        t->by_char[i] = -1;
    for (int s = 0; s < TOK_NSPECIAL; s++)
        t->special[s] = -1;
    for (int i = 0; i < t->n; i++) {
        const char *s = t->tok[i];
        int known = 0;
        for (int k = 0; k < TOK_NSPECIAL; k++)
            if (strcmp(s, tok_special_names[k]) == 0) {
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
                            where, tok_special_names[k]);
    return TG_OK;
}

int tok_new(tok_tokenizer **out)
{
    *out = NULL;
    tok_tokenizer *t = tg_calloc(1, sizeof *t, "tokenizer");
    if (!t)
        return TG_ERR_NOMEM;
    for (int i = 0; i < TOK_NSPECIAL; i++)
        strcpy(t->tok[t->n++], tok_special_names[i]);
    for (const char *r = TOK_RESIDUES; *r; r++) {
        t->tok[t->n][0] = *r;
        t->n++;
    }
    t->n_base = t->n;
    t->layout = TOK_LAYOUT_ABLM;
    int rc = tok_index_vocab(t, "default vocabulary");
    if (rc != TG_OK) {
        tg_free(t);
        return rc;
    }
    *out = t;
    return TG_OK;
}

void tok_free(tok_tokenizer *t) { tg_free(t); }
int tok_vocab_size(const tok_tokenizer *t) { return t->n; }
tok_layout tok_get_layout(const tok_tokenizer *t) { return t->layout; }
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

int tok_special_at(const char *s, size_t len, size_t *k)
{
    if (len == 0 || s[0] != '[')
        return -1;
    for (int i = 0; i < TOK_NSPECIAL; i++) {
        size_t kl = strlen(tok_special_names[i]);
        if (len >= kl && memcmp(s, tok_special_names[i], kl) == 0) {
            *k = kl;
            return i;
        }
    }
    return -1;
}

/* Length of a UTF-8 character starting with byte c (1 for stray bytes). */
static size_t utf8_len(unsigned char c)
{
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

/* ablm's rules (TOK_LAYOUT_ABLM; see tokenizer.h), appending as tok_emit. */
static void ablm_tokens(const tok_tokenizer *t, const char *seq, size_t len, int32_t *ids,
                        int cap, int *n, long *total, tok_add *add)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)seq[i];
        int id, sp;
        size_t step = 1;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            i++;
            continue;
        }
        if (c == '*') {
            id = t->special[TOK_MASK];
            add->masks++;
        } else if ((sp = tok_special_at(seq + i, len - i, &step)) >= 0) {
            id = t->special[sp];
            add->masks += sp == TOK_MASK;
        } else if (c < 128) {
            int up = c >= 'a' && c <= 'z' ? c - 32 : c;
            id = t->by_char[up];
            if (id >= 0) {
                add->residues++;
                add->lowercase += up != c;
            } else {
                id = t->special[TOK_UNK];
                add->unknown++;
                add->unk_tokens++;
                add->unknown_char[up]++;
            }
        } else {
            step = utf8_len(c);
            if (step > len - i)
                step = len - i;
            id = t->special[TOK_UNK];
            add->unknown++;
            add->unk_tokens++;
            add->unknown_char[0]++;
        }
        i += step;
        tok_emit(ids, cap, n, total, id);
    }
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
    tok_add add;
    memset(&add, 0, sizeof add);
    int cap = max_len - 2, n = 0;
    long total = 0;
    ids[0] = t->special[TOK_CLS];
    if (t->layout == TOK_LAYOUT_BERT_ADDED)
        tok_bert_tokens(t, seq, len, ids, cap, &n, &total, &add);
    else
        ablm_tokens(t, seq, len, ids, cap, &n, &total, &add);
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
    st->unk_tokens += add.unk_tokens;
    st->lowercase_unk += add.lowercase_unk;
    st->removed += add.removed;
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
                                st->masks, st->unk_tokens);
    if (k < n && st->unk_tokens != st->unknown)
        k += (size_t)snprintf(buf + k, n - k, " from %ld characters", st->unknown);
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
    if (k < n && st->lowercase_unk)
        k += (size_t)snprintf(buf + k, n - k, ", %ld lowercase residue letters made [UNK] "
                              "(BertTokenizer rules, do_lower_case false: write residues in "
                              "upper case)", st->lowercase_unk);
    if (k < n && st->removed)
        k += (size_t)snprintf(buf + k, n - k, ", %ld control characters removed", st->removed);
    if (k < n)
        snprintf(buf + k, n - k, ", %ld empty, %ld truncated (%ld tokens dropped), %ld rejected",
                 st->empty, st->truncated, st->truncated_tokens, st->rejected);
}
