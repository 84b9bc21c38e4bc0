/* ablm score: pseudo-log-likelihood of each sequence (every residue
 * masked in turn). */
#include "commands.h"
#include "infer.h"

#include "afile.h"
#include "tg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char ABOUT[] =
    "Pseudo-log-likelihood (Salazar et al. 2020): for each residue position i, a copy of\n"
    "the sequence with position i replaced by [MASK] is run through the model and\n"
    "log p(true token at i) is taken from a log-softmax over the whole vocabulary;\n"
    "pll is the sum over all residues ([UNK] positions included, [CLS]/[SEP] not).\n"
    "The L masked copies of all sequences are packed --batch-size rows per forward pass.\n"
    "Writes TSV with a header, rows in input order: id (sequence_id, FASTA name, else\n"
    "FILE:LINE; a repeated id becomes ID@FILE:LINE), length (residues), pll,\n"
    "pll_per_residue (pll / length), perplexity (exp(-pll_per_residue)).\n"
    "A sequence that already contains a mask ('*') is an error naming its line.";

/* Runs every masked copy, accumulating pll[i]. */
static int score_all(inf_ctx *c, double *pll)
{
    size_t N = c->in.n, bs = (size_t)c->batch_size, rows = 0;
    for (size_t i = 0; i < N; i++)
        rows += (size_t)c->in.ntok[i] - 2;
    int T0 = inf_pad_len(c, c->in.max_ntok), V = c->model.vocab, mask = tok_mask_id(c->model.tok);
    int32_t *ids = tg_malloc(bs * (size_t)T0 * sizeof *ids, "batch ids");
    size_t *rseq = tg_malloc(bs * sizeof *rseq, "batch rows");
    int *rpos = tg_malloc(bs * sizeof *rpos, "batch positions");
    int32_t *hrow = tg_malloc(bs * sizeof *hrow, "head rows"); /* b * T + rpos[b] */
    if (!ids || !rseq || !rpos || !hrow) {
        tg_free(ids);
        tg_free(rseq);
        tg_free(rpos);
        tg_free(hrow);
        return TG_ERR_NOMEM;
    }
    inf_cache cache;
    int rc = inf_cache_init(&cache, &c->model, RB_LOGITS);
    inf_progress_start(&c->prog, c->cmd, "masked copies", rows);
    size_t o = 0; /* next sequence in length order */
    int p = 1;    /* its next position to mask */
    while (o < N && !rc) {
        int B = 0;
        for (; B < (int)bs && o < N; B++) {
            rseq[B] = c->order[o];
            rpos[B] = p;
            if (++p > c->in.ntok[c->order[o]] - 2) {
                o++;
                p = 1;
            }
        }
        int T = inf_pad_len(c, c->in.ntok[rseq[0]]); /* sorted: the first row is the longest */
        for (int b = 0; b < B; b++) {
            inf_pad(c, &rseq[b], 1, T, ids + (size_t)b * T);
            ids[(size_t)b * T + rpos[b]] = mask;
        }
        for (int b = 0; b < B; b++)
            hrow[b] = b * T + rpos[b];
        rb_graph *gr; /* the LM head on the masked position of each row only */
        rc = inf_run_rows(&cache, ids, B, T, hrow, B, &gr);
        for (int b = 0; b < B && !rc; b++) {
            size_t i = rseq[b];
            const float *l = tg_f32(gr->logits) + (size_t)b * V;
            pll[i] += (double)l[c->in.tok[i][rpos[b]]] - inf_logsumexp(l, V);
        }
        inf_progress_add(&c->prog, (size_t)B);
    }
    if (!rc)
        inf_progress_end(&c->prog, N);
    inf_cache_free(&cache);
    tg_free(ids);
    tg_free(rseq);
    tg_free(rpos);
    tg_free(hrow);
    return rc;
}

int cmd_score(int argc, char **argv)
{
    const inf_spec spec = {"score", "--model DIR --input FILE --output OUT.tsv [flags]", ABOUT,
                           NULL, 0, 1, 0, 32};
    inf_ctx c;
    int rc = inf_begin(&c, argc, argv, &spec);
    if (rc != INF_GO)
        return rc;
    int mask = tok_mask_id(c.model.tok);
    rc = TG_OK;
    for (size_t i = 0; i < c.in.n && !rc; i++)
        for (int t = 1; t < c.in.ntok[i] - 1 && !rc; t++)
            if (c.in.tok[i][t] == mask)
                rc = tg_error(TG_ERR_ARG, "%s:%ld: record '%s' contains a mask at residue %d; "
                                          "score needs complete sequences",
                              c.input, c.in.lines[i], c.in.ids[i], t);
    double *pll = rc ? NULL : tg_calloc(c.in.n, sizeof *pll, "scores");
    if (!rc && !pll)
        rc = TG_ERR_NOMEM;
    if (!rc)
        rc = score_all(&c, pll);
    tg_afile af;
    if (!rc && !(rc = tg_afile_open(&af, c.output))) {
        fprintf(af.f, "id\tlength\tpll\tpll_per_residue\tperplexity\n");
        for (size_t i = 0; i < c.in.n; i++) {
            int L = c.in.ntok[i] - 2;
            fprintf(af.f, "%s\t%d\t%.9g\t%.9g\t%.9g\n", c.in.ids[i], L, pll[i], pll[i] / L,
                    exp(-pll[i] / L));
        }
        rc = tg_afile_commit(&af);
    }
    tg_free(pll);
    return inf_end(&c, rc ? inf_fail(&c) : 0);
}
