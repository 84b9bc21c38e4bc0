/* Memory planning: which nodes need gradients, buffer lifetimes over the
 * execution order, and first-fit placement of all activations and
 * intermediate gradients in one arena.
 *
 * Timeline: forward runs node i at step i (0..n-1); backward runs node i at
 * step n + (n-1-i). A node's output lives from its forward step to its last
 * reader: a forward consumer, or a backward step whose op keeps it (the
 * op table's `keep` bits). A gradient lives from the backward step of its
 * last consumer (the first to write it) to its own backward step. Views
 * (reshape) share their source's storage and gradient, so their uses extend
 * the source's lifetime.
 *
 * In a bf16 graph (tg_graph_set_precision, on a machine with bf16
 * products) a source an op's backward reads only through its bf16 copy
 * (the op table's TG_KEEP_BF16 bits: a linear layer's input; and
 * TG_KEEP_OUT_BF16 for an output) is not kept
 * in float32 for that backward: its float32 buffer ends at its last other
 * reader, and the tensor is marked TG_FLAG_BF16_SAVED so that graph/bf16.c
 * keeps its bf16 copy (made in forward) for backward. The plan follows the
 * precision: changing it on a planned graph re-plans the arena (inputs
 * and aux state stay). */
#include "tg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64
#define FOREVER 0x7fffffff

typedef struct {
    size_t bytes, offset;
    int start, end;
    tg_tensor *owner;
    int is_grad;
} buffer;

static size_t elem_bytes(const tg_tensor *t)
{
    return t->numel * (t->dtype == TG_F32 ? sizeof(tg_real) : sizeof(int32_t));
}
static size_t round_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }
static int overlap(const buffer *a, const buffer *b) { return a->start <= b->end && b->start <= a->end; }

static int cmp_size_desc(const void *x, const void *y)
{
    const buffer *a = *(buffer *const *)x, *b = *(buffer *const *)y;
    if (a->bytes != b->bytes)
        return a->bytes < b->bytes ? 1 : -1;
    return a->start - b->start;
}

/* First-fit by decreasing size: each buffer goes to the lowest offset where
 * it fits between the placed buffers whose lifetimes overlap its own. The
 * placed buffers are kept sorted by offset, so one scan finds the gap.
 * Returns the arena size, or (size_t)-1 when out of memory. */
static size_t place(buffer *bufs, int nb, int keep_all)
{
    size_t total = 0;
    if (keep_all) {
        for (int i = 0; i < nb; i++) {
            bufs[i].offset = total;
            total += bufs[i].bytes;
        }
        return total;
    }
    buffer **order = tg_malloc((size_t)nb * sizeof *order, "plan placement");
    buffer **placed = tg_malloc((size_t)nb * sizeof *placed, "plan placement");
    if (!order || !placed) {
        tg_free(order), tg_free(placed);
        return (size_t)-1;
    }
    for (int i = 0; i < nb; i++)
        order[i] = &bufs[i];
    qsort(order, nb, sizeof *order, cmp_size_desc);
    int np = 0;
    for (int i = 0; i < nb; i++) {
        buffer *b = order[i];
        size_t off = 0;
        for (int j = 0; j < np; j++) {
            const buffer *p = placed[j];
            if (!overlap(b, p))
                continue;
            if (p->offset >= off + b->bytes)
                break; /* the gap before p fits */
            if (p->offset + p->bytes > off)
                off = p->offset + p->bytes;
        }
        b->offset = off;
        if (off + b->bytes > total)
            total = off + b->bytes;
        int at = np; /* insert keeping offsets sorted */
        while (at > 0 && placed[at - 1]->offset > off)
            at--;
        memmove(placed + at + 1, placed + at, (size_t)(np - at) * sizeof *placed);
        placed[at] = b;
        np++;
    }
    tg_free(order), tg_free(placed);
    return total;
}

/* Marks nodes that need a gradient: ancestors of loss that depend on a
 * trainable parameter. Returns TG_OK, or TG_ERR_NOMEM (message set) with
 * nothing marked. */
