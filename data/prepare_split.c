/* ablm prepare's split stage (whole 50% clusters into train/val/test and
 * the leakage report), resumable out of core by a content-hashed marker. */
#include "prepare.h"

#include "fileio.h"
#include "tg.h"

#include <stdio.h>
#include <string.h>

#define PP_SPLIT_MARKER "prepare_split.json"

/* What sp_write_sets writes (with ids), and the report entries kept. */
static const char *const SPLIT_FILES[] = {"train.txt", "val.txt", "test.txt",
                                          "train.tsv", "val.tsv", "test.tsv"};
static const char *const SPLIT_ENTRIES[] = {"split", "leakage"};
static const pp_split_spec SPLIT_SPEC = {SPLIT_FILES, 6, SPLIT_ENTRIES, 2, 0};

void pp_split_key(const char *key_in, size_t n, const pp_opts *o, char key[17])
{
    const sp_opts *s = &o->split;
    const sp_leak_opts *l = &o->leak;
    char opt[600];
    snprintf(opt, sizeof opt, "%s|split 1|n %zu|ratios %.17g %.17g %.17g|order %d|seed %llu|"
             "fill %d|leak sample %zu|seed %llu|cov %.17g|cm %d|cand %d|max_pairs %.17g|"
             "worst %d|bound3 %d", key_in, n, s->ratios[0], s->ratios[1], s->ratios[2],
             (int)s->order, (unsigned long long)s->seed, (int)s->fill, l->sample,
             (unsigned long long)l->seed, l->coverage, l->cov_mode, l->candidates, l->max_pairs,
             l->worst, l->bound3);
    snprintf(key, 17, "%016llx", (unsigned long long)ss_hash(SS_HASH_INIT, opt, strlen(opt)));
}

/* hex[k]: the hash of OUTDIR/files[k] as 16 hex digits, "" when it cannot
 * be read. Returns a status. */
static int split_hashes(const char *outdir, const pp_split_spec *sp,
                        char hex[PP_SPLIT_MAX_FILES][17])
{
    for (int k = 0; k < sp->n_files; k++) {
        char *p = fio_join(outdir, sp->files[k]);
        uint64_t h = SS_HASH_INIT;
        int r = p ? pp_file_hash(p, &h) : TG_ERR_NOMEM;
        tg_free(p);
        if (r < 0)
            return r;
        if (r)
            snprintf(hex[k], 17, "%016llx", (unsigned long long)h);
        else
            hex[k][0] = '\0';
    }
    return TG_OK;
}

/* 1 when marker mk (of this key) can be restored: its report entries have
 * the shape the caller reads and every file has the hash the marker names;
 * else 0 and *bad names the first file that differs (NULL: the marker).
 * Returns a status when hashing fails. */
static int split_matches(const char *outdir, const pp_split_spec *sp, const cJSON *mk,
                         int leakage, const char **bad)
{
    char hex[PP_SPLIT_MAX_FILES][17];
    *bad = NULL;
    if (!pp_split_marker_ok(mk, leakage, sp->pairs))
        return 0;
    int st = split_hashes(outdir, sp, hex);
    if (st)
        return st;
    const cJSON *files = cJSON_GetObjectItem(mk, "files");
    for (int k = 0; k < sp->n_files; k++) {
        const cJSON *h = cJSON_GetObjectItem(files, sp->files[k]);
        if (!hex[k][0] || !cJSON_IsString(h) || strcmp(h->valuestring, hex[k])) {
            *bad = sp->files[k];
            return 0;
        }
    }
    return 1;
}

