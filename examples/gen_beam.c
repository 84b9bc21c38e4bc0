/* Beam search and diverse (group) beam search with the semantics of
 * Hugging Face's generate(): BeamSearchScorer / BeamHypotheses (process,
 * is_done, finalize) and HammingDiversityLogitsProcessor, over gen_model
 * with a cache reorder per step. Each source runs as it would alone (HF
 * with batch 1): its own length, its own stop. */
#include "generate.h"

#include <math.h>
#include <string.h>

/* A finished hypothesis: new tokens (eos included when it ended there). */
typedef struct {
    double score;
    int len, eos, limit;
    int32_t *tok;
} hyp;

/* BeamHypotheses of one group of one source: at most gs kept (gs + 1 slots
 * while adding), in insertion order. */
typedef struct {
    hyp *h;
    int n;
    double worst;
    int done;
} hyp_list;

/* A candidate of a step: score and flat index beam * V + token. */
typedef struct {
    float score;
    int idx;
} cand;

typedef struct {
    const gen_model *gm;
    const gen_opts *o;
    int nb, G, gs, V, K;  /* beams, groups, group size, vocabulary, candidates (2 gs) */
    int S;                /* sources per chunk */
    float *bscore;        /* [rows] running sum of log-probs */
    int32_t *cur, *ids;   /* [rows] token chosen this step; fed */
    int32_t *hist, *hist2; /* [rows][max_new] new tokens of each beam */
    int *from, *src, *k, *fin; /* [rows], [rows], [S] new tokens so far, [S] finished */
    hyp_list *hl;         /* [S * G] */
    float *lp;            /* [V] */
    cand *top, *tmp;      /* [K] */
    float *nscore;        /* [gs] */
    int32_t *ntok;
    int *nfrom;
} beam_state;

/* BeamHypotheses.add: score = sum_logprobs / gen_len^length_penalty;
 * kept when fewer than gs are held or better than the worst; beyond gs
 * the worst (first of equal) is dropped and worst becomes the next. */
static void hyp_add(beam_state *s, hyp_list *l, const int32_t *tok, int n, int eos, int limit,
                    float sum, int gen_len)
{
    double score = (double)sum / pow((double)gen_len, s->o->length_penalty);
    if (l->n >= s->gs && !(score > l->worst))
        return;
    hyp *h = &l->h[l->n++];
    memcpy(h->tok, tok, (size_t)n * sizeof *tok);
    if (eos)
        h->tok[n++] = s->o->eos_id;
    h->len = n, h->eos = eos, h->limit = limit, h->score = score;
    if (l->n <= s->gs) {
        l->worst = score < l->worst ? score : l->worst;
        return;
    }
    int lo = 0;
    for (int i = 1; i < l->n; i++)
        if (l->h[i].score < l->h[lo].score)
            lo = i;
    double next = INFINITY;
    for (int i = 0; i < l->n; i++)
        if (i != lo && l->h[i].score < next)
            next = l->h[i].score;
    hyp gone = l->h[lo];
    memmove(l->h + lo, l->h + lo + 1, (size_t)(l->n - lo - 1) * sizeof *l->h);
    l->h[--l->n] = gone; /* its token buffer stays for reuse */
    l->worst = next;
}

/* BeamHypotheses.is_done after a step whose best candidate sum is best
 * and whose hypotheses have cur new tokens; maxgen: the most new tokens
 * the source may reach. */
static int hyp_done(const beam_state *s, const hyp_list *l, float best, int cur, int maxgen)
{
    if (l->n < s->gs)
        return 0;
    if (s->o->early_stopping == GEN_EARLY_TRUE)
        return 1;
    double lp = s->o->length_penalty;
    int len = s->o->early_stopping == GEN_EARLY_NEVER && lp > 0 ? maxgen : cur;
    return l->worst >= (double)best / pow((double)len, lp);
}

/* Inserts c into the sorted (descending) top list of at most K, after
 * equal scores (so the lower index wins a tie, as a stable top-k). */
