/* Whole-cluster train/val/test assignment and the leakage check. */
#include "split.h"

#include "align.h"
#include "fileio.h"
#include "rd_text.h"
#include "strmap.h"
#include "tg.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *SET_NAMES[3] = {"train", "val", "test"};

void sp_opts_default(sp_opts *o)
{
    o->ratios[0] = 0.8;
    o->ratios[1] = 0.1;
    o->ratios[2] = 0.1;
    o->order = SP_ORDER_SIZE;
    o->seed = 42;
}

int sp_parse_ratios(const char *s, double r[3])
{
    char *end;
    double sum = 0;
    for (int k = 0; k < 3; k++) {
        r[k] = strtod(s, &end);
        if (end == s || r[k] < 0 || !isfinite(r[k]) || (k < 2 && *end != ',') ||
            (k == 2 && *end))
            return tg_error(TG_ERR_ARG, "--ratios '%s': expected three numbers like 0.8,0.1,0.1",
                            s),
                   -1;
        sum += r[k];
        s = end + 1;
    }
    if (fabs(sum - 1.0) > 1e-6)
        return tg_error(TG_ERR_ARG, "--ratios: the three ratios sum to %g, not 1", sum), -1;
    return 0;
}

typedef struct {
    uint32_t key;  /* rep value */
    size_t size;
    size_t first;  /* first member's index */
} cluster;

