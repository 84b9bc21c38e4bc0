/* tg_attention against the unfused composition (matmul, scale, softmax
 * with an additive mask, matmul) on shapes spanning several tiles, forward
 * and gradients; rows that see no key; dropout's keep decisions; a
 * KV-cached decoding loop against the full causal pass; shape errors.
 * The block (models/attention.c): GPT-2's fused Conv1D layouts against
 * separate torch Linear weights holding the same numbers. */
#include "attention.h"
#include "tg_internal.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill_normal(float *x, size_t n, uint64_t seed)
{
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)tg_rng_normal(&r);
}

static tg_tensor *P3(tg_params *p, const char *name, int d0, int d1, int d2, int trainable)
{
    return tg_params_add(p, name, 3, (int[]){d0, d1, d2}, trainable);
}

/* One problem: q [B, Tq, W], k and v [B, Tk, W] as parameters, a key mask
 * pattern, causal or not, and R for the loss sum(out * R). */
typedef struct {
    int B, Tq, Tk, nh, hd, causal;
    tg_params *p;
    tg_tensor *q, *k, *v, *R;
    int32_t *mask; /* [B, Tk] or NULL */
    int via;       /* fused graph: q, k, v through tg_scale(x, 1), so that their
                      gradients are intermediates the attention writes fresh */
} problem;

static problem make_problem(int B, int Tq, int Tk, int nh, int hd, int causal, int pad,
                            uint64_t seed)
{
    problem pr = {B, Tq, Tk, nh, hd, causal, tg_params_new(), NULL, NULL, NULL, NULL, NULL, 0};
    int W = nh * hd;
    pr.q = P3(pr.p, "q", B, Tq, W, 1);
    pr.k = P3(pr.p, "k", B, Tk, W, 1);
    pr.v = P3(pr.p, "v", B, Tk, W, 1);
    pr.R = P3(pr.p, "R", B, Tq, W, 0);
    ck_assert_int_eq(tg_params_alloc(pr.p), TG_OK);
    fill_normal(tg_params_values(pr.p), tg_params_numel(pr.p), seed);
    if (pad) { /* sequence b has Tk b / (B + 1) trailing padding keys (whole key
                  tiles of long sequences), at least one key kept */
        pr.mask = malloc((size_t)B * Tk * sizeof *pr.mask);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < Tk; j++)
                pr.mask[b * Tk + j] = j < Tk - Tk * b / (B + 1) || j == 0;
    }
    return pr;
}

static void free_problem(problem *pr)
{
    tg_params_free(pr->p);
    free(pr->mask);
}

/* With via set: the gradients of the tg_scale outputs fed to the
 * attention, filled with NaN by the backward hook once the node before the
 * attention (poison_after) has run: pending gradients whose buffers may
 * hold anything, which the attention must write everywhere. */
static tg_tensor *poison_t[3], *poison_after;

static void poison(void *ctx, const tg_tensor *node)
{
    (void)ctx;
    if (node != poison_after)
        return;
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < poison_t[i]->numel; j++)
            poison_t[i]->grad[j] = NAN;
}

/* Builds the fused graph (fused = 1) or the composition; returns the
 * output, with the loss in *loss and the mask input in *mask_in. */
