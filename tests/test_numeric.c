/* Numeric edges of the ops and the loaders, against long-double references:
 * softmax and cross-entropy of very large logits (no overflow: finite and
 * correct, gradients too), a fully masked softmax row (finfo.min mask: the
 * uniform row torch gives) and a fully masked attention row (documented
 * choice: output 0, gradient 0), attention with huge scores, LayerNorm of
 * constant rows, NaN and Inf inputs (propagation stays in its row; ignored
 * cross-entropy rows do not leak), F16/BF16/F64 checkpoints with extreme
 * values (max, min normal, subnormal, Inf, NaN, -0: exact conversions),
 * and a model with a non-finite weight (forward propagates, ablm train
 * stops at the first non-finite loss). */
#include "commands.h"
#include "roberta.h"
#include "safetensors.h"
#include "testutil.h"
#include "tg.h"
#include "tg_ops.h"
#include "tokenizer.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static tg_tensor *param(tg_params *p, const char *name, int ndim, const int *shape, int train)
{
    tg_tensor *t = tg_params_add(p, name, ndim, shape, train);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* |got - want| within rel * |want| + abs. */
static void near(double got, long double want, double rel, double abs_, const char *what, int i)
{
    ck_assert_msg(isfinite(got), "%s[%d] = %g is not finite (want %Lg)", what, i, got, want);
    ck_assert_msg(fabsl((long double)got - want) <= rel * fabsl(want) + abs_,
                  "%s[%d] = %.9g, want %.9Lg", what, i, got, want);
}

/* softmax of row x[0..n) (already including the mask) in long double. */
static void ref_softmax(const float *x, int n, long double *y)
{
    long double mx = -INFINITY, z = 0;
    for (int i = 0; i < n; i++)
        mx = fmaxl(mx, x[i]);
    for (int i = 0; i < n; i++)
        z += expl((long double)x[i] - mx);
    for (int i = 0; i < n; i++)
        y[i] = expl((long double)x[i] - mx) / z;
}

enum { SR = 6, SH = 8 };

/* Softmax rows whose logits overflow exp() unless shifted by the row max,
 * with a finfo.min mask on some positions and one fully masked row; forward
 * and gradient of sum(softmax * R) against long double. */
START_TEST(softmax_large_logits)
{
    static const float rows[SR][SH] = {
        {1e4f, 1e4f - 1, 1e4f - 2, 1e4f - 30, 9000, 0, -1e4f, 1e4f - 0.5f},
        {3e38f, 3e38f, 1e38f, 0, -3e38f, 3e38f - 1e32f, 2.9e38f, -FLT_MAX},
        {-3e38f, -3e38f, -3.1e38f, -FLT_MAX, -3e38f, -3e38f, -3e38f, -3e38f},
        {88.7f, 89, 100, 101, 102.5f, 103, 120, 90},
        {1e38f, 5, -5, 1e38f, 0, 0, 0, 0},  /* with masked positions */
        {1, 2, 3, 4, 5, 6, 7, 8},           /* fully masked */
    };
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    tg_tensor *x = param(p, "x", 2, (int[]){SR, SH}, 1), *m = param(p, "mask", 2, (int[]){SR, SH}, 0),
              *R = param(p, "R", 2, (int[]){SR, SH}, 0);
    tg_tensor *y = tg_softmax(g, x, m), *loss = tg_sum(g, tg_mul(g, y, R));
    tg_graph_keep(g, y);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    memcpy(tg_f32(x), rows, sizeof rows);
    memset(tg_f32(m), 0, SR * SH * sizeof(float));
    for (int i = 0; i < SH; i++) {
        if (i == 0 || i == 3 || i == 5)
            tg_f32(m)[4 * SH + i] = -FLT_MAX; /* transformers' finfo(float32).min */
        tg_f32(m)[5 * SH + i] = -FLT_MAX;
    }
    for (int i = 0; i < SR * SH; i++)
        tg_f32(R)[i] = (float)((i * 7) % 5) - 2;
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    for (int r = 0; r < SR; r++) {
        float in[SH];
        long double want[SH], dot = 0;
        for (int i = 0; i < SH; i++)
            in[i] = tg_f32(x)[r * SH + i] + tg_f32(m)[r * SH + i]; /* float32, as torch adds */
        ref_softmax(in, SH, want);
        for (int i = 0; i < SH; i++)
            dot += want[i] * tg_f32(R)[r * SH + i];
        for (int i = 0; i < SH; i++) {
            near(tg_f32(y)[r * SH + i], want[i], 2e-6, 1e-7, "softmax", r * SH + i);
            long double dx = want[i] * (tg_f32(R)[r * SH + i] - dot);
            near(x->grad[r * SH + i], dx, 1e-5, 1e-6, "softmax grad", r * SH + i);
        }
    }
    /* the fully masked row is uniform, as in torch with a finfo.min mask */
    for (int i = 0; i < SH; i++)
        ck_assert_double_eq_tol(tg_f32(y)[5 * SH + i], 1.0 / SH, 1e-6);
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

enum { CN = 5, CV = 6 };

/* Mean cross-entropy of rows[0..CN) against tgt: finite, equal to the
 * long-double log-sum-exp within 1e-6 relative, gradient (softmax -
 * onehot) / N. */
static void check_ce(const float rows[CN][CV], const int32_t tgt[CN])
{
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    tg_tensor *lg = param(p, "logits", 2, (int[]){CN, CV}, 1);
    tg_tensor *t = tg_input(g, TG_I32, 1, (int[]){CN}, "targets");
    tg_tensor *ce = tg_cross_entropy(g, lg, t, -100);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    memcpy(tg_f32(lg), rows, sizeof(float) * CN * CV);
    ck_assert_int_eq(tg_graph_plan(g, ce, 0), TG_OK);
    memcpy(t->data, tgt, sizeof(int32_t) * CN);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, ce, NULL), TG_OK);
    long double loss = 0;
    for (int r = 0; r < CN; r++) {
        long double sm[CV], mx = -INFINITY, z = 0;
        for (int i = 0; i < CV; i++)
            mx = fmaxl(mx, rows[r][i]);
        for (int i = 0; i < CV; i++)
            z += expl((long double)rows[r][i] - mx);
        loss += (mx - rows[r][tgt[r]] + logl(z)) / CN;
        ref_softmax(rows[r], CV, sm);
        for (int i = 0; i < CV; i++)
            near(lg->grad[r * CV + i], (sm[i] - (i == tgt[r])) / CN, 1e-5, 1e-7, "ce grad", r * CV + i);
    }
    near(tg_f32(ce)[0], loss, 1e-6, 0, "cross-entropy", 0);
    tg_graph_free(g);
    tg_params_free(p);
}

