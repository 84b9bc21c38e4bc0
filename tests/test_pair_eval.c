/* Heavy-to-light evaluation: the alignment, score and identity equal
 * Biopython's pairwise2.align.globalds (golden fixture from
 * tests/reference/biopython_align.py, and live when /usr/bin/python3 has
 * Bio), regions, the locus rule, the baselines. */
#include "commands.h"
#include "encdec.h"
#include "gen_encdec.h"
#include "pair_eval.h"
#include "tg.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *fixture(const char *name)
{
    static char p[4][1024];
    static int k;
    char *s = p[k++ % 4];
    const char *src = tu_source_dir();
    snprintf(s, 1024, "%s/tests/fixtures/pair_eval/%s", src ? src : ".", name);
    return s;
}

/* Splits line at tabs into f[0..max); returns the count. */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

/* Compares pe_align with a file written by biopython_align.py; returns
 * the number of lines checked. */
static int check_against(const char *golden)
{
    char *text = tu_read_file(golden);
    pe_ws ws = {0}, ws2 = {0};
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[8];
        char *copy = strdup(line);
        int nf = split_tabs(copy, f, 8);
        ck_assert_int_eq(nf, 7);
        pe_result r, s;
        ck_assert_int_eq(pe_align(&ws, f[0], (int)strlen(f[0]), f[1], (int)strlen(f[1]), &r),
                         TG_OK);
        ck_assert_int_eq(pe_score(&ws2, f[0], (int)strlen(f[0]), f[1], (int)strlen(f[1]), &s),
                         TG_OK);
        ck_assert_int_eq(r.score, s.score);
        if (!strcmp(f[2], "none")) { /* empty after cleaning: the all-gap convention */
            int L = r.len_true + r.len_gen;
            ck_assert_int_eq(r.len_true == 0 || r.len_gen == 0, 1);
            ck_assert_int_eq(r.score, L ? -10 - 4 * (L - 1) : 0);
            ck_assert(r.identity == 0.0);
        } else {
            ck_assert_msg(r.score == atof(f[2]), "line %d: score %d, Biopython %s (%s vs %s)",
                          lines + 1, r.score, f[2], f[0], f[1]);
            ck_assert_msg(fabs(r.identity - atof(f[3])) < 1e-9,
                          "line %d: identity %.12g, Biopython %s", lines + 1, r.identity, f[3]);
            ck_assert_msg(!strcmp(r.aln_true, f[4]) && !strcmp(r.aln_gen, f[5]),
                          "line %d: alignment\n%s\n%s\nBiopython's first\n%s\n%s", lines + 1,
                          r.aln_true, r.aln_gen, f[4], f[5]);
        }
        free(copy);
        lines++;
    }
    pe_ws_free(&ws);
    pe_ws_free(&ws2);
    free(text);
    return lines;
}

START_TEST(golden_biopython)
{
    int n = check_against(fixture("golden.tsv"));
    printf("golden_biopython: %d pairs equal to Biopython 1.80 (score, identity, alignment)\n",
           n);
    ck_assert_int_ge(n, 100);
}
END_TEST

/* Random pairs (real chains mutated, with insertions and deletions, and
 * random strings) checked against Biopython run now. */
