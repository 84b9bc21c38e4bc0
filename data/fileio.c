/* Output helpers of the data commands: paths, directories, JSON reports. */
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
