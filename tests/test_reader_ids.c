/* Readers: record ids (sequence_id cells, paired heavy/light ids, FASTA
 * names, the FILE:LINE fallback), ids made unique over several files, and
 * text input with spaced residues and [MASK]. */
#include "reader.h"
#include "tg.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

static const char *put(const char *name, const char *text)
{
    static char p[8][1024];
    static int k;
    char *q = p[k++ % 8];
    snprintf(q, sizeof p[0], "%s/%s", dir, name);
    FILE *f = fopen(q, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return q;
}

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void)
{
    free(dir);
    dir = NULL;
}

/* Reads every record of path with o; ids/seqs joined by ' ' into the
 * buffers. Returns the final status. */
static int read_joined(const char *path, const rd_opts *o, char *ids, char *seqs, size_t cap)
{
    rd_reader *r;
    int st = rd_open(&r, path, o);
    if (st)
        return st;
    ids[0] = seqs[0] = '\0';
    rd_record rec;
    while ((st = rd_next(r, &rec)) == 1) {
        snprintf(ids + strlen(ids), cap - strlen(ids), "%s%s", ids[0] ? " " : "", rec.id);
        snprintf(seqs + strlen(seqs), cap - strlen(seqs), "%s%s", seqs[0] ? " " : "", rec.seq);
    }
    rd_close(r);
    return st;
}

