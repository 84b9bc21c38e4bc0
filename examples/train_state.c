/* trainer_state.json, *_results.json and checkpoint rotation (HF Trainer
 * semantics). */
#define _GNU_SOURCE
#include "train_state.h"

#include "fsutil.h"

#include "safetensors.h"
#include "tg.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ts_metric ts_m(const char *key, double v)
{
    ts_metric m = {.v = v, .is_int = 0};
    snprintf(m.key, sizeof m.key, "%s", key);
    return m;
}

ts_metric ts_mi(const char *key, long v)
{
    ts_metric m = ts_m(key, (double)v);
    m.is_int = 1;
    return m;
}

void ts_init(ts_state *s) { memset(s, 0, sizeof *s); }

void ts_free(ts_state *s)
{
    tg_free(s->log);
    memset(s, 0, sizeof *s);
}

int ts_log_add(ts_state *s, const ts_metric *m, int n)
{
    if (n < 0 || n > TS_MAX_METRICS)
        return tg_error(TG_ERR_ARG, "log entry with %d metrics (at most %d)", n, TS_MAX_METRICS);
    for (int i = 0; i < n; i++)
        if (!m[i].key[0])
            return tg_error(TG_ERR_ARG, "log entry metric %d has no name", i);
    if (s->nlog == s->caplog) {
        int cap = s->caplog ? 2 * s->caplog : 64;
        ts_log *p = tg_realloc(s->log, (size_t)cap * sizeof *p, "log_history");
        if (!p)
            return TG_ERR_NOMEM;
        s->log = p;
        s->caplog = cap;
    }
    ts_log *e = &s->log[s->nlog++];
    memcpy(e->m, m, (size_t)n * sizeof *m);
    e->n = n;
    return TG_OK;
}

const ts_metric *ts_log_get(const ts_log *e, const char *key)
{
    for (int i = 0; i < e->n; i++)
        if (!strcmp(e->m[i].key, key))
            return &e->m[i];
    return NULL;
}

int ts_update_best(ts_state *s, double value, int greater_is_better, const char *checkpoint)
{
    int better = !s->has_best || (greater_is_better ? value > s->best_metric : value < s->best_metric);
    if (!better)
        return 0;
    s->has_best = 1;
    s->best_metric = value;
    s->best_global_step = s->global_step;
    if (checkpoint)
        snprintf(s->best_model_checkpoint, sizeof s->best_model_checkpoint, "%s", checkpoint);
    return 1;
}

/* ---- JSON output ------------------------------------------------------- */

void ts_json_number(char *buf, double v, int is_int)
{
    if (!isfinite(v)) { /* NaN and Infinity are not JSON (Python writes them) */
        strcpy(buf, "null");
        return;
    }
    if (is_int && fabs(v) < 1e16) { /* beyond, %.0f would not fit buf (1e300: 301 digits) */
        snprintf(buf, 40, "%.0f", v);
        return;
    }
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(buf, 40, "%.1f", v); /* Python: 3.0, 100000.0 */
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, 40, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
}

void ts_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int cmp_metric(const void *a, const void *b)
{
    return strcmp(((const ts_metric *)a)->key, ((const ts_metric *)b)->key);
}

/* Writes metrics as an indented object with sorted keys. */
static void write_object(FILE *f, const ts_metric *m, int n, int indent, int depth)
{
    ts_metric sorted[TS_MAX_METRICS * 4];
    if (n > (int)(sizeof sorted / sizeof *sorted))
        n = (int)(sizeof sorted / sizeof *sorted);
    memcpy(sorted, m, (size_t)n * sizeof *m);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_metric);
    if (n == 0) {
        fputs("{}", f);
        return;
    }
    fputs("{\n", f);
    for (int i = 0; i < n; i++) {
        char num[40];
        ts_json_number(num, sorted[i].v, sorted[i].is_int);
        fprintf(f, "%*s", indent * (depth + 1), "");
        ts_json_string(f, sorted[i].key);
        fprintf(f, ": %s%s\n", num, i + 1 < n ? "," : "");
    }
    fprintf(f, "%*s}", indent * depth, "");
}

static void kv_num(FILE *f, const char *key, double v, int is_int)
{
    char num[40];
    ts_json_number(num, v, is_int);
    fprintf(f, "  \"%s\": %s,\n", key, num);
}

