/* ablm prepare out of core: progress lines, the memory budget, stage
 * markers (resume by hash), de-duplication in hash shards, clustering
 * within the budget. */
#define _GNU_SOURCE
#include "prepare.h"

#include "fileio.h"
#include "rd_text.h"
#include "strmap.h"
#include "tg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

void pp_progress_begin(pp_progress *p, const char *stage, const char *unit, int on)
{
    p->stage = stage;
    p->unit = unit;
    p->t0 = p->last = pp_now();
    p->on = on;
}

void pp_progress_tick(pp_progress *p, size_t done, double frac)
{
    if (!p->on)
        return;
    double t = pp_now();
    if (t - p->last < 2.0)
        return;
    p->last = t;
    double el = t - p->t0, rate = el > 0 ? (double)done / el : 0;
    if (frac > 0 && frac <= 1)
        fprintf(stderr, "prepare: %s: %zu %s, %.0f %s/s, %.0f%% done, ETA %.0f s\n", p->stage,
                done, p->unit, rate, p->unit, 100 * frac, el * (1 - frac) / frac);
    else
        fprintf(stderr, "prepare: %s: %zu %s, %.0f %s/s\n", p->stage, done, p->unit, rate,
                p->unit);
}

void pp_progress_end(pp_progress *p, size_t done)
{
    if (!p->on)
        return;
    double el = pp_now() - p->t0;
    fprintf(stderr, "prepare: %s: %zu %s in %.1f s (%.0f %s/s)\n", p->stage, done, p->unit, el,
            el > 0 ? (double)done / el : 0, p->unit);
}

size_t pp_proc_status(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(field);
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            sscanf(line + n + 1, "%llu", &kb);
            break;
        }
    if (f)
        fclose(f);
    return (size_t)kb * 1024;
}

size_t pp_default_memory(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb ? (size_t)(kb * 1024 / 2) : (size_t)1 << 30;
}

size_t pp_read_buffer(const pp_opts *o)
{
    if (o->in_memory)
        return 0;
    size_t b = (o->max_memory ? o->max_memory : pp_default_memory()) / 4;
    if (b < ((size_t)1 << 20))
        b = (size_t)1 << 20;
    return b < RD_PAR_BUFFER ? b : RD_PAR_BUFFER;
}

int pp_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || errno || x <= 0)
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || x * mul >= 1.8e19 || x * mul < 1)
        return -1;
    *out = (size_t)(x * mul);
    return 0;
}

int pp_inputs_key(const char *const *inputs, int n_inputs, const pp_opts *o, char key[17])
{
    const rd_opts *r = &o->rd;
    char opt[512];
    snprintf(opt, sizeof opt, "store %d|fmt %d|chain %d|locus %s|prod %d|stop %d|nonstd %d|"
             "min %d|max %d|sep %s|onerr %d|n %d|pairs %d", SS_VERSION, (int)r->format,
             (int)r->chain, r->locus ? r->locus : "-", r->productive_only, r->drop_stop,
             r->drop_nonstandard, r->min_length, r->max_length, r->pair_sep ? r->pair_sep : "-",
             (int)r->on_error, n_inputs, o->pairs);
    uint64_t h = ss_hash(SS_HASH_INIT, opt, strlen(opt) + 1);
    for (int i = 0; i < n_inputs; i++) {
        h = ss_hash(h, inputs[i], strlen(inputs[i]) + 1);
        int r = pp_file_hash(inputs[i], &h);
        if (r < 0)
            return r;
        /* unreadable: the read stage reports it (or skips it); the key
         * records that it was missing */
        if (r == 0)
            h = ss_hash(h, "\0missing", 9);
    }
    snprintf(key, 17, "%016llx", (unsigned long long)h);
    return TG_OK;
}

int pp_file_hash(const char *path, uint64_t *h)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char *buf = tg_malloc(1 << 16, "file hash");
    if (!buf) {
        fclose(f);
        return TG_ERR_NOMEM;
    }
    uint64_t x = *h;
    size_t k;
    while ((k = fread(buf, 1, 1 << 16, f)) > 0)
        x = ss_hash(x, buf, k);
    int ok = !ferror(f);
    fclose(f);
    tg_free(buf);
    if (ok)
        *h = x;
    return ok;
}

