/* The training loop: Hugging Face Trainer semantics over a task's model
 * (trainer.h). Nothing here knows the model or the data. */
#include "trainer.h"

#include "fsutil.h"
#include "mlm_mask.h" /* the samplers: mlm_shuffle_order, mlm_length_grouped_order */
#include "plot_svg.h"
#include "safetensors.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void vnote(trainer *t, const char *prefix, const char *fmt, va_list ap)
{
    char buf[2048];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s", prefix);
    vsnprintf(buf + n, sizeof buf - n, fmt, ap);
    if (t->note)
        t->note(buf);
}

void tr_notef(trainer *t, const char *fmt, ...)
{
    if (t->a->log_level > TA_LOG_INFO && t->a->log_level != TA_LOG_PASSIVE)
        return;
    va_list ap;
    va_start(ap, fmt);
    vnote(t, "", fmt, ap);
    va_end(ap);
}

void tr_warnf(trainer *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(t, "warning: ", fmt, ap);
    va_end(ap);
}

/* ---- setup ----------------------------------------------------------------- */

/* run_mlm.py's output-directory rule: a non-empty output_dir without a
 * checkpoint is an error unless --overwrite_output_dir; with one, training
 * resumes from it unless --overwrite_output_dir. Fills `resume`. */
static int resolve_resume(trainer *t, char *resume, size_t n)
{
    train_args *a = t->a;
    resume[0] = 0;
    if (!strcmp(a->resume_from_checkpoint, "latest")) {
        int found = ts_last_checkpoint(a->output_dir, resume, n);
        if (found < 0)
            return found;
        if (!found)
            return tg_error(TG_ERR_ARG, "--resume_from_checkpoint latest: no checkpoint-STEP directory in %s",
                            a->output_dir);
        return TG_OK;
    }
    if (a->resume_from_checkpoint[0]) {
        snprintf(resume, n, "%s", a->resume_from_checkpoint);
        if (access(resume, F_OK))
            return tg_error(TG_ERR_ARG, "--resume_from_checkpoint: %s does not exist", resume);
        return TG_OK;
    }
    if (a->do_train && !a->overwrite_output_dir && fs_dir_nonempty(a->output_dir)) {
        int found = ts_last_checkpoint(a->output_dir, resume, n);
        if (found < 0)
            return found;
        if (!found)
            return tg_error(TG_ERR_ARG, "output directory (%s) already exists and is not empty; use --overwrite_output_dir to overcome",
                            a->output_dir);
        tr_notef(t, "checkpoint detected, resuming training at %s; to avoid this, change --output_dir or add --overwrite_output_dir",
                 resume);
    }
    return TG_OK;
}

/* Step counts as the Trainer derives them. */
static void plan_steps(trainer *t)
{
    train_args *a = t->a;
    long bs = a->per_device_train_batch_size, n = t->data.n_train;
    t->micro_per_epoch = n ? (n + bs - 1) / bs : 0;
    t->steps_per_epoch = (t->micro_per_epoch + a->gradient_accumulation_steps - 1) /
                         a->gradient_accumulation_steps;
    if (t->steps_per_epoch < 1)
        t->steps_per_epoch = 1;
    t->max_steps = a->max_steps > 0 ? a->max_steps
                                    : (long)ceil(a->num_train_epochs * t->steps_per_epoch);
    t->epochs = (t->max_steps + t->steps_per_epoch - 1) / t->steps_per_epoch;
    t->logging_steps = train_args_steps(a->logging_steps, t->max_steps);
    t->eval_steps = train_args_steps(a->eval_steps, t->max_steps);
    t->save_steps = train_args_steps(a->save_steps, t->max_steps);
}

