/* cluster_io: sequence input (FASTA or one sequence per line, optionally
 * gzip-compressed; or one field of OAS/CSV/AIRR tables through
 * data/reader.h) and the cluster output files, for `ablm cluster` and the
 * benchmarks. */
#ifndef ABLM_CLUSTER_IO_H
#define ABLM_CLUSTER_IO_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

/* Sequences in one arena (seq_off has n+1 entries) and the ids of every
 * record read (data/reader.h rd_ids: FASTA names, table sequence_id cells,
 * else FILE:LINE), so that `ablm cluster` and `ablm split` name records
 * alike. Names are final after cl_seqs_finish. */
typedef struct {
    size_t n;
    char *seq;                /* NUL-separated; seq[i] at seq + seq_off[i] */
    size_t *seq_off;
    uint32_t *rec;            /* rec[i]: sequence i's record in ids */
    size_t seq_cap, n_cap;
    rd_ids ids;               /* every record read, also those without the field */
    size_t empty;             /* records without a sequence (FASTA/plain, not in ids) */
} cl_seqs;

/* Appends the sequences of a FASTA or one-sequence-per-line file (.gz or
 * plain) read through data/reader.h: names are the FASTA names (first word
 * of the header) or FILE:LINE; blanks inside sequence lines are dropped;
 * bad characters are an error naming file, line and column. A table (OAS,
 * CSV, AIRR) is rejected (TG_ERR_ARG): it needs --column. Records with an
 * empty sequence are counted in s->empty. Returns TG_OK, TG_ERR_IO,
 * TG_ERR_FORMAT, TG_ERR_ARG or TG_ERR_NOMEM. */
int cl_seqs_read(cl_seqs *s, const char *path);
/* Parses a --column name: cdr3_aa or sequence_alignment_aa, optionally
 * suffixed _heavy or _light. Sets *use_cdr3 (1: the CDR3 field) and *chain
 * (an rd_chain: RD_CHAIN_ANY without suffix). TG_OK or TG_ERR_ARG. */
int cl_column_parse(const char *column, int *use_cdr3, int *chain);
/* Appends the chosen field of every record of an OAS unit, CSV or AIRR TSV
 * (data/reader.h; .gz or plain) to s, named by the reader's record id
 * (the sequence_id cell of the chain, else FILE:LINE). cdr3_aa* takes the reader's CDR3 (cdr3_aa, else
 * junction_aa trimmed, else translated cdr3/junction); sequence_alignment_aa*
 * the chain's sequence (translated from sequence_alignment if needed).
 * Rows where that field is empty are skipped and counted in *skipped (not
 * reset). FASTA/plain files are rejected (TG_ERR_ARG): they have no
 * columns. Returns TG_OK or the reader's error (message names file, line). */
int cl_seqs_read_column(cl_seqs *s, const char *path, const char *column, size_t *skipped);
/* Makes the names unique over everything read (rd_ids_unique: a repeated
 * id becomes ID@FILE:LINE); *renamed (optional) gets the count. Call once,
 * after the last read. Returns a status. */
int cl_seqs_finish(cl_seqs *s, size_t *renamed);
void cl_seqs_free(cl_seqs *s);
static inline const char *cl_seqs_seq(const cl_seqs *s, size_t i) { return s->seq + s->seq_off[i]; }
static inline int cl_seqs_len(const cl_seqs *s, size_t i) { return (int)(s->seq_off[i + 1] - s->seq_off[i] - 1); }
static inline const char *cl_seqs_name(const cl_seqs *s, size_t i) { return rd_ids_get(&s->ids, s->rec[i]); }

/* Writes PREFIX_cluster.tsv (representative name TAB member name; clusters
 * by representative index, the representative's own line first, then
 * members by index) and PREFIX_rep_seq.fasta, each atomically (temporary
 * file NAME.PID.tmp.XXXXXX in the same directory, then rename: the next
 * ablm cluster removes those of a killed process). Returns TG_OK or
 * TG_ERR_IO. */
int cl_write_clusters(const cl_seqs *s, const uint32_t *rep, const char *prefix);

/* Reads a cluster TSV (rep TAB member) against s: rep_out[i] = index of the
 * representative of sequence i. Every sequence must appear exactly once as
 * a member. Returns TG_OK, TG_ERR_IO, TG_ERR_FORMAT or TG_ERR_NOMEM. */
int cl_read_cluster_tsv(const cl_seqs *s, const char *path, uint32_t *rep_out);
/* cl_read_cluster_tsv against the n unique names[] (rep_out[i]: index of
 * the representative of names[i]); the same checks and errors. */
int cl_read_cluster_names(const char *const *names, size_t n, const char *path, uint32_t *rep_out);

#endif