cJSON *pp_marker_load(const char *outdir, const char *name, const char *key)
{
    char *path = fio_join(outdir, name);
    FILE *f = path ? fopen(path, "rb") : NULL;
    tg_free(path);
    if (!f)
        return NULL;
    char *text = NULL;
    size_t n = 0, cap = 0, k;
    char buf[4096];
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (n + k + 1 > cap) {
            size_t nc = cap ? 2 * cap : 8192;
            while (nc < n + k + 1)
                nc *= 2;
            char *t = tg_realloc(text, nc, "stage marker");
            if (!t) {
                tg_free(text);
                fclose(f);
                return NULL;
            }
            text = t;
            cap = nc;
        }
        memcpy(text + n, buf, k);
        n += k;
    }
    fclose(f);
    if (!text)
        return NULL;
    text[n] = '\0';
    cJSON *m = cJSON_Parse(text);
    tg_free(text);
    const cJSON *k2 = cJSON_GetObjectItem(m, "key");
    if (!cJSON_IsString(k2) || strcmp(k2->valuestring, key)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

int pp_marker_write(const char *outdir, const char *name, const cJSON *marker)
{
    char *path = fio_join(outdir, name);
    int st = path ? fio_write_json(path, marker) : TG_ERR_NOMEM;
    tg_free(path);
    return st;
}

/* 1 if x is a count: a number that is an integer from 0 to 2^53. */
static int is_count(const cJSON *x)
{
    return cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble <= 9007199254740992.0 &&
           x->valuedouble == (double)(long long)x->valuedouble;
}

/* 1 if v has the shape of tpl: for every member of the object tpl, v has a
 * member of that name with a count for a number, the same shape for an
 * object, an array of strings for an array. */
static int same_shape(const cJSON *tpl, const cJSON *v)
{
    if (!cJSON_IsObject(v))
        return 0;
    const cJSON *t, *e;
    cJSON_ArrayForEach(t, tpl)
    {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, t->string);
        if (cJSON_IsNumber(t) && !is_count(x))
            return 0;
        if (cJSON_IsObject(t) && !same_shape(t, x))
            return 0;
        if (cJSON_IsArray(t)) {
            if (!cJSON_IsArray(x))
                return 0;
            cJSON_ArrayForEach(e, x) if (!cJSON_IsString(e)) return 0;
        }
    }
    return 1;
}

int pp_read_marker_ok(const cJSON *m, int pairs)
{
    const cJSON *sh = cJSON_GetObjectItem(m, "store_hash"), *f = cJSON_GetObjectItem(m, "files");
    const cJSON *sk = cJSON_GetObjectItem(m, "files_skipped"), *e;
    if (!cJSON_IsString(sh) || strlen(sh->valuestring) != 16 || !cJSON_IsArray(f) ||
        !cJSON_IsArray(sk) ||
        (!pairs && !is_count(cJSON_GetObjectItem(m, "records_without_cdr3"))))
        return 0;
    cJSON_ArrayForEach(e, sk) if (!cJSON_IsString(cJSON_GetObjectItem(e, "error"))) return 0;
    cJSON *tpl = cJSON_CreateObject();
    if (!tpl)
        return 0;
    if (pairs) {
        pr_set zero = {0};
        pr_stats_to_json(&zero, tpl);
    } else {
        rd_stats zero;
        memset(&zero, 0, sizeof zero);
        rd_stats_to_json(&zero, tpl);
    }
    int ok = same_shape(tpl, cJSON_GetObjectItem(m, pairs ? "pairs" : "reader"));
    cJSON_Delete(tpl);
    return ok;
}

