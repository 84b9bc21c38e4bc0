/* The framework beyond single-op gradients: forward results against plain
 * loops, fan-out accumulation, the memory plan, error messages,
 * reproducibility, allocation failures, and a whole transformer block
 * checked by a directional derivative. */
#include "tg_ops.h"
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

static tg_tensor *P(tg_params *p, const char *name, int nd, int d0, int d1, int d2)
{
    int s[3] = {d0, d1, d2};
    return tg_params_add(p, name, nd, s, 1);
}

START_TEST(matmul_matches_loops)
{
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    int B = 3, M = 5, K = 7, N = 4;
    tg_tensor *a = P(p, "a", 3, B, K, M), *b = P(p, "b", 3, B, N, K), *w = P(p, "w", 2, N, K, 0);
    tg_tensor *x = P(p, "x", 3, B, M, K);
    tg_tensor *c = tg_matmul(g, a, b, 1, 1), *l = tg_linear(g, x, w, NULL);
    tg_graph_keep(g, c);
    tg_graph_keep(g, l);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    fill_normal(tg_params_values(p), tg_params_numel(p), 1);
    ck_assert_int_eq(tg_graph_plan(g, NULL, 0), TG_OK);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    const float *A = tg_f32(a), *Bm = tg_f32(b), *W = tg_f32(w), *X = tg_f32(x);
    for (int bi = 0; bi < B; bi++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0, s2 = 0;
                for (int k = 0; k < K; k++) {
                    s += A[bi * K * M + k * M + i] * Bm[bi * N * K + j * K + k];
                    s2 += X[bi * M * K + i * K + k] * W[j * K + k];
                }
                ck_assert_double_eq_tol(tg_f32(c)[bi * M * N + i * N + j], s, 1e-4);
                ck_assert_double_eq_tol(tg_f32(l)[bi * M * N + i * N + j], s2, 1e-4);
            }
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

START_TEST(norms_and_softmax_match_loops)
{
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    int R = 6, H = 10;
    tg_tensor *x = P(p, "x", 2, R, H, 0), *gm = P(p, "g", 1, H, 0, 0), *bt = P(p, "b", 1, H, 0, 0);
    tg_tensor *m = P(p, "m", 2, 1, H, 0);
    tg_tensor *ln = tg_layer_norm(g, x, gm, bt, 1e-5f), *sm = tg_softmax(g, x, m);
    tg_tensor *ge = tg_gelu(g, x);
    tg_graph_keep(g, ln), tg_graph_keep(g, sm), tg_graph_keep(g, ge);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    fill_normal(tg_params_values(p), tg_params_numel(p), 2);
    tg_f32(m)[3] = -1e30f; /* a masked position */
    ck_assert_int_eq(tg_graph_plan(g, NULL, 0), TG_OK);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    for (int r = 0; r < R; r++) {
        const float *xr = tg_f32(x) + r * H;
        double mu = 0, var = 0, mx = -1e300, z = 0;
        for (int i = 0; i < H; i++)
            mu += xr[i] / H;
        for (int i = 0; i < H; i++)
            var += (xr[i] - mu) * (xr[i] - mu) / H;
        for (int i = 0; i < H; i++)
            mx = fmax(mx, xr[i] + tg_f32(m)[i]);
        for (int i = 0; i < H; i++)
            z += exp(xr[i] + tg_f32(m)[i] - mx);
        for (int i = 0; i < H; i++) {
            double e = (xr[i] - mu) / sqrt(var + 1e-5) * tg_f32(gm)[i] + tg_f32(bt)[i];
            ck_assert_double_eq_tol(tg_f32(ln)[r * H + i], e, 1e-5);
            ck_assert_double_eq_tol(tg_f32(sm)[r * H + i], exp(xr[i] + tg_f32(m)[i] - mx) / z, 1e-6);
            ck_assert_double_eq_tol(tg_f32(ge)[r * H + i], 0.5 * xr[i] * (1 + erf(xr[i] / sqrt(2))), 1e-6);
        }
        ck_assert_float_eq(tg_f32(sm)[r * H + 3], 0.0f);
    }
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

/* layer_norm's backward against double loops on more rows than its fixed
 * row blocks (203 rows, 37 columns: blocks of 12 and 13 rows), and the same
 * bits at 1 and 2 threads. loss = sum(ln(x) * c). */
START_TEST(layer_norm_backward_matches_loops_and_threads)
{
    int R = 203, H = 37;
    float *got[2][3] = {{0}};
    for (int run = 0; run < 2; run++) {
        tg_set_threads(run + 1);
        tg_params *p = tg_params_new();
        tg_graph *g = tg_graph_new();
        tg_tensor *x = P(p, "x", 2, R, H, 0), *gm = P(p, "g", 1, H, 0, 0);
        tg_tensor *bt = P(p, "b", 1, H, 0, 0), *c = P(p, "c", 2, R, H, 0);
        tg_tensor *loss = tg_sum(g, tg_mul(g, tg_layer_norm(g, x, gm, bt, 1e-5f), c));
        ck_assert_int_eq(tg_params_alloc(p), TG_OK);
        fill_normal(tg_params_values(p), tg_params_numel(p), 7);
        ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
        tg_params_zero_grad(p);
        ck_assert_int_eq(tg_forward(g), TG_OK);
        ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
        const tg_tensor *ts[3] = {x, gm, bt};
        for (int j = 0; j < 3; j++) {
            got[run][j] = malloc(ts[j]->numel * sizeof(float));
            ck_assert_ptr_nonnull(got[run][j]);
            memcpy(got[run][j], ts[j]->grad, ts[j]->numel * sizeof(float));
        }
        if (run == 0) { /* the double reference */
            const float *xv = tg_f32(x), *gv = tg_f32(gm), *cv = tg_f32(c);
            double *dg = calloc(H, sizeof(double)), *db = calloc(H, sizeof(double));
            ck_assert(dg && db);
            for (int r = 0; r < R; r++) {
                const float *xr = xv + r * H, *cr = cv + r * H;
                double mu = 0, var = 0, a = 0, b2 = 0;
                for (int i = 0; i < H; i++)
                    mu += xr[i] / (double)H;
                for (int i = 0; i < H; i++)
                    var += (xr[i] - mu) * (xr[i] - mu) / H;
                double rs = 1 / sqrt(var + 1e-5);
                for (int i = 0; i < H; i++) {
                    double xh = (xr[i] - mu) * rs, d = cr[i] * gv[i];
                    a += d / H, b2 += d * xh / H;
                    dg[i] += cr[i] * xh, db[i] += cr[i];
                }
                for (int i = 0; i < H; i++) {
                    double xh = (xr[i] - mu) * rs;
                    double e = rs * (cr[i] * gv[i] - a - xh * b2);
                    ck_assert_msg(fabs(got[0][0][r * H + i] - e) <= 1e-4 * (1 + fabs(e)),
                                  "dx(%d, %d) = %.7g, double %.7g", r, i, got[0][0][r * H + i], e);
                }
            }
            for (int i = 0; i < H; i++) {
                ck_assert_msg(fabs(got[0][1][i] - dg[i]) <= 1e-4 * (1 + fabs(dg[i])),
                              "dgamma[%d] = %.7g, double %.7g", i, got[0][1][i], dg[i]);
                ck_assert_msg(fabs(got[0][2][i] - db[i]) <= 1e-4 * (1 + fabs(db[i])),
                              "dbeta[%d] = %.7g, double %.7g", i, got[0][2][i], db[i]);
            }
            free(dg), free(db);
        }
        tg_graph_free(g);
        tg_params_free(p);
    }
    tg_set_threads(2);
    const size_t n[3] = {(size_t)R * H, (size_t)H, (size_t)H};
    const char *names[3] = {"dx", "dgamma", "dbeta"};
    for (int j = 0; j < 3; j++) {
        ck_assert_msg(!memcmp(got[0][j], got[1][j], n[j] * sizeof(float)),
                      "layer_norm %s differs between 1 and 2 threads", names[j]);
        free(got[0][j]), free(got[1][j]);
    }
}
END_TEST

START_TEST(cross_entropy_and_embedding_match_loops)
{
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    int N = 5, V = 6;
    tg_tensor *lg = P(p, "logits", 2, N, V, 0), *w = P(p, "w", 2, V, 3, 0);
    tg_tensor *t = tg_input(g, TG_I32, 1, &N, "labels");
    tg_tensor *e = tg_embedding(g, w, t, -1), *ce = tg_cross_entropy(g, lg, t, -100);
    tg_graph_keep(g, e);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    fill_normal(tg_params_values(p), tg_params_numel(p), 3);
    ck_assert_int_eq(tg_graph_plan(g, ce, 0), TG_OK);
    int32_t lab[5] = {2, -100, 5, 0, -100};
    memcpy(t->data, lab, sizeof lab);
    /* -100 is not a valid embedding index: forward names the tensor */
    ck_assert_int_eq(tg_forward(g), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'labels' has index -100 at position 1"));
    int32_t ok[5] = {2, 1, 5, 0, 4};
    memcpy(t->data, ok, sizeof ok);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    double loss = 0;
    for (int r = 0; r < N; r++) {
        const float *x = tg_f32(lg) + r * V;
        double z = 0;
        for (int i = 0; i < V; i++)
            z += exp(x[i]);
        loss += (log(z) - x[ok[r]]) / N;
        for (int i = 0; i < 3; i++)
            ck_assert_float_eq(tg_f32(e)[r * 3 + i], tg_f32(w)[ok[r] * 3 + i]);
    }
    ck_assert_double_eq_tol(tg_f32(ce)[0], loss, 1e-5);
    int32_t bad[5] = {2, 1, 6, 0, 4};
    memcpy(t->data, bad, sizeof bad);
    ck_assert_int_ne(tg_forward(g), TG_OK);
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

/* A causal mask [1, 1, T, T] broadcast over batch and heads: row t attends
 * to positions <= t only, and each row still sums to 1. */
START_TEST(softmax_causal_mask)
{
    int B = 2, NH = 3, T = 5;
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    int xs[4] = {B, NH, T, T}, ms[4] = {1, 1, T, T};
    tg_tensor *x = tg_params_add(p, "scores", 4, xs, 1);
    tg_tensor *m = tg_input(g, TG_F32, 4, ms, "causal");
    tg_tensor *y = tg_softmax(g, x, m);
    tg_graph_keep(g, y);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    fill_normal(tg_params_values(p), tg_params_numel(p), 12);
    ck_assert_int_eq(tg_graph_plan(g, NULL, 0), TG_OK);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++)
            tg_f32(m)[i * T + j] = j > i ? -1e30f : 0.0f;
    ck_assert_int_eq(tg_forward(g), TG_OK);
    for (int r = 0; r < B * NH * T; r++) {
        int t = r % T;
        double sum = 0;
        for (int j = 0; j < T; j++) {
            float v = tg_f32(y)[r * T + j];
            if (j > t)
                ck_assert_float_eq(v, 0.0f);
            sum += v;
        }
        ck_assert_double_eq_tol(sum, 1.0, 1e-6);
    }
    ck_assert_float_eq(tg_f32(y)[0], 1.0f); /* row 0 sees only itself */
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

/* A tied weight used twice gets the sum of both uses' gradients. */
START_TEST(fan_out_accumulates)
{
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    tg_tensor *w = P(p, "w", 2, 4, 3, 0), *x = P(p, "x", 2, 2, 3, 0);
    tg_tensor *y1 = tg_linear(g, x, w, NULL);            /* [2, 4] */
    tg_tensor *y2 = tg_matmul(g, y1, w, 0, 0);           /* [2, 3]: w used again */
    tg_tensor *loss = tg_sum(g, tg_add(g, y2, x));
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    fill_normal(tg_params_values(p), tg_params_numel(p), 4);
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    /* loss = sum(x W^T W) + sum(x): dW = W (x^T 1) 1^T... check by hand:
     * dW[a][b] = sum_i [ (sum_c W[a][c]) x[i][b] + y1[i][a] ] */
    const float *W = tg_f32(w), *X = tg_f32(x);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++) {
            double rs = 0, e = 0;
            for (int c = 0; c < 3; c++)
                rs += W[a * 3 + c];
            for (int i = 0; i < 2; i++) {
                double y = 0;
                for (int c = 0; c < 3; c++)
                    y += X[i * 3 + c] * W[a * 3 + c];
                e += rs * X[i * 3 + b] + y;
            }
            ck_assert_double_eq_tol(w->grad[a * 3 + b], e, 1e-4);
        }
    /* a second backward without zeroing doubles parameter gradients
     * (accumulation across micro-batches) */
    float g0 = w->grad[5];
    ck_assert_int_eq(tg_forward(g), TG_OK);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    ck_assert_double_eq_tol(w->grad[5], 2 * g0, 1e-5);
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

/* An intermediate gradient written first by a linear layer's dX (which
 * then overwrites instead of clearing and adding: TG_GRAD_OVERWRITE) and
 * added into by the others: h = tanh(x) feeds linear(h, w1), linear(h, w2),
 * linear(h, h) (the same storage twice: must add) and a linear on a view of
 * h, in both creation orders (so the first writer in backward is the plain
 * linear in one and the view's in the other). Two passes over a dirty
 * arena: intermediate gradients must not carry over. */
START_TEST(first_writer_overwrites_exactly)
{
    for (int order = 0; order < 2; order++) {
        tg_params *p = tg_params_new();
        tg_graph *g = tg_graph_new();
        tg_tensor *x = P(p, "x", 2, 4, 4, 0), *w1 = P(p, "w1", 2, 3, 4, 0);
        tg_tensor *w2 = P(p, "w2", 2, 5, 4, 0), *w3 = P(p, "w3", 2, 3, 8, 0);
        tg_tensor *h = tg_tanh(g, x);
        int s28[2] = {2, 8};
        tg_tensor *t[4];
        for (int i = 0; i < 4; i++) {
            int which = order ? i : 3 - i;
            t[i] = which == 0   ? tg_linear(g, tg_reshape(g, h, 2, s28), w3, NULL)
                   : which == 1 ? tg_linear(g, h, h, NULL)
                   : which == 2 ? tg_linear(g, h, w2, NULL)
                                : tg_linear(g, h, w1, NULL);
        }
        tg_tensor *loss = tg_add(g, tg_add(g, tg_sum(g, t[0]), tg_sum(g, t[1])),
                                 tg_add(g, tg_sum(g, t[2]), tg_sum(g, t[3])));
        ck_assert_int_eq(tg_params_alloc(p), TG_OK);
        fill_normal(tg_params_values(p), tg_params_numel(p), 11 + order);
        ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
        const float *X = tg_f32(x), *W1 = tg_f32(w1), *W2 = tg_f32(w2), *W3 = tg_f32(w3);
        for (int pass = 0; pass < 2; pass++) {
            ck_assert_int_eq(tg_forward(g), TG_OK);
            tg_params_zero_grad(p);
            ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
            for (int f = 0; f < 16; f++) {
                int j = f % 4;
                double dh = 0;
                for (int i = 0; i < 3; i++)
                    dh += W1[i * 4 + j] + W3[i * 8 + f % 8];
                for (int i = 0; i < 5; i++)
                    dh += W2[i * 4 + j];
                for (int r = 0; r < 4; r++) /* linear(h, h): d/dh of sum h h^T */
                    dh += 2 * tanh(X[r * 4 + j]);
                double th = tanh(X[f]);
                ck_assert_double_eq_tol(x->grad[f], dh * (1 - th * th), 1e-4);
            }
        }
        tg_graph_free(g);
        tg_params_free(p);
    }
}
END_TEST

/* One post-LN transformer block (attention + FFN) and an MLM-style loss. */
typedef struct {
    tg_tensor *loss, *ids, *labels, *mask;
} block;

static block build_block(tg_graph *g, tg_params *p, int B, int T, int Hd, int nh, int V,
                         float drop)
{
    int F = 2 * Hd, hd = Hd / nh;
    block k;
    tg_tensor *emb = P(p, "emb", 2, V, Hd, 0);
    tg_tensor *wq = P(p, "wq", 2, Hd, Hd, 0), *wk = P(p, "wk", 2, Hd, Hd, 0), *wv = P(p, "wv", 2, Hd, Hd, 0);
    tg_tensor *bq = P(p, "bq", 1, Hd, 0, 0), *wo = P(p, "wo", 2, Hd, Hd, 0), *bo = P(p, "bo", 1, Hd, 0, 0);
    tg_tensor *g1 = P(p, "g1", 1, Hd, 0, 0), *b1 = P(p, "b1", 1, Hd, 0, 0);
    tg_tensor *wi = P(p, "wi", 2, F, Hd, 0), *bi = P(p, "bi", 1, F, 0, 0);
    tg_tensor *wf = P(p, "wf", 2, Hd, F, 0), *bf = P(p, "bf", 1, Hd, 0, 0);
    tg_tensor *g2 = P(p, "g2", 1, Hd, 0, 0), *b2 = P(p, "b2", 1, Hd, 0, 0);
    tg_tensor *lb = P(p, "lm_bias", 1, V, 0, 0);
    k.ids = tg_input(g, TG_I32, 2, (int[]){B, T}, "ids");
    k.labels = tg_input(g, TG_I32, 2, (int[]){B, T}, "labels");
    k.mask = tg_input(g, TG_F32, 4, (int[]){B, 1, 1, T}, "mask");
    tg_tensor *x = tg_embedding(g, emb, k.ids, 0);
    int hs[4] = {B, T, nh, hd}, perm[4] = {0, 2, 1, 3};
    tg_tensor *q = tg_permute(g, tg_reshape(g, tg_linear(g, x, wq, bq), 4, hs), 4, perm);
    tg_tensor *kk = tg_permute(g, tg_reshape(g, tg_linear(g, x, wk, NULL), 4, hs), 4, perm);
    tg_tensor *v = tg_permute(g, tg_reshape(g, tg_linear(g, x, wv, NULL), 4, hs), 4, perm);
    tg_tensor *att = tg_softmax(g, tg_scale(g, tg_matmul(g, q, kk, 0, 1), 1.0f / sqrtf(hd)), k.mask);
    tg_tensor *ctx = tg_permute(g, tg_matmul(g, tg_dropout(g, att, drop), v, 0, 0), 4, perm);
    ctx = tg_reshape(g, ctx, 3, (int[]){B, T, Hd});
    x = tg_layer_norm(g, tg_add(g, x, tg_dropout(g, tg_linear(g, ctx, wo, bo), drop)), g1, b1, 1e-5f);
    tg_tensor *h = tg_linear(g, tg_gelu(g, tg_linear(g, x, wi, bi)), wf, bf);
    x = tg_layer_norm(g, tg_add(g, x, tg_tanh(g, h)), g2, b2, 1e-5f);
    tg_tensor *logits = tg_add(g, tg_linear(g, x, emb, NULL), lb); /* tied decoder */
    k.loss = tg_cross_entropy(g, logits, k.labels, -100);
    return k;
}

static void fill_block_inputs(block *k, int B, int T, int V)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int pad = t >= T - b; /* row b has b padding positions */
            tg_i32(k->ids)[b * T + t] = pad ? 0 : 1 + (b * 7 + t * 3) % (V - 1);
            tg_i32(k->labels)[b * T + t] = pad || t % 3 ? -100 : (b + t) % V;
            tg_f32(k->mask)[b * T + t] = pad ? -1e30f : 0.0f;
        }
}

/* Directional derivative: (f(w + e d) - f(w - e d)) / 2e against grad . d */
START_TEST(transformer_block_directional_derivative)
{
    int B = 2, T = 5, Hd = 8, nh = 2, V = 7;
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    block k = build_block(g, p, B, T, Hd, nh, V, 0.2f);
    ck_assert_msg(k.loss, "%s", tg_graph_error(g));
    tg_graph_set_training(g, 1);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    size_t n = tg_params_numel(p);
    float *w = tg_params_values(p);
    fill_normal(w, n, 5);
    for (size_t i = 0; i < n; i++)
        w[i] *= 0.5f;
    ck_assert_int_eq(tg_graph_plan(g, k.loss, 0), TG_OK);
    fill_block_inputs(&k, B, T, V);
    float *d = malloc(n * sizeof *d), *w0 = malloc(n * sizeof *w0);
    fill_normal(d, n, 6);
    memcpy(w0, w, n * sizeof *w);
    tg_graph_set_rng_state(g, 3);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, k.loss, NULL), TG_OK);
    double an = 0;
    for (size_t i = 0; i < n; i++)
        an += (double)tg_params_grads(p)[i] * d[i];
    double e = 1e-3, f[2];
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < n; i++)
            w[i] = w0[i] + (s ? -e : e) * d[i];
        tg_graph_set_rng_state(g, 3);
        ck_assert_int_eq(tg_forward(g), TG_OK);
        f[s] = tg_f32(k.loss)[0];
    }
    double fd = (f[0] - f[1]) / (2 * e);
    ck_assert_msg(fabs(an - fd) <= 2e-2 * fmax(fabs(an), 1e-1),
                  "directional derivative: analytic %.6g, numeric %.6g", an, fd);
    free(d);
    free(w0);
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

