/* Table-driven parsing of the `ablm train` flags (HF run_mlm.py names). */
#include "train_args.h"

#include "safetensors.h"
#include "tg.h"
#include "train_state.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { K_STR, K_INT, K_LONG, K_DOUBLE, K_BOOL, K_TRIBOOL, K_STRATEGY, K_SCHED, K_LOGLEVEL } kind;

typedef struct {
    const char *name;
    kind k;
    size_t off, size;  /* size: capacity of K_STR fields */
    const char *def;   /* default as typed on the command line; NULL: none */
    double lo, hi;     /* numeric range (inclusive) */
    int none_if_neg;   /* negative value means "not set" (JSON null) */
    const char *section, *help;
} flag;

#define F(field) offsetof(train_args, field), sizeof(((train_args *)0)->field)
#define INF HUGE_VAL

static const flag flags[] = {
    {"config_name", K_STR, F(config_name), NULL, 0, 0, 0, "Model",
     "config.json of a model to train from scratch"},
    {"model_name_or_path", K_STR, F(model_name_or_path), NULL, 0, 0, 0, "Model",
     "model directory to start from (weights + config)"},
    {"tokenizer_name", K_STR, F(tokenizer_name), NULL, 0, 0, 0, "Model",
     "tokenizer (vocab) if not the model's"},
    {"model_type", K_STR, F(model_type), NULL, 0, 0, 0, "Model",
     "roberta only; the model itself comes from --config_name or --model_name_or_path"},
    {"train_file", K_STR, F(train_file), NULL, 0, 0, 0, "Data", "training data file"},
    {"validation_file", K_STR, F(validation_file), NULL, 0, 0, 0, "Data",
     "evaluation data file"},
    {"validation_split_percentage", K_INT, F(validation_split_percentage), "5", 0, 100, 0,
     "Data", "percent of the training data held out for evaluation when no --validation_file"},
    {"max_seq_length", K_INT, F(max_seq_length), "0", 0, 1 << 20, 0, "Data",
     "cut sequences to this many tokens (0: the model's maximum)"},
    {"block_size", K_INT, F(max_seq_length), "0", 0, 1 << 20, 0, "Data",
     "run_clm.py's name of max_seq_length (ablm train-clm: tokens per block; 0: min(n_positions, "
     "1024))"},
    {"line_by_line", K_BOOL, F(line_by_line), "false", 0, 0, 0, "Data",
     "one sequence per line ([CLS] seq [SEP], cut to max_seq_length; blank lines dropped); "
     "false: run_mlm.py's group_texts, every sequence's tokens concatenated and cut into "
     "max_seq_length blocks, the remainder of each 1,000 lines dropped"},
    {"mlm_probability", K_DOUBLE, F(mlm_probability), "0.15", 0, 1, 0, "Data",
     "fraction of tokens selected for masked-LM loss"},
    {"max_train_samples", K_LONG, F(max_train_samples), "-1", -1, INF, 1, "Data",
     "use only the first N training examples (-1: all)"},
    {"max_eval_samples", K_LONG, F(max_eval_samples), "-1", -1, INF, 1, "Data",
     "use only the first N evaluation examples (-1: all)"},
    {"output_dir", K_STR, F(output_dir), NULL, 0, 0, 0, "Training",
     "where checkpoints, the model and results go (required)"},
    {"overwrite_output_dir", K_BOOL, F(overwrite_output_dir), "false", 0, 0, 0, "Training",
     "start afresh even if output_dir holds checkpoints"},
    {"do_train", K_BOOL, F(do_train), "true", 0, 0, 0, "Training",
     "run training (on by default in ablm train, unlike run_mlm.py; --do_train false to only evaluate)"},
    {"do_eval", K_BOOL, F(do_eval), "false", 0, 0, 0, "Training",
     "run evaluation on the validation set"},
    {"per_device_train_batch_size", K_INT, F(per_device_train_batch_size), "8", 1, 1 << 20, 0,
     "Training", "sequences per training batch"},
    {"per_device_eval_batch_size", K_INT, F(per_device_eval_batch_size), "8", 1, 1 << 20, 0,
     "Training", "sequences per evaluation batch"},
    {"per_gpu_train_batch_size", K_INT, F(per_device_train_batch_size), NULL, 1, 1 << 20, 0,
     "Training", "older name of --per_device_train_batch_size"},
    {"per_gpu_eval_batch_size", K_INT, F(per_device_eval_batch_size), NULL, 1, 1 << 20, 0,
     "Training", "older name of --per_device_eval_batch_size"},
    {"gradient_accumulation_steps", K_INT, F(gradient_accumulation_steps), "1", 1, 1 << 20, 0,
     "Training", "batches accumulated per optimizer step"},
    {"learning_rate", K_DOUBLE, F(learning_rate), "5e-05", 0, INF, 0, "Training",
     "peak AdamW learning rate"},
    {"weight_decay", K_DOUBLE, F(weight_decay), "0.0", 0, INF, 0, "Training",
     "AdamW decoupled weight decay (not for biases and LayerNorm weights)"},
    {"adam_beta1", K_DOUBLE, F(adam_beta1), "0.9", 0, 0.999999999, 0, "Training",
     "AdamW beta1"},
    {"adam_beta2", K_DOUBLE, F(adam_beta2), "0.999", 0, 0.999999999, 0, "Training",
     "AdamW beta2"},
    {"adam_epsilon", K_DOUBLE, F(adam_epsilon), "1e-08", 0, INF, 0, "Training", "AdamW epsilon"},
    {"max_grad_norm", K_DOUBLE, F(max_grad_norm), "1.0", 0, INF, 0, "Training",
     "clip the global gradient norm to this (0: no clipping)"},
    {"num_train_epochs", K_DOUBLE, F(num_train_epochs), "3.0", 0, INF, 0, "Training",
     "epochs to train (fractions allowed)"},
    {"max_steps", K_LONG, F(max_steps), "-1", -1, INF, 0, "Training",
     "optimizer steps to train; overrides --num_train_epochs when > 0"},
    {"lr_scheduler_type", K_SCHED, F(lr_scheduler_type), "linear", 0, 0, 0, "Training",
     "learning-rate schedule"},
    {"warmup_ratio", K_DOUBLE, F(warmup_ratio), "0.0", 0, 1, 0, "Training",
     "fraction of steps for linear warmup (used when --warmup_steps is 0)"},
    {"warmup_steps", K_LONG, F(warmup_steps), "0", 0, INF, 0, "Training",
     "steps of linear warmup"},
    {"group_by_length", K_BOOL, F(group_by_length), "false", 0, 0, 0, "Training",
     "batch sequences of similar length together (less padding)"},
    {"seed", K_LONG, F(seed), "42", 0, 4294967295.0, 0, "Training",
     "random seed (initialisation, masking, dropout)"},
    {"data_seed", K_LONG, F(data_seed), "-1", -1, 4294967295.0, 1, "Training",
     "seed for the data order (-1: --seed)"},
    {"logging_strategy", K_STRATEGY, F(logging_strategy), "steps", 0, 0, 0, "Logging",
     "when to log the training loss: no, steps, epoch"},
    {"logging_steps", K_DOUBLE, F(logging_steps), "500", 0, INF, 0, "Logging",
     "log every N steps (< 1: fraction of the total steps)"},
    {"logging_first_step", K_BOOL, F(logging_first_step), "false", 0, 0, 0, "Logging",
     "also log after the first step"},
    {"log_level", K_LOGLEVEL, F(log_level), "passive", 0, 0, 0, "Logging",
     "notes on stderr: debug and info (and passive, as run_mlm.py) print all, warning only "
     "warnings, error and critical none"},
    {"disable_tqdm", K_BOOL, F(disable_tqdm), "false", 0, 0, 0, "Logging",
     "no progress line on stderr (the JSON log lines stay)"},
    {"eval_strategy", K_STRATEGY, F(eval_strategy), "no", 0, 0, 0, "Logging",
     "when to evaluate: no, steps, epoch"},
    {"evaluation_strategy", K_STRATEGY, F(eval_strategy), NULL, 0, 0, 0, "Logging",
     "older name of --eval_strategy"},
    {"eval_steps", K_DOUBLE, F(eval_steps), "0", 0, INF, 0, "Logging",
     "evaluate every N steps (0: --logging_steps; < 1: fraction)"},
    {"save_strategy", K_STRATEGY, F(save_strategy), "steps", 0, 0, 0, "Logging",
     "when to save a checkpoint: no, steps, epoch"},
    {"save_steps", K_DOUBLE, F(save_steps), "500", 0, INF, 0, "Logging",
     "save every N steps (< 1: fraction of the total steps)"},
    {"save_total_limit", K_INT, F(save_total_limit), "0", 0, 1 << 30, 0, "Logging",
     "keep at most N checkpoints (0: all); the best one is never deleted"},
    {"load_best_model_at_end", K_BOOL, F(load_best_model_at_end), "false", 0, 0, 0, "Logging",
     "finish with the best checkpoint by --metric_for_best_model"},
    {"metric_for_best_model", K_STR, F(metric_for_best_model), NULL, 0, 0, 0, "Logging",
     "metric that picks the best checkpoint: loss, accuracy or perplexity, eval_ prefix optional "
     "(default loss with load_best_model_at_end)"},
    {"greater_is_better", K_TRIBOOL, F(greater_is_better), NULL, 0, 0, 0, "Logging",
     "whether a larger metric is better (default: unless it ends in \"loss\")"},
    {"resume_from_checkpoint", K_STR, F(resume_from_checkpoint), NULL, 0, 0, 0, "Logging",
     "checkpoint directory to resume from, or \"latest\" for the newest in output_dir"},
    {"bf16", K_BOOL, F(bf16), "false", 0, 0, 0, "Training",
     "bfloat16 mixed precision, as torch.autocast: matrix products (linear layers, attention) "
     "take bf16 operands with fp32 accumulation; weights, gradients, AdamW, LayerNorm, softmax "
     "and the loss stay fp32, checkpoints F32 (also for evaluation; needs AVX-512, refused "
     "otherwise)"},
    {"ddp_timeout", K_DOUBLE, F(ddp_timeout), "1800", 1e-3, 1e9, 0, "Distributed",
     "seconds a collective (gradient all-reduce, broadcast) may take under mpirun before the "
     "job ends as hung (docs/distributed.md)"},
    {"ddp_bucket_cap_mb", K_DOUBLE, F(ddp_bucket_cap_mb), "25", 1e-6, 1e6, 0, "Distributed",
     "gradients are all-reduced in buckets of about this many MB, posted while backward "
     "runs (fractions allowed)"},
    {"threads", K_INT, F(threads), "0", 0, 4096, 0, "Other", "threads (0: all cores)"},
};
enum { NFLAGS = sizeof flags / sizeof flags[0] };

