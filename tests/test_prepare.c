/* ablm prepare's pipeline: counts per step, de-duplication, whole clusters
 * across the sets, bad inputs in fail/skip mode, a real subset end to end. */
#include "afile.h"
#include "commands.h"
#include "prepare.h"
#include "strmap.h"
#include "tg.h"
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *slurp(const char *dir, const char *name, size_t *n_lines)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "missing %s", p);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), n);
    b[n] = '\0';
    fclose(f);
    if (n_lines) {
        *n_lines = 0;
        for (long i = 0; i < n; i++)
            *n_lines += b[i] == '\n';
    }
    return b;
}

static double count(const cJSON *rep, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "counts"), k);
    ck_assert_msg(cJSON_IsNumber(v), "no count %s", k);
    return v->valuedouble;
}

static const char *put(const char *dir, const char *name, const char *text)
{
    static char p[4][1024];
    static int k;
    char *q = p[k++ % 4];
    snprintf(q, 1024, "%s/%s", dir, name);
    FILE *f = fopen(q, "w");
    fputs(text, f);
    fclose(f);
    return q;
}

#define H1 "EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYCAK"
#define H2 "QVQLVQSGAEVKKPGASVKVSCKASGYTFTSYGISWVRQAPGQGLEWMGWISAYNGNTNYAQKLQGRVTMTTDTSTSTAYMELRSLRSDDTAVYYCAR"
#define H3 "QVQLQESGPGLVKPSETLSLTCTVSGGSISSYYWSWIRQPPGKGLEWIGYIYYSGSTNYNPSLKSRVTISVDTSKNQFSLKLSSVTAADTAVYYCAR"

START_TEST(counts_and_dedup)
{
    char *dir = tu_tmpdir();
    /* rows 2 and 3 share a CDR3 (one centroid); rows 4 and 5 have other
     * CDR3s but the same heavy chain as row 2 (one copy survives) */
    const char *in = put(dir, "u.tsv",
                         "sequence_alignment_aa\tjunction_aa\tlocus\n"
                         H1 "\tCARDYW\tIGH\n"
                         H1 "\tCARDYW\tIGH\n"
                         H1 "\tCAKGGSW\tIGH\n"
                         H2 "\tCARTTPW\tIGH\n"
                         H3 "\tCVRQW\tIGH\n"
                         H3 "\t\tIGH\n");
    char out[600];
    snprintf(out, sizeof out, "%s/out", dir);
    pp_opts o;
    pp_opts_default(&o);
    o.leak.sample = 10;
    cJSON *rep = cJSON_CreateObject();
    const char *inputs[] = {in};
    ck_assert_msg(pp_run(inputs, 1, out, &o, rep) == TG_OK, "%s", tg_last_error());
    ck_assert_double_eq(count(rep, "input_rows"), 6);
    ck_assert_double_eq(count(rep, "after_filters_with_cdr3"), 5);
    ck_assert_double_eq(count(rep, "cdr3_centroids"), 4);
    ck_assert_double_eq(count(rep, "after_dedup"), 3);
    double r70 = count(rep, "representatives_70");
    ck_assert_double_eq(r70, 3); /* three unrelated V genes */
    ck_assert_double_eq(count(rep, "train") + count(rep, "val") + count(rep, "test"), r70);
    ck_assert_double_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "input"), "records_without_cdr3")
            ->valuedouble,
        1);
    size_t lines;
    char *t = slurp(out, "cdr3_100_cluster.tsv", &lines);
    ck_assert_uint_eq(lines, 5);
    ck_assert_ptr_nonnull(strstr(t, "u.tsv:2\tu.tsv:3\n")); /* no id column: FILE:LINE */
    free(t);
    free(slurp(out, "heavy_70_cluster.tsv", &lines));
    ck_assert_uint_eq(lines, 3);
    free(slurp(out, "heavy_50_cluster.tsv", &lines));
    ck_assert_uint_eq(lines, 3);
    cJSON_Delete(rep);
    free(dir);
}
END_TEST

START_TEST(bad_inputs_fail_or_skip)
{
    char *dir = tu_tmpdir();
    const char *good = put(dir, "g.tsv", "sequence_alignment_aa\tcdr3_aa\n" H1 "\tARDY\n"
                                         H2 "\tARTT\n");
    const char *bad = put(dir, "b.tsv", "sequence_alignment_aa\tcdr3_aa\n" H3 "\tAR\textra\n"
                                        H3 "\tARQ\n");
    const char *empty = put(dir, "e.csv", "");
    char out[600];
    snprintf(out, sizeof out, "%s/out", dir);
    pp_opts o;
    pp_opts_default(&o);
    o.leak.sample = 0;
    const char *inputs[] = {good, bad, empty};
    cJSON *rep = cJSON_CreateObject();
    ck_assert_int_eq(pp_run(inputs, 3, out, &o, rep), TG_ERR_FORMAT);
    ck_assert(strstr(tg_last_error(), "b.tsv:2: row has 3 fields, header has 2"));
    cJSON_Delete(rep);
    o.rd.on_error = RD_ON_ERROR_SKIP;
    rep = cJSON_CreateObject();
    ck_assert_msg(pp_run(inputs, 3, out, &o, rep) == TG_OK, "%s", tg_last_error());
    ck_assert_double_eq(count(rep, "input_rows"), 4);
    ck_assert_double_eq(count(rep, "after_filters_with_cdr3"), 3);
    const cJSON *in = cJSON_GetObjectItem(rep, "input");
    const cJSON *sk = cJSON_GetObjectItem(in, "files_skipped");
    ck_assert_int_eq(cJSON_GetArraySize(sk), 1);
    ck_assert(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(sk, 0), "error")->valuestring,
                     "e.csv: empty file"));
    const cJSON *rd = cJSON_GetObjectItem(in, "reader");
    ck_assert_double_eq(cJSON_GetObjectItem(rd, "malformed_rows_skipped")->valuedouble, 1);
    cJSON_Delete(rep);
    /* FASTA has no CDR3: a plain error, not an empty result */
    const char *fa = put(dir, "s.fa", ">a\n" H1 "\n");
    const char *fin[] = {fa};
    rep = cJSON_CreateObject();
    ck_assert_int_eq(pp_run(fin, 1, out, &o, rep), TG_ERR_FORMAT);
    ck_assert(strstr(tg_last_error(), "no records with a CDR3"));
    cJSON_Delete(rep);
    free(dir);
}
END_TEST

/* Source ids through the pipeline: cluster TSVs name records by their
 * sequence_id (a repeated one as ID@FILE:LINE), train/val/test.tsv hold the
 * rows of train/val/test.txt with their ids, and `ablm split` on prepare's
 * 50% TSV re-splits the pool with the same names. A bad residue cell is an
 * error naming file, line and column. */