static int make_optimizer(trainer *t)
{
    tg_params *p = t->params;
    int n = tg_params_count(p);
    opt_segment *seg = tg_malloc(n * sizeof *seg, "optimizer segments");
    if (!seg)
        return TG_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        tg_tensor *x = tg_params_at(p, i);
        int ln = t->task->is_norm ? t->task->is_norm(t->ctx, x->name)
                                  : strstr(x->name, "LayerNorm") || strstr(x->name, "layer_norm");
        seg[i] = (opt_segment){tg_params_offset(p, x), x->numel, opt_hf_decay(x->name, ln)};
    }
    opt_adamw_config c = {t->a->adam_beta1, t->a->adam_beta2, t->a->adam_epsilon, t->a->weight_decay};
    int rc = opt_adamw_init(&t->opt, &c, tg_params_numel(p), seg, n);
    tg_free(seg);
    long warmup = opt_warmup_steps(t->a->warmup_steps, t->a->warmup_ratio, t->max_steps);
    t->sched = opt_schedule_make(t->a->lr_scheduler_type, t->a->learning_rate, warmup, t->max_steps);
    return rc;
}

static int restore(trainer *t, const char *ckpt)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", ckpt);
    int rc = opt_adamw_load(&t->opt, path);
    if (!rc) {
        snprintf(path, sizeof path, "%s/trainer_state.json", ckpt);
        ts_free(&t->state);
        rc = ts_read(&t->state, path);
    }
    if (!rc && t->state.train_batch_size &&
        t->state.train_batch_size != t->a->per_device_train_batch_size)
        tr_warnf(t, "%s was trained with batch size %ld, now %d: the data order will differ", ckpt,
                 t->state.train_batch_size, t->a->per_device_train_batch_size);
    if (!rc) {
        t->start_step = t->state.global_step;
        tr_notef(t, "resumed from %s at step %ld", ckpt, t->start_step);
    }
    return rc;
}

int trainer_open(trainer *t, train_args *a, const tr_task *task, void (*note)(const char *msg))
{
    memset(t, 0, sizeof *t);
    t->a = a;
    t->note = note;
    t->task = task;
    ts_init(&t->state);
    char resume[4200];
    int rc = resolve_resume(t, resume, sizeof resume);
    if (!rc)
        rc = task->open(t, resume, &t->data);
    if (!rc && a->do_eval && !t->data.has_eval)
        rc = tg_error(TG_ERR_ARG, "evaluation needs --validation_file");
    if (!rc && a->do_train && t->data.n_train == 0)
        rc = tg_error(TG_ERR_ARG, "--train_file has no sequences");
    if (!rc && a->group_by_length && !t->data.train_len)
        rc = tg_error(TG_ERR_ARG, "--group_by_length: this task's training rows have no lengths");
    if (rc)
        return rc;
    t->params = task->params(t->ctx);
    plan_steps(t);
    t->data_seed = (uint64_t)train_args_data_seed(a);
    t->order = tg_malloc((t->data.n_train ? t->data.n_train : 1) * sizeof *t->order, "data order");
    if (!t->order)
        return TG_ERR_NOMEM;
    rc = make_optimizer(t);
    if (!rc && resume[0])
        rc = restore(t, resume);
    t->state.max_steps = t->max_steps;
    t->state.num_train_epochs = t->epochs;
    t->state.logging_steps = t->logging_steps;
    t->state.eval_steps = t->eval_steps;
    t->state.save_steps = t->save_steps;
    t->state.train_batch_size = a->per_device_train_batch_size;
    if (!rc)
        rc = fs_mkdirs(a->output_dir);
    return rc;
}

void trainer_close(trainer *t)
{
    if (t->task && t->ctx)
        t->task->close(t->ctx);
    opt_adamw_free(&t->opt);
    ts_free(&t->state);
    tg_free(t->order);
    memset(t, 0, sizeof *t);
}

/* ---- checkpoints ------------------------------------------------------------ */

static int write_text(const char *path, const char *text)
{
    return st_atomic_write_buf(path, text, strlen(text));
}