/* The plan reuses memory, and gives the same results as keep-everything. */
START_TEST(memory_plan_reuses_and_matches)
{
    int B = 3, T = 9, Hd = 16, nh = 4, V = 11;
    float loss[2], *grads[2];
    size_t planned = 0, unplanned = 0;
    for (int keep_all = 0; keep_all < 2; keep_all++) {
        tg_params *p = tg_params_new();
        tg_graph *g = tg_graph_new();
        block k = build_block(g, p, B, T, Hd, nh, V, 0.1f);
        tg_graph_set_training(g, 1);
        ck_assert_int_eq(tg_params_alloc(p), TG_OK);
        fill_normal(tg_params_values(p), tg_params_numel(p), 8);
        ck_assert_int_eq(tg_graph_plan(g, k.loss, keep_all), TG_OK);
        fill_block_inputs(&k, B, T, V);
        ck_assert_int_eq(tg_forward(g), TG_OK);
        tg_params_zero_grad(p);
        ck_assert_int_eq(tg_backward(g, k.loss, NULL), TG_OK);
        loss[keep_all] = tg_f32(k.loss)[0];
        grads[keep_all] = malloc(tg_params_numel(p) * sizeof(float));
        memcpy(grads[keep_all], tg_params_grads(p), tg_params_numel(p) * sizeof(float));
        if (!keep_all)
            planned = tg_graph_planned_bytes(g), unplanned = tg_graph_unplanned_bytes(g);
        else
            ck_assert_uint_eq(tg_graph_planned_bytes(g), unplanned);
        if (keep_all) {
            ck_assert_float_eq(loss[0], loss[1]);
            ck_assert_int_eq(memcmp(grads[0], grads[1], tg_params_numel(p) * sizeof(float)), 0);
        }
        tg_graph_free(g);
        tg_params_free(p);
    }
    ck_assert_msg(planned < unplanned * 3 / 4, "planned %zu bytes, keep-everything %zu", planned,
                  unplanned);
    free(grads[0]);
    free(grads[1]);
}
END_TEST

