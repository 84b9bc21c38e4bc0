/* ablm fill-mask: the most likely tokens at each [MASK] position. */
#include "commands.h"
#include "infer.h"

#include "tg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char ABOUT[] =
    "Masks are written '*' or '[MASK]'; every sequence needs at least one (a sequence\n"
    "without a mask is an error naming its line). Input: FASTA or one sequence per\n"
    "line, read verbatim (tables are not accepted here). Prints TSV to stdout with a\n"
    "header: index (0-based record number), id (FASTA name or FILE:LINE; a repeated\n"
    "id becomes ID@FILE:LINE), position\n"
    "(1-based residue position of the mask), rank (1 = most likely), token, probability.\n"
    "As in Hugging Face's fill-mask pipeline the softmax runs over the whole vocabulary,\n"
    "special tokens included, so the 20 residues' probabilities may sum to less than 1.";

typedef struct {
    int id;
    float p;
} fm_hit;

typedef struct {
    int k, mask_id;
    size_t *first; /* first[i]: index of sequence i's first mask in hits / k */
    fm_hit *hits;
    double *prob;
} fm_job;

/* The k most probable tokens of one logits row (ties: lower id first). */
static void top_k(const float *l, int V, int k, double *p, fm_hit *out)
{
    double lse = inf_logsumexp(l, V);
    for (int v = 0; v < V; v++)
        p[v] = exp((double)l[v] - lse);
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int v = 0; v < V; v++)
            if (p[v] >= 0 && (best < 0 || p[v] > p[best]))
                best = v;
        out[r] = (fm_hit){best, (float)p[best]};
        p[best] = -1;
    }
}

static int fm_batch(inf_ctx *c, const rb_graph *gr, const size_t *idx, int B, void *user)
{
    fm_job *j = user;
    int V = c->model.vocab, T = gr->seq_len;
    for (int b = 0; b < B; b++) {
        size_t i = idx[b], m = j->first[i];
        for (int t = 0; t < c->in.ntok[i]; t++)
            if (c->in.tok[i][t] == j->mask_id)
                top_k(tg_f32(gr->logits) + ((size_t)b * T + t) * V, V, j->k, j->prob,
                      j->hits + (m++) * j->k);
    }
    return TG_OK;
}

static void print_hits(const inf_ctx *c, const fm_job *j)
{
    printf("index\tid\tposition\trank\ttoken\tprobability\n");
    for (size_t i = 0; i < c->in.n; i++) {
        const fm_hit *h = j->hits + j->first[i] * j->k;
        for (int t = 0; t < c->in.ntok[i]; t++) {
            if (c->in.tok[i][t] != j->mask_id)
                continue;
            for (int r = 0; r < j->k; r++, h++) {
                const char *name = tok_token(c->model.tok, h->id);
                char other[32];
                if (!name)
                    snprintf(other, sizeof other, "[id %d]", h->id);
                printf("%zu\t%s\t%d\t%d\t%s\t%.6g\n", i, c->in.ids[i], t, r + 1,
                       name ? name : other, h->p);
            }
        }
    }
}

int cmd_fill_mask(int argc, char **argv)
{
    fm_job j = {.k = 5};
    const inf_opt opts[] = {
        {"--top-k", INF_INT, &j.k, 1, "K", "tokens listed per mask (at most the vocabulary size)"},
    };
    const inf_spec spec = {"fill-mask", "--model DIR --input FILE [--top-k K] [flags]", ABOUT,
                           opts, 1, 0, 1, 32};
    inf_ctx c;
    int rc = inf_begin(&c, argc, argv, &spec);
    if (rc != INF_GO)
        return rc;
    if (j.k > c.model.vocab)
        j.k = c.model.vocab;
    j.mask_id = tok_mask_id(c.model.tok);
    j.first = tg_malloc(c.in.n * sizeof *j.first, "mask offsets");
    j.prob = tg_malloc((size_t)c.model.vocab * sizeof *j.prob, "probabilities");
    rc = !j.first || !j.prob ? TG_ERR_NOMEM : TG_OK;
    size_t masks = 0;
    for (size_t i = 0; i < c.in.n && !rc; i++) {
        j.first[i] = masks;
        size_t before = masks;
        for (int t = 0; t < c.in.ntok[i]; t++)
            masks += c.in.tok[i][t] == j.mask_id;
        if (masks == before)
            rc = tg_error(TG_ERR_ARG, "%s:%ld: record '%s' has no mask ('*' or '[MASK]')",
                          c.input, c.in.lines[i], c.in.ids[i]);
    }
    if (!rc && !(j.hits = tg_malloc(masks * (size_t)j.k * sizeof *j.hits, "fill-mask results")))
        rc = TG_ERR_NOMEM;
    if (!rc)
        rc = inf_each_batch(&c, RB_LOGITS, fm_batch, &j);
    if (!rc) {
        print_hits(&c, &j);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = tg_error(TG_ERR_IO, "writing to stdout failed");
    }
    tg_free(j.first);
    tg_free(j.prob);
    tg_free(j.hits);
    return inf_end(&c, rc ? inf_fail(&c) : 0);
}
