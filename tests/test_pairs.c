/* Heavy/light pairs: OAS paired units, paired TSVs, HEAVY[SEP]LIGHT lines,
 * skipped pairs, bad input, the TSV round trip, a real OAS unit. */
#include "pairs.h"
#include "prepare.h"
#include "strmap.h"
#include "tg.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *write_text(const char *dir, const char *name, const char *text)
{
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static const char OAS_PAIRED[] =
    "\"{\"\"Species\"\": \"\"human\"\", \"\"Chain\"\": \"\"Paired\"\"}\"\n"
    "sequence_id_heavy,sequence_alignment_aa_heavy,locus_heavy,sequence_id_light,"
    "sequence_alignment_aa_light,locus_light,v_call_light,fwr1_aa_light,cdr1_aa_light,"
    "fwr2_aa_light,cdr2_aa_light,fwr3_aa_light,fwr4_aa_light,cdr3_aa_light\n"
    "h1,EVQLVESGG,H,l1,DIQMTQSPSS,K,IGKV1-39*01,DIQ,MT,QS,P,SS,,\n"
    "h2,qvqlqq,H,l2,QSALTQ,,IGLV2-14*01,QS,A,L,T,Q,,\n"
    "h3,EVQLLE,H,l3,,,,,,,,,,\n"
    "h4,,H,l4,DIVMTQ,K,IGKV2-28*01,D,I,V,M,T,Q,\n"
    "h5,EVQL.LE,H,l5,EIV-LTQ,K,IGKV3-20*01,EIV,-L,T,Q,,,\n";

START_TEST(oas_paired_unit)
{
    char *dir = tu_tmpdir();
    const char *p = write_text(dir, "unit.csv", OAS_PAIRED);
    pr_set s = {0};
    ck_assert_msg(pr_read(p, NULL, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 3);
    ck_assert_uint_eq(s.rows, 5);
    ck_assert_uint_eq(s.no_light, 1); /* h3 */
    ck_assert_uint_eq(s.no_heavy, 1); /* h4 */
    ck_assert_str_eq(s.v[0].id, "h1");
    ck_assert_str_eq(s.v[0].heavy, "EVQLVESGG");
    ck_assert_str_eq(s.v[0].light, "DIQMTQSPSS");
    ck_assert_int_eq(s.v[0].heavy_len, 9);
    ck_assert_int_eq(s.v[0].light_len, 10);
    ck_assert_str_eq(s.v[0].locus, "IGK");
    ck_assert_str_eq(s.v[0].file, "unit.csv");
    ck_assert_int_eq(s.v[0].line, 3);
    ck_assert_str_eq(s.v[0].region[0], "DIQ");
    ck_assert_str_eq(s.v[0].region[1], "MT");
    ck_assert_str_eq(s.v[0].region[4], "SS");
    ck_assert_str_eq(s.v[0].region[5], ""); /* cdr3 column, empty cell */
    ck_assert_str_eq(s.v[0].region[6], ""); /* fwr4 */
    /* lower case upper-cased; locus from v_call when the locus cell is empty */
    ck_assert_str_eq(s.v[1].heavy, "QVQLQQ");
    ck_assert_str_eq(s.v[1].locus, "IGL");
    /* '.' removed, '-' becomes X, in chains and regions alike */
    ck_assert_str_eq(s.v[2].heavy, "EVQLLE");
    ck_assert_str_eq(s.v[2].light, "EIVXLTQ");
    ck_assert_str_eq(s.v[2].region[1], "XL");
    ck_assert_int_eq(pr_has_regions(&s), 1);
    /* appending a second read */
    ck_assert_int_eq(pr_read(p, NULL, &s), TG_OK);
    ck_assert_uint_eq(s.n, 6);
    ck_assert_uint_eq(s.no_light, 2);
    ck_assert_str_eq(s.v[0].light, "DIQMTQSPSS"); /* earlier pairs intact */
    pr_free(&s);
    ck_assert_uint_eq(s.n, 0);
    pr_free(&s);
    free(dir);
}
END_TEST

START_TEST(bad_rows_name_file_line_column)
{
    char *dir = tu_tmpdir();
    char text[2048];
    snprintf(text, sizeof text, "%s%s", OAS_PAIRED,
             "h6,EVQLV,H,l6,DIQ1MTQ,K,IGKV1-39*01,D,I,Q,M,T,Q,\n"
             "h7,EVQLV,H,l7,DIQMTQ,K,IGKV1-39*01,D,I,Q,M,T,Q,Q\n");
    const char *p = write_text(dir, "bad.csv", text);
    pr_set s = {0};
    ck_assert_int_eq(pr_read(p, NULL, &s), TG_ERR_FORMAT);
    const char *e = tg_last_error();
    ck_assert_msg(strstr(e, "bad.csv:8") && strstr(e, "sequence_alignment_aa_light") &&
                      strstr(e, "character 4"),
                  "%s", e);
    ck_assert_uint_eq(s.n, 3); /* the pairs before the bad row */
    pr_free(&s);
    pr_opts o;
    pr_opts_default(&o);
    o.on_error = RD_ON_ERROR_SKIP;
    ck_assert_msg(pr_read(p, &o, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 4);
    ck_assert_uint_eq(s.malformed, 1);
    ck_assert_int_eq(s.n_msgs, 1);
    ck_assert_ptr_nonnull(strstr(s.msgs[0], "bad.csv:8"));
    ck_assert_str_eq(s.v[3].id, "h7");
    ck_assert_str_eq(s.v[3].region[5], "Q");
    cJSON *j = cJSON_CreateObject();
    pr_stats_to_json(&s, j);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "skipped"), "malformed_rows")
                         ->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "pairs")->valueint, 4);
    cJSON_Delete(j);
    pr_free(&s);
    /* a file that is not paired */
    p = write_text(dir, "single.fa", ">a\nEVQL\n");
    ck_assert_int_eq(pr_read(p, NULL, &s), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "not a pair file"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "single.fa"));
    p = write_text(dir, "missing.tsv", "id\theavy\tlight\n");
    ck_assert_int_eq(pr_read(dir, NULL, &s) < 0, 1); /* a directory */
    ck_assert_int_eq(pr_read(p, NULL, &s), TG_OK);   /* header only: no pairs */
    ck_assert_uint_eq(s.n, 0);
    char nofile[600];
    snprintf(nofile, sizeof nofile, "%s/none.tsv", dir);
    ck_assert_int_eq(pr_read(nofile, NULL, &s), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "none.tsv"));
    pr_free(&s);
    free(dir);
}
END_TEST

