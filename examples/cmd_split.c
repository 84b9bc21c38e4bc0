/* ablm split: train/val/test files from a clustering, whole clusters only,
 * with a leakage report. */
#include "commands.h"
#include "data_flags.h"
#include "fileio.h"
#include "split.h"
#include "strmap.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ablm split --clusters CLU.tsv --sequences FILE --out DIR [options]\n\n"
            "Splits clustered sequences into DIR/train.txt, val.txt and test.txt (one\n"
            "sequence per line), keeping every cluster whole; DIR/train.tsv, val.tsv and\n"
            "test.tsv hold the same rows with their ids (header sequence_id,\n"
            "sequence_alignment_aa); and writes DIR/leakage_report.json.\n\n"
            "  --clusters FILE        cluster TSV: representative TAB member per line (as\n"
            "                         mmseqs createtsv / easy-cluster *_cluster.tsv write)\n"
            "  --sequences FILE...    the sequences the TSV names: FASTA names, table\n"
            "                         sequence_id cells, else FILE:LINE; an id found more\n"
            "                         than once becomes ID@FILE:LINE (as ablm cluster and\n"
            "                         ablm prepare name them: give the same files, and\n"
            "                         --chain light / any for _light / unsuffixed columns)\n"
            "  --out DIR              output directory (created if missing)\n"
            "  --ratios R,R,R         train,val,test shares (default 0.8,0.1,0.1)\n"
            "  --order size|shuffle   cluster order for the greedy fill: largest first\n"
            "                         (default; ties by first appearance) or a seeded shuffle\n"
            "  --seed N               seed for --order shuffle and the leakage sample (42)\n"
            "  --leak-sample N        val and test sequences sampled each for the leakage\n"
            "                         report (default 200; 0 skips it)\n"
            "  --leak-candidates N    train sequences aligned per sampled sequence: those\n"
            "                         sharing the most 3-mers (default 64; 0 = all)\n"
            "  -c, --coverage F       coverage both sequences need for an alignment to\n"
            "                         count in the leakage report (default 0.8)\n"
            "  --threads N            threads (default: all cores)\n"
            "  --help                 this text\n\n%s",
            DF_HELP);
}

