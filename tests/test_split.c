/* Splits: whole clusters, ratios, determinism, warnings, leakage, files. */
#include "fileio.h"
#include "split.h"
#include "strmap.h"
#include "tg.h"
#include "testutil.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* rep array for clusters of the given sizes, members interleaved so that
 * cluster order is not index order. */
static uint32_t *make_clusters(const size_t *sizes, size_t nc, size_t *n_out)
{
    size_t n = 0;
    for (size_t c = 0; c < nc; c++)
        n += sizes[c];
    uint32_t *rep = malloc(n * sizeof *rep);
    size_t *left = malloc(nc * sizeof *left);
    uint32_t *first = malloc(nc * sizeof *first);
    memcpy(left, sizes, nc * sizeof *left);
    size_t i = 0;
    while (i < n)
        for (size_t c = 0; c < nc; c++)
            if (left[c]) {
                if (left[c] == sizes[c])
                    first[c] = (uint32_t)i;
                rep[i++] = first[c];
                left[c]--;
            }
    free(left);
    free(first);
    *n_out = n;
    return rep;
}

START_TEST(ratios_parse)
{
    double r[3];
    ck_assert_int_eq(sp_parse_ratios("0.8,0.1,0.1", r), 0);
    ck_assert_double_eq_tol(r[1], 0.1, 1e-12);
    ck_assert_int_eq(sp_parse_ratios("0.7,0.2,0.1", r), 0);
    ck_assert_int_eq(sp_parse_ratios("0.8,0.1", r), -1);
    ck_assert_int_eq(sp_parse_ratios("0.8,0.1,0.2", r), -1);
    ck_assert(strstr(tg_last_error(), "sum to 1.1"));
    ck_assert_int_eq(sp_parse_ratios("0.8,-0.1,0.3", r), -1);
    ck_assert_int_eq(sp_parse_ratios("a,b,c", r), -1);
}
END_TEST

START_TEST(greedy_worked_example)
{
    /* 20 sequences: targets 16, 2, 2. Largest first: 5,3,3,2 and three 1s
     * fill train to 16; two 1s go to val, the last to test. */
    size_t sizes[] = {1, 3, 1, 5, 1, 2, 1, 3, 1, 1};
    size_t n;
    uint32_t *rep = make_clusters(sizes, 10, &n);
    ck_assert_uint_eq(n, 19);
    free(rep);
    size_t sizes2[] = {1, 3, 1, 5, 1, 2, 1, 3, 1, 1, 1};
    rep = make_clusters(sizes2, 11, &n);
    ck_assert_uint_eq(n, 20);
    sp_opts o;
    sp_opts_default(&o);
    uint8_t set[20];
    sp_summary s;
    ck_assert_int_eq(sp_assign(rep, n, &o, set, &s), TG_OK);
    ck_assert_uint_eq(s.counts[0], 16);
    ck_assert_uint_eq(s.counts[1], 2);
    ck_assert_uint_eq(s.counts[2], 2);
    ck_assert_uint_eq(s.n_clusters, 11);
    ck_assert_uint_eq(s.top[0], 5);
    ck_assert_uint_eq(s.top[1], 3);
    ck_assert_int_eq(s.n_top, 10);
    /* ties by first appearance: the 1-clusters appearing last go to val/test */
    char w[1024];
    ck_assert_int_eq(sp_warnings(&s, &o, w, sizeof w), 2); /* 5 > 2: val and test shares */
    ck_assert(strstr(w, "the largest cluster has 5 sequences (25.0% of 20), more than the val"));
    free(rep);
}
END_TEST

START_TEST(oversized_cluster_goes_to_test)
{
    size_t sizes[] = {10, 1, 1};
    size_t n;
    uint32_t *rep = make_clusters(sizes, 3, &n);
    sp_opts o;
    sp_opts_default(&o);
    uint8_t set[12];
    sp_summary s;
    ck_assert_int_eq(sp_assign(rep, n, &o, set, &s), TG_OK);
    ck_assert_uint_eq(s.counts[SP_TEST], 10);
    ck_assert_uint_eq(s.counts[SP_TRAIN], 2);
    char w[2048];
    ck_assert_int_ge(sp_warnings(&s, &o, w, sizeof w), 3);
    ck_assert(strstr(w, "more than the train share"));
    ck_assert(strstr(w, "test has 10 sequences"));
    free(rep);
}
END_TEST