START_TEST(ids_through_prepare)
{
    char *dir = tu_tmpdir();
    const char *a = put(dir, "a.tsv", "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n"
                                      "A1\t" H1 "\tARDY\tIGH\n"
                                      "dup\t" H2 "\tARTT\tIGH\n"
                                      "A3\tQQQ\t\tIGH\n");
    const char *b = put(dir, "b.tsv", "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n"
                                      "dup\t" H3 "\tARQQ\tIGH\n"
                                      "\tEVQLLESGGGLVQPGGSLRLSCAASGFTFSNYAMSWVRQAPGKGLEWVSAIS\tAKEE\tIGH\n");
    char out[600];
    snprintf(out, sizeof out, "%s/out", dir);
    pp_opts o;
    pp_opts_default(&o);
    o.leak.sample = 0;
    const char *inputs[] = {a, b};
    cJSON *rep = cJSON_CreateObject();
    ck_assert_msg(pp_run(inputs, 2, out, &o, rep) == TG_OK, "%s", tg_last_error());
    ck_assert_double_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "input"), "ids_made_unique")->valuedouble,
        2);
    cJSON_Delete(rep);
    char *t = slurp(out, "cdr3_100_cluster.tsv", NULL);
    ck_assert_str_eq(t, "A1\tA1\ndup@a.tsv:3\tdup@a.tsv:3\ndup@b.tsv:2\tdup@b.tsv:2\n"
                        "b.tsv:3\tb.tsv:3\n");
    free(t);
    static const char *sets[] = {"train", "val", "test"};
    size_t rows = 0;
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "%s.tsv", sets[k]);
        char *tsv = slurp(out, name, NULL);
        snprintf(name, sizeof name, "%s.txt", sets[k]);
        char *txt = slurp(out, name, NULL);
        ck_assert(!strncmp(tsv, "sequence_id\tsequence_alignment_aa\n", 34));
        /* row i of the .tsv = id TAB line i of the .txt */
        char *x = txt, *l = strchr(tsv, '\n') + 1;
        while (*l) {
            char *tab = strchr(l, '\t'), *nl = strchr(l, '\n');
            ck_assert(tab && nl && tab < nl);
            size_t n = (size_t)(nl - tab - 1);
            ck_assert(!strncmp(tab + 1, x, n) && x[n] == '\n');
            ck_assert(strstr("A1 dup@a.tsv:3 dup@b.tsv:2 b.tsv:3", (*tab = 0, l)));
            x += n + 1;
            l = nl + 1;
            rows++;
        }
        ck_assert_int_eq(*x, 0);
        free(tsv);
        free(txt);
    }
    ck_assert_uint_eq(rows, 4);
    const char *bd = getenv("ABLM_BUILD_DIR");
    if (bd) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s/ablm split --clusters %s/heavy_50_cluster.tsv "
                 "--sequences %s %s --out %s/re --leak-sample 0 > %s/log 2>&1",
                 bd, out, a, b, dir, dir);
        ck_assert_int_eq(system(cmd), 0);
        char re[700];
        snprintf(re, sizeof re, "%s/re", dir);
        for (int k = 0; k < 3; k++) {
            char name[32];
            snprintf(name, sizeof name, "%s.tsv", sets[k]);
            char *x = slurp(out, name, NULL), *y = slurp(re, name, NULL);
            ck_assert_str_eq(x, y);
            free(x);
            free(y);
        }
    } else {
        tu_skip("ids_through_prepare", "re-split: ABLM_BUILD_DIR not set");
    }
    /* a digit in a residue cell */
    const char *c = put(dir, "c.tsv", "sequence_id\tsequence_alignment_aa\tcdr3_aa\n"
                                      "c1\t" H1 "\tARDY\nc2\tEVQLV3SGG\tARTT\n");
    const char *cin[] = {c};
    rep = cJSON_CreateObject();
    ck_assert_int_eq(pp_run(cin, 1, out, &o, rep), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "c.tsv:3: column sequence_alignment_aa, character 6: "
                                          "'3' is not an amino-acid letter"),
                  "%s", tg_last_error());
    cJSON_Delete(rep);
    free(dir);
}
END_TEST

/* Two small real OAS units: step counts are consistent, every 50% cluster
 * lies in one set, and a second run gives the same files. */
START_TEST(real_subset)
{
    const char *oas = tu_oas_dir();
    if (!oas) {
        tu_skip("real_subset", "../shared/data/oas-paired not found");
        return;
    }
    char a[1024], b[1024], c[1024];
    snprintf(a, sizeof a, "%s/SRR10358523_paired.csv.gz", oas);
    snprintf(b, sizeof b, "%s/SRR10358525_paired.csv.gz", oas);
    snprintf(c, sizeof c, "%s/1279068_1_Paired_All.csv.gz", oas);
    const char *inputs[] = {a, b, c};
    char *dir = tu_tmpdir();
    char out[2][600];
    char *train[2];
    for (int run = 0; run < 2; run++) {
        snprintf(out[run], sizeof out[run], "%s/out%d", dir, run);
        pp_opts o;
        pp_opts_default(&o);
        o.leak.sample = 50;
        cJSON *rep = cJSON_CreateObject();
        ck_assert_msg(pp_run(inputs, 3, out[run], &o, rep) == TG_OK, "%s", tg_last_error());
        ck_assert_double_eq(count(rep, "input_rows"), 100 + 624 + 843);
        double n = count(rep, "after_filters_with_cdr3"), cen = count(rep, "cdr3_centroids");
        double dd = count(rep, "after_dedup"), r70 = count(rep, "representatives_70");
        double c50 = count(rep, "clusters_50");
        ck_assert(n == 1567 && cen <= n && dd <= cen && r70 <= dd && c50 <= r70 && c50 > 0);
        ck_assert_double_eq(count(rep, "train") + count(rep, "val") + count(rep, "test"), r70);
        if (run == 0)
            printf("real_subset: %g rows, %g CDRH3 centroids, %g after de-dup, %g at 70%%, "
                   "%g clusters at 50%%, train/val/test %g/%g/%g\n",
                   n, cen, dd, r70, c50, count(rep, "train"), count(rep, "val"),
                   count(rep, "test"));
        size_t lines;
        free(slurp(out[run], "cdr3_100_cluster.tsv", &lines));
        ck_assert_uint_eq(lines, (size_t)n);
        free(slurp(out[run], "heavy_70_cluster.tsv", &lines));
        ck_assert_uint_eq(lines, (size_t)dd);
        /* set of each pool sequence (sequences are unique after de-dup) */
        static const char *names[] = {"train.txt", "val.txt", "test.txt"};
        char *txt[3];
        sm_map set;
        sm_init(&set);
        for (int s = 0; s < 3; s++) {
            txt[s] = slurp(out[run], names[s], NULL);
            for (char *l = txt[s], *nl; (nl = strchr(l, '\n')); l = nl + 1)
                ck_assert_int_eq(sm_put(&set, l, (int)(nl - l), (uint32_t)s, NULL), 1);
        }
        ck_assert_uint_eq(set.n, (size_t)r70);
        /* every line of heavy_50_cluster.tsv (rep id, member id) stays in one
         * set: ids -> sequences from the inputs, sequences -> sets */
        if (run == 0) {
            sm_map idmap;
            sm_init(&idmap);
            char **ids[3], **seqs[3];
            size_t cnt[3];
            for (int f = 0; f < 3; f++) {
                ck_assert_int_eq(rd_read_all(inputs[f], NULL, &ids[f], &seqs[f], &cnt[f], NULL),
                                 TG_OK);
                for (size_t i = 0; i < cnt[f]; i++)
                    sm_put(&idmap, ids[f][i], (int)strlen(ids[f][i]),
                           (uint32_t)(f << 24 | (int)i), NULL);
            }
            char *tsv = slurp(out[run], "heavy_50_cluster.tsv", &lines);
            ck_assert_uint_eq(lines, (size_t)r70);
            size_t checked = 0;
            for (char *l = tsv, *nl; (nl = strchr(l, '\n')); l = nl + 1) {
                char *tab = strchr(l, '\t');
                uint32_t v[2], st[2];
                ck_assert(sm_get(&idmap, l, (int)(tab - l), &v[0]));
                ck_assert(sm_get(&idmap, tab + 1, (int)(nl - tab - 1), &v[1]));
                for (int k = 0; k < 2; k++) {
                    const char *sq = seqs[v[k] >> 24][v[k] & 0xffffff];
                    ck_assert(sm_get(&set, sq, (int)strlen(sq), &st[k]));
                }
                ck_assert_uint_eq(st[0], st[1]);
                checked++;
            }
            ck_assert_uint_eq(checked, (size_t)r70);
            free(tsv);
            sm_free(&idmap);
            for (int f = 0; f < 3; f++) {
                rd_free_strings(ids[f], cnt[f]);
                rd_free_strings(seqs[f], cnt[f]);
            }
        }
        cJSON_Delete(rep);
        train[run] = txt[0];
        free(txt[1]);
        free(txt[2]);
        sm_free(&set);
    }
    ck_assert_str_eq(train[0], train[1]);
    free(train[0]);
    free(train[1]);
    free(dir);
}
END_TEST

