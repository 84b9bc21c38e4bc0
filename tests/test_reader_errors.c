/* Readers on bad input: every case gives a message with file, line (and
 * column where it means something); skip mode skips and counts. */
#include "reader.h"
#include "tg.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char *dir;

static const char *put_file(const char *name, const char *text, size_t n, int gz)
{
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    if (gz) {
        gzFile g = gzopen(p, "wb");
        ck_assert_ptr_nonnull(g);
        if (n)
            ck_assert_int_eq(gzwrite(g, text, (unsigned)n), (int)n);
        gzclose(g);
    } else {
        FILE *f = fopen(p, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(text, 1, n, f);
        fclose(f);
    }
    return p;
}
#define PUT(name, text) put_file(name, text, strlen(text), 0)

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void)
{
    free(dir);
    dir = NULL;
}

/* Reads all records; returns the final status, *n the records seen. */
static int read_count(const char *path, rd_on_error mode, size_t *n, rd_stats *st)
{
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    o.on_error = mode;
    rd_reader *r;
    *n = 0;
    int s = rd_open(&r, path, &o);
    if (s)
        return s;
    rd_record rec;
    while ((s = rd_next(r, &rec)) == 1)
        (*n)++;
    if (st)
        *st = *rd_get_stats(r);
    rd_close(r);
    return s;
}

static void assert_msg_has(const char *want)
{
    ck_assert_msg(strstr(tg_last_error(), want), "message '%s' lacks '%s'", tg_last_error(),
                  want);
}

START_TEST(wrong_field_count)
{
    const char *p = PUT("bad.csv", "sequence_alignment_aa,cdr3_aa,v_call\n"
                                   "EVQL,AR,IGHV1\n"
                                   "EVQL,AR,IGHV1,extra\n"
                                   "QVQL,AK,IGHV3\n");
    size_t n;
    rd_stats st;
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("bad.csv:3: row has 4 fields, header has 3 (use --on-error skip");
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(st.skipped_malformed, 1);
    ck_assert_int_eq(st.n_msgs, 1);
    ck_assert(strstr(st.msgs[0], "bad.csv:3: row has 4 fields"));
}
END_TEST

START_TEST(unterminated_quote)
{
    const char *p = PUT("q.csv", "sequence_alignment_aa,cdr3_aa\n"
                                 "EVQL,AR\n"
                                 "QVQL,\"AK\n"
                                 "DIQM,QQ\n"
                                 "EIVL,QH\n");
    size_t n;
    rd_stats st;
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("q.csv:3:6: unterminated quoted field");
    /* skip mode drops only the line where the quote opened */
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(st.skipped_malformed, 1);
    ck_assert_uint_eq(st.skipped_lines, 1);
}
END_TEST

START_TEST(junk_after_closing_quote)
{
    const char *p = PUT("j.csv", "sequence_alignment_aa,cdr3_aa\n"
                                 "\"EVQL\"x,AR\n"
                                 "QVQL,AK\n");
    size_t n;
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("j.csv:2:7: unexpected character 'x' after a closing quote");
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, NULL), 0);
    ck_assert_uint_eq(n, 1);
}
END_TEST

START_TEST(missing_column)
{
    const char *p = PUT("m.tsv", "sequence_id\tv_call\tjunction_aa\nx\tIGHV1\tCARW\n");
    size_t n;
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("m.tsv:1: header has no column sequence_alignment_aa or sequence_alignment");
    /* a paired unit missing the light sequence column, asked for light */
    const char *q = PUT("pm.csv", "sequence_alignment_aa_heavy,cdr3_aa_heavy\nEVQL,AR\n");
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_LIGHT;
    rd_reader *r;
    ck_assert_int_eq(rd_open(&r, q, &o), TG_ERR_FORMAT);
    assert_msg_has("sequence_alignment_aa_light");
    /* --productive-only on a file without the column */
    o.chain = RD_CHAIN_HEAVY;
    o.productive_only = 1;
    ck_assert_int_eq(rd_open(&r, q, &o), TG_ERR_ARG);
    assert_msg_has("pm.csv:1: no productive_heavy column");
}
END_TEST

