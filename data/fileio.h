/* fio: atomic output files (temp file in the same directory, then rename). */
#ifndef ABLM_FILEIO_H
#define ABLM_FILEIO_H

#include <stdint.h>
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
/* fio_write_json with the temporary file PATH.PID.tmp.XXXXXX
 * (tg_afile_open_pid: fio_clean_stale's pid_names can remove it once the
 * process is gone). */
int fio_write_json_pid(const char *path, const cJSON *v);
/* Creates directory path if missing (one level). Returns a status. */
int fio_mkdir(const char *path);
/* Joins dir and name into a new tg_malloc'ed string (NULL on no memory). */
char *fio_join(const char *dir, const char *name);
/* Removes from dir the temporary files a killed process left: regular files
 * (never links or directories) named
 *   NAME.PID.tmp.XXXXXX  NAME in pid_names (NULL-terminated), when PID is not
 *                        a live process (kill(PID, 0) gives ESRCH; this
 *                        process's own PID is never stale);
 *   NAME.tmp.XXXXXX      NAME in names, always: the caller holds a lock that
 *                        proves no live process writes them (pp_dir_lock).
 * XXXXXX is mkstemp's six letters or digits (tg_afile_open's temp names).
 * Counts the files removed and their bytes; a file that cannot be removed
 * is a warning on stderr. A missing dir removes nothing. Returns a status. */
int fio_clean_stale(const char *dir, const char *const *pid_names, const char *const *names,
                    size_t *removed, uint64_t *bytes);
/* 1 when the entry name f is stale by the naming rules of fio_clean_stale
 * (whatever its file type: callers that clean directories check that). */
int fio_is_stale(const char *f, const char *const *pid_names, const char *const *names);

#endif
