/* Helpers shared by the libFuzzer targets: each target writes its input to
 * files in one private temporary directory and calls the parser on them. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The target's private directory (created on first call, under $TMPDIR or
 * /tmp); aborts if it cannot be made. */
const char *fz_dir(void);
/* Writes n bytes to fz_dir()/name and returns the full path (a static
 * buffer per slot 0..7); aborts on an I/O error. */
const char *fz_write(int slot, const char *name, const void *data, size_t n);
/* The whole file path (malloc'ed, NUL-terminated; *n its length), or NULL
 * when it cannot be opened; aborts on a read error. */
char *fz_slurp(const char *path, size_t *n);
/* Splits data at each occurrence of FZ_SEP into at most max parts; part i
 * is [start[i], start[i] + len[i]). Returns the number of parts (>= 1). */
#define FZ_SEP "\n--8<--\n"
int fz_split(const uint8_t *data, size_t n, int max, const uint8_t **start, size_t *len);

/* Reads every record of path with o (data/reader.h); aborts when a record
 * breaks the reader's contract (NULL fields, a length that disagrees with
 * the string, an error without a message). */
#include "reader.h"
void fz_read_all(const char *path, const rd_opts *o);

#endif
