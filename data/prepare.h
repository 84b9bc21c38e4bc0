/* pp: the data preparation pipeline behind `ablm prepare`.
 *
 *   1. read the inputs (rd readers, filters) and cluster the CDRH3s at
 *      cdr3_min_seq_id (1.0): keep one record per CDRH3 cluster (centroid);
 *   2. take the centroids' full sequences and drop exact duplicates;
 *   3. cluster those at min_seq_id (0.7): the representatives are the
 *      training pool;
 *   4. cluster the pool at split_min_seq_id (0.5) and split whole clusters
 *      into train/val/test (sp_run), with the leakage check.
 * Writes OUT/cdr3_100_cluster.tsv, heavy_70_cluster.tsv, heavy_50_cluster.tsv
 * (representative TAB member, record ids made unique over all inputs with
 * rd_ids_unique), train.txt, val.txt, test.txt (sequences), train.tsv,
 * val.tsv, test.tsv (the same rows with their ids) and the report (returned
 * as JSON for the caller to write).
 */
#ifndef ABLM_PREPARE_H
#define ABLM_PREPARE_H

#include "cluster.h"
#include "reader.h"
#include "split.h"

#include <cjson/cJSON.h>

/* A clustering engine in place of cl_cluster (e.g. MMseqs2,
 * examples/cluster_mmseqs.h): clusters the n sequences named ids[] (unique)
 * at o's thresholds into rep[] (as cl_cluster) and adds what it reports to
 * the step's report entry. Returns a status. */
typedef int (*pp_cluster_fn)(void *ctx, const char *const *ids, const char *const *seqs,
                             const int *lens, size_t n, const cl_opts *o, uint32_t *rep,
                             cJSON *step);

typedef struct {
    rd_opts rd;              /* reader filters and --on-error */
    cl_opts cl;              /* clustering settings (mode, coverage, k, ...) */
    double cdr3_min_seq_id;  /* 1.0 */
    double min_seq_id;       /* 0.7 */
    double split_min_seq_id; /* 0.5 */
    sp_opts split;
    sp_leak_opts leak;
    int progress;            /* step lines on stderr */
    pp_cluster_fn engine;    /* NULL: ablm's own (cl_cluster) */
    void *engine_ctx;        /* engine's first argument */
    const char *engine_name; /* for the report and progress lines ("mmseqs") */
} pp_opts;

/* The reference pipeline's settings (see the header comment). */
void pp_opts_default(pp_opts *o);

/* Runs the pipeline on n_inputs files into outdir (created if missing).
 * Fills report (counts after every step, cluster sizes, filters, skipped
 * rows and files, timings). With --on-error skip a file that cannot be read
 * (empty, not gzip, truncated: rows before the damage are kept) is
 * recorded in the report and the run goes on; otherwise it is an error.
 * Returns a status. */
int pp_run(const char *const *inputs, int n_inputs, const char *outdir, const pp_opts *o,
           cJSON *report);

/* Pairs (`ablm prepare --pairs`): heavy/light pairs (data/pairs.h inputs)
 * split by their heavy chains' clustering, the pipeline above run on the
 * heavy chains:
 *   0. exact duplicate pairs (same heavy and light chain) dropped, first kept;
 *   1. CDRH3s clustered at cdr3_min_seq_id (pairs whose input has no CDRH3
 *      are their own centroid); 2. the centroids' heavy chains de-duplicated;
 *   3. those clustered at min_seq_id; 4. the representatives clustered at
 *      split_min_seq_id and whole clusters split (sp_assign over the pairs:
 *      a cluster weighs as many pairs as it holds, so the ratios are of pairs).
 * Every pair then goes to the set of its heavy chain's representative
 * (its CDRH3 centroid -> the first identical heavy chain -> its 70%
 * representative -> that one's 50% cluster), so no pair is dropped besides
 * exact duplicates and pairs in different sets have heavy chains in different
 * clusters at every step. Writes OUT/train_pairs.tsv, val_pairs.tsv,
 * test_pairs.tsv (pr_write_tsv: id, heavy, light, locus, and fwr1..fwr4
 * when the inputs have the regions), cdr3_100_cluster.tsv,
 * heavy_70_cluster.tsv, heavy_50_cluster.tsv (pair ids made unique over all
 * inputs) and fills report: counts, skipped pairs, clustering steps, the
 * split of the representatives, pairs per set, and the leakage check
 * (sp_leakage) of val/test heavy chains, and of light chains for
 * information, against all train pairs. Returns a status. */
int pp_run_pairs(const char *const *inputs, int n_inputs, const char *outdir, const pp_opts *o,
                 cJSON *report);

/* Internal, shared by prepare.c and prepare_pairs.c. */
double pp_now(void);
/* One clustering step (o->engine, else cl_cluster) with progress lines and
 * a report entry in steps. */
int pp_cluster_step(const char *what, const char *const *ids, const char *const *seqs,
                    const int *lens, size_t n, double min_seq_id, const pp_opts *o,
                    uint32_t *rep, cJSON *steps, size_t *n_clusters);
/* Writes DIR/NAME: rep TAB member lines, grouped under the representative. */
int pp_write_cluster_tsv(const char *dir, const char *name, const char *const *ids,
                         const uint32_t *rep, size_t n);

#endif
