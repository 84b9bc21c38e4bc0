/* Parameter store: named float32 tensors in one value buffer and one
 * gradient buffer, shared by every graph built over them. */
#include "tg_internal.h"

#include <stdio.h>
#include <string.h>

struct tg_params {
    tg_tensor **t;
    size_t *offset;
    int n, cap;
    size_t numel;
    tg_real *values, *grads;
    char err[512]; /* first failed tg_params_add: tg_params_alloc reports it */
};

/* Remembers the first declaration failure (already in tg_last_error). */
static tg_tensor *add_failed(tg_params *p)
{
    if (!p->err[0])
        snprintf(p->err, sizeof p->err, "%s", tg_last_error());
    return NULL;
}

tg_params *tg_params_new(void) { return tg_calloc(1, sizeof(tg_params), "parameter store"); }

void tg_params_free(tg_params *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        tg_free(p->t[i]);
    tg_free(p->t);
    tg_free(p->offset);
    tg_free(p->values);
    tg_free(p->grads);
    tg_free(p);
}

tg_tensor *tg_params_add(tg_params *p, const char *name, int ndim, const int *shape,
                         int trainable)
{
    if (p->values) {
        tg_error(TG_ERR_ARG, "tg_params_add: '%s' declared after tg_params_alloc", name);
        return add_failed(p);
    }
    size_t numel = tg_shape_numel(ndim, shape);
    if (!numel) {
        tg_error(TG_ERR_SHAPE, "tg_params_add: '%s' has an invalid shape", name);
        return add_failed(p);
    }
    if (strlen(name) >= TG_NAME_LEN) {
        tg_error(TG_ERR_ARG, "tg_params_add: name '%s' is longer than %d characters", name,
                 TG_NAME_LEN - 1);
        return add_failed(p);
    }
    if (tg_params_find(p, name)) {
        tg_error(TG_ERR_ARG, "tg_params_add: duplicate parameter name '%s'", name);
        return add_failed(p);
    }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        tg_tensor **nt = tg_realloc(p->t, cap * sizeof *nt, "parameter list");
        if (!nt)
            return add_failed(p);
        p->t = nt;
        size_t *no = tg_realloc(p->offset, cap * sizeof *no, "parameter offsets");
        if (!no)
            return add_failed(p);
        p->offset = no;
        p->cap = cap;
    }
    tg_tensor *t = tg_calloc(1, sizeof *t, "parameter");
    if (!t)
        return add_failed(p);
    t->dtype = TG_F32;
    t->ndim = ndim;
    memcpy(t->shape, shape, ndim * sizeof *shape);
    t->numel = numel;
    t->op = -1;
    t->id = -1;
    t->flags = TG_FLAG_PARAM | (trainable ? TG_FLAG_TRAINABLE : 0);
    strcpy(t->name, name);
    p->offset[p->n] = p->numel;
    p->numel += (numel + 15) & ~(size_t)15; /* 64-byte aligned starts */
    p->t[p->n++] = t;
    return t;
}

int tg_params_alloc(tg_params *p)
{
    if (p->values)
        return tg_error(TG_ERR_ARG, "tg_params_alloc: already allocated");
    if (p->err[0])
        return tg_error(TG_ERR_ARG, "tg_params_alloc: a parameter declaration failed: %s", p->err);
    int trainable = 0;
    for (int i = 0; i < p->n; i++)
        trainable |= (p->t[i]->flags & TG_FLAG_TRAINABLE) != 0;
    p->values = tg_calloc(p->numel ? p->numel : 1, sizeof(tg_real), "parameter values");
    /* a store of state only (a KV cache) has no gradient buffer */
    p->grads = trainable
                   ? tg_calloc(p->numel ? p->numel : 1, sizeof(tg_real), "parameter gradients")
                   : NULL;
    if (!p->values || (trainable && !p->grads)) {
        tg_free(p->values);
        tg_free(p->grads);
        p->values = p->grads = NULL;
        return TG_ERR_NOMEM;
    }
    for (int i = 0; i < p->n; i++) {
        p->t[i]->data = p->values + p->offset[i];
        p->t[i]->grad = (p->t[i]->flags & TG_FLAG_TRAINABLE) ? p->grads + p->offset[i] : NULL;
    }
    return TG_OK;
}

int tg_params_count(const tg_params *p) { return p->n; }
tg_tensor *tg_params_at(const tg_params *p, int i) { return i >= 0 && i < p->n ? p->t[i] : NULL; }

tg_tensor *tg_params_find(const tg_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->t[i]->name, name))
            return p->t[i];
    return NULL;
}

size_t tg_params_numel(const tg_params *p) { return p->numel; }
tg_real *tg_params_values(tg_params *p) { return p->values; }
tg_real *tg_params_grads(tg_params *p) { return p->grads; }

size_t tg_params_offset(const tg_params *p, const tg_tensor *t)
{
    for (int i = 0; i < p->n; i++)
        if (p->t[i] == t)
            return p->offset[i];
    return (size_t)-1;
}

void tg_params_zero_grad(tg_params *p)
{
    if (p->grads)
        memset(p->grads, 0, p->numel * sizeof(tg_real));
}
