/* HF learning-rate lambdas (transformers/optimization.py semantics). */
#include "schedule.h"

#include "tg.h"

#include <math.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

static const char *const names[] = {"linear",   "cosine",   "cosine_with_restarts",
                                    "polynomial", "constant", "constant_with_warmup",
                                    "inverse_sqrt"};
enum { NNAMES = sizeof names / sizeof names[0] };

int opt_sched_parse(const char *name, opt_sched_type *out)
{
    for (int i = 0; name && i < NNAMES; i++)
        if (!strcmp(name, names[i])) {
            *out = (opt_sched_type)i;
            return TG_OK;
        }
    return tg_error(TG_ERR_ARG, "unknown lr_scheduler_type '%s' (choose from %s)",
                    name ? name : "", opt_sched_names());
}

const char *opt_sched_name(opt_sched_type t)
{
    return (int)t >= 0 && (int)t < NNAMES ? names[t] : "?";
}

const char *opt_sched_names(void)
{
    return "linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup, "
           "inverse_sqrt";
}

opt_schedule opt_schedule_make(opt_sched_type t, double base_lr, long warmup_steps,
                               long total_steps)
{
    opt_schedule s = {.type = t,
                      .base_lr = base_lr,
                      .warmup_steps = warmup_steps,
                      .total_steps = total_steps,
                      .num_cycles = t == OPT_SCHED_COSINE_WITH_RESTARTS ? 1.0 : 0.5,
                      .power = 1.0,
                      .lr_end = 1e-7};
    return s;
}

long opt_warmup_steps(long warmup_steps, double warmup_ratio, long total_steps)
{
    if (warmup_steps > 0)
        return warmup_steps;
    return (long)ceil((double)total_steps * warmup_ratio);
}

static double max1(double x) { return x > 1.0 ? x : 1.0; }

double opt_sched_lambda(const opt_schedule *s, long step)
{
    const double w = (double)s->warmup_steps, T = (double)s->total_steps, st = (double)step;
    if (s->type == OPT_SCHED_CONSTANT)
        return 1.0;
    if (step < s->warmup_steps)
        return st / max1(w);
    double progress = (st - w) / max1(T - w);
    switch (s->type) {
    case OPT_SCHED_LINEAR: {
        double r = (T - st) / max1(T - w);
        return r > 0 ? r : 0.0;
    }
    case OPT_SCHED_COSINE: {
        double r = 0.5 * (1.0 + cos(PI * s->num_cycles * 2.0 * progress));
        return r > 0 ? r : 0.0;
    }
    case OPT_SCHED_COSINE_WITH_RESTARTS: {
        if (progress >= 1.0)
            return 0.0;
        double r = 0.5 * (1.0 + cos(PI * fmod(s->num_cycles * progress, 1.0)));
        return r > 0 ? r : 0.0;
    }
    case OPT_SCHED_POLYNOMIAL: {
        double lr_init = s->base_lr;
        if (!(lr_init > s->lr_end))
            return 1.0; /* HF raises here; train_args validation prevents it */
        if (step > s->total_steps)
            return s->lr_end / lr_init;
        double range = lr_init - s->lr_end, decay_steps = T - w;
        if (decay_steps <= 0)
            return s->lr_end / lr_init;
        double remaining = 1.0 - (st - w) / decay_steps;
        return (range * pow(remaining, s->power) + s->lr_end) / lr_init;
    }
    case OPT_SCHED_CONSTANT_WITH_WARMUP:
        return 1.0;
    case OPT_SCHED_INVERSE_SQRT: {
        double timescale = s->warmup_steps > 0 ? w : 10000.0;
        double shift = timescale - w;
        return 1.0 / sqrt((st + shift) / timescale);
    }
    default:
        return 1.0;
    }
}

double opt_sched_lr(const opt_schedule *s, long step) { return s->base_lr * opt_sched_lambda(s, step); }
