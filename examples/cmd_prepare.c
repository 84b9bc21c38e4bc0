/* ablm prepare: OAS/AIRR files -> CDRH3 centroids -> de-duplicated heavy
 * chains -> 70% representatives -> whole-cluster 50% split. */
#include "cluster_mmseqs.h"
#include "commands.h"
#include "data_flags.h"
#include "fileio.h"
#include "prepare.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ablm prepare --input FILE... --out DIR [options]\n\n"
            "Builds train/val/test sets from OAS data units or AIRR tables:\n"
            "  1. cluster the CDRH3s at --cdr3-min-seq-id and keep one sequence per cluster\n"
            "  2. drop exact duplicate sequences\n"
            "  3. cluster at --min-seq-id: the representatives are the training pool\n"
            "  4. cluster the pool at --split-min-seq-id and split whole clusters\n"
            "Writes DIR/cdr3_100_cluster.tsv, heavy_70_cluster.tsv, heavy_50_cluster.tsv\n"
            "(representative TAB member; record ids: the sequence_id cell, paired units\n"
            "sequence_id_heavy/_light, else FILE:LINE; an id found more than once becomes\n"
            "ID@FILE:LINE), train.txt, val.txt, test.txt (one sequence per line),\n"
            "train.tsv, val.tsv, test.tsv (the same rows with their ids: header\n"
            "sequence_id, sequence_alignment_aa) and prepare_report.json; out of core\n"
            "(the default) also DIR/records.store (every record read, memory-mapped) and\n"
            "DIR/prepare_*.json and DIR/*.rep (the stages' markers and clusterings, for a\n"
            "rerun).\n\n"
            "  --pairs                heavy/light pairs: split the pairs by their heavy chains'\n"
            "                         clustering (the steps above on the heavy chains; every\n"
            "                         pair follows its heavy chain's representative, only\n"
            "                         exact duplicate pairs are dropped). Inputs: OAS paired\n"
            "                         units, TSV/CSV with heavy and light columns, or lines\n"
            "                         HEAVY[SEP]LIGHT. Writes DIR/train_pairs.tsv,\n"
            "                         val_pairs.tsv, test_pairs.tsv (id, heavy, light, locus,\n"
            "                         fwr1..fwr4 when known), the *_cluster.tsv files and\n"
            "                         prepare_report.json (with the heavy and light chain\n"
            "                         leakage of val/test against train); out of core and\n"
            "                         resumable as below (the pairs in DIR/records.store)\n"
            "  --input FILE...        OAS .csv/.csv.gz units, AIRR .tsv(.gz), FASTA or plain\n"
            "                         files (records need a CDR3: FASTA/plain have none)\n"
            "  --out DIR              output directory (created if missing)\n"
            "  --mode linclust|greedy clustering algorithm (default linclust)\n"
            "  --engine ablm|mmseqs   ablm: ablm's own clustering (every member verified by\n"
            "                         alignment); mmseqs: run MMseqs2 easy-linclust (Debian\n"
            "                         package mmseqs2) with the reference's settings, then\n"
            "                         count members below the thresholds by alignment (ablm)\n"
            "  --mmseqs PATH          the mmseqs binary (default: mmseqs on PATH)\n"
            "  --check-members N      mmseqs: members re-aligned per step; a seeded sample\n"
            "                         when there are more (default 1000000)\n"
            "  --cdr3-min-seq-id F    CDRH3 identity (default 1.0)\n"
            "  --min-seq-id F         sequence identity of the training pool (default 0.7)\n"
            "  --split-min-seq-id F   identity of the clusters kept whole by the split\n"
            "                         (default 0.5)\n"
            "  -c, --coverage F       alignment coverage for clustering and the leakage\n"
            "                         report (default 0.8)\n"
            "  --cov-mode N           0: both sequences, 1: target, 2: query (default 0)\n"
            "  --ratios R,R,R         train,val,test shares (default 0.8,0.1,0.1)\n"
            "  --order size|shuffle   split order: largest clusters first (default) or a\n"
            "                         seeded shuffle\n"
            "  --seed N               seed for --order shuffle and the leakage sample (42)\n"
            "  --leak-sample N        val/test sequences sampled when the exact leakage\n"
            "                         report is too large (default 200; 0 skips it)\n"
            "  --leak-candidates N    estimate from the N train sequences sharing the most\n"
            "                         3-mers, on the sample (default 0: exact)\n"
            "  --max-memory SIZE      memory budget of de-duplication and clustering (K/M/G/T;\n"
            "                         default: half of MemAvailable): exact duplicates are\n"
            "                         dropped in hash shards on disk, linclust spills sorted\n"
            "                         k-mer and pair runs to OUT; the same clusters for any\n"
            "                         budget (also with --pairs)\n"
            "  --in-memory            the previous path: all records in memory, no store, no\n"
            "                         resume (for comparison; same output files)\n"
            "  --no-resume            redo every stage (by default a rerun with the same\n"
            "                         inputs and reading options reuses DIR/records.store,\n"
            "                         checked by its content hash, each clustering step\n"
            "                         whose input, options and threads are unchanged reuses\n"
            "                         DIR/STAGE.rep, and the split and leakage report with\n"
            "                         the same clusters and options reuse the set files\n"
            "                         whose hashes match; markers DIR/prepare_*.json)\n"
            "  --threads N            threads (default: all cores)\n"
            "  --help                 this text\n\n%s",
            DF_HELP);
}

