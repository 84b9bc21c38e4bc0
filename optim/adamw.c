/* AdamW step, decay rule, gradient clipping and optimizer state files. */
#include "adamw.h"

#include "atomic.h"
#include "tg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

opt_adamw_config opt_adamw_defaults(void)
{
    return (opt_adamw_config){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0};
}

static int cmp_seg(const void *a, const void *b)
{
    const opt_segment *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int opt_adamw_init(opt_adamw *o, const opt_adamw_config *cfg, size_t n, const opt_segment *seg,
                   int nseg)
{
    memset(o, 0, sizeof *o);
    if (!cfg || !(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1) ||
        !(cfg->eps >= 0) || !(cfg->weight_decay >= 0))
        return tg_error(TG_ERR_ARG,
                        "adamw: invalid hyperparameters (need 0 <= beta1, beta2 < 1, eps >= 0, "
                        "weight_decay >= 0)");
    if (nseg < 0 || (nseg > 0 && !seg))
        return tg_error(TG_ERR_ARG, "adamw: invalid segment list");
    for (int i = 0; i < nseg; i++)
        if (seg[i].offset > n || seg[i].count > n - seg[i].offset)
            return tg_error(TG_ERR_ARG,
                            "adamw: segment %d (offset %zu, count %zu) exceeds the buffer of %zu",
                            i, seg[i].offset, seg[i].count, n);
    o->seg = tg_malloc((nseg ? nseg : 1) * sizeof *seg, "adamw segments");
    o->m = tg_calloc(n ? 2 * n : 1, sizeof(float), "adamw moments");
    if (!o->seg || !o->m) {
        opt_adamw_free(o);
        return TG_ERR_NOMEM;
    }
    if (nseg)
        memcpy(o->seg, seg, nseg * sizeof *seg);
    qsort(o->seg, nseg, sizeof *seg, cmp_seg);
    for (int i = 1; i < nseg; i++)
        if (o->seg[i].offset < o->seg[i - 1].offset + o->seg[i - 1].count) {
            size_t off = o->seg[i].offset;
            opt_adamw_free(o);
            return tg_error(TG_ERR_ARG, "adamw: segments overlap at offset %zu", off);
        }
    o->v = o->m + n;
    o->n = n;
    o->nseg = nseg;
    o->cfg = *cfg;
    return TG_OK;
}

void opt_adamw_free(opt_adamw *o)
{
    tg_free(o->m);
    tg_free(o->seg);
    memset(o, 0, sizeof *o);
}

int opt_adamw_step(opt_adamw *o, float *params, const float *grads, double lr)
{
    if (!o->m || !params || !grads)
        return tg_error(TG_ERR_ARG, "adamw step: optimizer not initialised or NULL buffer");
    if (!isfinite(lr) || lr < 0)
        return tg_error(TG_ERR_ARG, "adamw step: invalid learning rate %g", lr);
    o->step++;
    const double b1 = o->cfg.beta1, b2 = o->cfg.beta2;
    const double bc1 = 1.0 - pow(b1, (double)o->step);
    const double bc2 = 1.0 - pow(b2, (double)o->step);
    const float neg_step = (float)(-(lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)o->cfg.eps;
    const float fb1 = (float)b1, fb2 = (float)b2;
    const float gb1 = (float)(1.0 - b1), gb2 = (float)(1.0 - b2);
    float *m = o->m, *v = o->v;
    for (int s = 0; s < o->nseg; s++) {
        const float decay = (float)(1.0 - lr * (o->seg[s].decay ? o->cfg.weight_decay : 0.0));
        const long lo = (long)o->seg[s].offset, hi = lo + (long)o->seg[s].count;
#pragma omp parallel for schedule(static) if (hi - lo > 32768)
        for (long i = lo; i < hi; i++) {
            float g = grads[i];
            float p = params[i] * decay;
            float mi = m[i] * fb1 + g * gb1;
            float vi = v[i] * fb2 + gb2 * g * g;
            float denom = sqrtf(vi) / bc2_sqrt + eps;
            params[i] = p + neg_step * mi / denom;
            m[i] = mi;
            v[i] = vi;
        }
    }
    return TG_OK;
}

int opt_hf_decay(const char *name, int is_layernorm_module)
{
    if (is_layernorm_module)
        return 0;
    if (!name)
        return 1;
    char low[512];
    size_t k = 0;
    for (; name[k] && k + 1 < sizeof low; k++)
        low[k] = (char)tolower((unsigned char)name[k]);
    low[k] = 0;
    return !(strstr(low, "bias") || strstr(low, "layernorm") || strstr(low, "rmsnorm"));
}

/* ---- clipping ---------------------------------------------------------- */

enum { NORM_BLOCK = 1 << 14 };

double opt_grad_norm(const float *grads, size_t n)
{
    long nb = (long)((n + NORM_BLOCK - 1) / NORM_BLOCK);
    double total = 0;
    /* Fixed blocks summed in order: identical for any thread count. Small
     * stack buffer in chunks of 1024 blocks keeps memory bounded. */
    double part[1024];
    for (long b0 = 0; b0 < nb; b0 += 1024) {
        long b1 = b0 + 1024 < nb ? b0 + 1024 : nb;
#pragma omp parallel for schedule(static) if (b1 - b0 > 1)
        for (long b = b0; b < b1; b++) {
            size_t lo = (size_t)b * NORM_BLOCK, hi = lo + NORM_BLOCK < n ? lo + NORM_BLOCK : n;
            double s = 0;
            for (size_t i = lo; i < hi; i++)
                s += (double)grads[i] * grads[i];
            part[b - b0] = s;
        }
        for (long b = b0; b < b1; b++)
            total += part[b - b0];
    }
    return sqrt(total);
}

double opt_clip_grad_norm(float *grads, size_t n, double max_norm)
{
    double norm = opt_grad_norm(grads, n);
    if (!(max_norm > 0) || !isfinite(norm))
        return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        const float c = (float)coef;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (long i = 0; i < (long)n; i++)
            grads[i] *= c;
    }
    return norm;
}

/* ---- state files ------------------------------------------------------- */

static const char MAGIC[8] = {'A', 'B', 'L', 'M', 'A', 'D', 'W', '1'};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV0 0xcbf29ce484222325ULL

typedef struct {
    char magic[8];
    uint64_t n;
    int64_t step;
    uint32_t nseg, reserved;
    double beta1, beta2, eps, weight_decay;
} file_header;

typedef struct {
    uint64_t offset, count;
    uint32_t decay, reserved;
} file_segment;

static int little_endian(void)
{
    uint32_t x = 1;
    return *(unsigned char *)&x == 1;
}

static int put(FILE *f, uint64_t *h, const void *p, size_t n)
{
    *h = fnv(*h, p, n);
    return fwrite(p, 1, n, f) == n;
}

int opt_adamw_save(const opt_adamw *o, const char *path)
{
    if (!o->m)
        return tg_error(TG_ERR_ARG, "%s: optimizer not initialised", path);
    if (!little_endian())
        return tg_error(TG_ERR_ARG, "%s: optimizer files need a little-endian host", path);
    file_header hd = {.n = o->n,
                      .step = o->step,
                      .nseg = (uint32_t)o->nseg,
                      .beta1 = o->cfg.beta1,
                      .beta2 = o->cfg.beta2,
                      .eps = o->cfg.eps,
                      .weight_decay = o->cfg.weight_decay};
    memcpy(hd.magic, MAGIC, 8);
    opt_afile a;
    int rc = opt_afile_open(&a, path);
    if (rc)
        return rc;
    uint64_t h = FNV0;
    int ok = put(a.f, &h, &hd, sizeof hd);
    for (int i = 0; ok && i < o->nseg; i++) {
        file_segment s = {o->seg[i].offset, o->seg[i].count, (uint32_t)o->seg[i].decay, 0};
        ok = put(a.f, &h, &s, sizeof s);
    }
    ok = ok && put(a.f, &h, o->m, 2 * o->n * sizeof(float));
    ok = ok && fwrite(&h, sizeof h, 1, a.f) == 1;
    if (!ok) {
        int e = errno;
        opt_afile_abort(&a);
        return tg_error(TG_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return opt_afile_commit(&a);
}

static int get(FILE *f, uint64_t *h, void *p, size_t n)
{
    if (fread(p, 1, n, f) != n)
        return 0;
    *h = fnv(*h, p, n);
    return 1;
}

int opt_adamw_load(opt_adamw *o, const char *path)
{
    if (!o->m)
        return tg_error(TG_ERR_ARG, "%s: optimizer not initialised before load", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_error(TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t h = FNV0, stored;
    file_header hd;
    float *mv = NULL;
    int rc = TG_OK;
    if (!get(f, &h, &hd, sizeof hd) || memcmp(hd.magic, MAGIC, 8)) {
        rc = tg_error(TG_ERR_FORMAT, "%s: not an ablm AdamW state file (bad magic or too short)",
                      path);
        goto out;
    }
    if (hd.n != o->n) {
        rc = tg_error(TG_ERR_FORMAT, "%s: state is for %llu parameters, the model has %zu", path,
                      (unsigned long long)hd.n, o->n);
        goto out;
    }
    if (hd.nseg != (uint32_t)o->nseg) {
        rc = tg_error(TG_ERR_FORMAT, "%s: state has %u segments, the optimizer has %d", path,
                      hd.nseg, o->nseg);
        goto out;
    }
    if (hd.step < 0) {
        rc = tg_error(TG_ERR_FORMAT, "%s: negative step %lld", path, (long long)hd.step);
        goto out;
    }
    for (int i = 0; i < o->nseg; i++) {
        file_segment s;
        if (!get(f, &h, &s, sizeof s)) {
            rc = tg_error(TG_ERR_FORMAT, "%s: truncated in segment %d", path, i);
            goto out;
        }
        if (s.offset != o->seg[i].offset || s.count != o->seg[i].count ||
            (int)s.decay != o->seg[i].decay) {
            rc = tg_error(TG_ERR_FORMAT,
                          "%s: segment %d is (offset %llu, count %llu, decay %u), the optimizer "
                          "has (%zu, %zu, %d)",
                          path, i, (unsigned long long)s.offset, (unsigned long long)s.count,
                          s.decay, o->seg[i].offset, o->seg[i].count, o->seg[i].decay);
            goto out;
        }
    }
    mv = tg_malloc(o->n ? 2 * o->n * sizeof(float) : 1, "adamw moments (load)");
    if (!mv) {
        rc = TG_ERR_NOMEM;
        goto out;
    }
    if (!get(f, &h, mv, 2 * o->n * sizeof(float)) || fread(&stored, sizeof stored, 1, f) != 1) {
        rc = tg_error(TG_ERR_FORMAT, "%s: truncated (moments or checksum missing)", path);
        goto out;
    }
    if (stored != h) {
        rc = tg_error(TG_ERR_FORMAT, "%s: checksum mismatch (file corrupted)", path);
        goto out;
    }
    if (fgetc(f) != EOF) {
        rc = tg_error(TG_ERR_FORMAT, "%s: trailing bytes after the checksum", path);
        goto out;
    }
    tg_free(o->m);
    o->m = mv;
    o->v = mv + o->n;
    mv = NULL;
    o->step = hd.step;
out:
    tg_free(mv);
    fclose(f);
    return rc;
}
