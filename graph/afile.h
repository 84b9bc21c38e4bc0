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
    void *io;   /* the file descriptor and the first write error (afile.c) */
} tg_afile;

/* Creates a unique temporary file next to `path` and opens it for writing.
 * Returns TG_OK, TG_ERR_IO or TG_ERR_NOMEM (message names the path). */
int tg_afile_open(tg_afile *a, const char *path);
/* tg_afile_open with the process ID in the temporary name,
 * PATH.PID.tmp.XXXXXX, so that a later run can tell the file of a killed
 * process from a live one's and remove it (fio_clean_stale's pid_names,
 * data/fileio.h). For outputs that no lock guards (ablm cluster's). */
int tg_afile_open_pid(tg_afile *a, const char *path);
/* Flushes, fsyncs, closes and renames the temporary file onto the final
 * path. On failure (any write since open failed or was short, fsync, close
 * or rename failed) the temporary file is removed, the previous file at
 * path is untouched, and an error naming the path and the first failure's
 * reason (e.g. "No space left on device") is returned. Always releases `a`. */
int tg_afile_commit(tg_afile *a);
/* Discards the temporary file. Safe on a zeroed or released tg_afile. */
void tg_afile_abort(tg_afile *a);

/* The temporary file's descriptor (for ftruncate; flush the stream first),
 * -1 when `a` is not open. */
int tg_afile_fd(const tg_afile *a);

/* ---- fault injection (tests) ------------------------------------------------
 * tg_afile_fault(kind, k) arms one fault: the k-th event from now (k >= 1)
 * of the kind's class, counted over all tg_afiles of the process, fails:
 *   TG_AFAULT_CREATE  the k-th tg_afile_open(_pid) cannot create its temp file (ENOSPC)
 *   TG_AFAULT_SHORT   the k-th write(2) of buffered data writes half its bytes, then ENOSPC
 *   TG_AFAULT_ENOSPC  the k-th write(2) writes nothing and fails with ENOSPC
 *   TG_AFAULT_FSYNC   the k-th commit's fsync fails with EIO
 *   TG_AFAULT_RENAME  the k-th commit's rename fails with ENOSPC
 * kind TG_AFAULT_OFF disarms. The environment variable
 * ABLM_FAULT_WRITE=KIND:K (create, short, enospc, fsync, rename) arms the same
 * at the first tg_afile_open of a process (for the ablm binary), and
 * ABLM_FAULT_SLOW_COMMIT_MS=N sleeps N ms in every commit before the rename
 * (to widen the window of a crash test) and ABLM_FAULT_KILL_AT_COMMIT=N
 * raises SIGKILL in the N-th commit of the process, after the data is
 * written and synced, before the rename (tests/test_crash.c). Not thread-safe (outputs are written
 * from one thread). */
enum { TG_AFAULT_OFF, TG_AFAULT_CREATE, TG_AFAULT_SHORT, TG_AFAULT_ENOSPC, TG_AFAULT_FSYNC,
       TG_AFAULT_RENAME };
void tg_afile_fault(int kind, long k);
/* 1 once the armed fault has fired (until the next tg_afile_fault). */
int tg_afile_fault_fired(void);

#endif