static int mark_grads(tg_graph *g, tg_tensor *loss)
{
    int n = g->n;
    for (int i = 0; i < n; i++)
        g->nodes[i]->flags &= ~TG_FLAG_NEEDS_GRAD;
    if (!loss)
        return TG_OK;
    char *anc = tg_calloc(n ? n : 1, 1, "plan: gradient marks");
    if (!anc)
        return TG_ERR_NOMEM;
    anc[loss->id] = 1;
    for (int i = n - 1; i >= 0; i--)
        if (anc[i])
            for (int s = 0; s < g->nodes[i]->nsrc; s++)
                if (g->nodes[i]->src[s]->id >= 0)
                    anc[g->nodes[i]->src[s]->id] = 1;
    for (int i = 0; i < n; i++) {
        tg_tensor *t = g->nodes[i];
        if (!anc[i] || t->op < 0)
            continue;
        for (int s = 0; s < t->nsrc; s++) {
            tg_tensor *src = t->src[s];
            if ((src->flags & TG_FLAG_NEEDS_GRAD) || (src->flags & TG_FLAG_TRAINABLE))
                t->flags |= TG_FLAG_NEEDS_GRAD;
        }
    }
    tg_free(anc);
    return TG_OK;
}

/* Frees what a previous, failed tg_graph_plan left behind, so a plan can be
 * retried (e.g. after memory was freed) without leaking. The arena, if
 * owned, is kept: its capacity is reused. */
static void unplan_arena(tg_graph *g)
{
    tg_free(g->zero_start), g->zero_start = NULL;
    tg_free(g->zero_list), g->zero_list = NULL;
    tg_free(g->grad_pending), g->grad_pending = NULL;
    tg_free(g->data_off), g->data_off = NULL;
    tg_free(g->grad_off), g->grad_off = NULL;
}

static void unplan(tg_graph *g)
{
    tg_free(g->fixed), g->fixed = NULL;
    unplan_arena(g);
}

/* 1 when g's products run in bf16 (what the arena plan depends on). */
static int plan_bf16(const tg_graph *g)
{
    return g->precision == TG_PREC_BF16 && tg_bf16_available();
}

static int plan_arena(tg_graph *g);

void tg_graph_keep(tg_graph *g, tg_tensor *t)
{
    (void)g;
    if (t)
        t->flags |= TG_FLAG_KEEP;
}

int tg_graph_plan(tg_graph *g, tg_tensor *loss, int keep_all)
{
    if (!g)
        return tg_error(TG_ERR_ARG, "tg_graph_plan: NULL graph");
    if (g->err[0])
        return tg_error(TG_ERR_SHAPE, "%s", g->err);
    if (g->planned)
        return tg_error(TG_ERR_ARG, "tg_graph_plan: graph already planned");
    if (loss && loss->graph != g)
        return tg_error(TG_ERR_ARG, "tg_graph_plan: loss is not a node of this graph");
    if (loss && tg_storage_of(loss)->id < 0)
        return tg_error(TG_ERR_ARG, "tg_graph_plan: loss '%s' is a view of a parameter", loss->name);
    int n = g->n;
    unplan(g);
    g->loss = loss;
    int rc = mark_grads(g, loss);
    if (rc != TG_OK)
        return rc;
    for (int i = 0; i < n; i++) { /* a view written in place into state */
        tg_tensor *t = g->nodes[i], *st = tg_storage_of(t);
        if ((t->flags & TG_FLAG_NEEDS_GRAD) && st->id < 0 && !st->grad)
            return tg_error(TG_ERR_ARG,
                            "tg_graph_plan: '%s' needs a gradient but its storage '%s' has none (not trainable)",
                            t->name, st->name);
    }
    if (loss)
        loss->flags |= TG_FLAG_KEEP;

    /* fixed memory: inputs and op aux state, never reused */
    size_t fixed = 0;
    for (int i = 0; i < n; i++) {
        tg_tensor *t = g->nodes[i];
        if (t->flags & TG_FLAG_INPUT)
            fixed += round_up(elem_bytes(t));
        fixed += round_up(t->aux_bytes);
    }
    g->fixed = tg_calloc(1, fixed ? fixed : 1, "graph inputs");
    if (!g->fixed)
        return TG_ERR_NOMEM;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        tg_tensor *t = g->nodes[i];
        if (t->flags & TG_FLAG_INPUT) {
            t->data = g->fixed + off;
            off += round_up(elem_bytes(t));
        }
        if (t->aux_bytes) {
            t->aux = g->fixed + off;
            off += round_up(t->aux_bytes);
        }
    }

    g->keep_all = keep_all != 0;
    rc = plan_arena(g);
    if (rc == TG_OK)
        g->planned = 1;
    return rc;
}

