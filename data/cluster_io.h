/* cluster_io: sequence input (FASTA or one sequence per line, optionally
 * gzip-compressed) and the cluster output files, for `ablm cluster` and the
 * benchmarks. Input reading is one function (cl_seqs_read) so another
 * reader (OAS/AIRR tables) can replace it. */
#ifndef ABLM_CLUSTER_IO_H
#define ABLM_CLUSTER_IO_H

#include <stddef.h>
#include <stdint.h>

/* Sequences and names in two arenas; off arrays have n+1 entries. */
typedef struct {
    size_t n;
    char *seq, *name;         /* NUL-separated; seq[i] at seq + seq_off[i] */
    size_t *seq_off, *name_off;
    size_t seq_cap, name_cap, n_cap;
    size_t text_count;        /* sequences read from plain-text files (names seqN) */
} cl_seqs;

/* Appends the sequences of path: FASTA if the first non-blank byte is '>'
 * (name = header up to the first blank; sequence lines joined, blanks
 * removed), else one sequence per line (blank lines skipped; names seqN, N
 * counting text sequences from 1 over all files read into s). A line with a
 * comma, tab or blank in text input is rejected as a table (TG_ERR_FORMAT,
 * "path:line: ..."): tables need a column reader. Returns TG_OK,
 * TG_ERR_IO, TG_ERR_FORMAT or TG_ERR_NOMEM. */
int cl_seqs_read(cl_seqs *s, const char *path);
void cl_seqs_free(cl_seqs *s);
static inline const char *cl_seqs_seq(const cl_seqs *s, size_t i) { return s->seq + s->seq_off[i]; }
static inline int cl_seqs_len(const cl_seqs *s, size_t i) { return (int)(s->seq_off[i + 1] - s->seq_off[i] - 1); }
static inline const char *cl_seqs_name(const cl_seqs *s, size_t i) { return s->name + s->name_off[i]; }

/* Writes PREFIX_cluster.tsv (representative name TAB member name; clusters
 * by representative index, the representative's own line first, then
 * members by index) and PREFIX_rep_seq.fasta, each atomically (temporary
 * file in the same directory, then rename). Returns TG_OK or TG_ERR_IO. */
int cl_write_clusters(const cl_seqs *s, const uint32_t *rep, const char *prefix);

/* Reads a cluster TSV (rep TAB member) against s: rep_out[i] = index of the
 * representative of sequence i. Every sequence must appear exactly once as
 * a member. Returns TG_OK, TG_ERR_IO, TG_ERR_FORMAT or TG_ERR_NOMEM. */
int cl_read_cluster_tsv(const cl_seqs *s, const char *path, uint32_t *rep_out);

#endif