static const char *stage(const cJSON *rep, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "stages"), name);
    ck_assert_msg(cJSON_IsString(v), "no stage %s", name);
    return v->valuestring;
}

/* The out-of-core path (store, dedup in 7 hash shards on disk) writes the
 * same files as the in-memory path on real units. */
START_TEST(out_of_core_same_as_in_memory)
{
    const char *oas = tu_oas_dir();
    if (!oas) {
        tu_skip("out_of_core_same_as_in_memory", "../shared/data/oas-paired not found");
        return;
    }
    static const char *units[] = {"SRR10358523_paired.csv.gz", "SRR10358525_paired.csv.gz",
                                  "1279068_1_Paired_All.csv.gz", "1279076_1_Paired_All.csv.gz"};
    char path[4][1024];
    const char *inputs[4];
    for (int f = 0; f < 4; f++) {
        snprintf(path[f], sizeof path[f], "%s/%s", oas, units[f]);
        inputs[f] = path[f];
    }
    char *dir = tu_tmpdir();
    char out[3][600];
    double dd[3], cen[3], shards[3];
    for (int run = 0; run < 3; run++) {
        snprintf(out[run], sizeof out[run], "%s/out%d", dir, run);
        pp_opts o;
        pp_opts_default(&o);
        o.leak.sample = 20;
        o.in_memory = run == 0;
        o.dedup_shards = run == 1 ? 7 : 0; /* run 2: shards from a 1 KiB budget */
        o.max_memory = run == 2 ? 1024 : 0;
        cJSON *rep = cJSON_CreateObject();
        ck_assert_msg(pp_run(inputs, 4, out[run], &o, rep) == TG_OK, "%s", tg_last_error());
        dd[run] = count(rep, "after_dedup");
        cen[run] = count(rep, "cdr3_centroids");
        shards[run] = cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "dedup"), "shards")->valuedouble;
        cJSON_Delete(rep);
    }
    ck_assert_double_eq(shards[0], 1);
    ck_assert_double_eq(shards[1], 7);
    ck_assert(shards[2] > 7);
    printf("out_of_core: %g centroids, %g after dedup; shards %g/%g/%g\n", cen[0], dd[0],
           shards[0], shards[1], shards[2]);
    static const char *names[] = {"cdr3_100_cluster.tsv", "heavy_70_cluster.tsv",
                                  "heavy_50_cluster.tsv", "train.txt", "val.txt", "test.txt",
                                  "train.tsv", "val.tsv", "test.tsv"};
    for (int run = 1; run < 3; run++) {
        ck_assert_double_eq(dd[run], dd[0]);
        for (int k = 0; k < 9; k++) {
            char a[700], b[700];
            snprintf(a, sizeof a, "%s/%s", out[0], names[k]);
            snprintf(b, sizeof b, "%s/%s", out[run], names[k]);
            ck_assert_msg(tu_same_file(a, b), "%s differs from %s", b, a);
        }
    }
    free(dir);
}
END_TEST

/* Exact duplicates dropped in shards as in memory (first of each kept);
 * of[] maps every position to its kept sequence's new position. */
START_TEST(sharded_dedup_keeps_first)
{
    const char *seq[40];
    int len[40];
    uint32_t uniq[2][40], of[2][40];
    static const char *pool[5] = {"AAAA", "CCCC", "AAAAC", "DDDD", "CC"};
    for (int i = 0; i < 40; i++) {
        seq[i] = pool[(i * 7) % 5];
        len[i] = (int)strlen(seq[i]);
        uniq[0][i] = uniq[1][i] = (uint32_t)i;
    }
    char *dir = tu_tmpdir();
    size_t m[2] = {40, 40};
    for (int r = 0; r < 2; r++) {
        pp_opts o;
        pp_opts_default(&o);
        o.dedup_shards = r ? 3 : 1;
        cJSON *rep = cJSON_CreateObject();
        cl_arrays arr;
        ck_assert_int_eq(pp_dedup(cl_src_arrays(&arr, seq, len, NULL), uniq[r], &m[r], dir, &o,
                                  "dedup", of[r], rep),
                         TG_OK);
        ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "dedup"), "shards")
                             ->valueint, r ? 3 : 1);
        cJSON_Delete(rep);
    }
    for (int i = 0; i < 40; i++) {
        ck_assert_uint_eq(of[1][i], of[0][i]);
        ck_assert_uint_eq(of[0][i], (uint32_t)(i % 5)); /* pool[7i % 5] first at i % 5 */
        ck_assert_str_eq(seq[uniq[0][of[0][i]]], seq[i]);
    }
    ck_assert_uint_eq(m[0], 5);
    ck_assert_uint_eq(m[1], 5);
    for (int j = 0; j < 5; j++) {
        ck_assert_uint_eq(uniq[1][j], uniq[0][j]);
        ck_assert_uint_eq(uniq[0][j], (uint32_t)j); /* i*7 % 5 hits every pool entry first */
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
    ck_assert_msg(system(cmd) == 0, "shard files left in %s", dir);
    free(dir);
}
END_TEST

