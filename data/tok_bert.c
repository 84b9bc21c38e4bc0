/* BertTokenizer's rules for TOK_LAYOUT_BERT_ADDED, as transformers applies
 * them to the reference's published layout (vocab.txt: the special tokens;
 * added_tokens.json: the residues):
 *
 * 1. The special tokens and the added tokens are split out of the text
 *    first: exact, case-sensitive matches anywhere, a special token (the
 *    longest) winning over a residue letter inside it ("[MASK]" is [MASK],
 *    not [UNK] M A S K [UNK]).
 * 2. Each remaining piece goes through basic tokenization: control
 *    characters (Unicode category C*, U+FFFD) are removed, whitespace
 *    separates words, punctuation (ASCII punctuation and category P*) and
 *    CJK ideographs are words of their own. do_lower_case and strip_accents
 *    are off (tok_load refuses them on).
 * 3. WordPiece over vocab.txt: a word that is a vocab.txt token gives it;
 *    any other word gives ONE [UNK] (vocab.txt has no "##" pieces, so no
 *    word splits further).
 * Non-ASCII classes come from tok_unicode.c. The one deliberate
 * difference: a byte that is not valid UTF-8 (which transformers cannot
 * be given at all) is a word character here. */
#include "tok_internal.h"

#include "tok_unicode.h"

#include <string.h>

/* Class (TOKU_*) of code point cp >= 0x80. */
static int unicode_class(unsigned cp)
{
    size_t lo = 0, hi = toku_nranges;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < toku_ranges[mid].lo)
            hi = mid;
        else if (cp > toku_ranges[mid].hi)
            lo = mid + 1;
        else
            return toku_ranges[mid].cls;
    }
    return TOKU_WORD;
}

/* Class (TOKU_*) of the character at s[0..len) (len >= 1); *step gets its
 * length in bytes; *ascii gets the byte for ASCII, else 0. */
static int char_class(const unsigned char *s, size_t len, size_t *step, int *ascii)
{
    unsigned c = s[0];
    *step = 1;
    *ascii = c < 128 ? (int)c : 0;
    if (c < 128) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            return TOKU_SPACE;
        if (c < 0x20 || c == 0x7f)
            return TOKU_REMOVED;
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
            (c >= 123 && c <= 126))
            return TOKU_PUNCT;
        return TOKU_WORD;
    }
    size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (n == 0 || n > len || c > 0xF4)
        return TOKU_WORD; /* not UTF-8: one word byte */
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return TOKU_WORD;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return TOKU_WORD; /* overlong, out of range or a surrogate */
    *step = n;
    return unicode_class(cp);
}

/* Emits the word made of the non-removed characters of w[0..len): a
 * vocab.txt token if it is one, else one [UNK] with its characters counted. */
static void emit_word(const tok_tokenizer *t, const unsigned char *w, size_t len, int32_t *ids,
                      int cap, int *n, long *total, tok_add *add)
{
    char buf[TOK_LEN];
    size_t bl = 0, step;
    int fits = 1, ascii;
    for (size_t i = 0; i < len; i += step)
        if (char_class(w + i, len - i, &step, &ascii) != TOKU_REMOVED) {
            if (bl + step >= TOK_LEN)
                fits = 0;
            else
                memcpy(buf + bl, w + i, step), bl += step;
        }
    buf[bl] = 0;
    for (int id = 0; fits && id < t->n_base; id++)
        if (strcmp(t->tok[id], buf) == 0) {
            add->residues += bl == 1 && t->by_char[(unsigned char)buf[0]] == id;
            tok_emit(ids, cap, n, total, id);
            return;
        }
    for (size_t i = 0; i < len; i += step)
        if (char_class(w + i, len - i, &step, &ascii) != TOKU_REMOVED) {
            int up = ascii >= 'a' && ascii <= 'z' ? ascii - 32 : ascii;
            add->unknown++;
            add->unknown_char[up]++;
            add->lowercase_unk += up != ascii && t->by_char[up] >= 0;
        }
    add->unk_tokens++;
    tok_emit(ids, cap, n, total, t->special[TOK_UNK]);
}

/* Basic tokenization + WordPiece of a piece without added tokens. */
static void piece_tokens(const tok_tokenizer *t, const unsigned char *s, size_t len,
                         int32_t *ids, int cap, int *n, long *total, tok_add *add)
{
    size_t word = 0, step; /* start of the current word */
    int has_word = 0, ascii;
    for (size_t i = 0; i < len; i += step) {
        int k = char_class(s + i, len - i, &step, &ascii);
        if (k == TOKU_REMOVED) {
            add->removed++;
            continue;
        }
        if (k == TOKU_WORD) {
            if (!has_word)
                word = i, has_word = 1;
            continue;
        }
        if (has_word)
            emit_word(t, s + word, i - word, ids, cap, n, total, add);
        has_word = 0;
        if (k == TOKU_PUNCT || k == TOKU_CJK)
            emit_word(t, s + i, step, ids, cap, n, total, add);
    }
    if (has_word)
        emit_word(t, s + word, len - word, ids, cap, n, total, add);
}

void tok_bert_tokens(const tok_tokenizer *t, const char *seq, size_t len, int32_t *ids, int cap,
                     int *n, long *total, tok_add *add)
{
    const unsigned char *s = (const unsigned char *)seq;
    size_t piece = 0; /* start of the text since the last split-out token */
    for (size_t i = 0; i < len;) {
        size_t k = 1;
        int sp = tok_special_at(seq + i, len - i, &k), id = -1;
        if (sp >= 0)
            id = t->special[sp];
        else if (s[i] < 128 && t->by_char[s[i]] >= t->n_base)
            id = t->by_char[s[i]]; /* an added residue token (upper case only) */
        if (id < 0) {
            i++;
            continue;
        }
        piece_tokens(t, s + piece, i - piece, ids, cap, n, total, add);
        add->masks += sp == TOK_MASK;
        add->residues += sp < 0;
        tok_emit(ids, cap, n, total, id);
        i += k;
        piece = i;
    }
    piece_tokens(t, s + piece, len - piece, ids, cap, n, total, add);
}
