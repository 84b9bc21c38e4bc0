/* align: Smith-Waterman against an independent full-matrix Gotoh with
 * traceback written here, plus MMseqs2's definitions on hand-made cases. */
#include "align.h"
#include "tg.h"
#include "testutil.h"
#include "ref_align.h"
#include "align_simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_pair(const aln_params *p, const char *q, const char *t)
{
    int n = (int)strlen(q), m = (int)strlen(t);
    aln_result a;
    ck_assert_int_eq(aln_align(p, q, n, t, m, &a), TG_OK);
    int ident = n == m;
    for (int i = 0; ident && i < n; i++)
        ident = aln_code((unsigned char)q[i]) == aln_code((unsigned char)t[i]);
    if (ident) {
        ck_assert_double_eq(a.identity, 1.0);
        ck_assert_double_eq(a.qcov, 1.0);
        ck_assert_int_eq(a.aln_len, n);
        return;
    }
    ref_aln r = ref_align(p, q, n, t, m);
    ck_assert_msg(a.score == r.score, "%s vs %s: score %d ref %d", q, t, a.score, r.score);
    ck_assert_msg(a.aln_len == r.cols && a.matches == r.matches,
                  "%s vs %s: cols %d/%d matches %d/%d", q, t, a.aln_len, r.cols, a.matches, r.matches);
    ck_assert_int_eq(a.qstart, r.qs);
    ck_assert_int_eq(a.qend, r.qe);
    ck_assert_int_eq(a.tstart, r.ts);
    ck_assert_int_eq(a.tend, r.te);
    if (r.cols) {
        ck_assert_double_eq_tol(a.identity, (double)r.matches / r.cols, 1e-12);
        ck_assert_double_eq_tol(a.qcov, (double)(r.qe - r.qs + 1) / n, 1e-12);
        ck_assert_double_eq_tol(a.tcov, (double)(r.te - r.ts + 1) / m, 1e-12);
    } else {
        ck_assert_double_eq(a.identity, 0.0);
    }
    /* symmetric: swapping query and target gives the same score */
    aln_result b;
    ck_assert_int_eq(aln_align(p, t, m, q, n, &b), TG_OK);
    ck_assert_int_eq(a.score, b.score);
}

static void rand_seq(tg_rng *g, char *s, int n, const char *alpha)
{
    int k = (int)strlen(alpha);
    for (int i = 0; i < n; i++)
        s[i] = alpha[tg_rng_next(g) % (uint64_t)k];
    s[n] = 0;
}

/* Parameters of test case kind 0..3: defaults, BLOSUM62 11/1, random gap
 * costs (open may be below extend), open == extend. */
static void pick_params(tg_rng *g, int kind, aln_params *p)
{
    aln_params_default(p);
    if (kind == 1) {
        p->matrix = ALN_BLOSUM62;
        p->gap_open = 11;
        p->gap_extend = 1;
    } else if (kind == 2) {
        p->gap_open = (int)(tg_rng_next(g) % 12);
        p->gap_extend = (int)(tg_rng_next(g) % 4);
    } else if (kind == 3) {
        p->gap_open = 1 + (int)(tg_rng_next(g) % 4);
        p->gap_extend = p->gap_open; /* open == extend: long gaps everywhere */
    }
}

START_TEST(random_vs_reference)
{
    aln_params p;
    tg_rng g;
    tg_rng_seed(&g, 11);
    char q[300], t[300];
    for (int it = 0; it < 3000; it++) {
        pick_params(&g, it % 3, &p);
        /* small alphabets make ties and gaps frequent */
        const char *alpha = it % 4 == 0 ? "AC" : it % 4 == 1 ? "ACDGX" : "ACDEFGHIKLMNPQRSTVWYacdxBZ*";
        int n = 1 + (int)(tg_rng_next(&g) % (it < 2900 ? 30 : 290));
        int m = 1 + (int)(tg_rng_next(&g) % (it < 2900 ? 30 : 290));
        rand_seq(&g, q, n, alpha);
        if (it % 2) { /* related target: mutate q */
            strcpy(t, q);
            m = n;
            for (int k = 0; k < n / 4 + 1; k++)
                t[tg_rng_next(&g) % (uint64_t)m] = alpha[tg_rng_next(&g) % strlen(alpha)];
            if (m > 3 && tg_rng_next(&g) % 2) { /* delete a block */
                int at = (int)(tg_rng_next(&g) % (uint64_t)(m - 2));
                memmove(t + at, t + at + 2, (size_t)(m - at - 1));
            }
        } else {
            rand_seq(&g, t, m, alpha);
        }
        check_pair(&p, q, t);
    }
}
END_TEST