/* The reference's rule fills train, then val, each until it reaches its
 * target; ablm's default puts a cluster where it fits. */
START_TEST(reference_fill_worked_example)
{
    size_t sizes[] = {10, 8, 1, 1};
    size_t n;
    uint32_t *rep = make_clusters(sizes, 4, &n);
    ck_assert_uint_eq(n, 20); /* targets 16, 2, 2 */
    sp_opts o;
    sp_opts_default(&o);
    uint8_t set[20];
    sp_summary s;
    /* fit: 10 -> train; 8 fits neither train (18 > 16) nor val -> test; the
     * 1s -> train */
    ck_assert_int_eq(sp_assign(rep, n, &o, set, &s), TG_OK);
    ck_assert_uint_eq(s.counts[SP_TRAIN], 12);
    ck_assert_uint_eq(s.counts[SP_VAL], 0);
    ck_assert_uint_eq(s.counts[SP_TEST], 8);
    /* reference: 10 and 8 -> train (10 < 16 when the 8 comes), then train
     * is full (18 >= 16): the 1s -> val until it reaches 2 */
    o.fill = SP_FILL_REFERENCE;
    ck_assert_int_eq(sp_assign(rep, n, &o, set, &s), TG_OK);
    ck_assert_uint_eq(s.counts[SP_TRAIN], 18);
    ck_assert_uint_eq(s.counts[SP_VAL], 2);
    ck_assert_uint_eq(s.counts[SP_TEST], 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(set[i], set[rep[i]]);
    cJSON *j = cJSON_CreateObject();
    sp_summary_to_json(&s, &o, j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "fill")->valuestring, "reference");
    cJSON_Delete(j);
    free(rep);
}
END_TEST

/* Both fill rules with seeded cluster shuffles: whole clusters, the same
 * sets for a seed, other sets for another seed, and each rule's bound on
 * the counts. */
