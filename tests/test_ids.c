/* Record ids in the inference commands' outputs: OUT.records.tsv beside
 * the .npy of embed and logits (line i = array row i), the id columns of
 * score and fill-mask; source ids from tables, FASTA names, FILE:LINE,
 * repeated ids as ID@FILE:LINE; spaced residues and [MASK] as input. */
#define _POSIX_C_SOURCE 200809L
#include "commands.h"
#include "config.h"
#include "roberta.h"
#include "tg.h"
#include "testutil.h"
#include "tokenizer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static char model[2048];

static const char *path(const char *name)
{
    static char bufs[8][2048];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A heavy_tiny model with random weights in dir/model. */
static void setup(void)
{
    dir = tu_tmpdir();
    snprintf(model, sizeof model, "%s/model", dir);
    ck_assert_int_eq(mkdir(model, 0755), 0);
    const char *src = tu_source_dir();
    char cfgp[2048];
    snprintf(cfgp, sizeof cfgp, "%s/configs/heavy_tiny.json", src ? src : "..");
    rb_config cfg;
    ck_assert_int_eq(rb_config_load(cfgp, &cfg), TG_OK);
    rb_model *m;
    ck_assert_int_eq(rb_model_new(&cfg, &m), TG_OK);
    rb_model_init(m, 3);
    ck_assert_int_eq(rb_model_save(m, model), TG_OK);
    ck_assert_int_eq(rb_config_save(&cfg, model), TG_OK);
    rb_model_free(m);
    tok_tokenizer *t;
    ck_assert_int_eq(tok_new(&t), TG_OK);
    ck_assert_int_eq(tok_save(t, model, cfg.max_position_embeddings - 2), TG_OK);
    tok_free(t);
}

static void teardown(void)
{
    free(dir);
    dir = NULL;
}

/* Runs fn(argv) with stdout to dir/out and stderr to dir/err; the
 * NULL-terminated arguments follow the command name. */
static int run(int (*fn)(int, char **), const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    int rc = tu_run_cmd_va(fn, path("out"), path("err"), name, ap);
    va_end(ap);
    return rc;
}

/* Column col (0-based) of every data line of a TSV with a header, joined
 * by ' '. */
static char *column(const char *p, int col)
{
    char *t = tu_read_file(p), *out = calloc(strlen(t) + 1, 1), *save;
    int first = 1;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (first) { /* header */
            first = 0;
            continue;
        }
        char *c = l;
        for (int k = 0; k < col && c; k++)
            c = strchr(c, '\t') ? strchr(c, '\t') + 1 : NULL;
        ck_assert_ptr_nonnull(c);
        size_t n = strcspn(c, "\t");
        if (out[0])
            strcat(out, " ");
        strncat(out, c, n);
    }
    free(t);
    return out;
}

#define H1 "EVQLVESGGGLVQPGGSLRLSCAASGFTFS"
#define H2 "QVQLVQSGAEVKKPGASVKVSCKASGYTF"
#define H3 "QVQLQESGPGLVKPSETLSLTCTVSGG"

START_TEST(npy_outputs_have_records)
{
    /* AIRR: sequence_id, one empty (FILE:LINE), one repeated */
    write_text("r.tsv", "sequence_id\tsequence_alignment_aa\tlocus\n"
                        "GN5SHBT02D2WUN\t" H1 "\tIGH\n"
                        "x\t" H2 "\tIGH\n"
                        "\t" H3 "\tIGH\n"
                        "x\tEVQL\tIGH\n");
    ck_assert_int_eq(run(cmd_embed, "embed", "--model", model, "--input", path("r.tsv"),
                         "--output", path("e.npy"), "--batch-size", "2", NULL), 0);
    char *t = tu_read_file(path("e.records.tsv"));
    ck_assert_str_eq(t, "index\tid\tlength\n"
                        "0\tGN5SHBT02D2WUN\t30\n"
                        "1\tx@r.tsv:3\t29\n"
                        "2\tr.tsv:4\t27\n"
                        "3\tx@r.tsv:5\t4\n");
    free(t);
    /* --per-residue and logits name the rows the same way */
    ck_assert_int_eq(run(cmd_embed, "embed", "--model", model, "--input", path("r.tsv"),
                         "--output", path("pr"), "--per-residue", NULL), 0);
    char *a = tu_read_file(path("e.records.tsv")), *b = tu_read_file(path("pr.records.tsv"));
    ck_assert_str_eq(a, b);
    free(b);
    ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("r.tsv"),
                         "--output", path("lg.npy"), NULL), 0);
    b = tu_read_file(path("lg.records.tsv"));
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    /* the score TSV's id column is the same list, in the same order */
    ck_assert_int_eq(run(cmd_score, "score", "--model", model, "--input", path("r.tsv"),
                         "--output", path("s.tsv"), NULL), 0);
    a = column(path("s.tsv"), 0);
    b = column(path("lg.records.tsv"), 1);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    /* a failed run leaves no records file behind */
    write_text("bad.fa", ">ok\nEVQL\n>bad\nEV1QL\n");
    ck_assert_int_eq(run(cmd_embed, "embed", "--model", model, "--input", path("bad.fa"),
                         "--output", path("bad.npy"), NULL), 1);
    ck_assert_int_eq(access(path("bad.records.tsv"), F_OK), -1);
    t = tu_read_file(path("err"));
    ck_assert_msg(strstr(t, "bad.fa:4:3: unexpected character '1'"), "%s", t);
    free(t);
}
END_TEST

START_TEST(text_inputs_and_masks)
{
    /* FASTA names (a repeated one renamed), spaced residues, [MASK] */
    write_text("m.fa", ">h1 first\nE V Q L V E S [MASK] G\n>h2\nQVQL*ESG\n>h1\nEVQ[MASK]\n");
    ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("m.fa"),
                         "--output", path("m.npy"), NULL), 0);
    char *t = tu_read_file(path("m.records.tsv"));
    ck_assert_str_eq(t, "index\tid\tlength\n0\th1@m.fa:1\t9\n1\th2\t8\n2\th1@m.fa:5\t4\n");
    free(t);
    ck_assert_int_eq(run(cmd_fill_mask, "fill-mask", "--model", model, "--input", path("m.fa"),
                         "--top-k", "1", NULL), 0);
    t = column(path("out"), 1);
    ck_assert_str_eq(t, "h1@m.fa:1 h2 h1@m.fa:5");
    free(t);
    t = column(path("out"), 2); /* positions of the masks */
    ck_assert_str_eq(t, "8 5 4");
    free(t);
    /* plain text: FILE:LINE, blank lines skipped but counted in the line */
    write_text("p.txt", "E V Q L V E S\n\nQ V Q L\n");
    ck_assert_int_eq(run(cmd_score, "score", "--model", model, "--input", path("p.txt"),
                         "--output", path("p.tsv"), NULL), 0);
    t = column(path("p.tsv"), 0);
    ck_assert_str_eq(t, "p.txt:1 p.txt:3");
    free(t);
    t = column(path("p.tsv"), 1);
    ck_assert_str_eq(t, "7 4");
    free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ids");
    TCase *t = tcase_create("ids");
    tcase_set_timeout(t, 300);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, npy_outputs_have_records);
    tcase_add_test(t, text_inputs_and_masks);
    suite_add_tcase(s, t);
    return tu_run(s);
}