int trainer_save_checkpoint(trainer *t)
{
    train_args *a = t->a;
    char dir[4200], tmp[4300], path[4400], text[1024];
    int rc = ts_checkpoint_path(dir, sizeof dir, a->output_dir, t->state.global_step);
    snprintf(tmp, sizeof tmp, "%s/tmp-checkpoint-%ld", a->output_dir, t->state.global_step);
    if (!rc)
        rc = fs_remove_tree(tmp);
    if (!rc)
        rc = fs_mkdirs(tmp);
    if (!rc)
        rc = t->task->save(t->ctx, tmp);
    snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp);
    if (!rc)
        rc = opt_adamw_save(&t->opt, path);
    const char *kill_at = getenv("ABLM_FAULT_KILL_IN_SAVE"); /* fault injection for tests */
    if (kill_at && atol(kill_at) == t->state.global_step)
        raise(SIGKILL);
    snprintf(path, sizeof path, "%s/scheduler.json", tmp);
    snprintf(text, sizeof text,
             "{\n  \"lr_scheduler_type\": \"%s\",\n  \"base_lr\": %.17g,\n  \"warmup_steps\": %ld,\n"
             "  \"total_steps\": %ld,\n  \"last_epoch\": %ld,\n  \"last_lr\": %.17g\n}\n",
             opt_sched_name(t->sched.type), t->sched.base_lr, t->sched.warmup_steps,
             t->sched.total_steps, t->state.global_step,
             opt_sched_lr(&t->sched, t->state.global_step));
    if (!rc)
        rc = write_text(path, text);
    snprintf(path, sizeof path, "%s/rng_state.json", tmp);
    snprintf(text, sizeof text,
             "{\n  \"seed\": %ld,\n  \"data_seed\": %llu,\n  \"micro_batches_done\": %ld,\n"
             "  \"note\": \"%s\"\n}\n",
             a->seed, (unsigned long long)t->data_seed,
             t->state.global_step * a->gradient_accumulation_steps, t->task->rng_note);
    if (!rc)
        rc = write_text(path, text);
    snprintf(path, sizeof path, "%s/training_args.json", tmp);
    if (!rc)
        rc = train_args_write_json(a, path);
    snprintf(path, sizeof path, "%s/trainer_state.json", tmp);
    if (!rc)
        rc = ts_write(&t->state, path);
    if (!rc)
        rc = fs_sync_dir(tmp);
    if (!rc)
        rc = fs_remove_tree(dir);
    if (!rc && rename(tmp, dir))
        rc = tg_error(TG_ERR_IO, "%s: cannot rename to %s", tmp, dir);
    if (!rc)
        rc = fs_sync_dir(a->output_dir);
    int deleted = 0;
    if (!rc)
        rc = ts_rotate_checkpoints(a->output_dir, a->save_total_limit,
                                   t->state.has_best ? t->state.best_model_checkpoint : NULL, &deleted);
    if (rc) /* a failed save leaves no tmp-checkpoint-STEP behind (the error stays the first) */
        fs_remove_tree(tmp);
    return rc;
}

/* ---- the loop --------------------------------------------------------------- */

static void log_line(const ts_metric *m, int n)
{
    printf("{");
    for (int i = 0; i < n; i++) {
        char num[48];
        ts_json_number(num, m[i].v, m[i].is_int);
        printf("%s\"%s\": %s", i ? ", " : "", m[i].key, num);
    }
    printf("}\n");
    fflush(stdout);
}

/* The value of --metric_for_best_model in an evaluation's metrics. */
static double best_metric_value(const trainer *t, const ts_metric *m, int n)
{
    const char *key = train_args_best_metric(t->a);
    for (int i = 0; key && i < n; i++)
        if (!strcmp(m[i].key, key))
            return m[i].v;
    return NAN;
}

/* Runs the task's evaluation and appends the loop's metrics: eval_runtime
 * and the speed metrics, epoch, and (during training) step. m must hold
 * TS_MAX_METRICS. Returns a status; *n gets the count. */
static int evaluate(trainer *t, int final, ts_metric *m, int *n)
{
    tr_eval r = {0};
    int rc = t->task->evaluate(t->ctx, final, &r);
    if (rc)
        return rc;
    long bs = t->a->per_device_eval_batch_size, nb = (r.samples + bs - 1) / bs;
    int k = r.n;
    memcpy(m, r.m, k * sizeof *m);
    k += ts_speed_metrics("eval", r.seconds, r.samples, nb, m + k);
    m[k++] = ts_m("epoch", t->state.epoch);
    if (!final)
        m[k++] = ts_mi("step", t->state.global_step);
    *n = k;
    return TG_OK;
}

