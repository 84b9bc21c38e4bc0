/* fio: atomic output files (temp file in the same directory, then rename). */
#ifndef ABLM_FILEIO_H
#define ABLM_FILEIO_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "afile.h"

/* The data commands' output files are graph/afile.h's atomic files. */
typedef tg_afile fio_out;
#define fio_begin tg_afile_open
#define fio_commit tg_afile_commit
#define fio_abort tg_afile_abort
/* Writes a JSON value (pretty-printed, trailing newline) atomically. */
int fio_write_json(const char *path, const cJSON *v);
/* Creates directory path if missing (one level). Returns a status. */
int fio_mkdir(const char *path);
/* Joins dir and name into a new tg_malloc'ed string (NULL on no memory). */
char *fio_join(const char *dir, const char *name);

#endif
