/* Temp-file-then-rename output. */
#define _GNU_SOURCE
#include "atomic.h"

#include "tg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void release(opt_afile *a)
{
    tg_free(a->tmp);
    tg_free(a->path);
    a->tmp = a->path = NULL;
    a->f = NULL;
}

int opt_afile_open(opt_afile *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (!path || !*path)
        return tg_error(TG_ERR_ARG, "atomic write: empty output path");
    size_t n = strlen(path);
    a->path = tg_malloc(n + 1, "output path");
    a->tmp = tg_malloc(n + 16, "temporary path");
    if (!a->path || !a->tmp) {
        release(a);
        return TG_ERR_NOMEM;
    }
    memcpy(a->path, path, n + 1);
    snprintf(a->tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        int e = errno;
        release(a);
        return tg_error(TG_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(e));
    }
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        release(a);
        return tg_error(TG_ERR_IO, "%s: cannot open temporary file: %s", path, strerror(e));
    }
    return TG_OK;
}

void opt_afile_abort(opt_afile *a)
{
    if (a->f)
        fclose(a->f);
    if (a->tmp)
        unlink(a->tmp);
    release(a);
}

int opt_afile_commit(opt_afile *a)
{
    if (!a->f)
        return tg_error(TG_ERR_ARG, "atomic write: file not open");
    int bad = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
    int e = errno;
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    a->f = NULL;
    if (!bad && rename(a->tmp, a->path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        int rc = tg_error(TG_ERR_IO, "%s: write failed: %s", a->path, strerror(e));
        unlink(a->tmp);
        release(a);
        return rc;
    }
    release(a);
    return TG_OK;
}

int opt_write_file_atomic(const char *path, const void *data, size_t n)
{
    opt_afile a;
    int rc = opt_afile_open(&a, path);
    if (rc)
        return rc;
    if (n && fwrite(data, 1, n, a.f) != n) {
        opt_afile_abort(&a);
        return tg_error(TG_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return opt_afile_commit(&a);
}