int pp_split_marker_ok(const cJSON *m, int leakage, int pairs)
{
    const cJSON *sp = cJSON_GetObjectItem(m, "split");
    cJSON *tpl = cJSON_CreateObject(), *per = cJSON_CreateObject();
    int ok = tpl && per;
    static const char *sets[] = {"train", "val", "test"};
    for (int k = 0; ok && k < 3; k++) {
        cJSON *e = cJSON_AddObjectToObject(tpl, sets[k]);
        cJSON_AddNumberToObject(e, "sequences", 0);
        cJSON_AddNumberToObject(e, "clusters", 0);
        cJSON_AddNumberToObject(per, sets[k], 0);
    }
    if (ok) {
        cJSON_AddNumberToObject(tpl, "sequences", 0);
        cJSON_AddNumberToObject(tpl, "clusters", 0);
        cJSON_AddArrayToObject(tpl, "warnings");
    }
    ok = ok && same_shape(tpl, sp) && cJSON_IsObject(cJSON_GetObjectItem(m, "files")) &&
         (!leakage || cJSON_IsObject(cJSON_GetObjectItem(m, "leakage")));
    if (ok && pairs)
        ok = same_shape(per, cJSON_GetObjectItem(m, "pairs_per_set")) &&
             (!leakage || cJSON_IsObject(cJSON_GetObjectItem(m, "leakage_light")));
    cJSON_Delete(tpl);
    cJSON_Delete(per);
    return ok;
}

int pp_rep_resume(const char *outdir, const char *name, const char *rpath, const char *key,
                  size_t n, uint32_t *rep, cJSON **step, size_t *n_clusters)
{
    *step = NULL;
    *n_clusters = 0;
    cJSON *mk = pp_marker_load(outdir, name, key);
    if (!mk)
        return -1;
    FILE *f = fopen(rpath, "rb");
    size_t got = f ? fread(rep, sizeof *rep, n, f) : 0;
    int extra = f && fgetc(f) != EOF;
    if (f)
        fclose(f);
    const cJSON *rh = cJSON_GetObjectItem(mk, "rep_hash"), *e = cJSON_GetObjectItem(mk, "step");
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx",
             (unsigned long long)ss_hash(SS_HASH_INIT, rep, got * sizeof *rep));
    int ok = got == n && !extra && cJSON_IsString(rh) && !strcmp(rh->valuestring, hex) &&
             cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItem(e, "step"));
    size_t nc = 0;
    for (size_t i = 0; ok && i < n; i++) {
        ok = rep[i] < n && rep[rep[i]] == rep[i];
        nc += rep[i] == i;
    }
    if (ok && !(*step = cJSON_Duplicate(e, 1)))
        ok = 0;
    cJSON_Delete(mk);
    if (ok)
        *n_clusters = nc;
    return ok;
}

/* Bytes one sequence costs in a shard's map (key pointer, length, value at
 * load <= 1/2) and its index read back. */
#define PP_DEDUP_ENTRY_BYTES 40
/* Shards are open files at once; beyond this a shard may exceed the budget. */
#define PP_MAX_SHARDS 512

/* Keeps in keep[j] (1) the first j of every distinct sequence among the
 * positions list[0..k) (ascending j); of (optional): of[j] the first j of
 * j's sequence. */
static int dedup_map(const cl_src *src, const uint32_t *uniq, const uint32_t *list, size_t k,
                     uint8_t *keep, uint32_t *of)
{
    sm_map seen;
    sm_init(&seen);
    for (size_t i = 0; i < k; i++) {
        uint32_t j = list ? list[i] : (uint32_t)i, first = j;
        int l;
        const char *q = cl_src_seq(src, uniq[j], &l);
        int ins = sm_put(&seen, q, l, j, &first);
        if (ins < 0) {
            sm_free(&seen);
            return ins;
        }
        keep[j] = (uint8_t)ins;
        if (of)
            of[j] = ins ? j : first;
    }
    sm_free(&seen);
    return TG_OK;
}

/* Runs fn(ctx, list, k) over items 0..n in `shards` hash shards: with one
 * shard once, list NULL (every item); else each item's index goes to the
 * temp file OUTDIR/NAME.tmp.* of shard (hash(ctx, i) >> 32) % shards, and
 * each shard's indices (ascending) are read back and passed in shard order.
 * *peak: the largest shard. Every temp file is removed before return. */
