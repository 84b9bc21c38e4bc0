/* Running a planned graph: forward in node order, backward in reverse. */
#include "tg_internal.h"

#include <string.h>

int tg_forward(tg_graph *g)
{
    if (!g->planned)
        return tg_error(TG_ERR_ARG, "tg_forward: graph is not planned (call tg_graph_plan)");
    tg_graph_bind(g);
    g->step++;
    for (int i = 0; i < g->n; i++) {
        tg_tensor *t = g->nodes[i];
        if (t->op < 0 || (t->flags & TG_FLAG_VIEW))
            continue;
        int rc = tg_optable[t->op]->forward(t);
        if (rc)
            return rc;
    }
    return TG_OK;
}

int tg_backward(tg_graph *g, tg_tensor *root, const float *seed)
{
    if (!g->planned || !g->loss)
        return tg_error(TG_ERR_ARG, "tg_backward: graph was not planned for backward");
    if (root != g->loss)
        return tg_error(TG_ERR_ARG, "tg_backward: root '%s' is not the tensor the graph was planned for",
                        root ? root->name : "(null)");
    if (!(root->flags & TG_FLAG_NEEDS_GRAD))
        return TG_OK; /* nothing trainable reaches the root */
    tg_graph_bind(g);
    int n = g->n;
    for (int s = 0; s < n; s++) {
        for (int k = g->zero_start[s]; k < g->zero_start[s + 1]; k++) {
            tg_tensor *t = g->nodes[g->zero_list[k]];
            memset(t->grad, 0, t->numel * sizeof(float));
        }
        if (s == 0) {
            if (seed)
                memcpy(root->grad, seed, root->numel * sizeof(float));
            else
                for (size_t j = 0; j < root->numel; j++)
                    root->grad[j] = 1.0f;
        }
        tg_tensor *t = g->nodes[n - 1 - s];
        if (t->op >= 0 && (t->flags & TG_FLAG_NEEDS_GRAD) && tg_optable[t->op]->backward)
            tg_optable[t->op]->backward(t);
    }
    return TG_OK;
}