static tg_tensor *build(tg_graph *g, const problem *pr, int fused, tg_tensor **loss,
                        tg_tensor **mask_in)
{
    int B = pr->B, Tq = pr->Tq, Tk = pr->Tk, nh = pr->nh, hd = pr->hd;
    tg_tensor *out;
    *mask_in = NULL;
    if (fused) {
        if (pr->mask)
            *mask_in = tg_input(g, TG_I32, 2, (int[]){B, Tk}, "key_mask");
        tg_tensor *q = pr->q, *k = pr->k, *v = pr->v;
        if (pr->via) {
            q = tg_scale(g, q, 1.0f), k = tg_scale(g, k, 1.0f), v = tg_scale(g, v, 1.0f);
            poison_t[0] = q, poison_t[1] = k, poison_t[2] = v;
        }
        out = tg_attention(g, q, k, v, *mask_in,
                           &(tg_attn_args){.heads = nh, .causal = pr->causal});
    } else {
        int perm[4] = {0, 2, 1, 3};
        *mask_in = tg_input(g, TG_F32, 4, (int[]){B, 1, Tq, Tk}, "additive_mask");
#define HEADS(t, T) tg_permute(g, tg_reshape(g, (t), 4, (int[]){B, T, nh, hd}), 4, perm)
        tg_tensor *s = tg_scale(g, tg_matmul(g, HEADS(pr->q, Tq), HEADS(pr->k, Tk), 0, 1),
                                1.0f / sqrtf((float)hd));
        tg_tensor *ctx = tg_matmul(g, tg_softmax(g, s, *mask_in), HEADS(pr->v, Tk), 0, 0);
#undef HEADS
        out = tg_reshape(g, tg_permute(g, ctx, 4, perm), 3, (int[]){B, Tq, nh * hd});
    }
    tg_tensor *prod = tg_mul(g, out, pr->R);
    poison_after = fused && pr->via ? prod : NULL;
    *loss = tg_sum(g, prod);
    tg_graph_keep(g, out);
    return out;
}

static void fill_mask(const problem *pr, tg_tensor *m, int fused)
{
    if (!m)
        return;
    if (fused) {
        memcpy(m->data, pr->mask, m->numel * sizeof(int32_t));
        return;
    }
    for (int b = 0; b < pr->B; b++)
        for (int i = 0; i < pr->Tq; i++)
            for (int j = 0; j < pr->Tk; j++) {
                int vis = (!pr->mask || pr->mask[b * pr->Tk + j]) &&
                          (!pr->causal || j <= i + pr->Tk - pr->Tq);
                tg_f32(m)[((size_t)b * pr->Tq + i) * pr->Tk + j] = vis ? 0.0f : -1e30f;
            }
}

/* Runs forward and backward; copies the output and the q, k, v gradients
 * (in that order, concatenated) into a malloc'ed array. */
static float *run(const problem *pr, int fused, size_t *n)
{
    tg_graph *g = tg_graph_new();
    tg_tensor *loss, *m, *out = build(g, pr, fused, &loss, &m);
    ck_assert_msg(out, "%s", tg_graph_error(g));
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    fill_mask(pr, m, fused);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(pr->p);
    if (poison_after)
        tg_set_backward_hook(poison, NULL);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    tg_set_backward_hook(NULL, NULL);
    poison_after = NULL;
    *n = out->numel + pr->q->numel + pr->k->numel + pr->v->numel;
    float *r = malloc(*n * sizeof *r), *w = r;
    memcpy(w, out->data, out->numel * sizeof *w), w += out->numel;
    memcpy(w, pr->q->grad, pr->q->numel * sizeof *w), w += pr->q->numel;
    memcpy(w, pr->k->grad, pr->k->numel * sizeof *w), w += pr->k->numel;
    memcpy(w, pr->v->grad, pr->v->numel * sizeof *w);
    tg_graph_free(g);
    return r;
}

static void compare_with_composition(int B, int Tq, int Tk, int nh, int hd, int causal, int pad)
{
    problem pr = make_problem(B, Tq, Tk, nh, hd, causal, pad, 11 + Tq + Tk);
    size_t n, n2;
    float *a = run(&pr, 1, &n), *b = run(&pr, 0, &n2);
    ck_assert_uint_eq(n, n2);
    /* the same with q, k, v intermediates: their gradients start pending
     * (NaN-filled) and the attention writes them (beta 0, rows no tile
     * reaches zeroed) instead of adding into zeros: the same values */
    pr.via = 1;
    size_t n3;
    float *c = run(&pr, 1, &n3);
    pr.via = 0;
    ck_assert_uint_eq(n, n3);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(c[i] == a[i],
                      "B %d Tq %d Tk %d causal %d pad %d: element %zu %.9g with fresh "
                      "gradients, %.9g accumulated",
                      B, Tq, Tk, causal, pad, i, c[i], a[i]);
    free(c);
    size_t nout = (size_t)B * Tq * nh * hd;
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(a[i]), "element %zu is not finite", i);
        double e = fabs(a[i] - b[i]) / fmax(1.0, fabs(b[i]));
        if (e > worst)
            worst = e, at = i;
    }
    ck_assert_msg(worst < (at < nout ? 1e-5 : 1e-4),
                  "B %d Tq %d Tk %d heads %d hd %d causal %d pad %d: %s element %zu fused %.7g, composition %.7g",
                  B, Tq, Tk, nh, hd, causal, pad, at < nout ? "output" : "gradient", at, a[at],
                  b[at]);
    free(a), free(b);
    free_problem(&pr);
}