/* Logits far outside exp()'s range, and near-ties at a row max so large
 * that log(sum) is below half its ulp (max and log-sum must be kept apart:
 * as one float the six -3e38 logits gave a gradient of 1/N instead of
 * 1/(6N), the tie at 3e38 a loss of 0 instead of log 2, the tie at 1e4 a
 * loss 5e-4 off). */
START_TEST(cross_entropy_large_logits)
{
    static const float big[CN][CV] = {
        {1e4f, 0, -1e4f, 5, 3, 1},
        {3e38f, -3e38f, 0, 1e38f, 2e38f, 2.9e38f},
        {-1e3f, -3e38f, -3e38f, -3e38f, -3e38f, -3e38f}, /* a loss of 3e38 */
        {88, 89, 90, 102, 101, 102}, /* a tie: log(2) below the row max's ulp would be lost */
        {-1e30f, 1e30f, 0, 0, 0, 0},
    };
    static const int32_t big_t[CN] = {1, 0, 2, 5, 1};
    check_ce(big, big_t);
    static const float ties[CN][CV] = {
        {-3e38f, -3e38f, -3e38f, -3e38f, -3e38f, -3e38f},
        {3e38f, 3e38f, 0, 0, 0, 0},
        {1e4f, 1e4f, 9999.f, 0, 0, -1e4f},
        {-1e4f, -1e4f, -1e4f, -1e4f, -1e4f, -9999.5f},
        {1e38f, 1e38f, 1e38f, -1e38f, 0, 1e38f},
    };
    static const int32_t ties_t[CN] = {0, 1, 2, 5, 3};
    check_ce(ties, ties_t);
}
END_TEST

