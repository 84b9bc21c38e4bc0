/* A decoder-only GPT-2 (models/gpt2) as a gen_model: its KV cache and one
 * step graph of one token per row. */
#include "generate.h"

#include <string.h>

typedef struct {
    const g2_model *m;
    g2_cache cache;
    g2_graph st;
    float *scratch; /* rows whose old contents a reorder still needs (one layer) */
    size_t scratch_n;
    int *moved;     /* [rows]: 1 when a reorder overwrites the row */
    int *slot;      /* [rows]: the row's place in scratch, -1 none */
} gpt2_ctx;

/* Nothing to clear: a chunk writes every cache position from 0 before the
 * attention reads it (rows 0..pos only), so stale rows are never seen. */
static int gpt2_begin(void *ctx, const int *src)
{
    (void)ctx, (void)src; /* decoder-only: the prefix is the condition */
    return TG_OK;
}

static int gpt2_step(void *ctx, const int32_t *tok, int pos, const float **logits)
{
    gpt2_ctx *c = ctx;
    g2_set_step(&c->st, tok, pos);
    int rc = tg_forward(c->st.g);
    *logits = rc ? NULL : tg_f32(c->st.logits);
    return rc;
}

/* Per layer: rows read by another row and overwritten themselves go to
 * scratch first, then every moved row takes its source's first pos
 * positions (k | v of all heads: one contiguous block per row). */
static int gpt2_reorder(void *ctx, const int *from, int pos)
{
    gpt2_ctx *c = ctx;
    int B = c->cache.batch, L = c->cache.max_len, any = 0, saved = 0;
    if (pos < 0 || pos > L)
        return tg_error(TG_ERR_ARG, "gen reorder: position %d outside the cache (0..%d)", pos, L);
    for (int r = 0; r < B; r++) {
        if (from[r] < 0 || from[r] >= B)
            return tg_error(TG_ERR_ARG, "gen reorder: row %d from row %d of %d", r, from[r], B);
        any |= c->moved[r] = from[r] != r;
        c->slot[r] = -1;
    }
    if (!any || !pos)
        return TG_OK;
    for (int r = 0; r < B; r++)
        if (c->moved[r] && c->moved[from[r]] && c->slot[from[r]] < 0)
            c->slot[from[r]] = saved++;
    size_t W = 2 * (size_t)c->m->cfg.n_embd, row = (size_t)L * W, n = (size_t)pos * W;
    if ((size_t)saved * n > c->scratch_n) {
        float *s = tg_realloc(c->scratch, (size_t)saved * n * sizeof *s, "cache reorder scratch");
        if (!s)
            return TG_ERR_NOMEM;
        c->scratch = s;
        c->scratch_n = (size_t)saved * n;
    }
    for (int l = 0; l < c->m->cfg.n_layer; l++) {
        float *kv = tg_f32(c->cache.kv[l]);
        for (int r = 0; r < B; r++)
            if (c->slot[r] >= 0)
                memcpy(c->scratch + (size_t)c->slot[r] * n, kv + (size_t)r * row, n * sizeof *kv);
        for (int r = 0; r < B; r++)
            if (c->moved[r]) {
                int s = c->slot[from[r]];
                const float *src = s >= 0 ? c->scratch + (size_t)s * n : kv + (size_t)from[r] * row;
                memcpy(kv + (size_t)r * row, src, n * sizeof *kv);
            }
    }
    return TG_OK;
}

void gen_gpt2_free(gen_model *gm)
{
    gpt2_ctx *c = gm->ctx;
    if (c) {
        g2_graph_free(&c->st);
        g2_cache_free(&c->cache);
        tg_free(c->scratch);
        tg_free(c->moved);
        tg_free(c->slot);
        tg_free(c);
    }
    memset(gm, 0, sizeof *gm);
}

int gen_gpt2_new(const g2_model *m, int rows, int max_len, gen_model *out)
{
    memset(out, 0, sizeof *out);
    gpt2_ctx *c = tg_calloc(1, sizeof *c, "generation model");
    if (!c)
        return TG_ERR_NOMEM;
    c->m = m;
    out->ctx = c;
    int rc = g2_cache_new(m, rows, max_len, &c->cache);
    if (!rc)
        rc = g2_build_step(m, &c->cache, 1, NULL, &c->st);
    if (!rc) {
        c->moved = tg_calloc((size_t)rows, sizeof *c->moved, "cache reorder flags");
        c->slot = tg_calloc((size_t)rows, sizeof *c->slot, "cache reorder slots");
        if (!c->moved || !c->slot)
            rc = TG_ERR_NOMEM;
    }
    if (rc) {
        gen_gpt2_free(out);
        return rc;
    }
    out->vocab_size = m->cfg.vocab_size;
    out->max_len = max_len;
    out->rows = rows;
    out->begin = gpt2_begin;
    out->step = gpt2_step;
    out->reorder = gpt2_reorder;
    return TG_OK;
}