START_TEST(tsv_and_sep_lines)
{
    char *dir = tu_tmpdir();
    const char *t = write_text(dir, "p.tsv",
                               "id\theavy\tlight\tlocus\n"
                               "a\tEVQLV\tDIQMT\tK\n"
                               "b\tQVQL\tQSALT\tIGL\n"
                               "\tEVQ\tEIV\t\n");
    pr_set s = {0};
    ck_assert_msg(pr_read(t, NULL, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 3);
    ck_assert_str_eq(s.v[0].id, "a");
    ck_assert_str_eq(s.v[0].locus, "IGK");
    ck_assert_str_eq(s.v[1].locus, "IGL");
    ck_assert_str_eq(s.v[2].id, "p.tsv:4"); /* empty id: FILE:LINE */
    ck_assert_str_eq(s.v[2].locus, "");
    ck_assert_ptr_null(s.v[0].region[0]);
    ck_assert_int_eq(pr_has_regions(&s), 0);
    pr_free(&s);
    /* OAS column names in a TSV */
    t = write_text(dir, "airr.tsv",
                   "sequence_id_heavy\tsequence_alignment_aa_heavy\tsequence_alignment_aa_light\t"
                   "locus_light\n"
                   "x1\tEVQ\tDIQ\tK\n");
    ck_assert_msg(pr_read(t, NULL, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.v[0].id, "x1");
    ck_assert_str_eq(s.v[0].light, "DIQ");
    ck_assert_str_eq(s.v[0].locus, "IGK");
    pr_free(&s);
    /* the reference's lines */
    t = write_text(dir, "ref.txt", "EVQLVE[SEP]DIQMTQ\n\nqvql [SEP] qsal\nEVQ[SEP]\n");
    ck_assert_msg(pr_read(t, NULL, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 2);
    ck_assert_uint_eq(s.no_light, 1);
    ck_assert_str_eq(s.v[0].heavy, "EVQLVE");
    ck_assert_str_eq(s.v[0].light, "DIQMTQ");
    ck_assert_str_eq(s.v[0].id, "ref.txt:1");
    ck_assert_str_eq(s.v[1].heavy, "QVQL");
    ck_assert_str_eq(s.v[1].light, "QSAL");
    ck_assert_str_eq(s.v[1].id, "ref.txt:3");
    ck_assert_str_eq(s.v[1].locus, "");
    pr_free(&s);
    t = write_text(dir, "ref2.txt", "EVQ[SEP]DIQ\nEVQDIQ\n");
    ck_assert_int_eq(pr_read(t, NULL, &s), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "ref2.txt:2") && strstr(tg_last_error(), "[SEP]"),
                  "%s", tg_last_error());
    pr_free(&s);
    t = write_text(dir, "ref3.txt", "EVQ[SEP]DI1Q\n");
    ck_assert_int_eq(pr_read(t, NULL, &s), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "ref3.txt:1:11"), "%s", tg_last_error());
    pr_free(&s);
    t = write_text(dir, "ref4.txt", "EVQ[SEP]DIQ[SEP]EIV\n");
    ck_assert_int_eq(pr_read(t, NULL, &s), TG_ERR_FORMAT);
    pr_free(&s);
    /* gaps in the lines as in table cells: '.' removed, '-' -> X (found by
     * fuzz_pairs: they passed through, so the TSV prepare --pairs writes
     * read back other chains); a chain of gaps only is an empty chain */
    t = write_text(dir, "ref6.txt", "EV.Q-L[SEP]D-IQ..\nEVQ[SEP]..\n..[SEP]DIQ\n");
    ck_assert_msg(pr_read(t, NULL, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.v[0].heavy, "EVQXL");
    ck_assert_int_eq(s.v[0].heavy_len, 5);
    ck_assert_str_eq(s.v[0].light, "DXIQ");
    ck_assert_int_eq(s.v[0].light_len, 4);
    ck_assert_uint_eq(s.no_light, 1);
    ck_assert_uint_eq(s.no_heavy, 1);
    pr_free(&s);
    /* a paired table without a light column: the light chain is missing
     * (NULL, length 0), counted, not degapped (a memchr on NULL the gap rule
     * first did: UBSan in fuzz_pairs) */
    t = write_text(dir, "nolight.csv",
                   "sequence_id,sequence_alignment_aa_heavy,sequence_alignment_aa_lighd,"
                   "locus_light\nh1,EVQLVES,DIQMTQ,IGK\n");
    ck_assert_msg(pr_read(t, NULL, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 0);
    ck_assert_uint_eq(s.no_light, 1);
    pr_free(&s);
    /* another separator */
    t = write_text(dir, "ref5.txt", "EVQ|DIQ\n");
    pr_opts o;
    pr_opts_default(&o);
    o.sep = "|";
    ck_assert_msg(pr_read(t, &o, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.v[0].light, "DIQ");
    pr_free(&s);
    free(dir);
}
END_TEST

START_TEST(limits_are_counted)
{
    char *dir = tu_tmpdir();
    const char *t = write_text(dir, "p.tsv",
                               "heavy\tlight\n"
                               "EVQLVESGG\tDIQ\n"
                               "EVQ\tDIQMTQSPSS\n"
                               "EVQ*\tDIQ\n"
                               "EVQ\tDIXQ\n"
                               "EVQ\tDIQ\n");
    pr_opts o;
    pr_opts_default(&o);
    o.max_heavy = 8;
    o.max_light = 9;
    o.drop_nonstandard = 1;
    pr_set s = {0};
    ck_assert_msg(pr_read(t, &o, &s) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 1);
    ck_assert_uint_eq(s.too_long, 2);
    ck_assert_uint_eq(s.nonstandard, 2);
    ck_assert_str_eq(s.v[0].id, "p.tsv:6");
    pr_free(&s);
    pr_opts_default(&o);
    ck_assert_int_eq(pr_read(t, &o, &s), TG_OK);
    ck_assert_uint_eq(s.n, 5);
    ck_assert_str_eq(s.v[2].heavy, "EVQ*");
    pr_free(&s);
    free(dir);
}
END_TEST

START_TEST(tsv_round_trip)
{
    char *dir = tu_tmpdir();
    const char *p = write_text(dir, "unit.csv", OAS_PAIRED);
    pr_set s = {0}, b = {0};
    ck_assert_int_eq(pr_read(p, NULL, &s), TG_OK);
    char out[600];
    snprintf(out, sizeof out, "%s/pairs.tsv", dir);
    size_t idx[2] = {2, 0};
    ck_assert_msg(pr_write_tsv(out, &s, idx, 2, 1) == TG_OK, "%s", tg_last_error());
    ck_assert_msg(pr_read(out, NULL, &b) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(b.n, 2);
    for (int i = 0; i < 2; i++) {
        const pr_pair *x = &s.v[idx[i]], *y = &b.v[i];
        ck_assert_str_eq(x->id, y->id);
        ck_assert_str_eq(x->heavy, y->heavy);
        ck_assert_str_eq(x->light, y->light);
        ck_assert_str_eq(x->locus, y->locus);
        for (int k = 0; k < PR_N_REGIONS; k++)
            ck_assert_str_eq(x->region[k], y->region[k]);
    }
    ck_assert_str_eq(b.v[0].file, "pairs.tsv");
    pr_free(&b);
    ck_assert_int_eq(pr_write_tsv(out, &s, NULL, 0, 0), TG_OK);
    ck_assert_int_eq(pr_read(out, NULL, &b), TG_OK);
    ck_assert_uint_eq(b.n, 3);
    ck_assert_ptr_null(b.v[0].region[0]);
    pr_free(&b);
    pr_free(&s);
    free(dir);
}
END_TEST

START_TEST(real_oas_unit)
{
    const char *oas = tu_oas_dir();
    if (!oas) {
        tu_skip("real_oas_unit", "../shared/data/oas-paired not found");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/1279052_1_Paired_All.csv.gz", oas);
    pr_set s = {0};
    ck_assert_msg(pr_read(path, NULL, &s) == TG_OK, "%s", tg_last_error());
    size_t k = 0, l = 0, concat = 0;
    for (size_t i = 0; i < s.n; i++) {
        const pr_pair *p = &s.v[i];
        k += !strcmp(p->locus, "IGK");
        l += !strcmp(p->locus, "IGL");
        ck_assert_int_eq((int)strlen(p->heavy), p->heavy_len);
        ck_assert_int_eq((int)strlen(p->light), p->light_len);
        ck_assert_int_eq(strncmp(p->id, "", 1) != 0, 1);
        char buf[1024] = "";
        for (int r = 0; r < PR_N_REGIONS; r++) {
            ck_assert_ptr_nonnull(p->region[r]);
            strncat(buf, p->region[r], sizeof buf - strlen(buf) - 1);
        }
        concat += !strcmp(buf, p->light);
    }
    printf("real_oas_unit: %zu pairs of %zu rows, IGK %zu, IGL %zu, regions spell the light "
           "chain in %zu\n", s.n, s.rows, k, l, concat);
    ck_assert_uint_eq(s.rows, 1112);
    ck_assert_uint_eq(s.n, s.rows);
    ck_assert_uint_eq(k + l, s.n);
    ck_assert_uint_ge(concat * 100, s.n * 99);
    pr_free(&s);
}
END_TEST

/* Reads DIR/NAME_pairs.tsv for the three sets into sets[3]. */
static void read_sets(const char *dir, pr_set sets[3])
{
    static const char *names[3] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s_pairs.tsv", dir, names[k]);
        memset(&sets[k], 0, sizeof sets[k]);
        ck_assert_msg(pr_read(p, NULL, &sets[k]) == TG_OK, "%s", tg_last_error());
    }
}

/* Every key (heavy chain, or CDRH3 through cdr3_of) seen in one set only. */
static void check_disjoint(pr_set sets[3], const char *what)
{
    sm_map m;
    sm_init(&m);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sets[k].n; i++) {
            uint32_t old;
            const pr_pair *p = &sets[k].v[i];
            int r = sm_put(&m, p->heavy, p->heavy_len, (uint32_t)k, &old);
            ck_assert_int_ge(r, 0);
            ck_assert_msg(r == 1 || old == (uint32_t)k, "%s: heavy chain of %s in two sets",
                          what, p->id);
        }
    sm_free(&m);
}

START_TEST(prepare_pairs_fixture)
{
    /* three unrelated families of "heavy chains" (members differ in one
     * residue; two VH families would merge at 50%) with varied light chains,
     * one exact duplicate pair, no CDRH3 column */
    char *dir = tu_tmpdir();
    const char *fam[3] = {"EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKG",
                          "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDA",
                          "GSHMSLFDFFKNKGSAAATATASGKPLSELTEEQKQEIAEAFRRLDANGDGFIDSEELAHLCQNT"};
    const char *light[4] = {"DIQMTQSPSSLSASVGDRVTITCRASQSISSYLNWYQQKPGKAPKLLIY",
                            "EIVLTQSPGTLSLSPGERATLSCRASQSVSSSYLAWYQQKPGQAPRLLIY",
                            "QSALTQPASVSGSPGQSITISCTGTSSDVGGYNYVSWYQQHPGKAPKLMIY",
                            "SYELTQPPSVSVSPGQTASITCSGDKLGDKYACWYQQKPGQSPVLVIY"};
    char text[20000] = "id\theavy\tlight\tlocus\n";
    int n = 0;
    for (int f = 0; f < 3; f++)
        for (int j = 0; j < 12; j++) {
            char h[128];
            snprintf(h, sizeof h, "%s", fam[f]);
            h[20 + j] = 'W';
            char line[512];
            snprintf(line, sizeof line, "p%d_%d\t%s\t%s\t%s\n", f, j, h, light[(f + j) % 4],
                     (f + j) % 4 < 2 ? "K" : "L");
            strcat(text, line);
            n++;
        }
    strcat(text, "dup\t");
    char h0[128];
    snprintf(h0, sizeof h0, "%s", fam[0]);
    h0[20] = 'W';
    strcat(text, h0);
    strcat(text, "\t");
    strcat(text, light[0]);
    strcat(text, "\tK\n");
    const char *in = write_text(dir, "pairs.tsv", text);
    char out[1024];
    snprintf(out, sizeof out, "%s/out", dir);
    pp_opts o;
    pp_opts_default(&o);
    o.split.ratios[0] = 0.34; /* 12 of 36 pairs fit train, then val; the last goes to test */
    o.split.ratios[1] = 0.34;
    o.split.ratios[2] = 0.32;
    o.leak.sample = 5;
    cJSON *rep = cJSON_CreateObject();
    const char *inputs[1] = {in};
    ck_assert_msg(pp_run_pairs(inputs, 1, out, &o, rep) == TG_OK, "%s", tg_last_error());
    const cJSON *c = cJSON_GetObjectItem(rep, "counts");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "pairs_read")->valueint, n + 1);
    ck_assert_int_eq(cJSON_GetObjectItem(c, "duplicate_pairs_dropped")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(c, "pairs_with_cdr3")->valueint, 0);
    pr_set sets[3];
    read_sets(out, sets);
    ck_assert_uint_eq(sets[0].n + sets[1].n + sets[2].n, (size_t)n);
    /* each family whole in one set, and the three families in three sets */
    int fam_set[3] = {-1, -1, -1};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sets[k].n; i++) {
            int f = sets[k].v[i].id[1] - '0';
            ck_assert_msg(fam_set[f] < 0 || fam_set[f] == k, "family %d split", f);
            fam_set[f] = k;
            ck_assert_str_eq(sets[k].v[i].locus, sets[k].v[i].light[0] == 'D' ||
                                                         sets[k].v[i].light[0] == 'E'
                                                     ? "IGK"
                                                     : "IGL");
        }
    ck_assert_int_ne(fam_set[0], fam_set[1]);
    ck_assert_int_ne(fam_set[1], fam_set[2]);
    ck_assert_int_ne(fam_set[0], fam_set[2]);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(rep, "leakage"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(rep, "leakage_light"));
    for (int k = 0; k < 3; k++)
        pr_free(&sets[k]);
    cJSON_Delete(rep);
    /* bad input: the error names the file and line */
    in = write_text(dir, "bad.tsv", "heavy\tlight\nEVQ\tDI1Q\n");
    inputs[0] = in;
    rep = cJSON_CreateObject();
    ck_assert_int_eq(pp_run_pairs(inputs, 1, out, &o, rep), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "bad.tsv:2"));
    cJSON_Delete(rep);
    free(dir);
}
END_TEST

