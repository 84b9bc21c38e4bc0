/* cluster_bound: an exact upper bound on the identity any alignment of two
 * sequences can reach under a coverage constraint, for pruning exhaustive
 * pair searches (cl_bound_identity in cluster_util.h).
 *
 * An alignment with M identical columns out of L passes min-seq-id t iff
 * M - t*L >= 0. Scoring a diagonal column 1 - t when the residues are equal
 * and -t otherwise, and every gap column -t, the score of an alignment is
 * exactly M - t*L. A coverage of c on the query forces its span [qs, qe] to
 * hold >= c*la residues, so qs <= la*(1 - c) and qe >= c*la - 1 (0-based);
 * likewise on the target. So the largest score over all paths that start in
 * that box of cells and end in the other (a local DP with restricted starts
 * and ends) bounds M - t*L of every alignment that passes, whatever
 * substitution matrix and gap costs chose it: below 0, no alignment (the
 * aligner's included) passes. The scores are scaled to integers rounded in
 * the safe direction (gain rounded up, cost down, t and c lowered by 1e-6,
 * below the 1e-9 tolerance of aln_passes) and the DP runs on 8 or 16
 * targets at once in 16-bit SIMD lanes (inter-sequence: no dependence
 * between lanes). */
#include "cluster_util.h"

#include "tg.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CB_HAVE_X86 1

#define BOUND_NAME bound_sse2
#define V __m128i
#define W 8
#define ATTR
#define VSET1(x) _mm_set1_epi16((short)(x))
#define VLOAD(p) _mm_load_si128((const __m128i *)(p))
#define VSTORE(p, v) _mm_store_si128((__m128i *)(p), v)
#define VADDS _mm_adds_epi16
#define VSUBS _mm_subs_epi16
#define VMAX _mm_max_epi16
#define VCMPEQ _mm_cmpeq_epi16
#define VCMPGT _mm_cmpgt_epi16
#define VAND _mm_and_si128
#define VANDNOT _mm_andnot_si128
#define VOR _mm_or_si128
#include "cluster_bound_fill.h"
#undef BOUND_NAME
#undef V
#undef W
#undef ATTR
#undef VSET1
#undef VLOAD
#undef VSTORE
#undef VADDS
#undef VSUBS
#undef VMAX
#undef VCMPEQ
#undef VCMPGT
#undef VAND
#undef VANDNOT
#undef VOR

#define BOUND_NAME bound_avx2
#define V __m256i
#define W 16
#define ATTR __attribute__((target("avx2")))
#define VSET1(x) _mm256_set1_epi16((short)(x))
#define VLOAD(p) _mm256_load_si256((const __m256i *)(p))
#define VSTORE(p, v) _mm256_store_si256((__m256i *)(p), v)
#define VADDS _mm256_adds_epi16
#define VSUBS _mm256_subs_epi16
#define VMAX _mm256_max_epi16
#define VCMPEQ _mm256_cmpeq_epi16
#define VCMPGT _mm256_cmpgt_epi16
#define VAND _mm256_and_si256
#define VANDNOT _mm256_andnot_si256
#define VOR _mm256_or_si256
#include "cluster_bound_fill.h"
#undef V
#undef W
#endif

/* Scalar form of the same DP (one target), for CPUs without SSE2. */
static int bound_scalar(const uint8_t *a, int la, const uint8_t *b, int lb, int qs_max, int qe_min,
                        int ts_max, int te_min, int gm, int gx, int *col)
{
    const int NEG = -1000000000;
    int best = NEG;
    for (int i = 0; i < la; i++)
        col[i] = NEG;
    for (int j = 0; j < lb; j++) {
        int diag = NEG, up = NEG;
        for (int i = 0; i < la; i++) {
            int s = a[i] == b[j] ? gm : -gx, left = col[i];
            int h = diag + s;
            if (left - gx > h)
                h = left - gx;
            if (up - gx > h)
                h = up - gx;
            if (i <= qs_max && j <= ts_max && s > h)
                h = s;
            if (h < NEG)
                h = NEG;
            diag = left;
            col[i] = up = h;
            if (i >= qe_min && j >= te_min && h > best)
                best = h;
        }
    }
    return best;
}