/* A rerun skips the read stage (checked by hash); a changed input or a
 * damaged store is read again; outputs stay the same. */
START_TEST(resume_read_stage)
{
    char *dir = tu_tmpdir();
    const char *hdr = "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n";
    char text[2048];
    snprintf(text, sizeof text, "%sA1\t" H1 "\tARDY\tIGH\nA2\t" H2 "\tARTT\tIGH\n"
             "A3\t" H3 "\tARQQ\tIGH\n", hdr);
    const char *a = put(dir, "a.tsv", text);
    char out[600], p1[700], p2[700];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(p1, sizeof p1, "%s/train.txt", out);
    snprintf(p2, sizeof p2, "%s/train_first.txt", dir);
    const char *inputs[] = {a};
    const char *expect[] = {"done", "skipped", "done", "done"};
    double rows[] = {3, 3, 4, 4};
    for (int run = 0; run < 4; run++) {
        if (run == 2) { /* a changed input */
            snprintf(text + strlen(text), sizeof text - strlen(text),
                     "A4\tEVQLLESGGGLVQPGGSLRLSCAASGFTFSNYAMSWVRQAPGKGLEWVSAIS\tAKEE\tIGH\n");
            put(dir, "a.tsv", text);
        }
        if (run == 3) { /* same input, damaged store: the hash check reruns */
            char sp[700];
            snprintf(sp, sizeof sp, "%s/records.store", out);
            FILE *f = fopen(sp, "r+b");
            fseek(f, 130, SEEK_SET);
            fputc('W', f);
            fclose(f);
        }
        pp_opts o;
        pp_opts_default(&o);
        o.leak.sample = 0;
        cJSON *rep = cJSON_CreateObject();
        ck_assert_msg(pp_run(inputs, 1, out, &o, rep) == TG_OK, "%s", tg_last_error());
        ck_assert_msg(!strncmp(stage(rep, "read"), expect[run], strlen(expect[run])),
                      "run %d: read stage '%s'", run, stage(rep, "read"));
        /* the clustering steps follow the store's content: a re-read store
         * with the same records (run 3) skips them too */
        static const char *cl_expect[] = {"done", "skipped", "done", "skipped"};
        static const char *steps[] = {"cdr3_clustering", "clustering_70", "clustering_50"};
        for (int k = 0; k < 3; k++)
            ck_assert_msg(!strncmp(stage(rep, steps[k]), cl_expect[run], strlen(cl_expect[run])),
                          "run %d: %s '%s'", run, steps[k], stage(rep, steps[k]));
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "clustering")), 3);
        ck_assert_double_eq(count(rep, "input_rows"), rows[run]);
        ck_assert_double_eq(count(rep, "after_filters_with_cdr3"), rows[run]);
        if (run == 0) {
            char cmd[1500];
            snprintf(cmd, sizeof cmd, "cp '%s' '%s'", p1, p2);
            ck_assert_int_eq(system(cmd), 0);
        }
        if (run == 1)
            ck_assert_msg(tu_same_file(p1, p2), "resumed run wrote a different train.txt");
        cJSON_Delete(rep);
    }
    /* a damaged rep file or another thread count clusters again */
    {
        char rp[700];
        snprintf(rp, sizeof rp, "%s/clustering_70.rep", out);
        FILE *f = fopen(rp, "r+b");
        fputc(0x7f, f);
        fclose(f);
        pp_opts o;
        pp_opts_default(&o);
        o.leak.sample = 0;
        cJSON *rep = cJSON_CreateObject();
        ck_assert_int_eq(pp_run(inputs, 1, out, &o, rep), TG_OK);
        ck_assert(!strncmp(stage(rep, "cdr3_clustering"), "skipped", 7));
        ck_assert_str_eq(stage(rep, "clustering_70"), "done");
        ck_assert(!strncmp(stage(rep, "clustering_50"), "skipped", 7));
        cJSON_Delete(rep);
        o.cl.threads = 3;
        rep = cJSON_CreateObject();
        ck_assert_int_eq(pp_run(inputs, 1, out, &o, rep), TG_OK);
        ck_assert_str_eq(stage(rep, "cdr3_clustering"), "done");
        cJSON_Delete(rep);
    }
    /* A marker with the right key but not the members a skipped stage
     * restores (fuzz_prepare_resume: a reader without malformed_rows_skipped
     * made `ablm prepare` dereference NULL when printing; a step without its
     * "step" name made the mmseqs check print NULL) runs the stage again. */
    {
        static const char *mk[] = {"prepare_read.json", "prepare_clustering_70.json"};
        for (int k = 0; k < 2; k++) {
            char mp[700];
            snprintf(mp, sizeof mp, "%s/%s", out, mk[k]);
            char *txt = tu_read_file(mp);
            cJSON *m = cJSON_Parse(txt);
            free(txt);
            ck_assert_ptr_nonnull(m);
            if (k == 0)
                cJSON_DeleteItemFromObject(cJSON_GetObjectItem(m, "reader"),
                                           "malformed_rows_skipped");
            else
                cJSON_DeleteItemFromObject(cJSON_GetObjectItem(m, "step"), "step");
            ck_assert(!pp_read_marker_ok(m, 0));
            char *t2 = cJSON_Print(m);
            cJSON_Delete(m);
            FILE *f = fopen(mp, "w");
            fputs(t2, f);
            fclose(f);
            cJSON_free(t2);
            pp_opts o;
            pp_opts_default(&o);
            o.leak.sample = 0;
            cJSON *rep = cJSON_CreateObject();
            ck_assert_msg(pp_run(inputs, 1, out, &o, rep) == TG_OK, "%s", tg_last_error());
            ck_assert_str_eq(stage(rep, k == 0 ? "read" : "clustering_70"), "done");
            const cJSON *rd = cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "input"), "reader");
            ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(rd, "malformed_rows_skipped")));
            cJSON_Delete(rep);
        }
    }
    /* --no-resume reads again */
    pp_opts o;
    pp_opts_default(&o);
    o.leak.sample = 0;
    o.resume = 0;
    cJSON *rep = cJSON_CreateObject();
    ck_assert_int_eq(pp_run(inputs, 1, out, &o, rep), TG_OK);
    ck_assert_str_eq(stage(rep, "read"), "done");
    cJSON_Delete(rep);
    free(dir);
}
END_TEST

