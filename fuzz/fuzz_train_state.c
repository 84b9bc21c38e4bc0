/* libFuzzer target: the training-state files a resumed run reads
 * (examples/train_state.c): trainer_state.json (ts_read) and a
 * checkpoint's rng_state.json (ts_read_world_size, the world_size field).
 * Byte 0 bit 0 chooses (0: trainer_state.json, 1: rng_state.json); the
 * rest is the file. Contracts: an error has a message; a state that reads
 * writes again (ts_write) and that file reads back and writes the same
 * bytes (a fixed point), with the same step, history length and best
 * checkpoint; a world size read is >= 1. */
#include "fuzz_util.h"
#include "tg.h"
#include "train_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    if (data[0] & 1) {
        const char *path = fz_write(0, "rng_state.json", data + 1, n - 1);
        long ws = 0;
        int st = ts_read_world_size(path, &ws);
        if (st && !tg_last_error()[0])
            abort();
        if (!st && ws < 1)
            abort(); /* a world size is a count of ranks */
        return 0;
    }
    const char *path = fz_write(0, "trainer_state.json", data + 1, n - 1);
    ts_state s;
    int st = ts_read(&s, path);
    if (st) {
        if (!tg_last_error()[0])
            abort();
        ts_free(&s);
        return 0;
    }
    const char *p1 = fz_write(1, "state1.json", "", 0), *p2 = fz_write(2, "state2.json", "", 0);
    if (ts_write(&s, p1)) {
        fprintf(stderr, "fuzz: a state read does not write: %s\n", tg_last_error());
        abort();
    }
    ts_state t;
    if (ts_read(&t, p1)) {
        fprintf(stderr, "fuzz: a state written does not read back: %s\n", tg_last_error());
        abort();
    }
    if (t.global_step != s.global_step || t.nlog != s.nlog || t.has_best != s.has_best ||
        strcmp(t.best_model_checkpoint, s.best_model_checkpoint) || t.max_steps != s.max_steps)
        abort(); /* the state changed by the write + read */
    if (ts_write(&t, p2))
        abort();
    size_t n1, n2;
    char *a = fz_slurp(p1, &n1), *b = fz_slurp(p2, &n2);
    if (!a || !b)
        abort();
    if (n1 != n2 || memcmp(a, b, n1)) {
        fprintf(stderr, "fuzz: trainer_state.json is not a fixed point of read + write:\n%s\n---\n%s\n", a, b);
        abort();
    }
    free(a), free(b);
    ts_free(&s), ts_free(&t);
    return 0;
}
