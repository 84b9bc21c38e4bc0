/* cluster: clustering of protein sequences at an identity/coverage threshold.
 *
 * Every member reaches min_seq_id and coverage (cov_mode) against its
 * representative by a real Smith-Waterman alignment (align.h; representative
 * = query, member = target); no score-based identity estimate is used.
 * Identical sequences (same residue codes: case-insensitive, non-standard
 * letters = X) are collapsed first and always share a cluster.
 *
 * CL_LINCLUST (Steinegger & Soding 2018, linear time): each sequence picks
 * kmer_per_seq distinct (spaced) k-mers with the lowest hash values; the
 * (k-mer, sequence) pairs are sorted; within a k-mer group the longest
 * sequence (ties: lower index) is the centre and each member is aligned to
 * that centre only. Accepted edges then go through greedy set cover (as
 * MMseqs2 clust --cluster-mode 0): the sequence that can represent the most
 * still-unassigned sequences (ties: lower index) becomes a representative
 * and takes them, until every sequence is assigned.
 *
 * CL_GREEDY (CD-HIT-like): sequences longest first (ties: lower index); each
 * joins the first existing representative, in the search order below, that
 * it reaches the thresholds against; otherwise it becomes a representative.
 * Candidates come from a greedy_k-mer index over representatives (k-mers in
 * more than greedy_max_postings representatives are skipped). Search: a
 * quick pass on the rare k-mers, then if nothing passed a full pass;
 * candidates ranked by shared k-mers + same-diagonal hits, rejected exactly
 * by length and by an LCS bound on identical columns (at most
 * max_lcs_checks), the first 4 survivors aligned in rank order, the rest in
 * order of their identity bound (at most max_candidates alignments).
 * Representatives too long to pass are skipped exactly. Sequences are
 * processed in batches of 1024: the search against representatives from
 * earlier batches runs in parallel, then the batch is finished in order
 * against the representatives it created, so the result does not depend on
 * the thread count.
 *
 * Memory (internal, besides the caller's sequences and rep[]): linclust
 * about 24 + 40 * kmer_per_seq bytes per sequence at peak; greedy about
 * 40 bytes per sequence + 15 bytes per sequence per thread + 6 bytes per
 * k-mer of each representative. cl_stats.peak_bytes reports the measured
 * peak. */
#ifndef ABLM_CLUSTER_H
#define ABLM_CLUSTER_H

#include "align.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { CL_LINCLUST, CL_GREEDY } cl_mode;

typedef struct {
    cl_mode mode;               /* default CL_LINCLUST */
    double min_seq_id;          /* --min-seq-id, default 0.0 (callers set it) */
    double coverage;            /* -c, default 0.8 */
    int cov_mode;               /* 0 both, 1 target (member), 2 query (rep); default 0 */
    int kmer_per_seq;           /* linclust: default 5 (reference pipeline) */
    int k;                      /* linclust: default 6 (<= 7) */
    const char *spaced_pattern; /* linclust: default "11011101"; NULL or "" = contiguous */
    aln_params aln;             /* default VTML40, gap 16/2 */
    int threads;                /* 0 = tg_threads() */
    int progress;               /* print phase timings and progress lines to stderr */
    double progress_every;      /* seconds between progress lines; default (and 0) 2 */
    int greedy_k;               /* greedy: index k-mer length, default 3 (1..5) */
    int greedy_max_postings;    /* greedy: skip k-mers in more reps than this, default 20000 */
    int max_candidates;         /* greedy: alignments per sequence, default 1000 */
    int max_lcs_checks;         /* greedy: candidates bounded by LCS per sequence, default 3000 */
} cl_opts;

/* Fills the defaults listed above. */
void cl_opts_default(cl_opts *o);

