/* The heavy-to-light baselines (constant light chains, nearest training
 * heavy chain) and the locus rule for generated chains (pair_eval.h). */
#include "pair_eval.h"

#include "align.h"
#include "strmap.h"
#include "tg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define K4 (20u * 20u * 20u * 20u)
#define K5 (20u * K4)

/* Distinct k-mer codes of the cleaned chain s[0..n) into out (room for n);
 * k-mers with a non-standard residue are skipped. Returns the count, sorted. */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int kmers(const char *s, int n, int k, uint32_t *out)
{
    int m = 0;
    for (int i = 0; i + k <= n; i++) {
        uint32_t c = 0;
        int ok = 1;
        for (int j = 0; j < k && ok; j++) {
            uint8_t a = aln_code((unsigned char)s[i + j]);
            ok = a < 20;
            c = c * 20 + a;
        }
        if (ok)
            out[m++] = c;
    }
    qsort(out, (size_t)m, sizeof *out, cmp_u32);
    int u = 0;
    for (int i = 0; i < m; i++)
        if (!u || out[u - 1] != out[i])
            out[u++] = out[i];
    return u;
}

/* ---- locus rule ------------------------------------------------------------ */

int pe_locus_train(pe_locus_model *m, const pr_set *train)
{
    memset(m, 0, sizeof *m);
    m->ck = tg_calloc(K4, sizeof *m->ck, "locus model");
    m->cl = tg_calloc(K4, sizeof *m->cl, "locus model");
    int maxlen = 0;
    for (size_t i = 0; i < train->n; i++)
        if (train->v[i].light_len > maxlen)
            maxlen = train->v[i].light_len;
    uint32_t *buf = tg_malloc(((size_t)maxlen + 1) * sizeof *buf, "locus model");
    if (!m->ck || !m->cl || !buf) {
        tg_free(buf);
        pe_locus_free(m);
        return TG_ERR_NOMEM;
    }
    for (size_t i = 0; i < train->n; i++) {
        const pr_pair *p = &train->v[i];
        int isk = !strcmp(p->locus, "IGK"), isl = !strcmp(p->locus, "IGL");
        if (!isk && !isl)
            continue;
        uint32_t *c = isk ? m->ck : m->cl;
        int u = kmers(p->light, p->light_len, 4, buf);
        for (int j = 0; j < u; j++)
            c[buf[j]]++;
        if (isk)
            m->nk++;
        else
            m->nl++;
    }
    tg_free(buf);
    return TG_OK;
}

const char *pe_locus_predict(const pe_locus_model *m, const char *s, int n)
{
    if (!m->ck || !m->nk || !m->nl || n < 4)
        return "";
    uint32_t stackbuf[512], *buf = n <= 512 ? stackbuf : malloc((size_t)n * sizeof *buf);
    if (!buf)
        return "";
    int u = kmers(s, n, 4, buf);
    double logit = log((double)m->nk / (double)m->nl);
    double lk = log((double)m->nk + 2), ll = log((double)m->nl + 2);
    for (int j = 0; j < u; j++)
        logit += (log(m->ck[buf[j]] + 1.0) - lk) - (log(m->cl[buf[j]] + 1.0) - ll);
    if (buf != stackbuf)
        free(buf);
    return !u || logit == 0 ? "" : logit > 0 ? "IGK" : "IGL";
}

void pe_locus_free(pe_locus_model *m)
{
    tg_free(m->ck);
    tg_free(m->cl);
    memset(m, 0, sizeof *m);
}

/* ---- constant baselines ---------------------------------------------------- */

/* The most frequent light chain among train pairs with locus `locus` (NULL:
 * all); ties: the first seen. NULL when there is none. */
static int most_common(const pr_set *train, const char *locus, const char **out, size_t *count)
{
    sm_map m;
    sm_init(&m);
    uint32_t *cnt = tg_calloc(train->n + 1, sizeof *cnt, "baselines");
    if (!cnt)
        return TG_ERR_NOMEM;
    *out = NULL;
    *count = 0;
    size_t n_ids = 0;
    uint32_t *first = tg_malloc((train->n + 1) * sizeof *first, "baselines");
    if (!first) {
        tg_free(cnt);
        return TG_ERR_NOMEM;
    }
    int st = TG_OK;
    for (size_t i = 0; i < train->n && !st; i++) {
        const pr_pair *p = &train->v[i];
        if (locus && strcmp(p->locus, locus))
            continue;
        uint32_t id;
        int r = sm_put(&m, p->light, p->light_len, (uint32_t)n_ids, &id);
        if (r < 0) {
            st = r;
            break;
        }
        if (r == 1) {
            id = (uint32_t)n_ids;
            first[n_ids++] = (uint32_t)i;
        }
        cnt[id]++;
    }
    for (size_t j = 0; j < n_ids && !st; j++) /* ids are in order of first sight */
        if (cnt[j] > *count) {
            *count = cnt[j];
            *out = train->v[first[j]].light;
        }
    sm_free(&m);
    tg_free(cnt);
    tg_free(first);
    return st;
}

