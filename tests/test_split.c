/* Splits: whole clusters, ratios, determinism, warnings, leakage, files. */
#include "fileio.h"
#include "split.h"
#include "strmap.h"
#include "tg.h"
#include "testutil.h"

#include <dirent.h>
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
    ck_assert_int_eq(sp_write_sets(dir, seqs, lens, set, 4), TG_OK);
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
    /* cluster TSV */
    const char *ids[] = {"a", "b", "c", "d"};
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
        printf("command_end_to_end: skipped, ABLM_BUILD_DIR not set\n");
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

int main(void)
{
    Suite *s = suite_create("split");
    TCase *t = tcase_create("split");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, ratios_parse);
    tcase_add_test(t, greedy_worked_example);
    tcase_add_test(t, oversized_cluster_goes_to_test);
    tcase_add_test(t, properties_random);
    tcase_add_test(t, leakage_identity);
    tcase_add_test(t, write_sets_and_tsv);
    tcase_add_test(t, command_end_to_end);
    suite_add_tcase(s, t);
    return tu_run(s);
}