START_TEST(prepare_pairs_real)
{
    const char *oas = tu_oas_dir();
    if (!oas) {
        tu_skip("prepare_pairs_real", "../shared/data/oas-paired not found");
        return;
    }
    char p[3][1024];
    const char *units[3] = {"1279052_1_Paired_All.csv.gz", "SRR10313332_paired.csv.gz",
                            "SRR12875350_1_Paired_All.csv.gz"};
    const char *inputs[3];
    for (int k = 0; k < 3; k++) {
        snprintf(p[k], sizeof p[k], "%s/%s", oas, units[k]);
        inputs[k] = p[k];
    }
    char *dir = tu_tmpdir();
    pp_opts o;
    pp_opts_default(&o);
    o.split.ratios[0] = 0.6;
    o.split.ratios[1] = 0.2;
    o.split.ratios[2] = 0.2;
    /* the leakage report by the 3-mer index: its exact mode (tested in
     * test_leakage) took 8 of this suite's minutes under ASan */
    o.leak.candidates = 64;
    cJSON *rep = cJSON_CreateObject();
    ck_assert_msg(pp_run_pairs(inputs, 3, dir, &o, rep) == TG_OK, "%s", tg_last_error());
    const cJSON *c = cJSON_GetObjectItem(rep, "counts");
    int pairs = cJSON_GetObjectItem(c, "pairs")->valueint;
    pr_set sets[3];
    read_sets(dir, sets);
    ck_assert_uint_eq(sets[0].n + sets[1].n + sets[2].n, (size_t)pairs);
    ck_assert_uint_gt(sets[1].n, 0);
    ck_assert_uint_gt(sets[2].n, 0);
    check_disjoint(sets, "real");
    /* pairs keep their regions and loci through the files */
    size_t with_regions = 0, with_locus = 0;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sets[k].n; i++) {
            with_regions += sets[k].v[i].region[0] && sets[k].v[i].region[0][0];
            with_locus += sets[k].v[i].locus[0] != 0;
        }
    ck_assert_uint_eq(with_locus, (size_t)pairs);
    ck_assert_uint_eq(with_regions, (size_t)pairs);
    /* the same CDRH3 never in two sets: re-read the units for the CDRH3s */
    sm_map cdr3_set;
    sm_init(&cdr3_set);
    pr_set all = {0};
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(pr_read(inputs[k], NULL, &all), TG_OK);
    sm_map heavy_set;
    sm_init(&heavy_set);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sets[k].n; i++)
            ck_assert_int_ge(sm_put(&heavy_set, sets[k].v[i].heavy, sets[k].v[i].heavy_len,
                                    (uint32_t)k, NULL), 0);
    size_t checked = 0;
    for (size_t i = 0; i < all.n; i++) {
        uint32_t k, old;
        if (!all.v[i].heavy_cdr3 ||
            !sm_get(&heavy_set, all.v[i].heavy, all.v[i].heavy_len, &k))
            continue;
        int r = sm_put(&cdr3_set, all.v[i].heavy_cdr3, (int)strlen(all.v[i].heavy_cdr3), k,
                       &old);
        ck_assert_msg(r == 1 || old == k, "CDRH3 %s in two sets", all.v[i].heavy_cdr3);
        checked++;
    }
    ck_assert_uint_eq(checked, all.n);
    printf("prepare_pairs_real: %d pairs: train %zu, val %zu, test %zu; no heavy chain or "
           "CDRH3 in two sets\n", pairs, sets[0].n, sets[1].n, sets[2].n);
    sm_free(&cdr3_set);
    sm_free(&heavy_set);
    pr_free(&all);
    for (int k = 0; k < 3; k++)
        pr_free(&sets[k]);
    cJSON_Delete(rep);
    free(dir);
}
END_TEST