static int by_size_desc(const void *a, const void *b)
{
    const cluster *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

int sp_assign(const uint32_t *rep, size_t n, const sp_opts *o, uint8_t *set_out,
              sp_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    sum->n_seqs = n;
    for (size_t i = 0; i < n; i++)
        if (rep[i] >= n)
            return tg_error(TG_ERR_ARG, "sp_assign: rep[%zu] = %u is out of range", i, rep[i]);
    uint32_t *cid = tg_malloc((n ? n : 1) * sizeof *cid, "cluster ids");
    cluster *cl = tg_malloc((n ? n : 1) * sizeof *cl, "clusters");
    if (!cid || !cl) {
        tg_free(cid);
        tg_free(cl);
        return TG_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        cid[i] = UINT32_MAX;
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = rep[i];
        if (cid[k] == UINT32_MAX) {
            cid[k] = (uint32_t)nc;
            cl[nc++] = (cluster){k, 0, i};
        }
        cl[cid[k]].size++;
    }
    sum->n_clusters = nc;
    if (o->order == SP_ORDER_SHUFFLE) {
        tg_rng r;
        tg_rng_seed(&r, o->seed);
        for (size_t i = nc; i > 1; i--) {
            size_t j = (size_t)(tg_rng_next(&r) % i);
            cluster t = cl[i - 1];
            cl[i - 1] = cl[j];
            cl[j] = t;
        }
    } else {
        qsort(cl, nc, sizeof *cl, by_size_desc);
    }
    for (int k = 0; k < 3; k++)
        sum->target[k] = o->ratios[k] * (double)n;
    uint8_t *cset = tg_malloc((nc ? nc : 1), "cluster sets");
    if (!cset) {
        tg_free(cid);
        tg_free(cl);
        return TG_ERR_NOMEM;
    }
    const double eps = 1e-9;
    for (size_t c = 0; c < nc; c++) {
        size_t sz = cl[c].size;
        int s = SP_TEST;
        if ((double)(sum->counts[0] + sz) <= sum->target[0] + eps)
            s = SP_TRAIN;
        else if ((double)(sum->counts[1] + sz) <= sum->target[1] + eps)
            s = SP_VAL;
        cset[c] = (uint8_t)s;
        sum->counts[s] += sz;
        sum->clusters[s]++;
        sum->singletons += sz == 1;
        cid[cl[c].key] = (uint32_t)c; /* now: key -> position in cl */
    }
    for (size_t i = 0; i < n; i++)
        set_out[i] = cset[cid[rep[i]]];
    /* the largest cluster sizes, descending */
    for (size_t c = 0; c < nc; c++) {
        size_t sz = cl[c].size;
        int pos = sum->n_top;
        while (pos > 0 && sum->top[pos - 1] < sz)
            pos--;
        if (pos < SP_TOP) {
            int last = sum->n_top < SP_TOP ? sum->n_top : SP_TOP - 1;
            for (int j = last; j > pos; j--)
                sum->top[j] = sum->top[j - 1];
            sum->top[pos] = sz;
            if (sum->n_top < SP_TOP)
                sum->n_top++;
        }
    }
    tg_free(cset);
    tg_free(cid);
    tg_free(cl);
    return TG_OK;
}

int sp_warnings(const sp_summary *s, const sp_opts *o, char *buf, size_t n)
{
    int count = 0;
    size_t used = 0;
    if (n)
        buf[0] = '\0';
    if (!s->n_top)
        return 0;
    size_t big = s->top[0];
    for (int k = 0; k < 3; k++) {
        if (o->ratios[k] > 0 && (double)big > s->target[k]) {
            count++;
            if (used < n)
                used += (size_t)snprintf(buf + used, n - used,
                                         "the largest cluster has %zu sequences (%.1f%% of %zu), "
                                         "more than the %s share (%.0f sequences)\n",
                                         big, 100.0 * (double)big / (double)s->n_seqs, s->n_seqs,
                                         SET_NAMES[k], s->target[k]);
        }
    }
    for (int k = 0; k < 3; k++) {
        double dev = (double)s->counts[k] - s->target[k];
        if (s->n_seqs && fabs(dev) > 0.02 * (double)s->n_seqs) {
            count++;
            if (used < n)
                used += (size_t)snprintf(buf + used, n - used,
                                         "%s has %zu sequences, %.0f from its target %.0f: "
                                         "clusters are too large to hit the ratios\n",
                                         SET_NAMES[k], s->counts[k], dev, s->target[k]);
        }
    }
    return count;
}

void sp_summary_to_json(const sp_summary *s, const sp_opts *o, cJSON *obj)
{
    cJSON_AddNumberToObject(obj, "sequences", (double)s->n_seqs);
    cJSON_AddNumberToObject(obj, "clusters", (double)s->n_clusters);
    cJSON_AddNumberToObject(obj, "singleton_clusters", (double)s->singletons);
    cJSON_AddStringToObject(obj, "order", o->order == SP_ORDER_SIZE ? "size" : "shuffle");
    if (o->order == SP_ORDER_SHUFFLE)
        cJSON_AddNumberToObject(obj, "seed", (double)o->seed);
    for (int k = 0; k < 3; k++) {
        cJSON *e = cJSON_AddObjectToObject(obj, SET_NAMES[k]);
        cJSON_AddNumberToObject(e, "ratio", o->ratios[k]);
        cJSON_AddNumberToObject(e, "target", s->target[k]);
        cJSON_AddNumberToObject(e, "sequences", (double)s->counts[k]);
        cJSON_AddNumberToObject(e, "clusters", (double)s->clusters[k]);
    }
    cJSON_AddNumberToObject(obj, "largest_cluster", s->n_top ? (double)s->top[0] : 0);
    cJSON *top = cJSON_AddArrayToObject(obj, "top10_cluster_sizes");
    for (int i = 0; i < s->n_top; i++)
        cJSON_AddItemToArray(top, cJSON_CreateNumber((double)s->top[i]));
    char buf[2048];
    sp_warnings(s, o, buf, sizeof buf);
    cJSON *w = cJSON_AddArrayToObject(obj, "warnings");
    for (char *line = buf, *nl; *line && (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        cJSON_AddItemToArray(w, cJSON_CreateString(line));
    }
}

/* ---- leakage ------------------------------------------------------------ */

void sp_leak_opts_default(sp_leak_opts *o)
{
    o->sample = 200;
    o->seed = 42;
    o->coverage = 0.8;
    o->candidates = 64;
    o->progress = 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define KMER_SPACE (21 * 21 * 21)

/* 3-mer codes of a sequence; returns the count. */
static int kmers3(const uint8_t *c, int n, uint32_t *out)
{
    int m = 0;
    for (int i = 0; i + 2 < n; i++)
        out[m++] = (uint32_t)(c[i] * 441 + c[i + 1] * 21 + c[i + 2]);
    return m;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    size_t n_train;
    uint32_t *train;       /* indices of train sequences */
    uint8_t **codes;       /* encoded train sequences (pointers into buf) */
    int *len;              /* their lengths */
    uint8_t *buf;
    size_t *post_start;    /* KMER_SPACE + 1 */
    uint32_t *postings;    /* train positions (index into train[]) */
} train_index;

static void index_free(train_index *x)
{
    tg_free(x->train);
    tg_free(x->codes);
    tg_free(x->len);
    tg_free(x->buf);
    tg_free(x->post_start);
    tg_free(x->postings);
    memset(x, 0, sizeof *x);
}

static int index_build(train_index *x, const char *const *seqs, const int *lens,
                       const uint8_t *set, size_t n)
{
    memset(x, 0, sizeof *x);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (set[i] == SP_TRAIN) {
            x->n_train++;
            total += (size_t)lens[i];
        }
    x->train = tg_malloc((x->n_train + 1) * sizeof *x->train, "train index");
    x->codes = tg_malloc((x->n_train + 1) * sizeof *x->codes, "train index");
    x->len = tg_malloc((x->n_train + 1) * sizeof *x->len, "train index");
    x->buf = tg_malloc(total + 1, "train index");
    x->post_start = tg_calloc(KMER_SPACE + 1, sizeof *x->post_start, "train index");
    uint32_t *km = tg_malloc(4096 * sizeof *km, "k-mers");
    if (!x->train || !x->codes || !x->len || !x->buf || !x->post_start || !km) {
        tg_free(km);
        index_free(x);
        return TG_ERR_NOMEM;
    }
    size_t t = 0, off = 0, npost = 0;
    for (size_t i = 0; i < n; i++)
        if (set[i] == SP_TRAIN) {
            x->train[t] = (uint32_t)i;
            x->codes[t] = x->buf + off;
            x->len[t] = lens[i];
            aln_encode(seqs[i], lens[i], x->codes[t]);
            off += (size_t)lens[i];
            t++;
        }
    /* postings: each distinct 3-mer of each train sequence once */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            size_t acc = 0;
            for (size_t k = 0; k <= KMER_SPACE; k++) {
                size_t c = x->post_start[k];
                x->post_start[k] = acc;
                acc += c;
            }
            npost = acc;
            x->postings = tg_malloc((npost + 1) * sizeof *x->postings, "train index");
            if (!x->postings) {
                tg_free(km);
                index_free(x);
                return TG_ERR_NOMEM;
            }
        }
        size_t *fill = x->post_start;
        for (size_t j = 0; j < x->n_train; j++) {
            int m = kmers3(x->codes[j], x->len[j] > 4096 ? 4096 : x->len[j], km);
            qsort(km, (size_t)m, sizeof *km, cmp_u32);
            for (int a = 0; a < m; a++) {
                if (a && km[a] == km[a - 1])
                    continue;
                if (pass == 0)
                    x->post_start[km[a]]++;
                else
                    x->postings[fill[km[a]]++] = (uint32_t)j;
            }
        }
        if (pass == 1) {
            /* fill advanced each start to the next one's: shift back */
            for (size_t k = KMER_SPACE; k > 0; k--)
                x->post_start[k] = x->post_start[k - 1];
            x->post_start[0] = 0;
        }
    }
    tg_free(km);
    return TG_OK;
}

/* Per-thread scratch for best_identity. */
typedef struct {
    uint16_t *score; /* shared 3-mers per train sequence */
    uint32_t *cand;
    uint32_t km[4096];
} scratch;

/* Best identity of the encoded query q against the train sequences (the
 * candidates sharing the most distinct 3-mers, ties by train order, or all).
 * Returns a status; *best in [0, 1]. */
static int best_identity(const train_index *x, const aln_params *ap, const uint8_t *q, int qn,
                         const sp_leak_opts *o, scratch *w, double *best, size_t *n_aln)
{
    size_t nc = 0;
    if (o->candidates <= 0 || (size_t)o->candidates >= x->n_train) {
        for (size_t j = 0; j < x->n_train; j++)
            w->cand[nc++] = (uint32_t)j;
    } else {
        int m = kmers3(q, qn > 4096 ? 4096 : qn, w->km);
        qsort(w->km, (size_t)m, sizeof *w->km, cmp_u32);
        memset(w->score, 0, x->n_train * sizeof *w->score);
        uint16_t maxs = 0;
        for (int a = 0; a < m; a++) {
            if (a && w->km[a] == w->km[a - 1])
                continue;
            for (size_t p = x->post_start[w->km[a]]; p < x->post_start[w->km[a] + 1]; p++) {
                uint16_t *sc = &w->score[x->postings[p]];
                if (*sc < UINT16_MAX && ++*sc > maxs)
                    maxs = *sc;
            }
        }
        /* bucket the scores so the top candidates come out in one pass */
        size_t cnt[4097] = {0};
        int cap_s = maxs > 4096 ? 4096 : maxs;
        for (size_t j = 0; j < x->n_train; j++)
            cnt[w->score[j] > cap_s ? cap_s : w->score[j]]++;
        int cut = cap_s;
        size_t above = 0;
        while (cut > 1 && above + cnt[cut] < (size_t)o->candidates)
            above += cnt[cut--];
        /* all with score > cut, then those == cut in train order */
        for (size_t j = 0; j < x->n_train; j++)
            if (w->score[j] > cut)
                w->cand[nc++] = (uint32_t)j;
        for (size_t j = 0; j < x->n_train && nc < (size_t)o->candidates; j++)
            if (w->score[j] == cut && cut > 0)
                w->cand[nc++] = (uint32_t)j;
    }
    double b = 0;
    for (size_t c = 0; c < nc; c++) {
        uint32_t j = w->cand[c];
        aln_result r;
        int st = aln_align_codes(ap, q, qn, x->codes[j], x->len[j], &r);
        if (st)
            return st;
        if (r.qcov + 1e-9 >= o->coverage && r.tcov + 1e-9 >= o->coverage && r.identity > b)
            b = r.identity;
    }
    *best = b;
    *n_aln += nc;
    return TG_OK;
}

int sp_leakage(const char *const *seqs, const int *lens, const uint8_t *set, size_t n,
               int which, const sp_leak_opts *o, sp_leak *out)
{
    memset(out, 0, sizeof *out);
    double t0 = now();
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += set[i] == which;
    uint32_t *pool = tg_malloc((m + 1) * sizeof *pool, "leakage sample");
    if (!pool)
        return TG_ERR_NOMEM;
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (set[i] == which)
            pool[m++] = (uint32_t)i;
    /* seeded partial Fisher-Yates: the first k of pool are the sample */
    size_t k = o->sample < m ? o->sample : m;
    tg_rng rng;
    tg_rng_seed(&rng, o->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(which + 1)));
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)(tg_rng_next(&rng) % (m - i));
        uint32_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
    train_index x;
    int st = index_build(&x, seqs, lens, set, n);
    double *best = tg_calloc(k + 1, sizeof *best, "leakage results");
    if (st || !best) {
        tg_free(pool);
        tg_free(best);
        if (!st)
            index_free(&x);
        return st ? st : TG_ERR_NOMEM;
    }
    aln_params ap;
    aln_params_default(&ap);
    int nthreads = tg_threads();
    size_t n_aln = 0;
    int err = TG_OK;
    char errmsg[256] = "";
    size_t done = 0;
