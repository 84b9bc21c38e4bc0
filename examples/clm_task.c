/* The causal-LM training task (clm_task.h): what `ablm train-clm` trains. */
#include "clm_task.h"
#include "lm_eval.h"

#include "gpt2.h"
#include "lm_datasets.h"
#include "mlm_mask.h"
#include "reader.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    int B, T, training;
    g2_graph gr;
} clm_graph;

typedef struct {
    const train_args *a;
    tok_tokenizer *tok;
    g2_model *model;
    mlm_data train, eval;
    int has_eval;
    int block;              /* tokens per block / longest example */
    tg_arena *arena;        /* shared by every cached graph */
    clm_graph *graphs;
    int n_graphs, cap_graphs;
    int32_t *labels;        /* [B * block] scratch */
    mlm_batch batch;        /* padded ids, buffers reused every step */
} clm_ctx;

/* ---- seeding: every random stream of the task, in one place ---------------- */

/* Weight initialisation of a model trained from scratch. */
static uint64_t init_seed(const train_args *a) { return (uint64_t)a->seed; }
/* The dropout seed of every graph. */
static uint64_t dropout_seed(const train_args *a) { return (uint64_t)a->seed; }
/* The dropout stream of training micro-batch `micro`: a function of micro
 * only, which makes resume exact. (Evaluation has no randomness.) */
static void seed_dropout(tg_graph *g, long micro) { tg_graph_set_rng_state(g, (uint64_t)micro); }

/* ---- model, data and graphs ------------------------------------------------- */

static int load_model(trainer *t, clm_ctx *c, const char *resume)
{
    const train_args *a = c->a;
    const char *from = resume[0] ? resume : a->model_name_or_path[0] ? a->model_name_or_path : NULL;
    int rc;
    if (from) {
        rc = g2_load_pretrained(from, &c->model, &c->tok, t->note);
        if (!rc && a->tokenizer_name[0] && !resume[0]) {
            tok_free(c->tok);
            c->tok = NULL;
            rc = tok_load(a->tokenizer_name, &c->tok);
        }
    } else {
        g2_config cfg;
        rc = g2_config_load(a->config_name, &cfg);
        if (!rc)
            rc = a->tokenizer_name[0] ? tok_load(a->tokenizer_name, &c->tok) : tok_new(&c->tok);
        char buf[1024];
        const char *w = rc ? NULL : g2_config_token_warning(&cfg, c->tok, buf, sizeof buf);
        if (w)
            tr_warnf(t, "%s", w);
        if (!rc)
            rc = g2_model_new(&cfg, &c->model);
        if (!rc)
            g2_model_init(c->model, init_seed(a));
    }
    if (!rc && tok_vocab_size(c->tok) > c->model->cfg.vocab_size)
        rc = tg_error(TG_ERR_ARG, "%s: vocab_size %d, but the tokenizer has %d tokens",
                      from ? from : a->config_name, c->model->cfg.vocab_size,
                      tok_vocab_size(c->tok));
    return rc;
}

/* --block_size (= --max_seq_length) against n_positions; run_clm.py's
 * default min(model_max_length, 1024). Returns a status. */
static int resolve_block(trainer *t, clm_ctx *c)
{
    int model_max = c->model->cfg.n_positions;
    int n = c->a->max_seq_length > 0 ? c->a->max_seq_length : (model_max < 1024 ? model_max : 1024);
    if (n > model_max) {
        tr_warnf(t, "--block_size %d is longer than the model's n_positions %d; using %d", n,
                 model_max, model_max);
        n = model_max;
    }
    c->block = n;
    if (n < 3)
        return tg_error(TG_ERR_ARG, "--block_size %d leaves no room for residues", n);
    return TG_OK;
}

/* The graph for a [B, T] batch in training (dropout) or eval mode, built on
 * first use into the shared arena. */
static int get_graph(clm_ctx *c, int B, int T, int training, g2_graph **out)
{
    for (int i = 0; i < c->n_graphs; i++)
        if (c->graphs[i].B == B && c->graphs[i].T == T && c->graphs[i].training == training) {
            *out = &c->graphs[i].gr;
            return TG_OK;
        }
    if (c->n_graphs == c->cap_graphs) {
        int cap = c->cap_graphs ? 2 * c->cap_graphs : 16;
        clm_graph *e = tg_realloc(c->graphs, cap * sizeof *e, "graph cache");
        if (!e)
            return TG_ERR_NOMEM;
        c->graphs = e;
        c->cap_graphs = cap;
    }
    clm_graph *e = &c->graphs[c->n_graphs];
    int rc = g2_build(c->model, B, T, G2_LOSS, c->arena, &e->gr);
    if (rc)
        return rc;
    tg_graph_set_training(e->gr.g, training);
    tg_graph_set_precision(e->gr.g, c->a->bf16 ? TG_PREC_BF16 : TG_PREC_F32);
    tg_graph_seed(e->gr.g, dropout_seed(c->a));
    e->B = B, e->T = T, e->training = training;
    c->n_graphs++;
    *out = &e->gr;
    return TG_OK;
}

/* Rows rows[0..n) of d padded into c->batch, labels = ids with -100 on the
 * padding (DataCollatorForLanguageModeling(mlm=False); grouped blocks have
 * none), set into the graph of the batch's shape. */