START_TEST(shuffled_fills_random)
{
    tg_rng r;
    tg_rng_seed(&r, 99);
    size_t sizes[300];
    for (int c = 0; c < 300; c++)
        sizes[c] = 1 + (size_t)(tg_rng_next(&r) % (c % 10 ? 5 : 40));
    size_t n;
    uint32_t *rep = make_clusters(sizes, 300, &n);
    uint8_t *a = malloc(n), *b = malloc(n);
    for (int fill = 0; fill < 2; fill++) {
        sp_opts o;
        sp_opts_default(&o);
        o.fill = fill ? SP_FILL_REFERENCE : SP_FILL_FIT;
        o.order = SP_ORDER_SHUFFLE;
        o.seed = 1;
        sp_summary s1, s2;
        ck_assert_int_eq(sp_assign(rep, n, &o, a, &s1), TG_OK);
        ck_assert_int_eq(sp_assign(rep, n, &o, b, &s2), TG_OK);
        ck_assert_int_eq(memcmp(a, b, n), 0);
        o.seed = 2;
        ck_assert_int_eq(sp_assign(rep, n, &o, b, &s2), TG_OK);
        ck_assert_int_ne(memcmp(a, b, n), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(a[i], a[rep[i]]);
        for (int k = 0; k < 2; k++) {
            if (fill) /* reaches the target, exceeding it by less than one cluster */
                ck_assert((double)s1.counts[k] >= s1.target[k] &&
                          (double)s1.counts[k] < s1.target[k] + 40);
            else /* never exceeds it */
                ck_assert((double)s1.counts[k] <= s1.target[k] + 1e-9);
        }
    }
    free(a);
    free(b);
    free(rep);
}
END_TEST

/* Random cluster sizes: whole clusters, counts near the targets,
 * deterministic, shuffle seeded. */
START_TEST(properties_random)
{
    tg_rng r;
    tg_rng_seed(&r, 7);
    for (int trial = 0; trial < 20; trial++) {
        size_t nc = 50 + tg_rng_next(&r) % 500;
        size_t *sizes = malloc(nc * sizeof *sizes);
        for (size_t c = 0; c < nc; c++) /* heavy-tailed sizes */
            sizes[c] = 1 + (size_t)(30 * tg_rng_uniform(&r) * tg_rng_uniform(&r) *
                                    tg_rng_uniform(&r));
        size_t n;
        uint32_t *rep = make_clusters(sizes, nc, &n);
        for (int order = 0; order < 2; order++) {
            sp_opts o;
            sp_opts_default(&o);
            o.order = order ? SP_ORDER_SHUFFLE : SP_ORDER_SIZE;
            o.seed = (uint64_t)trial;
            uint8_t *set = malloc(n), *set2 = malloc(n);
            sp_summary s, s2;
            ck_assert_int_eq(sp_assign(rep, n, &o, set, &s), TG_OK);
            ck_assert_int_eq(sp_assign(rep, n, &o, set2, &s2), TG_OK);
            ck_assert_mem_eq(set, set2, n); /* deterministic */
            size_t cnt[3] = {0};
            size_t maxmiss[3] = {0}; /* largest cluster not in set k */
            for (size_t i = 0; i < n; i++) {
                ck_assert_uint_eq(set[i], set[rep[i]]); /* whole clusters */
                cnt[set[i]]++;
            }
            for (size_t i = 0; i < n; i++)
                if (rep[i] == i)
                    for (int k = 0; k < 2; k++)
                        if (set[i] != k) {
                            size_t sz = 0;
                            for (size_t j = 0; j < n; j++)
                                sz += rep[j] == i;
                            if (sz > maxmiss[k])
                                maxmiss[k] = sz;
                        }
            for (int k = 0; k < 3; k++)
                ck_assert_uint_eq(cnt[k], s.counts[k]);
            ck_assert_uint_eq(cnt[0] + cnt[1] + cnt[2], n);
            /* train and val: at most the target, short by less than one
             * cluster that went elsewhere */
            for (int k = 0; k < 2; k++) {
                ck_assert((double)cnt[k] <= s.target[k] + 1e-9);
                ck_assert((double)cnt[k] + (double)maxmiss[k] > s.target[k] - 1e-9);
            }
            if (order == 1) { /* another seed gives another split */
                o.seed += 1000;
                sp_assign(rep, n, &o, set2, &s2);
                ck_assert(memcmp(set, set2, n) != 0);
            }
            free(set);
            free(set2);
        }
        free(rep);
        free(sizes);
    }
}
END_TEST

static const char *SEQS[] = {
    "EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYCAK",
    "QVQLVQSGAEVKKPGASVKVSCKASGYTFTSYGISWVRQAPGQGLEWMGWISAYNGNTNYAQKLQGRVTMTTDTSTSTAYMELRSLRSDDTAVYYCAR",
    "EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYCAK",
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHM",
    "QVQLQESGPGLVKPSETLSLTCTVSGGSISSYYWSWIRQPPGKGLEWIGYIYYSGSTNYNPSLKSRVTISVDTSKNQFSLKLSSVTAADTAVYYCAR",
    "GSHMSLFDFFKNKGSAAATPPVEAAPAAEAVAAPAEAAAPAAETPAAEAPAAAEAPAAEAKPAAEAPAAEAPAAEAPAAEAPAAEAPAAEAPAAAE",
};

START_TEST(leakage_identity)
{
    const int n = 6;
    int lens[6];
    for (int i = 0; i < n; i++)
        lens[i] = (int)strlen(SEQS[i]);
    /* train: 0, 1, 4; val: 2 (identical to 0); test: 3, 5 (unrelated) */
    uint8_t set[6] = {SP_TRAIN, SP_TRAIN, SP_VAL, SP_TEST, SP_TRAIN, SP_TEST};
    sp_leak_opts o;
    sp_leak_opts_default(&o);
    for (int cand = 0; cand < 2; cand++) {
        o.candidates = cand ? 1 : 0;
        sp_leak v, t;
        ck_assert_int_eq(sp_leakage(SEQS, lens, set, n, SP_VAL, &o, &v), TG_OK);
        ck_assert_uint_eq(v.n, 1);
        ck_assert_double_eq_tol(v.max, 1.0, 1e-12);
        ck_assert_double_eq_tol(v.frac_ge[2], 1.0, 1e-12);
        ck_assert_int_eq(sp_leakage(SEQS, lens, set, n, SP_TEST, &o, &t), TG_OK);
        ck_assert_uint_eq(t.n, 2);
        ck_assert(t.max < 0.5);
        ck_assert_double_eq_tol(t.frac_ge[0], 0.0, 1e-12);
    }
    /* sample smaller than the set: deterministic for a seed */
    uint8_t set2[6] = {SP_TRAIN, SP_VAL, SP_VAL, SP_VAL, SP_VAL, SP_VAL};
    o.sample = 2;
    o.candidates = 0;
    o.max_pairs = 0; /* too many for the exact report: the seeded sample */
    sp_leak a, b;
    ck_assert_int_eq(sp_leakage(SEQS, lens, set2, n, SP_VAL, &o, &a), TG_OK);
    tg_set_threads(1);
    ck_assert_int_eq(sp_leakage(SEQS, lens, set2, n, SP_VAL, &o, &b), TG_OK);
    tg_set_threads(0);
    ck_assert_uint_eq(a.n, 2);
    ck_assert_double_eq(a.median, b.median);
    ck_assert_double_eq(a.max, b.max);
}
END_TEST

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 16);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

