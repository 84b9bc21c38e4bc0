/* ablm prepare out of core: progress lines, the memory budget, stage
 * markers (resume by hash), de-duplication in hash shards, clustering
 * within the budget. */
#include "prepare.h"

#include "fileio.h"
#include "strmap.h"
#include "tg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
             "min %d|max %d|sep %s|onerr %d|n %d", SS_VERSION, (int)r->format, (int)r->chain,
             r->locus ? r->locus : "-", r->productive_only, r->drop_stop, r->drop_nonstandard,
             r->min_length, r->max_length, r->pair_sep ? r->pair_sep : "-", (int)r->on_error,
             n_inputs);
    uint64_t h = ss_hash(SS_HASH_INIT, opt, strlen(opt) + 1);
    char *buf = tg_malloc(1 << 16, "input hash");
    if (!buf)
        return TG_ERR_NOMEM;
    for (int i = 0; i < n_inputs; i++) {
        h = ss_hash(h, inputs[i], strlen(inputs[i]) + 1);
        FILE *f = fopen(inputs[i], "rb");
        if (!f) {
            /* unreadable: the read stage reports it (or skips it); the key
             * records that it was missing */
            h = ss_hash(h, "\0missing", 9);
            continue;
        }
        size_t k;
        while ((k = fread(buf, 1, 1 << 16, f)) > 0)
            h = ss_hash(h, buf, k);
        fclose(f);
    }
    tg_free(buf);
    snprintf(key, 17, "%016llx", (unsigned long long)h);
    return TG_OK;
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

