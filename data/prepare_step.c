/* A clustering step's sequences copied out of the store into two mapped
 * temporary files (prepare.h, pp_step_open): the step's alignments read
 * sequences in random order, and in the store each CDR3 or sequence shares
 * its pages with the rest of its record and its table entry, so the pages a
 * step touches would be the whole store; in the step's file they are the
 * step's residues alone, contiguous in the step's order. */
#include "prepare.h"

#include "afile.h"
#include "fileio.h"
#include "tg.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static const char *step_seq(const cl_src *s, size_t j, int *len)
{
    const pp_step *p = (const pp_step *)s;
    *len = (int)(p->off[j + 1] - p->off[j] - 1);
    return p->data + p->off[j];
}

static const char *step_name(const cl_src *s, size_t j)
{
    return cl_src_name(((const pp_step *)s)->from, j);
}

/* Maps the first bytes of a's temporary file read-only into *m. */
static int map_file(tg_afile *a, size_t bytes, void **m)
{
    *m = NULL;
    if (fflush(a->f))
        return tg_error(TG_ERR_IO, "%s: cannot write: %s", a->tmp, strerror(errno));
    if (!bytes)
        return TG_OK;
    void *p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, tg_afile_fd(a), 0);
    if (p == MAP_FAILED)
        return tg_error(TG_ERR_IO, "%s: cannot map: %s", a->tmp, strerror(errno));
    *m = p;
    return TG_OK;
}

int pp_step_open(pp_step *p, const char *outdir, const cl_src *from, size_t n, int progress)
{
    memset(p, 0, sizeof *p);
    p->src.seq = step_seq;
    p->src.name = from->name ? step_name : NULL;
    p->from = from;
    p->n = n;
    char *dpath = fio_join(outdir, "step_seqs"), *ipath = fio_join(outdir, "step_index");
    int st = dpath && ipath ? TG_OK : TG_ERR_NOMEM;
    if (!st)
        st = tg_afile_open(&p->fdata, dpath);
    if (!st)
        st = tg_afile_open(&p->findex, ipath);
    tg_free(dpath);
    tg_free(ipath);
    uint64_t at = 0;
    pp_progress pg;
    pp_progress_begin(&pg, "step file", "sequences", progress);
    for (size_t j = 0; !st && j <= n; j++) {
        if (!(j & 0xffff))
            pp_progress_tick(&pg, j, (double)j / (double)(n ? n : 1));
        if (fwrite(&at, sizeof at, 1, p->findex.f) != 1) {
            st = tg_error(TG_ERR_IO, "%s: cannot write: %s", p->findex.tmp, strerror(errno));
            break;
        }
        if (j == n)
            break;
        int l;
        const char *q = cl_src_seq(from, j, &l);
        if (fwrite(q, 1, (size_t)l, p->fdata.f) != (size_t)l || putc('\0', p->fdata.f) == EOF)
            st = tg_error(TG_ERR_IO, "%s: cannot write: %s", p->fdata.tmp, strerror(errno));
        at += (uint64_t)l + 1;
    }
    if (!st && progress && n >= (1u << 20))
        pp_progress_end(&pg, n);
    void *d = NULL, *x = NULL;
    if (!st)
        st = map_file(&p->fdata, (size_t)at, &d);
    if (!st)
        st = map_file(&p->findex, (n + 1) * sizeof(uint64_t), &x);
    p->data = d;
    p->off = x;
    p->data_bytes = (size_t)at;
    if (st)
        pp_step_close(p);
    return st;
}

void pp_step_close(pp_step *p)
{
    if (p->data)
        munmap((void *)p->data, p->data_bytes);
    if (p->off)
        munmap((void *)p->off, (p->n + 1) * sizeof *p->off);
    p->data = NULL;
    p->off = NULL;
    tg_afile_abort(&p->fdata);
    tg_afile_abort(&p->findex);
}
