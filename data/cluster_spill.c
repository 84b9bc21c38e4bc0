/* cluster_spill: linclust within a memory budget (cl_cluster_budget).
 *
 * The same clusters as the in-memory linclust (cluster.c) for any budget:
 *   1. k-mer entries (k-mer, length, sequence) of a chunk of sequences,
 *      sorted by (k-mer, longest first, lowest index), one run each, all
 *      runs back to back in one temporary file;
 *   2. a k-way merge of the runs gives every k-mer group in order; its first
 *      entry is the centre (longest, then lowest index: the in-memory rule),
 *      every other entry a (centre, member) pair; pairs fill a chunk that is
 *      sorted, de-duplicated and written as a run to a second file;
 *   3. a k-way merge of the pair runs (duplicates across runs dropped) gives
 *      the unique pairs in (centre, member) order, the in-memory order; they
 *      are aligned in batches (cl_pair_flags) and the accepted directed
 *      edges go to a third file while their degrees are counted;
 *   4. the graph is read back into CSR form and cl_set_cover assigns the
 *      representatives; its result depends only on the set of edges.
 * Every temporary file is removed before return, on success and on error. */
#define _GNU_SOURCE
#include "afile.h"
#include "cluster_util.h"
#include "fileio.h"
#include "tg.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double sp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- run files ----------------------------------------------------------- */

/* One temporary file holding sorted runs of fixed-size records back to
 * back: run r is cnt[r] records at byte offset off[r]. */
typedef struct {
    tg_afile a;
    size_t rec;         /* bytes per record */
    uint64_t *off, *cnt;
    size_t nruns, cap;
    uint64_t bytes;     /* written so far */
    const char *what;   /* for messages: "k-mer runs", ... */
} sf_file;

/* The names of the run files: DIR/NAME.PID.tmp.XXXXXX (cl_clean_stale). */
static const char *const SF_NAMES[] = {"cluster_kmer_runs", "cluster_pair_runs", "cluster_edges",
                                       NULL};

int cl_clean_stale(const char *dir, size_t *removed, uint64_t *bytes)
{
    return fio_clean_stale(dir, SF_NAMES, NULL, removed, bytes);
}

/* Opens the temporary file DIR/NAME.PID.tmp.XXXXXX (tg_afile_open_pid:
 * removed by sf_close; the PID lets a later run tell a killed run's file
 * from a live one). */
static int sf_open(sf_file *f, const char *dir, const char *name, size_t rec, const char *what)
{
    memset(f, 0, sizeof *f);
    f->rec = rec;
    f->what = what;
    char *path = fio_join(dir, name);
    if (!path)
        return TG_ERR_NOMEM;
    int st = tg_afile_open_pid(&f->a, path);
    tg_free(path);
    return st;
}

static int sf_werr(const sf_file *f)
{
    return tg_error(TG_ERR_IO, "%s: cannot write the %s of the clustering: %s", f->a.tmp, f->what,
                    strerror(errno ? errno : EIO));
}

/* Appends `bytes` to the file (the current run). */
static int sf_put(sf_file *f, const void *data, size_t bytes)
{
    errno = 0;
    if (bytes && fwrite(data, 1, bytes, f->a.f) != bytes)
        return sf_werr(f);
    f->bytes += bytes;
    return TG_OK;
}

/* Starts a run at the current end (records follow through sf_put). */
static int sf_begin_run(sf_file *f, cl_trk *t)
{
    if (f->nruns == f->cap) {
        size_t nc = f->cap ? 2 * f->cap : 64;
        uint64_t *o = cl_trealloc(t, f->off, nc * sizeof *o, "run table");
        if (!o)
            return TG_ERR_NOMEM;
        f->off = o;
        uint64_t *c = cl_trealloc(t, f->cnt, nc * sizeof *c, "run table");
        if (!c)
            return TG_ERR_NOMEM;
        f->cnt = c;
        f->cap = nc;
    }
    f->off[f->nruns] = f->bytes;
    f->cnt[f->nruns++] = 0;
    return TG_OK;
}

/* Ends the current run after its records were written. */
static void sf_end_run(sf_file *f)
{
    f->cnt[f->nruns - 1] = (f->bytes - f->off[f->nruns - 1]) / f->rec;
}

/* Flushes the writes so the runs can be read back. */
static int sf_flush(sf_file *f)
{
    errno = 0;
    if (fflush(f->a.f) != 0 || ferror(f->a.f))
        return sf_werr(f);
    return TG_OK;
}