/* Shapes above the 160-query, 256-key tiles exercise the online rescaling,
 * several query tiles and tile skipping; 130 is heavy_small's training
 * length (one tile). */
START_TEST(matches_composition)
{
    compare_with_composition(2, 130, 130, 4, 8, 0, 0);   /* self-attention, one tile */
    compare_with_composition(3, 130, 130, 2, 16, 0, 1);  /* key padding */
    compare_with_composition(1, 300, 300, 2, 8, 1, 0);   /* causal, 2 query and 2 key tiles */
    compare_with_composition(2, 70, 600, 1, 8, 0, 1);    /* cross-length, 3 key tiles, padding */
    compare_with_composition(2, 40, 530, 2, 8, 1, 1);    /* causal, Tq < Tk, padding */
    compare_with_composition(1, 1, 300, 4, 8, 1, 0);     /* one cached step's shape */
}
END_TEST

/* Each (batch, head) task runs on one thread in a fixed order: outputs and
 * gradients are bit-identical on 1 and 2 threads. */
START_TEST(same_bits_on_any_thread_count)
{
    problem pr = make_problem(2, 130, 300, 4, 8, 1, 1, 5);
    size_t n1, n2;
    tg_set_threads(1);
    float *a = run(&pr, 1, &n1);
    tg_set_threads(2);
    float *b = run(&pr, 1, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(!memcmp(a, b, n1 * sizeof *a), "1 and 2 threads differ");
    free(a), free(b);
    free_problem(&pr);
}
END_TEST

/* A query that sees no key (a fully padded sequence, or causal with more
 * queries than keys) has output 0 and contributes no gradient. */
START_TEST(rows_without_keys_are_zero)
{
    problem pr = make_problem(2, 5, 3, 2, 4, 1, 0, 3);
    pr.mask = malloc(6 * sizeof *pr.mask);
    for (int j = 0; j < 6; j++)
        pr.mask[j] = j < 3; /* sequence 1 all padding */
    for (pr.via = 0; pr.via < 2; pr.via++) { /* gradients accumulated, then fresh */
        size_t n;
        float *a = run(&pr, 1, &n);
        int W = 8;
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 5; i++)
                for (int c = 0; c < W; c++) {
                    float o = a[(b * 5 + i) * W + c], dq = a[80 + (b * 5 + i) * W + c];
                    int none = b == 1 || i < 2; /* query i sees keys j <= i - 2 */
                    ck_assert(isfinite(o) && isfinite(dq));
                    if (none)
                        ck_assert_msg(o == 0 && dq == 0, "via %d b %d i %d: output %g, dq %g",
                                      pr.via, b, i, o, dq);
                    else
                        ck_assert(o != 0);
                }
        for (size_t i = 160; i < n; i++) /* dk, dv: nothing from sequence 1 */
            if ((i - 160) % 48 >= 24)
                ck_assert_msg(a[i] == 0, "via %d: sequence 1 key gradient %zu is %g", pr.via, i,
                              a[i]);
        free(a);
    }
    free_problem(&pr);
}
END_TEST

/* Dropout drops the probabilities with tg_dropout's stream (tg_dropped on
 * the node's key, element index (b, h, i, j) of [B, heads, Tq, Tk]):
 * checked against loops; identity in eval mode; reproducible by rng state. */
