/* The sequence-to-sequence training task (s2s_task.h): what `ablm
 * train-h2l` trains. */
#include "s2s_task.h"
#include "lm_eval.h"

#include "encdec.h"
#include "mlm_mask.h"
#include "pairs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static s2s_opts options;

void s2s_task_configure(const s2s_opts *o) { options = *o; }

/* Tokenized pairs: source [CLS] heavy [SEP], labels light [SEP]. */
typedef struct {
    long n;
    int32_t *src, *tgt;            /* concatenated ids */
    long *src_start, *tgt_start;
    int *src_len, *tgt_len;
    int *len;                      /* src + tgt, for --group_by_length */
} s2s_data;

typedef struct {
    int B, S, T, training;
    ed_graph gr;
} s2s_graph;

typedef struct {
    const train_args *a;
    s2s_opts o;
    tok_tokenizer *tok;
    ed_model *model;
    s2s_data train, eval;
    int has_eval;
    int max_src, max_tgt;
    tg_arena *arena;
    s2s_graph *graphs;
    int n_graphs, cap_graphs;
    mlm_batch src, tgt;            /* padded ids / labels, reused */
} s2s_ctx;

/* ---- seeding ------------------------------------------------------------------ */

/* The fresh tensors (cross-attention, adapters, enc_to_dec_proj). */
static uint64_t init_seed(const train_args *a) { return (uint64_t)a->seed; }
static uint64_t dropout_seed(const train_args *a) { return (uint64_t)a->seed; }
/* Training micro-batch `micro`'s dropout stream: a function of micro only
 * (exact resume). Evaluation has no randomness. */
static void seed_dropout(tg_graph *g, long micro) { tg_graph_set_rng_state(g, (uint64_t)micro); }

/* ---- model ---------------------------------------------------------------------- */

static int load_model(trainer *t, s2s_ctx *c, const char *resume)
{
    const train_args *a = c->a;
    const s2s_opts *o = &c->o;
    int freeze = o->freeze_encoder ? ED_FREEZE_ENCODER : 0;
    const char *from = resume[0] ? resume : a->model_name_or_path[0] ? a->model_name_or_path : NULL;
    if (a->model_name_or_path[0] && o->encoder[0])
        return tg_error(TG_ERR_ARG, "--model_name_or_path and --encoder/--decoder exclude each other");
    int rc;
    if (from) {
        rc = ed_load_pretrained(from, freeze, &c->model, &c->tok, t->note);
        if (!rc && o->adapters && c->model->cfg.adapters != o->adapters)
            rc = tg_error(TG_ERR_ARG, "%s: the model has %s, --adapters %d asks for reduction factor %d",
                          from, c->model->cfg.adapters ? "adapters of another reduction factor" : "no adapters",
                          o->adapters, o->adapters);
    } else {
        if (!o->encoder[0] || !o->decoder[0])
            return tg_error(TG_ERR_ARG, "--encoder and --decoder (or --model_name_or_path) are required");
        ed_from_opts fo = {o->adapters, freeze, init_seed(a)};
        rc = ed_from_pretrained(o->encoder, o->decoder, &fo, &c->model, &c->tok, t->note);
    }
    if (rc)
        return rc;
    const ed_model *m = c->model;
    size_t n_train = 0, n_frozen = 0;
    for (int i = 0; i < tg_params_count(m->train); i++)
        n_train += tg_params_at(m->train, i)->numel;
    for (int i = 0; i < tg_params_count(m->frozen); i++)
        n_frozen += tg_params_at(m->frozen, i)->numel;
    tr_notef(t, "encoder-decoder: %zu trainable parameters in %d tensors, %zu frozen in %d tensors%s%s",
             n_train, tg_params_count(m->train), n_frozen, tg_params_count(m->frozen),
             m->cfg.adapters ? " (adapters: base frozen)" : "",
             o->freeze_encoder ? " (encoder frozen)" : "");
    c->max_src = ed_max_source(m);
    c->max_tgt = ed_max_target(m);
    if (o->max_source_length > 0 && o->max_source_length < c->max_src)
        c->max_src = o->max_source_length;
    if (o->max_target_length > 0 && o->max_target_length < c->max_tgt)
        c->max_tgt = o->max_target_length;
    if (c->max_src < 3 || c->max_tgt < 2)
        return tg_error(TG_ERR_ARG, "--max_source_length %d / --max_target_length %d leave no room for residues",
                        c->max_src, c->max_tgt);
    return TG_OK;
}