int pe_baselines_build(pe_baselines *b, const pr_set *train, size_t sample, uint64_t seed,
                       int threads)
{
    memset(b, 0, sizeof *b);
    if (!train->n)
        return tg_error(TG_ERR_ARG, "baselines: no training pairs");
    const char *mc, *mk, *ml;
    size_t c, ck, cl; /* counts (only the overall one is kept) */
    int st = most_common(train, NULL, &mc, &c);
    if (!st)
        st = most_common(train, "IGK", &mk, &ck);
    if (!st)
        st = most_common(train, "IGL", &ml, &cl);
    if (st)
        return st;
    /* medoid of a seeded sample */
    size_t n = train->n, ns = sample < n ? sample : n;
    if (!ns)
        ns = 1;
    size_t *idx = tg_malloc(n * sizeof *idx, "baselines");
    double *sum = tg_calloc(ns, sizeof *sum, "baselines");
    if (!idx || !sum) {
        tg_free(idx);
        tg_free(sum);
        return TG_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (size_t i = 0; i < ns; i++) {
        size_t j = i + (size_t)(tg_rng_next(&r) % (n - i));
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    int nt = threads > 0 ? threads : tg_threads();
    pe_err err = {0};
#pragma omp parallel num_threads(nt)
    {
        pe_ws ws = {0};
        double *part = calloc(ns, sizeof *part);
        if (!part)
            pe_err_set(&err, tg_error(TG_ERR_NOMEM, "baselines: medoid: out of memory"));
#pragma omp for schedule(dynamic, 4)
        for (size_t i = 0; i < ns; i++) {
            const pr_pair *a = &train->v[idx[i]];
            for (size_t j = i + 1; j < ns && part; j++) {
                const pr_pair *q = &train->v[idx[j]];
                pe_result res;
                int e = pe_score(&ws, a->light, a->light_len, q->light, q->light_len, &res);
                if (e) {
                    pe_err_set(&err, tg_error(e, "baselines: medoid: %s:%ld: %s", a->file,
                                              a->line, tg_last_error()));
                    break;
                }
                part[i] += res.score;
                part[j] += res.score;
            }
        }
        if (part) {
#pragma omp critical(pe_medoid)
            for (size_t i = 0; i < ns; i++)
                sum[i] += part[i];
        }
        free(part);
        pe_ws_free(&ws);
    }
    size_t best = 0;
    for (size_t i = 1; i < ns; i++)
        if (sum[i] > sum[best])
            best = i;
    const char *med = train->v[idx[best]].light;
    tg_free(idx);
    tg_free(sum);
    if (err.st)
        return pe_err_return(&err);
    /* one owned block: most common, IGK, IGL, medoid */
    size_t total = strlen(mc) + strlen(med) + (mk ? strlen(mk) : 0) + (ml ? strlen(ml) : 0) + 4;
    b->owned = tg_malloc(total, "baselines");
    if (!b->owned)
        return TG_ERR_NOMEM;
    char *w = b->owned;
    const char *src[4] = {mc, mk, ml, med};
    const char **dst[4] = {&b->most_common, &b->most_common_k, &b->most_common_l, &b->medoid};
    for (int k = 0; k < 4; k++) {
        if (!src[k]) {
            *dst[k] = NULL;
            continue;
        }
        size_t l = strlen(src[k]);
        memcpy(w, src[k], l + 1);
        *dst[k] = w;
        w += l + 1;
    }
    b->most_common_count = c;
    b->medoid_sample = ns;
    return TG_OK;
}

void pe_baselines_free(pe_baselines *b)
{
    tg_free(b->owned);
    memset(b, 0, sizeof *b);
}

/* ---- nearest training heavy chain ------------------------------------------ */

typedef struct {
    uint32_t *off; /* K5 + 1 */
    uint32_t *ids;
} kindex;

static int build_index(const pr_set *train, kindex *x)
{
    memset(x, 0, sizeof *x);
    int maxlen = 0;
    for (size_t i = 0; i < train->n; i++)
        if (train->v[i].heavy_len > maxlen)
            maxlen = train->v[i].heavy_len;
    uint32_t *buf = tg_malloc(((size_t)maxlen + 1) * sizeof *buf, "k-mer index");
    x->off = tg_calloc((size_t)K5 + 1, sizeof *x->off, "k-mer index");
    if (!buf || !x->off) {
        tg_free(buf);
        tg_free(x->off);
        return TG_ERR_NOMEM;
    }
    size_t total = 0;
    for (size_t i = 0; i < train->n; i++) {
        int u = kmers(train->v[i].heavy, train->v[i].heavy_len, 5, buf);
        for (int j = 0; j < u; j++)
            x->off[buf[j] + 1]++;
        total += (size_t)u;
    }
    if (total >= UINT32_MAX) {
        tg_free(buf);
        tg_free(x->off);
        return tg_error(TG_ERR_ARG, "nearest heavy chain: too many training k-mers");
    }
    for (size_t k = 0; k < K5; k++)
        x->off[k + 1] += x->off[k];
    x->ids = tg_malloc((total + 1) * sizeof *x->ids, "k-mer index");
    uint32_t *fillp = tg_malloc((size_t)K5 * sizeof *fillp, "k-mer index");
    if (!x->ids || !fillp) {
        tg_free(buf);
        tg_free(fillp);
        tg_free(x->off);
        tg_free(x->ids);
        return TG_ERR_NOMEM;
    }
    memcpy(fillp, x->off, (size_t)K5 * sizeof *fillp);
    for (size_t i = 0; i < train->n; i++) {
        int u = kmers(train->v[i].heavy, train->v[i].heavy_len, 5, buf);
        for (int j = 0; j < u; j++)
            x->ids[fillp[buf[j]]++] = (uint32_t)i;
    }
    tg_free(fillp);
    tg_free(buf);
    return TG_OK;
}

int pe_nearest_heavy(const pr_set *train, const pr_set *query, int cand, int max_postings,
                     int threads, size_t *nearest)
{
    if (!train->n)
        return tg_error(TG_ERR_ARG, "nearest heavy chain: no training pairs");
    if (train->n >= UINT32_MAX)
        return tg_error(TG_ERR_ARG, "nearest heavy chain: too many training pairs");
    if (cand < 1)
        cand = 1;
    kindex x;
    int st = build_index(train, &x);
    if (st)
        return st;
    int nt = threads > 0 ? threads : tg_threads();
    pe_err err = {0};
#pragma omp parallel num_threads(nt)
    {
        pe_ws ws = {0};
        uint32_t *cnt = calloc(train->n, sizeof *cnt);
        uint32_t *touched = malloc(train->n * sizeof *touched);
        uint32_t *top = malloc((size_t)cand * sizeof *top);
        uint32_t *km = NULL;
        size_t km_cap = 0;
        if (!cnt || !touched || !top)
            pe_err_set(&err, tg_error(TG_ERR_NOMEM, "nearest heavy chain: out of memory"));
#pragma omp for schedule(dynamic, 16)
        for (size_t q = 0; q < query->n; q++) {
            if (!cnt || !touched || !top)
                continue;
            const pr_pair *p = &query->v[q];
            if ((size_t)p->heavy_len + 1 > km_cap) {
                free(km);
                km_cap = (size_t)p->heavy_len + 1;
                km = malloc(km_cap * sizeof *km);
                if (!km) {
                    pe_err_set(&err, tg_error(TG_ERR_NOMEM, "nearest heavy chain: out of memory"));
                    km_cap = 0;
                    continue;
                }
            }
            int u = kmers(p->heavy, p->heavy_len, 5, km);
            size_t nt2 = 0;
            for (int pass = 0; pass < 2 && !nt2; pass++)
                for (int j = 0; j < u; j++) {
                    uint32_t a = x.off[km[j]], e = x.off[km[j] + 1];
                    if (!pass && e - a > (uint32_t)max_postings)
                        continue;
                    for (uint32_t z = a; z < e; z++)
                        if (!cnt[x.ids[z]]++)
                            touched[nt2++] = x.ids[z];
                }
            /* the top `cand` by shared k-mers (ties: lower index) */
            int nt3 = 0;
            for (size_t z = 0; z < nt2; z++) {
                uint32_t id = touched[z];
                int pos = nt3;
                while (pos > 0 && (cnt[top[pos - 1]] < cnt[id] ||
                                   (cnt[top[pos - 1]] == cnt[id] && top[pos - 1] > id)))
                    pos--;
                if (pos >= cand)
                    continue;
                int last = nt3 < cand ? nt3 : cand - 1;
                memmove(top + pos + 1, top + pos, (size_t)(last - pos) * sizeof *top);
                top[pos] = id;
                if (nt3 < cand)
                    nt3++;
            }
            for (size_t z = 0; z < nt2; z++)
                cnt[touched[z]] = 0;
            size_t best = SIZE_MAX;
            int best_score = 0;
            size_t n_scan = nt3 ? (size_t)nt3 : train->n; /* no shared k-mer: all */
            for (size_t z = 0; z < n_scan; z++) {
                size_t id = nt3 ? top[z] : z;
                pe_result r;
                const pr_pair *t = &train->v[id];
                int e = pe_score(&ws, p->heavy, p->heavy_len, t->heavy, t->heavy_len, &r);
                if (e) {
                    pe_err_set(&err, tg_error(e, "nearest heavy chain: %s:%ld: %s", p->file,
                                              p->line, tg_last_error()));
                    break;
                }
                if (best == SIZE_MAX || r.score > best_score ||
                    (r.score == best_score && id < best)) {
                    best = id;
                    best_score = r.score;
                }
            }
            nearest[q] = best == SIZE_MAX ? 0 : best;
        }
        free(cnt);
        free(touched);
        free(top);
        free(km);
        pe_ws_free(&ws);
    }
    tg_free(x.off);
    tg_free(x.ids);
    if (err.st)
        return pe_err_return(&err);
    return TG_OK;
}
