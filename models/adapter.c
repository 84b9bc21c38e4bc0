/* Bottleneck adapters. */
#include "adapter.h"

#include <stdio.h>
#include <string.h>

int ad_declare(const wt_scope *s, const char *where, int H, int r, ad_adapter *a)
{
    memset(a, 0, sizeof *a);
    if (r < 1 || H % r)
        return tg_error(TG_ERR_ARG, "adapter at %s: reduction factor %d does not divide width %d",
                        where, r, H);
    char n[TG_NAME_LEN];
    snprintf(n, sizeof n, "%s.adapters." AD_NAME ".adapter_down.0.weight", where);
    a->down_w = wt_decl_in(s, n, H / r, H);
    snprintf(n, sizeof n, "%s.adapters." AD_NAME ".adapter_down.0.bias", where);
    a->down_b = wt_decl_in(s, n, H / r, 0);
    snprintf(n, sizeof n, "%s.adapters." AD_NAME ".adapter_up.weight", where);
    a->up_w = wt_decl_in(s, n, H, H / r);
    snprintf(n, sizeof n, "%s.adapters." AD_NAME ".adapter_up.bias", where);
    a->up_b = wt_decl_in(s, n, H, 0);
    return TG_OK; /* a failed declaration shows in tg_params_alloc */
}

tg_tensor *ad_apply(tg_graph *g, const ad_adapter *a, tg_tensor *x)
{
    if (!a->down_w)
        return x;
    tg_tensor *h = tg_relu(g, tg_linear(g, x, a->down_w, a->down_b));
    return tg_add(g, x, tg_linear(g, h, a->up_w, a->up_b));
}

int ad_is_adapter(const char *name) { return strstr(name, ".adapters." AD_NAME ".") != NULL; }

int ad_is_up(const char *name) { return strstr(name, ".adapters." AD_NAME ".adapter_up.") != NULL; }