#pragma omp parallel num_threads(nthreads) reduction(+ : n_aln)
    {
        scratch *w = tg_malloc(sizeof *w, "leakage scratch");
        uint16_t *score = tg_malloc((x.n_train + 1) * sizeof *score, "leakage scratch");
        uint32_t *cand = tg_malloc((x.n_train + 1) * sizeof *cand, "leakage scratch");
        uint8_t *qc = NULL;
        int qcap = 0;
        int ok = w && score && cand;
        if (w) {
            w->score = score;
            w->cand = cand;
        }
        if (!ok) {
#pragma omp critical(sp_leak_err)
            if (!err) {
                err = TG_ERR_NOMEM;
                snprintf(errmsg, sizeof errmsg, "%s", tg_last_error());
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < k; i++) {
            int failed;
#pragma omp atomic read
            failed = err;
            if (!ok || failed)
                continue;
            int qn = lens[pool[i]];
            if (qn + 1 > qcap) {
                uint8_t *nq = tg_realloc(qc, (size_t)qn + 1, "leakage query");
                if (!nq) {
                    ok = 0;
#pragma omp critical(sp_leak_err)
                    if (!err) {
                        err = TG_ERR_NOMEM;
                        snprintf(errmsg, sizeof errmsg, "%s", tg_last_error());
                    }
                    continue;
                }
                qc = nq;
                qcap = qn + 1;
            }
            aln_encode(seqs[pool[i]], qn, qc);
            int s = best_identity(&x, &ap, qc, qn, o, w, &best[i], &n_aln);
            if (s) {
#pragma omp critical(sp_leak_err)
                if (!err) {
                    err = s;
                    snprintf(errmsg, sizeof errmsg, "%s", tg_last_error());
                }
            }
            if (o->progress) {
                size_t d;
#pragma omp atomic capture
                d = ++done;
                if (d % 50 == 0)
#pragma omp critical(sp_leak_progress)
                    fprintf(stderr, "\rleakage (%s): %zu/%zu sequences", SET_NAMES[which], d, k);
            }
        }
        tg_free(qc);
        tg_free(cand);
        tg_free(score);
        tg_free(w);
    }
    if (o->progress && k >= 50)
        fprintf(stderr, "\rleakage (%s): %zu/%zu sequences\n", SET_NAMES[which], k, k);
    index_free(&x);
    tg_free(pool);
    if (err) {
        tg_free(best);
        return tg_error(err, "%s", errmsg);
    }
    out->n = k;
    out->alignments = n_aln;
    if (k) {
        qsort(best, k, sizeof *best, cmp_double);
        out->median = k % 2 ? best[k / 2] : 0.5 * (best[k / 2 - 1] + best[k / 2]);
        size_t i95 = (size_t)ceil(0.95 * (double)k);
        out->p95 = best[i95 ? i95 - 1 : 0];
        out->max = best[k - 1];
        static const double thr[3] = {0.5, 0.7, 0.9};
        for (int t = 0; t < 3; t++) {
            size_t c = 0;
            for (size_t i = 0; i < k; i++)
                c += best[i] + 1e-9 >= thr[t];
            out->frac_ge[t] = (double)c / (double)k;
        }
    }
    tg_free(best);
    out->seconds = now() - t0;
    return TG_OK;
}

