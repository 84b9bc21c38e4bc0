/* `ablm train` flag parsing: HF names and defaults, all forms, errors. */
#include "tg.h"
#include "testutil.h"
#include "train_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])))

static int parse(train_args *a, int argc, char **argv)
{
    train_args_defaults(a);
    return train_args_parse(a, argc, argv);
}

START_TEST(defaults_are_hf)
{
    train_args a;
    train_args_defaults(&a);
    ck_assert_int_eq(a.per_device_train_batch_size, 8);
    ck_assert_int_eq(a.per_device_eval_batch_size, 8);
    ck_assert_double_eq(a.learning_rate, 5e-5);
    ck_assert_double_eq(a.weight_decay, 0.0);
    ck_assert_double_eq(a.adam_beta1, 0.9);
    ck_assert_double_eq(a.adam_beta2, 0.999);
    ck_assert_double_eq(a.adam_epsilon, 1e-8);
    ck_assert_double_eq(a.max_grad_norm, 1.0);
    ck_assert_double_eq(a.num_train_epochs, 3.0);
    ck_assert_int_eq(a.max_steps, -1);
    ck_assert_int_eq(a.lr_scheduler_type, OPT_SCHED_LINEAR);
    ck_assert_double_eq(a.mlm_probability, 0.15);
    ck_assert_int_eq(a.seed, 42);
    ck_assert_int_eq(a.data_seed, -1);
    ck_assert_int_eq(a.eval_strategy, TA_NO);
    ck_assert_int_eq(a.save_strategy, TA_STEPS);
    ck_assert_double_eq(a.save_steps, 500);
    ck_assert_double_eq(a.logging_steps, 500);
    ck_assert_int_eq(a.gradient_accumulation_steps, 1);
    ck_assert_int_eq(a.greater_is_better, -1);
    ck_assert_int_eq(a.max_train_samples, -1);
    ck_assert_int_eq(a.do_train, 1); /* ablm train trains unless --do_train false */
    ck_assert_double_eq(a.ddp_timeout, 1800);
    ck_assert_double_eq(a.ddp_bucket_cap_mb, 25);
}
END_TEST

START_TEST(all_forms)
{
    train_args a;
    char *argv[] = {"train", "--output_dir", "out", "--train_file=t.csv.gz", "-learning_rate",
                    "1e-4", "--do_train", "--do_eval", "false", "--line_by_line=yes",
                    "--max_steps", "-1", "--lr_scheduler_type", "cosine", "--evaluation_strategy",
                    "steps", "--eval_steps", "100", "--group_by_length", "--seed=7",
                    "--warmup_ratio", "0.06", "--validation_file", "v.csv.gz"};
    ck_assert_int_eq(parse(&a, ARGC(argv), argv), TG_OK);
    ck_assert_str_eq(a.output_dir, "out");
    ck_assert_str_eq(a.train_file, "t.csv.gz");
    ck_assert_double_eq(a.learning_rate, 1e-4);
    ck_assert_int_eq(a.do_train, 1);
    ck_assert_int_eq(a.do_eval, 1); /* turned on by --eval_strategy steps, like HF */
    ck_assert_int_eq(a.line_by_line, 1);
    ck_assert_int_eq(a.lr_scheduler_type, OPT_SCHED_COSINE);
    ck_assert_int_eq(a.eval_strategy, TA_STEPS);
    ck_assert_double_eq(a.eval_steps, 100);
    ck_assert_int_eq(a.group_by_length, 1);
    ck_assert_int_eq(a.seed, 7);
    ck_assert_int_eq(train_args_data_seed(&a), 7);
    ck_assert_double_eq(a.warmup_ratio, 0.06);
}
END_TEST

