/* --engine mmseqs (examples/cluster_mmseqs.h): MMseqs2 easy-linclust on real
 * CDRH3s and heavy chains, ids back exactly, the member check against an
 * independent alignment, prepare end to end, and the failure messages.
 * Cases that run MMseqs2 need the mmseqs2 package (scripts/ensure-deps.sh
 * mmseqs2, done by test.sh) and ../shared: they are SKIPped otherwise. */
#include "cluster_mmseqs.h"
#include "commands.h"
#include "fsutil.h"
#include "ref_align.h"
#include "reader.h"
#include "strmap.h"
#include "tg.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static char pbuf[8][1200];
static int pk;

static const char *path(const char *name)
{
    char *p = pbuf[pk++ % 8];
    snprintf(p, sizeof pbuf[0], "%s/%s", dir, name);
    return p;
}

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void)
{
    fs_remove_tree(dir);
    free(dir);
    dir = NULL;
}

/* Runs an ablm subcommand, stdout to dir/out and stderr to dir/err. */
#define run(fn, ...) tu_run_in(dir, fn, __VA_ARGS__)

/* 1 when MMseqs2 and the OAS units are here; else marks the case skipped. */
static int have_mmseqs_and_data(const char *test)
{
    mm_tool t;
    if (mm_find(&t, NULL)) {
        tu_skip(test, "mmseqs not found (install: scripts/ensure-deps.sh mmseqs2)");
        return 0;
    }
    mm_tool_free(&t);
    if (!tu_oas_dir()) {
        tu_skip(test, "../shared/data/oas-paired not found");
        return 0;
    }
    return 1;
}

static const char *unit(int k)
{
    static const char *names[] = {"SRR10358523_paired.csv.gz", "SRR10358525_paired.csv.gz"};
    static char p[2][1024];
    snprintf(p[k], sizeof p[k], "%s/%s", tu_oas_dir(), names[k]);
    return p[k];
}

/* The heavy-chain ids and sequences of both units, read with the data
 * reader; the ids must be unique over both (so they are the names). */
typedef struct {
    char **ids[2], **seqs[2];
    size_t n[2];
    sm_map idx; /* id -> (unit << 24 | row) */
} units;

static void units_read(units *u)
{
    sm_init(&u->idx);
    for (int f = 0; f < 2; f++) {
        ck_assert_int_eq(rd_read_all(unit(f), NULL, &u->ids[f], &u->seqs[f], &u->n[f], NULL), TG_OK);
        for (size_t i = 0; i < u->n[f]; i++)
            ck_assert_int_eq(sm_put(&u->idx, u->ids[f][i], (int)strlen(u->ids[f][i]),
                                    (uint32_t)(f << 24 | (int)i), NULL), 1);
    }
}

static void units_free(units *u)
{
    for (int f = 0; f < 2; f++) {
        rd_free_strings(u->ids[f], u->n[f]);
        rd_free_strings(u->seqs[f], u->n[f]);
    }
    sm_free(&u->idx);
}

/* Cluster TSV lines as (rep, member) string pairs; *n gets the count. */
static char **tsv_pairs(const char *p, size_t *n)
{
    char *t = tu_read_file(p);
    size_t cap = 16;
    char **v = malloc(cap * sizeof *v);
    *n = 0;
    for (char *l = t, *nl; (nl = strchr(l, '\n')); l = nl + 1) {
        *nl = '\0';
        char *tab = strchr(l, '\t');
        ck_assert_msg(tab != NULL, "%s: line without a tab", p);
        *tab = '\0';
        if (*n + 2 > cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = strdup(l);
        v[(*n)++] = strdup(tab + 1);
    }
    free(t);
    *n /= 2;
    return v;
}

static void pairs_free(char **v, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++)
        free(v[i]);
    free(v);
}