/* ---- data ------------------------------------------------------------------------ */

static void data_free(s2s_data *d)
{
    tg_free(d->src);
    tg_free(d->tgt);
    tg_free(d->src_start);
    tg_free(d->tgt_start);
    tg_free(d->src_len);
    tg_free(d->tgt_len);
    tg_free(d->len);
    memset(d, 0, sizeof *d);
}

/* Pairs v[0..n) of a set tokenized into d. */
static int tokenize(const s2s_ctx *c, const pr_pair *v, long n, s2s_data *d)
{
    memset(d, 0, sizeof *d);
    size_t ns = 0, nt = 0;
    for (long i = 0; i < n; i++)
        ns += v[i].heavy_len + 2, nt += v[i].light_len + 2;
    d->src = tg_malloc((ns ? ns : 1) * sizeof *d->src, "source ids");
    d->tgt = tg_malloc((nt ? nt : 1) * sizeof *d->tgt, "labels");
    d->src_start = tg_malloc((n ? n : 1) * sizeof(long), "pair starts");
    d->tgt_start = tg_malloc((n ? n : 1) * sizeof(long), "pair starts");
    d->src_len = tg_malloc((n ? n : 1) * sizeof(int), "pair lengths");
    d->tgt_len = tg_malloc((n ? n : 1) * sizeof(int), "pair lengths");
    d->len = tg_malloc((n ? n : 1) * sizeof(int), "pair lengths");
    if (!d->src || !d->tgt || !d->src_start || !d->tgt_start || !d->src_len || !d->tgt_len || !d->len)
        return TG_ERR_NOMEM;
    size_t ps = 0, pt = 0;
    for (long i = 0; i < n; i++) {
        int k;
        int rc = tok_encode(c->tok, v[i].heavy, v[i].heavy_len, c->max_src, TOK_REJECT, d->src + ps, &k, NULL);
        if (rc)
            return tg_error(rc, "%s:%ld: heavy chain: %s", v[i].file, v[i].line, tg_last_error());
        d->src_start[i] = ps, d->src_len[i] = k, ps += k;
        /* [CLS] light [SEP] -> labels light [SEP] */
        rc = tok_encode(c->tok, v[i].light, v[i].light_len, c->max_tgt + 1, TOK_REJECT, d->tgt + pt, &k, NULL);
        if (rc)
            return tg_error(rc, "%s:%ld: light chain: %s", v[i].file, v[i].line, tg_last_error());
        memmove(d->tgt + pt, d->tgt + pt + 1, (k - 1) * sizeof(int32_t));
        d->tgt_start[i] = pt, d->tgt_len[i] = k - 1, pt += k - 1;
        d->len[i] = d->src_len[i] + d->tgt_len[i];
    }
    d->n = n;
    return TG_OK;
}

/* Reads the files of `paths` (comma-separated; pairs that fit the model,
 * the others skipped and counted) into *set, reporting the counts. */
static int read_pairs(trainer *t, const s2s_ctx *c, const char *paths, pr_set *set)
{
    pr_opts o;
    pr_opts_default(&o);
    o.max_heavy = c->max_src - 2;
    o.max_light = c->max_tgt - 1;
    int rc = TG_OK, files = 0;
    for (const char *p = paths; *p && !rc; files++) {
        size_t n = strcspn(p, ",");
        char path[TA_PATH];
        snprintf(path, sizeof path, "%.*s", (int)n, p);
        rc = path[0] ? pr_read(path, &o, set) : tg_error(TG_ERR_ARG, "\"%s\": an empty file name", paths);
        p += n + (p[n] == ',');
    }
    if (rc)
        return rc;
    tr_notef(t, "%s: %zu pairs from %zu rows%s; skipped: %zu without a heavy chain, %zu without a light "
                "chain, %zu too long (heavy > %d or light > %d residues)",
             files > 1 ? "pairs" : paths, set->n, set->rows, files > 1 ? " of the files" : "", set->no_heavy,
             set->no_light, set->too_long, o.max_heavy, o.max_light);
    if (files > 1)
        tr_notef(t, "(files: %s)", paths);
    return TG_OK;
}

static long head(long n, long max) { return max >= 0 && max < n ? max : n; }

/* --train_file and --validation_file; without a validation file, an
 * evaluation (--do_eval or an eval strategy) holds out the first
 * validation_split_percentage% of the train pairs, as lm_datasets does. */