static int evaluate_and_log(trainer *t, double *metric)
{
    ts_metric m[TS_MAX_METRICS];
    int k, rc = evaluate(t, 0, m, &k);
    if (rc)
        return rc;
    log_line(m, k);
    *metric = best_metric_value(t, m, k);
    return ts_log_add(&t->state, m, k);
}

static void progress(trainer *t, double t0, long step, double loss, double lr, int force)
{
    static double last;
    if (t->a->disable_tqdm)
        return;
    int tty = isatty(2);
    double el = now() - t0;
    if (!force && el - last < (tty ? 0.5 : 30))
        return;
    last = el;
    long done = step - t->start_step, left = t->max_steps - step;
    double eta = done ? el / done * left : 0;
    fprintf(stderr, "%sstep %ld/%ld | epoch %.2f | loss %.4f | lr %.3g | %.0f tok/s | ETA %dm%02ds%s",
            tty ? "\r" : "", step, t->max_steps, t->state.epoch, loss, lr,
            el > 0 ? t->tokens_seen / el : 0, (int)(eta / 60), (int)eta % 60, tty ? "  " : "\n");
    fflush(stderr);
}

/* One optimizer step over micro-batches [mb0, mb1) of epoch `epoch`.
 * Returns a status; *loss gets the step's mean loss. */
static int train_step(trainer *t, long epoch, long mb0, long mb1, double *loss)
{
    train_args *a = t->a;
    int nmb = (int)(mb1 - mb0), rc = TG_OK;
    float seed = 1.0f / nmb;
    long n = t->data.n_train;
    tg_params_zero_grad(t->params);
    *loss = 0;
    for (long mb = mb0; mb < mb1 && !rc; mb++) {
        long first = mb * a->per_device_train_batch_size;
        int B = (int)(n - first < a->per_device_train_batch_size ? n - first
                                                                 : a->per_device_train_batch_size);
        tr_batch b = {0};
        rc = t->task->batch(t->ctx, epoch * t->micro_per_epoch + mb, t->order + first, B, &b);
        if (!rc)
            rc = tg_forward(b.graph);
        if (!rc) {
            float l = tg_f32(b.loss)[0];
            if (!isfinite(l))
                rc = tg_error(TG_ERR_ARG, "step %ld: training loss is %g; stopping (checkpoints already written are intact)",
                              t->state.global_step + 1, l);
            *loss += l / nmb;
            t->tokens_seen += b.tokens;
        }
        if (!rc)
            rc = tg_backward(b.graph, b.loss, &seed);
    }
    return rc;
}

static int data_order(trainer *t, long epoch)
{
    if (t->a->group_by_length)
        return mlm_length_grouped_order(t->data_seed, epoch, t->data.train_len, t->data.n_train,
                                        t->a->per_device_train_batch_size, t->order);
    return mlm_shuffle_order(t->data_seed, epoch, t->data.n_train, t->order);
}

