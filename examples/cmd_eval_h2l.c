/* ablm eval-h2l: the heavy-to-light evaluation (BLOSUM62 global score,
 * identity, kappa/lambda agreement, per region) of generated light chains
 * beside the baselines computed from the training pairs, per pair (TSV)
 * and summarised (JSON). */
#include "commands.h"
#include "fileio.h"
#include "infer.h"
#include "pair_eval.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "eval-h2l"
#define USAGE                                                                                   \
    "--test_file PAIRS --output DIR [--predictions FILE] [--train_file PAIRS] [options]"

static const char ABOUT[] =
    "Scores generated light chains against the true ones of the test pairs as the\n"
    "reference evaluation does (Biopython pairwise2.align.globalds(true, generated,\n"
    "BLOSUM62, -10, -4), the first alignment; identity = identical aligned residues /\n"
    "max(lengths) x 100, both chains reduced to the 20 amino acids first), per region\n"
    "(fwr1..fwr4, cdr1..cdr3: the true regions projected through the alignment) where\n"
    "the test pairs have region columns, and the kappa/lambda agreement where the true\n"
    "locus is known (the locus of a predicted chain: a 4-mer naive Bayes trained on the\n"
    "training light chains). The baselines (with --train_file) go in the same table:\n"
    "  most_common             the most frequent training light chain, for every pair\n"
    "  medoid                  the training light chain with the highest summed score\n"
    "                          to a seeded sample of --medoid_sample training chains\n"
    "  most_common_true_locus  the most frequent training chain of the pair's true\n"
    "                          locus (uses the answer's locus: an upper reference)\n"
    "  most_common_pred_locus  the same for the locus the rule gives the predictions\n"
    "  nearest_heavy           the light chain of the training pair whose heavy chain\n"
    "                          is nearest (k-mer candidates, best global score)\n"
    "PAIRS: OAS paired units, TSV/CSV with heavy and light columns (ablm prepare\n"
    "--pairs output), or lines HEAVY[SEP]LIGHT. --predictions: ablm generate output\n"
    "(FASTA >ID or >ID_N, or its TSV: id, sequence) or any TSV/CSV with id and light\n"
    "columns, matched to the test pairs by id (first prediction per pair).\n"
    "Writes DIR/per_pair.tsv and DIR/summary.json (atomically); prints the table.";

typedef struct {
    pe_system s;
    const char **chain; /* owned array of borrowed strings */
} sys_slot;

/* Writes DIR/per_pair.tsv: the pair, then per system score, identity,
 * locus, the regions' identities and (predictions) the chain. */
static int write_per_pair(const char *dir, const pr_set *test, sys_slot *sy, int ns,
                          int pred_slot)
{
    char *path = fio_join(dir, "per_pair.tsv");
    if (!path)
        return TG_ERR_NOMEM;
    fio_out f;
    int st = fio_begin(&f, path);
    tg_free(path);
    if (st)
        return st;
    fprintf(f.f, "id\tlocus\tlight");
    for (int k = 0; k < ns; k++) {
        const char *n = sy[k].s.name;
        if (k == pred_slot)
            fprintf(f.f, "\t%s_light", n);
        fprintf(f.f, "\t%s_score\t%s_identity\t%s_locus", n, n, n);
        for (int r = 0; r < PR_N_REGIONS; r++)
            fprintf(f.f, "\t%s_%s_identity", n, pr_region_names[r]);
    }
    fputc('\n', f.f);
    for (size_t i = 0; i < test->n; i++) {
        const pr_pair *p = &test->v[i];
        fprintf(f.f, "%s\t%s\t%s", p->id, p->locus, p->light);
        for (int k = 0; k < ns; k++) {
            const pe_system *s = &sy[k].s;
            if (k == pred_slot)
                fprintf(f.f, "\t%s", s->chain[i] ? s->chain[i] : "");
            if (!s->chain[i]) {
                fprintf(f.f, "\t\t\t");
                for (int r = 0; r < PR_N_REGIONS; r++)
                    fputc('\t', f.f);
                continue;
            }
            fprintf(f.f, "\t%d\t%.4f\t%s", s->score[i], s->identity[i], s->locus[i]);
            for (int r = 0; r < PR_N_REGIONS; r++) {
                double v = s->region_identity[i * PR_N_REGIONS + r];
                if (v >= 0)
                    fprintf(f.f, "\t%.4f", v);
                else
                    fputc('\t', f.f);
            }
        }
        fputc('\n', f.f);
    }
    if (ferror(f.f)) {
        fio_abort(&f);
        return tg_error(TG_ERR_IO, "%s/per_pair.tsv: write failed", dir);
    }
    return fio_commit(&f);
}