typedef uint64_t (*pp_hash_fn)(void *ctx, uint32_t i);
typedef int (*pp_shard_fn)(void *ctx, const uint32_t *list, size_t k);
static int pp_sharded(const char *outdir, const char *name, size_t n, size_t shards,
                      pp_hash_fn hash, pp_shard_fn fn, void *ctx, pp_progress *pg, size_t *peak)
{
    if (shards <= 1) {
        *peak = n;
        return fn(ctx, NULL, n);
    }
    tg_afile *sh = tg_calloc(shards, sizeof *sh, "shards");
    size_t *count = tg_calloc(shards, sizeof *count, "shards");
    uint32_t *list = NULL;
    char *base = fio_join(outdir, name);
    int st = base && sh && count ? TG_OK : TG_ERR_NOMEM;
    for (size_t k = 0; !st && k < shards; k++)
        st = tg_afile_open(&sh[k], base);
    tg_free(base);
    for (size_t j = 0; !st && j < n; j++) {
        uint32_t jj = (uint32_t)j;
        size_t k = (size_t)((hash(ctx, jj) >> 32) % shards);
        if (fwrite(&jj, sizeof jj, 1, sh[k].f) != 1)
            st = tg_error(TG_ERR_IO, "%s: cannot write: %s", sh[k].tmp, strerror(errno));
        count[k]++;
    }
    *peak = 0;
    for (size_t k = 0; !st && k < shards; k++)
        if (count[k] > *peak)
            *peak = count[k];
    list = st ? NULL : tg_malloc((*peak + 1) * sizeof *list, "shard");
    if (!st && !list)
        st = TG_ERR_NOMEM;
    for (size_t k = 0; !st && k < shards; k++) {
        FILE *f = NULL;
        if (fflush(sh[k].f) || !(f = fopen(sh[k].tmp, "rb")))
            st = tg_error(TG_ERR_IO, "%s: cannot read back: %s", sh[k].tmp, strerror(errno));
        else if (fread(list, sizeof *list, count[k], f) != count[k])
            st = tg_error(TG_ERR_IO, "%s: short read", sh[k].tmp);
        if (f)
            fclose(f);
        tg_afile_abort(&sh[k]);
        if (!st)
            st = fn(ctx, list, count[k]);
        pp_progress_tick(pg, k + 1, (double)(k + 1) / (double)shards);
    }
    for (size_t k = 0; sh && k < shards; k++)
        tg_afile_abort(&sh[k]);
    tg_free(sh);
    tg_free(count);
    tg_free(list);
    return st;
}

/* Shards for n entries of `entry` bytes within half of budget (at most
 * PP_MAX_SHARDS); `fixed` > 0 forces that many. */
static size_t pp_shards_for(size_t n, size_t entry, size_t budget, int fixed)
{
    if (fixed > 0)
        return (size_t)fixed;
    double need = (double)n * (double)entry, part = (double)budget / 2;
    size_t shards = need <= part ? 1 : (size_t)(need / part) + 1;
    return shards > PP_MAX_SHARDS ? PP_MAX_SHARDS : shards;
}

typedef struct {
    const cl_src *src;
    const uint32_t *uniq;
    uint8_t *keep;
    uint32_t *of;
} dd_ctx;

static uint64_t dd_hash(void *ctx, uint32_t j)
{
    dd_ctx *d = ctx;
    int l;
    const char *q = cl_src_seq(d->src, d->uniq[j], &l);
    return ss_hash(SS_HASH_INIT, q, (size_t)l);
}

static int dd_shard(void *ctx, const uint32_t *list, size_t k)
{
    dd_ctx *d = ctx;
    return dedup_map(d->src, d->uniq, list, k, d->keep, d->of);
}