int pp_split_done(const char *outdir, const pp_split_spec *sp, const char *key,
                  const pp_opts *o, cJSON *report)
{
    if (o->in_memory)
        return TG_OK;
    char hex[PP_SPLIT_MAX_FILES][17];
    int st = split_hashes(outdir, sp, hex);
    for (int k = 0; !st && k < sp->n_files; k++)
        if (!hex[k][0])
            st = tg_error(TG_ERR_IO, "%s/%s: cannot read back the file just written", outdir,
                          sp->files[k]);
    if (st)
        return st;
    cJSON *m = cJSON_CreateObject(), *files = cJSON_AddObjectToObject(m, "files");
    cJSON_AddStringToObject(m, "stage", "split");
    cJSON_AddStringToObject(m, "key", key);
    for (int k = 0; k < sp->n_files; k++)
        cJSON_AddStringToObject(files, sp->files[k], hex[k]);
    for (int k = 0; k < sp->n_entries; k++)
        pp_json_take(m, report, sp->entries[k]);
    st = pp_marker_write(outdir, PP_SPLIT_MARKER, m);
    cJSON_Delete(m);
    if (!st)
        cJSON_AddStringToObject(cJSON_GetObjectItem(report, "stages"), "split", "done");
    return st;
}

int pp_split_resume(const char *outdir, const pp_split_spec *sp, const char *key,
                    const pp_opts *o, size_t n, cJSON *report)
{
    double t = pp_now();
    int leakage = o->leak.sample > 0;
    cJSON *mk = !o->in_memory && o->resume ? pp_marker_load(outdir, PP_SPLIT_MARKER, key)
                                           : NULL;
    if (!mk)
        return 0;
    const char *bad;
    int ok = split_matches(outdir, sp, mk, leakage, &bad);
    if (ok == 1) {
        for (int k = 0; k < sp->n_entries; k++)
            pp_json_take(report, mk, sp->entries[k]);
        cJSON_AddStringToObject(cJSON_GetObjectItem(report, "stages"), "split",
                                "skipped: same clusters and split options, set files "
                                "unchanged (hashes in " PP_SPLIT_MARKER ")");
        if (o->progress) {
            fprintf(stderr, "prepare: split: skipped, %s/", outdir);
            for (int k = 0; k < sp->n_files; k++)
                fprintf(stderr, "%s%s", sp->files[k], k + 1 < sp->n_files ? ", " : "");
            fprintf(stderr, " hold the split of these %zu %s%s (key %s, hashes verified in "
                    "%.1f s)\n", n, sp->pairs ? "pairs" : "sequences",
                    leakage ? " and its leakage report" : "", key, pp_now() - t);
        }
    } else if (ok == 0 && o->progress)
        fprintf(stderr, "prepare: split: %s/%s does not match its marker; splitting "
                "again\n", outdir, bad ? bad : PP_SPLIT_MARKER);
    cJSON_Delete(mk);
    return ok;
}

int pp_stage_split(const char *outdir, const cl_src *src, const uint32_t *rep, size_t n,
                   const pp_opts *o, const char *key_in, cJSON *report)
{
    char key[17];
    pp_split_key(key_in, n, o, key);
    int ok = pp_split_resume(outdir, &SPLIT_SPEC, key, o, n, report);
    if (ok)
        return ok < 0 ? ok : TG_OK;
    if (o->progress) {
        size_t nc = 0;
        for (size_t i = 0; i < n; i++)
            nc += rep[i] == i;
        fprintf(stderr, "prepare: splitting %zu sequences in %zu clusters...\n", n, nc);
    }
    /* sp_run takes arrays: 20 bytes a sequence while it runs; out of core
     * its sequences are read in a step file (pp_step_open) */
    const char **ids = tg_malloc((n + 1) * sizeof *ids, "split"),
               **seqs = tg_malloc((n + 1) * sizeof *seqs, "split");
    int *lens = tg_malloc((n + 1) * sizeof *lens, "split");
    int st = ids && seqs && lens ? TG_OK : TG_ERR_NOMEM;
    pp_step sf;
    memset(&sf, 0, sizeof sf);
    if (!st && !o->in_memory && n && !(st = pp_step_open(&sf, outdir, src, n, o->progress)))
        src = &sf.src;
    for (size_t i = 0; !st && i < n; i++) {
        seqs[i] = cl_src_seq(src, i, &lens[i]);
        ids[i] = cl_src_name(src, i);
    }
    if (!st)
        st = sp_run(outdir, ids, seqs, lens, rep, n, &o->split, &o->leak, report, NULL);
    tg_free((void *)ids);
    tg_free((void *)seqs);
    tg_free(lens);
    pp_step_close(&sf);
    return st ? st : pp_split_done(outdir, &SPLIT_SPEC, key, o, report);
}
