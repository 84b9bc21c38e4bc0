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

#include "afile.h"
#include "cluster.h"
#include "pairs.h"
#include "reader.h"
#include "seqstore.h"
#include "split.h"

#include <cjson/cJSON.h>

/* A clustering engine in place of cl_cluster (e.g. MMseqs2,
 * examples/cluster_mmseqs.h): clusters the n sequences of src (named,
 * unique names) at o's thresholds into rep[] (as cl_cluster) and adds what
 * it reports to the step's report entry. Returns a status. */
typedef int (*pp_cluster_fn)(void *ctx, const cl_src *src, size_t n, const cl_opts *o,
                             uint32_t *rep, cJSON *step);

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
    int in_memory;           /* 1: the previous path (all records in memory, one dedup map);
                              * 0 (default): out of core (store, sharded dedup, resumable) */
    int resume;              /* 1 (default): skip a stage whose marker matches (by hash) */
    size_t max_memory;       /* bytes for the de-dup and clustering stages; 0: pp_default_memory() */
    int dedup_shards;        /* >0: force this many dedup shards (tests); 0: from max_memory */
    int read_threads;        /* inputs parsed at once (rd_par); 0: tg_threads(). The records
                              * and every output are the same for any count */
    int pairs;               /* set by pp_run_pairs: the read stage reads heavy/light pairs
                              * (pr_read_each) into the store, records with a mate */
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
 * heavy chains, in memory (o->in_memory: a pr_set, rd_ids) or out of core
 * (the pairs in OUT/records.store as records with a mate, read by
 * pp_stage_read and resumed as there; ids by pp_store_ids; both
 * de-duplications by pp_dedup in hash shards; the clustering steps
 * budgeted and resumable as pp_run's; the same files and report values
 * either way):
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
/* Reads the pair files (pr_read_each with o's reader filters; --on-error
 * skip also skips unreadable files and keeps the pairs before a damaged
 * row, recorded in `skipped`) into s (w NULL) or into the store w (s then
 * counts them: s->n and the skip counters, s->v stays empty); one `files`
 * entry per file read (file, rows, pairs_kept). Returns a status. */
int pp_read_pairs(const char *const *inputs, int n_inputs, const pp_opts *o, pr_set *s,
                  ss_writer *w, cJSON *files, cJSON *skipped);
/* Adds report["memory"]: rss_anon_after_read, peak_rss_after_read and,
 * when RssAnon grew from anon0, anon_bytes_per_record_after_read (per
 * row of rows). */
void pp_memory_report(cJSON *report, size_t anon0, size_t rows);
/* A clustering step that resumes: its key hashes key_in (the previous
 * stage's key), what, min_seq_id, the clustering options, the engine, the
 * thread count (cl_cluster is deterministic per thread count) and n. Out of
 * core with o->resume, a marker OUTDIR/prepare_STAGE.json with that key
 * and OUTDIR/STAGE.rep (n u32 representatives, hash in the marker, checked
 * to be a valid assignment) skip the clustering: rep is read back, the
 * step's report entry restored and the TSV rewritten. Otherwise the step
 * runs (pp_cluster_step) and, out of core, the rep file and the marker are
 * written (report["stages"][stage]). key_out gets this step's key (may be
 * key_in's buffer). Returns a status. */
int pp_cluster_step_resumable(const char *what, const char *stage, const char *outdir,
                              const char *tsv, const cl_src *src, size_t n, double min_seq_id, const pp_opts *o, uint32_t *rep,
                              cJSON *steps, size_t *n_clusters, const char *key_in,
                              char key_out[17], cJSON *report);
/* One clustering step (o->engine, else cl_cluster; out of core over a step
 * file of src, pp_step_open) over the n sequences of src (named) with
 * progress lines and a report entry in steps, then
 * OUTDIR/TSV: rep TAB member lines (names), members grouped under their
 * representative. */
int pp_cluster_step(const char *what, const char *outdir, const char *tsv, const cl_src *src,
                    size_t n, double min_seq_id, const pp_opts *o, uint32_t *rep, cJSON *steps,
                    size_t *n_clusters);