/* NaN and Inf inputs: the row holding one is non-finite (as in torch), the
 * other rows are untouched; a cross-entropy row whose target is ignored
 * neither makes the loss non-finite nor gets a non-finite gradient. */
START_TEST(nan_and_inf_stay_in_their_row)
{
    enum { R = 4, H = 6 };
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    tg_tensor *x = param(p, "x", 2, (int[]){R, H}, 1), *gm = param(p, "g", 1, (int[]){H}, 0),
              *bt = param(p, "b", 1, (int[]){H}, 0);
    tg_tensor *sm = tg_softmax(g, x, NULL), *ln = tg_layer_norm(g, x, gm, bt, 1e-5f);
    tg_tensor *t = tg_input(g, TG_I32, 1, (int[]){R}, "targets");
    tg_tensor *ce = tg_cross_entropy(g, x, t, -100);
    tg_graph_keep(g, sm);
    tg_graph_keep(g, ln);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    for (int i = 0; i < R * H; i++)
        tg_f32(x)[i] = (float)((i * 5) % 7) * 0.5f - 1;
    for (int i = 0; i < H; i++)
        tg_f32(gm)[i] = 1, tg_f32(bt)[i] = 0.25f;
    tg_f32(x)[1 * H + 2] = NAN;
    tg_f32(x)[2 * H + 4] = INFINITY;
    tg_f32(x)[3 * H + 0] = -INFINITY;
    ck_assert_int_eq(tg_graph_plan(g, ce, 0), TG_OK);
    int32_t tg1[R] = {1, -100, -100, 2};
    memcpy(t->data, tg1, sizeof tg1);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    for (int i = 0; i < H; i++) {
        ck_assert(isfinite(tg_f32(sm)[i]) && isfinite(tg_f32(ln)[i]));   /* row 0 clean */
        ck_assert(isnan(tg_f32(sm)[H + i]) && isnan(tg_f32(ln)[H + i])); /* NaN row */
        ck_assert(!isfinite(tg_f32(ln)[2 * H + i]));                     /* +Inf row */
    }
    /* softmax of a row with one +Inf: torch gives NaN everywhere in it (inf - inf) */
    for (int i = 0; i < H; i++)
        ck_assert_msg(isnan(tg_f32(sm)[2 * H + i]), "softmax +inf row [%d] = %g", i, tg_f32(sm)[2 * H + i]);
    /* -Inf is an ordinary masked position: probability 0, the rest finite */
    ck_assert_float_eq(tg_f32(sm)[3 * H + 0], 0.0f);
    long double want[H];
    float in[H];
    for (int i = 0; i < H; i++)
        in[i] = tg_f32(x)[3 * H + i];
    ref_softmax(in, H, want);
    for (int i = 1; i < H; i++)
        near(tg_f32(sm)[3 * H + i], want[i], 2e-6, 1e-7, "softmax -inf row", i);
    /* rows 1 and 2 (NaN, +Inf) are ignored targets: finite loss and grads */
    ck_assert_msg(isfinite(tg_f32(ce)[0]), "ce = %g", tg_f32(ce)[0]);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, ce, NULL), TG_OK);
    for (int i = 0; i < R * H; i++)
        if (i / H != 3 || i % H != 0)
            ck_assert_msg(isfinite(x->grad[i]), "grad[%d] = %g", i, x->grad[i]);
    /* a counted NaN row makes the loss NaN (the trainer stops on it) */
    int32_t tg2[R] = {1, 3, -100, 2};
    memcpy(t->data, tg2, sizeof tg2);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    ck_assert(isnan(tg_f32(ce)[0]));
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