START_TEST(edge_cases)
{
    aln_params p;
    aln_params_default(&p);
    aln_result r;
    /* empty sequences: identical empties pass, empty vs non-empty is empty */
    ck_assert_int_eq(aln_align(&p, "", 0, "", 0, &r), TG_OK);
    ck_assert_double_eq(r.identity, 1.0);
    ck_assert_int_eq(aln_align(&p, "ACD", 3, "", 0, &r), TG_OK);
    ck_assert_int_eq(r.aln_len, 0);
    ck_assert_double_eq(r.identity, 0.0);
    ck_assert(!aln_passes(&r, 0.0, 0.1, 0));
    /* length 1 */
    ck_assert_int_eq(aln_align(&p, "W", 1, "W", 1, &r), TG_OK);
    ck_assert_int_eq(r.score, 12);
    ck_assert_int_eq(aln_align(&p, "W", 1, "A", 1, &r), TG_OK);
    ck_assert_int_eq(r.score, 0);
    ck_assert_int_eq(r.aln_len, 0);
    /* lowercase is the same residue; X-only identical sequences still merge */
    ck_assert_int_eq(aln_align(&p, "cargdy", 6, "CARGDY", 6, &r), TG_OK);
    ck_assert_double_eq(r.identity, 1.0);
    ck_assert_int_eq(aln_align(&p, "XXXX", 4, "XXXX", 4, &r), TG_OK);
    ck_assert(aln_passes(&r, 1.0, 1.0, 0));
    /* one substitution in 10: identity 0.9, full coverage */
    ck_assert_int_eq(aln_align(&p, "CARGDYWFDP", 10, "CARGEYWFDP", 10, &r), TG_OK);
    ck_assert_int_eq(r.aln_len, 10);
    ck_assert_int_eq(r.matches, 9);
    ck_assert(aln_passes(&r, 0.9, 1.0, 0));
    ck_assert(!aln_passes(&r, 0.91, 0.0, 0));
    /* a gap: cost 16 for length 1, 16+2 for length 2 */
    const char *a = "WWWWWWWWWWAWWWWWWWWWW", *b = "WWWWWWWWWWWWWWWWWWWW";
    ck_assert_int_eq(aln_align(&p, a, 21, b, 20, &r), TG_OK);
    ck_assert_int_eq(r.score, 20 * 12 - 16);
    ck_assert_int_eq(r.aln_len, 21);
    ck_assert_int_eq(r.matches, 20);
    ck_assert_int_eq(aln_align(&p, "WWWWWWWWWWAAWWWWWWWWWW", 22, b, 20, &r), TG_OK);
    ck_assert_int_eq(r.score, 20 * 12 - 18);
    /* coverage modes: query half covered */
    aln_result c = {.identity = 1.0, .qcov = 0.5, .tcov = 1.0};
    ck_assert(!aln_passes(&c, 0.5, 0.8, 0));
    ck_assert(aln_passes(&c, 0.5, 0.8, 1));
    ck_assert(!aln_passes(&c, 0.5, 0.8, 2));
    aln_swap(&c);
    ck_assert(aln_passes(&c, 0.5, 0.8, 2));
    /* bad arguments */
    ck_assert_int_eq(aln_align(&p, NULL, 3, "A", 1, &r), TG_ERR_ARG);
    p.gap_open = -1;
    ck_assert_int_eq(aln_align(&p, "A", 1, "A", 1, &r), TG_ERR_ARG);
}
END_TEST