/* Removes the file and frees the run table. */
static void sf_close(sf_file *f, cl_trk *t)
{
    tg_afile_abort(&f->a);
    cl_tfree(t, f->off);
    cl_tfree(t, f->cnt);
    f->off = f->cnt = NULL;
}

/* Reads records [at, at + k) of the file into buf. */
static int sf_read(const sf_file *f, uint64_t at, size_t k, void *buf)
{
    size_t want = k * f->rec, got = 0;
    off_t pos = (off_t)(at * f->rec);
    while (got < want) {
        ssize_t r = pread(tg_afile_fd(&f->a), (char *)buf + got, want - got, pos + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return tg_error(TG_ERR_IO, "%s: cannot read back the %s of the clustering: %s",
                            f->a.tmp, f->what, r < 0 ? strerror(errno) : "file shorter than written");
        got += (size_t)r;
    }
    return TG_OK;
}

/* ---- k-way merge ---------------------------------------------------------- */

/* A record as merged: key, then val (k-mer runs: (k-mer << 32 | ~length),
 * sequence; pair runs: centre << 32 | member, 0). */
typedef struct {
    uint64_t key;
    uint32_t val;
} sp_item;

/* Merge state over the runs of one file: per run a buffer of `per` records
 * refilled from the file, a min-heap of run indices by current item. */
typedef struct {
    const sf_file *f;
    size_t per;          /* records per run buffer */
    uint8_t *buf;        /* nruns * per * rec */
    uint64_t *next, *left; /* per run: next record to read, records left in the file */
    size_t *pos, *have;  /* per run: position and count in its buffer */
    uint32_t *heap;
    size_t hn;
    uint64_t done, total;
} sp_merge;

static sp_item mg_item(const sp_merge *g, uint32_t r)
{
    const uint8_t *p = g->buf + ((size_t)r * g->per + g->pos[r]) * g->f->rec;
    sp_item it = {0, 0};
    memcpy(&it.key, p, 8);
    if (g->f->rec == 12)
        memcpy(&it.val, p + 8, 4);
    return it;
}

static int mg_less(const sp_merge *g, uint32_t a, uint32_t b)
{
    sp_item x = mg_item(g, a), y = mg_item(g, b);
    return x.key != y.key ? x.key < y.key : x.val != y.val ? x.val < y.val : a < b;
}

static void mg_sift(sp_merge *g, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < g->hn && mg_less(g, g->heap[l], g->heap[s]))
            s = l;
        if (r < g->hn && mg_less(g, g->heap[r], g->heap[s]))
            s = r;
        if (s == i)
            return;
        uint32_t tmp = g->heap[i];
        g->heap[i] = g->heap[s];
        g->heap[s] = tmp;
        i = s;
    }
}

/* Fills run r's buffer; returns a status (0 records left is not an error). */
static int mg_fill(sp_merge *g, uint32_t r)
{
    size_t k = g->left[r] < g->per ? (size_t)g->left[r] : g->per;
    g->pos[r] = 0;
    g->have[r] = k;
    if (!k)
        return TG_OK;
    int st = sf_read(g->f, g->next[r], k, g->buf + (size_t)r * g->per * g->f->rec);
    g->next[r] += k;
    g->left[r] -= k;
    return st;
}

/* Bytes mg_open allocates for nruns runs of `per` records of rec bytes. */
static size_t mg_bytes(size_t nruns, size_t per, size_t rec)
{
    return nruns * (per * rec + 2 * sizeof(uint64_t) + 2 * sizeof(size_t) + sizeof(uint32_t)) +
           6 * 16;
}

static void mg_close(sp_merge *g, cl_trk *t)
{
    cl_tfree(t, g->buf);
    cl_tfree(t, g->next);
    cl_tfree(t, g->left);
    cl_tfree(t, g->pos);
    cl_tfree(t, g->have);
    cl_tfree(t, g->heap);
    memset(g, 0, sizeof *g);
}