START_TEST(live_biopython)
{
    if (system("/usr/bin/python3 -c 'import Bio.pairwise2' >/dev/null 2>&1") != 0) {
        tu_skip("live_biopython", "/usr/bin/python3 has no Biopython");
        return;
    }
    const char *src = tu_source_dir();
    ck_assert_ptr_nonnull(src);
    char *dir = tu_tmpdir();
    char in[1024], out[1024], cmd[4096];
    snprintf(in, sizeof in, "%s/in.tsv", dir);
    snprintf(out, sizeof out, "%s/out.tsv", dir);
    char *text = tu_read_file(fixture("pairs.tsv"));
    char *chains[300];
    int nc = 0;
    for (char *line = strtok(text, "\n"); line && nc < 300; line = strtok(NULL, "\n")) {
        char *f[3];
        if (split_tabs(line, f, 3) == 2 && strlen(f[0]) > 20)
            chains[nc++] = f[0];
    }
    ck_assert_int_ge(nc, 20);
    FILE *fp = fopen(in, "w");
    ck_assert_ptr_nonnull(fp);
    tg_rng r;
    tg_rng_seed(&r, 9);
    const char *aa = "ACDEFGHIKLMNPQRSTVWY";
    for (int t = 0; t < 200; t++) {
        const char *a = chains[tg_rng_next(&r) % (uint64_t)nc];
        char b[600];
        int bn = 0;
        if (t % 10 == 9) { /* unrelated random string */
            int L = 1 + (int)(tg_rng_next(&r) % 60);
            for (int i = 0; i < L; i++)
                b[bn++] = aa[tg_rng_next(&r) % 20];
        } else {
            for (const char *p = a; *p && bn < 590; p++) {
                uint64_t u = tg_rng_next(&r) % 100;
                if (u < 8)
                    b[bn++] = aa[tg_rng_next(&r) % 20]; /* substitution */
                else if (u < 11)
                    continue;                            /* deletion */
                else if (u < 14) {                       /* insertion */
                    b[bn++] = *p;
                    b[bn++] = aa[tg_rng_next(&r) % 20];
                } else
                    b[bn++] = *p;
            }
        }
        b[bn] = '\0';
        fprintf(fp, "%s\t%s\n", a, b);
    }
    fclose(fp);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/reference/biopython_align.py %s %s",
             src, in, out);
    ck_assert_int_eq(system(cmd), 0);
    int n = check_against(out);
    printf("live_biopython: %d random pairs equal to Biopython\n", n);
    ck_assert_int_eq(n, 200);
    free(text);
    free(dir);
}
END_TEST

START_TEST(identity_definition)
{
    pe_ws ws = {0};
    pe_result r;
    /* one substitution in 10: 9 identical columns / max(10, 10) */
    ck_assert_int_eq(pe_align(&ws, "DIQMTQSPSS", 10, "DIQMTQSPAS", 10, &r), TG_OK);
    ck_assert_int_eq(r.matches, 9);
    ck_assert(fabs(r.identity - 90.0) < 1e-12);
    /* a deletion: denominator is the longer chain, not the alignment length */
    ck_assert_int_eq(pe_align(&ws, "DIQMTQSPSSLSAS", 14, "DIQMTQLSAS", 10, &r), TG_OK);
    ck_assert_int_eq(r.len_true, 14);
    ck_assert_int_eq(r.aln_len, 14);
    ck_assert_int_eq(r.matches, 10);
    ck_assert(fabs(r.identity - 100.0 * 10 / 14) < 1e-12);
    /* gap cost: open + (L - 1) * extend, end gaps penalised */
    ck_assert_int_eq(pe_align(&ws, "WWWW", 4, "WW", 2, &r), TG_OK);
    ck_assert_int_eq(r.score, 2 * 11 - 10 - 4);
    /* cleaning: case and non-standard bytes do not count */
    ck_assert_int_eq(pe_align(&ws, "diqX*", 5, "DIQ", 3, &r), TG_OK);
    ck_assert_int_eq(r.len_true, 3);
    ck_assert(r.identity == 100.0);
    /* too long */
    char *big = malloc(PE_MAX_LEN + 2);
    memset(big, 'A', PE_MAX_LEN + 1);
    big[PE_MAX_LEN + 1] = '\0';
    ck_assert_int_eq(pe_align(&ws, big, PE_MAX_LEN + 1, "A", 1, &r), TG_ERR_ARG);
    free(big);
    pe_ws_free(&ws);
}
END_TEST