typedef struct {
    size_t n_seqs, n_clusters;
    size_t n_unique;     /* distinct sequences after collapsing identical ones */
    size_t n_alignments; /* alignments computed */
    double seconds;
    size_t peak_bytes;   /* memory the clustering allocated at peak */
    /* cl_cluster_budget's spill (0 when it ran in memory): */
    size_t budget;        /* the budget it planned with */
    size_t floor_bytes;   /* the least its plan needs (per-sequence arrays, smallest chunks) */
    size_t chunk_entries; /* k-mer entries per sorted run */
    size_t kmer_runs;     /* sorted k-mer runs written */
    size_t pair_runs;     /* sorted candidate-pair runs written */
    size_t spilled_bytes; /* bytes written to the temporary files */
    size_t graph_bytes;   /* the set cover's graph (accepted edges), held in memory */
    size_t spill_peak;    /* measured peak before the graph (runs, merges, alignment) */
    size_t dedup_shards;  /* hash shards of the collapse of identical sequences (1: one) */
    size_t dedup_peak;    /* memory held at the collapse's peak (its groups and shard) */
} cl_stats;

/* Sequences by index, read where they are (arrays, a memory-mapped store)
 * instead of through per-sequence pointer and length arrays: seq(s, i,
 * &len) returns sequence i's residues (not NUL-terminated necessarily;
 * valid while the source lives, safe to call from several threads) and
 * sets *len; name(s, i), where not NULL, its id (NUL-terminated), for the
 * files that name sequences. A source is a struct whose first member is a
 * cl_src; cl_src_arrays and cl_src_subset make the two common ones. */
typedef struct cl_src cl_src;
struct cl_src {
    const char *(*seq)(const cl_src *s, size_t i, int *len);
    const char *(*name)(const cl_src *s, size_t i);
};
/* Sequence i is seqs[i] of length lens[i], named names[i] (names may be
 * NULL). */
typedef struct {
    cl_src src;
    const char *const *seqs, *const *names;
    const int *lens;
} cl_arrays;
const cl_src *cl_src_arrays(cl_arrays *a, const char *const *seqs, const int *lens,
                            const char *const *names);
/* Sequence j is base's sequence idx[j] (and its name). */
typedef struct {
    cl_src src;
    const cl_src *base;
    const uint32_t *idx;
} cl_subset;
const cl_src *cl_src_subset(cl_subset *s, const cl_src *base, const uint32_t *idx);
static inline const char *cl_src_seq(const cl_src *s, size_t i, int *len)
{
    return s->seq(s, i, len);
}
static inline const char *cl_src_name(const cl_src *s, size_t i)
{
    return s->name ? s->name(s, i) : NULL;
}

/* Clusters n sequences (seqs[i] of length lens[i], not NUL-terminated
 * necessarily). On success rep[i] is the index of sequence i's
 * representative (rep[rep[i]] == rep[i]); every member reaches the
 * thresholds against its representative by a real alignment. Deterministic
 * for the same input and thread count. stats may be NULL. Returns TG_OK,
 * TG_ERR_ARG (bad options, n >= 2^32-1) or TG_ERR_NOMEM. */
int cl_cluster(const char *const *seqs, const int *lens, size_t n, const cl_opts *o,
               uint32_t *rep, cl_stats *stats);

/* A memory budget for CL_LINCLUST (cl_cluster_budget). */
typedef struct {
    size_t max_memory;  /* bytes the clustering may allocate; 0: in memory (cl_cluster) */
    const char *tmpdir; /* directory of the temporary run files (removed before return) */
} cl_budget;

