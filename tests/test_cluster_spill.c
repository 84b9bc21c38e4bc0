/* cluster_spill: linclust within a memory budget (cl_cluster_budget) gives
 * the same clusters as in memory for any budget (synthetic families with a
 * budget that forces many runs, real CDRH3s and heavy chains), keeps its
 * planned chunks and measured peak before the set cover within the budget,
 * and removes its temporary runs on success and on a write error, whose
 * message names the file; the collapse of identical sequences gives the
 * same groups in any number of hash shards (cl_dedup). */
#include "afile.h"
#include "cluster.h"
#include "cluster_io.h"
#include "cluster_util.h"
#include "testutil.h"
#include "tg.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Files in dir (0 when the runs were all removed). */
static int files_in(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* A synthetic set (tu_families) and a fresh directory for the runs. */
typedef struct {
    char **s;
    int *l;
    size_t n;
    char *dir;
} fixture;

static fixture fx_make(size_t nfam, size_t per, double mut, uint64_t seed)
{
    fixture f;
    f.n = nfam * per;
    f.s = tu_families(nfam, per, 40, mut, seed, &f.l);
    f.dir = tu_tmpdir();
    return f;
}

static void fx_free(fixture *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->s[i]);
    free(f->s);
    free(f->l);
    ck_assert_int_eq(rmdir(f->dir), 0); /* empty: every run removed */
    free(f->dir);
}

/* Clusters in memory and within each budget; every rep[] must be equal,
 * the runs removed. Returns the stats of the smallest budget (first). */
static cl_stats same_for_budgets(const char *const *s, const int *l, size_t n, const cl_opts *o,
                                 const size_t *budgets, int nb, const char *dir)
{
    uint32_t *ref = malloc(n * sizeof *ref), *rep = malloc(n * sizeof *rep);
    cl_stats st, first;
    ck_assert_int_eq(cl_cluster(s, l, n, o, ref, &st), TG_OK);
    size_t nc = st.n_clusters;
    memset(&first, 0, sizeof first);
    for (int k = 0; k < nb; k++) {
        cl_budget b = {budgets[k], dir};
        memset(rep, 0xff, n * sizeof *rep);
        ck_assert_msg(cl_cluster_budget(s, l, n, o, &b, rep, &st) == TG_OK, "%s", tg_last_error());
        ck_assert_msg(!memcmp(rep, ref, n * sizeof *rep), "budget %zu: clusters differ", budgets[k]);
        ck_assert_uint_eq(st.n_clusters, nc);
        if (budgets[k] >= (size_t)1 << 30) { /* fits: the in-memory linclust, no runs */
            ck_assert_uint_eq(st.kmer_runs, 0);
            ck_assert_uint_eq(st.spilled_bytes, 0);
        } else {
            ck_assert_uint_ge(st.kmer_runs, 1);
            ck_assert_uint_gt(st.spilled_bytes, 0);
        }
        ck_assert_int_eq(files_in(dir), 0);
        if (!k)
            first = st;
    }
    free(ref);
    free(rep);
    return first;
}

START_TEST(same_as_in_memory_synthetic)
{
    fixture f = fx_make(300, 20, 0.2, 7);
    const char *const *cs = (const char *const *)f.s;
    /* 1 byte: the smallest chunks (1020 entries: ~30 k-mer runs) */
    static const size_t budgets[] = {1, 100000, 300000, (size_t)1 << 30};
    double ids[] = {0.5, 0.8, 1.0};
    for (int t = 0; t < 3; t++) {
        cl_opts o;
        cl_opts_default(&o);
        o.min_seq_id = ids[t];
        o.threads = t == 1 ? 1 : 2;
        cl_stats st = same_for_budgets(cs, f.l, f.n, &o, budgets, 4, f.dir);
        printf("synthetic %.1f: %zu sequences, %zu clusters; 1-byte budget: %zu k-mer runs of %zu, "
               "%zu pair runs, %zu bytes spilled, floor %zu\n", ids[t], f.n, st.n_clusters,
               st.kmer_runs, st.chunk_entries, st.pair_runs, st.spilled_bytes, st.floor_bytes);
        ck_assert_uint_ge(st.kmer_runs, 20);
        ck_assert_uint_ge(st.pair_runs, t == 2 ? 1 : 5);
        ck_assert_uint_lt(st.budget, st.floor_bytes); /* it says the budget was too small */
    }
    /* other coverage modes and contiguous k-mers */
    for (int cm = 1; cm <= 2; cm++) {
        cl_opts o;
        cl_opts_default(&o);
        o.min_seq_id = 0.6;
        o.cov_mode = cm;
        o.coverage = 0.9;
        o.spaced_pattern = cm == 2 ? NULL : o.spaced_pattern;
        o.k = cm == 2 ? 5 : o.k;
        same_for_budgets(cs, f.l, f.n, &o, budgets, 2, f.dir);
    }
    fx_free(&f);
}
END_TEST