/* Every id of map once as a member, every representative its own first. */
static void members_exactly(char **pr, size_t n, const sm_map *ids, const char *what)
{
    ck_assert_msg(n == ids->n, "%s: %zu members for %zu input ids", what, n, ids->n);
    sm_map seen, reps;
    sm_init(&seen);
    sm_init(&reps);
    for (size_t i = 0; i < n; i++) {
        const char *r = pr[2 * i], *m = pr[2 * i + 1];
        uint32_t v;
        ck_assert_msg(sm_get(ids, m, (int)strlen(m), &v), "%s: unknown member %s", what, m);
        ck_assert_msg(sm_put(&seen, m, (int)strlen(m), 0, NULL) == 1, "%s: %s twice", what, m);
        ck_assert_msg(sm_get(ids, r, (int)strlen(r), &v), "%s: unknown rep %s", what, r);
        if (!strcmp(r, m))
            sm_put(&reps, r, (int)strlen(r), 0, NULL);
    }
    for (size_t i = 0; i < n; i++) { /* a representative is a member of itself */
        const char *r = pr[2 * i];
        uint32_t v;
        ck_assert_msg(sm_get(&reps, r, (int)strlen(r), &v), "%s: rep %s not its own member", what, r);
    }
    sm_free(&seen);
    sm_free(&reps);
}

static const cJSON *json_file(const char *p, cJSON **root)
{
    char *t = tu_read_file(p);
    *root = cJSON_Parse(t);
    free(t);
    ck_assert_msg(*root != NULL, "%s: not JSON", p);
    return *root;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "no number %s", k);
    return v->valuedouble;
}

/* No .ablm-mmseqs.* working directory left in d. */
static void no_temp_left(const char *d)
{
    DIR *dd = opendir(d);
    ck_assert_ptr_nonnull(dd);
    struct dirent *e;
    while ((e = readdir(dd)))
        ck_assert_msg(strncmp(e->d_name, ".ablm-mmseqs.", 13), "%s/%s left behind", d, e->d_name);
    closedir(dd);
}

#define REF_FLAGS "easy-linclust"
#define REF_SETTINGS "--kmer-per-seq 5 -k 6 --spaced-kmer-mode 1 --spaced-kmer-pattern 11011101 " \
                     "--sub-mat VTML40.out --gap-open 16 --gap-extend 2"

/* The member check of report (cluster TSV pairs of sequences seq_of())
 * recounted here with align.h, and the worst member and a few others
 * cross-checked with the independent reference alignment. */
static void check_member_report(const cJSON *rep, char **pr, size_t n, const sm_map *seq_idx,
                                char ***seqs, double id, double cov, size_t *below_out)
{
    aln_params ap;
    aln_params_default(&ap);
    const cJSON *mc = cJSON_GetObjectItem(rep, "member_check");
    ck_assert_ptr_nonnull(mc);
    size_t members = 0, below = 0, below_id = 0, crossed = 0;
    double lo = 1.0;
    for (size_t i = 0; i < n; i++) {
        const char *r = pr[2 * i], *m = pr[2 * i + 1];
        if (!strcmp(r, m))
            continue;
        members++;
        uint32_t vr, vm;
        ck_assert(sm_get(seq_idx, r, (int)strlen(r), &vr));
        ck_assert(sm_get(seq_idx, m, (int)strlen(m), &vm));
        const char *sr = seqs[vr >> 24][vr & 0xffffff], *sm = seqs[vm >> 24][vm & 0xffffff];
        aln_result a;
        ck_assert_int_eq(aln_align(&ap, sr, (int)strlen(sr), sm, (int)strlen(sm), &a), TG_OK);
        int pass = aln_passes(&a, id, cov, 0);
        below += !pass;
        below_id += a.identity < id - 1e-9;
        if (a.identity < lo)
            lo = a.identity;
        if (crossed < 12 && (!pass || crossed < 4)) { /* failures mostly */
            ck_assert_int_eq(ref_passes(&ap, sr, (int)strlen(sr), sm, (int)strlen(sm), id, cov, 0), pass);
            crossed++;
        }
    }
    ck_assert_double_eq(jnum(mc, "members"), (double)members);
    ck_assert_double_eq(jnum(mc, "checked"), (double)members);
    ck_assert_double_eq(jnum(mc, "below_threshold"), (double)below);
    ck_assert_double_eq(jnum(mc, "below_min_seq_id"), (double)below_id);
    ck_assert_double_eq_tol(jnum(mc, "min_identity"), lo, 1e-12);
    /* the worst member's identity by the reference alignment */
    const char *w = cJSON_GetStringValue(cJSON_GetObjectItem(mc, "worst_member"));
    ck_assert_ptr_nonnull(w);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(pr[2 * i + 1], w)) {
            uint32_t vr, vm;
            sm_get(seq_idx, pr[2 * i], (int)strlen(pr[2 * i]), &vr);
            sm_get(seq_idx, w, (int)strlen(w), &vm);
            const char *sr = seqs[vr >> 24][vr & 0xffffff], *sm = seqs[vm >> 24][vm & 0xffffff];
            ref_aln ra = ref_align(&ap, sr, (int)strlen(sr), sm, (int)strlen(sm));
            ck_assert_double_eq_tol((double)ra.matches / ra.cols, lo, 1e-12);
        }
    *below_out = below;
}

