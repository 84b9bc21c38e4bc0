/* rd: streaming readers for antibody sequence files.
 *
 * Formats (detected from the content; .gz or plain, both through zlib):
 *   oas    OAS data unit: line 1 the unit's JSON metadata as one CSV cell,
 *          line 2 the CSV header, then RFC 4180 rows. Paired units have
 *          _heavy/_light column suffixes (sequence_alignment_aa_heavy, ...,
 *          and the light regions fwr1_aa_light ... fwr4_aa_light).
 *          A CSV/TSV with columns named heavy and light (and optionally id,
 *          locus: the light chain's, and fwr1, cdr1, ..., fwr4: the light
 *          chain's regions) is paired too (the pair files of ablm prepare).
 *   csv    the same without the metadata line.
 *   airr   AIRR rearrangement TSV (IgBLAST, Immcantation, 10x): no quoting.
 *   fasta  '>' headers, sequence lines.
 *   plain  one sequence per line; with rd_opts.pair_sep, lines HEAVY<sep>LIGHT.
 *
 * Usage:
 *   rd_opts o; rd_opts_default(&o);
 *   rd_reader *r; if (rd_open(&r, path, &o)) -> print tg_last_error()
 *   rd_record rec; while ((st = rd_next(r, &rec)) == 1) use rec;
 *   st < 0: error (tg_last_error names file, line, column)
 *   rd_close(r);
 *
 * Malformed rows stop the reader with an error (on_error = RD_ON_ERROR_FAIL)
 * or are skipped and counted in rd_stats (RD_ON_ERROR_SKIP). Rows removed by
 * a filter are counted per reason. Nothing is dropped silently.
 *
 * Residue cells of tables are checked: amino-acid cells (sequence_alignment_aa,
 * cdr3_aa, junction_aa) hold letters, '*' (stop), '.' (IMGT gap: removed) and
 * '-' (deletion: becomes X, as a translated '-' codon does); nucleotide cells
 * letters, '.' and '-'. Anything else (digits, blanks, control bytes, other
 * punctuation, non-ASCII) and a cell longer than RD_MAX_SEQ make the row
 * malformed ("FILE:LINE: column NAME, character K: ..."). Record ids (the
 * sequence_id cell) must be one word of at most RD_MAX_ID printable bytes.
 * A row or line longer than RD_MAX_LINE bytes is malformed too.
 */
#ifndef ABLM_READER_H
#define ABLM_READER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Longest sequence (residues, or nucleotides before translation) a record
 * may have; a longer cell or FASTA record is malformed. The longest known
 * protein chain (titin) has 34,350 residues. */
#define RD_MAX_SEQ 100000
/* Longest record id (bytes). */
#define RD_MAX_ID 1000
/* Longest physical row of a table or line of a text file (bytes). */
#define RD_MAX_LINE (1 << 20)

typedef enum { RD_FMT_AUTO, RD_FMT_OAS, RD_FMT_CSV, RD_FMT_AIRR, RD_FMT_FASTA, RD_FMT_PLAIN } rd_format;
typedef enum { RD_CHAIN_HEAVY, RD_CHAIN_LIGHT, RD_CHAIN_ANY } rd_chain;
typedef enum { RD_ON_ERROR_FAIL, RD_ON_ERROR_SKIP } rd_on_error;

typedef struct {
    rd_format format;     /* RD_FMT_AUTO: detect from content */
    rd_chain chain;       /* paired: which chain; unpaired: keep rows of this locus */
    const char *locus;    /* if set, keep only rows whose locus is this (IGH, IGK, IGL) */
    int productive_only;  /* drop rows whose productive value is not true */
    int drop_stop;        /* drop sequences containing '*' */
    int drop_nonstandard; /* drop sequences with any letter outside the 20 amino acids */
    int min_length;       /* drop sequences shorter than this (0: no limit) */
    int max_length;       /* drop sequences longer than this (0: no limit) */
    int allow_mask;       /* FASTA/plain: accept the literal [MASK] (inference inputs) */
    int keep_text;        /* FASTA/plain: keep blanks (each as one ' ') and letter case, so the
                           * tokenizer sees the line as run_mlm.py would give it (train, eval,
                           * inference inputs); else blanks are dropped and letters upper-cased */
    const char *pair_sep; /* if set (e.g. "[SEP]"): a text file whose first line holds it is
                           * read as lines HEAVY<sep>LIGHT, one pair per line (the chain
                           * option picks seq, the other half is the mate) */
    rd_on_error on_error;
} rd_opts;

/* Defaults: auto format, heavy chain, no filters, fail on malformed rows. */
void rd_opts_default(rd_opts *o);

