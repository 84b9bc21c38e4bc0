/* Atomic output files. */
#include "fileio.h"

#include "tg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *fio_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = tg_malloc(a + b + 2, "path");
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

int fio_begin(fio_out *o, const char *path)
{
    memset(o, 0, sizeof *o);
    size_t n = strlen(path);
    o->path = tg_malloc(n + 1, "path");
    o->tmp = tg_malloc(n + 16, "path");
    if (!o->path || !o->tmp) {
        fio_abort(o);
        return TG_ERR_NOMEM;
    }
    memcpy(o->path, path, n + 1);
    snprintf(o->tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        tg_free(o->tmp);
        o->tmp = NULL;
        fio_abort(o);
        return tg_error(TG_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    fchmod(fd, 0644);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        close(fd);
        fio_abort(o);
        return tg_error(TG_ERR_IO, "%s: cannot open for writing", path);
    }
    return TG_OK;
}

void fio_abort(fio_out *o)
{
    if (!o)
        return;
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    tg_free(o->tmp);
    tg_free(o->path);
    memset(o, 0, sizeof *o);
}

int fio_commit(fio_out *o)
{
    int bad = ferror(o->f) != 0;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    if (bad || rename(o->tmp, o->path) != 0) {
        int st = tg_error(TG_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
        fio_abort(o);
        return st;
    }
    tg_free(o->tmp);
    tg_free(o->path);
    memset(o, 0, sizeof *o);
    return TG_OK;
}

int fio_write_json(const char *path, const cJSON *v)
{
    char *s = cJSON_Print(v);
    if (!s)
        return tg_error(TG_ERR_NOMEM, "%s: out of memory printing JSON", path);
    fio_out o;
    int st = fio_begin(&o, path);
    if (!st) {
        fputs(s, o.f);
        fputc('\n', o.f);
        st = fio_commit(&o);
    }
    cJSON_free(s);
    return st;
}

int fio_mkdir(const char *path)
{
    struct stat st;
    if (mkdir(path, 0755) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return TG_OK;
    return tg_error(TG_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
}
