/* Parallel reading (rd_par, data/reader.h) and `ablm prepare` on top of it:
 * the same records, statuses, messages and output files for 1, 2 and 3
 * reader threads, with buffers small enough that workers wait for the
 * consumer; a bad file among good ones fails (or is skipped) as serially. */
#include "prepare.h"
#include "reader.h"
#include "tg.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint64_t mix(uint64_t h, const char *s, size_t n)
{
    if (!s)
        return ss_hash(h, "\1null", 5);
    return ss_hash(ss_hash(h, s, n), "", 1);
}

/* Everything rd_par hands over: a digest of every record, the per-file
 * statuses and messages and the final stats. */
typedef struct {
    uint64_t h;
    size_t records;
    int open_st[8], end_st[8];
    char msg[8][300];
    size_t rows[8], skipped[8];
} outcome;

static void read_all(const char *const *paths, int n, const rd_opts *o, int threads,
                     size_t buffer, outcome *out)
{
    memset(out, 0, sizeof *out);
    out->h = SS_HASH_INIT;
    rd_par *p;
    ck_assert_int_eq(rd_par_begin(&p, paths, n, o, threads, buffer), TG_OK);
    for (int f = 0; f < n; f++) {
        rd_reader *r;
        out->open_st[f] = rd_par_open(p, f, &r);
        if (out->open_st[f]) {
            snprintf(out->msg[f], sizeof out->msg[f], "%s", tg_last_error());
            continue;
        }
        rd_record rec;
        int st;
        while ((st = rd_par_next(p, &rec)) == 1) {
            uint64_t h = out->h;
            h = mix(h, rec.id, strlen(rec.id));
            h = mix(h, rec.file, strlen(rec.file));
            h = mix(h, rec.seq, (size_t)rec.len);
            h = mix(h, rec.cdr3, rec.cdr3 ? (size_t)rec.cdr3_len : 0);
            h = mix(h, rec.mate, rec.mate ? (size_t)rec.mate_len : 0);
            h = mix(h, rec.v_call, rec.v_call ? strlen(rec.v_call) : 0);
            h = mix(h, rec.locus, rec.locus ? strlen(rec.locus) : 0);
            h = mix(h, rec.mate_id, rec.mate_id ? strlen(rec.mate_id) : 0);
            for (int k = 0; k < 7; k++)
                h = mix(h, rec.light_region[k],
                        rec.light_region[k] ? strlen(rec.light_region[k]) : 0);
            long meta[2] = {rec.line, rec.productive};
            out->h = ss_hash(h, meta, sizeof meta);
            out->records++;
        }
        out->end_st[f] = st;
        if (st < 0)
            snprintf(out->msg[f], sizeof out->msg[f], "%s", tg_last_error());
        out->rows[f] = rd_get_stats(r)->rows;
        out->skipped[f] = rd_get_stats(r)->skipped_malformed;
        rd_par_close(p);
    }
    rd_par_end(p);
}

static void same(const outcome *a, const outcome *b, int n, const char *what)
{
    ck_assert_msg(a->records == b->records, "%s: %zu vs %zu records", what, a->records,
                  b->records);
    ck_assert_msg(a->h == b->h, "%s: different records", what);
    for (int f = 0; f < n; f++) {
        ck_assert_int_eq(a->open_st[f], b->open_st[f]);
        ck_assert_int_eq(a->end_st[f], b->end_st[f]);
        ck_assert_str_eq(a->msg[f], b->msg[f]);
        ck_assert_uint_eq(a->rows[f], b->rows[f]);
        ck_assert_uint_eq(a->skipped[f], b->skipped[f]);
    }
}

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A gzip AIRR TSV of n rows (ids, CDR3s, loci, a productive column);
 * truncated (its last 40 bytes cut) when cut != 0. */