START_TEST(derived_values)
{
    train_args a;
    char *argv[] = {"train", "--output_dir", "o", "--train_file", "t", "--eval_strategy", "steps",
                    "--logging_steps", "50", "--save_steps", "100", "--load_best_model_at_end"};
    ck_assert_int_eq(parse(&a, ARGC(argv), argv), TG_OK);
    ck_assert_double_eq(a.eval_steps, 50); /* = logging_steps */
    ck_assert_str_eq(a.metric_for_best_model, "loss");
    ck_assert_int_eq(a.greater_is_better, 0);
    char *argv2[] = {"train", "--output_dir", "o", "--metric_for_best_model", "accuracy", "--do_train", "false"};
    ck_assert_int_eq(parse(&a, ARGC(argv2), argv2), TG_OK);
    ck_assert_int_eq(a.greater_is_better, 1);
    char *argv3[] = {"train", "--output_dir", "o", "--metric_for_best_model", "accuracy",
                     "--greater_is_better", "false", "--do_train", "false"};
    ck_assert_int_eq(parse(&a, ARGC(argv3), argv3), TG_OK);
    ck_assert_int_eq(a.greater_is_better, 0);
    ck_assert_int_eq(train_args_steps(0.1, 1001), 101);
    ck_assert_int_eq(train_args_steps(500, 1001), 500);
}
END_TEST

static void expect_error(const char *want, int argc, char **argv)
{
    train_args a;
    ck_assert_int_eq(parse(&a, argc, argv), TG_ERR_ARG);
    ck_assert_msg(strstr(tg_last_error(), want), "error '%s' lacks '%s'", tg_last_error(), want);
}

START_TEST(errors)
{
    char *a1[] = {"train", "--output_dir", "o", "--learning_rat", "1"};
    expect_error("did you mean --learning_rate", ARGC(a1), a1);
    char *a2[] = {"train", "--output_dir", "o", "--per_device_batch_size", "4"};
    expect_error("did you mean --per_device_eval_batch_size", ARGC(a2), a2);
    char *a3[] = {"train", "--output_dir", "o", "--learning_rate", "fast"};
    expect_error("--learning_rate: 'fast' is not a finite number", ARGC(a3), a3);
    char *a4[] = {"train", "--output_dir", "o", "--per_device_train_batch_size", "0"};
    expect_error("--per_device_train_batch_size: 0 is out of range", ARGC(a4), a4);
    char *a5[] = {"train", "--output_dir", "o", "--save_strategy", "sometimes"};
    expect_error("--save_strategy: 'sometimes' is not one of no, steps, epoch", ARGC(a5), a5);
    char *a6[] = {"train", "--output_dir"};
    expect_error("--output_dir needs a value", ARGC(a6), a6);
    char *a7[] = {"train", "--do_train", "--train_file", "t"};
    expect_error("--output_dir is required", ARGC(a7), a7);
    char *a8[] = {"train", "--output_dir", "o", "--load_best_model_at_end", "--eval_strategy",
                  "epoch"};
    expect_error("save and eval strategy to match", ARGC(a8), a8);
    char *a9[] = {"train",        "--output_dir", "o",    "--load_best_model_at_end",
                  "--eval_strategy", "steps",     "--eval_steps", "300",
                  "--save_steps", "500",         "--train_file", "t"};
    expect_error("round multiple", ARGC(a9), a9);
    char *a10[] = {"train", "--output_dir", "o", "--lr_scheduler_type", "cosin"};
    expect_error("--lr_scheduler_type: 'cosin'", ARGC(a10), a10);
    char *a11[] = {"train", "--output_dir", "o", "--max_steps", "1.5"};
    expect_error("--max_steps: '1.5' is not an integer", ARGC(a11), a11);
    char *a12[] = {"train", "--output_dir", "o", "stray"};
    expect_error("unexpected argument 'stray'", ARGC(a12), a12);
    char *a13[] = {"train", "--output_dir", "o", "--do_train"};
    expect_error("--do_train needs a --train_file", ARGC(a13), a13);
    char *a14[] = {"train", "--output_dir", "o", "--logging_steps", "2.5"};
    expect_error("--logging_steps: 2.5 must be an integer", ARGC(a14), a14);
    char *a15[] = {"train", "--output_dir", "o", "--do_eval=maybe"};
    expect_error("--do_eval: 'maybe' is not a boolean", ARGC(a15), a15);
    char *a16[] = {"train", "--output_dir", "o", "--ddp_timeout", "0"};
    expect_error("--ddp_timeout: 0 is out of range", ARGC(a16), a16);
    char *a17[] = {"train", "--output_dir", "o", "--ddp_bucket_cap_mb", "-1"};
    expect_error("--ddp_bucket_cap_mb: -1 is out of range", ARGC(a17), a17);
}
END_TEST

