/* leakage: nearest training sequence of the validation and test sequences
 * (exact by default), and the exhaustive check of a leakage-free split. */
#include "leakage.h"

#include "align.h"
#include "split.h"
#include "tg.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *SET_NAMES[3] = {"train", "val", "test"};

void sp_leak_opts_default(sp_leak_opts *o)
{
    o->sample = 200;
    o->seed = 42;
    o->coverage = 0.8;
    o->cov_mode = 0;
    o->candidates = 0;
    o->max_pairs = 2e8;
    o->worst = 10;
    o->bound3 = 1;
    o->progress = 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Inside a parallel loop: the first nonzero status s and its message are
 * kept in *err / msg. */
static void keep_first_error(int s, int *err, char *msg, size_t n)
{
    if (!s)
        return;
#pragma omp critical(sp_leak_err)
    if (!*err) {
        *err = s;
        snprintf(msg, n, "%s", tg_last_error());
    }
}

/* Inside a parallel loop: one more of `total` sequences done; thread 0
 * prints "WHAT (SET): d/total sequences, elapsed, ETA", rewriting one line
 * every 2 s on a terminal, else as a line of its own every 30 s (logs). */
static void progress_tick(size_t *done, double *last, double t0, size_t total, const char *what,
                          const char *set)
{
    size_t d;
#pragma omp atomic capture
    d = ++*done;
    if (omp_get_thread_num() != 0 || now() - *last <= 2.0)
        return;
    int tty = isatty(2);
    if (tty || now() - *last > 30.0) {
        *last = now();
        fprintf(stderr, "%s%s%s%s%s: %zu/%zu sequences, %.0f s, ETA %.0f s%s", tty ? "\r" : "",
                what, set ? " (" : "", set ? set : "", set ? ")" : "", d, total, *last - t0,
                (*last - t0) * (double)(total - d) / (double)d, tty ? "   " : "\n");
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define KMER_SPACE (21 * 21 * 21)
#define MAX_KMERS 4096
#define SEEDS 8 /* train sequences aligned first in the exact search */

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
    uint16_t *post_cnt;    /* how often the 3-mer occurs in that train sequence */
} train_index;

static void index_free(train_index *x)
{
    tg_free(x->train);
    tg_free(x->codes);
    tg_free(x->len);
    tg_free(x->buf);
    tg_free(x->post_start);
    tg_free(x->postings);
    tg_free(x->post_cnt);
    memset(x, 0, sizeof *x);
}

/* The train sequences, encoded, and an index from each 3-mer to the train
 * sequences holding it. */
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
    uint32_t *km = tg_malloc(MAX_KMERS * sizeof *km, "k-mers");
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
            x->post_cnt = tg_malloc((npost + 1) * sizeof *x->post_cnt, "train index");
            if (!x->postings || !x->post_cnt) {
                tg_free(km);
                index_free(x);
                return TG_ERR_NOMEM;
            }
        }
        size_t *fill = x->post_start;
        for (size_t j = 0; j < x->n_train; j++) {
            int m = kmers3(x->codes[j], x->len[j] > MAX_KMERS ? MAX_KMERS : x->len[j], km);
            qsort(km, (size_t)m, sizeof *km, cmp_u32);
            for (int a = 0, r; a < m; a += r) {
                for (r = 1; a + r < m && km[a + r] == km[a]; r++)
                    ;
                if (pass == 0) {
                    x->post_start[km[a]]++;
                } else {
                    x->postings[fill[km[a]]] = (uint32_t)j;
                    x->post_cnt[fill[km[a]]++] = (uint16_t)r; /* r <= MAX_KMERS */
                }
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

/* Per-thread scratch. */
typedef struct {
    uint16_t *score; /* shared 3-mers per train sequence */
    uint32_t *shared; /* the 3-mer bound's counts (shared_3mers) per train sequence */
    uint32_t *cand;
    uint32_t km[MAX_KMERS];
    uint8_t *q;      /* the query's codes */
    int qcap;
    aln_ws ws;
} scratch;

/* Up to k train positions (into x->train) sharing the most distinct 3-mers
 * with q, ties by train order, into w->cand; returns how many (k <= 0 or
 * >= n_train: all, in train order). */
static size_t top_candidates(const train_index *x, const uint8_t *q, int qn, int k, scratch *w)
{
    size_t nc = 0;
    if (k <= 0 || (size_t)k >= x->n_train) {
        for (size_t j = 0; j < x->n_train; j++)
            w->cand[nc++] = (uint32_t)j;
        return nc;
    }
    int m = kmers3(q, qn > MAX_KMERS ? MAX_KMERS : qn, w->km);
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
    size_t cnt[MAX_KMERS + 1] = {0};
    int cap_s = maxs > MAX_KMERS ? MAX_KMERS : maxs;
    for (size_t j = 0; j < x->n_train; j++)
        cnt[w->score[j] > cap_s ? cap_s : w->score[j]]++;
    int cut = cap_s;
    size_t above = 0;
    while (cut > 1 && above + cnt[cut] < (size_t)k)
        above += cnt[cut--];
    /* all with score > cut, then those == cut in train order */
    for (size_t j = 0; j < x->n_train; j++)
        if (w->score[j] > cut)
            w->cand[nc++] = (uint32_t)j;
    for (size_t j = 0; j < x->n_train && nc < (size_t)k; j++)
        if (w->score[j] == cut && cut > 0)
            w->cand[nc++] = (uint32_t)j;
    return nc;
}

/* w->shared[j] = the 3-mers q shares with train position j counted with
 * multiplicity (sum over 3-mers of the smaller of the two counts), for
 * every j; q must be at most MAX_KMERS long (every 3-mer counted). */
static void shared_3mers(const train_index *x, const uint8_t *q, int qn, scratch *w)
{
    int m = kmers3(q, qn, w->km);
    qsort(w->km, (size_t)m, sizeof *w->km, cmp_u32);
    memset(w->shared, 0, x->n_train * sizeof *w->shared);
    for (int a = 0, r; a < m; a += r) {
        for (r = 1; a + r < m && w->km[a + r] == w->km[a]; r++)
            ;
        for (size_t p = x->post_start[w->km[a]]; p < x->post_start[w->km[a] + 1]; p++)
            w->shared[x->postings[p]] += (uint32_t)(x->post_cnt[p] < r ? x->post_cnt[p] : r);
    }
}

/* The 3-mer bound: fewest shared 3-mers (shared_3mers) a pair of lengths
 * la, lb needs to pass at identity t under po's coverage, or -1 when the
 * bound says nothing (t <= 2/3).
 *
 * Proof. Let an alignment have M match, X mismatch, Ga gap columns on a
 * residue of a and Gb on a residue of b, so a's aligned span is sa = M + X
 * + Ga, L = M + X + Ga + Gb columns and E = L - M errors. A 3-mer of the
 * span whose three residues sit in consecutive match columns occurs in b
 * at the aligned place, and distinct such 3-mers of a land on distinct
 * places of b, so the shared count is at least their number. A mismatch
 * or Ga column breaks at most the 3 span 3-mers holding its residue, a Gb
 * column at most the 2 holding both its neighbours: at least sa - 2 - 3(X
 * + Ga) - 2Gb remain. Passing means M >= t L, i.e. X + Ga + Gb <= r (sa -
 * X - Ga) with r = (1-t)/t; for t > 2/3 the count is smallest when Gb = 0
 * and X + Ga = (1-t) sa, so shared >= (3t - 2) sa - 2, and likewise with
 * b's span. The coverage bounds the spans: cov-mode 0 needs sa >= c la and
 * sb >= c lb (shared >= (3t - 2) c max(la, lb) - 2), 1 and 2 either one
 * (min). t and c are lowered by 1e-6, below aln_passes' 1e-9 tolerance, as
 * cl_bound_identity does. */
static double need_3mers(const cl_opts *po, double t, int la, int lb)
{
    double tl = t - 1e-6, c = po->coverage - 1e-6;
    if (3 * tl - 2 <= 0 || c <= 0)
        return -1;
    int l = po->cov_mode == 0 ? (la > lb ? la : lb) : (la < lb ? la : lb);
    return (3 * tl - 2) * c * l - 2;
}

/* The pair relation of split.h for query sequence qi (codes q) and train
 * position j: the later of the two in the input is the alignment's query. */
static int pair_id(const cl_opts *po, const train_index *x, uint32_t qi, const uint8_t *q, int qn,
                   uint32_t j, scratch *w, double *id)
{
    if (x->train[j] < qi)
        return sp_pair_identity(po, q, qn, x->codes[j], x->len[j], &w->ws, id);
    return sp_pair_identity(po, x->codes[j], x->len[j], q, qn, &w->ws, id);
}

/* Highest identity of query qi against the train sequences (*arg: its
 * train position, UINT32_MAX if no pair covers). Pairs that an exact bound
 * (need_3mers when bound3, then sp_pair_may_pass) proves below max(best so far, floor)
 * are skipped (counted in *n_bound, those of the 3-mer bound also in
 * *n_bound3); with stop, returns as soon as a pair reaches floor (the
 * check at T). cand: n_cand positions aligned first (the index
 * candidates). */
static int nearest(const cl_opts *po, const train_index *x, uint32_t qi, const uint8_t *q, int qn,
                   size_t n_cand, double floor, int stop, scratch *w, double *best_out,
                   uint32_t *arg_out, size_t *n_aln, size_t *n_bound, size_t *n_bound3,
                   int bound3)
{
    double best = 0;
    uint32_t arg = UINT32_MAX;
    int st;
    for (size_t c = 0; c < n_cand; c++) {
        double id;
        if ((st = pair_id(po, x, qi, q, qn, w->cand[c], w, &id)))
            return st;
        ++*n_aln;
        if (id > best) {
            best = id;
            arg = w->cand[c];
        }
        if (stop && best + 1e-9 >= floor)
            goto out;
    }
    const uint8_t *tb[SP_BATCH];
    int tl[SP_BATCH];
    uint32_t tj[SP_BATCH];
    uint8_t ok[SP_BATCH];
    int use3 = bound3 && qn <= MAX_KMERS; /* every 3-mer of q counted */
    if (use3)
        shared_3mers(x, q, qn, w);
    for (size_t j = 0; j < x->n_train;) {
        int nb = 0;
        double t = best > floor ? best : floor;
        for (; j < x->n_train && nb < SP_BATCH; j++) {
            int seen = 0;
            for (size_t c = 0; c < n_cand && !seen; c++)
                seen = w->cand[c] == j;
            if (seen)
                continue;
            if (use3 && x->len[j] <= MAX_KMERS &&
                (double)w->shared[j] < need_3mers(po, t, qn, x->len[j])) {
                ++*n_bound;
                ++*n_bound3;
                continue;
            }
            tb[nb] = x->codes[j];
            tl[nb] = x->len[j];
            tj[nb++] = (uint32_t)j;
        }
        sp_pair_may_pass(po, t, q, qn, tb, tl, nb, ok);
        for (int k = 0; k < nb; k++) {
            if (!ok[k]) {
                ++*n_bound;
                continue;
            }
            double id;
            if ((st = pair_id(po, x, qi, q, qn, tj[k], w, &id)))
                return st;
            ++*n_aln;
            if (id > best) {
                best = id;
                arg = tj[k];
            }
            if (stop && best + 1e-9 >= floor)
                goto out;
        }
    }
out:
    *best_out = best;
    *arg_out = best > 0 ? arg : UINT32_MAX;
    return TG_OK;
}

static int scratch_init(scratch *w, size_t n_train)
{
    memset(w, 0, sizeof *w);
    w->score = tg_malloc((n_train + 1) * sizeof *w->score, "leakage scratch");
    w->shared = tg_malloc((n_train + 1) * sizeof *w->shared, "leakage scratch");
    w->cand = tg_malloc((n_train + 1) * sizeof *w->cand, "leakage scratch");
    return w->score && w->shared && w->cand ? TG_OK : TG_ERR_NOMEM;
}

static void scratch_free(scratch *w)
{
    tg_free(w->score);
    tg_free(w->shared);
    tg_free(w->cand);
    tg_free(w->q);
    aln_ws_free(&w->ws);
}

/* Encodes sequence i into w->q. */
static int scratch_query(scratch *w, const char *const *seqs, const int *lens, uint32_t i)
{
    int qn = lens[i];
    if (qn + 1 > w->qcap) {
        uint8_t *nq = tg_realloc(w->q, (size_t)qn + 1, "leakage query");
        if (!nq)
            return TG_ERR_NOMEM;
        w->q = nq;
        w->qcap = qn + 1;
    }
    aln_encode(seqs[i], qn, w->q);
    return TG_OK;
}

static void pair_opts(const sp_leak_opts *o, cl_opts *po)
{
    cl_opts_default(po);
    po->coverage = o->coverage;
    po->cov_mode = o->cov_mode;
}

static int by_identity_desc(const void *a, const void *b)
{
    const sp_leak_pair *x = a, *y = b;
    if (x->identity != y->identity)
        return x->identity > y->identity ? -1 : 1;
    return x->query < y->query ? -1 : x->query > y->query;
}

int sp_leakage(const char *const *seqs, const int *lens, const uint8_t *set, size_t n,
               int which, const sp_leak_opts *o, sp_leak *out)
{
    memset(out, 0, sizeof *out);
    out->recall = -1;
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
    out->n_set = m;
    train_index x;
    int st = index_build(&x, seqs, lens, set, n);
    if (st) {
        tg_free(pool);
        return st;
    }
    out->n_train = x.n_train;
    if (o->candidates > 0)
        out->mode = SP_LEAK_INDEX;
    else if ((double)m * (double)x.n_train <= o->max_pairs || o->sample >= m)
        out->mode = SP_LEAK_EXACT;
    else
        out->mode = SP_LEAK_SAMPLE;
    size_t k = m;
    if (out->mode != SP_LEAK_EXACT) {
        /* seeded partial Fisher-Yates: the first k of pool are the sample */
        k = o->sample < m ? o->sample : m;
        tg_rng rng;
        tg_rng_seed(&rng, o->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(which + 1)));
        for (size_t i = 0; i < k; i++) {
            size_t j = i + (size_t)(tg_rng_next(&rng) % (m - i));
            uint32_t t = pool[i];
            pool[i] = pool[j];
            pool[j] = t;
        }
    }
    double *best = tg_calloc(k + 1, sizeof *best, "leakage results");
    uint32_t *arg = tg_calloc(k + 1, sizeof *arg, "leakage results");
    if (!best || !arg) {
        tg_free(pool);
        tg_free(best);
        tg_free(arg);
        index_free(&x);
        return TG_ERR_NOMEM;
    }
    cl_opts po;
    pair_opts(o, &po);
    int nthreads = tg_threads();
    size_t n_aln = 0, n_bound = 0, n_bound3 = 0, agree = 0, done = 0;
    int err = TG_OK;
    char errmsg[256] = "";
    double last = now();
#pragma omp parallel num_threads(nthreads) reduction(+ : n_aln, n_bound, n_bound3, agree)
    {
        scratch w;
        int s = scratch_init(&w, x.n_train);
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < k; i++) {
            int failed;
#pragma omp atomic read
            failed = err;
            if (s || failed)
                continue;
            uint32_t qi = pool[i];
            int qn = lens[qi];
            if (!(s = scratch_query(&w, seqs, lens, qi))) {
                if (out->mode == SP_LEAK_INDEX) {
                    size_t nc = top_candidates(&x, w.q, qn, o->candidates, &w);
                    double b = 0, e;
                    uint32_t ja = UINT32_MAX, je;
                    for (size_t c = 0; c < nc && !s; c++) {
                        double id;
                        s = pair_id(&po, &x, qi, w.q, qn, w.cand[c], &w, &id);
                        n_aln++;
                        if (!s && id > b) {
                            b = id;
                            ja = w.cand[c];
                        }
                    }
                    best[i] = b;
                    arg[i] = ja;
                    /* the exact nearest, for the recall of the index */
                    size_t na = 0, nb = 0, nb3 = 0;
                    if (!s)
                        s = nearest(&po, &x, qi, w.q, qn, 0, 0, 0, &w, &e, &je, &na, &nb, &nb3, o->bound3);
                    if (!s && fabs(e - b) < 1e-12)
                        agree++;
                } else {
                    size_t nc = top_candidates(&x, w.q, qn, SEEDS, &w);
                    if (nc >= x.n_train)
                        nc = 0; /* everything is aligned anyway */
                    s = nearest(&po, &x, qi, w.q, qn, nc, 0, 0, &w, &best[i], &arg[i], &n_aln,
                                &n_bound, &n_bound3, o->bound3);
                }
            }
            keep_first_error(s, &err, errmsg, sizeof errmsg);
            if (o->progress)
                progress_tick(&done, &last, t0, k, "leakage", SET_NAMES[which]);
        }
        if (s && !err) {
#pragma omp critical(sp_leak_err)
            if (!err) {
                err = s;
                snprintf(errmsg, sizeof errmsg, "%s", tg_last_error());
            }
        }
        scratch_free(&w);
    }
    if (o->progress && done)
        fprintf(stderr, "\rleakage (%s): %zu/%zu sequences, %.0f s              \n",
                SET_NAMES[which], k, k, now() - t0);
    if (err) {
        tg_free(pool);
        tg_free(best);
        tg_free(arg);
        index_free(&x);
        return tg_error(err, "%s", errmsg);
    }
    out->n = k;
    out->alignments = n_aln;
    out->bounded = n_bound;
    out->bounded3 = n_bound3;
    if (out->mode == SP_LEAK_INDEX && k)
        out->recall = (double)agree / (double)k;
    /* the closest pairs */
    sp_leak_pair *pr = tg_malloc((k + 1) * sizeof *pr, "leakage pairs");
    if (!pr) {
        tg_free(pool);
        tg_free(best);
        tg_free(arg);
        index_free(&x);
        return TG_ERR_NOMEM;
    }
    for (size_t i = 0; i < k; i++)
        pr[i] = (sp_leak_pair){pool[i], arg[i] == UINT32_MAX ? UINT32_MAX : x.train[arg[i]],
                               best[i]};
    qsort(pr, k, sizeof *pr, by_identity_desc);
    int nw = o->worst < SP_LEAK_WORST ? o->worst : SP_LEAK_WORST;
    for (size_t i = 0; i < k && out->n_worst < nw; i++)
        out->worst[out->n_worst++] = pr[i];
    tg_free(pr);
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
    tg_free(arg);
    tg_free(pool);
    index_free(&x);
    out->seconds = now() - t0;
    return TG_OK;
}

static void pair_to_json(const sp_leak_pair *p, const char *const *ids, cJSON *arr)
{
    cJSON *e = cJSON_CreateObject();
    if (ids)
        cJSON_AddStringToObject(e, "id", ids[p->query]);
    cJSON_AddNumberToObject(e, "index", p->query);
    if (p->train != UINT32_MAX) {
        if (ids)
            cJSON_AddStringToObject(e, "train_id", ids[p->train]);
        cJSON_AddNumberToObject(e, "train_index", p->train);
    } else {
        cJSON_AddNullToObject(e, "train_id");
    }
    cJSON_AddNumberToObject(e, "identity", p->identity);
    cJSON_AddItemToArray(arr, e);
}

void sp_leak_to_json(const sp_leak *l, cJSON *obj)
{
    sp_leak_to_json_ids(l, NULL, obj);
}

void sp_leak_to_json_ids(const sp_leak *l, const char *const *ids, cJSON *obj)
{
    static const char *modes[] = {"exact", "sample", "index"};
    cJSON_AddStringToObject(obj, "mode", modes[l->mode]);
    cJSON_AddNumberToObject(obj, "sequences", (double)l->n_set);
    cJSON_AddNumberToObject(obj, "sampled", (double)l->n);
    cJSON_AddNumberToObject(obj, "train_sequences", (double)l->n_train);
    cJSON_AddNumberToObject(obj, "median_identity", l->median);
    cJSON_AddNumberToObject(obj, "p95_identity", l->p95);
    cJSON_AddNumberToObject(obj, "max_identity", l->max);
    cJSON_AddNumberToObject(obj, "fraction_ge_0.5", l->frac_ge[0]);
    cJSON_AddNumberToObject(obj, "fraction_ge_0.7", l->frac_ge[1]);
    cJSON_AddNumberToObject(obj, "fraction_ge_0.9", l->frac_ge[2]);
    if (l->recall >= 0)
        cJSON_AddNumberToObject(obj, "index_recall", l->recall);
    cJSON *w = cJSON_AddArrayToObject(obj, "closest");
    for (int i = 0; i < l->n_worst; i++)
        pair_to_json(&l->worst[i], ids, w);
    cJSON_AddNumberToObject(obj, "alignments", (double)l->alignments);
    cJSON_AddNumberToObject(obj, "pairs_bounded", (double)l->bounded);
    cJSON_AddNumberToObject(obj, "pairs_bounded_by_3mers", (double)l->bounded3);
    cJSON_AddNumberToObject(obj, "seconds", l->seconds);
}

int sp_leak_check(const char *const *seqs, const int *lens, const uint8_t *set, size_t n,
                  double t, const sp_leak_opts *o, sp_leak_chk *out)
{
    memset(out, 0, sizeof *out);
    double t0 = now();
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += set[i] != SP_TRAIN;
    uint32_t *pool = tg_malloc((m + 1) * sizeof *pool, "leakage check");
    double *best = tg_calloc(m + 1, sizeof *best, "leakage check");
    uint32_t *arg = tg_calloc(m + 1, sizeof *arg, "leakage check");
    train_index x;
    int st = pool && best && arg ? index_build(&x, seqs, lens, set, n) : TG_ERR_NOMEM;
    if (st) {
        tg_free(pool);
        tg_free(best);
        tg_free(arg);
        return st;
    }
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (set[i] != SP_TRAIN)
            pool[m++] = (uint32_t)i;
    cl_opts po;
    pair_opts(o, &po);
    int err = TG_OK;
    char errmsg[256] = "";
    size_t n_aln = 0, n_bound = 0, n_bound3 = 0, done = 0;
    double last = now();
#pragma omp parallel num_threads(tg_threads()) reduction(+ : n_aln, n_bound, n_bound3)
    {
        scratch w;
        int s = scratch_init(&w, x.n_train);
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < m; i++) {
            int failed;
#pragma omp atomic read
            failed = err;
            if (s || failed)
                continue;
            if (!(s = scratch_query(&w, seqs, lens, pool[i]))) {
                size_t nc = top_candidates(&x, w.q, lens[pool[i]], SEEDS, &w);
                if (nc >= x.n_train)
                    nc = 0;
                s = nearest(&po, &x, pool[i], w.q, lens[pool[i]], nc, t, 1, &w, &best[i],
                            &arg[i], &n_aln, &n_bound, &n_bound3, o->bound3);
            }
            keep_first_error(s, &err, errmsg, sizeof errmsg);
            if (o->progress)
                progress_tick(&done, &last, t0, m, "leakage check", NULL);
        }
        if (s && !err) {
#pragma omp critical(sp_leak_err)
            if (!err) {
                err = s;
                snprintf(errmsg, sizeof errmsg, "%s", tg_last_error());
            }
        }
        scratch_free(&w);
    }
    if (o->progress && done)
        fprintf(stderr, "\rleakage check: %zu/%zu sequences, %.0f s              \n", m, m,
                now() - t0);
    if (!err) {
        out->queried = m;
        out->alignments = n_aln;
        out->bounded = n_bound;
        out->bounded3 = n_bound3;
        for (size_t i = 0; i < m; i++)
            if (best[i] + 1e-9 >= t) {
                if (out->n_first < 10)
                    out->first[out->n_first++] =
                        (sp_leak_pair){pool[i], x.train[arg[i]], best[i]};
                out->violations++;
            }
    }
    tg_free(pool);
    tg_free(best);
    tg_free(arg);
    index_free(&x);
    out->seconds = now() - t0;
    return err ? tg_error(err, "%s", errmsg) : TG_OK;
}

void sp_leak_chk_to_json(const sp_leak_chk *c, double t, const char *const *ids, cJSON *obj)
{
    cJSON_AddNumberToObject(obj, "min_seq_id", t);
    cJSON_AddNumberToObject(obj, "checked", (double)c->queried);
    cJSON_AddNumberToObject(obj, "violations", (double)c->violations);
    cJSON *v = cJSON_AddArrayToObject(obj, "first_violations");
    for (int i = 0; i < c->n_first; i++)
        pair_to_json(&c->first[i], ids, v);
    cJSON_AddNumberToObject(obj, "alignments", (double)c->alignments);
    cJSON_AddNumberToObject(obj, "pairs_bounded", (double)c->bounded);
    cJSON_AddNumberToObject(obj, "pairs_bounded_by_3mers", (double)c->bounded3);
    cJSON_AddNumberToObject(obj, "seconds", c->seconds);
}