static const char *const SET_FILES[6] = {"train.txt", "val.txt", "test.txt",
                                         "train.tsv", "val.tsv", "test.tsv"};

/* Copies the six set files of out into dir/save (made once). */
static void save_sets(const char *out, const char *dir)
{
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/save' && cd '%s' && cp train.txt val.txt test.txt "
             "train.tsv val.tsv test.tsv '%s/save/'", dir, out, dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* 1 when the six set files of out are those saved in dir/save. */
static int same_sets(const char *out, const char *dir)
{
    for (int k = 0; k < 6; k++) {
        char a[1200], b[1200];
        snprintf(a, sizeof a, "%s/%s", out, SET_FILES[k]);
        snprintf(b, sizeof b, "%s/save/%s", dir, SET_FILES[k]);
        if (!tu_same_file(a, b))
            return 0;
    }
    return 1;
}

/* pp_run on inputs into out; the split stage must start with expect (and
 * the clustering steps be skipped). Returns the report. */
static cJSON *split_run(const char *input, const char *out, const pp_opts *o,
                        const char *expect, const char *what)
{
    const char *inputs[] = {input};
    cJSON *rep = cJSON_CreateObject();
    ck_assert_msg(pp_run(inputs, 1, out, o, rep) == TG_OK, "%s: %s", what, tg_last_error());
    ck_assert_msg(!strncmp(stage(rep, "split"), expect, strlen(expect)), "%s: split '%s'", what,
                  stage(rep, "split"));
    ck_assert_msg(!strncmp(stage(rep, "clustering_50"), "skipped", 7), "%s: clustering_50 %s",
                  what, stage(rep, "clustering_50"));
    return rep;
}

/* The split stage resumes: a rerun skips it (stderr and report say so, the
 * set files and the report's split and leakage are the same); any split or
 * leakage option changed, a set file damaged or missing, a marker without
 * what a skip restores, or --no-resume splits again. */
START_TEST(resume_split_stage)
{
    char *dir = tu_tmpdir();
    char chains[700], input[700], out[700], errp[700], rp[800];
    snprintf(chains, sizeof chains, "%s/chains.txt", dir);
    tu_write_chains(chains, 30, 90, 20, 7, 0); /* unrelated: 30 singleton clusters */
    char *c = tu_read_file(chains), *line = c, *nl;
    snprintf(input, sizeof input, "%s/a.tsv", dir);
    FILE *f = fopen(input, "w");
    fputs("sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n", f);
    for (int i = 0; (nl = strchr(line, '\n')); line = nl + 1, i++)
        fprintf(f, "S%d\t%.*s\tAR%.8s\tIGH\n", i, (int)(nl - line), line, line + 20);
    fclose(f);
    free(c);
    snprintf(out, sizeof out, "%s/o", dir); /* not DIR/out: tu_run_in's stdout */
    snprintf(errp, sizeof errp, "%s/err", dir);
    snprintf(rp, sizeof rp, "%s/prepare_report.json", out);
    cJSON *first[2] = {NULL, NULL};
    for (int run = 0; run < 2; run++) { /* the command: stderr and the report file */
        int rc = tu_run_in(dir, cmd_prepare, "prepare", "--input", input, "--out", out,
                           "--leak-sample", "5", NULL);
        char *err = tu_read_file(errp);
        ck_assert_msg(rc == 0, "run %d: %s", run, err);
        char *txt = tu_read_file(rp);
        cJSON *rep = cJSON_Parse(txt);
        free(txt);
        ck_assert_ptr_nonnull(rep);
        ck_assert_str_eq(stage(rep, "split"), run ? "skipped: same clusters and split options, "
                         "set files unchanged (hashes in prepare_split.json)" : "done");
        ck_assert_msg((strstr(err, "prepare: split: skipped") != NULL) == run, "run %d: %s", run,
                      err);
        ck_assert_msg((strstr(err, "prepare: splitting 30 sequences in 30 clusters") == NULL) ==
                          run,
                      "run %d: %s", run, err);
        free(err);
        ck_assert_double_eq(count(rep, "train"), 24);
        ck_assert_double_eq(count(rep, "val") + count(rep, "test"), 6);
        if (!run) {
            save_sets(out, dir);
            first[0] = cJSON_Duplicate(cJSON_GetObjectItem(rep, "split"), 1);
            first[1] = cJSON_Duplicate(cJSON_GetObjectItem(rep, "leakage"), 1);
        } else {
            ck_assert_msg(same_sets(out, dir), "the skipped split changed the set files");
            ck_assert(cJSON_Compare(first[0], cJSON_GetObjectItem(rep, "split"), 1));
            ck_assert_ptr_nonnull(cJSON_GetObjectItem(first[1], "val"));
            ck_assert(cJSON_Compare(first[1], cJSON_GetObjectItem(rep, "leakage"), 1));
        }
        cJSON_Delete(rep);
    }
    cJSON_Delete(first[0]);
    cJSON_Delete(first[1]);
    pp_opts base;
    pp_opts_default(&base);
    base.leak.sample = 5;
    cJSON_Delete(split_run(input, out, &base, "skipped", "API, same options"));
    /* each option of the split or the report, changed from a finished
     * split (base; for the seed, shuffled): runs, then a rerun skips */
    for (int v = 0; v < 12; v++) {
        pp_opts o = base, prev = base;
        switch (v) {
        case 0: o.split.ratios[0] = 0.6, o.split.ratios[1] = 0.2, o.split.ratios[2] = 0.2; break;
        case 1: o.split.order = SP_ORDER_SHUFFLE; break;
        case 2: o.split.order = prev.split.order = SP_ORDER_SHUFFLE, o.split.seed = 7; break;
        case 3: o.split.fill = SP_FILL_REFERENCE; break;
        case 4: o.leak.sample = 4; break;
        case 5: o.leak.seed = 7; break;
        case 6: o.leak.coverage = 0.5; break;
        case 7: o.leak.cov_mode = 1; break;
        case 8: o.leak.candidates = 3; break;
        case 9: o.leak.max_pairs = 1; break;
        case 10: o.leak.worst = 2; break;
        case 11: o.leak.bound3 = 0; break;
        }
        char what[64];
        snprintf(what, sizeof what, "before option %d", v);
        /* prev is the last run's options for 0 (base) and 2 (option 1) */
        cJSON_Delete(split_run(input, out, &prev, v == 0 || v == 2 ? "skipped" : "done", what));
        for (int again = 0; again < 2; again++) {
            snprintf(what, sizeof what, "option %d%s", v, again ? ", rerun" : "");
            cJSON *rep = split_run(input, out, &o, again ? "skipped" : "done", what);
            if (v == 0)
                ck_assert_double_eq(count(rep, "train"), 18);
            cJSON_Delete(rep);
        }
    }
    cJSON_Delete(split_run(input, out, &base, "done", "options back"));
    ck_assert_msg(same_sets(out, dir), "the split with the first options differs");
    /* a damaged or a missing set file: split again, the file restored */
    for (int k = 0; k < 2; k++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", out, k ? "test.tsv" : "val.txt");
        if (k)
            ck_assert_int_eq(remove(p), 0);
        else {
            f = fopen(p, "r+b");
            fputc('W', f);
            fclose(f);
        }
        cJSON_Delete(split_run(input, out, &base, "done", k ? "missing" : "damaged"));
        ck_assert_msg(same_sets(out, dir), "%s not restored", p);
    }
    /* a marker with this key but without a count pp_run reads */
    {
        char mp[800];
        snprintf(mp, sizeof mp, "%s/prepare_split.json", out);
        char *txt = tu_read_file(mp);
        cJSON *m = cJSON_Parse(txt);
        free(txt);
        ck_assert(pp_split_marker_ok(m, 1, 0));
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "split"), "val"),
                                   "sequences");
        ck_assert(!pp_split_marker_ok(m, 1, 0));
        char *t2 = cJSON_Print(m);
        cJSON_Delete(m);
        f = fopen(mp, "w");
        fputs(t2, f);
        fclose(f);
        cJSON_free(t2);
        cJSON_Delete(split_run(input, out, &base, "done", "marker without val.sequences"));
    }
    pp_opts o = base;
    o.resume = 0;
    const char *inputs[] = {input};
    cJSON *rep = cJSON_CreateObject();
    ck_assert_int_eq(pp_run(inputs, 1, out, &o, rep), TG_OK);
    ck_assert_str_eq(stage(rep, "split"), "done");
    cJSON_Delete(rep);
    ck_assert(same_sets(out, dir));
    cJSON_Delete(split_run(input, out, &base, "skipped", "after --no-resume"));
    /* the key is chained from the clustering's: another 50% step splits again */
    for (int k = 0; k < 2; k++) {
        o = base;
        o.split_min_seq_id = k ? 0.5 : 0.3;
        rep = cJSON_CreateObject();
        ck_assert_int_eq(pp_run(inputs, 1, out, &o, rep), TG_OK);
        ck_assert_str_eq(stage(rep, "clustering_50"), "done");
        ck_assert_str_eq(stage(rep, "split"), "done");
        cJSON_Delete(rep);
    }
    ck_assert(same_sets(out, dir));
    free(dir);
}
END_TEST