START_TEST(help_and_json)
{
    train_args a;
    char *argv[] = {"train", "--bogus", "--help"};
    ck_assert_int_eq(parse(&a, ARGC(argv), argv), TA_HELP);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    train_args_help(f);
    fclose(f);
    const char *names[] = {"--per_device_train_batch_size", "--evaluation_strategy",
                           "--resume_from_checkpoint", "--threads", "(default 5e-05)",
                           "constant_with_warmup", "--max_eval_samples"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        ck_assert_msg(strstr(buf, names[i]), "help lacks %s", names[i]);
    free(buf);

    char *dir = tu_tmpdir(), path[256];
    snprintf(path, sizeof path, "%s/training_args.json", dir);
    char *argv2[] = {"train", "--output_dir", "o\"q", "--seed", "3", "--do_train", "false"};
    ck_assert_int_eq(parse(&a, ARGC(argv2), argv2), TG_OK);
    ck_assert_int_eq(train_args_write_json(&a, path), TG_OK);
    f = fopen(path, "r");
    char text[8192];
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "\"output_dir\": \"o\\\"q\""));
    ck_assert_ptr_nonnull(strstr(text, "\"learning_rate\": 5e-05,"));
    ck_assert_ptr_nonnull(strstr(text, "\"data_seed\": null,"));
    ck_assert_ptr_nonnull(strstr(text, "\"num_train_epochs\": 3.0,"));
    ck_assert_ptr_nonnull(strstr(text, "\"eval_strategy\": \"no\","));
    ck_assert_ptr_null(strstr(text, "evaluation_strategy"));
    remove(path);
    rmdir(dir);
    free(dir);
}
END_TEST

/* The reference's command line (Heavy2Light run_train_model.sh) parses as
 * HfArgumentParser would read it; the flags that do nothing here leave one
 * note each. */
START_TEST(reference_command_line)
{
    train_args a;
    char *argv[] = {"train", "--model_type", "roberta", "--tokenizer_name", "./ProteinTokenizer",
                    "--train_file", "T.txt", "--validation_file", "V.txt",
                    "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "16",
                    "--do_train", "--do_eval", "--do_predict", "--evaluation_strategy", "epoch",
                    "--save_strategy", "epoch", "--learning_rate", "5e-5", "--weight_decay", "0.1",
                    "--num_train_epochs", "500", "--lr_scheduler_type", "linear", "--log_level",
                    "info", "--seed", "42", "--data_seed", "42", "--bf16", "False",
                    "--project_name", "heavy_model_unpaired_all_seqs", "--load_best_model_at_end",
                    "True", "--metric_for_best_model", "loss", "--greater_is_better", "False",
                    "--line_by_line", "--config_name", "config4.json", "--report_to", "wandb",
                    "--max_seq_length", "512", "--output_dir", "./FULL_config_4"};
    ck_assert_msg(parse(&a, ARGC(argv), argv) == TG_OK, "%s", tg_last_error());
    ck_assert_str_eq(a.model_type, "roberta");
    ck_assert_str_eq(a.tokenizer_name, "./ProteinTokenizer");
    ck_assert_str_eq(a.config_name, "config4.json");
    ck_assert_int_eq(a.do_train, 1);
    ck_assert_int_eq(a.do_eval, 1);
    ck_assert_int_eq(a.eval_strategy, TA_EPOCH);
    ck_assert_int_eq(a.save_strategy, TA_EPOCH);
    ck_assert_double_eq(a.weight_decay, 0.1);
    ck_assert_double_eq(a.num_train_epochs, 500);
    ck_assert_int_eq(a.log_level, TA_LOG_INFO);
    ck_assert_int_eq(train_args_data_seed(&a), 42);
    ck_assert_int_eq(a.load_best_model_at_end, 1);
    ck_assert_str_eq(train_args_best_metric(&a), "eval_loss"); /* HF prefixes eval_ */
    ck_assert_int_eq(a.greater_is_better, 0);
    ck_assert_int_eq(a.line_by_line, 1); /* bare --line_by_line followed by a flag */
    ck_assert_int_eq(a.max_seq_length, 512);
    ck_assert_str_eq(a.output_dir, "./FULL_config_4");
    const char *noted[] = {"--do_predict true", "--project_name heavy_model_unpaired_all_seqs",
                           "--report_to wandb"};
    ck_assert_int_eq(a.nnotes, 3); /* --bf16 False is what ablm does: silent */
    for (int i = 0; i < 3; i++)
        ck_assert_msg(!strncmp(a.notes[i], noted[i], strlen(noted[i])), "note %d: %s", i,
                      a.notes[i]);
}
END_TEST

