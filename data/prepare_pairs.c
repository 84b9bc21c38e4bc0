/* ablm prepare --pairs: heavy/light pairs split by the clustering of their
 * heavy chains (prepare.h), in memory or out of core (the pairs in the
 * sequence store, the stages of prepare_ooc.c). */
#include "prepare.h"

#include "fileio.h"
#include "pairs.h"
#include "seqstore.h"
#include "tg.h"

#include <stdio.h>
#include <string.h>

static const char *SET_NAMES[3] = {"train", "val", "test"};

/* The split stage of the pairs: its files and the report entries its
 * marker keeps (pp_split_resume). */
static const char *const PAIRS_FILES[] = {"train_pairs.tsv", "val_pairs.tsv", "test_pairs.tsv"};
static const char *const PAIRS_ENTRIES[] = {"split", "pairs_per_set", "leakage", "leakage_light",
                                            "leakage_note"};
static const pp_split_spec PAIRS_SPLIT = {PAIRS_FILES, 3, PAIRS_ENTRIES, 5, 1};

/* A pair in the store: the light chain is the mate, its locus field 0 and
 * its regions fields 1..7. */
_Static_assert(SS_FIELDS == 1 + PR_N_REGIONS, "store fields: locus and the light regions");

typedef struct {
    ss_writer *w;
    pr_set *s; /* counts the pairs written */
} store_sink;

/* Appends pair p to the store as a record with a mate. Returns a status. */
static int to_store(store_sink *k, const pr_pair *p)
{
    const char *fields[SS_FIELDS] = {p->locus ? p->locus : ""};
    for (int r = 0; r < PR_N_REGIONS; r++)
        fields[1 + r] = p->region[r];
    int st = ss_write_add_mate(k->w, p->heavy, p->heavy_len, p->light, p->light_len,
                               p->heavy_cdr3, p->heavy_cdr3 ? (int)strlen(p->heavy_cdr3) : 0,
                               fields, p->id, p->file, p->line);
    if (!st)
        k->s->n++;
    return st;
}

/* One file's pairs into s or the store: 0, or the file's error (< 0, its
 * pairs before it kept); *own: an error of the store or of memory, which
 * stops the run whatever --on-error says. */
static int read_pair_file(rd_par *par, int f, const char *path, const pr_opts *po,
                          const rd_opts *ro, pr_set *s, store_sink *sk, pr_conv *cv,
                          pp_progress *pg, double frac, int *own)
{
    rd_reader *rd;
    rd_record rec;
    pr_pair p;
    *own = TG_OK;
    int st = rd_par_open(par, f, &rd);
    if (st)
        return st;
    if ((st = pr_check_paired(rd, path, ro))) {
        /* read to its end before closing (closing early stops the readers),
         * then the same message again */
        while (rd_par_next(par, &rec) == 1)
            ;
        st = pr_check_paired(rd, path, ro);
        rd_par_close(par);
        return st;
    }
    while ((st = rd_par_next(par, &rec)) == 1) {
        int k = pr_from_record(&rec, po, s, cv, &p);
        if (k == 1)
            k = sk->w ? to_store(sk, &p) : pr_add(s, &p);
        if (k < 0) {
            *own = k;
            return k;
        }
        pp_progress_tick(pg, s->rows + rd_par_rows(par), frac);
    }
    pr_add_stats(s, rd_get_stats(rd));
    rd_par_close(par);
    return st < 0 ? st : TG_OK;
}

