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
    o->fill = SP_FILL_FIT;
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
        if (o->fill == SP_FILL_REFERENCE) {
            if ((double)sum->counts[0] < sum->target[0] - eps)
                s = SP_TRAIN;
            else if ((double)sum->counts[1] < sum->target[1] - eps)
                s = SP_VAL;
        } else if ((double)(sum->counts[0] + sz) <= sum->target[0] + eps)
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
    cJSON_AddStringToObject(obj, "fill", o->fill == SP_FILL_REFERENCE ? "reference" : "fit");
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
                                "per sequence: highest identity (matches / alignment columns) of "
                                "a local alignment to a train sequence (the later sequence of the "
                                "input as the query) whose coverage holds; 0 if none");
        cJSON_AddNumberToObject(lk, "coverage", lo->coverage);
        cJSON_AddNumberToObject(lk, "cov_mode", lo->cov_mode);
        cJSON_AddNumberToObject(lk, "candidates_per_query", lo->candidates);
        cJSON_AddNumberToObject(lk, "seed", (double)lo->seed);
        for (int k = SP_VAL; k <= SP_TEST && !st; k++) {
            sp_leak l;
            st = sp_leakage(seqs, lens, set, n, k, lo, &l);
            if (!st)
                sp_leak_to_json_ids(&l, ids, cJSON_AddObjectToObject(lk, SET_NAMES[k]));
        }
    }
    if (!st && set_out)
        memcpy(set_out, set, n);
    tg_free(set);
    return st;
}