static void print_table(const sys_slot *sy, int ns, int regions)
{
    printf("%-24s %6s %9s %9s %9s %8s\n", "system", "pairs", "BLOSUM62", "identity", "median",
           "locus");
    for (int k = 0; k < ns; k++) {
        const pe_system *s = &sy[k].s;
        char loc[16] = "-";
        if (s->locus_pairs)
            snprintf(loc, sizeof loc, "%.1f%%", 100.0 * (double)s->locus_agree /
                                                    (double)s->locus_pairs);
        printf("%-24s %6zu %9.1f %8.2f%% %8.2f%% %8s\n", s->name, s->n, s->mean_score,
               s->mean_identity, s->median_identity, loc);
    }
    if (!regions)
        return;
    printf("\nidentity per region (%%)\n%-24s", "system");
    for (int r = 0; r < PR_N_REGIONS; r++)
        printf(" %6s", pr_region_names[r]);
    printf("\n");
    for (int k = 0; k < ns; k++) {
        printf("%-24s", sy[k].s.name);
        for (int r = 0; r < PR_N_REGIONS; r++)
            printf(" %6.1f", sy[k].s.region_mean_identity[r]);
        printf("\n");
    }
}

int cmd_eval_h2l(int argc, char **argv)
{
    const char *test_file = NULL, *train_file = NULL, *pred_file = NULL, *output = NULL;
    int medoid_sample = 500, seed = 42, cand = 16, max_postings = 2000, max_pairs = 0,
        threads = 0;
    const inf_opt opts[] = {
        {"--test_file", INF_STR, &test_file, 0, "PAIRS", "the held-out pairs (true light chains)"},
        {"--output", INF_STR, &output, 0, "DIR", "per_pair.tsv and summary.json go here"},
        {"--predictions", INF_STR, &pred_file, 0, "FILE", "generated light chains with ids (FASTA or TSV)"},
        {"--train_file", INF_STR, &train_file, 0, "PAIRS", "training pairs: the baselines and the locus rule"},
        {"--medoid_sample", INF_INT, &medoid_sample, 1, "N", "training chains sampled for the medoid (default 500)"},
        {"--nearest_candidates", INF_INT, &cand, 1, "N", "nearest heavy: k-mer candidates aligned (default 16)"},
        {"--max_postings", INF_INT, &max_postings, 0, "N", "nearest heavy: skip 5-mers in more training chains (default 2000)"},
        {"--seed", INF_INT, &seed, 0, "S", "seed of the medoid sample (default 42)"},
        {"--max_pairs", INF_INT, &max_pairs, 0, "N", "evaluate the first N test pairs only (0: all)"},
        {"--threads", INF_INT, &threads, 0, "N", "threads (0: all cores)"},
    };
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    int rc = inf_parse(CMD, USAGE, opts, nopts, argc, argv);
    if (rc != INF_GO) {
        if (rc == 0)
            printf("\n%s\n", ABOUT);
        return rc;
    }
    if (!test_file || !output) {
        fprintf(stderr, "ablm %s: --test_file and --output are required (see ablm %s --help)\n",
                CMD, CMD);
        return 2;
    }
    if (!pred_file && !train_file) {
        fprintf(stderr, "ablm %s: nothing to evaluate: give --predictions and/or --train_file "
                "(the baselines)\n", CMD);
        return 2;
    }
    tg_set_threads(threads);
    double t0 = inf_now();
    pr_set test = {0}, train = {0};
    pe_locus_model lm = {0};
    pe_baselines bl = {0};
    pe_predictions pred = {0};
    size_t *nearest = NULL;
    sys_slot sy[8];
    int ns = 0, pred_slot = -1, st;
    memset(sy, 0, sizeof sy);
    cJSON *sum = cJSON_CreateObject();
    st = pr_read(test_file, NULL, &test);
    if (!st && max_pairs > 0 && test.n > (size_t)max_pairs)
        test.n = (size_t)max_pairs;
    if (!st && !test.n)
        st = tg_error(TG_ERR_FORMAT, "%s: no test pairs", test_file);
    if (!st && train_file) {
        st = pr_read(train_file, NULL, &train);
        if (!st && !train.n)
            st = tg_error(TG_ERR_FORMAT, "%s: no training pairs", train_file);
    }
    if (!st)
        st = fio_mkdir(output);
    if (!st && train_file) {
        fprintf(stderr, "ablm %s: %zu test pairs, %zu training pairs: baselines...\n", CMD,
                test.n, train.n);
        st = pe_locus_train(&lm, &train);
        if (!st)
            st = pe_baselines_build(&bl, &train, (size_t)medoid_sample, (uint64_t)seed, threads);
        if (!st && !(nearest = tg_malloc(test.n * sizeof *nearest, "nearest")))
            st = TG_ERR_NOMEM;
        if (!st)
            st = pe_nearest_heavy(&train, &test, cand, max_postings, threads, nearest);
    }
    if (!st && pred_file) {
        st = pe_read_predictions(pred_file, &test, &pred);
        if (!st && !pred.matched)
            st = tg_error(TG_ERR_FORMAT, "%s: no prediction matches a test pair id (first id: "
                          "%s)", pred_file, pred.first_unmatched);
    }
    /* the systems: predictions first, then the baselines */
    for (int k = 0; k < 8 && !st; k++)
        if (!(sy[k].chain = tg_calloc(test.n, sizeof *sy[k].chain, "systems")))
            st = TG_ERR_NOMEM;
    if (!st && pred_file) {
        pred_slot = ns;
        sy[ns].s.name = "predictions";
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = pred.chain[i];
        ns++;
    }
    if (!st && train_file) {
        if (pred_file) {
            sy[ns].s.name = "most_common_pred_locus";
            for (size_t i = 0; i < test.n; i++) {
                const char *g = pred.chain[i];
                const char *l = g ? pe_locus_predict(&lm, g, (int)strlen(g)) : "";
                const char *c = !strcmp(l, "IGK") ? bl.most_common_k
                                : !strcmp(l, "IGL") ? bl.most_common_l : NULL;
                sy[ns].chain[i] = g ? (c ? c : bl.most_common) : NULL;
            }
            ns++;
        }
        sy[ns].s.name = "most_common";
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = bl.most_common;
        ns++;
        sy[ns].s.name = "medoid";
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = bl.medoid;
        ns++;
        sy[ns].s.name = "most_common_true_locus";
        for (size_t i = 0; i < test.n; i++) {
            const char *l = test.v[i].locus;
            const char *c = !strcmp(l, "IGK") ? bl.most_common_k
                            : !strcmp(l, "IGL") ? bl.most_common_l : NULL;
            sy[ns].chain[i] = c ? c : bl.most_common;
        }
        ns++;
        sy[ns].s.name = "nearest_heavy";
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = train.v[nearest[i]].light;
        ns++;
    }
    for (int k = 0; k < ns && !st; k++) {
        sy[k].s.chain = sy[k].chain;
        fprintf(stderr, "ablm %s: scoring %s...\n", CMD, sy[k].s.name);
        st = pe_eval_system(&sy[k].s, &test, train_file ? &lm : NULL, threads);
    }
    int regions = 0;
    for (size_t i = 0; i < test.n && !regions; i++) {
        char *reg[PR_N_REGIONS];
        char *buf = tg_malloc(((size_t)test.v[i].light_len + 1) * PR_N_REGIONS, "regions");
        if (!buf) {
            st = TG_ERR_NOMEM;
            break;
        }
        for (int r = 0; r < PR_N_REGIONS; r++)
            reg[r] = buf + ((size_t)test.v[i].light_len + 1) * (size_t)r;
        regions = pe_true_regions(&test.v[i], reg);
        tg_free(buf);
    }
    if (!st)
        st = write_per_pair(output, &test, sy, ns, pred_slot);
    if (!st) {
        cJSON_AddStringToObject(sum, "test_file", test_file);
        cJSON_AddNumberToObject(sum, "test_pairs", (double)test.n);
        pr_stats_to_json(&test, cJSON_AddObjectToObject(sum, "test_input"));
        if (train_file) {
            cJSON_AddStringToObject(sum, "train_file", train_file);
            cJSON_AddNumberToObject(sum, "train_pairs", (double)train.n);
        }
        cJSON *al = cJSON_AddObjectToObject(sum, "alignment");
        cJSON_AddStringToObject(al, "method", "Biopython pairwise2.align.globalds(true, "
                                "generated, BLOSUM62, -10, -4), first alignment; chains "
                                "reduced to the 20 amino acids");
        cJSON_AddStringToObject(al, "identity", "identical aligned residues / max(len true, "
                                "len generated) * 100");
        if (pred_file) {
            cJSON *pj = cJSON_AddObjectToObject(sum, "predictions");
            cJSON_AddStringToObject(pj, "file", pred_file);
            cJSON_AddNumberToObject(pj, "read", (double)pred.read);
            cJSON_AddNumberToObject(pj, "matched_pairs", (double)pred.matched);
            cJSON_AddNumberToObject(pj, "pairs_without_prediction",
                                    (double)(test.n - pred.matched));
            cJSON_AddNumberToObject(pj, "extra_for_a_pair", (double)pred.extra);
            cJSON_AddNumberToObject(pj, "unmatched_ids", (double)pred.unmatched);
        }
        if (train_file) {
            cJSON *lr = cJSON_AddObjectToObject(sum, "locus_rule");
            cJSON_AddStringToObject(lr, "rule", "presence-only naive Bayes over distinct "
                                    "4-mers, trained on the training light chains of known "
                                    "locus");
            cJSON_AddNumberToObject(lr, "training_igk", (double)lm.nk);
            cJSON_AddNumberToObject(lr, "training_igl", (double)lm.nl);
            size_t known = 0, right = 0;
            for (size_t i = 0; i < test.n; i++)
                if (test.v[i].locus[0]) {
                    known++;
                    right += !strcmp(pe_locus_predict(&lm, test.v[i].light, test.v[i].light_len),
                                     test.v[i].locus);
                }
            cJSON_AddNumberToObject(lr, "true_test_chains_with_locus", (double)known);
            cJSON_AddNumberToObject(lr, "true_test_chains_classified_right", (double)right);
            cJSON *bj = cJSON_AddObjectToObject(sum, "baselines");
            cJSON_AddStringToObject(bj, "most_common", bl.most_common);
            cJSON_AddNumberToObject(bj, "most_common_count", (double)bl.most_common_count);
            if (bl.most_common_k)
                cJSON_AddStringToObject(bj, "most_common_igk", bl.most_common_k);
            if (bl.most_common_l)
                cJSON_AddStringToObject(bj, "most_common_igl", bl.most_common_l);
            cJSON_AddStringToObject(bj, "medoid", bl.medoid);
            cJSON_AddNumberToObject(bj, "medoid_sample", (double)bl.medoid_sample);
            cJSON_AddNumberToObject(bj, "medoid_seed", seed);
            cJSON_AddNumberToObject(bj, "nearest_candidates", cand);
            cJSON_AddNumberToObject(bj, "nearest_max_postings", max_postings);
        }
        cJSON *sj = cJSON_AddObjectToObject(sum, "systems");
        for (int k = 0; k < ns; k++)
            pe_system_to_json(&sy[k].s, cJSON_AddObjectToObject(sj, sy[k].s.name));
        cJSON_AddNumberToObject(sum, "seconds", inf_now() - t0);
        char *path = fio_join(output, "summary.json");
        st = path ? fio_write_json(path, sum) : TG_ERR_NOMEM;
        tg_free(path);
    }
    if (!st) {
        if (pred_file && pred.matched < test.n)
            printf("WARNING: %zu of %zu test pairs have no prediction (left out of "
                   "'predictions')\n", test.n - pred.matched, test.n);
        if (pred_file && pred.unmatched)
            printf("WARNING: %zu predictions match no test pair id (first: %s)\n",
                   pred.unmatched, pred.first_unmatched);
        print_table(sy, ns, regions);
        printf("wrote %s/per_pair.tsv, %s/summary.json (%.1f s)\n", output, output,
               inf_now() - t0);
    } else {
        fprintf(stderr, "ablm %s: %s\n", CMD, tg_last_error());
    }
    for (int k = 0; k < 8; k++) {
        pe_system_free(&sy[k].s);
        tg_free(sy[k].chain);
    }
    cJSON_Delete(sum);
    tg_free(nearest);
    pe_predictions_free(&pred, test.n);
    pe_baselines_free(&bl);
    pe_locus_free(&lm);
    pr_free(&test);
    pr_free(&train);
    return st ? 1 : 0;
}
