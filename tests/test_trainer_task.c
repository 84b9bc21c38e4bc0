/* The generic training loop (examples/trainer.h) driving a task that is
 * not masked-LM: a linear regression with noisy targets. It learns, writes
 * the loop's records and the task's files, resumes exactly (the noise of a
 * micro-batch is a function of the micro-batch number the loop passes),
 * honours the task's is_norm for weight decay, and stops on a non-finite
 * loss. */
#include "safetensors.h"
#include "testutil.h"
#include "tg.h"
#include "tg_ops.h"
#include "train_args.h"
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTRAIN 50
#define NEVAL 20
#define DIM 4
#define MAXMICRO 512

/* Knobs of the next run, and what the task saw (set before trainer_open). */
static struct {
    int nan_row;          /* a training row whose target is NaN (-1: none) */
    int has_eval;
    long micro[MAXMICRO]; /* micro-batch numbers passed to batch, in order */
    long first_row[MAXMICRO];
    int nmicro;
    long rows_seen[NTRAIN];
} knob;

typedef struct {
    int B;
    tg_graph *g;
    tg_tensor *x, *y, *loss;
} lin_graph_entry;

typedef struct {
    tg_params *params;
    tg_tensor *w, *b, *unused, *unused_norm;
    float x[NTRAIN + NEVAL][DIM], y[NTRAIN + NEVAL];
    lin_graph_entry gr[8];
    int ngr;
} lin_ctx;

/* A graph of mean((x w^T + b - y)^2) for B rows, cached by B. */
static int lin_graph(lin_ctx *c, int B, int *out)
{
    for (int i = 0; i < c->ngr; i++)
        if (c->gr[i].B == B)
            return *out = i, TG_OK;
    if (c->ngr == 8)
        return tg_error(TG_ERR_ARG, "lin: too many batch shapes");
    tg_graph *g = tg_graph_new();
    int xs[2] = {B, DIM}, ys[2] = {B, 1};
    tg_tensor *x = tg_input(g, TG_F32, 2, xs, "x"), *y = tg_input(g, TG_F32, 2, ys, "y");
    tg_tensor *d = tg_sub(g, tg_linear(g, x, c->w, c->b), y);
    tg_tensor *loss = tg_mean(g, tg_mul(g, d, d));
    int rc = loss ? tg_graph_plan(g, loss, 0) : tg_error(TG_ERR_ARG, "%s", tg_graph_error(g));
    if (rc) {
        tg_graph_free(g);
        return rc;
    }
    c->gr[c->ngr] = (lin_graph_entry){B, g, x, y, loss};
    *out = c->ngr++;
    return TG_OK;
}

static void lin_close(void *ctx)
{
    lin_ctx *c = ctx;
    for (int i = 0; i < c->ngr; i++)
        tg_graph_free(c->gr[i].g);
    tg_params_free(c->params);
    free(c);
}

static int lin_load_weights(void *ctx, const char *dir);

static int lin_open(trainer *t, const char *checkpoint, tr_data *d)
{
    lin_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return TG_ERR_NOMEM;
    t->ctx = c;
    c->params = tg_params_new();
    int ws[2] = {1, DIM}, one = 1, two = 2;
    c->w = tg_params_add(c->params, "lin.weight", 2, ws, 1);
    c->b = tg_params_add(c->params, "lin.bias", 1, &one, 1);
    c->unused = tg_params_add(c->params, "unused.weight", 1, &two, 1);
    c->unused_norm = tg_params_add(c->params, "unused_norm.weight", 1, &two, 1);
    int rc = tg_params_alloc(c->params);
    if (rc)
        return rc;
    for (int i = 0; i < 2; i++)
        tg_f32(c->unused)[i] = tg_f32(c->unused_norm)[i] = 1;
    tg_rng r;
    tg_rng_seed(&r, 1);
    const float truth[DIM] = {0.5f, -1, 2, 0.25f};
    for (int i = 0; i < NTRAIN + NEVAL; i++) {
        c->y[i] = 0.5f;
        for (int k = 0; k < DIM; k++) {
            c->x[i][k] = (float)(2 * tg_rng_uniform(&r) - 1);
            c->y[i] += truth[k] * c->x[i][k];
        }
    }
    if (knob.nan_row >= 0)
        c->y[knob.nan_row] = NAN;
    if (checkpoint[0])
        rc = lin_load_weights(c, checkpoint);
    *d = (tr_data){NTRAIN, NULL, knob.has_eval};
    return rc;
}

static tg_params *lin_params(void *ctx) { return ((lin_ctx *)ctx)->params; }

static int lin_is_norm(void *ctx, const char *name)
{
    (void)ctx;
    return !strncmp(name, "unused_norm.", 12);
}

