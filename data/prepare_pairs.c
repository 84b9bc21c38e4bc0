/* ablm prepare --pairs: heavy/light pairs split by the clustering of their
 * heavy chains (prepare.h). */
#include "prepare.h"

#include "fileio.h"
#include "pairs.h"
#include "strmap.h"
#include "tg.h"

#include <stdio.h>
#include <string.h>

static const char *SET_NAMES[3] = {"train", "val", "test"};

/* Reads every input (with o's reader filters; --on-error skip also skips
 * unreadable files, recorded in `skipped`). */
static int read_pairs(const char *const *inputs, int n_inputs, const pp_opts *o, pr_set *s,
                      cJSON *files, cJSON *skipped)
{
    pr_opts po;
    pr_opts_default(&po);
    po.rd = &o->rd;
    po.on_error = o->rd.on_error;
    for (int f = 0; f < n_inputs; f++) {
        size_t before = s->n, rows = s->rows;
        int st = pr_read(inputs[f], &po, s);
        if (st == TG_ERR_NOMEM || (st && o->rd.on_error != RD_ON_ERROR_SKIP))
            return st;
        if (st) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "file", inputs[f]);
            cJSON_AddStringToObject(e, "error", tg_last_error());
            cJSON_AddNumberToObject(e, "pairs_kept_before_error", (double)(s->n - before));
            cJSON_AddItemToArray(skipped, e);
            if (o->progress)
                fprintf(stderr, "prepare: %s (kept the %zu pairs before it)\n", tg_last_error(),
                        s->n - before);
        }
        cJSON *fe = cJSON_CreateObject();
        cJSON_AddStringToObject(fe, "file", inputs[f]);
        cJSON_AddNumberToObject(fe, "rows", (double)(s->rows - rows));
        cJSON_AddNumberToObject(fe, "pairs_kept", (double)(s->n - before));
        cJSON_AddItemToArray(files, fe);
    }
    return TG_OK;
}

