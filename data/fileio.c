/* Output helpers of the data commands: paths, directories, JSON reports. */
#define _GNU_SOURCE
#include "fileio.h"

#include "tg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
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


/* fio_write_json through the given tg_afile opener. */
static int write_json(const char *path, const cJSON *v, int (*open_fn)(tg_afile *, const char *))
{
    char *s = cJSON_Print(v);
    if (!s)
        return tg_error(TG_ERR_NOMEM, "%s: out of memory printing JSON", path);
    fio_out o;
    int st = open_fn(&o, path);
    if (!st) {
        fputs(s, o.f);
        fputc('\n', o.f);
        st = fio_commit(&o);
    }
    cJSON_free(s);
    return st;
}

int fio_write_json(const char *path, const cJSON *v) { return write_json(path, v, fio_begin); }

int fio_write_json_pid(const char *path, const cJSON *v)
{
    return write_json(path, v, tg_afile_open_pid);
}

int fio_mkdir(const char *path)
{
    struct stat st;
    if (mkdir(path, 0755) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return TG_OK;
    return tg_error(TG_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
}

/* 1 when s is ".tmp." followed by mkstemp's six letters/digits, end. */
static int is_tmp_tail(const char *s)
{
    if (strncmp(s, ".tmp.", 5))
        return 0;
    s += 5;
    for (int i = 0; i < 6; i++)
        if (!isalnum((unsigned char)s[i]))
            return 0;
    return s[6] == '\0';
}

/* The name in names that base[0..len) is, or NULL. */
static const char *name_in(const char *base, size_t len, const char *const *names)
{
    for (; names && *names; names++)
        if (strlen(*names) == len && !strncmp(*names, base, len))
            return *names;
    return NULL;
}

int fio_is_stale(const char *f, const char *const *pid_names, const char *const *names)
{
    size_t n = strlen(f);
    if (n < 12 || !is_tmp_tail(f + n - 11))
        return 0;
    size_t b = n - 11; /* f[0..b): NAME or NAME.PID */
    if (name_in(f, b, names))
        return 1;
    size_t d = b;
    while (d > 0 && isdigit((unsigned char)f[d - 1]))
        d--;
    if (d == b || d < 2 || f[d - 1] != '.' || b - d > 9 || !name_in(f, d - 1, pid_names))
        return 0;
    long pid = strtol(f + d, NULL, 10);
    if (pid <= 0 || pid == (long)getpid())
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int fio_clean_stale(const char *dir, const char *const *pid_names, const char *const *names,
                    size_t *removed, uint64_t *bytes)
{
    *removed = 0;
    *bytes = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? TG_OK
                               : tg_error(TG_ERR_IO, "%s: cannot list the directory: %s", dir,
                                          strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!fio_is_stale(e->d_name, pid_names, names))
            continue;
        char *p = fio_join(dir, e->d_name);
        struct stat sb;
        if (!p) {
            closedir(d);
            return TG_ERR_NOMEM;
        }
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (unlink(p) == 0) {
                (*removed)++;
                *bytes += (uint64_t)sb.st_size;
            } else
                fprintf(stderr, "warning: %s: cannot remove the stale temporary file: %s\n", p,
                        strerror(errno));
        }
        tg_free(p);
    }
    closedir(d);
    return TG_OK;
}
