/* sp: train/validation/test splits of clustered sequences (whole clusters
 * only) and the leakage check between the sets.
 *
 *   sp_opts o; sp_opts_default(&o);
 *   sp_assign(rep, n, &o, set, &sum);         // set[i] in {SP_TRAIN, SP_VAL, SP_TEST}
 *   sp_leakage(seqs, lens, set, n, SP_VAL, &lo, &leak);
 *   sp_write_sets(dir, ids, seqs, lens, set, n);  // DIR/train.txt, ..., train.tsv, ...
 */
#ifndef ABLM_SPLIT_H
#define ABLM_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "align.h"
#include "cluster.h"
#include "leakage.h"

enum { SP_TRAIN = 0, SP_VAL = 1, SP_TEST = 2 };
typedef enum { SP_ORDER_SIZE, SP_ORDER_SHUFFLE } sp_order;
/* SP_FILL_FIT: a cluster goes to the first set it fits in (train, val,
 * else test). SP_FILL_REFERENCE: the reference's train_test_val_split.py:
 * sets are filled in order, each until it reaches its target, so the
 * cluster that crosses the target stays (a set may exceed its target by
 * less than its last cluster). */
typedef enum { SP_FILL_FIT, SP_FILL_REFERENCE } sp_fill;

typedef struct {
    double ratios[3]; /* train, val, test; sum 1 */
    sp_order order;   /* SP_ORDER_SIZE: largest clusters first */
    uint64_t seed;    /* for SP_ORDER_SHUFFLE */
    sp_fill fill;     /* default SP_FILL_FIT */
} sp_opts;

/* 0.8/0.1/0.1, largest first, fit, seed 42. */
void sp_opts_default(sp_opts *o);
/* Parses "0.8,0.1,0.1" (three non-negative numbers summing to 1 within
 * 1e-6). Returns 0 or -1 (message in tg_last_error). */
int sp_parse_ratios(const char *s, double r[3]);

#define SP_TOP 10
typedef struct {
    size_t n_seqs, n_clusters;
    size_t counts[3];   /* sequences per set */
    size_t clusters[3]; /* clusters per set */
    double target[3];   /* ratio * n_seqs */
    size_t top[SP_TOP]; /* largest cluster sizes, descending */
    int n_top;
    size_t singletons;
} sp_summary;

/* Assigns whole clusters to sets. rep[i] < n is the representative (any
 * cluster key) of sequence i. Clusters are taken in order (size descending,
 * ties by first appearance; or a seeded shuffle) and each goes, with
 * SP_FILL_FIT, to train if train + size <= ratio_train * n, else to val if
 * it fits there, else to test; with SP_FILL_REFERENCE to the first of
 * train, val whose count is still below its target, else to test.
 * Deterministic. set_out gets n entries. Returns a status. */
int sp_assign(const uint32_t *rep, size_t n, const sp_opts *o, uint8_t *set_out,
              sp_summary *sum);

/* Writes plain warnings (one per line) about clusters too large for the
 * shares into buf; returns how many. */
int sp_warnings(const sp_summary *s, const sp_opts *o, char *buf, size_t n);
/* Adds the summary (and its warnings) to a JSON object. */
void sp_summary_to_json(const sp_summary *s, const sp_opts *o, cJSON *obj);

/* Writes DIR/train.txt, val.txt, test.txt (one sequence per line, input
 * order) and, when ids is not NULL, DIR/train.tsv, val.tsv, test.tsv with
 * the same rows and their ids (header "sequence_id TAB
 * sequence_alignment_aa", a minimal AIRR table the readers take back),
 * each atomically. Returns a status. */
int sp_write_sets(const char *dir, const char *const *ids, const char *const *seqs,
                  const int *lens, const uint8_t *set, size_t n);

/* The whole split step: sp_assign, sp_write_sets (ids optional) into dir, and (when
 * lo->sample > 0) sp_leakage for val and test (the closest pairs named by ids). Adds "split" (summary,
 * warnings) and "leakage" ({"val": ..., "test": ...}) to report. set_out
 * (optional) receives the sets. Returns a status. */
int sp_run(const char *dir, const char *const *ids, const char *const *seqs, const int *lens,
           const uint32_t *rep, size_t n, const sp_opts *o, const sp_leak_opts *lo, cJSON *report, uint8_t *set_out);

/* Reads an MMseqs2-style cluster TSV (representative TAB member per line)
 * whose names are ids[0..n) (looked up through the map from id to index).
 * rep[i] gets the index of sequence i's representative, or UINT32_MAX for
 * sequences the file does not list. Errors (message: file:line): wrong
 * field count, unknown name, a member listed twice. */
int sp_read_cluster_tsv(const char *path, const void *id_map, size_t n, uint32_t *rep);

/* ---- the leakage-free split: components of "identity >= T" -------------
 *
 * The pair relation shared by sp_components and the leakage report
 * (leakage.h): sequences a and b are aligned once, with the one that comes
 * later in the input as the query (align.h: local alignment, identity =
 * matches / columns); the pair counts when the coverage holds (cov_mode 0:
 * both sequences cover >= o->coverage; 1 or 2: either one does, so the
 * undirected relation holds if either sequence could be the other's member
 * under MMseqs2's --cov-mode 1 / 2) and passes at T when moreover identity
 * + 1e-9 >= T (aln_passes' tolerance). */

#define SP_BATCH 64

/* The pair's identity when its coverage holds, else 0, with q the later
 * sequence (codes). Returns a status. */
int sp_pair_identity(const cl_opts *o, const uint8_t *q, int lq, const uint8_t *t, int lt,
                     aln_ws *ws, double *identity);
/* Exact bounds for nb <= SP_BATCH pairs (q, b[x]): ok[x] = 0 only when the
 * pair cannot pass at identity t under o's coverage (the length bound of
 * cl_may_pass_len, then cl_bound_identity), else 1. Symmetric in q and
 * b[x]. */
void sp_pair_may_pass(const cl_opts *o, double t, const uint8_t *q, int lq,
                      const uint8_t *const *b, const int *lb, int nb, uint8_t *ok);

typedef struct {
    size_t n, n_unique, n_components;
    double pairs;      /* unique pairs m(m-1)/2 */
    size_t connected;  /* pairs skipped: already in one component */
    size_t bounded;    /* pairs skipped by an exact bound */
    size_t alignments; /* pairs aligned */
    size_t edges;      /* passing pairs found (those that joined two components) */
    double seconds;
} sp_cc_stats;

/* Connected components of the graph over the n sequences with an edge for
 * every pair that passes at o->min_seq_id (o->coverage, o->cov_mode; the
 * relation above; identical sequences always share a component). The
 * search is exhaustive: every pair of distinct sequences is aligned unless
 * it is already connected or an exact bound (sp_pair_may_pass) proves it
 * cannot pass, so no passing pair is missed. comp[i] = the lowest index in
 * i's component. Parallel over o->threads (0: tg_threads()); the result
 * does not depend on the thread count (stats' counts may). o->progress
 * prints progress and an ETA to stderr. Returns a status. */
int sp_components(const char *const *seqs, const int *lens, size_t n, const cl_opts *o,
                  uint32_t *comp, sp_cc_stats *stats);

#endif
