/* lk (functions keep the sp_ prefix of split.h, which includes this):
 * the leakage report, how close the validation and test sequences are to
 * the training set.
 *
 * For a query sequence, its nearest training sequence is the one with the
 * highest identity under the pair relation of split.h (sp_pair_identity:
 * one local alignment, the later sequence of the input as the query,
 * identity = matches / columns, counted only when the coverage holds, else
 * 0). Exact search: every train sequence is aligned unless an exact bound
 * proves it cannot reach the best identity found so far (first a count of
 * shared 3-mers, proof at need_3mers in leakage.c, useful above identity
 * 2/3; then sp_pair_may_pass); a few train sequences sharing the most
 * 3-mers are aligned first so that the bound starts high.
 *
 *   sp_leak_opts o; sp_leak_opts_default(&o);
 *   sp_leakage(seqs, lens, set, n, SP_VAL, &o, &leak);   // distribution
 *   sp_leak_check(seqs, lens, set, n, 0.7, &o, &chk);    // any pair >= T?
 */
#ifndef ABLM_LEAKAGE_H
#define ABLM_LEAKAGE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef enum {
    SP_LEAK_EXACT,  /* every sequence of the set, exact nearest */
    SP_LEAK_SAMPLE, /* a seeded sample of the set, exact nearest of each */
    SP_LEAK_INDEX   /* a seeded sample, nearest among the `candidates` train
                     * sequences sharing the most distinct 3-mers (the
                     * estimate of earlier versions; recall measured) */
} sp_leak_mode;

typedef struct {
    size_t sample;      /* sequences per set in the sample modes (200); 0: no report */
    uint64_t seed;      /* sample seed (42) */
    double coverage;    /* the pair's coverage (0.8) */
    int cov_mode;       /* 0 both sequences, 1/2 either (split.h), default 0 */
    int candidates;     /* > 0: SP_LEAK_INDEX with this many candidates; 0 (default): exact */
    double max_pairs;   /* exact over every sequence when set size x train size <= this
                         * (default 2e8), else SP_LEAK_SAMPLE */
    int worst;          /* closest pairs listed (default 10, at most SP_LEAK_WORST) */
    int bound3;         /* 1 (default): the shared-3-mer bound before sp_pair_may_pass;
                         * 0: that one alone (same results, for measuring) */
    int progress;
} sp_leak_opts;
void sp_leak_opts_default(sp_leak_opts *o);

#define SP_LEAK_WORST 100
typedef struct {
    uint32_t query, train; /* sequence indices; train = UINT32_MAX if none covers */
    double identity;
} sp_leak_pair;

typedef struct {
    sp_leak_mode mode;
    size_t n_set;         /* sequences in the set */
    size_t n;             /* of those, queried (all in SP_LEAK_EXACT) */
    size_t n_train;
    double median, p95, max;
    double frac_ge[3];    /* fraction of queried with identity >= 0.5, 0.7, 0.9 */
    sp_leak_pair worst[SP_LEAK_WORST]; /* the closest queried sequences, identity descending
                                        * (ties: query index) */
    int n_worst;
    double recall;        /* SP_LEAK_INDEX: fraction of the sample whose index nearest has
                           * the exact nearest identity; -1 otherwise */
    size_t alignments, bounded; /* pairs aligned / skipped by the exact bounds */
    size_t bounded3;      /* of the bounded, those the 3-mer count bound skipped */
    double seconds;
} sp_leak;

/* Nearest training sequence (set[i] == SP_TRAIN) of the sequences of set
 * `which`, per o->mode as above; the distribution, the closest pairs and
 * the counts into *out. Parallel (OpenMP); the result does not depend on
 * the thread count. Returns a status. */
int sp_leakage(const char *const *seqs, const int *lens, const uint8_t *set, size_t n,
               int which, const sp_leak_opts *o, sp_leak *out);
/* Adds l to obj (the closest pairs by sequence index). */
void sp_leak_to_json(const sp_leak *l, cJSON *obj);
/* sp_leak_to_json with the closest pairs also named by ids (may be NULL). */
void sp_leak_to_json_ids(const sp_leak *l, const char *const *ids, cJSON *obj);

typedef struct {
    size_t queried;         /* val + test sequences checked (all of them) */
    size_t violations;      /* of those, with a train sequence passing at T */
    sp_leak_pair first[10]; /* the first violations (query order) */
    int n_first;
    size_t alignments, bounded, bounded3; /* as in sp_leak */
    double seconds;
} sp_leak_chk;

/* Exhaustive check: every val and test sequence against every train
 * sequence, counting those with a pair that passes at identity t (the
 * relation of split.h with o's coverage and cov_mode): aligned unless an
 * exact bound proves the pair below t. Returns a status. */
int sp_leak_check(const char *const *seqs, const int *lens, const uint8_t *set, size_t n,
                  double t, const sp_leak_opts *o, sp_leak_chk *out);
void sp_leak_chk_to_json(const sp_leak_chk *c, double t, const char *const *ids, cJSON *obj);

#endif