static int emit_state(FILE *f, void *ctx)
{
    const ts_state *s = ctx;
    fputs("{\n", f);
    if (s->has_best)
        kv_num(f, "best_global_step", (double)s->best_global_step, 1);
    else
        fputs("  \"best_global_step\": null,\n", f);
    if (s->has_best)
        kv_num(f, "best_metric", s->best_metric, 0);
    else
        fputs("  \"best_metric\": null,\n", f);
    fputs("  \"best_model_checkpoint\": ", f);
    if (s->best_model_checkpoint[0])
        ts_json_string(f, s->best_model_checkpoint);
    else
        fputs("null", f);
    fputs(",\n", f);
    kv_num(f, "epoch", s->epoch, 0);
    kv_num(f, "eval_steps", (double)s->eval_steps, 1);
    kv_num(f, "global_step", (double)s->global_step, 1);
    fputs("  \"is_hyper_param_search\": false,\n  \"is_local_process_zero\": true,\n"
          "  \"is_world_process_zero\": true,\n  \"log_history\": [",
          f);
    for (int i = 0; i < s->nlog; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        write_object(f, s->log[i].m, s->log[i].n, 2, 2);
    }
    fputs(s->nlog ? "\n  ],\n" : "],\n", f);
    kv_num(f, "logging_steps", (double)s->logging_steps, 1);
    kv_num(f, "max_steps", (double)s->max_steps, 1);
    kv_num(f, "num_input_tokens_seen", (double)s->num_input_tokens_seen, 1);
    kv_num(f, "num_train_epochs", (double)s->num_train_epochs, 1);
    kv_num(f, "save_steps", (double)s->save_steps, 1);
    fprintf(f,
            "  \"stateful_callbacks\": {\n    \"TrainerControl\": {\n      \"args\": {\n"
            "        \"should_epoch_stop\": false,\n        \"should_evaluate\": false,\n"
            "        \"should_log\": false,\n        \"should_save\": true,\n"
            "        \"should_training_stop\": %s\n      },\n      \"attributes\": {}\n"
            "    }\n  },\n",
            s->should_training_stop ? "true" : "false");
    kv_num(f, "total_flos", s->total_flos, 0);
    kv_num(f, "train_batch_size", (double)s->train_batch_size, 1);
    fputs("  \"trial_name\": null,\n  \"trial_params\": null\n}\n", f);
    return ferror(f) ? TG_ERR_IO : TG_OK;
}

int ts_write(const ts_state *s, const char *path) { return st_atomic_write(path, emit_state, (void *)s); }

/* ---- JSON input -------------------------------------------------------- */

/* Reads a whole file; Python's NaN / Infinity / -Infinity tokens (outside
 * strings) become null so cJSON accepts them; null numbers read as NaN. */
static char *slurp_json(const char *path, int *rc)
{
    char *buf;
    size_t n;
    if ((*rc = st_read_text(path, (size_t)1 << 30, &buf, &n)))
        return NULL;
    /* Rewrite into a buffer with room for NaN (3 chars) -> null (4). */
    char *out = tg_malloc(2 * n + 1, path);
    if (!out) {
        tg_free(buf);
        *rc = TG_ERR_NOMEM;
        return NULL;
    }
    size_t o = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            if (buf[i] == '\\' && i + 1 < n)
                out[o++] = buf[i++];
            else if (buf[i] == '"')
                in_str = 0;
            out[o++] = buf[i];
            continue;
        }
        size_t skip = !strncmp(buf + i, "-Infinity", 9) ? 9
                      : !strncmp(buf + i, "Infinity", 8) ? 8
                      : !strncmp(buf + i, "NaN", 3)      ? 3
                                                          : 0;
        if (skip) {
            memcpy(out + o, "null", 4);
            o += 4;
            i += skip - 1;
            continue;
        }
        in_str = buf[i] == '"';
        out[o++] = buf[i];
    }
    out[o] = 0;
    tg_free(buf);
    buf = out;
    *rc = TG_OK;
    return buf;
}

/* 1 if n-byte name k ends with suffix s. */
static int ends_with(const char *k, size_t n, const char *s)
{
    size_t l = strlen(s);
    return n > l && !strcmp(k + n - l, s);
}

/* 1 if metric k is a count, written as an integer: HF's names and the ones
 * ablm writes with ts_mi (train_threads, train_ranks, train_peak_rss_mb,
 * eval_masked_tokens), so that a merge rewrites them unchanged. */
static int key_is_int(const char *k)
{
    size_t n = strlen(k);
    return !strcmp(k, "step") || ends_with(k, n, "_samples") || ends_with(k, n, "_steps") ||
           ends_with(k, n, "_tokens") || ends_with(k, n, "_threads") ||
           ends_with(k, n, "_ranks") || ends_with(k, n, "_rss_mb") ||
           !strcmp(k, "num_input_tokens_seen");
}