START_TEST(write_sets_and_tsv)
{
    char *dir = tu_tmpdir();
    const char *seqs[] = {"AAA", "CCC", "DDD", "EEE"};
    int lens[] = {3, 3, 3, 3};
    uint8_t set[] = {SP_TEST, SP_TRAIN, SP_TRAIN, SP_VAL};
    ck_assert_int_eq(sp_write_sets(dir, NULL, seqs, lens, set, 4), TG_OK);
    char p[512];
    snprintf(p, sizeof p, "%s/train.txt", dir);
    char *t = slurp(p);
    ck_assert_str_eq(t, "CCC\nDDD\n");
    free(t);
    snprintf(p, sizeof p, "%s/test.txt", dir);
    t = slurp(p);
    ck_assert_str_eq(t, "AAA\n");
    free(t);
    /* no temp files left behind */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            ck_assert_ptr_null(strstr(e->d_name, ".tmp"));
            files++;
        }
    closedir(d);
    ck_assert_int_eq(files, 3);
    /* with ids: the same rows in train.tsv, val.tsv, test.tsv */
    const char *ids[] = {"a", "b", "c", "d"};
    ck_assert_int_eq(sp_write_sets(dir, ids, seqs, lens, set, 4), TG_OK);
    snprintf(p, sizeof p, "%s/train.tsv", dir);
    t = slurp(p);
    ck_assert_str_eq(t, "sequence_id\tsequence_alignment_aa\nb\tCCC\nc\tDDD\n");
    free(t);
    snprintf(p, sizeof p, "%s/test.tsv", dir);
    t = slurp(p);
    ck_assert_str_eq(t, "sequence_id\tsequence_alignment_aa\na\tAAA\n");
    free(t);
    /* cluster TSV */
    sm_map m;
    sm_init(&m);
    for (uint32_t i = 0; i < 4; i++)
        ck_assert_int_eq(sm_put(&m, ids[i], 1, i, NULL), 1);
    uint32_t rep[4];
    snprintf(p, sizeof p, "%s/c.tsv", dir);
    FILE *f = fopen(p, "w");
    fputs("a\ta\na\tc\nb\tb\n", f);
    fclose(f);
    ck_assert_int_eq(sp_read_cluster_tsv(p, &m, 4, rep), TG_OK);
    ck_assert_uint_eq(rep[0], 0);
    ck_assert_uint_eq(rep[2], 0);
    ck_assert_uint_eq(rep[1], 1);
    ck_assert_uint_eq(rep[3], UINT32_MAX);
    f = fopen(p, "w");
    fputs("a\ta\na\tzz\n", f);
    fclose(f);
    ck_assert_int_eq(sp_read_cluster_tsv(p, &m, 4, rep), TG_ERR_FORMAT);
    ck_assert(strstr(tg_last_error(), "c.tsv:2: member 'zz' is not in the sequences"));
    f = fopen(p, "w");
    fputs("a\ta\nb\ta\n", f);
    fclose(f);
    ck_assert_int_eq(sp_read_cluster_tsv(p, &m, 4, rep), TG_ERR_FORMAT);
    ck_assert(strstr(tg_last_error(), "c.tsv:2: member 'a' is listed a second time"));
    f = fopen(p, "w");
    fputs("a\ta\tx\n", f);
    fclose(f);
    ck_assert_int_eq(sp_read_cluster_tsv(p, &m, 4, rep), TG_ERR_FORMAT);
    ck_assert(strstr(tg_last_error(), "c.tsv:1: expected 2 tab-separated fields"));
    sm_free(&m);
    free(dir);
}
END_TEST

