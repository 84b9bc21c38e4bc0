/* Readers: formats, quoting, gzip, paired columns, translation, filters. */
#include "reader.h"
#include "tg.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static char *write_file(const char *dir, const char *name, const char *text, size_t n)
{
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    size_t nl = strlen(name);
    if (nl > 3 && !strcmp(name + nl - 3, ".gz")) {
        gzFile g = gzopen(p, "wb");
        ck_assert_ptr_nonnull(g);
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
#define WRITE(dir, name, text) write_file(dir, name, text, strlen(text))

static const char OAS_UNPAIRED[] =
    "\"{\"\"Species\"\": \"\"human\"\", \"\"Chain\"\": \"\"Heavy\"\", \"\"BType\"\": \"\"Memory, B\"\"}\"\n"
    "sequence_id,sequence_alignment_aa,cdr3_aa,productive,v_call,locus,ANARCI_numbering\n"
    "s1,EVQLVESGG,ARDY,T,IGHV3-23*01,H,\"{'fwh1': {'1 ': 'E', '2 ': 'V'}}\"\n"
    "s2,qvqlqq,ARGG,F,IGHV1-2*02,H,\"a \"\"quoted\"\", word\"\n"
    "s3,DIQMTQ,QQYN,T,IGKV1-39*01,K,\"line one\nline two\"\n"
    "s4,EVQL*VE,AR,T,IGHV3-23*01,H,x\n";

START_TEST(oas_quoting_and_metadata)
{
    char *dir = tu_tmpdir();
    const char *p = WRITE(dir, "unit.csv", OAS_UNPAIRED);
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    rd_reader *r;
    ck_assert_msg(rd_open(&r, p, &o) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(rd_format_of(r), RD_FMT_OAS);
    ck_assert_int_eq(rd_is_paired(r), 0);
    const cJSON *m = rd_metadata(r);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "Species")->valuestring, "human");
    ck_assert_str_eq(cJSON_GetObjectItem(m, "BType")->valuestring, "Memory, B");
    rd_record rec;
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EVQLVESGG");
    ck_assert_int_eq(rec.len, 9);
    ck_assert_str_eq(rec.cdr3, "ARDY");
    ck_assert_int_eq(rec.productive, 1);
    ck_assert_str_eq(rec.v_call, "IGHV3-23*01");
    ck_assert_str_eq(rec.id, "s1"); /* the sequence_id cell */
    ck_assert_str_eq(rec.file, "unit.csv");
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "QVQLQQ"); /* uppercased */
    ck_assert_int_eq(rec.productive, 0);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "DIQMTQ");
    ck_assert_int_eq(rec.line, 5);
    ck_assert_int_eq(rd_next(r, &rec), 1); /* the row after the 2-line cell */
    ck_assert_str_eq(rec.seq, "EVQL*VE");
    ck_assert_int_eq(rec.line, 7);
    ck_assert_int_eq(rd_next(r, &rec), 0);
    ck_assert_int_eq(rd_get_stats(r)->rows, 4);
    rd_close(r);
    free(dir);
}
END_TEST

START_TEST(gzip_same_as_plain)
{
    char *dir = tu_tmpdir();
    const char *a = WRITE(dir, "u.csv", OAS_UNPAIRED);
    const char *b = WRITE(dir, "u.csv.gz", OAS_UNPAIRED);
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    char **ia, **sa, **ib, **sb;
    size_t na, nb;
    ck_assert_int_eq(rd_read_all(a, &o, &ia, &sa, &na, NULL), TG_OK);
    ck_assert_int_eq(rd_read_all(b, &o, &ib, &sb, &nb, NULL), TG_OK);
    ck_assert_uint_eq(na, 4);
    ck_assert_uint_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        ck_assert_str_eq(sa[i], sb[i]);
    ck_assert_str_eq(ib[0], "s1");
    rd_free_strings(ia, na), rd_free_strings(sa, na), rd_free_strings(ib, nb), rd_free_strings(sb, nb);
    free(dir);
}
END_TEST

