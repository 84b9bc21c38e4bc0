/* cluster: the member invariant checked by the independent reference
 * alignment (ref_align.h), identical/empty/short/X/lowercase inputs,
 * determinism, missed merges on real CDRH3s, and the temporary files a
 * killed `ablm cluster` leaves, removed by its next run. */
#include "cluster.h"
#include "cluster_io.h"
#include "cluster_util.h"
#include "commands.h"
#include "fsutil.h"
#include "ref_align.h"
#include "testutil.h"
#include "tg.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* Checks rep[] is a valid assignment and every member passes against its
 * representative by the reference alignment; returns the violation count. */
static size_t invariant_violations(const char *const *s, const int *l, size_t n, const uint32_t *rep,
                                   const cl_opts *o)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_lt(rep[i], n);
        ck_assert_uint_eq(rep[rep[i]], rep[i]);
        if (rep[i] != i)
            bad += !ref_passes(&o->aln, s[rep[i]], l[rep[i]], s[i], l[i], o->min_seq_id, o->coverage,
                               o->cov_mode);
    }
    return bad;
}

static void run_both(const char *const *s, const int *l, size_t n, double id, uint32_t *rep_lin,
                     uint32_t *rep_gr)
{
    cl_opts o;
    cl_opts_default(&o);
    o.min_seq_id = id;
    cl_stats st;
    ck_assert_int_eq(cl_cluster(s, l, n, &o, rep_lin, &st), TG_OK);
    ck_assert_uint_eq(invariant_violations(s, l, n, rep_lin, &o), 0);
    o.mode = CL_GREEDY;
    ck_assert_int_eq(cl_cluster(s, l, n, &o, rep_gr, &st), TG_OK);
    ck_assert_uint_eq(invariant_violations(s, l, n, rep_gr, &o), 0);
}

START_TEST(edge_inputs)
{
    const char *s[] = {"", "", "A", "a", "W", "CARGDYW", "cargdyw", "XXXX", "xXxX", "CARGDYWXB", "CARGDYWXZ",
                       "CAKGDYW"};
    size_t n = sizeof s / sizeof *s;
    int l[sizeof s / sizeof *s];
    for (size_t i = 0; i < n; i++)
        l[i] = (int)strlen(s[i]);
    uint32_t a[16], b[16];
    for (int k = 0; k < 3; k++) {
        double id = k == 0 ? 1.0 : k == 1 ? 0.7 : 0.0;
        run_both(s, l, n, id, a, b);
        /* identical (case-insensitive, X for non-standard) always merge */
        for (uint32_t *r = a; r; r = r == a ? b : NULL) {
            ck_assert_uint_eq(r[0], r[1]);
            ck_assert_uint_eq(r[2], r[3]);
            ck_assert_uint_eq(r[5], r[6]);
            ck_assert_uint_eq(r[7], r[8]);
            ck_assert_uint_eq(r[9], r[10]);
            ck_assert_uint_ne(r[2], r[4]); /* A vs W never pass */
            ck_assert_uint_ne(r[0], r[2]); /* empty vs non-empty never pass */
        }
    }
    /* a single sequence, and no sequences */
    uint32_t one;
    cl_opts o;
    cl_opts_default(&o);
    o.min_seq_id = 0.5;
    cl_stats st;
    ck_assert_int_eq(cl_cluster(s + 5, l + 5, 1, &o, &one, &st), TG_OK);
    ck_assert_uint_eq(one, 0);
    ck_assert_uint_eq(st.n_clusters, 1);
    ck_assert_int_eq(cl_cluster(NULL, NULL, 0, &o, NULL, &st), TG_OK);
    ck_assert_uint_eq(st.n_clusters, 0);
    /* all identical: one cluster, rep is sequence 0 */
    const char *same[50];
    int sl[50];
    uint32_t r[50];
    for (int i = 0; i < 50; i++)
        same[i] = "CARDRGYSSGWYFDYW", sl[i] = 16;
    for (int mode = 0; mode < 2; mode++) {
        o.mode = mode ? CL_GREEDY : CL_LINCLUST;
        o.min_seq_id = 1.0;
        o.coverage = 1.0;
        ck_assert_int_eq(cl_cluster(same, sl, 50, &o, r, &st), TG_OK);
        for (int i = 0; i < 50; i++)
            ck_assert_uint_eq(r[i], 0);
        ck_assert_uint_eq(st.n_clusters, 1);
    }
    /* bad options are rejected with a message */
    o.min_seq_id = 1.5;
    ck_assert_int_eq(cl_cluster(same, sl, 50, &o, r, &st), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "min-seq-id"));
    cl_opts_default(&o);
    o.spaced_pattern = "1101";
    ck_assert_int_eq(cl_cluster(same, sl, 50, &o, r, &st), TG_ERR_ARG);
}
END_TEST