/* The command end to end on a FASTA and a cluster TSV. */
START_TEST(command_end_to_end)
{
    const char *bd = getenv("ABLM_BUILD_DIR");
    if (!bd) {
        tu_skip("command_end_to_end", "ABLM_BUILD_DIR not set");
        return;
    }
    char *dir = tu_tmpdir();
    char cmd[4096], p[600];
    snprintf(p, sizeof p, "%s/s.fa", dir);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 6; i++)
        fprintf(f, ">q%d\n%s\n", i, SEQS[i]);
    fclose(f);
    snprintf(p, sizeof p, "%s/c.tsv", dir);
    f = fopen(p, "w");
    fputs("q0\tq0\nq0\tq2\nq1\tq1\nq3\tq3\nq4\tq4\nq5\tq5\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s/ablm split --clusters %s/c.tsv --sequences %s/s.fa --out %s/o --ratios "
             "0.5,0.25,0.25 > %s/log 2>&1",
             bd, dir, dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(p, sizeof p, "%s/o/leakage_report.json", dir);
    char *j = slurp(p);
    ck_assert_ptr_nonnull(j);
    cJSON *rep = cJSON_Parse(j);
    free(j);
    ck_assert_ptr_nonnull(rep);
    cJSON *sp = cJSON_GetObjectItem(rep, "split");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(sp, "train"), "sequences")->valueint,
                     3);
    ck_assert_int_eq(cJSON_GetObjectItem(sp, "clusters")->valueint, 5);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "leakage"), "test"));
    cJSON_Delete(rep);
    /* --fill reference --shuffle-clusters are what the report says */
    snprintf(cmd, sizeof cmd,
             "%s/ablm split --clusters %s/c.tsv --sequences %s/s.fa --out %s/o3 --fill reference "
             "--shuffle-clusters --seed 3 > %s/log 2>&1", bd, dir, dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(p, sizeof p, "%s/o3/leakage_report.json", dir);
    j = slurp(p);
    rep = cJSON_Parse(j);
    free(j);
    sp = cJSON_GetObjectItem(rep, "split");
    ck_assert_str_eq(cJSON_GetObjectItem(sp, "fill")->valuestring, "reference");
    ck_assert_str_eq(cJSON_GetObjectItem(sp, "order")->valuestring, "shuffle");
    ck_assert_int_eq(cJSON_GetObjectItem(sp, "seed")->valueint, 3);
    cJSON_Delete(rep);
    /* --leakage-free: the components of the sequences themselves */
    snprintf(cmd, sizeof cmd,
             "%s/ablm split --leakage-free --min-seq-id 0.7 --sequences %s/s.fa --out %s/o4 "
             "--ratios 0.5,0.25,0.25 > %s/log4 2>&1", bd, dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(p, sizeof p, "%s/o4/leakage_report.json", dir);
    j = slurp(p);
    rep = cJSON_Parse(j);
    free(j);
    cJSON *lf = cJSON_GetObjectItem(rep, "leakage_free");
    ck_assert_ptr_nonnull(lf);
    int lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = (int)strlen(SEQS[i]);
    cl_opts co;
    cl_opts_default(&co);
    co.min_seq_id = 0.7;
    uint32_t comp[6];
    sp_cc_stats cs;
    ck_assert_int_eq(sp_components(SEQS, lens, 6, &co, comp, &cs), TG_OK);
    ck_assert_int_eq(comp[2], 0); /* identical to 0 */
    ck_assert_int_eq(cJSON_GetObjectItem(lf, "components")->valueint, (int)cs.n_components);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "split"), "clusters")->valueint,
                     (int)cs.n_components);
    cJSON *chk = cJSON_GetObjectItem(lf, "check");
    ck_assert_int_eq(cJSON_GetObjectItem(chk, "violations")->valueint, 0);
    int checked = cJSON_GetObjectItem(chk, "checked")->valueint;
    ck_assert_int_gt(checked, 0);
    ck_assert(strstr(cJSON_GetObjectItem(chk, "method")->valuestring, "exact leakage report"));
    cJSON_Delete(rep);
    /* without the leakage report the dedicated check runs, same verdict */
    snprintf(cmd, sizeof cmd,
             "%s/ablm split --leakage-free --min-seq-id 0.7 --sequences %s/s.fa --out %s/o6 "
             "--ratios 0.5,0.25,0.25 --leak-sample 0 > /dev/null 2>&1", bd, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(p, sizeof p, "%s/o6/leakage_report.json", dir);
    j = slurp(p);
    rep = cJSON_Parse(j);
    free(j);
    chk = cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "leakage_free"), "check");
    ck_assert_str_eq(cJSON_GetObjectItem(chk, "method")->valuestring, "sp_leak_check");
    ck_assert_int_eq(cJSON_GetObjectItem(chk, "violations")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(chk, "checked")->valueint, checked);
    cJSON_Delete(rep);
    snprintf(p, sizeof p, "%s/log4", dir);
    j = slurp(p);
    ck_assert_msg(strstr(j, "check: ") && strstr(j, ": 0 with a train sequence at identity >= 0.7"),
                  "%s", j);
    free(j);
    /* flag misuse */
    snprintf(cmd, sizeof cmd, "%s/ablm split --leakage-free --sequences %s/s.fa --out %s/o5 "
             "> %s/log5 2>&1", bd, dir, dir, dir);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(p, sizeof p, "%s/log5", dir);
    j = slurp(p);
    ck_assert_msg(strstr(j, "--leakage-free needs --min-seq-id"), "%s", j);
    free(j);
    snprintf(cmd, sizeof cmd, "%s/ablm split --clusters %s/c.tsv --min-seq-id 0.5 --sequences "
             "%s/s.fa --out %s/o5 > /dev/null 2>&1", bd, dir, dir, dir);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s/ablm split --clusters %s/c.tsv --leakage-free --min-seq-id 0.5 "
             "--sequences %s/s.fa --out %s/o5 > /dev/null 2>&1", bd, dir, dir, dir);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s/ablm split --clusters %s/c.tsv --fill best --sequences "
             "%s/s.fa --out %s/o5 > /dev/null 2>&1", bd, dir, dir, dir);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    /* usage errors exit 2, bad input exits 1 with a message */
    snprintf(cmd, sizeof cmd, "%s/ablm split --clusters x > /dev/null 2>&1", bd);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd,
             "%s/ablm split --clusters %s/s.fa --sequences %s/s.fa --out %s/o2 > %s/log2 2>&1",
             bd, dir, dir, dir, dir);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
    snprintf(p, sizeof p, "%s/log2", dir);
    j = slurp(p);
    ck_assert_msg(strstr(j, "ablm split: ") && strstr(j, "s.fa:1: expected 2 tab-separated"),
                  "%s", j);
    free(j);
    free(dir);
}
END_TEST

