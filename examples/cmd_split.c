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
            "usage: ablm split --clusters CLU.tsv --sequences FILE --out DIR [options]\n"
            "       ablm split --leakage-free --min-seq-id T --sequences FILE --out DIR [options]\n\n"
            "Splits clustered sequences into DIR/train.txt, val.txt and test.txt (one\n"
            "sequence per line), keeping every cluster whole; DIR/train.tsv, val.tsv and\n"
            "test.tsv hold the same rows with their ids (header sequence_id,\n"
            "sequence_alignment_aa); and writes DIR/leakage_report.json.\n\n"
            "  --clusters FILE        cluster TSV: representative TAB member per line (as\n"
            "                         mmseqs createtsv / easy-cluster *_cluster.tsv write)\n"
            "  --leakage-free         instead of --clusters: split whole connected components\n"
            "                         of the graph 'identity >= T' (every pair that passes, found\n"
            "                         exhaustively), so no val/test sequence has a train\n"
            "                         sequence at >= T; then checks that exhaustively\n"
            "  --min-seq-id T         the identity T of --leakage-free\n"
            "  --cov-mode 0|1|2       coverage of both sequences (0, default) or of either\n"
            "                         one (1, 2) for --leakage-free and the leakage report\n"
            "  --sequences FILE...    the sequences the TSV names: FASTA names, table\n"
            "                         sequence_id cells, else FILE:LINE; an id found more\n"
            "                         than once becomes ID@FILE:LINE (as ablm cluster and\n"
            "                         ablm prepare name them: give the same files, and\n"
            "                         --chain light / any for _light / unsuffixed columns)\n"
            "  --out DIR              output directory (created if missing)\n"
            "  --ratios R,R,R         train,val,test shares (default 0.8,0.1,0.1)\n"
            "  --order size|shuffle   cluster order: largest first (default; ties by first\n"
            "                         appearance) or a seeded shuffle (--seed)\n"
            "  --shuffle-clusters     the same as --order shuffle\n"
            "  --fill fit|reference   fit (default): a cluster goes to the first set it fits\n"
            "                         in; reference: fill train, then val, each until it\n"
            "                         reaches its target (train_test_val_split.py), test the rest\n"
            "  --seed N               seed for the shuffle and the leakage sample (42)\n"
            "  --leak-sample N        sequences sampled per set when the exact leakage\n"
            "                         report is too large (default 200; 0 skips the report)\n"
            "  --leak-max-pairs N     exact report (every val/test sequence's nearest train\n"
            "                         sequence) while set size x train size <= N (2e8)\n"
            "  --leak-candidates N    estimate instead: nearest among the N train sequences\n"
            "                         sharing the most 3-mers, on the sample, with its recall\n"
            "                         measured against the exact search (default 0: exact)\n"
            "  --leak-worst N         closest pairs listed per set (10)\n"
            "  --leak-3mer-bound 0|1  the shared-3-mer bound before the alignment bound in\n"
            "                         the exact searches (default 1; 0 to measure it)\n"
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
    int leakfree = 0, have_id = 0;
    cl_opts co;
    cl_opts_default(&co);
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
        if (!strcmp(a, "--leakage-free")) {
            leakfree = 1;
            continue;
        }
        if (!strcmp(a, "--shuffle-clusters")) {
            so.order = SP_ORDER_SHUFFLE;
            continue;
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
        } else if (!strcmp(a, "--fill")) {
            if (!strcmp(v, "fit"))
                so.fill = SP_FILL_FIT;
            else if (!strcmp(v, "reference"))
                so.fill = SP_FILL_REFERENCE;
            else {
                fprintf(stderr, "ablm %s: --fill '%s': expected fit or reference\n", cmd, v);
                goto usage_error;
            }
        } else if (!strcmp(a, "--min-seq-id")) {
            char *end;
            co.min_seq_id = strtod(v, &end);
            if (*end || end == v || !(co.min_seq_id > 0 && co.min_seq_id <= 1)) {
                fprintf(stderr, "ablm %s: --min-seq-id '%s': expected a number in (0, 1]\n",
                        cmd, v);
                goto usage_error;
            }
            have_id = 1;
        } else if (!strcmp(a, "--cov-mode")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            if (x < 0 || x > 2) {
                fprintf(stderr, "ablm %s: --cov-mode %ld: expected 0, 1 or 2\n", cmd, x);
                goto usage_error;
            }
            lo.cov_mode = (int)x;
        } else if (!strcmp(a, "--leak-max-pairs")) {
            char *end;
            lo.max_pairs = strtod(v, &end);
            if (*end || end == v || !(lo.max_pairs >= 0)) {
                fprintf(stderr, "ablm %s: --leak-max-pairs '%s': expected a number >= 0\n",
                        cmd, v);
                goto usage_error;
            }
        } else if (!strcmp(a, "--leak-3mer-bound")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            if (x != 0 && x != 1) {
                fprintf(stderr, "ablm %s: --leak-3mer-bound %ld: expected 0 or 1\n", cmd, x);
                goto usage_error;
            }
            lo.bound3 = (int)x;
        } else if (!strcmp(a, "--leak-worst")) {
            if (df_int(cmd, a, v, &x))
                goto usage_error;
            if (x > SP_LEAK_WORST) {
                fprintf(stderr, "ablm %s: --leak-worst %ld: at most %d\n", cmd, x,
                        SP_LEAK_WORST);
                goto usage_error;
            }
            lo.worst = (int)x;
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
    if (!n_seqf || !out || (!clu) == !leakfree) {
        fprintf(stderr, "ablm %s: --sequences, --out and one of --clusters or --leakage-free "
                "are required\n", cmd);
        usage(stderr);
        goto usage_error;
    }
    if (leakfree != have_id) {
        fprintf(stderr, "ablm %s: %s\n", cmd,
                leakfree ? "--leakage-free needs --min-seq-id T"
                         : "--min-seq-id only goes with --leakage-free");
        goto usage_error;
    }
    tg_set_threads((int)threads);
    lo.progress = 1; /* data/leakage.c: a line every 30 s when stderr is no terminal */
    co.coverage = lo.coverage;
    co.cov_mode = lo.cov_mode;
    co.threads = (int)threads;
    co.progress = 1;

    char **seqs = NULL;
    size_t n = 0, renamed = 0;
    rd_stats rs;
    int rc = 1;
    uint32_t *rep = NULL, *keep = NULL;
    uint8_t *set = NULL;
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
    sp_cc_stats cc;
    if (!st && leakfree) {
        fprintf(stderr, "ablm %s: components of identity >= %g (-c %g, --cov-mode %d) over %zu "
                "sequences\n", cmd, co.min_seq_id, co.coverage, co.cov_mode, n);
        for (size_t i = 0; i < n; i++)
            lens[i] = (int)strlen(seqs[i]);
        st = sp_components((const char *const *)seqs, lens, n, &co, rep, &cc);
    } else if (!st) {
        st = sp_read_cluster_tsv(clu, &map, n, rep);
    }
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
    if (clu)
        cJSON_AddStringToObject(in, "clusters", clu);
    else
        cJSON_AddStringToObject(in, "clusters", "none: --leakage-free (components)");
    cJSON *sf = cJSON_AddArrayToObject(in, "sequences");
    for (int f = 0; f < n_seqf; f++)
        cJSON_AddItemToArray(sf, cJSON_CreateString(seqf[f]));
    cJSON_AddNumberToObject(in, "sequences_read", (double)n);
    cJSON_AddNumberToObject(in, "sequences_in_no_cluster", (double)unlisted);
    cJSON_AddNumberToObject(in, "ids_made_unique", (double)renamed);
    rd_stats_to_json(&rs, cJSON_AddObjectToObject(in, "reader"));
    df_opts_to_json(&ro, cJSON_AddObjectToObject(in, "filters"));
    if (leakfree) {
        cJSON *lf = cJSON_AddObjectToObject(report, "leakage_free");
        cJSON_AddNumberToObject(lf, "min_seq_id", co.min_seq_id);
        cJSON_AddNumberToObject(lf, "coverage", co.coverage);
        cJSON_AddNumberToObject(lf, "cov_mode", co.cov_mode);
        cJSON_AddNumberToObject(lf, "sequences", (double)cc.n);
        cJSON_AddNumberToObject(lf, "unique_sequences", (double)cc.n_unique);
        cJSON_AddNumberToObject(lf, "components", (double)cc.n_components);
        cJSON_AddNumberToObject(lf, "unique_pairs", cc.pairs);
        cJSON_AddNumberToObject(lf, "pairs_already_connected", (double)cc.connected);
        cJSON_AddNumberToObject(lf, "pairs_bounded", (double)cc.bounded);
        cJSON_AddNumberToObject(lf, "pairs_aligned", (double)cc.alignments);
        cJSON_AddNumberToObject(lf, "edges_used", (double)cc.edges);
        cJSON_AddNumberToObject(lf, "seconds", cc.seconds);
        fprintf(stderr, "ablm %s: %zu components (%zu unique sequences; %.0f pairs: %zu aligned, "
                "%zu excluded by the bounds, %zu already connected) in %.1f s\n", cmd,
                cc.n_components, cc.n_unique, cc.pairs, cc.alignments, cc.bounded, cc.connected,
                cc.seconds);
    }
    set = tg_malloc(m + 1, "sets");
    if (!set) {
        st = TG_ERR_NOMEM;
        goto fail;
    }
    if ((st = sp_run(out, kid, kseq, lens, rep, m, &so, &lo, report, set)))
        goto fail;
    if (leakfree) {
        /* the guarantee, checked exhaustively: no val/test sequence passes
         * at T against a train sequence */
        sp_leak_chk chk;
        memset(&chk, 0, sizeof chk);
        /* the exact leakage report (every val and test sequence's nearest
         * train sequence, the same relation and bounds) settles it when its
         * maximum stays below T; otherwise the dedicated check runs */
        const cJSON *lk = cJSON_GetObjectItem(report, "leakage");
        int settled = lk != NULL;
        for (int k = 0; k < 2 && settled; k++) {
            const cJSON *l = cJSON_GetObjectItem(lk, k ? "test" : "val");
            const cJSON *mode = cJSON_GetObjectItem(l, "mode");
            settled = cJSON_IsString(mode) && !strcmp(mode->valuestring, "exact") &&
                      cJSON_GetNumberValue(cJSON_GetObjectItem(l, "max_identity")) + 1e-9 <
                          co.min_seq_id;
            if (settled) {
                chk.queried += (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(l, "sequences"));
                chk.alignments +=
                    (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(l, "alignments"));
                chk.bounded +=
                    (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(l, "pairs_bounded"));
                chk.bounded3 += (size_t)cJSON_GetNumberValue(
                    cJSON_GetObjectItem(l, "pairs_bounded_by_3mers"));
                chk.seconds += cJSON_GetNumberValue(cJSON_GetObjectItem(l, "seconds"));
            }
        }
        if (!settled) {
            memset(&chk, 0, sizeof chk);
            if ((st = sp_leak_check(kseq, lens, set, m, co.min_seq_id, &lo, &chk)))
                goto fail;
        }
        cJSON *lf = cJSON_GetObjectItem(report, "leakage_free");
        cJSON *cj = cJSON_AddObjectToObject(lf, "check");
        cJSON_AddStringToObject(cj, "method", settled ? "the exact leakage report (nearest train "
                                "sequence of every val and test sequence)" : "sp_leak_check");
        sp_leak_chk_to_json(&chk, co.min_seq_id, kid, cj);
        const cJSON *sp = cJSON_GetObjectItem(report, "split");
        double big = cJSON_GetNumberValue(cJSON_GetObjectItem(sp, "largest_cluster"));
        cJSON_AddNumberToObject(lf, "largest_component", big);
        cJSON_AddNumberToObject(lf, "largest_component_fraction", m ? big / (double)m : 0);
        printf("leakage-free at identity %g: %zu components, the largest %.0f sequences (%.1f%% "
               "of %zu)\n", co.min_seq_id, cc.n_components, big,
               m ? 100.0 * big / (double)m : 0.0, m);
        printf("check: %zu val/test sequences against every train sequence%s: %zu with a "
               "train sequence at identity >= %g (%zu alignments, %zu pairs excluded by the "
               "bounds, %.1f s)\n", chk.queried, settled ? " (the exact leakage report)" : "",
               chk.violations, co.min_seq_id, chk.alignments, chk.bounded, chk.seconds);
        if (chk.violations) {
            char *path = fio_join(out, "leakage_report.json");
            if (path)
                fio_write_json(path, report);
            tg_free(path);
            st = tg_error(TG_ERR_ARG, "the leakage-free split leaks: %zu val/test sequences "
                          "have a train sequence at >= %g (first: '%s' vs '%s' at %.3f); this "
                          "is a bug", chk.violations, co.min_seq_id, kid[chk.first[0].query],
                          kid[chk.first[0].train], chk.first[0].identity);
            goto fail;
        }
    }
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
    tg_free(set);
    tg_free(lens);
    tg_free(kseq);
    tg_free(kid);
    free(seqf);
    return rc;
usage_error:
    free(seqf);
    return 2;
}
