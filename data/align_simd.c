/* align_simd: striped SIMD Smith-Waterman (SSE2 / AVX2, 16-bit lanes) that
 * stores the exact H matrix, then a scalar traceback that reads H only. It
 * reproduces the scalar aligner (align.c) exactly: same score, end cell
 * (first maximum in query-major order), tie-breaking and path.
 *
 * Why H alone suffices for the traceback: with H = max(0, diag + s, E, F),
 * a cell comes from the diagonal iff H == H(i-1, j-1) + s (the scalar
 * prefers the diagonal), else from E iff E(i, j) == H, where
 * E(i, j) = max_k<j H(i, k) - go - (j-1-k)*ge is recomputed on the few gap
 * cells of the path; else from F. Along a gap the state value is known
 * (it grows by ge per step back) and the gap was opened at the cell where
 * H(previous) - go equals it (open preferred on ties, as in the scalar). */
#include "align_simd.h"

#include "tg.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ALN_HAVE_X86 1

/* SSE2: 8 lanes. */
#define FILL_NAME fill_sse2
#define V __m128i
#define W 8
#define ATTR
#define VSET1(x) _mm_set1_epi16((short)(x))
#define VLOAD(p) _mm_load_si128((const __m128i *)(p))
#define VSTORE(p, v) _mm_store_si128((__m128i *)(p), v)
#define VADDS _mm_adds_epi16
#define VSUBS _mm_subs_epi16
#define VMAX _mm_max_epi16
#define VOR _mm_or_si128
#define VSHL1(v) _mm_slli_si128(v, 2)
#define VANYGT(a, b) _mm_movemask_epi8(_mm_cmpgt_epi16(a, b))
#include "align_simd_fill.h"
#undef FILL_NAME
#undef V
#undef W
#undef ATTR
#undef VSET1
#undef VLOAD
#undef VSTORE
#undef VADDS
#undef VSUBS
#undef VMAX
#undef VOR
#undef VSHL1
#undef VANYGT

/* AVX2: 16 lanes; the one-lane shift crosses the 128-bit halves. */
#define FILL_NAME fill_avx2
#define V __m256i
#define W 16
#define ATTR __attribute__((target("avx2")))
#define VSET1(x) _mm256_set1_epi16((short)(x))
#define VLOAD(p) _mm256_load_si256((const __m256i *)(p))
#define VSTORE(p, v) _mm256_store_si256((__m256i *)(p), v)
#define VADDS _mm256_adds_epi16
#define VSUBS _mm256_subs_epi16
#define VMAX _mm256_max_epi16
#define VOR _mm256_or_si256
#define VSHL1(v) _mm256_alignr_epi8(v, _mm256_permute2x128_si256(v, v, 0x08), 14)
#define VANYGT(a, b) _mm256_movemask_epi8(_mm256_cmpgt_epi16(a, b))
#include "align_simd_fill.h"
#endif

int aln_simd_supported(aln_impl impl)
{
    switch (impl) {
    case ALN_IMPL_AUTO:
    case ALN_IMPL_SCALAR:
        return 1;
#ifdef ALN_HAVE_X86
    case ALN_IMPL_SSE2:
        return 1;
    case ALN_IMPL_AVX2:
        return __builtin_cpu_supports("avx2");
#endif
    default:
        return 0;
    }
}

/* H of cell (i, j), 0 outside the matrix; off[i] = striped offset of row i. */
static inline int hval(const int16_t *H, size_t col, const int *off, int i, int j)
{
    if (i < 0 || j < 0)
        return 0;
    return H[(size_t)j * col + (size_t)off[i]];
}

#define STACK_I16 (6 * 1024)

/* Grows an aligned int16 buffer to n entries (contents not kept). */
static int grow16(void **mem, int16_t **al, size_t *cap, size_t n)
{
    if (n <= *cap)
        return TG_OK;
    tg_free(*mem);
    *al = NULL;
    *cap = 0;
    *mem = tg_malloc(n * sizeof(int16_t) + 64, "alignment workspace");
    if (!*mem)
        return TG_ERR_NOMEM;
    *al = (int16_t *)(((uintptr_t)*mem + 63) & ~(uintptr_t)63);
    *cap = n;
    return TG_OK;
}

void aln_ws_free(aln_ws *ws)
{
    if (!ws)
        return;
    tg_free(ws->prof_mem);
    tg_free(ws->work_mem);
    tg_free(ws->q);
    memset(ws, 0, sizeof *ws);
}

