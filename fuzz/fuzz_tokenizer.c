/* libFuzzer target: data/tokenizer.c and tok_files.c. The input is split
 * at FZ_SEP into vocab.txt, added_tokens.json, tokenizer_config.json,
 * special_tokens_map.json and tokenizer.json (parts beyond the input's are
 * absent files); a tokenizer that loads encodes and decodes a sample and
 * is saved and loaded again. */
#include "fuzz_util.h"
#include "tg.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const names[] = {"vocab.txt", "added_tokens.json", "tokenizer_config.json",
                                    "special_tokens_map.json", "tokenizer.json"};
#define NFILES 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const uint8_t *part[NFILES];
    size_t len[NFILES];
    int np = fz_split(data, n, NFILES, part, len);
    char path[700];
    for (int i = 0; i < NFILES; i++) {
        if (i < np)
            fz_write(i, names[i], part[i], len[i]);
        else {
            snprintf(path, sizeof path, "%s/%s", fz_dir(), names[i]);
            unlink(path);
        }
    }
    tok_tokenizer *t = NULL;
    if (tok_load(fz_dir(), &t) != TG_OK)
        return 0;
    static const char sample[] = "EVQLVESGGGLVQPGG[MASK]SLRLSCAASGFTFS*xB z\x01\xc3\xa9";
    int32_t ids[64];
    int k = 0;
    tok_stats st;
    memset(&st, 0, sizeof st);
    if (tok_encode(t, sample, sizeof sample - 1, 64, TOK_TRUNCATE, ids, &k, &st) == TG_OK) {
        if (k < 2 || k > 64)
            abort();
        char buf[1024];
        (void)tok_decode(t, ids, k, 1, buf, sizeof buf);
        (void)tok_decode(t, ids, k, 0, buf, sizeof buf);
    }
    for (int id = -1; id <= tok_vocab_size(t); id++) {
        const char *s = tok_token(t, id);
        if ((id < 0 || id == tok_vocab_size(t)) != (s == NULL))
            abort();
    }
    /* what we save we must load again, with the same vocabulary */
    snprintf(path, sizeof path, "%s/saved", fz_dir());
    mkdir(path, 0700);
    if (tok_save(t, path, 512) == TG_OK) {
        tok_tokenizer *u = NULL;
        if (tok_load(path, &u) != TG_OK || tok_vocab_size(u) != tok_vocab_size(t)) {
            fprintf(stderr, "fuzz: saved tokenizer does not load back: %s\n", tg_last_error());
            abort();
        }
        tok_free(u);
    }
    tok_free(t);
    return 0;
}
