/* ablm train-clm end to end: the GPT-2 decoder learns on real light chains
 * (read from a paired OAS unit's `_light` columns), exact resume through
 * the shared loop, line-by-line batches, and the saved directory. */
#include "commands.h"
#include "gpt2.h"
#include "reader.h"
#include "testutil.h"
#include "tg.h"
#include "train_state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmp;
static char unit_path[4096], val_path[512];
static double unigram_xent; /* nats: held-out tokens under the train unigram */

/* Light chains of a paired unit, as read for train-clm. */
static char **light_chains(const char *path, size_t *n)
{
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_LIGHT;
    char **ids, **seqs;
    ck_assert_msg(rd_read_all(path, &o, &ids, &seqs, n, NULL) == TG_OK, "%s", tg_last_error());
    rd_free_strings(ids, *n);
    return seqs;
}

/* Token counts of chains as <bos> residues <eos> in the default vocabulary. */
static void count_tokens(char **seqs, size_t n, const tok_tokenizer *tok, double *count,
                         double *total)
{
    int32_t ids[512];
    for (size_t i = 0; i < n; i++) {
        int m;
        ck_assert_int_eq(tok_encode(tok, seqs[i], strlen(seqs[i]), 512, TOK_TRUNCATE, ids, &m, NULL),
                         TG_OK);
        for (int k = 0; k < m; k++)
            count[ids[k]]++;
        *total += m;
    }
}

/* Train: a paired unit (train-clm reads its light chains); held out: the
 * light chains of another unit, as a text file; the cross-entropy of the
 * held-out tokens under the training unigram distribution (what a model
 * that ignores context reaches). Returns 0 when data is absent. */
static int make_data(void)
{
    const char *oas = tu_oas_dir();
    if (!oas)
        return 0;
    if (val_path[0])
        return 1;
    tmp = tu_tmpdir();
    snprintf(unit_path, sizeof unit_path, "%s/1279052_1_Paired_All.csv.gz", oas);
    snprintf(val_path, sizeof val_path, "%s/val.txt", tmp);
    char other[4096];
    snprintf(other, sizeof other, "%s/1279060_1_Paired_All.csv.gz", oas);
    size_t nt, nv;
    char **tr = light_chains(unit_path, &nt), **va = light_chains(other, &nv);
    ck_assert_uint_gt(nv, 300);
    size_t nv_all = nv;
    nv = 300;
    FILE *f = fopen(val_path, "w");
    for (size_t i = 0; i < nv; i++)
        fprintf(f, "%s\n", va[i]);
    fclose(f);
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    double ct[64] = {0}, cv[64] = {0}, tt = 0, tv = 0;
    count_tokens(tr, nt, tok, ct, &tt);
    count_tokens(va, nv, tok, cv, &tv);
    for (int i = 0; i < tok_vocab_size(tok); i++)
        if (cv[i])
            unigram_xent -= cv[i] / tv * log((ct[i] + 0.5) / (tt + 0.5 * tok_vocab_size(tok)));
    tok_free(tok);
    rd_free_strings(tr, nt);
    rd_free_strings(va, nv_all);
    return 1;
}

static int run_clm(const char *out, const char *train, const char *extra)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "train-clm --config_name %s/configs/light_gpt_tiny.json --train_file %s "
             "--validation_file %s --output_dir %s --per_device_train_batch_size 16 "
             "--block_size 40 --learning_rate 3e-3 --logging_steps 1 --seed 7 %s",
             tu_source_dir(), train, val_path, out, extra);
    char *argv[80];
    int argc = 0;
    for (char *t = strtok(cmd, " "); t && argc < 79; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    char o[700], e[700];
    snprintf(o, sizeof o, "%s.stdout", out);
    snprintf(e, sizeof e, "%s.stderr", out);
    return tu_run_cmd(cmd_train_clm, argc, argv, o, e);
}

