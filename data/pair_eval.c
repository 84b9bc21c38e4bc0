/* Biopython-exact global alignment (pairwise2.align.globalds semantics),
 * identity, and the per-region projection. */
#include "pair_eval.h"

#include "align.h"
#include "rd_text.h"
#include "tg.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One pending traceback branch (pairwise2's in_process entries): the
 * alignment rows built so far (reversed; len bytes each at pool offset
 * off), the cell, whether the last step was a gap in the generated chain,
 * and the trace flags still to try. */
typedef struct pe_frame {
    size_t off;
    int len, row, col, col_gap, trace;
} pe_frame;

/* Trace flags, as pairwise2 encodes them. */
enum { T_ROW_OPEN = 1, T_DIAG = 2, T_COL_OPEN = 4, T_ROW_EXT = 8, T_COL_EXT = 16 };

void pe_ws_free(pe_ws *ws)
{
    if (!ws)
        return;
    tg_free(ws->S);
    tg_free(ws->T);
    tg_free(ws->a);
    tg_free(ws->b);
    tg_free(ws->ca);
    tg_free(ws->cb);
    tg_free(ws->codes);
    tg_free(ws->stack);
    tg_free(ws->pool);
    tg_free(ws->col);
    memset(ws, 0, sizeof *ws);
}

void pe_err_set(pe_err *e, int st)
{
#pragma omp critical(pe_err)
    if (!e->st) {
        e->st = st;
        snprintf(e->msg, sizeof e->msg, "%s", tg_last_error());
    }
}

int pe_err_return(const pe_err *e) { return e->st ? tg_error(e->st, "%s", e->msg) : TG_OK; }

int pe_clean(const char *s, int n, char *out)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c && strchr("ACDEFGHIKLMNPQRSTVWY", c))
            out[m++] = c;
    }
    out[m] = '\0';
    return m;
}

/* Cost of a gap of length L (pairwise2's calc_affine_penalty). */
static int gap_cost(int L, int open)
{
    return L <= 0 ? 0 : open + PE_GAP_EXTEND * (L - 1);
}

static int clean_inputs(pe_ws *ws, const char *t, int tn, const char *g, int gn, int *la,
                        int *lb)
{
    if (tn < 0 || gn < 0 || (tn && !t) || (gn && !g))
        return tg_error(TG_ERR_ARG, "pe_align: bad arguments");
    if (rd_grow(&ws->ca, &ws->ca_cap, (size_t)tn + 1, 1, "alignment input") ||
        rd_grow(&ws->cb, &ws->cb_cap, (size_t)gn + 1, 1, "alignment input"))
        return TG_ERR_NOMEM;
    *la = pe_clean(t, tn, ws->ca);
    *lb = pe_clean(g, gn, ws->cb);
    if (*la > PE_MAX_LEN || *lb > PE_MAX_LEN)
        return tg_error(TG_ERR_ARG, "pe_align: a chain of %d residues, more than %d",
                        *la > *lb ? *la : *lb, PE_MAX_LEN);
    return TG_OK;
}

/* Fills S and T as pairwise2's _make_score_matrix_fast does with
 * penalize_end_gaps on both sides (integer scores, so its rint()
 * comparisons are exact comparisons). */