static int get_num(const cJSON *root, const char *key, double *out, int required,
                   const char *path)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) {
        if (required)
            return tg_error(TG_ERR_FORMAT, "%s: missing number field \"%s\"", path, key);
        return 0;
    }
    if (!cJSON_IsNumber(it))
        return tg_error(TG_ERR_FORMAT, "%s: field \"%s\" is not a number", path, key);
    *out = it->valuedouble;
    return 1;
}

/* Adds the number (or null) member kv of object `where` in `path` to m[0..*n)
 * of capacity cap, as Python's json reads an object: a repeated name keeps
 * the last value. Other member types are skipped, and one that repeats an
 * earlier name removes that name's number (the last value is not a
 * number). Returns TG_OK, or TG_ERR_FORMAT naming the member when its name
 * does not fit a metric name (TS_KEY - 1 bytes) or the list is full. */
static int metric_put(ts_metric *m, int *n, int cap, const cJSON *kv, const char *path,
                      const char *where)
{
    if (!cJSON_IsNumber(kv) && !cJSON_IsNull(kv)) {
        for (int j = 0; kv->string && j < *n; j++)
            if (!strcmp(m[j].key, kv->string)) {
                memmove(m + j, m + j + 1, (size_t)(*n - j - 1) * sizeof *m);
                (*n)--;
                break;
            }
        return TG_OK;
    }
    if (strlen(kv->string) >= TS_KEY)
        return tg_error(TG_ERR_FORMAT, "%s: %s: metric name \"%.24s...\" is longer than %d bytes",
                        path, where, kv->string, TS_KEY - 1);
    int j = 0;
    while (j < *n && strcmp(m[j].key, kv->string))
        j++;
    if (j == cap)
        return tg_error(TG_ERR_FORMAT, "%s: %s has more than %d metrics", path, where, cap);
    m[j] = ts_m(kv->string, cJSON_IsNull(kv) ? NAN : kv->valuedouble);
    m[j].is_int = key_is_int(kv->string) && m[j].v == floor(m[j].v);
    if (j == *n)
        (*n)++;
    return TG_OK;
}

int ts_read(ts_state *s, const char *path)
{
    ts_init(s);
    int rc;
    char *text = slurp_json(path, &rc);
    if (!text)
        return rc;
    cJSON *root = cJSON_Parse(text);
    tg_free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return tg_error(TG_ERR_FORMAT, "%s: not a JSON object", path);
    }
    struct {
        const char *key;
        long *dst;
        int required;
    } longs[] = {{"global_step", &s->global_step, 1},
                 {"max_steps", &s->max_steps, 0},
                 {"num_train_epochs", &s->num_train_epochs, 0},
                 {"logging_steps", &s->logging_steps, 0},
                 {"eval_steps", &s->eval_steps, 0},
                 {"save_steps", &s->save_steps, 0},
                 {"train_batch_size", &s->train_batch_size, 0},
                 {"num_input_tokens_seen", &s->num_input_tokens_seen, 0},
                 {"best_global_step", &s->best_global_step, 0}};
    double d = 0;
    for (size_t i = 0; i < sizeof longs / sizeof *longs; i++) {
        int r = get_num(root, longs[i].key, &d, longs[i].required, path);
        if (r < 0)
            goto fail;
        if (r && !(d >= 0 && d <= 9007199254740992.0 && d == floor(d))) {
            tg_error(TG_ERR_FORMAT, "%s: field \"%s\" is %g, not a count (an integer from 0 to 2^53)",
                     path, longs[i].key, d);
            goto fail;
        }
        if (r)
            *longs[i].dst = (long)d;
    }
    if (get_num(root, "epoch", &s->epoch, 0, path) < 0 ||
        get_num(root, "total_flos", &s->total_flos, 0, path) < 0)
        goto fail;
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive(root, "best_metric");
    if (bm && cJSON_IsNumber(bm)) {
        s->has_best = 1;
        s->best_metric = bm->valuedouble;
    } /* null: no best yet */
    const cJSON *bc = cJSON_GetObjectItemCaseSensitive(root, "best_model_checkpoint");
    if (bc && cJSON_IsString(bc))
        snprintf(s->best_model_checkpoint, sizeof s->best_model_checkpoint, "%s",
                 bc->valuestring);
    const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(root, "stateful_callbacks");
    ctl = ctl ? cJSON_GetObjectItemCaseSensitive(ctl, "TrainerControl") : NULL;
    ctl = ctl ? cJSON_GetObjectItemCaseSensitive(ctl, "args") : NULL;
    ctl = ctl ? cJSON_GetObjectItemCaseSensitive(ctl, "should_training_stop") : NULL;
    s->should_training_stop = ctl && cJSON_IsTrue(ctl);
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(root, "log_history");
    if (hist && !cJSON_IsArray(hist)) {
        tg_error(TG_ERR_FORMAT, "%s: log_history is not an array", path);
        goto fail;
    }
    int idx = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, hist)
    {
        ts_metric m[TS_MAX_METRICS];
        int n = 0;
        const cJSON *kv;
        if (!cJSON_IsObject(e)) {
            tg_error(TG_ERR_FORMAT, "%s: log_history[%d] is not an object", path, idx);
            goto fail;
        }
        char where[40];
        snprintf(where, sizeof where, "log_history[%d]", idx);
        cJSON_ArrayForEach(kv, e)
        {
            if (metric_put(m, &n, TS_MAX_METRICS, kv, path, where))
                goto fail;
        }
        if ((rc = ts_log_add(s, m, n)))
            goto fail_rc;
        idx++;
    }
    cJSON_Delete(root);
    return TG_OK;