START_TEST(matrices)
{
    /* symmetric, spot values from the published tables */
    for (int a = 0; a < 21; a++)
        for (int b = 0; b < 21; b++) {
            ck_assert_int_eq(aln_score(ALN_VTML40, a, b), aln_score(ALN_VTML40, b, a));
            ck_assert_int_eq(aln_score(ALN_BLOSUM62, a, b), aln_score(ALN_BLOSUM62, b, a));
        }
    int W = aln_code('W'), C = aln_code('C'), A = aln_code('a'), X = aln_code('B');
    ck_assert_int_eq(X, 20);
    ck_assert_int_eq(aln_score(ALN_VTML40, W, W), 12);
    ck_assert_int_eq(aln_score(ALN_VTML40, W, C), -12);
    ck_assert_int_eq(aln_score(ALN_VTML40, A, A), 6);
    ck_assert_int_eq(aln_score(ALN_BLOSUM62, W, W), 11);
    ck_assert_int_eq(aln_score(ALN_BLOSUM62, C, C), 9);
    ck_assert_int_eq(aln_score(ALN_BLOSUM62, A, aln_code('S')), 1);
}
END_TEST

START_TEST(large_uses_heap)
{
    aln_params p;
    aln_params_default(&p);
    int n = 1500;
    char *q = malloc(n + 1), *t = malloc(n + 1);
    tg_rng g;
    tg_rng_seed(&g, 3);
    rand_seq(&g, q, n, "ACDEFGHIKLMNPQRSTVWY");
    memcpy(t, q, n + 1);
    t[700] = t[700] == 'A' ? 'C' : 'A';
    aln_result r;
    ck_assert_int_eq(aln_align(&p, q, n, t, n, &r), TG_OK);
    ck_assert_int_eq(r.aln_len, n);
    ck_assert_int_eq(r.matches, n - 1);
    tg_alloc_fail_after(1);
    ck_assert_int_eq(aln_align(&p, q, n, t, n, &r), TG_ERR_NOMEM);
    tg_alloc_fail_after(0);
    free(q);
    free(t);
}
END_TEST

static void same_result(const aln_result *a, const aln_result *b, const char *what, int it)
{
    ck_assert_msg(a->score == b->score && a->aln_len == b->aln_len && a->matches == b->matches &&
                      a->qstart == b->qstart && a->qend == b->qend && a->tstart == b->tstart &&
                      a->tend == b->tend && a->identity == b->identity && a->qcov == b->qcov &&
                      a->tcov == b->tcov,
                  "%s case %d: score %d/%d cols %d/%d matches %d/%d q %d-%d/%d-%d t %d-%d/%d-%d", what, it,
                  a->score, b->score, a->aln_len, b->aln_len, a->matches, b->matches, a->qstart, a->qend,
                  b->qstart, b->qend, a->tstart, a->tend, b->tstart, b->tend);
}

/* Compares impl (and AUTO) against the scalar aligner on (q, t). */
static void simd_vs_scalar(const aln_params *p, aln_impl impl, const char *q, int n, const char *t, int m,
                          int it)
{
    uint8_t *qc = malloc((size_t)n + 1), *tc = malloc((size_t)m + 1);
    aln_encode(q, n, qc);
    aln_encode(t, m, tc);
    aln_result a, b, c;
    ck_assert_int_eq(aln_align_codes_impl(p, qc, n, tc, m, ALN_IMPL_SCALAR, &a), TG_OK);
    ck_assert_int_eq(aln_align_codes_impl(p, qc, n, tc, m, impl, &b), TG_OK);
    same_result(&a, &b, impl == ALN_IMPL_AVX2 ? "avx2" : "sse2", it);
    ck_assert_int_eq(aln_align_codes(p, qc, n, tc, m, &c), TG_OK);
    same_result(&a, &c, "auto", it);
    /* a workspace shared over the whole test: its cached profile must
     * never leak into another query (lengths and contents vary) */
    static aln_ws ws;
    for (int rep = 0; rep < 2; rep++) {
        ck_assert_int_eq(aln_align_codes_ws(p, qc, n, tc, m, &ws, &c), TG_OK);
        same_result(&a, &c, "workspace", it);
    }
    if (it == -2)
        aln_ws_free(&ws);
    free(qc);
    free(tc);
}