/* Runs a shell command line built from fmt; returns its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Checks DIR/{train,val,test}.tsv against the cluster TSV's members: every
 * member once, by id, with the sequence of the same line of the .txt. */
static void check_split_ids(const char *out, const char *clu, size_t want)
{
    sm_map members;
    sm_init(&members);
    char *c = slurp(clu);
    ck_assert_ptr_nonnull(c);
    size_t nm = 0;
    for (char *l = strtok(c, "\n"); l; l = strtok(NULL, "\n")) {
        char *m = strchr(l, '\t');
        ck_assert_ptr_nonnull(m);
        m++;
        ck_assert_int_eq(sm_put(&members, m, (int)strlen(m), (uint32_t)nm++, NULL), 1);
    }
    ck_assert_uint_eq(nm, want);
    size_t seen = 0;
    static const char *sets[] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/%s.tsv", out, sets[k]);
        char *tsv = slurp(p);
        snprintf(p, sizeof p, "%s/%s.txt", out, sets[k]);
        char *txt = slurp(p);
        ck_assert_ptr_nonnull(tsv);
        ck_assert_ptr_nonnull(txt);
        char *s1, *s2;
        char *l = strtok_r(tsv, "\n", &s1);
        ck_assert_str_eq(l, "sequence_id\tsequence_alignment_aa");
        char *x = strtok_r(txt, "\n", &s2);
        for (l = strtok_r(NULL, "\n", &s1); l; l = strtok_r(NULL, "\n", &s1)) {
            char *tab = strchr(l, '\t');
            ck_assert_ptr_nonnull(tab);
            *tab = '\0';
            uint32_t v;
            ck_assert_msg(sm_get(&members, l, (int)strlen(l), &v), "%s: id '%s' not in %s", p,
                          l, clu);
            ck_assert_ptr_nonnull(x);
            ck_assert_str_eq(tab + 1, x); /* same row as the .txt */
            x = strtok_r(NULL, "\n", &s2);
            seen++;
        }
        ck_assert_ptr_null(x);
        free(tsv);
        free(txt);
    }
    ck_assert_uint_eq(seen, want);
    free(c);
    sm_free(&members);
}