fail:
    rc = TG_ERR_FORMAT;
fail_rc:
    cJSON_Delete(root);
    ts_free(s);
    return rc;
}

/* ---- results files ----------------------------------------------------- */

typedef struct {
    const ts_metric *m;
    int n;
} metric_list;

static int emit_metrics(FILE *f, void *ctx)
{
    const metric_list *l = ctx;
    write_object(f, l->m, l->n, 4, 0);
    return ferror(f) ? TG_ERR_IO : TG_OK;
}

static int write_metrics_file(const char *path, const ts_metric *m, int n)
{
    metric_list l = {m, n};
    return st_atomic_write(path, emit_metrics, &l);
}

int ts_save_metrics(const char *output_dir, const char *split, const ts_metric *m, int n)
{
    enum { MAXM = TS_MAX_METRICS * 4 };
    char path[4200];
    if (n < 0 || n > TS_MAX_METRICS)
        return tg_error(TG_ERR_ARG, "save_metrics: %d metrics (at most %d)", n, TS_MAX_METRICS);
    if ((size_t)snprintf(path, sizeof path, "%s/%s_results.json", output_dir, split) >=
        sizeof path)
        return tg_error(TG_ERR_ARG, "%s: output path too long", output_dir);
    int rc = write_metrics_file(path, m, n);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/all_results.json", output_dir);
    ts_metric all[MAXM];
    int na = 0;
    struct stat st;
    if (stat(path, &st) == 0) {
        char *text = slurp_json(path, &rc);
        if (!text)
            return rc;
        cJSON *root = cJSON_Parse(text), *kv;
        tg_free(text);
        if (!root || !cJSON_IsObject(root)) {
            cJSON_Delete(root);
            return tg_error(TG_ERR_FORMAT, "%s: not a JSON object", path);
        }
        cJSON_ArrayForEach(kv, root)
        {
            if ((rc = metric_put(all, &na, MAXM - TS_MAX_METRICS, kv, path, "the object"))) {
                cJSON_Delete(root);
                return rc;
            }
        }
        cJSON_Delete(root);
    }
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < na && strcmp(all[j].key, m[i].key))
            j++;
        all[j] = m[i];
        if (j == na)
            na++;
    }
    return write_metrics_file(path, all, na);
}

static double round_to(double v, int places)
{
    double s = pow(10.0, places);
    return round(v * s) / s;
}

int ts_speed_metrics(const char *split, double runtime_s, long num_samples, long num_steps,
                     ts_metric out[3])
{
    char key[TS_KEY];
    int k = 0;
    snprintf(key, sizeof key, "%s_runtime", split);
    out[k++] = ts_m(key, round_to(runtime_s, 4));
    if (runtime_s > 0) {
        snprintf(key, sizeof key, "%s_samples_per_second", split);
        out[k++] = ts_m(key, round_to((double)num_samples / runtime_s, 3));
        if (num_steps > 0) {
            snprintf(key, sizeof key, "%s_steps_per_second", split);
            out[k++] = ts_m(key, round_to((double)num_steps / runtime_s, 3));
        }
    }
    return k;
}

/* ---- checkpoints ------------------------------------------------------- */