/* Same seed and thread count: bit-identical losses and gradients; another
 * dropout seed: different. */
START_TEST(reproducible)
{
    int B = 2, T = 6, Hd = 8, nh = 2, V = 9;
    float loss[3];
    float gsum[3];
    for (int run = 0; run < 3; run++) {
        tg_params *p = tg_params_new();
        tg_graph *g = tg_graph_new();
        block k = build_block(g, p, B, T, Hd, nh, V, 0.3f);
        tg_graph_set_training(g, 1);
        tg_graph_seed(g, run == 2 ? 99 : 42);
        ck_assert_int_eq(tg_params_alloc(p), TG_OK);
        fill_normal(tg_params_values(p), tg_params_numel(p), 9);
        ck_assert_int_eq(tg_graph_plan(g, k.loss, 0), TG_OK);
        fill_block_inputs(&k, B, T, V);
        ck_assert_int_eq(tg_forward(g), TG_OK);
        tg_params_zero_grad(p);
        ck_assert_int_eq(tg_backward(g, k.loss, NULL), TG_OK);
        loss[run] = tg_f32(k.loss)[0];
        gsum[run] = 0;
        for (size_t i = 0; i < tg_params_numel(p); i++)
            gsum[run] += tg_params_grads(p)[i] * (float)(i % 7);
        tg_graph_free(g);
        tg_params_free(p);
    }
    ck_assert_int_eq(memcmp(&loss[0], &loss[1], sizeof(float)), 0);
    ck_assert_int_eq(memcmp(&gsum[0], &gsum[1], sizeof(float)), 0);
    ck_assert_float_ne(loss[0], loss[2]);
}
END_TEST