static int train(trainer *t)
{
    train_args *a = t->a;
    double t0 = now(), log_loss = 0, run_loss = 0;
    long log_n = 0, run_n = 0;
    int rc = TG_OK;
    tg_params *p = t->params;
    float *w = tg_params_values(p), *g = tg_params_grads(p);
    size_t nw = tg_params_numel(p);
    long step = t->state.global_step;
    for (long epoch = step / t->steps_per_epoch; epoch < t->epochs && step < t->max_steps && !rc; epoch++) {
        rc = data_order(t, epoch);
        for (long s = step % t->steps_per_epoch; s < t->steps_per_epoch && step < t->max_steps && !rc; s++) {
            long mb0 = s * a->gradient_accumulation_steps;
            long mb1 = mb0 + a->gradient_accumulation_steps;
            if (mb1 > t->micro_per_epoch)
                mb1 = t->micro_per_epoch;
            double loss;
            rc = train_step(t, epoch, mb0, mb1, &loss);
            if (rc)
                break;
            double norm = a->max_grad_norm > 0 ? opt_clip_grad_norm(g, nw, a->max_grad_norm)
                                               : opt_grad_norm(g, nw);
            double lr = opt_sched_lr(&t->sched, step);
            rc = opt_adamw_step(&t->opt, w, g, lr);
            if (rc)
                break;
            step++;
            t->state.global_step = step;
            t->state.epoch = epoch + (double)(s + 1) / t->steps_per_epoch;
            t->state.num_input_tokens_seen = t->tokens_seen;
            log_loss += loss, log_n++;
            run_loss += loss, run_n++;
            int epoch_end = s + 1 == t->steps_per_epoch || step == t->max_steps;
            if ((a->logging_strategy == TA_STEPS && step % t->logging_steps == 0) ||
                (a->logging_strategy == TA_EPOCH && epoch_end) ||
                (a->logging_first_step && step == 1)) {
                ts_metric m[5] = {ts_m("loss", round(log_loss / log_n * 1e4) / 1e4),
                                  ts_m("grad_norm", norm),
                                  ts_m("learning_rate", opt_sched_lr(&t->sched, step)),
                                  ts_m("epoch", t->state.epoch), ts_mi("step", step)};
                log_line(m, 5);
                rc = ts_log_add(&t->state, m, 5);
                log_loss = 0, log_n = 0;
            }
            double metric = NAN;
            int evaluated = 0;
            if (!rc && t->data.has_eval &&
                ((a->eval_strategy == TA_STEPS && step % t->eval_steps == 0) ||
                 (a->eval_strategy == TA_EPOCH && epoch_end))) {
                rc = evaluate_and_log(t, &metric);
                evaluated = 1;
            }
            if (!rc && ((a->save_strategy == TA_STEPS && step % t->save_steps == 0) ||
                        (a->save_strategy == TA_EPOCH && epoch_end))) {
                char ckpt[4200];
                ts_checkpoint_path(ckpt, sizeof ckpt, a->output_dir, step);
                if (evaluated && a->metric_for_best_model[0] && isfinite(metric))
                    ts_update_best(&t->state, metric, a->greater_is_better == 1, ckpt);
                rc = trainer_save_checkpoint(t);
            }
            progress(t, t0, step, loss, lr, 0);
        }
    }
    progress(t, t0, step, run_n ? run_loss / run_n : 0, opt_sched_lr(&t->sched, step), 1);
    if (isatty(2) && !a->disable_tqdm)
        fprintf(stderr, "\n");
    t->train_seconds = now() - t0;
    t->last_loss = run_n ? run_loss / run_n : NAN;
    return rc;
}

/* The loss curve from log_history: training loss and eval loss by step. */
static int write_curve(trainer *t)
{
    int n = t->state.nlog;
    double *buf = tg_malloc(4 * (size_t)(n ? n : 1) * sizeof *buf, "loss curve");
    if (!buf)
        return TG_ERR_NOMEM;
    double *tx = buf, *ty = buf + n, *ex = buf + 2 * n, *ey = buf + 3 * n;
    int nt = 0, ne = 0;
    for (int i = 0; i < n; i++) {
        const ts_log *e = &t->state.log[i];
        const ts_metric *st = ts_log_get(e, "step"), *l = ts_log_get(e, "loss"),
                        *el = ts_log_get(e, "eval_loss");
        if (st && l)
            tx[nt] = st->v, ty[nt++] = l->v;
        if (st && el)
            ex[ne] = st->v, ey[ne++] = el->v;
    }
    svg_series s[2] = {{"training loss", tx, ty, nt, "#1f77b4", 0},
                       {"eval loss", ex, ey, ne, "#d62728", 1}};
    svg_chart c = {t->task->curve_title, "step", "cross-entropy (nats)", 800, 480};
    char path[4200];
    snprintf(path, sizeof path, "%s/loss_curve.svg", t->a->output_dir);
    int rc = nt + ne ? svg_line_chart(path, &c, s, ne ? 2 : 1) : TG_OK;
    tg_free(buf);
    return rc;
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* 1 when output_dir's trainer_state.json (the last file of a finished run's
 * final save) is at `step`: a run killed during its final save lacks it. */
static int final_save_done(const trainer *t, long step)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/trainer_state.json", t->a->output_dir);
    ts_state s;
    if (access(path, F_OK) || ts_read(&s, path))
        return 0;
    int done = s.global_step >= step;
    ts_free(&s);
    return done;
}