int tg_graph_replan(tg_graph *g)
{
    if (!g->planned || g->plan_bf16 == plan_bf16(g))
        return TG_OK;
    int rc = plan_arena(g);
    if (rc != TG_OK) { /* no offsets: the graph cannot run */
        g->planned = 0;
        snprintf(g->err, sizeof g->err, "re-planning for the new precision: %s", tg_last_error());
    }
    return rc;
}

/* Lifetimes and placement of the activations and intermediate gradients
 * (the part of the plan that depends on the precision); binds the nodes.
 * Returns TG_OK or TG_ERR_NOMEM (message set). */
static int plan_arena(tg_graph *g)
{
    int n = g->n, keep_all = g->keep_all, bf16 = plan_bf16(g);
    tg_tensor *loss = g->loss;
    unplan_arena(g);
    for (int i = 0; i < n; i++)
        g->nodes[i]->flags &= ~TG_FLAG_BF16_SAVED;
    /* lifetimes: one activation buffer per storage node, one gradient
     * buffer per gradient-owning node (index n + i) */
    int *start = tg_malloc(2 * (size_t)n * sizeof *start, "plan: lifetimes");
    int *end = tg_malloc(2 * (size_t)n * sizeof *end, "plan: lifetimes");
    buffer *bufs = tg_malloc(2 * (size_t)n * sizeof *bufs, "plan: buffers");
    if (!start || !end || !bufs) {
        tg_free(start), tg_free(end), tg_free(bufs);
        return tg_error(TG_ERR_NOMEM, "tg_graph_plan: out of memory");
    }
    for (int i = 0; i < 2 * n; i++)
        start[i] = FOREVER, end[i] = -1;
#define BWD(i) (n + (n - 1 - (i)))
    for (int i = 0; i < n; i++) {
        tg_tensor *t = g->nodes[i];
        tg_tensor *st = tg_storage_of(t);
        if (st->id < 0)
            continue;
        if (start[st->id] > i)
            start[st->id] = i;
        if (end[st->id] < i)
            end[st->id] = i;
        if (t->flags & TG_FLAG_KEEP)
            end[st->id] = FOREVER;
        if (t->op < 0)
            continue;
        const tg_opdef *d = tg_optable[t->op];
        int runs_bwd = (t->flags & TG_FLAG_NEEDS_GRAD) != 0;
        for (int s = 0; s < t->nsrc; s++) {
            tg_tensor *ss = tg_storage_of(t->src[s]);
            if (ss->id < 0)
                continue;
            int last = i;
            if (runs_bwd && (d->keep & TG_KEEP_SRC(s))) {
                if (bf16 && (d->keep & TG_KEEP_BF16(s)))
                    ss->flags |= TG_FLAG_BF16_SAVED; /* its bf16 copy serves backward */
                else
                    last = BWD(i);
            }
            if (end[ss->id] < last)
                end[ss->id] = last;
        }
        if (runs_bwd && (d->keep & TG_KEEP_OUT)) {
            if (bf16 && (d->keep & TG_KEEP_OUT_BF16))
                st->flags |= TG_FLAG_BF16_SAVED; /* backward reads its bf16 copy */
            else if (end[st->id] < BWD(i))
                end[st->id] = BWD(i);
        }
        /* gradients: the storage of t's grad is tg_storage_of(t)'s grad */
        if (runs_bwd) {
            int gi = n + st->id;
            if (end[gi] < BWD(i))
                end[gi] = BWD(i);
            if (start[gi] > BWD(i))
                start[gi] = BWD(i);
            for (int s = 0; s < t->nsrc; s++) {
                tg_tensor *ss = tg_storage_of(t->src[s]);
                if (ss->id < 0 || !(ss->flags & TG_FLAG_NEEDS_GRAD))
                    continue;
                int gs = n + ss->id;
                if (start[gs] > BWD(i))
                    start[gs] = BWD(i);
                if (end[gs] < BWD(i))
                    end[gs] = BWD(i);
            }
        }
    }
    if (loss && (loss->flags & TG_FLAG_NEEDS_GRAD)) {
        int gi = n + tg_storage_of(loss)->id;
        start[gi] = n; /* seeded when backward starts */
    }
    int nb = 0;
    size_t unplanned = 0;
    for (int i = 0; i < n; i++) {
        tg_tensor *t = g->nodes[i];
        if (t->op >= 0 && !(t->flags & TG_FLAG_VIEW)) {
            bufs[nb] = (buffer){round_up(elem_bytes(t)), 0, start[i], keep_all ? FOREVER : end[i], t, 0};
            unplanned += bufs[nb].bytes;
            nb++;
        }
        if ((t->flags & TG_FLAG_NEEDS_GRAD) && !(t->flags & TG_FLAG_VIEW) && end[n + i] >= 0) {
            bufs[nb] =
                (buffer){round_up(t->numel * sizeof(tg_real)), 0, start[n + i], end[n + i], t, 1};
            unplanned += bufs[nb].bytes;
            nb++;
        }
    }
    size_t total = place(bufs, nb, keep_all);
    if (total == (size_t)-1) {
        tg_free(start), tg_free(end), tg_free(bufs);
        return tg_error(TG_ERR_NOMEM, "tg_graph_plan: out of memory");
    }
    if (!g->arena) {
        g->arena = tg_arena_new();
        g->own_arena = 1;
    }
    g->zero_start = tg_calloc((size_t)n + 2, sizeof *g->zero_start, "plan");
    g->zero_list = tg_malloc(((size_t)nb + 1) * sizeof *g->zero_list, "plan");
    g->data_off = tg_malloc(((size_t)n + 1) * sizeof *g->data_off, "plan");
    g->grad_off = tg_malloc(((size_t)n + 1) * sizeof *g->grad_off, "plan");
    g->grad_pending = tg_calloc((size_t)n + 1, 1, "plan");
    int *fill = tg_calloc((size_t)n + 1, sizeof *fill, "plan");
    if (!g->arena || !g->zero_start || !g->zero_list || !g->data_off || !g->grad_off ||
        !g->grad_pending || !fill) {
        tg_free(start), tg_free(end), tg_free(bufs), tg_free(fill);
        return tg_error(TG_ERR_NOMEM, "tg_graph_plan: out of memory");
    }
    if (g->arena->cap < total) { /* contents need not survive: no realloc */
        unsigned char *nb_ = tg_malloc(total, "activation arena");
        if (!nb_) {
            tg_free(start), tg_free(end), tg_free(bufs), tg_free(fill);
            return tg_error(TG_ERR_NOMEM, "tg_graph_plan: out of memory for a %zu-byte arena", total);
        }
        tg_free(g->arena->base);
        g->arena->base = nb_;
        g->arena->cap = total;
    }
    g->arena_bytes = total;
    g->unplanned_bytes = unplanned;
    /* zero lists: gradients to clear before backward step s (bucketed by
     * s - n, counting sort) */
    for (int b = 0; b < nb; b++)
        if (bufs[b].is_grad)
            g->zero_start[bufs[b].start - n + 1]++;
    for (int s = 0; s < n; s++)
        g->zero_start[s + 1] += g->zero_start[s];
    for (int i = 0; i < n; i++)
        g->data_off[i] = g->grad_off[i] = TG_NO_OFF;
    for (int b = 0; b < nb; b++) {
        tg_tensor *t = bufs[b].owner;
        if (bufs[b].is_grad) {
            g->grad_off[t->id] = bufs[b].offset;
            int s = bufs[b].start - n;
            g->zero_list[g->zero_start[s] + fill[s]++] = t->id;
        } else {
            g->data_off[t->id] = bufs[b].offset;
        }
    }
    tg_free(fill);
    g->bound = NULL;
    g->plan_bf16 = bf16;
    tg_graph_bind(g);
    tg_free(start), tg_free(end), tg_free(bufs);
    return TG_OK;
#undef BWD
}

size_t tg_graph_planned_bytes(const tg_graph *g) { return g->arena_bytes; }
size_t tg_graph_unplanned_bytes(const tg_graph *g) { return g->unplanned_bytes; }