int pp_read_marker_ok(const cJSON *m)
{
    const cJSON *sh = cJSON_GetObjectItem(m, "store_hash"), *f = cJSON_GetObjectItem(m, "files");
    const cJSON *sk = cJSON_GetObjectItem(m, "files_skipped"), *e;
    if (!cJSON_IsString(sh) || strlen(sh->valuestring) != 16 || !cJSON_IsArray(f) ||
        !cJSON_IsArray(sk) || !is_count(cJSON_GetObjectItem(m, "records_without_cdr3")))
        return 0;
    cJSON_ArrayForEach(e, sk) if (!cJSON_IsString(cJSON_GetObjectItem(e, "error"))) return 0;
    rd_stats zero;
    memset(&zero, 0, sizeof zero);
    cJSON *tpl = cJSON_CreateObject();
    if (!tpl)
        return 0;
    rd_stats_to_json(&zero, tpl);
    int ok = same_shape(tpl, cJSON_GetObjectItem(m, "reader"));
    cJSON_Delete(tpl);
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

int pp_store_ids(const ss_store *s, rd_ids *ids, size_t *n_cdr3)
{
    *n_cdr3 = 0;
    for (uint64_t i = 0; i < s->n; i++) {
        int cl;
        int st = rd_ids_add(ids, ss_id(s, i), ss_file(s, i), ss_line(s, i));
        if (st)
            return st;
        *n_cdr3 += ss_cdr3(s, i, &cl) && cl > 0;
    }
    return TG_OK;
}

/* Bytes one sequence costs in a shard's map (key pointer, length, value at
 * load <= 1/2) and its index read back. */
#define PP_DEDUP_ENTRY_BYTES 40
/* Shards are open files at once; beyond this a shard may exceed the budget. */
#define PP_MAX_SHARDS 512

/* Keeps in keep[j] (1) the first j of every distinct sequence among the
 * positions list[0..k) (ascending j). */
static int dedup_map(const char *const *seq, const int *len, const uint32_t *uniq,
                     const uint32_t *list, size_t k, uint8_t *keep)
{
    sm_map seen;
    sm_init(&seen);
    for (size_t i = 0; i < k; i++) {
        uint32_t j = list ? list[i] : (uint32_t)i, r = uniq[j];
        int ins = sm_put(&seen, seq[r], len[r], j, NULL);
        if (ins < 0) {
            sm_free(&seen);
            return ins;
        }
        keep[j] = (uint8_t)ins;
    }
    sm_free(&seen);
    return TG_OK;
}

int pp_dedup(const char *const *seq, const int *len, uint32_t *uniq, size_t *m,
             const char *outdir, const pp_opts *o, cJSON *report)
{
    size_t n = *m, budget = o->max_memory ? o->max_memory : pp_default_memory();
    size_t shards = (size_t)o->dedup_shards;
    if (!shards) {
        double need = (double)n * PP_DEDUP_ENTRY_BYTES, part = (double)budget / 2;
        shards = need <= part ? 1 : (size_t)(need / part) + 1;
        if (shards > PP_MAX_SHARDS)
            shards = PP_MAX_SHARDS;
    }
    uint8_t *keep = tg_calloc(n + 1, 1, "dedup");
    tg_afile *sh = NULL;
    uint32_t *list = NULL;
    size_t *count = NULL, peak = 0;
    int st = keep ? TG_OK : TG_ERR_NOMEM;
    pp_progress pg;
    pp_progress_begin(&pg, "dedup", "shards", o->progress && shards > 1);
    if (!st && shards == 1) {
        st = dedup_map(seq, len, uniq, NULL, n, keep);
        peak = n;
    } else if (!st) {
        char *base = fio_join(outdir, "dedup_shard");
        sh = tg_calloc(shards, sizeof *sh, "dedup shards");
        count = tg_calloc(shards, sizeof *count, "dedup shards");
        if (!base || !sh || !count)
            st = TG_ERR_NOMEM;
        for (size_t k = 0; !st && k < shards; k++)
            st = tg_afile_open(&sh[k], base);
        tg_free(base);
        /* spill: each position j to the shard of its sequence's hash */
        for (size_t j = 0; !st && j < n; j++) {
            uint32_t r = uniq[j], jj = (uint32_t)j;
            uint64_t h = ss_hash(SS_HASH_INIT, seq[r], (size_t)len[r]);
            size_t k = (size_t)((h >> 32) % shards);
            if (fwrite(&jj, sizeof jj, 1, sh[k].f) != 1)
                st = tg_error(TG_ERR_IO, "%s: cannot write: %s", sh[k].tmp, strerror(errno));
            count[k]++;
        }
        for (size_t k = 0; !st && k < shards; k++)
            if (count[k] > peak)
                peak = count[k];
        list = st ? NULL : tg_malloc((peak + 1) * sizeof *list, "dedup shard");
        if (!st && !list)
            st = TG_ERR_NOMEM;
        for (size_t k = 0; !st && k < shards; k++) {
            FILE *f = NULL;
            if (fflush(sh[k].f) || !(f = fopen(sh[k].tmp, "rb")))
                st = tg_error(TG_ERR_IO, "%s: cannot read back: %s", sh[k].tmp,
                              strerror(errno));
            else if (fread(list, sizeof *list, count[k], f) != count[k])
                st = tg_error(TG_ERR_IO, "%s: short read", sh[k].tmp);
            if (f)
                fclose(f);
            tg_afile_abort(&sh[k]);
            if (!st)
                st = dedup_map(seq, len, uniq, list, count[k], keep);
            pp_progress_tick(&pg, k + 1, (double)(k + 1) / (double)shards);
        }
        for (size_t k = 0; sh && k < shards; k++)
            tg_afile_abort(&sh[k]);
    }
    pp_progress_end(&pg, shards);
    size_t w = 0;
    for (size_t j = 0; !st && j < n; j++)
        if (keep[j])
            uniq[w++] = uniq[j];
    if (!st) {
        *m = w;
        cJSON *d = cJSON_AddObjectToObject(report, "dedup");
        cJSON_AddNumberToObject(d, "sequences", (double)n);
        cJSON_AddNumberToObject(d, "kept", (double)w);
        cJSON_AddNumberToObject(d, "shards", (double)shards);
        cJSON_AddNumberToObject(d, "largest_shard", (double)peak);
        cJSON_AddNumberToObject(d, "budget_bytes", (double)budget);
    }
    tg_free(keep);
    tg_free(sh);
    tg_free(list);
    tg_free(count);
    return st;
}

int pp_cluster_budgeted(const char *outdir, const char *const *seqs, const int *lens, size_t n,
                        const cl_opts *co, const pp_opts *o, uint32_t *rep, cl_stats *cs,
                        cJSON *step)
{
    size_t budget = o->max_memory ? o->max_memory : pp_default_memory();
    size_t anon = pp_proc_status("RssAnon");
    cl_budget b = {budget > anon ? budget - anon : 1, outdir};
    if (co->mode != CL_LINCLUST)
        return cl_cluster(seqs, lens, n, co, rep, cs);
    int st = cl_cluster_budget(seqs, lens, n, co, &b, rep, cs);
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
    return TG_OK;
}