/* Graphs of different shapes sharing one arena (a shape cache) give the
 * same results as graphs with their own, run in any order. */
START_TEST(shared_arena_matches_own_arena)
{
    int shapes[2][2] = {{2, 5}, {3, 9}};
    float own[2], shared[2][2];
    tg_arena *arena = tg_arena_new();
    tg_params *p = tg_params_new();
    tg_graph *g[2];
    block k[2];
    tg_params *pp[2];
    for (int i = 0; i < 2; i++) { /* each graph over its own copy of the weights */
        pp[i] = i ? tg_params_new() : p;
        g[i] = tg_graph_new();
        tg_graph_share_arena(g[i], arena);
        k[i] = build_block(g[i], pp[i], shapes[i][0], shapes[i][1], 8, 2, 7, 0.0f);
        ck_assert_int_eq(tg_params_alloc(pp[i]), TG_OK);
        fill_normal(tg_params_values(pp[i]), tg_params_numel(pp[i]), 11);
        ck_assert_int_eq(tg_graph_plan(g[i], k[i].loss, 0), TG_OK);
    }
    ck_assert_uint_ge(tg_arena_bytes(arena), tg_graph_planned_bytes(g[1]));
    for (int round = 0; round < 2; round++)
        for (int i = 1; i >= 0; i--) {
            fill_block_inputs(&k[i], shapes[i][0], shapes[i][1], 7);
            ck_assert_int_eq(tg_forward(g[i]), TG_OK);
            ck_assert_int_eq(tg_backward(g[i], k[i].loss, NULL), TG_OK);
            shared[round][i] = tg_f32(k[i].loss)[0];
        }
    for (int i = 0; i < 2; i++) {
        tg_params *q = tg_params_new();
        tg_graph *h = tg_graph_new();
        block b = build_block(h, q, shapes[i][0], shapes[i][1], 8, 2, 7, 0.0f);
        ck_assert_int_eq(tg_params_alloc(q), TG_OK);
        fill_normal(tg_params_values(q), tg_params_numel(q), 11);
        ck_assert_int_eq(tg_graph_plan(h, b.loss, 0), TG_OK);
        fill_block_inputs(&b, shapes[i][0], shapes[i][1], 7);
        ck_assert_int_eq(tg_forward(h), TG_OK);
        own[i] = tg_f32(b.loss)[0];
        ck_assert_float_eq(own[i], shared[0][i]);
        ck_assert_float_eq(own[i], shared[1][i]);
        tg_graph_free(h);
        tg_params_free(q);
    }
    for (int i = 0; i < 2; i++) {
        tg_graph_free(g[i]);
        tg_params_free(pp[i]);
    }
    tg_arena_free(arena);
}
END_TEST