START_TEST(cluster_heavy_chains)
{
    if (!have_mmseqs_and_data("cluster_heavy_chains"))
        return;
    units u;
    units_read(&u);
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--input", unit(0), unit(1),
                         "--column", "sequence_alignment_aa_heavy", "--min-seq-id", "0.7",
                         "--threads", "2", "--out", path("h"), NULL),
                     0);
    size_t n, below;
    char **pr = tsv_pairs(path("h_cluster.tsv"), &n);
    members_exactly(pr, n, &u.idx, "heavy chains");
    cJSON *root;
    const cJSON *rep = json_file(path("h_report.json"), &root);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(rep, "engine")), "mmseqs");
    const char *cmd = cJSON_GetStringValue(cJSON_GetObjectItem(rep, "command"));
    ck_assert_ptr_nonnull(strstr(cmd, REF_FLAGS));
    ck_assert_ptr_nonnull(strstr(cmd, REF_SETTINGS " --min-seq-id 0.7 -c 0.8 --cov-mode 0 --threads 2"));
    ck_assert(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(rep, "mmseqs_version"))) > 0);
    check_member_report(rep, pr, n, &u.idx, u.seqs, 0.7, 0.8, &below);
    ck_assert_msg(below > 0, "MMseqs2 linclust estimates identity from the score: some members "
                  "of real heavy chains fall below 70%% by alignment");
    /* the stderr summary says the same */
    char *err = tu_read_file(path("err"));
    char want[128];
    snprintf(want, sizeof want, "MMseqs2 put %zu of ", below);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    free(err);
    /* a sample of the members (--check-members), and --check failing on them */
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--input", unit(0), unit(1),
                         "--column", "sequence_alignment_aa_heavy", "--min-seq-id", "0.7",
                         "--check-members", "50", "--check", "--out", path("s"), NULL),
                     1);
    cJSON *r2;
    const cJSON *mc2 = cJSON_GetObjectItem(json_file(path("s_report.json"), &r2), "member_check");
    const cJSON *mc = cJSON_GetObjectItem(rep, "member_check");
    ck_assert_double_eq(jnum(mc2, "members"), jnum(mc, "members"));
    ck_assert_double_eq(jnum(mc2, "checked"), 50);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(mc2, "sampled")));
    ck_assert(jnum(mc2, "below_threshold") <= 50 && jnum(mc2, "min_identity") >= jnum(mc, "min_identity"));
    cJSON_Delete(r2);
    err = tu_read_file(path("err"));
    ck_assert_msg(strstr(err, "check: ") && strstr(err, "members below the thresholds"), "%s", err);
    free(err);
    ck_assert(access(path("h_mmseqs.log"), R_OK) == 0);
    ck_assert(access(path("h_rep_seq.fasta"), R_OK) == 0);
    no_temp_left(dir);
    cJSON_Delete(root);
    pairs_free(pr, n);
    units_free(&u);
}
END_TEST

/* CDRH3s from a FASTA the test writes: ids that repeat (renamed
 * ID@FILE:LINE by ablm) must reach MMseqs2 and come back unchanged. */
