/* libFuzzer target: examples/train_args.c. The input, split at NUL bytes,
 * is argv[1..] of `ablm train`; parsed args must validate again and be
 * writable as JSON. */
#include "fuzz_util.h"
#include "tg.h"
#include "train_args.h"

#include <stdlib.h>
#include <string.h>

#define MAXARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    char *buf = malloc(n + 1);
    char *argv[MAXARGS + 2];
    int argc = 0;
    if (!buf)
        abort();
    memcpy(buf, data, n);
    buf[n] = 0;
    argv[argc++] = "train";
    for (size_t i = 0; i <= n && argc <= MAXARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    train_args *a = malloc(sizeof *a);
    if (!a)
        abort();
    train_args_defaults(a);
    if (train_args_parse(a, argc, argv) == TG_OK) {
        if (train_args_validate(a) != TG_OK)
            abort(); /* parse validated once: again must pass */
        const char *path = fz_write(0, "args.json", "", 0);
        if (train_args_write_json(a, path) != TG_OK)
            abort();
    }
    free(a);
    free(buf);
    return 0;
}
