/* ablm train-h2l: heavy-to-light training of an encoder-decoder
 * (EncoderDecoderModel) from the heavy RoBERTa and the light GPT-2, on the
 * trainer of ablm train (the flags of ablm train plus the model flags
 * below, which this command takes out before the trainer's parser). */
#include "commands.h"
#include "s2s_task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char intro[] =
    "ablm train-h2l: trains the heavy-to-light encoder-decoder (EncoderDecoderModel semantics:\n"
    "RoBERTa encoder, GPT-2 decoder with fresh cross-attention) on heavy/light pairs. PAIRS\n"
    "(--train_file, --validation_file): an OAS paired unit (.csv/.csv.gz), a TSV with heavy and\n"
    "light columns, or HEAVY[SEP]LIGHT lines; a comma-separated list reads several files. Model\n"
    "flags:\n"
    "  --encoder DIR            the heavy model (an `ablm train` output directory)\n"
    "  --decoder DIR            the light decoder (an `ablm train-clm` output directory)\n"
    "                           (or --model_name_or_path DIR: an encoder-decoder directory)\n"
    "  --adapters [N]           bottleneck adapters, reduction factor N (default 16), ReLU,\n"
    "                           after attention and feed-forward of every layer; the base is\n"
    "                           frozen, adapters + cross-attention + enc_to_dec_proj train\n"
    "  --freeze_encoder         freeze every encoder tensor\n"
    "  --max_source_length N    heavy chains longer than N - 2 residues are skipped (0: the\n"
    "                           encoder's positions)\n"
    "  --max_target_length N    light chains longer than N - 1 residues are skipped (0: the\n"
    "                           decoder's n_positions)\n"
    "Skipped pairs (a missing chain, too long) are counted in the log. The trainer flags\n"
    "are ablm train's (--config_name does not apply):\n\n";

/* "true"/"false" after a boolean flag (consumed), else the flag alone. */
static int bool_value(int argc, char **argv, int *i)
{
    if (*i + 1 < argc && (!strcmp(argv[*i + 1], "true") || !strcmp(argv[*i + 1], "True"))) {
        ++*i;
        return 1;
    }
    if (*i + 1 < argc && (!strcmp(argv[*i + 1], "false") || !strcmp(argv[*i + 1], "False"))) {
        ++*i;
        return 0;
    }
    return 1;
}

/* An integer >= lo for flag argv[*i] from argv[*i + 1]; -1 on error. */
static int int_value(int argc, char **argv, int *i, int lo)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "ablm train-h2l: %s needs a value\n", argv[*i]);
        return -1;
    }
    char *end;
    long v = strtol(argv[*i + 1], &end, 10);
    if (*end || end == argv[*i + 1] || v < lo || v > 1000000) {
        fprintf(stderr, "ablm train-h2l: %s: \"%s\" is not an integer >= %d\n", argv[*i],
                argv[*i + 1], lo);
        return -1;
    }
    ++*i;
    return (int)v;
}

int h2l_parse_flags(int argc, char **argv, s2s_opts *po, char **rest, int *nrest)
{
    s2s_opts o = {0};
    int n = 0, rc = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc && !rc; i++) {
        const char *f = argv[i];
        char *dst = !strcmp(f, "--encoder") ? o.encoder : !strcmp(f, "--decoder") ? o.decoder : NULL;
        if (dst) {
            if (i + 1 >= argc || !argv[i + 1][0] || strlen(argv[i + 1]) >= TA_PATH) {
                fprintf(stderr, "ablm train-h2l: %s needs a directory\n", f);
                rc = 2;
            } else {
                strcpy(dst, argv[++i]);
            }
        } else if (!strcmp(f, "--freeze_encoder")) {
            o.freeze_encoder = bool_value(argc, argv, &i);
        } else if (!strcmp(f, "--adapters")) {
            o.adapters = 16;
            if (i + 1 < argc && argv[i + 1][0] != '-' && (o.adapters = int_value(argc, argv, &i, 1)) < 0)
                rc = 2;
        } else if (!strcmp(f, "--max_source_length") || !strcmp(f, "--max_target_length")) {
            int v = int_value(argc, argv, &i, 0);
            if (v < 0)
                rc = 2;
            else if (f[6] == 's')
                o.max_source_length = v;
            else
                o.max_target_length = v;
        } else if (!strcmp(f, "--config_name")) {
            fprintf(stderr, "ablm train-h2l: --config_name does not apply: give --encoder and --decoder "
                            "(or --model_name_or_path)\n");
            rc = 2;
        } else {
            rest[n++] = argv[i];
        }
    }
    rest[n] = NULL;
    if (!rc && (!o.encoder[0]) != (!o.decoder[0])) {
        fprintf(stderr, "ablm train-h2l: --encoder and --decoder go together\n");
        rc = 2;
    }
    *po = o;
    *nrest = n;
    return rc;
}

int cmd_train_h2l(int argc, char **argv)
{
    s2s_opts o;
    char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
    if (!rest)
        return 1;
    int n;
    int rc = h2l_parse_flags(argc, argv, &o, rest, &n);
    if (!rc) {
        s2s_task_configure(&o);
        rc = train_command_ex("ablm train-h2l", intro, &s2s_task, 0, n, rest);
    }
    free(rest);
    return rc;
}
