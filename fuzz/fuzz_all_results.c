/* libFuzzer target: the all_results.json merge of ts_save_metrics
 * (examples/train_state.c), which reads the all_results.json an earlier
 * train or eval left in the output directory. Byte 0 picks the new metrics
 * (bit i set: metric i of the list below, made as the program makes them:
 * ts_mi for its counts); the rest is the existing
 * all_results.json. Contracts: an error has a message and leaves the old
 * all_results.json byte for byte; on success all_results.json is a strict
 * JSON object (cJSON's: no NaN token, a non-finite value is null) that holds every new
 * metric with its value and, when the old file is plain JSON, every number
 * member of it that no new metric replaces with its value (the last of a
 * repeated name), and nothing else; merging no metrics into it again writes
 * the same bytes (a fixed point). */
#include "fuzz_util.h"
#include "tg.h"
#include "train_state.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The last member of o named k (json.loads keeps the last), or NULL. */
static const cJSON *last(const cJSON *o, const char *k)
{
    const cJSON *e, *r = NULL;
    cJSON_ArrayForEach(e, o) if (e->string && !strcmp(e->string, k)) r = e;
    return r;
}

/* 1 if the written member x holds v (null for a non-finite v). */
static int holds(const cJSON *x, double v)
{
    if (!isfinite(v))
        return cJSON_IsNull(x);
    return cJSON_IsNumber(x) && x->valuedouble == v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    /* as the program makes them: ts_mi for its counts, ts_m otherwise */
    static const struct {
        const char *key;
        double v;
        int count;
    } pick[] = {{"eval_loss", 0.5, 0},      {"epoch", 2.0, 0},        {"eval_samples", 100, 1},
                {"train_runtime", 1e-7, 0}, {"eval_accuracy", NAN, 0}, {"train_threads", 2, 1},
                {"a", -0.0, 0},             {"step", 12345678901.0, 1}};
    ts_metric m[8];
    int k = 0;
    for (int i = 0; i < 8; i++)
        if (data[0] >> i & 1)
            m[k++] = pick[i].count ? ts_mi(pick[i].key, (long)pick[i].v)
                                   : ts_m(pick[i].key, pick[i].v);
    const char *path = fz_write(0, "all_results.json", data + 1, n - 1);
    size_t n0 = 0, n1 = 0, n2 = 0;
    char *old = fz_slurp(path, &n0);
    if (ts_save_metrics(fz_dir(), "eval", m, k)) {
        if (!tg_last_error()[0])
            abort();
        char *now = fz_slurp(path, &n1);
        if (!now || n1 != n0 || memcmp(now, old, n0))
            abort(); /* a failed merge must leave the old file */
        free(now);
        free(old);
        return 0;
    }
    char *t1 = fz_slurp(path, &n1);
    if (!t1)
        abort();
    /* cJSON refuses NaN and Infinity tokens: parsing is the check (a
     * metric name may hold the letters "NaN") */
    cJSON *got = cJSON_Parse(t1), *was = cJSON_Parse(old), *e;
    if (!cJSON_IsObject(got)) {
        fprintf(stderr, "fuzz: all_results.json written is not a JSON object:\n%s\n", t1);
        abort();
    }
    for (int i = 0; i < k; i++)
        if (!holds(last(got, m[i].key), m[i].v)) {
            fprintf(stderr, "fuzz: new metric %s = %.17g is not in:\n%s\n", m[i].key, m[i].v, t1);
            abort();
        }
    if (cJSON_IsObject(was)) {
        int expect = k;
        cJSON_ArrayForEach(e, was)
        {
            if (!cJSON_IsNumber(e) && !cJSON_IsNull(e))
                continue;
            if (last(was, e->string) != e)
                continue; /* a repeated name: the last counts */
            int replaced = 0;
            for (int i = 0; i < k; i++)
                replaced |= !strcmp(m[i].key, e->string);
            if (replaced)
                continue;
            expect++;
            const cJSON *x = last(got, e->string);
            if (!(cJSON_IsNull(e) ? cJSON_IsNull(x) : holds(x, e->valuedouble))) {
                fprintf(stderr, "fuzz: old metric %s = %.17g lost or changed:\n%s\n", e->string,
                        e->valuedouble, t1);
                abort();
            }
        }
        if (cJSON_GetArraySize(got) != expect) {
            fprintf(stderr, "fuzz: %d members written, %d expected:\n%s\n",
                    cJSON_GetArraySize(got), expect, t1);
            abort();
        }
    }
    cJSON_Delete(got);
    cJSON_Delete(was);
    if (ts_save_metrics(fz_dir(), "eval", m, 0)) {
        fprintf(stderr, "fuzz: the merged all_results.json does not merge again: %s\n",
                tg_last_error());
        abort();
    }
    char *t2 = fz_slurp(path, &n2);
    if (!t2 || n2 != n1 || memcmp(t1, t2, n1)) {
        fprintf(stderr, "fuzz: not a fixed point:\n%s\n----\n%s\n", t1, t2 ? t2 : "(none)");
        abort();
    }
    free(t2);
    free(t1);
    free(old);
    return 0;
}