int cmd_split(int argc, char **argv)
{
    const char *cmd = "split", *clu = NULL, *out = NULL;
    const char **seqf = calloc((size_t)argc, sizeof *seqf);
    int n_seqf = 0;
    if (!seqf)
        return 1;
    sp_opts so;
    sp_opts_default(&so);
    sp_leak_opts lo;
    sp_leak_opts_default(&lo);
    rd_opts ro;
    rd_opts_default(&ro);
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long x;
        int r = df_parse(cmd, argc, argv, &i, &ro);
        if (r == 1)
            continue;
        if (r == 2)
            goto usage_error;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(seqf);
            return 0;
        }
        if (!strcmp(a, "--sequences")) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
                seqf[n_seqf++] = argv[++i];
            continue;
        }
        if (!(v = df_value(cmd, argc, argv, &i))) {
            usage(stderr);
            goto usage_error;
        }
        if (!strcmp(a, "--clusters"))
            clu = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--ratios")) {
            if (sp_parse_ratios(v, so.ratios)) {
                fprintf(stderr, "ablm %s: %s\n", cmd, tg_last_error());
                goto usage_error;
            }
        } else if (!strcmp(a, "--order")) {
            if (!strcmp(v, "size"))
                so.order = SP_ORDER_SIZE;
            else if (!strcmp(v, "shuffle"))
                so.order = SP_ORDER_SHUFFLE;
            else {
                fprintf(stderr, "ablm %s: --order '%s': expected size or shuffle\n", cmd, v);
                goto usage_error;
            }
        } else if (!strcmp(a, "--seed")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            so.seed = lo.seed = (uint64_t)x;
        } else if (!strcmp(a, "--leak-sample")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            lo.sample = (size_t)x;
        } else if (!strcmp(a, "--leak-candidates")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            lo.candidates = (int)x;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--coverage")) {
            char *end;
            lo.coverage = strtod(v, &end);
            if (*end || lo.coverage < 0 || lo.coverage > 1) {
                fprintf(stderr, "ablm %s: %s '%s': expected a number in [0, 1]\n", cmd, a, v);
                goto usage_error;
            }
        } else if (!strcmp(a, "--threads")) {
            if (df_int(cmd, a, v, &threads))
                goto usage_error;
        } else {
            fprintf(stderr, "ablm %s: unknown flag '%s'\n", cmd, a);
            usage(stderr);
            goto usage_error;
        }
    }
    if (!clu || !n_seqf || !out) {
        fprintf(stderr, "ablm %s: --clusters, --sequences and --out are required\n", cmd);
        usage(stderr);
        goto usage_error;
    }
    tg_set_threads((int)threads);
    lo.progress = isatty(2);

    char **seqs = NULL;
    size_t n = 0, renamed = 0;
    rd_stats rs;
    int rc = 1;
    uint32_t *rep = NULL, *keep = NULL;
    int *lens = NULL;
    const char **kseq = NULL, **kid = NULL;
    cJSON *report = NULL;
    rd_ids ids;
    rd_ids_init(&ids);
    sm_map map;
    sm_init(&map);
    int st = rd_read_files(seqf, n_seqf, &ro, &ids, &seqs, &n, &rs, &renamed);
    if (st)
        goto fail;
    if (renamed)
        fprintf(stderr, "ablm %s: %zu records share their id with another record; they are "
                "named ID@FILE:LINE\n", cmd, renamed);
    for (size_t i = 0; i < n && !st; i++) {
        const char *id = rd_ids_get(&ids, i);
        int ins = sm_put(&map, id, (int)strlen(id), (uint32_t)i, NULL);
        if (ins < 0)
            st = ins;
    }
    rep = tg_malloc((n + 1) * sizeof *rep, "clusters");
    keep = tg_malloc((n + 1) * sizeof *keep, "clusters");
    lens = tg_malloc((n + 1) * sizeof *lens, "lengths");
    kseq = tg_malloc((n + 1) * sizeof *kseq, "sequences");
    kid = tg_malloc((n + 1) * sizeof *kid, "ids");
    if (!st && (!rep || !keep || !lens || !kseq || !kid))
        st = TG_ERR_NOMEM;
    if (!st)
        st = sp_read_cluster_tsv(clu, &map, n, rep);
    if (st)
        goto fail;
    /* Sequences the TSV does not list are left out (and said so); the rest
     * are renumbered. */
    size_t m = 0, unlisted = 0;
    for (size_t i = 0; i < n; i++)
        if (rep[i] == UINT32_MAX)
            unlisted++;
        else
            keep[i] = (uint32_t)m++;
    for (size_t i = 0, j = 0; i < n; i++)
        if (rep[i] != UINT32_MAX) {
            if (rep[rep[i]] == UINT32_MAX) {
                st = tg_error(TG_ERR_FORMAT, "%s: representative '%s' is not itself a member of "
                              "any cluster", clu, rd_ids_get(&ids, rep[i]));
                goto fail;
            }
            kseq[j] = seqs[i];
            kid[j] = rd_ids_get(&ids, i);
            lens[j] = (int)strlen(seqs[i]);
            rep[j] = keep[rep[i]];
            j++;
        }
    if (unlisted)
        fprintf(stderr, "ablm %s: warning: %zu of %zu sequences in %s appear in no cluster of "
                "%s; they are left out of every set\n", cmd, unlisted, n,
                n_seqf == 1 ? seqf[0] : "the sequence files", clu);
    if ((st = fio_mkdir(out)))
        goto fail;
    report = cJSON_CreateObject();
    cJSON *in = cJSON_AddObjectToObject(report, "input");
    cJSON_AddStringToObject(in, "clusters", clu);
    cJSON *sf = cJSON_AddArrayToObject(in, "sequences");
    for (int f = 0; f < n_seqf; f++)
        cJSON_AddItemToArray(sf, cJSON_CreateString(seqf[f]));
    cJSON_AddNumberToObject(in, "sequences_read", (double)n);
    cJSON_AddNumberToObject(in, "sequences_in_no_cluster", (double)unlisted);
    cJSON_AddNumberToObject(in, "ids_made_unique", (double)renamed);
    rd_stats_to_json(&rs, cJSON_AddObjectToObject(in, "reader"));
    df_opts_to_json(&ro, cJSON_AddObjectToObject(in, "filters"));
    if ((st = sp_run(out, kid, kseq, lens, rep, m, &so, &lo, report, NULL)))
        goto fail;
    char *path = fio_join(out, "leakage_report.json");
    st = path ? fio_write_json(path, report) : TG_ERR_NOMEM;
    tg_free(path);
    if (st)
        goto fail;
    df_print_split(report);
    printf("wrote %s/train.txt, val.txt, test.txt (sequences), train.tsv, val.tsv, test.tsv "
           "(ids and sequences), leakage_report.json\n", out);
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "ablm %s: %s\n", cmd, tg_last_error());
    cJSON_Delete(report);
    sm_free(&map);
    rd_ids_free(&ids);
    rd_free_strings(seqs, n);
    tg_free(rep);
    tg_free(keep);
    tg_free(lens);
    tg_free(kseq);
    tg_free(kid);
    free(seqf);
    return rc;
usage_error:
    free(seqf);
    return 2;
}