static void top_insert(cand *top, int *n, int K, cand c)
{
    if (*n == K && !(c.score > top[K - 1].score))
        return;
    if (c.score != c.score) /* NaN never enters */
        return;
    int i = *n < K ? (*n)++ : K - 1;
    while (i > 0 && c.score > top[i - 1].score) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = c;
}

/* One step of group g of chunk source q (rows base .. base + gs - 1),
 * process() of BeamSearchScorer: updates bscore, cur and from of the
 * group's rows and its hypotheses. */
static int group_step(beam_state *s, int q, int g, const float *logits, int maxgen)
{
    const gen_opts *o = s->o;
    int V = s->V, gs = s->gs, base = q * s->nb + g * gs, kq = s->k[q];
    hyp_list *l = &s->hl[q * s->G + g];
    if (l->done) { /* HF pads a finished group; its tokens still count for diversity */
        for (int j = 0; j < gs; j++)
            s->cur[base + j] = o->pad_id, s->bscore[base + j] = 0;
        return TG_OK;
    }
    int nt = 0;
    for (int j = 0; j < gs; j++) {
        int row = base + j;
        gen_log_softmax(logits + (size_t)row * V, V, s->lp);
        for (int i = 0; i < o->n_bad; i++)
            s->lp[o->bad_ids[i]] = -INFINITY;
        /* Hamming diversity: tokens of this step's earlier groups, per count */
        for (int r = q * s->nb; r < base; r++) {
            int seen = 0, count = 0;
            for (int r2 = q * s->nb; r2 < r && !seen; r2++)
                seen = s->cur[r2] == s->cur[r];
            if (seen)
                continue;
            for (int r2 = r; r2 < base; r2++)
                count += s->cur[r2] == s->cur[r];
            s->lp[s->cur[r]] -= (float)(o->diversity_penalty * count);
        }
        for (int v = 0; v < V; v++)
            top_insert(s->top, &nt, s->K, (cand){s->lp[v] + s->bscore[row], j * V + v});
    }
    if (nt < s->K)
        return tg_error(TG_ERR_ARG, "beam search: the logits of rows %d..%d are not numbers (NaN)",
                        base, base + gs - 1);
    int nb = 0;
    for (int rank = 0; rank < s->K && nb < gs; rank++) {
        int tok = s->top[rank].idx % V, row = base + s->top[rank].idx / V;
        if (tok == o->eos_id) {
            if (rank < gs)
                hyp_add(s, l, s->hist + (size_t)row * o->max_new_tokens, kq, 1, 0,
                        s->top[rank].score, kq + 1);
            continue;
        }
        s->nscore[nb] = s->top[rank].score, s->ntok[nb] = tok, s->nfrom[nb] = row;
        nb++;
    }
    l->done = hyp_done(s, l, s->top[0].score, kq + 1, maxgen);
    for (int j = 0; j < gs; j++) {
        s->bscore[base + j] = s->nscore[j];
        s->cur[base + j] = s->ntok[j];
        s->from[base + j] = s->nfrom[j];
    }
    return TG_OK;
}

/* Source q's histories follow the reorder and take this step's tokens. */
static void advance(beam_state *s, int q)
{
    int M = s->o->max_new_tokens, kq = s->k[q];
    for (int r = q * s->nb; r < (q + 1) * s->nb; r++) {
        memcpy(s->hist2 + (size_t)r * M, s->hist + (size_t)s->from[r] * M, (size_t)kq * sizeof *s->hist);
        if (kq < M)
            s->hist2[(size_t)r * M + kq] = s->cur[r];
    }
    for (int r = q * s->nb; r < (q + 1) * s->nb; r++)
        memcpy(s->hist + (size_t)r * M, s->hist2 + (size_t)r * M, (size_t)(kq + 1) * sizeof *s->hist);
    s->k[q] = kq + 1;
}

/* finalize(): the open beams of unfinished groups become hypotheses, then
 * the best num_return_sequences of all groups go to sequences p * nrs + j
 * (sorted ascending, stable, popped from the end: among equal scores the
 * one added last). */