static int parse_frac(const char *cmd, const char *flag, const char *v, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || x < 0 || x > 1) {
        fprintf(stderr, "ablm %s: %s '%s': expected a number in [0, 1]\n", cmd, flag, v);
        return 2;
    }
    *out = x;
    return 0;
}

/* The pairs-specific lines of the report (counts and the heavy-chain split
 * are printed by the caller). */
static void print_pairs_report(const cJSON *report)
{
    const cJSON *pi = cJSON_GetObjectItem(cJSON_GetObjectItem(report, "input"), "pairs");
    const cJSON *sk = cJSON_GetObjectItem(pi, "skipped"), *e;
    printf("pairs skipped:");
    cJSON_ArrayForEach(e, sk) printf(" %s %.0f%s", e->string, e->valuedouble, e->next ? "," : "\n");
    const cJSON *ll = cJSON_GetObjectItem(report, "leakage_light");
    static const char *sets[] = {"val", "test"};
    for (int k = 0; ll && k < 2; k++) {
        const cJSON *l = cJSON_GetObjectItem(ll, sets[k]);
        if (l)
            printf("light chains (not split by) %-4s vs train: identity median %.3f, max %.3f; "
                   ">=0.9: %.1f%%\n", sets[k],
                   cJSON_GetObjectItem(l, "median_identity")->valuedouble,
                   cJSON_GetObjectItem(l, "max_identity")->valuedouble,
                   100 * cJSON_GetObjectItem(l, "fraction_ge_0.9")->valuedouble);
    }
    if (cJSON_GetObjectItem(pi, "skipped") &&
        cJSON_GetObjectItem(sk, "malformed_rows")->valuedouble > 0)
        printf("WARNING: %.0f malformed rows skipped (see prepare_report.json)\n",
               cJSON_GetObjectItem(sk, "malformed_rows")->valuedouble);
}