/* The command's flags: --max-memory sizes the shards (progress on stderr),
 * a rerun says it skipped reading, bad sizes are refused; --pairs takes
 * --max-memory and --no-resume (out of core as the records). */
START_TEST(cli_out_of_core_flags)
{
    char *dir = tu_tmpdir();
    const char *a = put(dir, "a.tsv", "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n"
                                      "A1\t" H1 "\tARDY\tIGH\nA2\t" H2 "\tARTT\tIGH\n"
                                      "A3\t" H1 "\tARQQ\tIGH\n");
    char out[600], errp[700];
    snprintf(out, sizeof out, "%s/o", dir);
    snprintf(errp, sizeof errp, "%s/err", dir);
    ck_assert_int_eq(tu_run_in(dir, cmd_prepare, "prepare", "--input", a, "--out", out,
                               "--max-memory", "100", "--leak-sample", "0", NULL), 0);
    char *err = tu_read_file(errp);
    ck_assert_msg(strstr(err, "prepare: dedup: 3 shards in"), "%s", err);
    ck_assert_msg(strstr(err, "prepare: read: 3 rows in"), "%s", err);
    free(err);
    ck_assert_int_eq(tu_run_in(dir, cmd_prepare, "prepare", "--input", a, "--out", out,
                               "--leak-sample", "0", NULL), 0);
    err = tu_read_file(errp);
    ck_assert_msg(strstr(err, "prepare: read: skipped"), "%s", err);
    free(err);
    ck_assert_int_eq(tu_run_in(dir, cmd_prepare, "prepare", "--input", a, "--out", out,
                               "--max-memory", "2X", NULL), 2);
    err = tu_read_file(errp);
    ck_assert_msg(strstr(err, "--max-memory '2X'"), "%s", err);
    free(err);
    const char *pa = put(dir, "p.tsv", "id\theavy\tlight\nP1\t" H1 "\tDIQMTQSPSSLSASVG\n"
                                       "P2\t" H2 "\tEIVLTQSPGTLSLSPG\nP3\t" H1
                                       "\tDIQMTQSPSSLSASVG\n");
    char pout[600];
    snprintf(pout, sizeof pout, "%s/po", dir);
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(tu_run_in(dir, cmd_prepare, "prepare", "--pairs", "--input", pa,
                                   "--out", pout, "--max-memory", "100", "--leak-sample", "0",
                                   r == 2 ? "--no-resume" : NULL, NULL), 0);
        err = tu_read_file(errp);
        ck_assert_msg(strstr(err, "prepare: reading 1 pair file into the store"), "%s", err);
        ck_assert_msg(strstr(err, "prepare: dedup_pairs: 3 shards in"), "%s", err);
        ck_assert_msg(!strstr(err, "prepare: read: skipped") == (r != 1), "run %d: %s", r, err);
        free(err);
    }
    /* a file of single chains is no pair file: the error names it */
    ck_assert_int_eq(tu_run_in(dir, cmd_prepare, "prepare", "--pairs", "--input", a, "--out",
                               pout, NULL), 1);
    err = tu_read_file(errp);
    ck_assert_msg(strstr(err, "a.tsv: not a pair file"), "%s", err);
    free(err);
    size_t v;
    ck_assert_int_eq(pp_parse_size("2G", &v), 0);
    ck_assert_uint_eq(v, (size_t)2 << 30);
    ck_assert_int_eq(pp_parse_size("1.5k", &v), 0);
    ck_assert_uint_eq(v, 1536);
    ck_assert_int_eq(pp_parse_size("0", &v), -1);
    ck_assert_int_eq(pp_parse_size("", &v), -1);
    ck_assert(pp_default_memory() > 0);
    free(dir);
}
END_TEST

/* A killed run's temp files are removed by the next run on the same OUT:
 * prepare's own NAME.tmp.XXXXXX (OUT's lock proves no live prepare owns
 * them) and the clustering's NAME.PID.tmp.XXXXXX whose PID is dead; a live
 * PID's run file, foreign names, malformed tails, links and directories
 * stay. A second prepare on a locked OUT is refused. */
