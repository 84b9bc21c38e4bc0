/* split_graph: the connected components of the graph "identity >= T"
 * (single linkage over every pair that passes), found exhaustively: every
 * pair of distinct sequences is either aligned, or skipped because it is
 * already connected, or skipped by an exact bound that proves it cannot
 * pass (length; cl_bound_identity). */
#include "split.h"

#include "align.h"
#include "cluster_util.h"
#include "tg.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The length bound of cl_may_pass_len at identity t, in the pair's
 * orientations (cov-mode 1 and 2 accept either sequence as the covered one). */
static int len_may_pass(const cl_opts *o, double t, int la, int lb)
{
    cl_opts x = *o;
    x.min_seq_id = t;
    if (o->cov_mode == 0)
        return cl_may_pass_len(&x, la, lb);
    x.cov_mode = 1;
    return cl_may_pass_len(&x, la, lb) || cl_may_pass_len(&x, lb, la);
}

void sp_pair_may_pass(const cl_opts *o, double t, const uint8_t *q, int lq,
                      const uint8_t *const *b, const int *lb, int nb, uint8_t *ok)
{
    const uint8_t *sb[SP_BATCH];
    int sl[SP_BATCH], at[SP_BATCH], m = 0;
    uint8_t r1[SP_BATCH], r2[SP_BATCH];
    for (int x = 0; x < nb; x++) {
        ok[x] = len_may_pass(o, t, lq, lb[x]);
        if (ok[x] && lq > 0 && lb[x] > 0 && m < SP_BATCH) {
            sb[m] = b[x];
            sl[m] = lb[x];
            at[m++] = x;
        }
    }
    if (!m)
        return;
    double c = o->coverage;
    if (o->cov_mode == 0) {
        cl_bound_identity(q, lq, sb, sl, m, t, c, c, r1);
        for (int k = 0; k < m; k++)
            ok[at[k]] = r1[k];
    } else {
        cl_bound_identity(q, lq, sb, sl, m, t, c, 0, r1);
        cl_bound_identity(q, lq, sb, sl, m, t, 0, c, r2);
        for (int k = 0; k < m; k++)
            ok[at[k]] = r1[k] || r2[k];
    }
}

int sp_pair_identity(const cl_opts *o, const uint8_t *q, int lq, const uint8_t *t, int lt,
                     aln_ws *ws, double *identity)
{
    aln_result r;
    int st = aln_align_codes_ws(&o->aln, q, lq, t, lt, ws, &r);
    if (st)
        return st;
    const double eps = 1e-9, c = o->coverage;
    int cov = o->cov_mode == 0 ? r.qcov + eps >= c && r.tcov + eps >= c
                               : r.qcov + eps >= c || r.tcov + eps >= c;
    *identity = cov ? r.identity : 0.0;
    return TG_OK;
}

static uint32_t uf_find(uint32_t *p, uint32_t x)
{
    while (p[x] != x) {
        p[x] = p[p[x]];
        x = p[x];
    }
    return x;
}

static void uf_union(uint32_t *p, uint32_t a, uint32_t b)
{
    a = uf_find(p, a);
    b = uf_find(p, b);
    if (a != b) {
        if (a < b)
            p[b] = a;
        else
            p[a] = b;
    }
}

/* Per-thread state of the pair search. */
typedef struct {
    uint32_t *mark; /* mark[root] == stamp: the query is already joined to root */
    aln_ws ws;
    uint32_t *edges; /* pairs (query, target) found, 2 entries each */
    size_t n_edges, cap_edges;
    size_t connected, bounded, aligned;
} worker;

typedef struct {
    const cl_opts *o;
    uint8_t **codes; /* unique sequences, encoded */
    int *len;
} graph;

static int push_edge(worker *w, uint32_t a, uint32_t b)
{
    if (w->n_edges * 2 + 2 > w->cap_edges) {
        size_t cap = w->cap_edges ? 2 * w->cap_edges : 1024;
        uint32_t *e = tg_realloc(w->edges, cap * sizeof *e, "component edges");
        if (!e)
            return TG_ERR_NOMEM;
        w->edges = e;
        w->cap_edges = cap;
    }
    w->edges[2 * w->n_edges] = a;
    w->edges[2 * w->n_edges + 1] = b;
    w->n_edges++;
    return TG_OK;
}

