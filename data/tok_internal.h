/* The tokenizer's representation, shared by tokenizer.c (vocabulary and
 * ablm's own rules), tok_bert.c (BertTokenizer rules) and tok_files.c (the
 * Hugging Face files). Not for use outside data/tok*.c. */
#ifndef TOK_INTERNAL_H
#define TOK_INTERNAL_H

#include "tokenizer.h"

#define TOK_MAX_VOCAB 64
#define TOK_LEN 16

extern const char *const tok_special_names[TOK_NSPECIAL];

struct tok_tokenizer {
    int n;                /* all tokens, ids 0..n-1 */
    int n_base;           /* of those, the vocab.txt (WordPiece) tokens 0..n_base-1; the rest
                           * are added tokens (added_tokens.json); n_base == n in ablm's layout */
    tok_layout layout;
    char tok[TOK_MAX_VOCAB][TOK_LEN];
    int special[TOK_NSPECIAL]; /* ids of [PAD], [UNK], [CLS], [SEP], [MASK] */
    int by_char[128];          /* upper-case residue letter -> id, else -1 */
};

/* Builds special[] and by_char[] from tok[0..n); TG_ERR_FORMAT naming
 * `where` (and the line of a bad token) if the vocabulary cannot be used. */
int tok_index_vocab(tok_tokenizer *t, const char *where);

/* Per-sequence counts before they are committed to a tok_stats. */
typedef tok_stats tok_add;

/* Appends id to ids[1..cap] (capacity cap tokens after [CLS]) counting
 * every token in *total. */
static inline void tok_emit(int32_t *ids, int cap, int *n, long *total, int id)
{
    (*total)++;
    if (*n < cap)
        ids[1 + (*n)++] = id;
}

/* The special token spelled at s[0..len) ("[MASK]" etc., case-sensitive),
 * or -1; *k gets its length. */
int tok_special_at(const char *s, size_t len, size_t *k);

/* BertTokenizer rules (tok_bert.c): tokens of seq[0..len) appended as
 * tok_emit does, counts in *add. */
void tok_bert_tokens(const tok_tokenizer *t, const char *seq, size_t len, int32_t *ids, int cap,
                     int *n, long *total, tok_add *add);

#endif
