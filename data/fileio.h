/* fio: atomic output files (temp file in the same directory, then rename). */
#ifndef ABLM_FILEIO_H
#define ABLM_FILEIO_H

#include <stdio.h>

#include <cjson/cJSON.h>

typedef struct {
    FILE *f;
    char *path; /* final name */
    char *tmp;  /* temp name in the same directory */
} fio_out;

/* Opens a temp file next to path for writing. Returns a status (message
 * names the path). */
int fio_begin(fio_out *o, const char *path);
/* Flushes, closes and renames the temp file to its final name; on any
 * write error removes the temp file and returns TG_ERR_IO. */
int fio_commit(fio_out *o);
/* Closes and removes the temp file (after an error elsewhere). NULL-safe. */
void fio_abort(fio_out *o);
/* Writes a JSON value (pretty-printed, trailing newline) atomically. */
int fio_write_json(const char *path, const cJSON *v);
/* Creates directory path if missing (one level). Returns a status. */
int fio_mkdir(const char *path);
/* Joins dir and name into a new tg_malloc'ed string (NULL on no memory). */
char *fio_join(const char *dir, const char *name);

#endif