/* Query u against the unique sequences j in [j0, j1) whose component
 * roots (fixed during the call) are root[j]: aligns every pair not already
 * joined and not excluded by a bound, records the passing pairs. */
static int query_range(const graph *g, uint32_t u, uint32_t j0, uint32_t j1, const uint32_t *root,
                       worker *w)
{
    const cl_opts *o = g->o;
    const uint32_t stamp = u + 1;
    w->mark[root[u]] = stamp;
    uint32_t cand[SP_BATCH];
    const uint8_t *cb[SP_BATCH];
    int cl[SP_BATCH];
    uint8_t ok[SP_BATCH];
    for (uint32_t j = j0; j < j1;) {
        int nc = 0;
        for (; j < j1 && nc < SP_BATCH; j++) {
            if (w->mark[root[j]] == stamp) {
                w->connected++;
                continue;
            }
            cand[nc] = j;
            cb[nc] = g->codes[j];
            cl[nc++] = g->len[j];
        }
        if (!nc)
            break;
        sp_pair_may_pass(o, o->min_seq_id, g->codes[u], g->len[u], cb, cl, nc, ok);
        for (int k = 0; k < nc; k++) {
            uint32_t v = cand[k];
            if (w->mark[root[v]] == stamp) {
                w->connected++;
                continue;
            }
            if (!ok[k]) {
                w->bounded++;
                continue;
            }
            double id;
            int st = sp_pair_identity(o, g->codes[u], g->len[u], g->codes[v], g->len[v], &w->ws,
                                      &id);
            if (st)
                return st;
            w->aligned++;
            if (id + 1e-9 >= o->min_seq_id) {
                w->mark[root[v]] = stamp;
                if ((st = push_edge(w, u, v)))
                    return st;
            }
        }
    }
    return TG_OK;
}

#define BLOCK 256