static void fill(pe_ws *ws, const uint8_t *A, int la, const uint8_t *B, int lb, int with_trace)
{
    const int open = PE_GAP_OPEN, ext = PE_GAP_EXTEND;
    size_t w = (size_t)lb + 1;
    int32_t *S = ws->S, *colc = ws->col;
    uint8_t *T = ws->T;
    for (int i = 0; i <= la; i++)
        S[(size_t)i * w] = gap_cost(i, open);
    for (int j = 0; j <= lb; j++) {
        S[j] = gap_cost(j, open);
        colc[j] = gap_cost(j, 2 * open);
    }
    for (int r = 1; r <= la; r++) {
        int rowc = gap_cost(r, 2 * open);
        int32_t *Sr = S + (size_t)r * w, *Sp = S + (size_t)(r - 1) * w;
        for (int c = 1; c <= lb; c++) {
            int nogap = Sp[c - 1] + aln_score(ALN_BLOSUM62, A[r - 1], B[c - 1]);
            int row_open = Sr[c - 1] + open, row_ext = rowc + ext;
            rowc = row_open > row_ext ? row_open : row_ext;
            int col_open = Sp[c] + open, col_ext = colc[c] + ext;
            colc[c] = col_open > col_ext ? col_open : col_ext;
            int best = rowc > colc[c] ? rowc : colc[c];
            if (nogap > best)
                best = nogap;
            Sr[c] = best;
            if (with_trace) {
                int rt = (row_open == rowc ? T_ROW_OPEN : 0) | (row_ext == rowc ? T_ROW_EXT : 0);
                int ct = (col_open == colc[c] ? T_COL_OPEN : 0) |
                         (col_ext == colc[c] ? T_COL_EXT : 0);
                int t = nogap == best ? T_DIAG : 0;
                if (rowc == best)
                    t += rt;
                if (colc[c] == best)
                    t += ct;
                T[(size_t)r * w + c] = (uint8_t)t;
            }
        }
    }
}

/* The matrices as the traceback sees them: transposed (pairwise2's
 * _reverse_matrices: rows and columns swapped, flags 1<->4 and 8<->16) when
 * tr is set. */
typedef struct {
    const int32_t *S;
    const uint8_t *T;
    size_t w; /* row stride of the stored matrices (lb + 1) */
    int tr;
} view;

static int v_S(const view *v, int r, int c)
{
    return v->tr ? v->S[(size_t)c * v->w + r] : v->S[(size_t)r * v->w + c];
}

/* Trace flags of an interior cell; 0 on the borders (pairwise2: None). */
static int v_T(const view *v, int r, int c)
{
    if (!r || !c)
        return 0;
    int t = v->tr ? v->T[(size_t)c * v->w + r] : v->T[(size_t)r * v->w + c];
    if (v->tr)
        t = (t & T_DIAG) | (t & 1 ? 4 : 0) | (t & 4 ? 1 : 0) | (t & 8 ? 16 : 0) |
            (t & 16 ? 8 : 0);
    return t;
}

static int push(pe_ws *ws, int len, int row, int col, int col_gap, int trace)
{
    if (rd_grow(&ws->stack, &ws->stack_cap, ws->stack_n + 1, sizeof *ws->stack, "traceback"))
        return TG_ERR_NOMEM;
    if (rd_grow(&ws->pool, &ws->pool_cap, ws->pool_n + 2 * (size_t)len + 1, 1, "traceback"))
        return TG_ERR_NOMEM;
    pe_frame *f = &ws->stack[ws->stack_n++];
    f->off = ws->pool_n;
    memcpy(ws->pool + ws->pool_n, ws->a, (size_t)len);
    memcpy(ws->pool + ws->pool_n + len, ws->b, (size_t)len);
    ws->pool_n += 2 * (size_t)len;
    f->len = len;
    f->row = row;
    f->col = col;
    f->col_gap = col_gap;
    f->trace = trace;
    return TG_OK;
}

/* pairwise2's _recover_alignments up to its first complete alignment, for
 * sequences x (rows) and y (columns). On success *found = 1 and ws->a,
 * ws->b hold the rows (reversed), *len their length. */