START_TEST(cluster_cdr3_fasta_ids)
{
    if (!have_mmseqs_and_data("cluster_cdr3_fasta_ids"))
        return;
    rd_opts o;
    rd_opts_default(&o);
    FILE *f = fopen(path("c.fa"), "w");
    char **seq[1], **names;
    sm_map ids;
    sm_init(&ids);
    size_t n = 0, cap = 1024;
    seq[0] = malloc(cap * sizeof *seq[0]);
    names = malloc(cap * sizeof *names);
    for (int k = 0; k < 2; k++) {
        rd_reader *r;
        rd_record rec;
        ck_assert_int_eq(rd_open(&r, unit(k), &o), TG_OK);
        while (rd_next(r, &rec) == 1) {
            if (!rec.cdr3_len)
                continue;
            /* every 10th record reuses the first id: all its occurrences are renamed */
            int dup = n % 10 == 0;
            const char *id = dup ? "dupe" : rec.id;
            char name[512];
            if (dup)
                snprintf(name, sizeof name, "dupe@c.fa:%zu", 2 * n + 1);
            else
                snprintf(name, sizeof name, "%s", rec.id);
            fprintf(f, ">%s\n%.*s\n", id, rec.cdr3_len, rec.cdr3);
            if (n == cap) {
                cap *= 2;
                seq[0] = realloc(seq[0], cap * sizeof *seq[0]);
                names = realloc(names, cap * sizeof *names);
            }
            seq[0][n] = strndup(rec.cdr3, (size_t)rec.cdr3_len);
            names[n] = strdup(name); /* sm_map keeps the key pointer */
            ck_assert_int_eq(sm_put(&ids, names[n], (int)strlen(name), (uint32_t)n, NULL), 1);
            n++;
        }
        rd_close(r);
    }
    fclose(f);
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--input", path("c.fa"),
                         "--min-seq-id", "1.0", "--threads", "1", "--out", path("c"), NULL),
                     0);
    size_t np, below;
    char **pr = tsv_pairs(path("c_cluster.tsv"), &np);
    members_exactly(pr, np, &ids, "CDRH3s");
    /* the same clusters as MMseqs2 run by hand on the same records under
     * ablm's (renamed) ids */
    f = fopen(path("r.fa"), "w");
    for (size_t i = 0; i < n; i++)
        fprintf(f, ">%s\n%s\n", names[i], seq[0][i]);
    fclose(f);
    char sh[4096];
    snprintf(sh, sizeof sh, "cd %s && mmseqs easy-linclust r.fa raw rawtmp " REF_SETTINGS
             " --min-seq-id 1.0 -c 0.8 --cov-mode 0 --threads 1 > raw.log 2>&1", dir);
    ck_assert_int_eq(system(sh), 0);
    size_t nr;
    char **raw = tsv_pairs(path("raw_cluster.tsv"), &nr);
    ck_assert_uint_eq(nr, np);
    sm_map mine;
    sm_init(&mine);
    for (size_t i = 0; i < np; i++) /* member -> its pair index */
        sm_put(&mine, pr[2 * i + 1], (int)strlen(pr[2 * i + 1]), (uint32_t)i, NULL);
    for (size_t i = 0; i < nr; i++) {
        uint32_t k;
        ck_assert(sm_get(&mine, raw[2 * i + 1], (int)strlen(raw[2 * i + 1]), &k));
        ck_assert_str_eq(pr[2 * k], raw[2 * i]);
    }
    sm_free(&mine);
    pairs_free(raw, nr);
    cJSON *root;
    const cJSON *rep = json_file(path("c_report.json"), &root);
    check_member_report(rep, pr, np, &ids, seq, 1.0, 0.8, &below);
    printf("cluster_cdr3_fasta_ids: %zu CDRH3s, %zu of %.0f members below 100%% by alignment\n", n,
           below, jnum(cJSON_GetObjectItem(rep, "member_check"), "members"));
    cJSON_Delete(root);
    pairs_free(pr, np);
    for (size_t i = 0; i < n; i++) {
        free(seq[0][i]);
        free(names[i]);
    }
    free(seq[0]);
    free(names);
    sm_free(&ids);
}
END_TEST

