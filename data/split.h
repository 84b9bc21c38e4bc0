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

enum { SP_TRAIN = 0, SP_VAL = 1, SP_TEST = 2 };
typedef enum { SP_ORDER_SIZE, SP_ORDER_SHUFFLE } sp_order;

typedef struct {
    double ratios[3]; /* train, val, test; sum 1 */
    sp_order order;   /* SP_ORDER_SIZE: largest clusters first */
    uint64_t seed;    /* for SP_ORDER_SHUFFLE */
} sp_opts;

/* 0.8/0.1/0.1, largest first, seed 42. */
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
 * ties by first appearance; or a seeded shuffle) and each goes to train if
 * train + size <= ratio_train * n, else to val if it fits there, else to
 * test. Deterministic. set_out gets n entries. Returns a status. */
int sp_assign(const uint32_t *rep, size_t n, const sp_opts *o, uint8_t *set_out,
              sp_summary *sum);

/* Writes plain warnings (one per line) about clusters too large for the
 * shares into buf; returns how many. */
int sp_warnings(const sp_summary *s, const sp_opts *o, char *buf, size_t n);
/* Adds the summary (and its warnings) to a JSON object. */
void sp_summary_to_json(const sp_summary *s, const sp_opts *o, cJSON *obj);

typedef struct {
    size_t sample;      /* sequences sampled per set (default 200) */
    uint64_t seed;      /* default 42 */
    double coverage;    /* an alignment counts if both coverages >= this (0.8) */
    int candidates;     /* train sequences aligned per query, those sharing the
                         * most 3-mers (default 64; 0 = all train sequences) */
    int progress;
} sp_leak_opts;
void sp_leak_opts_default(sp_leak_opts *o);

typedef struct {
    size_t n;             /* sequences sampled */
    double median, p95, max;
    double frac_ge[3];    /* fraction with identity >= 0.5, 0.7, 0.9 */
    size_t alignments;
    double seconds;
} sp_leak;

/* For a seeded sample of the sequences of set `which`, the highest
 * identity (matches / alignment columns, MMseqs2 --seq-id-mode 0) of an
 * alignment to any train sequence with both coverages >= o->coverage (0 if
 * none). Parallel (OpenMP), deterministic. Returns a status. */
int sp_leakage(const char *const *seqs, const int *lens, const uint8_t *set, size_t n,
               int which, const sp_leak_opts *o, sp_leak *out);
void sp_leak_to_json(const sp_leak *l, cJSON *obj);

/* Writes DIR/train.txt, val.txt, test.txt (one sequence per line, input
 * order) and, when ids is not NULL, DIR/train.tsv, val.tsv, test.tsv with
 * the same rows and their ids (header "sequence_id TAB
 * sequence_alignment_aa", a minimal AIRR table the readers take back),
 * each atomically. Returns a status. */
int sp_write_sets(const char *dir, const char *const *ids, const char *const *seqs,
                  const int *lens, const uint8_t *set, size_t n);

/* The whole split step: sp_assign, sp_write_sets (ids optional) into dir, and (when
 * lo->sample > 0) sp_leakage for val and test. Adds "split" (summary,
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

#endif
