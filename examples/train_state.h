/* Training records as the Hugging Face Trainer and run_mlm.py write them:
 * trainer_state.json (TrainerState: progress, log_history, best
 * checkpoint), {train,eval}_results.json and all_results.json
 * (Trainer.save_metrics), plus checkpoint-STEP directory discovery and
 * rotation (Trainer._sorted_checkpoints / _rotate_checkpoints). All files
 * are written atomically. */
#ifndef TRAIN_STATE_H
#define TRAIN_STATE_H

#include <stddef.h>
#include <stdio.h>

#define TS_KEY 48
#define TS_MAX_METRICS 24

/* One named number. is_int: written without a fraction (step, *_samples). */
typedef struct {
    char key[TS_KEY];
    double v;
    int is_int;
} ts_metric;

/* A float metric / an integer metric, for building arrays inline:
 *   ts_metric m[] = {ts_m("loss", 2.31), ts_m("learning_rate", lr),
 *                    ts_m("grad_norm", gn), ts_m("epoch", ep), ts_mi("step", s)}; */
ts_metric ts_m(const char *key, double v);
ts_metric ts_mi(const char *key, long v);

/* One log_history entry (keys are written sorted, as json sort_keys). */
typedef struct {
    ts_metric m[TS_MAX_METRICS];
    int n;
} ts_log;

/* TrainerState. */
typedef struct {
    long global_step;
    double epoch;
    long max_steps;
    long num_train_epochs;       /* HF stores the ceil'ed integer */
    long logging_steps, eval_steps, save_steps;
    long train_batch_size;
    double total_flos;
    long num_input_tokens_seen;
    int has_best;                /* best_metric / best_model_checkpoint set */
    double best_metric;
    long best_global_step;
    char best_model_checkpoint[4096];
    int should_training_stop;    /* TrainerControl in stateful_callbacks */
    ts_log *log;                 /* log_history */
    int nlog, caplog;
} ts_state;

/* Zeroes a state (no best, empty history). */
void ts_init(ts_state *s);
/* Frees the history. Safe on a zeroed state. */
void ts_free(ts_state *s);
/* Appends a log_history entry of n (<= TS_MAX_METRICS) metrics. Returns a
 * status (TG_ERR_ARG for too many or empty keys, TG_ERR_NOMEM). */
int ts_log_add(ts_state *s, const ts_metric *m, int n);
/* Value of key in entry e, or NULL. */
const ts_metric *ts_log_get(const ts_log *e, const char *key);
/* Records an evaluation result for the best-checkpoint logic of HF
 * (_determine_best_metric / _save_checkpoint): when there is no best yet or
 * value beats it (> if greater_is_better, else <), sets best_metric,
 * best_global_step = global_step and best_model_checkpoint = checkpoint
 * (may be NULL to leave it). Returns 1 if it became the best, else 0. */
int ts_update_best(ts_state *s, double value, int greater_is_better, const char *checkpoint);

/* Writes trainer_state.json (json.dumps(indent=2, sort_keys=True) layout,
 * non-finite numbers as null) atomically. Returns a status. */
int ts_write(const ts_state *s, const char *path);
/* Reads a trainer_state.json (ours or HF's) into s (initialised by this
 * call; free with ts_free). Unknown keys are ignored; integral values of
 * "step", "*_samples" and "*_steps" keys read as integers. Returns TG_OK,
 * TG_ERR_IO or TG_ERR_FORMAT (message names the file and field). */
int ts_read(ts_state *s, const char *path);

/* Trainer.save_metrics(split, metrics, combined=True): writes
 * output_dir/{split}_results.json and merges the metrics into
 * output_dir/all_results.json (indent 4, sorted keys). Returns a status. */
int ts_save_metrics(const char *output_dir, const char *split, const ts_metric *m, int n);

/* HF speed_metrics: {split}_runtime (s, rounded to 4 places),
 * {split}_samples_per_second and {split}_steps_per_second (rounded to 3;
 * the steps metric only when num_steps > 0). Writes up to 3 metrics to out
 * and returns how many. */
int ts_speed_metrics(const char *split, double runtime_s, long num_samples, long num_steps,
                     ts_metric out[3]);

/* JSON helpers shared by the writers: a number as Python's json writes a
 * float (shortest round-trip repr, "3.0", "5e-05") or, when is_int, as an
 * integer; NaN and infinities, which are not JSON (Python would write NaN,
 * Infinity), as null. buf must hold 40 bytes. */
void ts_json_number(char *buf, double v, int is_int);
/* Writes s as a JSON string literal with escapes. */
void ts_json_string(FILE *f, const char *s);

/* ---- checkpoints ------------------------------------------------------- */

/* The world_size (ranks of the data-parallel run, docs/distributed.md)
 * recorded in a checkpoint's rng_state.json into *world_size: 1 when the
 * file or the field is absent (single-process runs do not write it).
 * Returns a status (TG_ERR_FORMAT names the file and field). */
int ts_read_world_size(const char *path, long *world_size);

/* output_dir/checkpoint-STEP into buf. Returns TG_OK or TG_ERR_ARG when
 * it does not fit. */
int ts_checkpoint_path(char *buf, size_t n, const char *output_dir, long step);
/* Steps of the checkpoint-STEP directories in output_dir, ascending, in a
 * tg_malloc'ed array (*steps, free with tg_free; NULL when none). A missing
 * output_dir is no error (0 checkpoints). Returns a status. */
int ts_list_checkpoints(const char *output_dir, long **steps, int *n);
/* get_last_checkpoint: the highest-step checkpoint directory of output_dir
 * into buf. Returns 1 if found, 0 if none, or a status < 0. */
int ts_last_checkpoint(const char *output_dir, char *buf, size_t n);
/* Trainer._rotate_checkpoints: with save_total_limit > 0, deletes the
 * oldest checkpoint directories beyond the limit, never the best one
 * (best_model_checkpoint, matched by its checkpoint-STEP name; it is
 * ordered just before the newest as HF does), and with a limit of 1 and a
 * best that is not the newest, keeps 2 so training can still resume.
 * *deleted (optional) receives the count. Returns a status. */
int ts_rotate_checkpoints(const char *output_dir, int save_total_limit,
                          const char *best_model_checkpoint, int *deleted);

#endif
