/* The training loop behind `ablm train`: the Hugging Face Trainer's
 * semantics (resume resolution, step planning, gradient accumulation,
 * clipping, AdamW and schedule, logging, evaluation, best-model tracking,
 * checkpoints with exact resume, results files, loss curve) over any model.
 *
 * What is trained comes from a task, a table of functions over the task's
 * own state (like SQLite's sqlite3_module): it owns the model and the
 * datasets, turns a list of training rows into a graph with a loss, and
 * evaluates. The loop owns the order of the rows, the optimizer, the
 * records and the checkpoints. examples/mlm_task.c is the masked-LM task of
 * `ablm train`; docs/training.md, "Adding a training task", says how
 * another one plugs in. */
#ifndef TRAINER_H
#define TRAINER_H

#include "adamw.h"
#include "schedule.h"
#include "tg.h"
#include "train_args.h"
#include "train_state.h"

typedef struct trainer trainer;

/* What a task's open reports about its data. */
typedef struct {
    long n_train;            /* training rows (0 without a train file) */
    const int *train_len;    /* [n_train] row lengths for --group_by_length,
                                or NULL when rows have none */
    int has_eval;            /* an evaluation set exists (may be empty) */
} tr_data;

/* One training micro-batch, ready to run: forward(graph) makes loss a
 * scalar mean over the micro-batch. */
typedef struct {
    tg_graph *graph;
    tg_tensor *loss;
    long tokens;             /* non-pad input tokens, for tokens/s and
                                num_input_tokens_seen */
} tr_batch;

/* One evaluation pass, in two calls so that data-parallel ranks can
 * share it (docs/distributed.md). The loop sets shard and shards; the
 * task's evaluate evaluates only the batches b (of
 * per_device_eval_batch_size rows, in file order) with b % shards == shard
 * and fills sum[0..nsum) with additive totals (loss sums, counts: the
 * same nsum on every rank), samples and seconds; the loop adds sum and
 * samples over the ranks (seconds: the maximum) and calls eval_metrics,
 * which turns the totals into m: the task's metrics in the order and with
 * the names they get in log lines and results files, "eval_loss" among
 * them (the loss curve plots it; --metric_for_best_model names one of
 * them). The loop appends eval_runtime, the speed metrics, epoch and
 * (during training) step. In one process shard = 0, shards = 1 and
 * nothing is added. */
#define TR_EVAL_SUMS 8
typedef struct {
    int shard, shards;       /* in */
    double sum[TR_EVAL_SUMS];
    int nsum;
    long samples;            /* rows evaluated, for the speed metrics */
    double seconds;
    ts_metric m[TS_MAX_METRICS - 6];
    int n;
} tr_eval;

/* A training task. Every function returns a status (TG_OK or a tg_error
 * code with its message) unless it says otherwise; ctx is t->ctx. */
typedef struct {
    /* Title of loss_curve.svg ("ablm train: masked-LM loss"). */
    const char *curve_title;
    /* rng_state.json's "note": what the randomness of a micro-batch
     * depends on (a JSON string's content, no quotes or backslashes). */
    const char *rng_note;
    /* Builds or loads the model (from `checkpoint` when it is not "":
     * weights and whatever else the task saved there), loads the datasets
     * and fills *d. Reads t->a, reports through tr_notef / tr_warnf, and
     * stores its state in t->ctx (which close frees, also after a failed
     * open). */
    int (*open)(trainer *t, const char *checkpoint, tr_data *d);
    void (*close)(void *ctx);
    /* The trainable parameters: the optimizer's flat arrays and the
     * checkpoints' weights. Valid from open to close. */
    tg_params *(*params)(void *ctx);
    /* 1 when parameter `name` belongs to a normalisation layer (no weight
     * decay, as HF's ALL_LAYERNORM_LAYERS); NULL: the name contains
     * "LayerNorm" or "layer_norm". */
    int (*is_norm)(void *ctx, const char *name);
    /* Writes a loadable model directory (weights, config, tokenizer ...)
     * into dir, which exists; the loop writes the rest of a checkpoint. */
    int (*save)(void *ctx, const char *dir);
    /* Replaces the weights with those saved in model directory dir by
     * save (--load_best_model_at_end). */
    int (*load_weights)(void *ctx, const char *dir);
    /* Micro-batch number `micro` of the run (epoch * micro-batches per
     * epoch + index in the epoch, times ranks, plus this rank: one number
     * per rank's share of a global micro-batch, which is the single-process
     * number with one rank; everything random in it must be a function of
     * micro, which makes resume exact and the streams per rank) from
     * training rows rows[0..n): builds the batch, sets the graph's inputs
     * and fills *out.
     * The loop then runs forward and backward; the graph stays the task's. */
    int (*batch)(void *ctx, long micro, const long *rows, int n, tr_batch *out);
    /* Evaluates the weights on shard io->shard of io->shards of the
     * evaluation set (tr_eval) in a fixed way (the same rows and
     * randomness every call, so evaluations compare), filling io's sum,
     * nsum, samples and seconds. final: the end-of-run evaluation, else
     * one during training. */
    int (*evaluate)(void *ctx, int final, tr_eval *io);
    /* io->m and io->n from the totals io->sum (over every shard) and
     * io->samples. final: run_mlm.py's metric names there. Optional: when
     * NULL, evaluate is given the whole set (shard 0 of 1) on every rank
     * and fills io->m and io->n itself (not sharded, nothing added). */
    int (*eval_metrics)(void *ctx, int final, tr_eval *io);
} tr_task;

