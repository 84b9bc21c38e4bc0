/* Parameters to and from model.safetensors. */
#include "weights.h"

#include "safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

tg_tensor *wt_decl(tg_params *p, const char *name, int rows, int cols)
{
    int shape[2] = {rows, cols};
    return tg_params_add(p, name, cols ? 2 : 1, shape, 1);
}

int wt_ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && !strcmp(name + n - k, suffix);
}

void wt_init(tg_params *p, uint64_t seed, int (*is_norm)(const char *name),
             double (*sd)(const char *name, void *ctx), void *ctx)
{
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int i = 0; i < tg_params_count(p); i++) {
        tg_tensor *t = tg_params_at(p, i);
        float *x = tg_f32(t);
        int bias = wt_ends_with(t->name, "bias"), norm = is_norm(t->name);
        double s = bias || norm ? 0 : sd(t->name, ctx);
        for (size_t j = 0; j < t->numel; j++) {
            if (bias)
                x[j] = 0.0f;
            else if (norm)
                x[j] = 1.0f;
            else
                x[j] = (float)(s * tg_rng_normal(&r));
        }
    }
}

tg_tensor *wt_decl_in(const wt_scope *s, const char *name, int rows, int cols)
{
    char full[TG_NAME_LEN + 32];
    snprintf(full, sizeof full, "%s%s", s->prefix ? s->prefix : "", name);
    int frozen = s->frozen && s->is_frozen && s->is_frozen(full, s->ctx);
    int shape[2] = {rows, cols};
    return tg_params_add(frozen ? s->frozen : s->p, full, cols ? 2 : 1, shape, !frozen);
}

int wt_starts_with(const char *name, const char *prefix)
{
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* The parameter of stores p[0..n) named name, or NULL. */
static tg_tensor *find_in(tg_params *const *p, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        tg_tensor *t = tg_params_find(p[i], name);
        if (t)
            return t;
    }
    return NULL;
}

int wt_load_set(tg_params *const *p, int n, const char *path, const wt_map *map,
                const char *(*skipped)(const char *name), void (*note)(const char *msg))
{
    static const wt_map same = {"", "", NULL};
    if (!map)
        map = &same;
    size_t np = strlen(map->prefix), nf = strlen(map->file_prefix);
    st_file *f;
    int rc = st_open(path, &f);
    if (rc)
        return rc;
    for (int s = 0; s < n && !rc; s++)
        for (int i = 0; i < tg_params_count(p[s]) && !rc; i++) {
            tg_tensor *t = tg_params_at(p[s], i);
            if (!wt_starts_with(t->name, map->prefix))
                continue;
            char name[TG_NAME_LEN + 64], shape[64];
            snprintf(name, sizeof name, "%s%s", map->file_prefix, t->name + np);
            rc = st_check_shape(f, name, t->ndim, t->shape);
            if (rc == TG_ERR_ARG && map->absent_ok && map->absent_ok(t->name)) {
                rc = TG_OK;
                continue;
            }
            if (rc == TG_ERR_ARG)
                rc = tg_error(TG_ERR_FORMAT, "%s: tensor '%s' is missing (config expects shape %s)",
                              path, name, tg_shape_str(t, shape, sizeof shape));
            if (!rc)
                rc = st_read_f32(f, name, tg_f32(t), t->numel);
        }
    for (int i = 0; i < st_count(f) && !rc && note; i++) {
        const char *name = st_at(f, i)->name, *why;
        char ours[TG_NAME_LEN + 64];
        snprintf(ours, sizeof ours, "%s%s", map->prefix, name + nf);
        if (wt_starts_with(name, map->file_prefix) && find_in(p, n, ours))
            continue;
        char msg[512];
        if (skipped && (why = skipped(name)))
            snprintf(msg, sizeof msg, "%s: '%s' skipped: %s", path, name, why);
        else
            snprintf(msg, sizeof msg, "%s: extra tensor '%s' ignored", path, name);
        note(msg);
    }
    st_close(f);
    return rc;
}

int wt_load(tg_params *p, const char *path, const char *(*skipped)(const char *name),
            void (*note)(const char *msg))
{
    return wt_load_set(&p, 1, path, NULL, skipped, note);
}

int wt_save_set(tg_params *const *p, int n, const char *dir)
{
    int total = 0;
    for (int s = 0; s < n; s++)
        total += tg_params_count(p[s]);
    st_tensor *ts = tg_calloc(total ? total : 1, sizeof *ts, "tensor list");
    if (!ts)
        return TG_ERR_NOMEM;
    int k = 0;
    for (int s = 0; s < n; s++)
        for (int i = 0; i < tg_params_count(p[s]); i++) {
            tg_tensor *t = tg_params_at(p[s], i);
            ts[k++] = (st_tensor){t->name, ST_F32, t->ndim, t->shape, t->data};
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    static const char *const meta[] = {"format", "pt"};
    int rc = st_write(path, ts, total, meta, 1);
    tg_free(ts);
    return rc;
}

int wt_save(const tg_params *p, const char *dir)
{
    tg_params *q = (tg_params *)p;
    return wt_save_set(&q, 1, dir);
}

int wt_mkdir(const char *dir)
{
    if (mkdir(dir, 0755) && errno != EEXIST)
        return tg_error(TG_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    return TG_OK;
}

int wt_load_tokenizer(const char *dir, int vocab_size, tok_tokenizer **tok)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    int rc = access(path, F_OK) == 0 ? tok_load(dir, tok) : tok_new(tok);
    if (rc)
        return rc;
    if (tok_vocab_size(*tok) > vocab_size) {
        rc = tg_error(TG_ERR_FORMAT, "%s: tokenizer has %d tokens, more than config.json vocab_size %d",
                      dir, tok_vocab_size(*tok), vocab_size);
        tok_free(*tok);
        *tok = NULL;
    }
    return rc;
}
