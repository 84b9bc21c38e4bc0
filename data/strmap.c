/* Open-addressing hash map from byte strings to uint32. */
#include "strmap.h"

#include "tg.h"

#include <string.h>

void sm_init(sm_map *m) { memset(m, 0, sizeof *m); }

void sm_free(sm_map *m)
{
    tg_free(m->key);
    tg_free(m->klen);
    tg_free(m->val);
    sm_init(m);
}

static uint64_t hash(const char *s, int n)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static size_t slot(const sm_map *m, const char *key, int klen)
{
    size_t i = (size_t)hash(key, klen) & (m->cap - 1);
    while (m->key[i] && !(m->klen[i] == klen && !memcmp(m->key[i], key, (size_t)klen)))
        i = (i + 1) & (m->cap - 1);
    return i;
}

int sm_get(const sm_map *m, const char *key, int klen, uint32_t *val)
{
    if (!m->cap)
        return 0;
    size_t i = slot(m, key, klen);
    if (!m->key[i])
        return 0;
    *val = m->val[i];
    return 1;
}

static int grow(sm_map *m)
{
    size_t nc = m->cap ? m->cap * 2 : 1024;
    sm_map g = {0};
    g.cap = nc;
    g.key = tg_calloc(nc, sizeof *g.key, "hash map");
    g.klen = tg_malloc(nc * sizeof *g.klen, "hash map");
    g.val = tg_malloc(nc * sizeof *g.val, "hash map");
    if (!g.key || !g.klen || !g.val) {
        sm_free(&g);
        return TG_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->key[i]) {
            size_t j = slot(&g, m->key[i], m->klen[i]);
            g.key[j] = m->key[i];
            g.klen[j] = m->klen[i];
            g.val[j] = m->val[i];
        }
    g.n = m->n;
    sm_free(m);
    *m = g;
    return TG_OK;
}

int sm_put(sm_map *m, const char *key, int klen, uint32_t val, uint32_t *old)
{
    if ((m->n + 1) * 2 > m->cap && grow(m))
        return TG_ERR_NOMEM;
    size_t i = slot(m, key, klen);
    if (m->key[i]) {
        if (old)
            *old = m->val[i];
        return 0;
    }
    m->key[i] = key;
    m->klen[i] = klen;
    m->val[i] = val;
    m->n++;
    return 1;
}