START_TEST(shape_errors_name_op_and_shapes)
{
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    tg_tensor *a = P(p, "a", 3, 16, 130, 512), *b = P(p, "b", 2, 256, 512, 0);
    ck_assert_ptr_null(tg_matmul(g, a, b, 0, 0));
    ck_assert_str_eq(tg_graph_error(g),
                     "tg_matmul: inner dimensions differ: a is [16, 130, 512], b is [256, 512]");
    /* sticky: later ops return NULL and keep the first message */
    ck_assert_ptr_null(tg_gelu(g, a));
    ck_assert_ptr_nonnull(strstr(tg_graph_error(g), "tg_matmul"));
    ck_assert_int_ne(tg_graph_plan(g, NULL, 0), TG_OK);
    tg_graph_free(g);

    struct {
        const char *expect;
    } cases[] = {{"tg_add: b must have a's shape or its trailing dims: a is [16, 130, 512], b is [256, 512]"},
                 {"tg_layer_norm: gamma and beta must be [512]"},
                 {"tg_softmax: mask must broadcast to x"},
                 {"tg_reshape: 'a' [16, 130, 512] has 1064960 elements, the new shape 10"},
                 {"tg_embedding: indices 'a' must be int32"},
                 {"tg_cross_entropy: logits must be float32 and targets int32"},
                 {"tg_slice: [100, 200) along dim 1 is outside float32 'a' [16, 130, 512]"},
                 {"tg_concat: float32 inputs must match except along dim 0"}};
    for (int i = 0; i < 8; i++) {
        g = tg_graph_new();
        switch (i) {
        case 0: tg_add(g, a, b); break;
        case 1: tg_layer_norm(g, a, b, b, 1e-5f); break;
        case 2: tg_softmax(g, a, b); break;
        case 3: tg_reshape(g, a, 2, (int[]){2, 5}); break;
        case 4: tg_embedding(g, b, a, -1); break;
        case 5: tg_cross_entropy(g, a, a, -100); break;
        case 6: tg_slice(g, a, 1, 100, 100); break;
        case 7: tg_concat(g, a, b, 0); break;
        }
        ck_assert_msg(tg_graph_error(g) && strstr(tg_graph_error(g), cases[i].expect),
                      "case %d: got '%s'", i, tg_graph_error(g));
        tg_graph_free(g);
    }
    tg_params_free(p);
}
END_TEST

