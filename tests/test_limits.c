/* The documented limits (docs/reliability.md, "Limits"): each one accepted
 * at the limit where that is cheap, and refused just past it with an error
 * naming the file (and line) or the sequence and the limit: record length
 * (RD_MAX_SEQ), id length (RD_MAX_ID), line length (RD_MAX_LINE), the
 * alignment matrix (ALN_MAX_CELLS: aln_align and cl_cluster), the
 * safetensors header (ST_MAX_HEADER), config.json / vocab.txt /
 * tokenizer.json sizes, the inference sequence length (the model's
 * positions; --truncate), --max_seq_length's range. */
#include "align.h"
#include "cluster.h"
#include "commands.h"
#include "config.h"
#include "reader.h"
#include "safetensors.h"
#include "testutil.h"
#include "tg.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;

static const char *tpath(const char *name)
{
    static char buf[32][4200];
    static int i;
    i = (i + 1) % 32;
    if (!dir)
        dir = tu_tmpdir();
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

/* n residues of a fixed pseudo-random sequence (seeded) into a malloc'ed string. */
static char *residues(int n, unsigned seed)
{
    char *s = malloc((size_t)n + 1);
    for (int i = 0; i < n; i++)
        s[i] = "ACDEFGHIKLMNPQRSTVWY"[((seed = seed * 1103515245u + 12345u) >> 16) % 20];
    s[n] = 0;
    return s;
}

/* Reads path with the default options; returns the status (records freed). */
static int read_file(const char *path, size_t *n)
{
    rd_opts o;
    rd_opts_default(&o);
    char **ids, **seqs;
    int rc = rd_read_all(path, &o, &ids, &seqs, n, NULL);
    if (rc == TG_OK) {
        rd_free_strings(ids, *n);
        rd_free_strings(seqs, *n);
    }
    return rc;
}

static void expect(const char *what, const char *a, const char *b)
{
    const char *m = tg_last_error();
    printf("%s: %s\n", what, m);
    ck_assert_msg(strstr(m, a) && (!b || strstr(m, b)), "%s: the error lacks '%s'%s%s: %s", what,
                  a, b ? " / " : "", b ? b : "", m);
}

START_TEST(record_length)
{
    const char *p = tpath("long.fa");
    FILE *f = fopen(p, "w");
    char *ok = residues(RD_MAX_SEQ, 1), *big = residues(RD_MAX_SEQ + 1, 2);
    fprintf(f, ">ok\n%s\n>big\n%.60s\n%s\n", ok, big, big + 60); /* a wrapped record */
    fclose(f);
    size_t n;
    ck_assert_int_ne(read_file(p, &n), TG_OK);
    expect("FASTA record", p, "100000");
    f = fopen(p, "w");
    fprintf(f, ">ok\n%s\n", ok);
    fclose(f);
    ck_assert_msg(read_file(p, &n) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(n, 1);
    /* a CSV cell past the limit: the cell is over a line of 1 MiB too, so
     * a table's record limit is the cell's (both are errors) */
    p = tpath("long.csv");
    f = fopen(p, "w");
    fprintf(f, "sequence_id,sequence_alignment_aa\nx1,%s\n", big);
    fclose(f);
    ck_assert_int_ne(read_file(p, &n), TG_OK);
    expect("CSV cell", p, ":2");
    free(ok);
    free(big);
}
END_TEST

START_TEST(line_and_id_length)
{
    /* a table row over RD_MAX_LINE (a long cell of a column not read) */
    const char *p = tpath("line.csv");
    FILE *f = fopen(p, "w");
    fputs("sequence_id,sequence_alignment_aa,note\nx1,ACDEFG,", f);
    for (int i = 0; i < RD_MAX_LINE + 10; i++)
        fputc('a', f);
    fputc('\n', f);
    fclose(f);
    size_t n;
    ck_assert_int_ne(read_file(p, &n), TG_OK);
    expect("line", p, "1048576");
    p = tpath("id.fa");
    char id[RD_MAX_ID + 2];
    memset(id, 'n', sizeof id - 1);
    id[RD_MAX_ID + 1] = 0;
    f = fopen(p, "w");
    fprintf(f, ">%s\nACDEFG\n", id);
    fclose(f);
    ck_assert_int_ne(read_file(p, &n), TG_OK);
    expect("id", p, "1000");
    id[RD_MAX_ID] = 0;
    f = fopen(p, "w");
    fprintf(f, ">%s\nACDEFG\n", id);
    fclose(f);
    ck_assert_msg(read_file(p, &n) == TG_OK, "%s", tg_last_error());
}
END_TEST

START_TEST(alignment_matrix)
{
    aln_params ap;
    aln_params_default(&ap);
    aln_result r;
    int big = 11586; /* 11586^2 > 2^27 > 11585^2 */
    ck_assert((unsigned long long)big * big > ALN_MAX_CELLS);
    ck_assert((unsigned long long)(big - 1) * (big - 1) <= ALN_MAX_CELLS);
    char *a = residues(big, 3), *b = residues(big, 4);
    ck_assert_int_eq(aln_align(&ap, a, big, b, big, &r), TG_ERR_ARG);
    expect("aln_align", "11586 x 11586", "ALN_MAX_CELLS");
    /* identical sequences need no matrix: not limited */
    ck_assert_int_eq(aln_align(&ap, a, big, a, big, &r), TG_OK);
    ck_assert_double_eq(r.identity, 1.0);
    /* a long one against a short one is fine */
    ck_assert_int_eq(aln_align(&ap, a, big, b, 2000, &r), TG_OK);
    /* clustering refuses before any work */
    const char *seqs[3] = {a, b, "ACDEFGHIKL"};
    int lens[3] = {big, big, 10};
    uint32_t rep[3];
    cl_opts o;
    cl_opts_default(&o);
    o.min_seq_id = 0.5;
    ck_assert_int_eq(cl_cluster(seqs, lens, 3, &o, rep, NULL), TG_ERR_ARG);
    expect("cl_cluster", "input sequence 1", "ALN_MAX_CELLS");
    lens[1] = 2000;
    ck_assert_msg(cl_cluster(seqs, lens, 3, &o, rep, NULL) == TG_OK, "%s", tg_last_error());
    free(a);
    free(b);
}
END_TEST

START_TEST(file_sizes)
{
    /* a safetensors header length past ST_MAX_HEADER */
    const char *p = tpath("huge.safetensors");
    FILE *f = fopen(p, "wb");
    unsigned long long len = ST_MAX_HEADER + 1;
    for (int i = 0; i < 8; i++)
        fputc((int)(len >> (8 * i)) & 0xff, f);
    fputs("{}", f);
    fclose(f);
    st_file *sf;
    ck_assert_int_ne(st_open(p, &sf), TG_OK);
    expect("safetensors header", p, "100000000");
    /* config.json over 1 MiB */
    const char *d = tpath("model");
    mkdir(d, 0755);
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s/config.json", d);
    f = fopen(cfg, "w");
    fputs("{\"model_type\": \"roberta\", \"x\": \"", f);
    for (int i = 0; i < (1 << 20); i++)
        fputc('a', f);
    fputs("\"}", f);
    fclose(f);
    rb_config c;
    ck_assert_int_ne(rb_config_load(d, &c), TG_OK);
    expect("config.json", cfg, "1048576");
}
END_TEST

/* Inference: a sequence longer than the model's positions is an error
 * naming the record, unless --truncate; ablm train caps --max_seq_length. */
START_TEST(sequence_length)
{
    char model[4300];
    snprintf(model, sizeof model, "%s/tests/fixtures/roberta_tiny", tu_source_dir());
    /* max_position_embeddings 66, pad 0: 65 positions, [CLS] + 63 + [SEP] */
    char *ok = residues(63, 5), *big = residues(64, 6);
    FILE *f = fopen(tpath("in.fa"), "w");
    fprintf(f, ">fits\n%s\n>long\n%s\n", ok, big);
    fclose(f);
    char out[4300];
    snprintf(out, sizeof out, "%s", tpath("e.npy"));
    char *argv[] = {"embed", "--model", model, "--input", (char *)tpath("in.fa"), "--output", out,
                    NULL, NULL};
    ck_assert_int_eq(tu_run_cmd(cmd_embed, 7, argv, tpath("o"), tpath("e")), 1);
    expect("embed", "long", "--truncate");
    ck_assert_msg(access(out, F_OK) != 0, "an output was written");
    argv[7] = "--truncate";
    ck_assert_msg(tu_run_cmd(cmd_embed, 8, argv, tpath("o"), tpath("e")) == 0, "%s", tg_last_error());
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s/configs/heavy_tiny.json", tu_source_dir());
    char *targ[] = {"train", "--config_name", cfg, "--train_file", (char *)tpath("in.fa"),
                    "--output_dir", (char *)tpath("t"), "--max_seq_length", "2000000", NULL};
    ck_assert_int_eq(tu_run_cmd(cmd_train, 9, targ, tpath("o"), tpath("e")), 2);
    expect("--max_seq_length", "max_seq_length", "1048576");
    free(ok);
    free(big);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, record_length);
    tcase_add_test(tc, line_and_id_length);
    tcase_add_test(tc, alignment_matrix);
    tcase_add_test(tc, file_sizes);
    tcase_add_test(tc, sequence_length);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
