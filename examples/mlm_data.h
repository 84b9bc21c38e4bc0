/* Tokenized MLM datasets for `ablm train` and `ablm eval`: one file
 * (plain, FASTA, OAS or AIRR, detected by data/reader) read into token ids,
 * [CLS] residues [SEP] per sequence, truncated to max_seq_length. */
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
    long tokens;    /* non-pad tokens in all sequences */
    long truncated; /* sequences cut to max_seq_length */
    long unknown;   /* residues that became [UNK] */
    char unknown_summary[256];
} mlm_data;

/* Reads path, keeping at most max_samples sequences (< 0: all), truncating
 * each to max_len tokens (its [SEP] kept). A sequence with a character that
 * is neither a letter nor white space is an error naming file and line
 * (letters outside the 20 amino acids become [UNK] and are counted). An
 * empty file is an error. Returns a status; `what` ("train_file", ...)
 * prefixes messages. */
int mlm_data_load(mlm_data *d, const char *path, const char *what, const tok_tokenizer *tok,
                  int max_len, long max_samples);
void mlm_data_free(mlm_data *d);

#endif