int pp_read_pairs(const char *const *inputs, int n_inputs, const pp_opts *o, pr_set *s,
                  ss_writer *w, cJSON *files, cJSON *skipped)
{
    pr_opts po;
    pr_opts_default(&po);
    po.rd = &o->rd;
    po.on_error = o->rd.on_error;
    rd_opts ro;
    pr_reader_opts(&po, &ro);
    rd_par *par;
    int st = rd_par_begin(&par, inputs, n_inputs, &ro,
                          o->read_threads > 0 ? o->read_threads : tg_threads(),
                          pp_read_buffer(o));
    if (st)
        return st;
    store_sink sk = {w, s};
    pr_conv cv = {0};
    pp_progress pg;
    pp_progress_begin(&pg, "read", "rows", o->progress);
    for (int f = 0; f < n_inputs; f++) {
        size_t before = s->n, rows = s->rows;
        int own;
        st = read_pair_file(par, f, inputs[f], &po, &ro, s, &sk, &cv, &pg,
                            (double)f / n_inputs, &own);
        if (own || st == TG_ERR_NOMEM || (st && o->rd.on_error != RD_ON_ERROR_SKIP))
            break;
        if (st) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "file", inputs[f]);
            cJSON_AddStringToObject(e, "error", tg_last_error());
            cJSON_AddNumberToObject(e, "pairs_kept_before_error", (double)(s->n - before));
            cJSON_AddItemToArray(skipped, e);
            if (o->progress)
                fprintf(stderr, "prepare: %s (kept the %zu pairs before it)\n", tg_last_error(),
                        s->n - before);
            st = TG_OK;
        }
        cJSON *fe = cJSON_CreateObject();
        cJSON_AddStringToObject(fe, "file", inputs[f]);
        cJSON_AddNumberToObject(fe, "rows", (double)(s->rows - rows));
        cJSON_AddNumberToObject(fe, "pairs_kept", (double)(s->n - before));
        cJSON_AddItemToArray(files, fe);
    }
    rd_par_end(par);
    pr_conv_free(&cv);
    if (!st)
        pp_progress_end(&pg, s->rows);
    return st;
}

/* The pairs read, in memory (set, ids) or in the store (store, sids). */
typedef struct {
    const pr_set *set;
    rd_ids *ids;
    const ss_store *store;
    const pp_ids *sids;
} pair_src;

/* Pair i as read, with its unique id; the strings stay valid for the run. */
static void src_pair(const pair_src *c, size_t i, pr_pair *p)
{
    if (c->set) {
        *p = c->set->v[i];
        p->id = rd_ids_get(c->ids, i);
        return;
    }
    memset(p, 0, sizeof *p);
    p->heavy = ss_seq(c->store, i, &p->heavy_len);
    p->light = ss_mate(c->store, i, &p->light_len);
    p->heavy_cdr3 = ss_cdr3(c->store, i, NULL);
    const char *locus = ss_field(c->store, i, 0);
    p->locus = locus ? locus : "";
    for (int k = 0; k < PR_N_REGIONS; k++)
        p->region[k] = ss_field(c->store, i, 1 + k);
    p->id = pp_ids_get(c->sids, i);
    p->file = ss_file(c->store, i);
    p->line = ss_line(c->store, i);
}

/* 1 if some pair of the n read has region columns (pr_has_regions). */
static int src_has_regions(const pair_src *c, size_t n)
{
    if (c->set)
        return pr_has_regions(c->set);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < PR_N_REGIONS; k++)
            if (ss_field(c->store, i, 1 + k))
                return 1;
    return 0;
}

typedef struct {
    const pair_src *src;
    const uint32_t *idx; /* pair indices of the rows */
} src_rows;

static void src_row(const void *ctx, size_t k, pr_pair *p)
{
    const src_rows *r = ctx;
    src_pair(r->src, r->idx[k], p);
}

/* Every pair's dedup key in kk/kl: heavy, NUL, light. Out of core they are
 * the store's bytes (ss_seq then ss_mate, contiguous); in memory copied
 * into *arena. Returns a status. */
static int pair_keys(const pair_src *c, size_t n, const char **kk, int *kl, char **arena)
{
    *arena = NULL;
    size_t total = 0;
    for (size_t i = 0; c->set && i < n; i++)
        total += (size_t)c->set->v[i].heavy_len + (size_t)c->set->v[i].light_len + 2;
    if (c->set && !(*arena = tg_malloc(total + 1, "pairs")))
        return TG_ERR_NOMEM;
    char *a = *arena;
    for (size_t i = 0; i < n; i++) {
        int hl, ll;
        const char *h;
        if (c->set) {
            const pr_pair *p = &c->set->v[i];
            hl = p->heavy_len;
            ll = p->light_len;
            memcpy(a, p->heavy, (size_t)hl);
            a[hl] = '\0';
            memcpy(a + hl + 1, p->light, (size_t)ll + 1);
            h = a;
            a += (size_t)hl + (size_t)ll + 2;
        } else {
            h = ss_seq(c->store, i, &hl);
            ss_mate(c->store, i, &ll);
        }
        if ((long long)hl + 1 + ll > 0x7fffffffLL)
            return tg_error(TG_ERR_ARG, "%s:%ld: a pair of %d + %d residues is too long",
                            c->set ? c->set->v[i].file : ss_file(c->store, i),
                            c->set ? c->set->v[i].line : ss_line(c->store, i), hl, ll);
        kk[i] = h;
        kl[i] = hl + 1 + ll;
    }
    return TG_OK;
}

