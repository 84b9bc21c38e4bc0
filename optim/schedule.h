/* Learning-rate schedules as Hugging Face transformers' get_scheduler
 * builds them (torch LambdaLR over a lambda of the step).
 *
 * The HF Trainer steps the scheduler after each optimizer step, so the
 * learning rate used by optimizer step s (0-based) is base_lr * lambda(s),
 * and the "learning_rate" the Trainer logs after global step g (>= 1) is
 * base_lr * lambda(g) (scheduler.get_last_lr() after g scheduler steps).
 */
#ifndef OPT_SCHEDULE_H
#define OPT_SCHEDULE_H

typedef enum {
    OPT_SCHED_LINEAR = 0,            /* get_linear_schedule_with_warmup */
    OPT_SCHED_COSINE,                /* get_cosine_schedule_with_warmup */
    OPT_SCHED_COSINE_WITH_RESTARTS,  /* get_cosine_with_hard_restarts_schedule_with_warmup */
    OPT_SCHED_POLYNOMIAL,            /* get_polynomial_decay_schedule_with_warmup */
    OPT_SCHED_CONSTANT,              /* get_constant_schedule */
    OPT_SCHED_CONSTANT_WITH_WARMUP,  /* get_constant_schedule_with_warmup */
    OPT_SCHED_INVERSE_SQRT           /* get_inverse_sqrt_schedule */
} opt_sched_type;

typedef struct {
    opt_sched_type type;
    double base_lr;      /* TrainingArguments.learning_rate */
    long warmup_steps;   /* resolved with opt_warmup_steps */
    long total_steps;    /* num_training_steps (max_steps) */
    double num_cycles;   /* cosine: 0.5 (half wave); with_restarts: 1 */
    double power;        /* polynomial: 1.0 */
    double lr_end;       /* polynomial: 1e-7 */
} opt_schedule;

/* Parses an HF lr_scheduler_type name ("linear", "cosine",
 * "cosine_with_restarts", "polynomial", "constant",
 * "constant_with_warmup", "inverse_sqrt"). Returns TG_OK or TG_ERR_ARG
 * with a message listing the accepted names. */
int opt_sched_parse(const char *name, opt_sched_type *out);
/* The HF name of a schedule type. */
const char *opt_sched_name(opt_sched_type t);
/* Comma-separated list of accepted names (for --help). */
const char *opt_sched_names(void);

/* A schedule with HF's per-type defaults for num_cycles, power, lr_end. */
opt_schedule opt_schedule_make(opt_sched_type t, double base_lr, long warmup_steps,
                               long total_steps);

/* TrainingArguments.get_warmup_steps: warmup_steps when > 0, else
 * ceil(total_steps * warmup_ratio). */
long opt_warmup_steps(long warmup_steps, double warmup_ratio, long total_steps);

/* The schedule's multiplier lambda(step) (step >= 0) as HF defines it. */
double opt_sched_lambda(const opt_schedule *s, long step);
/* base_lr * lambda(step): the learning rate for optimizer step `step`
 * (0-based). */
double opt_sched_lr(const opt_schedule *s, long step);

#endif
