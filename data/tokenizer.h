/* tok: the residue-level protein tokenizer and its Hugging Face files.
 *
 * Default vocabulary (25 tokens): [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4,
 * then the 20 standard amino acids A C D E F G H I K L M N P Q R S T V W Y
 * as 5..24. A sequence encodes as [CLS] tokens [SEP].
 *
 * Two layouts, and the rules follow the layout (docs/checkpoints.md):
 *
 * TOK_LAYOUT_ABLM (tok_new, and a vocab.txt that lists the residues):
 * ablm's rules. Whitespace is ignored (so "E V Q L" == "EVQL"); lowercase
 * residues are upper-cased (counted in lowercase); "*" and the literal
 * "[MASK]" give [MASK]; a literal "[UNK]", "[PAD]", "[CLS]", "[SEP]" gives
 * that token; every other character (X, B, Z, U, O, digits, punctuation, a
 * control character, a non-ASCII UTF-8 character) becomes one [UNK].
 *
 * TOK_LAYOUT_BERT_ADDED (vocab.txt holds only special tokens and
 * added_tokens.json adds the residues, as the reference's published
 * BertTokenizer): transformers' rules, giving its ids. The special tokens
 * and the added tokens are split out first (exact, case-sensitive, anywhere
 * in the text); the rest goes through BertTokenizer's basic tokenization
 * (control characters removed, split at whitespace and punctuation, a CJK
 * character alone) and WordPiece over vocab.txt: a word that is not a
 * vocab.txt token becomes ONE [UNK]. So "EVQL" -> E V Q L, "EVXXQL" ->
 * E V [UNK] Q L, lowercase "evql" -> one [UNK], "*" -> [UNK].
 *
 * In both, every character that ends up in an [UNK] is counted in
 * tok_stats (unknown, unknown_char[]) — never silently.
 * Over-long input is, by the caller's choice, truncated (tokens after
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

/* Which files a tokenizer came from, and so which rules it encodes with. */
typedef enum {
    TOK_LAYOUT_ABLM = 0,      /* residues in vocab.txt; ablm's rules */
    TOK_LAYOUT_BERT_ADDED = 1 /* residues in added_tokens.json; BertTokenizer's rules */
} tok_layout;

/* What encoding saw, accumulated over calls (zero-initialise it). */
typedef struct {
    long sequences;         /* tok_encode calls that succeeded */
    long residues;          /* amino-acid tokens emitted */
    long lowercase;         /* of those, given in lowercase (ablm's rules) */
    long masks;             /* [MASK] tokens ("*" or "[MASK]") */
    long unknown;           /* characters that went into [UNK] tokens */
    long unknown_char[128]; /* per ASCII character (letters upper-cased); non-ASCII in [0] */
    long unk_tokens;        /* [UNK] tokens those gave (BertTokenizer rules: one per word) */
    long lowercase_unk;     /* lowercase residue letters in [UNK] words (BertTokenizer rules) */
    long removed;           /* control characters dropped (BertTokenizer rules) */
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
tok_layout tok_get_layout(const tok_tokenizer *t);
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

/* Writes the Hugging Face tokenizer files into dir (which must exist), in
 * the tokenizer's layout, each file atomically:
 * - TOK_LAYOUT_ABLM: vocab.txt (all tokens), added_tokens.json {},
 *   special_tokens_map.json, tokenizer_config.json (BertTokenizer,
 *   do_lower_case false, model_max_length) and a tokenizer.json whose fast
 *   tokenizer applies ablm's rules (upper-cases residues, one token per
 *   character).
 * - TOK_LAYOUT_BERT_ADDED: vocab.txt (the vocab.txt tokens only),
 *   added_tokens.json (the added tokens with their ids), the same
 *   special_tokens_map.json / tokenizer_config.json (do_basic_tokenize
 *   true) and the tokenizer.json transformers' BertTokenizerFast would
 *   build from them (BertNormalizer, BertPreTokenizer, WordPiece).
 * transformers and tok_load both read either. */
int tok_save(const tok_tokenizer *t, const char *dir, int model_max_length);

/* Loads the tokenizer from a directory written by tok_save or by
 * transformers (vocab.txt, tokenizer_config.json, special_tokens_map.json
 * required; added_tokens.json read and tokenizer.json checked if present).
 * Errors name the file (and line for vocab.txt): TG_ERR_IO for a missing
 * file, TG_ERR_FORMAT for a garbled one, settings ablm does not reproduce,
 * or a vocabulary that cannot encode the 20 residues (e.g. vocab.txt with
 * only the special tokens and no added_tokens.json). */
int tok_load(const char *dir, tok_tokenizer **out);

#endif
