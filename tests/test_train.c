/* ablm train end to end: learning on real heavy chains, exact resume,
 * atomic checkpoints under a kill, and bad input. */
#include "commands.h"
#include "reader.h"
#include "testutil.h"
#include "tg.h"
#include "train_state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *tmp;
static char train_path[512], val_path[512];
static double unigram_entropy; /* nats, of residues in the train file */

/* Writes train/val files of real heavy chains (first files of the shared
 * data) and the residue unigram entropy. Returns 0 when data is absent. */
static int make_data(void)
{
    const char *oas = tu_oas_dir();
    if (!oas)
        return 0;
    if (train_path[0])
        return 1;
    tmp = tu_tmpdir();
    snprintf(train_path, sizeof train_path, "%s/train.txt", tmp);
    snprintf(val_path, sizeof val_path, "%s/val.txt", tmp);
    char path[4096];
    snprintf(path, sizeof path, "%s/SRR12875350_1_Paired_All.csv.gz", oas);
    rd_opts o;
    rd_opts_default(&o);
    char **ids, **seqs;
    size_t n;
    ck_assert_msg(rd_read_all(path, &o, &ids, &seqs, &n, NULL) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_gt(n, 1500);
    FILE *ft = fopen(train_path, "w"), *fv = fopen(val_path, "w");
    long count[26] = {0}, total = 0;
    for (size_t i = 0; i < 1500; i++) {
        fprintf(i < 1300 ? ft : fv, "%s\n", seqs[i]);
        if (i < 1300)
            for (const char *c = seqs[i]; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    count[*c - 'A']++, total++;
    }
    fclose(ft);
    fclose(fv);
    for (int c = 0; c < 26; c++)
        if (count[c])
            unigram_entropy -= (double)count[c] / total * log((double)count[c] / total);
    rd_free_strings(ids, n);
    rd_free_strings(seqs, n);
    return 1;
}

static int run_train(const char *out, const char *extra)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "train --config_name %s/configs/heavy_tiny.json --train_file %s --validation_file %s "
             "--output_dir %s --per_device_train_batch_size 16 --max_seq_length 64 "
             "--learning_rate 2e-3 --logging_steps 1 --seed 7 --line_by_line %s",
             tu_source_dir(), train_path, val_path, out, extra);
    char *argv[64];
    int argc = 0;
    for (char *tok = strtok(cmd, " "); tok && argc < 63; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    return cmd_train(argc, argv);
}

static double json_number(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "cannot open %s", path);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    char *p = strstr(buf, pat);
    ck_assert_msg(p, "%s has no %s", path, key);
    return atof(p + strlen(pat));
}

/* The tiny model learns: eval loss well below the residue unigram entropy,
 * which is what a model that ignores context would reach. */
START_TEST(learns_on_real_heavy_chains)
{
    if (!make_data()) {
        printf("SKIP learns_on_real_heavy_chains: ../shared/data/oas-paired not found\n");
        return;
    }
    char out[600], path[700];
    snprintf(out, sizeof out, "%s/learn", tmp);
    ck_assert_int_eq(run_train(out, "--max_steps 300 --do_eval --save_strategy no"), 0);
    snprintf(path, sizeof path, "%s/eval_results.json", out);
    double loss = json_number(path, "eval_loss"), acc = json_number(path, "eval_accuracy");
    printf("learning: eval_loss %.4f nats, unigram entropy %.4f nats, masked accuracy %.3f\n", loss,
           unigram_entropy, acc);
    ck_assert_double_lt(loss, 0.8 * unigram_entropy);
    /* the run leaves a Hugging Face model directory and the curve */
    const char *files[] = {"model.safetensors", "config.json", "vocab.txt", "tokenizer_config.json",
                           "train_results.json", "all_results.json", "trainer_state.json",
                           "loss_curve.svg"};
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        ck_assert_msg(access(path, F_OK) == 0, "%s missing", path);
    }
}
END_TEST