/* Deletes every member named "seconds" in j (recursively). */
static void drop_seconds(cJSON *j)
{
    cJSON *e;
    cJSON_DeleteItemFromObjectCaseSensitive(j, "seconds");
    cJSON_ArrayForEach(e, j) if (cJSON_IsObject(e) || cJSON_IsArray(e)) drop_seconds(e);
}

/* a[path] and b[path] equal (both present), "seconds" members left out. */
static void same_entry(const cJSON *a, const cJSON *b, const char *obj, const char *name,
                       const char *run)
{
    const cJSON *x = obj ? cJSON_GetObjectItem(a, obj) : a,
                *y = obj ? cJSON_GetObjectItem(b, obj) : b;
    cJSON *u = cJSON_Duplicate(cJSON_GetObjectItem(x, name), 1),
          *v = cJSON_Duplicate(cJSON_GetObjectItem(y, name), 1);
    ck_assert_msg(u && v, "%s: report entry %s.%s missing", run, obj ? obj : "", name);
    drop_seconds(u);
    drop_seconds(v);
    char *su = cJSON_PrintUnformatted(u), *sv = cJSON_PrintUnformatted(v);
    ck_assert_msg(cJSON_Compare(u, v, 1), "%s: %s.%s differs:\n%s\n%s", run, obj ? obj : "",
                  name, su, sv);
    free(su);
    free(sv);
    cJSON_Delete(u);
    cJSON_Delete(v);
}