int aln_simd_align(const aln_params *p, const uint8_t *q, int n, const uint8_t *t, int m,
                   aln_impl impl, aln_ws *ws, aln_result *out)
{
#ifndef ALN_HAVE_X86
    (void)p, (void)q, (void)n, (void)t, (void)m, (void)impl, (void)ws, (void)out;
    return ALN_SIMD_DECLINED;
#else
    const int8_t(*S)[21] = aln_matrix_rows(p->matrix);
    int go = p->gap_open, ge = p->gap_extend;
    if (go < ge || go > 8192 || n <= 0 || m <= 0)
        return ALN_SIMD_DECLINED;
    int w = impl == ALN_IMPL_AVX2 ? 16 : 8;
    int seg = (n + w - 1) / w;
    size_t col = (size_t)seg * w;
    size_t pneed = col * ALN_ALPHABET;
    size_t need = col * ((size_t)m + 2) + (size_t)m + 2 * (size_t)n + 64;
    int16_t stackbuf[STACK_I16] __attribute__((aligned(64)));
    int16_t *prof = stackbuf, *buf = stackbuf + pneed;
    void *heap = NULL;
    int build = 1;
    if (ws) {
        /* the profile depends on q, the matrix and the lane count only */
        int same = ws->valid && ws->qn == n && ws->matrix == (int)p->matrix && ws->impl == (int)impl &&
                   !memcmp(ws->q, q, (size_t)n);
        ws->valid = 0;
        if (grow16(&ws->prof_mem, &ws->prof, &ws->prof_cap, pneed) ||
            grow16(&ws->work_mem, &ws->work, &ws->work_cap, need))
            return TG_ERR_NOMEM;
        if (!same) {
            if ((size_t)n > ws->qcap) {
                tg_free(ws->q);
                ws->qcap = 0;
                ws->q = tg_malloc((size_t)n, "alignment workspace");
                if (!ws->q)
                    return TG_ERR_NOMEM;
                ws->qcap = (size_t)n;
            }
            memcpy(ws->q, q, (size_t)n);
            ws->qn = n;
            ws->matrix = (int)p->matrix;
            ws->impl = (int)impl;
        }
        build = same ? 0 : 2;
        prof = ws->prof;
        buf = ws->work;
    } else if (need + pneed > STACK_I16) {
        heap = tg_malloc((need + pneed) * sizeof(int16_t) + 64, "alignment matrix");
        if (!heap)
            return TG_ERR_NOMEM;
        prof = (int16_t *)(((uintptr_t)heap + 63) & ~(uintptr_t)63);
        buf = prof + pneed;
    }
    int16_t *e = buf, *zero = e + col, *H = zero + col;
    int16_t *colmax = H + col * (size_t)m;
    int *off = (int *)(((uintptr_t)(colmax + m) + 7) & ~(uintptr_t)7);
    for (int l = 0, i = 0; l < w; l++)
        for (int s = 0; s < seg && i < n; s++, i++)
            off[i] = s * w + l;
    int best = impl == ALN_IMPL_AVX2 ? fill_avx2(S, go, ge, q, n, t, m, seg, prof, e, zero, H, colmax, build)
                                     : fill_sse2(S, go, ge, q, n, t, m, seg, prof, e, zero, H, colmax, build);
    if (ws)
        ws->valid = 1;
    if (best >= 32767 - 128) { /* may have saturated: let the scalar path do it */
        tg_free(heap);
        return ALN_SIMD_DECLINED;
    }
    if (best > 0) {
        /* end cell: first maximum in query-major order */
        int bi = n, bj = m;
        for (int j = 0; j < m; j++) {
            if (colmax[j] != best)
                continue;
            for (int i = 0; i < bi; i++)
                if (hval(H, col, off, i, j) == best) {
                    bi = i;
                    bj = j;
                    break;
                }
        }
        int i = bi, j = bj, state = 0, g = 0, cols = 0, matches = 0;
        for (;;) {
            if (state == 0) {
                int h = hval(H, col, off, i, j);
                int dg = hval(H, col, off, i - 1, j - 1);
                if (dg + S[q[i]][t[j]] == h) {
                    cols++;
                    matches += q[i] == t[j];
                    if (i == 0 || j == 0 || dg == 0)
                        break;
                    i--;
                    j--;
                    continue;
                }
                /* E(i, j) == h? (horizontal gap ending here) */
                state = 2;
                for (int k = j - 1; k >= 0; k--) {
                    int v = hval(H, col, off, i, k) - go - (j - 1 - k) * ge;
                    if (v == h) {
                        state = 1;
                        break;
                    }
                    if (best - go - (j - 1 - k) * ge < h)
                        break;
                }
                g = h;
            } else if (state == 1) { /* consumes t[j] */
                cols++;
                if (hval(H, col, off, i, j - 1) - go == g)
                    state = 0;
                else
                    g += ge;
                j--;
            } else { /* consumes q[i] */
                cols++;
                if (hval(H, col, off, i - 1, j) - go == g)
                    state = 0;
                else
                    g += ge;
                i--;
            }
        }
        aln_set_result(out, best, cols, matches, i, bi, n, j, bj, m);
    }
    tg_free(heap);
    return TG_OK;
#endif
}