START_TEST(families_invariant_and_determinism)
{
    int *l;
    size_t n = 60 * 25;
    char **s = tu_families(60, 25, 30, 0.25, 5, &l);
    uint32_t *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4);
    const double ids[] = {0.5, 0.7, 0.9};
    for (int ii = 0; ii < 3; ii++)
        for (int mode = 0; mode < 2; mode++)
            for (int cm = 0; cm < 3; cm++) {
                cl_opts o;
                cl_opts_default(&o);
                o.mode = mode ? CL_GREEDY : CL_LINCLUST;
                o.min_seq_id = ids[ii];
                o.cov_mode = cm;
                o.threads = 2;
                cl_stats st;
                ck_assert_int_eq(cl_cluster((const char *const *)s, l, n, &o, a, &st), TG_OK);
                ck_assert_uint_eq(invariant_violations((const char *const *)s, l, n, a, &o), 0);
                ck_assert_int_eq(cl_cluster((const char *const *)s, l, n, &o, b, NULL), TG_OK);
                ck_assert_mem_eq(a, b, n * 4);
                o.threads = 1; /* same result on one thread */
                ck_assert_int_eq(cl_cluster((const char *const *)s, l, n, &o, c, NULL), TG_OK);
                ck_assert_mem_eq(a, c, n * 4);
                ck_assert_uint_gt(st.n_clusters, 0);
                ck_assert_uint_lt(st.n_clusters, n); /* families do merge */
                size_t v;
                ck_assert_int_eq(cl_check_members((const char *const *)s, l, n, a, &o, &v), TG_OK);
                ck_assert_uint_eq(v, 0);
            }
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
    free(l);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(missed_merges_detects)
{
    /* a clustering that leaves every sequence alone has missed merges for
     * every family member; one that merges identical only has none at 1.0 */
    int *l;
    size_t n = 20 * 5;
    char **s = tu_families(20, 5, 20, 0.0, 9, &l);
    uint32_t *rep = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        rep[i] = (uint32_t)i;
    cl_opts o;
    cl_opts_default(&o);
    o.min_seq_id = 0.9;
    cl_missed mm;
    ck_assert_int_eq(cl_missed_merges((const char *const *)s, l, n, rep, &o, 50, 1, &mm), TG_OK);
    ck_assert_uint_eq(mm.sampled, 50);
    ck_assert_uint_eq(mm.missed, 50);
    ck_assert_int_eq(cl_cluster((const char *const *)s, l, n, &o, rep, NULL), TG_OK);
    ck_assert_int_eq(cl_missed_merges((const char *const *)s, l, n, rep, &o, 1000, 1, &mm), TG_OK);
    ck_assert_uint_eq(mm.sampled, 20);
    ck_assert_uint_eq(mm.missed, 0);
    rep[1] = 2; /* 2 is not its own representative any more? it is: make it invalid */
    rep[2] = 3;
    ck_assert_int_eq(cl_missed_merges((const char *const *)s, l, n, rep, &o, 10, 1, &mm), TG_ERR_ARG);
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
    free(l);
    free(rep);
}
END_TEST