/* --pairs out of core (the pairs in the store, ids and both de-duplications
 * in hash shards, clustering within 1 KiB, every stage resumed, the split
 * again after a set file was damaged) against in memory on real units, one
 * of them given twice under another name (every pair a duplicate, every id
 * repeated): the six output files byte for byte and the report's values the
 * same. */
START_TEST(prepare_pairs_out_of_core_same)
{
    const char *oas = tu_oas_dir();
    if (!oas) {
        tu_skip("prepare_pairs_out_of_core_same", "../shared/data/oas-paired not found");
        return;
    }
    char *dir = tu_tmpdir();
    char p[3][1024], cmd[3000], out[5][1100];
    snprintf(p[0], sizeof p[0], "%s/1279052_1_Paired_All.csv.gz", oas);
    snprintf(p[1], sizeof p[1], "%s/SRR10313332_paired.csv.gz", oas);
    snprintf(p[2], sizeof p[2], "%s/copy_of_1279052.csv.gz", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", p[0], p[2]);
    ck_assert_int_eq(system(cmd), 0);
    const char *inputs[3] = {p[0], p[1], p[2]};
    static const char *names[6] = {"train_pairs.tsv",      "val_pairs.tsv",
                                   "test_pairs.tsv",       "cdr3_100_cluster.tsv",
                                   "heavy_70_cluster.tsv", "heavy_50_cluster.tsv"};
    cJSON *rep[5];
    for (int run = 0; run < 5; run++) {
        /* 0: in memory; 1: out of core, one map; 2: 7 shards, 1 KiB; 3: 2 resumed;
         * 4: 2 resumed after val_pairs.tsv was damaged */
        snprintf(out[run], sizeof out[run], "%s/out%d", dir, run < 3 ? run : 2);
        if (run == 4) {
            snprintf(cmd, sizeof cmd, "printf x >> '%s/val_pairs.tsv'", out[run]);
            ck_assert_int_eq(system(cmd), 0);
        }
        pp_opts o;
        pp_opts_default(&o);
        o.in_memory = run == 0;
        o.dedup_shards = run >= 2 ? 7 : 0;
        o.max_memory = run >= 2 ? 1024 : 0;
        o.leak.sample = 20;
        o.leak.candidates = 64;
        rep[run] = cJSON_CreateObject();
        ck_assert_msg(pp_run_pairs(inputs, 3, out[run], &o, rep[run]) == TG_OK, "run %d: %s",
                      run, tg_last_error());
    }
    const cJSON *c = cJSON_GetObjectItem(rep[0], "counts"),
                *in = cJSON_GetObjectItem(rep[0], "input");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "pairs_read")->valueint, 1112 + 4103 + 1112);
    ck_assert_int_ge(cJSON_GetObjectItem(c, "duplicate_pairs_dropped")->valueint, 1112);
    ck_assert_int_ge(cJSON_GetObjectItem(in, "ids_made_unique")->valueint, 2 * 1112);
    const cJSON *r2 = rep[2];
    ck_assert_int_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(r2, "dedup_pairs"), "shards")->valueint, 7);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r2, "input"), "ids_shards")
                         ->valueint, 7);
    ck_assert_int_gt(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r2, "clustering"), 1),
                            "kmer_runs")->valueint, 1);
    const cJSON *stages = cJSON_GetObjectItem(rep[3], "stages");
    static const char *st_names[5] = {"read", "cdr3_clustering", "clustering_70",
                                      "clustering_50", "split"};
    for (int k = 0; k < 5; k++) {
        ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r2, "stages"), st_names[k])
                             ->valuestring, "done");
        const char *v = cJSON_GetObjectItem(stages, st_names[k])->valuestring;
        ck_assert_msg(!strncmp(v, "skipped", 7), "rerun: stage %s: %s", st_names[k], v);
    }
    const cJSON *st4 = cJSON_GetObjectItem(rep[4], "stages");
    ck_assert_str_eq(cJSON_GetObjectItem(st4, "split")->valuestring, "done");
    ck_assert(!strncmp(cJSON_GetObjectItem(st4, "clustering_50")->valuestring, "skipped", 7));
    ck_assert_ptr_null(cJSON_GetObjectItem(rep[0], "stages"));
    /* the markers a rerun trusts have the pairs' shape, and only it */
    char mp[1200];
    snprintf(mp, sizeof mp, "%s/prepare_read.json", out[2]);
    char *txt = tu_read_file(mp);
    cJSON *mk = cJSON_Parse(txt);
    free(txt);
    ck_assert(pp_read_marker_ok(mk, 1));
    ck_assert(!pp_read_marker_ok(mk, 0)); /* no reader counts: not a records marker */
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(mk, "pairs"), "rows_read");
    ck_assert(!pp_read_marker_ok(mk, 1));
    cJSON_Delete(mk);
    snprintf(mp, sizeof mp, "%s/prepare_split.json", out[2]);
    txt = tu_read_file(mp);
    mk = cJSON_Parse(txt);
    free(txt);
    ck_assert(pp_split_marker_ok(mk, 1, 1));
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(mk, "pairs_per_set"), "val");
    ck_assert(!pp_split_marker_ok(mk, 1, 1));
    ck_assert(pp_split_marker_ok(mk, 1, 0));
    cJSON_Delete(mk);
    for (int run = 1; run < 5; run++) {
        char what[32];
        snprintf(what, sizeof what, "run %d", run);
        for (int k = 0; k < 6; k++) {
            char a[1200], b[1200];
            snprintf(a, sizeof a, "%s/%s", out[0], names[k]);
            snprintf(b, sizeof b, "%s/%s", out[run], names[k]);
            ck_assert_msg(tu_same_file(a, b), "%s: %s differs from %s", what, b, a);
        }
        static const char *top[] = {"counts", "split", "pairs_per_set", "split_by",
                                    "leakage", "leakage_light", "leakage_note"};
        for (int k = 0; k < 7; k++)
            same_entry(rep[0], rep[run], NULL, top[k], what);
        static const char *inp[] = {"files", "files_skipped", "pairs", "ids_made_unique"};
        for (int k = 0; k < 4; k++)
            same_entry(rep[0], rep[run], "input", inp[k], what);
        const cJSON *sa = cJSON_GetObjectItem(rep[0], "clustering"),
                    *sb = cJSON_GetObjectItem(rep[run], "clustering");
        ck_assert_int_eq(cJSON_GetArraySize(sa), 3);
        ck_assert_int_eq(cJSON_GetArraySize(sb), 3);
        static const char *step[] = {"step", "min_seq_id", "sequences", "clusters", "engine"};
        for (int k = 0; k < 3; k++)
            for (int f = 0; f < 5; f++)
                same_entry(cJSON_GetArrayItem(sa, k), cJSON_GetArrayItem(sb, k), NULL, step[f],
                           what);
    }
    for (int run = 0; run < 5; run++)
        cJSON_Delete(rep[run]);
    free(dir);
}
END_TEST

