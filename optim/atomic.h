/* Atomic file output: write to a temporary file in the target's directory,
 * then fsync and rename() over the target, so readers see the old file or
 * the complete new one, never a partial write. */
#ifndef OPT_ATOMIC_H
#define OPT_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;    /* write here between open and commit */
    char *tmp;  /* temporary path (same directory as path) */
    char *path; /* final path */
} opt_afile;

/* Creates a unique temporary file next to `path` and opens it for writing.
 * Returns TG_OK or TG_ERR_IO / TG_ERR_NOMEM (message names the path). */
int opt_afile_open(opt_afile *a, const char *path);
/* Flushes, fsyncs, closes and renames the temporary file onto the final
 * path. On any failure the temporary file is removed and an error naming
 * the path is returned. Always releases `a`. */
int opt_afile_commit(opt_afile *a);
/* Discards the temporary file (after a failed write). Safe on a zeroed or
 * already released opt_afile. */
void opt_afile_abort(opt_afile *a);
/* Writes `n` bytes to `path` atomically. Returns a status. */
int opt_write_file_atomic(const char *path, const void *data, size_t n);

#endif