/* Flags of TrainingArguments / run_mlm.py that ablm does not implement.
 * Given a value in `fine` (what ablm does anyway; "|"-separated, NULL: any
 * value) a flag is accepted silently; given another value it is refused
 * with `why` as the reason when `refuse` (the value would change the
 * results), else accepted with `why` as a one-line note. `list`: takes
 * one or more values (nargs="+" in HfArgumentParser). */
typedef enum { C_BOOL, C_STR, C_INT, C_NUM } ckind;

typedef struct {
    const char *name;
    ckind k;
    const char *def;  /* transformers' default, for --help */
    const char *fine;
    int refuse, list;
    const char *why;
} compat_flag;

#define NO_HUB "ablm uploads nothing and downloads nothing; the model stays in --output_dir"
#define ONE_PROC "ablm's data parallelism is MPI's (mpirun / srun, docs/distributed.md), set up without this flag"
#define LOW_PREC "ablm's mixed precision is --bf16 (bf16 products, fp32 weights): fp16 and pure-bf16 evaluation are not implemented (they would change the numbers)"
#define NO_EFFECT "no effect in ablm (same batches, same results)"
#define ONLY_FP16 "only used with --fp16, which is not implemented"
#define LOADER "ablm builds the batches in the training thread: same batches, same order"
#define NO_COMPILE "ablm plans its graph ahead of time; there is no compile step"

