/* cluster: dedup of identical sequences, linclust and greedy clustering. */
#include "cluster.h"

#include "cluster_util.h"
#include "tg.h"

#include <omp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cl_opts_default(cl_opts *o)
{
    memset(o, 0, sizeof *o);
    o->mode = CL_LINCLUST;
    o->min_seq_id = 0.0;
    o->coverage = 0.8;
    o->cov_mode = 0;
    o->kmer_per_seq = 5;
    o->k = 6;
    o->spaced_pattern = "11011101";
    aln_params_default(&o->aln);
    o->greedy_k = 3;
    o->greedy_max_postings = 20000;
    o->max_candidates = 1000;
    o->max_lcs_checks = 3000;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t cl_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

typedef cl_ctx ctx;

static inline const char *useq(const ctx *c, uint32_t u) { return cl_useq(c, u); }
static inline int ulen(const ctx *c, uint32_t u) { return cl_ulen(c, u); }

static int seq_equal(const char *a, const char *b, int n)
{
    for (int i = 0; i < n; i++)
        if (aln_codes[(unsigned char)a[i]] != aln_codes[(unsigned char)b[i]])
            return 0;
    return 1;
}

static const char *arrays_seq(const cl_src *s, size_t i, int *len)
{
    const cl_arrays *a = (const cl_arrays *)s;
    *len = a->lens[i];
    return a->seqs[i];
}
static const char *arrays_name(const cl_src *s, size_t i)
{
    return ((const cl_arrays *)s)->names[i];
}

const cl_src *cl_src_arrays(cl_arrays *a, const char *const *seqs, const int *lens,
                            const char *const *names)
{
    a->src.seq = arrays_seq;
    a->src.name = names ? arrays_name : NULL;
    a->seqs = seqs;
    a->lens = lens;
    a->names = names;
    return &a->src;
}

static const char *subset_seq(const cl_src *s, size_t i, int *len)
{
    const cl_subset *b = (const cl_subset *)s;
    return cl_src_seq(b->base, b->idx[i], len);
}
static const char *subset_name(const cl_src *s, size_t i)
{
    const cl_subset *b = (const cl_subset *)s;
    return cl_src_name(b->base, b->idx[i]);
}

const cl_src *cl_src_subset(cl_subset *s, const cl_src *base, const uint32_t *idx)
{
    s->src.seq = subset_seq;
    s->src.name = base->name ? subset_name : NULL;
    s->base = base;
    s->idx = idx;
    return &s->src;
}

/* A sequence's hash for cl_dedup: FNV-1a over its length and residue
 * codes, mixed. */
static uint64_t dedup_hash(const cl_src *src, size_t i)
{
    int li;
    const unsigned char *s = (const unsigned char *)cl_src_seq(src, i, &li);
    uint64_t x = 0xcbf29ce484222325ULL ^ (uint64_t)li;
    for (int j = 0; j < li; j++)
        x = (x ^ aln_codes[s[j]]) * 0x100000001b3ULL;
    return cl_mix64(x);
}

#define DD_BUCKET_BITS 10 /* hash shards: ranges of the hashes' top 10 bits */
#define DD_MAX_SHARDS 16  /* shards of at least n / 16 sequences, whatever the budget */
#define DD_BLOCK 65536    /* at most this many sequences hashed per parallel block of a
                           * sharded pass (a quarter of a shard, at least 1024) */

/* blk[i - i0] = the hash of sequence i for i in [i0, min(i0 + bs, n)),
 * in parallel; returns the block's end. */
static size_t hash_block(const cl_src *src, size_t i0, size_t n, size_t bs, uint64_t *blk)
{
    size_t i1 = i0 + bs < n ? i0 + bs : n;
#pragma omp parallel for schedule(static)
    for (size_t i = i0; i < i1; i++)
        blk[i - i0] = dedup_hash(src, i);
    return i1;
}

/* Within one run of equal hashes (v ascending: the stable sort), each
 * sequence joins the first earlier leader with the same sequence. */
static void dedup_runs(const cl_src *src, const uint64_t *h, const uint32_t *v, size_t cn,
                       uint32_t *grp)
{
    for (size_t a = 0, b; a < cn; a = b) {
        for (b = a + 1; b < cn && h[b] == h[a]; b++)
            ;
        for (size_t x = a + 1; x < b; x++) {
            uint32_t i = v[x];
            int li, ll;
            const char *si = cl_src_seq(src, i, &li);
            for (size_t y = a; y < x; y++) {
                uint32_t l = v[y];
                if (grp[l] != l)
                    continue;
                const char *sl = cl_src_seq(src, l, &ll);
                if (ll == li && seq_equal(sl, si, li)) {
                    grp[i] = l;
                    break;
                }
            }
        }
    }
}

int cl_dedup(cl_trk *t, const cl_src *src, size_t n, size_t max_bytes, uint32_t *grp,
             uint32_t **uniq_out, size_t *m_out, size_t *shards_out)
{
    const size_t nb = (size_t)1 << DD_BUCKET_BITS;
    size_t *cnt = NULL, shards = 0;
    uint64_t *blk = NULL;
    int rc = TG_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        grp[i] = (uint32_t)i;
    /* per sequence of a shard: its hash and index, and the radix sort's
     * copies of both (cl_radix_sort) */
    const size_t per = 2 * (sizeof(uint64_t) + sizeof(uint32_t));
    size_t cap = max_bytes && per * n > max_bytes ? max_bytes / per : n;
    if (cap < (n + DD_MAX_SHARDS - 1) / DD_MAX_SHARDS) /* each shard rereads every sequence */
        cap = (n + DD_MAX_SHARDS - 1) / DD_MAX_SHARDS;
    size_t bs = cap / 4 < 1024 ? 1024 : cap / 4 > DD_BLOCK ? DD_BLOCK : cap / 4;
    if (cap < n) { /* sharded: count the buckets first */
        cnt = cl_talloc(t, nb * sizeof *cnt, "de-dup shard counts");
        blk = cl_talloc(t, bs * sizeof *blk, "de-dup hash block");
        if (!cnt || !blk)
            goto done;
        memset(cnt, 0, nb * sizeof *cnt);
        for (size_t i0 = 0; i0 < n; i0 += bs) {
            size_t i1 = hash_block(src, i0, n, bs, blk);
            for (size_t i = i0; i < i1; i++)
                cnt[blk[i - i0] >> (64 - DD_BUCKET_BITS)]++;
        }
    }
    for (size_t b0 = 0, b1; b0 < nb; b0 = b1) {
        size_t cn = 0;
        if (cnt) { /* whole buckets while they fit (at least one) */
            for (b1 = b0; b1 < nb && (b1 == b0 || cn + cnt[b1] <= cap); b1++)
                cn += cnt[b1];
        } else {
            b1 = nb, cn = n;
        }
        shards++;
        if (!cn)
            continue;
        uint64_t *h = cl_talloc(t, cn * sizeof *h, "sequence hashes");
        uint32_t *v = cl_talloc(t, cn * sizeof *v, "sequence order");
        if (!h || !v) {
            cl_tfree(t, h);
            cl_tfree(t, v);
            goto done;
        }
        if (!cnt) {
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) {
                h[i] = dedup_hash(src, i);
                v[i] = (uint32_t)i;
            }
        } else { /* this shard's sequences, in index order */
            size_t k = 0;
            for (size_t i0 = 0; i0 < n; i0 += bs) {
                size_t i1 = hash_block(src, i0, n, bs, blk);
                for (size_t i = i0; i < i1; i++) {
                    size_t bk = blk[i - i0] >> (64 - DD_BUCKET_BITS);
                    if (bk >= b0 && bk < b1)
                        h[k] = blk[i - i0], v[k++] = (uint32_t)i;
                }
            }
        }
        rc = cl_radix_sort(t, h, v, cn, 64);
        if (!rc)
            dedup_runs(src, h, v, cn, grp);
        cl_tfree(t, h);
        cl_tfree(t, v);
        if (rc)
            goto done;
        rc = TG_ERR_NOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += grp[i] == i;
    uint32_t *uniq = cl_talloc(t, (m ? m : 1) * sizeof *uniq, "unique sequences");
    if (!uniq)
        goto done;
    for (size_t i = 0, c = 0; i < n; i++) {
        if (grp[i] == i) {
            uniq[c] = (uint32_t)i;
            grp[i] = (uint32_t)c++;
        } else {
            grp[i] = grp[grp[i]];
        }
    }
    *uniq_out = uniq;
    *m_out = m;
    if (shards_out)
        *shards_out = shards;
    rc = TG_OK;
done:
    cl_tfree(t, cnt);
    cl_tfree(t, blk);
    return rc;
}

/* ---- linclust ---------------------------------------------------------- */

int cl_select_kmers(const uint8_t *codes, int L, const int *pos, int k, int span, int kps,
                        hk *best, uint32_t *out)
{
    int nb = 0;
    for (int p = 0; p + span <= L; p++) {
        uint32_t km = 0;
        int bad = 0;
        for (int w = 0; w < k; w++) {
            uint8_t cd = codes[p + pos[w]];
            bad |= cd == 20;
            km = km * 21 + cd;
        }
        if (bad)
            continue;
        uint64_t hv = cl_mix64(km + 0x9e3779b97f4a7c15ULL);
        if (nb == kps && hv >= best[nb - 1].h)
            continue;
        int dup = 0;
        for (int i = 0; i < nb; i++)
            dup |= best[i].kmer == km;
        if (dup)
            continue;
        int i = nb < kps ? nb++ : nb - 1;
        while (i > 0 && best[i - 1].h > hv) {
            best[i] = best[i - 1];
            i--;
        }
        best[i].h = hv;
        best[i].kmer = km;
    }
    for (int i = 0; i < nb; i++)
        out[i] = best[i].kmer;
    return nb;
}

/* Lazy max-heap of (count, -id) keys for set cover. */
static void heap_push(uint64_t *hp, size_t *n, uint64_t key)
{
    size_t i = (*n)++;
    while (i > 0 && hp[(i - 1) / 2] < key) {
        hp[i] = hp[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    hp[i] = key;
}

static uint64_t heap_pop(uint64_t *hp, size_t *n)
{
    uint64_t top = hp[0], last = hp[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        uint64_t bv = last;
        if (l < *n && hp[l] > bv)
            b = l, bv = hp[l];
        if (r < *n && hp[r] > bv)
            b = r, bv = hp[r];
        if (b == i)
            break;
        hp[i] = hp[b];
        i = b;
    }
    if (*n)
        hp[i] = last;
    return top;
}

int cl_kmer_pattern(const cl_opts *o, int pos[64])
{
    int span = 0;
    if (o->spaced_pattern && o->spaced_pattern[0]) {
        int w = 0;
        for (const char *p = o->spaced_pattern; *p; p++, span++)
            if (*p == '1')
                pos[w++] = span;
    } else {
        for (int w = 0; w < o->k; w++)
            pos[w] = w;
        span = o->k;
    }
    return span;
}

int cl_kmer_bits(int k)
{
    int kbits = 1; /* bits of the largest k-mer code 21^k - 1 */
    for (uint64_t lim = 1, w = 0; w < (uint64_t)k; w++, lim *= 21)
        if (w + 1 == (uint64_t)k)
            while ((1ULL << kbits) < lim * 21)
                kbits++;
    return kbits;
}

uint8_t cl_pair_flags(const cl_ctx *c, uint32_t cen, uint32_t u, uint8_t *qb, aln_ws *ws, int *err)
{
    const cl_opts *o = c->o;
    uint8_t *sb = qb + c->maxlen;
    int cq[ALN_ALPHABET], cm[ALN_ALPHABET];
    int lc = ulen(c, cen), lu = ulen(c, u);
    aln_encode(useq(c, cen), lc, qb);
    aln_encode(useq(c, u), lu, sb);
    cl_composition(qb, lc, cq);
    cl_composition(sb, lu, cm);
    uint8_t f = 0;
    int lcs = -1;
    if ((cl_may_pass(o, lc, cq, lu, cm) || cl_may_pass(o, lu, cm, lc, cq)) &&
        (lcs = cl_lcs_bound(qb, lc, sb, lu), cl_may_pass_matches(o, lcs, lc, lu) ||
                                                cl_may_pass_matches(o, lcs, lu, lc))) {
        aln_result r;
        if (aln_align_codes_ws(&o->aln, qb, lc, sb, lu, ws, &r)) {
            *err |= 1;
        } else {
            f |= aln_passes(&r, o->min_seq_id, o->coverage, o->cov_mode); /* cen -> u */
            aln_swap(&r);
            f |= aln_passes(&r, o->min_seq_id, o->coverage, o->cov_mode) << 1; /* u -> cen */
        }
    }
    return f;
}

void cl_set_cover(size_t m, const uint32_t *outo, const uint32_t *outv, const uint32_t *ino,
                  const uint32_t *inv, uint32_t *cnt, uint64_t *hp, uint32_t *repu)
{
    size_t hn = 0;
    for (size_t u = 0; u < m; u++) {
        cnt[u] = outo[u + 1] - outo[u];
        repu[u] = UINT32_MAX;
        heap_push(hp, &hn, (uint64_t)cnt[u] << 32 | (UINT32_MAX - (uint32_t)u));
    }
    while (hn) {
        uint64_t key = heap_pop(hp, &hn);
        uint32_t u = UINT32_MAX - (uint32_t)key, kc = (uint32_t)(key >> 32);
        if (repu[u] != UINT32_MAX)
            continue;
        if (kc != cnt[u]) {
            heap_push(hp, &hn, (uint64_t)cnt[u] << 32 | (UINT32_MAX - u));
            continue;
        }
        repu[u] = u;
        for (uint32_t e = ino[u]; e < ino[u + 1]; e++)
            cnt[inv[e]]--;
        for (uint32_t e = outo[u]; e < outo[u + 1]; e++) {
            uint32_t w = outv[e];
            if (repu[w] != UINT32_MAX)
                continue;
            repu[w] = u;
            for (uint32_t f = ino[w]; f < ino[w + 1]; f++)
                cnt[inv[f]]--;
        }
    }
}

int cl_align_pairs(const cl_ctx *c, const uint64_t *pairs, size_t n, uint8_t *flag, uint8_t *tb)
{
    int err = 0;
    size_t tbsz = 2 * (size_t)c->maxlen + 1;
#pragma omp parallel num_threads(c->nthreads)
    {
        uint8_t *qb = tb + (size_t)omp_get_thread_num() * tbsz;
        aln_ws ws = {0}; /* pairs come grouped by centre: its profile is reused */
#pragma omp for schedule(dynamic, 256) reduction(| : err)
        for (size_t i = 0; i < n; i++)
            flag[i] = cl_pair_flags(c, (uint32_t)(pairs[i] >> 32), (uint32_t)pairs[i], qb, &ws, &err);
        aln_ws_free(&ws);
    }
    return err;
}

void cl_prog_begin(cl_prog *p, const char *phase, const cl_opts *o)
{
    p->phase = phase;
    p->t0 = p->last = now();
    p->every = o->progress_every > 0 ? o->progress_every : 2.0;
    p->on = o->progress;
}

void cl_prog_tick(cl_prog *p, uint64_t done, uint64_t total, const char *unit)
{
    if (!p->on)
        return;
    double t = now();
    if (t - p->last < p->every || !done || !total)
        return;
    p->last = t;
    double el = t - p->t0, frac = (double)done / (double)total;
    fprintf(stderr, "cluster: %s: %llu/%llu %s, %.0f/s, %.0f%% done, ETA %.0f s\n", p->phase,
            (unsigned long long)done, (unsigned long long)total, unit,
            el > 0 ? (double)done / el : 0, 100 * frac, el * (1 - frac) / frac);
}

size_t cl_linclust_bytes(size_t m, int kps)
{
    /* the k-mer table and its radix copy, the counts, then the graph's
     * per-sequence arrays (the edges are not known before) */
    return m * (16 * (size_t)kps + 32) + 4096;
}

#define CL_PROG_BLOCK ((size_t)1 << 16) /* sequences or k-mer entries between progress checks */
#define CL_ALN_BATCH ((size_t)1 << 16)  /* pairs aligned between progress checks */

static int linclust(ctx *c, uint32_t *repu)
{
    const cl_opts *o = c->o;
    cl_trk *t = c->trk;
    size_t m = c->m;
    int k = o->k, kps = o->kmer_per_seq, pos[64], span = cl_kmer_pattern(o, pos);
    double t0 = now();
    int rc = TG_ERR_NOMEM;
    size_t cap = m * (size_t)kps;
    uint64_t *keys = cl_talloc(t, cap * sizeof *keys, "linclust k-mer table");
    uint8_t *nk = cl_talloc(t, m, "linclust k-mer counts");
    int nt = c->nthreads;
    uint8_t *tb = cl_talloc(t, (size_t)nt * (2 * (size_t)c->maxlen + 1), "linclust buffers");
    hk *hb = cl_talloc(t, (size_t)nt * kps * sizeof *hb, "linclust k-mer buffers");
    uint64_t *pairs = NULL, *hp = NULL;
    uint8_t *flag = NULL;
    uint32_t *outo = NULL, *outv = NULL, *ino = NULL, *inv = NULL, *cnt = NULL;
    if (!keys || !nk || !tb || !hb)
        goto done;
    /* 1. k-mer selection, fixed slots per sequence, in blocks for the
     * progress lines */
    cl_prog pg;
    cl_prog_begin(&pg, "k-mers", o);
    for (size_t u0 = 0; u0 < m; u0 += CL_PROG_BLOCK) {
        size_t u1 = u0 + CL_PROG_BLOCK < m ? u0 + CL_PROG_BLOCK : m;
#pragma omp parallel num_threads(nt)
        {
            int tid = omp_get_thread_num();
            uint8_t *codes = tb + (size_t)tid * (2 * (size_t)c->maxlen + 1);
            hk *best = hb + (size_t)tid * kps;
            uint32_t km[1000];
#pragma omp for schedule(dynamic, 1024)
            for (size_t u = u0; u < u1; u++) {
                int L = ulen(c, (uint32_t)u);
                aln_encode(useq(c, (uint32_t)u), L, codes);
                int got = cl_select_kmers(codes, L, pos, k, span, kps, best, km);
                nk[u] = (uint8_t)(got > 255 ? 255 : got);
                for (int i = 0; i < got; i++)
                    keys[u * kps + i] = (uint64_t)km[i] << 32 | u;
            }
        }
        cl_prog_tick(&pg, u1, m, "sequences");
    }
    size_t ne = 0;
    for (size_t u = 0; u < m; u++)
        for (int i = 0; i < nk[u]; i++)
            keys[ne++] = keys[u * kps + i];
    cl_tfree(t, nk);
    nk = NULL;
    cl_tfree(t, hb);
    hb = NULL;
    cl_prog_begin(&pg, "k-mer sort", o);
    if ((rc = cl_radix_sort_prog(t, keys, NULL, ne, 32 + cl_kmer_bits(k), &pg)))
        goto done;
    double t1 = now();
    /* 2. groups -> (member, centre) pairs, reusing the key array */
    size_t np = 0;
    cl_prog_begin(&pg, "pairs", o);
    for (size_t a = 0, b, next = CL_PROG_BLOCK; a < ne; a = b) {
        if (a >= next) {
            cl_prog_tick(&pg, a, ne, "k-mer entries");
            next = a + CL_PROG_BLOCK;
        }
        uint32_t km = (uint32_t)(keys[a] >> 32);
        uint32_t cen = (uint32_t)keys[a];
        for (b = a + 1; b < ne && (uint32_t)(keys[b] >> 32) == km; b++) {
            uint32_t u = (uint32_t)keys[b];
            if (ulen(c, u) > ulen(c, cen))
                cen = u; /* ids ascend within a group: ties keep the lower */
        }
        for (size_t x = a; x < b; x++) {
            uint32_t u = (uint32_t)keys[x];
            if (u != cen)
                keys[np++] = (uint64_t)cen << 32 | u; /* by centre: profile reuse */
        }
    }
    rc = TG_ERR_NOMEM;
    pairs = keys;
    keys = NULL;
    {
        int mbits = 1;
        while (mbits < 32 && (1ULL << mbits) < m)
            mbits++;
        cl_prog_begin(&pg, "pair sort", o);
        if ((rc = cl_radix_sort_prog(t, pairs, NULL, np, 32 + mbits, &pg)))
            goto done;
        rc = TG_ERR_NOMEM;
    }
    size_t nu = 0;
    for (size_t i = 0; i < np; i++)
        if (!nu || pairs[i] != pairs[nu - 1])
            pairs[nu++] = pairs[i];
    np = nu;
    flag = cl_talloc(t, np ? np : 1, "linclust edge flags");
    if (!flag)
        goto done;
    /* 3. align each member to its centre, in batches for the progress lines */
    int err = 0;
    cl_prog_begin(&pg, "alignments", o);
    for (size_t i0 = 0; i0 < np && !err; i0 += CL_ALN_BATCH) {
        size_t nb = np - i0 < CL_ALN_BATCH ? np - i0 : CL_ALN_BATCH;
        err = cl_align_pairs(c, pairs + i0, nb, flag + i0, tb);
        cl_prog_tick(&pg, i0 + nb, np, "pairs");
    }
    c->n_aln += np;
    if (err) {
        rc = TG_ERR_NOMEM;
        goto done;
    }
    double t2 = now();
    /* 4. directed graph (out: whom a node can represent; in: reverse) */
    outo = cl_tcalloc(t, (m + 1) * sizeof *outo, "linclust graph");
    ino = cl_tcalloc(t, (m + 1) * sizeof *ino, "linclust graph");
    if (!outo || !ino)
        goto done;
    size_t nedge = 0;
    for (size_t i = 0; i < np; i++) {
        uint32_t cen = (uint32_t)(pairs[i] >> 32), u = (uint32_t)pairs[i];
        if (flag[i] & 1)
            outo[cen + 1]++, ino[u + 1]++, nedge++;
        if (flag[i] & 2)
            outo[u + 1]++, ino[cen + 1]++, nedge++;
    }
    for (size_t u = 0; u < m; u++) {
        outo[u + 1] += outo[u];
        ino[u + 1] += ino[u];
    }
    outv = cl_talloc(t, (nedge ? nedge : 1) * sizeof *outv, "linclust graph");
    inv = cl_talloc(t, (nedge ? nedge : 1) * sizeof *inv, "linclust graph");
    cnt = cl_talloc(t, m * sizeof *cnt, "linclust graph");
    if (!outv || !inv || !cnt)
        goto done;
    memcpy(cnt, outo, m * sizeof *cnt);
    uint32_t *cin = repu; /* scratch: fill positions for in-edges */
    memcpy(cin, ino, m * sizeof *cin);
    for (size_t i = 0; i < np; i++) {
        uint32_t cen = (uint32_t)(pairs[i] >> 32), u = (uint32_t)pairs[i];
        if (flag[i] & 1)
            outv[cnt[cen]++] = u, inv[cin[u]++] = cen;
        if (flag[i] & 2)
            outv[cnt[u]++] = cen, inv[cin[cen]++] = u;
    }
    cl_tfree(t, pairs);
    pairs = NULL;
    cl_tfree(t, flag);
    flag = NULL;
    /* 5. greedy set cover */
    hp = cl_talloc(t, (m + 1) * sizeof *hp, "set cover heap");
    if (!hp)
        goto done;
    cl_set_cover(m, outo, outv, ino, inv, cnt, hp, repu);
    if (o->progress)
        fprintf(stderr, "cluster: linclust k-mers+sort %.2fs, %zu alignments %.2fs, %zu edges, set cover %.2fs\n",
                t1 - t0, np, t2 - t1, nedge, now() - t2);
    rc = TG_OK;
done:
    cl_tfree(t, keys);
    cl_tfree(t, nk);
    cl_tfree(t, tb);
    cl_tfree(t, hb);
    cl_tfree(t, pairs);
    cl_tfree(t, flag);
    cl_tfree(t, outo);
    cl_tfree(t, outv);
    cl_tfree(t, ino);
    cl_tfree(t, inv);
    cl_tfree(t, cnt);
    cl_tfree(t, hp);
    return rc;
}

/* ---- greedy ------------------------------------------------------------ */

typedef struct {
    uint32_t *p;   /* representative ordinals, ascending */
    uint16_t *pos; /* first position of the k-mer in each (clamped to 65535) */
    uint32_t n, cap;
} posting;

/* Per representative, per thread: hits of the current query. */
typedef struct {
    uint8_t count; /* shared k-mers (saturating) */
    uint8_t diag;  /* hits on the same diagonal as the previous hit (saturating) */
    int16_t last;  /* diagonal (rep position - query position) of the last hit, clamped */
} ghit;

/* Per-thread search state. */
typedef struct {
    ghit *hit;        /* per rep ordinal */
    uint32_t *touched;
    uint32_t *qk;     /* distinct k-mers of the query, by first position */
    uint16_t *qpos;   /* their first positions */
    uint64_t *kbuf;   /* scratch for distinct_kmers */
    uint32_t *cand;   /* candidates ordered by rank */
    uint8_t *prio;    /* identity bounds of kept candidates */
    uint16_t *key;    /* rank key of each touched candidate */
    int *mm, *mm_stamp; /* per rep length: cl_min_matches for the current query */
    int stamp;
    uint8_t *qc, *rc; /* codes of member and candidate rep */
    int *hist;
} gbuf;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define GREEDY_MAX_QK 32767 /* k-mers per query used for ranking (fits the uint16 counts) */

/* Distinct contiguous k-mers (no X) of codes[0..L) with their first
 * positions, in order of position, into km/pos (at most GREEDY_MAX_QK);
 * returns the count. buf: scratch of L entries. */
static int distinct_kmers(const uint8_t *codes, int L, int k, uint64_t *buf, uint32_t *km, uint16_t *pos)
{
    int n = 0;
    for (int p = 0; p + k <= L; p++) {
        uint32_t x = 0;
        int bad = 0;
        for (int w = 0; w < k; w++) {
            bad |= codes[p + w] == 20;
            x = x * 21 + codes[p + w];
        }
        if (!bad)
            buf[n++] = (uint64_t)x << 32 | (uint32_t)p;
    }
    qsort(buf, (size_t)n, sizeof *buf, cmp_u64);
    int d = 0;
    for (int i = 0; i < n; i++)
        if (!d || buf[i] >> 32 != buf[d - 1] >> 32)
            buf[d++] = buf[i];
    for (int i = 0; i < d; i++) /* position-major for the diagonal runs */
        buf[i] = buf[i] << 32 | buf[i] >> 32;
    qsort(buf, (size_t)d, sizeof *buf, cmp_u64);
    if (d > GREEDY_MAX_QK)
        d = GREEDY_MAX_QK;
    for (int i = 0; i < d; i++) {
        km[i] = (uint32_t)buf[i];
        uint32_t p = (uint32_t)(buf[i] >> 32);
        pos[i] = (uint16_t)(p > 65535 ? 65535 : p);
    }
    return d;
}

typedef struct {
    ctx *c;
    posting *idx;
    uint32_t *rep_list; /* ordinal -> unique id */
    uint8_t *codes;     /* codes of every representative, concatenated */
    size_t *code_off;   /* ordinal -> offset in codes */
} gstate;

/* 1 if member codes m (lm) reach the thresholds against rep codes r (lr)
 * by alignment, 0 if not, -1 (and *err set) on failure. */
static int greedy_try(const cl_opts *o, const uint8_t *r, int lr, const uint8_t *m, int lm, int *err)
{
    aln_result res;
    if (aln_align_codes(&o->aln, r, lr, m, lm, &res)) {
        *err = 1;
        return -1;
    }
    return aln_passes(&res, o->min_seq_id, o->coverage, o->cov_mode);
}

#define GREEDY_DIRECT 4 /* candidates aligned in k-mer rank order before LCS ranking */

/* First representative (ordinal >= lo) that member u (codes/k-mers in b)
 * reaches the thresholds against, by shared k-mers then ordinal; UINT32_MAX
 * if none. *naln counts alignments; *err set on failure. */
/* Smallest ordinal in [lo, hi) whose representative is short enough to
 * pass against a member of length lu (representatives come in
 * non-increasing length order, and for lengths >= lu passing is possible
 * exactly up to some length, as cl_min_matches grows with the longer
 * length); hi if none. */
static uint32_t first_fitting(const gstate *g, int lu, uint32_t lo, uint32_t hi)
{
    const cl_opts *o = g->c->o;
    int a = lu, z = g->c->maxlen; /* largest fitting length in [a, z] */
    if (cl_min_matches(o, a, lu) == INT_MAX)
        return hi;
    while (a < z) {
        int mid = a + (z - a + 1) / 2;
        if (cl_min_matches(o, mid, lu) != INT_MAX)
            a = mid;
        else
            z = mid - 1;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->code_off[mid + 1] - g->code_off[mid] > (size_t)a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Limits of one search pass: k-mers in at most max_post representatives,
 * LCS checks, alignments. */
typedef struct {
    uint32_t max_post;
    size_t lcs_cap;
    int mc;
} gpass;

static uint32_t greedy_pass(const gstate *g, gbuf *b, uint32_t u, int nq, uint32_t lo, uint32_t hi,
                            const gpass *ps, size_t *naln, int *err)
{
    const cl_opts *o = g->c->o;
    size_t nt = 0;
    /* representatives too long to pass are skipped exactly: they are the
     * lowest ordinals */
    lo = first_fitting(g, ulen(g->c, u), lo, hi);
    /* query k-mers in position order: a hit on the same diagonal as the
     * representative's previous hit extends a diagonal run */
    for (int i = 0; i < nq; i++) {
        const posting *P = &g->idx[b->qk[i]];
        if (P->n > ps->max_post)
            continue;
        int32_t qp = b->qpos[i];
        for (uint32_t e = P->n; e-- > 0;) {
            uint32_t r = P->p[e];
            if (r < lo)
                break;
            ghit *h = &b->hit[r];
            int32_t d = (int32_t)P->pos[e] - qp;
            d = d < INT16_MIN ? INT16_MIN : d > INT16_MAX ? INT16_MAX : d;
            if (h->count == 0) {
                b->touched[nt++] = r;
                h->count = 1;
            } else {
                h->count += h->count < 255;
                h->diag += h->last == d && h->diag < 255;
            }
            h->last = (int16_t)d;
        }
    }
    if (!nt)
        return UINT32_MAX;
    /* counting sort by rank = shared k-mers + same-diagonal hits,
     * descending; ties keep the order in which the index lists them */
    int top = 2 * nq < 510 ? 2 * nq : 510;
    memset(b->hist, 0, sizeof(int) * (size_t)(top + 2));
    for (size_t i = 0; i < nt; i++) { /* one pass over the scattered hits */
        ghit *h = &b->hit[b->touched[i]];
        int key = h->count + h->diag;
        b->key[i] = (uint16_t)key;
        b->hist[key]++;
        h->count = h->diag = 0;
    }
    for (int cn = top, sum = 0; cn >= 1; cn--) {
        int h = b->hist[cn];
        b->hist[cn] = sum;
        sum += h;
    }
    for (size_t i = 0; i < nt; i++)
        b->cand[b->hist[b->key[i]]++] = b->touched[i];
    const ctx *c = g->c;
    int lu = ulen(c, u);
    uint64_t pm[ALN_ALPHABET];
    if (lu <= 64)
        cl_lcs_prepare(b->qc, lu, pm);
    b->stamp++;
    int mc = ps->mc, tried = 0;
    size_t nl = 0, lcs_cap = ps->lcs_cap;
    uint32_t found = UINT32_MAX;
    /* 1. in k-mer rank order: the LCS bound (an upper bound on identical
     * columns) rejects candidates that cannot pass for ~length word
     * operations; the first GREEDY_DIRECT that may pass are aligned at once
     * (most members find their representative there), the others are kept
     * with their identity bound lcs / longer length */
    size_t lim = nt < lcs_cap ? nt : lcs_cap;
    for (size_t i = 0; i < lim;) {
        /* groups of 4 for the interleaved LCS */
        const uint8_t *gc[4];
        int gl[4], glcs[4], ng = 0;
        size_t gi[4];
        for (; i < lim && ng < 4; i++) {
            if (i + 16 < lim) { /* the candidates are scattered in memory */
                uint32_t pr = b->cand[i + 16];
                __builtin_prefetch(g->codes + g->code_off[pr]);
                if (i + 32 < lim)
                    __builtin_prefetch(&g->code_off[b->cand[i + 32]]);
            }
            uint32_t r = b->cand[i];
            int lr = (int)(g->code_off[r + 1] - g->code_off[r]);
            if (b->mm_stamp[lr] != b->stamp) {
                b->mm_stamp[lr] = b->stamp;
                b->mm[lr] = cl_min_matches(o, lr, lu);
            }
            if (b->mm[lr] == INT_MAX)
                continue;
            gc[ng] = g->codes + g->code_off[r];
            gl[ng] = lr;
            gi[ng++] = i;
        }
        if (ng == 4 && lu <= 64)
            cl_lcs_pm4(pm, lu, gc, gl, glcs);
        else
            for (int x = 0; x < ng; x++)
                glcs[x] = lu <= 64 ? cl_lcs_pm(pm, lu, gc[x], gl[x]) : cl_lcs_bound(gc[x], gl[x], b->qc, lu);
        for (int x = 0; x < ng; x++) {
            int lr = gl[x], lcs = glcs[x];
            if (lcs < b->mm[lr])
                continue;
            uint32_t r = b->cand[gi[x]];
            if (gi[x] < GREEDY_DIRECT) {
                tried++;
                int ok = greedy_try(o, gc[x], lr, b->qc, lu, err);
                if (ok) {
                    found = ok > 0 ? r : UINT32_MAX;
                    goto out;
                }
                continue;
            }
            b->touched[nl] = r;
            b->prio[nl++] = (uint8_t)(lcs * 64 / (lr > lu ? lr : lu));
        }
    }
    /* 2. the rest by identity bound, descending (stable: ties keep the
     * k-mer rank order) */
    int hist[66] = {0};
    for (size_t i = 0; i < nl; i++)
        hist[b->prio[i]]++;
    for (int v = 64, sum = 0; v >= 0; v--) {
        int h = hist[v];
        hist[v] = sum;
        sum += h;
    }
    for (size_t i = 0; i < nl; i++)
        b->cand[hist[b->prio[i]]++] = b->touched[i];
    for (size_t i = 0; i < nl && tried < mc; i++) {
        uint32_t r = b->cand[i];
        const uint8_t *rc = g->codes + g->code_off[r];
        int lr = (int)(g->code_off[r + 1] - g->code_off[r]);
        tried++;
        int ok = greedy_try(o, rc, lr, b->qc, lu, err);
        if (ok) {
            found = ok > 0 ? r : UINT32_MAX;
            break;
        }
    }
out:
    *naln += (size_t)tried;
    return found;
}

/* Quick pass limits: only k-mers in at most GREEDY_QUICK_POST
 * representatives, few checks. Most members find their representative
 * there; the others get the full search. */
#define GREEDY_QUICK_POST 400
#define GREEDY_QUICK_LCS 64
#define GREEDY_QUICK_ALN 16

/* greedy_pass: a quick pass on the rarer k-mers, then, if nothing passed,
 * the full search with o's limits. */
static uint32_t greedy_find(const gstate *g, gbuf *b, uint32_t u, int nq, uint32_t lo, uint32_t hi,
                            size_t *naln, int *err)
{
    const cl_opts *o = g->c->o;
    gpass full = {(uint32_t)o->greedy_max_postings, (size_t)o->max_lcs_checks, o->max_candidates};
    gpass quick = {GREEDY_QUICK_POST, GREEDY_QUICK_LCS, GREEDY_QUICK_ALN};
    if (quick.max_post < full.max_post) {
        uint32_t r = greedy_pass(g, b, u, nq, lo, hi, &quick, naln, err);
        if (r != UINT32_MAX || *err)
            return r;
    }
    return greedy_pass(g, b, u, nq, lo, hi, &full, naln, err);
}

#define GREEDY_BATCH 1024

static int greedy(ctx *c, uint32_t *repu)
{
    const cl_opts *o = c->o;
    cl_trk *t = c->trk;
    size_t m = c->m;
    int nt = c->nthreads, k = o->greedy_k, rc = TG_ERR_NOMEM;
    size_t nb = 1;
    for (int w = 0; w < k; w++)
        nb *= 21;
    uint64_t *ord = cl_talloc(t, m * sizeof *ord, "greedy order");
    posting *idx = cl_tcalloc(t, nb * sizeof *idx, "greedy k-mer index");
    uint32_t *rep_list = cl_talloc(t, m * sizeof *rep_list, "greedy representatives");
    uint32_t *found = cl_talloc(t, GREEDY_BATCH * sizeof *found, "greedy batch");
    gbuf *bufs = cl_tcalloc(t, (size_t)nt * sizeof *bufs, "greedy buffers");
    size_t *code_off = cl_talloc(t, (m + 1) * sizeof *code_off, "greedy rep offsets");
    size_t code_cap = 1 << 16;
    uint8_t *codes = cl_talloc(t, code_cap, "greedy rep codes");
    size_t naln[256] = {0};
    if (!ord || !idx || !rep_list || !found || !bufs || !code_off || !codes)
        goto done;
    code_off[0] = 0;
    for (int i = 0; i < nt; i++) {
        gbuf *b = &bufs[i];
        b->hit = cl_tcalloc(t, m * sizeof *b->hit, "greedy counts");
        b->touched = cl_talloc(t, m * sizeof *b->touched, "greedy candidates");
        b->qk = cl_talloc(t, ((size_t)c->maxlen + 1) * sizeof *b->qk, "greedy k-mers");
        b->qpos = cl_talloc(t, ((size_t)c->maxlen + 1) * sizeof *b->qpos, "greedy k-mers");
        b->kbuf = cl_talloc(t, ((size_t)c->maxlen + 1) * sizeof *b->kbuf, "greedy k-mers");
        b->qc = cl_talloc(t, 2 * (size_t)c->maxlen + 2, "greedy codes");
        b->hist = cl_talloc(t, 516 * sizeof *b->hist, "greedy histogram");
        b->cand = cl_talloc(t, m * sizeof *b->cand, "greedy candidates");
        b->prio = cl_talloc(t, m, "greedy candidates");
        b->key = cl_talloc(t, m * sizeof *b->key, "greedy candidates");
        b->mm = cl_talloc(t, ((size_t)c->maxlen + 1) * sizeof *b->mm, "greedy length bounds");
        b->mm_stamp = cl_tcalloc(t, ((size_t)c->maxlen + 1) * sizeof *b->mm_stamp, "greedy length bounds");
        if (!b->hit || !b->touched || !b->qk || !b->qpos || !b->kbuf || !b->qc || !b->hist || !b->cand || !b->prio || !b->key ||
            !b->mm || !b->mm_stamp)
            goto done;
        b->rc = b->qc + c->maxlen + 1;
    }
    for (size_t u = 0; u < m; u++)
        ord[u] = (uint64_t)(UINT32_MAX - (uint32_t)ulen(c, (uint32_t)u)) << 32 | u;
    if ((rc = cl_radix_sort(t, ord, NULL, m, 64)))
        goto done;
    rc = TG_ERR_NOMEM;
    gstate g = {c, idx, rep_list, codes, code_off};
    uint32_t nrep = 0;
    int err = 0;
    double t0 = now(), last = t0, tpar = 0, tser = 0;
    for (size_t b0 = 0; b0 < m; b0 += GREEDY_BATCH) {
        size_t b1 = b0 + GREEDY_BATCH < m ? b0 + GREEDY_BATCH : m;
        uint32_t limit = nrep;
        double tb0 = now();
        if (limit) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 8) reduction(| : err)
            for (size_t x = b0; x < b1; x++) {
                int tid = omp_get_thread_num();
                gbuf *b = &bufs[tid];
                uint32_t u = (uint32_t)ord[x];
                int L = ulen(c, u);
                aln_encode(useq(c, u), L, b->qc);
                int nq = distinct_kmers(b->qc, L, k, b->kbuf, b->qk, b->qpos);
                found[x - b0] = greedy_find(&g, b, u, nq, 0, limit, &naln[tid], &err);
            }
        } else {
            for (size_t x = b0; x < b1; x++)
                found[x - b0] = UINT32_MAX;
        }
        if (err)
            goto done;
        /* in order: finish against reps created in this batch */
        double ts0 = now();
        tpar += ts0 - tb0;
        gbuf *b = &bufs[0];
        for (size_t x = b0; x < b1; x++) {
            uint32_t u = (uint32_t)ord[x], r = found[x - b0];
            int L = ulen(c, u);
            aln_encode(useq(c, u), L, b->qc);
            int nq = distinct_kmers(b->qc, L, k, b->kbuf, b->qk, b->qpos);
            if (r == UINT32_MAX && nrep > limit)
                r = greedy_find(&g, b, u, nq, limit, nrep, &naln[0], &err);
            if (err)
                goto done;
            if (r != UINT32_MAX) {
                repu[u] = rep_list[r];
                continue;
            }
            r = nrep++;
            rep_list[r] = u;
            repu[u] = u;
            if (code_off[r] + (size_t)L > code_cap) {
                while (code_off[r] + (size_t)L > code_cap)
                    code_cap *= 2;
                uint8_t *nc = cl_trealloc(t, codes, code_cap, "greedy rep codes");
                if (!nc)
                    goto done;
                codes = g.codes = nc;
            }
            memcpy(codes + code_off[r], b->qc, (size_t)L);
            code_off[r + 1] = code_off[r] + (size_t)L;
            for (int i = 0; i < nq; i++) {
                posting *P = &idx[b->qk[i]];
                if (P->n == P->cap) {
                    uint32_t nc = P->cap ? 2 * P->cap : 4;
                    uint32_t *np = cl_trealloc(t, P->p, nc * sizeof *np, "greedy k-mer index");
                    if (np)
                        P->p = np;
                    uint16_t *npos = np ? cl_trealloc(t, P->pos, nc * sizeof *npos, "greedy k-mer index") : NULL;
                    if (!npos)
                        goto done;
                    P->pos = npos;
                    P->cap = nc;
                }
                P->pos[P->n] = b->qpos[i];
                P->p[P->n++] = r;
            }
        }
        tser += now() - ts0;
        if (o->progress && now() - last > 5) {
            last = now();
            double el = last - t0;
            fprintf(stderr, "cluster: greedy %zu/%zu sequences, %u representatives, %.0fs, ETA %.0fs\n",
                    b1, m, nrep, el, el * (double)(m - b1) / (double)b1);
        }
    }
    for (int i = 0; i < nt; i++)
        c->n_aln += naln[i];
    if (o->progress)
        fprintf(stderr, "cluster: greedy %.2fs (parallel search %.2fs, in-order finish %.2fs)\n", now() - t0, tpar, tser);
    rc = TG_OK;
done:
    if (idx)
        for (size_t i = 0; i < nb; i++)
            cl_tfree(t, idx[i].p), cl_tfree(t, idx[i].pos);
    if (bufs)
        for (int i = 0; i < nt; i++) {
            cl_tfree(t, bufs[i].hit);
            cl_tfree(t, bufs[i].qpos);
            cl_tfree(t, bufs[i].kbuf);
            cl_tfree(t, bufs[i].touched);
            cl_tfree(t, bufs[i].qk);
            cl_tfree(t, bufs[i].qc);
            cl_tfree(t, bufs[i].hist);
            cl_tfree(t, bufs[i].cand);
            cl_tfree(t, bufs[i].prio);
            cl_tfree(t, bufs[i].key);
            cl_tfree(t, bufs[i].mm);
            cl_tfree(t, bufs[i].mm_stamp);
        }
    cl_tfree(t, bufs);
    cl_tfree(t, idx);
    cl_tfree(t, ord);
    cl_tfree(t, rep_list);
    cl_tfree(t, found);
    cl_tfree(t, code_off);
    cl_tfree(t, codes);
    return rc;
}

int cl_cluster(const char *const *seqs, const int *lens, size_t n, const cl_opts *o,
               uint32_t *rep, cl_stats *stats)
{
    return cl_cluster_budget(seqs, lens, n, o, NULL, rep, stats);
}

int cl_cluster_budget(const char *const *seqs, const int *lens, size_t n, const cl_opts *o,
                      const cl_budget *b, uint32_t *rep, cl_stats *stats)
{
    if (n && (!seqs || !lens))
        return tg_error(TG_ERR_ARG, "cl_cluster: NULL sequences, lengths or output");
    cl_arrays a;
    return cl_cluster_src(cl_src_arrays(&a, seqs, lens, NULL), n, o, b, rep, stats);
}

int cl_cluster_src(const cl_src *src, size_t n, const cl_opts *o, const cl_budget *b,
                   uint32_t *rep, cl_stats *stats)
{
    double t0 = now();
    int rc = cl_check_opts(o);
    if (rc)
        return rc;
    if (n && (!src || !rep))
        return tg_error(TG_ERR_ARG, "cl_cluster: NULL sequences, lengths or output");
    if (n >= UINT32_MAX)
        return tg_error(TG_ERR_ARG, "cl_cluster: %zu sequences; at most %u supported", n, UINT32_MAX - 1);
    int maxlen = 0, second = 0;
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        int li;
        const char *si = cl_src_seq(src, i, &li);
        if (li < 0 || (li && !si))
            return tg_error(TG_ERR_ARG, "cl_cluster: sequence %zu has length %d or no data", i, li);
        if (li > maxlen)
            second = maxlen, maxlen = li, longest = i;
        else if (li > second)
            second = li;
    }
    /* the two longest may have to be aligned: refuse up front, not in a worker */
    if ((unsigned long long)maxlen * (unsigned long long)second > ALN_MAX_CELLS)
        return tg_error(TG_ERR_ARG, "cl_cluster: input sequence %zu (1-based; %d residues) and another of %d "
                        "residues would need %llu alignment cells, more than the aligner's "
                        "limit of %llu (ALN_MAX_CELLS, 256 MB)", longest + 1, maxlen, second,
                        (unsigned long long)maxlen * (unsigned long long)second, ALN_MAX_CELLS);
    int nt = o->threads > 0 ? o->threads : tg_threads();
    if (nt < 1)
        nt = 1;
    if (nt > 256)
        nt = 256;
    cl_trk trk = {0, 0};
    uint32_t *grp = NULL, *uniq = NULL, *repu = NULL;
    size_t m = 0;
    ctx c = {src, NULL, 0, maxlen, o, nt, &trk, 0};
    cl_stats sp;
    memset(&sp, 0, sizeof sp);
    if (n == 0)
        goto stats;
    rc = TG_ERR_NOMEM;
    grp = cl_talloc(&trk, n * sizeof *grp, "cluster groups");
    if (!grp)
        goto done;
    /* within a budget, the de-dup's shards get what is left of it */
    size_t dd_max = b && b->max_memory ? (b->max_memory > trk.cur ? b->max_memory - trk.cur : 1) : 0;
    if ((rc = cl_dedup(&trk, src, n, dd_max, grp, &uniq, &m, &sp.dedup_shards)))
        goto done;
    sp.dedup_peak = trk.peak;
    rc = TG_ERR_NOMEM;
    repu = cl_talloc(&trk, m * sizeof *repu, "cluster unique reps");
    if (!repu)
        goto done;
    c.uniq = uniq;
    c.m = m;
    if (o->progress)
        fprintf(stderr, "cluster: %zu sequences, %zu unique (%.2fs)\n", n, m, now() - t0);
    if (o->mode == CL_GREEDY)
        rc = greedy(&c, repu);
    else if (b && b->max_memory && trk.cur + cl_linclust_bytes(m, o->kmer_per_seq) > b->max_memory)
        rc = cl_linclust_spill(&c, repu, b, &sp);
    else
        rc = linclust(&c, repu);
    if (b && b->max_memory && !sp.budget)
        sp.budget = b->max_memory; /* it fit: in memory, nothing spilled */
    if (rc)
        goto done;
    for (size_t i = 0; i < n; i++)
        rep[i] = uniq[repu[grp[i]]];
stats:
    if (stats) {
        *stats = sp;
        stats->n_seqs = n;
        stats->n_unique = m;
        for (size_t u = 0; u < m; u++)
            stats->n_clusters += repu[u] == u;
        stats->n_alignments = c.n_aln;
        stats->peak_bytes = trk.peak;
        stats->seconds = now() - t0;
    }
    rc = TG_OK;
done:
    cl_tfree(&trk, grp);
    cl_tfree(&trk, uniq);
    cl_tfree(&trk, repu);
    return rc;
}