/* Set of every id in DIR/NAME.tsv (header sequence_id ...) into m as s;
 * returns the file's text, which holds the keys (the caller frees it). */
static char *read_set(const char *out, const char *name, int s, sm_map *m)
{
    char p[1400];
    snprintf(p, sizeof p, "%s/%s.tsv", out, name);
    char *t = tu_read_file(p);
    char *l = strchr(t, '\n') + 1;
    for (char *nl; (nl = strchr(l, '\n')); l = nl + 1) {
        char *tab = strchr(l, '\t');
        ck_assert_int_eq(sm_put(m, l, (int)(tab - l), (uint32_t)s, NULL), 1);
    }
    return t;
}

START_TEST(prepare_end_to_end)
{
    if (!have_mmseqs_and_data("prepare_end_to_end"))
        return;
    units u;
    units_read(&u);
    const char *out = path("p");
    ck_assert_int_eq(run(cmd_prepare, "prepare", "--engine", "mmseqs", "--input", unit(0), unit(1),
                         "--out", out, "--threads", "2", "--leak-sample", "20", NULL),
                     0);
    cJSON *root;
    char rp[1400];
    snprintf(rp, sizeof rp, "%s/prepare_report.json", out);
    const cJSON *rep = json_file(rp, &root);
    const cJSON *set = cJSON_GetObjectItem(rep, "settings");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(set, "engine")), "mmseqs");
    ck_assert(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(set, "mmseqs_version"))) > 0);
    const cJSON *e;
    static const char *ids[] = {"1", "0.7", "0.5"};
    int k = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(rep, "clustering")) {
        ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(e, "engine")), "mmseqs");
        char want[300];
        snprintf(want, sizeof want, REF_SETTINGS " --min-seq-id %s -c 0.8 --cov-mode 0", ids[k]);
        ck_assert_msg(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(e, "command")), want) != NULL,
                      "step %d: %s", k, cJSON_GetStringValue(cJSON_GetObjectItem(e, "command")));
        const cJSON *mc = cJSON_GetObjectItem(e, "member_check");
        ck_assert_double_eq(jnum(mc, "checked"), jnum(mc, "members"));
        ck_assert_double_eq(jnum(mc, "members"), jnum(e, "sequences") - jnum(e, "clusters"));
        k++;
    }
    ck_assert_int_eq(k, 3);
    /* CDRH3 step: every input record once */
    char p[1400];
    size_t n;
    snprintf(p, sizeof p, "%s/cdr3_100_cluster.tsv", out);
    char **pr = tsv_pairs(p, &n);
    members_exactly(pr, n, &u.idx, "cdr3_100");
    pairs_free(pr, n);
    /* every pool sequence in exactly one set; pool = the 70% representatives */
    sm_map where;
    sm_init(&where);
    static const char *sets[] = {"train", "val", "test"};
    char *text[3];
    for (int s = 0; s < 3; s++)
        text[s] = read_set(out, sets[s], s, &where);
    const cJSON *counts = cJSON_GetObjectItem(rep, "counts");
    ck_assert_double_eq((double)where.n, jnum(counts, "representatives_70"));
    snprintf(p, sizeof p, "%s/heavy_70_cluster.tsv", out);
    pr = tsv_pairs(p, &n);
    ck_assert_double_eq((double)n, jnum(counts, "after_dedup"));
    size_t reps = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        int is_rep = !strcmp(pr[2 * i], pr[2 * i + 1]);
        reps += is_rep;
        ck_assert_int_eq(sm_get(&where, pr[2 * i + 1], (int)strlen(pr[2 * i + 1]), &v), is_rep);
    }
    ck_assert_uint_eq(reps, where.n);
    pairs_free(pr, n);
    /* whole 50% clusters per set */
    snprintf(p, sizeof p, "%s/heavy_50_cluster.tsv", out);
    pr = tsv_pairs(p, &n);
    ck_assert_uint_eq(n, where.n);
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        ck_assert(sm_get(&where, pr[2 * i], (int)strlen(pr[2 * i]), &a));
        ck_assert(sm_get(&where, pr[2 * i + 1], (int)strlen(pr[2 * i + 1]), &b));
        ck_assert_msg(a == b, "cluster of %s split across sets", pr[2 * i]);
    }
    pairs_free(pr, n);
    snprintf(p, sizeof p, "%s/mmseqs.log", out);
    char *log = tu_read_file(p);
    ck_assert_ptr_nonnull(strstr(log, "easy-linclust"));
    free(log);
    no_temp_left(out);
    sm_free(&where);
    for (int s = 0; s < 3; s++)
        free(text[s]);
    cJSON_Delete(root);
    units_free(&u);
}
END_TEST

