/* ss: an on-disk sequence store, written by streaming and read through mmap
 * (ablm prepare's out-of-core record store).
 *
 * File layout (little-endian; one file, written atomically: temp + rename):
 *   header   SS_HEADER_BYTES: magic "ABLMSEQS", u32 version (SS_VERSION),
 *            u32 n_files, u64 n records, then u64 offset/size pairs of the
 *            data, ids, table and files sections, u64 content hash (FNV-1a
 *            64 of every byte after the header), zero padding.
 *   data     per record: its residues (one byte per residue, uppercase
 *            letters or '*'), NUL, its CDR3's residues, NUL. A record with
 *            a mate (version 2, flag bit 1: a heavy/light pair) has its
 *            mate's residues and NUL right after its own NUL (so sequence
 *            NUL mate is one contiguous key), then the CDR3 and NUL, then
 *            SS_FIELDS strings each NUL-terminated (absent ones empty).
 *   ids      per record: its source id, NUL.
 *   table    per record SS_ENTRY_BYTES: u64 data offset, u64 id offset,
 *            i64 line, u32 length, u32 CDR3 length, u32 file, u32 flags
 *            (bit 0: the record has a CDR3; bit 1: it has a mate; bits
 *            8..8+SS_FIELDS-1: field k is present).
 *   files    the inputs' base names, NUL-terminated, in file order.
 * ss_open checks the magic, the version, the section bounds against the file
 * size and every table entry against its sections (so a read by index never
 * leaves the map), and with verify the content hash.
 */
#ifndef ABLM_SEQSTORE_H
#define ABLM_SEQSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "afile.h"

#define SS_VERSION 2 /* 2: records with a mate; version 1 stores are still read */
#define SS_HEADER_BYTES 128
#define SS_ENTRY_BYTES 40
/* Text fields a record with a mate carries (a pair: the light chain's
 * locus and its seven regions). */
#define SS_FIELDS 8

/* Streaming writer. */
typedef struct {
    tg_afile out;          /* the store (header, then data) */
    tg_afile ids, table;   /* side files, appended at ss_write_end */
    char **files;          /* base names */
    uint32_t n_files, fcap;
    uint64_t n, data_bytes, ids_bytes;
    uint64_t hash_data;    /* FNV-1a over the data section so far */
} ss_writer;

/* Starts a store at path (temp files next to it). Returns a status. */
int ss_write_begin(ss_writer *w, const char *path);
/* Appends one record: seq (len residues), cdr3 (cdr3_len residues, NULL:
 * none), its id, the base name of its file and its line. Returns a status. */
int ss_write_add(ss_writer *w, const char *seq, int len, const char *cdr3, int cdr3_len,
                 const char *id, const char *file, long line);
/* Appends one record with a mate (a heavy/light pair): seq (len residues),
 * mate (mate_len residues, neither holding a NUL), cdr3 as ss_write_add, and
 * fields[0..SS_FIELDS) (NULL: absent; fields may be NULL: all absent).
 * Returns a status. */
int ss_write_add_mate(ss_writer *w, const char *seq, int len, const char *mate, int mate_len,
                      const char *cdr3, int cdr3_len, const char *const *fields,
                      const char *id, const char *file, long line);
/* Finishes the store: appends the sections, writes the header with the hash,
 * renames it into place. *hash (optional) gets the content hash. Always
 * releases w. Returns a status. */
int ss_write_end(ss_writer *w, uint64_t *hash);
/* Discards an unfinished store (temp files removed). */
void ss_write_abort(ss_writer *w);

/* A store opened for reading. */
typedef struct {
    const uint8_t *base;   /* the map */
    size_t size;
    uint64_t n;
    uint32_t n_files;
    uint64_t hash;         /* from the header */
    const char *data, *ids;
    const uint8_t *table;
    const char **files;    /* n_files base names (into the map) */
} ss_store;

/* Maps path and checks it (see the header comment); verify != 0 also
 * recomputes the content hash. Errors name the file and what is wrong
 * (TG_ERR_IO, TG_ERR_FORMAT). */
int ss_open(ss_store *s, const char *path, int verify);
void ss_close(ss_store *s);

/* Record i (< s->n): its sequence (NUL-terminated, *len residues). */
const char *ss_seq(const ss_store *s, uint64_t i, int *len);
/* Record i's CDR3 (NUL-terminated), or NULL when it has none. */
const char *ss_cdr3(const ss_store *s, uint64_t i, int *len);
/* Record i's mate (NUL-terminated, *len residues), or NULL (*len 0) when
 * it has none. With a mate, ss_seq's sequence NUL mate is contiguous:
 * *len + 1 + mate length bytes from ss_seq's pointer. */
const char *ss_mate(const ss_store *s, uint64_t i, int *len);
/* Record i's field k (< SS_FIELDS), or NULL when absent (or no mate). */
const char *ss_field(const ss_store *s, uint64_t i, int k);
const char *ss_id(const ss_store *s, uint64_t i);
const char *ss_file(const ss_store *s, uint64_t i);
long ss_line(const ss_store *s, uint64_t i);

/* FNV-1a 64 of n bytes continuing from h (start with SS_HASH_INIT). */
#define SS_HASH_INIT 0xcbf29ce484222325ULL
uint64_t ss_hash(uint64_t h, const void *p, size_t n);

#endif