static const compat_flag compat[] = {
    /* run_mlm.py ModelArguments */
    {"config_overrides", C_STR, NULL, "", 1, 0, "not implemented: edit the config file given to --config_name"},
    {"cache_dir", C_STR, NULL, NULL, 0, 0, "nothing downloads, so nothing is cached"},
    {"use_fast_tokenizer", C_BOOL, "true", "true|false", 0, 0, NULL},
    {"model_revision", C_STR, "main", "main", 0, 0, NO_HUB},
    {"token", C_STR, NULL, "", 0, 0, NO_HUB},
    {"use_auth_token", C_BOOL, "false", "false", 0, 0, NO_HUB},
    {"trust_remote_code", C_BOOL, "false", "false", 0, 0, "ablm runs no model code from the hub"},
    {"torch_dtype", C_STR, NULL, "auto|float32", 1, 0,
     "ablm keeps float32 weights and checkpoints (--bf16 runs the matrix products in bfloat16)"},
    {"low_cpu_mem_usage", C_BOOL, "false", "false|true", 0, 0, NULL},
    /* DataTrainingArguments */
    {"dataset_name", C_STR, NULL, "", 1, 0,
     "ablm reads local files only (nothing downloads): use --train_file and --validation_file"},
    {"dataset_config_name", C_STR, NULL, "", 0, 0, "only used with --dataset_name"},
    {"overwrite_cache", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"preprocessing_num_workers", C_INT, NULL, NULL, 0, 0, "tokenizing runs in one thread: same data"},
    {"pad_to_max_length", C_BOOL, "false", "false", 0, 0,
     "batches are padded to their longest sequence; padding is masked out of attention and "
     "loss, so only the random stream of the masks differs"},
    {"streaming", C_BOOL, "false", "false", 1, 0,
     "not implemented: files are read whole (streaming would change the data order)"},
    /* TrainingArguments */
    {"do_predict", C_BOOL, "false", "false", 0, 0, "run_mlm.py has no predict stage: nothing to do"},
    {"prediction_loss_only", C_BOOL, "false", "false", 0, 0,
     "evaluation reports eval_accuracy besides eval_loss either way"},
    {"eval_accumulation_steps", C_INT, NULL, NULL, 0, 0, "ablm keeps no predictions (memory only)"},
    {"eval_delay", C_NUM, "0", "0", 1, 0, "not implemented: evaluation follows --eval_strategy from the start"},
    {"eval_on_start", C_BOOL, "false", "false", 1, 0, "not implemented: no evaluation before the first step"},
    {"torch_empty_cache_steps", C_INT, NULL, NULL, 0, 0, "no device cache to empty"},
    {"lr_scheduler_kwargs", C_STR, "{}", "{}", 1, 0,
     "not implemented: the schedules take transformers' default arguments"},
    {"log_level_replica", C_STR, "warning", NULL, 0, 0, ONE_PROC},
    {"log_on_each_node", C_BOOL, "true", "true|false", 0, 0, NULL},
    {"logging_dir", C_STR, NULL, NULL, 0, 0,
     "ablm writes no TensorBoard event files: the records are trainer_state.json, the "
     "*_results.json files and the JSON log lines on stdout"},
    {"logging_nan_inf_filter", C_BOOL, "true", "true", 0, 0,
     "ablm stops at the first non-finite loss either way"},
    {"save_safetensors", C_BOOL, "true", "true", 0, 0, "ablm always writes model.safetensors"},
    {"save_on_each_node", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"save_only_model", C_BOOL, "false", "false", 0, 0,
     "ablm also saves the optimizer and scheduler state (exact resume needs them)"},
    {"restore_callback_states_from_checkpoint", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"no_cuda", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"use_cpu", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"use_mps_device", C_BOOL, "false", "false", 0, 0, "ablm runs on the CPU"},
    {"jit_mode_eval", C_BOOL, "false", "false", 0, 0, NO_EFFECT},
    {"use_ipex", C_BOOL, "false", "false", 0, 0, NO_EFFECT},
    {"fp16", C_BOOL, "false", "false", 1, 0, LOW_PREC},
    {"bf16_full_eval", C_BOOL, "false", "false", 1, 0, LOW_PREC},
    {"fp16_full_eval", C_BOOL, "false", "false", 1, 0, LOW_PREC},
    {"fp16_opt_level", C_STR, "O1", NULL, 0, 0, ONLY_FP16},
    {"fp16_backend", C_STR, "auto", NULL, 0, 0, ONLY_FP16},
    {"half_precision_backend", C_STR, "auto", NULL, 0, 0, ONLY_FP16},
    {"tf32", C_BOOL, NULL, "false", 1, 0,
     "TF32 matrix products are not implemented: ablm multiplies in float32 (TF32 would change the numbers)"},
    {"local_rank", C_INT, "-1", "-1|0", 0, 0, ONE_PROC},
    {"ddp_backend", C_STR, NULL, NULL, 0, 0, ONE_PROC},
    {"ddp_find_unused_parameters", C_BOOL, NULL, NULL, 0, 0, ONE_PROC},
    {"ddp_broadcast_buffers", C_BOOL, NULL, NULL, 0, 0, ONE_PROC},
    {"tpu_num_cores", C_INT, NULL, NULL, 0, 0, ONE_PROC},
    {"tpu_metrics_debug", C_BOOL, "false", "false", 0, 0, ONE_PROC},
    {"debug", C_STR, "", "", 0, 1, NO_EFFECT},
    {"fsdp", C_STR, "", "", 1, 1, "not implemented: " ONE_PROC},
    {"sharded_ddp", C_STR, "", "", 0, 1, ONE_PROC},
    {"xpu_backend", C_STR, NULL, NULL, 0, 0, ONE_PROC},
    {"fsdp_config", C_STR, NULL, NULL, 0, 0, ONE_PROC},
    {"fsdp_min_num_params", C_INT, "0", NULL, 0, 0, ONE_PROC},
    {"fsdp_transformer_layer_cls_to_wrap", C_STR, NULL, NULL, 0, 0, ONE_PROC},
    {"deepspeed", C_STR, NULL, "", 1, 0,
     "not implemented (DeepSpeed's optimizer, precision and partitioning would change the results)"},
    {"accelerator_config", C_STR, NULL, NULL, 0, 0, ONE_PROC},
    {"dispatch_batches", C_BOOL, NULL, NULL, 0, 0, ONE_PROC},
    {"split_batches", C_BOOL, NULL, NULL, 0, 0, ONE_PROC},
    {"average_tokens_across_devices", C_BOOL, NULL, NULL, 0, 0, ONE_PROC},
    {"dataloader_drop_last", C_BOOL, "false", "false", 1, 0,
     "not implemented: the last, partial batch of each epoch is always used"},
    {"dataloader_num_workers", C_INT, "0", NULL, 0, 0, LOADER},
    {"dataloader_prefetch_factor", C_INT, NULL, NULL, 0, 0, LOADER},
    {"dataloader_persistent_workers", C_BOOL, "false", NULL, 0, 0, LOADER},
    {"dataloader_pin_memory", C_BOOL, "true", NULL, 0, 0, LOADER},
    {"past_index", C_INT, "-1", "-1", 0, 0, "RoBERTa keeps no past state: " NO_EFFECT},
    {"run_name", C_STR, NULL, NULL, 0, 0, "the run is known by its --output_dir (ablm reports nowhere)"},
    {"remove_unused_columns", C_BOOL, "true", "true|false", 0, 0, NULL},
    {"label_names", C_STR, NULL, "labels", 0, 1, "ablm's collator builds the MLM labels itself"},
    {"ignore_data_skip", C_BOOL, "false", "false", 1, 0,
     "not implemented: a resumed run always skips the batches already trained (exact resume)"},
    {"label_smoothing_factor", C_NUM, "0", "0", 1, 0, "not implemented: the loss is plain cross-entropy"},
    {"optim", C_STR, "adamw_torch", "adamw_torch|adamw_torch_fused", 1, 0,
     "only torch.optim.AdamW (adamw_torch) is implemented; adamw_hf (transformers' own AdamW) "
     "adds epsilon before the bias correction, and the others are other optimizers"},
    {"optim_args", C_STR, NULL, "", 1, 0, "not implemented"},
    {"optim_target_modules", C_STR, NULL, NULL, 0, 1, "only used by GaLore optimizers, which are not implemented"},
    {"adafactor", C_BOOL, "false", "false", 1, 0, "not implemented: the optimizer is AdamW"},
    {"length_column_name", C_STR, "length", NULL, 0, 0, "ablm measures the lengths for --group_by_length itself"},
    {"report_to", C_STR, "none", "none", 0, 1,
     "ablm reports to no service: the records are trainer_state.json, the *_results.json "
     "files and the JSON log lines on stdout, all local"},
    {"project_name", C_STR, NULL, NULL, 0, 0,
     "not a transformers flag (the reference script's own, naming its wandb project): ablm "
     "reports to no service"},
    {"skip_memory_metrics", C_BOOL, "true", "true", 0, 0, "ablm reports train_peak_rss_mb instead of the memory tracker's metrics"},
    {"use_legacy_prediction_loop", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"push_to_hub", C_BOOL, "false", "false", 0, 0, NO_HUB},
    {"hub_model_id", C_STR, NULL, NULL, 0, 0, NO_HUB},
    {"hub_strategy", C_STR, "every_save", NULL, 0, 0, NO_HUB},
    {"hub_token", C_STR, NULL, NULL, 0, 0, NO_HUB},
    {"hub_private_repo", C_BOOL, NULL, NULL, 0, 0, NO_HUB},
    {"hub_always_push", C_BOOL, "false", NULL, 0, 0, NO_HUB},
    {"push_to_hub_model_id", C_STR, NULL, NULL, 0, 0, NO_HUB},
    {"push_to_hub_organization", C_STR, NULL, NULL, 0, 0, NO_HUB},
    {"push_to_hub_token", C_STR, NULL, NULL, 0, 0, NO_HUB},
    {"gradient_checkpointing", C_BOOL, "false", "false", 0, 0,
     "ablm keeps the activations instead of recomputing them: same gradients"},
    {"gradient_checkpointing_kwargs", C_STR, NULL, NULL, 0, 0, "only with --gradient_checkpointing, which changes nothing here"},
    {"include_inputs_for_metrics", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"include_for_metrics", C_STR, NULL, NULL, 0, 1, "ablm computes no custom metrics"},
    {"eval_do_concat_batches", C_BOOL, "true", "true|false", 0, 0, NULL},
    {"batch_eval_metrics", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"eval_use_gather_object", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"mp_parameters", C_STR, "", "", 0, 0, ONE_PROC},
    {"auto_find_batch_size", C_BOOL, "false", "false", 0, 0,
     "ablm never shrinks the batch size (an allocation failure stops the run)"},
    {"full_determinism", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"torchdynamo", C_STR, NULL, NULL, 0, 0, NO_COMPILE},
    {"ray_scope", C_STR, "last", NULL, 0, 0, "only for hyperparameter search, which ablm does not run"},
    {"torch_compile", C_BOOL, "false", "false", 0, 0,
     "ablm plans its graph ahead of time; there is no compile step (same results)"},
    {"torch_compile_backend", C_STR, NULL, NULL, 0, 0, NO_COMPILE},
    {"torch_compile_mode", C_STR, NULL, NULL, 0, 0, NO_COMPILE},
    {"include_tokens_per_second", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"include_num_input_tokens_seen", C_BOOL, "false", "false|true", 0, 0, NULL},
    {"neftune_noise_alpha", C_NUM, NULL, "0", 1, 0,
     "not implemented (noise added to the embeddings would change the results)"},
    {"use_liger_kernel", C_BOOL, "false", "false", 0, 0, NO_EFFECT},
};
enum { NCOMPAT = sizeof compat / sizeof compat[0] };

