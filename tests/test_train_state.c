/* trainer_state.json round trip, results files, checkpoint rotation, the
 * SVG loss chart. */
#include "tg.h"
#include "testutil.h"
#include "train_state.h"
#include "plot_svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *read_text(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(json_numbers_like_python)
{
    char b[40];
    struct {
        double v;
        int is_int;
        const char *want;
    } cases[] = {{3.0, 0, "3.0"},      {5e-5, 0, "5e-05"},     {0.1, 0, "0.1"},
                 {100000.0, 0, "100000.0"}, {1e16, 0, "1e+16"}, {2.302585092994046, 0, "2.302585092994046"},
                 {500, 1, "500"},     {NAN, 0, "null"},       {-INFINITY, 0, "null"},
                 {INFINITY, 1, "null"},
                 {0.0001, 0, "0.0001"}, {1.23e-5, 0, "1.23e-05"},
                 /* a count beyond 1e16 in %.0f overflowed the buffer and was
                  * cut to 39 digits (fuzz_all_results): now %g */
                 {1e300, 1, "1e+300"}, {-3e20, 1, "-3e+20"}, {9999999999999998.0, 1, "9999999999999998"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ts_json_number(b, cases[i].v, cases[i].is_int);
        ck_assert_str_eq(b, cases[i].want);
    }
}
END_TEST

START_TEST(state_round_trip)
{
    char *dir = tu_tmpdir(), path[256];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    ts_state s, r;
    ts_init(&s);
    s.global_step = 1000;
    s.epoch = 2.5;
    s.max_steps = 1200;
    s.num_train_epochs = 3;
    s.logging_steps = 500;
    s.eval_steps = 500;
    s.save_steps = 500;
    s.train_batch_size = 8;
    s.total_flos = 1.5e15;
    ts_metric t1[] = {ts_m("loss", 2.75), ts_m("learning_rate", 2.5e-5), ts_m("grad_norm", 1.25),
                      ts_m("epoch", 1.25), ts_mi("step", 500)};
    ck_assert_int_eq(ts_log_add(&s, t1, 5), TG_OK);
    ts_metric e1[] = {ts_m("eval_loss", 2.5), ts_m("eval_accuracy", 0.4), ts_m("epoch", 1.25),
                      ts_mi("step", 500), ts_m("eval_runtime", 3.25)};
    ck_assert_int_eq(ts_log_add(&s, e1, 5), TG_OK);
    s.global_step = 500;
    ck_assert_int_eq(ts_update_best(&s, 2.5, 0, "out/checkpoint-500"), 1);
    s.global_step = 1000;
    ck_assert_int_eq(ts_update_best(&s, 2.6, 0, "out/checkpoint-1000"), 0); /* worse */
    ts_metric e2[] = {ts_m("eval_loss", INFINITY), ts_mi("step", 1000)};
    ck_assert_int_eq(ts_log_add(&s, e2, 2), TG_OK);
    ck_assert_int_eq(ts_write(&s, path), TG_OK);

    const char *text = read_text(path);
    ck_assert_ptr_nonnull(strstr(text, "\"best_model_checkpoint\": \"out/checkpoint-500\","));
    ck_assert_ptr_nonnull(strstr(text, "  \"log_history\": [\n    {\n      \"epoch\": 1.25,\n"
                                       "      \"grad_norm\": 1.25,\n"));
    ck_assert_ptr_nonnull(strstr(text, "\"eval_loss\": null,")); /* not JSON's Infinity */
    ck_assert_ptr_nonnull(strstr(text, "\"global_step\": 1000,"));

    ck_assert_int_eq(ts_read(&r, path), TG_OK);
    ck_assert_int_eq(r.global_step, 1000);
    ck_assert_double_eq(r.epoch, 2.5);
    ck_assert_int_eq(r.max_steps, 1200);
    ck_assert_int_eq(r.train_batch_size, 8);
    ck_assert_int_eq(r.has_best, 1);
    ck_assert_double_eq(r.best_metric, 2.5);
    ck_assert_int_eq(r.best_global_step, 500);
    ck_assert_str_eq(r.best_model_checkpoint, "out/checkpoint-500");
    ck_assert_int_eq(r.nlog, 3);
    const ts_metric *m = ts_log_get(&r.log[0], "learning_rate");
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(m->v, 2.5e-5);
    m = ts_log_get(&r.log[1], "step");
    ck_assert_int_eq(m->is_int, 1);
    ck_assert_double_eq(m->v, 500);
    ck_assert(isnan(ts_log_get(&r.log[2], "eval_loss")->v)); /* null -> NaN */
    /* Writing what was read gives the same file except for the inf entry. */
    char path2[256];
    snprintf(path2, sizeof path2, "%s/again.json", dir);
    r.log[2].m[0].v = INFINITY;
    ck_assert_int_eq(ts_write(&r, path2), TG_OK);
    char first[1 << 16];
    strcpy(first, text);
    ck_assert_str_eq(read_text(path2), first);
    ts_free(&r);
    ts_free(&s);

    /* A file Python's json wrote (NaN, Infinity tokens) still reads. */
    FILE *f = fopen(path, "w");
    fputs("{\"global_step\": 3, \"best_metric\": NaN, \"log_history\": [{\"loss\": -Infinity, "
          "\"step\": 3, \"note\": \"NaN in a string\"}]}", f);
    fclose(f);
    ck_assert_int_eq(ts_read(&r, path), TG_OK);
    ck_assert_int_eq(r.has_best, 0);
    ck_assert(isnan(ts_log_get(&r.log[0], "loss")->v));
    ts_free(&r);

    /* Errors name the file. */
    f = fopen(path, "w");
    fputs("{\"epoch\": 1.0}", f);
    fclose(f);
    ck_assert_int_eq(ts_read(&r, path), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "global_step"));
    f = fopen(path, "w");
    fputs("{\"global_step\": 3, \"log_history\": [1]}", f);
    fclose(f);
    ck_assert_int_eq(ts_read(&r, path), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "log_history[0]"));
    f = fopen(path, "w");
    fputs("{\"global_step\": ", f);
    fclose(f);
    ck_assert_int_eq(ts_read(&r, path), TG_ERR_FORMAT);
    /* A count that is no count (too large for a long, negative, a fraction)
     * is an error naming the field, never an undefined conversion. */
    const char *counts[] = {"{\"global_step\": 3, \"max_steps\": 3.5e60}",
                            "{\"global_step\": -2}", "{\"global_step\": 3, \"eval_steps\": 2.5}"};
    const char *fields[] = {"max_steps", "global_step", "eval_steps"};
    for (int i = 0; i < 3; i++) {
        f = fopen(path, "w");
        fputs(counts[i], f);
        fclose(f);
        ck_assert_int_eq(ts_read(&r, path), TG_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(tg_last_error(), fields[i]));
    }
    /* A repeated metric name keeps the last value (Python's json does). */
    f = fopen(path, "w");
    fputs("{\"global_step\": 3, \"log_history\": [{\"loss\": 1.5, \"step\": 3, \"loss\": 2.5}]}", f);
    fclose(f);
    ck_assert_int_eq(ts_read(&r, path), TG_OK);
    ck_assert_int_eq(r.log[0].n, 2);
    ck_assert_double_eq(ts_log_get(&r.log[0], "loss")->v, 2.5);
    ts_free(&r);
    /* A metric name longer than a metric name holds is an error, not a
     * silent truncation (two long names could become one). */
    f = fopen(path, "w");
    fprintf(f, "{\"global_step\": 3, \"log_history\": [{\"%0*d\": 1.5}]}", TS_KEY, 7);
    fclose(f);
    ck_assert_int_eq(ts_read(&r, path), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "log_history[0]"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "longer than"));
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(results_files)
{
    char *dir = tu_tmpdir(), path[256];
    ts_metric tr[] = {ts_m("train_loss", 2.0), ts_m("epoch", 3.0), ts_mi("train_samples", 1000),
                      ts_m("train_runtime", 12.5)};
    ck_assert_int_eq(ts_save_metrics(dir, "train", tr, 4), TG_OK);
    ts_metric ev[] = {ts_m("eval_loss", 1.5), ts_m("perplexity", exp(1.5)),
                      ts_mi("eval_samples", 100), ts_m("epoch", 3.0)};
    ck_assert_int_eq(ts_save_metrics(dir, "eval", ev, 4), TG_OK);
    snprintf(path, sizeof path, "%s/train_results.json", dir);
    ck_assert_str_eq(read_text(path), "{\n    \"epoch\": 3.0,\n    \"train_loss\": 2.0,\n"
                                      "    \"train_runtime\": 12.5,\n"
                                      "    \"train_samples\": 1000\n}");
    snprintf(path, sizeof path, "%s/all_results.json", dir);
    const char *all = read_text(path);
    ck_assert_ptr_nonnull(strstr(all, "\"eval_samples\": 100,"));
    ck_assert_ptr_nonnull(strstr(all, "\"train_samples\": 1000\n"));
    ck_assert_ptr_nonnull(strstr(all, "\"perplexity\": 4.4816890703380645,"));
    const char *ep = strstr(all, "\"epoch\": 3.0");
    ck_assert_ptr_nonnull(ep);
    ck_assert_ptr_null(strstr(ep + 1, "\"epoch\"")); /* merged, not duplicated */
    /* Merging again (found by fuzz_all_results): a count far beyond 2^53
     * keeps its value, and ablm's own counts (ts_mi) stay integers. */
    FILE *f = fopen(path, "w");
    fputs("{\"eval_steps\": 1e300, \"train_threads\": 2, \"eval_masked_tokens\": 40, "
          "\"epoch\": 1}", f);
    fclose(f);
    ts_metric th = ts_mi("train_ranks", 3);
    ck_assert_int_eq(ts_save_metrics(dir, "train", &th, 1), TG_OK);
    ck_assert_str_eq(read_text(path), "{\n    \"epoch\": 1.0,\n    \"eval_masked_tokens\": 40,\n"
                                      "    \"eval_steps\": 1e+300,\n    \"train_ranks\": 3,\n"
                                      "    \"train_threads\": 2\n}");
    ck_assert_int_eq(ts_save_metrics(dir, "train", &th, 0), TG_OK);
    ck_assert_str_eq(read_text(path), "{\n    \"epoch\": 1.0,\n    \"eval_masked_tokens\": 40,\n"
                                      "    \"eval_steps\": 1e+300,\n    \"train_ranks\": 3,\n"
                                      "    \"train_threads\": 2\n}");
    /* A name whose last value is not a number (found by fuzz_all_results,
     * 2026-12-04): json.load keeps that last value, which is no metric, so
     * the earlier number of the name is not kept either. */
    f = fopen(path, "w");
    fputs("{\"ss\": 2.1, \"epoch\": 2, \"ss\": \"x\", \"ev\": \"y\"}", f);
    fclose(f);
    ck_assert_int_eq(ts_save_metrics(dir, "train", &th, 1), TG_OK);
    ck_assert_str_eq(read_text(path), "{\n    \"epoch\": 2.0,\n    \"train_ranks\": 3\n}");
    ts_metric sp[3];
    ck_assert_int_eq(ts_speed_metrics("train", 10.123456, 1000, 125, sp), 3);
    ck_assert_str_eq(sp[0].key, "train_runtime");
    ck_assert_double_eq(sp[0].v, 10.1235);
    ck_assert_double_eq(sp[1].v, 98.78);
    ck_assert_double_eq(sp[2].v, 12.348);
    rm_rf(dir);
    free(dir);
}
END_TEST