static int lin_save(void *ctx, const char *dir)
{
    lin_ctx *c = ctx;
    st_tensor ts[4];
    int n = tg_params_count(c->params);
    for (int i = 0; i < n; i++) {
        tg_tensor *x = tg_params_at(c->params, i);
        ts[i] = (st_tensor){x->name, ST_F32, x->ndim, x->shape, x->data};
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    return st_write(path, ts, n, NULL, 0);
}

static int lin_load_weights(void *ctx, const char *dir)
{
    lin_ctx *c = ctx;
    char path[4200];
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    st_file *f;
    int rc = st_open(path, &f);
    for (int i = 0; !rc && i < tg_params_count(c->params); i++) {
        tg_tensor *x = tg_params_at(c->params, i);
        rc = st_read_f32(f, x->name, tg_f32(x), x->numel);
    }
    if (f)
        st_close(f);
    return rc;
}

static int lin_batch(void *ctx, long micro, const long *rows, int n, tr_batch *out)
{
    lin_ctx *c = ctx;
    int k = 0, rc = lin_graph(c, n, &k);
    if (rc)
        return rc;
    if (knob.nmicro < MAXMICRO) {
        knob.micro[knob.nmicro] = micro;
        knob.first_row[knob.nmicro++] = rows[0];
    }
    tg_rng r; /* target noise: a function of the micro-batch only */
    tg_rng_seed(&r, 1000 + (uint64_t)micro);
    float *x = tg_f32(c->gr[k].x), *y = tg_f32(c->gr[k].y);
    for (int i = 0; i < n; i++) {
        ck_assert(rows[i] >= 0 && rows[i] < NTRAIN);
        knob.rows_seen[rows[i]]++;
        memcpy(x + i * DIM, c->x[rows[i]], sizeof c->x[0]);
        y[i] = c->y[rows[i]] + 0.01f * (float)tg_rng_normal(&r);
    }
    *out = (tr_batch){c->gr[k].g, c->gr[k].loss, n * DIM};
    return TG_OK;
}

static int lin_evaluate(void *ctx, int final, tr_eval *io)
{
    (void)final;
    lin_ctx *c = ctx;
    double se = 0;
    for (int i = NTRAIN; i < NTRAIN + NEVAL; i++) {
        double p = tg_f32(c->b)[0] - c->y[i];
        for (int k = 0; k < DIM; k++)
            p += tg_f32(c->w)[k] * c->x[i][k];
        se += p * p;
    }
    io->sum[0] = se;
    io->nsum = 1;
    io->samples = NEVAL;
    io->seconds = 0.001;
    return TG_OK;
}

static int lin_eval_metrics(void *ctx, int final, tr_eval *io)
{
    (void)ctx;
    io->m[0] = ts_m("eval_loss", io->sum[0] / io->samples);
    io->m[1] = ts_m(final ? "rmse" : "eval_rmse", sqrt(io->sum[0] / io->samples));
    io->n = 2;
    return TG_OK;
}

/* The contract without eval_metrics: evaluate names the metrics itself
 * over the whole set (what a task not written for sharding does). */
static int lin_evaluate_whole(void *ctx, int final, tr_eval *io)
{
    ck_assert_int_eq(io->shard, 0);
    ck_assert_int_eq(io->shards, 1);
    int rc = lin_evaluate(ctx, final, io);
    if (!rc) {
        rc = lin_eval_metrics(ctx, final, io);
        io->nsum = 0;
    }
    return rc;
}

static const tr_task lin_task = {
    .curve_title = "test: regression loss",
    .rng_note = "data order and target noise are functions of (seed, epoch, micro-batch)",
    .open = lin_open,
    .close = lin_close,
    .params = lin_params,
    .is_norm = lin_is_norm,
    .save = lin_save,
    .load_weights = lin_load_weights,
    .batch = lin_batch,
    .evaluate = lin_evaluate,
    .eval_metrics = lin_eval_metrics,
};

static const tr_task lin_task_whole = {
    .curve_title = "test: regression loss",
    .rng_note = "data order and target noise are functions of (seed, epoch, micro-batch)",
    .open = lin_open,
    .close = lin_close,
    .params = lin_params,
    .is_norm = lin_is_norm,
    .save = lin_save,
    .load_weights = lin_load_weights,
    .batch = lin_batch,
    .evaluate = lin_evaluate_whole,
};

static char *tmp;
static char last_note[2048];
static void note(const char *msg) { snprintf(last_note, sizeof last_note, "%s", msg); }

/* Opens and runs the loop on lin_task with flags (space-separated, after
 * --output_dir DIR); returns the first failing status. The task makes its
 * own rows: --train_file only satisfies the flag check. */
static const tr_task *run_task = &lin_task;
static int run(const char *dir, const char *flags, int nan_row, int has_eval)
{
    static train_args a;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "train --train_file unused --output_dir %s --disable_tqdm --threads 1 %s", dir, flags);
    char *argv[64];
    int argc = 0;
    for (char *p = strtok(cmd, " "); p && argc < 63; p = strtok(NULL, " "))
        argv[argc++] = p;
    train_args_defaults(&a);
    ck_assert_msg(train_args_parse(&a, argc, argv) == TG_OK, "%s", tg_last_error());
    memset(&knob, 0, sizeof knob);
    knob.nan_row = nan_row;
    knob.has_eval = has_eval;
    trainer t;
    int rc = trainer_open(&t, &a, run_task, note);
    if (!rc)
        rc = trainer_run(&t);
    trainer_close(&t);
    return rc;
}