START_TEST(dropout_keep_decisions)
{
    int B = 2, T = 70, nh = 2, hd = 4, W = 8;
    float p = 0.25f;
    tg_params *ps = tg_params_new();
    tg_tensor *q = P3(ps, "q", B, T, W, 1), *k = P3(ps, "k", B, T, W, 1), *v = P3(ps, "v", B, T, W, 1);
    ck_assert_int_eq(tg_params_alloc(ps), TG_OK);
    fill_normal(tg_params_values(ps), tg_params_numel(ps), 9);
    tg_graph *g = tg_graph_new();
    tg_tensor *out = tg_attention(g, q, k, v, NULL, &(tg_attn_args){.heads = nh, .dropout = p});
    tg_tensor *loss = tg_sum(g, out);
    tg_graph_keep(g, out);
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    tg_graph_set_training(g, 1);
    tg_graph_set_rng_state(g, 41);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    uint64_t key = tg_drop_key(out), thr = tg_drop_threshold(p);
    size_t dropped = 0, total = 0;
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < T; i++) {
                double s[70], mx = -1e300, z = 0, o[4] = {0};
                for (int j = 0; j < T; j++) {
                    s[j] = 0;
                    for (int c = 0; c < hd; c++)
                        s[j] += tg_f32(q)[(b * T + i) * W + h * hd + c] *
                                tg_f32(k)[(b * T + j) * W + h * hd + c];
                    s[j] /= 2; /* 1 / sqrt(hd) */
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < T; j++)
                    z += exp(s[j] - mx);
                for (int j = 0; j < T; j++) {
                    uint64_t idx = (((uint64_t)b * nh + h) * T + i) * T + j;
                    int drop = tg_dropped(key, idx, thr);
                    dropped += drop, total++;
                    for (int c = 0; c < hd; c++)
                        o[c] += drop ? 0 : exp(s[j] - mx) / z / (1 - p) *
                                               tg_f32(v)[(b * T + j) * W + h * hd + c];
                }
                for (int c = 0; c < hd; c++)
                    worst = fmax(worst, fabs(o[c] - tg_f32(out)[(b * T + i) * W + h * hd + c]));
            }
    ck_assert_msg(worst < 1e-5, "dropout output differs from loops by %g", worst);
    double frac = (double)dropped / total;
    ck_assert_msg(fabs(frac - p) < 0.02, "dropped fraction %g for p %g", frac, p);
    /* same rng state, same output; another state, another output */
    float first = tg_f32(out)[5];
    tg_graph_set_rng_state(g, 41);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    ck_assert(tg_f32(out)[5] == first);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    int differs = 0;
    for (size_t i = 0; i < out->numel; i++)
        differs |= tg_f32(out)[i] != first;
    ck_assert(differs);
    /* eval mode: no dropout, equal to the composition without dropout */
    tg_graph_set_training(g, 0);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    problem pr = {B, T, T, nh, hd, 0, ps, q, k, v, NULL, NULL, 0};
    pr.R = q; /* any [B, T, W] weight: only the output is compared here */
    size_t n;
    float *ref = run(&pr, 0, &n);
    for (size_t i = 0; i < out->numel; i++)
        ck_assert_msg(fabs(tg_f32(out)[i] - ref[i]) < 1e-5, "eval output %zu", i);
    free(ref);
    tg_graph_free(g);
    tg_params_free(ps);
}
END_TEST

/* KV-cached decoding: caches k, v of [1, Tmax, W] hold the first t+1
 * steps; one query at pos = t reads them and equals row t of the full
 * causal pass over the same t+1 keys. */