static const char *const strategy_names[] = {"no", "steps", "epoch"};
static const char *const log_level_names[] = {"debug", "info", "warning", "error", "critical",
                                              "passive"};

const char *train_args_strategy_name(ta_strategy s)
{
    return (int)s >= 0 && (int)s < 3 ? strategy_names[s] : "?";
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "y", "t", "1"};
    static const char *const no[] = {"false", "no", "n", "f", "0"};
    for (int i = 0; i < 5; i++) {
        if (!strcasecmp(v, yes[i])) {
            *out = 1;
            return 1;
        }
        if (!strcasecmp(v, no[i])) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

static void range_text(const flag *f, char *buf, size_t n)
{
    if (f->hi == INF)
        snprintf(buf, n, ">= %.15g", f->lo);
    else
        snprintf(buf, n, "in [%.15g, %.15g]", f->lo, f->hi);
}

/* Sets one flag from its text; messages name the flag. */
static int set_value(train_args *a, const flag *f, const char *v)
{
    char *p = (char *)a + f->off, *end, rng[64];
    switch (f->k) {
    case K_STR:
        if (strlen(v) >= f->size)
            return tg_error(TG_ERR_ARG, "--%s: value longer than %zu characters", f->name,
                            f->size - 1);
        strcpy(p, v);
        return TG_OK;
    case K_INT:
    case K_LONG: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return tg_error(TG_ERR_ARG, "--%s: '%s' is not an integer", f->name, v);
        range_text(f, rng, sizeof rng);
        if ((double)x < f->lo || (double)x > f->hi)
            return tg_error(TG_ERR_ARG, "--%s: %lld is out of range (must be %s)", f->name, x,
                            rng);
        if (f->k == K_INT)
            *(int *)p = (int)x;
        else
            *(long *)p = (long)x;
        return TG_OK;
    }
    case K_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return tg_error(TG_ERR_ARG, "--%s: '%s' is not a finite number", f->name, v);
        range_text(f, rng, sizeof rng);
        if (x < f->lo || x > f->hi)
            return tg_error(TG_ERR_ARG, "--%s: %g is out of range (must be %s)", f->name, x, rng);
        *(double *)p = x;
        return TG_OK;
    }
    case K_BOOL:
    case K_TRIBOOL:
        if (!parse_bool(v, (int *)p))
            return tg_error(TG_ERR_ARG, "--%s: '%s' is not a boolean (true or false)", f->name,
                            v);
        return TG_OK;
    case K_STRATEGY:
        for (int i = 0; i < 3; i++)
            if (!strcmp(v, strategy_names[i])) {
                *(ta_strategy *)p = (ta_strategy)i;
                return TG_OK;
            }
        return tg_error(TG_ERR_ARG, "--%s: '%s' is not one of no, steps, epoch", f->name, v);
    case K_SCHED:
        if (opt_sched_parse(v, (opt_sched_type *)p))
            return tg_error(TG_ERR_ARG, "--%s: '%s' is not one of %s", f->name, v,
                            opt_sched_names());
        return TG_OK;
    case K_LOGLEVEL:
        for (int i = 0; i <= TA_LOG_PASSIVE; i++)
            if (!strcmp(v, log_level_names[i])) {
                *(ta_log_level *)p = (ta_log_level)i;
                return TG_OK;
            }
        return tg_error(TG_ERR_ARG,
                        "--%s: '%s' is not one of debug, info, warning, error, critical, passive",
                        f->name, v);
    }
    return TG_ERR_ARG;
}

