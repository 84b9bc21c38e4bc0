/* npy: writer of NumPy .npy files (format version 1.0), atomically.
 *
 * Layout: "\x93NUMPY", version 1.0, little-endian u16 header length, then
 * the header dict "{'descr': '<f4', 'fortran_order': False, 'shape': (N, H), }"
 * padded with spaces and ending in '\n' so the data starts at a multiple of
 * 64 bytes, then the C-order data. Supported dtypes: '<f4' and '<i4'.
 *
 * Writing goes to a temp file next to the target that is sized (zero-filled)
 * to the full array first, so rows can be placed in any order and whatever
 * is never written reads as 0; npy_commit renames it over the target. */
#ifndef ABLM_NPY_H
#define ABLM_NPY_H

#include <stddef.h>

#include "afile.h"

#define NPY_MAX_DIMS 8

typedef struct {
    tg_afile af;
    long data_off;   /* byte offset of the data section */
    size_t nbytes;   /* data bytes = numel * 4 */
} npy_file;

/* Writes the header text for descr ("<f4" or "<i4") and shape into buf
 * (capacity cap): magic, version, length and the padded dict. Returns the
 * total header bytes (a multiple of 64) or a negative status. */
long npy_header(char *buf, size_t cap, const char *descr, int ndim, const size_t *shape);

/* Starts an atomic .npy file of the given dtype and shape, all zeros.
 * Returns a status (message names path). */
int npy_create(npy_file *f, const char *path, const char *descr, int ndim, const size_t *shape);
/* Writes n bytes at byte offset off of the data section. Returns a status;
 * writing outside the array is TG_ERR_ARG. */
int npy_put(npy_file *f, size_t off, const void *data, size_t n);
/* Renames the finished file over its target (status), or discards it. */
int npy_commit(npy_file *f);
void npy_abort(npy_file *f);

/* Whole array in one call: create, put, commit. */
int npy_write(const char *path, const char *descr, int ndim, const size_t *shape,
              const void *data);

/* A companion file name: "out.npy" + "ids" -> "out.ids.npy" (a path not
 * ending in ".npy" gets ".ids.npy" appended). Returns a tg_malloc'd string
 * or NULL. */
char *npy_sibling(const char *path, const char *tag);
/* A companion file of any kind: "out.npy" + "records.tsv" ->
 * "out.records.tsv". Returns a tg_malloc'd string or NULL. */
char *npy_companion(const char *path, const char *name);

/* Writes the record index of a .npy output, path's companion
 * "records.tsv" (out.npy -> out.records.tsv), atomically: a header
 * "index TAB id TAB length", then line i = array row i: i, ids[i] (the
 * record id), ntok[i] - 2 (its residues: tokens without [CLS] and [SEP]).
 * Returns a status. */
int npy_write_records(const char *path, char *const *ids, const int *ntok, size_t n);

#endif
