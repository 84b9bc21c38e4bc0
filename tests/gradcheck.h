/* Shared by the gradient checks: tests/test_gradcheck.c (float32, the tg
 * library) and tests/test_gradcheck64.c (float64, tg64). Header-only: the
 * two suites link different builds of graph/ and ops/ (tg_real differs).
 *
 * Builders declare float parameters with gc_param and int inputs with
 * gc_int_input / gc_int_fixed; the harness fills the ints after planning
 * (gc_fill_ints) and checks that every op of the op table has a case. */
#ifndef ABLM_GRADCHECK_H
#define ABLM_GRADCHECK_H

#include "tg_ops.h"

#include <check.h>
#include <stddef.h>

static int gc_rnd(tg_rng *r, int lo, int hi) { return lo + (int)(tg_rng_uniform(r) * (hi - lo)); }

static tg_tensor *gc_param(tg_params *p, const char *name, int nd, int d0, int d1, int d2, int d3)
{
    int s[4] = {d0, d1, d2, d3};
    return tg_params_add(p, name, nd, s, 1);
}

/* int inputs registered by builders: random in [lo, hi), about 1 in
 * `ignore` (> 0) set to -100, or the `fixed` values (static storage) */
static struct {
    tg_tensor *t;
    int lo, hi, ignore;
    const int32_t *fixed;
} gc_ints[4];
static int gc_nints;

static tg_tensor *gc_int_input(tg_graph *g, int nd, const int *s, int lo, int hi, int ignore)
{
    ck_assert(gc_nints < 4);
    tg_tensor *t = tg_input(g, TG_I32, nd, s, "ints");
    gc_ints[gc_nints].t = t, gc_ints[gc_nints].lo = lo, gc_ints[gc_nints].hi = hi;
    gc_ints[gc_nints].ignore = ignore, gc_ints[gc_nints++].fixed = NULL;
    return t;
}

static tg_tensor *gc_int_fixed(tg_graph *g, int nd, const int *s, const int32_t *vals)
{
    tg_tensor *t = gc_int_input(g, nd, s, 0, 1, 0);
    gc_ints[gc_nints - 1].fixed = vals;
    return t;
}

/* Fills the registered int inputs (after tg_graph_plan). */
static void gc_fill_ints(tg_rng *r)
{
    for (int k = 0; k < gc_nints; k++)
        for (size_t i = 0; i < gc_ints[k].t->numel; i++)
            tg_i32(gc_ints[k].t)[i] = gc_ints[k].fixed ? gc_ints[k].fixed[i]
                                      : gc_ints[k].ignore && gc_rnd(r, 0, gc_ints[k].ignore) == 0
                                          ? -100
                                          : gc_rnd(r, gc_ints[k].lo, gc_ints[k].hi);
}

/* Fails unless every op of the op table is the `op` (an int at the start
 * of each of the n case structs, stride bytes apart) of some case. */
static void gc_assert_every_op(const void *cases, size_t stride, int n, const char *suite)
{
    for (int op = 0; op < TG_OP_COUNT; op++) {
        int found = 0;
        for (int c = 0; c < n; c++)
            found |= *(const int *)((const char *)cases + c * stride) == op;
        ck_assert_msg(found, "op %s has no %s case", tg_optable[op]->name, suite);
    }
}

#endif