/* LayerNorm of constant rows: (x - mean) is 0, so the output is beta
 * exactly, as torch gives; finite gradients. */
START_TEST(layer_norm_constant_rows)
{
    static const float consts[] = {0, 5, -3.25f, 1000000.5f, 1e20f, -7e-30f, 3e38f};
    enum { NC = sizeof consts / sizeof *consts };
    int widths[] = {24, 64, 768};
    for (int w = 0; w < 3; w++) {
        int H = widths[w];
        tg_params *p = tg_params_new();
        tg_graph *g = tg_graph_new();
        tg_tensor *x = param(p, "x", 2, (int[]){NC, H}, 1), *gm = param(p, "g", 1, &H, 1),
                  *bt = param(p, "b", 1, &H, 1), *R = param(p, "R", 2, (int[]){NC, H}, 0);
        tg_tensor *ln = tg_layer_norm(g, x, gm, bt, 1e-5f), *loss = tg_sum(g, tg_mul(g, ln, R));
        tg_graph_keep(g, ln);
        ck_assert_int_eq(tg_params_alloc(p), TG_OK);
        for (int r = 0; r < NC; r++)
            for (int i = 0; i < H; i++)
                tg_f32(x)[r * H + i] = consts[r];
        for (int i = 0; i < H; i++)
            tg_f32(gm)[i] = 1 + 0.01f * (i % 7), tg_f32(bt)[i] = 0.1f * (i % 5) - 0.2f;
        for (int i = 0; i < NC * H; i++)
            tg_f32(R)[i] = (float)((i * 3) % 11) / 11 - 0.5f;
        ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
        ck_assert_int_eq(tg_forward(g), TG_OK);
        tg_params_zero_grad(p);
        ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
        for (int r = 0; r < NC; r++)
            for (int i = 0; i < H; i++) {
                float o = tg_f32(ln)[r * H + i];
                ck_assert_msg(o == tg_f32(bt)[i], "H=%d constant %g: out[%d] = %.9g, beta %.9g", H,
                              consts[r], i, o, tg_f32(bt)[i]);
                /* dx = rstd * (g*dy - mean(g*dy)) with xhat = 0, rstd = 1/sqrt(eps) */
                long double mean = 0;
                for (int k = 0; k < H; k++)
                    mean += (long double)tg_f32(gm)[k] * tg_f32(R)[r * H + k] / H;
                long double dx = ((long double)tg_f32(gm)[i] * tg_f32(R)[r * H + i] - mean) /
                                 sqrtl(1e-5L);
                near(x->grad[r * H + i], dx, 1e-3, 1e-3, "layer norm grad", r * H + i);
            }
        tg_graph_free(g);
        tg_params_free(p);
    }
}
END_TEST

/* Attention: a batch entry whose keys are all padding gives output 0 and
 * gradient 0 (tg_ops.h's documented choice; torch's SDPA gives NaN there
 * and transformers' eager path with a finfo.min mask the mean of V); q.k
 * scores of 1e6 and more stay finite and match long double. */
