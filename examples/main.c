/* ablm: the command-line program. Dispatches to one subcommand per file. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const ablm_command commands[] = {
    {"train", cmd_train, "train a RoBERTa masked-language model (run_mlm.py flags)"},
    {"eval", cmd_eval, "evaluate a model: eval_loss, perplexity, masked-token accuracy"},
    {"cluster", cmd_cluster, "cluster sequences by alignment identity/coverage (linclust or greedy)"},
    {"split", cmd_split, "train/val/test files from a clustering (whole clusters), leakage report"},
    {"prepare", cmd_prepare, "OAS/AIRR files -> CDRH3 and sequence clustering -> train/val/test"},
    {"embed", cmd_embed, "per-sequence or per-residue embeddings as .npy"},
    {"fill-mask", cmd_fill_mask, "most likely tokens at masked positions (TSV)"},
    {"score", cmd_score, "pseudo-log-likelihood of each sequence (TSV)"},
    {"logits", cmd_logits, "raw masked-LM logits and token ids as .npy"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ablm COMMAND [options]   (ablm COMMAND --help for its flags)\n\ncommands:\n");
    for (const ablm_command *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const ablm_command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "ablm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
