/* NumPy .npy writer (format 1.0), atomic. */
#define _POSIX_C_SOURCE 200809L
#include "npy.h"

#include "tg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

long npy_header(char *buf, size_t cap, const char *descr, int ndim, const size_t *shape)
{
    if (strcmp(descr, "<f4") && strcmp(descr, "<i4"))
        return tg_error(TG_ERR_ARG, "npy: unsupported dtype '%s'", descr);
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return tg_error(TG_ERR_ARG, "npy: %d dimensions (at most %d)", ndim, NPY_MAX_DIMS);
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%s%zu", i ? ", " : "", shape[i]);
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }", ndim == 1 ? "," : "");
    /* magic(6) + version(2) + length(2) + dict + padding + '\n' = multiple of 64 */
    size_t total = (10 + (size_t)k + 1 + 63) / 64 * 64;
    if (total > cap)
        return tg_error(TG_ERR_ARG, "npy: header buffer too small");
    size_t hlen = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)k);
    memset(buf + 10 + k, ' ', total - 10 - (size_t)k - 1);
    buf[total - 1] = '\n';
    return (long)total;
}

int npy_create(npy_file *f, const char *path, const char *descr, int ndim, const size_t *shape)
{
    memset(f, 0, sizeof *f);
    char head[640];
    long hl = npy_header(head, sizeof head, descr, ndim, shape);
    if (hl < 0)
        return (int)hl;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= shape[i];
    int rc = tg_afile_open(&f->af, path);
    if (rc)
        return rc;
    f->data_off = hl;
    f->nbytes = numel * 4;
    if (fwrite(head, 1, (size_t)hl, f->af.f) != (size_t)hl || fflush(f->af.f) != 0 ||
        ftruncate(tg_afile_fd(&f->af), (off_t)(hl + (long)f->nbytes)) != 0) {
        int rc2 = tg_error(TG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        npy_abort(f);
        return rc2;
    }
    return TG_OK;
}

int npy_put(npy_file *f, size_t off, const void *data, size_t n)
{
    if (off > f->nbytes || n > f->nbytes - off)
        return tg_error(TG_ERR_ARG, "%s: write of %zu bytes at %zu outside the array (%zu bytes)",
                        f->af.path, n, off, f->nbytes);
    if (fseeko(f->af.f, (off_t)(f->data_off + (long)off), SEEK_SET) != 0 ||
        fwrite(data, 1, n, f->af.f) != n)
        return tg_error(TG_ERR_IO, "%s: write failed: %s", f->af.path, strerror(errno));
    return TG_OK;
}

int npy_commit(npy_file *f) { return tg_afile_commit(&f->af); }

void npy_abort(npy_file *f) { tg_afile_abort(&f->af); }

int npy_write(const char *path, const char *descr, int ndim, const size_t *shape,
              const void *data)
{
    npy_file f;
    int rc = npy_create(&f, path, descr, ndim, shape);
    if (rc)
        return rc;
    if (f.nbytes && (rc = npy_put(&f, 0, data, f.nbytes))) {
        npy_abort(&f);
        return rc;
    }
    return npy_commit(&f);
}

char *npy_companion(const char *path, const char *name)
{
    size_t n = strlen(path);
    if (n >= 4 && !strcmp(path + n - 4, ".npy"))
        n -= 4;
    size_t cap = n + strlen(name) + 2;
    char *s = tg_malloc(cap, "output path");
    if (s)
        snprintf(s, cap, "%.*s.%s", (int)n, path, name);
    return s;
}

char *npy_sibling(const char *path, const char *tag)
{
    size_t tl = strlen(tag);
    char *name = tg_malloc(tl + 5, "output path");
    if (!name)
        return NULL;
    memcpy(name, tag, tl);
    memcpy(name + tl, ".npy", 5);
    char *s = npy_companion(path, name);
    tg_free(name);
    return s;
}

int npy_write_records(const char *path, char *const *ids, const int *ntok, size_t n)
{
    char *p = npy_companion(path, "records.tsv");
    if (!p)
        return TG_ERR_NOMEM;
    tg_afile af;
    int rc = tg_afile_open(&af, p);
    if (!rc) {
        fputs("index\tid\tlength\n", af.f);
        for (size_t i = 0; i < n; i++)
            fprintf(af.f, "%zu\t%s\t%d\n", i, ids[i], ntok[i] - 2);
        rc = tg_afile_commit(&af);
    }
    tg_free(p);
    return rc;
}
