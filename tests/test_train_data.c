/* The datasets of `ablm train`: run_mlm.py's group_texts (the default) and
 * --line_by_line (blank lines dropped), the special-token mask inside
 * grouped blocks, max_*_samples. */
#include "mlm_data.h"
#include "mlm_run.h"
#include "testutil.h"
#include "tg.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[512];
static tok_tokenizer *tok;

/* Writes lines to a fresh file (path). */
static void write_lines(const char *const *lines, int n)
{
    static char *dir;
    if (!dir)
        dir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/seqs.txt", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s\n", lines[i]);
    fclose(f);
}

/* What run_mlm.py's tokenize_function gives a line: [CLS] residues [SEP]. */
static int encode_ref(const char *s, int32_t *out)
{
    int n = 0;
    out[n++] = tok_cls_id(tok);
    for (; *s; s++) {
        char t[2] = {*s, 0};
        out[n++] = tok_token_id(tok, t);
    }
    out[n++] = tok_sep_id(tok);
    return n;
}

static void setup(void) { ck_assert_int_eq(tok_new(&tok), TG_OK); }
static void teardown(void) { tok_free(tok); }

static const char *const seqs[] = {"EVQLVESGG", "QVQLQ", "DIQMTQSPSSLSASVGDRV", "EVKL",
                                   "QVQLVQSGAEVKKPGASVKVSCKAS", "AC", "WYFD"};
enum { NSEQ = 7 };

/* group_texts: per group of rows, concatenate and cut into blocks, the
 * group's remainder dropped; blocks are not re-wrapped. Checked against
 * the concatenation built here from the lines, for several group sizes. */
START_TEST(group_texts_like_run_mlm)
{
    write_lines(seqs, NSEQ);
    const int block = 8;
    long groups[] = {1, 3, MLM_GROUP_ROWS};
    for (int gi = 0; gi < 3; gi++) {
        long rows = groups[gi];
        int32_t want[1024];
        int nwant = 0;
        long dropped = 0;
        for (int g = 0; g < NSEQ; g += (int)rows) {
            int32_t cat[512];
            int n = 0;
            for (int i = g; i < NSEQ && i < g + rows; i++)
                n += encode_ref(seqs[i], cat + n);
            int keep = n / block * block;
            memcpy(want + nwant, cat, keep * sizeof *cat);
            nwant += keep;
            dropped += n - keep;
        }
        mlm_data d;
        ck_assert_int_eq(mlm_data_load(&d, path, "train_file", tok, 0, -1), TG_OK);
        ck_assert_int_eq(d.n, NSEQ);
        ck_assert_int_eq(d.truncated, 0); /* loaded whole, as group_texts needs */
        ck_assert_int_eq(mlm_data_group(&d, block, rows, "train_file"), TG_OK);
        ck_assert_int_eq(d.lines, NSEQ);
        ck_assert_int_eq(d.n, nwant / block);
        ck_assert_int_eq(d.tokens, nwant);
        ck_assert_int_eq(d.dropped, dropped);
        for (long b = 0; b < d.n; b++) {
            ck_assert_int_eq(d.len[b], block);
            for (int k = 0; k < block; k++)
                ck_assert_msg(d.ids[d.start[b] + k] == want[b * block + k],
                              "rows %ld, block %ld, token %d: %d, want %d", rows, b, k,
                              d.ids[d.start[b] + k], want[b * block + k]);
        }
        mlm_data_head(&d, 2);
        ck_assert_int_eq(d.n, 2);
        ck_assert_int_eq(d.tokens, 2 * block);
        mlm_data_free(&d);
    }
}
END_TEST

/* In a grouped block, [CLS] and [SEP] of the sequences inside stay special
 * (never selected), every residue can be: with mlm_probability 1 exactly
 * the residues get labels. */
