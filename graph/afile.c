/* Atomic file output (temporary file, fsync, rename), written through a
 * stdio cookie that keeps the first write error and hosts the fault hook. */
#define _GNU_SOURCE
#include "afile.h"

#include "tg.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- fault hook -------------------------------------------------------------- */

static int fault_kind;     /* TG_AFAULT_* armed, OFF when none */
static long fault_left;    /* events of that class until the fault */
static int fault_fired;
static int env_checked;    /* ABLM_FAULT_WRITE read (or a test armed the hook) */
static long slow_commit_ms;
static long kill_at_commit; /* ABLM_FAULT_KILL_AT_COMMIT: SIGKILL at that commit, 0 = never */

void tg_afile_fault(int kind, long k)
{
    env_checked = 1;
    fault_kind = k >= 1 ? kind : TG_AFAULT_OFF;
    fault_left = k;
    fault_fired = 0;
}

int tg_afile_fault_fired(void) { return fault_fired; }

static void read_env(void)
{
    if (env_checked)
        return;
    env_checked = 1;
    const char *s = getenv("ABLM_FAULT_SLOW_COMMIT_MS");
    slow_commit_ms = s ? atol(s) : 0;
    s = getenv("ABLM_FAULT_KILL_AT_COMMIT");
    kill_at_commit = s ? atol(s) : 0;
    s = getenv("ABLM_FAULT_WRITE");
    if (!s)
        return;
    static const char *names[] = {"", "create", "short", "enospc", "fsync", "rename"};
    const char *colon = strchr(s, ':');
    for (int i = 1; colon && i < 6; i++)
        if ((size_t)(colon - s) == strlen(names[i]) && !strncmp(s, names[i], colon - s))
            tg_afile_fault(i, atol(colon + 1));
}

/* 1 when this event of class `kind` is the armed fault. */
static int fault_now(int kind)
{
    int k = fault_kind;
    if (kind == TG_AFAULT_SHORT) /* both write faults count writes */
        k = k == TG_AFAULT_ENOSPC ? TG_AFAULT_SHORT : k;
    if (k != kind || --fault_left > 0)
        return 0;
    fault_fired = 1;
    k = fault_kind;
    fault_kind = TG_AFAULT_OFF;
    return k;
}

/* ---- the stream ------------------------------------------------------------------ */

typedef struct {
    int fd;
    int err; /* errno of the first failed write, 0 if none */
} af_io;

static ssize_t io_write(void *c, const char *buf, size_t n)
{
    af_io *io = c;
    size_t done = 0;
    int f = fault_now(TG_AFAULT_SHORT);
    if (f == TG_AFAULT_ENOSPC || (f == TG_AFAULT_SHORT && n < 2)) {
        io->err = io->err ? io->err : ENOSPC;
        errno = ENOSPC;
        return 0;
    }
    size_t want = f == TG_AFAULT_SHORT ? n / 2 : n;
    while (done < want) {
        ssize_t w = write(io->fd, buf + done, want - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (!io->err)
                io->err = w < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)w;
    }
    if (f == TG_AFAULT_SHORT && !io->err)
        io->err = ENOSPC;
    if (done < n)
        errno = io->err;
    /* a count below n marks the stream as failed (ferror). Never negative:
     * fopencookie's contract (glibc takes -1 as a huge count and reads past
     * the caller's buffer; valgrind found it) */
    return (ssize_t)done;
}

static int io_seek(void *c, off64_t *off, int whence)
{
    af_io *io = c;
    off64_t r = lseek64(io->fd, *off, whence);
    if (r < 0)
        return -1;
    *off = r;
    return 0;
}

static int io_close(void *c)
{
    af_io *io = c;
    int rc = close(io->fd);
    tg_free(io);
    return rc;
}

/* tg_afile_open (pid 0: temp name PATH.tmp.XXXXXX) and tg_afile_open_pid
 * (PATH.PID.tmp.XXXXXX). */