START_TEST(simd_matches_scalar)
{
    tg_rng g;
    tg_rng_seed(&g, 5);
    int len = 3200;
    char *q = malloc((size_t)len + 1), *t = malloc((size_t)len + 1);
    for (aln_impl impl = ALN_IMPL_SSE2; impl <= ALN_IMPL_AVX2; impl++) {
        if (!aln_simd_supported(impl)) {
            fprintf(stderr, "skip: implementation %d not supported on this CPU\n", (int)impl);
            continue;
        }
        for (int it = 0; it < 4000; it++) {
            aln_params p;
            pick_params(&g, it % 4, &p);
            const char *alpha = it % 3 == 0 ? "AC" : it % 3 == 1 ? "ACDGWX" : "ACDEFGHIKLMNPQRSTVWY";
            /* lengths around the lane/segment boundaries and long ones */
            int maxl = it < 3000 ? 40 : it < 3900 ? 300 : 1200;
            int n = 1 + (int)(tg_rng_next(&g) % (uint64_t)maxl), m = 1 + (int)(tg_rng_next(&g) % (uint64_t)maxl);
            rand_seq(&g, q, n, alpha);
            if (it % 2) {
                m = n;
                memcpy(t, q, (size_t)n + 1);
                for (int k = 0; k < n / 5 + 1; k++)
                    t[tg_rng_next(&g) % (uint64_t)m] = alpha[tg_rng_next(&g) % strlen(alpha)];
                if (m > 6 && tg_rng_next(&g) % 2) { /* delete a block: gaps */
                    int at = (int)(tg_rng_next(&g) % (uint64_t)(m - 3)), dl = 1 + (int)(tg_rng_next(&g) % 3);
                    memmove(t + at, t + at + dl, (size_t)(m - at - dl + 1));
                    m -= dl;
                }
            } else {
                rand_seq(&g, t, m, alpha);
            }
            simd_vs_scalar(&p, impl, q, n, t, m, it);
            simd_vs_scalar(&p, impl, t, m, q, n, it);
        }
        /* 16-bit overflow: a 3200-residue near-self alignment scores far above
         * 32767; the SIMD kernel must decline and the result still be exact */
        aln_params p;
        aln_params_default(&p);
        for (int i = 0; i < len; i++)
            q[i] = "WC"[i % 2];
        memcpy(t, q, (size_t)len);
        t[len / 2] = 'A';
        q[len] = t[len] = 0;
        uint8_t *qc = malloc((size_t)len), *tc = malloc((size_t)len);
        aln_encode(q, len, qc);
        aln_encode(t, len, tc);
        aln_result r;
        memset(&r, 0, sizeof r);
        ck_assert_int_eq(aln_simd_align(&p, qc, len, tc, len, impl, NULL, &r),
                         ALN_SIMD_DECLINED);
        simd_vs_scalar(&p, impl, q, len, t, len, -1);
        aln_result a;
        ck_assert_int_eq(aln_align_codes_impl(&p, qc, len, tc, len, impl, &a), TG_OK);
        ck_assert_int_gt(a.score, 32767);
        ck_assert_int_eq(a.matches, len - 1);
        /* just below the limit the SIMD kernel runs (2400 * 11.5 < 32767 - 128) */
        ck_assert_int_eq(aln_simd_align(&p, qc, 2400, tc, 2400, impl, NULL, &r), TG_OK);
        simd_vs_scalar(&p, impl, q, 2400, t, 2400, -2);
        free(qc);
        free(tc);
    }
    free(q);
    free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("align");
    TCase *tc = tcase_create("align");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, matrices);
    tcase_add_test(tc, edge_cases);
    tcase_add_test(tc, random_vs_reference);
    tcase_add_test(tc, large_uses_heap);
    tcase_add_test(tc, simd_matches_scalar);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