START_TEST(kv_cache_step_matches_full_pass)
{
    int Tmax = 300, nh = 2, W = 16, steps = 290;
    tg_params *ps = tg_params_new();
    tg_tensor *q = P3(ps, "q", 1, Tmax, W, 0), *k = P3(ps, "k", 1, Tmax, W, 0);
    tg_tensor *v = P3(ps, "v", 1, Tmax, W, 0), *q1 = P3(ps, "q_step", 1, 1, W, 0);
    ck_assert_int_eq(tg_params_alloc(ps), TG_OK);
    fill_normal(tg_params_values(ps), tg_params_numel(ps), 21);
    tg_graph *full = tg_graph_new(), *step = tg_graph_new();
    tg_tensor *of = tg_attention(full, q, k, v, NULL, &(tg_attn_args){.heads = nh, .causal = 1});
    tg_tensor *pos = tg_input(step, TG_I32, 1, (int[]){1}, "pos");
    tg_tensor *os = tg_attention(step, q1, k, v, NULL,
                                 &(tg_attn_args){.heads = nh, .causal = 1, .pos = pos});
    tg_graph_keep(full, of), tg_graph_keep(step, os);
    ck_assert_int_eq(tg_graph_plan(full, NULL, 0), TG_OK);
    ck_assert_int_eq(tg_graph_plan(step, NULL, 0), TG_OK);
    ck_assert_int_eq(tg_forward(full), TG_OK);
    /* rows past the cache length hold garbage that must never be read */
    float *kk = tg_f32(k), *vv = tg_f32(v);
    float *k0 = malloc(k->numel * sizeof *k0), *v0 = malloc(v->numel * sizeof *v0);
    memcpy(k0, kk, k->numel * sizeof *k0), memcpy(v0, vv, v->numel * sizeof *v0);
    for (int t = 0; t < steps; t++) {
        for (int j = 0; j < Tmax; j++)
            for (int c = 0; c < W; c++) {
                kk[j * W + c] = j <= t ? k0[j * W + c] : NAN;
                vv[j * W + c] = j <= t ? v0[j * W + c] : NAN;
            }
        memcpy(tg_f32(q1), tg_f32(q) + (size_t)t * W, W * sizeof(float));
        tg_i32(pos)[0] = t;
        ck_assert_int_eq(tg_forward(step), TG_OK);
        for (int c = 0; c < W; c++)
            ck_assert_msg(fabs(tg_f32(os)[c] - tg_f32(of)[t * W + c]) < 1e-5,
                          "step %d column %d: cached %g, full %g", t, c, tg_f32(os)[c],
                          tg_f32(of)[t * W + c]);
    }
    free(k0), free(v0);
    tg_i32(pos)[0] = Tmax; /* out of range: an error naming the input */
    ck_assert_int_eq(tg_forward(step), TG_ERR_ARG);
    ck_assert_msg(strstr(tg_last_error(), "'pos'") && strstr(tg_last_error(), "0..299"), "%s",
                  tg_last_error());
    tg_graph_free(full), tg_graph_free(step);
    tg_params_free(ps);
}
END_TEST