static void write_airr_gz(const char *path, int n, unsigned seed, int cut)
{
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    gzprintf(g, "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\tproductive\tv_call\n");
    unsigned x = seed;
    static const char aa[] = "ACDEFGHIKLMNPQRSTVWY";
    for (int i = 0; i < n; i++) {
        char s[200], c[30];
        int len = 90 + (int)((x >> 8) % 40), cl = 5 + (int)((x >> 16) % 15);
        for (int k = 0; k < len; k++) {
            x = x * 1103515245u + 12345u;
            s[k] = aa[(x >> 16) % 20];
        }
        s[len] = '\0';
        memcpy(c, s + 40, (size_t)cl);
        c[cl] = '\0';
        gzprintf(g, "r%u_%d\t%s\t%s\tIGH\t%s\tIGHV%d-1*01\n", seed, i, s, i % 7 ? c : "",
                 i % 5 ? "T" : "F", 1 + i % 4);
    }
    ck_assert_int_eq(gzclose(g), Z_OK);
    if (cut) {
        FILE *f = fopen(path, "r+b");
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fclose(f);
        ck_assert_int_eq(truncate(path, sz - 40), 0);
    }
}

/* Files of every format, threads 1..3, default and tiny buffers (workers
 * block on the consumer; chunks of a few records): the same records. */
START_TEST(same_records_any_threads)
{
    char *dir = tu_tmpdir();
    char *p[6] = {path_in(dir, "a.tsv.gz"), path_in(dir, "b.fasta"), path_in(dir, "c.txt"),
                  path_in(dir, "d.tsv.gz"), path_in(dir, "e.tsv"), path_in(dir, "f.tsv.gz")};
    write_airr_gz(p[0], 500, 1, 0);
    tu_write_chains(p[1], 1000, 50, 120, 2, 1);
    tu_write_chains(p[2], 1200, 20, 300, 3, 0);
    write_airr_gz(p[3], 10, 4, 0);
    write_text(p[4], "sequence_alignment_aa\tcdr3_aa\nEVQLVESGG\tAR\n");
    write_airr_gz(p[5], 2000, 6, 0);
    const char *const *paths = (const char *const *)p;
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    outcome ref, got;
    read_all(paths, 6, &o, 1, 0, &ref);
    ck_assert_uint_eq(ref.records, 500 + 1000 + 1200 + 10 + 1 + 2000);
    for (int t = 2; t <= 3; t++)
        for (int b = 0; b < 2; b++) {
            read_all(paths, 6, &o, t, b ? 1 : 0, &got);
            same(&ref, &got, 6, b ? "tiny buffer" : "default buffer");
        }
    /* filters (productive only, a length window) count alike */
    o.productive_only = 1;
    o.min_length = 100;
    read_all(paths, 6, &o, 1, 0, &ref);
    read_all(paths, 6, &o, 2, 1, &got);
    same(&ref, &got, 6, "filters");
    for (int i = 0; i < 6; i++)
        free(p[i]);
    free(dir);
}
END_TEST

/* A malformed row, a truncated gzip and a missing file among good files:
 * the same statuses, messages (file and line) and records as serially, in
 * fail and skip mode. */
START_TEST(bad_file_same_error)
{
    char *dir = tu_tmpdir();
    char *p[5] = {path_in(dir, "good1.tsv.gz"), path_in(dir, "bad.tsv"),
                  path_in(dir, "cut.tsv.gz"), path_in(dir, "missing.tsv"),
                  path_in(dir, "good2.tsv.gz")};
    write_airr_gz(p[0], 1000, 1, 0);
    write_text(p[1], "sequence_alignment_aa\tcdr3_aa\nEVQLVESGG\tAR\nEVQLVQSGA\tAR\textra\n"
                     "QVQLQESGP\tARQ\n");
    write_airr_gz(p[2], 3000, 3, 1);
    write_airr_gz(p[4], 1000, 5, 0);
    const char *const *paths = (const char *const *)p;
    for (int mode = 0; mode < 2; mode++) {
        rd_opts o;
        rd_opts_default(&o);
        o.on_error = mode ? RD_ON_ERROR_SKIP : RD_ON_ERROR_FAIL;
        outcome ref, got;
        read_all(paths, 5, &o, 1, 0, &ref);
        ck_assert_msg(strstr(ref.msg[1], mode ? "" : "bad.tsv:3"), "%s", ref.msg[1]);
        ck_assert_msg(ref.end_st[2] < 0 && strstr(ref.msg[2], "cut.tsv.gz"), "%s", ref.msg[2]);
        ck_assert_msg(ref.open_st[3] < 0 && strstr(ref.msg[3], "missing.tsv"), "%s",
                      ref.msg[3]);
        for (int b = 0; b < 2; b++) {
            read_all(paths, 5, &o, 2, b ? 1 : 0, &got);
            same(&ref, &got, 5, mode ? "skip mode" : "fail mode");
        }
    }
    /* the consumer stops in the middle of a file: the workers stop too */
    rd_opts o;
    rd_opts_default(&o);
    rd_par *par;
    ck_assert_int_eq(rd_par_begin(&par, paths, 5, &o, 2, 1), TG_OK);
    rd_reader *r;
    rd_record rec;
    ck_assert_int_eq(rd_par_open(par, 0, &r), TG_OK);
    ck_assert_int_eq(rd_par_next(par, &rec), 1);
    rd_par_close(par);
    rd_par_end(par);
    for (int i = 0; i < 5; i++)
        free(p[i]);
    free(dir);
}
END_TEST