/* cl_dedup with one shard and within budgets that force many: the same
 * groups and unique list (synthetic families with many exact copies, and
 * one sequence repeated, whose bucket is larger than any budget), and the
 * shards within the budget but for such a bucket. */
START_TEST(dedup_same_in_shards)
{
    size_t nfam = 50, per = 200;
    size_t n = nfam * per + 3000;
    int *fl;
    char **fs = tu_families(nfam, per, 30, 0.02, 5, &fl); /* low mutation: many copies */
    const char **s = malloc(n * sizeof *s);
    int *l = malloc(n * sizeof *l);
    ck_assert(s && l);
    for (size_t i = 0; i < nfam * per; i++)
        s[i] = fs[i], l[i] = fl[i];
    for (size_t i = nfam * per; i < n; i++) /* one sequence, 3000 times */
        s[i] = fs[7], l[i] = fl[7];
    cl_arrays arr;
    const cl_src *src = cl_src_arrays(&arr, s, l, NULL);
    uint32_t *g0 = malloc(n * sizeof *g0), *g1 = malloc(n * sizeof *g1), *u0 = NULL, *u1 = NULL;
    size_t m0 = 0, m1 = 0, sh = 0;
    cl_trk t = {0, 0};
    ck_assert_int_eq(cl_dedup(&t, src, n, 0, g0, &u0, &m0, &sh), TG_OK);
    ck_assert_uint_eq(sh, 1);
    ck_assert_uint_lt(m0, n - 3000); /* copies were found */
    for (size_t i = 0; i < n; i++) /* a group's id is its lowest index's rank */
        ck_assert_uint_eq(u0[g0[i]] <= i, 1);
    size_t peak_one = t.peak;
    static const size_t budgets[] = {1, 5000, 60000, 200000};
    for (int k = 0; k < 4; k++) {
        cl_trk tk = {0, 0};
        ck_assert_int_eq(cl_dedup(&tk, src, n, budgets[k], g1, &u1, &m1, &sh), TG_OK);
        ck_assert_uint_eq(m1, m0);
        ck_assert_msg(!memcmp(g1, g0, n * sizeof *g0), "budget %zu: groups differ", budgets[k]);
        ck_assert_msg(!memcmp(u1, u0, m0 * sizeof *u0), "budget %zu: unique list differs",
                      budgets[k]);
        printf("dedup: %zu sequences, %zu distinct; budget %zu: %zu shards, peak %zu bytes (one "
               "shard: %zu)\n", n, m0, budgets[k], sh, tk.peak, peak_one);
        ck_assert_uint_gt(sh, 1);
        /* the counts, the hash block (a quarter of a shard, at least 1024),
         * the unique list, headers, and the shard within the budget but for
         * the bucket of the repeated sequence (24 bytes each) */
        size_t cap = budgets[k] / 24, blk;
        cap = cap < (n + 15) / 16 ? (n + 15) / 16 : cap; /* at most about 16 shards */
        blk = cap / 4 > 1024 ? cap / 4 : 1024;
        size_t shard = 24 * cap > 24 * 3100 ? 24 * cap : 24 * 3100;
        ck_assert_uint_le(tk.peak, 8 * 1024 + 8 * blk + 4 * m0 + 4096 + shard);
        ck_assert_uint_le(sh, 2 * 16 + 1);
        ck_assert_uint_lt(tk.peak, peak_one);
        cl_tfree(&tk, u1);
        ck_assert_uint_eq(tk.cur, 0);
    }
    cl_tfree(&t, u0);
    free(g0), free(g1), free(s), free(l);
    for (size_t i = 0; i < nfam * per; i++)
        free(fs[i]);
    free(fs), free(fl);
}
END_TEST

START_TEST(budget_kept)
{
    fixture f = fx_make(400, 30, 0.25, 11);
    const char *const *cs = (const char *const *)f.s;
    const int *l = f.l;
    size_t n = f.n;
    cl_opts o;
    cl_opts_default(&o);
    o.min_seq_id = 0.7;
    o.threads = 2;
    uint32_t *rep = malloc(n * sizeof *rep), *ref = malloc(n * sizeof *ref);
    ck_assert_int_eq(cl_cluster(cs, l, n, &o, ref, NULL), TG_OK);
    size_t budget = 600000;
    cl_budget b = {budget, f.dir};
    cl_stats st;
    ck_assert_msg(cl_cluster_budget(cs, l, n, &o, &b, rep, &st) == TG_OK, "%s", tg_last_error());
    ck_assert(!memcmp(rep, ref, n * sizeof *rep));
    printf("budget_kept: %zu sequences within %zu bytes: floor %zu, %zu entries per run, %zu "
           "k-mer runs, %zu pair runs, peak before the set cover %zu, graph %zu, peak %zu\n", n,
           budget, st.floor_bytes, st.chunk_entries, st.kmer_runs, st.pair_runs, st.spill_peak,
           st.graph_bytes, st.peak_bytes);
    ck_assert_uint_ge(budget, st.floor_bytes);
    ck_assert_uint_ge(st.kmer_runs, 4);                 /* 60000 entries do not fit */
    ck_assert_uint_le(st.chunk_entries * 25, budget);    /* the planned chunk */
    ck_assert_uint_le(st.spill_peak, budget);            /* measured: runs, merges, alignment */
    free(rep);
    free(ref);
    fx_free(&f);
}
END_TEST