/* One record. Pointers stay valid until the next rd_next/rd_close. */
typedef struct {
    const char *id;   /* source id: the sequence_id cell (paired units:
                       * sequence_id_heavy or _light, the chain's), the FASTA
                       * name (first word of the header); FILE:LINE when the
                       * record has none (file's base name, row's first line) */
    const char *file; /* the file's base name */
    long line;        /* physical line where the record starts */
    const char *seq;  /* amino-acid sequence of the chosen chain, uppercase */
    int len;
    const char *cdr3; /* CDR3 amino acids, NULL when the file has none */
    int cdr3_len;
    const char *mate; /* paired data: the other chain's sequence, else NULL */
    int mate_len;
    int productive;   /* 1 true, 0 false, -1 unknown */
    const char *v_call; /* "" when unknown */
    const char *locus;  /* "IGH", "IGK", ...; "" when unknown */
    /* paired data only ("" / NULL otherwise): */
    const char *mate_id;    /* the other chain's id cell; "" when none */
    const char *mate_locus; /* the other chain's locus; "" when unknown */
    const char *light_region[7]; /* the light chain's fwr1, cdr1, fwr2, cdr2, fwr3, cdr3, fwr4
                                  * (amino acids, checked and cleaned like sequence cells);
                                  * NULL when the table has no such column */
} rd_record;

#define RD_MAX_MSGS 8
typedef struct {
    size_t rows;              /* data rows (or FASTA/plain records) read */
    size_t records;           /* records returned */
    size_t skipped_malformed; /* malformed rows skipped (--on-error skip) */
    size_t skipped_lines;     /* physical lines inside those rows */
    size_t filtered_empty;    /* no sequence in the chosen chain */
    size_t filtered_locus;
    size_t filtered_productive;
    size_t filtered_stop;
    size_t filtered_nonstandard;
    size_t filtered_short;
    size_t filtered_long;
    size_t unknown_locus;     /* kept rows whose locus could not be told */
    int n_msgs;               /* first messages of skipped rows */
    char msgs[RD_MAX_MSGS][256];
} rd_stats;

typedef struct rd_reader rd_reader;

/* Opens path (gzip or plain), detects the format, reads the metadata and
 * header and resolves columns. Returns TG_OK with *out set, or an error
 * status with a message naming the file (TG_ERR_IO, TG_ERR_FORMAT for an
 * empty, binary, non-gzip-but-.gz or truncated file, a missing column,
 * TG_ERR_ARG for options the file cannot honour, TG_ERR_NOMEM). */
int rd_open(rd_reader **out, const char *path, const rd_opts *o);

/* Reads the next record that passes the filters. Returns 1 with *rec set,
 * 0 at end of file, or an error status (message: file, line, column). */
int rd_next(rd_reader *r, rd_record *rec);

/* Frees the reader. NULL-safe. */
void rd_close(rd_reader *r);

rd_format rd_format_of(const rd_reader *r);
/* "oas", "csv", "airr", "fasta", "plain" ("auto" for RD_FMT_AUTO). */
const char *rd_format_name(rd_format f);
/* Parses a format name; returns 0 and sets *f, or -1. */
int rd_format_parse(const char *name, rd_format *f);
/* 1 for an OAS paired unit (_heavy/_light columns). */
int rd_is_paired(const rd_reader *r);
/* The OAS metadata object (line 1), or NULL. Owned by the reader. */
const cJSON *rd_metadata(const rd_reader *r);
const rd_stats *rd_get_stats(const rd_reader *r);
/* Adds the counters of b into a (messages appended while room). */
void rd_stats_add(rd_stats *a, const rd_stats *b);
/* Records a message in s->msgs if room is left (used for skipped rows and
 * skipped files). */
void rd_stats_note(rd_stats *s, const char *msg);
/* Adds the stats as members of a JSON object (counts and messages). */
void rd_stats_to_json(const rd_stats *s, cJSON *obj);

/* Translates nucleotides with the standard codon table. IMGT gap dots '.'
 * are removed first; codons with any other non-ACGT character (N, '-')
 * give 'X'; stop codons give '*'; a trailing partial codon is dropped.
 * out needs room for n/3 + 1 bytes; returns the amino-acid count and
 * NUL-terminates out. */
int rd_translate(const char *nt, int n, char *out);