static int load_data(trainer *t, s2s_ctx *c)
{
    const train_args *a = c->a;
    pr_set tr = {0}, ev = {0};
    int rc = TG_OK;
    if (a->train_file[0])
        rc = read_pairs(t, c, a->train_file, &tr);
    if (!rc && a->validation_file[0])
        rc = read_pairs(t, c, a->validation_file, &ev);
    long skip = 0;
    const pr_pair *ev_v = ev.v;
    long ev_n = (long)ev.n;
    c->has_eval = a->validation_file[0] != 0;
    if (!rc && !c->has_eval && (a->do_eval || a->eval_strategy != TA_NO) && tr.n > 1) {
        skip = (long)nearbyint((double)tr.n * a->validation_split_percentage / 100.0);
        if (skip < 1)
            skip = 1;
        ev_v = tr.v, ev_n = skip;
        c->has_eval = 1;
        tr_notef(t, "no --validation_file: the first %d%% of the train pairs (%ld) are the evaluation set",
                 a->validation_split_percentage, skip);
    }
    if (!rc)
        rc = tokenize(c, tr.v + skip, head((long)tr.n - skip, a->max_train_samples), &c->train);
    if (!rc)
        rc = tokenize(c, ev_v, head(ev_n, a->max_eval_samples), &c->eval);
    if (!rc && a->do_train && c->train.n == 0)
        rc = tg_error(TG_ERR_ARG, "%s: no training pairs left", a->train_file);
    pr_free(&tr);
    pr_free(&ev);
    return rc;
}

/* ---- graphs and batches ------------------------------------------------------------- */

static int get_graph(s2s_ctx *c, int B, int S, int T, int training, ed_graph **out)
{
    for (int i = 0; i < c->n_graphs; i++) {
        s2s_graph *e = &c->graphs[i];
        if (e->B == B && e->S == S && e->T == T && e->training == training) {
            *out = &e->gr;
            return TG_OK;
        }
    }
    if (c->n_graphs == c->cap_graphs) {
        int cap = c->cap_graphs ? 2 * c->cap_graphs : 16;
        s2s_graph *e = tg_realloc(c->graphs, cap * sizeof *e, "graph cache");
        if (!e)
            return TG_ERR_NOMEM;
        c->graphs = e;
        c->cap_graphs = cap;
    }
    s2s_graph *e = &c->graphs[c->n_graphs];
    int rc = ed_build(c->model, B, S, T, ED_LOSS, c->arena, &e->gr);
    if (rc)
        return rc;
    tg_graph_set_training(e->gr.g, training);
    tg_graph_seed(e->gr.g, dropout_seed(c->a));
    e->B = B, e->S = S, e->T = T, e->training = training;
    c->n_graphs++;
    *out = &e->gr;
    return TG_OK;
}

/* Pads n sequences to the longest, rounded up to a multiple of 8 (so few
 * graph shapes occur) unless that passes max. */
static int pad_to(const int32_t **s, const int *len, int n, int max, int32_t pad, mlm_batch *b)
{
    int rc = mlm_pad_batch(s, len, n, max, 1, 8, pad, b);
    if (!rc && b->T > max)
        rc = mlm_pad_batch(s, len, n, max, 1, 0, pad, b);
    return rc;
}

/* Rows rows[0..n) of d: sources padded with [PAD], labels with -100 (each
 * to the batch's longest, pad_to), set into the graph of that shape. */
static int make_batch(s2s_ctx *c, const s2s_data *d, const long *rows, int n, int training,
                      ed_graph **gr)
{
    const int32_t *ss[n], *ts[n];
    int sl[n], tl[n];
    for (int i = 0; i < n; i++) {
        long r = rows[i];
        ss[i] = d->src + d->src_start[r], sl[i] = d->src_len[r];
        ts[i] = d->tgt + d->tgt_start[r], tl[i] = d->tgt_len[r];
    }
    int rc = pad_to(ss, sl, n, c->max_src, tok_pad_id(c->tok), &c->src);
    if (!rc)
        rc = pad_to(ts, tl, n, c->max_tgt, -100, &c->tgt);
    if (!rc)
        rc = get_graph(c, n, c->src.T, c->tgt.T, training, gr);
    if (rc)
        return rc;
    ed_set_batch(*gr, c->src.ids, c->src.attention_mask, c->tgt.ids);
    return TG_OK;
}