START_TEST(missing_binary)
{
    FILE *f = fopen(path("s.fa"), "w");
    fputs(">a\nCARDYW\n>b\nCARDYW\n", f);
    fclose(f);
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--mmseqs", "/nonexistent",
                         "--input", path("s.fa"), "--min-seq-id", "1", "--out", path("x"), NULL),
                     1);
    char *err = tu_read_file(path("err"));
    ck_assert_msg(strstr(err, "/nonexistent") && strstr(err, "apt-get install mmseqs2"), "%s", err);
    free(err);
    ck_assert(access(path("x_cluster.tsv"), F_OK) != 0);
    ck_assert_int_eq(run(cmd_prepare, "prepare", "--engine", "mmseqs", "--mmseqs", "/nonexistent",
                         "--input", path("s.fa"), "--out", path("po"), NULL),
                     1);
    err = tu_read_file(path("err"));
    ck_assert_msg(strstr(err, "apt-get install mmseqs2"), "%s", err);
    free(err);
    /* not on PATH */
    char *old = strdup(getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", dir, 1);
    int rc = run(cmd_cluster, "cluster", "--engine", "mmseqs", "--input", path("s.fa"),
                 "--min-seq-id", "1", "--out", path("x"), NULL);
    setenv("PATH", old, 1);
    free(old);
    ck_assert_int_eq(rc, 1);
    err = tu_read_file(path("err"));
    ck_assert_msg(strstr(err, "not on PATH") && strstr(err, "apt-get install mmseqs2"), "%s", err);
    free(err);
    /* ablm-only settings are refused with the engine */
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--mode", "greedy", "--input",
                         path("s.fa"), "--min-seq-id", "1", "--out", path("x"), NULL),
                     2);
    ck_assert_int_eq(run(cmd_prepare, "prepare", "--engine", "mmseqs", "--mode", "greedy", "--input",
                         path("s.fa"), "--out", path("po"), NULL),
                     2);
}
END_TEST

/* A stand-in binary: answers `version`, fails every other call after a
 * line on stderr. */
static const char *fake_mmseqs(void)
{
    const char *p = path("fake-mmseqs");
    FILE *f = fopen(p, "w");
    fputs("#!/bin/sh\nif [ \"$1\" = version ]; then echo 0-fake; exit 0; fi\n"
          "echo \"a line before\" >&2\necho \"Error: fake failure in $1\" >&2\nexit 3\n", f);
    fclose(f);
    chmod(p, 0755);
    return p;
}

START_TEST(failure_shows_log_tail)
{
    const char *fake = fake_mmseqs();
    FILE *f = fopen(path("s.fa"), "w");
    fputs(">a\nCARDYW\n>b\nCARDFW\n", f);
    fclose(f);
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--mmseqs", fake, "--input",
                         path("s.fa"), "--min-seq-id", "0.5", "--out", path("x"), NULL),
                     1);
    char *err = tu_read_file(path("err"));
    ck_assert_msg(strstr(err, "exit status 3") && strstr(err, "Error: fake failure in easy-linclust") &&
                      strstr(err, "x_mmseqs.log"),
                  "%s", err);
    free(err);
    char *log = tu_read_file(path("x_mmseqs.log"));
    ck_assert_ptr_nonnull(strstr(log, "0-fake"));
    ck_assert_ptr_nonnull(strstr(log, "--spaced-kmer-pattern 11011101"));
    free(log);
    ck_assert(access(path("x_cluster.tsv"), F_OK) != 0);
    no_temp_left(dir);
}
END_TEST