/* Field `col` of a CSV line with quoted fields into out (cap bytes). */
static int csv_field(const char *line, int col, char *out, size_t cap)
{
    int f = 0;
    size_t o = 0;
    int q = 0;
    for (const char *p = line; *p && *p != '\n' && *p != '\r'; p++) {
        if (q) {
            if (*p == '"' && p[1] == '"')
                p++;
            else if (*p == '"') {
                q = 0;
                continue;
            }
        } else if (*p == '"') {
            q = 1;
            continue;
        } else if (*p == ',') {
            if (f == col)
                break;
            f++;
            continue;
        }
        if (f == col && o + 1 < cap)
            out[o++] = *p;
    }
    out[o] = 0;
    return f == col ? 0 : -1;
}

/* Reads the cdr3_aa_heavy column of every OAS unit in dir (sorted names). */
static size_t load_cdr3(const char *dir, char ***out, int **lout)
{
    struct dirent **ents;
    int ne = scandir(dir, &ents, NULL, alphasort);
    ck_assert_int_ge(ne, 0);
    size_t n = 0, cap = 1024;
    char **s = malloc(cap * sizeof *s);
    int *l = malloc(cap * sizeof *l);
    char *line = malloc(1 << 20), field[256], path[4096];
    for (int e = 0; e < ne; e++) {
        const char *nm = ents[e]->d_name;
        size_t nl = strlen(nm);
        if (nl > 7 && !strcmp(nm + nl - 7, ".csv.gz")) {
            snprintf(path, sizeof path, "%s/%s", dir, nm);
            gzFile z = gzopen(path, "rb");
            ck_assert_ptr_nonnull(z);
            int col = -1;
            if (gzgets(z, line, 1 << 20) && gzgets(z, line, 1 << 20))
                for (int c = 0; csv_field(line, c, field, sizeof field) == 0; c++)
                    if (!strcmp(field, "cdr3_aa_heavy"))
                        col = c;
            ck_assert_int_ge(col, 0);
            while (gzgets(z, line, 1 << 20)) {
                if (csv_field(line, col, field, sizeof field) || !field[0])
                    continue;
                if (n == cap) {
                    cap *= 2;
                    s = realloc(s, cap * sizeof *s);
                    l = realloc(l, cap * sizeof *l);
                }
                s[n] = strdup(field);
                l[n++] = (int)strlen(field);
            }
            gzclose(z);
        }
        free(ents[e]);
    }
    free(ents);
    free(line);
    *out = s;
    *lout = l;
    return n;
}

START_TEST(real_cdrh3)
{
    const char *dir = tu_oas_dir();
    if (!dir) {
        tu_skip("real_cdrh3", "../shared/data/oas-paired not found");
        return;
    }
    char **s;
    int *l;
    size_t n = load_cdr3(dir, &s, &l);
    ck_assert_uint_gt(n, 10000);
    uint32_t *rep = malloc(n * 4);
    const char *const *cs = (const char *const *)s;
    for (int mode = 0; mode < 2; mode++) {
        cl_opts o;
        cl_opts_default(&o);
        o.mode = mode ? CL_GREEDY : CL_LINCLUST;
        o.min_seq_id = 0.7;
        o.threads = 2;
        cl_stats st;
        ck_assert_int_eq(cl_cluster(cs, l, n, &o, rep, &st), TG_OK);
        ck_assert_uint_eq(invariant_violations(cs, l, n, rep, &o), 0);
        cl_missed mm;
        ck_assert_int_eq(cl_missed_merges(cs, l, n, rep, &o, 400, 42, &mm), TG_OK);
        printf("real_cdrh3 %s 0.7: %zu sequences, %zu unique, %zu clusters, %.2fs, %zu alignments, peak %zu bytes, missed merges %zu/%zu (%.1f%%)\n",
               mode ? "greedy" : "linclust", n, st.n_unique, st.n_clusters, st.seconds, st.n_alignments,
               st.peak_bytes, mm.missed, mm.sampled, 100 * mm.rate);
        if (mode)
            ck_assert_double_lt(mm.rate, 0.05);
    }
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
    free(l);
    free(rep);
}
END_TEST

