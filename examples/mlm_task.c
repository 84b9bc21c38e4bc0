/* The masked-LM training task (mlm_task.h): what `ablm train` trains. */
#include "mlm_task.h"

#include "lm_datasets.h"
#include "mlm_run.h"
#include "reader.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const train_args *a;
    tok_tokenizer *tok;
    rb_model *model;
    mlm_data train, eval;
    int has_eval;
    int max_len;            /* tokens per sequence incl. [CLS] and [SEP] */
    mlm_mask_cfg mask;
    mlm_graphs graphs;
    int32_t *labels;        /* [B * max_len] scratch */
    mlm_batch batch;        /* padded ids, buffers reused every step */
} mlm_ctx;

/* ---- seeding: every random stream of the task, in one place ---------------- */

/* Weight initialisation of a model trained from scratch. */
static uint64_t init_seed(const train_args *a) { return (uint64_t)a->seed; }
/* The dropout seed of every graph. */
static uint64_t dropout_seed(const train_args *a) { return (uint64_t)a->seed; }
/* Masks of training micro-batch `micro`: depend only on (seed,
 * micro-batch), which makes resume exact. */
static void seed_mask_rng(tg_rng *r, const train_args *a, long micro)
{
    tg_rng_seed(r, (uint64_t)a->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)micro);
}
/* The dropout stream of training micro-batch `micro` (the graph's
 * forward-pass counter). */
static void seed_dropout(tg_graph *g, long micro) { tg_graph_set_rng_state(g, (uint64_t)micro); }
/* Masks of every evaluation: fixed for the run, so evaluations compare. */
static uint64_t eval_mask_seed(const train_args *a)
{
    return (uint64_t)train_args_data_seed(a) ^ 0xe7a1ULL;
}

/* ---- model and data -------------------------------------------------------- */

static int load_model(trainer *t, mlm_ctx *c, const char *resume)
{
    const train_args *a = c->a;
    const char *from = resume[0] ? resume : a->model_name_or_path[0] ? a->model_name_or_path : NULL;
    int rc;
    if (from) {
        rc = rb_load_pretrained(from, &c->model, &c->tok, t->note);
        if (!rc && a->tokenizer_name[0] && !resume[0]) {
            tok_free(c->tok);
            c->tok = NULL;
            rc = tok_load(a->tokenizer_name, &c->tok);
        }
    } else {
        rb_config cfg;
        rc = rb_config_load(a->config_name, &cfg);
        if (!rc)
            rc = a->tokenizer_name[0] ? tok_load(a->tokenizer_name, &c->tok) : tok_new(&c->tok);
        if (!rc && cfg.pad_token_id != tok_pad_id(c->tok)) {
            char buf[1024];
            const char *w = rb_config_pad_warning(&cfg, c->tok, buf, sizeof buf);
            if (w)
                tr_warnf(t, "%s", w);
        }
        if (!rc)
            rc = rb_model_new(&cfg, &c->model);
        if (!rc)
            rb_model_init(c->model, init_seed(a));
    }
    /* run_mlm.py resizes the embeddings when the tokenizer has more tokens
     * than the model (new, untrained rows): not done here */
    if (!rc && tok_vocab_size(c->tok) > c->model->cfg.vocab_size)
        rc = tg_error(TG_ERR_ARG, "%s: vocab_size %d, but the tokenizer%s%s has %d tokens",
                      a->config_name[0] && !from ? a->config_name : from,
                      c->model->cfg.vocab_size, a->tokenizer_name[0] ? " " : "",
                      a->tokenizer_name, tok_vocab_size(c->tok));
    return rc;
}

/* --max_seq_length against the model's positions. Returns a status. */
static int resolve_max_len(trainer *t, mlm_ctx *c)
{
    const rb_config *cfg = &c->model->cfg;
    int model_max = cfg->max_position_embeddings - cfg->pad_token_id - 1;
    int n = c->a->max_seq_length > 0 ? c->a->max_seq_length : (model_max < 1024 ? model_max : 1024);
    if (n > model_max) {
        tr_warnf(t, "--max_seq_length %d is longer than the model's maximum %d; using %d", n,
                 model_max, model_max);
        n = model_max;
    }
    c->max_len = n;
    if (n < 3)
        return tg_error(TG_ERR_ARG, "--max_seq_length %d leaves no room for residues", n);
    return TG_OK;
}


/* ---- the task's functions (tr_task) ---------------------------------------- */

static void mlm_close(void *ctx)
{
    mlm_ctx *c = ctx;
    mlm_graphs_free(&c->graphs);
    mlm_data_free(&c->train);
    mlm_data_free(&c->eval);
    rb_model_free(c->model);
    tok_free(c->tok);
    tg_free(c->labels);
    mlm_batch_free(&c->batch);
    tg_free(c);
}