START_TEST(spill_errors_name_the_file)
{
    fixture f = fx_make(100, 20, 0.2, 3);
    const char *const *cs = (const char *const *)f.s, *dir = f.dir;
    const int *l = f.l;
    size_t n = f.n;
    cl_opts o;
    cl_opts_default(&o);
    o.min_seq_id = 0.7;
    uint32_t *rep = malloc(n * sizeof *rep);
    cl_budget b = {1, dir};
    /* the k-mer runs' first write, a later one (pair or edge runs), the
     * pair file's creation: each an error naming the file, nothing left */
    int kinds[] = {TG_AFAULT_ENOSPC, TG_AFAULT_ENOSPC, TG_AFAULT_SHORT, TG_AFAULT_CREATE};
    long at[] = {1, 12, 3, 2};
    const char *names[] = {"cluster_kmer_runs", NULL, NULL, "cluster_pair_runs"};
    for (int f = 0; f < 4; f++) {
        tg_afile_fault(kinds[f], at[f]);
        int rc = cl_cluster_budget(cs, l, n, &o, &b, rep, NULL);
        ck_assert_msg(tg_afile_fault_fired(), "fault %d did not fire", f);
        tg_afile_fault(TG_AFAULT_OFF, 0);
        ck_assert_int_eq(rc, TG_ERR_IO);
        const char *msg = tg_last_error();
        ck_assert_msg(strstr(msg, dir) && strstr(msg, "No space left on device"), "%s", msg);
        if (names[f])
            ck_assert_msg(strstr(msg, names[f]), "%s", msg);
        ck_assert_int_eq(files_in(dir), 0);
    }
    /* a directory that does not exist */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/missing", dir);
    cl_budget nb = {1, bad};
    ck_assert_int_eq(cl_cluster_budget(cs, l, n, &o, &nb, rep, NULL), TG_ERR_IO);
    ck_assert_msg(strstr(tg_last_error(), bad), "%s", tg_last_error());
    free(rep);
    fx_free(&f);
}
END_TEST

/* Runs cl_cluster_budget (b: NULL in memory) with stderr in a file; returns
 * what it printed (malloc'ed). */