START_TEST(filters_are_counted)
{
    char *dir = tu_tmpdir();
    const char *p = WRITE(dir, "u.csv", OAS_UNPAIRED);
    rd_opts o;
    rd_opts_default(&o); /* heavy chain: drops the IGK row */
    o.productive_only = 1;
    o.drop_stop = 1;
    o.min_length = 7;
    rd_reader *r;
    ck_assert_int_eq(rd_open(&r, p, &o), TG_OK);
    rd_record rec;
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EVQLVESGG");
    ck_assert_int_eq(rd_next(r, &rec), 0);
    const rd_stats *s = rd_get_stats(r);
    ck_assert_uint_eq(s->rows, 4);
    ck_assert_uint_eq(s->records, 1);
    ck_assert_uint_eq(s->filtered_productive, 1);
    ck_assert_uint_eq(s->filtered_locus, 1);
    ck_assert_uint_eq(s->filtered_stop, 1);
    rd_close(r);
    /* max length and --locus */
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    o.max_length = 6;
    o.locus = "IGK";
    ck_assert_int_eq(rd_open(&r, p, &o), TG_OK);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "DIQMTQ");
    ck_assert_int_eq(rd_next(r, &rec), 0);
    ck_assert_uint_eq(rd_get_stats(r)->filtered_locus, 3);
    rd_close(r);
    free(dir);
}
END_TEST

static const char PAIRED[] =
    "\"{\"\"Chain\"\": \"\"Paired\"\"}\"\n"
    "sequence_id_heavy,sequence_alignment_aa_heavy,cdr3_aa_heavy,productive_heavy,"
    "sequence_id_light,sequence_alignment_aa_light,cdr3_aa_light,productive_light\n"
    "h1,EVQLHEAVY,ARX,T,l1,DIQLIGHT,QQY,T\n";

START_TEST(paired_suffixes)
{
    char *dir = tu_tmpdir();
    const char *p = WRITE(dir, "p.csv.gz", PAIRED);
    rd_opts o;
    rd_opts_default(&o);
    rd_reader *r;
    rd_record rec;
    ck_assert_int_eq(rd_open(&r, p, &o), TG_OK);
    ck_assert_int_eq(rd_is_paired(r), 1);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EVQLHEAVY");
    ck_assert_str_eq(rec.cdr3, "ARX");
    ck_assert_str_eq(rec.mate, "DIQLIGHT");
    rd_close(r);
    o.chain = RD_CHAIN_LIGHT;
    ck_assert_int_eq(rd_open(&r, p, &o), TG_OK);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "DIQLIGHT");
    ck_assert_str_eq(rec.cdr3, "QQY");
    ck_assert_str_eq(rec.mate, "EVQLHEAVY");
    rd_close(r);
    o.chain = RD_CHAIN_ANY;
    ck_assert_int_eq(rd_open(&r, p, &o), TG_ERR_ARG);
    free(dir);
}
END_TEST