static int mlm_open(trainer *t, const char *checkpoint, tr_data *d)
{
    mlm_ctx *c = tg_calloc(1, sizeof *c, "masked-LM task");
    if (!c)
        return TG_ERR_NOMEM;
    t->ctx = c;
    const train_args *a = c->a = t->a;
    int rc = load_model(t, c, checkpoint);
    if (!rc)
        rc = resolve_max_len(t, c);
    if (!rc)
        rc = lm_datasets_load(t, c->tok, c->max_len, RD_CHAIN_HEAVY, &c->train, &c->eval,
                              &c->has_eval);
    if (rc)
        return rc;
    c->mask = mlm_mask_for(c->tok, a->mlm_probability); /* random ids: len(tokenizer) */
    int bs = a->per_device_train_batch_size > a->per_device_eval_batch_size
                 ? a->per_device_train_batch_size
                 : a->per_device_eval_batch_size;
    c->labels = tg_malloc((size_t)bs * c->max_len * sizeof *c->labels, "labels");
    if (!c->labels)
        return TG_ERR_NOMEM;
    *d = (tr_data){c->train.n, c->train.len, c->has_eval};
    rc = mlm_graphs_init(&c->graphs, c->model, dropout_seed(a), RB_LOSS);
    c->graphs.precision = a->bf16 ? TG_PREC_BF16 : TG_PREC_F32; /* train and eval graphs */
    return rc;
}

static tg_params *mlm_params(void *ctx) { return ((mlm_ctx *)ctx)->model->params; }

static int mlm_save(void *ctx, const char *dir)
{
    mlm_ctx *c = ctx;
    return rb_save_pretrained(c->model, c->tok, dir);
}

static int mlm_load_weights(void *ctx, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return rb_model_load(((mlm_ctx *)ctx)->model, path, NULL);
}

static int mlm_batch_fn(void *ctx, long micro, const long *rows, int n, tr_batch *out)
{
    mlm_ctx *c = ctx;
    tg_rng r;
    seed_mask_rng(&r, c->a, micro);
    mlm_batch *b = &c->batch;
    int rc = mlm_make_batch(&c->train, rows, n, c->max_len, &c->mask, &r, b, c->labels);
    rb_graph *gr;
    if (!rc)
        rc = mlm_graphs_get(&c->graphs, b->B, b->T, 1, &gr);
    if (rc)
        return rc;
    seed_dropout(gr->g, micro);
    rb_set_batch(gr, b->ids, b->attention_mask, c->labels);
    long tokens = 0;
    for (int i = 0; i < b->B * b->T; i++)
        tokens += b->attention_mask[i] != 0;
    *out = (tr_batch){gr->g, gr->loss, tokens};
    return TG_OK;
}

/* This rank's share of the evaluation (tr_eval): sums of the batch losses
 * weighted by batch size, masked tokens predicted right, masked tokens. */
static int mlm_evaluate_fn(void *ctx, int final, tr_eval *io)
{
    (void)final;
    mlm_ctx *c = ctx;
    mlm_eval_result r;
    int rc = mlm_evaluate_shard(&c->graphs, &c->eval, c->a->per_device_eval_batch_size, c->max_len,
                                &c->mask, eval_mask_seed(c->a), io->shard, io->shards, &r);
    if (rc)
        return rc;
    io->sum[0] = r.loss_sum;
    io->sum[1] = (double)r.correct;
    io->sum[2] = (double)r.masked;
    io->nsum = 3;
    io->samples = r.samples;
    io->seconds = r.seconds;
    return TG_OK;
}

/* eval_loss, eval_accuracy and exp(eval_loss): named eval_perplexity in
 * the evaluations during training; at the end run_mlm.py's perplexity,
 * eval_samples and eval_masked_tokens. */
static int mlm_eval_metrics_fn(void *ctx, int final, tr_eval *io)
{
    (void)ctx;
    double loss = io->samples ? io->sum[0] / io->samples : NAN;
    ts_metric *m = io->m;
    int k = 0;
    m[k++] = ts_m("eval_loss", loss);
    m[k++] = ts_m("eval_accuracy", io->sum[2] ? io->sum[1] / io->sum[2] : NAN);
    m[k++] = ts_m(final ? "perplexity" : "eval_perplexity", exp(loss));
    if (final) {
        m[k++] = ts_mi("eval_samples", io->samples);
        m[k++] = ts_mi("eval_masked_tokens", (long)io->sum[2]);
    }
    io->n = k;
    return TG_OK;
}

const tr_task mlm_task = {
    .curve_title = "ablm train: masked-LM loss",
    .rng_note = "data order, masks and dropout are functions of (seed, epoch, micro-batch)",
    .open = mlm_open,
    .close = mlm_close,
    .params = mlm_params,
    .is_norm = NULL,
    .save = mlm_save,
    .load_weights = mlm_load_weights,
    .batch = mlm_batch_fn,
    .evaluate = mlm_evaluate_fn,
    .eval_metrics = mlm_eval_metrics_fn,
};