int pp_run_pairs(const char *const *inputs, int n_inputs, const char *outdir, const pp_opts *o,
                 cJSON *report)
{
    double t0 = pp_now();
    pr_set s = {0};
    rd_ids ids;
    rd_ids_init(&ids);
    sm_map pairs_seen, heavy_seen;
    sm_init(&pairs_seen);
    sm_init(&heavy_seen);
    const char **id = NULL, **cdr3 = NULL, **hseq = NULL, **useq = NULL, **uid = NULL;
    int *cdr3_len = NULL, *hlen = NULL, *ulen = NULL, *llen = NULL;
    const char **lseq = NULL;
    uint32_t *keep = NULL, *with_cdr3 = NULL, *rep_c = NULL, *centroid = NULL, *uniq_of = NULL,
             *uniq = NULL, *rep70 = NULL, *rep50 = NULL, *rep_pos = NULL;
    uint32_t *set_rep_u = NULL, *key = NULL; /* rep position -> u; pair -> cluster key */
    uint8_t *set = NULL;
    size_t *idx = NULL;
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
        fprintf(stderr, "prepare: reading %d pair file%s...\n", n_inputs,
                n_inputs == 1 ? "" : "s");
    st = read_pairs(inputs, n_inputs, o, &s, files, skipped);
    pr_stats_to_json(&s, cJSON_AddObjectToObject(in, "pairs"));
    cJSON_AddNumberToObject(times, "read", pp_now() - t0);
    if (st)
        goto done;
    cJSON_AddNumberToObject(counts, "input_rows", (double)s.rows);
    cJSON_AddNumberToObject(counts, "pairs_read", (double)s.n);
    if (!s.n) {
        st = tg_error(TG_ERR_FORMAT, "no pairs left after reading (%zu rows read)", s.rows);
        goto done;
    }
    if (s.n >= UINT32_MAX) {
        st = tg_error(TG_ERR_ARG, "too many pairs (%zu)", s.n);
        goto done;
    }
    /* ids unique over all inputs, as for single chains */
    for (size_t i = 0; i < s.n && !st; i++)
        st = rd_ids_add(&ids, s.v[i].id, s.v[i].file, s.v[i].line);
    size_t renamed = 0;
    if (!st)
        st = rd_ids_unique(&ids, &renamed);
    if (st)
        goto done;
    cJSON_AddNumberToObject(in, "ids_made_unique", (double)renamed);
    for (size_t i = 0; i < s.n; i++)
        s.v[i].id = rd_ids_get(&ids, i);

    /* 0. exact duplicate pairs */
    size_t n = 0;
    keep = tg_malloc(s.n * sizeof *keep, "pairs");
    if (!keep) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    /* keys "HEAVY LIGHT" (the map keeps pointers: all built before it is freed) */
    char **keys = tg_calloc(s.n, sizeof *keys, "pairs");
    if (!keys) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < s.n && !st; i++) {
        const pr_pair *p = &s.v[i];
        size_t kl = (size_t)p->heavy_len + 1 + (size_t)p->light_len;
        keys[i] = tg_malloc(kl + 1, "pairs");
        if (!keys[i]) {
            st = TG_ERR_NOMEM;
            break;
        }
        memcpy(keys[i], p->heavy, (size_t)p->heavy_len);
        keys[i][p->heavy_len] = ' ';
        memcpy(keys[i] + p->heavy_len + 1, p->light, (size_t)p->light_len + 1);
        int ins = sm_put(&pairs_seen, keys[i], (int)kl, (uint32_t)i, NULL);
        if (ins < 0)
            st = ins;
        else if (ins)
            keep[n++] = (uint32_t)i;
    }
    if (!st) {
        cJSON_AddNumberToObject(counts, "duplicate_pairs_dropped", (double)(s.n - n));
        cJSON_AddNumberToObject(counts, "pairs", (double)n);
    }
    sm_free(&pairs_seen);
    sm_init(&pairs_seen);
    for (size_t i = 0; i < s.n; i++)
        tg_free(keys[i]);
    tg_free(keys);
    if (st)
        goto done;

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
        const pr_pair *p = &s.v[keep[j]];
        id[j] = p->id;
        hseq[j] = p->heavy;
        hlen[j] = p->heavy_len;
        lseq[j] = p->light;
        llen[j] = p->light_len;
        centroid[j] = (uint32_t)j;
        if (p->heavy_cdr3 && p->heavy_cdr3[0]) {
            cdr3[nc] = p->heavy_cdr3;
            cdr3_len[nc] = (int)strlen(p->heavy_cdr3);
            with_cdr3[nc++] = (uint32_t)j;
        }
    }
    cJSON_AddNumberToObject(counts, "pairs_with_cdr3", (double)nc);

    /* 1. CDRH3 clusters (pairs without a CDRH3: their own centroid) */
    double t = pp_now();
    const char **cid = tg_malloc((nc + 1) * sizeof *cid, "pairs");
    if (!cid) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    for (size_t c = 0; c < nc; c++)
        cid[c] = id[with_cdr3[c]];
    size_t n_cdr3_clusters = 0;
    st = pp_cluster_step("CDR3s", outdir, "cdr3_100_cluster.tsv", cid, cdr3, cdr3_len, nc,
                         o->cdr3_min_seq_id, o, rep_c, steps, &n_cdr3_clusters);
    tg_free(cid);
    if (st)
        goto done;
    for (size_t c = 0; c < nc; c++)
        centroid[with_cdr3[c]] = with_cdr3[rep_c[c]];
    cJSON_AddNumberToObject(counts, "cdr3_centroids", (double)n_cdr3_clusters);
    cJSON_AddNumberToObject(times, "cdr3_clustering", pp_now() - t);

    /* 2. the centroids' heavy chains, de-duplicated (first kept) */
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        if (centroid[j] != j)
            continue;
        uint32_t old;
        int ins = sm_put(&heavy_seen, hseq[j], hlen[j], (uint32_t)m, &old);
        if (ins < 0) {
            st = ins;
            goto done;
        }
        if (ins) {
            uniq_of[j] = (uint32_t)m;
            uniq[m++] = (uint32_t)j;
        } else {
            uniq_of[j] = old;
        }
    }
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
    st = pp_cluster_step("heavy chains", outdir, "heavy_70_cluster.tsv", uid, useq, ulen, m,
                         o->min_seq_id, o, rep70, steps, &n70);
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
    st = pp_cluster_step("representatives", outdir, "heavy_50_cluster.tsv", uid, useq, ulen, k,
                         o->split_min_seq_id, o, rep50, steps, &n50);
    if (st)
        goto done;
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
    cJSON_AddNumberToObject(counts, "clusters_50", (double)n50);
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
    int regions = pr_has_regions(&s);
    for (int w = 0; w < 3 && !st; w++) {
        size_t c = 0;
        for (size_t j = 0; j < n; j++)
            if (set[j] == w)
                idx[c++] = keep[j];
        char name[32];
        snprintf(name, sizeof name, "%s_pairs.tsv", SET_NAMES[w]);
        char *path = fio_join(outdir, name);
        st = path ? pr_write_tsv(path, &s, idx, c, regions) : TG_ERR_NOMEM;
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
done:
    cJSON_AddNumberToObject(times, "total", pp_now() - t0);
    sm_free(&pairs_seen);
    sm_free(&heavy_seen);
    tg_free(keep);
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
    pr_free(&s);
    pp_dir_unlock(lock);
    return st;
}
