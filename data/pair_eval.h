/* pe: evaluation of generated light chains against the true ones (the
 * heavy-to-light model's metrics and its baselines).
 *
 * Alignment: Biopython's pairwise2.align.globalds(true, generated,
 * BLOSUM62, -10, -4) as the reference evaluation calls it, reproduced
 * exactly:
 *   - both chains are cleaned first: upper-cased, every byte outside the 20
 *     standard amino acids removed (X, '*', '-', ... are dropped, as the
 *     reference does before aligning);
 *   - global alignment, end gaps penalised; a gap of length L costs
 *     open + (L-1)*extend = -10 - 4(L-1) (penalize_extend_when_opening off);
 *   - score = the optimal global score (an integer here);
 *   - the alignment is the FIRST one pairwise2 returns (its Gotoh fill with
 *     one combined score matrix and trace flags, and its stack-based
 *     traceback: flags tried in the order gap-in-true open, match, gap-in-
 *     generated open, extensions, alternatives pushed and popped LIFO, a gap
 *     in the true chain never directly after a gap in the generated one).
 *     Co-optimal alignments can differ in their identical columns, so this
 *     choice is part of the metric;
 *   - identity = 100 * (columns where both residues are equal and not gaps)
 *     / max(cleaned true length, cleaned generated length): the reference's
 *     "similarity percentage", not MMseqs2's matches / alignment columns.
 * A chain that is empty after cleaning (pairwise2 returns no alignment and
 * the reference raises) is scored here as the all-gap alignment:
 * score -10 - 4(L-1) for the other chain's length L (0 if both are empty),
 * identity 0.
 *
 * Regions: the true chain's regions (fwr1, cdr1, ..., fwr4) are projected
 * onto the generated chain through the full alignment: a generated residue
 * belongs to the region of the true residue it is aligned with, and one
 * aligned to a gap to the region of the next true residue (after the last
 * true residue: fwr4). Each region is then scored as its own pair of
 * strings with the same alignment and identity.
 */
#ifndef ABLM_PAIR_EVAL_H
#define ABLM_PAIR_EVAL_H

#include "pairs.h"

#include <stddef.h>
#include <stdint.h>

#define PE_GAP_OPEN (-10)
#define PE_GAP_EXTEND (-4)
/* Longest chain pe_align takes (the trace matrix is (n+1)^2 bytes). */
#define PE_MAX_LEN 8000

/* Buffers of one thread's alignments; zero-initialise, free with pe_ws_free. */
typedef struct {
    int32_t *S;
    uint8_t *T;
    char *a, *b;       /* alignment rows (reversed while tracing) */
    char *ca, *cb;     /* cleaned inputs */
    uint8_t *codes;
    int32_t *col;
    struct pe_frame *stack;
    char *pool;
    size_t S_cap, T_cap, a_cap, b_cap, ca_cap, cb_cap, codes_cap, col_cap, stack_cap, pool_cap;
    size_t stack_n, pool_n;
} pe_ws;

void pe_ws_free(pe_ws *ws);

typedef struct {
    int score;
    int matches;          /* identical aligned residues */
    int len_true, len_gen; /* cleaned lengths */
    double identity;      /* 100 * matches / max(len_true, len_gen); 0 if both empty */
    const char *aln_true, *aln_gen; /* the alignment rows ('-' = gap), NUL-terminated, valid
                                       until the next call with ws; NULL from pe_score */
    int aln_len;
} pe_result;

/* Cleans s[0..n) into out (upper-cased, only ACDEFGHIKLMNPQRSTVWY kept;
 * out holds n + 1 bytes); returns the new length. */
int pe_clean(const char *s, int n, char *out);

/* Aligns the true chain t and the generated chain g (cleaned first) as
 * described above. Returns TG_OK, TG_ERR_ARG (a cleaned chain longer than
 * PE_MAX_LEN) or TG_ERR_NOMEM. */
int pe_align(pe_ws *ws, const char *t, int tn, const char *g, int gn, pe_result *out);

/* The score alone (same value as pe_align's, linear memory): out->score,
 * lengths; identity and rows are not computed (0 / NULL). */
int pe_score(pe_ws *ws, const char *t, int tn, const char *g, int gn, pe_result *out);

/* Per-region results of one generated chain against a true pair. */
typedef struct {
    int ok;                       /* 0: the pair's regions do not spell its light chain */
    pe_result r[PR_N_REGIONS];    /* score, identity, lengths (rows not kept) */
    int gen_start[PR_N_REGIONS], gen_end[PR_N_REGIONS]; /* the generated region, [start, end)
                                                          in the cleaned generated chain */
} pe_regions;

/* The true regions of p as cleaned strings into reg[k] (each buffer of
 * p->light_len + 1 bytes): 1 when they spell the cleaned light chain
 * (fwr4 taken as the rest when the input has no fwr4 column), else 0. */
int pe_true_regions(const pr_pair *p, char *reg[PR_N_REGIONS]);

/* Projects the regions through full (pe_align of p's light chain against
 * the generated chain, rows kept) and scores each region. full's rows must
 * still be valid: call right after pe_align with another ws2 for the
 * region alignments. Returns a status; out->ok = 0 when p has no usable
 * regions. */