static int traceback(pe_ws *ws, const char *x, int lx, const char *y, int ly, const view *v,
                     int *found, int *len)
{
    const int open = PE_GAP_OPEN;
    char *A = ws->a, *B = ws->b;
    int n = 0;
    *found = 0;
    ws->stack_n = ws->pool_n = 0;
    int st = push(ws, 0, lx, ly, 0, v_T(v, lx, ly));
    while (!st && ws->stack_n) {
        pe_frame f = ws->stack[--ws->stack_n];
        memcpy(A, ws->pool + f.off, (size_t)f.len);
        memcpy(B, ws->pool + f.off + f.len, (size_t)f.len);
        ws->pool_n = f.off;
        n = f.len;
        int row = f.row, col = f.col, col_gap = f.col_gap, trace = f.trace, dead = 0;
        while ((row > 0 || col > 0) && !dead) {
            int c_len = n, c_row = row, c_col = col, c_gap = col_gap;
            if (!trace) {
                if (col && col_gap) {
                    dead = 1;
                } else { /* _finish_backtrace: the rest against gaps */
                    for (int i = row - 1; i >= 0; i--) {
                        A[n] = x[i];
                        B[n++] = '-';
                    }
                    for (int j = col - 1; j >= 0; j--) {
                        B[n] = y[j];
                        A[n++] = '-';
                    }
                }
                break;
            } else if (trace & T_ROW_OPEN) {
                trace -= T_ROW_OPEN;
                if (col_gap) {
                    dead = 1;
                } else {
                    col--;
                    A[n] = '-';
                    B[n++] = y[col];
                }
            } else if (trace & T_DIAG) {
                trace -= T_DIAG;
                row--;
                col--;
                A[n] = x[row];
                B[n++] = y[col];
                col_gap = 0;
            } else if (trace & T_COL_OPEN) {
                trace -= T_COL_OPEN;
                row--;
                A[n] = x[row];
                B[n++] = '-';
                col_gap = 1;
            } else if (trace == T_ROW_EXT || trace == T_ROW_EXT + T_COL_EXT ||
                       trace == T_COL_EXT) {
                /* an extended gap: walk to every cell where it could have
                 * been opened (length >= 2), queueing each, to the border */
                int dir_col = trace & T_ROW_EXT;
                trace -= dir_col ? T_ROW_EXT : T_COL_EXT;
                if (dir_col && col_gap) {
                    dead = 1;
                } else {
                    col_gap = !dir_col;
                    int target = v_S(v, row, col), steps = dir_col ? col : row;
                    for (int k = 0; k < steps && !st; k++) {
                        if (dir_col) {
                            col--;
                            A[n] = '-';
                            B[n++] = y[col];
                        } else {
                            row--;
                            A[n] = x[row];
                            B[n++] = '-';
                        }
                        int actual = v_S(v, row, col) + gap_cost(k + 1, open);
                        if (actual == target && k > 0) {
                            if (!v_T(v, row, col))
                                break;
                            st = push(ws, n, row, col, col_gap, v_T(v, row, col));
                        }
                        if (!v_T(v, row, col))
                            dead = 1;
                    }
                }
            } else {
                return tg_error(TG_ERR_ARG, "pe_align: bad trace flags %d", trace);
            }
            if (trace && !st) /* the cell's other flags, rows as before the step */
                st = push(ws, c_len, c_row, c_col, c_gap, trace);
            if (st)
                break;
            trace = v_T(v, row, col);
        }
        if (st)
            return st;
        if (!dead) {
            *found = 1;
            *len = n;
            return TG_OK;
        }
    }
    return st;
}

static void reverse(char *s, int n)
{
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        char t = s[i];
        s[i] = s[j];
        s[j] = t;
    }
}

static void set_identity(pe_result *r)
{
    int m = r->len_true > r->len_gen ? r->len_true : r->len_gen;
    r->identity = m ? 100.0 * r->matches / m : 0.0;
}

/* Both chains empty or one empty: the all-gap alignment. */
static void all_gaps(pe_ws *ws, int la, int lb, pe_result *out, int rows)
{
    out->score = gap_cost(la + lb, PE_GAP_OPEN);
    out->matches = 0;
    out->aln_len = la + lb;
    if (rows) {
        for (int i = 0; i < la; i++) {
            ws->a[i] = ws->ca[i];
            ws->b[i] = '-';
        }
        for (int j = 0; j < lb; j++) {
            ws->a[j] = '-';
            ws->b[j] = ws->cb[j];
        }
        ws->a[la + lb] = ws->b[la + lb] = '\0';
        out->aln_true = ws->a;
        out->aln_gen = ws->b;
    }
}

