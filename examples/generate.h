/* gen: generation over any decoder with a KV cache, through gen_model: a
 * step graph of `rows` rows fed one token per row per step, so generating
 * L tokens costs L single-token forward passes. examples/gen_gpt2.c adapts
 * a decoder-only GPT-2 (models/gpt2); an encoder-decoder adapter conditions
 * each row on a source (the encoder's output) and feeds the decoder.
 *
 *   gen_model gm; gen_gpt2_new(m, rows, max_len, &gm);
 *   gen_opts o; gen_opts_default(&o, eos, pad); o.num_beams = 5; ...
 *   gen_result r; gen_run(&gm, &o, n, prefixes, plen, &r);
 *   r.tok[i][0..r.len[i]) for sequence i = source p * num_return_sequences + k
 *   gen_result_free(&r); gen_gpt2_free(&gm);
 *
 * Semantics of Hugging Face's generate() for the flags used here:
 * - greedy / sampling: the bad words are masked first, then (sampling)
 *   temperature, top-k and top-p filter the logits, in that order, and one
 *   token is drawn from the softmax of what is left; greedy takes the first
 *   largest logit.
 * - beam search (num_beams > 1; BeamSearchScorer): per source num_beams
 *   rows; each step log-softmax of the logits, bad words set to -inf, the
 *   Hamming diversity penalty (groups > 0), plus the beam's running score;
 *   the 2 * group_size best candidates of a group in order; an eos
 *   candidate among the first group_size closes a hypothesis scored
 *   sum_logprobs / new_tokens^length_penalty (new tokens incl. eos), the
 *   others continue the group's beams; HF's is_done rule per group; at the
 *   length limit the open beams become hypotheses; the best
 *   num_return_sequences hypotheses of all groups, best first.
 * A row stops at eos (kept as its last token), after max_new_tokens, or at
 * the model's max_len positions. */
#ifndef ABLM_GENERATE_H
#define ABLM_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "gpt2.h"

/* A decoder under generation. The caller's sources are indexed 0..n-1. */
typedef struct gen_model {
    void *ctx;
    int vocab_size;   /* logits width */
    int max_len;      /* decoder positions available */
    int rows;         /* rows per step (the step graph's batch) */
    /* Starts a chunk: row r conditions on source src[r] (an index into the caller's sources,
       -1 = unused row); clears the cache (decoder-only: the prompt is fed through step). */
    int (*begin)(void *ctx, const int *src);
    /* Feeds tok[r] at decoder position pos to every row; *logits: [rows, vocab_size], valid
       until the next call. */
    int (*step)(void *ctx, const int32_t *tok, int pos, const float **logits);
    /* Beam search: row r's cache (positions < pos) becomes old row from[r]'s. */
    int (*reorder)(void *ctx, const int *from, int pos);
    /* gen_run's guarantees to an adapter: in a chunk the rows of one source are adjacent
       (beam search: num_beams rows per source, all with the same src); from[r] is always a
       row of the same source as r (from[r] == r for rows that keep their history), so
       per-source state (an encoder's output, cross-attention k|v) never moves; pos runs
       0, 1, 2, ... from begin, one step per call, and reorder follows the step at pos - 1. */
} gen_model;

/* A decoder-only GPT-2 as a gen_model: a KV cache of rows x max_len
 * (1..n_positions) and its step graph; begin ignores the sources (the
 * prompt is the prefix), reorder copies cache rows. m must outlive gm. */
int gen_gpt2_new(const g2_model *m, int rows, int max_len, gen_model *out);
void gen_gpt2_free(gen_model *gm);

#define GEN_MAX_BAD 32

/* early_stopping as HF: false (heuristic from the current length), true
 * (stop once num_beams hypotheses are done), "never" (the best attainable
 * score from max_length when length_penalty > 0). */
enum { GEN_EARLY_FALSE = 0, GEN_EARLY_TRUE = 1, GEN_EARLY_NEVER = 2 };