START_TEST(stale_temp_files_removed)
{
    char *dir = tu_tmpdir();
    const char *a = put(dir, "a.tsv", "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n"
                                      "A1\t" H1 "\tARDY\tIGH\nA2\t" H2 "\tARTT\tIGH\n");
    char out[600];
    snprintf(out, sizeof out, "%s/out", dir);
    ck_assert_int_eq(mkdir(out, 0755), 0);
    pid_t dead = (pid_t)tu_dead_pid();   /* a PID that is no longer alive */
    pid_t live = (pid_t)tu_live_child(); /* a live one: a run in another process */
    char stale[5][128], keep[6][128];
    snprintf(stale[0], 128, "cluster_kmer_runs.%ld.tmp.AbC123", (long)dead);
    snprintf(stale[1], 128, "cluster_edges.%ld.tmp.zz9zzz", (long)dead);
    snprintf(stale[2], 128, "records.store.tmp.Q1w2E3");
    snprintf(stale[3], 128, "train.txt.tmp.aaaaaa");
    snprintf(stale[4], 128, "step_seqs.tmp.Zx81kq"); /* a clustering step's residues */
    snprintf(keep[0], 128, "cluster_pair_runs.%ld.tmp.AAAAAA", (long)live);
    snprintf(keep[1], 128, "notes.txt.tmp.abcdef");            /* not ours */
    snprintf(keep[2], 128, "records.store.tmp.short");         /* not mkstemp's tail */
    snprintf(keep[3], 128, "cluster_kmer_runs.%ld.tmp.AbC123x", (long)dead);
    snprintf(keep[4], 128, "cluster_edges.tmp.AbC123");        /* a run file needs its PID */
    snprintf(keep[5], 128, "cluster_edges.x%ld.tmp.AbC123", (long)dead);
    size_t sizes[5] = {100, 50, 200, 10, 40};
    for (int i = 0; i < 5; i++)
        tu_put_bytes(out, stale[i], sizes[i]);
    for (int i = 0; i < 6; i++)
        tu_put_bytes(out, keep[i], 7);
    /* a link and a directory with our names stay */
    char lp[700], target[700];
    snprintf(target, sizeof target, "%s/a.tsv", dir);
    snprintf(lp, sizeof lp, "%s/train.tsv.tmp.bbbbbb", out);
    ck_assert_int_eq(symlink(target, lp), 0);
    snprintf(lp, sizeof lp, "%s/val.txt.tmp.cccccc", out);
    ck_assert_int_eq(mkdir(lp, 0755), 0);

    /* a prepare holding the lock: refused, nothing removed */
    char lock[700];
    snprintf(lock, sizeof lock, "%s/" PP_LOCK_FILE, out);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    const char *inputs[] = {a};
    pp_opts o;
    pp_opts_default(&o);
    o.leak.sample = 0;
    cJSON *rep = cJSON_CreateObject();
    ck_assert_int_ne(pp_run(inputs, 1, out, &o, rep), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "another ablm prepare is running") &&
                      strstr(tg_last_error(), out), "%s", tg_last_error());
    cJSON_Delete(rep);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(tu_file_size(out, stale[i]) >= 0, "%s removed under another run's lock",
                      stale[i]);
    close(fd);

    rep = cJSON_CreateObject();
    ck_assert_msg(pp_run(inputs, 1, out, &o, rep) == TG_OK, "%s", tg_last_error());
    const cJSON *st = cJSON_GetObjectItem(rep, "stale_temp_files");
    ck_assert_double_eq(cJSON_GetObjectItem(st, "removed")->valuedouble, 5);
    ck_assert_double_eq(cJSON_GetObjectItem(st, "bytes")->valuedouble, 400);
    cJSON_Delete(rep);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(tu_file_size(out, stale[i]) < 0, "%s not removed", stale[i]);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(tu_file_size(out, keep[i]) >= 0, "%s removed", keep[i]);
    ck_assert(tu_file_size(out, "train.tsv.tmp.bbbbbb") >= 0 &&
              tu_file_size(out, "val.txt.tmp.cccccc") >= 0);
    ck_assert(tu_file_size(dir, "a.tsv") >= 0); /* the link's target */
    /* the live run's file goes once its process is gone */
    kill(live, SIGKILL);
    ck_assert_int_eq(waitpid(live, NULL, 0), live);
    size_t n;
    uint64_t bytes;
    ck_assert_int_eq(cl_clean_stale(out, &n, &bytes), TG_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(bytes, 7);
    ck_assert(tu_file_size(out, keep[0]) < 0);
    rep = cJSON_CreateObject();
    ck_assert_int_eq(pp_run(inputs, 1, out, &o, rep), TG_OK);
    st = cJSON_GetObjectItem(rep, "stale_temp_files");
    ck_assert_double_eq(cJSON_GetObjectItem(st, "removed")->valuedouble, 0);
    cJSON_Delete(rep);
    free(dir);
}
END_TEST

/* Number of entries of dir whose name contains ".tmp." (temp files left). */
static int temp_files_in(const char *dir)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp\\.'", dir);
    FILE *p = popen(cmd, "r");
    int k = -1;
    ck_assert(p && fscanf(p, "%d", &k) == 1);
    pclose(p);
    return k;
}

/* Write faults over a whole out-of-core prepare (the store, the markers,
 * the step files of the clustering steps, the dedup shards, the TSVs and
 * set files, the report): the k-th write event of each class fails, for
 * every k until a run no longer reaches it. Each failing run returns an
 * I/O error whose message names a file of OUT and leaves no temporary
 * file; the clean run's output files are then those of a run without
 * faults. */
START_TEST(write_faults_out_of_core)
{
    char *dir = tu_tmpdir();
    const char *a = put(dir, "a.tsv", "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n"
                                      "A1\t" H1 "\tARDY\tIGH\nA2\t" H2 "\tARTT\tIGH\n"
                                      "A3\t" H3 "\tARQQ\tIGH\nA4\t" H1 "\tARDF\tIGH\n");
    const char *inputs[] = {a};
    char ref[600], out[600];
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    pp_opts o;
    pp_opts_default(&o);
    o.leak.sample = 0;
    o.dedup_shards = 2; /* shard files too */
    cJSON *rep = cJSON_CreateObject();
    ck_assert_msg(pp_run(inputs, 1, ref, &o, rep) == TG_OK, "%s", tg_last_error());
    cJSON_Delete(rep);
    ck_assert_int_eq(temp_files_in(ref), 0);
    static const int kinds[] = {TG_AFAULT_CREATE, TG_AFAULT_SHORT, TG_AFAULT_ENOSPC,
                                TG_AFAULT_FSYNC, TG_AFAULT_RENAME};
    static const char *files[] = {"cdr3_100_cluster.tsv", "heavy_70_cluster.tsv",
                                  "heavy_50_cluster.tsv", "train.tsv", "val.tsv", "test.tsv"};
    int failing = 0, per[5] = {0};
    for (int q = 0; q < 5; q++)
        for (long k = 1;; k++) {
            ck_assert_int_lt(k, 400);
            char rm[700];
            snprintf(rm, sizeof rm, "rm -rf '%s'", out);
            ck_assert_int_eq(system(rm), 0);
            tg_afile_fault(kinds[q], k);
            rep = cJSON_CreateObject();
            int rc = pp_run(inputs, 1, out, &o, rep);
            int fired = tg_afile_fault_fired();
            tg_afile_fault(TG_AFAULT_OFF, 0);
            cJSON_Delete(rep);
            ck_assert_int_eq(temp_files_in(out), 0);
            if (!fired) {
                ck_assert_msg(rc == TG_OK, "kind %d, k %ld: %s", kinds[q], k, tg_last_error());
                for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
                    char p0[800], p1[800];
                    snprintf(p0, sizeof p0, "%s/%s", ref, files[f]);
                    snprintf(p1, sizeof p1, "%s/%s", out, files[f]);
                    ck_assert_msg(tu_same_file(p0, p1), "%s differs", files[f]);
                }
                break;
            }
            failing++;
            per[q]++;
            ck_assert_msg(rc == TG_ERR_IO && strstr(tg_last_error(), out),
                          "kind %d, k %ld: status %d: %s", kinds[q], k, rc, tg_last_error());
        }
    printf("write_faults_out_of_core: %d failing runs (create %d, short %d, enospc %d, fsync %d, "
           "rename %d)\n", failing, per[0], per[1], per[2], per[3], per[4]);
    ck_assert_int_gt(failing, 20);
    free(dir);
}
END_TEST