static int prepare(pe_ws *ws, const char *t, int tn, const char *g, int gn, int trace,
                   pe_result *out, int *la, int *lb)
{
    memset(out, 0, sizeof *out);
    int st = clean_inputs(ws, t, tn, g, gn, la, lb);
    if (st)
        return st;
    out->len_true = *la;
    out->len_gen = *lb;
    size_t rows = (size_t)*la + (size_t)*lb + 1;
    size_t cells = trace ? ((size_t)*la + 1) * ((size_t)*lb + 1) : 2 * ((size_t)*lb + 1);
    if (rd_grow(&ws->a, &ws->a_cap, rows, 1, "alignment row") ||
        rd_grow(&ws->b, &ws->b_cap, rows, 1, "alignment row") ||
        rd_grow(&ws->codes, &ws->codes_cap, rows, 1, "alignment codes") ||
        rd_grow(&ws->col, &ws->col_cap, (size_t)*lb + 1, sizeof *ws->col, "alignment") ||
        rd_grow(&ws->S, &ws->S_cap, cells, sizeof *ws->S, "alignment matrix") ||
        (trace && rd_grow(&ws->T, &ws->T_cap, cells, 1, "alignment matrix")))
        return TG_ERR_NOMEM;
    return TG_OK;
}

int pe_align(pe_ws *ws, const char *t, int tn, const char *g, int gn, pe_result *out)
{
    int la, lb;
    int st = prepare(ws, t, tn, g, gn, 1, out, &la, &lb);
    if (st)
        return st;
    if (!la || !lb) {
        all_gaps(ws, la, lb, out, 1);
        set_identity(out);
        return TG_OK;
    }
    aln_encode(ws->ca, la, ws->codes);
    aln_encode(ws->cb, lb, ws->codes + la);
    fill(ws, ws->codes, la, ws->codes + la, lb, 1);
    view v = {ws->S, ws->T, (size_t)lb + 1, 0};
    out->score = ws->S[(size_t)la * ((size_t)lb + 1) + (size_t)lb];
    int found, n = 0;
    st = traceback(ws, ws->ca, la, ws->cb, lb, &v, &found, &n);
    if (!st && !found) { /* pairwise2's fallback: the transposed matrices */
        v.tr = 1;
        st = traceback(ws, ws->cb, lb, ws->ca, la, &v, &found, &n);
        if (!st && found) { /* rows come back swapped */
            char *tmp = ws->a;
            ws->a = ws->b;
            ws->b = tmp;
            size_t c = ws->a_cap;
            ws->a_cap = ws->b_cap;
            ws->b_cap = c;
        }
    }
    if (st)
        return st;
    if (!found)
        return tg_error(TG_ERR_ARG, "pe_align: no alignment recovered");
    reverse(ws->a, n);
    reverse(ws->b, n);
    ws->a[n] = ws->b[n] = '\0';
    for (int i = 0; i < n; i++)
        out->matches += ws->a[i] == ws->b[i] && ws->a[i] != '-';
    out->aln_true = ws->a;
    out->aln_gen = ws->b;
    out->aln_len = n;
    set_identity(out);
    return TG_OK;
}

int pe_score(pe_ws *ws, const char *t, int tn, const char *g, int gn, pe_result *out)
{
    int la, lb;
    int st = prepare(ws, t, tn, g, gn, 0, out, &la, &lb);
    if (st)
        return st;
    if (!la || !lb) {
        all_gaps(ws, la, lb, out, 0);
        return TG_OK;
    }
    /* the same recurrence on two rows */
    const int open = PE_GAP_OPEN, ext = PE_GAP_EXTEND;
    int32_t *prev = ws->S, *cur = ws->S + lb + 1, *colc = ws->col;
    uint8_t *B = ws->codes;
    aln_encode(ws->cb, lb, B);
    for (int j = 0; j <= lb; j++) {
        prev[j] = gap_cost(j, open);
        colc[j] = gap_cost(j, 2 * open);
    }
    for (int r = 1; r <= la; r++) {
        uint8_t ar = aln_code((unsigned char)ws->ca[r - 1]);
        int rowc = gap_cost(r, 2 * open);
        cur[0] = gap_cost(r, open);
        for (int c = 1; c <= lb; c++) {
            int nogap = prev[c - 1] + aln_score(ALN_BLOSUM62, ar, B[c - 1]);
            int row_open = cur[c - 1] + open, row_ext = rowc + ext;
            rowc = row_open > row_ext ? row_open : row_ext;
            int col_open = prev[c] + open, col_ext = colc[c] + ext;
            colc[c] = col_open > col_ext ? col_open : col_ext;
            int best = rowc > colc[c] ? rowc : colc[c];
            cur[c] = nogap > best ? nogap : best;
        }
        int32_t *t2 = prev;
        prev = cur;
        cur = t2;
    }
    out->score = prev[lb];
    return TG_OK;
}

