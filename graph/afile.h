/* Atomic file output: write to a temporary file in the target's directory,
 * then flush, fsync and rename() it over the target, so readers see the old
 * file or the complete new one, never a partial write. */
#ifndef TG_AFILE_H
#define TG_AFILE_H

#include <stdio.h>

typedef struct {
    FILE *f;    /* write here between open and commit */
    char *tmp;  /* temporary path (same directory as path) */
    char *path; /* final path */
} tg_afile;

/* Creates a unique temporary file next to `path` and opens it for writing.
 * Returns TG_OK, TG_ERR_IO or TG_ERR_NOMEM (message names the path). */
int tg_afile_open(tg_afile *a, const char *path);
/* Flushes, fsyncs, closes and renames the temporary file onto the final
 * path. On failure the temporary file is removed and an error naming the
 * path is returned. Always releases `a`. */
int tg_afile_commit(tg_afile *a);
/* Discards the temporary file. Safe on a zeroed or released tg_afile. */
void tg_afile_abort(tg_afile *a);

#endif