int ts_checkpoint_path(char *buf, size_t n, const char *output_dir, long step)
{
    if ((size_t)snprintf(buf, n, "%s/checkpoint-%ld", output_dir, step) >= n)
        return tg_error(TG_ERR_ARG, "%s: checkpoint path too long", output_dir);
    return TG_OK;
}

/* Step of a "checkpoint-DIGITS" name, or -1. */
static long checkpoint_step(const char *name)
{
    if (strncmp(name, "checkpoint-", 11) || !name[11])
        return -1;
    long v = 0;
    for (const char *p = name + 11; *p; p++) {
        if (*p < '0' || *p > '9' || v > (long)1e15)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

int ts_list_checkpoints(const char *output_dir, long **steps, int *n)
{
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(output_dir);
    if (!d) {
        if (errno == ENOENT)
            return TG_OK;
        return tg_error(TG_ERR_IO, "%s: cannot list: %s", output_dir, strerror(errno));
    }
    int cap = 0;
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d))) {
        long st = checkpoint_step(e->d_name);
        struct stat sb;
        if (st < 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", output_dir, e->d_name);
        if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            long *p = tg_realloc(*steps, (size_t)cap * sizeof *p, "checkpoint list");
            if (!p) {
                closedir(d);
                tg_free(*steps);
                *steps = NULL;
                *n = 0;
                return TG_ERR_NOMEM;
            }
            *steps = p;
        }
        (*steps)[(*n)++] = st;
    }
    closedir(d);
    if (*n) /* qsort's array must not be NULL, even for 0 elements */
        qsort(*steps, (size_t)*n, sizeof **steps, cmp_long);
    return TG_OK;
}

int ts_last_checkpoint(const char *output_dir, char *buf, size_t n)
{
    long *steps;
    int k, rc = ts_list_checkpoints(output_dir, &steps, &k);
    if (rc)
        return rc;
    if (k == 0)
        return 0;
    rc = ts_checkpoint_path(buf, n, output_dir, steps[k - 1]);
    tg_free(steps);
    return rc ? rc : 1;
}

int ts_rotate_checkpoints(const char *output_dir, int save_total_limit,
                          const char *best_model_checkpoint, int *deleted)
{
    if (deleted)
        *deleted = 0;
    if (save_total_limit <= 0)
        return TG_OK;
    long *steps;
    int n, rc = ts_list_checkpoints(output_dir, &steps, &n);
    if (rc || n <= save_total_limit) {
        tg_free(steps);
        return rc;
    }
    long best = -1;
    if (best_model_checkpoint && *best_model_checkpoint) {
        char tmp[4096]; /* the checkpoint-STEP part, tolerating a trailing slash */
        snprintf(tmp, sizeof tmp, "%s", best_model_checkpoint);
        size_t len = strlen(tmp);
        while (len > 1 && tmp[len - 1] == '/')
            tmp[--len] = 0;
        const char *base = strrchr(tmp, '/');
        best = checkpoint_step(base ? base + 1 : tmp);
    }
    int bi = -1;
    for (int i = 0; i < n; i++)
        if (steps[i] == best)
            bi = i;
    /* HF: move the best to just before the newest so it is deleted last. */
    for (int i = bi; bi >= 0 && i < n - 2; i++) {
        long t = steps[i];
        steps[i] = steps[i + 1];
        steps[i + 1] = t;
    }
    int limit = save_total_limit;
    if (bi >= 0 && limit == 1 && steps[n - 1] != best)
        limit = 2;
    char path[4200];
    for (int i = 0; i < n - limit; i++) {
        if (steps[i] == best)
            continue; /* unreachable by construction; never delete the best */
        ts_checkpoint_path(path, sizeof path, output_dir, steps[i]);
        if ((rc = fs_remove_tree(path)))
            break;
        if (deleted)
            (*deleted)++;
    }
    tg_free(steps);
    return rc;
}

int ts_read_world_size(const char *path, long *world_size)
{
    *world_size = 1;
    if (access(path, F_OK))
        return TG_OK;
    int rc;
    char *text = slurp_json(path, &rc);
    if (!text)
        return rc;
    cJSON *root = cJSON_Parse(text);
    tg_free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return tg_error(TG_ERR_FORMAT, "%s: not a JSON object", path);
    }
    double d = 1;
    int r = get_num(root, "world_size", &d, 0, path);
    cJSON_Delete(root);
    if (r < 0)
        return r;
    if (r > 0 && (d < 1 || d != (long)d || d > 1e9))
        return tg_error(TG_ERR_FORMAT, "%s: world_size %g is not a process count", path, d);
    if (r > 0)
        *world_size = (long)d;
    return TG_OK;
}