void sp_leak_to_json(const sp_leak *l, cJSON *obj)
{
    cJSON_AddNumberToObject(obj, "sampled", (double)l->n);
    cJSON_AddNumberToObject(obj, "median_identity", l->median);
    cJSON_AddNumberToObject(obj, "p95_identity", l->p95);
    cJSON_AddNumberToObject(obj, "max_identity", l->max);
    cJSON_AddNumberToObject(obj, "fraction_ge_0.5", l->frac_ge[0]);
    cJSON_AddNumberToObject(obj, "fraction_ge_0.7", l->frac_ge[1]);
    cJSON_AddNumberToObject(obj, "fraction_ge_0.9", l->frac_ge[2]);
    cJSON_AddNumberToObject(obj, "alignments", (double)l->alignments);
    cJSON_AddNumberToObject(obj, "seconds", l->seconds);
}

int sp_write_sets(const char *dir, const char *const *ids, const char *const *seqs,
                  const int *lens, const uint8_t *set, size_t n)
{
    fio_out out[6]; /* train/val/test .txt, then .tsv */
    memset(out, 0, sizeof out);
    int st = TG_OK, nf = ids ? 6 : 3;
    for (int k = 0; k < nf && !st; k++) {
        char name[16];
        snprintf(name, sizeof name, "%s.%s", SET_NAMES[k % 3], k < 3 ? "txt" : "tsv");
        char *p = fio_join(dir, name);
        st = p ? fio_begin(&out[k], p) : TG_ERR_NOMEM;
        tg_free(p);
        if (!st && k >= 3)
            fputs("sequence_id\tsequence_alignment_aa\n", out[k].f);
    }
    for (size_t i = 0; i < n && !st; i++) {
        fwrite(seqs[i], 1, (size_t)lens[i], out[set[i]].f);
        fputc('\n', out[set[i]].f);
        if (ids) {
            FILE *f = out[3 + set[i]].f;
            fputs(ids[i], f);
            fputc('\t', f);
            fwrite(seqs[i], 1, (size_t)lens[i], f);
            fputc('\n', f);
        }
    }
    for (int k = 0; k < nf; k++) {
        if (!st)
            st = fio_commit(&out[k]);
        else
            fio_abort(&out[k]);
    }
    return st;
}