int pp_dedup(const cl_src *src, uint32_t *uniq, size_t *m,
             const char *outdir, const pp_opts *o, const char *name, uint32_t *of,
             cJSON *report)
{
    size_t n = *m, budget = o->max_memory ? o->max_memory : pp_default_memory();
    size_t shards = pp_shards_for(n, PP_DEDUP_ENTRY_BYTES, budget, o->dedup_shards), peak = 0;
    uint8_t *keep = tg_calloc(n + 1, 1, "dedup");
    int st = keep ? TG_OK : TG_ERR_NOMEM;
    pp_progress pg;
    pp_progress_begin(&pg, name, "shards", o->progress && shards > 1);
    dd_ctx d = {src, uniq, keep, of};
    if (!st)
        st = pp_sharded(outdir, "dedup_shard", n, shards, dd_hash, dd_shard, &d, &pg, &peak);
    pp_progress_end(&pg, shards);
    size_t w = 0;
    for (size_t j = 0; !st && j < n; j++) {
        /* of[j] <= j: the first's new position is set by the time j needs it */
        if (of)
            of[j] = keep[j] ? (uint32_t)w : of[of[j]];
        if (keep[j])
            uniq[w++] = uniq[j];
    }
    if (!st) {
        *m = w;
        cJSON *dj = cJSON_AddObjectToObject(report, name);
        cJSON_AddNumberToObject(dj, "sequences", (double)n);
        cJSON_AddNumberToObject(dj, "kept", (double)w);
        cJSON_AddNumberToObject(dj, "shards", (double)shards);
        cJSON_AddNumberToObject(dj, "largest_shard", (double)peak);
        cJSON_AddNumberToObject(dj, "budget_bytes", (double)budget);
    }
    tg_free(keep);
    return st;
}

int pp_cluster_budgeted(const char *outdir, const cl_src *src, size_t n,
                        const cl_opts *co, const pp_opts *o, uint32_t *rep, cl_stats *cs,
                        cJSON *step)
{
    size_t budget = o->max_memory ? o->max_memory : pp_default_memory();
    size_t anon = pp_proc_status("RssAnon");
    cl_budget b = {budget > anon ? budget - anon : 1, outdir};
    int st = cl_cluster_src(src, n, co, co->mode == CL_LINCLUST ? &b : NULL, rep, cs);
    if (st)
        return st;
    if (o->progress && cs->budget < cs->floor_bytes)
        fprintf(stderr, "prepare: warning: clustering %zu sequences needs at least %.1f MB; "
                "%.1f MB of --max-memory %.1f MB were left\n", n, cs->floor_bytes / 1e6,
                cs->budget / 1e6, budget / 1e6);
    cJSON_AddNumberToObject(step, "budget_bytes", (double)cs->budget);
    cJSON_AddNumberToObject(step, "floor_bytes", (double)cs->floor_bytes);
    cJSON_AddNumberToObject(step, "chunk_entries", (double)cs->chunk_entries);
    cJSON_AddNumberToObject(step, "kmer_runs", (double)cs->kmer_runs);
    cJSON_AddNumberToObject(step, "pair_runs", (double)cs->pair_runs);
    cJSON_AddNumberToObject(step, "spilled_bytes", (double)cs->spilled_bytes);
    cJSON_AddNumberToObject(step, "graph_bytes", (double)cs->graph_bytes);
    cJSON_AddNumberToObject(step, "dedup_shards", (double)cs->dedup_shards);
    return TG_OK;
}

/* The files of OUT that prepare writes through temp files (NAME.tmp.XXXXXX). */
static const char *const PP_TMP_NAMES[] = {
    "records.store", "prepare_read.json", "dedup_shard", "cdr3_clustering.rep",
    "clustering_70.rep", "clustering_50.rep", "prepare_cdr3_clustering.json",
    "prepare_clustering_70.json", "prepare_clustering_50.json", "cdr3_100_cluster.tsv",
    "heavy_70_cluster.tsv", "heavy_50_cluster.tsv", "train.txt", "val.txt", "test.txt",
    "train.tsv", "val.tsv", "test.tsv", "train_pairs.tsv", "val_pairs.tsv", "test_pairs.tsv",
    "prepare_report.json", "ids_shard", "prepare_split.json", "step_seqs", "step_index", NULL};

