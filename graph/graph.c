/* Graph construction: nodes, inputs, names and the sticky build error. */
#include "tg_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

tg_graph *tg_graph_new(void)
{
    tg_graph *g = tg_calloc(1, sizeof *g, "graph");
    if (g)
        g->seed = 0x5eed;
    return g;
}

void tg_graph_free(tg_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n; i++)
        tg_free(g->nodes[i]);
    tg_free(g->nodes);
    if (g->own_arena)
        tg_arena_free(g->arena);
    tg_free(g->data_off);
    tg_free(g->grad_off);
    tg_free(g->fixed);
    tg_free(g->zero_start);
    tg_free(g->zero_list);
    tg_free(g->grad_pending);
    tg_free(g);
}

tg_tensor *tg_fail(tg_graph *g, const char *fmt, ...)
{
    if (g && !g->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->err, sizeof g->err, fmt, ap);
        va_end(ap);
        tg_error(TG_ERR_SHAPE, "%s", g->err);
    }
    return NULL;
}

tg_arena *tg_arena_new(void) { return tg_calloc(1, sizeof(tg_arena), "arena"); }

void tg_arena_free(tg_arena *a)
{
    if (a) {
        tg_free(a->base);
        tg_free(a);
    }
}

size_t tg_arena_bytes(const tg_arena *a) { return a->cap; }

void tg_graph_share_arena(tg_graph *g, tg_arena *a)
{
    if (g && !g->planned)
        g->arena = a, g->own_arena = 0;
}

void tg_graph_bind(tg_graph *g)
{
    if (g->bound == g->arena->base)
        return;
    unsigned char *base = g->arena->base;
    for (int i = 0; i < g->n; i++) {
        tg_tensor *t = g->nodes[i];
        if (g->data_off[i] != TG_NO_OFF)
            t->data = base + g->data_off[i];
        if (g->grad_off[i] != TG_NO_OFF)
            t->grad = (tg_real *)(base + g->grad_off[i]);
    }
    for (int i = 0; i < g->n; i++) { /* views alias their storage */
        tg_tensor *t = g->nodes[i], *s = t;
        if (!(t->flags & TG_FLAG_VIEW))
            continue;
        while (s->flags & TG_FLAG_VIEW)
            s = s->src[0];
        t->data = s->data;
        t->grad = s->grad;
    }
    g->bound = base;
}

const char *tg_graph_error(const tg_graph *g) { return g && g->err[0] ? g->err : NULL; }
int tg_graph_nodes(const tg_graph *g) { return g->n; }
tg_tensor *tg_graph_node(const tg_graph *g, int i) { return i >= 0 && i < g->n ? g->nodes[i] : NULL; }
void tg_graph_set_training(tg_graph *g, int on) { g->training = on != 0; }
void tg_graph_set_inference(tg_graph *g, int on)
{
    if (g && !g->n)
        g->inference = on != 0;
}
int tg_graph_inference(const tg_graph *g) { return g && g->inference; }
int tg_graph_training(const tg_graph *g) { return g->training; }
void tg_graph_set_precision(tg_graph *g, tg_precision p)
{
    if (g) {
        g->precision = p == TG_PREC_BF16 ? TG_PREC_BF16 : TG_PREC_F32;
        tg_graph_replan(g); /* on failure tg_forward reports the unplanned graph */
    }
}
tg_precision tg_graph_precision(const tg_graph *g) { return g ? g->precision : TG_PREC_F32; }
void tg_graph_seed(tg_graph *g, uint64_t seed)
{
    g->seed = seed;
    g->step = 0;
}
uint64_t tg_graph_rng_state(const tg_graph *g) { return g->step; }
void tg_graph_set_rng_state(tg_graph *g, uint64_t step) { g->step = step; }

size_t tg_shape_numel(int ndim, const int *shape)
{
    if (ndim < 1 || ndim > TG_MAX_DIMS)
        return 0;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return 0;
        n *= (size_t)shape[i];
    }
    return n;
}

int tg_same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t n)
{
    size_t k = 0;
    k += snprintf(buf + k, n - k, "[");
    for (int i = 0; t && i < t->ndim && k < n; i++)
        k += snprintf(buf + k, n - k, i ? ", %d" : "%d", t->shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

tg_tensor *tg_set_name(tg_tensor *t, const char *fmt, ...)
{
    if (!t)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    return t;
}

tg_graph *tg_graph_of(int n, tg_tensor *const *ts)
{
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->graph)
            return ts[i]->graph;
    return NULL;
}

/* Appends t to g's node array, growing it. */
static int push_node(tg_graph *g, tg_tensor *t)
{
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 256;
        tg_tensor **nn = tg_realloc(g->nodes, cap * sizeof *nn, "graph nodes");
        if (!nn)
            return TG_ERR_NOMEM;
        g->nodes = nn;
        g->cap = cap;
    }
    t->id = g->n;
    g->nodes[g->n++] = t;
    return TG_OK;
}

tg_tensor *tg_node(tg_graph *g, int op, tg_dtype dt, int ndim, const int *shape, int nsrc,
                   tg_tensor *const *src)
{
    const char *opname = op >= 0 ? tg_optable[op]->name : "tg_input";
    if (!g)
        return NULL;
    if (g->planned)
        return tg_fail(g, "%s: graph is already planned; build a new graph", opname);
    for (int i = 0; i < nsrc; i++) {
        if (!src[i]) {
            if (!g->err[0])
                tg_fail(g, "%s: input %d is NULL", opname, i);
            return NULL;
        }
        if (src[i]->graph && src[i]->graph != g)
            return tg_fail(g, "%s: input '%s' belongs to another graph", opname, src[i]->name);
    }
    if (g->err[0])
        return NULL; /* sticky: nothing more is built after an error */
    size_t numel = tg_shape_numel(ndim, shape);
    if (!numel) {
        char b[64] = "[";
        for (int i = 0, k = 1; i < ndim && i < TG_MAX_DIMS; i++)
            k += snprintf(b + k, sizeof b - k, i ? ", %d" : "%d", shape[i]);
        strncat(b, "]", sizeof b - strlen(b) - 1);
        return tg_fail(g, "%s: invalid output shape %s (rank 1..%d, dims > 0)", opname, b,
                       TG_MAX_DIMS);
    }
    tg_tensor *t = tg_calloc(1, sizeof *t, "graph node");
    if (!t)
        return tg_fail(g, "%s: out of memory", opname);
    t->dtype = dt;
    t->ndim = ndim;
    memcpy(t->shape, shape, ndim * sizeof *shape);
    t->numel = numel;
    t->op = op;
    t->nsrc = nsrc;
    for (int i = 0; i < nsrc; i++)
        t->src[i] = src[i];
    t->graph = g;
    if (push_node(g, t)) {
        tg_free(t);
        return tg_fail(g, "%s: out of memory", opname);
    }
    snprintf(t->name, sizeof t->name, "%s#%d", op >= 0 ? opname + 3 : "input", t->id);
    return t;
}

tg_tensor *tg_input(tg_graph *g, tg_dtype dt, int ndim, const int *shape, const char *name)
{
    tg_tensor *t = tg_node(g, -1, dt, ndim, shape, 0, NULL);
    if (t) {
        t->flags |= TG_FLAG_INPUT;
        if (name)
            tg_set_name(t, "%s", name);
    }
    return t;
}
