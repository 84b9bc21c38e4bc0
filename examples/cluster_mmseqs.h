/* cluster_mmseqs: the MMseqs2 engine of `ablm cluster` and `ablm prepare`
 * (--engine mmseqs). Runs Debian's mmseqs (package mmseqs2; never installed
 * at run time) as the reference pipeline did:
 *
 *   mmseqs easy-linclust IN.fasta RES TMP --kmer-per-seq 5 -k 6
 *     --spaced-kmer-mode 1 --spaced-kmer-pattern 11011101 --sub-mat VTML40.out
 *     --gap-open 16 --gap-extend 2 --min-seq-id X -c C --cov-mode M --threads N
 *
 * (MMseqs2's defaults otherwise), reads RES_cluster.tsv back by record id
 * and re-aligns the members to their representatives with ablm's exact
 * aligner (cl_report_members), since MMseqs2 linclust accepts members by a
 * score-based identity estimate. */
#ifndef ABLM_CLUSTER_MMSEQS_H
#define ABLM_CLUSTER_MMSEQS_H

#include "cluster.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define MM_CHECK_DEFAULT 1000000 /* members re-aligned per clustering */

typedef struct {
    char *path;       /* the binary run (tg_malloc'ed) */
    char version[64]; /* `mmseqs version`, e.g. 14-7e284+ds-1+b2 */
} mm_tool;

typedef struct {
    const char *workdir; /* the temporary directory is made here (the output dir) */
    const char *log;     /* mmseqs's stdout and stderr are appended to this file */
    int threads;         /* mmseqs --threads (>= 1) */
    size_t check_sample; /* members re-aligned (all if fewer) [MM_CHECK_DEFAULT] */
    uint64_t seed;       /* seed of that sample [42] */
} mm_opts;

/* Fills mm_opts' defaults (workdir "." , no log, 1 thread). */
void mm_opts_default(mm_opts *m);

/* Finds the binary: `binary` (the --mmseqs flag) if not NULL, else `mmseqs`
 * on PATH, and reads its version. Missing or not runnable: TG_ERR_IO with a
 * message that says to `apt-get install mmseqs2` or pass --mmseqs PATH. */
int mm_find(mm_tool *t, const char *binary);
void mm_tool_free(mm_tool *t);

/* Reads MMseqs2's cluster TSV (representative TAB member) against the n
 * unique ids (cl_read_cluster_names: every id a member exactly once) and
 * checks that each representative is its own representative; rep[i] gets
 * the index of i's representative. Returns a status; an error names the
 * file, line and id. */
int mm_read_clusters(const char *const *ids, size_t n, const char *tsv, uint32_t *rep);

/* Clusters the n sequences of src, named by src (unique, no blanks: they
 * are the FASTA ids given to mmseqs and must come back unchanged; a table
 * of their n pointers is held while the results are read back) at o's
 * min_seq_id, coverage and cov_mode; rep[i] gets the index
 * of i's representative. The temporary directory (FASTA, mmseqs's results
 * and tmp) is removed on success and failure. Adds to info: engine,
 * mmseqs_version, command (the exact command line run), log, seconds and
 * member_check (members, checked, below_threshold, below_min_seq_id,
 * min_identity, worst_member; by o's aligner). A failed run is TG_ERR_IO
 * quoting the last lines of the log. Returns a status. */
int mm_cluster(const mm_tool *t, const mm_opts *m, const cl_src *src, size_t n,
               const cl_opts *o, uint32_t *rep, cJSON *info);

/* An engine for ablm prepare (pp_opts.engine = mm_engine_cluster,
 * engine_ctx = an mm_engine). */
typedef struct {
    mm_tool tool;
    mm_opts opts;
} mm_engine;
/* pp_cluster_fn over mm_cluster (ctx: an mm_engine). */
int mm_engine_cluster(void *ctx, const cl_src *src, size_t n, const cl_opts *o, uint32_t *rep,
                      cJSON *step);
/* Starts a fresh log at path (truncated, with a first line naming the
 * binary and version). Returns a status. */
int mm_log_start(const mm_tool *t, const char *path);
/* Prints info's member check as one line "PREFIX: WHAT: N of M members
 * below ..." to f (nothing if info has none). */
void mm_print_check(FILE *f, const char *prefix, const char *what, const cJSON *info);

#endif