START_TEST(regions_projection)
{
    pr_pair p = {.id = "x", .heavy = "EVQ", .light = "DIQMTQSPSSRASQSYAASTLQSGVPQQSYSTFGQGTK",
                 .locus = "IGK"};
    p.light_len = (int)strlen(p.light);
    p.heavy_len = 3;
    const char *reg[7] = {"DIQMTQSPSS", "RASQS", "Y", "AAS", "TLQSGVP", "QQSYST", "FGQGTK"};
    for (int k = 0; k < 7; k++)
        p.region[k] = reg[k];
    pe_ws ws = {0}, ws2 = {0};
    pe_result full;
    /* the generated chain differs only in CDR3 (QQSYST -> QQYNSYST: an insertion) */
    const char *gen = "DIQMTQSPSSRASQSYAASTLQSGVPQQYNSYSTFGQGTK";
    ck_assert_int_eq(pe_align(&ws, p.light, p.light_len, gen, (int)strlen(gen), &full), TG_OK);
    pe_regions rg;
    ck_assert_int_eq(pe_align_regions(&ws2, &p, &full, &rg), TG_OK);
    ck_assert_int_eq(rg.ok, 1);
    for (int k = 0; k < 7; k++) {
        if (k == 5)
            continue;
        ck_assert_msg(rg.r[k].identity == 100.0, "region %d: %g", k, rg.r[k].identity);
        ck_assert_int_eq(rg.r[k].len_gen, (int)strlen(reg[k]));
    }
    ck_assert_int_eq(rg.r[5].len_gen, 8);
    ck_assert_int_eq(rg.gen_end[5] - rg.gen_start[5], 8);
    ck_assert(fabs(rg.r[5].identity - 100.0 * 6 / 8) < 1e-12);
    /* without an fwr4 column: the rest of the chain */
    p.region[6] = NULL;
    ck_assert_int_eq(pe_align(&ws, p.light, p.light_len, gen, (int)strlen(gen), &full), TG_OK);
    ck_assert_int_eq(pe_align_regions(&ws2, &p, &full, &rg), TG_OK);
    ck_assert_int_eq(rg.ok, 1);
    ck_assert(rg.r[6].identity == 100.0);
    /* regions that do not spell the chain: not used */
    p.region[6] = "FGGGTK";
    ck_assert_int_eq(pe_align_regions(&ws2, &p, &full, &rg), TG_OK);
    ck_assert_int_eq(rg.ok, 0);
    p.region[0] = NULL;
    ck_assert_int_eq(pe_align_regions(&ws2, &p, &full, &rg), TG_OK);
    ck_assert_int_eq(rg.ok, 0);
    pe_ws_free(&ws);
    pe_ws_free(&ws2);
}
END_TEST

static pr_set real_pairs(void)
{
    pr_set s = {0};
    const char *oas = tu_oas_dir();
    if (!oas)
        return s;
    char path[1024];
    snprintf(path, sizeof path, "%s/1279052_1_Paired_All.csv.gz", oas);
    ck_assert_msg(pr_read(path, NULL, &s) == TG_OK, "%s", tg_last_error());
    return s;
}

START_TEST(locus_rule_on_real_chains)
{
    pr_set s = real_pairs();
    if (!s.n) {
        tu_skip("locus_rule_on_real_chains", "../shared/data/oas-paired not found");
        return;
    }
    /* train on the first 800 pairs, test on the rest */
    pr_set train = {0}, test = {0};
    for (size_t i = 0; i < s.n; i++)
        ck_assert_int_eq(pr_add(i < 800 ? &train : &test, &s.v[i]), TG_OK);
    pe_locus_model m;
    ck_assert_int_eq(pe_locus_train(&m, &train), TG_OK);
    ck_assert_uint_eq(m.nk + m.nl, 800);
    size_t right = 0;
    for (size_t i = 0; i < test.n; i++)
        right += !strcmp(pe_locus_predict(&m, test.v[i].light, test.v[i].light_len),
                         test.v[i].locus);
    printf("locus_rule_on_real_chains: %zu of %zu held-out light chains\n", right, test.n);
    ck_assert_uint_ge(right * 100, test.n * 98);
    ck_assert_str_eq(pe_locus_predict(&m, "DIQ", 3), "");
    pe_locus_free(&m);
    pr_free(&train);
    pr_free(&test);
    pr_free(&s);
}
END_TEST