/* Bad inputs among good ones, in memory and out of core: with --on-error
 * skip a file that is no pair file and a truncated gzip are listed in
 * files_skipped (the pairs before the damage kept) and a malformed row is
 * counted, with the same files and report either way; without it the
 * error names the file (and the line). */
START_TEST(prepare_pairs_bad_inputs)
{
    char *dir = tu_tmpdir();
    static const char *fam[3] = {"EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVS",
                                 "QVQLQESGPGLVKPSETLSLTCTVSGGSISSYYWSWIRQPPGKGLEWIG",
                                 "QVQLVQSGAEVKKPGASVKVSCKASGYTFTSYGISWVRQAPGQGLEWMG"};
    char *text = malloc(1 << 20);
    strcpy(text, "id\theavy\tlight\n");
    for (int i = 0; i < 3000; i++) {
        char line[256], h[128];
        snprintf(h, sizeof h, "%s", fam[i % 3]);
        h[10 + i % 30] = "ACDEFGHIKLMNPQRSTVWY"[(i / 30) % 20];
        h[40 - i % 7] = "ACDEFGHIKLMNPQRSTVWY"[(i / 7) % 20];
        snprintf(line, sizeof line, "q%d\t%s\tDIQMTQSPSSLSASVGDRVTITC%c\n", i, h,
                 "KRSTV"[i % 5]);
        strcat(text, line);
    }
    const char *good = write_text(dir, "good.tsv", text);
    /* random chains, so that the half of the gzip kept (about 210 KiB) is
     * more than the reader's 128 KiB buffer and holds whole rows */
    strcpy(text, "id\theavy\tlight\n");
    size_t used = strlen(text);
    unsigned long long x = 12345;
    for (int i = 0; i < 6000; i++) {
        used += (size_t)sprintf(text + used, "t%d\t", i);
        for (int k = 0; k < 110; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            text[used++] = "ACDEFGHIKLMNPQRSTVWY"[(x >> 33) % 20];
        }
        used += (size_t)sprintf(text + used, "\tDIQMTQSPSSLSASVG\n");
    }
    char trunc[700], cmd[4000];
    snprintf(trunc, sizeof trunc, "%s/trunc.tsv.gz", dir);
    const char *big = write_text(dir, "big.tsv", text);
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s.full' && head -c $(( $(wc -c < '%s.full') / 2 "
             ")) '%s.full' > '%s'", big, trunc, trunc, trunc, trunc);
    ck_assert_int_eq(system(cmd), 0);
    free(text);
    const char *single = write_text(dir, "single.fa", ">a\nEVQLVESGG\n");
    const char *bad = write_text(dir, "bad.tsv", "id\theavy\tlight\nb1\tEVQLVESGGA\tDIQMTQ\n"
                                                "b2\tEVQ\tDI1Q\nb3\tQVQLQESGPA\tEIVLTQ\n");
    const char *inputs[4] = {good, single, trunc, bad};
    cJSON *rep[2];
    char out[2][700];
    for (int run = 0; run < 2; run++) {
        snprintf(out[run], sizeof out[run], "%s/out%d", dir, run);
        pp_opts o;
        pp_opts_default(&o);
        o.in_memory = run == 0;
        o.rd.on_error = RD_ON_ERROR_SKIP;
        o.leak.sample = 10;
        o.leak.candidates = 16;
        rep[run] = cJSON_CreateObject();
        ck_assert_msg(pp_run_pairs(inputs, 4, out[run], &o, rep[run]) == TG_OK, "run %d: %s",
                      run, tg_last_error());
    }
    const cJSON *in = cJSON_GetObjectItem(rep[0], "input");
    const cJSON *sk = cJSON_GetObjectItem(in, "files_skipped");
    ck_assert_int_eq(cJSON_GetArraySize(sk), 2);
    const cJSON *s0 = cJSON_GetArrayItem(sk, 0), *s1 = cJSON_GetArrayItem(sk, 1);
    ck_assert_msg(strstr(cJSON_GetObjectItem(s0, "error")->valuestring,
                         "single.fa: not a pair file"), "%s",
                  cJSON_GetObjectItem(s0, "error")->valuestring);
    ck_assert_msg(strstr(cJSON_GetObjectItem(s1, "error")->valuestring, "trunc.tsv.gz"), "%s",
                  cJSON_GetObjectItem(s1, "error")->valuestring);
    int kept = cJSON_GetObjectItem(s1, "pairs_kept_before_error")->valueint;
    ck_assert_int_gt(kept, 0);
    ck_assert_int_lt(kept, 6000);
    const cJSON *pj = cJSON_GetObjectItem(in, "pairs");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(pj, "skipped"), "malformed_rows")
                         ->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(pj, "pairs")->valueint, 3000 + kept + 2);
    static const char *top[] = {"counts", "split", "pairs_per_set", "leakage",
                                "leakage_light"};
    for (int k = 0; k < 5; k++)
        same_entry(rep[0], rep[1], NULL, top[k], "skip mode");
    static const char *inp[] = {"files", "files_skipped", "pairs", "ids_made_unique"};
    for (int k = 0; k < 4; k++)
        same_entry(rep[0], rep[1], "input", inp[k], "skip mode");
    static const char *names[6] = {"train_pairs.tsv",      "val_pairs.tsv",
                                   "test_pairs.tsv",       "cdr3_100_cluster.tsv",
                                   "heavy_70_cluster.tsv", "heavy_50_cluster.tsv"};
    for (int k = 0; k < 6; k++) {
        char a[800], b[800];
        snprintf(a, sizeof a, "%s/%s", out[0], names[k]);
        snprintf(b, sizeof b, "%s/%s", out[1], names[k]);
        ck_assert_msg(tu_same_file(a, b), "skip mode: %s differs from %s", b, a);
    }
    cJSON_Delete(rep[0]);
    cJSON_Delete(rep[1]);
    /* fail mode: the first bad file stops the run, named (with its line) */
    for (int run = 0; run < 2; run++) {
        pp_opts o;
        pp_opts_default(&o);
        o.in_memory = run == 0;
        for (int k = 0; k < 2; k++) {
            const char *two[2] = {good, k ? bad : single};
            cJSON *r = cJSON_CreateObject();
            ck_assert_int_eq(pp_run_pairs(two, 2, out[run], &o, r), TG_ERR_FORMAT);
            const char *want = k ? "bad.tsv:3" : "single.fa: not a pair file";
            ck_assert_msg(strstr(tg_last_error(), want), "run %d: %s", run, tg_last_error());
            cJSON_Delete(r);
        }
    }
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pairs");
    TCase *t = tcase_create("pairs");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, oas_paired_unit);
    tcase_add_test(t, bad_rows_name_file_line_column);
    tcase_add_test(t, tsv_and_sep_lines);
    tcase_add_test(t, limits_are_counted);
    tcase_add_test(t, tsv_round_trip);
    tcase_add_test(t, real_oas_unit);
    tcase_add_test(t, prepare_pairs_fixture);
    tcase_add_test(t, prepare_pairs_real);
    tcase_add_test(t, prepare_pairs_out_of_core_same);
    tcase_add_test(t, prepare_pairs_bad_inputs);
    suite_add_tcase(s, t);
    return tu_run(s);
}
