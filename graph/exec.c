/* Running a planned graph: forward in node order, backward in reverse. */
#include "tg_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int profiling;
static double prof_ms[TG_OP_COUNT][2];
static long prof_calls[TG_OP_COUNT];

void tg_profile_enable(int on) { profiling = on; }
void tg_profile_reset(void)
{
    memset(prof_ms, 0, sizeof prof_ms);
    memset(prof_calls, 0, sizeof prof_calls);
}

static double ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void tg_profile_report(void *file)
{
    FILE *f = file;
    int order[TG_OP_COUNT];
    double total = 0;
    for (int i = 0; i < TG_OP_COUNT; i++) {
        order[i] = i;
        total += prof_ms[i][0] + prof_ms[i][1];
    }
    for (int i = 1; i < TG_OP_COUNT; i++) /* insertion sort by total time */
        for (int j = i; j > 0 && prof_ms[order[j]][0] + prof_ms[order[j]][1] >
                                      prof_ms[order[j - 1]][0] + prof_ms[order[j - 1]][1]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    fprintf(f, "%-18s %8s %12s %12s %7s\n", "op", "calls", "forward ms", "backward ms", "share");
    for (int k = 0; k < TG_OP_COUNT; k++) {
        int i = order[k];
        if (!prof_calls[i])
            continue;
        fprintf(f, "%-18s %8ld %12.1f %12.1f %6.1f%%\n", tg_optable[i]->name, prof_calls[i],
                prof_ms[i][0], prof_ms[i][1],
                total > 0 ? 100 * (prof_ms[i][0] + prof_ms[i][1]) / total : 0);
    }
}

/* TG_OK, or an error naming the TG_FLAG_BF16_SAVED tensor whose bf16 copy
 * was missing (the products that needed it did not run). */
static int lost_error(const char *fn)
{
    const char *name = tg_bf16_take_lost();
    if (!name)
        return TG_OK;
    return tg_error(TG_ERR_NOMEM,
                    "%s: the bf16 copy of '%s' was not made (out of memory) or was replaced by "
                    "another bf16 forward pass before this backward; its float32 values are not "
                    "kept in a bf16 graph",
                    fn, name);
}

int tg_forward(tg_graph *g)
{
    if (!g->planned)
        return g->err[0] ? tg_error(TG_ERR_NOMEM, "tg_forward: %s", g->err)
                         : tg_error(TG_ERR_ARG, "tg_forward: graph is not planned (call tg_graph_plan)");
    tg_graph_bind(g);
    g->step++;
    if (g->precision == TG_PREC_BF16)
        tg_bf16_next_pass(); /* weights may have changed since the last pass */
    tg_bf16_take_lost();
    for (int i = 0; i < g->n; i++) {
        tg_tensor *t = g->nodes[i];
        if (t->op < 0 || tg_optable[t->op]->is_view)
            continue; /* leaves; reshape's view has nothing to do */
        double t0 = profiling ? ms_now() : 0;
        int rc = tg_optable[t->op]->forward(t);
        if (profiling) {
            prof_ms[t->op][0] += ms_now() - t0;
            prof_calls[t->op]++;
        }
        if (rc)
            return rc;
    }
    return lost_error("tg_forward");
}

static void (*bw_hook)(void *ctx, const tg_tensor *node);
static void *bw_hook_ctx;

void tg_set_backward_hook(void (*fn)(void *ctx, const tg_tensor *node), void *ctx)
{
    bw_hook = fn;
    bw_hook_ctx = ctx;
}

/* p[0..n) = 0, split between the OpenMP threads when large (one core's
 * memset does not reach the memory bandwidth of two). */
static void zero_fill(tg_real *p, size_t n)
{
    const size_t chunk = (size_t)1 << 16;
    if (n < 4 * chunk) {
        memset(p, 0, n * sizeof(tg_real));
        return;
    }
    long nc = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static)
    for (long c = 0; c < nc; c++) {
        size_t lo = (size_t)c * chunk;
        memset(p + lo, 0, (lo + chunk <= n ? chunk : n - lo) * sizeof(tg_real));
    }
}