int sp_read_cluster_tsv(const char *path, const void *id_map, size_t n, uint32_t *rep)
{
    const sm_map *ids = id_map;
    for (size_t i = 0; i < n; i++)
        rep[i] = UINT32_MAX;
    rd_src src;
    rd_row row = {0};
    int st = rd_src_open(&src, path);
    if (st)
        return st;
    size_t rows = 0;
    while ((st = rd_row_read(&src, '\t', 0, &row)) == 1) {
        if (row.n == 1 && !rd_cell(&row, 0)[0])
            continue;
        if (row.n != 2) {
            st = tg_error(TG_ERR_FORMAT,
                          "%s:%ld: expected 2 tab-separated fields (representative, member), "
                          "found %d",
                          path, row.line, row.n);
            break;
        }
        uint32_t r, m;
        const char *rn = rd_cell(&row, 0), *mn = rd_cell(&row, 1);
        if (!sm_get(ids, rn, (int)strlen(rn), &r)) {
            st = tg_error(TG_ERR_FORMAT, "%s:%ld: representative '%s' is not in the sequences",
                          path, row.line, rn);
            break;
        }
        if (!sm_get(ids, mn, (int)strlen(mn), &m)) {
            st = tg_error(TG_ERR_FORMAT, "%s:%ld: member '%s' is not in the sequences", path,
                          row.line, mn);
            break;
        }
        if (rep[m] != UINT32_MAX) {
            st = tg_error(TG_ERR_FORMAT, "%s:%ld: member '%s' is listed a second time", path,
                          row.line, mn);
            break;
        }
        rep[m] = r;
        rows++;
    }
    if (st == 0 && rows == 0)
        st = tg_error(TG_ERR_FORMAT, "%s: no clusters in the file", path);
    rd_row_free(&row);
    rd_src_close(&src);
    return st < 0 ? st : TG_OK;
}