int pe_align_regions(pe_ws *ws2, const pr_pair *p, const pe_result *full, pe_regions *out);

/* ---- locus of a chain ----------------------------------------------------
 * Rule: a presence-only naive Bayes over distinct 4-mers of the cleaned
 * chain, trained on the training light chains of known locus:
 *   logit = log(nK / nL) + sum over the chain's distinct 4-mers w of
 *           log((cK(w) + 1) / (nK + 2)) - log((cL(w) + 1) / (nL + 2))
 * (cX(w): training chains of locus X containing w, nX: training chains of
 * locus X); IGK when logit > 0, IGL when < 0, "" when 0 or untrained. */
typedef struct {
    uint32_t *ck, *cl; /* 20^4 counts each */
    size_t nk, nl;
} pe_locus_model;

int pe_locus_train(pe_locus_model *m, const pr_set *train);
const char *pe_locus_predict(const pe_locus_model *m, const char *s, int n);
void pe_locus_free(pe_locus_model *m);

/* ---- baselines from the training pairs --------------------------------- */
typedef struct {
    const char *most_common;      /* the most frequent training light chain (ties: first seen) */
    size_t most_common_count;
    const char *most_common_k, *most_common_l; /* the same among IGK / IGL chains (NULL: none) */
    const char *medoid;           /* of a sample: the member with the highest sum of scores */
    size_t medoid_sample;         /* its size */
    char *owned;
} pe_baselines;

/* Computes the constant baselines: sample = the medoid sample size (the
 * first min(sample, n) training pairs after a seeded shuffle). Returns a
 * status. */
int pe_baselines_build(pe_baselines *b, const pr_set *train, size_t sample, uint64_t seed,
                       int threads);
void pe_baselines_free(pe_baselines *b);

/* Nearest training heavy chain of each query heavy chain: candidates are
 * the training chains sharing the most distinct 5-mers that occur in at
 * most max_postings training chains (all 5-mers when the query has no such
 * 5-mer), the top `cand` of them re-ranked by pe_score (global BLOSUM62
 * score); ties: lower training index. nearest[i] gets the index into
 * train. */
int pe_nearest_heavy(const pr_set *train, const pr_set *query, int cand, int max_postings,
                     int threads, size_t *nearest);

/* ---- one system's predictions over the test pairs ------------------------
 * A "system" is a model's generated chains or a baseline's: one predicted
 * light chain per test pair (NULL: none for that pair, the pair is left out
 * of this system's means and counted). */
typedef struct {
    const char *name;
    const char *const *chain;     /* [test->n], set by the caller */
    /* filled by pe_eval_system (per pair: [test->n]) */
    int *score;                   /* BLOSUM62 global score */
    double *identity;             /* percent */
    const char **locus;           /* the rule's locus of the predicted chain ("" unknown) */
    double *region_identity;      /* [test->n * 7]; -1 where not evaluated */
    int *region_score;            /* [test->n * 7] */
    size_t n;                     /* pairs evaluated (with a prediction) */
    double mean_score, mean_identity, median_identity;
    size_t locus_pairs, locus_agree; /* pairs with a known true and predicted locus; agreeing */
    size_t region_pairs[PR_N_REGIONS];
    double region_mean_score[PR_N_REGIONS], region_mean_identity[PR_N_REGIONS];
} pe_system;

/* Aligns every pair's prediction against its true light chain (pe_align),
 * with regions where the pair has them, the locus rule (lm may be NULL:
 * loci ""), and the means. Parallel over pairs (threads 0: tg_threads()).
 * Returns a status. */
int pe_eval_system(pe_system *s, const pr_set *test, const pe_locus_model *lm, int threads);
void pe_system_free(pe_system *s);
/* Adds the system's summary to obj (numbers only, no NaN: means of no
 * pairs are null). */
void pe_system_to_json(const pe_system *s, cJSON *obj);

/* ---- predictions files ------------------------------------------------------
 * Generated light chains matched to test pairs by id: FASTA (`ablm
 * generate` output: >ID, or >ID_N with --num_return_sequences > 1) or a
 * TSV/CSV with a header naming an id column (id, sequence_id) and a chain
 * column (sequence, light, generated, sequence_alignment_aa_light). A
 * prediction whose id is a test id belongs to that pair; otherwise, when the
 * id ends in _N (digits) and the rest is a test id, to that pair. Each pair
 * takes its first prediction in file order; later ones for the same pair
 * are counted (extra), ids matching no pair are counted (unmatched). */
typedef struct {
    char **chain;      /* [test->n]: the pair's generated chain (owned), NULL when none */
    size_t read, matched, extra, unmatched;
    char first_unmatched[128];
} pe_predictions;

/* Reads path for the pairs of test. Bad input (no id or chain column, a
 * wrong field count, a character that is not a residue) is an error naming
 * file and line. Returns a status. */
int pe_read_predictions(const char *path, const pr_set *test, pe_predictions *out);
void pe_predictions_free(pe_predictions *p, size_t n);

#endif