/* Every allocation failure while building, allocating or planning is
 * reported as an error, never a crash. */
START_TEST(allocation_failures_are_reported)
{
    int failures = 0;
    for (long n = 1; n < 400; n++) {
        tg_params *p = tg_params_new();
        tg_graph *g = tg_graph_new();
        tg_alloc_fail_after(n);
        int rc = TG_ERR_NOMEM;
        if (p && g) {
            block k = build_block(g, p, 2, 4, 8, 2, 5, 0.1f);
            if (k.loss && tg_params_alloc(p) == TG_OK && tg_graph_plan(g, k.loss, 0) == TG_OK) {
                fill_block_inputs(&k, 2, 4, 5);
                rc = tg_forward(g);
                if (rc == TG_OK)
                    rc = tg_backward(g, k.loss, NULL);
            } else {
                rc = TG_ERR_NOMEM;
            }
        }
        tg_alloc_fail_after(0);
        if (rc != TG_OK)
            failures++;
        tg_graph_free(g);
        tg_params_free(p);
        if (rc == TG_OK)
            fprintf(stderr, "alloc test: passed at n=%ld after %d failures\n", n, failures);
        if (rc == TG_OK)
            break; /* n beyond the number of allocations: all passed */
    }
    ck_assert_int_gt(failures, 20);
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("graph");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, matmul_matches_loops);
    tcase_add_test(tc, norms_and_softmax_match_loops);
    tcase_add_test(tc, layer_norm_backward_matches_loops_and_threads);
    tcase_add_test(tc, cross_entropy_and_embedding_match_loops);
    tcase_add_test(tc, softmax_causal_mask);
    tcase_add_test(tc, fan_out_accumulates);
    tcase_add_test(tc, first_writer_overwrites_exactly);
    tcase_add_test(tc, transformer_block_directional_derivative);
    tcase_add_test(tc, memory_plan_reuses_and_matches);
    tcase_add_test(tc, reproducible);
    tcase_add_test(tc, shared_arena_matches_own_arena);
    tcase_add_test(tc, shape_errors_name_op_and_shapes);
    tcase_add_test(tc, allocation_failures_are_reported);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