/* ablm cluster's TSV feeds ablm split on every input kind, names agree:
 * FASTA (duplicate names across two files), plain and spaced plain text,
 * AIRR TSV with sequence_id, OAS paired units (heavy and light ids). */
START_TEST(cluster_then_split_every_kind)
{
    const char *bd = getenv("ABLM_BUILD_DIR");
    if (!bd) {
        tu_skip("cluster_then_split_every_kind", "ABLM_BUILD_DIR not set");
        return;
    }
    char *dir = tu_tmpdir();
    char p[1024];
    FILE *f[6];
    static const char *names[] = {"a.fa", "b.fa", "p.txt", "s.txt", "r.tsv", "u.csv"};
    for (int k = 0; k < 6; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[k]);
        f[k] = fopen(p, "w");
        ck_assert_ptr_nonnull(f[k]);
    }
    fputs("sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n", f[4]);
    fputs("\"{\"\"Chain\"\": \"\"Paired\"\"}\"\nsequence_id_heavy,sequence_alignment_aa_heavy,"
          "cdr3_aa_heavy,sequence_id_light,sequence_alignment_aa_light,cdr3_aa_light\n", f[5]);
    for (int i = 0; i < 6; i++) {
        fprintf(f[0], ">q%d some description\n%s\n", i, SEQS[i]);
        fprintf(f[1], ">q%d\n%s\n", i % 2 ? i : 10 + i, SEQS[(i + 3) % 6]); /* q1, q3, q5 repeat */
        fprintf(f[2], "%s\n", SEQS[i]);
        for (const char *c = SEQS[i]; *c; c++)
            fprintf(f[3], "%c%s", *c, c[1] ? " " : "\n");
        fprintf(f[4], "r%d\t%s\tARDY\t%s\n", i, SEQS[i], i == 2 ? "IGK" : "IGH");
        fprintf(f[5], "AAAC%d-1_contig_1,%s,ARDY,AAAC%d-1_contig_2,%s,QQYN\n", i, SEQS[i], i,
                SEQS[(i + 1) % 6]);
    }
    for (int k = 0; k < 6; k++)
        fclose(f[k]);
    static const struct {
        const char *tag, *inputs, *column, *split_flags;
        size_t n;
    } kinds[] = {
        {"fasta", "a.fa b.fa", "", "", 12},
        {"plain", "p.txt", "", "", 6},
        {"spaced", "s.txt", "", "", 6},
        {"airr", "r.tsv", "--column sequence_alignment_aa", "--chain any", 6},
        {"heavy", "u.csv", "--column sequence_alignment_aa_heavy", "", 6},
        {"light", "u.csv", "--column sequence_alignment_aa_light", "--chain light", 6},
        {"cdrh3", "u.csv", "--column cdr3_aa_heavy", "", 6},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char in[512] = "", clu[1024], out[1024];
        char *save, buf[64];
        snprintf(buf, sizeof buf, "%s", kinds[k].inputs);
        for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
            snprintf(in + strlen(in), sizeof in - strlen(in), " %s/%s", dir, w);
        snprintf(clu, sizeof clu, "%s/%s_cluster.tsv", dir, kinds[k].tag);
        snprintf(out, sizeof out, "%s/%s_split", dir, kinds[k].tag);
        ck_assert_msg(sh("%s/ablm cluster --input%s %s --min-seq-id 0.5 --out %s/%s "
                         "> %s/log 2>&1", bd, in, kinds[k].column, dir, kinds[k].tag, dir) == 0,
                      "cluster %s failed", kinds[k].tag);
        ck_assert_msg(sh("%s/ablm split --clusters %s --sequences%s %s --out %s --ratios "
                         "0.5,0.25,0.25 --leak-sample 0 > %s/log 2>&1",
                         bd, clu, in, kinds[k].split_flags, out, dir) == 0,
                      "split %s failed", kinds[k].tag);
        check_split_ids(out, clu, kinds[k].n);
    }
    /* the names: FASTA ids, repeated ones as ID@FILE:LINE; FILE:LINE for text */
    snprintf(p, sizeof p, "%s/fasta_cluster.tsv", dir);
    char *t = slurp(p);
    ck_assert_ptr_nonnull(strstr(t, "\tq0\n"));
    ck_assert_ptr_nonnull(strstr(t, "\tq1@a.fa:3\n"));
    ck_assert_ptr_nonnull(strstr(t, "\tq1@b.fa:3\n"));
    ck_assert_ptr_nonnull(strstr(t, "\tq10\n"));
    free(t);
    snprintf(p, sizeof p, "%s/spaced_cluster.tsv", dir);
    t = slurp(p);
    ck_assert_ptr_nonnull(strstr(t, "\ts.txt:6\n"));
    free(t);
    snprintf(p, sizeof p, "%s/light_cluster.tsv", dir);
    t = slurp(p);
    ck_assert_ptr_nonnull(strstr(t, "\tAAAC5-1_contig_2\n"));
    free(t);
    /* the light chain's ids do not name the heavy chains: split says so */
    ck_assert_int_eq(sh("%s/ablm split --clusters %s/light_cluster.tsv --sequences %s/u.csv "
                        "--out %s/wrong > %s/log 2>&1", bd, dir, dir, dir, dir), 1);
    snprintf(p, sizeof p, "%s/log", dir);
    t = slurp(p);
    ck_assert_msg(strstr(t, "is not in the sequences"), "%s", t);
    free(t);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("split");
    TCase *t = tcase_create("split");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, ratios_parse);
    tcase_add_test(t, greedy_worked_example);
    tcase_add_test(t, oversized_cluster_goes_to_test);
    tcase_add_test(t, reference_fill_worked_example);
    tcase_add_test(t, shuffled_fills_random);
    tcase_add_test(t, properties_random);
    tcase_add_test(t, leakage_identity);
    tcase_add_test(t, write_sets_and_tsv);
    tcase_add_test(t, command_end_to_end);
    tcase_add_test(t, cluster_then_split_every_kind);
    suite_add_tcase(s, t);
    return tu_run(s);
}
