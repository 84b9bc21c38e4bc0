/* What the model commands share: a cache of model graphs by batch shape
 * over one activation arena (train, eval and the inference commands), batch
 * assembly, and evaluation. */
#ifndef MLM_RUN_H
#define MLM_RUN_H

#include "mlm_data.h"
#include "mlm_mask.h"
#include "roberta.h"

typedef struct {
    int B, T, training;
    rb_graph gr;
} mlm_graph_entry;

typedef struct {
    const rb_model *model;
    int what;           /* RB_HIDDEN, RB_LOGITS or RB_LOSS (rb_build) */
    uint64_t seed;      /* dropout seed of every graph */
    int precision;      /* tg_precision of every graph (TG_PREC_F32 after init) */
    tg_arena *arena;    /* shared by all cached graphs */
    mlm_graph_entry *e;
    int n, cap;
} mlm_graphs;

/* Starts an empty cache of `what` graphs (RB_HIDDEN, RB_LOGITS, RB_LOSS)
 * for model; graphs get dropout seed `seed`. Returns a status. */
int mlm_graphs_init(mlm_graphs *c, const rb_model *model, uint64_t seed, int what);
void mlm_graphs_free(mlm_graphs *c);
/* The graph for a [B, T] batch in training (dropout) or eval mode, built and
 * planned on first use. Returns a status. */
int mlm_graphs_get(mlm_graphs *c, int B, int T, int training, rb_graph **out);

/* DataCollatorForLanguageModeling's masking for tok: random ids from
 * [0, len(tokenizer)), [MASK] and tokenizer.all_special_ids (its [PAD],
 * [UNK], [CLS], [SEP], [MASK]) from tok, whatever their ids. */
mlm_mask_cfg mlm_mask_for(const tok_tokenizer *tok, double mlm_probability);

/* Gathers sequences order[0..B) of d into a padded, masked batch: out->ids
 * and labels [B, T] (labels: MLM_IGNORE where not predicted), padded with
 * the tokenizer's [PAD] (d->pad_id) and out->attention_mask 0 exactly on
 * the padding, as the collator's tokenizer.pad makes it. [CLS], [SEP] (d's
 * ids) and padding are never selected for prediction. labels must hold
 * B * max_len ints. out is zeroed before first use and reused across calls
 * (mlm_pad_batch). Returns a status. */
int mlm_make_batch(const mlm_data *d, const long *order, int B, int max_len,
                   const mlm_mask_cfg *mc, tg_rng *rng, mlm_batch *out, int32_t *labels);

/* Runs batch b (ids, attention_mask; labels or NULL) through the graph of
 * its shape in eval mode: rb_set_batch, then forward. *out is a graph of
 * the cache, valid until the next call. Returns a status. */
int mlm_forward(mlm_graphs *c, const mlm_batch *b, const int32_t *labels, rb_graph **out);

typedef struct {
    double loss;      /* mean over batches weighted by batch size (HF) */
    double accuracy;  /* masked tokens predicted exactly / masked tokens */
    long samples, masked;
    double seconds;
    double loss_sum;  /* sum of batch loss * batch size */
    long correct;     /* masked tokens predicted exactly */
} mlm_eval_result;

/* Evaluates on d in file order with a fixed masking seed, so evaluations
 * during a run are comparable. Returns a status. */
int mlm_evaluate(mlm_graphs *c, const mlm_data *d, int batch_size, int max_len,
                 const mlm_mask_cfg *mc, uint64_t mask_seed, mlm_eval_result *out);
/* mlm_evaluate on the batches b with b % shards == shard only (one rank's
 * share, examples/trainer.h tr_eval): the masks are those of the whole
 * pass (the other batches are masked too, not run), so the shards' sums
 * add up to the single-process pass's. */
int mlm_evaluate_shard(mlm_graphs *c, const mlm_data *d, int batch_size, int max_len,
                       const mlm_mask_cfg *mc, uint64_t mask_seed, int shard, int shards,
                       mlm_eval_result *out);

#endif
