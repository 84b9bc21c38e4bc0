/* Flags of `ablm train`, named and defaulted as Hugging Face run_mlm.py
 * (ModelArguments, DataTrainingArguments) and TrainingArguments, with the
 * same validation rules (TrainingArguments.__post_init__). */
#ifndef TRAIN_ARGS_H
#define TRAIN_ARGS_H

#include <stdio.h>

#include "schedule.h"

#define TA_PATH 4096
#define TA_NAME 128

/* Returned by train_args_parse when --help / -h was given (not an error). */
#define TA_HELP 1

typedef enum { TA_NO = 0, TA_STEPS, TA_EPOCH } ta_strategy;

/* --log_level, in transformers' order (passive: run_mlm.py's info). */
typedef enum {
    TA_LOG_DEBUG = 0,
    TA_LOG_INFO,
    TA_LOG_WARNING,
    TA_LOG_ERROR,
    TA_LOG_CRITICAL,
    TA_LOG_PASSIVE
} ta_log_level;

#define TA_NOTES 48
#define TA_NOTE_LEN 320

typedef struct {
    /* model (run_mlm.py ModelArguments) */
    char config_name[TA_PATH];        /* config.json of a model to train from scratch */
    char model_name_or_path[TA_PATH]; /* checkpoint dir to start from */
    char tokenizer_name[TA_PATH];
    char model_type[TA_NAME];         /* "" or "roberta" (--config_name wins) */
    /* data (DataTrainingArguments) */
    char train_file[TA_PATH];
    char validation_file[TA_PATH];
    int validation_split_percentage;  /* 5 */
    int max_seq_length;               /* 0: the model's maximum */
    int line_by_line;                 /* 0: group_texts blocks, as run_mlm.py */
    double mlm_probability;           /* 0.15 */
    long max_train_samples;           /* -1: all */
    long max_eval_samples;            /* -1: all */
    /* TrainingArguments */
    char output_dir[TA_PATH];
    int overwrite_output_dir;
    int do_train, do_eval;
    int per_device_train_batch_size;  /* 8 */
    int per_device_eval_batch_size;   /* 8 */
    int gradient_accumulation_steps;  /* 1 */
    double learning_rate;             /* 5e-5 */
    double weight_decay;              /* 0 */
    double adam_beta1, adam_beta2, adam_epsilon; /* 0.9, 0.999, 1e-8 */
    double max_grad_norm;             /* 1.0 */
    double num_train_epochs;          /* 3 */
    long max_steps;                   /* -1: from epochs */
    opt_sched_type lr_scheduler_type; /* linear */
    double warmup_ratio;              /* 0 */
    long warmup_steps;                /* 0 */
    ta_strategy logging_strategy;     /* steps */
    double logging_steps;             /* 500; < 1: ratio of max_steps */
    int logging_first_step;
    ta_strategy eval_strategy;        /* no (alias --evaluation_strategy) */
    double eval_steps;                /* 0: = logging_steps; < 1: ratio */
    ta_strategy save_strategy;        /* steps */
    double save_steps;                /* 500; < 1: ratio */
    int save_total_limit;             /* 0: keep all */
    int load_best_model_at_end;
    char metric_for_best_model[TA_NAME]; /* "": none ("loss" with load_best) */
    int greater_is_better;            /* -1 unset: derived from the metric */
    char resume_from_checkpoint[TA_PATH]; /* DIR or "latest"; "" none */
    int group_by_length;
    long seed;                        /* 42 */
    long data_seed;                   /* -1: use seed */
    ta_log_level log_level;           /* passive */
    int disable_tqdm;                 /* no progress line on stderr */
    int bf16;                         /* --bf16: bfloat16 mixed precision (autocast) */
    double ddp_timeout;               /* 1800: seconds a collective may take (mpirun) */
    double ddp_bucket_cap_mb;         /* 25: gradient all-reduce bucket size */
    /* ablm */
    int threads;                      /* 0: all cores */
    /* One line per compatibility flag that was accepted but does nothing
     * here (train_args_parse fills them; the command prints them). */
    int nnotes;
    char notes[TA_NOTES][TA_NOTE_LEN];
} train_args;

/* Fills every field with its default (the same table --help prints). */
void train_args_defaults(train_args *a);

/* Parses argv[1..argc) (argv[0] is the command name) into a, which should
 * hold defaults. Forms: --flag value, --flag=value, -flag value, and for
 * booleans --flag alone or with true/false/yes/no/1/0 (HfArgumentParser's
 * string_to_bool, any case), and --no_FLAG for a boolean whose default is
 * true. Flags of TrainingArguments / run_mlm.py that ablm does not
 * implement are either accepted with a note in a->notes (they do not change
 * the results here: logging, hub, devices, workers) or refused with the
 * reason (they would change the results), unless given the value that
 * matches what ablm does. Then validates (see train_args_validate).
 * Returns TG_OK, TA_HELP when --help/-h is present, or TG_ERR_ARG with a
 * message naming the flag (an unknown flag suggests the closest known
 * one). */
int train_args_parse(train_args *a, int argc, char **argv);

/* Checks ranges and the HF cross-flag rules and fills derived values:
 * eval_steps defaults to logging_steps; --eval_strategy other than "no"
 * turns on do_eval; load_best_model_at_end needs matching eval and save
 * strategies (and save_steps a round multiple of eval_steps) and defaults
 * metric_for_best_model to "loss"; greater_is_better defaults to whether
 * the metric does not end in "loss". Returns TG_OK or TG_ERR_ARG. */
int train_args_validate(train_args *a);

/* Prints the --help text: every flag with its type, default and meaning. */
void train_args_help(FILE *f);

/* An interval given as a count or, when < 1, a ratio of max_steps
 * (ceil(max_steps * ratio), as the HF Trainer resolves logging_steps,
 * eval_steps, save_steps). */
long train_args_steps(double steps, long max_steps);

/* The seed for data order: data_seed when set, else seed. */
long train_args_data_seed(const train_args *a);

/* The evaluation metric --metric_for_best_model names, as the Trainer
 * reads it ("loss" and "eval_loss" are the same: HF prefixes "eval_"):
 * "eval_loss", "eval_accuracy" or "eval_perplexity". NULL when none is
 * set. */
const char *train_args_best_metric(const train_args *a);

/* Strategy name ("no", "steps", "epoch"). */
const char *train_args_strategy_name(ta_strategy s);

/* Writes every flag's value as a JSON object (sorted by name) to path,
 * atomically: the run's training_args.json. Returns a status. */
int train_args_write_json(const train_args *a, const char *path);

#endif
