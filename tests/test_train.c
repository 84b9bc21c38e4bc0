/* ablm train end to end: learning on real heavy chains, exact resume,
 * atomic checkpoints under a kill, and bad input. */
#include "commands.h"
#include "reader.h"
#include "tokenizer.h"
#include "testutil.h"
#include "tg.h"
#include "train_state.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])))

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

/* The tiny model learns: eval loss well below the residue unigram entropy,
 * which is what a model that ignores context would reach. */
START_TEST(learns_on_real_heavy_chains)
{
    if (!make_data()) {
        tu_skip("learns_on_real_heavy_chains", "../shared/data/oas-paired not found");
        return;
    }
    char out[600], path[700];
    snprintf(out, sizeof out, "%s/learn", tmp);
    ck_assert_int_eq(run_train(out, "--max_steps 300 --do_eval --save_strategy no"), 0);
    snprintf(path, sizeof path, "%s/eval_results.json", out);
    double loss = tu_json_number(path, "eval_loss"), acc = tu_json_number(path, "eval_accuracy");
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

/* 2N steps in one run == N steps, resume, N steps: identical per-step
 * losses and a bit-identical final model (with dropout on). */
START_TEST(resume_is_exact)
{
    if (!make_data()) {
        tu_skip("resume_is_exact", "../shared/data/oas-paired not found");
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
    int na = tu_step_losses(a, la, 64), nb = tu_step_losses(b, lb, 64);
    ck_assert_int_eq(na, 24);
    ck_assert_int_eq(nb, 24); /* 12 restored from the checkpoint + 12 new */
    for (int i = 12; i < 24; i++)
        ck_assert_msg(la[i] == lb[i], "step %d: %.17g vs %.17g", i + 1, la[i], lb[i]);
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    ck_assert_msg(tu_same_file(pa, pb), "final models differ");
}
END_TEST

/* A run killed while writing a checkpoint leaves only complete checkpoint
 * directories, and resuming from the latest one works. */
START_TEST(kill_during_save_then_resume)
{
    if (!make_data()) {
        tu_skip("kill_during_save_then_resume", "../shared/data/oas-paired not found");
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
    ck_assert_double_eq(tu_json_number(path, "global_step"), 15);
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

/* ---- without the shared data: synthetic chains ------------------------------ */

/* n random 100-125-residue chains (fixed LCG) into path. */
static void write_chains(const char *path, int n, unsigned seed)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n; i++) {
        int len = 100 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 26;
        for (int k = 0; k < len; k++)
            fputc("ACDEFGHIKLMNPQRSTVWY"[((seed = seed * 1103515245u + 12345u) >> 16) % 20], f);
        fputc('\n', f);
    }
    fclose(f);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc(n + 1);
    ck_assert(fread(buf, 1, n, f) == (size_t)n);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Every *.json under dir (and its checkpoint-* dirs) is strict JSON: cJSON
 * refuses NaN, Infinity and -Infinity. Returns how many files it read. */
static int check_json_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d, "cannot list %s", dir);
    struct dirent *e;
    int n = 0;
    char path[1200];
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!strncmp(e->d_name, "checkpoint-", 11)) {
            n += check_json_files(path);
        } else if (len > 5 && !strcmp(e->d_name + len - 5, ".json")) {
            char *text = slurp(path);
            cJSON *j = cJSON_Parse(text);
            ck_assert_msg(j, "%s is not JSON near: %.40s", path, cJSON_GetErrorPtr());
            cJSON_Delete(j);
            free(text);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* A shell command; returns its exit status (-1 if it did not exit). */
static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The reference's command line (Heavy2Light run_train_model.sh), as typed
 * there (shell quotes and relative paths), with --max_steps added: a tiny
 * config with config4.json's special ids (pad 1, bos 0, eos 2) and
 * max_position_embeddings 514, the reference's published tokenizer layout
 * (tests/fixtures/ProteinTokenizer: 5 vocab.txt tokens + 20 added residues,
 * the config's vocab_size 25) as ./ProteinTokenizer. It trains two epochs of 3 steps,
 * evaluates and saves at each epoch end, loads the best checkpoint and
 * writes the results; the flags that do nothing here say so. */
START_TEST(reference_command_line)
{
    const char *bin = getenv("ABLM_BUILD_DIR");
    ck_assert_ptr_nonnull(bin);
    char *dir = tu_tmpdir(), path[1400], cmd[8192];
    snprintf(path, sizeof path, "%s/T.txt", dir);
    write_chains(path, 48, 11);
    snprintf(path, sizeof path, "%s/V.txt", dir);
    write_chains(path, 16, 12);
    snprintf(path, sizeof path, "%s/config4.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"architectures\": [\"RobertaForMaskedLM\"], \"model_type\": \"roberta\", "
          "\"vocab_size\": 25, \"hidden_size\": 16, \"num_hidden_layers\": 1, "
          "\"num_attention_heads\": 2, \"intermediate_size\": 32, \"hidden_act\": \"gelu\", "
          "\"hidden_dropout_prob\": 0.1, \"attention_probs_dropout_prob\": 0.1, "
          "\"max_position_embeddings\": 514, \"type_vocab_size\": 1, \"initializer_range\": 0.02, "
          "\"layer_norm_eps\": 1e-05, \"pad_token_id\": 1, \"bos_token_id\": 0, "
          "\"eos_token_id\": 2, \"max_seq_length\": 512, \"max_length\": 512}\n", f);
    fclose(f);
    /* the published tokenizer layout (vocab.txt of 5, residues as added tokens) */
    snprintf(cmd, sizeof cmd, "cp -r '%s/tests/fixtures/ProteinTokenizer' '%s/'", tu_source_dir(), dir);
    ck_assert_int_eq(sh(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s/ablm' train --model_type 'roberta' --tokenizer_name ./ProteinTokenizer "
             "--train_file T.txt --validation_file V.txt --per_device_train_batch_size 16 "
             "--per_device_eval_batch_size 16 --do_train --do_eval --do_predict "
             "--evaluation_strategy 'epoch' --save_strategy 'epoch' --learning_rate 5e-5 "
             "--weight_decay 0.1 --num_train_epochs 500 --lr_scheduler_type 'linear' "
             "--log_level 'info' --seed 42 --data_seed 42 --bf16 False "
             "--project_name heavy_model_unpaired_all_seqs --load_best_model_at_end True "
             "--metric_for_best_model 'loss' --greater_is_better False --line_by_line "
             "--config_name 'config4.json' --report_to 'wandb' --max_seq_length 512 "
             "--output_dir ./FULL_config_4 --max_steps 6 >stdout.txt 2>stderr.txt",
             dir, bin);
    int st = sh(cmd);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    char *err = slurp(path);
    ck_assert_msg(st == 0, "exit %d: %s", st, err);
    const char *notes[] = {"--do_predict true: accepted", "--project_name heavy_model_unpaired_all_seqs: accepted",
                           "--report_to wandb: accepted", "train_file: 48 sequences",
                           "loading best model from ./FULL_config_4/checkpoint-"};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(strstr(err, notes[i]), "stderr lacks '%s':\n%s", notes[i], err);
    free(err);
    char out[1300];
    snprintf(out, sizeof out, "%s/FULL_config_4", dir);
    const char *files[] = {"model.safetensors", "config.json", "added_tokens.json", "train_results.json",
                           "eval_results.json", "all_results.json", "trainer_state.json",
                           "training_args.json", "checkpoint-3/model.safetensors",
                           "checkpoint-6/optimizer.safetensors"};
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        ck_assert_msg(access(path, F_OK) == 0, "%s missing", path);
    }
    ck_assert_int_ge(check_json_files(out), 11);
    snprintf(path, sizeof path, "%s/trainer_state.json", out);
    ts_state s;
    ck_assert_int_eq(ts_read(&s, path), TG_OK);
    ck_assert_int_eq(s.global_step, 6);
    double ev[2];
    int ne = 0;
    for (int i = 0; i < s.nlog; i++) {
        const ts_metric *l = ts_log_get(&s.log[i], "eval_loss"), *stp = ts_log_get(&s.log[i], "step");
        if (l) {
            ck_assert_int_lt(ne, 2);
            ck_assert_double_eq(stp->v, 3 * (ne + 1)); /* at each epoch's end */
            ev[ne++] = l->v;
        }
    }
    ck_assert_int_eq(ne, 2);
    ck_assert_int_eq(s.has_best, 1);
    ck_assert_double_eq(s.best_metric, ev[0] < ev[1] ? ev[0] : ev[1]); /* loss: lower is better */
    ck_assert_ptr_nonnull(strstr(s.best_model_checkpoint, ev[0] < ev[1] ? "checkpoint-3" : "checkpoint-6"));
    ts_free(&s);
    snprintf(path, sizeof path, "%s/train_results.json", out);
    ck_assert(isfinite(tu_json_number(path, "train_loss")));
    snprintf(path, sizeof path, "%s/eval_results.json", out);
    ck_assert(isfinite(tu_json_number(path, "eval_loss")));
    snprintf(path, sizeof path, "%s/config.json", out);
    ck_assert_double_eq(tu_json_number(path, "pad_token_id"), 1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(sh(cmd), 0);
    free(dir);
}
END_TEST

/* Run again on a finished output_dir with fewer or as many steps, there is
 * nothing to train: a clear message, exit 0, and not one file written (all
 * mtimes are set in the past first); more steps resume and train on. */
START_TEST(finished_run_is_not_overwritten)
{
    const char *bin = getenv("ABLM_BUILD_DIR");
    ck_assert_ptr_nonnull(bin);
    char *dir = tu_tmpdir(), path[1200], cmd[8192], base[4096];
    snprintf(path, sizeof path, "%s/T.txt", dir);
    write_chains(path, 40, 3);
    snprintf(path, sizeof path, "%s/V.txt", dir);
    write_chains(path, 8, 4);
    snprintf(base, sizeof base,
             "'%s/ablm' train --config_name '%s/configs/heavy_tiny.json' --train_file '%s/T.txt' "
             "--validation_file '%s/V.txt' --output_dir '%s/out' --line_by_line --max_seq_length 64 "
             "--per_device_train_batch_size 8 --save_steps 2 --eval_strategy steps --eval_steps 2 "
             "--learning_rate 1e-3 --seed 3",
             bin, tu_source_dir(), dir, dir, dir);
    /* --log_level warning: no info notes; --disable_tqdm: no progress line */
    snprintf(cmd, sizeof cmd, "%s --max_steps 4 --log_level warning --disable_tqdm >/dev/null 2>'%s/stderr.txt'",
             base, dir);
    ck_assert_int_eq(sh(cmd), 0);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    char *quiet = slurp(path);
    ck_assert_msg(!quiet[0], "stderr with --log_level warning --disable_tqdm: %s", quiet);
    free(quiet);
    snprintf(cmd, sizeof cmd, "find '%s/out' -exec touch -h -d @1000000000 {} +", dir);
    ck_assert_int_eq(sh(cmd), 0);
    const char *fewer[] = {"2", "4"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s --max_steps %s --do_eval >'%s/stdout.txt' 2>'%s/stderr.txt'",
                 base, fewer[i], dir, dir);
        ck_assert_int_eq(sh(cmd), 0);
        snprintf(path, sizeof path, "%s/stderr.txt", dir);
        char *err = slurp(path);
        ck_assert_msg(strstr(err, "nothing to train: the checkpoint is at step 4") &&
                          strstr(err, "left untouched"),
                      "%s", err);
        ck_assert_msg(!strstr(err, "step 4/"), "a progress line: %s", err);
        free(err);
        snprintf(path, sizeof path, "%s/stdout.txt", dir);
        err = slurp(path);
        ck_assert_msg(!err[0], "stdout: %s", err); /* no log lines, no results */
        free(err);
        snprintf(cmd, sizeof cmd, "test -z \"$(find '%s/out' -newermt @1000000001)\"", dir);
        ck_assert_msg(sh(cmd) == 0, "--max_steps %s wrote into the finished run", fewer[i]);
    }
    snprintf(path, sizeof path, "%s/out/train_results.json", dir);
    ck_assert(isfinite(tu_json_number(path, "train_loss")));
    snprintf(cmd, sizeof cmd, "%s --max_steps 6 >/dev/null 2>'%s/stderr.txt'", base, dir);
    ck_assert_int_eq(sh(cmd), 0);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    char *info = slurp(path); /* --log_level passive (run_mlm.py: info): the notes */
    ck_assert_msg(strstr(info, "resumed from") && strstr(info, "train_file: 40 sequences") &&
                      strstr(info, "step 6/6"),
                  "%s", info);
    free(info);
    snprintf(path, sizeof path, "%s/out/trainer_state.json", dir);
    ck_assert_double_eq(tu_json_number(path, "global_step"), 6);
    snprintf(path, sizeof path, "%s/out", dir);
    ck_assert_int_ge(check_json_files(path), 6);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(sh(cmd), 0);
    free(dir);
}
END_TEST

/* A metric that is not a number (no masked token: eval_accuracy is 0/0)
 * is written as null, in the results files and the log line: every file
 * stays JSON. */
START_TEST(no_nan_in_json)
{
    char *dir = tu_tmpdir(), t[1200], m[1200], e[1200], cfg[4096];
    snprintf(t, sizeof t, "%s/T.txt", dir);
    write_chains(t, 16, 5);
    snprintf(m, sizeof m, "%s/model", dir);
    snprintf(e, sizeof e, "%s/eval", dir);
    snprintf(cfg, sizeof cfg, "%s/configs/heavy_tiny.json", tu_source_dir());
    char *train[] = {"train", "--config_name", cfg, "--train_file", t, "--output_dir", m,
                     "--max_steps", "2", "--line_by_line", "--max_seq_length", "64"};
    ck_assert_int_eq(cmd_train(ARGC(train), train), 0);
    char *ev[] = {"train", "--do_train", "false", "--do_eval", "--model_name_or_path", m,
                  "--validation_file", t, "--output_dir", e, "--mlm_probability", "0",
                  "--line_by_line", "--max_seq_length", "64"};
    ck_assert_int_eq(cmd_train(ARGC(ev), ev), 0);
    char path[1300];
    snprintf(path, sizeof path, "%s/eval_results.json", e);
    char *text = slurp(path);
    ck_assert_msg(strstr(text, "\"eval_accuracy\": null"), "%s", text);
    ck_assert_msg(strstr(text, "\"eval_masked_tokens\": 0"), "%s", text);
    free(text);
    ck_assert_int_ge(check_json_files(e), 2);
    ck_assert_int_ge(check_json_files(m), 5);
    /* ablm eval's JSON line likewise: one residue at 1% masking (seed 42)
     * leaves no masked token */
    char one[1300], cmd[4096];
    snprintf(one, sizeof one, "%s/one.txt", dir);
    FILE *f = fopen(one, "w");
    fputs("A\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s/ablm' eval --model '%s' --validation_file '%s' --mlm_probability 0.01 >'%s/eval.json' 2>/dev/null",
             getenv("ABLM_BUILD_DIR"), m, one, dir);
    ck_assert_int_eq(sh(cmd), 0);
    snprintf(path, sizeof path, "%s/eval.json", dir);
    text = slurp(path);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j, "ablm eval printed no JSON: %s", text);
    ck_assert_double_eq(cJSON_GetObjectItem(j, "eval_masked_tokens")->valuedouble, 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "eval_accuracy")));
    cJSON_Delete(j);
    free(text);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(sh(cmd), 0);
    free(dir);
}
END_TEST

