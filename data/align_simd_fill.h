/* align_simd_fill: body of the striped (Farrar) Smith-Waterman fill, included
 * by align_simd.c once per vector width. Before including, define:
 *   FILL_NAME  function name          V        vector type
 *   W          16-bit lanes           ATTR     function attributes
 *   VSET1(x) VLOAD(p) VSTORE(p, v) VADDS VSUBS VMAX VOR VSHL1(v) VANYGT(a, b)
 * VSHL1 moves every lane one up (lane 0 becomes 0); VANYGT(a, b) is nonzero
 * if some lane of a is greater than that of b.
 *
 * Fills H (striped: cell (i, j) at H[j*seg*W + (i % seg)*W + i / seg]) with
 * the exact Smith-Waterman H values of query q (n) against target t (m), and
 * colmax[j] with the largest H of column j. Needs go >= ge; values are exact
 * while every H stays below 32767 - (largest matrix score) (the caller checks
 * the returned maximum). build: 0 prof already holds q's profile, 1 build
 * the rows of the codes in t, 2 build all rows. Scratch: prof 21*seg*W,
 * e seg*W, zero seg*W int16,
 * all aligned to the vector size. Returns the largest H. */
ATTR static int FILL_NAME(const int8_t (*S)[21], int go, int ge, const uint8_t *q, int n,
                          const uint8_t *t, int m, int seg, int16_t *prof, int16_t *e,
                          int16_t *zero, int16_t *H, int16_t *colmax, int build)
{
    /* profile rows of the codes present in t: prof[c][s][l] =
     * S[q[l*seg + s]][c], padding rows -1024 */
    size_t col = (size_t)seg * W;
    uint32_t present = build == 2 ? ~0u : 0;
    for (int j = 0; build == 1 && j < m; j++)
        present |= 1u << t[j];
    uint8_t *qs = (uint8_t *)e; /* e is filled below; col <= its size in bytes */
    for (int l = 0, i = 0; l < W; l++)
        for (int s = 0; s < seg; s++, i++)
            qs[(size_t)s * W + l] = (uint8_t)(i < n ? q[i] : 255);
    for (int c = 0; build && c < ALN_ALPHABET; c++) {
        if (!(present >> c & 1))
            continue;
        int16_t *p = prof + (size_t)c * col;
        for (size_t x = 0; x < col; x++)
            p[x] = (int16_t)(qs[x] != 255 ? S[qs[x]][c] : -1024);
    }
    const V vgo = VSET1(go), vge = VSET1(ge), vzero = VSET1(0), vneg = VSET1(-32768);
    V lane0neg = vzero;
    {
        int16_t tmp[W] __attribute__((aligned(64)));
        for (int l = 0; l < W; l++)
            tmp[l] = l ? 0 : -32768;
        lane0neg = VLOAD(tmp);
    }
    for (int s = 0; s < seg; s++) {
        VSTORE(e + (size_t)s * W, vneg);
        VSTORE(zero + (size_t)s * W, vzero);
    }
    int best = 0;
    const int16_t *hp = zero;
    for (int j = 0; j < m; j++) {
        int16_t *hc = H + (size_t)j * seg * W;
        const int16_t *pr = prof + (size_t)t[j] * seg * W;
        V vf = vneg, vmax = vzero;
        V vh = VSHL1(VLOAD(hp + (size_t)(seg - 1) * W));
        for (int s = 0; s < seg; s++) {
            vh = VADDS(vh, VLOAD(pr + (size_t)s * W));
            V ve = VLOAD(e + (size_t)s * W);
            vh = VMAX(vh, ve);
            vh = VMAX(vh, vf);
            vh = VMAX(vh, vzero);
            VSTORE(hc + (size_t)s * W, vh);
            vmax = VMAX(vmax, vh);
            V vhgo = VSUBS(vh, vgo);
            VSTORE(e + (size_t)s * W, VMAX(VSUBS(ve, vge), vhgo));
            vf = VMAX(VSUBS(vf, vge), vhgo);
            vh = VLOAD(hp + (size_t)s * W);
        }
        /* lazy F: carry vertical gaps across lane boundaries. vf holds, per
         * lane, the gap value not yet applied at segment s; stop once it is
         * dominated by what the main loop already applied (H(s) - go). */
        vf = VOR(VSHL1(vf), lane0neg);
        for (int k = 0, s = 0; k < W;) {
            V hold = VLOAD(hc + (size_t)s * W);
            V hnew = VMAX(hold, vf);
            VSTORE(hc + (size_t)s * W, hnew);
            vmax = VMAX(vmax, hnew);
            V ev = VLOAD(e + (size_t)s * W);
            VSTORE(e + (size_t)s * W, VMAX(ev, VSUBS(hnew, vgo)));
            vf = VSUBS(vf, vge);
            if (!VANYGT(vf, VSUBS(hold, vgo)))
                break;
            if (++s == seg) {
                s = 0;
                k++;
                vf = VOR(VSHL1(vf), lane0neg);
            }
        }
        int16_t mx[W] __attribute__((aligned(64)));
        VSTORE(mx, vmax);
        int cm = 0;
        for (int l = 0; l < W; l++)
            cm = mx[l] > cm ? mx[l] : cm;
        colmax[j] = (int16_t)cm;
        best = cm > best ? cm : best;
        hp = hc;
    }
    return best;
}