START_TEST(shape_errors_name_the_problem)
{
    tg_params *ps = tg_params_new();
    tg_tensor *q = P3(ps, "q", 2, 5, 8, 1), *k = P3(ps, "k", 2, 6, 8, 1), *v = P3(ps, "v", 2, 7, 8, 1);
    tg_tensor *x = P3(ps, "x", 2, 5, 24, 1);
    ck_assert_int_eq(tg_params_alloc(ps), TG_OK);
    struct {
        tg_tensor *q, *k, *v;
        tg_attn_args a;
        int mask_len;
        const char *msg;
    } cases[] = {
        {q, k, v, {.heads = 2}, 0, "k and v [B, Tk, .] must agree"},
        {q, k, k, {.heads = 3}, 0, "multiple of heads 3"},
        {q, k, k, {.heads = 2, .k_col = 4}, 0, "k columns 4..12 outside 'k'"},
        {q, k, k, {.heads = 2}, 5, "key mask 'key_mask' must be int32 [B, Tk] = [2, 6]"},
        {q, k, k, {.heads = 2, .dropout = 1}, 0, "dropout must be in [0, 1)"},
        {x, x, x, {.heads = 2, .dim = 8, .k_col = 4, .v_col = 16}, 0, "equal or disjoint columns"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_graph *g = tg_graph_new();
        tg_tensor *m = cases[i].mask_len
                           ? tg_input(g, TG_I32, 2, (int[]){2, cases[i].mask_len}, "key_mask")
                           : NULL;
        ck_assert_ptr_null(tg_attention(g, cases[i].q, cases[i].k, cases[i].v, m, &cases[i].a));
        ck_assert_msg(tg_graph_error(g) && strstr(tg_graph_error(g), cases[i].msg),
                      "case %zu: %s", i, tg_graph_error(g));
        tg_graph_free(g);
    }
    tg_graph *g = tg_graph_new(); /* pos without causal */
    tg_tensor *pos = tg_input(g, TG_I32, 1, (int[]){1}, "pos");
    ck_assert_ptr_null(tg_attention(g, q, k, k, NULL, &(tg_attn_args){.heads = 2, .pos = pos}));
    ck_assert_ptr_nonnull(strstr(tg_graph_error(g), "causal"));
    tg_graph_free(g);
    tg_params_free(ps);
}
END_TEST

/* ---- the block ----------------------------------------------------------- */

/* Runs the block once for weights w; returns the output followed by the
 * gradients of `grads` (n tensors), malloc'ed. */
static float *run_block(tg_params *ps, const at_weights *w, const at_config *c, tg_tensor *x,
                        tg_tensor *mem, const int32_t *mask, tg_tensor *const *grads, int n,
                        size_t *len)
{
    tg_graph *g = tg_graph_new();
    tg_tensor *m = mask ? tg_input(g, TG_I32, 2, (int[]){mem->shape[0], mem->shape[1]}, "mask")
                        : NULL;
    tg_tensor *out = at_attention(g, w, c, x, mem, m);
    ck_assert_msg(out, "%s", tg_graph_error(g));
    tg_tensor *loss = tg_sum(g, tg_mul(g, out, out));
    tg_graph_keep(g, out);
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    if (m)
        memcpy(m->data, mask, m->numel * sizeof *mask);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(ps);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    *len = out->numel;
    for (int i = 0; i < n; i++)
        *len += grads[i]->numel;
    float *r = malloc(*len * sizeof *r), *p = r;
    memcpy(p, out->data, out->numel * sizeof *p), p += out->numel;
    for (int i = 0; i < n; i++)
        memcpy(p, grads[i]->grad, grads[i]->numel * sizeof *p), p += grads[i]->numel;
    tg_graph_free(g);
    return r;
}

/* lin[o][i] = conv[i][col + o] for o < rows: a Linear weight holding a
 * column block of a Conv1D weight [in, cols]. */
static void conv_to_linear(float *lin, const tg_tensor *conv, int col, int rows)
{
    int in = conv->shape[0], cols = conv->shape[1];
    for (int o = 0; o < rows; o++)
        for (int i = 0; i < in; i++)
            lin[o * in + i] = tg_f32(conv)[i * cols + col + o];
}

static void assert_close(const float *a, const float *b, size_t n, double tol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(a[i] - b[i]) <= tol * fmax(1.0, fabs(b[i])), "%s: element %zu: %g vs %g",
                      what, i, a[i], b[i]);
}

static tg_tensor *P2(tg_params *p, const char *name, int d0, int d1)
{
    return tg_params_add(p, name, d1 ? 2 : 1, (int[]){d0, d1}, 1);
}

/* GPT-2 self-attention: c_attn [in, 3 dim] Conv1D read as column ranges,
 * causal, c_proj Conv1D; equals the separate-Linear block, outputs and
 * gradients (the fused weight's gradient is the separate ones'). */
