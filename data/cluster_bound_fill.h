/* cluster_bound_fill: body of the identity-bound DP behind
 * cl_bound_identity, included by cluster_bound.c once per vector width.
 * Before including, define: BOUND_NAME (function name), V (vector type), W
 * (16-bit lanes), ATTR (function attributes), VSET1(x), VLOAD(p),
 * VSTORE(p, v), VADDS, VSUBS, VMAX, VCMPEQ, VCMPGT, VAND, VANDNOT(a, b)
 * (= ~a & b), VOR.
 *
 * One query a (la) against W targets at once, one target per lane: tc[j*W
 * + x] is lane x's code at position j (255 past its end). A diagonal cell
 * scores gm for equal codes and -gx otherwise; a gap column costs gx. A
 * path may start only at a cell (i, j) with i <= qs_max and j <= ts_max[x]
 * and counts only when it ends at i >= qe_min and te_min[x] <= j <=
 * last[x]. 16-bit saturating arithmetic: the caller keeps every true path
 * score within +-16000, and saturation at -32768 only raises a value, so
 * the result stays an upper bound. best[x] gets the largest counted path
 * score of lane x (-32768 if none). col: la vectors of aligned scratch. */
ATTR static void BOUND_NAME(const uint8_t *a, int la, const int16_t *tc, int maxlen,
                            const int16_t *ts_max, const int16_t *te_min, const int16_t *last,
                            int qs_max, int qe_min, int gm, int gx, int16_t *col, int16_t *best)
{
    const V neg = VSET1(-32768), vngx = VSET1(-gx), vgx = VSET1(gx), vsum = VSET1(gm + gx);
    const V vtsmax = VLOAD(ts_max), vtemin = VLOAD(te_min), vlast = VLOAD(last);
    int start_cols = 0, end_col = maxlen;
    for (int x = 0; x < W; x++) {
        if (ts_max[x] + 1 > start_cols)
            start_cols = ts_max[x] + 1;
        if (last[x] >= 0 && te_min[x] < end_col)
            end_col = te_min[x];
    }
    int ilo = qs_max + 1 < la ? qs_max + 1 : la; /* rows where a path may start: [0, ilo) */
    int ihi = qe_min > ilo ? qe_min : ilo;       /* rows where one may end: [ihi, la) */
    V vbest = neg;
    for (int i = 0; i < la; i++)
        VSTORE(col + (size_t)i * W, neg);
    for (int j = 0; j < maxlen; j++) {
        const V vj = VSET1(j);
        const V tj = VLOAD(tc + (size_t)j * W);
        /* 0 where a path may start / end in this column, -32768 elsewhere */
        const V startpen = VAND(VCMPGT(vj, vtsmax), neg);
        const V endpen = VAND(VOR(VCMPGT(vtemin, vj), VCMPGT(vj, vlast)), neg);
        V diag = neg, up = neg;
        int i = 0;
/* one cell: h = max(diag + s, max(left, up) - gap) */
#define CELL(EXTRA)                                                                                \
    do {                                                                                           \
        V *cell = (V *)(col + (size_t)i * W);                                                      \
        const V s = VADDS(vngx, VAND(VCMPEQ(tj, VSET1(a[i])), vsum));                              \
        const V left = VLOAD(cell);                                                                \
        V h = VMAX(VADDS(diag, s), VSUBS(VMAX(left, up), vgx));                                    \
        EXTRA;                                                                                     \
        diag = left;                                                                               \
        VSTORE(cell, h);                                                                           \
        up = h;                                                                                    \
    } while (0)
        const int starts = j < start_cols, ends = j >= end_col;
        if (starts || (ends && qe_min < ilo))
            for (; i < ilo; i++)
                CELL(if (starts) h = VMAX(h, VADDS(s, startpen));
                     if (ends && i >= qe_min) vbest = VMAX(vbest, VADDS(h, endpen)));
        for (; i < ihi; i++)
            CELL((void)0);
        if (ends)
            for (; i < la; i++)
                CELL(vbest = VMAX(vbest, VADDS(h, endpen)));
        else
            for (; i < la; i++)
                CELL((void)0);
#undef CELL
    }
    VSTORE(best, vbest);
}