int pp_dir_lock(const char *outdir, const pp_opts *o, cJSON *report, int *lock_fd)
{
    *lock_fd = -1;
    char *path = fio_join(outdir, PP_LOCK_FILE);
    if (!path)
        return TG_ERR_NOMEM;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), st = TG_OK;
    if (fd < 0)
        st = tg_error(TG_ERR_IO, "%s: cannot open the directory's lock: %s", path,
                      strerror(errno));
    else if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        st = errno == EWOULDBLOCK
                 ? tg_error(TG_ERR_IO, "%s: another ablm prepare is running on this directory "
                            "(%s is locked); wait for it or use another --out", outdir, path)
                 : tg_error(TG_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
    tg_free(path);
    size_t n1 = 0, n2 = 0;
    uint64_t b1 = 0, b2 = 0;
    if (!st)
        st = cl_clean_stale(outdir, &n1, &b1);
    if (!st)
        st = fio_clean_stale(outdir, NULL, PP_TMP_NAMES, &n2, &b2);
    if (st) {
        if (fd >= 0)
            close(fd);
        return st;
    }
    *lock_fd = fd;
    cJSON *stale = cJSON_AddObjectToObject(report, "stale_temp_files");
    cJSON_AddNumberToObject(stale, "removed", (double)(n1 + n2));
    cJSON_AddNumberToObject(stale, "bytes", (double)(b1 + b2));
    if (o->progress && n1 + n2)
        fprintf(stderr, "prepare: removed %zu stale temporary file%s (%llu bytes) left in %s by "
                "a run that was stopped\n", n1 + n2, n1 + n2 == 1 ? "" : "s",
                (unsigned long long)(b1 + b2), outdir);
    return TG_OK;
}

void pp_dir_unlock(int lock_fd)
{
    if (lock_fd >= 0)
        close(lock_fd); /* releases the flock */
}

/* ---- record ids made unique out of core ---------------------------------- */

typedef struct {
    const ss_store *s;
    uint8_t *dup;
} id_ctx;

static uint64_t id_hash(void *ctx, uint32_t i)
{
    const char *id = ss_id(((id_ctx *)ctx)->s, i);
    return ss_hash(SS_HASH_INIT, id, strlen(id));
}

/* Marks in dup[] every record of the shard whose id occurs more than once. */
static int id_shard(void *ctx, const uint32_t *list, size_t k)
{
    id_ctx *c = ctx;
    sm_map m;
    sm_init(&m);
    int st = TG_OK;
    for (size_t x = 0; x < k && !st; x++) {
        uint32_t i = list ? list[x] : (uint32_t)x, first;
        const char *id = ss_id(c->s, i);
        int ins = sm_put(&m, id, (int)strlen(id), i, &first);
        if (ins < 0)
            st = ins;
        else if (ins == 0)
            c->dup[first] = c->dup[i] = 1;
    }
    sm_free(&m);
    return st;
}

const char *pp_ids_get(const pp_ids *p, uint64_t i)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->idx[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->n && p->idx[lo] == i ? p->text + p->off[lo] : ss_id(p->s, i);
}

static uint64_t store_rec(const cl_src *s, size_t j)
{
    const pp_store_src *p = (const pp_store_src *)s;
    return p->rec ? p->rec[j] : j;
}
static const char *store_seq(const cl_src *s, size_t j, int *len)
{
    return ss_seq(((const pp_store_src *)s)->s, store_rec(s, j), len);
}
static const char *store_cdr3(const cl_src *s, size_t j, int *len)
{
    return ss_cdr3(((const pp_store_src *)s)->s, store_rec(s, j), len);
}
static const char *store_name(const cl_src *s, size_t j)
{
    return pp_ids_get(((const pp_store_src *)s)->ids, store_rec(s, j));
}

const cl_src *pp_src_store(pp_store_src *p, const ss_store *s, const pp_ids *ids,
                           const uint32_t *rec, int cdr3)
{
    p->src.seq = cdr3 ? store_cdr3 : store_seq;
    p->src.name = store_name;
    p->s = s;
    p->ids = ids;
    p->rec = rec;
    return &p->src;
}

void pp_ids_free(pp_ids *p)
{
    tg_free(p->idx);
    tg_free(p->off);
    tg_free(p->text);
    memset(p, 0, sizeof *p);
}