__attribute__((noinline)) static char *slurp(const char *dir, const char *name)
{
    char path[1024];
    char *text = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = st_read_text(path, 1 << 22, &text, NULL);
    ck_assert_msg(rc == TG_OK, "%s", tg_last_error());
    return text;
}

static int exists(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Values of the weights file in dir: lin.weight, lin.bias, unused, unused_norm. */
static void weights(const char *dir, float out[DIM + 5])
{
    char path[1024];
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    st_file *f;
    ck_assert_int_eq(st_open(path, &f), TG_OK);
    ck_assert_int_eq(st_read_f32(f, "lin.weight", out, DIM), TG_OK);
    ck_assert_int_eq(st_read_f32(f, "lin.bias", out + DIM, 1), TG_OK);
    ck_assert_int_eq(st_read_f32(f, "unused.weight", out + DIM + 1, 2), TG_OK);
    ck_assert_int_eq(st_read_f32(f, "unused_norm.weight", out + DIM + 3, 2), TG_OK);
    st_close(f);
}

static const char *common = "--per_device_train_batch_size 8 --gradient_accumulation_steps 2 "
                            "--learning_rate 0.2 --weight_decay 0.1 --warmup_steps 2 --logging_steps 1 "
                            "--eval_strategy steps --eval_steps 10 --save_steps 10 --max_steps 40 --seed 3";

START_TEST(loop_trains_a_task)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/trains", tmp);
    char flags[1024];
    snprintf(flags, sizeof flags, "%s --do_eval", common);
    ck_assert_msg(run(dir, flags, -1, 1) == TG_OK, "%s", tg_last_error());
    /* 50 rows of batch 8: 7 micro-batches an epoch, 4 steps (the last has
     * one micro-batch); 40 steps = 10 epochs of 7 micro-batches */
    ck_assert_int_eq(knob.nmicro, 70);
    for (int i = 0; i < knob.nmicro; i++)
        ck_assert_int_eq(knob.micro[i], i);
    for (int r = 0; r < NTRAIN; r++)
        ck_assert_int_eq(knob.rows_seen[r], 10); /* every row once an epoch */
    int differs = 0;
    for (int e = 1; e < 10; e++)
        differs += knob.first_row[7 * e] != knob.first_row[0];
    ck_assert_int_gt(differs, 0); /* each epoch has its own order */
    /* it learned: the targets' variance is 1.77 (sum of truth^2 / 3), the
     * noise alone leaves 1e-4 */
    char *res = slurp(dir, "eval_results.json");
    const char *p = strstr(res, "\"eval_loss\": ");
    ck_assert_ptr_nonnull(p);
    double loss = atof(p + 13);
    printf("regression eval_loss after 40 steps: %g\n", loss);
    ck_assert_double_lt(loss, 0.05);
    ck_assert_ptr_nonnull(strstr(res, "\"rmse\": "));
    ck_assert_ptr_nonnull(strstr(res, "\"eval_runtime\": "));
    free(res);
    res = slurp(dir, "train_results.json");
    ck_assert_ptr_nonnull(strstr(res, "\"train_samples\": 50"));
    ck_assert_ptr_nonnull(strstr(res, "\"train_tokens_per_second\""));
    free(res);
    res = slurp(dir, "trainer_state.json");
    ck_assert_ptr_nonnull(strstr(res, "\"eval_rmse\": "));
    ck_assert_ptr_nonnull(strstr(res, "\"num_input_tokens_seen\": 2000")); /* 10 x 50 rows x 4 */
    free(res);
    res = slurp(dir, "loss_curve.svg");
    ck_assert_ptr_nonnull(strstr(res, "test: regression loss"));
    free(res);
    char ck[700];
    snprintf(ck, sizeof ck, "%s/checkpoint-20", dir);
    res = slurp(ck, "rng_state.json");
    ck_assert_ptr_nonnull(strstr(res, lin_task.rng_note));
    free(res);
    ck_assert(exists(ck, "optimizer.safetensors") && exists(ck, "weights.safetensors") &&
              exists(ck, "trainer_state.json") && exists(ck, "scheduler.json"));
    /* weight decay: unused.weight (no gradient) shrinks, the parameter the
     * task calls a norm does not move at all */
    float w[DIM + 5];
    weights(dir, w);
    ck_assert_float_lt(w[DIM + 1], 0.99f);
    ck_assert_float_eq(w[DIM + 3], 1.0f);
    ck_assert_float_eq(w[DIM + 4], 1.0f);
}
END_TEST