START_TEST(learns_on_real_light_chains)
{
    if (!make_data()) {
        tu_skip("learns_on_real_light_chains", "../shared/data/oas-paired not found");
        return;
    }
    char out[600], path[700];
    snprintf(out, sizeof out, "%s/learn", tmp);
    ck_assert_int_eq(run_clm(out, unit_path, "--max_steps 200 --do_train --do_eval --save_strategy no"),
                     0);
    snprintf(path, sizeof path, "%s/eval_results.json", out);
    double loss = tu_json_number(path, "eval_loss"), acc = tu_json_number(path, "eval_accuracy");
    printf("train-clm: held-out eval_loss %.4f nats, unigram cross-entropy %.4f nats, "
           "next-token accuracy %.3f, perplexity %.3f\n",
           loss, unigram_xent, acc, tu_json_number(path, "perplexity"));
    ck_assert_double_lt(loss, unigram_xent - 0.2);
    /* --block_size is max_seq_length: chains grouped into 40-token blocks */
    snprintf(path, sizeof path, "%s.stderr", out);
    char *err = tu_read_file(path);
    ck_assert_msg(strstr(err, "grouped into") && strstr(err, "blocks of 40 tokens"), "%s", err);
    free(err);
    snprintf(path, sizeof path, "%s/training_args.json", out);
    ck_assert_double_eq(tu_json_number(path, "max_seq_length"), 40);
    /* a Hugging Face GPT2LMHeadModel directory that loads back */
    const char *files[] = {"model.safetensors", "config.json", "vocab.txt", "tokenizer_config.json",
                           "train_results.json", "trainer_state.json", "loss_curve.svg"};
    for (int i = 0; i < 7; i++) {
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        ck_assert_msg(access(path, F_OK) == 0, "%s missing", path);
    }
    g2_model *m;
    tok_tokenizer *tok;
    ck_assert_msg(g2_load_pretrained(out, &m, &tok, NULL) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(m->cfg.n_layer, 2);
    g2_model_free(m);
    tok_free(tok);
}
END_TEST

/* 2N steps in one run == N steps, resume, N steps (dropout on, line by
 * line with padded batches): identical losses, bit-identical model. */
START_TEST(resume_is_exact)
{
    if (!make_data()) {
        tu_skip("resume_is_exact", "../shared/data/oas-paired not found");
        return;
    }
    char a[600], b[600], flags[1400];
    snprintf(a, sizeof a, "%s/straight", tmp);
    snprintf(b, sizeof b, "%s/resumed", tmp);
    const char *common = "--max_steps 12 --gradient_accumulation_steps 2 --warmup_steps 3 "
                         "--save_steps 6 --line_by_line --block_size 40";
    ck_assert_int_eq(run_clm(a, val_path, common), 0);
    snprintf(flags, sizeof flags, "%s --resume_from_checkpoint %s/checkpoint-6", common, a);
    ck_assert_int_eq(run_clm(b, val_path, flags), 0);
    double la[32], lb[32];
    ck_assert_int_eq(tu_step_losses(a, la, 32), 12);
    ck_assert_int_eq(tu_step_losses(b, lb, 32), 12);
    for (int i = 6; i < 12; i++)
        ck_assert_msg(la[i] == lb[i], "step %d: %.17g vs %.17g", i + 1, la[i], lb[i]);
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    ck_assert_msg(tu_same_file(pa, pb), "final models differ");
}
END_TEST

/* A RoBERTa config is not a decoder: the error names the file and key;
 * nothing is trained. Runs without the shared data. */
START_TEST(rejects_a_roberta_config)
{
    char *dir = tu_tmpdir(), train[600], out[600], cfg[4200], o[700], e[700];
    snprintf(train, sizeof train, "%s/train.txt", dir);
    FILE *f = fopen(train, "w");
    fputs("DIQMTQSPSSLSASVGDRVTITC\nEIVLTQSPGTLSLSPGERATLSC\n", f);
    fclose(f);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(cfg, sizeof cfg, "%s/configs/heavy_tiny.json", tu_source_dir());
    snprintf(o, sizeof o, "%s/stdout", dir);
    snprintf(e, sizeof e, "%s/stderr", dir);
    char *argv[] = {"train-clm", "--config_name", cfg, "--train_file", train, "--output_dir", out,
                    "--max_steps", "2", NULL};
    ck_assert_int_eq(tu_run_cmd(cmd_train_clm, 9, argv, o, e), 1);
    char *err = tu_read_file(e);
    ck_assert_msg(strstr(err, "heavy_tiny.json") && strstr(err, "model_type") &&
                      strstr(err, "only \"gpt2\""),
                  "%s", err);
    free(err);
    snprintf(o, sizeof o, "%s/model.safetensors", out);
    ck_assert_int_ne(access(o, F_OK), 0);
    free(dir);
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("train_clm");
    TCase *tc = tcase_create("train_clm");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, learns_on_real_light_chains);
    tcase_add_test(tc, resume_is_exact);
    tcase_add_test(tc, rejects_a_roberta_config);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free(tmp);
    return rc;
}