/* Makes the directory dir/name with one file in it. */
static void plant_dir(const char *name)
{
    ck_assert_int_eq(mkdir(path(name), 0755), 0);
    char f[1300];
    snprintf(f, sizeof f, "%s/%s/input.fasta", dir, name);
    FILE *fp = fopen(f, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(">a\nCARDYW\n", fp);
    fclose(fp);
}

/* The working directory of a run that was killed (its PID is gone) is
 * removed by the next run, also when that run fails; a live process's
 * directory, a name that is not a working directory's and a plain file of
 * the working directory's name are kept. */
START_TEST(stale_workdirs_removed)
{
    const char *fake = fake_mmseqs();
    FILE *f = fopen(path("s.fa"), "w");
    fputs(">a\nCARDYW\n>b\nCARDFW\n", f);
    fclose(f);
    pid_t child = fork();
    ck_assert(child >= 0);
    if (!child)
        _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child); /* child is now a PID with no process */
    char dead[64], live[64], odd[64], file[64];
    snprintf(dead, sizeof dead, ".ablm-mmseqs.%ld.tmp.Ab12Cd", (long)child);
    snprintf(live, sizeof live, ".ablm-mmseqs.%ld.tmp.Ef34Gh", (long)getppid());
    snprintf(odd, sizeof odd, ".ablm-mmseqs.%ld.tmp.short", (long)child);
    snprintf(file, sizeof file, ".ablm-mmseqs.%ld.tmp.Ij56Kl", (long)child);
    plant_dir(dead);
    plant_dir(live);
    plant_dir(odd);
    f = fopen(path(file), "w");
    fclose(f);
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--mmseqs", fake, "--input",
                         path("s.fa"), "--min-seq-id", "0.5", "--out", path("x"), NULL),
                     1);
    char *err = tu_read_file(path("err"));
    ck_assert_msg(strstr(err, "removed 1 stale working directory left in"), "%s", err);
    free(err);
    struct stat sb;
    ck_assert_msg(lstat(path(dead), &sb) != 0, "%s was not removed", dead);
    ck_assert(lstat(path(live), &sb) == 0 && S_ISDIR(sb.st_mode));
    ck_assert(lstat(path(odd), &sb) == 0 && S_ISDIR(sb.st_mode));
    ck_assert(lstat(path(file), &sb) == 0 && S_ISREG(sb.st_mode));
    /* this run's own directory is gone too: only the three kept ones are left */
    DIR *dd = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dd)))
        n += !strncmp(e->d_name, ".ablm-mmseqs.", 13);
    closedir(dd);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(fs_remove_tree(path(live)), 0);
    ck_assert_int_eq(fs_remove_tree(path(odd)), 0);
    ck_assert_int_eq(unlink(path(file)), 0);
    no_temp_left(dir);
}
END_TEST

/* A name MMseqs2 would cut at the blank (FILE:LINE of a file whose name has
 * one) is refused before mmseqs runs. */
START_TEST(blank_in_id)
{
    const char *fake = fake_mmseqs();
    FILE *f = fopen(path("a b.txt"), "w");
    fputs("CARDYW\nCARDFW\n", f);
    fclose(f);
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--mmseqs", fake, "--input",
                         path("a b.txt"), "--min-seq-id", "0.5", "--out", path("x"), NULL),
                     1);
    char *err = tu_read_file(path("err"));
    ck_assert_msg(strstr(err, "'a b.txt:1'") && strstr(err, "blank"), "%s", err);
    free(err);
    char *log = tu_read_file(path("x_mmseqs.log"));
    ck_assert_ptr_null(strstr(log, "easy-linclust")); /* never ran */
    free(log);
    no_temp_left(dir);
}
END_TEST