/* ---- out-of-core stages (data/prepare_ooc.c) ------------------------------
 *
 * The out-of-core path of pp_run (o->in_memory == 0):
 *   read   the inputs are streamed into OUT/records.store (data/seqstore.h);
 *          OUT/prepare_read.json, written after the store, holds the hash of
 *          the inputs' bytes and the reading options, the store's content
 *          hash and the reading report. A rerun with the same key and an
 *          intact store (hash verified) skips the stage.
 *   dedup  exact duplicates among the CDRH3 centroids' sequences are
 *          dropped in hash shards (temp files in OUT) when one in-memory map
 *          would not fit max_memory; each shard is de-duplicated by one map,
 *          the first record of every distinct sequence kept, as in memory.
 *   cluster  linclust steps run within the budget (pp_cluster_budgeted:
 *          sorted k-mer and pair runs spilled to temp files in OUT,
 *          cl_cluster_budget); the clusters are the same as in memory;
 *          each step resumes by a marker OUT/prepare_STAGE.json and its
 *          OUT/STAGE.rep.
 *   split  the split and the leakage report resume by OUT/prepare_split.json
 *          (pp_stage_split: the set files' hashes, the report entries).
 * The clustering steps still hold pointers into the store's map and the
 * lengths of their inputs in memory. */

/* The lock of an output directory: OUT/.prepare.lock, flock'ed (exclusive)
 * by the running prepare and released when its descriptor closes, also when
 * the process is killed. */
#define PP_LOCK_FILE ".prepare.lock"
/* Takes OUT's lock (a second prepare on the same OUT while one runs is an
 * error naming the directory), then removes what a killed run left: every
 * NAME.tmp.XXXXXX of the files prepare writes (the lock proves no live
 * prepare owns them) and the clustering's run files whose PID is no live
 * process (cl_clean_stale: an `ablm cluster` may share the directory).
 * report gets "stale_temp_files": {"removed", "bytes"}; a line on stderr
 * when any were removed. *lock_fd: for pp_dir_unlock. Returns a status. */
int pp_dir_lock(const char *outdir, const pp_opts *o, cJSON *report, int *lock_fd);
/* Releases the lock of pp_dir_lock (-1: nothing). */
void pp_dir_unlock(int lock_fd);

/* Progress lines on stderr ("prepare: STAGE: N UNIT, R UNIT/s, P% done,
 * ETA S s"), at most one per 2 s; nothing when on == 0. */
typedef struct {
    const char *stage, *unit;
    double t0, last;
    int on;
} pp_progress;
void pp_progress_begin(pp_progress *p, const char *stage, const char *unit, int on);
/* done units so far; frac: the fraction of the stage done (< 0: unknown, no ETA). */
void pp_progress_tick(pp_progress *p, size_t done, double frac);
void pp_progress_end(pp_progress *p, size_t done);

/* A /proc/self/status field in bytes ("RssAnon", "VmHWM"), 0 when unknown. */
size_t pp_proc_status(const char *field);
/* Half of MemAvailable (/proc/meminfo), else 1 GiB. */
size_t pp_default_memory(void);
/* The parallel readers' buffer (rd_par_begin's buffer_bytes) of the read
 * stage: out of core a quarter of o->max_memory (else pp_default_memory()),
 * at least 1 MiB and at most RD_PAR_BUFFER; in memory 0 (RD_PAR_BUFFER).
 * The records are the same for any size. */
size_t pp_read_buffer(const pp_opts *o);
/* Parses a size ("512M", "2G", "1048576"; K/M/G/T are powers of 1024).
 * Returns 0 and sets *out, or -1. */
int pp_parse_size(const char *s, size_t *out);

/* The read stage's key: a hash of the store version, the reading options,
 * o->pairs and every input's path and bytes, as 16 hex digits. Returns a status (an
 * unreadable input is an error naming it, unless o skips bad files). */
int pp_inputs_key(const char *const *inputs, int n_inputs, const pp_opts *o, char key[17]);
/* Chains the bytes of the file at path into *h (ss_hash, FNV-1a 64).
 * Returns 1, or 0 (*h unchanged) when the file cannot be opened or read,
 * or TG_ERR_NOMEM. */
int pp_file_hash(const char *path, uint64_t *h);
/* The marker OUTDIR/NAME if it exists, parses and its "key" equals key;
 * else NULL. */
cJSON *pp_marker_load(const char *outdir, const char *name, const char *key);
/* Writes the marker atomically. Returns a status. */
int pp_marker_write(const char *outdir, const char *name, const cJSON *marker);
/* 1 if the read stage's marker m holds what a skipped read restores into
 * the report: a 16-character "store_hash", arrays "files" and
 * "files_skipped" (each entry with an "error" string), and for records a
 * count "records_without_cdr3" and a "reader" object with every member
 * rd_stats_to_json writes, for pairs (pairs != 0) a "pairs" object with
 * every member pr_stats_to_json writes (numbers: integers 0..2^53). Else
 * 0: the stage runs again. */