static int af_open(tg_afile *a, const char *path, long pid)
{
    read_env();
    memset(a, 0, sizeof *a);
    size_t n = strlen(path);
    a->tmp = tg_malloc(n + 40, "temp file name");
    a->path = tg_malloc(n + 1, "file name");
    af_io *io = tg_malloc(sizeof *io, "output file");
    if (!a->tmp || !a->path || !io) {
        /* no temp file yet: free without unlinking (a->tmp holds no name) */
        tg_free(io);
        tg_free(a->tmp);
        tg_free(a->path);
        memset(a, 0, sizeof *a);
        return TG_ERR_NOMEM;
    }
    memcpy(a->path, path, n + 1);
    if (pid)
        snprintf(a->tmp, n + 40, "%s.%ld.tmp.XXXXXX", path, pid);
    else
        snprintf(a->tmp, n + 40, "%s.tmp.XXXXXX", path);
    int fd = fault_now(TG_AFAULT_CREATE) ? (errno = ENOSPC, -1) : mkstemp(a->tmp);
    if (fd < 0) {
        int rc = tg_error(TG_ERR_IO, "%s: cannot create temp file %s: %s", path, a->tmp,
                          strerror(errno));
        tg_free(io);
        tg_free(a->tmp);
        a->tmp = NULL;
        tg_afile_abort(a);
        return rc;
    }
    fchmod(fd, 0644);
    io->fd = fd;
    io->err = 0;
    cookie_io_functions_t fns = {NULL, io_write, io_seek, io_close};
    a->f = fopencookie(io, "wb", fns);
    if (!a->f) {
        int rc = tg_error(TG_ERR_IO, "%s: cannot open temp file %s: %s", path, a->tmp,
                          strerror(errno));
        close(fd);
        tg_free(io);
        tg_afile_abort(a);
        return rc;
    }
    a->io = io;
    return TG_OK;
}

int tg_afile_open(tg_afile *a, const char *path) { return af_open(a, path, 0); }

int tg_afile_open_pid(tg_afile *a, const char *path) { return af_open(a, path, (long)getpid()); }

int tg_afile_commit(tg_afile *a)
{
    int rc = TG_OK;
    af_io *io = a->io;
    if (fflush(a->f) != 0 || ferror(a->f) || io->err)
        rc = tg_error(TG_ERR_IO, "%s: write failed: %s", a->path,
                      strerror(io->err ? io->err : errno ? errno : EIO));
    if (rc == TG_OK && (fault_now(TG_AFAULT_FSYNC) ? (errno = EIO, 1) : fsync(io->fd) != 0))
        rc = tg_error(TG_ERR_IO, "%s: write failed (fsync): %s", a->path, strerror(errno));
    if (fclose(a->f) != 0 && rc == TG_OK) /* frees io */
        rc = tg_error(TG_ERR_IO, "%s: write failed (close): %s", a->path, strerror(errno));
    a->f = NULL;
    a->io = NULL;
    if (rc == TG_OK && kill_at_commit > 0 && --kill_at_commit == 0)
        raise(SIGKILL); /* a crash with the data written, before the rename */
    if (rc == TG_OK && slow_commit_ms > 0)
        nanosleep(&(struct timespec){slow_commit_ms / 1000, slow_commit_ms % 1000 * 1000000L}, NULL);
    if (rc == TG_OK &&
        (fault_now(TG_AFAULT_RENAME) ? (errno = ENOSPC, 1) : rename(a->tmp, a->path) != 0))
        rc = tg_error(TG_ERR_IO, "%s: cannot rename %s into place: %s", a->path, a->tmp,
                      strerror(errno));
    if (rc != TG_OK)
        unlink(a->tmp);
    tg_free(a->tmp);
    tg_free(a->path);
    memset(a, 0, sizeof *a);
    return rc;
}

int tg_afile_fd(const tg_afile *a) { return a->io ? ((const af_io *)a->io)->fd : -1; }

void tg_afile_abort(tg_afile *a)
{
    if (a->f)
        fclose(a->f); /* frees a->io */
    if (a->tmp)
        unlink(a->tmp);
    tg_free(a->tmp);
    tg_free(a->path);
    memset(a, 0, sizeof *a);
}