/* ---- regions -------------------------------------------------------------- */

int pe_true_regions(const pr_pair *p, char *reg[PR_N_REGIONS])
{
    int have6 = 1;
    for (int k = 0; k < PR_N_REGIONS - 1; k++)
        have6 &= p->region[k] != NULL;
    if (!have6)
        return 0;
    char *light = tg_malloc((size_t)p->light_len + 1, "regions");
    if (!light)
        return 0;
    int ln = pe_clean(p->light, p->light_len, light), pos = 0, ok = 1;
    for (int k = 0; k < PR_N_REGIONS - 1 && ok; k++) {
        int rn = (int)strlen(p->region[k]);
        if (rn > p->light_len) {
            ok = 0;
            break;
        }
        int m = pe_clean(p->region[k], rn, reg[k]);
        ok = pos + m <= ln && !memcmp(light + pos, reg[k], (size_t)m);
        pos += m;
    }
    if (ok) {
        if (p->region[6] && p->region[6][0]) {
            int rn = (int)strlen(p->region[6]);
            int m = rn <= p->light_len ? pe_clean(p->region[6], rn, reg[6]) : -1;
            ok = m >= 0 && pos + m == ln && !memcmp(light + pos, reg[6], (size_t)m);
        } else { /* no fwr4 column (or cell): the rest of the chain */
            memcpy(reg[6], light + pos, (size_t)(ln - pos));
            reg[6][ln - pos] = '\0';
        }
    }
    tg_free(light);
    return ok;
}

int pe_align_regions(pe_ws *ws2, const pr_pair *p, const pe_result *full, pe_regions *out)
{
    memset(out, 0, sizeof *out);
    size_t need = (size_t)p->light_len + 1;
    char *buf = tg_malloc(need * PR_N_REGIONS + (size_t)full->aln_len + 1, "regions");
    if (!buf)
        return TG_ERR_NOMEM;
    char *reg[PR_N_REGIONS];
    for (int k = 0; k < PR_N_REGIONS; k++)
        reg[k] = buf + need * (size_t)k;
    char *gen = buf + need * PR_N_REGIONS;
    int st = TG_OK;
    if (!pe_true_regions(p, reg) || !full->aln_true) {
        tg_free(buf);
        return TG_OK;
    }
    /* region of each column: that of the true residue, or of the next one */
    int end[PR_N_REGIONS], acc = 0;
    for (int k = 0; k < PR_N_REGIONS; k++) {
        acc += (int)strlen(reg[k]);
        end[k] = acc; /* true residues of regions <= k */
    }
    int tpos = 0, gpos = 0;
    for (int k = 0; k < PR_N_REGIONS; k++)
        out->gen_start[k] = out->gen_end[k] = -1;
    for (int i = 0; i < full->aln_len; i++) {
        int k = 0;
        while (k < PR_N_REGIONS - 1 && tpos >= end[k])
            k++;
        if (full->aln_gen[i] != '-') {
            if (out->gen_start[k] < 0)
                out->gen_start[k] = gpos;
            out->gen_end[k] = gpos + 1;
            gen[gpos++] = full->aln_gen[i];
        }
        if (full->aln_true[i] != '-')
            tpos++;
    }
    for (int k = 0; k < PR_N_REGIONS && !st; k++) {
        if (out->gen_start[k] < 0)
            out->gen_start[k] = out->gen_end[k] = k ? out->gen_end[k - 1] : 0;
        if (out->gen_start[k] < 0)
            out->gen_start[k] = out->gen_end[k] = 0;
        int gs = out->gen_start[k], gl = out->gen_end[k] - gs;
        st = pe_align(ws2, reg[k], (int)strlen(reg[k]), gen + gs, gl, &out->r[k]);
        out->r[k].aln_true = out->r[k].aln_gen = NULL;
    }
    tg_free(buf);
    out->ok = !st;
    return st;
}
