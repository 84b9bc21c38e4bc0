/* Graph cache, batch assembly and evaluation for the MLM commands. */
#include "mlm_run.h"

#include <math.h>
#include <string.h>
#include <time.h>

int mlm_graphs_init(mlm_graphs *c, const rb_model *model, uint64_t seed, int what)
{
    memset(c, 0, sizeof *c);
    c->model = model;
    c->what = what;
    c->seed = seed;
    c->arena = tg_arena_new();
    return c->arena ? TG_OK : TG_ERR_NOMEM;
}

void mlm_graphs_free(mlm_graphs *c)
{
    for (int i = 0; i < c->n; i++)
        rb_graph_free(&c->e[i].gr);
    tg_free(c->e);
    tg_arena_free(c->arena);
    memset(c, 0, sizeof *c);
}

int mlm_graphs_get(mlm_graphs *c, int B, int T, int training, rb_graph **out)
{
    for (int i = 0; i < c->n; i++)
        if (c->e[i].B == B && c->e[i].T == T && c->e[i].training == training) {
            *out = &c->e[i].gr;
            return TG_OK;
        }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        mlm_graph_entry *e = tg_realloc(c->e, cap * sizeof *e, "graph cache");
        if (!e)
            return TG_ERR_NOMEM;
        c->e = e;
        c->cap = cap;
    }
    mlm_graph_entry *e = &c->e[c->n];
    int rc = rb_build_shared(c->model, B, T, c->what, c->arena, &e->gr);
    if (rc)
        return rc;
    tg_graph_set_training(e->gr.g, training);
    tg_graph_set_precision(e->gr.g, (tg_precision)c->precision);
    tg_graph_seed(e->gr.g, c->seed);
    e->B = B, e->T = T, e->training = training;
    c->n++;
    *out = &e->gr;
    return TG_OK;
}

mlm_mask_cfg mlm_mask_for(const tok_tokenizer *tok, double mlm_probability)
{
    mlm_mask_cfg c = mlm_mask_defaults(tok_vocab_size(tok));
    c.mlm_probability = mlm_probability;
    c.mask_id = tok_mask_id(tok);
    int32_t sp[5] = {tok_pad_id(tok), tok_unk_id(tok), tok_cls_id(tok), tok_sep_id(tok),
                     tok_mask_id(tok)};
    memcpy(c.special_ids, sp, sizeof sp);
    c.n_special = 5;
    return c;
}

int mlm_make_batch(const mlm_data *d, const long *order, int B, int max_len,
                   const mlm_mask_cfg *mc, tg_rng *rng, mlm_batch *out, int32_t *labels)
{
    const int32_t *seqs[B];
    int lens[B];
    for (int i = 0; i < B; i++) {
        seqs[i] = d->ids + d->start[order[i]];
        lens[i] = d->len[order[i]];
    }
    int rc = mlm_pad_batch(seqs, lens, B, max_len, 1, 0, d->pad_id, out);
    if (rc)
        return rc;
    /* run_mlm.py masks with the tokenizer's special-tokens mask: [CLS],
     * [SEP] and padding are never selected (an [UNK] residue can be) */
    uint8_t special[out->B * out->T];
    for (int i = 0; i < out->B * out->T; i++)
        special[i] = !out->attention_mask[i] || out->ids[i] == d->cls_id || out->ids[i] == d->sep_id;
    long sel = mlm_mask_batch(mc, out->ids, labels, special, out->B, out->T, rng);
    return sel < 0 ? (int)sel : TG_OK;
}

int mlm_forward(mlm_graphs *c, const mlm_batch *b, const int32_t *labels, rb_graph **out)
{
    int rc = mlm_graphs_get(c, b->B, b->T, 0, out);
    if (rc)
        return rc;
    rb_set_batch(*out, b->ids, b->attention_mask, labels);
    return tg_forward((*out)->g);
}

int mlm_evaluate(mlm_graphs *c, const mlm_data *d, int batch_size, int max_len,
                 const mlm_mask_cfg *mc, uint64_t mask_seed, mlm_eval_result *out)
{
    return mlm_evaluate_shard(c, d, batch_size, max_len, mc, mask_seed, 0, 1, out);
}

int mlm_evaluate_shard(mlm_graphs *c, const mlm_data *d, int batch_size, int max_len,
                       const mlm_mask_cfg *mc, uint64_t mask_seed, int shard, int shards,
                       mlm_eval_result *out)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(out, 0, sizeof *out);
    tg_rng rng;
    tg_rng_seed(&rng, mask_seed);
    long *order = tg_malloc(batch_size * sizeof *order, "eval order");
    int32_t *labels = tg_malloc((size_t)batch_size * max_len * sizeof *labels, "eval labels");
    int rc = order && labels ? TG_OK : TG_ERR_NOMEM;
    double loss_sum = 0;
    long correct = 0;
    mlm_batch b = {0};
    int V = c->model->cfg.vocab_size;
    for (long s = 0; s < d->n && !rc; s += batch_size) {
        int B = (int)(d->n - s < batch_size ? d->n - s : batch_size);
        for (int i = 0; i < B; i++)
            order[i] = s + i;
        rc = mlm_make_batch(d, order, B, max_len, mc, &rng, &b, labels);
        if (rc)
            break;
        if ((s / batch_size) % shards != shard)
            continue; /* another rank's batch: masked (the stream goes on), not run */
        rb_graph *gr;
        rc = mlm_forward(c, &b, labels, &gr);
        if (!rc) {
            loss_sum += tg_f32(gr->loss)[0] * B;
            const float *lg = tg_f32(gr->logits);
            for (int i = 0; i < b.B * b.T; i++) {
                if (labels[i] == MLM_IGNORE)
                    continue;
                int best = 0;
                for (int v = 1; v < V; v++)
                    if (lg[(size_t)i * V + v] > lg[(size_t)i * V + best])
                        best = v;
                correct += best == labels[i];
                out->masked++;
            }
            out->samples += B;
        }
    }
    mlm_batch_free(&b);
    tg_free(order);
    tg_free(labels);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out->seconds = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    out->loss_sum = loss_sum;
    out->correct = correct;
    if (!rc) {
        out->loss = out->samples ? loss_sum / out->samples : NAN;
        out->accuracy = out->masked ? (double)correct / out->masked : NAN;
    }
    return rc;
}