START_TEST(block_fused_qkv_matches_separate)
{
    int B = 2, T = 70, in = 12, dim = 12, nh = 3;
    tg_params *ps = tg_params_new();
    tg_tensor *x = P3(ps, "x", B, T, in, 0);
    tg_tensor *ca = P2(ps, "c_attn.weight", in, 3 * dim), *cab = P2(ps, "c_attn.bias", 3 * dim, 0);
    tg_tensor *cp = P2(ps, "c_proj.weight", dim, in), *cpb = P2(ps, "c_proj.bias", in, 0);
    tg_tensor *sw[4], *sb[4];
    const char *nm[4] = {"q", "k", "v", "o"};
    for (int i = 0; i < 4; i++) {
        char n[32];
        snprintf(n, sizeof n, "%s.weight", nm[i]);
        sw[i] = P2(ps, n, i < 3 ? dim : in, i < 3 ? in : dim);
        snprintf(n, sizeof n, "%s.bias", nm[i]);
        sb[i] = P2(ps, n, i < 3 ? dim : in, 0);
    }
    ck_assert_int_eq(tg_params_alloc(ps), TG_OK);
    fill_normal(tg_params_values(ps), tg_params_numel(ps), 31);
    /* weights N(0, 1/in) as an initialised layer has them: with N(0, 1) the
     * scores have std ~12, the softmax saturates, and its gradient cancels
     * so much that GEMM summation orders alone (oneDNN's AVX2 kernels
     * against its AVX-512 ones) moved c_attn's gradient by 3e-4 */
    for (size_t i = 0; i < ca->numel; i++)
        tg_f32(ca)[i] /= sqrtf((float)in);
    for (size_t i = 0; i < cp->numel; i++)
        tg_f32(cp)[i] /= sqrtf((float)dim);
    for (int i = 0; i < 3; i++) {
        conv_to_linear(tg_f32(sw[i]), ca, i * dim, dim);
        memcpy(tg_f32(sb[i]), tg_f32(cab) + i * dim, dim * sizeof(float));
    }
    conv_to_linear(tg_f32(sw[3]), cp, 0, in);
    memcpy(tg_f32(sb[3]), tg_f32(cpb), in * sizeof(float));
    at_config c = {.heads = nh, .causal = 1};
    at_weights fused = {.qkv = {ca, cab, 1}, .out = {cp, cpb, 1}};
    at_weights sep = {.q = {sw[0], sb[0], 0}, .k = {sw[1], sb[1], 0}, .v = {sw[2], sb[2], 0},
                      .out = {sw[3], sb[3], 0}};
    size_t nf, ns;
    float *f = run_block(ps, &fused, &c, x, NULL, NULL, (tg_tensor *[]){ca, cab}, 2, &nf);
    float *s = run_block(ps, &sep, &c, x, NULL, NULL, sw, 4, &ns);
    size_t nout = (size_t)B * T * in;
    assert_close(f, s, nout, 1e-5, "output");
    /* the separate gradients, laid out as the fused weight's */
    float *dca = malloc(ca->numel * sizeof *dca);
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < dim; o++)
            for (int k = 0; k < in; k++)
                dca[k * 3 * dim + i * dim + o] = s[nout + (size_t)i * dim * in + o * in + k];
    assert_close(f + nout, dca, ca->numel, 1e-4, "c_attn.weight gradient");
    free(dca), free(f), free(s);
    tg_params_free(ps);
}
END_TEST

/* Cross-attention: q_attn on the decoder states, c_attn [in, 2 dim] on the
 * encoder output of another length with key padding; equals q + k + v. */