START_TEST(baselines)
{
    pr_set t = {0};
    const char *L[] = {"DIQMTQSPSSLSASVGDRVTITC", "DIQMTQSPSSLSASVGDRVTITC",
                       "QSALTQPASVSGSPGQSITISC",  "QSALTQPASVSGSPGQSITISC",
                       "QSALTQPASVSGSPGQSITISC",  "DIQMTQSPSSLSASVGDRVTIAC",
                       "WWWWWWWWWW"};
    const char *loc[] = {"IGK", "IGK", "IGL", "IGL", "IGL", "IGK", "IGK"};
    const char *H[] = {"EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMS", "QVQLVQSGAEVKKPGASVKVSCKASGYTFT",
                       "EVQLLESGGGLVQPGGSLRLSCAASGFTFSSYAMH", "QVQLQESGPGLVKPSETLSLTCTVSGGSIS",
                       "EVQLVESGGGVVQPGRSLRLSCAASGFTFSDYYMS", "QVTLKESGPALVKPTQTLTLTCTFSGFSLS",
                       "EVKLEESGGGLVQPGGSMKLSCVASGFTFSNYWMN"};
    for (int i = 0; i < 7; i++) {
        pr_pair p = {.id = "p", .heavy = H[i], .light = L[i], .locus = loc[i], .file = "f"};
        p.heavy_len = (int)strlen(H[i]);
        p.light_len = (int)strlen(L[i]);
        ck_assert_int_eq(pr_add(&t, &p), TG_OK);
    }
    pe_baselines b;
    ck_assert_int_eq(pe_baselines_build(&b, &t, 100, 1, 1), TG_OK);
    ck_assert_str_eq(b.most_common, L[2]);
    ck_assert_uint_eq(b.most_common_count, 3);
    ck_assert_str_eq(b.most_common_k, L[0]);
    ck_assert_str_eq(b.most_common_l, L[2]);
    ck_assert_uint_eq(b.medoid_sample, 7);
    /* the medoid maximises the summed score to the others: check by brute force */
    pe_ws ws = {0};
    double best = -1e300;
    const char *want = NULL;
    for (int i = 0; i < 7; i++) {
        double sum = 0;
        for (int j = 0; j < 7; j++) {
            pe_result r;
            if (i == j)
                continue;
            ck_assert_int_eq(pe_score(&ws, L[i], (int)strlen(L[i]), L[j], (int)strlen(L[j]), &r),
                             TG_OK);
            sum += r.score;
        }
        if (sum > best) { /* ties: equal sums here come from equal chains */
            best = sum;
            want = L[i];
        }
    }
    ck_assert_str_eq(b.medoid, want);
    pe_baselines_free(&b);
    /* nearest heavy chain: a mutated copy of training chain i finds i */
    pr_set q = {0};
    for (int i = 0; i < 7; i++) {
        char h[64];
        snprintf(h, sizeof h, "%s", H[i]);
        h[3] = 'W';
        h[10] = 'W';
        pr_pair p = {.id = "q", .heavy = h, .light = "DIQ", .locus = "", .file = "f"};
        p.heavy_len = (int)strlen(h);
        p.light_len = 3;
        ck_assert_int_eq(pr_add(&q, &p), TG_OK);
    }
    size_t nearest[7];
    ck_assert_int_eq(pe_nearest_heavy(&t, &q, 3, 1000, 1, nearest), TG_OK);
    for (int i = 0; i < 7; i++)
        ck_assert_uint_eq(nearest[i], (size_t)i);
    /* only common k-mers (max_postings 0): the full pass still finds them */
    ck_assert_int_eq(pe_nearest_heavy(&t, &q, 1, 0, 2, nearest), TG_OK);
    for (int i = 0; i < 7; i++)
        ck_assert_uint_eq(nearest[i], (size_t)i);
    pe_ws_free(&ws);
    pr_free(&q);
    pr_free(&t);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* ablm eval-h2l on small pair files: predictions equal to the true chains
 * score 100%, the baselines are in the same table, bad input is refused
 * naming file and line. */
START_TEST(cmd_eval_h2l_files)
{
    char *dir = tu_tmpdir();
    char train[1024], test[1024], pred[1024], out[1024], sumf[1024], bad[1024];
    snprintf(train, sizeof train, "%s/train.tsv", dir);
    snprintf(test, sizeof test, "%s/test.tsv", dir);
    snprintf(pred, sizeof pred, "%s/pred.fa", dir);
    snprintf(out, sizeof out, "%s/res", dir); /* DIR/out and DIR/err: the command's stdout, stderr */
    snprintf(sumf, sizeof sumf, "%s/res/summary.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.tsv", dir);
    write_file(train, "id\theavy\tlight\tlocus\n"
                      "t1\tEVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMS\tDIQMTQSPSSLSASVGDRVTITC\tK\n"
                      "t2\tQVQLVQSGAEVKKPGASVKVSCKASGYTFTSYGIS\tDIQMTQSPSSLSASVGDRVTITC\tK\n"
                      "t3\tQVQLQESGPGLVKPSETLSLTCTVSGGSISSYYWS\tQSALTQPASVSGSPGQSITISC\tL\n"
                      "t4\tEVQLLESGGGLVQPGGSLRLSCAASGFTFSSYAMH\tEIVLTQSPGTLSLSPGERATLSC\tK\n");
    write_file(test, "id\theavy\tlight\tlocus\n"
                     "a\tEVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMT\tDIQMTQSPSSLSASVGDRVTITA\tK\n"
                     "b\tQVQLQESGPGLVKPSETLSLTCTVSGGSISSYYWT\tQSALTQPASVSGSPGQSITISA\tL\n"
                     "c\tQVQLVQSGAEVKKPGASVKVSCKASGYTFTSYGIT\tEIVLTQSPGTLSLSPGERATLSA\tK\n");
    /* a and b predicted exactly (b twice: the first counts), c has none */
    write_file(pred, ">a\nDIQMTQSPSSLSASVGDRVTITA\n>b_1\nQSALTQPASVSGSPGQSITISA\n"
                     ">b_2\nWWWW\n>zz\nDIQ\n");
    ck_assert_int_eq(tu_run_in(dir, cmd_eval_h2l, "eval-h2l", "--test_file", test,
                               "--train_file", train, "--predictions", pred, "--output", out,
                               "--threads", "1", NULL),
                     0);
    char *js = tu_read_file(sumf);
    cJSON *j = cJSON_Parse(js);
    ck_assert_ptr_nonnull(j);
    cJSON *pj = cJSON_GetObjectItem(j, "predictions");
    ck_assert_int_eq(cJSON_GetObjectItem(pj, "matched_pairs")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(pj, "pairs_without_prediction")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(pj, "extra_for_a_pair")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(pj, "unmatched_ids")->valueint, 1);
    ck_assert_ptr_null(strstr(js, "nan"));
    cJSON *sys = cJSON_GetObjectItem(j, "systems");
    cJSON *p = cJSON_GetObjectItem(sys, "predictions");
    ck_assert_int_eq(cJSON_GetObjectItem(p, "pairs")->valueint, 2);
    ck_assert(cJSON_GetObjectItem(p, "identity")->valuedouble == 100.0);
    /* the locus of each prediction is its true locus here */
    cJSON *la = cJSON_GetObjectItem(p, "locus_agreement");
    ck_assert_int_eq(cJSON_GetObjectItem(la, "pairs")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(la, "agree")->valueint, 2);
    /* no region columns: per-region means are null, not NaN */
    cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "regions"), "cdr3");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r, "identity")));
    /* baselines: most common is t1's chain (twice), scored on all three pairs */
    const char *names[] = {"most_common", "medoid", "most_common_true_locus",
                           "most_common_pred_locus", "nearest_heavy"};
    for (int k = 0; k < 5; k++)
        ck_assert_msg(cJSON_GetObjectItem(sys, names[k]), "%s missing", names[k]);
    ck_assert_int_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(sys, "most_common"), "pairs")->valueint, 3);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "baselines"), "most_common")
                         ->valuestring,
                     "DIQMTQSPSSLSASVGDRVTITC");
    /* most_common_true_locus on pair a: t1's chain (IGK) against a's: 22 of 23 */
    pe_ws ws = {0};
    pe_result res;
    ck_assert_int_eq(pe_align(&ws, "DIQMTQSPSSLSASVGDRVTITA", 23, "DIQMTQSPSSLSASVGDRVTITC", 23,
                              &res), TG_OK);
    char tsvp[1100];
    snprintf(tsvp, sizeof tsvp, "%s/per_pair.tsv", out);
    char *tsv = tu_read_file(tsvp);
    char line[64];
    snprintf(line, sizeof line, "\t%d\t%.4f\t", res.score, res.identity);
    ck_assert_msg(strstr(tsv, line), "per_pair.tsv lacks %s", line);
    ck_assert_int_eq(strncmp(tsv, "id\tlocus\tlight\tpredictions_light\t", 33), 0);
    free(tsv);
    pe_ws_free(&ws);
    cJSON_Delete(j);
    free(js);
    /* bad predictions: a character that is not a residue, named with file and line */
    write_file(bad, "id\tsequence\na\tDIQ\nb\tQS1A\n");
    char err[1100];
    snprintf(err, sizeof err, "%s/err", dir);
    ck_assert_int_eq(tu_run_in(dir, cmd_eval_h2l, "eval-h2l", "--test_file", test,
                               "--predictions", bad, "--output", out, NULL),
                     1);
    char *e = tu_read_file(err);
    ck_assert_msg(strstr(e, "bad.tsv:3") && strstr(e, "sequence"), "%s", e);
    free(e);
    /* ablm generate's TSV (id, prompt, sequence, ...) */
    write_file(bad, "id\tprompt\tsequence\tnew_tokens\tstop\n"
                    "c_1\t\tEIVLTQSPGTLSLSPGERATLSA\t24\teos\n");
    ck_assert_int_eq(tu_run_in(dir, cmd_eval_h2l, "eval-h2l", "--test_file", test,
                               "--predictions", bad, "--output", out, NULL),
                     0);
    js = tu_read_file(sumf);
    j = cJSON_Parse(js);
    p = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "systems"), "predictions");
    ck_assert_int_eq(cJSON_GetObjectItem(p, "pairs")->valueint, 1);
    ck_assert(cJSON_GetObjectItem(p, "identity")->valuedouble == 100.0);
    ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "systems"), "medoid"));
    cJSON_Delete(j);
    free(js);
    /* nothing to evaluate */
    ck_assert_int_eq(tu_run_in(dir, cmd_eval_h2l, "eval-h2l", "--test_file", test, "--output",
                               out, NULL),
                     2);
    free(dir);
}
END_TEST