/* pp_run on the two inputs in memory or out of core with `shards` shards. */
static int run_ids_mode(const char *const *inputs, const char *out, int in_mem, int shards,
                        cJSON *rep)
{
    pp_opts o;
    pp_opts_default(&o);
    o.leak.sample = 0;
    o.in_memory = in_mem;
    o.dedup_shards = shards;
    return pp_run(inputs, 2, out, &o, rep);
}

/* Out of core the ids are made unique without a copy of them (pp_store_ids:
 * one map, or hash shards): the same ids_made_unique and byte-identical
 * output files as in memory, with an id repeated within a file, across
 * files, three times, and by a record without a CDR3; an id equal to a
 * generated ID@FILE:LINE name is the same error in every mode. */
START_TEST(ids_out_of_core)
{
    char *dir = tu_tmpdir();
    const char *hdr = "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n";
    char ta[4096], tb[4096];
    snprintf(ta, sizeof ta, "%sx\t" H1 "\tARDY\tIGH\nx\t" H2 "\tARTT\tIGH\ndup\t" H3
             "\tARQQ\tIGH\nu1\tQQQ\t\tIGH\nz\t" H1 "\tAKEE\tIGH\n", hdr);
    snprintf(tb, sizeof tb, "%sdup\t" H2 "\tARWW\tIGH\nu1\t" H3 "\tARFF\tIGH\ndup\t" H1
             "\tARGG\tIGH\nb1\t" H2 "\tARDY\tIGH\n", hdr);
    const char *a = put(dir, "a.tsv", ta);
    const char *b = put(dir, "b.tsv", tb);
    const char *inputs[] = {a, b};
    static const char *files[] = {"cdr3_100_cluster.tsv", "heavy_70_cluster.tsv",
                                  "heavy_50_cluster.tsv", "train.tsv", "val.tsv", "test.tsv",
                                  "train.txt", "val.txt", "test.txt"};
    char outs[3][700];
    int shards[3] = {0, 0, 7}, in_mem[3] = {1, 0, 0};
    for (int m = 0; m < 3; m++) {
        snprintf(outs[m], sizeof outs[m], "%s/o%d", dir, m);
        cJSON *rep = cJSON_CreateObject();
        ck_assert_msg(run_ids_mode(inputs, outs[m], in_mem[m], shards[m], rep) == TG_OK, "%s",
                      tg_last_error());
        const cJSON *in = cJSON_GetObjectItem(rep, "input");
        ck_assert_double_eq(cJSON_GetObjectItem(in, "ids_made_unique")->valuedouble, 7);
        if (!in_mem[m])
            ck_assert_double_eq(cJSON_GetObjectItem(in, "ids_shards")->valuedouble,
                                shards[m] ? shards[m] : 1);
        cJSON_Delete(rep);
        for (size_t f = 0; m && f < sizeof files / sizeof *files; f++) {
            char p0[2200], p1[2200];
            snprintf(p0, sizeof p0, "%s/%s", outs[0], files[f]);
            snprintf(p1, sizeof p1, "%s/%s", outs[m], files[f]);
            ck_assert_msg(tu_same_file(p0, p1), "mode %d: %s differs", m, files[f]);
        }
    }
    char *t = slurp(outs[2], "cdr3_100_cluster.tsv", NULL);
    ck_assert_msg(strstr(t, "x@a.tsv:2\t") && strstr(t, "x@a.tsv:3\t") &&
                      strstr(t, "dup@a.tsv:4\t") && strstr(t, "dup@b.tsv:2\t") &&
                      strstr(t, "dup@b.tsv:4\t") && strstr(t, "u1@b.tsv:3\t") &&
                      strstr(t, "\tz\n") && strstr(t, "\tb1\n"), "%s", t);
    free(t);
    /* an id that is a generated name: an error naming both records */
    snprintf(tb + strlen(tb), sizeof tb - strlen(tb), "x@a.tsv:3\t" H3 "\tARCC\tIGH\n");
    put(dir, "b.tsv", tb);
    char first[4096] = "";
    for (int m = 0; m < 3; m++) {
        cJSON *rep = cJSON_CreateObject();
        ck_assert_int_eq(run_ids_mode(inputs, outs[m], in_mem[m], shards[m], rep),
                         TG_ERR_FORMAT);
        cJSON_Delete(rep);
        const char *e = tg_last_error();
        ck_assert_msg(strstr(e, "record id 'x@a.tsv:3' is given twice, by a.tsv:3 and b.tsv:6"),
                      "mode %d: %s", m, e);
        if (!m)
            snprintf(first, sizeof first, "%s", e);
        else
            ck_assert_str_eq(e, first);
    }
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prepare");
    TCase *t = tcase_create("prepare");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, counts_and_dedup);
    tcase_add_test(t, bad_inputs_fail_or_skip);
    tcase_add_test(t, ids_through_prepare);
    tcase_add_test(t, real_subset);
    tcase_add_test(t, out_of_core_same_as_in_memory);
    tcase_add_test(t, sharded_dedup_keeps_first);
    tcase_add_test(t, resume_read_stage);
    tcase_add_test(t, resume_split_stage);
    tcase_add_test(t, cli_out_of_core_flags);
    tcase_add_test(t, stale_temp_files_removed);
    tcase_add_test(t, ids_out_of_core);
    tcase_add_test(t, write_faults_out_of_core);
    suite_add_tcase(s, t);
    return tu_run(s);
}