void train_args_defaults(train_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < NFLAGS; i++)
        if (flags[i].def)
            set_value(a, &flags[i], flags[i].def);
    a->greater_is_better = -1;
}

static size_t edit_distance(const char *s, const char *t)
{
    size_t n = strlen(s), m = strlen(t), row[128];
    if (m >= 128)
        m = 127;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (s[i - 1] != t[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

static const flag *find_flag(const char *name, size_t len)
{
    for (int i = 0; i < NFLAGS; i++)
        if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len))
            return &flags[i];
    return NULL;
}

static const compat_flag *find_compat(const char *name, size_t len)
{
    for (int i = 0; i < NCOMPAT; i++)
        if (strlen(compat[i].name) == len && !strncmp(compat[i].name, name, len))
            return &compat[i];
    return NULL;
}

static int unknown_flag(const char *arg, const char *name, size_t len)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < 200 ? len : 200), name);
    const char *best = flags[0].name;
    size_t bd = (size_t)-1;
    for (int i = 0; i < NFLAGS + NCOMPAT; i++) {
        const char *cand = i < NFLAGS ? flags[i].name : compat[i - NFLAGS].name;
        size_t d = edit_distance(buf, cand);
        if (d < bd) {
            bd = d;
            best = cand;
        }
    }
    return tg_error(TG_ERR_ARG, "unknown flag '%s' (did you mean --%s?)", arg, best);
}