/* A task without eval_metrics (evaluate names its metrics) gives the same
 * evaluations as the two-call contract. */
START_TEST(eval_without_eval_metrics)
{
    char d1[600], d2[600], flags[1024];
    snprintf(d1, sizeof d1, "%s/eval_two_calls", tmp);
    snprintf(d2, sizeof d2, "%s/eval_one_call", tmp);
    snprintf(flags, sizeof flags, "%s --do_eval", common);
    ck_assert_msg(run(d1, flags, -1, 1) == TG_OK, "%s", tg_last_error());
    run_task = &lin_task_whole;
    int rc = run(d2, flags, -1, 1);
    run_task = &lin_task;
    ck_assert_msg(rc == TG_OK, "%s", tg_last_error());
    char p1[700], p2[700];
    snprintf(p1, sizeof p1, "%s/eval_results.json", d1);
    snprintf(p2, sizeof p2, "%s/eval_results.json", d2);
    ck_assert(tu_json_number(p1, "eval_loss") == tu_json_number(p2, "eval_loss"));
    ck_assert(tu_json_number(p1, "rmse") == tu_json_number(p2, "rmse"));
    ck_assert(tu_json_number(p1, "eval_loss") > 0);
}
END_TEST

START_TEST(resume_is_exact_for_a_task)
{
    char a[600], b[600], flags[1400];
    snprintf(a, sizeof a, "%s/straight", tmp);
    snprintf(b, sizeof b, "%s/resumed", tmp);
    ck_assert_msg(run(a, common, -1, 1) == TG_OK, "%s", tg_last_error());
    long micro_a[MAXMICRO], first_a[MAXMICRO];
    int na = knob.nmicro;
    memcpy(micro_a, knob.micro, sizeof micro_a);
    memcpy(first_a, knob.first_row, sizeof first_a);
    /* from the state after 30 of the 40 steps (the middle of an epoch) */
    snprintf(flags, sizeof flags, "%s --resume_from_checkpoint %s/checkpoint-30", common, a);
    ck_assert_msg(run(b, flags, -1, 1) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(knob.nmicro, na - 53); /* 30 steps: 7 epochs of 7 + 2 steps of 2 */
    for (int i = 0; i < knob.nmicro; i++) {
        ck_assert_int_eq(knob.micro[i], micro_a[53 + i]);
        ck_assert_int_eq(knob.first_row[i], first_a[53 + i]);
    }
    char *sa = slurp(a, "trainer_state.json"), *sb = slurp(b, "trainer_state.json");
    const char *ha = strstr(sa, "\"step\": 31"), *hb = strstr(sb, "\"step\": 31");
    ck_assert_ptr_nonnull(ha);
    ck_assert_ptr_nonnull(hb);
    /* the log entries of the steps after the resume, byte for byte, up to
     * the first timing field */
    const char *ea = strstr(ha, "eval_runtime"), *eb = strstr(hb, "eval_runtime");
    ck_assert_ptr_nonnull(ea);
    ck_assert_int_eq(ea - ha, eb - hb);
    ck_assert_int_eq(memcmp(ha, hb, ea - ha), 0);
    free(sa);
    free(sb);
    float wa[DIM + 5], wb[DIM + 5];
    weights(a, wa);
    weights(b, wb);
    ck_assert_int_eq(memcmp(wa, wb, sizeof wa), 0);
}
END_TEST

START_TEST(loop_refuses_and_stops)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/nan", tmp);
    ck_assert_int_eq(run(dir, "--max_steps 5 --per_device_train_batch_size 50", 7, 0), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "step 1: training loss is nan"));
    snprintf(dir, sizeof dir, "%s/nolen", tmp);
    ck_assert_int_eq(run(dir, "--max_steps 5 --group_by_length", -1, 0), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "--group_by_length"));
    snprintf(dir, sizeof dir, "%s/noeval", tmp);
    ck_assert_int_eq(run(dir, "--max_steps 5 --do_eval", -1, 0), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "evaluation needs --validation_file"));
}
END_TEST

int main(void)
{
    tmp = tu_tmpdir();
    Suite *s = suite_create("trainer_task");
    TCase *tc = tcase_create("trainer_task");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, loop_trains_a_task);
    tcase_add_test(tc, resume_is_exact_for_a_task);
    tcase_add_test(tc, eval_without_eval_metrics);
    tcase_add_test(tc, loop_refuses_and_stops);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd))
        rc = 1;
    free(tmp);
    return rc;
}