struct trainer {
    train_args *a;
    void (*note)(const char *msg);
    const tr_task *task;
    void *ctx;              /* the task's state */
    tr_data data;
    tg_params *params;
    opt_adamw opt;
    opt_schedule sched;
    ts_state state;
    long micro_per_epoch;   /* micro-batches per epoch */
    long steps_per_epoch;   /* optimizer steps per epoch */
    long max_steps, epochs;
    long logging_steps, eval_steps, save_steps;
    uint64_t data_seed;
    long start_step;        /* global step resumed from */
    int nothing_to_do;      /* resumed at or past max_steps: trainer_run wrote nothing */
    /* measurements */
    double train_seconds;
    long tokens_seen;
    double last_loss;       /* mean training loss of the run */
    long *order;            /* data order of the current epoch */
    /* data parallelism (dist.h): this process is rank `rank` of `ranks`;
     * each global micro-batch of per_device_train_batch_size * ranks rows
     * is split over the ranks */
    int rank, ranks;
    struct dist_grads *grads_sync; /* bucketed all-reduce; NULL with one rank */
    int *ready_head, *ready_next;  /* parameters completed by each node (backward hook) */
    int ready_cap;
    size_t *param_off;             /* [count] offset of parameter i, ascending */
    int *param_idx;                /* [count] its index in the store */
    int overlap;                   /* reduce buckets during backward (ABLM_DIST_OVERLAP=0: after) */
    double allreduce_wait_s;       /* waiting for gradient all-reduces after backward */
    long allreduce_steps;
};

/* Joins the MPI job when launched by mpirun / srun (dist.h), resolves the
 * output directory and resume point, opens the task (model and data),
 * plans the steps, builds the optimizer and schedule, sends rank 0's
 * weights to every rank, and restores a checkpoint when resuming (one
 * written by another number of ranks is refused). Returns a status;
 * trainer_close is needed either way. With several ranks a failure ends
 * the whole job instead (dist_abort: the others would wait forever). */
int trainer_open(trainer *t, train_args *a, const tr_task *task, void (*note)(const char *msg));
/* Trains (if do_train), evaluates (if do_eval) and writes the final model,
 * results files, trainer_state.json and the loss curve (rank 0 writes and
 * logs, every rank trains and evaluates its shard). A run resumed at or
 * past its last step (a finished output_dir run again) has nothing to do:
 * it warns, sets t->nothing_to_do and writes nothing (TG_OK). Returns a
 * status; with several ranks a failure ends the whole job instead. */
int trainer_run(trainer *t);
void trainer_close(trainer *t);

/* Writes output_dir/checkpoint-STEP atomically: everything is written into
 * tmp-checkpoint-STEP, synced, then renamed. Returns a status. */
int trainer_save_checkpoint(trainer *t);

/* An informational note through t->note (shown at --log_level info, debug
 * and passive). */
void tr_notef(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A warning through t->note, prefixed "warning: " (the note callback hides
 * it at --log_level error and critical). */
void tr_warnf(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
