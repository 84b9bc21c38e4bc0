/* The training loop behind `ablm train`: the Hugging Face Trainer's
 * semantics (gradient accumulation, clipping, AdamW, schedule, logging,
 * evaluation, checkpoints with exact resume, best-model tracking) over an
 * rb_model. */
#ifndef TRAINER_H
#define TRAINER_H

#include "adamw.h"
#include "mlm_run.h"
#include "schedule.h"
#include "train_args.h"
#include "train_state.h"

typedef struct {
    train_args *a;
    void (*note)(const char *msg);
    tok_tokenizer *tok;
    rb_model *model;
    mlm_data train, eval;
    int has_eval;
    int max_len;            /* tokens per sequence incl. [CLS] and [SEP] */
    mlm_mask_cfg mask;
    mlm_graphs graphs;
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
    int32_t *labels;        /* [B * max_len] scratch */
    mlm_batch batch;        /* padded ids, buffers reused every step */
    long *order;            /* data order of the current epoch */
} trainer;

/* Resolves flags, loads data, builds or loads the model, optimizer and
 * schedule, and restores a checkpoint when resuming. Returns a status. */
int trainer_open(trainer *t, train_args *a, void (*note)(const char *msg));
/* Trains (if do_train), evaluates (if do_eval) and writes the final model,
 * results files, trainer_state.json and the loss curve. A run resumed at or
 * past its last step (a finished output_dir run again) has nothing to do:
 * it warns, sets t->nothing_to_do and writes nothing (TG_OK). Returns a
 * status. */
int trainer_run(trainer *t);
void trainer_close(trainer *t);

/* Writes output_dir/checkpoint-STEP atomically: everything is written into
 * tmp-checkpoint-STEP, synced, then renamed. Returns a status. */
int trainer_save_checkpoint(trainer *t);

#endif
