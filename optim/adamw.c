/* AdamW step, decay rule, gradient clipping and optimizer state files. */
#include "adamw.h"

#include "kern.h"
#include "safetensors.h"
#include "tg.h"

#include <ctype.h>
#include <limits.h>
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
    tg_adamw_consts c = {
        .b1 = (float)b1, .gb1 = (float)(1.0 - b1), .b2 = (float)b2, .gb2 = (float)(1.0 - b2),
        .bc2_sqrt = (float)sqrt(bc2), .eps = (float)o->cfg.eps, .neg_step = (float)(-(lr / bc1))};
    const tg_kern *k = tg_kern_get(); /* the CPU level's loop (ops/kern.h): same bits at every level */
    for (int s = 0; s < o->nseg; s++) {
        c.decay = (float)(1.0 - lr * (o->seg[s].decay ? o->cfg.weight_decay : 0.0));
        const size_t lo = o->seg[s].offset, n = o->seg[s].count;
        if (n > 32768)
            TG_KERN_CHUNKS(n, c0, len,
                           k->adamw(params + lo + c0, grads + lo + c0, o->m + lo + c0,
                                    o->v + lo + c0, len, &c));
        else
            k->adamw(params + lo, grads + lo, o->m + lo, o->v + lo, n, &c);
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
    const tg_kern *k = tg_kern_get(); /* the CPU level's sum of squares (ops/kern.h) */
    for (long b0 = 0; b0 < nb; b0 += 1024) {
        long b1 = b0 + 1024 < nb ? b0 + 1024 : nb;
#pragma omp parallel for schedule(static) if (b1 - b0 > 1)
        for (long b = b0; b < b1; b++) {
            size_t lo = (size_t)b * NORM_BLOCK, hi = lo + NORM_BLOCK < n ? lo + NORM_BLOCK : n;
            part[b - b0] = k->sumsq(grads + lo, hi - lo);
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
        const tg_kern *k = tg_kern_get();
        if (n > 32768)
            TG_KERN_CHUNKS(n, lo, len, k->scale(grads + lo, grads + lo, c, len));
        else
            k->scale(grads, grads, c, n);
    }
    return norm;
}

/* ---- state files ------------------------------------------------------- */

#define STATE_FORMAT "ablm-adamw"

int opt_adamw_save(const opt_adamw *o, const char *path)
{
    if (!o->m)
        return tg_error(TG_ERR_ARG, "%s: optimizer not initialised", path);
    if (o->n > INT_MAX)
        return tg_error(TG_ERR_ARG, "%s: %zu parameters exceed the state file's limit", path,
                        o->n);
    int64_t *segs = tg_malloc((o->nseg ? o->nseg : 1) * 3 * sizeof *segs, "segment table");
    if (!segs)
        return TG_ERR_NOMEM;
    for (int i = 0; i < o->nseg; i++) {
        segs[3 * i] = (int64_t)o->seg[i].offset;
        segs[3 * i + 1] = (int64_t)o->seg[i].count;
        segs[3 * i + 2] = o->seg[i].decay;
    }
    int nshape[1] = {(int)o->n}, sshape[2] = {o->nseg, 3};
    st_tensor t[3] = {{"exp_avg", ST_F32, 1, nshape, o->m},
                      {"exp_avg_sq", ST_F32, 1, nshape, o->v},
                      {"segments", ST_I64, 2, sshape, segs}};
    char step[32], b1[32], b2[32], eps[32], wd[32];
    snprintf(step, sizeof step, "%ld", o->step);
    snprintf(b1, sizeof b1, "%.17g", o->cfg.beta1);
    snprintf(b2, sizeof b2, "%.17g", o->cfg.beta2);
    snprintf(eps, sizeof eps, "%.17g", o->cfg.eps);
    snprintf(wd, sizeof wd, "%.17g", o->cfg.weight_decay);
    const char *meta[] = {"format", STATE_FORMAT, "step", step,  "beta1",        b1,
                          "beta2",  b2,           "eps",  eps,   "weight_decay", wd};
    int rc = st_write(path, t, 3, meta, 6);
    tg_free(segs);
    return rc;
}

int opt_adamw_load(opt_adamw *o, const char *path)
{
    if (!o->m)
        return tg_error(TG_ERR_ARG, "%s: optimizer not initialised before load", path);
    st_file *f;
    int rc = st_open(path, &f);
    if (rc)
        return rc;
    int32_t *segs = NULL;
    float *mv = NULL;
    size_t nsegv = 0;
    const char *fmt = st_meta_get(f, "format"), *st = st_meta_get(f, "step");
    char *end = NULL;
    long step = st ? strtol(st, &end, 10) : -1;
    if (!fmt || strcmp(fmt, STATE_FORMAT)) {
        rc = tg_error(TG_ERR_FORMAT, "%s: not an ablm AdamW state (__metadata__ format is %s)",
                      path, fmt ? fmt : "missing");
        goto out;
    }
    if (!st || !*st || *end || step < 0) {
        rc = tg_error(TG_ERR_FORMAT, "%s: bad or missing \"step\" in __metadata__", path);
        goto out;
    }
    const st_info *mi = st_find(f, "exp_avg");
    if (mi && mi->numel != o->n) {
        rc = tg_error(TG_ERR_FORMAT, "%s: state is for %llu parameters, the model has %zu", path,
                      (unsigned long long)mi->numel, o->n);
        goto out;
    }
    int nshape[1] = {(int)o->n};
    if ((rc = st_check_shape(f, "exp_avg", 1, nshape)) ||
        (rc = st_check_shape(f, "exp_avg_sq", 1, nshape)))
        goto out;
    if ((rc = st_load_i32(f, "segments", &segs, &nsegv)))
        goto out;
    if (nsegv != (size_t)o->nseg * 3) {
        rc = tg_error(TG_ERR_FORMAT, "%s: state has %zu segments, the optimizer has %d", path,
                      nsegv / 3, o->nseg);
        goto out;
    }
    for (int i = 0; i < o->nseg; i++)
        if ((size_t)segs[3 * i] != o->seg[i].offset || (size_t)segs[3 * i + 1] != o->seg[i].count ||
            segs[3 * i + 2] != o->seg[i].decay) {
            rc = tg_error(TG_ERR_FORMAT,
                          "%s: segment %d is (offset %d, count %d, decay %d), the optimizer has "
                          "(%zu, %zu, %d)",
                          path, i, segs[3 * i], segs[3 * i + 1], segs[3 * i + 2],
                          o->seg[i].offset, o->seg[i].count, o->seg[i].decay);
            goto out;
        }
    mv = tg_malloc(o->n ? 2 * o->n * sizeof(float) : 1, "adamw moments (load)");
    if (!mv) {
        rc = TG_ERR_NOMEM;
        goto out;
    }
    if ((rc = st_read_f32(f, "exp_avg", mv, o->n)) ||
        (rc = st_read_f32(f, "exp_avg_sq", mv + o->n, o->n)))
        goto out;
    tg_free(o->m);
    o->m = mv;
    o->v = mv + o->n;
    mv = NULL;
    o->step = step;
out:
    tg_free(mv);
    tg_free(segs);
    st_close(f);
    return rc;
}