int sp_components(const char *const *seqs, const int *lens, size_t n, const cl_opts *o,
                  uint32_t *comp, sp_cc_stats *stats)
{
    double t0 = now();
    sp_cc_stats s;
    memset(&s, 0, sizeof s);
    s.n = n;
    if (n >= UINT32_MAX)
        return tg_error(TG_ERR_ARG, "split: %zu sequences are too many (at most %u)", n,
                        UINT32_MAX - 1);
    int st = cl_check_opts(o);
    if (st)
        return st;
    cl_trk trk = {0, 0};
    uint32_t *grp = tg_malloc((n ? n : 1) * sizeof *grp, "components");
    uint32_t *uniq = NULL;
    size_t m = 0;
    if (!grp)
        return TG_ERR_NOMEM;
    cl_arrays arr;
    if ((st = cl_dedup(&trk, cl_src_arrays(&arr, seqs, lens, NULL), n, 0, grp, &uniq, &m, NULL))) {
        tg_free(grp);
        return st;
    }
    s.n_unique = m;
    graph g = {o, NULL, NULL};
    size_t total = 0;
    for (size_t u = 0; u < m; u++)
        total += (size_t)lens[uniq[u]];
    g.codes = tg_malloc((m + 1) * sizeof *g.codes, "components");
    g.len = tg_malloc((m + 1) * sizeof *g.len, "components");
    uint8_t *buf = tg_malloc(total + 1, "components");
    uint32_t *parent = tg_malloc((m + 1) * sizeof *parent, "components");
    uint32_t *root = tg_malloc((m + 1) * sizeof *root, "components");
    int nth = o->threads > 0 ? o->threads : tg_threads();
    worker *wk = tg_calloc((size_t)nth, sizeof *wk, "components");
    int ok = g.codes && g.len && buf && parent && root && wk;
    for (int t = 0; ok && t < nth; t++)
        ok = (wk[t].mark = tg_calloc(m + 1, sizeof *wk[t].mark, "components")) != NULL;
    if (!ok) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    for (size_t u = 0, off = 0; u < m; u++) {
        g.codes[u] = buf + off;
        g.len[u] = lens[uniq[u]];
        aln_encode(seqs[uniq[u]], g.len[u], g.codes[u]);
        off += (size_t)g.len[u];
        parent[u] = root[u] = (uint32_t)u;
    }
    s.pairs = m > 1 ? (double)m * (double)(m - 1) / 2 : 0;
    double last = now();
    int err = TG_OK;
    for (size_t bs = 0; bs < m && !err; bs += BLOCK) {
        size_t be = bs + BLOCK < m ? bs + BLOCK : m;
        for (size_t j = 0; j < be; j++)
            root[j] = uf_find(parent, (uint32_t)j);
        /* the block's queries against everything before it, in parallel */
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
        for (size_t u = bs; u < be; u++) {
            int failed;
#pragma omp atomic read
            failed = err;
            if (failed)
                continue;
            int r = query_range(&g, (uint32_t)u, 0, (uint32_t)bs, root, &wk[omp_get_thread_num()]);
            if (r) {
#pragma omp critical(sp_cc_err)
                if (!err)
                    err = r;
            }
        }
        if (err)
            break;
        for (int t = 0; t < nth; t++) {
            for (size_t e = 0; e < wk[t].n_edges; e++)
                uf_union(parent, wk[t].edges[2 * e], wk[t].edges[2 * e + 1]);
            s.edges += wk[t].n_edges;
            wk[t].n_edges = 0;
        }
        /* then within the block, in order */
        for (size_t u = bs + 1; u < be && !err; u++) {
            for (size_t j = bs; j <= u; j++)
                root[j] = uf_find(parent, (uint32_t)j);
            err = query_range(&g, (uint32_t)u, (uint32_t)bs, (uint32_t)u, root, &wk[0]);
            for (size_t e = 0; e < wk[0].n_edges; e++)
                uf_union(parent, wk[0].edges[2 * e], wk[0].edges[2 * e + 1]);
            s.edges += wk[0].n_edges;
            wk[0].n_edges = 0;
        }
        if (o->progress && (now() - last > 2.0 || be == m)) {
            last = now();
            double done = (double)be * (double)be, all = (double)m * (double)m;
            size_t al = 0;
            for (int t = 0; t < nth; t++)
                al += wk[t].aligned;
            fprintf(stderr, "\rcomponents: %zu/%zu sequences, %zu alignments, %.0f s, ETA %.0f s   ",
                    be, m, al, last - t0, done > 0 ? (last - t0) * (all - done) / done : 0.0);
            if (be == m)
                fputc('\n', stderr);
        }
    }
    if (err) {
        st = err;
        goto done;
    }
    for (int t = 0; t < nth; t++) {
        s.connected += wk[t].connected;
        s.bounded += wk[t].bounded;
        s.alignments += wk[t].aligned;
    }
    /* comp[i] = the lowest input index of i's component */
    for (size_t u = 0; u < m; u++)
        root[u] = UINT32_MAX;
    for (size_t u = 0; u < m; u++) {
        uint32_t r = uf_find(parent, (uint32_t)u);
        if (root[r] == UINT32_MAX)
            root[r] = uniq[u]; /* u ascends with the lowest index */
    }
    for (size_t i = 0; i < n; i++)
        comp[i] = root[uf_find(parent, grp[i])];
    s.n_components = 0;
    for (size_t u = 0; u < m; u++)
        s.n_components += parent[u] == u;
done:
    for (int t = 0; wk && t < nth; t++) {
        tg_free(wk[t].mark);
        tg_free(wk[t].edges);
        aln_ws_free(&wk[t].ws);
    }
    tg_free(wk);
    tg_free(root);
    tg_free(parent);
    tg_free(buf);
    tg_free(g.len);
    tg_free(g.codes);
    cl_tfree(&trk, uniq);
    tg_free(grp);
    s.seconds = now() - t0;
    if (stats)
        *stats = s;
    return st;
}