static int mg_open(sp_merge *g, cl_trk *t, const sf_file *f, size_t per)
{
    memset(g, 0, sizeof *g);
    size_t R = f->nruns ? f->nruns : 1;
    g->f = f;
    g->per = per;
    g->buf = cl_talloc(t, R * per * f->rec, "merge buffers");
    g->next = cl_talloc(t, R * sizeof *g->next, "merge state");
    g->left = cl_talloc(t, R * sizeof *g->left, "merge state");
    g->pos = cl_talloc(t, R * sizeof *g->pos, "merge state");
    g->have = cl_talloc(t, R * sizeof *g->have, "merge state");
    g->heap = cl_talloc(t, R * sizeof *g->heap, "merge state");
    if (!g->buf || !g->next || !g->left || !g->pos || !g->have || !g->heap) {
        mg_close(g, t);
        return TG_ERR_NOMEM;
    }
    for (size_t r = 0; r < f->nruns; r++) {
        g->next[r] = f->off[r] / f->rec;
        g->left[r] = f->cnt[r];
        g->total += f->cnt[r];
        int st = mg_fill(g, (uint32_t)r);
        if (st)
            return st;
        if (g->have[r])
            g->heap[g->hn++] = (uint32_t)r;
    }
    for (size_t i = g->hn / 2; i-- > 0;)
        mg_sift(g, i);
    return TG_OK;
}

/* Next record in (key, val) order into *it; *got = 0 at the end. */
static int mg_next(sp_merge *g, sp_item *it, int *got)
{
    *got = 0;
    if (!g->hn)
        return TG_OK;
    uint32_t r = g->heap[0];
    *it = mg_item(g, r);
    *got = 1;
    g->done++;
    if (++g->pos[r] == g->have[r]) {
        int st = mg_fill(g, r);
        if (st)
            return st;
        if (!g->have[r])
            g->heap[0] = g->heap[--g->hn];
    }
    mg_sift(g, 0);
    return TG_OK;
}

/* ---- the plan --------------------------------------------------------------- */

#define SP_STAGE 4096       /* records staged per write */
#define SP_MIN_CHUNK 1024   /* smallest chunk of k-mer entries or pairs */
#define SP_MIN_PER 64       /* smallest merge buffer per run, records */
#define SP_MAX_BATCH (1u << 20) /* pairs aligned per batch at most */
#define SP_KMER_BYTES 25    /* per k-mer entry in a chunk: key 8 + sequence 4, the radix
                             * sort's copies 12, slot count 1 / kmer_per_seq (rounded up) */
#define SP_PAIR_BYTES 16    /* per pair in a chunk: 8 + the radix sort's copy 8 */

static size_t sz_max(size_t a, size_t b) { return a > b ? a : b; }
static size_t sz_min(size_t a, size_t b) { return a < b ? a : b; }

/* Per-run merge buffer: a quarter (k-mer merge) or a half (pair merge) of
 * `avail` over R runs, at least SP_MIN_PER records. */
static size_t plan_per(size_t avail, size_t part, size_t R, size_t rec)
{
    size_t per = R ? avail / part / (R * rec + 64) : SP_MIN_PER;
    return sz_min(sz_max(per, SP_MIN_PER), (size_t)1 << 16);
}