START_TEST(attention_masked_row_and_huge_scores)
{
    enum { B = 2, T = 4, NH = 2, HD = 4, W = NH * HD };
    tg_params *p = tg_params_new();
    tg_graph *g = tg_graph_new();
    tg_tensor *q = param(p, "q", 3, (int[]){B, T, W}, 1), *k = param(p, "k", 3, (int[]){B, T, W}, 1),
              *v = param(p, "v", 3, (int[]){B, T, W}, 1), *R = param(p, "R", 3, (int[]){B, T, W}, 0);
    tg_tensor *mask = tg_input(g, TG_I32, 2, (int[]){B, T}, "key_mask");
    tg_tensor *o = tg_attention(g, q, k, v, mask, &(tg_attn_args){.heads = NH});
    tg_tensor *loss = tg_sum(g, tg_mul(g, o, R));
    tg_graph_keep(g, o);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    for (int i = 0; i < B * T * W; i++) {
        tg_f32(q)[i] = (float)((i * 7) % 13 - 6) * 300; /* scores up to ~1e6 / sqrt(hd) */
        tg_f32(k)[i] = (float)((i * 5) % 11 - 5) * 300;
        tg_f32(v)[i] = (float)((i * 3) % 7) - 3;
        tg_f32(R)[i] = (float)((i * 11) % 5) - 2;
    }
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    int32_t km[B * T] = {1, 1, 1, 0, 0, 0, 0, 0};
    memcpy(mask->data, km, sizeof km);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < T; i++) {
            float s[T];
            long double pr[T];
            for (int j = 0; j < T; j++) {
                long double d = 0;
                for (int c = 0; c < HD; c++)
                    d += (long double)tg_f32(q)[i * W + h * HD + c] * tg_f32(k)[j * W + h * HD + c];
                s[j] = km[j] ? (float)(d / 2) : -INFINITY; /* scale 1/sqrt(4) */
            }
            ref_softmax(s, T, pr);
            for (int c = 0; c < HD; c++) {
                long double want = 0;
                for (int j = 0; j < T; j++)
                    want += pr[j] * tg_f32(v)[j * W + h * HD + c];
                near(tg_f32(o)[i * W + h * HD + c], want, 1e-5, 1e-5, "attention", i * W + h * HD + c);
            }
        }
    for (int i = T * W; i < 2 * T * W; i++) {
        ck_assert_msg(tg_f32(o)[i] == 0.0f, "fully masked row: out[%d] = %g", i, tg_f32(o)[i]);
        ck_assert(q->grad[i] == 0 && k->grad[i] == 0 && v->grad[i] == 0);
    }
    for (int i = 0; i < T * W; i++)
        ck_assert(isfinite(q->grad[i]) && isfinite(k->grad[i]) && isfinite(v->grad[i]));
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

/* ---- checkpoints with extreme values ------------------------------------------------ */

static char *tmpd;

static const char *tpath(const char *name)
{
    static char buf[4][4200];
    static int i;
    i = (i + 1) % 4;
    if (!tmpd)
        tmpd = tu_tmpdir();
    snprintf(buf[i], sizeof buf[i], "%s/%s", tmpd, name);
    return buf[i];
}

/* Same float, or both NaN; -0 and +0 told apart. */
static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b));
}

START_TEST(half_precision_extremes_load_exactly)
{
    static const uint16_t f16[] = {0x7BFF, 0x0400, 0x0001, 0x03FF, 0x7C00, 0xFC00, 0x7E00,
                                   0x8000, 0x3C00, 0xFBFF, 0x8001};
    const float f16_want[] = {65504.0f, ldexpf(1, -14), ldexpf(1, -24), ldexpf(1023, -24),
                              INFINITY, -INFINITY, NAN, -0.0f, 1.0f, -65504.0f, -ldexpf(1, -24)};
    static const uint16_t bf16[] = {0x7F7F, 0x0080, 0x0001, 0x007F, 0x7F80, 0xFF80, 0x7FC0,
                                    0x8000, 0x3F80, 0xFF7F};
    const float bf16_want[] = {ldexpf(255, 120), FLT_MIN, ldexpf(1, -133), ldexpf(127, -133),
                               INFINITY, -INFINITY, NAN, -0.0f, 1.0f, -ldexpf(255, 120)};
    static const double f64[] = {1e300, -1e300, 1e-300, DBL_MIN, 3.4028234663852886e38,
                                 1.401298464324817e-45, 0.1};
    const float f64_want[] = {INFINITY, -INFINITY, 0.0f, 0.0f, FLT_MAX, ldexpf(1, -149), 0.1f};
    enum { N16 = 11, NB = 10, N64 = 7 };
    int s16 = N16, sb = NB, s64 = N64;
    st_tensor t[3] = {{"h", ST_F16, 1, &s16, f16}, {"b", ST_BF16, 1, &sb, bf16},
                      {"d", ST_F64, 1, &s64, f64}};
    const char *path = tpath("extremes.safetensors");
    ck_assert_int_eq(st_write(path, t, 3, NULL, 0), TG_OK);
    st_file *f;
    ck_assert_int_eq(st_open(path, &f), TG_OK);
    float got[16];
    ck_assert_int_eq(st_read_f32(f, "h", got, N16), TG_OK);
    for (int i = 0; i < N16; i++)
        ck_assert_msg(same_float(got[i], f16_want[i]), "F16 %04x: %a, want %a", f16[i], got[i], f16_want[i]);
    ck_assert_int_eq(st_read_f32(f, "b", got, NB), TG_OK);
    for (int i = 0; i < NB; i++)
        ck_assert_msg(same_float(got[i], bf16_want[i]), "BF16 %04x: %a, want %a", bf16[i], got[i], bf16_want[i]);
    ck_assert_int_eq(st_read_f32(f, "d", got, N64), TG_OK);
    for (int i = 0; i < N64; i++)
        ck_assert_msg(same_float(got[i], f64_want[i]), "F64 %g: %a, want %a", f64[i], got[i], f64_want[i]);
    st_close(f);
}
END_TEST

