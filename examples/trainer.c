/* The training loop: Hugging Face Trainer semantics over a task's model
 * (trainer.h). Nothing here knows the model or the data. */
#include "trainer.h"

#include "dist.h"
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
    if (t->rank != 0)
        return; /* only rank 0 reports */
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
    long bs = (long)a->per_device_train_batch_size * t->ranks, n = t->data.n_train;
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
    long ws = 1;
    snprintf(path, sizeof path, "%s/rng_state.json", ckpt);
    if (!rc)
        rc = ts_read_world_size(path, &ws);
    if (!rc && ws != t->ranks)
        rc = tg_error(TG_ERR_ARG, "%s was written by a run on %ld rank%s, this run has %d: resume it with "
                      "the same number of processes (mpirun -np %ld; the data shards and the per-rank "
                      "random streams depend on it), or start afresh with --overwrite_output_dir",
                      ckpt, ws, ws == 1 ? "" : "s", t->ranks, ws);
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

/* The parameters sorted by offset (param_off, param_idx) and, with several
 * ranks, the gradient buckets (--ddp_bucket_cap_mb, default 25 as
 * PyTorch DDP's bucket_cap_mb). Returns a status. */
static int make_grad_sync(trainer *t)
{
    tg_params *p = t->params;
    int n = tg_params_count(p);
    t->param_off = tg_malloc((n ? n : 1) * sizeof *t->param_off, "parameter offsets");
    t->param_idx = tg_malloc((n ? n : 1) * sizeof *t->param_idx, "parameter offsets");
    if (!t->param_off || !t->param_idx)
        return TG_ERR_NOMEM;
    for (int i = 0; i < n; i++) { /* insertion sort: stores are in offset order already */
        size_t o = tg_params_offset(p, tg_params_at(p, i));
        int j = i;
        for (; j > 0 && t->param_off[j - 1] > o; j--)
            t->param_off[j] = t->param_off[j - 1], t->param_idx[j] = t->param_idx[j - 1];
        t->param_off[j] = o, t->param_idx[j] = i;
    }
    double cap = t->a->ddp_bucket_cap_mb > 0 ? t->a->ddp_bucket_cap_mb : 25;
    t->grads_sync = dist_grads_new(tg_params_grads(p), tg_params_numel(p), t->param_off, n,
                                   (size_t)(cap * 1024 * 1024));
    if (!t->grads_sync)
        return TG_ERR_NOMEM;
    tr_notef(t, "data parallel: %d ranks, gradients all-reduced in %d bucket%s of up to %g MB",
             t->ranks, dist_grads_buckets(t->grads_sync),
             dist_grads_buckets(t->grads_sync) == 1 ? "" : "s", cap);
    return TG_OK;
}

/* Every rank resolved the same checkpoint to resume from (they need one
 * filesystem). Returns a status. */
static int same_resume(trainer *t, const char *resume)
{
    char r0[4200];
    snprintf(r0, sizeof r0, "%s", resume);
    int rc = dist_bcast(r0, sizeof r0, "resume point");
    if (!rc && strcmp(r0, resume))
        rc = tg_error(TG_ERR_ARG, "rank %d resumes from '%s' but rank 0 from '%s': every rank must see "
                      "the same --output_dir (a shared filesystem)", t->rank, resume, r0);
    return rc;
}

static int open_run(trainer *t, train_args *a, const tr_task *task)
{
    int rc = dist_init();
    if (rc)
        return rc;
    dist_set_timeout(a->ddp_timeout);
    t->rank = dist_rank();
    t->ranks = dist_size();
    char resume[4200];
    rc = resolve_resume(t, resume, sizeof resume);
    if (!rc && t->ranks > 1)
        rc = same_resume(t, resume);
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
    if (!rc && t->ranks > 1) /* every rank starts from rank 0's weights */
        rc = dist_bcast(tg_params_values(t->params), tg_params_numel(t->params) * sizeof(float),
                        "initial weights");
    if (!rc && t->ranks > 1)
        rc = make_grad_sync(t);
    if (!rc && resume[0])
        rc = restore(t, resume);
    t->state.max_steps = t->max_steps;
    t->state.num_train_epochs = t->epochs;
    t->state.logging_steps = t->logging_steps;
    t->state.eval_steps = t->eval_steps;
    t->state.save_steps = t->save_steps;
    t->state.train_batch_size = a->per_device_train_batch_size;
    if (!rc && a->do_train)
        tr_notef(t, "global batch %ld = per_device_train_batch_size %d x %d rank%s x gradient_accumulation_steps %d",
                 (long)a->per_device_train_batch_size * t->ranks * a->gradient_accumulation_steps,
                 a->per_device_train_batch_size, t->ranks, t->ranks == 1 ? "" : "s",
                 a->gradient_accumulation_steps);
    if (!rc && t->rank == 0)
        rc = fs_mkdirs(a->output_dir);
    return rc;
}

