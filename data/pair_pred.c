/* Predictions files for the heavy-to-light evaluation (pair_eval.h). */
#include "pair_eval.h"

#include "rd_text.h"
#include "strmap.h"
#include "tg.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Stores chain s[0..n) (id `id`) for the pair it names, as the header
 * describes. Returns a status. */
static int take(pe_predictions *p, const sm_map *ids, const char *id, const char *s, size_t n)
{
    uint32_t k;
    size_t il = strlen(id);
    int found = sm_get(ids, id, (int)il, &k);
    if (!found) {
        const char *u = strrchr(id, '_');
        int digits = u && u[1];
        for (const char *q = u ? u + 1 : NULL; digits && *q; q++)
            digits = isdigit((unsigned char)*q);
        if (digits)
            found = sm_get(ids, id, (int)(u - id), &k);
    }
    p->read++;
    if (!found) {
        if (!p->unmatched++)
            snprintf(p->first_unmatched, sizeof p->first_unmatched, "%s", id);
        return TG_OK;
    }
    if (p->chain[k]) {
        p->extra++;
        return TG_OK;
    }
    p->chain[k] = tg_malloc(n + 1, "predictions");
    if (!p->chain[k])
        return TG_ERR_NOMEM;
    memcpy(p->chain[k], s, n);
    p->chain[k][n] = '\0';
    p->matched++;
    return TG_OK;
}

static int read_fasta(const char *path, const sm_map *ids, pe_predictions *p)
{
    rd_opts o;
    rd_opts_default(&o);
    o.format = RD_FMT_FASTA;
    o.chain = RD_CHAIN_ANY;
    rd_reader *r;
    int st = rd_open(&r, path, &o);
    if (st)
        return st;
    rd_record rec;
    while ((st = rd_next(r, &rec)) == 1)
        if ((st = take(p, ids, rec.id, rec.seq, (size_t)rec.len)))
            break;
    /* empty records are dropped by the reader: still a prediction (an empty chain) */
    rd_close(r);
    return st < 0 ? st : TG_OK;
}

static int find(const rd_row *h, const char *const *names)
{
    for (int n = 0; names[n]; n++)
        for (int i = 0; i < h->n; i++)
            if (!strcmp(rd_cell(h, i), names[n]))
                return i;
    return -1;
}

static int read_table(const char *path, char delim, const sm_map *ids, pe_predictions *p)
{
    rd_src src;
    rd_row row = {0};
    int st = rd_src_open(&src, path);
    if (st)
        return st;
    st = rd_row_read(&src, delim, delim == ',', &row);
    if (st == 0)
        st = tg_error(TG_ERR_FORMAT, "%s: empty file", path);
    static const char *const id_names[] = {"id", "sequence_id", "sequence_id_heavy", NULL};
    static const char *const seq_names[] = {"sequence", "light", "generated",
                                            "sequence_alignment_aa_light", NULL};
    int ci = -1, cs = -1, ncols = row.n;
    char col[64] = "";
    if (st == 1) {
        ci = find(&row, id_names);
        cs = find(&row, seq_names);
        if (cs >= 0)
            snprintf(col, sizeof col, "%s", rd_cell(&row, cs));
        st = ci < 0 || cs < 0
                 ? tg_error(TG_ERR_FORMAT, "%s:%ld: the header has no %s column (id, "
                            "sequence_id) or no chain column (sequence, light, generated)",
                            path, row.line, ci < 0 ? "id" : "chain")
                 : TG_OK;
    }
    while (!st && (st = rd_row_read(&src, delim, delim == ',', &row)) == 1) {
        st = TG_OK;
        if (row.n == 1 && !rd_cell(&row, 0)[0])
            continue;
        if (row.n != ncols) {
            st = tg_error(TG_ERR_FORMAT, "%s:%ld: %d fields, the header has %d", path, row.line,
                          row.n, ncols);
            break;
        }
        const char *id = rd_cell(&row, ci), *s = rd_cell(&row, cs);
        for (const char *q = s; *q && !st; q++)
            if (!isalpha((unsigned char)*q) && *q != '*' && *q != '-' && *q != '.')
                st = tg_error(TG_ERR_FORMAT, "%s:%ld: column %s, character %ld: '%c' is not a "
                              "residue", path, row.line, col,
                              (long)(q - s) + 1, isprint((unsigned char)*q) ? *q : '?');
        if (!st && !id[0])
            st = tg_error(TG_ERR_FORMAT, "%s:%ld: empty id", path, row.line);
        if (!st)
            st = take(p, ids, id, s, strlen(s));
    }
    rd_row_free(&row);
    rd_src_close(&src);
    return st < 0 ? st : TG_OK;
}

int pe_read_predictions(const char *path, const pr_set *test, pe_predictions *out)
{
    memset(out, 0, sizeof *out);
    out->chain = tg_calloc(test->n + 1, sizeof *out->chain, "predictions");
    if (!out->chain)
        return TG_ERR_NOMEM;
    sm_map ids;
    sm_init(&ids);
    int st = TG_OK;
    for (size_t i = 0; i < test->n && !st; i++) {
        int r = sm_put(&ids, test->v[i].id, (int)strlen(test->v[i].id), (uint32_t)i, NULL);
        if (r < 0)
            st = r;
        else if (r == 0)
            st = tg_error(TG_ERR_FORMAT, "%s:%ld: id %s occurs twice in the test pairs, so "
                          "predictions cannot be matched by id", test->v[i].file,
                          test->v[i].line, test->v[i].id);
    }
    if (!st) {
        rd_src src;
        st = rd_src_open(&src, path);
        const unsigned char *head;
        size_t n = 0;
        if (!st)
            st = rd_src_head(&src, &head, &n);
        int fasta = 0, tab = 0;
        if (!st) {
            size_t i = 0;
            while (i < n && isspace(head[i]))
                i++;
            fasta = i < n && head[i] == '>';
            for (; i < n && head[i] != '\n'; i++)
                tab |= head[i] == '\t';
            if (!n)
                st = tg_error(TG_ERR_FORMAT, "%s: empty file", path);
        }
        if (src.gz)
            rd_src_close(&src);
        if (!st)
            st = fasta ? read_fasta(path, &ids, out) : read_table(path, tab ? '\t' : ',', &ids, out);
    }
    sm_free(&ids);
    if (st)
        pe_predictions_free(out, test->n);
    return st;
}

void pe_predictions_free(pe_predictions *p, size_t n)
{
    for (size_t i = 0; p->chain && i < n; i++)
        tg_free(p->chain[i]);
    tg_free(p->chain);
    memset(p, 0, sizeof *p);
}
