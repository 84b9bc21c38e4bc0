/* bench_infer: speed of the inference commands on real heavy chains with a
 * randomly initialised model.
 *
 *   bench_infer [--config configs/heavy_small.json] [--n 200] [--score-n 10]
 *               [--batch-size 32] [--threads 0] [--bf16] [--save-fasta FILE]
 *               OAS_UNIT.csv.gz
 *
 * Builds a model directory (rb_model_init seed 1, default tokenizer) in a
 * temporary directory, writes the first --n heavy chains of the unit as
 * FASTA (chains with '*', non-standard letters or too long for the model
 * are left out), runs embed, embed --per-residue, logits and fill-mask (one residue
 * masked per sequence) on all of them and score on the first --score-n,
 * and prints one line per command: sequences, seconds, sequences/s, and
 * [ablm PRECISION, N threads]. --bf16 runs every command with --bf16;
 * --save-fasta keeps a copy of the heavy chains (bench/infer_torch.py
 * reads them). The temporary directory is removed at the end. */
#define _XOPEN_SOURCE 700
#include "commands.h"
#include "config.h"
#include "infer.h"
#include "reader.h"
#include "roberta.h"
#include "tg.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static char dir[] = "/tmp/bench-infer-XXXXXX";
static char tag[64]; /* [ablm fp32, 2 threads] */

static void cleanup(void) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int fail(const char *what)
{
    cleanup();
    fprintf(stderr, "bench_infer: %s: %s\n", what, tg_last_error());
    return 1;
}

/* Runs one command with stdout discarded; prints its speed. */
static int timed(const char *label, int (*fn)(int, char **), char **argv, int n_seq)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    fflush(stdout);
    int keep = dup(1);
    FILE *null = fopen("/dev/null", "w");
    dup2(fileno(null), 1);
    double t0 = inf_now();
    int rc = fn(argc, argv);
    double el = inf_now() - t0;
    fflush(stdout);
    dup2(keep, 1);
    close(keep);
    fclose(null);
    printf("%-22s %6d sequences %8.2f s %8.1f sequences/s  %s%s\n", label, n_seq, el, n_seq / el,
           tag, rc ? "  (FAILED)" : "");
    return rc;
}