/* A model directory: tests/fixtures/roberta_tiny with its weights rewritten
 * as dtype dt, tensor `bad` element 0 set to value (the F32 value, or for
 * F16 the bits `bits`). */
static const char *model_with(const char *name, st_dtype dt, const char *bad, float value,
                              uint16_t bits)
{
    const char *dir = tpath(name);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/tests/fixtures/roberta_tiny' '%s' && rm -f '%s'/model_*.safetensors '%s'/golden.safetensors",
             dir, tu_source_dir(), dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    char src[4400];
    snprintf(src, sizeof src, "%s/model.safetensors", dir);
    st_file *f;
    ck_assert_int_eq(st_open(src, &f), TG_OK);
    int n = st_count(f);
    st_tensor *t = calloc(n, sizeof *t);
    void **data = calloc(n, sizeof *data);
    for (int i = 0; i < n; i++) {
        const st_info *in = st_at(f, i);
        float *v;
        size_t numel;
        ck_assert_int_eq(st_load_f32(f, in->name, &v, &numel), TG_OK);
        if (!strcmp(in->name, bad))
            v[0] = value;
        if (dt == ST_F16) { /* small weights: round-trip through F16 bits */
            uint16_t *h = malloc(numel * 2);
            for (size_t k = 0; k < numel; k++) {
                float a = fabsf(v[k]);
                int e;
                float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
                uint16_t s = signbit(v[k]) ? 0x8000 : 0;
                if (a == 0)
                    h[k] = s;
                else if (e - 1 < -14) /* subnormal */
                    h[k] = s | (uint16_t)lrintf(ldexpf(a, 24));
                else
                    h[k] = (uint16_t)(s | (((e - 1 + 15) << 10) + (lrintf(ldexpf(m, 11)) - 1024)));
            }
            if (!strcmp(in->name, bad))
                h[0] = bits;
            tg_free(v);
            data[i] = h;
        } else {
            data[i] = v;
        }
        t[i] = (st_tensor){in->name, dt, in->ndim, NULL, data[i]};
        int *shape = malloc(sizeof(int) * (in->ndim ? in->ndim : 1));
        for (int d = 0; d < in->ndim; d++)
            shape[d] = (int)in->shape[d];
        t[i].shape = shape;
    }
    /* the names live in f: write before closing it */
    ck_assert_int_eq(st_write(src, t, n, (const char *[]){"format", "pt"}, 1), TG_OK);
    for (int i = 0; i < n; i++) {
        free((void *)t[i].shape);
        if (dt == ST_F16)
            free(data[i]);
        else
            tg_free(data[i]);
    }
    free(t);
    free(data);
    st_close(f);
    return dir;
}

static float weight0(rb_model *m, const char *name)
{
    tg_tensor *w = tg_params_find(m->params, name);
    ck_assert_ptr_nonnull(w);
    return tg_f32(w)[0];
}

