/* The encoder-decoder as a gen_model (gen_encdec.h). */
#include "gen_encdec.h"

#include <string.h>

typedef struct {
    const ed_model *m;
    const int32_t *const *src;
    const int *src_len;
    size_t n;
    ed_stepper st;
    int *cur;          /* [rows] the source of each row (-1 unused) */
    int32_t *ids;      /* [rows, S] the chunk's padded sources */
    int32_t *mask;     /* [rows, S] */
    float *scratch;    /* a reorder's copy of one layer's rows */
    size_t scratch_n;
} encdec_ctx;

static int encdec_begin(void *ctx, const int *src)
{
    encdec_ctx *c = ctx;
    int B = c->st.batch, S = c->st.src_len, pad = c->m->cfg.enc.pad_token_id;
    for (int r = 0; r < B; r++) {
        c->cur[r] = src[r];
        int len = src[r] >= 0 ? c->src_len[src[r]] : 0;
        if (src[r] >= (int)c->n || len > S)
            return tg_error(TG_ERR_ARG, "gen encoder-decoder: row %d: source %d (of %zu) with %d tokens (at most %d)",
                            r, src[r], c->n, len, S);
        for (int t = 0; t < S; t++) {
            c->ids[(size_t)r * S + t] = t < len ? c->src[src[r]][t] : pad;
            c->mask[(size_t)r * S + t] = t < len;
        }
    }
    return ed_step_begin(&c->st, c->ids, c->mask);
}

static int encdec_step(void *ctx, const int32_t *tok, int pos, const float **logits)
{
    return ed_step(&((encdec_ctx *)ctx)->st, tok, pos, logits);
}

/* Rows r of t[B, per] (one contiguous block of `used` floats each, of
 * `per` per row) take row from[r]'s block: all rows saved first, then
 * written back. */
static int move_rows(encdec_ctx *c, float *t, int B, size_t per, size_t used, const int *from)
{
    if ((size_t)B * used > c->scratch_n) {
        float *s = tg_realloc(c->scratch, (size_t)B * used * sizeof *s, "cache reorder scratch");
        if (!s)
            return TG_ERR_NOMEM;
        c->scratch = s;
        c->scratch_n = (size_t)B * used;
    }
    for (int r = 0; r < B; r++)
        memcpy(c->scratch + (size_t)r * used, t + (size_t)r * per, used * sizeof *t);
    for (int r = 0; r < B; r++)
        memcpy(t + (size_t)r * per, c->scratch + (size_t)from[r] * used, used * sizeof *t);
    return TG_OK;
}

/* Self-attention cache rows (positions < pos) and, where a row takes
 * another source's row, the cross-attention k | v and source mask. */
static int encdec_reorder(void *ctx, const int *from, int pos)
{
    encdec_ctx *c = ctx;
    g2_cache *k = &c->st.cache;
    int B = k->batch, L = k->max_len, S = k->enc_len, same = 1;
    if (pos < 0 || pos > L)
        return tg_error(TG_ERR_ARG, "gen reorder: position %d outside the cache (0..%d)", pos, L);
    for (int r = 0; r < B; r++) {
        if (from[r] < 0 || from[r] >= B)
            return tg_error(TG_ERR_ARG, "gen reorder: row %d from row %d of %d", r, from[r], B);
        same &= c->cur[from[r]] == c->cur[r];
    }
    size_t W = 2 * (size_t)c->m->cfg.dec.n_embd;
    int rc = TG_OK;
    for (int l = 0; l < c->m->cfg.dec.n_layer && !rc; l++) {
        if (pos)
            rc = move_rows(c, tg_f32(k->kv[l]), B, (size_t)L * W, (size_t)pos * W, from);
        if (!rc && !same)
            rc = move_rows(c, tg_f32(k->xkv[l]), B, (size_t)S * W, (size_t)S * W, from);
    }
    if (!rc && !same) {
        int cur[B];
        for (int r = 0; r < B; r++) {
            cur[r] = c->cur[from[r]];
            memcpy(c->mask + (size_t)r * S, c->st.src_mask + (size_t)from[r] * S, S * sizeof(int32_t));
        }
        memcpy(c->st.src_mask, c->mask, (size_t)B * S * sizeof(int32_t));
        memcpy(c->cur, cur, sizeof cur);
    }
    return rc;
}

void gen_encdec_free(gen_model *gm)
{
    encdec_ctx *c = gm->ctx;
    if (c) {
        ed_stepper_free(&c->st);
        tg_free(c->cur);
        tg_free(c->ids);
        tg_free(c->mask);
        tg_free(c->scratch);
        tg_free(c);
    }
    memset(gm, 0, sizeof *gm);
}

int gen_encdec_new(const ed_model *m, const int32_t *const *src, const int *src_len, size_t n,
                   int rows, int max_len, gen_model *out)
{
    memset(out, 0, sizeof *out);
    int S = 1;
    for (size_t i = 0; i < n; i++)
        if (src_len[i] > S)
            S = src_len[i];
    if (S > ed_max_source(m))
        return tg_error(TG_ERR_ARG, "gen encoder-decoder: a source of %d tokens, the encoder takes %d", S,
                        ed_max_source(m));
    encdec_ctx *c = tg_calloc(1, sizeof *c, "generation model");
    if (!c)
        return TG_ERR_NOMEM;
    out->ctx = c;
    c->m = m, c->src = src, c->src_len = src_len, c->n = n;
    int rc = ed_build_step(m, rows, S, max_len, &c->st);
    if (!rc) {
        c->cur = tg_calloc((size_t)rows, sizeof *c->cur, "row sources");
        c->ids = tg_calloc((size_t)rows * S, sizeof *c->ids, "sources");
        c->mask = tg_calloc((size_t)rows * S, sizeof *c->mask, "source mask");
        if (!c->cur || !c->ids || !c->mask)
            rc = TG_ERR_NOMEM;
    }
    if (rc) {
        gen_encdec_free(out);
        return rc;
    }
    out->vocab_size = m->cfg.dec.vocab_size;
    out->max_len = max_len;
    out->rows = rows;
    out->begin = encdec_begin;
    out->step = encdec_step;
    out->reorder = encdec_reorder;
    return TG_OK;
}

int gen_run_encdec(const ed_model *m, const gen_opts *o, size_t n, const int32_t *const *src,
                   const int *src_len, int batch, gen_result *r)
{
    memset(r, 0, sizeof *r);
    int32_t start = m->cfg.decoder_start_token_id;
    const int32_t **prefix = tg_malloc((n ? n : 1) * sizeof *prefix, "decoder prefixes");
    int *plen = tg_malloc((n ? n : 1) * sizeof *plen, "decoder prefixes");
    if (!prefix || !plen) {
        tg_free(prefix), tg_free(plen);
        return TG_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        prefix[i] = &start, plen[i] = 1;
    long need = gen_positions(o, n, plen);
    int max_len = need < ed_max_target(m) ? (int)need : ed_max_target(m);
    gen_model gm;
    int rc = gen_encdec_new(m, src, src_len, n, gen_rows(o, n, batch), max_len < 1 ? 1 : max_len, &gm);
    if (!rc) {
        rc = gen_run(&gm, o, n, prefix, plen, r);
        gen_encdec_free(&gm);
    }
    tg_free(prefix);
    tg_free(plen);
    return rc;
}