/* Booleans as string_to_bool, --no_FLAG, list flags, aliases. */
START_TEST(compat_forms)
{
    train_args a;
    char *argv[] = {"train", "--output_dir", "o", "--do_train", "FALSE", "--bf16=f",
                    "--fp16", "No", "--no_use_fast_tokenizer", "--report_to", "wandb",
                    "tensorboard", "--label_smoothing_factor", "0.0", "--optim", "adamw_torch",
                    "--per_gpu_train_batch_size", "4", "--push_to_hub", "false",
                    "--dataloader_num_workers", "4", "--disable_tqdm", "--log_level", "error",
                    "--metric_for_best_model", "eval_accuracy"};
    ck_assert_msg(parse(&a, ARGC(argv), argv) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(a.do_train, 0);
    ck_assert_int_eq(a.per_device_train_batch_size, 4);
    ck_assert_int_eq(a.disable_tqdm, 1);
    ck_assert_int_eq(a.log_level, TA_LOG_ERROR);
    ck_assert_str_eq(train_args_best_metric(&a), "eval_accuracy");
    ck_assert_int_eq(a.greater_is_better, 1);
    /* notes: report_to twice (nargs +), dataloader_num_workers; the rest
     * are ablm's behaviour already */
    ck_assert_int_eq(a.nnotes, 3);
    ck_assert_ptr_nonnull(strstr(a.notes[0], "--report_to wandb"));
    ck_assert_ptr_nonnull(strstr(a.notes[1], "--report_to tensorboard"));
    ck_assert_ptr_nonnull(strstr(a.notes[2], "--dataloader_num_workers 4"));
    /* the older name is not written twice into training_args.json */
    char *dir = tu_tmpdir(), path[256], text[8192];
    snprintf(path, sizeof path, "%s/training_args.json", dir);
    ck_assert_int_eq(train_args_write_json(&a, path), TG_OK);
    FILE *f = fopen(path, "r");
    text[fread(text, 1, sizeof text - 1, f)] = 0;
    fclose(f);
    ck_assert_ptr_null(strstr(text, "per_gpu"));
    ck_assert_ptr_nonnull(strstr(text, "\"per_device_train_batch_size\": 4,"));
    ck_assert_ptr_nonnull(strstr(text, "\"log_level\": \"error\","));
    remove(path);
    rmdir(dir);
    free(dir);
}
END_TEST

/* A flag that would change the results and is not implemented is refused
 * with the reason; a value ablm does not have is refused. */
START_TEST(refusals)
{
    char *r1[] = {"train", "--output_dir", "o", "--bf16_full_eval", "True"};
    expect_error("--bf16_full_eval true: ablm's mixed precision is --bf16", ARGC(r1), r1);
    char *r2[] = {"train", "--output_dir", "o", "--fp16"};
    expect_error("--fp16 true: ", ARGC(r2), r2);
    char *r3[] = {"train", "--output_dir", "o", "--model_type", "bert"};
    expect_error("--model_type bert: ablm trains RoBERTa only", ARGC(r3), r3);
    char *r4[] = {"train", "--output_dir", "o", "--optim", "adamw_hf"};
    expect_error("--optim adamw_hf: only torch.optim.AdamW", ARGC(r4), r4);
    char *r5[] = {"train", "--output_dir", "o", "--label_smoothing_factor", "0.1"};
    expect_error("--label_smoothing_factor 0.1: not implemented", ARGC(r5), r5);
    char *r6[] = {"train", "--output_dir", "o", "--dataset_name", "oas"};
    expect_error("--dataset_name oas: ablm reads local files only", ARGC(r6), r6);
    char *r7[] = {"train", "--output_dir", "o", "--log_level", "loud"};
    expect_error("--log_level: 'loud' is not one of debug", ARGC(r7), r7);
    char *r8[] = {"train", "--output_dir", "o", "--metric_for_best_model", "bleu"};
    expect_error("--metric_for_best_model bleu: ablm's evaluation computes", ARGC(r8), r8);
    char *r9[] = {"train", "--output_dir", "o", "--no_bf16"}; /* bf16 defaults to false */
    expect_error("unknown flag '--no_bf16'", ARGC(r9), r9);
    char *r10[] = {"train", "--output_dir", "o", "--dataloader_num_workers", "many"};
    expect_error("--dataloader_num_workers: 'many' is not an integer", ARGC(r10), r10);
    char *r11[] = {"train", "--output_dir", "o", "--report_t", "none"};
    expect_error("did you mean --report_to", ARGC(r11), r11);
    char *r12[] = {"train", "--output_dir", "o", "--gradient_checkpointing", "--torch_compile",
                   "--use_cpu", "--eval_delay", "0", "--do_train", "false"};
    train_args a;
    ck_assert_int_eq(parse(&a, ARGC(r12), r12), TG_OK); /* same results: notes only */
    ck_assert_int_eq(a.nnotes, 2);
}
END_TEST

/* Every flag in --help has a row in docs/training.md. */
START_TEST(docs_cover_every_flag)
{
    const char *src = tu_source_dir();
    if (!src) {
        printf("skip docs check: ABLM_SOURCE_DIR unset\n");
        return;
    }
    char path[4096], *help = NULL;
    snprintf(path, sizeof path, "%s/docs/training.md", src);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char doc[1 << 16];
    doc[fread(doc, 1, sizeof doc - 1, f)] = 0;
    fclose(f);
    size_t n = 0;
    f = open_memstream(&help, &n);
    train_args_help(f);
    fclose(f);
    int flags = 0;
    for (char *p = help; (p = strstr(p, "\n  --")); p++) {
        char name[80];
        ck_assert_int_eq(sscanf(p + 3, "%79[a-z_0-9-]", name), 1);
        char want[96];
        snprintf(want, sizeof want, "`%s", name);
        ck_assert_msg(strstr(doc, want), "docs/training.md lacks %s", name);
        flags++;
    }
    ck_assert_int_ge(flags, 150); /* implemented and compatibility flags */
    free(help);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_args");
    TCase *tc = tcase_create("train_args");
    tcase_add_test(tc, defaults_are_hf);
    tcase_add_test(tc, all_forms);
    tcase_add_test(tc, derived_values);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, help_and_json);
    tcase_add_test(tc, docs_cover_every_flag);
    tcase_add_test(tc, reference_command_line);
    tcase_add_test(tc, compat_forms);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