static char *stderr_of(const char *const *s, const int *l, size_t n, const cl_opts *o,
                       const cl_budget *b, uint32_t *rep)
{
    char *d = tu_tmpdir(), p[700];
    snprintf(p, sizeof p, "%s/err", d);
    fflush(stderr);
    int keep = dup(2), fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(keep >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    int rc = b ? cl_cluster_budget(s, l, n, o, b, rep, NULL) : cl_cluster(s, l, n, o, rep, NULL);
    fflush(stderr);
    dup2(keep, 2);
    close(keep);
    ck_assert_msg(rc == TG_OK, "%s", tg_last_error());
    char *text = tu_read_file(p);
    unlink(p);
    rmdir(d);
    free(d);
    return text;
}

/* A progress line of PHASE: "cluster: PHASE: D/T UNIT, R/s, P% done, ETA S s". */
static int has_line(const char *text, const char *phase, const char *unit)
{
    char pre[96];
    snprintf(pre, sizeof pre, "cluster: %s: ", phase);
    for (const char *q = strstr(text, pre); q; q = strstr(q + 1, pre)) {
        unsigned long long d, t;
        double r, pc, eta;
        char u[64];
        int got = sscanf(q + strlen(pre), "%llu/%llu %63[^,], %lf/s, %lf%% done, ETA %lf s", &d,
                         &t, u, &r, &pc, &eta);
        if (got == 6 && d <= t && !strcmp(u, unit) && r >= 0 && pc >= 0 && pc <= 100 && eta >= 0)
            return 1;
    }
    return 0;
}

/* Every linclust phase prints progress lines with rate and ETA, in memory
 * (k-mers, k-mer sort, pairs, pair sort, alignments) and within a budget
 * (k-mer runs, k-mer merge, alignments), at most one per progress_every
 * seconds (default 2: a run shorter than that prints none); the lines do
 * not change the clusters. */
START_TEST(progress_lines)
{
    fixture f = fx_make(1000, 20, 0.2, 11);
    const char *const *cs = (const char *const *)f.s;
    cl_opts o;
    cl_opts_default(&o);
    o.min_seq_id = 0.7;
    uint32_t *quiet = malloc(f.n * sizeof *quiet), *rep = malloc(f.n * sizeof *rep);
    ck_assert_int_eq(cl_cluster(cs, f.l, f.n, &o, quiet, NULL), TG_OK);
    o.progress = 1;
    o.progress_every = 1e-9;
    char *err = stderr_of(cs, f.l, f.n, &o, NULL, rep);
    ck_assert_mem_eq(rep, quiet, f.n * sizeof *rep);
    ck_assert_msg(has_line(err, "k-mers", "sequences"), "%.3000s", err);
    ck_assert_msg(has_line(err, "k-mer sort", "passes"), "%.3000s", err);
    ck_assert_msg(has_line(err, "pairs", "k-mer entries"), "%.3000s", err);
    ck_assert_msg(has_line(err, "pair sort", "passes"), "%.3000s", err);
    ck_assert_msg(has_line(err, "alignments", "pairs"), "%.3000s", err);
    free(err);
    cl_budget b = {1, f.dir};
    err = stderr_of(cs, f.l, f.n, &o, &b, rep);
    ck_assert_mem_eq(rep, quiet, f.n * sizeof *rep);
    ck_assert_msg(has_line(err, "k-mer runs", "sequences"), "%.3000s", err);
    ck_assert_msg(has_line(err, "k-mer merge", "entries"), "%.3000s", err);
    ck_assert_msg(has_line(err, "alignments", "pairs"), "%.3000s", err);
    free(err);
    /* the default interval: a run of milliseconds prints no progress line */
    o.progress_every = 0;
    err = stderr_of(cs, f.l, 200, &o, NULL, rep);
    ck_assert_msg(strstr(err, "cluster: 200 sequences") && !strstr(err, "% done"), "%.3000s", err);
    free(err);
    free(quiet);
    free(rep);
    fx_free(&f);
}
END_TEST

START_TEST(real_same_as_in_memory)
{
    const char *oas = tu_oas_dir();
    if (!oas) {
        tu_skip("real_same_as_in_memory", "../shared/data/oas-paired not found");
        return;
    }
    static const char *cols[] = {"cdr3_aa_heavy", "sequence_alignment_aa_heavy"};
    static const double ids[] = {1.0, 0.7};
    char *dir = tu_tmpdir();
    for (int c = 0; c < 2; c++) {
        cl_seqs q = {0};
        size_t skipped = 0;
        struct dirent **ents;
        int ne = scandir(oas, &ents, NULL, alphasort), units = 0;
        ck_assert_int_ge(ne, 0);
        for (int u = 0; u < ne; u++) { /* every unit, in name order */
            const char *nm = ents[u]->d_name;
            size_t nl = strlen(nm);
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", oas, nm);
            /* the CDRH3s of all units; heavy chains (slower to align) of 5 */
            if (nl > 7 && !strcmp(nm + nl - 7, ".csv.gz") && (c == 0 || units < 5))
                ck_assert_msg(cl_seqs_read_column(&q, path, cols[c], &skipped) == TG_OK, "%s",
                              tg_last_error()), units++;
            free(ents[u]);
        }
        free(ents);
        ck_assert_int_gt(units, 0);
        size_t n = q.n;
        ck_assert_uint_gt(n, 1000);
        const char **p = malloc(n * sizeof *p);
        int *l = malloc(n * sizeof *l);
        for (size_t i = 0; i < n; i++) {
            p[i] = cl_seqs_seq(&q, i);
            l[i] = cl_seqs_len(&q, i);
        }
        cl_opts o;
        cl_opts_default(&o);
        o.min_seq_id = ids[c];
        o.threads = 2;
        static const size_t budgets[] = {1, 200000};
        cl_stats st = same_for_budgets(p, l, n, &o, budgets, 2, dir);
        printf("real %s at %.1f: %zu sequences, %zu clusters, same with %zu k-mer runs and %zu "
               "pair runs (%zu bytes spilled)\n", cols[c], ids[c], n, st.n_clusters, st.kmer_runs,
               st.pair_runs, st.spilled_bytes);
        ck_assert_uint_ge(st.kmer_runs, 10);
        free(p);
        free(l);
        cl_seqs_free(&q);
    }
    rmdir(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster_spill");
    TCase *tc = tcase_create("cluster_spill");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, same_as_in_memory_synthetic);
    tcase_add_test(tc, dedup_same_in_shards);
    tcase_add_test(tc, budget_kept);
    tcase_add_test(tc, spill_errors_name_the_file);
    tcase_add_test(tc, progress_lines);
    tcase_add_test(tc, real_same_as_in_memory);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
