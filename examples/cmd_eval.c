/* ablm eval: eval_loss, perplexity and masked-token accuracy of a model on a
 * file, with the trainer's evaluation (fixed masking seed). */
#include "commands.h"
#include "mlm_run.h"
#include "train_state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void note(const char *msg) { fprintf(stderr, "ablm eval: %s\n", msg); }

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ablm eval --model DIR --validation_file FILE [options]\n\n"
            "Masks 15%% of residues as DataCollatorForLanguageModeling does (fixed seed) and\n"
            "prints {eval_loss, perplexity, eval_accuracy, ...} as JSON on stdout.\n\n"
            "  --model DIR                 model directory (config.json, model.safetensors, tokenizer)\n"
            "  --validation_file FILE      sequences: one per line, FASTA, OAS or AIRR\n"
            "  --per_device_eval_batch_size N   batch size (default 8)\n"
            "  --mlm_probability P         masking rate (default 0.15)\n"
            "  --max_seq_length N          tokens per sequence incl. specials (default: model max)\n"
            "  --seed N                    masking seed (default 42)\n"
            "  --threads N                 threads (default: all cores)\n"
            "  --bf16                      bfloat16 matrix products, fp32 accumulation (torch.autocast;\n"
            "                              needs AVX-512)\n");
}

int cmd_eval(int argc, char **argv)
{
    const char *model_dir = NULL, *file = NULL;
    int bs = 8, max_len = 0, threads = 0, bf16 = 0;
    double prob = 0.15;
    long seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        while (*f == '-')
            f++;
        if (!strcmp(f, "help") || !strcmp(f, "h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(f, "bf16")) {
            bf16 = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ablm eval: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(f, "model") || !strcmp(f, "model_name_or_path"))
            model_dir = v;
        else if (!strcmp(f, "validation_file"))
            file = v;
        else if (!strcmp(f, "per_device_eval_batch_size"))
            bs = atoi(v);
        else if (!strcmp(f, "mlm_probability"))
            prob = atof(v);
        else if (!strcmp(f, "max_seq_length"))
            max_len = atoi(v);
        else if (!strcmp(f, "seed"))
            seed = atol(v);
        else if (!strcmp(f, "threads"))
            threads = atoi(v);
        else {
            fprintf(stderr, "ablm eval: unknown flag %s (ablm eval --help lists the flags)\n", argv[i - 1]);
            return 2;
        }
    }
    if (!model_dir || !file || bs < 1 || !(prob > 0 && prob < 1)) {
        fprintf(stderr, "ablm eval: %s\n", !model_dir ? "--model is required"
                                           : !file   ? "--validation_file is required"
                                           : bs < 1  ? "--per_device_eval_batch_size must be >= 1"
                                                     : "--mlm_probability must be in (0, 1)");
        return 2;
    }
    tg_set_threads(threads);
    if (bf16 && tg_bf16_require("--bf16")) {
        fprintf(stderr, "ablm eval: %s\n", tg_last_error());
        return 2;
    }
    rb_model *m;
    tok_tokenizer *tok;
    int rc = rb_load_pretrained(model_dir, &m, &tok, note);
    if (rc) {
        fprintf(stderr, "ablm eval: %s\n", tg_last_error());
        return 1;
    }
    int model_max = m->cfg.max_position_embeddings - m->cfg.pad_token_id - 1;
    if (max_len <= 0 || max_len > model_max)
        max_len = model_max;
    mlm_data d;
    mlm_graphs gc;
    mlm_eval_result r;
    rc = mlm_data_load(&d, file, "validation_file", tok, max_len, -1);
    if (!rc) {
        rc = mlm_graphs_init(&gc, m, (uint64_t)seed, RB_LOSS);
        gc.precision = bf16 ? TG_PREC_BF16 : TG_PREC_F32;
        mlm_mask_cfg mc = mlm_mask_for(tok, prob);
        if (!rc)
            rc = mlm_evaluate(&gc, &d, bs, max_len, &mc, (uint64_t)seed ^ 0xe7a1ULL, &r);
        mlm_graphs_free(&gc);
        mlm_data_free(&d);
    }
    if (!rc) {
        /* 6 places as before; not finite (no masked token): null, not nan */
        char l[40], p[40], acc[40];
        ts_json_number(l, round(r.loss * 1e6) / 1e6, 0);
        ts_json_number(p, round(exp(r.loss) * 1e6) / 1e6, 0);
        ts_json_number(acc, round(r.accuracy * 1e6) / 1e6, 0);
        printf("{\"eval_loss\": %s, \"perplexity\": %s, \"eval_accuracy\": %s, "
               "\"eval_samples\": %ld, \"eval_masked_tokens\": %ld, \"eval_runtime\": %.4f}\n",
               l, p, acc, r.samples, r.masked, r.seconds);
    } else
        fprintf(stderr, "ablm eval: %s\n", tg_last_error());
    rb_model_free(m);
    tok_free(tok);
    return rc ? 1 : 0;
}