/* The mean of the logged training losses (train_loss of a run whose final
 * save is redone after a crash: the steps' own sum is gone). */
static double logged_mean_loss(const ts_state *s)
{
    double sum = 0;
    long n = 0;
    for (int i = 0; i < s->nlog; i++) {
        const ts_metric *l = ts_log_get(&s->log[i], "loss");
        if (l)
            sum += l->v, n++;
    }
    return n ? sum / n : 0;
}

int trainer_run(trainer *t)
{
    train_args *a = t->a;
    int rc = TG_OK, finish_only = 0;
    char path[4200];
    if (a->do_train && t->start_step > 0 && t->start_step == t->max_steps &&
        !final_save_done(t, t->start_step)) {
        /* the run trained to the end and was stopped in its final save:
         * write the model and records from the last checkpoint */
        tr_notef(t, "the checkpoint is at the last step (%ld) but %s has no finished run's "
                 "trainer_state.json (the run was stopped during its final save): writing the "
                 "final model and records from the checkpoint", t->start_step, a->output_dir);
        finish_only = 1;
    } else if (a->do_train && t->start_step > 0 && t->start_step >= t->max_steps) {
        /* a resume with nothing to train: the Trainer would "train" 0 steps
         * and rewrite the finished run's model and results (train_loss of
         * no step); leave everything as it is instead */
        tr_warnf(t, "nothing to train: the checkpoint is at step %ld and this run stops at step %ld "
                 "(--max_steps / --num_train_epochs); %s is left untouched. Raise --max_steps or "
                 "--num_train_epochs to train further, or use --overwrite_output_dir to start afresh",
                 t->start_step, t->max_steps, a->output_dir);
        t->nothing_to_do = 1;
        return TG_OK;
    }
    if (a->do_train && finish_only) {
        t->train_seconds = 0;
        t->last_loss = logged_mean_loss(&t->state);
    } else if (a->do_train) {
        rc = train(t);
        if (rc)
            return rc;
    }
    if (a->do_train) {
        if (a->load_best_model_at_end && t->state.has_best) {
            tr_notef(t, "loading best model from %s (%s %.6g)", t->state.best_model_checkpoint,
                     a->metric_for_best_model, t->state.best_metric);
            rc = t->task->load_weights(t->ctx, t->state.best_model_checkpoint);
        }
        if (!rc)
            rc = t->task->save(t->ctx, a->output_dir);
        snprintf(path, sizeof path, "%s/training_args.json", a->output_dir);
        if (!rc)
            rc = train_args_write_json(a, path);
        long steps = t->state.global_step - t->start_step;
        ts_metric m[10] = {ts_m("train_loss", t->last_loss), ts_m("epoch", t->state.epoch),
                           ts_mi("train_samples", t->data.n_train)};
        int k = 3 + ts_speed_metrics("train", t->train_seconds, steps * a->per_device_train_batch_size *
                                                                    a->gradient_accumulation_steps,
                                     steps, m + 3);
        m[k++] = ts_m("train_tokens_per_second",
                      t->train_seconds > 0 ? round(t->tokens_seen / t->train_seconds * 1e3) / 1e3 : 0);
        m[k++] = ts_mi("train_peak_rss_mb", peak_rss_mb());
        m[k++] = ts_mi("train_threads", tg_threads());
        if (!rc)
            rc = ts_save_metrics(a->output_dir, "train", m, k);
        if (!rc)
            log_line(m, k);
    }
    if (!rc && a->do_eval && t->data.has_eval) {
        ts_metric m[TS_MAX_METRICS];
        int k;
        rc = evaluate(t, 1, m, &k);
        if (!rc)
            rc = ts_save_metrics(a->output_dir, "eval", m, k);
        if (!rc)
            log_line(m, k);
    }
    if (!rc && a->do_train)
        rc = write_curve(t);
    snprintf(path, sizeof path, "%s/trainer_state.json", a->output_dir);
    if (!rc && a->do_train) /* last: marks the final save as finished (final_save_done) */
        rc = ts_write(&t->state, path);
    if (!rc)
        tr_notef(t, "model, results and loss_curve.svg are in %s", a->output_dir);
    return rc;
}