int main(int argc, char **argv)
{
    const char *config = "configs/heavy_small.json", *unit = NULL;
    int n = 200, score_n = 10;
    const char *bs = "32", *threads = "0", *save = NULL;
    int bf16 = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--config"))
            config = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--n"))
            n = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--score-n"))
            score_n = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--batch-size"))
            bs = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            threads = argv[++i];
        else if (!strcmp(argv[i], "--bf16"))
            bf16 = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--save-fasta"))
            save = argv[++i];
        else if (argv[i][0] != '-')
            unit = argv[i];
        else {
            fprintf(stderr, "usage: bench_infer [--config F] [--n N] [--score-n N] "
                            "[--batch-size N] [--threads N] [--bf16] [--save-fasta FILE] "
                            "OAS_UNIT.csv.gz\n");
            return 2;
        }
    }
    if (!unit || n < 1 || score_n < 0) {
        fprintf(stderr, "bench_infer: an OAS unit is required (see the header comment)\n");
        return 2;
    }
    char model[256], fa[256], fm[256], sc[256], out[256];
    if (!mkdtemp(dir))
        return 1;
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(fa, sizeof fa, "%s/heavy.fa", dir);
    snprintf(fm, sizeof fm, "%s/masked.fa", dir);
    snprintf(sc, sizeof sc, "%s/score.fa", dir);
    mkdir(model, 0755);

    rb_config cfg;
    rb_model *m;
    tok_tokenizer *tok;
    if (rb_config_load(config, &cfg) || rb_model_new(&cfg, &m))
        return fail(config);
    rb_model_init(m, 1);
    if (rb_model_save(m, model) || rb_config_save(&cfg, model) || tok_new(&tok) ||
        tok_save(tok, model, cfg.max_position_embeddings - cfg.pad_token_id - 1))
        return fail(model);
    rb_model_free(m);
    tok_free(tok);

    rd_opts o;
    rd_opts_default(&o);
    o.drop_stop = o.drop_nonstandard = 1;
    o.max_length = cfg.max_position_embeddings - cfg.pad_token_id - 3; /* fits the model */
    rd_reader *r;
    if (rd_open(&r, unit, &o))
        return fail(unit);
    FILE *f1 = fopen(fa, "w"), *f2 = fopen(fm, "w"), *f3 = fopen(sc, "w");
    FILE *f4 = save ? fopen(save, "w") : NULL;
    if (!f1 || !f2 || !f3 || (save && !f4)) {
        fprintf(stderr, "bench_infer: cannot write %s\n", save && !f4 ? save : dir);
        cleanup();
        return 1;
    }
    rd_record rec;
    int got = 0, st;
    long residues = 0;
    while (got < n && (st = rd_next(r, &rec)) == 1) {
        fprintf(f1, ">%s\n%s\n", rec.id, rec.seq);
        if (f4)
            fprintf(f4, ">%s\n%s\n", rec.id, rec.seq);
        fprintf(f2, ">%s\n%.*s*%s\n", rec.id, rec.len / 2, rec.seq, rec.seq + rec.len / 2 + 1);
        if (got < score_n)
            fprintf(f3, ">%s\n%s\n", rec.id, rec.seq);
        residues += rec.len;
        got++;
    }
    rd_close(r);
    fclose(f1);
    fclose(f2);
    fclose(f3);
    if (f4)
        fclose(f4);
    if (got == 0) {
        fprintf(stderr, "bench_infer: %s: no heavy chain of at most %d standard residues\n", unit,
                o.max_length);
        cleanup();
        return 1;
    }
    printf("%s: %d heavy chains (mean length %.1f), model %s (%lld parameters), %d threads, "
           "batch %s\n",
           unit, got, got ? (double)residues / got : 0.0, config,
           (long long)rb_config_param_count(&cfg), (tg_set_threads(atoi(threads)), tg_threads()),
           bs);
    snprintf(tag, sizeof tag, "[ablm %s, %d thread%s]", bf16 ? "--bf16" : "fp32", tg_threads(),
             tg_threads() > 1 ? "s" : "");
    snprintf(out, sizeof out, "%s/out.npy", dir);
    char *embed[] = {"embed", "--model", model, "--input", fa, "--output", out, "--batch-size",
                     (char *)bs, "--threads", (char *)threads, NULL, NULL};
    char *perres[] = {"embed", "--model", model, "--input", fa, "--output", out, "--per-residue",
                      "--batch-size", (char *)bs, "--threads", (char *)threads, NULL, NULL};
    char *logits[] = {"logits", "--model", model, "--input", fa, "--output", out, "--batch-size",
                      (char *)bs, "--threads", (char *)threads, NULL, NULL};
    char *fill[] = {"fill-mask", "--model", model, "--input", fm, "--batch-size", (char *)bs,
                    "--threads", (char *)threads, NULL, NULL};
    char *score[] = {"score", "--model", model, "--input", sc, "--output", out, "--batch-size",
                     (char *)bs, "--threads", (char *)threads, NULL, NULL};
    char **all[] = {embed, perres, logits, fill, score};
    for (int i = 0; i < 5 && bf16; i++) { /* the NULL slot before the spare one */
        int k = 0;
        while (all[i][k])
            k++;
        all[i][k] = "--bf16";
    }
    int rc = timed("embed", cmd_embed, embed, got) | timed("embed --per-residue", cmd_embed, perres, got) |
             timed("logits", cmd_logits, logits, got) | timed("fill-mask", cmd_fill_mask, fill, got);
    if (score_n > 0)
        rc |= timed("score", cmd_score, score, got < score_n ? got : score_n);
    cleanup();
    return rc ? 1 : 0;
}