/* Without --line_by_line, run_mlm.py's group_texts: blocks of
 * max_seq_length tokens across sequences; train_samples counts blocks. */
START_TEST(grouped_by_default)
{
    char *dir = tu_tmpdir(), t[1200], o[1200], cfg[4096], path[1300];
    snprintf(t, sizeof t, "%s/T.txt", dir);
    write_chains(t, 30, 9);
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(cfg, sizeof cfg, "%s/configs/heavy_tiny.json", tu_source_dir());
    /* the tokens of the 30 chains: each [CLS] residues [SEP] */
    char *text = slurp(t);
    long tokens = 0;
    for (char *c = text; *c; c++)
        tokens += *c == '\n' ? 2 : 1;
    free(text);
    char *argv[] = {"train", "--config_name", cfg, "--train_file", t, "--output_dir", o,
                    "--max_steps", "1", "--max_seq_length", "64"};
    ck_assert_int_eq(cmd_train(ARGC(argv), argv), 0);
    snprintf(path, sizeof path, "%s/train_results.json", o);
    ck_assert_double_eq(tu_json_number(path, "train_samples"), tokens / 64);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(sh(cmd), 0);
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
    tcase_add_test(tc, reference_command_line);
    tcase_add_test(tc, finished_run_is_not_overwritten);
    tcase_add_test(tc, no_nan_in_json);
    tcase_add_test(tc, grouped_by_default);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free(tmp);
    return rc;
}