/* 1 when v is one of the "|"-separated values of list. */
static int in_list(const char *list, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = list;; p++) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return 1;
        if (!e)
            return 0;
        p = e;
    }
}

static void add_note(train_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(train_args *a, const char *fmt, ...)
{
    if (a->nnotes == TA_NOTES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->notes[a->nnotes++], TA_NOTE_LEN, fmt, ap);
    va_end(ap);
}

/* Checks a compatibility flag's value (canonical "true"/"false" for
 * booleans): silent when it is `fine`, else a note or a refusal. */
static int apply_compat(train_args *a, const compat_flag *c, const char *v)
{
    char *end, canon[8];
    if (c->k == C_BOOL) {
        int b;
        if (!parse_bool(v, &b))
            return tg_error(TG_ERR_ARG, "--%s: '%s' is not a boolean (true or false)", c->name, v);
        strcpy(canon, b ? "true" : "false");
        v = canon;
    } else if (c->k == C_INT || c->k == C_NUM) {
        errno = 0;
        double x = c->k == C_INT ? (double)strtoll(v, &end, 10) : strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return tg_error(TG_ERR_ARG, "--%s: '%s' is not %s", c->name, v,
                            c->k == C_INT ? "an integer" : "a finite number");
        if (c->k == C_NUM && c->fine && x == strtod(c->fine, NULL))
            return TG_OK;
    }
    if (c->fine && in_list(c->fine, v))
        return TG_OK;
    if (c->refuse)
        return tg_error(TG_ERR_ARG, "--%s %s: %s", c->name, v, c->why);
    add_note(a, "--%s %s: accepted, %s", c->name, v, c->why ? c->why : NO_EFFECT);
    return TG_OK;
}

int train_args_parse(train_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return TA_HELP;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || !arg[1])
            return tg_error(TG_ERR_ARG, "unexpected argument '%s' (flags start with --)", arg);
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const flag *f = find_flag(name, len);
        const compat_flag *c = f ? NULL : find_compat(name, len);
        const char *val = eq ? eq + 1 : NULL;
        if (!f && !c && len > 3 && !strncmp(name, "no_", 3) && !eq) {
            /* HfArgumentParser's --no_FLAG for a boolean defaulting to true */
            f = find_flag(name + 3, len - 3);
            c = f ? NULL : find_compat(name + 3, len - 3);
            int is_bool_true = f ? f->k == K_BOOL && f->def && !strcmp(f->def, "true")
                               : c && c->k == C_BOOL && c->def && !strcmp(c->def, "true");
            if (!is_bool_true)
                return unknown_flag(arg, name, len);
            val = "false";
        }
        if (!f && !c)
            return unknown_flag(arg, name, len);
        const char *fname = f ? f->name : c->name;
        int is_bool = f ? f->k == K_BOOL || f->k == K_TRIBOOL : c->k == C_BOOL;
        if (!val && is_bool) {
            int b;
            if (i + 1 < argc && parse_bool(argv[i + 1], &b))
                val = argv[++i];
            else
                val = "true";
        } else if (!val) {
            if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))
                return tg_error(TG_ERR_ARG, "--%s needs a value", fname);
            val = argv[++i];
        }
        int rc = f ? set_value(a, f, val) : apply_compat(a, c, val);
        /* nargs="+": further values of a list flag */
        while (!rc && c && c->list && !eq && i + 1 < argc && argv[i + 1][0] != '-')
            rc = apply_compat(a, c, argv[++i]);
        if (rc)
            return rc;
    }
    return train_args_validate(a);
}