/* cl_cluster within a memory budget, for CL_LINCLUST (CL_GREEDY and
 * b->max_memory == 0 run cl_cluster): the k-mer entries (k-mer, length,
 * sequence) are generated in chunks that fit the budget, each sorted and
 * written as a run to one temporary file in b->tmpdir; a k-way merge of the
 * runs gives the k-mer groups in order, the first entry of each (longest,
 * then lowest index) its centre, and the (centre, member) pairs; those are
 * sorted in runs to a second file and merged (duplicates dropped), aligned
 * in batches as they stream, and the accepted edges (a third file) form the
 * graph of the set cover. rep[] is the same as cl_cluster's for any budget
 * and thread count. When the in-memory linclust fits the budget (about
 * 16 * kmer_per_seq + 32 bytes per unique sequence) it runs instead,
 * nothing is spilled (stats->kmer_runs == 0). What stays in memory: while
 * identical sequences are collapsed 4 bytes per input sequence and 24 per
 * sequence of a hash shard (one shard, 28 bytes per sequence in all, when
 * that fits the budget; else shards within it: stats->dedup_shards), then
 * about 12 per sequence, the
 * chunks, and the set cover's graph (8 bytes per accepted edge + 28 per
 * sequence, as MMseqs2's clust holds it). Below floor_bytes the plan uses
 * its smallest chunks (stats->budget < stats->floor_bytes says so).
 * Returns TG_OK, TG_ERR_ARG, TG_ERR_NOMEM or TG_ERR_IO (a temporary file
 * could not be written or read back; the message names it). */
int cl_cluster_budget(const char *const *seqs, const int *lens, size_t n, const cl_opts *o,
                      const cl_budget *b, uint32_t *rep, cl_stats *stats);
/* cl_cluster_budget over a source (b NULL: cl_cluster): what the two run.
 * The source's sequences are read where they are, so the per-sequence
 * memory above is all the clustering adds. */
int cl_cluster_src(const cl_src *src, size_t n, const cl_opts *o, const cl_budget *b,
                   uint32_t *rep, cl_stats *stats);

/* Removes the run files of cl_cluster_budget (DIR/cluster_kmer_runs.PID.tmp.*,
 * cluster_pair_runs..., cluster_edges...) that a killed process left in dir:
 * only those whose PID is no live process (fio_clean_stale). *removed and
 * *bytes get the count and their size. Returns a status. */
int cl_clean_stale(const char *dir, size_t *removed, uint64_t *bytes);

typedef struct {
    size_t sampled; /* representatives checked */
    size_t missed;  /* of those, ones reaching the thresholds against another rep */
    double rate;    /* missed / sampled (0 if none sampled) */
} cl_missed;

/* Missed merges of a clustering (any tool's): samples min(sample, #reps)
 * representatives (seeded, without replacement) and checks each against
 * every other representative by alignment, in both roles (either one as
 * representative). Pairs are skipped only by exact bounds that cannot pass
 * (length and residue-composition bounds on identity). rep[] as from
 * cl_cluster. Uses o's thresholds, alignment and threads. Returns TG_OK,
 * TG_ERR_ARG (rep[] not a valid assignment) or TG_ERR_NOMEM. */
int cl_missed_merges(const char *const *seqs, const int *lens, size_t n, const uint32_t *rep,
                     const cl_opts *o, size_t sample, uint64_t seed, cl_missed *out);

/* Members of a clustering (any tool's, e.g. MMseqs2) re-aligned to their
 * representative (representative = query). */
typedef struct {
    size_t members;        /* sequences that are not their own representative */
    size_t checked;        /* of those, re-aligned: all, or a seeded sample */
    size_t below;          /* checked members below min_seq_id or the coverage */
    size_t below_identity; /* checked members below min_seq_id alone */
    double min_identity;   /* lowest identity of a checked member (1 if none) */
    size_t worst;          /* index of that member (SIZE_MAX if none checked) */
} cl_member_report;

/* Re-aligns min(sample, members) members (all when sample >= members, else
 * a sample drawn with seed, without replacement) to their representatives
 * and counts those below o's thresholds. Returns TG_OK, TG_ERR_ARG (rep[]
 * not a valid assignment, bad options) or TG_ERR_NOMEM. */
int cl_report_members(const cl_src *src, size_t n, const uint32_t *rep, const cl_opts *o,
                      size_t sample, uint64_t seed, cl_member_report *out);

/* Counts members that do not reach the thresholds against their
 * representative (by alignment, representative = query) into *violations.
 * Returns TG_OK, TG_ERR_ARG (rep[] not a valid assignment) or TG_ERR_NOMEM. */
int cl_check_members(const char *const *seqs, const int *lens, size_t n, const uint32_t *rep,
                     const cl_opts *o, size_t *violations);

#endif