/* ablm eval-h2l --model on the tiny encoder-decoder fixture: the
 * perplexity equals exp of the mean of the model's own teacher-forced loss
 * (ed_build ED_LOSS per pair), the generated chains equal gen_run_encdec's
 * greedy output, and the model sits in the table beside the baselines. */
START_TEST(cmd_eval_h2l_model)
{
    char *dir = tu_tmpdir();
    char path[2048], mdir[1024], test[1024], train[1024], res[1024];
    snprintf(mdir, sizeof mdir, "%s/model", dir);
    ed_model *m = tu_encdec_fixture(mdir);
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    const char *H[3] = {"EVQLVESGGGLVQPGGSLRLSC", "QVQLQESGPGLVKPSETLSL", "QVQLVQSGAEVKKPGASVKVSCKA"};
    const char *L[3] = {"DIQMTQSPSSLSASVGDRVT", "QSALTQPASVSGSPGQS", "EIVLTQSPGTLSLSPGERATLS"};
    snprintf(test, sizeof test, "%s/test.tsv", dir);
    snprintf(train, sizeof train, "%s/train.tsv", dir);
    FILE *f = fopen(test, "w");
    fprintf(f, "id\theavy\tlight\tlocus\n");
    for (int i = 0; i < 3; i++)
        fprintf(f, "p%d\t%s\t%s\t%s\n", i, H[i], L[i], i == 1 ? "L" : "K");
    fclose(f);
    f = fopen(train, "w");
    fprintf(f, "heavy\tlight\tlocus\n%s\t%s\tK\n%s\t%s\tL\n", H[1], L[0], H[0], L[1]);
    fclose(f);
    snprintf(res, sizeof res, "%s/res", dir);
    ck_assert_int_eq(tu_run_in(dir, cmd_eval_h2l, "eval-h2l", "--model", mdir, "--test_file",
                               test, "--train_file", train, "--output", res,
                               "--max_new_tokens", "30", "--batch_size", "2", "--threads", "1",
                               NULL),
                     0);
    /* the expected perplexity from the model's loss */
    double nll = 0;
    long k = 0;
    int32_t srcs[3][64], labs[3][64];
    int sl[3], ll[3];
    for (int i = 0; i < 3; i++) {
        int n;
        ck_assert_int_eq(tok_encode(tok, H[i], strlen(H[i]), 64, TOK_REJECT, srcs[i], &sl[i],
                                    NULL), TG_OK);
        ck_assert_int_eq(tok_encode(tok, L[i], strlen(L[i]), 64, TOK_REJECT, labs[i], &n, NULL),
                         TG_OK);
        memmove(labs[i], labs[i] + 1, (size_t)(n - 1) * sizeof(int32_t));
        ll[i] = n - 1;
        ed_graph gr;
        ck_assert_int_eq(ed_build(m, 1, sl[i], ll[i], ED_LOSS, NULL, &gr), TG_OK);
        ed_set_batch(&gr, srcs[i], NULL, labs[i]);
        ck_assert_int_eq(tg_forward(gr.g), TG_OK);
        nll += (double)tg_f32(gr.loss)[0] * ll[i];
        k += ll[i];
        ed_graph_free(&gr);
    }
    snprintf(path, sizeof path, "%s/summary.json", res);
    char *js = tu_read_file(path);
    cJSON *j = cJSON_Parse(js);
    cJSON *mj = cJSON_GetObjectItem(j, "model");
    ck_assert_ptr_nonnull(mj);
    double ppl = cJSON_GetObjectItem(mj, "perplexity")->valuedouble;
    ck_assert_msg(fabs(ppl - exp(nll / k)) < 1e-4 * ppl, "perplexity %g, from the loss %g", ppl,
                  exp(nll / k));
    ck_assert_int_eq(cJSON_GetObjectItem(mj, "label_tokens")->valueint, (int)k);
    ck_assert_int_eq(cJSON_GetObjectItem(mj, "pairs_fitting")->valueint, 3);
    cJSON *sys = cJSON_GetObjectItem(j, "systems");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(sys, "model"), "pairs")->valueint,
                     3);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(sys, "most_common_pred_locus"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(sys, "nearest_heavy"));
    /* the generated chains: greedy gen_run_encdec, residue tokens */
    gen_opts o;
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.max_new_tokens = 30;
    const int32_t *sp[3] = {srcs[0], srcs[1], srcs[2]};
    gen_result r = {0};
    ck_assert_int_eq(gen_run_encdec(m, &o, 3, sp, sl, 3, &r), TG_OK);
    snprintf(path, sizeof path, "%s/per_pair.tsv", res);
    char *tsv = tu_read_file(path);
    for (int i = 0; i < 3; i++) {
        char want[128] = "\t";
        int n = 1;
        for (int t = 0; t < r.len[i]; t++) {
            const char *tk = tok_token(tok, r.tok[i][t]);
            if (tk[0] >= 'A' && tk[0] <= 'Z' && !tk[1])
                want[n++] = tk[0];
        }
        want[n++] = '\t';
        want[n] = '\0';
        char *line = strstr(tsv, L[i]); /* the pair's row: id, locus, light, perplexity, model */
        ck_assert_ptr_nonnull(line);
        char *eol = strchr(line, '\n');
        *eol = '\0';
        char *ppl_end = strchr(line + strlen(L[i]) + 1, '\t');
        ck_assert_msg(!strncmp(ppl_end, want, strlen(want)), "pair %d: %s, want %s", i, ppl_end,
                      want);
        *eol = '\n';
    }
    gen_result_free(&r);
    free(tsv);
    /* ablm generate on the pair file, then its FASTA as --predictions: the same chains */
    char gen[1100], res2[1100];
    snprintf(gen, sizeof gen, "%s/gen.fasta", dir);
    snprintf(res2, sizeof res2, "%s/res2", dir);
    ck_assert_int_eq(tu_run_in(dir, cmd_generate, "generate", "--model", mdir, "--input", test,
                               "--output", gen, "--max_new_tokens", "30", NULL),
                     0);
    ck_assert_int_eq(tu_run_in(dir, cmd_eval_h2l, "eval-h2l", "--test_file", test,
                               "--predictions", gen, "--output", res2, NULL),
                     0);
    snprintf(path, sizeof path, "%s/summary.json", res2);
    char *js2 = tu_read_file(path);
    cJSON *j2 = cJSON_Parse(js2);
    cJSON *p2 = cJSON_GetObjectItem(cJSON_GetObjectItem(j2, "systems"), "predictions");
    cJSON *m1 = cJSON_GetObjectItem(sys, "model");
    ck_assert_int_eq(cJSON_GetObjectItem(p2, "pairs")->valueint, 3);
    ck_assert(cJSON_GetObjectItem(p2, "identity")->valuedouble ==
              cJSON_GetObjectItem(m1, "identity")->valuedouble);
    ck_assert(cJSON_GetObjectItem(p2, "blosum62_score")->valuedouble ==
              cJSON_GetObjectItem(m1, "blosum62_score")->valuedouble);
    cJSON_Delete(j2);
    free(js2);
    cJSON_Delete(j);
    free(js);
    ed_model_free(m);
    tok_free(tok);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pair_eval");
    TCase *t = tcase_create("pair_eval");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, golden_biopython);
    tcase_add_test(t, live_biopython);
    tcase_add_test(t, identity_definition);
    tcase_add_test(t, regions_projection);
    tcase_add_test(t, locus_rule_on_real_chains);
    tcase_add_test(t, baselines);
    tcase_add_test(t, cmd_eval_h2l_files);
    tcase_add_test(t, cmd_eval_h2l_model);
    suite_add_tcase(s, t);
    return tu_run(s);
}
