/* Tokenized MLM datasets for `ablm train` and `ablm eval`: one file
 * (plain, FASTA, OAS or AIRR, detected by data/reader) read into token ids,
 * [CLS] residues [SEP] per sequence, truncated to max_seq_length (run_mlm.py
 * --line_by_line), or all of them concatenated and cut into blocks
 * (run_mlm.py's group_texts, its default). */
#ifndef MLM_DATA_H
#define MLM_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

typedef struct {
    int32_t *ids;   /* all sequences' tokens, back to back */
    size_t *start;  /* sequence i: ids[start[i] .. start[i] + len[i]) */
    int *len;
    long n;
    int32_t pad_id, cls_id, sep_id; /* the tokenizer's, for batching */
    long tokens;    /* non-pad tokens in all sequences */
    long truncated; /* sequences cut to max_seq_length */
    long blank;     /* sequences without a residue (blank lines), dropped */
    long lines;     /* sequences before mlm_data_group (= n when not grouped) */
    long dropped;   /* tokens group_texts dropped (each group's remainder) */
    long unknown;   /* residues that became [UNK] */
    char unknown_summary[256];
} mlm_data;

/* Reads path, keeping at most max_samples sequences (< 0: all), truncating
 * each to max_len tokens (its [SEP] kept; max_len <= 0: no truncation).
 * Sequences with nothing but white space are dropped and counted in
 * d->blank, as run_mlm.py --line_by_line drops empty lines. A sequence with
 * a character that is neither a letter nor white space is an error naming
 * file and line (letters outside the 20 amino acids become [UNK] and are
 * counted). An empty file is an error. Returns a status; `what`
 * ("train_file", ...) prefixes messages. */
int mlm_data_load(mlm_data *d, const char *path, const char *what, const tok_tokenizer *tok,
                  int max_len, long max_samples);
/* The same, reading chain `chain` (an rd_chain: RD_CHAIN_HEAVY as
 * mlm_data_load, RD_CHAIN_LIGHT for the light chains of paired OAS units and
 * light-chain rows of unpaired ones; plain and FASTA files have no chain). */
int mlm_data_load_chain(mlm_data *d, const char *path, const char *what,
                        const tok_tokenizer *tok, int max_len, long max_samples, int chain);
void mlm_data_free(mlm_data *d);

/* Sequences per group_texts call: datasets.map(batched=True)'s batch. */
#define MLM_GROUP_ROWS 1000

/* run_mlm.py's group_texts over d (loaded without truncation): every
 * group_rows consecutive sequences have their tokens ([CLS] ... [SEP]
 * each) concatenated and cut into blocks of `block` tokens; the remainder
 * of each group (total % block) is dropped and counted in d->dropped. The
 * blocks replace the sequences (d->lines keeps the count before). Their
 * [CLS] and [SEP] stay special tokens (never masked). A dataset that
 * yields no block is an error naming `what`. Returns a status. */
int mlm_data_group(mlm_data *d, int block, long group_rows, const char *what);

/* Keeps only the first k sequences (k < 0 or k >= d->n: all of them), as
 * run_mlm.py's max_train_samples / max_eval_samples. */
void mlm_data_head(mlm_data *d, long k);
/* Moves the first k sequences of d into a new dataset `head` (d keeps the
 * rest), as run_mlm.py's validation_split_percentage. Returns a status. */
int mlm_data_split(mlm_data *d, long k, mlm_data *head);

#endif
