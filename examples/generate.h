/* gen: text generation with a decoder-only GPT-2 (models/gpt2) and its
 * KV cache: one planned step graph per batch, one new token per row per
 * step, so generating L tokens costs L single-token forward passes.
 *
 *   gen_opts o; gen_opts_default(&o); o.do_sample = 1; ...
 *   gen_result r; gen_run(m, &o, n, prompts, plen, batch, &r);
 *   r.tok[i][0..r.len[i]) for sequence i = prompt p * num_return_sequences + k
 *   gen_result_free(&r);
 *
 * Semantics of Hugging Face's generate() for the flags used here: the bad
 * words are masked first, then (sampling) temperature, top-k and top-p
 * filter the logits, in that order, and one token is drawn from the
 * softmax of what is left; greedy takes the first largest logit. A row
 * stops at eos (kept as its last token), after max_new_tokens, or at the
 * model's n_positions. */
#ifndef ABLM_GENERATE_H
#define ABLM_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "gpt2.h"

#define GEN_MAX_BAD 32

typedef struct {
    int max_new_tokens;       /* >= 1 */
    int do_sample;            /* 0: greedy */
    double temperature;       /* > 0 (sampling) */
    int top_k;                /* 0: off; HF's default is 50 */
    double top_p;             /* (0, 1]; 1: off */
    uint64_t seed;            /* sampling: sequence i draws its own stream */
    int num_return_sequences; /* per prompt; > 1 needs do_sample (as HF) */
    int num_beams;            /* 1 only: beam search is not implemented */
    int bad_ids[GEN_MAX_BAD]; /* single-token bad words, never emitted */
    int n_bad;
    int eos_id;               /* -1: none */
    int pad_id;               /* fed to finished rows (never read back) */
} gen_opts;

/* max_new_tokens 128, greedy, temperature 1, top_k 50, top_p 1, seed 42,
 * 1 sequence, 1 beam, bad words [4] (the reference's [[4]]: [MASK]),
 * eos and pad from the model's config (-1 / 0 when null). */
void gen_opts_default(gen_opts *o, const g2_config *c);
/* TG_ERR_ARG naming the option: values out of range, num_beams > 1 ("not
 * implemented yet"), num_return_sequences > 1 without sampling, a bad id
 * outside the vocabulary. */
int gen_opts_check(const gen_opts *o, const g2_config *c);

typedef struct {
    size_t n;         /* prompts * num_return_sequences */
    int32_t **tok;    /* new tokens of sequence i (eos included when emitted) */
    int *len;
    int *hit_eos;     /* 1 when the row stopped at eos */
    int *hit_limit;   /* 1 when the row stopped at n_positions */
} gen_result;

/* Generates for n prompts (prompts[p][0..plen[p]), each starting with the
 * bos id; 1 <= plen[p] <= n_positions) num_return_sequences sequences
 * each, `batch` rows per step graph (the last chunk padded with unused
 * rows). Rows of one chunk feed their prompt one token per step (so
 * prompts of any lengths share the cache positions without padding) and
 * generate once past it. Returns a status; on error r is empty. */
int gen_run(const g2_model *m, const gen_opts *o, size_t n, const int32_t *const *prompts,
            const int *plen, int batch, gen_result *r);
void gen_result_free(gen_result *r);

/* The next token from one row of logits [V] (work: V floats and V ints of
 * scratch): bad ids masked, then greedy argmax, or temperature, top-k,
 * top-p and a draw with u in [0, 1). Exposed for tests. */
int gen_pick(const float *logits, int V, const gen_opts *o, double u, float *work, int *iwork);

#endif