static void finalize(beam_state *s, int q, size_t p, int limit, gen_result *r)
{
    int M = s->o->max_new_tokens, nrs = s->o->num_return_sequences, kq = s->k[q];
    for (int g = 0; g < s->G; g++) {
        hyp_list *l = &s->hl[q * s->G + g];
        if (l->done)
            continue;
        for (int j = 0; j < s->gs; j++) {
            int row = q * s->nb + g * s->gs + j;
            hyp_add(s, l, s->hist + (size_t)row * M, kq, 0, limit, s->bscore[row], kq);
        }
    }
    for (int j = 0; j < nrs; j++) {
        hyp *best = NULL;
        for (int g = 0; g < s->G; g++) {
            hyp_list *l = &s->hl[q * s->G + g];
            for (int i = 0; i < l->n; i++)
                if (l->h[i].len >= 0 && (!best || l->h[i].score >= best->score))
                    best = &l->h[i];
        }
        size_t i = p * (size_t)nrs + (size_t)j;
        if (!best) /* cannot happen: every group ends with group_size hypotheses */
            break;
        memcpy(r->tok[i], best->tok, (size_t)best->len * sizeof *best->tok);
        r->len[i] = best->len, r->hit_eos[i] = best->eos, r->hit_limit[i] = best->limit;
        r->score[i] = best->score;
        best->len = -1; /* taken */
    }
}

/* Sources first..first+ns-1 in rows 0..ns*nb-1. */
static int run_chunk(beam_state *s, const int32_t *const *prefix, const int *plen, size_t first,
                     int ns, gen_result *r)
{
    const gen_model *gm = s->gm;
    const gen_opts *o = s->o;
    int B = gm->rows, L = gm->max_len, nb = s->nb;
    for (int row = 0; row < B; row++) {
        s->src[row] = row < ns * nb ? (int)(first + (size_t)(row / nb)) : -1;
        s->bscore[row] = row % s->gs ? -1e9f : 0.0f; /* the first beam of each group */
        s->cur[row] = o->pad_id;
    }
    for (int q = 0; q < s->S; q++) {
        s->k[q] = 0, s->fin[q] = q >= ns;
        for (int g = 0; g < s->G; g++) {
            hyp_list *l = &s->hl[q * s->G + g];
            l->n = 0, l->worst = 1e9, l->done = 0;
        }
    }
    int rc = gm->begin(gm->ctx, s->src);
    for (int t = 0; !rc && t < L; t++) {
        int active = 0;
        for (int row = 0; row < B; row++) {
            int q = row / nb;
            if (row >= ns * nb) {
                s->ids[row] = o->pad_id;
                continue;
            }
            size_t p = first + (size_t)q;
            s->ids[row] = t < plen[p] ? prefix[p][t] : s->fin[q] ? o->pad_id : s->cur[row];
            active |= !s->fin[q];
        }
        if (!active)
            break;
        const float *logits;
        if ((rc = gm->step(gm->ctx, s->ids, t, &logits)))
            break;
        int moved = 0;
        for (int row = 0; row < B; row++)
            s->from[row] = row;
        for (int q = 0; !rc && q < ns; q++) {
            size_t p = first + (size_t)q;
            if (s->fin[q] || t < plen[p] - 1)
                continue;
            int room = L + 1 - plen[p]; /* new tokens the positions allow */
            int maxgen = room < o->max_new_tokens ? room : o->max_new_tokens;
            for (int g = 0; !rc && g < s->G; g++)
                rc = group_step(s, q, g, logits, maxgen);
            if (rc)
                break;
            advance(s, q);
            int all_done = 1;
            for (int g = 0; g < s->G; g++)
                all_done &= s->hl[q * s->G + g].done;
            if (all_done || s->k[q] == maxgen) {
                finalize(s, q, p, !all_done && s->k[q] < o->max_new_tokens, r);
                s->fin[q] = 1;
            }
            for (int row = q * nb; row < (q + 1) * nb; row++)
                moved |= s->from[row] != row;
        }
        if (!rc && moved)
            rc = gm->reorder(gm->ctx, s->from, t + 1);
    }
    return rc;
}