START_TEST(table_ids)
{
    char ids[1024], seqs[1024];
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    /* AIRR: sequence_id; an empty cell falls back to FILE:LINE */
    const char *a = put("a.tsv", "sequence_id\tsequence_alignment_aa\tlocus\n"
                                 "GN5SHBT02D2WUN\tEVQLVES\tIGH\n"
                                 "\tQVQLQES\tIGH\n"
                                 "cell-7_contig_1\tDIQMTQS\tIGK\n");
    ck_assert_int_eq(read_joined(a, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(ids, "GN5SHBT02D2WUN a.tsv:3 cell-7_contig_1");
    /* OAS paired: the chosen chain's sequence_id_heavy / _light */
    const char *p = put("p.csv", "\"{\"\"Chain\"\": \"\"Paired\"\"}\"\n"
                                 "sequence_id_heavy,sequence_alignment_aa_heavy,"
                                 "sequence_id_light,sequence_alignment_aa_light\n"
                                 "AAAC-1_contig_1,EVQLVES,AAAC-1_contig_2,DIQMTQS\n"
                                 "GGGT-1_contig_2,QVQLQES,GGGT-1_contig_1,EIVLTQS\n");
    o.chain = RD_CHAIN_HEAVY;
    ck_assert_int_eq(read_joined(p, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(ids, "AAAC-1_contig_1 GGGT-1_contig_2");
    ck_assert_str_eq(seqs, "EVQLVES QVQLQES");
    o.chain = RD_CHAIN_LIGHT;
    ck_assert_int_eq(read_joined(p, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(ids, "AAAC-1_contig_2 GGGT-1_contig_1");
    ck_assert_str_eq(seqs, "DIQMTQS EIVLTQS");
    /* no id column (OAS unpaired units have none): FILE:LINE */
    const char *u = put("u.csv", "sequence_alignment_aa,cdr3_aa\nEVQLVES,AR\nQVQLQES,AK\n");
    o.chain = RD_CHAIN_ANY;
    ck_assert_int_eq(read_joined(u, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(ids, "u.csv:2 u.csv:3");
    /* FASTA: the first word of the header; an empty header FILE:LINE */
    const char *f = put("f.fa", ">sp|P01857|IGHG1 heavy constant\nASTKGP\n>\nEVQL\n");
    ck_assert_int_eq(read_joined(f, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(ids, "sp|P01857|IGHG1 f.fa:3");
}
END_TEST

START_TEST(bad_ids)
{
    char ids[1024], seqs[1024];
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    /* an id with a blank (or any control byte) cannot go into TSV/FASTA */
    const char *c = put("c.csv", "sequence_id,sequence_alignment_aa\n"
                                 "ok1,EVQLVES\n"
                                 "\"cell 2\",QVQLQES\n"
                                 "\"tab\there\",QVQLQES\n"
                                 "ok4,DIQMTQS\n");
    ck_assert_int_eq(read_joined(c, &o, ids, seqs, sizeof ids), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "c.csv:3: column sequence_id, character 5: a blank "
                                          "in the id 'cell 2'"),
                  "%s", tg_last_error());
    o.on_error = RD_ON_ERROR_SKIP;
    rd_reader *r;
    ck_assert_int_eq(rd_open(&r, c, &o), TG_OK);
    rd_record rec;
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.id, "ok1");
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.id, "ok4");
    ck_assert_int_eq(rd_next(r, &rec), 0);
    ck_assert_uint_eq(rd_get_stats(r)->skipped_malformed, 2);
    ck_assert_ptr_nonnull(strstr(rd_get_stats(r)->msgs[1], "c.csv:4: column sequence_id, "
                                                          "character 4: byte 0x09"));
    rd_close(r);
    /* an id longer than RD_MAX_ID */
    size_t n = RD_MAX_ID + 200;
    char *big = malloc(n + 64);
    strcpy(big, "sequence_id,sequence_alignment_aa\n");
    size_t k = strlen(big);
    memset(big + k, 'i', RD_MAX_ID + 1);
    strcpy(big + k + RD_MAX_ID + 1, ",EVQL\n");
    const char *l = put("l.csv", big);
    free(big);
    o.on_error = RD_ON_ERROR_FAIL;
    ck_assert_int_eq(read_joined(l, &o, ids, seqs, sizeof ids), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "l.csv:2: column sequence_id: an id of 1001 bytes"),
                  "%s", tg_last_error());
}
END_TEST

/* Duplicated ids across and within files: every occurrence renamed
 * ID@FILE:LINE, unique ones untouched, whatever the file order. */
START_TEST(unique_over_files)
{
    const char *a = put("a.fa", ">x\nEVQL\n>y\nQVQL\n>x\nDIQM\n");
    const char *b = put("b.tsv", "sequence_id\tsequence_alignment_aa\ny\tEIVL\nz\tQVQLQ\n");
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    const char *both[] = {a, b}, *rev[] = {b, a};
    rd_ids ids;
    char **seqs;
    size_t n, renamed;
    rd_ids_init(&ids);
    ck_assert_int_eq(rd_read_files(both, 2, &o, &ids, &seqs, &n, NULL, &renamed), TG_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(renamed, 4);
    const char *want[] = {"x@a.fa:1", "y@a.fa:3", "x@a.fa:5", "y@b.tsv:2", "z"};
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(rd_ids_get(&ids, i), want[i]);
    ck_assert_str_eq(seqs[3], "EIVL");
    rd_free_strings(seqs, n);
    rd_ids_free(&ids);
    /* the other order names each record the same */
    rd_ids_init(&ids);
    ck_assert_int_eq(rd_read_files(rev, 2, &o, &ids, &seqs, &n, NULL, NULL), TG_OK);
    ck_assert_str_eq(rd_ids_get(&ids, 0), "y@b.tsv:2");
    ck_assert_str_eq(rd_ids_get(&ids, 1), "z");
    ck_assert_str_eq(rd_ids_get(&ids, 4), "x@a.fa:5");
    rd_free_strings(seqs, n);
    rd_ids_free(&ids);
    /* one file alone: nothing repeated in b, nothing renamed */
    rd_ids_init(&ids);
    ck_assert_int_eq(rd_read_files(&b, 1, &o, &ids, &seqs, &n, NULL, &renamed), TG_OK);
    ck_assert_uint_eq(renamed, 0);
    ck_assert_str_eq(rd_ids_get(&ids, 0), "y");
    rd_free_strings(seqs, n);
    rd_ids_free(&ids);
    /* the same file twice cannot be told apart: an error naming both */
    const char *twice[] = {b, b};
    rd_ids_init(&ids);
    ck_assert_int_eq(rd_read_files(twice, 2, &o, &ids, &seqs, &n, NULL, NULL), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "record id 'y@b.tsv:2' is given twice, by b.tsv:2 and "
                                          "b.tsv:2"),
                  "%s", tg_last_error());
    rd_ids_free(&ids);
}
END_TEST

/* Every allocation of reading and renaming failing in turn: TG_ERR_NOMEM
 * and nothing leaked (ASan build), or the full result. */
START_TEST(alloc_failures_are_clean)
{
    const char *a = put("a.fa", ">x\nEVQL\n>y\nQVQL\n>x\nDIQM\n");
    const char *b = put("b.tsv", "sequence_id\tsequence_alignment_aa\ny\tEIVL\nz\tQVQLQ\n");
    const char *both[] = {a, b};
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    int saw_nomem = 0, saw_ok = 0;
    for (long k = 1; k < 80; k++) {
        rd_ids ids;
        rd_ids_init(&ids);
        char **seqs;
        size_t n;
        tg_alloc_fail_after(k);
        int st = rd_read_files(both, 2, &o, &ids, &seqs, &n, NULL, NULL);
        tg_alloc_fail_after(0);
        if (st == TG_OK) {
            ck_assert_uint_eq(n, 5);
            ck_assert_str_eq(rd_ids_get(&ids, 4), "z");
            ck_assert_str_eq(rd_ids_get(&ids, 3), "y@b.tsv:2");
            rd_free_strings(seqs, n);
            saw_ok = 1;
        } else {
            ck_assert_int_eq(st, TG_ERR_NOMEM);
            saw_nomem = 1;
        }
        rd_ids_free(&ids);
    }
    ck_assert(saw_nomem && saw_ok);
}
END_TEST

/* ProtBERT-style spaced residues and [MASK] in text input. */
START_TEST(spaced_residues_and_mask)
{
    char ids[1024], seqs[1024];
    rd_opts o;
    rd_opts_default(&o);
    const char *s = put("s.txt", "E V Q L V E S\nQ V Q L\n");
    rd_reader *r;
    ck_assert_int_eq(rd_open(&r, s, &o), TG_OK);
    ck_assert_int_eq(rd_format_of(r), RD_FMT_PLAIN);
    rd_close(r);
    ck_assert_int_eq(read_joined(s, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(seqs, "EVQLVES QVQL");
    ck_assert_str_eq(ids, "s.txt:1 s.txt:2");
    /* [MASK] after spaced lines, and as the first line: kept for inference */
    const char *m = put("m.txt", "E V Q L\nE V [MASK] L\n[MASK] V Q L\n");
    const char *m1 = put("m1.txt", "[MASK] V Q L\nEV[MASK]L\n");
    o.allow_mask = 1;
    ck_assert_int_eq(read_joined(m, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(seqs, "EVQL EV[MASK]L [MASK]VQL");
    ck_assert_int_eq(read_joined(m1, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(seqs, "[MASK]VQL EV[MASK]L");
    /* a [MASK] counts as one residue for the length filters */
    o.min_length = 4;
    ck_assert_int_eq(read_joined(m1, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(seqs, "[MASK]VQL EV[MASK]L");
    o.min_length = 5;
    ck_assert_int_eq(read_joined(m1, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(seqs, "");
    o.min_length = 0;
    /* FASTA with spaced lines and a mask */
    const char *f = put("f.fa", ">h1 spaced\nE V Q L\nV E S [MASK]\n");
    ck_assert_int_eq(read_joined(f, &o, ids, seqs, sizeof ids), 0);
    ck_assert_str_eq(ids, "h1");
    ck_assert_str_eq(seqs, "EVQLVES[MASK]");
    /* the data commands do not take masks: a clear error */
    o.allow_mask = 0;
    ck_assert_int_eq(read_joined(m, &o, ids, seqs, sizeof ids), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "m.txt:2:5: [MASK] in a sequence: only the inference "
                                          "commands"),
                  "%s", tg_last_error());
    /* other brackets are no residues */
    ck_assert_int_eq(read_joined(put("u.txt", "EVQL\nEV[UNK]L\n"), &o, ids, seqs, sizeof ids),
                     TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "u.txt:2:3: unexpected character '['"), "%s",
                  tg_last_error());
    /* blank-separated words are not a sequence line: the format is unknown */
    ck_assert_int_eq(rd_open(&r, put("w.txt", "heavy light\nEVQL DIQM\n"), &o), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "w.txt:1: cannot tell the format"), "%s",
                  tg_last_error());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reader_ids");
    TCase *t = tcase_create("reader_ids");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, table_ids);
    tcase_add_test(t, bad_ids);
    tcase_add_test(t, unique_over_files);
    tcase_add_test(t, alloc_failures_are_clean);
    tcase_add_test(t, spaced_residues_and_mask);
    suite_add_tcase(s, t);
    return tu_run(s);
}
