/* Temporary files for the fuzz targets (see fuzz_util.h). */
#include "fuzz_util.h"

#include "reader.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];

/* Removes the directory's files at exit (names are the targets' fixed
 * set, so a glob is not needed: the directory is removed if empty). */
static void cleanup(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

const char *fz_dir(void)
{
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ablm-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(cleanup);
    }
    return dir;
}

char *fz_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END))
        abort();
    long sz = ftell(f);
    rewind(f);
    char *b = malloc((size_t)sz + 1);
    if (sz < 0 || !b || fread(b, 1, (size_t)sz, f) != (size_t)sz)
        abort();
    fclose(f);
    b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

const char *fz_write(int slot, const char *name, const void *data, size_t n)
{
    static char paths[8][600];
    char *p = paths[slot & 7];
    snprintf(p, sizeof paths[0], "%s/%s", fz_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(p);
        abort();
    }
    return p;
}

int fz_split(const uint8_t *data, size_t n, int max, const uint8_t **start, size_t *len)
{
    size_t k = strlen(FZ_SEP);
    int np = 0;
    size_t from = 0;
    for (size_t i = 0; np < max - 1 && i + k <= n; i++)
        if (memcmp(data + i, FZ_SEP, k) == 0) {
            start[np] = data + from, len[np] = i - from, np++;
            from = i + k;
            i = from - 1;
        }
    start[np] = data + from, len[np] = n - from, np++;
    return np;
}

/* Reports a broken contract and aborts (libFuzzer saves the input). */
static void fz_fail(const char *what, long line)
{
    fprintf(stderr, "fuzz: %s (record at line %ld)\n", what, line);
    abort();
}

/* Reads every record of path with o; aborts when a record breaks the
 * contract (NULL fields, a length that disagrees with the string). */
void fz_read_all(const char *path, const rd_opts *o)
{
    rd_reader *r = NULL;
    if (rd_open(&r, path, o) != TG_OK)
        return;
    (void)rd_metadata(r);
    (void)rd_is_paired(r);
    rd_record rec;
    int st;
    while ((st = rd_next(r, &rec)) == 1) {
        if (!rec.id || !rec.seq || !rec.file || rec.len < 0 || rec.len > RD_MAX_SEQ)
            fz_fail("record with a NULL field or a bad length", rec.line);
        if (strlen(rec.seq) != (size_t)rec.len)
            fz_fail("seq's length is not len", rec.line);
        if (strlen(rec.id) > RD_MAX_ID + 64)
            fz_fail("id longer than RD_MAX_ID", rec.line);
        if (rec.cdr3 && strlen(rec.cdr3) != (size_t)rec.cdr3_len)
            fz_fail("cdr3's length is not cdr3_len", rec.line);
        if (rec.mate && strlen(rec.mate) != (size_t)rec.mate_len)
            fz_fail("mate's length is not mate_len", rec.line);
    }
    if (st < 0 && !tg_last_error()[0])
        abort(); /* an error must come with a message */
    (void)rd_get_stats(r);
    rd_close(r);
}