START_TEST(empty_files)
{
    size_t n;
    ck_assert_int_eq(read_count(put_file("e.csv", "", 0, 0), RD_ON_ERROR_SKIP, &n, NULL),
                     TG_ERR_FORMAT);
    assert_msg_has("e.csv: empty file");
    ck_assert_int_eq(read_count(put_file("e.csv.gz", "", 0, 1), RD_ON_ERROR_FAIL, &n, NULL),
                     TG_ERR_FORMAT);
    assert_msg_has("e.csv.gz: empty file");
    /* metadata line only */
    ck_assert_int_eq(read_count(PUT("meta.csv", "\"{\"\"a\"\": 1}\"\n"), RD_ON_ERROR_FAIL, &n,
                                NULL),
                     TG_ERR_FORMAT);
    assert_msg_has("meta.csv:2: missing header line");
    /* a header and no rows is a valid, empty unit */
    ck_assert_int_eq(read_count(PUT("h.csv", "sequence_alignment_aa\n"), RD_ON_ERROR_FAIL, &n,
                                NULL),
                     0);
    ck_assert_uint_eq(n, 0);
    /* a missing file */
    ck_assert_int_eq(read_count("/nonexistent/x.csv", RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_IO);
    assert_msg_has("/nonexistent/x.csv: cannot open");
    /* metadata that is not JSON */
    ck_assert_int_eq(read_count(PUT("badmeta.csv", "{not json\nsequence_alignment_aa\n"),
                                RD_ON_ERROR_FAIL, &n, NULL),
                     TG_ERR_FORMAT);
    assert_msg_has("badmeta.csv:1: metadata line is not valid JSON");
}
END_TEST

START_TEST(truncated_and_fake_gzip)
{
    /* a gzip file big enough to span several buffers, cut in half */
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    len += (size_t)sprintf(text, "sequence_alignment_aa,cdr3_aa\n");
    for (int i = 0; len + 64 < cap; i++) /* i in letters: cells hold residues only */
        len += (size_t)sprintf(text + len, "EVQLVESGGGLVQPGGSLRLSCAASGF%c%c%c%c,AR%c\n",
                               'A' + i % 20, 'A' + i / 20 % 20, 'A' + i / 400 % 20,
                               'A' + i / 8000 % 20, 'A' + i % 7);
    const char *p = put_file("t.csv.gz", text, len, 1);
    free(text);
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(p, sz / 2), 0);
    size_t n;
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("t.csv.gz:");
    assert_msg_has("corrupt or truncated gzip data");
    ck_assert_uint_gt(n, 0);
    /* plain text named .gz */
    const char *q = PUT("fake.csv.gz", "sequence_alignment_aa\nEVQL\n");
    ck_assert_int_eq(read_count(q, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("fake.csv.gz: not gzip data although the name ends in .gz");
    /* a gzip header followed by garbage */
    const char bad[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-garbage-garbage";
    const char *g = put_file("garbage.csv.gz", bad, sizeof bad - 1, 0);
    ck_assert_int_lt(read_count(g, RD_ON_ERROR_SKIP, &n, NULL), 0);
    assert_msg_has("garbage.csv.gz");
}
END_TEST

START_TEST(binary_garbage)
{
    char buf[4096];
    uint64_t x = 42;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (char)(x >> 56);
    }
    size_t n;
    buf[0] = 'A'; /* starts like text: the NUL check must still catch it */
    ck_assert_int_eq(read_count(put_file("bin.txt", buf, sizeof buf, 0), RD_ON_ERROR_FAIL, &n,
                                NULL),
                     TG_ERR_FORMAT);
    assert_msg_has("bin.txt:");
    /* a control byte inside a CSV row: fail, or skip and count */
    const char *p = PUT("ctl.csv", "sequence_alignment_aa,cdr3_aa\nEV\001QL,AR\nQVQL,AK\n");
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("ctl.csv:2:3: binary data (byte 0x01)");
    rd_stats st;
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(st.skipped_malformed, 1);
    /* a text line that is neither a header nor a sequence */
    ck_assert_int_eq(read_count(PUT("what.txt", "hello world 42\n"), RD_ON_ERROR_FAIL, &n, NULL),
                     TG_ERR_FORMAT);
    assert_msg_has("what.txt:1: cannot tell the format");
}
END_TEST

START_TEST(bad_sequence_characters)
{
    const char *p = PUT("a.fa", ">a\nEV1QL\nQQ\n>b\nDIQ\n");
    size_t n;
    rd_stats st;
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("a.fa:2:3: unexpected character '1' in a sequence");
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(st.skipped_malformed, 1);
    const char *q = PUT("p.txt", "EVQL\nEV QL!\nDIQ\n");
    ck_assert_int_eq(read_count(q, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("p.txt:2:6: unexpected character '!'");
    ck_assert_int_eq(read_count(q, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 2);
}
END_TEST

/* Residue cells of tables: digits, blanks, control bytes, punctuation and
 * non-ASCII bytes are errors naming file, line, column and character (or
 * counted skips); gaps are handled as documented. */
START_TEST(residue_cells_checked)
{
    size_t n;
    rd_stats st;
    static const struct {
        const char *name, *text, *msg;
    } bad[] = {
        {"digit.csv", "sequence_alignment_aa,cdr3_aa\nEVQL,AR\nEVQ1L,AR\nQVQL,AK\n",
         "digit.csv:3: column sequence_alignment_aa, character 4: '1' is not an amino-acid "
         "letter"},
        {"blank.csv", "sequence_alignment_aa,cdr3_aa\nEVQL,AR\nEVQL VES,AR\nQVQL,AK\n",
         "blank.csv:3: column sequence_alignment_aa, character 5: a blank is not"},
        {"nl.csv", "sequence_alignment_aa,cdr3_aa\nEVQL,AR\n\"EV\nQL\",AR\nQVQL,AK\n",
         "nl.csv:3: column sequence_alignment_aa, character 3: byte 0x0a is not"},
        {"utf8.csv", "sequence_alignment_aa,cdr3_aa\nEVQL,AR\nEV\xc3\x89QL,AR\nQVQL,AK\n",
         "utf8.csv:3: column sequence_alignment_aa, character 3: byte 0xc3"},
        {"cdr3.tsv", "sequence_alignment_aa\tcdr3_aa\nEVQL\tAR\nEVQL\tAR;DY\nQVQL\tAK\n",
         "cdr3.tsv:3: column cdr3_aa, character 3: ';' is not an amino-acid letter"},
        {"nt.tsv", "sequence_alignment\tcdr3\nGAAGTG\tGCT\nGAA9TG\tGCT\nCAGGTG\tGCT\n",
         "nt.tsv:3: column sequence_alignment, character 4: '9' is not a nucleotide letter"},
        {"ntstar.tsv", "sequence_alignment\tcdr3\nGAAGTG\tGCT\nGAA*TG\tGCT\nCAGGTG\tGCT\n",
         "ntstar.tsv:3: column sequence_alignment, character 4: '*' is not a nucleotide"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = PUT(bad[i].name, bad[i].text);
        ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
        assert_msg_has(bad[i].msg);
        ck_assert_uint_eq(n, 1); /* the row before it */
        ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(st.skipped_malformed, 1);
        ck_assert_msg(strstr(st.msgs[0], bad[i].msg), "%s", st.msgs[0]);
    }
    /* the other chain of a paired unit is checked too */
    const char *m = PUT("mate.csv", "sequence_alignment_aa_heavy,sequence_alignment_aa_light\n"
                                    "EVQL,DIQ\nEVQL,DI-Q#\nQVQL,EIV\n");
    rd_opts o;
    rd_opts_default(&o);
    rd_reader *r;
    rd_record rec;
    ck_assert_int_eq(rd_open(&r, m, &o), TG_OK);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.mate, "DIQ");
    ck_assert_int_eq(rd_next(r, &rec), TG_ERR_FORMAT);
    assert_msg_has("mate.csv:3: column sequence_alignment_aa_light, character 5: '#' is not");
    rd_close(r);
    /* gaps: '.' (IMGT spacer) dropped, '-' (deletion) as X; '*' kept for
     * --drop-stop; lowercase upper-cased */
    const char *g = PUT("gaps.tsv", "sequence_alignment_aa\tjunction_aa\nev.ql-v*\tCAR..DYW\n");
    o.chain = RD_CHAIN_ANY;
    ck_assert_int_eq(rd_open(&r, g, &o), TG_OK);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EVQLXV*");
    ck_assert_str_eq(rec.cdr3, "ARDY");
    rd_close(r);
}
END_TEST

/* The documented limits: a sequence cell or FASTA record longer than
 * RD_MAX_SEQ and a row or line longer than RD_MAX_LINE are malformed (the
 * next row is read in skip mode); nothing that long reaches a record. */
START_TEST(length_limits)
{
    size_t n, cap = (size_t)RD_MAX_LINE * 11;
    rd_stats st;
    char *t = malloc(cap);
    /* a 200,000-residue cell: under the row limit, over the sequence limit */
    size_t k = (size_t)sprintf(t, "sequence_alignment_aa,cdr3_aa\nEVQL,AR\n");
    memset(t + k, 'A', 200000);
    k += 200000;
    k += (size_t)sprintf(t + k, ",AR\nQVQL,AK\n");
    const char *p = put_file("long.csv", t, k, 0);
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("long.csv:3: column sequence_alignment_aa: 200000 characters, more than a "
                   "sequence may have (100000)");
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(st.skipped_malformed, 1);
    /* a 10 MB cell (gzip too): over the row limit, read to its end */
    k = (size_t)sprintf(t, "sequence_alignment_aa,cdr3_aa\nEVQL,AR\n\"");
    memset(t + k, 'W', 10u << 20);
    k += 10u << 20;
    k += (size_t)sprintf(t + k, "\",AR\nQVQL,AK\n");
    for (int gz = 0; gz < 2; gz++) {
        p = put_file(gz ? "huge.csv.gz" : "huge.csv", t, k, gz);
        ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
        assert_msg_has(gz ? "huge.csv.gz:3: line longer than 1048576 bytes"
                          : "huge.csv:3: line longer than 1048576 bytes");
        ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(st.skipped_malformed, 1);
    }
    /* an unterminated quote with more than the limit after it cannot be
     * re-read: an error even in skip mode (no crash, no endless loop) */
    t[k - 13] = 'W'; /* the closing quote */
    p = put_file("unterm.csv", t, k, 0);
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("unterminated quoted field");
    /* plain text: a line over the limit; FASTA: a record over RD_MAX_SEQ */
    memset(t, 'E', RD_MAX_LINE + 10);
    k = RD_MAX_LINE + 10;
    k += (size_t)sprintf(t + k, "\nQVQL\n");
    p = put_file("long.txt", t, k, 0);
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("long.txt:1: line longer than 1048576 bytes");
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 1);
    k = (size_t)sprintf(t, ">a\n");
    for (int i = 0; i < 2000; i++) /* 2000 lines of 60: 120,000 residues */
        k += (size_t)sprintf(t + k, "%.60s\n", "EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYY");
    k += (size_t)sprintf(t + k, ">b\nQVQL\n");
    p = put_file("long.fa", t, k, 0);
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("long.fa:1668: sequence longer than 100000 characters");
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(st.skipped_malformed, 1);
    free(t);
}
END_TEST

/* FASTA names follow the id rules of table cells: at most RD_MAX_ID bytes,
 * (fuzz/fuzz_reader found a 1,200-byte name passed through; control bytes
 * are refused earlier, as binary data). A bad name makes its record malformed: an error, or skipped. */
START_TEST(fasta_names_checked)
{
    size_t n, k;
    rd_stats st;
    char *t = malloc(4096);
    k = (size_t)sprintf(t, ">ok\nEVQL\n>");
    memset(t + k, 'n', RD_MAX_ID + 1);
    k += RD_MAX_ID + 1;
    k += (size_t)sprintf(t + k, " desc\nQVQL\nKK\n>last\nDIQM\n");
    const char *p = put_file("longname.fa", t, k, 0);
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), TG_ERR_FORMAT);
    assert_msg_has("longname.fa:3: FASTA name: an id of 1001 bytes, more than 1000");
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_SKIP, &n, &st), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(st.skipped_malformed, 1);
    ck_assert_uint_eq(st.rows, 3);
    /* a name of exactly RD_MAX_ID bytes is fine */
    k = (size_t)sprintf(t, ">");
    memset(t + k, 'n', RD_MAX_ID);
    k += RD_MAX_ID;
    k += (size_t)sprintf(t + k, "\nEVQL\n");
    p = put_file("maxname.fa", t, k, 0);
    ck_assert_int_eq(read_count(p, RD_ON_ERROR_FAIL, &n, NULL), 0);
    ck_assert_uint_eq(n, 1);
    free(t);
}
END_TEST

/* Every prefix and many one-byte corruptions of a valid unit: the reader
 * returns records or an error, never crashes (run under ASan by test.sh). */
START_TEST(prefixes_and_corruptions_never_crash)
{
    static const char unit[] =
        "\"{\"\"Species\"\": \"\"human\"\"}\"\n"
        "sequence_alignment_aa_heavy,cdr3_aa_heavy,sequence_alignment_aa_light,x\n"
        "EVQL,AR,DIQ,\"a,\"\"b\"\"\nc\"\n"
        "QVQL,AK,EIV,plain\n";
    size_t len = sizeof unit - 1;
    char buf[sizeof unit];
    int errors = 0, oks = 0;
    for (size_t cut = 0; cut <= len; cut++)
        for (int gz = 0; gz < 2; gz++)
            for (int mode = 0; mode < 2; mode++) {
                size_t n;
                const char *p = put_file(gz ? "c.csv.gz" : "c.csv", unit, cut, gz);
                int s = read_count(p, mode ? RD_ON_ERROR_SKIP : RD_ON_ERROR_FAIL, &n, NULL);
                s < 0 ? errors++ : oks++;
                ck_assert(s <= 0);
            }
    static const char subst[] = {'"', ',', '\n', '\r', '\0', 'x'};
    for (size_t pos = 0; pos < len; pos += 3)
        for (size_t k = 0; k < sizeof subst; k++) {
            memcpy(buf, unit, len);
            buf[pos] = subst[k];
            size_t n;
            int s = read_count(put_file("m.csv", buf, len, 0), RD_ON_ERROR_SKIP, &n, NULL);
            ck_assert(s <= 0);
            ck_assert_uint_le(n, 2);
        }
    ck_assert_int_gt(errors, 0);
    ck_assert_int_gt(oks, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reader_errors");
    TCase *t = tcase_create("errors");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, wrong_field_count);
    tcase_add_test(t, unterminated_quote);
    tcase_add_test(t, junk_after_closing_quote);
    tcase_add_test(t, missing_column);
    tcase_add_test(t, empty_files);
    tcase_add_test(t, truncated_and_fake_gzip);
    tcase_add_test(t, binary_garbage);
    tcase_add_test(t, bad_sequence_characters);
    tcase_add_test(t, residue_cells_checked);
    tcase_add_test(t, length_limits);
    tcase_add_test(t, prefixes_and_corruptions_never_crash);
    tcase_add_test(t, fasta_names_checked);
    suite_add_tcase(s, t);
    return tu_run(s);
}