int trainer_open(trainer *t, train_args *a, const tr_task *task, void (*note)(const char *msg))
{
    memset(t, 0, sizeof *t);
    t->a = a;
    t->note = note;
    t->task = task;
    t->ranks = 1;
    ts_init(&t->state);
    int rc = open_run(t, a, task);
    if (rc)
        dist_abort("ablm", tg_last_error()); /* the other ranks would wait for this one */
    return rc;
}

void trainer_close(trainer *t)
{
    if (t->task && t->ctx)
        t->task->close(t->ctx);
    opt_adamw_free(&t->opt);
    ts_free(&t->state);
    tg_free(t->order);
    dist_grads_free(t->grads_sync);
    tg_free(t->ready_head);
    tg_free(t->ready_next);
    tg_free(t->param_off);
    tg_free(t->param_idx);
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
    char ws[64] = ""; /* a single-process run's file is as before: no world_size = 1 */
    if (t->ranks > 1)
        snprintf(ws, sizeof ws, "  \"world_size\": %d,\n", t->ranks);
    snprintf(text, sizeof text,
             "{\n  \"seed\": %ld,\n  \"data_seed\": %llu,\n  \"micro_batches_done\": %ld,\n"
             "%s  \"note\": \"%s\"\n}\n",
             a->seed, (unsigned long long)t->data_seed,
             t->state.global_step * a->gradient_accumulation_steps, ws, t->task->rng_note);
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

/* A log line on stdout (rank 0's only). */
static void log_line(const trainer *t, const ts_metric *m, int n)
{
    if (t->rank != 0)
        return;
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
    /* a task without eval_metrics evaluates everything on every rank and
     * names its metrics in evaluate (not sharded, nothing to add) */
    int sharded = t->task->eval_metrics != NULL;
    tr_eval r = {.shard = sharded ? t->rank : 0, .shards = sharded ? t->ranks : 1};
    int rc = t->task->evaluate(t->ctx, final, &r);
    if (!rc && sharded && t->ranks > 1) { /* the shards' totals */
        double v[TR_EVAL_SUMS + 1];
        memcpy(v, r.sum, sizeof r.sum);
        v[TR_EVAL_SUMS] = (double)r.samples;
        rc = dist_allreduce_f64(v, TR_EVAL_SUMS + 1, 0, "evaluation sums");
        if (!rc)
            rc = dist_allreduce_f64(&r.seconds, 1, 1, "evaluation time");
        memcpy(r.sum, v, sizeof r.sum);
        r.samples = (long)v[TR_EVAL_SUMS];
    }
    if (!rc && sharded)
        rc = t->task->eval_metrics(t->ctx, final, &r);
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
    log_line(t, m, k);
    *metric = best_metric_value(t, m, k);
    return ts_log_add(&t->state, m, k);
}

static void progress(trainer *t, double t0, long step, double loss, double lr, int force)
{
    static double last;
    if (t->a->disable_tqdm || t->rank != 0)
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

/* The backward hook of a data-parallel step's last micro-batch: the
 * gradients of the parameters node completes are final (every consumer of
 * a parameter comes after it in node order, and backward runs in reverse),
 * so their buckets can be reduced while backward goes on. */
static void grads_ready(void *ctx, const tg_tensor *node)
{
    trainer *t = ctx;
    if (node->id < 0 || node->id >= t->ready_cap)
        return;
    for (int i = t->ready_head[node->id]; i >= 0; i = t->ready_next[i])
        dist_grads_done(t->grads_sync, i);
    dist_grads_progress(t->grads_sync);
}

/* Index (in param_off order) of the parameter whose values start at x's,
 * or -1. */
static int param_of(const trainer *t, const tg_tensor *x)
{
    float *base = tg_params_values(t->params);
    if (!(x->flags & TG_FLAG_PARAM) || !x->grad || (float *)x->data < base)
        return -1;
    size_t off = (size_t)((float *)x->data - base);
    int lo = 0, hi = tg_params_count(t->params) - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (t->param_off[mid] == off)
            return mid;
        if (t->param_off[mid] < off)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Lists, for every node of g, the parameters whose gradient is final after
 * its backward (the first node that consumes them with a gradient), and
 * tells the buckets what to expect. Returns a status. */
static int plan_ready(trainer *t, tg_graph *g)
{
    int nn = tg_graph_nodes(g), np = tg_params_count(t->params);
    if (nn > t->ready_cap) {
        int *h = tg_realloc(t->ready_head, nn * sizeof *h, "backward hook");
        if (!h)
            return TG_ERR_NOMEM;
        t->ready_head = h;
        t->ready_cap = nn;
    }
    if (!t->ready_next && !(t->ready_next = tg_malloc((np ? np : 1) * sizeof *t->ready_next, "backward hook")))
        return TG_ERR_NOMEM;
    for (int i = 0; i < t->ready_cap; i++)
        t->ready_head[i] = -1;
    for (int i = 0; i < np; i++)
        t->ready_next[i] = -2; /* not seen */
    for (int j = 0; j < nn; j++) {
        tg_tensor *x = tg_graph_node(g, j);
        if (x->op < 0 || !(x->flags & TG_FLAG_NEEDS_GRAD))
            continue;
        for (int s = 0; s < x->nsrc; s++) {
            int i = param_of(t, x->src[s]);
            if (i < 0 || t->ready_next[i] != -2)
                continue;
            t->ready_next[i] = t->ready_head[j];
            t->ready_head[j] = i;
            dist_grads_expect(t->grads_sync, i);
        }
    }
    return TG_OK;
}

/* One optimizer step over global micro-batches [mb0, mb1) of epoch
 * `epoch`. Each global micro-batch holds per_device_train_batch_size *
 * ranks rows of the epoch's order; this rank trains on its share of them
 * (a contiguous slice; a short last batch is split as evenly as it goes),
 * with backward seeded by share / (rows * micro-batches), so that the sum
 * of the ranks' gradients, reduced in buckets during the last
 * micro-batch's backward, is the row-weighted mean. Returns a status;
 * *loss gets the step's mean loss (over the ranks). */
static int train_step(trainer *t, long epoch, long mb0, long mb1, double *loss)
{
    train_args *a = t->a;
    int nmb = (int)(mb1 - mb0), rc = TG_OK, W = t->ranks;
    long n = t->data.n_train, gbs = (long)a->per_device_train_batch_size * W, tokens = 0;
    tg_params_zero_grad(t->params);
    if (W > 1)
        dist_grads_begin(t->grads_sync);
    *loss = 0;
    for (long mb = mb0; mb < mb1 && !rc; mb++) {
        long first = mb * gbs, m = n - first < gbs ? n - first : gbs;
        long base = m / W, extra = m % W;
        long start = first + t->rank * base + (t->rank < extra ? t->rank : extra);
        int B = (int)(base + (t->rank < extra));
        float seed = W == 1 ? 1.0f / nmb : (float)((double)B / m / nmb);
        int last = mb == mb1 - 1;
        if (B == 0)
            continue; /* a short last batch left nothing to this rank */
        tr_batch b = {0};
        rc = t->task->batch(t->ctx, (epoch * t->micro_per_epoch + mb) * W + t->rank,
                            t->order + start, B, &b);
        if (!rc)
            rc = tg_forward(b.graph);
        if (!rc) {
            float l = tg_f32(b.loss)[0];
            if (!isfinite(l))
                rc = tg_error(TG_ERR_ARG, "step %ld: training loss is %g; stopping (checkpoints already written are intact)",
                              t->state.global_step + 1, l);
            if (W == 1)
                *loss += l / nmb;
            else
                *loss += (double)l * B / m / nmb;
            tokens += b.tokens;
        }
        if (!rc && W > 1 && last && t->overlap) {
            rc = plan_ready(t, b.graph);
            tg_set_backward_hook(grads_ready, t);
        }
        if (!rc)
            rc = tg_backward(b.graph, b.loss, &seed);
        tg_set_backward_hook(NULL, NULL);
    }
    if (!rc && W > 1) {
        double wait = 0, v[2] = {*loss, (double)tokens};
        rc = dist_grads_finish(t->grads_sync, &wait);
        if (!rc)
            rc = dist_allreduce_f64(v, 2, 0, "training loss");
        *loss = v[0];
        tokens = (long)v[1];
        t->allreduce_wait_s += wait;
        t->allreduce_steps++;
    }
    t->tokens_seen += tokens;
    return rc;
}

static int data_order(trainer *t, long epoch)
{
    if (t->a->group_by_length)
        return mlm_length_grouped_order(t->data_seed, epoch, t->data.train_len, t->data.n_train,
                                        t->a->per_device_train_batch_size * t->ranks, t->order);
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
            const char *kill_at = getenv("ABLM_FAULT_KILL_AT_STEP"); /* fault injection for tests */
            const char *stop_at = getenv("ABLM_FAULT_STOP_AT_STEP"); /* a hung rank */
            if (kill_at && atol(kill_at) == step + 1)
                raise(SIGKILL);
            if (stop_at && atol(stop_at) == step + 1)
                raise(SIGSTOP);
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
                log_line(t, m, 5);
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
                if (t->rank == 0)
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

static int run(trainer *t)
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
            /* rank 0 reads it (all of it is written: rank 0 wrote it) and
             * sends it to the others */
            if (t->rank == 0)
                rc = t->task->load_weights(t->ctx, t->state.best_model_checkpoint);
            if (!rc && t->ranks > 1)
                rc = dist_bcast(tg_params_values(t->params),
                                tg_params_numel(t->params) * sizeof(float), "best model");
        }
        if (!rc && t->rank == 0)
            rc = t->task->save(t->ctx, a->output_dir);
        snprintf(path, sizeof path, "%s/training_args.json", a->output_dir);
        if (!rc && t->rank == 0)
            rc = train_args_write_json(a, path);
        long steps = t->state.global_step - t->start_step;
        ts_metric m[12] = {ts_m("train_loss", t->last_loss), ts_m("epoch", t->state.epoch),
                           ts_mi("train_samples", t->data.n_train)};
        int k = 3 + ts_speed_metrics("train", t->train_seconds, steps * a->per_device_train_batch_size *
                                                                    t->ranks * a->gradient_accumulation_steps,
                                     steps, m + 3);
        m[k++] = ts_m("train_tokens_per_second",
                      t->train_seconds > 0 ? round(t->tokens_seen / t->train_seconds * 1e3) / 1e3 : 0);
        m[k++] = ts_mi("train_peak_rss_mb", peak_rss_mb());
        m[k++] = ts_mi("train_threads", tg_threads());
        if (t->ranks > 1) {
            m[k++] = ts_mi("train_ranks", t->ranks);
            m[k++] = ts_m("train_allreduce_wait_ms_per_step",
                          t->allreduce_steps ? round(t->allreduce_wait_s / t->allreduce_steps * 1e6) / 1e3 : 0);
        }
        if (!rc && t->rank == 0)
            rc = ts_save_metrics(a->output_dir, "train", m, k);
        if (!rc)
            log_line(t, m, k);
    }
    if (!rc && a->do_eval && t->data.has_eval) {
        ts_metric m[TS_MAX_METRICS];
        int k;
        rc = evaluate(t, 1, m, &k);
        if (!rc && t->rank == 0)
            rc = ts_save_metrics(a->output_dir, "eval", m, k);
        if (!rc)
            log_line(t, m, k);
    }
    if (!rc && a->do_train && t->rank == 0)
        rc = write_curve(t);
    snprintf(path, sizeof path, "%s/trainer_state.json", a->output_dir);
    if (!rc && a->do_train && t->rank == 0) /* last: marks the final save as finished (final_save_done) */
        rc = ts_write(&t->state, path);
    if (!rc)
        tr_notef(t, "model, results and loss_curve.svg are in %s", a->output_dir);
    return rc;
}

int trainer_run(trainer *t)
{
    const char *ov = getenv("ABLM_DIST_OVERLAP");
    t->overlap = !ov || strcmp(ov, "0");
    int rc = run(t);
    if (rc)
        dist_abort("ablm", tg_last_error()); /* the other ranks would wait for this one */
    return rc;
}