/* LCS by dynamic programming (the reference for the bit-parallel forms). */
static int lcs_dp(const uint8_t *a, int la, const uint8_t *b, int lb)
{
    int *row = calloc((size_t)lb + 1, sizeof *row);
    for (int i = 0; i < la; i++) {
        int diag = 0;
        for (int j = 0; j < lb; j++) {
            int up = row[j + 1];
            row[j + 1] = a[i] == b[j] ? diag + 1 : (up > row[j] ? up : row[j]);
            diag = up;
        }
    }
    int r = row[lb];
    free(row);
    return r;
}

START_TEST(lcs_bounds)
{
    tg_rng g;
    tg_rng_seed(&g, 9);
    uint8_t a[700], b[700];
    for (int it = 0; it < 600; it++) {
        int la = (int)(tg_rng_next(&g) % (it < 300 ? 70 : 600)), lb = (int)(tg_rng_next(&g) % 600);
        int alpha = it % 3 == 0 ? 2 : 21;
        for (int i = 0; i < la; i++)
            a[i] = (uint8_t)(tg_rng_next(&g) % (uint64_t)alpha);
        for (int i = 0; i < lb; i++)
            b[i] = (uint8_t)(tg_rng_next(&g) % (uint64_t)alpha);
        int shorter = la < lb ? la : lb;
        int want = shorter > 512 ? shorter : lcs_dp(a, la, b, lb);
        ck_assert_int_eq(cl_lcs_bound(a, la, b, lb), want);
        ck_assert_int_eq(cl_lcs_bound(b, lb, a, la), want);
        if (la <= 64 && lb >= 4) { /* interleaved form */
            uint64_t pm[ALN_ALPHABET];
            cl_lcs_prepare(a, la, pm);
            const uint8_t *bs[4] = {b, b + 1, b + 2, b + 3};
            int lbs[4] = {lb, lb - 1, lb - 3, lb - 4}, out[4];
            cl_lcs_pm4(pm, la, bs, lbs, out);
            for (int x = 0; x < 4; x++)
                ck_assert_int_eq(out[x], lcs_dp(a, la, bs[x], lbs[x]));
        }
    }
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(column_input)
{
    char *dir = tu_tmpdir();
    char airr[4096], pairedf[4096], fa[4096];
    snprintf(airr, sizeof airr, "%s/a.tsv", dir);
    snprintf(pairedf, sizeof pairedf, "%s/p.csv", dir);
    snprintf(fa, sizeof fa, "%s/x.fasta", dir);
    write_file(airr, "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n"
                     "s1\tEVQLVESGGGLVQPGGSLRLSCAAS\tARDYW\tIGH\n"
                     "s2\tEVQLVESGGGLVQPGGSLRLSCAAT\t\tIGH\n"
                     "s3\tDIQMTQSPSSLSASVGDRVTITC\tQQYNSYPLT\tIGK\n");
    write_file(pairedf, "sequence_alignment_aa_heavy,cdr3_aa_heavy,sequence_alignment_aa_light,cdr3_aa_light\n"
                        "EVQLVESGG,ARDY,DIQMTQ,QQYN\n"
                        "QVQLQESGP,ARGG,EIVLTQ,QQSY\n");
    write_file(fa, ">a\nACDEFGHIK\n");
    cl_seqs s = {0};
    size_t skipped = 0;
    ck_assert_int_eq(cl_seqs_read_column(&s, airr, "cdr3_aa", &skipped), TG_OK);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_uint_eq(skipped, 1);
    ck_assert_str_eq(cl_seqs_seq(&s, 0), "ARDYW");
    ck_assert_str_eq(cl_seqs_seq(&s, 1), "QQYNSYPLT");
    ck_assert_str_eq(cl_seqs_name(&s, 0), "s1"); /* the sequence_id cells */
    ck_assert_str_eq(cl_seqs_name(&s, 1), "s3");
    ck_assert_int_eq(cl_seqs_read_column(&s, airr, "sequence_alignment_aa_heavy", &skipped), TG_OK);
    ck_assert_uint_eq(s.n, 4); /* s1, s2 (IGH rows) appended */
    ck_assert_str_eq(cl_seqs_seq(&s, 3), "EVQLVESGGGLVQPGGSLRLSCAAT");
    cl_seqs_free(&s);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(cl_seqs_read_column(&s, pairedf, "cdr3_aa_light", &skipped), TG_OK);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_str_eq(cl_seqs_seq(&s, 1), "QQSY");
    ck_assert_str_eq(cl_seqs_name(&s, 1), "p.csv:3"); /* no sequence_id column: FILE:LINE */
    ck_assert_int_eq(cl_seqs_read_column(&s, pairedf, "sequence_alignment_aa_heavy", &skipped), TG_OK);
    ck_assert_str_eq(cl_seqs_seq(&s, 3), "QVQLQESGP");
    /* paired data without a chain, FASTA, and unknown names are errors */
    ck_assert_int_eq(cl_seqs_read_column(&s, pairedf, "cdr3_aa", &skipped), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "cdr3_aa_heavy"));
    ck_assert_int_eq(cl_seqs_read_column(&s, fa, "cdr3_aa", &skipped), TG_ERR_ARG);
    ck_assert_int_eq(cl_seqs_read_column(&s, airr, "junk", &skipped), TG_ERR_ARG);
    ck_assert_uint_eq(s.n, 4);
    /* a table without --column, and FASTA read as FASTA: names are the ids */
    ck_assert_int_eq(cl_seqs_read(&s, airr), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "a.tsv: a table (airr): name the field to "
                                                  "cluster with --column"));
    ck_assert_int_eq(cl_seqs_read(&s, fa), TG_OK);
    ck_assert_uint_eq(s.n, 5);
    ck_assert_str_eq(cl_seqs_name(&s, 4), "a");
    ck_assert_str_eq(cl_seqs_seq(&s, 4), "ACDEFGHIK");
    cl_seqs_free(&s);
    free(dir);
}
END_TEST