/* ---- several files read in parallel -----------------------------------------
 *
 * rd_par parses files with up to `threads` worker threads (each takes the
 * next whole file: rd_open, rd_next to its end; gzip inflating is most of
 * the cost) and hands their records to one consumer in file order, exactly
 * as the serial loop would see them:
 *
 *   rd_par *p; rd_par_begin(&p, paths, n, &o, threads, 0);
 *   for (f = 0; f < n; f++) {
 *       rd_reader *r;
 *       st = rd_par_open(p, f, &r);          // as rd_open(&r, paths[f], &o)
 *       while ((st = rd_par_next(p, &rec)) == 1) use rec;   // as rd_next(r, &rec)
 *       rd_get_stats(r), rd_format_of(r), rd_metadata(r)   // once rd_par_next returned <= 0
 *       rd_par_close(p);                     // instead of rd_close(r)
 *   }
 *   rd_par_end(p);
 *
 * The records, their order, and every status and error message (file,
 * line, column) are the serial reader's; only the reading runs ahead. Memory:
 * each file in flight keeps at most buffer_bytes / threads of parsed records
 * waiting (its worker waits for the consumer), and at most `threads` files
 * are in flight. threads <= 1 reads in the consumer's thread, without
 * workers (one file with threads > 1 gets one worker: parsing overlaps what
 * the consumer does with the records).
 */
#define RD_PAR_BUFFER ((size_t)64 << 20)
typedef struct rd_par rd_par;
/* Starts the workers (min(threads, n); none when threads <= 1) over
 * paths[0..n), which must outlive p, as o. buffer_bytes 0: RD_PAR_BUFFER.
 * Returns a status (TG_ERR_NOMEM). */
int rd_par_begin(rd_par **out, const char *const *paths, int n, const rd_opts *o, int threads,
                 size_t buffer_bytes);
/* Opens file f (0, 1, ... in turn): rd_open's status and message for that
 * file; *rd (valid until rd_par_close) serves rd_get_stats etc. */
int rd_par_open(rd_par *p, int f, rd_reader **rd);
/* The open file's next record: rd_next's result (record pointers valid until
 * the next call). */
int rd_par_next(rd_par *p, rd_record *rec);
/* Rows read of the open file up to the last record returned (progress). */
size_t rd_par_rows(const rd_par *p);
/* Closes the open file. Closing one before rd_par_next returned <= 0 stops
 * all reading (only rd_par_end may follow). */
void rd_par_close(rd_par *p);
/* Stops the workers and frees p. NULL-safe. */
void rd_par_end(rd_par *p);

/* ---- record ids over several files ------------------------------------------
 *
 * The ids of the records a command reads, made unique the same way by every
 * command (prepare, cluster, split, the inference commands), so that one
 * command's output names the records another reads:
 *
 *   rd_ids ids; rd_ids_init(&ids);
 *   for each record read: rd_ids_add(&ids, rec.id, rec.file, rec.line)
 *   rd_ids_unique(&ids, &renamed);  // then rd_ids_get(&ids, i)
 *
 * An id that occurs more than once among the added records becomes
 * "ID@FILE:LINE" at every occurrence (so no record keeps an ambiguous name,
 * whatever the order of the files). If the ids are still not unique (the
 * same file given twice, or two files of the same base name without source
 * ids) that is an error naming both records. */
typedef struct {
    size_t n, cap;
    char *text;        /* the ids, NUL-terminated */
    size_t used, tcap;
    size_t *off;       /* off[i]: id i in text */
    long *line;
    uint32_t *file;    /* index into files */
    char **files;      /* base names, copied */
    size_t n_files, fcap;
} rd_ids;

void rd_ids_init(rd_ids *s);
void rd_ids_free(rd_ids *s);
/* Appends one record's id (copied), its file's base name and line. Returns
 * TG_OK or TG_ERR_NOMEM. */
int rd_ids_add(rd_ids *s, const char *id, const char *file, long line);
/* Rewrites every id that occurs more than once as ID@FILE:LINE; *renamed
 * (optional) gets how many records were renamed. Returns TG_OK,
 * TG_ERR_FORMAT (still not unique; message names both records) or
 * TG_ERR_NOMEM. */
int rd_ids_unique(rd_ids *s, size_t *renamed);
static inline const char *rd_ids_get(const rd_ids *s, size_t i) { return s->text + s->off[i]; }

/* Reads every record of several files (ids made unique over all of them
 * with rd_ids_unique) into *ids (records in file order) and *seqs (an array
 * of tg_malloc'd strings, freed with rd_free_strings). stats (optional)
 * receives the summed counters, renamed (optional) the rd_ids_unique count.
 * Returns a status. */
int rd_read_files(const char *const *paths, int n_paths, const rd_opts *o, rd_ids *ids,
                  char ***seqs, size_t *n_out, rd_stats *stats, size_t *renamed);

/* Reads a whole file of sequences into memory (ids and sequences, filtered
 * as o says; ids as the reader gives them, not made unique). On success *n_out entries; ids/seqs are arrays of strings,
 * freed with rd_free_strings. stats (optional) receives the counters. */
int rd_read_all(const char *path, const rd_opts *o, char ***ids, char ***seqs, size_t *n_out,
                rd_stats *stats);
void rd_free_strings(char **v, size_t n);

#endif