START_TEST(translation)
{
    char out[64];
    ck_assert_int_eq(rd_translate("ATGGCC...TAAtgg", 15, out), 4);
    ck_assert_str_eq(out, "MA*W");
    ck_assert_int_eq(rd_translate("ATGNCC-GGAAAT", 13, out), 4); /* '-' stays in frame */
    ck_assert_str_eq(out, "MXXK");
    ck_assert_int_eq(rd_translate("GC", 2, out), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

/* AIRR TSV with only nucleotide columns, IMGT dots, junction (not cdr3). */
static const char AIRR_NT[] =
    "sequence_id\tsequence\tproductive\tv_call\tsequence_alignment\tjunction\tjunction_aa\tlocus\n"
    "r1\tx\tT\tIGHV3-11*05\tGAGGTG...CAGTGTGCGAGAGATTACTGG\tTGTGCGAGAGATTACTGG\t\tIGH\n"
    "r2\tx\tF\tIGKV1-5*01\tGACATCCAG\tTGT\t\tIGK\n";

START_TEST(airr_nucleotide_only)
{
    char *dir = tu_tmpdir();
    const char *p = WRITE(dir, "airr.tsv", AIRR_NT);
    rd_opts o;
    rd_opts_default(&o);
    rd_reader *r;
    rd_record rec;
    ck_assert_int_eq(rd_open(&r, p, &o), TG_OK);
    ck_assert_int_eq(rd_format_of(r), RD_FMT_AIRR);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EVQCARDYW");
    /* junction_aa is empty in this row: the nucleotide junction is used */
    ck_assert_str_eq(rec.cdr3, "ARDY");
    ck_assert_str_eq(rec.locus, "IGH");
    ck_assert_int_eq(rd_next(r, &rec), 0); /* IGK row dropped for the heavy chain */
    ck_assert_uint_eq(rd_get_stats(r)->filtered_locus, 1);
    rd_close(r);
    /* without junction_aa the nucleotide junction is translated and trimmed */
    const char *q = WRITE(dir, "airr2.tsv",
                          "sequence_alignment\tjunction\tv_call\n"
                          "GAGGTG...CAGTGTGCGAGAGATTACTGG\tTGTGCGAGAGATTACTGG\tIGHV3-11*05\n");
    ck_assert_int_eq(rd_open(&r, q, &o), TG_OK);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.cdr3, "ARDY");
    ck_assert_str_eq(rec.locus, "IGH"); /* from v_call */
    rd_close(r);
    free(dir);
}
END_TEST

START_TEST(fasta_and_plain_detected_by_content)
{
    char *dir = tu_tmpdir();
    const char *fa = WRITE(dir, "seqs.txt", ">a desc\nEVQL\nvesg\n\n>b\nQVQ\n>\nDIQ\n");
    const char *pl = WRITE(dir, "seqs.fa.gz", "EVQLVES\n\nqvqlq\r\n");
    rd_reader *r;
    rd_record rec;
    ck_assert_int_eq(rd_open(&r, fa, NULL), TG_OK);
    ck_assert_int_eq(rd_format_of(r), RD_FMT_FASTA);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.id, "a");
    ck_assert_str_eq(rec.seq, "EVQLVESG");
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.id, "b");
    ck_assert_str_eq(rec.seq, "QVQ");
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.id, "seqs.txt:7"); /* empty id: file:line */
    ck_assert_int_eq(rd_next(r, &rec), 0);
    rd_close(r);
    ck_assert_int_eq(rd_open(&r, pl, NULL), TG_OK);
    ck_assert_int_eq(rd_format_of(r), RD_FMT_PLAIN);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EVQLVES");
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "QVQLQ");
    ck_assert_str_eq(rec.id, "seqs.fa.gz:3");
    ck_assert_int_eq(rd_next(r, &rec), 0);
    rd_close(r);
    free(dir);
}
END_TEST

/* Gap characters in FASTA and plain files follow the table cells' rule for
 * the data commands ('.' dropped, '-' read as X); with keep_text (the
 * training and inference commands) the tokenizer gets the text as it is. */
START_TEST(fasta_gaps_as_in_table_cells)
{
    char *dir = tu_tmpdir();
    const char *fa = WRITE(dir, "gapped.fa", ">a\nEV..QL-s\n>b\n...\n");
    const char *pl = WRITE(dir, "gapped.txt", "EVQ-L.ES\n");
    rd_reader *r;
    rd_record rec;
    ck_assert_int_eq(rd_open(&r, fa, NULL), TG_OK);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EVQLXS");
    /* a record of gap dots only is empty: counted as filtered, as an empty cell */
    ck_assert_int_eq(rd_next(r, &rec), 0);
    ck_assert_uint_eq(rd_get_stats(r)->filtered_empty, 1);
    rd_close(r);
    ck_assert_int_eq(rd_open(&r, pl, NULL), TG_OK);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EVQXLES");
    rd_close(r);
    rd_opts o;
    rd_opts_default(&o);
    o.keep_text = 1;
    ck_assert_int_eq(rd_open(&r, fa, &o), TG_OK);
    ck_assert_int_eq(rd_next(r, &rec), 1);
    ck_assert_str_eq(rec.seq, "EV..QL-s");
    rd_close(r);
    free(dir);
}
END_TEST

START_TEST(alloc_failures_are_clean)
{
    char *dir = tu_tmpdir();
    const char *p = WRITE(dir, "u.csv", OAS_UNPAIRED);
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    int saw_nomem = 0;
    for (long k = 1; k < 40; k++) {
        char **ids, **seqs;
        size_t n;
        tg_alloc_fail_after(k);
        int st = rd_read_all(p, &o, &ids, &seqs, &n, NULL);
        tg_alloc_fail_after(0);
        if (st == TG_OK) {
            ck_assert_uint_eq(n, 4);
            rd_free_strings(ids, n);
            rd_free_strings(seqs, n);
        } else {
            ck_assert_int_eq(st, TG_ERR_NOMEM);
            saw_nomem = 1;
        }
    }
    ck_assert(saw_nomem);
    free(dir);
}
END_TEST

