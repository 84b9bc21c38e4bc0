/* Atomic file output (temporary file, fsync, rename). */
#include "afile.h"

#include "tg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tg_afile_open(tg_afile *a, const char *path)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path);
    a->tmp = tg_malloc(n + 16, "temp file name");
    a->path = tg_malloc(n + 1, "file name");
    if (!a->tmp || !a->path) {
        tg_afile_abort(a);
        return TG_ERR_NOMEM;
    }
    memcpy(a->path, path, n + 1);
    snprintf(a->tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        int rc = tg_error(TG_ERR_IO, "%s: cannot create temp file %s: %s", path, a->tmp,
                          strerror(errno));
        tg_free(a->tmp);
        a->tmp = NULL;
        tg_afile_abort(a);
        return rc;
    }
    fchmod(fd, 0644);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int rc = tg_error(TG_ERR_IO, "%s: cannot open temp file %s: %s", path, a->tmp,
                          strerror(errno));
        close(fd);
        tg_afile_abort(a);
        return rc;
    }
    return TG_OK;
}

int tg_afile_commit(tg_afile *a)
{
    int rc = TG_OK;
    if (fflush(a->f) != 0 || ferror(a->f) || fsync(fileno(a->f)) != 0)
        rc = tg_error(TG_ERR_IO, "%s: write failed: %s", a->path, strerror(errno));
    if (fclose(a->f) != 0 && rc == TG_OK)
        rc = tg_error(TG_ERR_IO, "%s: write failed: %s", a->path, strerror(errno));
    a->f = NULL;
    if (rc == TG_OK && rename(a->tmp, a->path) != 0)
        rc = tg_error(TG_ERR_IO, "%s: cannot rename %s into place: %s", a->path, a->tmp,
                      strerror(errno));
    if (rc != TG_OK)
        unlink(a->tmp);
    tg_free(a->tmp);
    tg_free(a->path);
    memset(a, 0, sizeof *a);
    return rc;
}

void tg_afile_abort(tg_afile *a)
{
    if (a->f)
        fclose(a->f);
    if (a->tmp)
        unlink(a->tmp);
    tg_free(a->tmp);
    tg_free(a->path);
    memset(a, 0, sizeof *a);
}