/* pp_run with 1 and 2 reader threads writes the same store and files. */
static void prepare_twice(const char *const *inputs, int n, const char *dir, int on_error)
{
    char out[2][700];
    for (int t = 0; t < 2; t++) {
        snprintf(out[t], sizeof out[t], "%s/out_t%d", dir, t + 1);
        pp_opts o;
        pp_opts_default(&o);
        o.leak.sample = 0;
        o.read_threads = t + 1;
        o.cl.threads = 1;
        o.rd.on_error = on_error;
        cJSON *rep = cJSON_CreateObject();
        ck_assert_msg(pp_run(inputs, n, out[t], &o, rep) == TG_OK, "%s", tg_last_error());
        /* the input part of the report (files, skipped files, reader counts) */
        char *js = cJSON_PrintUnformatted(cJSON_GetObjectItem(rep, "input"));
        char p[1600];
        snprintf(p, sizeof p, "%s/input.json", out[t]);
        write_text(p, js);
        free(js);
        cJSON_Delete(rep);
    }
    static const char *files[] = {"records.store", "input.json", "cdr3_100_cluster.tsv",
                                  "heavy_70_cluster.tsv", "heavy_50_cluster.tsv", "train.tsv",
                                  "val.tsv", "test.tsv"};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char a[1600], b[1600];
        snprintf(a, sizeof a, "%s/%s", out[0], files[k]);
        snprintf(b, sizeof b, "%s/%s", out[1], files[k]);
        ck_assert_msg(tu_same_file(a, b), "%s differs between 1 and 2 reader threads",
                      files[k]);
    }
}

START_TEST(prepare_same_outputs_fixtures)
{
    char *dir = tu_tmpdir();
    char *p[4] = {path_in(dir, "a.tsv.gz"), path_in(dir, "b.tsv.gz"), path_in(dir, "cut.tsv.gz"),
                  path_in(dir, "c.tsv.gz")};
    write_airr_gz(p[0], 500, 1, 0);
    write_airr_gz(p[1], 500, 2, 0);
    write_airr_gz(p[2], 500, 3, 1);
    write_airr_gz(p[3], 500, 4, 0);
    prepare_twice((const char *const *)p, 4, dir, RD_ON_ERROR_SKIP);
    for (int i = 0; i < 4; i++)
        free(p[i]);
    free(dir);
}
END_TEST

START_TEST(prepare_same_outputs_real_units)
{
    const char *oas = tu_oas_dir();
    if (!oas) {
        tu_skip("prepare_same_outputs_real_units", "../shared/data/oas-paired not found");
        return;
    }
    static const char *units[] = {"SRR10358523_paired.csv.gz", "SRR10358525_paired.csv.gz",
                                  "1279068_1_Paired_All.csv.gz"};
    char *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = path_in(oas, units[i]);
    char *dir = tu_tmpdir();
    prepare_twice((const char *const *)p, 3, dir, RD_ON_ERROR_FAIL);
    for (int i = 0; i < 3; i++)
        free(p[i]);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reader_par");
    TCase *t = tcase_create("reader_par");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, same_records_any_threads);
    tcase_add_test(t, bad_file_same_error);
    tcase_add_test(t, prepare_same_outputs_fixtures);
    tcase_add_test(t, prepare_same_outputs_real_units);
    suite_add_tcase(s, t);
    return tu_run(s);
}
