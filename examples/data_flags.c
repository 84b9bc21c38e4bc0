/* Reader flags shared by ablm split and ablm prepare. */
#include "data_flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char DF_HELP[] =
    "input filters (defaults: none beyond exact de-duplication):\n"
    "  --chain heavy|light|any  chain to read: paired OAS units give that chain's\n"
    "                         columns; unpaired tables keep rows of that locus\n"
    "                         (default heavy; FASTA/plain files have no locus)\n"
    "  --locus IGH|IGK|IGL    keep only rows of this locus (tables only)\n"
    "  --productive-only      drop rows whose productive value is not true\n"
    "  --drop-stop            drop sequences containing a stop codon '*'\n"
    "  --drop-nonstandard     drop sequences with any residue outside the 20 amino\n"
    "                         acids (X, '*', B, Z, ...)\n"
    "  --min-length N         drop sequences shorter than N residues\n"
    "  --max-length N         drop sequences longer than N residues\n"
    "  --format auto|oas|csv|airr|fasta|plain  input format (default auto: by content)\n"
    "  --on-error fail|skip   malformed rows: stop with the error (default), or skip\n"
    "                         and count them in the report\n";

const char *df_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "ablm %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int df_int(const char *cmd, const char *flag, const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < 0) {
        fprintf(stderr, "ablm %s: %s '%s': expected a non-negative integer\n", cmd, flag, v);
        return 2;
    }
    *out = x;
    return 0;
}

int df_parse(const char *cmd, int argc, char **argv, int *i, rd_opts *o)
{
    const char *a = argv[*i], *v;
    long x;
    if (!strcmp(a, "--productive-only")) {
        o->productive_only = 1;
    } else if (!strcmp(a, "--drop-stop")) {
        o->drop_stop = 1;
    } else if (!strcmp(a, "--drop-nonstandard")) {
        o->drop_nonstandard = 1;
    } else if (!strcmp(a, "--min-length") || !strcmp(a, "--max-length")) {
        if (!(v = df_value(cmd, argc, argv, i)) || df_int(cmd, a, v, &x))
            return 2;
        *(a[3] == 'i' ? &o->min_length : &o->max_length) = (int)x;
    } else if (!strcmp(a, "--chain")) {
        if (!(v = df_value(cmd, argc, argv, i)))
            return 2;
        if (!strcmp(v, "heavy"))
            o->chain = RD_CHAIN_HEAVY;
        else if (!strcmp(v, "light"))
            o->chain = RD_CHAIN_LIGHT;
        else if (!strcmp(v, "any"))
            o->chain = RD_CHAIN_ANY;
        else {
            fprintf(stderr, "ablm %s: --chain '%s': expected heavy, light or any\n", cmd, v);
            return 2;
        }
    } else if (!strcmp(a, "--locus")) {
        if (!(v = df_value(cmd, argc, argv, i)))
            return 2;
        o->locus = v;
    } else if (!strcmp(a, "--format")) {
        if (!(v = df_value(cmd, argc, argv, i)))
            return 2;
        if (rd_format_parse(v, &o->format)) {
            fprintf(stderr, "ablm %s: --format '%s': expected auto, oas, csv, airr, fasta or "
                            "plain\n", cmd, v);
            return 2;
        }
    } else if (!strcmp(a, "--on-error")) {
        if (!(v = df_value(cmd, argc, argv, i)))
            return 2;
        if (!strcmp(v, "fail"))
            o->on_error = RD_ON_ERROR_FAIL;
        else if (!strcmp(v, "skip"))
            o->on_error = RD_ON_ERROR_SKIP;
        else {
            fprintf(stderr, "ablm %s: --on-error '%s': expected fail or skip\n", cmd, v);
            return 2;
        }
    } else {
        return 0;
    }
    return 1;
}

void df_opts_to_json(const rd_opts *o, cJSON *obj)
{
    static const char *chains[] = {"heavy", "light", "any"};
    cJSON_AddStringToObject(obj, "chain", chains[o->chain]);
    if (o->locus)
        cJSON_AddStringToObject(obj, "locus", o->locus);
    cJSON_AddBoolToObject(obj, "productive_only", o->productive_only);
    cJSON_AddBoolToObject(obj, "drop_stop", o->drop_stop);
    cJSON_AddBoolToObject(obj, "drop_nonstandard", o->drop_nonstandard);
    cJSON_AddNumberToObject(obj, "min_length", o->min_length);
    cJSON_AddNumberToObject(obj, "max_length", o->max_length);
    cJSON_AddStringToObject(obj, "format", rd_format_name(o->format));
    cJSON_AddStringToObject(obj, "on_error", o->on_error == RD_ON_ERROR_SKIP ? "skip" : "fail");
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

void df_print_split(const cJSON *rep)
{
    const cJSON *sp = cJSON_GetObjectItem(rep, "split");
    if (!sp)
        return;
    printf("split: %.0f sequences in %.0f clusters (largest %.0f)\n", num(sp, "sequences"),
           num(sp, "clusters"), num(sp, "largest_cluster"));
    static const char *sets[] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        const cJSON *s = cJSON_GetObjectItem(sp, sets[k]);
        printf("  %-5s %8.0f sequences (target %.0f), %.0f clusters\n", sets[k],
               num(s, "sequences"), num(s, "target"), num(s, "clusters"));
    }
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(sp, "warnings"))
        printf("WARNING: %s\n", w->valuestring);
    const cJSON *lk = cJSON_GetObjectItem(rep, "leakage");
    for (int k = 1; lk && k < 3; k++) {
        const cJSON *l = cJSON_GetObjectItem(lk, sets[k]);
        if (!l)
            continue;
        const cJSON *mode = cJSON_GetObjectItem(l, "mode");
        printf("leakage %-4s vs train (%s, %.0f of %.0f sequences): identity median %.3f, p95 "
               "%.3f, max %.3f; >=0.5: %.1f%%, >=0.7: %.1f%%, >=0.9: %.1f%%\n",
               sets[k], cJSON_IsString(mode) ? mode->valuestring : "sampled", num(l, "sampled"),
               num(l, "sequences"), num(l, "median_identity"), num(l, "p95_identity"),
               num(l, "max_identity"), 100 * num(l, "fraction_ge_0.5"),
               100 * num(l, "fraction_ge_0.7"), 100 * num(l, "fraction_ge_0.9"));
        const cJSON *cl = cJSON_GetArrayItem(cJSON_GetObjectItem(l, "closest"), 0);
        const cJSON *qi = cJSON_GetObjectItem(cl, "id"), *ti = cJSON_GetObjectItem(cl, "train_id");
        if (cJSON_IsString(qi) && cJSON_IsString(ti))
            printf("  closest: %s vs train %s at identity %.3f\n", qi->valuestring,
                   ti->valuestring, num(cl, "identity"));
        if (cJSON_GetObjectItem(l, "index_recall"))
            printf("  index recall (nearest found by the 3-mer candidates): %.1f%%\n",
                   100 * num(l, "index_recall"));
    }
}
