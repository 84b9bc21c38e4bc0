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
    ck_assert_int_ge(flags, 45);
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
    suite_add_tcase(s, tc);
    return tu_run(s);
}