START_TEST(block_cross_attention_matches_separate)
{
    int B = 2, Tq = 9, Tk = 75, in = 8, dim = 8, nh = 2;
    tg_params *ps = tg_params_new();
    tg_tensor *x = P3(ps, "x", B, Tq, in, 0), *mem = P3(ps, "encoder", B, Tk, in, 0);
    tg_tensor *qa = P2(ps, "q_attn.weight", in, dim), *qab = P2(ps, "q_attn.bias", dim, 0);
    tg_tensor *ca = P2(ps, "c_attn.weight", in, 2 * dim), *cab = P2(ps, "c_attn.bias", 2 * dim, 0);
    tg_tensor *wk = P2(ps, "k.weight", dim, in), *bk = P2(ps, "k.bias", dim, 0);
    tg_tensor *wv = P2(ps, "v.weight", dim, in), *bv = P2(ps, "v.bias", dim, 0);
    ck_assert_int_eq(tg_params_alloc(ps), TG_OK);
    fill_normal(tg_params_values(ps), tg_params_numel(ps), 37);
    conv_to_linear(tg_f32(wk), ca, 0, dim);
    conv_to_linear(tg_f32(wv), ca, dim, dim);
    memcpy(tg_f32(bk), tg_f32(cab), dim * sizeof(float));
    memcpy(tg_f32(bv), tg_f32(cab) + dim, dim * sizeof(float));
    int32_t *mask = malloc((size_t)B * Tk * sizeof *mask);
    for (int i = 0; i < B * Tk; i++)
        mask[i] = i % Tk < Tk - 20 * (i / Tk);
    at_config c = {.heads = nh};
    at_weights fused = {.q = {qa, qab, 1}, .kv = {ca, cab, 1}};
    at_weights sep = {.q = {qa, qab, 1}, .k = {wk, bk, 0}, .v = {wv, bv, 0}};
    size_t nf, ns;
    float *f = run_block(ps, &fused, &c, x, mem, mask, (tg_tensor *[]){qa}, 1, &nf);
    float *s = run_block(ps, &sep, &c, x, mem, mask, (tg_tensor *[]){qa}, 1, &ns);
    ck_assert_uint_eq(nf, ns);
    assert_close(f, s, nf, 1e-4, "output and q_attn gradient");
    /* padding matters: without the mask the output differs */
    size_t nn;
    float *u = run_block(ps, &fused, &c, x, mem, NULL, NULL, 0, &nn);
    int differs = 0;
    for (size_t i = (size_t)Tq * dim; i < nn; i++) /* sequence 1 has padding */
        differs |= fabs(u[i] - f[i]) > 1e-3;
    ck_assert(differs);
    free(u), free(f), free(s), free(mask);
    tg_params_free(ps);
}
END_TEST

START_TEST(block_rejects_bad_combinations)
{
    tg_params *ps = tg_params_new();
    tg_tensor *x = P3(ps, "x", 1, 3, 6, 0), *w = P2(ps, "w", 6, 6), *w3 = P2(ps, "c_attn", 6, 10);
    ck_assert_int_eq(tg_params_alloc(ps), TG_OK);
    at_config c = {.heads = 2};
    struct {
        at_weights w;
        tg_tensor *mem;
        const char *msg;
    } cases[] = {
        {{.q = {w, NULL, 0}, .k = {w, NULL, 0}}, NULL, "tg_linear: input 1 is NULL"},
        {{.qkv = {w3, NULL, 1}, .q = {w, NULL, 0}}, NULL, "give qkv (self-attention only)"},
        {{.qkv = {w3, NULL, 1}}, x, "give qkv (self-attention only)"},
        {{.qkv = {w3, NULL, 1}}, NULL, "'c_attn' width 10 is not 3 x dim"},
        {{.k = {w, NULL, 0}, .v = {w, NULL, 0}}, NULL, "give qkv"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_graph *g = tg_graph_new();
        ck_assert_ptr_null(at_attention(g, &cases[i].w, &c, x, cases[i].mem, NULL));
        ck_assert_msg(tg_graph_error(g) && strstr(tg_graph_error(g), cases[i].msg), "case %zu: %s",
                      i, tg_graph_error(g));
        tg_graph_free(g);
    }
    tg_params_free(ps);
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("op");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, matches_composition);
    tcase_add_test(tc, same_bits_on_any_thread_count);
    tcase_add_test(tc, rows_without_keys_are_zero);
    tcase_add_test(tc, dropout_keep_decisions);
    tcase_add_test(tc, kv_cache_step_matches_full_pass);
    tcase_add_test(tc, shape_errors_name_the_problem);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("block");
    tcase_set_timeout(tb, 300);
    tcase_add_test(tb, block_fused_qkv_matches_separate);
    tcase_add_test(tb, block_cross_attention_matches_separate);
    tcase_add_test(tb, block_rejects_bad_combinations);
    suite_add_tcase(s, tb);
    return tu_run(s);
}