/* Zeroes t's gradient storage if it is still waiting for its first writer. */
static void settle(tg_graph *g, tg_tensor *t)
{
    t = tg_storage_of(t);
    if (t->id >= 0 && g->grad_pending[t->id]) {
        zero_fill(t->grad, t->numel);
        g->grad_pending[t->id] = 0;
    }
}

int tg_grad_claim(tg_tensor *t)
{
    tg_graph *g = t->graph;
    if (!g || t->id < 0 || (t->flags & TG_FLAG_VIEW) || !g->grad_pending || !g->grad_pending[t->id])
        return 0;
    g->grad_pending[t->id] = 0;
    return 1;
}

/* 1 when node t's backward may overwrite src[s]'s pending gradient: its op
 * says so, src[s] is a storage node, and no other operand (nor t itself)
 * shares that storage. */
static int may_overwrite(tg_tensor *t, int s)
{
    tg_tensor *src = t->src[s];
    if (!(tg_optable[t->op]->keep & TG_GRAD_OVERWRITE(s)) || (src->flags & TG_FLAG_VIEW) ||
        tg_storage_of(t) == src)
        return 0;
    for (int j = 0; j < t->nsrc; j++)
        if (j != s && tg_storage_of(t->src[j]) == src)
            return 0;
    return 1;
}

/* Gradients due to be zeroed before backward step s are only marked
 * pending (zero_list); each is zeroed just before the first op that reads
 * or adds into it, unless that op overwrites it (TG_GRAD_OVERWRITE, e.g.
 * linear's dX as a beta = 0 GEMM), which saves a memset and a read of the
 * buffer. Whatever is still pending at the end is zeroed. */
int tg_backward(tg_graph *g, tg_tensor *root, const tg_real *seed)
{
    if (!g->planned || !g->loss)
        return tg_error(TG_ERR_ARG, "tg_backward: graph was not planned for backward");
    if (root != g->loss)
        return tg_error(TG_ERR_ARG, "tg_backward: root '%s' is not the tensor the graph was planned for",
                        root ? root->name : "(null)");
    if (!(root->flags & TG_FLAG_NEEDS_GRAD))
        return TG_OK; /* nothing trainable reaches the root */
    tg_graph_bind(g);
    if (g->plan_bf16)
        tg_bf16_backward_begin();
    tg_bf16_take_lost();
    int n = g->n;
    for (int s = 0; s < n; s++) {
        for (int k = g->zero_start[s]; k < g->zero_start[s + 1]; k++)
            g->grad_pending[g->zero_list[k]] = 1;
        if (s == 0) {
            settle(g, root);
            if (seed)
                memcpy(root->grad, seed, root->numel * sizeof(tg_real));
            else
                for (size_t j = 0; j < root->numel; j++)
                    root->grad[j] = 1.0f;
        }
        tg_tensor *t = g->nodes[n - 1 - s];
        if (t->op >= 0 && (t->flags & TG_FLAG_NEEDS_GRAD) && tg_optable[t->op]->backward) {
            settle(g, t);
            for (int j = 0; j < t->nsrc; j++)
                if (!may_overwrite(t, j))
                    settle(g, t->src[j]);
            double t0 = profiling ? ms_now() : 0;
            tg_optable[t->op]->backward(t);
            if (profiling)
                prof_ms[t->op][1] += ms_now() - t0;
            for (int j = 0; j < t->nsrc; j++) /* not claimed: not written */
                settle(g, t->src[j]);
        }
        if (bw_hook)
            bw_hook(bw_hook_ctx, t);
    }
    for (int i = 0; i < n; i++)
        settle(g, g->nodes[i]);
    return lost_error("tg_backward");
}