/* Extreme F16 values load into the model exactly; an Inf/NaN weight loads
 * as is (as transformers loads it) and the forward shows it. */
START_TEST(half_precision_model_with_extremes)
{
    const char *lw = "roberta.encoder.layer.0.output.LayerNorm.weight";
    const char *qb = "roberta.encoder.layer.0.attention.self.query.bias";
    rb_model *m;
    tok_tokenizer *tok;
    const char *dir = model_with("f16max", ST_F16, lw, 0, 0x7BFF);
    ck_assert_msg(rb_load_pretrained(dir, &m, &tok, NULL) == TG_OK, "%s", tg_last_error());
    ck_assert_float_eq(weight0(m, lw), 65504.0f);
    rb_model_free(m);
    tok_free(tok);
    dir = model_with("f16sub", ST_F16, qb, 0, 0x0001);
    ck_assert_int_eq(rb_load_pretrained(dir, &m, &tok, NULL), TG_OK);
    ck_assert_float_eq(weight0(m, qb), ldexpf(1, -24));
    rb_model_free(m);
    tok_free(tok);
    dir = model_with("f16inf", ST_F16, lw, 0, 0x7C00);
    ck_assert_int_eq(rb_load_pretrained(dir, &m, &tok, NULL), TG_OK);
    ck_assert(isinf(weight0(m, lw)));
    rb_model_free(m);
    tok_free(tok);
    dir = model_with("f32nan", ST_F32, lw, NAN, 0);
    ck_assert_int_eq(rb_load_pretrained(dir, &m, &tok, NULL), TG_OK);
    ck_assert(isnan(weight0(m, lw)));
    rb_model_free(m);
    tok_free(tok);
}
END_TEST

/* ablm train from a checkpoint holding a NaN weight stops at the first
 * step with "training loss is nan", writing no checkpoint; ablm embed of it
 * writes the NaN it computes (documented propagation). */
START_TEST(nan_weight_stops_training)
{
    const char *lw = "roberta.encoder.layer.1.output.LayerNorm.weight";
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", model_with("nanmodel", ST_F32, lw, NAN, 0));
    FILE *f = fopen(tpath("seqs.txt"), "w");
    for (int i = 0; i < 16; i++)
        fprintf(f, "EVQLVESGGGLVQPGGSLRLSCAASGFTFS%c\n", "ACDEFGHIKL"[i % 10]);
    fclose(f);
    char out[4200];
    snprintf(out, sizeof out, "%s", tpath("nanrun"));
    char *argv[] = {"train", "--model_name_or_path", dir, "--train_file", (char *)tpath("seqs.txt"),
                    "--output_dir", out, "--max_steps", "3", "--per_device_train_batch_size", "4",
                    "--max_seq_length", "40", "--line_by_line", "--save_steps", "1", NULL};
    ck_assert_int_eq(tu_run_cmd(cmd_train, (int)(sizeof argv / sizeof *argv) - 1, argv, tpath("nan.out"), tpath("nan.err")), 1);
    ck_assert_msg(strstr(tg_last_error(), "training loss is nan") && strstr(tg_last_error(), "step 1"),
                  "%s", tg_last_error());
    char ck[4400];
    snprintf(ck, sizeof ck, "%s/checkpoint-1", out);
    ck_assert_msg(access(ck, F_OK) != 0, "a checkpoint of the NaN state was written");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("numeric");
    TCase *tc = tcase_create("numeric");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, softmax_large_logits);
    tcase_add_test(tc, cross_entropy_large_logits);
    tcase_add_test(tc, nan_and_inf_stay_in_their_row);
    tcase_add_test(tc, layer_norm_constant_rows);
    tcase_add_test(tc, attention_masked_row_and_huge_scores);
    tcase_add_test(tc, half_precision_extremes_load_exactly);
    tcase_add_test(tc, half_precision_model_with_extremes);
    tcase_add_test(tc, nan_weight_stops_training);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