int cmd_prepare(int argc, char **argv)
{
    const char *cmd = "prepare", *out = NULL;
    pp_opts o;
    pp_opts_default(&o);
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int n_in = 0, use_mmseqs = 0, mode_set = 0, pairs = 0;
    long threads = 0;
    const char *mmseqs_bin = NULL;
    mm_engine mm;
    mm_opts_default(&mm.opts);
    memset(&mm.tool, 0, sizeof mm.tool);
    if (!inputs)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long x;
        int r = df_parse(cmd, argc, argv, &i, &o.rd);
        if (r == 1)
            continue;
        if (r == 2)
            goto usage_error;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(inputs);
            return 0;
        }
        if (!strcmp(a, "--pairs")) {
            pairs = 1;
            continue;
        }
        if (!strcmp(a, "--in-memory")) {
            o.in_memory = 1;
            continue;
        }
        if (!strcmp(a, "--no-resume")) {
            o.resume = 0;
            continue;
        }
        if (!strcmp(a, "--input")) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
                inputs[n_in++] = argv[++i];
            continue;
        }
        if (!(v = df_value(cmd, argc, argv, &i)))
            goto usage_error;
        if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "linclust"))
                o.cl.mode = CL_LINCLUST;
            else if (!strcmp(v, "greedy"))
                o.cl.mode = CL_GREEDY;
            else {
                fprintf(stderr, "ablm %s: --mode '%s': expected linclust or greedy\n", cmd, v);
                goto usage_error;
            }
            mode_set = 1;
        } else if (!strcmp(a, "--engine")) {
            if (!strcmp(v, "mmseqs") || !strcmp(v, "ablm"))
                use_mmseqs = !strcmp(v, "mmseqs");
            else {
                fprintf(stderr, "ablm %s: --engine '%s': expected ablm or mmseqs\n", cmd, v);
                goto usage_error;
            }
        } else if (!strcmp(a, "--mmseqs")) {
            mmseqs_bin = v;
        } else if (!strcmp(a, "--check-members")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            mm.opts.check_sample = (size_t)x;
        } else if (!strcmp(a, "--cdr3-min-seq-id")) {
            if (parse_frac(cmd, a, v, &o.cdr3_min_seq_id))
                goto usage_error;
        } else if (!strcmp(a, "--min-seq-id")) {
            if (parse_frac(cmd, a, v, &o.min_seq_id))
                goto usage_error;
        } else if (!strcmp(a, "--split-min-seq-id")) {
            if (parse_frac(cmd, a, v, &o.split_min_seq_id))
                goto usage_error;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--coverage")) {
            if (parse_frac(cmd, a, v, &o.cl.coverage))
                goto usage_error;
            o.leak.coverage = o.cl.coverage;
        } else if (!strcmp(a, "--cov-mode")) {
            if (df_int(cmd, a, v, &x) || x > 2) {
                fprintf(stderr, "ablm %s: --cov-mode must be 0, 1 or 2\n", cmd);
                goto usage_error;
            }
            o.cl.cov_mode = (int)x;
        } else if (!strcmp(a, "--ratios")) {
            if (sp_parse_ratios(v, o.split.ratios)) {
                fprintf(stderr, "ablm %s: %s\n", cmd, tg_last_error());
                goto usage_error;
            }
        } else if (!strcmp(a, "--order")) {
            if (!strcmp(v, "size"))
                o.split.order = SP_ORDER_SIZE;
            else if (!strcmp(v, "shuffle"))
                o.split.order = SP_ORDER_SHUFFLE;
            else {
                fprintf(stderr, "ablm %s: --order '%s': expected size or shuffle\n", cmd, v);
                goto usage_error;
            }
        } else if (!strcmp(a, "--seed")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            o.split.seed = o.leak.seed = (uint64_t)x;
        } else if (!strcmp(a, "--leak-sample")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            o.leak.sample = (size_t)x;
        } else if (!strcmp(a, "--leak-candidates")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            o.leak.candidates = (int)x;
        } else if (!strcmp(a, "--max-memory")) {
            if (pp_parse_size(v, &o.max_memory)) {
                fprintf(stderr, "ablm %s: --max-memory '%s': expected a size such as 512M or "
                        "2G\n", cmd, v);
                goto usage_error;
            }
        } else if (!strcmp(a, "--threads")) {
            if (df_int(cmd, a, v, &threads))
                goto usage_error;
        } else {
            fprintf(stderr, "ablm %s: unknown flag '%s'\n", cmd, a);
            goto usage_error;
        }
    }
    if (!n_in || !out) {
        fprintf(stderr, "ablm %s: --input and --out are required\n", cmd);
        goto usage_error;
    }
    if (use_mmseqs && mode_set) {
        fprintf(stderr, "ablm %s: --mode is for --engine ablm (MMseqs2 runs linclust)\n", cmd);
        goto usage_error;
    }
    tg_set_threads((int)threads);
    o.cl.threads = (int)threads;
    char *mm_log = NULL;
    if (use_mmseqs) {
        int e = mm_find(&mm.tool, mmseqs_bin);
        if (!e)
            e = fio_mkdir(out);
        if (!e && !(mm_log = fio_join(out, "mmseqs.log")))
            e = TG_ERR_NOMEM;
        if (!e)
            e = mm_log_start(&mm.tool, mm_log);
        if (e) {
            fprintf(stderr, "ablm %s: %s\n", cmd, tg_last_error());
            mm_tool_free(&mm.tool);
            tg_free(mm_log);
            free(inputs);
            return 1;
        }
        mm.opts.workdir = out;
        mm.opts.log = mm_log;
        mm.opts.threads = tg_threads();
        mm.opts.seed = o.leak.seed;
        o.engine = mm_engine_cluster;
        o.engine_ctx = &mm;
        o.engine_name = "mmseqs";
    }
    o.progress = 1; /* every step can be long: step lines always */
    o.leak.progress = 1; /* data/leakage.c: a line every 30 s when stderr is no terminal */

    cJSON *report = cJSON_CreateObject();
    cJSON *set = cJSON_AddObjectToObject(report, "settings");
    cJSON_AddStringToObject(set, "engine", use_mmseqs ? "mmseqs" : "ablm");
    cJSON_AddBoolToObject(set, "pairs", pairs);
    if (use_mmseqs) {
        cJSON_AddStringToObject(set, "mmseqs", mm.tool.path);
        cJSON_AddStringToObject(set, "mmseqs_version", mm.tool.version);
        cJSON_AddNumberToObject(set, "check_members", (double)mm.opts.check_sample);
    } else
        cJSON_AddStringToObject(set, "mode", o.cl.mode == CL_LINCLUST ? "linclust" : "greedy");
    cJSON_AddNumberToObject(set, "cdr3_min_seq_id", o.cdr3_min_seq_id);
    cJSON_AddNumberToObject(set, "min_seq_id", o.min_seq_id);
    cJSON_AddNumberToObject(set, "split_min_seq_id", o.split_min_seq_id);
    cJSON_AddNumberToObject(set, "coverage", o.cl.coverage);
    cJSON_AddNumberToObject(set, "cov_mode", o.cl.cov_mode);
    cJSON_AddNumberToObject(set, "threads", tg_threads());
    cJSON_AddBoolToObject(set, "in_memory", o.in_memory);
    cJSON_AddNumberToObject(set, "max_memory", (double)(o.max_memory ? o.max_memory
                                                                     : pp_default_memory()));
    df_opts_to_json(&o.rd, cJSON_AddObjectToObject(set, "filters"));
    int st = pairs ? pp_run_pairs(inputs, n_in, out, &o, report)
                   : pp_run(inputs, n_in, out, &o, report);
    if (!st) {
        char *path = fio_join(out, "prepare_report.json");
        st = path ? fio_write_json(path, report) : TG_ERR_NOMEM;
        tg_free(path);
    }
    if (st) {
        fprintf(stderr, "ablm %s: %s\n", cmd, tg_last_error());
    } else {
        const cJSON *c = cJSON_GetObjectItem(report, "counts"), *e;
        printf("counts:");
        cJSON_ArrayForEach(e, c) printf(" %s %.0f%s", e->string, e->valuedouble,
                                        e->next ? "," : "\n");
        df_print_split(report);
        const cJSON *sk = cJSON_GetObjectItem(cJSON_GetObjectItem(report, "input"),
                                              "files_skipped");
        cJSON_ArrayForEach(e, sk)
            printf("WARNING: %s\n", cJSON_GetObjectItem(e, "error")->valuestring);
        double total =
            cJSON_GetObjectItem(cJSON_GetObjectItem(report, "seconds"), "total")->valuedouble;
        if (pairs) {
            print_pairs_report(report);
            printf("wrote %s/train_pairs.tsv, val_pairs.tsv, test_pairs.tsv, *_cluster.tsv, "
                   "prepare_report.json%s (%.1f s)\n", out,
                   o.in_memory ? "" : ", records.store, prepare_*.json, *.rep", total);
        } else {
            const cJSON *rd =
                cJSON_GetObjectItem(cJSON_GetObjectItem(report, "input"), "reader");
            double skipped = cJSON_GetObjectItem(rd, "malformed_rows_skipped")->valuedouble;
            if (skipped > 0)
                printf("WARNING: %.0f malformed rows skipped (see prepare_report.json)\n",
                       skipped);
            printf("wrote %s/train.txt, val.txt, test.txt, train.tsv, val.tsv, test.tsv, "
                   "*_cluster.tsv, prepare_report.json%s (%.1f s)\n", out,
                   o.in_memory ? "" : ", records.store, prepare_*.json, *.rep", total);
        }
    }
    if (!st && use_mmseqs) {
        const cJSON *e;
        printf("engine: mmseqs %s, MMseqs2 version %s (commands and log in %s/mmseqs.log)\n",
               mm.tool.path, mm.tool.version, out);
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(report, "clustering"))
            mm_print_check(stdout, "check", cJSON_GetObjectItem(e, "step")->valuestring, e);
    }
    cJSON_Delete(report);
    mm_tool_free(&mm.tool);
    tg_free(mm_log);
    free(inputs);
    return st ? 1 : 0;
usage_error:
    free(inputs);
    usage(stderr);
    return 2;
}