typedef struct {
    int max_new_tokens;       /* >= 1 */
    int do_sample;            /* 0: greedy (or beam search) */
    double temperature;       /* > 0 (sampling) */
    int top_k;                /* 0: off; HF's default is 50 */
    double top_p;             /* (0, 1]; 1: off */
    uint64_t seed;            /* sampling: sequence i draws its own stream */
    int num_return_sequences; /* per source; > 1 needs sampling or <= num_beams */
    int num_beams;            /* 1: greedy / sampling; > 1 beam search (not with sampling) */
    int num_beam_groups;      /* diverse beam search: divides num_beams */
    double diversity_penalty; /* > 0 with groups > 1 (HammingDiversityLogitsProcessor) */
    double length_penalty;    /* beam score = sum logprob / new_tokens^length_penalty */
    int early_stopping;       /* GEN_EARLY_* */
    int bad_ids[GEN_MAX_BAD]; /* single-token bad words, never emitted */
    int n_bad;
    int eos_id;               /* -1: none */
    int pad_id;               /* fed to finished rows (never read back) */
} gen_opts;

/* max_new_tokens 128, greedy, temperature 1, top_k 50, top_p 1, seed 42,
 * 1 sequence, 1 beam, 1 group, diversity 0, length_penalty 1,
 * early_stopping false, bad words [4] (the reference's [[4]]: [MASK]),
 * eos_id (-1: none) and pad_id (< 0: 0). */
void gen_opts_default(gen_opts *o, int eos_id, int pad_id);
/* TG_ERR_ARG naming the option: values out of range, sampling with beams
 * (HF's beam-sample is not implemented), num_beams not divisible by
 * num_beam_groups, groups without a positive diversity_penalty (or a
 * penalty without groups), num_return_sequences > 1 with greedy or >
 * num_beams, a bad id outside the vocabulary. */
int gen_opts_check(const gen_opts *o, int vocab_size);

typedef struct {
    size_t n;         /* sources * num_return_sequences */
    int32_t **tok;    /* new tokens of sequence i (eos included when emitted) */
    int *len;
    int *hit_eos;     /* 1 when the row stopped at eos */
    int *hit_limit;   /* 1 when the row stopped at the model's max_len */
    double *score;    /* beam search: the hypothesis score; else 0 */
} gen_result;

/* Generates for n sources num_return_sequences sequences each, after the
 * decoder prefixes prefix[p][0..plen[p]) (decoder-only: the prompt from
 * bos; encoder-decoder: [decoder_start]; 1 <= plen[p] <= gm->max_len), in
 * chunks of gm->rows rows (beam search: gm->rows / num_beams sources per
 * chunk, so rows >= num_beams), the last chunk padded with unused rows
 * (source -1). Rows of one chunk feed their prefix one token per step (so
 * prefixes of any lengths share the cache positions without padding) and
 * generate once past it. Returns a status; on error r is empty. */
int gen_run(const gen_model *gm, const gen_opts *o, size_t n, const int32_t *const *prefix,
            const int *plen, gen_result *r);
void gen_result_free(gen_result *r);

/* gen_run by beam search even with num_beams 1 (the beam search of HF
 * with one beam, which equals greedy; for tests). */
int gen_run_beams(const gen_model *gm, const gen_opts *o, size_t n, const int32_t *const *prefix,
                  const int *plen, gen_result *r);
/* gen_run's beam search (examples/gen_beam.c) into r as gen_run allocated
 * it; o checked, rows >= num_beams. */
int gen_beam_run(const gen_model *gm, const gen_opts *o, size_t n, const int32_t *const *prefix,
                 const int *plen, gen_result *r);

/* Cache positions a run needs: the longest prefix + max_new_tokens - 1
 * (every token fed but the last new one). */
long gen_positions(const gen_opts *o, size_t n, const int *plen);
/* Rows of a step graph for `batch` sequences (sampling, greedy) or
 * `batch` sources (beam search: batch * num_beams), capped at what n
 * sources need. */
int gen_rows(const gen_opts *o, size_t n, int batch);

/* gen_run over GPT-2 m: an adapter of gen_rows(o, n, batch) rows and
 * min(gen_positions, n_positions) positions, freed after. */
int gen_run_gpt2(const g2_model *m, const gen_opts *o, size_t n, const int32_t *const *prompts,
                 const int *plen, int batch, gen_result *r);

/* The next token from one row of logits [V] (work: V floats and V ints of
 * scratch): bad ids masked, then greedy argmax, or temperature, top-k,
 * top-p and a draw with u in [0, 1). Exposed for tests. */
int gen_pick(const float *logits, int V, const gen_opts *o, double u, float *work, int *iwork);

/* out[v] = logits[v] - logsumexp(logits) in float, the sum in double
 * (torch's log_softmax up to rounding). */
void gen_log_softmax(const float *logits, int V, float *out);

#endif
