/* ablm: the command-line program. Dispatches to one subcommand per file. */
#include "commands.h"
#include "cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const ablm_command commands[] = {
    {"train", cmd_train, "train a RoBERTa masked-language model (run_mlm.py flags)"},
    {"train-clm", cmd_train_clm, "train a GPT-2 causal LM on light chains (run_clm.py flags)"},
    {"train-h2l", cmd_train_h2l, "train the heavy-to-light encoder-decoder on heavy/light pairs"},
    {"generate", cmd_generate, "generate sequences from a GPT-2 decoder (greedy, sampling; KV cache)"},
    {"eval", cmd_eval, "evaluate a model: eval_loss, perplexity, masked-token accuracy"},
    {"eval-h2l", cmd_eval_h2l, "heavy-to-light: BLOSUM62, identity, locus, regions vs baselines"},
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
    fprintf(f, "usage: ablm COMMAND [options]   (ablm COMMAND --help for its flags)\n"
               "       ablm --version   (version and the CPU kernels in use)\n\ncommands:\n");
    for (const ablm_command *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

/* OpenMP threads that spin at barriers take the cores from each other and
 * from other processes as soon as the machine is not idle (measured: a
 * 2-thread training step 2x slower than 1 thread under load, and back to
 * normal with passive waiting). libgomp reads OMP_WAIT_POLICY before main
 * runs, so set it and re-execute once unless the user chose a policy. */
static void passive_openmp(char **argv)
{
    if (getenv("OMP_WAIT_POLICY"))
        return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv); /* returns only on failure: run as is */
}

int main(int argc, char **argv)
{
    passive_openmp(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { /* and the kernels this CPU runs (graph/cpu.h) */
        char buf[512];
        printf("ablm\n%s\n", tg_cpu_describe(buf, sizeof buf));
        return 0;
    }
    for (const ablm_command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "ablm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