long train_args_steps(double steps, long max_steps)
{
    if (steps > 0 && steps < 1)
        return (long)ceil((double)max_steps * steps);
    return (long)steps;
}

long train_args_data_seed(const train_args *a) { return a->data_seed >= 0 ? a->data_seed : a->seed; }

const char *train_args_best_metric(const train_args *a)
{
    static const char *const known[] = {"eval_loss", "eval_accuracy", "eval_perplexity"};
    const char *m = a->metric_for_best_model;
    if (!m[0])
        return NULL;
    for (int i = 0; i < 3; i++)
        if (!strcmp(m, known[i]) || !strcmp(m, known[i] + 5))
            return known[i];
    return NULL;
}

/* Ratios (< 1) and counts (>= 1) must be whole numbers when counts. */
static int check_interval(const char *name, double v)
{
    if (v >= 1 && v != floor(v))
        return tg_error(TG_ERR_ARG, "--%s: %g must be an integer (or a fraction below 1)", name,
                        v);
    return TG_OK;
}

int train_args_validate(train_args *a)
{
    int rc;
    if ((rc = check_interval("logging_steps", a->logging_steps)) ||
        (rc = check_interval("eval_steps", a->eval_steps)) ||
        (rc = check_interval("save_steps", a->save_steps)))
        return rc;
    if (!a->output_dir[0])
        return tg_error(TG_ERR_ARG, "--output_dir is required");
    if (a->bf16 && (rc = tg_bf16_require("--bf16")))
        return rc;
    if (a->logging_strategy == TA_STEPS && a->logging_steps <= 0)
        return tg_error(TG_ERR_ARG, "--logging_strategy steps requires non-zero --logging_steps");
    if (a->eval_strategy == TA_STEPS && a->eval_steps <= 0) {
        if (a->logging_steps <= 0)
            return tg_error(TG_ERR_ARG,
                            "--eval_strategy steps requires either non-zero --eval_steps or "
                            "--logging_steps");
        a->eval_steps = a->logging_steps;
    }
    if (a->save_strategy == TA_STEPS && a->save_steps <= 0)
        return tg_error(TG_ERR_ARG, "--save_strategy steps requires non-zero --save_steps");
    if (a->eval_strategy != TA_NO)
        a->do_eval = 1;
    if (a->load_best_model_at_end) {
        if (a->eval_strategy != a->save_strategy)
            return tg_error(TG_ERR_ARG,
                            "--load_best_model_at_end requires the save and eval strategy to "
                            "match, but found --eval_strategy %s and --save_strategy %s",
                            train_args_strategy_name(a->eval_strategy),
                            train_args_strategy_name(a->save_strategy));
        if (a->eval_strategy == TA_NO)
            return tg_error(TG_ERR_ARG,
                            "--load_best_model_at_end needs --eval_strategy and "
                            "--save_strategy steps or epoch");
        if (a->eval_strategy == TA_STEPS && (a->eval_steps < 1) == (a->save_steps < 1) &&
            fmod(a->save_steps, a->eval_steps) != 0)
            return tg_error(TG_ERR_ARG,
                            "--load_best_model_at_end requires --save_steps to be a round "
                            "multiple of --eval_steps, but found %g, which is not a round "
                            "multiple of %g",
                            a->save_steps, a->eval_steps);
        if (!a->metric_for_best_model[0])
            strcpy(a->metric_for_best_model, "loss");
    }
    if (a->model_type[0] && strcmp(a->model_type, "roberta"))
        return tg_error(TG_ERR_ARG, "--model_type %s: ablm trains RoBERTa only (--model_type roberta)",
                        a->model_type);
    if (a->metric_for_best_model[0] && !train_args_best_metric(a))
        return tg_error(TG_ERR_ARG,
                        "--metric_for_best_model %s: ablm's evaluation computes loss, accuracy and "
                        "perplexity (eval_loss, eval_accuracy, eval_perplexity)",
                        a->metric_for_best_model);
    if (a->metric_for_best_model[0] && a->greater_is_better < 0) {
        size_t n = strlen(a->metric_for_best_model);
        a->greater_is_better = !(n >= 4 && !strcmp(a->metric_for_best_model + n - 4, "loss"));
    }
    if (a->lr_scheduler_type == OPT_SCHED_POLYNOMIAL && !(a->learning_rate > 1e-7))
        return tg_error(TG_ERR_ARG,
                        "--lr_scheduler_type polynomial needs --learning_rate above its end "
                        "rate 1e-07");
    if (a->do_train && !a->train_file[0])
        return tg_error(TG_ERR_ARG, "--do_train needs a --train_file");
    if ((a->do_train || a->do_eval || a->eval_strategy != TA_NO) && !a->train_file[0] &&
        !a->validation_file[0])
        return tg_error(TG_ERR_ARG, "need a --train_file or a --validation_file");
    if (a->max_steps <= 0 && a->do_train && !(a->num_train_epochs > 0))
        return tg_error(TG_ERR_ARG, "--num_train_epochs must be > 0 when --max_steps is not set");
    return TG_OK;
}

