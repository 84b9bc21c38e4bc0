/* libFuzzer target: the argument parsers of `ablm generate` and `ablm
 * eval-h2l` (examples/infer.c's inf_parse with the generation flags of
 * examples/gen_args.c, then ga_apply) and `ablm train-h2l` (its model flags, examples/
 * cmd_train_h2l.c, then the trainer's parser, examples/train_args.c, on
 * the rest). Byte 0 chooses (even: generate, odd: train-h2l) and, for
 * generate, the vocabulary size; the rest, split at NUL bytes, is
 * argv[1..]. Contracts: generation options that ga_apply accepts pass
 * gen_opts_check again and keep every flag's range (bad ids inside the
 * vocabulary); train-h2l passes on the arguments it does not take, in
 * order, gives --encoder and --decoder together, and what the trainer's
 * parser accepts validates again. */
#include "fuzz_util.h"
#include "gen_args.h"
#include "s2s_task.h"
#include "tg.h"
#include "train_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXARGS 64

/* The commands print their usage errors: to /dev/null here (the
 * sanitizers write to fd 2 directly, so their reports still show). */
static FILE *devnull;
static FILE *saved_out, *saved_err;
static void quiet(int on)
{
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    if (on)
        saved_out = stdout, saved_err = stderr, stdout = devnull, stderr = devnull;
    else
        stdout = saved_out, stderr = saved_err;
}

static void generate(int vocab, int argc, char **argv)
{
    ga_flags gf;
    ga_defaults(&gf);
    inf_opt opts[GA_NOPTS];
    ga_opts(&gf, opts);
    quiet(1);
    int rc = inf_parse("generate", "", opts, GA_NOPTS, argc, argv);
    gen_opts o;
    int usage = 1;
    if (rc == INF_GO) {
        gen_opts_default(&o, 3, 0);
        usage = ga_apply("generate", &gf, vocab, &o);
    }
    quiet(0);
    if (rc != INF_GO)
        return;
    if (gf.nrs < 1 || gf.max_new < 1 || gf.top_k < 0 || gf.seed < 0 || gf.beams < 1 || gf.groups < 1)
        abort(); /* a value under the flag's minimum got through */
    if (usage)
        return;
    if (gen_opts_check(&o, vocab) != TG_OK)
        abort(); /* ga_apply promises checked options */
    if (o.n_bad < 0 || o.n_bad > GEN_MAX_BAD)
        abort();
    for (int i = 0; i < o.n_bad; i++)
        if (o.bad_ids[i] < 0 || o.bad_ids[i] >= vocab)
            abort();
}

static void train_h2l(int argc, char **argv)
{
    s2s_opts o;
    char *rest[MAXARGS + 2];
    int n = 0;
    quiet(1);
    int rc = h2l_parse_flags(argc, argv, &o, rest, &n);
    quiet(0);
    if (rc)
        return;
    if (n < 1 || n > argc || rest[n] != NULL || rest[0] != argv[0])
        abort();
    for (int i = 1, j = 1; i < n; i++, j++) { /* rest is a subsequence of argv */
        while (j < argc && argv[j] != rest[i])
            j++;
        if (j == argc)
            abort();
    }
    if (!o.encoder[0] != !o.decoder[0] || strlen(o.encoder) >= TA_PATH || o.adapters < 0 ||
        o.max_source_length < 0 || o.max_target_length < 0)
        abort();
    static train_args a;
    train_args_defaults(&a);
    if (train_args_parse(&a, n, rest) == TG_OK && train_args_validate(&a) != TG_OK)
        abort(); /* parse validated once: again must pass */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    unsigned b = data[0];
    char *buf = malloc(n);
    char *argv[MAXARGS + 2];
    int argc = 0;
    if (!buf)
        abort();
    memcpy(buf, data + 1, n - 1);
    buf[n - 1] = 0;
    argv[argc++] = (b & 1) ? "train-h2l" : "generate";
    for (size_t i = 0; i < n - 1 && argc <= MAXARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    if (b & 1)
        train_h2l(argc, argv);
    else
        generate(1 + (int)(b >> 1), argc, argv);
    free(buf);
    return 0;
}
