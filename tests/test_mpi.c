/* Data-parallel training on MPI (examples/dist.c, docs/distributed.md),
 * through `mpirun --allow-run-as-root --oversubscribe -np 2 ablm ...`:
 *
 * - 2 ranks x batch 8 train as 1 rank x batch 16 (train-clm on grouped
 *   blocks, dropout off: nothing random in a batch), within the tolerance
 *   of the reduction order (TOL_REL below);
 * - a 2-rank run resumes exactly from its checkpoint; a different rank
 *   count is refused with a message naming the one to use;
 * - sharded evaluation sums to the single-process evaluation;
 * - a rank killed mid-run, a rank that fails, and a rank that hangs all
 *   end the job non-zero within a bounded time, leaving only complete
 *   checkpoints, from which the run resumes to the uninterrupted result.
 *
 * The tolerance. The two runs compute the same float32 sums in different
 * orders: one rank's weight gradient dW = X^T dY adds 16 * T row products
 * inside one GEMM; two ranks add 8 * T in each, then the all-reduce adds
 * the two halves (scaled by 1/2, which is exact). Each regrouping of a sum
 * of n terms moves it by at most about n * 2^-24 of the sum of magnitudes,
 * and typically sqrt(n) * 2^-24 ~ 1e-6 relative for n = 256; AdamW's
 * update m / sqrt(v) is invariant to the gradient's scale, so a relative
 * gradient change carries into the update at the same relative size times
 * the learning rate, and over 20 steps it stays far below 1e-5 (measured:
 * grad norms agree to 2e-7 relative, train_loss to 3e-9). TOL_REL = 1e-5
 * on unrounded numbers (grad_norm, train_loss) and on the weights (max
 * |a - b| / (1 + |a|)); the logged losses are rounded to 4 decimals by the
 * Trainer's format, so they may differ by one unit there (1e-4). */
#include "dist.h"
#include "safetensors.h"
#include "testutil.h"
#include "tg.h"
#include "train_state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOL_REL 1e-5
#define STEPS 20

static char *tmp;
static char ablm[1024], fixture[1024], mpirun[64] = "mpirun --allow-run-as-root --oversubscribe";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Runs a shell command (printf-style) under `timeout`; returns its exit
 * status (124: timed out), *seconds (optional) the wall time. */