static void make_ckpts(const char *dir, const long *steps, int n)
{
    char p[512];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/checkpoint-%ld", dir, steps[i]);
        ck_assert_int_eq(mkdir(p, 0755), 0);
        snprintf(p, sizeof p, "%s/checkpoint-%ld/model.safetensors", dir, steps[i]);
        FILE *f = fopen(p, "w");
        fputs("x", f);
        fclose(f);
    }
}

static int exists(const char *dir, long step)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/checkpoint-%ld", dir, step);
    return stat(p, &st) == 0;
}

START_TEST(rotation_keeps_best)
{
    char *dir = tu_tmpdir(), best[512], last[512];
    long steps[] = {1000, 500, 1500, 2000, 2500}; /* numeric, not lexical, order */
    make_ckpts(dir, steps, 5);
    char p[512];
    snprintf(p, sizeof p, "%s/checkpoint-9999", dir); /* a file, not a dir: ignored */
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/checkpoint-12x", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    ck_assert_int_eq(ts_last_checkpoint(dir, last, sizeof last), 1);
    snprintf(p, sizeof p, "%s/checkpoint-2500", dir);
    ck_assert_str_eq(last, p);

    /* Limit 2, best = 500: HF order 1000,1500,2000,500,2500 -> delete the
     * first three, keep 500 (best) and 2500 (newest). */
    snprintf(best, sizeof best, "%s/checkpoint-500/", dir);
    int del;
    ck_assert_int_eq(ts_rotate_checkpoints(dir, 2, best, &del), TG_OK);
    ck_assert_int_eq(del, 3);
    ck_assert(exists(dir, 500) && exists(dir, 2500));
    ck_assert(!exists(dir, 1000) && !exists(dir, 1500) && !exists(dir, 2000));

    /* Limit 1 with a best that is not the newest keeps both. */
    long more[] = {3000};
    make_ckpts(dir, more, 1);
    ck_assert_int_eq(ts_rotate_checkpoints(dir, 1, best, &del), TG_OK);
    ck_assert_int_eq(del, 1);
    ck_assert(exists(dir, 500) && exists(dir, 3000) && !exists(dir, 2500));
    /* No best: plain oldest-first deletion. No limit: nothing happens. */
    ck_assert_int_eq(ts_rotate_checkpoints(dir, 0, NULL, &del), TG_OK);
    ck_assert_int_eq(del, 0);
    ck_assert_int_eq(ts_rotate_checkpoints(dir, 1, NULL, &del), TG_OK);
    ck_assert(!exists(dir, 500) && exists(dir, 3000));
    /* Missing output_dir: no checkpoints, no error. */
    snprintf(p, sizeof p, "%s/none", dir);
    ck_assert_int_eq(ts_last_checkpoint(p, last, sizeof last), 0);
    /* A directory without checkpoints (under UBSan: the empty list is not
     * sorted through a NULL array). */
    snprintf(p, sizeof p, "%s/checkpoint-12x", dir);
    ck_assert_int_eq(ts_last_checkpoint(p, last, sizeof last), 0);
    long *none = (long *)1;
    int nn = -1;
    ck_assert_int_eq(ts_list_checkpoints(dir, &none, &nn), TG_OK);
    ck_assert_int_eq(nn, 1); /* checkpoint-3000 */
    tg_free(none);
    ck_assert_int_eq(ts_list_checkpoints(p, &none, &nn), TG_OK);
    ck_assert_int_eq(nn, 0);
    ck_assert_ptr_null(none);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(svg_loss_chart)
{
    char *dir = tu_tmpdir(), path[256];
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    double x[50], y[50], ex[5], ey[5];
    for (int i = 0; i < 50; i++) {
        x[i] = 10.0 * (i + 1);
        y[i] = 3.3 - 1.6 * (1 - exp(-i / 12.0));
    }
    y[20] = NAN; /* a gap */
    for (int i = 0; i < 5; i++) {
        ex[i] = 100.0 * (i + 1);
        ey[i] = 3.0 - 0.25 * i;
    }
    svg_series s[2] = {{"training loss", x, y, 50, NULL, 0}, {"eval <loss> & co", ex, ey, 5, NULL, 1}};
    svg_chart c = {"MLM loss: run \"tiny\"", "step", "loss", 0, 0};
    ck_assert_int_eq(svg_line_chart(path, &c, s, 2), TG_OK);
    const char *t = read_text(path);
    ck_assert_ptr_nonnull(strstr(t, "<svg xmlns="));
    ck_assert_ptr_nonnull(strstr(t, "</svg>\n"));
    ck_assert_ptr_nonnull(strstr(t, "MLM loss: run &quot;tiny&quot;"));
    ck_assert_ptr_nonnull(strstr(t, "eval &lt;loss&gt; &amp; co"));
    ck_assert_ptr_nonnull(strstr(t, ">500</text>")); /* an x tick */
    ck_assert_ptr_nonnull(strstr(t, ">2.0</text>")); /* a y tick */
    int paths = 0, circles = 0, moves = 0;
    for (const char *p = t; (p = strstr(p, "class=\"series\"")); p++)
        paths++;
    for (const char *p = t; (p = strstr(p, "<circle")); p++)
        circles++;
    const char *d = strstr(t, " d=\"");
    for (const char *p = d; *p != '/'; p++)
        moves += *p == 'M';
    ck_assert_int_eq(paths, 2);
    ck_assert_int_eq(circles, 5);
    ck_assert_int_eq(moves, 2); /* the NaN split the training line */
    ck_assert_double_eq(svg_nice_step(1.6, 6), 0.2);
    ck_assert_double_eq(svg_nice_step(490, 6), 100);
    ck_assert_int_eq(svg_line_chart(path, &c, s, -1), TG_ERR_ARG);
    rm_rf(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_state");
    TCase *tc = tcase_create("train_state");
    tcase_add_test(tc, json_numbers_like_python);
    tcase_add_test(tc, state_round_trip);
    tcase_add_test(tc, results_files);
    tcase_add_test(tc, rotation_keeps_best);
    tcase_add_test(tc, svg_loss_chart);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
