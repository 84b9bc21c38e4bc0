/* Independent reference alignment for the tests: full H/E/F Gotoh
 * matrices, explicit traceback with align.h's documented tie-breaking, and
 * a re-scoring of the traced path. Deliberately a different code path from
 * data/align.c (no direction bytes, no row sweep). */
#ifndef ABLM_REF_ALIGN_H
#define ABLM_REF_ALIGN_H

#include "align.h"

#include <check.h>
#include <stdlib.h>

/* Reference: full H/E/F matrices (int), explicit traceback with the same
 * documented tie-breaking, and an independent re-scoring of the path. */
typedef struct {
    int score, cols, matches, qs, qe, ts, te;
} ref_aln;

static inline int sc(aln_matrix mx, const char *a, int i, const char *b, int j)
{
    return aln_score(mx, aln_code((unsigned char)a[i]), aln_code((unsigned char)b[j]));
}

static inline ref_aln ref_align(const aln_params *p, const char *q, int n, const char *t, int m)
{
    ref_aln r = {0, 0, 0, -1, -1, -1, -1};
    int W = m + 1, NEG = -1000000;
    int *H = calloc((size_t)(n + 1) * W, sizeof(int));
    int *E = malloc((size_t)(n + 1) * W * sizeof(int));
    int *F = malloc((size_t)(n + 1) * W * sizeof(int));
    for (int k = 0; k < (n + 1) * W; k++)
        E[k] = F[k] = NEG;
    int best = 0, bi = 0, bj = 0;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= m; j++) {
            int e = H[i * W + j - 1] - p->gap_open;
            if (E[i * W + j - 1] - p->gap_extend > e)
                e = E[i * W + j - 1] - p->gap_extend;
            int f = H[(i - 1) * W + j] - p->gap_open;
            if (F[(i - 1) * W + j] - p->gap_extend > f)
                f = F[(i - 1) * W + j] - p->gap_extend;
            E[i * W + j] = e;
            F[i * W + j] = f;
            int h = H[(i - 1) * W + j - 1] + sc(p->matrix, q, i - 1, t, j - 1);
            if (e > h)
                h = e;
            if (f > h)
                h = f;
            if (h < 0)
                h = 0;
            H[i * W + j] = h;
            if (h > best) {
                best = h;
                bi = i;
                bj = j;
            }
        }
    if (best > 0) {
        /* traceback; state 0 = H, 1 = E (horizontal), 2 = F (vertical) */
        int i = bi, j = bj, st = 0, pathscore = 0, ingap = 0;
        r.qe = bi - 1;
        r.te = bj - 1;
        while (1) {
            if (st == 0) {
                int h = H[i * W + j];
                if (h == 0)
                    break;
                int d = H[(i - 1) * W + j - 1] + sc(p->matrix, q, i - 1, t, j - 1);
                if (h == d) {
                    r.cols++;
                    r.matches += aln_code((unsigned char)q[i - 1]) == aln_code((unsigned char)t[j - 1]);
                    pathscore += sc(p->matrix, q, i - 1, t, j - 1);
                    r.qs = i - 1;
                    r.ts = j - 1;
                    ingap = 0;
                    i--;
                    j--;
                } else if (h == E[i * W + j]) {
                    st = 1;
                } else {
                    ck_assert_int_eq(h, F[i * W + j]);
                    st = 2;
                }
            } else if (st == 1) {
                r.cols++;
                pathscore -= ingap == 1 ? p->gap_extend : p->gap_open;
                ingap = 1;
                int open = H[i * W + j - 1] - p->gap_open;
                st = E[i * W + j] == open ? 0 : 1;
                j--;
                if (st == 0)
                    ingap = 0;
            } else {
                r.cols++;
                pathscore -= ingap == 2 ? p->gap_extend : p->gap_open;
                ingap = 2;
                int open = H[(i - 1) * W + j] - p->gap_open;
                st = F[i * W + j] == open ? 0 : 2;
                i--;
                if (st == 0)
                    ingap = 0;
            }
        }
        ck_assert_int_eq(pathscore, best); /* the traced path really scores best */
        r.score = best;
    }
    free(H);
    free(E);
    free(F);
    return r;
}


/* 1 if the reference alignment of rep (query) and member (target) reaches
 * the thresholds; identical code strings count as identity 1, coverage 1. */
static inline int ref_passes(const aln_params *p, const char *q, int n, const char *t, int m,
                             double id, double c, int cov_mode)
{
    int same = n == m;
    for (int i = 0; same && i < n; i++)
        same = aln_code((unsigned char)q[i]) == aln_code((unsigned char)t[i]);
    if (same)
        return 1;
    ref_aln r = ref_align(p, q, n, t, m);
    if (!r.cols)
        return 0;
    double qc = (double)(r.qe - r.qs + 1) / n, tc = (double)(r.te - r.ts + 1) / m;
    int cov = cov_mode == 1 ? tc >= c - 1e-9 : cov_mode == 2 ? qc >= c - 1e-9 : (qc >= c - 1e-9 && tc >= c - 1e-9);
    return cov && (double)r.matches >= id * r.cols - 1e-9;
}

#endif