int sp_run(const char *dir, const char *const *ids, const char *const *seqs, const int *lens,
           const uint32_t *rep,
           size_t n, const sp_opts *o, const sp_leak_opts *lo, cJSON *report, uint8_t *set_out)
{
    uint8_t *set = tg_malloc(n + 1, "sets");
    if (!set)
        return TG_ERR_NOMEM;
    sp_summary sum;
    int st = sp_assign(rep, n, o, set, &sum);
    if (!st)
        st = sp_write_sets(dir, ids, seqs, lens, set, n);
    if (!st)
        sp_summary_to_json(&sum, o, cJSON_AddObjectToObject(report, "split"));
    if (!st && lo->sample > 0) {
        cJSON *lk = cJSON_AddObjectToObject(report, "leakage");
        cJSON_AddStringToObject(lk, "definition",
                                "per sampled sequence: highest identity (matches / alignment "
                                "columns) of a local alignment to a train sequence covering "
                                "both sequences by at least 'coverage'; 0 if none");
        cJSON_AddNumberToObject(lk, "coverage", lo->coverage);
        cJSON_AddNumberToObject(lk, "candidates_per_query", lo->candidates);
        cJSON_AddNumberToObject(lk, "seed", (double)lo->seed);
        for (int k = SP_VAL; k <= SP_TEST && !st; k++) {
            sp_leak l;
            st = sp_leakage(seqs, lens, set, n, k, lo, &l);
            if (!st)
                sp_leak_to_json(&l, cJSON_AddObjectToObject(lk, SET_NAMES[k]));
        }
    }
    if (!st && set_out)
        memcpy(set_out, set, n);
    tg_free(set);
    return st;
}