/* Entries of dir whose name has ".PID.tmp." in it, their names into
 * names[0..max) (malloc'ed) and their bytes into *bytes; returns how many. */
static int pid_temps(const char *dir, long pid, char **names, int max, long *bytes)
{
    char key[64];
    snprintf(key, sizeof key, ".%ld.tmp.", pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    *bytes = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, key)) {
            ck_assert_int_lt(n, max);
            names[n++] = strdup(e->d_name);
            *bytes += tu_file_size(dir, e->d_name);
        }
    closedir(d);
    return n;
}

/* A killed `ablm cluster` (the binary, SIGKILLed in its first commit by
 * ABLM_FAULT_KILL_AT_COMMIT=1: PREFIX_cluster.tsv's data written, before
 * the rename) leaves its outputs' temp files named with its PID; the next
 * run on the same prefix removes those and a dead PID's report.json temp
 * file and says how many and how many bytes, and keeps a live process's,
 * other prefixes' and other names' files, malformed tails and a temp name
 * without a PID (no lock tells whose it is). Once the live process is
 * gone, the run after removes its file too. */
START_TEST(stale_output_temps_removed)
{
    char *dir = tu_tmpdir(), fa[4096], x[4096], bin[4096], errp[4096];
    snprintf(fa, sizeof fa, "%s/in.fasta", dir);
    snprintf(errp, sizeof errp, "%s/err", dir);
    snprintf(x, sizeof x, "%s/x", dir);
    tu_write_chains(fa, 40, 20, 10, 5, 1);
    ck_assert_ptr_nonnull(getenv("ABLM_BUILD_DIR"));
    snprintf(bin, sizeof bin, "%s/ablm", getenv("ABLM_BUILD_DIR"));
    fflush(stdout);
    pid_t dead = fork();
    ck_assert_int_ge(dead, 0);
    if (dead == 0) {
        char log[4200];
        snprintf(log, sizeof log, "%s/killed.log", dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("ABLM_FAULT_KILL_AT_COMMIT", "1", 1);
        execl(bin, bin, "cluster", "--input", fa, "--min-seq-id", "0.5", "--out", x, (char *)NULL);
        _exit(127);
    }
    int ws;
    ck_assert_int_eq(waitpid(dead, &ws, 0), dead); /* dead: a PID with no process now */
    ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "the run was not killed (%d)", ws);
    ck_assert_int_eq(tu_file_size(dir, "x_cluster.tsv"), -1);
    char *killed[4];
    long killed_bytes;
    ck_assert_int_eq(pid_temps(dir, (long)dead, killed, 4, &killed_bytes), 2);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(!strncmp(killed[i], "x_cluster.tsv.", 14) ||
                          !strncmp(killed[i], "x_rep_seq.fasta.", 16), "%s", killed[i]);
    ck_assert_int_gt(killed_bytes, 0); /* the TSV was written */
    pid_t live = (pid_t)tu_live_child(); /* a live process: a run that is still writing */
    char stale[64], keep[7][64];
    snprintf(stale, 64, "x_report.json.%ld.tmp.AbC123", (long)dead);
    snprintf(keep[0], 64, "x_cluster.tsv.%ld.tmp.Ef34Gh", (long)live);
    snprintf(keep[1], 64, "y_cluster.tsv.%ld.tmp.AbC123", (long)dead);   /* another prefix */
    snprintf(keep[2], 64, "x_notes.txt.%ld.tmp.AbC123", (long)dead);     /* not an output */
    snprintf(keep[3], 64, "x_cluster.tsv.%ld.tmp.short", (long)dead);    /* not mkstemp's tail */
    snprintf(keep[4], 64, "x_rep_seq.fasta.%ld.tmp.AbC123x", (long)dead);
    snprintf(keep[5], 64, "x_cluster.tsv.x%ld.tmp.AbC123", (long)dead);
    snprintf(keep[6], 64, "x_cluster.tsv.tmp.AbC123");                   /* no PID */
    tu_put_bytes(dir, stale, 100);
    for (int i = 0; i < 7; i++)
        tu_put_bytes(dir, keep[i], 7);

    ck_assert_int_eq(tu_run_in(dir, cmd_cluster, "cluster", "--input", fa, "--min-seq-id", "0.5",
                               "--out", x, NULL),
                     0);
    char *err = tu_read_file(errp), want[4400];
    snprintf(want, sizeof want, "ablm cluster: removed 3 stale temporary files (%ld bytes) left "
             "in %s by a run that was stopped\n", killed_bytes + 100, dir);
    ck_assert_msg(strstr(err, want), "want '%s' in:\n%s", want, err);
    free(err);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(tu_file_size(dir, killed[i]) == -1, "%s not removed", killed[i]);
        free(killed[i]);
    }
    ck_assert_msg(tu_file_size(dir, stale) == -1, "%s not removed", stale);
    for (int i = 0; i < 7; i++)
        ck_assert_msg(tu_file_size(dir, keep[i]) == 7, "%s removed", keep[i]);
    ck_assert_int_gt(tu_file_size(dir, "x_cluster.tsv"), 0);
    ck_assert_int_gt(tu_file_size(dir, "x_rep_seq.fasta"), 0);
    long own;
    ck_assert_int_eq(pid_temps(dir, (long)getpid(), killed, 4, &own), 0); /* committed */

    /* the live run's file goes once its process is gone */
    kill(live, SIGKILL);
    ck_assert_int_eq(waitpid(live, NULL, 0), live);
    ck_assert_int_eq(tu_run_in(dir, cmd_cluster, "cluster", "--input", fa, "--min-seq-id", "0.5",
                               "--out", x, NULL),
                     0);
    err = tu_read_file(errp);
    snprintf(want, sizeof want, "removed 1 stale temporary file (7 bytes) left in %s", dir);
    ck_assert_msg(strstr(err, want), "want '%s' in:\n%s", want, err);
    free(err);
    ck_assert_int_eq(tu_file_size(dir, keep[0]), -1);
    for (int i = 1; i < 7; i++)
        ck_assert_msg(tu_file_size(dir, keep[i]) == 7, "%s removed", keep[i]);
    ck_assert_int_eq(fs_remove_tree(dir), 0);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("cluster");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, edge_inputs);
    tcase_add_test(tc, column_input);
    tcase_add_test(tc, stale_output_temps_removed);
    tcase_add_test(tc, lcs_bounds);
    tcase_add_test(tc, families_invariant_and_determinism);
    tcase_add_test(tc, missed_merges_detects);
    tcase_add_test(tc, real_cdrh3);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