START_TEST(grouped_specials_never_masked)
{
    write_lines(seqs, NSEQ);
    mlm_data d;
    ck_assert_int_eq(mlm_data_load(&d, path, "train_file", tok, 0, -1), TG_OK);
    ck_assert_int_eq(mlm_data_group(&d, 16, MLM_GROUP_ROWS, "train_file"), TG_OK);
    ck_assert_int_ge(d.n, 3);
    mlm_mask_cfg mc = mlm_mask_defaults(tok_vocab_size(tok));
    mc.mlm_probability = 1.0;
    long order[3] = {0, 1, 2};
    int32_t labels[3 * 16];
    mlm_batch b = {0};
    tg_rng r;
    tg_rng_seed(&r, 5);
    ck_assert_int_eq(mlm_make_batch(&d, order, 3, 16, &mc, &r, &b, labels), TG_OK);
    ck_assert_int_eq(b.T, 16);
    int specials = 0;
    for (int i = 0; i < 3 * 16; i++) {
        int32_t orig = d.ids[d.start[i / 16] + i % 16];
        int special = orig == tok_cls_id(tok) || orig == tok_sep_id(tok);
        specials += special;
        ck_assert_int_eq(b.attention_mask[i], 1); /* blocks are full: no padding */
        if (special)
            ck_assert_int_eq(labels[i], MLM_IGNORE);
        else
            ck_assert_int_eq(labels[i], orig);
    }
    ck_assert_int_ge(specials, 4); /* blocks 0-2 hold several sequences' specials */
    mlm_batch_free(&b);
    mlm_data_free(&d);
}
END_TEST

/* Too little text for one block is an error that says what to do. */
START_TEST(grouped_too_short_is_error)
{
    write_lines(seqs, 2);
    mlm_data d;
    ck_assert_int_eq(mlm_data_load(&d, path, "validation_file", tok, 0, -1), TG_OK);
    ck_assert_int_eq(mlm_data_group(&d, 512, MLM_GROUP_ROWS, "validation_file"), TG_ERR_ARG);
    ck_assert_msg(strstr(tg_last_error(), "validation_file") && strstr(tg_last_error(), "--line_by_line"),
                  "%s", tg_last_error());
    mlm_data_free(&d);
}
END_TEST

/* --line_by_line: one example per sequence, cut to max_len with its [SEP]
 * kept; lines with only white space are dropped and counted, as
 * run_mlm.py drops empty and whitespace-only lines. */
START_TEST(line_by_line_cuts_and_drops_blank)
{
    const char *const lines[] = {"EVQLVESGG", "", "   ", "QVQLQ", "\t", "DIQMTQSPSSLSASVGDRV"};
    write_lines(lines, 6);
    mlm_data d;
    ck_assert_int_eq(mlm_data_load(&d, path, "train_file", tok, 8, -1), TG_OK);
    ck_assert_int_eq(d.n, 3);
    const char *kept[] = {"EVQLVESGG", "QVQLQ", "DIQMTQSPSSLSASVGDRV"};
    for (int i = 0; i < 3; i++) {
        int32_t want[64];
        int n = encode_ref(kept[i], want);
        if (n > 8) {
            want[7] = tok_sep_id(tok);
            n = 8;
        }
        ck_assert_int_eq(d.len[i], n);
        for (int k = 0; k < n; k++)
            ck_assert_int_eq(d.ids[d.start[i] + k], want[k]);
    }
    ck_assert_int_eq(d.truncated, 2);
    mlm_data_free(&d);
    const char *const blank[] = {"  ", "   "};
    write_lines(blank, 2);
    int rc = mlm_data_load(&d, path, "train_file", tok, 8, -1);
    ck_assert_int_ne(rc, TG_OK);
    /* the reader or the loader refuses it, naming the file */
    ck_assert_msg(strstr(tg_last_error(), "train_file") && strstr(tg_last_error(), path), "%s",
                  tg_last_error());
}
END_TEST

/* The published layout (BertTokenizer with the residues as added tokens)
 * gets each line as run_mlm.py hands it over: a run of unknown letters is
 * one [UNK], spaced X's are one each, a lowercase word is one [UNK]. */
