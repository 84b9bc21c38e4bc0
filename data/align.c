/* align: Smith-Waterman with affine gaps, traceback for identity/coverage. */
#include "align.h"
#include "align_simd.h"

#include "tg.h"

#include <string.h>

/* Code of each byte: ACDEFGHIKLMNPQRSTVWY -> 0..19 (either case), else 20 (X). */
const uint8_t aln_codes[256] = {
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20,  0, 20,  1,  2,  3,  4,  5,  6,  7, 20,  8,  9, 10, 11, 20,
    12, 13, 14, 15, 16, 20, 17, 18, 20, 19, 20, 20, 20, 20, 20, 20,
    20,  0, 20,  1,  2,  3,  4,  5,  6,  7, 20,  8,  9, 10, 11, 20,
    12, 13, 14, 15, 16, 20, 17, 18, 20, 19, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
};

static const char LETTERS[] = "ACDEFGHIKLMNPQRSTVWYX";

/* VTML40 as shipped by MMseqs2 (data/VTML40.out, bits/2), order ACDEFGHIKLMNPQRSTVWYX. */
static const int8_t VTML40[21][21] = {
    {6, -1, -4, -3, -6, -2, -5, -5, -4, -5, -4, -4, -3, -3, -5, 0, -1, -1, -7, -6, -1},
    {-1, 11, -10, -10, -9, -5, -5, -3, -9, -9, -3, -6, -7, -9, -5, -2, -3, -2, -12, -3, -1},
    {-4, -10, 8, 1, -12, -4, -3, -10, -3, -11, -7, 0, -4, -3, -8, -3, -4, -7, -9, -10, -1},
    {-3, -10, 1, 7, -11, -5, -4, -8, -1, -7, -6, -3, -4, 1, -7, -3, -4, -6, -12, -5, -1},
    {-6, -9, -12, -11, 8, -9, -3, -3, -10, -1, -1, -8, -7, -6, -8, -5, -6, -4, -1, 2, -1},
    {-2, -5, -4, -5, -9, 7, -5, -12, -5, -9, -8, -3, -6, -6, -5, -3, -6, -8, -7, -8, -1},
    {-5, -5, -3, -4, -3, -5, 10, -7, -3, -5, -8, -1, -4, 0, -2, -3, -4, -6, -4, 0, -1},
    {-5, -3, -10, -8, -3, -12, -7, 7, -7, 0, 0, -7, -8, -7, -7, -7, -3, 2, -4, -5, -1},
    {-4, -9, -3, -1, -10, -5, -3, -7, 7, -6, -4, -2, -4, 0, 2, -3, -3, -6, -7, -6, -1},
    {-5, -9, -11, -7, -1, -9, -5, 0, -6, 6, 1, -7, -5, -4, -6, -6, -5, -1, -4, -4, -1},
    {-4, -3, -7, -6, -1, -8, -8, 0, -4, 1, 9, -5, -8, -3, -4, -6, -3, -2, -9, -8, -1},
    {-4, -6, 0, -3, -8, -3, -1, -7, -2, -7, -5, 8, -6, -2, -3, -1, -2, -7, -8, -4, -1},
    {-3, -7, -4, -4, -7, -6, -4, -8, -4, -5, -8, -6, 8, -3, -5, -2, -4, -6, -7, -11, -1},
    {-3, -9, -3, 1, -6, -6, 0, -7, 0, -4, -3, -2, -3, 8, -1, -2, -3, -5, -11, -8, -1},
    {-5, -5, -8, -7, -8, -5, -2, -7, 2, -6, -4, -3, -5, -1, 8, -4, -4, -7, -6, -5, -1},
    {0, -2, -3, -3, -5, -3, -3, -7, -3, -6, -6, -1, -2, -2, -4, 7, 1, -6, -6, -4, -1},
    {-1, -3, -4, -4, -6, -6, -4, -3, -3, -5, -3, -2, -4, -3, -4, 1, 7, -2, -11, -6, -1},
    {-1, -2, -7, -6, -4, -8, -6, 2, -6, -1, -2, -7, -6, -5, -7, -6, -2, 6, -10, -6, -1},
    {-7, -12, -9, -12, -1, -7, -4, -4, -7, -4, -9, -8, -7, -11, -6, -6, -11, -10, 12, 0, -1},
    {-6, -3, -10, -5, 2, -8, 0, -5, -6, -4, -8, -4, -11, -8, -5, -4, -6, -6, 0, 9, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
};

/* BLOSUM62 (NCBI), order ACDEFGHIKLMNPQRSTVWYX. */
static const int8_t BLOSUM62[21][21] = {
    {4, 0, -2, -1, -2, 0, -2, -1, -1, -1, -1, -2, -1, -1, -1, 1, 0, 0, -3, -2, 0},
    {0, 9, -3, -4, -2, -3, -3, -1, -3, -1, -1, -3, -3, -3, -3, -1, -1, -1, -2, -2, -2},
    {-2, -3, 6, 2, -3, -1, -1, -3, -1, -4, -3, 1, -1, 0, -2, 0, -1, -3, -4, -3, -1},
    {-1, -4, 2, 5, -3, -2, 0, -3, 1, -3, -2, 0, -1, 2, 0, 0, -1, -2, -3, -2, -1},
    {-2, -2, -3, -3, 6, -3, -1, 0, -3, 0, 0, -3, -4, -3, -3, -2, -2, -1, 1, 3, -1},
    {0, -3, -1, -2, -3, 6, -2, -4, -2, -4, -3, 0, -2, -2, -2, 0, -2, -3, -2, -3, -1},
    {-2, -3, -1, 0, -1, -2, 8, -3, -1, -3, -2, 1, -2, 0, 0, -1, -2, -3, -2, 2, -1},
    {-1, -1, -3, -3, 0, -4, -3, 4, -3, 2, 1, -3, -3, -3, -3, -2, -1, 3, -3, -1, -1},
    {-1, -3, -1, 1, -3, -2, -1, -3, 5, -2, -1, 0, -1, 1, 2, 0, -1, -2, -3, -2, -1},
    {-1, -1, -4, -3, 0, -4, -3, 2, -2, 4, 2, -3, -3, -2, -2, -2, -1, 1, -2, -1, -1},
    {-1, -1, -3, -2, 0, -3, -2, 1, -1, 2, 5, -2, -2, 0, -1, -1, -1, 1, -1, -1, -1},
    {-2, -3, 1, 0, -3, 0, 1, -3, 0, -3, -2, 6, -2, 0, 0, 1, 0, -3, -4, -2, -1},
    {-1, -3, -1, -1, -4, -2, -2, -3, -1, -3, -2, -2, 7, -1, -2, -1, -1, -2, -4, -3, -2},
    {-1, -3, 0, 2, -3, -2, 0, -3, 1, -2, 0, 0, -1, 5, 1, 0, -1, -2, -2, -1, -1},
    {-1, -3, -2, 0, -3, -2, 0, -3, 2, -2, -1, 0, -2, 1, 5, -1, -1, -3, -3, -2, -1},
    {1, -1, 0, 0, -2, 0, -1, -2, 0, -2, -1, 1, -1, 0, -1, 4, 1, -2, -3, -2, 0},
    {0, -1, -1, -1, -2, -2, -2, -1, -1, -1, -1, 0, -1, -1, -1, 1, 5, 0, -2, -2, 0},
    {0, -1, -3, -2, -1, -3, -3, 3, -2, 1, 1, -3, -2, -2, -3, -2, 0, 4, -3, -1, -1},
    {-3, -2, -4, -3, 1, -2, -2, -3, -3, -2, -1, -4, -4, -2, -3, -3, -2, -3, 11, 2, -2},
    {-2, -2, -3, -2, 3, -3, 2, -1, -2, -1, -1, -2, -3, -1, -2, -2, -2, -1, 2, 7, -1},
    {0, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -1, -1, 0, 0, -1, -2, -1, -1},
};

void aln_params_default(aln_params *p)
{
    p->matrix = ALN_VTML40;
    p->gap_open = 16;
    p->gap_extend = 2;
}

uint8_t aln_code(unsigned char c) { return aln_codes[c]; }

void aln_encode(const char *s, int n, uint8_t *out)
{
    for (int i = 0; i < n; i++)
        out[i] = aln_codes[(unsigned char)s[i]];
}

const int8_t (*aln_matrix_rows(aln_matrix m))[21] { return m == ALN_BLOSUM62 ? BLOSUM62 : VTML40; }

int aln_score(aln_matrix m, int a, int b) { return aln_matrix_rows(m)[a][b]; }

char aln_letter(int c) { return c >= 0 && c < 21 ? LETTERS[c] : '?'; }

static void set_empty(aln_result *r)
{
    memset(r, 0, sizeof *r);
    r->qstart = r->qend = r->tstart = r->tend = -1;
}

/* Direction byte per cell: bits 0-1 H source (0 start, 1 diag, 2 E, 3 F);
 * bit 2: E opened here (else extended); bit 3: F opened here. */
enum { SRC_ZERO = 0, SRC_DIAG = 1, SRC_E = 2, SRC_F = 3, E_OPEN = 4, F_OPEN = 8 };

#define STACK_CELLS 16384
#define STACK_COLS 1024
#define NEG_INF (-(1 << 29))

int aln_align_codes(const aln_params *p, const uint8_t *q, int n, const uint8_t *t, int m,
                    aln_result *out)
{
    return aln_align_codes_impl(p, q, n, t, m, ALN_IMPL_AUTO, out);
}

static aln_impl auto_impl(int n)
{
    static int avx2 = -1; /* benign race: every thread computes the same value */
    if (avx2 < 0)
        avx2 = aln_simd_supported(ALN_IMPL_AVX2);
    if (avx2 && n >= 64)
        return ALN_IMPL_AVX2;
    return aln_simd_supported(ALN_IMPL_SSE2) ? ALN_IMPL_SSE2 : ALN_IMPL_SCALAR;
}

static int align_codes(const aln_params *p, const uint8_t *q, int n, const uint8_t *t, int m,
                       aln_impl impl, aln_ws *ws, aln_result *out);

int aln_align_codes_impl(const aln_params *p, const uint8_t *q, int n, const uint8_t *t, int m,
                         aln_impl impl, aln_result *out)
{
    return align_codes(p, q, n, t, m, impl, NULL, out);
}

int aln_align_codes_ws(const aln_params *p, const uint8_t *q, int n, const uint8_t *t, int m,
                       aln_ws *ws, aln_result *out)
{
    return align_codes(p, q, n, t, m, ALN_IMPL_AUTO, ws, out);
}

static int align_codes(const aln_params *p, const uint8_t *q, int n, const uint8_t *t, int m,
                       aln_impl impl, aln_ws *ws, aln_result *out)
{
    if (!p || !out || n < 0 || m < 0 || (n && !q) || (m && !t))
        return tg_error(TG_ERR_ARG, "aln_align: NULL sequence or negative length");
    if (p->gap_open < 0 || p->gap_extend < 0)
        return tg_error(TG_ERR_ARG, "aln_align: negative gap cost (open %d, extend %d)",
                        p->gap_open, p->gap_extend);
    if (!aln_simd_supported(impl))
        return tg_error(TG_ERR_ARG, "aln_align: implementation %d not available on this CPU", (int)impl);
    const int8_t(*S)[21] = aln_matrix_rows(p->matrix);
    set_empty(out);
    if (n == m && (n == 0 || !memcmp(q, t, (size_t)n))) {
        int sc = 0;
        for (int i = 0; i < n; i++)
            sc += S[q[i]][q[i]];
        out->score = sc;
        out->aln_len = out->matches = n;
        out->identity = out->qcov = out->tcov = 1.0;
        if (n) {
            out->qstart = out->tstart = 0;
            out->qend = out->tend = n - 1;
        }
        return TG_OK;
    }
    if (n == 0 || m == 0)
        return TG_OK;
    if ((unsigned long long)n * (unsigned long long)m > ALN_MAX_CELLS)
        return tg_error(TG_ERR_ARG, "aln_align: %d x %d residues need %llu alignment cells, more "
                        "than the limit of %llu (ALN_MAX_CELLS)", n, m,
                        (unsigned long long)n * (unsigned long long)m, ALN_MAX_CELLS);
    if (impl == ALN_IMPL_AUTO)
        impl = auto_impl(n);
    if (impl != ALN_IMPL_SCALAR) {
        int rc = aln_simd_align(p, q, n, t, m, impl, ws, out);
        if (rc != ALN_SIMD_DECLINED)
            return rc;
    }

    size_t cells = (size_t)n * (size_t)m;
    uint8_t dstack[STACK_CELLS];
    int hstack[STACK_COLS + 1], estack[STACK_COLS + 1];
    uint8_t *dir = dstack;
    int *H = hstack, *E = estack;
    void *heap = NULL;
    if (cells > STACK_CELLS || m > STACK_COLS) {
        heap = tg_malloc(cells + 2 * sizeof(int) * ((size_t)m + 1), "alignment matrix");
        if (!heap)
            return TG_ERR_NOMEM;
        H = (int *)heap;
        E = H + m + 1;
        dir = (uint8_t *)(E + m + 1);
    }
    const int go = p->gap_open, ge = p->gap_extend;
    for (int j = 0; j <= m; j++) {
        H[j] = 0;
        E[j] = NEG_INF; /* here E[j] holds the vertical gap state F of column j */
    }
    /* Row sweep over the query: H[j] = H(i-1, j) before update. Vertical gaps
     * (consume query) live in E[] per column, horizontal gaps in a scalar. */
    int best = 0, bi = -1, bj = -1;
    for (int i = 0; i < n; i++) {
        const int8_t *row = S[q[i]];
        uint8_t *d = dir + (size_t)i * m;
        int diag = 0;      /* H(i-1, j-1) */
        int left = 0;      /* H(i, j-1) */
        int hgap = NEG_INF; /* horizontal gap state at (i, j-1) */
        for (int j = 0; j < m; j++) {
            uint8_t bits = 0;
            /* horizontal gap (E: consumes target) */
            int eo = left - go, ee = hgap - ge;
            int e = eo >= ee ? (bits |= E_OPEN, eo) : ee;
            /* vertical gap (F: consumes query) */
            int up = H[j + 1];
            int fo = up - go, fe = E[j + 1] - ge;
            int f = fo >= fe ? (bits |= F_OPEN, fo) : fe;
            int h = diag + row[t[j]];
            int src = SRC_DIAG;
            if (e > h) {
                h = e;
                src = SRC_E;
            }
            if (f > h) {
                h = f;
                src = SRC_F;
            }
            if (h <= 0) {
                h = 0;
                src = SRC_ZERO;
            }
            d[j] = (uint8_t)(bits | src);
            diag = up;
            H[j + 1] = h;
            E[j + 1] = f;
            hgap = e;
            left = h;
            if (h > best) {
                best = h;
                bi = i;
                bj = j;
            }
        }
    }
    if (best > 0) {
        int i = bi, j = bj, state = 0, cols = 0, matches = 0;
        for (;;) {
            uint8_t b = dir[(size_t)i * m + j];
            if (state == 0) {
                int src = b & 3;
                if (src == SRC_DIAG) {
                    cols++;
                    matches += q[i] == t[j];
                    if (i == 0 || j == 0 || (dir[(size_t)(i - 1) * m + (j - 1)] & 3) == SRC_ZERO) {
                        break;
                    }
                    i--;
                    j--;
                } else if (src == SRC_E) {
                    state = 1;
                } else if (src == SRC_F) {
                    state = 2;
                } else {
                    break; /* unreachable: end and inner cells have H > 0 */
                }
            } else if (state == 1) { /* horizontal gap at (i, j): consumes t[j] */
                cols++;
                state = (b & E_OPEN) ? 0 : 1;
                j--;
            } else { /* vertical gap: consumes q[i] */
                cols++;
                state = (b & F_OPEN) ? 0 : 2;
                i--;
            }
        }
        aln_set_result(out, best, cols, matches, i, bi, n, j, bj, m);
    }
    tg_free(heap);
    return TG_OK;
}

void aln_set_result(aln_result *out, int score, int cols, int matches, int qs, int qe, int n, int ts,
                    int te, int m)
{
    out->score = score;
    out->aln_len = cols;
    out->matches = matches;
    out->identity = (double)matches / cols;
    out->qstart = qs;
    out->qend = qe;
    out->tstart = ts;
    out->tend = te;
    out->qcov = (double)(qe - qs + 1) / n;
    out->tcov = (double)(te - ts + 1) / m;
}

int aln_align(const aln_params *p, const char *q, int qlen, const char *t, int tlen,
              aln_result *out)
{
    if (qlen < 0 || tlen < 0 || (qlen && !q) || (tlen && !t))
        return tg_error(TG_ERR_ARG, "aln_align: NULL sequence or negative length");
    uint8_t qs[512], ts[512];
    uint8_t *qc = qs, *tc = ts;
    void *heap = NULL;
    if (qlen > 512 || tlen > 512) {
        heap = tg_malloc((size_t)qlen + (size_t)tlen + 1, "alignment sequences");
        if (!heap)
            return TG_ERR_NOMEM;
        qc = heap;
        tc = qc + qlen;
    }
    aln_encode(q, qlen, qc);
    aln_encode(t, tlen, tc);
    int rc = aln_align_codes(p, qc, qlen, tc, tlen, out);
    tg_free(heap);
    return rc;
}

int aln_passes(const aln_result *r, double min_seq_id, double c, int cov_mode)
{
    const double eps = 1e-9;
    if (r->identity + eps < min_seq_id)
        return 0;
    switch (cov_mode) {
    case 1:
        return r->tcov + eps >= c;
    case 2:
        return r->qcov + eps >= c;
    default:
        return r->qcov + eps >= c && r->tcov + eps >= c;
    }
}

void aln_swap(aln_result *r)
{
    double c = r->qcov;
    r->qcov = r->tcov;
    r->tcov = c;
    int a = r->qstart, b = r->qend;
    r->qstart = r->tstart;
    r->qend = r->tend;
    r->tstart = a;
    r->tend = b;
}
