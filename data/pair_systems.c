/* One system's predictions scored over the test pairs (pair_eval.h). */
#include "pair_eval.h"

#include "tg.h"

#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int pe_eval_system(pe_system *s, const pr_set *test, const pe_locus_model *lm, int threads)
{
    size_t n = test->n;
    s->score = tg_calloc(n + 1, sizeof *s->score, "evaluation");
    s->identity = tg_calloc(n + 1, sizeof *s->identity, "evaluation");
    s->locus = tg_calloc(n + 1, sizeof *s->locus, "evaluation");
    s->region_identity = tg_malloc((n + 1) * PR_N_REGIONS * sizeof *s->region_identity,
                                   "evaluation");
    s->region_score = tg_calloc((n + 1) * PR_N_REGIONS, sizeof *s->region_score, "evaluation");
    if (!s->score || !s->identity || !s->locus || !s->region_identity || !s->region_score)
        return TG_ERR_NOMEM;
    for (size_t i = 0; i < n * PR_N_REGIONS; i++)
        s->region_identity[i] = -1;
    int nt = threads > 0 ? threads : tg_threads();
    int err = 0;
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        pe_ws ws = {0}, ws2 = {0};
#pragma omp for schedule(dynamic, 16)
        for (size_t i = 0; i < n; i++) {
            const char *g = s->chain[i];
            s->locus[i] = "";
            if (!g || err)
                continue;
            const pr_pair *p = &test->v[i];
            pe_result r;
            pe_regions rg;
            int gl = (int)strlen(g);
            int e = pe_align(&ws, p->light, p->light_len, g, gl, &r);
            if (!e)
                e = pe_align_regions(&ws2, p, &r, &rg);
            if (e) {
                err |= 1;
                continue;
            }
            s->score[i] = r.score;
            s->identity[i] = r.identity;
            for (int k = 0; rg.ok && k < PR_N_REGIONS; k++) {
                s->region_identity[i * PR_N_REGIONS + k] = rg.r[k].identity;
                s->region_score[i * PR_N_REGIONS + k] = rg.r[k].score;
            }
            if (lm)
                s->locus[i] = pe_locus_predict(lm, g, gl);
        }
        pe_ws_free(&ws);
        pe_ws_free(&ws2);
    }
    if (err)
        return tg_error(TG_ERR_NOMEM, "%s: alignments failed (out of memory)", s->name);
    double *ids = tg_malloc((n + 1) * sizeof *ids, "evaluation");
    if (!ids)
        return TG_ERR_NOMEM;
    double ss = 0, si = 0, rs[PR_N_REGIONS] = {0}, ri[PR_N_REGIONS] = {0};
    s->n = s->locus_pairs = s->locus_agree = 0;
    memset(s->region_pairs, 0, sizeof s->region_pairs);
    for (size_t i = 0; i < n; i++) {
        if (!s->chain[i])
            continue;
        ss += s->score[i];
        si += s->identity[i];
        ids[s->n++] = s->identity[i];
        const char *tl = test->v[i].locus;
        if (tl[0] && s->locus[i][0]) {
            s->locus_pairs++;
            s->locus_agree += !strcmp(tl, s->locus[i]);
        }
        for (int k = 0; k < PR_N_REGIONS; k++)
            if (s->region_identity[i * PR_N_REGIONS + k] >= 0) {
                s->region_pairs[k]++;
                rs[k] += s->region_score[i * PR_N_REGIONS + k];
                ri[k] += s->region_identity[i * PR_N_REGIONS + k];
            }
    }
    s->mean_score = s->n ? ss / (double)s->n : 0;
    s->mean_identity = s->n ? si / (double)s->n : 0;
    qsort(ids, s->n, sizeof *ids, cmp_double);
    s->median_identity =
        !s->n ? 0 : s->n % 2 ? ids[s->n / 2] : 0.5 * (ids[s->n / 2 - 1] + ids[s->n / 2]);
    tg_free(ids);
    for (int k = 0; k < PR_N_REGIONS; k++) {
        s->region_mean_score[k] = s->region_pairs[k] ? rs[k] / (double)s->region_pairs[k] : 0;
        s->region_mean_identity[k] = s->region_pairs[k] ? ri[k] / (double)s->region_pairs[k] : 0;
    }
    return TG_OK;
}

void pe_system_free(pe_system *s)
{
    tg_free(s->score);
    tg_free(s->identity);
    tg_free((void *)s->locus);
    tg_free(s->region_identity);
    tg_free(s->region_score);
    s->score = NULL;
    s->identity = NULL;
    s->locus = NULL;
    s->region_identity = NULL;
    s->region_score = NULL;
}

static void num_or_null(cJSON *o, const char *k, int have, double v)
{
    if (have)
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

void pe_system_to_json(const pe_system *s, cJSON *o)
{
    cJSON_AddNumberToObject(o, "pairs", (double)s->n);
    num_or_null(o, "blosum62_score", s->n > 0, s->mean_score);
    num_or_null(o, "identity", s->n > 0, s->mean_identity);
    num_or_null(o, "identity_median", s->n > 0, s->median_identity);
    cJSON *l = cJSON_AddObjectToObject(o, "locus_agreement");
    cJSON_AddNumberToObject(l, "pairs", (double)s->locus_pairs);
    cJSON_AddNumberToObject(l, "agree", (double)s->locus_agree);
    num_or_null(l, "fraction", s->locus_pairs > 0,
                s->locus_pairs ? (double)s->locus_agree / (double)s->locus_pairs : 0);
    cJSON *r = cJSON_AddObjectToObject(o, "regions");
    for (int k = 0; k < PR_N_REGIONS; k++) {
        cJSON *e = cJSON_AddObjectToObject(r, pr_region_names[k]);
        cJSON_AddNumberToObject(e, "pairs", (double)s->region_pairs[k]);
        num_or_null(e, "blosum62_score", s->region_pairs[k] > 0, s->region_mean_score[k]);
        num_or_null(e, "identity", s->region_pairs[k] > 0, s->region_mean_identity[k]);
    }
}