START_TEST(real_oas_units)
{
    const char *dir = tu_oas_dir();
    if (!dir) {
        tu_skip("real_oas_units", "../shared/data/oas-paired not found");
        return;
    }
    static const char *files[] = {
        "1279052_1_Paired_All", "1279060_1_Paired_All", "1279068_1_Paired_All",
        "1279072_1_Paired_All", "1279076_1_Paired_All", "1279080_1_Paired_All",
        "SRR10313332_paired", "SRR10313335_paired", "SRR10358523_paired",
        "SRR10358524_paired", "SRR10358525_paired", "SRR12113363_1_Paired_All",
        "SRR12113364_1_Paired_All", "SRR12875350_1_Paired_All", "SRR12875351_1_Paired_All",
        "SRR12875352_1_Paired_All", "SRR12875354_1_Paired_All", "SRR12875355_1_Paired_All",
        "SRR12875356_1_Paired_All", "SRR12875359_1_Paired_All", "SRR12875360_1_Paired_All",
        "SRR12875362_1_Paired_All"};
    size_t total = 0, with_cdr3 = 0, light = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.csv.gz", dir, files[i]);
        /* one pass per file: the heavy chain, and the light one as mate;
         * the light-chain columns are checked on the smallest unit */
        int chains = strstr(files[i], "SRR10358524") ? 2 : 1;
        for (int chain = 0; chain < chains; chain++) {
            rd_opts o;
            rd_opts_default(&o);
            o.chain = chain ? RD_CHAIN_LIGHT : RD_CHAIN_HEAVY;
            o.productive_only = 1;
            o.drop_nonstandard = 1;
            rd_reader *r;
            ck_assert_msg(rd_open(&r, path, &o) == TG_OK, "%s", tg_last_error());
            ck_assert_int_eq(rd_is_paired(r), 1);
            const cJSON *sp = cJSON_GetObjectItem(rd_metadata(r), "Species");
            ck_assert_str_eq(sp->valuestring, "human");
            rd_record rec;
            int st;
            while ((st = rd_next(r, &rec)) == 1) {
                ck_assert_ptr_nonnull(rec.mate);
                if (chain) {
                    ck_assert_int_ge(rec.len, 90);
                    ck_assert(rec.locus[0] == 'I' && rec.locus[2] != 'H');
                    continue;
                }
                total++;
                light += rec.mate_len >= 90;
                ck_assert_int_ge(rec.len, 90);
                ck_assert_str_eq(rec.locus, "IGH");
                if (rec.cdr3 && rec.cdr3_len >= 2 && rec.cdr3_len <= 43)
                    with_cdr3++;
            }
            ck_assert_msg(st == 0, "%s", tg_last_error());
            ck_assert_uint_eq(rd_get_stats(r)->rows, rd_get_stats(r)->records);
            rd_close(r);
        }
    }
    printf("real_oas_units: %zu heavy, %zu light, %zu with CDRH3 of length 2..43\n", total,
           light, with_cdr3);
    ck_assert_uint_eq(total, 42216);
    ck_assert_uint_eq(light, 42216);
    ck_assert_uint_eq(with_cdr3, 42216);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reader");
    TCase *t = tcase_create("reader");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, oas_quoting_and_metadata);
    tcase_add_test(t, gzip_same_as_plain);
    tcase_add_test(t, filters_are_counted);
    tcase_add_test(t, paired_suffixes);
    tcase_add_test(t, translation);
    tcase_add_test(t, airr_nucleotide_only);
    tcase_add_test(t, fasta_and_plain_detected_by_content);
    tcase_add_test(t, fasta_gaps_as_in_table_cells);
    tcase_add_test(t, alloc_failures_are_clean);
    tcase_add_test(t, real_oas_units);
    suite_add_tcase(s, t);
    return tu_run(s);
}
