/* tok: the residue-level protein tokenizer and its Hugging Face files.
 *
 * Default vocabulary (25 tokens): [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4,
 * then the 20 standard amino acids A C D E F G H I K L M N P Q R S T V W Y
 * as 5..24. A sequence encodes as [CLS] r1 r2 ... rn [SEP], one token per
 * residue.
 *
 * Input rules (tok_encode): whitespace is ignored (so "E V Q L" == "EVQL");
 * lowercase residues are upper-cased; "*" and the literal "[MASK]" give
 * [MASK] (fill-mask input); a literal special token "[UNK]", "[PAD]",
 * "[CLS]", "[SEP]" gives that token; every other character (X, B, Z, U, O,
 * digits, punctuation, a non-ASCII UTF-8 character) becomes one [UNK] and is
 * counted in tok_stats.unknown / unknown_char — never silently.
 * Over-long input is, by the caller's choice, truncated (residues after
 * max_len - 2 are dropped, [SEP] kept, counted) or rejected (TG_ERR_ARG).
 */
#ifndef TOK_TOKENIZER_H
#define TOK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* Ids in the default vocabulary. A loaded vocabulary may order tokens
 * differently: use tok_pad_id() etc. rather than these constants then. */
enum { TOK_PAD = 0, TOK_UNK = 1, TOK_CLS = 2, TOK_SEP = 3, TOK_MASK = 4, TOK_NSPECIAL = 5 };
#define TOK_RESIDUES "ACDEFGHIKLMNPQRSTVWY"
#define TOK_DEFAULT_VOCAB_SIZE 25

typedef struct tok_tokenizer tok_tokenizer;

/* What encoding saw, accumulated over calls (zero-initialise it). */
typedef struct {
    long sequences;         /* tok_encode calls that succeeded */
    long residues;          /* amino-acid tokens emitted */
    long lowercase;         /* of those, given in lowercase */
    long masks;             /* [MASK] tokens ("*" or "[MASK]") */
    long unknown;           /* characters mapped to [UNK] */
    long unknown_char[128]; /* per ASCII character (letters upper-cased); non-ASCII in [0] */
    long empty;             /* sequences without any token between [CLS] and [SEP] */
    long truncated;         /* sequences cut to max_len */
    long truncated_tokens;  /* tokens dropped by truncation */
    long rejected;          /* sequences refused as too long */
} tok_stats;

/* Over-long input handling for tok_encode. */
typedef enum { TOK_REJECT = 0, TOK_TRUNCATE = 1 } tok_overflow;

/* The default 25-token vocabulary. Returns a status; *out owned by caller. */
int tok_new(tok_tokenizer **out);
void tok_free(tok_tokenizer *t);

int tok_vocab_size(const tok_tokenizer *t);
/* Token string of id, or NULL if out of range. */
const char *tok_token(const tok_tokenizer *t, int id);
/* Id of a token string, or -1. */
int tok_token_id(const tok_tokenizer *t, const char *token);
int tok_pad_id(const tok_tokenizer *t);
int tok_unk_id(const tok_tokenizer *t);
int tok_cls_id(const tok_tokenizer *t);
int tok_sep_id(const tok_tokenizer *t);
int tok_mask_id(const tok_tokenizer *t);

/* Encodes seq[0..len) as [CLS] tokens [SEP] into ids (capacity max_len,
 * max_len >= 2); *n_ids gets the count. If more than max_len - 2 tokens
 * result: TOK_TRUNCATE keeps the first max_len - 2 and counts the sequence
 * in st->truncated; TOK_REJECT returns TG_ERR_ARG ("sequence has N tokens,
 * more than max_len - 2 = M"; st->rejected counted) and the caller adds the
 * file/line. st may be NULL. */
int tok_encode(const tok_tokenizer *t, const char *seq, size_t len, int max_len,
               tok_overflow policy, int32_t *ids, int *n_ids, tok_stats *st);

/* Decodes ids to a string in buf (capacity cap, NUL-terminated): residues
 * as letters without separators, special tokens as "[MASK]" etc.; with
 * skip_special, [PAD], [CLS] and [SEP] are left out. TG_ERR_ARG for an id
 * outside the vocabulary, TG_ERR_SHAPE if buf is too small. */
int tok_decode(const tok_tokenizer *t, const int32_t *ids, int n, int skip_special, char *buf,
               size_t cap);

/* One line summary of st, e.g. "1000 sequences, 118000 residues, 12 [UNK]
 * (X:10 B:2), 3 truncated (40 tokens dropped)". */
void tok_stats_summary(const tok_stats *st, char *buf, size_t n);

/* Writes the Hugging Face tokenizer files into dir (which must exist):
 * vocab.txt, added_tokens.json, special_tokens_map.json,
 * tokenizer_config.json (tokenizer_class "BertTokenizer", do_lower_case
 * false, model_max_length) and tokenizer.json (fast tokenizer that splits
 * every character). Each file atomically. */
int tok_save(const tok_tokenizer *t, const char *dir, int model_max_length);

/* Loads the tokenizer from a directory written by tok_save or by
 * transformers (vocab.txt, tokenizer_config.json, special_tokens_map.json
 * required; added_tokens.json and tokenizer.json checked if present).
 * Errors name the file (and line for vocab.txt): TG_ERR_IO for a missing
 * file, TG_ERR_FORMAT for a garbled one or a vocabulary ablm cannot encode
 * with (tokens must be the five specials and single residue letters). */
int tok_load(const char *dir, tok_tokenizer **out);

#endif