int gen_beam_run(const gen_model *gm, const gen_opts *o, size_t n, const int32_t *const *prefix,
                 const int *plen, gen_result *r)
{
    if (gm->vocab_size < 2)
        return tg_error(TG_ERR_ARG, "beam search needs a vocabulary of >= 2 tokens, got %d",
                        gm->vocab_size);
    beam_state s = {.gm = gm, .o = o, .nb = o->num_beams, .G = o->num_beam_groups, .V = gm->vocab_size};
    s.gs = s.nb / s.G;
    s.K = 2 * s.gs;
    s.S = gm->rows / s.nb;
    int B = gm->rows, M = o->max_new_tokens;
    s.bscore = tg_malloc((size_t)B * sizeof *s.bscore, "beam scores");
    s.cur = tg_malloc((size_t)B * sizeof *s.cur, "beam tokens");
    s.ids = tg_malloc((size_t)B * sizeof *s.ids, "step ids");
    s.hist = tg_calloc((size_t)B * M, sizeof *s.hist, "beam histories");
    s.hist2 = tg_calloc((size_t)B * M, sizeof *s.hist2, "beam histories");
    s.from = tg_malloc((size_t)B * sizeof *s.from, "beam reorder");
    s.src = tg_malloc((size_t)B * sizeof *s.src, "step sources");
    s.k = tg_malloc((size_t)s.S * sizeof *s.k, "beam lengths");
    s.fin = tg_malloc((size_t)s.S * sizeof *s.fin, "beam flags");
    s.hl = tg_calloc((size_t)s.S * s.G, sizeof *s.hl, "beam hypotheses");
    s.lp = tg_malloc((size_t)s.V * sizeof *s.lp, "log-probabilities");
    s.top = tg_malloc((size_t)s.K * sizeof *s.top, "beam candidates");
    s.nscore = tg_malloc((size_t)s.gs * sizeof *s.nscore, "beam candidates");
    s.ntok = tg_malloc((size_t)s.gs * sizeof *s.ntok, "beam candidates");
    s.nfrom = tg_malloc((size_t)s.gs * sizeof *s.nfrom, "beam candidates");
    int rc = s.bscore && s.cur && s.ids && s.hist && s.hist2 && s.from && s.src && s.k && s.fin &&
                     s.hl && s.lp && s.top && s.nscore && s.ntok && s.nfrom
                 ? TG_OK
                 : TG_ERR_NOMEM;
    for (int i = 0; !rc && i < s.S * s.G; i++) {
        if (!(s.hl[i].h = tg_calloc((size_t)s.gs + 1, sizeof *s.hl[i].h, "beam hypotheses"))) {
            rc = TG_ERR_NOMEM;
            break;
        }
        for (int j = 0; !rc && j <= s.gs; j++)
            if (!(s.hl[i].h[j].tok = tg_malloc((size_t)M * sizeof(int32_t), "beam hypotheses")))
                rc = TG_ERR_NOMEM;
    }
    for (size_t first = 0; !rc && first < n; first += (size_t)s.S) {
        int ns = n - first < (size_t)s.S ? (int)(n - first) : s.S;
        rc = run_chunk(&s, prefix, plen, first, ns, r);
    }
    for (int i = 0; s.hl && i < s.S * s.G; i++) {
        for (int j = 0; s.hl[i].h && j <= s.gs; j++)
            tg_free(s.hl[i].h[j].tok);
        tg_free(s.hl[i].h);
    }
    tg_free(s.bscore), tg_free(s.cur), tg_free(s.ids), tg_free(s.hist), tg_free(s.hist2);
    tg_free(s.from), tg_free(s.src), tg_free(s.k), tg_free(s.fin), tg_free(s.hl), tg_free(s.lp);
    tg_free(s.top), tg_free(s.nscore), tg_free(s.ntok), tg_free(s.nfrom);
    return rc;
}