/* ---- the task's functions --------------------------------------------------------- */

static void s2s_close(void *ctx)
{
    s2s_ctx *c = ctx;
    for (int i = 0; i < c->n_graphs; i++)
        ed_graph_free(&c->graphs[i].gr);
    tg_free(c->graphs);
    tg_arena_free(c->arena);
    data_free(&c->train);
    data_free(&c->eval);
    ed_model_free(c->model);
    tok_free(c->tok);
    mlm_batch_free(&c->src);
    mlm_batch_free(&c->tgt);
    tg_free(c);
}

static int s2s_open(trainer *t, const char *checkpoint, tr_data *d)
{
    s2s_ctx *c = tg_calloc(1, sizeof *c, "seq2seq task");
    if (!c)
        return TG_ERR_NOMEM;
    t->ctx = c;
    c->a = t->a;
    c->o = options;
    int rc = load_model(t, c, checkpoint);
    if (!rc)
        rc = load_data(t, c);
    if (rc)
        return rc;
    c->arena = tg_arena_new();
    if (!c->arena)
        return TG_ERR_NOMEM;
    *d = (tr_data){c->train.n, c->train.len, c->has_eval};
    return TG_OK;
}

static tg_params *s2s_params(void *ctx) { return ((s2s_ctx *)ctx)->model->train; }

static int s2s_is_norm(void *ctx, const char *name)
{
    (void)ctx;
    return ed_param_is_norm(name);
}

static int s2s_save(void *ctx, const char *dir)
{
    s2s_ctx *c = ctx;
    return ed_save_pretrained(c->model, c->tok, dir);
}

static int s2s_load_weights(void *ctx, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return ed_model_load(((s2s_ctx *)ctx)->model, path, NULL);
}

static int s2s_batch_fn(void *ctx, long micro, const long *rows, int n, tr_batch *out)
{
    s2s_ctx *c = ctx;
    ed_graph *gr;
    int rc = make_batch(c, &c->train, rows, n, 1, &gr);
    if (rc)
        return rc;
    seed_dropout(gr->g, micro);
    long tokens = 0;
    for (int i = 0; i < n; i++)
        tokens += c->train.src_len[rows[i]] + c->train.tgt_len[rows[i]];
    *out = (tr_batch){gr->g, gr->loss, tokens};
    return TG_OK;
}

/* This rank's share of the evaluation (tr_eval, lm_eval.h's totals). */
static int s2s_evaluate_fn(void *ctx, int final, tr_eval *io)
{
    (void)final;
    s2s_ctx *c = ctx;
    const s2s_data *d = &c->eval;
    int bs = c->a->per_device_eval_batch_size;
    double t0 = lm_eval_begin(io);
    long rows[bs];
    for (long s = 0; s < d->n; s += bs) {
        if ((s / bs) % io->shards != io->shard)
            continue; /* another rank's batch */
        int n = d->n - s < bs ? (int)(d->n - s) : bs;
        for (int i = 0; i < n; i++)
            rows[i] = s + i;
        ed_graph *gr;
        int rc = make_batch(c, d, rows, n, 0, &gr);
        if (!rc)
            rc = tg_forward(gr->g);
        if (rc)
            return rc;
        /* the loss is the mean over the batch's label tokens */
        lm_eval_add(io, tg_f32(gr->logits), tg_i32(gr->labels), (long)n * gr->tgt_len,
                    c->model->cfg.dec.vocab_size, tg_f32(gr->loss)[0], n);
    }
    lm_eval_end(io, t0);
    return TG_OK;
}

/* eval_loss, eval_accuracy and the perplexity of the label tokens (exp of
 * the mean NLL over all of them); eval_samples at the end. */
static int s2s_eval_metrics_fn(void *ctx, int final, tr_eval *io)
{
    (void)ctx;
    lm_eval_metrics(io, final, 1);
    return TG_OK;
}

const tr_task s2s_task = {
    .curve_title = "ablm train-h2l: heavy-to-light loss",
    .rng_note = "data order and dropout are functions of (seed, epoch, micro-batch)",
    .open = s2s_open,
    .close = s2s_close,
    .params = s2s_params,
    .is_norm = s2s_is_norm,
    .save = s2s_save,
    .load_weights = s2s_load_weights,
    .batch = s2s_batch_fn,
    .evaluate = s2s_evaluate_fn,
    .eval_metrics = s2s_eval_metrics_fn,
};