/* Losses of one step each, from trainer_state.json's log_history. */
static int step_losses(const char *dir, double *loss, int max)
{
    char path[700];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    ts_state s;
    ck_assert_msg(ts_read(&s, path) == TG_OK, "%s", tg_last_error());
    int n = 0;
    for (int i = 0; i < s.nlog && n < max; i++) {
        const ts_metric *l = ts_log_get(&s.log[i], "loss");
        if (l)
            loss[n++] = l->v;
    }
    ts_free(&s);
    return n;
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    ck_assert(fa && fb);
    int same = 1, ca, cb;
    do {
        ca = fgetc(fa), cb = fgetc(fb);
        same &= ca == cb;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same;
}

/* 2N steps in one run == N steps, resume, N steps: identical per-step
 * losses and a bit-identical final model (with dropout on). */
START_TEST(resume_is_exact)
{
    if (!make_data()) {
        printf("SKIP resume_is_exact: ../shared/data/oas-paired not found\n");
        return;
    }
    char a[600], b[600], pa[700], pb[700];
    snprintf(a, sizeof a, "%s/straight", tmp);
    snprintf(b, sizeof b, "%s/resumed", tmp);
    const char *common = "--max_steps 24 --gradient_accumulation_steps 2 --warmup_steps 5 --save_steps 12";
    char flags[1400];
    ck_assert_int_eq(run_train(a, common), 0);
    /* a second run that starts from the state the first had after 12 of
     * its 24 steps (its checkpoint-12), in another directory */
    snprintf(flags, sizeof flags, "%s --resume_from_checkpoint %s/checkpoint-12", common, a);
    ck_assert_int_eq(run_train(b, flags), 0);
    double la[64], lb[64];
    int na = step_losses(a, la, 64), nb = step_losses(b, lb, 64);
    ck_assert_int_eq(na, 24);
    ck_assert_int_eq(nb, 24); /* 12 restored from the checkpoint + 12 new */
    for (int i = 12; i < 24; i++)
        ck_assert_msg(la[i] == lb[i], "step %d: %.17g vs %.17g", i + 1, la[i], lb[i]);
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    ck_assert_msg(same_file(pa, pb), "final models differ");
}
END_TEST

/* A run killed while writing a checkpoint leaves only complete checkpoint
 * directories, and resuming from the latest one works. */
START_TEST(kill_during_save_then_resume)
{
    if (!make_data()) {
        printf("SKIP kill_during_save_then_resume: ../shared/data/oas-paired not found\n");
        return;
    }
    char out[600], cmd[4096], path[700];
    snprintf(out, sizeof out, "%s/killed", tmp);
    snprintf(cmd, sizeof cmd,
             "ABLM_FAULT_KILL_IN_SAVE=10 %s/ablm train --config_name %s/configs/heavy_tiny.json "
             "--train_file %s --output_dir %s --per_device_train_batch_size 16 --max_seq_length 64 "
             "--line_by_line --max_steps 15 --save_steps 5 --seed 7 >/dev/null 2>&1",
             getenv("ABLM_BUILD_DIR"), tu_source_dir(), train_path, out);
    int st = system(cmd);
    ck_assert_msg(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 128 + 9),
                  "the run was not killed (status %d)", st);
    snprintf(path, sizeof path, "%s/checkpoint-5/model.safetensors", out);
    ck_assert_msg(access(path, F_OK) == 0, "checkpoint-5 incomplete");
    snprintf(path, sizeof path, "%s/checkpoint-10", out);
    ck_assert_msg(access(path, F_OK) != 0, "a partial checkpoint-10 is visible");
    ck_assert_int_eq(run_train(out, "--max_steps 15 --save_steps 5 --resume_from_checkpoint latest"), 0);
    snprintf(path, sizeof path, "%s/checkpoint-15/trainer_state.json", out);
    ck_assert_msg(access(path, F_OK) == 0, "resumed run did not finish");
    ck_assert_double_eq(json_number(path, "global_step"), 15);
}
END_TEST

START_TEST(bad_input_is_reported)
{
    char *dir = tu_tmpdir(), empty[512], bad[512], out[512];
    snprintf(empty, sizeof empty, "%s/empty.txt", dir);
    snprintf(bad, sizeof bad, "%s/bad.txt", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    fclose(fopen(empty, "w"));
    FILE *f = fopen(bad, "w");
    fprintf(f, "EVQLVESGG\nEVQL1VESGG\n");
    fclose(f);
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s/configs/heavy_tiny.json", tu_source_dir());
    char *unknown[] = {"train", "--config_name", cfg, "--train_file", bad, "--output_dir", out,
                       "--learning_rat", "1e-3"};
    ck_assert_int_eq(cmd_train(9, unknown), 2);
    ck_assert_msg(strstr(tg_last_error(), "learning_rate"), "no suggestion: %s", tg_last_error());
    char *e[] = {"train", "--config_name", cfg, "--train_file", empty, "--output_dir", out};
    ck_assert_int_eq(cmd_train(7, e), 1);
    ck_assert_msg(strstr(tg_last_error(), "empty") || strstr(tg_last_error(), "no sequences"),
                  "%s", tg_last_error());
    char *b[] = {"train", "--config_name", cfg, "--train_file", bad, "--output_dir", out,
                 "--overwrite_output_dir"};
    ck_assert_int_eq(cmd_train(8, b), 1);
    ck_assert_msg(strstr(tg_last_error(), ":2") && strstr(tg_last_error(), "'1'"), "%s",
                  tg_last_error());
    char *nan[] = {"train", "--config_name", cfg, "--train_file", bad, "--output_dir", out,
                   "--overwrite_output_dir", "--learning_rate", "1e12", "--max_steps", "50",
                   "--max_grad_norm", "0"};
    /* bad.txt's first line alone trains; a huge learning rate diverges */
    f = fopen(bad, "w");
    for (int i = 0; i < 20; i++)
        fprintf(f, "EVQLVESGGGLVQPGGSLRLSCAASGFTFS\n");
    fclose(f);
    ck_assert_int_eq(cmd_train(14, nan), 1);
    ck_assert_msg(strstr(tg_last_error(), "training loss is") && strstr(tg_last_error(), "step "),
                  "%s", tg_last_error());
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, bad_input_is_reported);
    tcase_add_test(tc, learns_on_real_heavy_chains);
    tcase_add_test(tc, resume_is_exact);
    tcase_add_test(tc, kill_during_save_then_resume);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free(tmp);
    return rc;
}