int pp_read_marker_ok(const cJSON *m, int pairs);
/* 1 if the split stage's marker m holds what a skipped split restores into
 * the report: a "files" object (name -> hash, checked by the caller), a
 * "split" object with counts "sequences" and "clusters", the same per
 * "train", "val" and "test" (pp_run copies them into "counts") and an array
 * of strings "warnings" (printed); with leakage != 0 also a "leakage"
 * object; for pairs (pairs != 0) also a "pairs_per_set" object with counts
 * "train", "val", "test" (copied into "counts") and with leakage a
 * "leakage_light" object. Else 0: the stage runs again. */
int pp_split_marker_ok(const cJSON *m, int leakage, int pairs);
/* A finished clustering step, read back for a resumed run: the marker
 * OUTDIR/NAME with this key and the rep file RPATH (n u32 representatives
 * whose hash is the marker's "rep_hash"). Returns 1 when they match: rep is
 * a valid assignment (rep[i] < n, rep[rep[i]] == rep[i]), *n_clusters the
 * number of representatives and *step a copy of the marker's "step" object
 * (its "step" member a string; the caller frees it). Returns 0 when the
 * marker is there but they do not match (or memory ran out), -1 when there
 * is no marker with this key; rep is then unspecified. */
int pp_rep_resume(const char *outdir, const char *name, const char *rpath, const char *key,
                  size_t n, uint32_t *rep, cJSON **step, size_t *n_clusters);

/* The store's record ids made unique without a copy of them: the ids stay
 * in the store's map; only the records renamed ID@FILE:LINE (every record
 * of an id that occurs more than once, as rd_ids_unique does) have their
 * new names here, by record index. */
typedef struct {
    const ss_store *s;
    uint32_t *idx;    /* renamed records, ascending */
    size_t *off;      /* their names in text */
    char *text;
    size_t n, cap, used, tcap;
    size_t renamed;   /* = n */
    size_t shards;    /* hash shards of the check (1: one map) */
} pp_ids;
/* Counts the records with a CDR3 into *n_cdr3 and makes the ids unique:
 * repeated ids are found by one map over all ids when n x 40 bytes fit
 * half of o->max_memory (else pp_default_memory()), or o->dedup_shards /
 * enough hash shards (temp files OUTDIR/ids_shard.tmp.*, each checked by
 * its own map), 1 byte per record meanwhile; then the renamed names are
 * checked against every final name (a collision is the error of
 * rd_ids_unique, naming both records). Returns a status; on error ids is
 * freed. */
int pp_store_ids(const ss_store *s, const char *outdir, const pp_opts *o, pp_ids *ids,
                 size_t *n_cdr3);
/* Record i's unique id (the store's, or its new name). */
const char *pp_ids_get(const pp_ids *ids, uint64_t i);
void pp_ids_free(pp_ids *ids);
/* The store's records as a clustering source (cluster.h), read in the map:
 * sequence j is record rec[j] (record j when rec is NULL): its CDR3 (cdr3
 * 1) or its sequence, named by pp_ids_get. */
typedef struct {
    cl_src src;
    const ss_store *s;
    const pp_ids *ids;
    const uint32_t *rec;
} pp_store_src;
const cl_src *pp_src_store(pp_store_src *p, const ss_store *s, const pp_ids *ids,
                           const uint32_t *rec, int cdr3);
/* A step's n sequences of `from` copied, in order, into two temporary files
 * of outdir (step_seqs.tmp.*: the residues, each NUL-terminated;
 * step_index.tmp.*: n + 1 offsets) and mapped: a source whose sequences
 * are read there (names from `from`), so that the pages the step's
 * alignments touch in random order are its residues alone, not the store's
 * whole records (prepare_step.c). One sequential pass over `from`
 * (progress lines on stderr when `progress`: every 2 s, and a total line
 * from 2^20 sequences on).
 * pp_step_close unmaps and removes the files. Returns a status (TG_ERR_IO
 * naming the file on a write or map failure; then nothing is left). */
