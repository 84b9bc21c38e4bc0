/* libFuzzer target: what a rerun of `ablm prepare --resume` (out of core)
 * reads to skip finished stages (data/prepare_ooc.c): a stage marker
 * OUTDIR/prepare_STAGE.json (pp_marker_load, key "fuzzkey") and, for a
 * clustering stage, its rep file STAGE.rep. Byte 0: bit 0 chooses (0: the
 * read stage's marker, pp_read_marker_ok, or with bit 1 set the split
 * stage's, pp_split_marker_ok; 1: a clustering marker and its rep file,
 * pp_rep_resume); for a clustering marker, with bit 1 set the target first
 * sets the marker's "rep_hash" to the rep file's hash (a marker that
 * matches its file, as a tampered or foreign run could leave); bits 2..7 are the
 * number of sequences n (0..63). The rest is the marker, then after FZ_SEP
 * the rep file. Contracts: an accepted read marker gives the report and its
 * readers each member as the type they use (ablm prepare prints
 * files_skipped[].error and reader.malformed_rows_skipped; pp_run turns
 * records_without_cdr3 and reader.rows_read into size_t: counts 0..2^53);
 * an accepted clustering step has rep a valid assignment of n sequences
 * (rep[i] < n, rep[rep[i]] == rep[i]), n_clusters its representatives and
 * a step object whose "step" is a string (mm_print_check prints it); an
 * accepted split marker (leakage expected when bit 2 is set) has the
 * numbers pp_run copies (split.train/val/test.sequences), an array of
 * strings split.warnings (printed), a "files" object and, when expected, a
 * "leakage" object. */
#include "fuzz_util.h"
#include "prepare.h"
#include "tg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 if x is a number that converts to size_t (an integer 0..2^53). */
static int count(const cJSON *x)
{
    return cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble <= 9007199254740992.0 &&
           x->valuedouble == (double)(size_t)x->valuedouble;
}

static void read_marker(const char *dir)
{
    cJSON *m = pp_marker_load(dir, "prepare_read.json", "fuzzkey");
    if (!m || !pp_read_marker_ok(m, 0)) {
        cJSON_Delete(m);
        return;
    }
    const cJSON *rd = cJSON_GetObjectItem(m, "reader"), *e;
    if (!count(cJSON_GetObjectItem(rd, "malformed_rows_skipped")) ||
        !count(cJSON_GetObjectItem(rd, "rows_read")) ||
        !count(cJSON_GetObjectItem(m, "records_without_cdr3")))
        abort();
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(m, "files_skipped"))
    {
        const cJSON *err = cJSON_GetObjectItem(e, "error");
        if (!cJSON_IsString(err) || !err->valuestring)
            abort();
    }
    cJSON_Delete(m);
}

static void split_marker(const char *dir, int leakage)
{
    cJSON *m = pp_marker_load(dir, "prepare_split.json", "fuzzkey");
    if (!m || !pp_split_marker_ok(m, leakage, 0)) {
        cJSON_Delete(m);
        return;
    }
    const cJSON *sp = cJSON_GetObjectItem(m, "split"), *w;
    static const char *sets[] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++)
        if (!count(cJSON_GetObjectItem(cJSON_GetObjectItem(sp, sets[k]), "sequences")))
            abort();
    const cJSON *warn = cJSON_GetObjectItem(sp, "warnings");
    if (!cJSON_IsArray(warn) || !cJSON_IsObject(cJSON_GetObjectItem(m, "files")) ||
        (leakage && !cJSON_IsObject(cJSON_GetObjectItem(m, "leakage"))))
        abort();
    cJSON_ArrayForEach(w, warn) if (!cJSON_IsString(w) || !w->valuestring) abort();
    cJSON_Delete(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const uint8_t *part[2];
    size_t len[2];
    if (n < 1)
        return 0;
    int mode = data[0] & 1, fix = data[0] >> 1 & 1;
    size_t ns = data[0] >> 2;
    int np = fz_split(data + 1, n - 1, 2, part, len);
    const char *dir = fz_dir();
    if (mode == 0 && fix) {
        fz_write(0, "prepare_split.json", part[0], len[0]);
        split_marker(dir, (int)(ns & 1));
        return 0;
    }
    if (mode == 0) {
        fz_write(0, "prepare_read.json", part[0], len[0]);
        read_marker(dir);
        return 0;
    }
    const char *rpath = fz_write(1, "cluster.rep", np > 1 ? part[1] : (const uint8_t *)"",
                                 np > 1 ? len[1] : 0);
    if (fix) {
        char *txt = malloc(len[0] + 1);
        if (!txt)
            abort();
        memcpy(txt, part[0], len[0]);
        txt[len[0]] = 0;
        cJSON *mk = cJSON_Parse(txt);
        free(txt);
        if (!cJSON_IsObject(mk)) {
            cJSON_Delete(mk);
            return 0;
        }
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ss_hash(SS_HASH_INIT,
                 np > 1 ? part[1] : (const uint8_t *)"", np > 1 ? len[1] : 0));
        cJSON_DeleteItemFromObject(mk, "rep_hash");
        cJSON_AddStringToObject(mk, "rep_hash", hex);
        char *out = cJSON_PrintUnformatted(mk);
        cJSON_Delete(mk);
        if (!out)
            abort();
        fz_write(0, "prepare_cluster.json", out, strlen(out));
        cJSON_free(out);
    } else
        fz_write(0, "prepare_cluster.json", part[0], len[0]);
    uint32_t rep[64];
    cJSON *step = NULL;
    size_t nc = 99;
    int r = pp_rep_resume(dir, "prepare_cluster.json", rpath, "fuzzkey", ns, rep, &step, &nc);
    if (r == 1) {
        size_t roots = 0;
        for (size_t i = 0; i < ns; i++) {
            if (rep[i] >= ns || rep[rep[i]] != rep[i])
                abort();
            roots += rep[i] == i;
        }
        const cJSON *s = cJSON_GetObjectItem(step, "step");
        if (roots != nc || !cJSON_IsObject(step) || !cJSON_IsString(s) || !s->valuestring)
            abort();
    } else if (step || (r != 0 && r != -1))
        abort();
    cJSON_Delete(step);
    return 0;
}
