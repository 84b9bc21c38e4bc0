/* pr: heavy/light chain pairs for the heavy-to-light model and its
 * evaluation.
 *
 * Inputs (detected from the content; .gz or plain), all through the rd
 * readers (data/reader.h), so ids, residue checks and errors are the same
 * as everywhere else:
 *   - an OAS paired unit (.csv/.csv.gz with _heavy/_light columns): the
 *     pair's id is sequence_id_heavy, the locus locus_light (else the
 *     v_call_light prefix), the regions fwr1_aa_light ... fwr4_aa_light;
 *   - a CSV/TSV with paired columns: either the OAS names
 *     (sequence_alignment_aa_heavy/_light, ...) or heavy and light, with
 *     optional id, locus and fwr1, cdr1, fwr2, cdr2, fwr3, cdr3, fwr4 (the
 *     light chain's; the pair files `ablm prepare` writes);
 *   - text lines HEAVY[SEP]LIGHT (the reference's format; the separator is
 *     pr_opts.sep), id FILE:LINE.
 *
 * Residues are checked as the reader checks them (letters, '*', '.'
 * removed, '-' -> X; anything else makes the row malformed: an error naming
 * file, line and column, or with on_error skip a counted skip). A pair
 * whose heavy or light chain is empty is skipped and counted; so is a pair
 * with a chain longer than max_heavy/max_light (when set), and one with a
 * residue outside the 20 amino acids when drop_nonstandard is set.
 *
 *   pr_opts o; pr_opts_default(&o);
 *   pr_set s = {0};
 *   if (pr_read(path, &o, &s)) -> tg_last_error()
 *   for (size_t i = 0; i < s.n; i++) use s.v[i];
 *   pr_free(&s);
 */
#ifndef ABLM_PAIRS_H
#define ABLM_PAIRS_H

#include <stddef.h>

#include "reader.h"

#include <cjson/cJSON.h>

#define PR_N_REGIONS 7
/* Region names in pr_pair.region order: "fwr1", "cdr1", ..., "fwr4". */
extern const char *const pr_region_names[PR_N_REGIONS];

typedef struct {
    int max_heavy, max_light; /* longer chains: the pair is skipped and counted (0: no limit) */
    int drop_nonstandard;     /* skip (and count) pairs with a residue outside the 20 */
    const char *sep;          /* separator of text lines ("[SEP]") */
    rd_on_error on_error;     /* malformed rows: fail (default) or skip and count */
    const rd_opts *rd;        /* reader filters (productive, length, ...) applied to the heavy
                                 chain, as `ablm prepare` takes them; NULL: none. Its chain,
                                 format, pair_sep and on_error are set by pr_read */
} pr_opts;

/* Defaults: no length limits, keep non-standard residues (the tokenizer
 * maps them to <unk>), sep "[SEP]", fail on malformed rows. */
void pr_opts_default(pr_opts *o);

typedef struct {
    const char *id;              /* sequence_id_heavy (OAS), an id column (TSV), else FILE:LINE */
    const char *heavy, *light;   /* uppercase residues, NUL-terminated */
    int heavy_len, light_len;
    const char *locus;           /* light locus "IGK" / "IGL", "" when unknown */
    const char *region[7];       /* light chain fwr1, cdr1, fwr2, cdr2, fwr3, cdr3, fwr4 (aa);
                                    NULL when the input has no region columns */
    const char *file; long line; /* where the pair was read */
    const char *heavy_cdr3;      /* the heavy chain's CDR3 (aa) when the input has one, else
                                    NULL (added after the fixed fields; prepare uses it) */
} pr_pair;

typedef struct pr_block pr_block;

typedef struct {
    size_t n;
    pr_pair *v;
    size_t cap;
    /* skipped pairs, summed over the pr_read calls */
    size_t rows;              /* rows / lines read */
    size_t no_heavy;          /* heavy chain empty */
    size_t no_light;          /* light chain empty */
    size_t nonstandard;       /* a residue outside the 20 (drop_nonstandard) */
    size_t too_long;          /* a chain longer than max_heavy / max_light */
    size_t malformed;         /* malformed rows skipped (on_error skip) */
    int n_msgs;               /* first messages of malformed rows */
    char msgs[RD_MAX_MSGS][256];
    pr_block *text;           /* the owned strings */
} pr_set;

/* Reads the pairs of path and appends them to *out (zero-initialised
 * before the first call). Returns TG_OK, or a status with a message naming
 * the file (and line, column for a bad row); on error *out keeps the pairs
 * appended before. */
int pr_read(const char *path, const pr_opts *o, pr_set *out);

/* A consumer of the pairs pr_read_each reads: p's strings are valid during
 * the call only. Returns a status (non-zero stops the reading). */
typedef int (*pr_sink)(void *ctx, const pr_pair *p);
/* Reads the pairs of path as pr_read does, passing each kept pair to
 * sink(ctx, pair) instead of keeping it; the counts of skipped pairs and
 * rows are added to *counts (its pairs are not touched). Returns what
 * pr_read returns (the sink's status when it fails). */
int pr_read_each(const char *path, const pr_opts *o, pr_set *counts, pr_sink sink, void *ctx);

/* The steps of pr_read_each, for a reader that is not rd_open's (rd_par):
 * the reader options pr_read opens a file with (o->rd, else the defaults,
 * with format auto, chain heavy, o->on_error and the separator); */
void pr_reader_opts(const pr_opts *o, rd_opts *ro);
/* TG_OK if r (path opened with ro) reads pairs, else the error "PATH: not
 * a pair file: ..."; */
int pr_check_paired(const rd_reader *r, const char *path, const rd_opts *ro);
/* one record of such a reader as a pair *p (its strings in rec or c, valid
 * until the next call): 1, or 0 when the pair is skipped (counted in
 * *counts), or a status; */
typedef struct {
    char *hbuf, *lbuf;
    size_t hcap, lcap;
} pr_conv;
int pr_from_record(const rd_record *rec, const pr_opts *o, pr_set *counts, pr_conv *c,
                   pr_pair *p);
void pr_conv_free(pr_conv *c);
/* and, once the file is read, its reader's counters (rows, empty heavy
 * chains, malformed rows and their messages) added to *counts. */
void pr_add_stats(pr_set *counts, const rd_stats *rs);

/* Appends one pair (strings copied; region may be NULL or hold NULLs).
 * Returns TG_OK or TG_ERR_NOMEM. */
int pr_add(pr_set *s, const pr_pair *p);

/* Frees everything; *s becomes an empty set. NULL-safe. */
void pr_free(pr_set *s);

/* 1 if some pair of s has region columns. */
int pr_has_regions(const pr_set *s);

/* Adds the counts (rows, pairs, skipped per reason, messages) as members
 * of obj. */
void pr_stats_to_json(const pr_set *s, cJSON *obj);

/* Writes pairs idx[0..n) of s (all when idx is NULL) as a TSV readable by
 * pr_read: columns id, heavy, light, locus, and fwr1..fwr4 when
 * with_regions. Written atomically (temp file, rename). Returns a status. */
int pr_write_tsv(const char *path, const pr_set *s, const size_t *idx, size_t n,
                 int with_regions);
/* The same file from pairs held elsewhere: get(ctx, k, &p) fills row k's
 * pair (k = 0..n; its strings valid until the next call). */
typedef void (*pr_get_fn)(const void *ctx, size_t k, pr_pair *p);
int pr_write_tsv_fn(const char *path, pr_get_fn get, const void *ctx, size_t n,
                    int with_regions);

#endif