typedef struct {
    cl_src src;
    const cl_src *from;
    const char *data;
    const uint64_t *off;
    size_t n, data_bytes;
    tg_afile fdata, findex;
} pp_step;
int pp_step_open(pp_step *p, const char *outdir, const cl_src *from, size_t n, int progress);
void pp_step_close(pp_step *p);
/* De-duplicates the sequences uniq[0..*m) (indices into src, ascending)
 * in place: the first of every distinct sequence stays, order kept. Uses
 * o->dedup_shards, else enough hash shards (temp files in outdir) for
 * o->max_memory; adds report[name] (sequences, kept, shards, largest_shard,
 * budget_bytes). of (optional, *m entries): of[j] gets the new position
 * of the kept sequence equal to the one at old position j. Returns a
 * status. */
int pp_dedup(const cl_src *src, uint32_t *uniq, size_t *m,
             const char *outdir, const pp_opts *o, const char *name, uint32_t *of,
             cJSON *report);
/* Out of core, one linclust step within the budget: o->max_memory (else
 * pp_default_memory()) less the process's anonymous memory now (RssAnon)
 * goes to cl_cluster_budget with OUTDIR for its temporary runs (removed
 * before return); the same rep[] as cl_cluster. co: the step's options
 * (from o->cl); adds budget_bytes, floor_bytes, chunk_entries, kmer_runs,
 * pair_runs, spilled_bytes and graph_bytes to the step's report entry.
 * Returns a status. */
int pp_cluster_budgeted(const char *outdir, const cl_src *src, size_t n,
                        const cl_opts *co, const pp_opts *o, uint32_t *rep, cl_stats *cs,
                        cJSON *step);
/* Replaces obj[name] by a copy of from[name], or adds it (nothing when
 * from has no such member). */
void pp_json_take(cJSON *obj, const cJSON *from, const char *name);
/* The read stage (prepare.c): resumes or streams the inputs into
 * OUTDIR/records.store and opens it into *store; fills in (the report's
 * "input": files, files_skipped, and reader, records_without_cdr3, or with
 * o->pairs the pairs' counts "pairs") and report["stages"]. Returns a
 * status. */
int pp_stage_read(const char *const *inputs, int n_inputs, const char *outdir,
                  const pp_opts *o, ss_store *store, cJSON *in, cJSON *report);
/* A resumable split stage (prepare_split.c): the files it writes in OUTDIR
 * and the report members its marker OUTDIR/prepare_split.json keeps. */
#define PP_SPLIT_MAX_FILES 6
typedef struct {
    const char *const *files;
    int n_files; /* <= PP_SPLIT_MAX_FILES */
    const char *const *entries;
    int n_entries;
    int pairs;   /* the marker's shape: pp_split_marker_ok's pairs */
} pp_split_spec;
/* The split stage's key: key_in (the last clustering step's key), n and
 * every option of o->split and o->leak that changes the sets, the files or
 * the report (not the thread count: sp_leakage does not depend on it). */
void pp_split_key(const char *key_in, size_t n, const pp_opts *o, char key[17]);
/* Out of core with o->resume: 1 when the marker has this key and the shape
 * pp_split_marker_ok checks and every file of sp has the hash it names;
 * the entries are then restored into report, report["stages"]["split"]
 * says "skipped: ..." and a line on stderr names the files. 0: the stage
 * runs (a line says which file differs when a marker of this key exists).
 * Returns a status when hashing fails. */
int pp_split_resume(const char *outdir, const pp_split_spec *sp, const char *key,
                    const pp_opts *o, size_t n, cJSON *report);
/* After the stage ran, out of core: writes the marker (key, each file's
 * hash, the entries) and report["stages"]["split"] = "done"; in memory
 * nothing. Returns a status. */
int pp_split_done(const char *outdir, const pp_split_spec *sp, const char *key,
                  const pp_opts *o, cJSON *report);
/* The split stage (prepare_split.c): sp_run on the n representatives with
 * their 50% clusters rep[] (o->split, o->leak) into OUTDIR, adding "split"
 * and "leakage" to report. Out of core it resumes: its key hashes key_in
 * (the last clustering step's key), n and every option of o->split and
 * o->leak that changes the sets, the files or the report (not the thread
 * count: sp_leakage does not depend on it); OUTDIR/prepare_split.json,
 * written after the six set files (train/val/test .txt and .tsv), holds
 * the key, each file's hash and the report entries. With o->resume a
 * marker of this key whose files all have their hashes skips the stage
 * (the entries restored, report["stages"]["split"] "skipped: ...", a line
 * on stderr); otherwise the stage runs and the marker is written ("done").
 * Returns a status. */
int pp_stage_split(const char *outdir, const cl_src *src, const uint32_t *rep, size_t n,
                   const pp_opts *o, const char *key_in, cJSON *report);

#endif