static int make_batch(clm_ctx *c, const mlm_data *d, const long *rows, int n, int training,
                      g2_graph **gr)
{
    const int32_t *seqs[n];
    int lens[n];
    for (int i = 0; i < n; i++) {
        seqs[i] = d->ids + d->start[rows[i]];
        lens[i] = d->len[rows[i]];
    }
    mlm_batch *b = &c->batch;
    int rc = mlm_pad_batch(seqs, lens, n, c->block, 1, 0, d->pad_id, b);
    if (!rc)
        rc = get_graph(c, b->B, b->T, training, gr);
    if (rc)
        return rc;
    for (int i = 0; i < b->B * b->T; i++)
        c->labels[i] = b->attention_mask[i] ? b->ids[i] : -100;
    g2_set_batch(*gr, b->ids, b->attention_mask, c->labels);
    return TG_OK;
}

/* ---- the task's functions (tr_task) ---------------------------------------- */

static void clm_close(void *ctx)
{
    clm_ctx *c = ctx;
    for (int i = 0; i < c->n_graphs; i++)
        g2_graph_free(&c->graphs[i].gr);
    tg_free(c->graphs);
    tg_arena_free(c->arena);
    mlm_data_free(&c->train);
    mlm_data_free(&c->eval);
    g2_model_free(c->model);
    tok_free(c->tok);
    tg_free(c->labels);
    mlm_batch_free(&c->batch);
    tg_free(c);
}

static int clm_open(trainer *t, const char *checkpoint, tr_data *d)
{
    clm_ctx *c = tg_calloc(1, sizeof *c, "causal-LM task");
    if (!c)
        return TG_ERR_NOMEM;
    t->ctx = c;
    const train_args *a = c->a = t->a;
    int rc = load_model(t, c, checkpoint);
    if (!rc)
        rc = resolve_block(t, c);
    if (!rc)
        rc = lm_datasets_load(t, c->tok, c->block, RD_CHAIN_LIGHT, &c->train, &c->eval,
                              &c->has_eval);
    if (rc)
        return rc;
    int bs = a->per_device_train_batch_size > a->per_device_eval_batch_size
                 ? a->per_device_train_batch_size
                 : a->per_device_eval_batch_size;
    c->labels = tg_malloc((size_t)bs * c->block * sizeof *c->labels, "labels");
    c->arena = tg_arena_new();
    if (!c->labels || !c->arena)
        return TG_ERR_NOMEM;
    *d = (tr_data){c->train.n, c->train.len, c->has_eval};
    return TG_OK;
}

static tg_params *clm_params(void *ctx) { return ((clm_ctx *)ctx)->model->params; }

/* GPT-2's LayerNorms are ln_1, ln_2 and ln_f (no weight decay, as HF's
 * ALL_LAYERNORM_LAYERS). */
static int clm_is_norm(void *ctx, const char *name)
{
    (void)ctx;
    return g2_param_is_norm(name);
}

static int clm_save(void *ctx, const char *dir)
{
    clm_ctx *c = ctx;
    return g2_save_pretrained(c->model, c->tok, dir);
}

static int clm_load_weights(void *ctx, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return g2_model_load(((clm_ctx *)ctx)->model, path, NULL);
}

static int clm_batch_fn(void *ctx, long micro, const long *rows, int n, tr_batch *out)
{
    clm_ctx *c = ctx;
    g2_graph *gr;
    int rc = make_batch(c, &c->train, rows, n, 1, &gr);
    if (rc)
        return rc;
    seed_dropout(gr->g, micro);
    long tokens = 0;
    for (int i = 0; i < c->batch.B * c->batch.T; i++)
        tokens += c->batch.attention_mask[i] != 0;
    *out = (tr_batch){gr->g, gr->loss, tokens};
    return TG_OK;
}

/* This rank's share of the evaluation (tr_eval): the batch losses
 * weighted by batch size (as the Trainer), next-token argmax right and
 * predicted tokens (run_clm.py's accuracy). */
static int clm_evaluate_fn(void *ctx, int final, tr_eval *io)
{
    (void)final;
    clm_ctx *c = ctx;
    const mlm_data *d = &c->eval;
    int bs = c->a->per_device_eval_batch_size;
    double t0 = lm_eval_begin(io);
    long rows[bs];
    for (long s = 0; s < d->n; s += bs) {
        if ((s / bs) % io->shards != io->shard)
            continue; /* another rank's batch */
        int n = d->n - s < bs ? (int)(d->n - s) : bs;
        for (int i = 0; i < n; i++)
            rows[i] = s + i;
        g2_graph *gr;
        int rc = make_batch(c, d, rows, n, 0, &gr);
        if (!rc)
            rc = tg_forward(gr->g);
        if (rc)
            return rc;
        /* labels shifted: the target of position t */
        lm_eval_add(io, tg_f32(gr->logits), tg_i32(gr->labels), (long)n * gr->seq_len,
                    c->model->cfg.vocab_size, tg_f32(gr->loss)[0], n);
    }
    lm_eval_end(io, t0);
    return TG_OK;
}

/* eval_loss, eval_accuracy and exp(eval_loss): eval_perplexity during
 * training, at the end run_clm.py's perplexity and eval_samples. */
static int clm_eval_metrics_fn(void *ctx, int final, tr_eval *io)
{
    (void)ctx;
    lm_eval_metrics(io, final, 0);
    return TG_OK;
}

const tr_task clm_task = {
    .curve_title = "ablm train-clm: causal-LM loss",
    .rng_note = "data order and dropout are functions of (seed, epoch, micro-batch)",
    .open = clm_open,
    .close = clm_close,
    .params = clm_params,
    .is_norm = clm_is_norm,
    .save = clm_save,
    .load_weights = clm_load_weights,
    .batch = clm_batch_fn,
    .evaluate = clm_evaluate_fn,
    .eval_metrics = clm_eval_metrics_fn,
};