static void type_text(const flag *f, char *buf, size_t n)
{
    switch (f->k) {
    case K_STR: snprintf(buf, n, "%s", strstr(f->name, "file") || strstr(f->name, "dir") ||
                                               strstr(f->name, "name") || strstr(f->name, "checkpoint")
                                           ? "PATH"
                                           : "STR");
        break;
    case K_INT:
    case K_LONG: snprintf(buf, n, "INT"); break;
    case K_DOUBLE: snprintf(buf, n, "FLOAT"); break;
    case K_BOOL:
    case K_TRIBOOL: snprintf(buf, n, "[BOOL]"); break;
    case K_STRATEGY: snprintf(buf, n, "{no,steps,epoch}"); break;
    case K_SCHED: snprintf(buf, n, "NAME"); break;
    case K_LOGLEVEL: snprintf(buf, n, "LEVEL"); break;
    }
}

void train_args_help(FILE *f)
{
    fprintf(f,
            "usage: ablm train --output_dir DIR --train_file FILE [--do_train] [--do_eval] "
            "[options]\n\n"
            "Masked-language-model training with the flags of Hugging Face run_mlm.py and\n"
            "TrainingArguments (same names, same defaults). Forms: --flag value, --flag=value,\n"
            "-flag value; booleans alone mean true or take true/false/yes/no/1/0 (any case),\n"
            "and --no_FLAG turns off a boolean whose default is true.\n");
    const char *section = "";
    for (int i = 0; i < NFLAGS; i++) {
        const flag *g = &flags[i];
        if (strcmp(section, g->section)) {
            section = g->section;
            fprintf(f, "\n%s:\n", section);
        }
        char ty[32], head[96];
        type_text(g, ty, sizeof ty);
        snprintf(head, sizeof head, "--%s %s", g->name, ty);
        fprintf(f, "  %-42s %s", head, g->help);
        if (g->k == K_SCHED)
            fprintf(f, ": %s", opt_sched_names());
        if (g->def)
            fprintf(f, " (default %s)", g->def);
        fputc('\n', f);
    }
    fprintf(f, "  %-42s %s\n", "-h, --help", "print this help");
    for (int pass = 0; pass < 2; pass++) {
        fprintf(f, pass ? "\nNot implemented, and they would change the results: refused with the\n"
                          "reason unless given the value in parentheses (what ablm does):\n"
                        : "\nAccepted for compatibility, no effect on the results here. The values in\n"
                          "parentheses are what ablm does anyway (accepted silently); any other value\n"
                          "is accepted with a one-line note on stderr:\n");
        for (int i = 0; i < NCOMPAT; i++) {
            const compat_flag *c = &compat[i];
            if (c->refuse != pass)
                continue;
            static const char *const ty[] = {"[BOOL]", "STR", "INT", "FLOAT"};
            char head[96], shown[64];
            snprintf(head, sizeof head, "--%s %s", c->name, ty[c->k]);
            snprintf(shown, sizeof shown, "%s", c->fine ? c->fine : "any value: note");
            if (!shown[0])
                snprintf(shown, sizeof shown, "unset");
            fprintf(f, "  %-42s (%s) %s\n", head, shown, c->why ? c->why : NO_EFFECT);
        }
    }
}

/* An older name (e.g. --evaluation_strategy): same field as an earlier flag. */
static int is_alias(int i)
{
    for (int j = 0; j < i; j++)
        if (flags[j].off == flags[i].off)
            return 1;
    return 0;
}

static int emit_json(FILE *o, void *ctx)
{
    const train_args *a = ctx;
    /* flags[] is in section order; emit sorted by name so runs diff cleanly. */
    int idx[NFLAGS], n = 0;
    for (int i = 0; i < NFLAGS; i++)
        if (!is_alias(i))
            idx[n++] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(flags[idx[j - 1]].name, flags[idx[j]].name) > 0; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    fputs("{\n", o);
    for (int k = 0; k < n; k++) {
        const flag *g = &flags[idx[k]];
        const char *p = (const char *)a + g->off;
        char num[40];
        fprintf(o, "  \"%s\": ", g->name);
        switch (g->k) {
        case K_STR:
            if (*p)
                ts_json_string(o, p);
            else
                fputs("null", o);
            break;
        case K_INT:
            if (g->none_if_neg && *(const int *)p < 0)
                fputs("null", o);
            else
                fprintf(o, "%d", *(const int *)p);
            break;
        case K_LONG:
            if (g->none_if_neg && *(const long *)p < 0)
                fputs("null", o);
            else
                fprintf(o, "%ld", *(const long *)p);
            break;
        case K_DOUBLE:
            ts_json_number(num, *(const double *)p, 0);
            fputs(num, o);
            break;
        case K_BOOL: fputs(*(const int *)p ? "true" : "false", o); break;
        case K_TRIBOOL:
            fputs(*(const int *)p < 0 ? "null" : *(const int *)p ? "true" : "false", o);
            break;
        case K_STRATEGY:
            ts_json_string(o, train_args_strategy_name(*(const ta_strategy *)p));
            break;
        case K_SCHED: ts_json_string(o, opt_sched_name(*(const opt_sched_type *)p)); break;
        case K_LOGLEVEL: ts_json_string(o, log_level_names[*(const ta_log_level *)p]); break;
        }
        fputs(k + 1 < n ? ",\n" : "\n", o);
    }
    fputs("}\n", o);
    return ferror(o) ? TG_ERR_IO : TG_OK;
}

int train_args_write_json(const train_args *a, const char *path)
{
    return st_atomic_write(path, emit_json, (void *)a);
}