int pp_run_pairs(const char *const *inputs, int n_inputs, const char *outdir,
                 const pp_opts *opts, cJSON *report)
{
    double t0 = pp_now();
    size_t anon0 = pp_proc_status("RssAnon");
    pp_opts po = *opts;
    po.pairs = 1;
    const pp_opts *o = &po;
    pr_set s = {0};
    rd_ids ids;
    rd_ids_init(&ids);
    ss_store store;
    memset(&store, 0, sizeof store);
    pp_ids sids;
    memset(&sids, 0, sizeof sids);
    pair_src src = {0};
    const char **id = NULL, **cdr3 = NULL, **hseq = NULL, **useq = NULL, **uid = NULL;
    const char **lseq = NULL, **kk = NULL;
    int *cdr3_len = NULL, *hlen = NULL, *ulen = NULL, *llen = NULL, *kl = NULL;
    uint32_t *keep = NULL, *with_cdr3 = NULL, *rep_c = NULL, *centroid = NULL, *uniq_of = NULL,
             *uniq = NULL, *rep70 = NULL, *rep50 = NULL, *rep_pos = NULL, *of = NULL;
    uint32_t *set_rep_u = NULL, *key = NULL; /* rep position -> u; pair -> cluster key */
    uint32_t *idx = NULL;
    uint8_t *set = NULL;
    char *arena = NULL;
    int lock = -1;
    int st = fio_mkdir(outdir);
    if (!st)
        st = pp_dir_lock(outdir, o, report, &lock);
    if (st)
        return st;
    cJSON *in = cJSON_AddObjectToObject(report, "input");
    cJSON *files = cJSON_AddArrayToObject(in, "files");
    cJSON *skipped = cJSON_AddArrayToObject(in, "files_skipped");
    cJSON *counts = cJSON_AddObjectToObject(report, "counts");
    cJSON *steps = cJSON_AddArrayToObject(report, "clustering");
    cJSON *times = cJSON_AddObjectToObject(report, "seconds");
    cJSON_AddStringToObject(report, "split_by",
                            "heavy chain: every pair goes to the set of its heavy chain's "
                            "CDRH3 centroid / 70% representative / 50% cluster");
    if (o->progress)
        fprintf(stderr, "prepare: reading %d pair file%s%s...\n", n_inputs,
                n_inputs == 1 ? "" : "s", o->in_memory ? " into memory" : " into the store");
    if (o->in_memory) {
        st = pp_read_pairs(inputs, n_inputs, o, &s, NULL, files, skipped);
        pr_stats_to_json(&s, cJSON_AddObjectToObject(in, "pairs"));
    } else {
        /* out of core: the pairs go to OUT/records.store (resumable stage) */
        st = pp_stage_read(inputs, n_inputs, outdir, o, &store, in, report);
    }
    cJSON_AddNumberToObject(times, "read", pp_now() - t0);
    if (st)
        goto done;
    const cJSON *pj = cJSON_GetObjectItem(in, "pairs");
    size_t rows = (size_t)cJSON_GetObjectItem(pj, "rows_read")->valuedouble;
    size_t np = (size_t)cJSON_GetObjectItem(pj, "pairs")->valuedouble; /* pairs read */
    cJSON_AddNumberToObject(counts, "input_rows", (double)rows);
    cJSON_AddNumberToObject(counts, "pairs_read", (double)np);
    if (!np) {
        st = tg_error(TG_ERR_FORMAT, "no pairs left after reading (%zu rows read)", rows);
        goto done;
    }
    if (np >= UINT32_MAX) {
        st = tg_error(TG_ERR_ARG, "too many pairs (%zu)", np);
        goto done;
    }
    /* ids unique over all inputs, as for single chains */
    size_t renamed = 0;
    if (o->in_memory) {
        for (size_t i = 0; i < np && !st; i++)
            st = rd_ids_add(&ids, s.v[i].id, s.v[i].file, s.v[i].line);
        if (!st)
            st = rd_ids_unique(&ids, &renamed);
        src.set = &s;
        src.ids = &ids;
    } else {
        size_t with_c;
        if (store.n != np)
            st = tg_error(TG_ERR_FORMAT, "%s/records.store: %llu records for %zu pairs read",
                          outdir, (unsigned long long)store.n, np);
        if (!st)
            st = pp_store_ids(&store, outdir, o, &sids, &with_c);
        renamed = sids.renamed;
        src.store = &store;
        src.sids = &sids;
    }
    if (st)
        goto done;
    cJSON_AddNumberToObject(in, "ids_made_unique", (double)renamed);
    if (!o->in_memory)
        cJSON_AddNumberToObject(in, "ids_shards", (double)sids.shards);
    /* what the pairs cost in memory before clustering (the store's pages are
     * file-backed, not in RssAnon) */
    pp_memory_report(report, anon0, rows);

    /* 0. exact duplicate pairs (same heavy and light chain), first kept, in
     * hash shards when one map does not fit the budget */
    double t = pp_now();
    keep = tg_malloc(np * sizeof *keep, "pairs");
    kk = tg_malloc(np * sizeof *kk, "pairs");
    kl = tg_malloc(np * sizeof *kl, "pairs");
    if (!keep || !kk || !kl) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    if ((st = pair_keys(&src, np, kk, kl, &arena)))
        goto done;
    for (size_t i = 0; i < np; i++)
        keep[i] = (uint32_t)i;
    size_t n = np;
    cl_arrays ak;
    st = pp_dedup(cl_src_arrays(&ak, kk, kl, NULL), keep, &n, outdir, o, "dedup_pairs", NULL,
                  report);
    tg_free(kk);
    tg_free(kl);
    tg_free(arena);
    kk = NULL;
    kl = NULL;
    arena = NULL;
    if (st)
        goto done;
    cJSON_AddNumberToObject(counts, "duplicate_pairs_dropped", (double)(np - n));
    cJSON_AddNumberToObject(counts, "pairs", (double)n);
    cJSON_AddNumberToObject(times, "dedup_pairs", pp_now() - t);

    id = tg_malloc(n * sizeof *id, "pairs");
    hseq = tg_malloc(n * sizeof *hseq, "pairs");
    hlen = tg_malloc(n * sizeof *hlen, "pairs");
    lseq = tg_malloc(n * sizeof *lseq, "pairs");
    llen = tg_malloc(n * sizeof *llen, "pairs");
    cdr3 = tg_malloc(n * sizeof *cdr3, "pairs");
    cdr3_len = tg_malloc(n * sizeof *cdr3_len, "pairs");
    with_cdr3 = tg_malloc(n * sizeof *with_cdr3, "pairs");
    rep_c = tg_malloc(n * sizeof *rep_c, "clusters");
    centroid = tg_malloc(n * sizeof *centroid, "clusters");
    uniq_of = tg_malloc(n * sizeof *uniq_of, "clusters");
    uniq = tg_malloc(n * sizeof *uniq, "clusters");
    set = tg_malloc(n * sizeof *set, "sets");
    if (!id || !hseq || !hlen || !lseq || !llen || !cdr3 || !cdr3_len || !with_cdr3 || !rep_c ||
        !centroid || !uniq_of || !uniq || !set) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    size_t nc = 0;
    for (size_t j = 0; j < n; j++) {
        pr_pair p;
        src_pair(&src, keep[j], &p);
        id[j] = p.id;
        hseq[j] = p.heavy;
        hlen[j] = p.heavy_len;
        lseq[j] = p.light;
        llen[j] = p.light_len;
        centroid[j] = (uint32_t)j;
        if (p.heavy_cdr3 && p.heavy_cdr3[0]) {
            cdr3[nc] = p.heavy_cdr3;
            cdr3_len[nc] = (int)strlen(p.heavy_cdr3);
            with_cdr3[nc++] = (uint32_t)j;
        }
    }
    cJSON_AddNumberToObject(counts, "pairs_with_cdr3", (double)nc);

    /* 1. CDRH3 clusters (pairs without a CDRH3: their own centroid); out of
     * core each clustering step resumes, its key chained from the store's
     * hash */
    char skey[17] = "in-memory";
    if (!o->in_memory)
        snprintf(skey, sizeof skey, "%016llx", (unsigned long long)store.hash);
    t = pp_now();
    const char **cid = tg_malloc((nc + 1) * sizeof *cid, "pairs");
    if (!cid) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    for (size_t c = 0; c < nc; c++)
        cid[c] = id[with_cdr3[c]];
    size_t n_cdr3_clusters = 0;
    cl_arrays ac;
    st = pp_cluster_step_resumable("CDR3s", "cdr3_clustering", outdir, "cdr3_100_cluster.tsv",
                                   cl_src_arrays(&ac, cdr3, cdr3_len, cid), nc,
                                   o->cdr3_min_seq_id, o, rep_c, steps, &n_cdr3_clusters, skey,
                                   skey, report);
    tg_free(cid);
    if (st)
        goto done;
    for (size_t c = 0; c < nc; c++)
        centroid[with_cdr3[c]] = with_cdr3[rep_c[c]];
    cJSON_AddNumberToObject(counts, "cdr3_centroids", (double)n_cdr3_clusters);
    cJSON_AddNumberToObject(times, "cdr3_clustering", pp_now() - t);

    /* 2. the centroids' heavy chains, de-duplicated (first kept; in hash
     * shards as above); every pair gets its centroid's unique heavy chain */
    size_t m = 0;
    for (size_t j = 0; j < n; j++)
        if (centroid[j] == j)
            uniq[m++] = (uint32_t)j;
    of = tg_malloc((m + 1) * sizeof *of, "clusters");
    if (!of) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    cl_arrays ah;
    st = pp_dedup(cl_src_arrays(&ah, hseq, hlen, NULL), uniq, &m, outdir, o, "dedup", of, report);
    if (st)
        goto done;
    for (size_t j = 0, q = 0; j < n; j++)
        if (centroid[j] == j)
            uniq_of[j] = of[q++];
    for (size_t j = 0; j < n; j++)
        uniq_of[j] = uniq_of[centroid[j]];
    cJSON_AddNumberToObject(counts, "unique_heavy_centroids", (double)m);

    /* 3. 70% clusters of those heavy chains */
    t = pp_now();
    useq = tg_malloc((m + 1) * sizeof *useq, "pairs");
    uid = tg_malloc((m + 1) * sizeof *uid, "pairs");
    ulen = tg_malloc((m + 1) * sizeof *ulen, "pairs");
    rep70 = tg_malloc((m + 1) * sizeof *rep70, "clusters");
    rep_pos = tg_malloc((m + 1) * sizeof *rep_pos, "clusters");
    if (!useq || !uid || !ulen || !rep70 || !rep_pos) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    for (size_t u = 0; u < m; u++) {
        useq[u] = hseq[uniq[u]];
        uid[u] = id[uniq[u]];
        ulen[u] = hlen[uniq[u]];
    }
    size_t n70 = 0;
    cl_arrays au;
    const cl_src *pool = cl_src_arrays(&au, useq, ulen, uid);
    st = pp_cluster_step_resumable("heavy chains", "clustering_70", outdir,
                                   "heavy_70_cluster.tsv", pool, m, o->min_seq_id, o, rep70,
                                   steps, &n70, skey, skey, report);
    if (st)
        goto done;
    cJSON_AddNumberToObject(counts, "representatives_70", (double)n70);
    cJSON_AddNumberToObject(times, "clustering_70", pp_now() - t);

    /* 4. 50% clusters of the representatives, split whole */
    t = pp_now();
    size_t k = 0;
    for (size_t u = 0; u < m; u++)
        if (rep70[u] == u) {
            rep_pos[u] = (uint32_t)k;
            useq[k] = useq[u]; /* compact in place: k <= u */
            uid[k] = uid[u];
            ulen[k] = ulen[u];
            k++;
        }
    rep50 = tg_malloc((k + 1) * sizeof *rep50, "clusters");
    set_rep_u = tg_malloc((k + 1) * sizeof *set_rep_u, "clusters");
    key = tg_malloc((n + 1) * sizeof *key, "clusters");
    if (!rep50 || !set_rep_u || !key) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    size_t n50 = 0;
    st = pp_cluster_step_resumable("representatives", "clustering_50", outdir,
                                   "heavy_50_cluster.tsv", pool, k, o->split_min_seq_id, o,
                                   rep50, steps, &n50, skey, skey, report);
    if (st)
        goto done;
    cJSON_AddNumberToObject(counts, "clusters_50", (double)n50);
    /* the split and the leakage report: out of core a rerun with the same
     * clusters, pairs and options whose set files are unchanged skips them */
    char split_key[17];
    pp_split_key(skey, n, o, split_key);
    int resumed = pp_split_resume(outdir, &PAIRS_SPLIT, split_key, o, n, report);
    if (resumed) {
        const cJSON *per = cJSON_GetObjectItem(report, "pairs_per_set");
        for (int w = 0; resumed > 0 && w < 3; w++)
            cJSON_AddNumberToObject(counts, SET_NAMES[w],
                                    cJSON_GetObjectItem(per, SET_NAMES[w])->valuedouble);
        st = resumed < 0 ? resumed : TG_OK;
        cJSON_AddNumberToObject(times, "split", pp_now() - t);
        goto done;
    }
    /* every pair's cluster key: a pair index standing for its heavy chain's 50% cluster;
     * whole clusters are split by their number of pairs */
    for (size_t u = 0, q = 0; u < m; u++)
        if (rep70[u] == u)
            set_rep_u[q++] = (uint32_t)u;
    for (size_t j = 0; j < n; j++)
        key[j] = uniq[set_rep_u[rep50[rep_pos[rep70[uniq_of[j]]]]]];
    sp_summary sum;
    st = sp_assign(key, n, &o->split, set, &sum);
    if (st)
        goto done;
    sp_summary_to_json(&sum, &o->split, cJSON_AddObjectToObject(report, "split"));
    size_t per[3] = {0, 0, 0};
    for (size_t j = 0; j < n; j++)
        per[set[j]]++;
    cJSON *pc = cJSON_AddObjectToObject(report, "pairs_per_set");
    idx = tg_malloc((n + 1) * sizeof *idx, "pairs");
    if (!idx) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    int regions = src_has_regions(&src, np);
    for (int w = 0; w < 3 && !st; w++) {
        size_t c = 0;
        for (size_t j = 0; j < n; j++)
            if (set[j] == w)
                idx[c++] = keep[j];
        char name[32];
        snprintf(name, sizeof name, "%s_pairs.tsv", SET_NAMES[w]);
        char *path = fio_join(outdir, name);
        src_rows sr = {&src, idx};
        st = path ? pr_write_tsv_fn(path, src_row, &sr, c, regions) : TG_ERR_NOMEM;
        tg_free(path);
        cJSON_AddNumberToObject(pc, SET_NAMES[w], (double)c);
        cJSON_AddNumberToObject(counts, SET_NAMES[w], (double)c);
    }
    if (st)
        goto done;
    if (o->progress)
        fprintf(stderr, "prepare: %zu pairs: train %zu, val %zu, test %zu\n", n, per[0], per[1],
                per[2]);
    cJSON_AddNumberToObject(times, "split", pp_now() - t);

    /* leakage of every val/test pair's chains against all train pairs */
    t = pp_now();
    if (o->leak.sample > 0) {
        cJSON *lk = cJSON_AddObjectToObject(report, "leakage");
        cJSON *ll = cJSON_AddObjectToObject(report, "leakage_light");
        cJSON_AddStringToObject(report, "leakage_note",
                                "leakage: heavy chains (the split's guarantee); leakage_light: "
                                "light chains, not split by, for information");
        for (int w = 1; w < 3 && !st; w++) {
            sp_leak l;
            st = sp_leakage(hseq, hlen, set, n, w, &o->leak, &l);
            if (!st)
                sp_leak_to_json(&l, cJSON_AddObjectToObject(lk, SET_NAMES[w]));
            if (!st)
                st = sp_leakage(lseq, llen, set, n, w, &o->leak, &l);
            if (!st)
                sp_leak_to_json(&l, cJSON_AddObjectToObject(ll, SET_NAMES[w]));
        }
    }
    cJSON_AddNumberToObject(times, "leakage", pp_now() - t);
    if (!st)
        st = pp_split_done(outdir, &PAIRS_SPLIT, split_key, o, report);
done:
    cJSON_AddNumberToObject(times, "total", pp_now() - t0);
    tg_free(keep);
    tg_free(kk);
    tg_free(kl);
    tg_free(arena);
    tg_free(id);
    tg_free(hseq);
    tg_free(hlen);
    tg_free(lseq);
    tg_free(llen);
    tg_free(cdr3);
    tg_free(cdr3_len);
    tg_free(with_cdr3);
    tg_free(rep_c);
    tg_free(centroid);
    tg_free(uniq_of);
    tg_free(uniq);
    tg_free(of);
    tg_free(useq);
    tg_free(uid);
    tg_free(ulen);
    tg_free(rep70);
    tg_free(rep50);
    tg_free(rep_pos);
    tg_free(set_rep_u);
    tg_free(key);
    tg_free(set);
    tg_free(idx);
    rd_ids_free(&ids);
    pp_ids_free(&sids);
    ss_close(&store);
    pr_free(&s);
    pp_dir_unlock(lock);
    return st;
}