START_TEST(published_layout_sees_lines_verbatim)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "fixtures/ProteinTokenizer"); /* CTest runs in tests/ */
    tok_tokenizer *pub;
    ck_assert_msg(tok_load(dir, &pub) == TG_OK, "%s", tg_last_error());
    const char *const lines[] = {"EVXXQL", "E V X X Q L", "evql"};
    write_lines(lines, 3);
    mlm_data d;
    ck_assert_msg(mlm_data_load(&d, path, "train_file", pub, 64, -1) == TG_OK, "%s",
                  tg_last_error());
    int unk = tok_unk_id(pub), want_len[3] = {2 + 5, 2 + 6, 2 + 1}, want_unk[3] = {1, 2, 1};
    ck_assert_int_eq(d.n, 3);
    for (int i = 0; i < 3; i++) {
        int k = 0;
        for (int j = 0; j < d.len[i]; j++)
            k += d.ids[d.start[i] + j] == unk;
        ck_assert_int_eq(d.len[i], want_len[i]);
        ck_assert_int_eq(k, want_unk[i]);
    }
    mlm_data_free(&d);
    tok_free(pub);
}
END_TEST

/* A tokenizer whose special tokens have other ids (vocab.txt order
 * [CLS] [SEP] [MASK] [PAD] [UNK], residues 5..24): batches pad with its
 * [PAD], never select its [CLS], [SEP] or padding, mask with its [MASK],
 * and the attention mask is 0 exactly on the padding. */
START_TEST(special_ids_come_from_the_tokenizer)
{
    char *dir = tu_tmpdir(), p[600];
    ck_assert_int_eq(tok_save(tok, dir, 512), TG_OK); /* then reorder its vocab.txt */
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    ck_assert_int_eq(unlink(p), 0);
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    FILE *f = fopen(p, "w");
    fputs("[CLS]\n[SEP]\n[MASK]\n[PAD]\n[UNK]\n", f);
    for (const char *r = TOK_RESIDUES; *r; r++)
        fprintf(f, "%c\n", *r);
    fclose(f);
    tok_tokenizer *t2;
    ck_assert_msg(tok_load(dir, &t2) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(tok_pad_id(t2), 3);
    const char *const lines[] = {"EVQLVESGG", "QVQ"};
    write_lines(lines, 2);
    mlm_data d;
    ck_assert_int_eq(mlm_data_load(&d, path, "train_file", t2, 0, -1), TG_OK);
    mlm_mask_cfg mc = mlm_mask_for(t2, 1.0);
    mc.mask_replace_prob = 1.0, mc.random_replace_prob = 0.0;
    long order[2] = {0, 1};
    int32_t labels[2 * 11];
    mlm_batch b = {0};
    tg_rng r;
    tg_rng_seed(&r, 5);
    ck_assert_int_eq(mlm_make_batch(&d, order, 2, 64, &mc, &r, &b, labels), TG_OK);
    ck_assert_int_eq(b.T, 11);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 11; k++) {
            int at = i * 11 + k, n = d.len[i];
            int32_t orig = k < n ? d.ids[d.start[i] + k] : -1;
            ck_assert_int_eq(b.attention_mask[at], k < n);
            if (k >= n) {
                ck_assert_int_eq(b.ids[at], 3); /* [PAD] */
                ck_assert_int_eq(labels[at], MLM_IGNORE);
            } else if (k == 0 || k == n - 1) {
                ck_assert_int_eq(b.ids[at], k ? 1 : 0); /* [SEP] / [CLS] kept */
                ck_assert_int_eq(labels[at], MLM_IGNORE);
            } else {
                ck_assert_int_eq(b.ids[at], 2); /* [MASK] */
                ck_assert_int_eq(labels[at], orig);
            }
        }
    mlm_batch_free(&b);
    mlm_data_free(&d);
    tok_free(t2);
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(p), 0);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_data");
    TCase *tc = tcase_create("train_data");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, group_texts_like_run_mlm);
    tcase_add_test(tc, grouped_specials_never_masked);
    tcase_add_test(tc, grouped_too_short_is_error);
    tcase_add_test(tc, line_by_line_cuts_and_drops_blank);
    tcase_add_test(tc, published_layout_sees_lines_verbatim);
    tcase_add_test(tc, special_ids_come_from_the_tokenizer);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
