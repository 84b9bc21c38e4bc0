/* scale, gelu (exact erf form), gelu_new (tanh form), tanh: elementwise ops of one input. */
#include "tg_internal.h"

#include <math.h>

/* glibc's libmvec has vector versions of erff and expf (<= 4 ulp, like the
 * scalar ones' accuracy class); math.h only declares them under
 * -ffast-math, which we do not use, so declare them here. The GELU loops
 * then run 4-16 elements per call. */
#pragma omp declare simd notinbranch
extern float erff(float);
#pragma omp declare simd notinbranch
extern float expf(float);

static tg_tensor *unary(tg_graph *g, int op, tg_tensor *x)
{
    if (x && x->dtype != TG_F32)
        return tg_fail(g ? g : x->graph, "%s: input '%s' must be float32", tg_optable[op]->name,
                       x->name);
    return tg_node(g ? g : (x ? x->graph : NULL), op, TG_F32, x ? x->ndim : 0, x ? x->shape : NULL,
                   1, &x);
}

tg_tensor *tg_scale(tg_graph *g, tg_tensor *x, float s)
{
    tg_tensor *t = unary(g, TG_OP_SCALE, x);
    if (t)
        t->fp[0] = s;
    return t;
}
tg_tensor *tg_gelu(tg_graph *g, tg_tensor *x) { return unary(g, TG_OP_GELU, x); }
tg_tensor *tg_tanh(tg_graph *g, tg_tensor *x) { return unary(g, TG_OP_TANH, x); }
tg_tensor *tg_gelu_new(tg_graph *g, tg_tensor *x) { return unary(g, TG_OP_GELU_NEW, x); }

static int scale_forward(tg_tensor *out)
{
    const float *x = tg_f32(out->src[0]);
    float *y = tg_f32(out), s = out->fp[0];
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        y[i] = x[i] * s;
    return TG_OK;
}

static void scale_backward(tg_tensor *out)
{
    float *dx = out->src[0]->grad, s = out->fp[0];
    const float *dy = out->grad;
    if (!dx)
        return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        dx[i] += dy[i] * s;
}

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

static int gelu_forward(tg_tensor *out)
{
    const float *x = tg_f32(out->src[0]);
    float *y = tg_f32(out);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)INV_SQRT2));
    return TG_OK;
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x) */
static void gelu_backward(tg_tensor *out)
{
    const float *x = tg_f32(out->src[0]), *dy = out->grad;
    float *dx = out->src[0]->grad;
    if (!dx)
        return;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < out->numel; i++) {
        float cdf = 0.5f * (1.0f + erff(x[i] * (float)INV_SQRT2));
        float pdf = (float)INV_SQRT_2PI * expf(-0.5f * x[i] * x[i]);
        dx[i] += dy[i] * (cdf + x[i] * pdf);
    }
}

#define SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_NEW_C 0.044715

static int gelu_new_forward(tg_tensor *out)
{
    const float *x = tg_f32(out->src[0]);
    float *y = tg_f32(out);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < out->numel; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf((float)SQRT_2_OVER_PI * (v + (float)GELU_NEW_C * v * v * v)));
    }
    return TG_OK;
}

/* With u = sqrt(2/pi) (x + c x^3), th = tanh(u):
 * d/dx [x/2 (1 + th)] = (1 + th)/2 + x/2 (1 - th^2) sqrt(2/pi) (1 + 3 c x^2) */
static void gelu_new_backward(tg_tensor *out)
{
    const float *x = tg_f32(out->src[0]), *dy = out->grad;
    float *dx = out->src[0]->grad;
    if (!dx)
        return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < out->numel; i++) {
        float v = x[i];
        float th = tanhf((float)SQRT_2_OVER_PI * (v + (float)GELU_NEW_C * v * v * v));
        float du = (float)SQRT_2_OVER_PI * (1.0f + 3.0f * (float)GELU_NEW_C * v * v);
        dx[i] += dy[i] * (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * du);
    }
}

static int tanh_forward(tg_tensor *out)
{
    const float *x = tg_f32(out->src[0]);
    float *y = tg_f32(out);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        y[i] = tanhf(x[i]);
    return TG_OK;
}

static void tanh_backward(tg_tensor *out)
{
    const float *y = tg_f32(out), *dy = out->grad;
    float *dx = out->src[0]->grad;
    if (!dx)
        return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

const tg_opdef tg_op_scale = {"tg_scale", scale_forward, scale_backward, 0, 0};
const tg_opdef tg_op_gelu = {"tg_gelu", gelu_forward, gelu_backward, TG_KEEP_SRC(0), 0};
const tg_opdef tg_op_gelu_new = {"tg_gelu_new", gelu_new_forward, gelu_new_backward,
                                   TG_KEEP_SRC(0), 0};
const tg_opdef tg_op_tanh = {"tg_tanh", tanh_forward, tanh_backward, TG_KEEP_OUT, 0};