static int sh(double *seconds, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(double *seconds, const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(cmd, sizeof cmd, "timeout -k 5 240 ");
    vsnprintf(cmd + n, sizeof cmd - n, fmt, ap);
    va_end(ap);
    double t0 = now();
    int st = system(cmd);
    if (seconds)
        *seconds = now() - t0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* 0 when the suite can run; else skips the case (built without MPI). */
static int setup(const char *test)
{
    if (!dist_built()) {
        tu_skip(test, "ablm was built without MPI (libopenmpi-dev not found by CMake)");
        return 1;
    }
    if (!tmp) {
        tmp = tu_tmpdir();
        const char *b = getenv("ABLM_BUILD_DIR");
        ck_assert_msg(b, "ABLM_BUILD_DIR is not set (run through ctest)");
        snprintf(ablm, sizeof ablm, "%s/ablm", b);
        snprintf(fixture, sizeof fixture, "%s/tests/fixtures/learn_replay/train.txt", tu_source_dir());
        ck_assert_msg(sh(NULL, "%s -np 1 true", mpirun) == 0, "mpirun does not run (openmpi-bin)");
        /* Open MPI's own allocations stay live at exit: no leak report
         * from them in the sanitizer build (ours are checked by the
         * single-process suites) */
        if (getenv("ABLM_SANITIZED"))
            setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        /* GPT-2 tiny without dropout: a batch is a function of its rows */
        char cfg[2048], *text, *p;
        snprintf(cfg, sizeof cfg, "%s/configs/light_gpt_tiny.json", tu_source_dir());
        text = tu_read_file(cfg);
        while ((p = strstr(text, "_pdrop\": 0.1")))
            p[11] = '0';
        snprintf(cfg, sizeof cfg, "%s/gpt_nodrop.json", tmp);
        FILE *f = fopen(cfg, "w");
        fputs(text, f);
        fclose(f);
        free(text);
    }
    return 0;
}

/* Common flags of the masked-LM runs (heavy_tiny with its dropout). */
static void mlm_flags(char *buf, size_t n, const char *out, int save_steps)
{
    snprintf(buf, n,
             "train --config_name '%s/configs/heavy_tiny.json' --train_file '%s' --output_dir '%s' "
             "--per_device_train_batch_size 4 --max_steps %d --logging_steps 1 --save_steps %d "
             "--max_seq_length 24 --learning_rate 1e-3 --threads 1 --disable_tqdm --do_train",
             tu_source_dir(), fixture, out, STEPS, save_steps);
}

/* grad_norm of every logged training step of DIR into g; returns how many. */
static int grad_norms(const char *dir, double *g, int max)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    ts_state s;
    ck_assert_msg(ts_read(&s, path) == TG_OK, "%s", tg_last_error());
    int n = 0;
    for (int i = 0; i < s.nlog && n < max; i++) {
        const ts_metric *m = ts_log_get(&s.log[i], "grad_norm");
        if (m)
            g[n++] = m->v;
    }
    ts_free(&s);
    return n;
}

/* max |a - b| / (1 + |a|) over every tensor of two model.safetensors. */
static double weights_diff(const char *da, const char *db)
{
    char pa[1100], pb[1100];
    snprintf(pa, sizeof pa, "%s/model.safetensors", da);
    snprintf(pb, sizeof pb, "%s/model.safetensors", db);
    st_file *a, *b;
    ck_assert_msg(st_open(pa, &a) == TG_OK, "%s", tg_last_error());
    ck_assert_msg(st_open(pb, &b) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(st_count(a), st_count(b));
    double worst = 0;
    for (int i = 0; i < st_count(a); i++) {
        const char *name = st_at(a, i)->name;
        float *u, *v;
        size_t nu, nv;
        ck_assert_msg(st_load_f32(a, name, &u, &nu) == TG_OK, "%s", tg_last_error());
        ck_assert_msg(st_load_f32(b, name, &v, &nv) == TG_OK, "%s", tg_last_error());
        ck_assert_uint_eq(nu, nv);
        for (size_t k = 0; k < nu; k++) {
            double d = fabs((double)u[k] - v[k]) / (1 + fabs(u[k]));
            if (d > worst)
                worst = d;
        }
        tg_free(u);
        tg_free(v);
    }
    st_close(a);
    st_close(b);
    return worst;
}

/* 1 rank x 16 and 2 ranks x 8 (extra flags `more`, `steps` steps): the
 * same grad norms and weights within TOL_REL. */
static void same_as_one_rank(const char *name, const char *more, int steps)
{
    char flags[8192], one[1024], two[1024];
    snprintf(one, sizeof one, "%s/%s1", tmp, name);
    snprintf(two, sizeof two, "%s/%s2", tmp, name);
    snprintf(flags, sizeof flags,
             "train-clm --config_name '%s/gpt_nodrop.json' --train_file '%s' --max_steps %d "
             "--logging_steps 1 --save_steps 100 --max_seq_length 16 --learning_rate 1e-3 "
             "--threads 1 --disable_tqdm --do_train %s",
             tmp, fixture, steps, more);
    ck_assert_int_eq(sh(NULL, "'%s' %s --output_dir '%s' --per_device_train_batch_size 16 >'%s.log' 2>&1",
                        ablm, flags, one, one), 0);
    ck_assert_int_eq(sh(NULL, "%s -np 2 '%s' %s --output_dir '%s' --per_device_train_batch_size 8 >'%s.log' 2>&1",
                        mpirun, ablm, flags, two, two), 0);
    double g1[64], g2[64];
    ck_assert_int_eq(grad_norms(one, g1, 64), steps);
    ck_assert_int_eq(grad_norms(two, g2, 64), steps);
    for (int i = 0; i < steps; i++)
        ck_assert_msg(fabs(g1[i] - g2[i]) <= TOL_REL * g1[i], "%s: step %d: grad_norm %.9g vs %.9g", name,
                      i + 1, g1[i], g2[i]);
    double w = weights_diff(one, two);
    ck_assert_msg(w <= TOL_REL, "%s: saved weights differ by %g", name, w);
}

START_TEST(two_ranks_train_as_one)
{
    if (setup("two_ranks_train_as_one"))
        return;
    char flags[8192], one[1024], two[1024];
    snprintf(one, sizeof one, "%s/clm1", tmp);
    snprintf(two, sizeof two, "%s/clm2", tmp);
    snprintf(flags, sizeof flags,
             "train-clm --config_name '%s/gpt_nodrop.json' --train_file '%s' --max_steps %d "
             "--logging_steps 1 --save_steps 100 --max_seq_length 16 --learning_rate 1e-3 "
             "--threads 1 --disable_tqdm --do_train",
             tmp, fixture, STEPS);
    ck_assert_int_eq(sh(NULL, "'%s' %s --output_dir '%s' --per_device_train_batch_size 16 >'%s.log' 2>&1",
                        ablm, flags, one, one), 0);
    ck_assert_int_eq(sh(NULL, "%s -np 2 '%s' %s --output_dir '%s' --per_device_train_batch_size 8 >'%s.log' 2>&1",
                        mpirun, ablm, flags, two, two), 0);
    char log[1200];
    snprintf(log, sizeof log, "%s.log", two);
    char *text = tu_read_file(log);
    ck_assert_msg(strstr(text, "global batch 16 = per_device_train_batch_size 8 x 2 ranks x gradient_accumulation_steps 1"),
                  "%s", text);
    ck_assert_msg(!strstr(text, "rank 1"), "only rank 0 reports: %s", text);
    free(text);
    double l1[64], l2[64], g1[64], g2[64];
    ck_assert_int_eq(tu_step_losses(one, l1, 64), STEPS);
    ck_assert_int_eq(tu_step_losses(two, l2, 64), STEPS);
    ck_assert_int_eq(grad_norms(one, g1, 64), STEPS);
    ck_assert_int_eq(grad_norms(two, g2, 64), STEPS);
    for (int i = 0; i < STEPS; i++) {
        ck_assert_msg(fabs(l1[i] - l2[i]) <= 1e-4 + TOL_REL * fabs(l1[i]), "step %d: loss %g vs %g",
                      i + 1, l1[i], l2[i]);
        ck_assert_msg(fabs(g1[i] - g2[i]) <= TOL_REL * g1[i], "step %d: grad_norm %.9g vs %.9g", i + 1,
                      g1[i], g2[i]);
    }
    char p1[1100], p2[1100];
    snprintf(p1, sizeof p1, "%s/train_results.json", one);
    snprintf(p2, sizeof p2, "%s/train_results.json", two);
    double t1 = tu_json_number(p1, "train_loss"), t2 = tu_json_number(p2, "train_loss");
    ck_assert_msg(fabs(t1 - t2) <= TOL_REL * t1, "train_loss %.9g vs %.9g", t1, t2);
    ck_assert_int_eq((int)tu_json_number(p2, "train_ranks"), 2);
    double w = weights_diff(one, two);
    ck_assert_msg(w <= TOL_REL, "saved weights differ by %g", w);
    /* buckets of 1 KB (a dozen or more, reduced while backward goes on) and no
     * overlap (every bucket after backward) sum the same two numbers per
     * element: the same bits as one bucket */
    char b2[1100], b3[1100], a[1200], b[1200];
    snprintf(b2, sizeof b2, "%s/clm2_buckets", tmp);
    snprintf(b3, sizeof b3, "%s/clm2_no_overlap", tmp);
    ck_assert_int_eq(sh(NULL, "%s -np 2 '%s' %s --output_dir '%s' --per_device_train_batch_size 8 --ddp_bucket_cap_mb 0.001 >'%s.log' 2>&1",
                        mpirun, ablm, flags, b2, b2), 0);
    ck_assert_int_eq(sh(NULL, "env ABLM_DIST_OVERLAP=0 %s -np 2 '%s' %s --output_dir '%s' --per_device_train_batch_size 8 >'%s.log' 2>&1",
                        mpirun, ablm, flags, b3, b3), 0);
    snprintf(log, sizeof log, "%s.log", b2);
    text = tu_read_file(log);
    int nb = 0;
    const char *p = strstr(text, "gradients all-reduced in ");
    ck_assert_msg(p && sscanf(p, "gradients all-reduced in %d bucket", &nb) == 1 && nb >= 10, "%s", text);
    free(text);
    snprintf(a, sizeof a, "%s/model.safetensors", two);
    snprintf(b, sizeof b, "%s/model.safetensors", b2);
    ck_assert_msg(tu_same_file(a, b), "%d buckets changed the result", nb);
    snprintf(b, sizeof b, "%s/model.safetensors", b3);
    ck_assert_msg(tu_same_file(a, b), "reducing after backward changed the result");
    /* 17 rows, accumulation 2: every step's second global micro-batch is
     * 1 row, which rank 0 trains alone (rank 1 adds zeros); each step is
     * an epoch */
    same_as_one_rank("short", "--max_train_samples 17 --gradient_accumulation_steps 2", 6);
}
END_TEST

/* A reference 2-rank masked-LM run (dropout and masks on), checkpoints
 * every 2 steps. */
static const char *mlm_reference(void)
{
    static char ref[1024];
    if (ref[0])
        return ref;
    snprintf(ref, sizeof ref, "%s/mlm_ref", tmp);
    char flags[8192];
    mlm_flags(flags, sizeof flags, ref, 2);
    ck_assert_int_eq(sh(NULL, "%s -np 2 '%s' %s >'%s.log' 2>&1", mpirun, ablm, flags, ref), 0);
    return ref;
}

START_TEST(resume_same_ranks_exact)
{
    if (setup("resume_same_ranks_exact"))
        return;
    const char *ref = mlm_reference();
    char out[1024], flags[8192], path[2048];
    snprintf(out, sizeof out, "%s/mlm_resume", tmp);
    ck_assert_int_eq(sh(NULL, "mkdir -p '%s' && cp -r '%s/checkpoint-10' '%s/'", out, ref, out), 0);
    snprintf(path, sizeof path, "%s/checkpoint-10/rng_state.json", out);
    long ws = 0;
    ck_assert_int_eq(ts_read_world_size(path, &ws), TG_OK);
    ck_assert_int_eq(ws, 2);
    mlm_flags(flags, sizeof flags, out, 2);
    /* one process may not resume a 2-rank checkpoint */
    ck_assert_int_eq(sh(NULL, "'%s' %s >'%s.log1' 2>&1", ablm, flags, out), 1);
    snprintf(path, sizeof path, "%s.log1", out);
    char *text = tu_read_file(path);
    ck_assert_msg(strstr(text, "was written by a run on 2 ranks, this run has 1") &&
                      strstr(text, "mpirun -np 2"),
                  "%s", text);
    free(text);
    ck_assert_int_eq(sh(NULL, "%s -np 2 '%s' %s >'%s.log' 2>&1", mpirun, ablm, flags, out), 0);
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/model.safetensors", ref);
    snprintf(b, sizeof b, "%s/model.safetensors", out);
    ck_assert_msg(tu_same_file(a, b), "resumed 2-rank run differs from the uninterrupted one");
    double la[64], lb[64];
    ck_assert_int_eq(tu_step_losses(ref, la, 64), STEPS);
    ck_assert_int_eq(tu_step_losses(out, lb, 64), STEPS);
    for (int i = 0; i < STEPS; i++)
        ck_assert_msg(la[i] == lb[i], "step %d: %g vs %g", i + 1, la[i], lb[i]);
    /* a 1-process checkpoint is refused by 2 ranks */
    char one[1024];
    snprintf(one, sizeof one, "%s/mlm_one", tmp);
    mlm_flags(flags, sizeof flags, one, 10);
    ck_assert_int_eq(sh(NULL, "'%s' %s --max_steps 10 >'%s.log' 2>&1", ablm, flags, one), 0);
    ck_assert_int_eq(sh(NULL, "%s -np 2 '%s' %s --max_steps 12 >'%s.log2' 2>&1", mpirun, ablm, flags, one) != 0, 1);
    snprintf(path, sizeof path, "%s.log2", one);
    text = tu_read_file(path);
    ck_assert_msg(strstr(text, "was written by a run on 1 rank, this run has 2"), "%s", text);
    free(text);
}
END_TEST

START_TEST(sharded_eval_sums)
{
    if (setup("sharded_eval_sums"))
        return;
    const char *ref = mlm_reference();
    char e1[1024], e2[1024], flags[8192];
    snprintf(e1, sizeof e1, "%s/eval1", tmp);
    snprintf(e2, sizeof e2, "%s/eval2", tmp);
    /* 71 blocks of 24 tokens in batches of 4: 18 batches, 9 per rank, the last one short */
    snprintf(flags, sizeof flags,
             "train --model_name_or_path '%s' --validation_file '%s' --do_eval --max_seq_length 24 "
             "--per_device_eval_batch_size 4 --do_train false --threads 1 --disable_tqdm",
             ref, fixture);
    ck_assert_int_eq(sh(NULL, "'%s' %s --output_dir '%s' >'%s.log' 2>&1", ablm, flags, e1, e1), 0);
    ck_assert_int_eq(sh(NULL, "%s -np 2 '%s' %s --output_dir '%s' >'%s.log' 2>&1", mpirun, ablm, flags, e2, e2), 0);
    char p1[1100], p2[1100];
    snprintf(p1, sizeof p1, "%s/eval_results.json", e1);
    snprintf(p2, sizeof p2, "%s/eval_results.json", e2);
    ck_assert_int_eq((long)tu_json_number(p1, "eval_samples"), 71);
    ck_assert_int_eq((long)tu_json_number(p2, "eval_samples"), 71);
    ck_assert_int_eq((long)tu_json_number(p1, "eval_masked_tokens"), (long)tu_json_number(p2, "eval_masked_tokens"));
    double a = tu_json_number(p1, "eval_loss"), b = tu_json_number(p2, "eval_loss");
    /* the same float sums of the same batches, added in another order */
    ck_assert_msg(fabs(a - b) <= 1e-12 * a, "eval_loss %.17g vs %.17g", a, b);
    ck_assert(tu_json_number(p1, "eval_accuracy") == tu_json_number(p2, "eval_accuracy"));
}
END_TEST

/* Every checkpoint-STEP directory of dir is complete: its files are there
 * and its trainer_state.json is at STEP. Returns how many there are. */
static int complete_checkpoints(const char *dir)
{
    long *steps;
    int n;
    ck_assert_int_eq(ts_list_checkpoints(dir, &steps, &n), TG_OK);
    const char *files[] = {"model.safetensors", "optimizer.safetensors", "scheduler.json",
                           "rng_state.json", "training_args.json", "trainer_state.json",
                           "config.json"};
    for (int i = 0; i < n; i++) {
        char path[2048];
        for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
            snprintf(path, sizeof path, "%s/checkpoint-%ld/%s", dir, steps[i], files[k]);
            ck_assert_msg(access(path, R_OK) == 0, "%s missing", path);
        }
        snprintf(path, sizeof path, "%s/checkpoint-%ld/trainer_state.json", dir, steps[i]);
        ts_state s;
        ck_assert_msg(ts_read(&s, path) == TG_OK, "%s", tg_last_error());
        ck_assert_int_eq(s.global_step, steps[i]);
        ts_free(&s);
    }
    tg_free(steps);
    return n;
}

/* A 2-rank run where rank 0 runs with the environment assignment env0,
 * rank 1 with env1, both with the extra flags flags and rank 1 also with
 * flags1: ends non-zero within
 * `limit` seconds, and its output has `expect`. Then the same run resumes
 * from what is left and ends as the reference run. */
static void failing_rank(const char *name, const char *env0, const char *env1, const char *both,
                         const char *flags1, const char *expect, double limit)
{
    const char *ref = mlm_reference();
    char out[1024], flags[8192], path[2048];
    snprintf(out, sizeof out, "%s/%s", tmp, name);
    mlm_flags(flags, sizeof flags, out, 2);
    double secs;
    int st = sh(&secs, "%s -np 1 env %s '%s' %s %s : -np 1 env %s '%s' %s %s %s >'%s.log' 2>&1", mpirun,
                env0, ablm, flags, both, env1, ablm, flags, both, flags1, out);
    snprintf(path, sizeof path, "%s.log", out);
    char *text = tu_read_file(path);
    ck_assert_msg(st != 0 && st != 124, "%s: exit %d: %s", name, st, text);
    ck_assert_msg(secs < limit, "%s: took %.1f s", name, secs);
    ck_assert_msg(strstr(text, expect), "%s: no '%s' in: %s", name, expect, text);
    free(text);
    complete_checkpoints(out);
    /* what is left resumes to the uninterrupted result */
    ck_assert_int_eq(sh(NULL, "%s -np 2 '%s' %s >>'%s.log' 2>&1", mpirun, ablm, flags, out), 0);
    ck_assert_int_eq(complete_checkpoints(out), STEPS / 2);
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/model.safetensors", ref);
    snprintf(b, sizeof b, "%s/model.safetensors", out);
    ck_assert_msg(tu_same_file(a, b), "%s: resumed run differs from the uninterrupted one", name);
}

START_TEST(rank_killed)
{
    if (setup("rank_killed"))
        return;
    failing_rank("killed", "A=0", "ABLM_FAULT_KILL_AT_STEP=9", "", "", "rank 1 with PID", 60);
    char path[1100];
    snprintf(path, sizeof path, "%s/killed/checkpoint-8", tmp);
    ck_assert_msg(access(path, F_OK) == 0, "the last checkpoint before the kill is kept");
}
END_TEST

START_TEST(writer_killed_in_save)
{
    if (setup("writer_killed_in_save"))
        return;
    /* rank 0, the one writing checkpoints, dies inside checkpoint-6's
     * save: its temporary directory is no checkpoint, checkpoint-4 is */
    failing_rank("writer", "ABLM_FAULT_KILL_IN_SAVE=6", "A=1", "", "", "rank 0 with PID", 60);
}
END_TEST

START_TEST(rank_fails)
{
    if (setup("rank_fails"))
        return;
    /* rank 1 cannot open its training file: it reports and ends the job */
    failing_rank("fails", "A=0", "A=1", "", "--train_file /nonexistent/train.txt",
                 "rank 1 of 2: train_file: /nonexistent/train.txt: cannot open", 60);
}
END_TEST

START_TEST(rank_hangs)
{
    if (setup("rank_hangs"))
        return;
    /* rank 1 stops (SIGSTOP) at step 5: rank 0's watchdog gives up after
     * --ddp_timeout seconds and ends the job */
    failing_rank("hangs", "A=0", "ABLM_FAULT_STOP_AT_STEP=5", "--ddp_timeout 5", "",
                 "did not complete within 5 s (--ddp_timeout)", 60);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mpi");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, two_ranks_train_as_one);
    tcase_add_test(tc, resume_same_ranks_exact);
    tcase_add_test(tc, sharded_eval_sums);
    tcase_add_test(tc, rank_killed);
    tcase_add_test(tc, writer_killed_in_save);
    tcase_add_test(tc, rank_fails);
    tcase_add_test(tc, rank_hangs);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