/* Box of a coverage c on a sequence of length n: a path starts at
 * position <= *smax and ends at >= *emin (c <= 0: anywhere). */
static void cov_box(double c, int n, int *smax, int *emin)
{
    if (c <= 0) {
        *smax = n - 1;
        *emin = 0;
        return;
    }
    c -= 1e-6;
    *smax = (int)floor((double)n * (1.0 - c));
    if (*smax > n - 1)
        *smax = n - 1;
    *emin = (int)ceil(c * (double)n - 1.0);
    if (*emin < 0)
        *emin = 0;
}

void cl_bound_identity(const uint8_t *a, int la, const uint8_t *const *b, const int *lb, int nb,
                       double t, double qc, double tc, uint8_t *ok)
{
    for (int x = 0; x < nb; x++)
        ok[x] = 1;
    t -= 1e-6;
    if (la <= 0 || t <= 0 || nb <= 0)
        return;
    /* scale: every path score stays within +-(la * scale) < 16000 */
    int scale = 14000 / (la + 1);
    if (scale > 1024)
        scale = 1024;
    if (scale < 8)
        return; /* too long for 16-bit lanes at a useful precision: no bound */
    int gm = (int)ceil((1.0 - t) * scale), gx = (int)floor(t * scale);
    int qs_max, qe_min;
    cov_box(qc, la, &qs_max, &qe_min);
#ifdef CB_HAVE_X86
    const int avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
    const int lanes = avx2 ? 16 : 8;
    int16_t tsm[16] __attribute__((aligned(32))), tem[16] __attribute__((aligned(32)));
    int16_t last[16] __attribute__((aligned(32))), best[16] __attribute__((aligned(32)));
    int16_t colbuf[16 * 512] __attribute__((aligned(32)));
    int16_t tcbuf[16 * 512] __attribute__((aligned(32)));
    if (la <= 512) {
        int scol[512];
        for (int x0 = 0; x0 < nb; x0 += lanes) {
            int nl = nb - x0 < lanes ? nb - x0 : lanes, maxlen = 0;
            for (int x = 0; x < lanes; x++) {
                int m = x < nl ? lb[x0 + x] : 0, s, e;
                if (m > 512) { /* too long for the buffers: scalar, lane unused */
                    cov_box(tc, m, &s, &e);
                    ok[x0 + x] = bound_scalar(a, la, b[x0 + x], m, qs_max, qe_min, s, e, gm, gx,
                                              scol) >= 0;
                    m = 0;
                }
                if (m > maxlen)
                    maxlen = m;
                cov_box(tc, m, &s, &e);
                tsm[x] = (int16_t)(m > 0 ? s : -1);
                tem[x] = (int16_t)e;
                last[x] = (int16_t)(m - 1);
            }
            if (!maxlen)
                continue;
            for (int j = 0; j < maxlen; j++)
                for (int x = 0; x < lanes; x++)
                    tcbuf[j * lanes + x] =
                        (int16_t)(x < nl && j <= last[x] ? b[x0 + x][j] : 255);
            if (avx2)
                bound_avx2(a, la, tcbuf, maxlen, tsm, tem, last, qs_max, qe_min, gm, gx, colbuf,
                           best);
            else
                bound_sse2(a, la, tcbuf, maxlen, tsm, tem, last, qs_max, qe_min, gm, gx, colbuf,
                           best);
            for (int x = 0; x < nl; x++)
                if (last[x] >= 0)
                    ok[x0 + x] = best[x] >= 0;
        }
        return;
    }
#endif
    int *col = tg_malloc((size_t)la * sizeof *col, "identity bound");
    if (!col)
        return; /* no bound: every pair stays a candidate */
    for (int x = 0; x < nb; x++) {
        int ts, te;
        if (lb[x] <= 0)
            continue;
        cov_box(tc, lb[x], &ts, &te);
        ok[x] = bound_scalar(a, la, b[x], lb[x], qs_max, qe_min, ts, te, gm, gx, col) >= 0;
    }
    tg_free(col);
}