/* Appends record i's new name ID@FILE:LINE. */
static int id_rename(pp_ids *p, uint64_t i)
{
    const char *id = ss_id(p->s, i), *f = ss_file(p->s, i);
    char where[32];
    int wl = snprintf(where, sizeof where, ":%ld", ss_line(p->s, i));
    size_t il = strlen(id), fl = strlen(f), need = il + 1 + fl + (size_t)wl + 1;
    size_t c1 = p->cap, c2 = p->cap;
    if (rd_grow(&p->idx, &c1, p->n + 1, sizeof *p->idx, "renamed ids") ||
        rd_grow(&p->off, &c2, p->n + 1, sizeof *p->off, "renamed ids") ||
        rd_grow(&p->text, &p->tcap, p->used + need, 1, "renamed ids"))
        return TG_ERR_NOMEM;
    p->cap = c1;
    char *t = p->text + p->used;
    memcpy(t, id, il);
    t[il] = '@';
    memcpy(t + il + 1, f, fl);
    memcpy(t + il + 1 + fl, where, (size_t)wl + 1);
    p->idx[p->n] = (uint32_t)i;
    p->off[p->n++] = p->used;
    p->used += need;
    return TG_OK;
}

/* No final name twice: the renamed names in one map (their count, not the
 * records'), every other record's id looked up in it. Of the colliding
 * pairs the one whose later record comes first is reported, with the
 * earliest record of that name, as rd_ids_unique reports it. */
static int id_check(const pp_ids *p, const uint8_t *dup)
{
    sm_map m;
    sm_init(&m);
    uint64_t a = 0, b = UINT64_MAX; /* the pair to report, b: the later record */
    int st = TG_OK;
    for (size_t r = 0; r < p->n && !st; r++) {
        const char *nm = p->text + p->off[r];
        uint32_t first;
        int ins = sm_put(&m, nm, (int)strlen(nm), p->idx[r], &first);
        if (ins < 0)
            st = ins;
        else if (ins == 0 && p->idx[r] < b)
            a = first, b = p->idx[r];
    }
    for (uint64_t j = 0; j < p->s->n && !st && m.n; j++) {
        if (dup[j])
            continue;
        const char *id = ss_id(p->s, j);
        uint32_t r;
        if (sm_get(&m, id, (int)strlen(id), &r)) {
            uint64_t lo = j < r ? j : r, hi = j < r ? r : j;
            if (hi < b)
                a = lo, b = hi;
        }
    }
    sm_free(&m);
    if (st)
        return st;
    if (b == UINT64_MAX)
        return TG_OK;
    return tg_error(TG_ERR_FORMAT,
                    "record id '%s' is given twice, by %s:%ld and %s:%ld (is a file given twice, "
                    "or are two inputs named the same?)",
                    pp_ids_get(p, b), ss_file(p->s, a), ss_line(p->s, a), ss_file(p->s, b),
                    ss_line(p->s, b));
}

int pp_store_ids(const ss_store *s, const char *outdir, const pp_opts *o, pp_ids *ids,
                 size_t *n_cdr3)
{
    memset(ids, 0, sizeof *ids);
    ids->s = s;
    *n_cdr3 = 0;
    for (uint64_t i = 0; i < s->n; i++) {
        int cl;
        *n_cdr3 += ss_cdr3(s, i, &cl) && cl > 0;
    }
    if (s->n >= UINT32_MAX - 1)
        return tg_error(TG_ERR_ARG, "too many records (%llu)", (unsigned long long)s->n);
    size_t budget = o->max_memory ? o->max_memory : pp_default_memory(), peak = 0;
    ids->shards = pp_shards_for(s->n, PP_DEDUP_ENTRY_BYTES, budget, o->dedup_shards);
    id_ctx c = {s, tg_calloc(s->n + 1, 1, "record ids")};
    if (!c.dup)
        return TG_ERR_NOMEM;
    pp_progress pg;
    pp_progress_begin(&pg, "ids", "shards", o->progress && ids->shards > 1);
    int st = pp_sharded(outdir, "ids_shard", s->n, ids->shards, id_hash, id_shard, &c, &pg,
                        &peak);
    pp_progress_end(&pg, ids->shards);
    for (uint64_t i = 0; i < s->n && !st; i++)
        if (c.dup[i])
            st = id_rename(ids, i);
    if (!st)
        st = id_check(ids, c.dup);
    tg_free(c.dup);
    ids->renamed = ids->n;
    if (st)
        pp_ids_free(ids);
    return st;
}