int cl_linclust_spill(cl_ctx *c, uint32_t *repu, const cl_budget *b, cl_stats *s)
{
    const cl_opts *o = c->o;
    cl_trk *t = c->trk;
    size_t m = c->m;
    if (!b->tmpdir)
        return tg_error(TG_ERR_ARG, "cl_cluster_budget: no directory for the temporary runs");
    int k = o->k, kps = o->kmer_per_seq, pos[64], span = cl_kmer_pattern(o, pos);
    int nt = c->nthreads, kbits = cl_kmer_bits(k), mbits = 1;
    while (mbits < 32 && (1ULL << mbits) < m)
        mbits++;
    size_t tbsz = 2 * (size_t)c->maxlen + 1;
    /* what is held already (cl_cluster: groups, unique list, reps) and by
     * every phase (thread buffers, staging) */
    size_t held = t->cur + (size_t)nt * (tbsz + (size_t)kps * sizeof(hk)) + SP_STAGE * 12 + 4096;
    size_t budget = b->max_memory, avail = budget > held ? budget - held : 0;
    size_t dedup_peak = s->dedup_peak; /* cl_dedup: grp and its largest shard (measured) */
    size_t E = sz_max(avail / SP_KMER_BYTES, SP_MIN_CHUNK);
    E = sz_max(E / (size_t)kps * (size_t)kps, (size_t)kps);
    s->budget = budget;
    s->floor_bytes = sz_max(dedup_peak, held + SP_MIN_CHUNK * SP_KMER_BYTES +
                                            8 * (m + 1) + mg_bytes(1, SP_MIN_PER, 12));
    s->chunk_entries = E;

    sf_file kf, pf, ef;
    memset(&kf, 0, sizeof kf);
    memset(&pf, 0, sizeof pf);
    memset(&ef, 0, sizeof ef);
    sp_merge g;
    memset(&g, 0, sizeof g);
    uint64_t *keys = NULL, *pairs = NULL, *hp = NULL;
    uint32_t *vals = NULL, *outo = NULL, *ino = NULL, *outv = NULL, *inv = NULL, *cnt = NULL;
    uint8_t *nk = NULL, *tb = NULL, *stage = NULL, *flag = NULL;
    hk *hb = NULL;
    int rc = TG_ERR_NOMEM, err = 0;
    double t0 = sp_now();
    cl_prog pg;
    if (o->progress)
        fprintf(stderr, "cluster: within %.1f MB (%.1f MB held, floor %.1f MB): %zu k-mer "
                "entries per run\n", budget / 1e6, held / 1e6, s->floor_bytes / 1e6, E);

    /* 1. sorted k-mer runs */
    size_t per_chunk = E / (size_t)kps; /* sequences per chunk */
    keys = cl_talloc(t, E * sizeof *keys, "k-mer chunk");
    vals = cl_talloc(t, E * sizeof *vals, "k-mer chunk");
    nk = cl_talloc(t, per_chunk, "k-mer chunk");
    tb = cl_talloc(t, (size_t)nt * tbsz, "linclust buffers");
    hb = cl_talloc(t, (size_t)nt * (size_t)kps * sizeof *hb, "linclust k-mer buffers");
    stage = cl_talloc(t, SP_STAGE * 12, "run staging");
    if (!keys || !vals || !nk || !tb || !hb || !stage)
        goto done;
    if ((rc = sf_open(&kf, b->tmpdir, "cluster_kmer_runs", 12, "sorted k-mer runs")))
        goto done;
    cl_prog_begin(&pg, "k-mer runs", o);
    for (size_t u0 = 0; u0 < m; u0 += per_chunk) {
        size_t u1 = sz_min(m, u0 + per_chunk);
#pragma omp parallel num_threads(nt)
        {
            int tid = omp_get_thread_num();
            uint8_t *codes = tb + (size_t)tid * tbsz;
            hk *best = hb + (size_t)tid * kps;
            uint32_t km[1000];
#pragma omp for schedule(dynamic, 1024)
            for (size_t u = u0; u < u1; u++) {
                int L = cl_ulen(c, (uint32_t)u);
                aln_encode(cl_useq(c, (uint32_t)u), L, codes);
                int got = cl_select_kmers(codes, L, pos, k, span, kps, best, km);
                nk[u - u0] = (uint8_t)(got > 255 ? 255 : got);
                for (int i = 0; i < got; i++) {
                    keys[(u - u0) * kps + i] = (uint64_t)km[i] << 32 | (UINT32_MAX - (uint32_t)L);
                    vals[(u - u0) * kps + i] = (uint32_t)u;
                }
            }
        }
        size_t ne = 0;
        for (size_t u = u0; u < u1; u++)
            for (int i = 0; i < nk[u - u0]; i++, ne++) {
                keys[ne] = keys[(u - u0) * kps + i];
                vals[ne] = vals[(u - u0) * kps + i];
            }
        /* stable: (k-mer, longest first), sequences ascending within */
        if ((rc = cl_radix_sort(t, keys, vals, ne, 32 + kbits)))
            goto done;
        if ((rc = sf_begin_run(&kf, t)))
            goto done;
        for (size_t i = 0; i < ne; i += SP_STAGE) {
            size_t w = sz_min(SP_STAGE, ne - i);
            for (size_t x = 0; x < w; x++) {
                memcpy(stage + 12 * x, &keys[i + x], 8);
                memcpy(stage + 12 * x + 8, &vals[i + x], 4);
            }
            if ((rc = sf_put(&kf, stage, 12 * w)))
                goto done;
        }
        sf_end_run(&kf);
        cl_prog_tick(&pg, u1, m, "sequences");
    }
    cl_tfree(t, keys);
    cl_tfree(t, vals);
    cl_tfree(t, nk);
    cl_tfree(t, hb);
    keys = NULL, vals = NULL, nk = NULL, hb = NULL;
    if ((rc = sf_flush(&kf)))
        goto done;
    s->kmer_runs = kf.nruns;
    double t1 = sp_now();

    /* 2. merge: groups -> (centre, member) pair runs */
    {
        size_t per = plan_per(avail, 4, kf.nruns, 12);
        size_t mb = mg_bytes(kf.nruns, per, 12);
        size_t P = sz_max((avail > mb ? avail - mb : 0) / SP_PAIR_BYTES, SP_MIN_CHUNK);
        pairs = cl_talloc(t, P * sizeof *pairs, "pair chunk");
        if (!pairs) {
            rc = TG_ERR_NOMEM;
            goto done;
        }
        if ((rc = mg_open(&g, t, &kf, per)) ||
            (rc = sf_open(&pf, b->tmpdir, "cluster_pair_runs", 8, "sorted candidate-pair runs")))
            goto done;
        cl_prog_begin(&pg, "k-mer merge", o);
        uint64_t cur = UINT64_MAX;
        uint32_t cen = 0;
        size_t np = 0;
        for (;;) {
            sp_item it;
            int got;
            if ((rc = mg_next(&g, &it, &got)))
                goto done;
            if (got && it.key >> 32 != cur) {
                cur = it.key >> 32; /* first of its group: the centre */
                cen = it.val;
            } else if (got) {
                pairs[np++] = (uint64_t)cen << 32 | it.val;
            }
            if (np == P || (!got && np)) {
                if ((rc = cl_radix_sort(t, pairs, NULL, np, 32 + mbits)))
                    goto done;
                size_t nu = 0;
                for (size_t i = 0; i < np; i++)
                    if (!nu || pairs[i] != pairs[nu - 1])
                        pairs[nu++] = pairs[i];
                if ((rc = sf_begin_run(&pf, t)) || (rc = sf_put(&pf, pairs, nu * sizeof *pairs)))
                    goto done;
                sf_end_run(&pf);
                np = 0;
            }
            if (!got)
                break;
            if (!(g.done & 0xffff))
                cl_prog_tick(&pg, g.done, g.total, "entries");
        }
        mg_close(&g, t);
        cl_tfree(t, pairs);
        pairs = NULL;
        sf_close(&kf, t); /* the k-mer runs are no longer needed */
        if ((rc = sf_flush(&pf)))
            goto done;
        s->pair_runs = pf.nruns;
    }
    double t2 = sp_now();

    /* 3. unique pairs in order, aligned in batches; accepted edges to a file */
    size_t nedge = 0, np = 0;
    {
        outo = cl_tcalloc(t, (m + 1) * sizeof *outo, "linclust graph");
        ino = cl_tcalloc(t, (m + 1) * sizeof *ino, "linclust graph");
        if (!outo || !ino) {
            rc = TG_ERR_NOMEM;
            goto done;
        }
        size_t a3 = avail > 8 * (m + 1) ? avail - 8 * (m + 1) : 0;
        size_t per = plan_per(a3, 2, pf.nruns, 8);
        size_t mb = mg_bytes(pf.nruns, per, 8);
        size_t A = sz_max((a3 > mb ? a3 - mb : 0) / 9, SP_MIN_CHUNK);
        A = sz_min(A, SP_MAX_BATCH);
        pairs = cl_talloc(t, A * sizeof *pairs, "alignment batch");
        flag = cl_talloc(t, A, "alignment batch");
        if (!pairs || !flag) {
            rc = TG_ERR_NOMEM;
            goto done;
        }
        if ((rc = mg_open(&g, t, &pf, per)) ||
            (rc = sf_open(&ef, b->tmpdir, "cluster_edges", 8, "accepted edges")) ||
            (rc = sf_begin_run(&ef, t)))
            goto done;
        cl_prog_begin(&pg, "alignments", o);
        uint64_t last = UINT64_MAX;
        for (int got = 1; got;) {
            size_t nb = 0;
            while (nb < A) {
                sp_item it;
                if ((rc = mg_next(&g, &it, &got)))
                    goto done;
                if (!got)
                    break;
                if (it.key != last)
                    pairs[nb++] = last = it.key;
            }
            err = cl_align_pairs(c, pairs, nb, flag, tb);
            if (err) {
                rc = TG_ERR_NOMEM;
                goto done;
            }
            np += nb;
            size_t ns = 0;
            uint32_t *st32 = (uint32_t *)stage;
            for (size_t i = 0; i < nb; i++)
                for (int d = 0; d < 2; d++) {
                    if (!(flag[i] >> d & 1))
                        continue;
                    uint32_t cen = (uint32_t)(pairs[i] >> 32), u = (uint32_t)pairs[i];
                    uint32_t from = d ? u : cen, to = d ? cen : u;
                    outo[from + 1]++;
                    ino[to + 1]++;
                    nedge++;
                    st32[2 * ns] = from;
                    st32[2 * ns + 1] = to;
                    if (++ns == SP_STAGE) {
                        if ((rc = sf_put(&ef, stage, 8 * ns)))
                            goto done;
                        ns = 0;
                    }
                }
            if ((rc = sf_put(&ef, stage, 8 * ns)))
                goto done;
            cl_prog_tick(&pg, g.done, g.total, "pairs");
        }
        sf_end_run(&ef);
        mg_close(&g, t);
        cl_tfree(t, pairs);
        cl_tfree(t, flag);
        pairs = NULL, flag = NULL;
        sf_close(&pf, t);
        if ((rc = sf_flush(&ef)))
            goto done;
        c->n_aln += np;
        if (nedge >= UINT32_MAX) {
            rc = tg_error(TG_ERR_ARG, "cl_cluster_budget: %zu accepted edges; at most %u supported",
                          nedge, UINT32_MAX - 1);
            goto done;
        }
    }
    double t3 = sp_now();

    /* 4. the graph from the edge file, then the set cover */
    for (size_t u = 0; u < m; u++) {
        outo[u + 1] += outo[u];
        ino[u + 1] += ino[u];
    }
    s->spill_peak = t->peak;
    s->graph_bytes = 8 * nedge + 28 * (m + 1);
    outv = cl_talloc(t, (nedge ? nedge : 1) * sizeof *outv, "linclust graph");
    inv = cl_talloc(t, (nedge ? nedge : 1) * sizeof *inv, "linclust graph");
    cnt = cl_talloc(t, (m + 1) * sizeof *cnt, "linclust graph");
    if (!outv || !inv || !cnt) {
        rc = TG_ERR_NOMEM;
        goto done;
    }
    memcpy(cnt, outo, m * sizeof *cnt);
    memcpy(repu, ino, m * sizeof *repu); /* scratch: fill positions for in-edges */
    for (size_t e = 0; e < nedge; e += SP_STAGE) {
        size_t w = sz_min(SP_STAGE, nedge - e);
        const uint32_t *st32 = (const uint32_t *)stage;
        if ((rc = sf_read(&ef, e, w, stage)))
            goto done;
        for (size_t x = 0; x < w; x++) {
            uint32_t from = st32[2 * x], to = st32[2 * x + 1];
            outv[cnt[from]++] = to;
            inv[repu[to]++] = from;
        }
    }
    s->spilled_bytes = kf.bytes + pf.bytes + ef.bytes;
    sf_close(&ef, t);
    hp = cl_talloc(t, (m + 1) * sizeof *hp, "set cover heap");
    if (!hp) {
        rc = TG_ERR_NOMEM;
        goto done;
    }
    cl_set_cover(m, outo, outv, ino, inv, cnt, hp, repu);
    if (o->progress)
        fprintf(stderr, "cluster: linclust within %.1f MB: %zu k-mer runs %.2fs, %zu pair runs "
                "%.2fs, %zu alignments %.2fs, %zu edges, set cover %.2fs, %.1f MB spilled, "
                "peak %.1f MB\n", budget / 1e6, s->kmer_runs, t1 - t0, s->pair_runs, t2 - t1,
                np, t3 - t2, nedge, sp_now() - t3, s->spilled_bytes / 1e6, t->peak / 1e6);
    rc = TG_OK;
done:
    mg_close(&g, t);
    if (!s->spilled_bytes)
        s->spilled_bytes = kf.bytes + pf.bytes + ef.bytes;
    sf_close(&kf, t);
    sf_close(&pf, t);
    sf_close(&ef, t);
    cl_tfree(t, keys);
    cl_tfree(t, vals);
    cl_tfree(t, nk);
    cl_tfree(t, tb);
    cl_tfree(t, hb);
    cl_tfree(t, stage);
    cl_tfree(t, pairs);
    cl_tfree(t, flag);
    cl_tfree(t, outo);
    cl_tfree(t, ino);
    cl_tfree(t, outv);
    cl_tfree(t, inv);
    cl_tfree(t, cnt);
    cl_tfree(t, hp);
    return rc;
}