/* MMseqs2 turns 'sp|ACC|NAME' into 'ACC': the read-back by id catches it. */
START_TEST(rewritten_id)
{
    mm_tool t;
    if (mm_find(&t, NULL)) {
        tu_skip("rewritten_id", "mmseqs not found (install: scripts/ensure-deps.sh mmseqs2)");
        return;
    }
    mm_tool_free(&t);
    FILE *f = fopen(path("s.fa"), "w");
    fputs(">sp|P1|X\nCARDYW\n>b\nCARDFWQQ\n", f);
    fclose(f);
    ck_assert_int_eq(run(cmd_cluster, "cluster", "--engine", "mmseqs", "--input", path("s.fa"),
                         "--min-seq-id", "0.5", "--out", path("x"), NULL),
                     1);
    char *err = tu_read_file(path("err"));
    ck_assert_msg(strstr(err, "unknown sequence 'P1'") && strstr(err, "rewrites some ids"), "%s", err);
    free(err);
    ck_assert(access(path("x_cluster.tsv"), F_OK) != 0);
    no_temp_left(dir);
}
END_TEST

/* The TSV read back (mm_read_clusters, no mmseqs needed): a representative
 * that is another's member and an id in no cluster are errors naming them. */
START_TEST(read_clusters_checks)
{
    const char *ids[] = {"a", "b", "c"};
    uint32_t rep[3];
    static const struct {
        const char *tsv, *err;
    } cases[] = {{"a\ta\na\tb\nc\tc\n", NULL},
                 {"b\ta\nb\tb\na\tc\n", "'c' has representative 'a', which is a member of 'b'"},
                 {"a\ta\na\tb\n", "sequence 'c' is in no cluster"},
                 {"a\ta\na\tb\nc\tc\nc\tb\n", ":4: 'b' is a member twice"},
                 /* bytes that cut a line unseen (fuzz_mmseqs_tsv): "b\rx" read as "b" */
                 {"a\ta\r\na\tb\rx\nc\tc\n", ":2: a CR byte inside the line"},
                 {"a\ta\na\tb\0x\nc\tc\n", ":2: a NUL byte inside the line"},
                 /* a CR that ends the file without "\n" (fuzz_mmseqs_tsv, 2026-12-04:
                  * "c\tc\r" was read as "c\tc") */
                 {"a\ta\na\tb\nc\tc\r", ":3: a CR byte inside the line"},
                 {"a\ta\r\na\tb\r\nc\tc\r\n", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(path("r.tsv"), "w");
        /* the NUL case: its length past the NUL */
        size_t len = strlen(cases[i].tsv);
        if (strstr(cases[i].err ? cases[i].err : "", "NUL"))
            len += 1 + strlen(cases[i].tsv + len + 1);
        fwrite(cases[i].tsv, 1, len, f);
        fclose(f);
        int st = mm_read_clusters(ids, 3, path("r.tsv"), rep);
        if (!cases[i].err) {
            ck_assert_int_eq(st, TG_OK);
            ck_assert(rep[0] == 0 && rep[1] == 0 && rep[2] == 2);
        } else {
            ck_assert_int_eq(st, TG_ERR_FORMAT);
            ck_assert_msg(strstr(tg_last_error(), cases[i].err), "%s", tg_last_error());
        }
    }
    /* a line longer than the reader's buffer was read as two lines */
    FILE *f = fopen(path("r.tsv"), "w");
    for (int i = 0; i < 70000; i++)
        fputc('a', f);
    fputs("\tb\n", f);
    fclose(f);
    ck_assert_int_eq(mm_read_clusters(ids, 3, path("r.tsv"), rep), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), ":1: line longer than 65534 bytes"), "%s", tg_last_error());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mmseqs");
    TCase *t = tcase_create("mmseqs");
    tcase_set_timeout(t, 600);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, read_clusters_checks);
    tcase_add_test(t, missing_binary);
    tcase_add_test(t, failure_shows_log_tail);
    tcase_add_test(t, stale_workdirs_removed);
    tcase_add_test(t, blank_in_id);
    tcase_add_test(t, rewritten_id);
    tcase_add_test(t, cluster_heavy_chains);
    tcase_add_test(t, cluster_cdr3_fasta_ids);
    tcase_add_test(t, prepare_end_to_end);
    suite_add_tcase(s, t);
    return tu_run(s);
}
