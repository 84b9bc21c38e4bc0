/* Inference commands (embed, fill-mask, score, logits) on a tiny randomly
 * initialised model: .npy layout, pooling, padding invariance, fill-mask
 * against logits, pseudo-log-likelihood against logits of masked copies,
 * and bad input. */
#define _POSIX_C_SOURCE 200809L
#include "commands.h"
#include "config.h"
#include "mlm_data.h"
#include "mlm_run.h"
#include "npy.h"
#include "roberta.h"
#include "safetensors.h"
#include "tg.h"
#include "testutil.h"
#include "tokenizer.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;   /* temp dir for this run */
static char model[4096];

static const char *path(const char *name)
{
    static char bufs[8][4096];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 4096, "%s/%s", dir, name);
    return b;
}

static void write_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *p)
{
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", p);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static const char *src(const char *rel)
{
    static char b[4096];
    const char *s = tu_source_dir();
    snprintf(b, sizeof b, "%s/%s", s ? s : "..", rel);
    return b;
}

/* Builds the tiny model directory once (heavy_tiny, random weights). */
static void make_model(void)
{
    if (model[0])
        return;
    dir = tu_tmpdir();
    snprintf(model, sizeof model, "%s/model", dir);
    ck_assert_int_eq(mkdir(model, 0755), 0);
    rb_config cfg;
    ck_assert_int_eq(rb_config_load(src("configs/heavy_tiny.json"), &cfg), TG_OK);
    rb_model *m;
    ck_assert_int_eq(rb_model_new(&cfg, &m), TG_OK);
    rb_model_init(m, 11);
    ck_assert_int_eq(rb_model_save(m, model), TG_OK);
    ck_assert_int_eq(rb_config_save(&cfg, model), TG_OK);
    tok_tokenizer *t;
    ck_assert_int_eq(tok_new(&t), TG_OK);
    ck_assert_int_eq(tok_save(t, model, cfg.max_position_embeddings - 2), TG_OK);
    tok_free(t);
    rb_model_free(m);
}

/* Runs a command with stdout and stderr sent to files out/err (paths in
 * dir); the NULL-terminated arguments follow the command name. */
static int run(int (*fn)(int, char **), const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    int rc = tu_run_cmd_va(fn, path("out"), path("err"), name, ap);
    va_end(ap);
    return rc;
}

typedef struct {
    char descr[8];
    int ndim;
    size_t shape[4];
    size_t numel;
    void *buf; /* whole file */
    void *data;
} npy;

/* Parses a .npy written by npy_write: checks magic, version, alignment,
 * header syntax and that the file size matches the shape. */
static npy load_npy(const char *p)
{
    npy a = {0};
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", p);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    ck_assert_int_eq(memcmp(b, "\x93NUMPY\x01\x00", 8), 0);
    size_t hl = b[8] | (size_t)b[9] << 8;
    ck_assert_int_eq((10 + hl) % 64, 0);
    ck_assert_int_eq(b[10 + hl - 1], '\n');
    char *h = (char *)b + 10;
    ck_assert_int_eq(strncmp(h, "{'descr': '", 11), 0);
    memcpy(a.descr, h + 11, 3);
    ck_assert(!strcmp(a.descr, "<f4") || !strcmp(a.descr, "<i4"));
    ck_assert_ptr_nonnull(strstr(h, "'fortran_order': False, 'shape': ("));
    char *s = strstr(h, "'shape': (") + 10;
    a.numel = 1;
    while (*s != ')') {
        char *e;
        a.shape[a.ndim] = strtoul(s, &e, 10);
        ck_assert_ptr_ne(e, s);
        a.numel *= a.shape[a.ndim++];
        s = e;
        if (*s == ',')
            s++;
        while (*s == ' ')
            s++;
    }
    ck_assert_int_eq(strncmp(s, "), }", 4), 0);
    a.buf = b;
    a.data = b + 10 + hl;
    ck_assert_int_eq((size_t)n, 10 + hl + a.numel * 4);
    return a;
}

static float *F(const npy *a) { return a->data; }
static int32_t *I(const npy *a) { return a->data; }

static const char *SEQS[] = {
    "EVQLVESGGGLVQPGGSLRLSCAAS",
    "QVQLQESGPGLVKPSETLSLTCTVSGGSISSYYWSWIRQ",
    "EVQLLESGGG",
    "QVQLVQSGAEVKKPGASVKVSCKASGYTFTSYGISWVRQAPGQGLEWMGWISAYNGNTNYAQ",
    "DIQMTQSPSSLSASVGDRVTITC",
};
#define NSEQ 5

static void write_seqs(const char *p, int first, int n)
{
    FILE *f = fopen(p, "w");
    for (int i = first; i < first + n; i++)
        fprintf(f, ">s%d description\n%s\n", i, SEQS[i]);
    fclose(f);
}

START_TEST(npy_header_format)
{
    char buf[640];
    size_t shape[3] = {3, 70, 512};
    long n = npy_header(buf, sizeof buf, "<f4", 3, shape);
    const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 70, 512), }";
    ck_assert_int_eq(n, 128);
    ck_assert_int_eq(memcmp(buf + 10, want, strlen(want)), 0);
    for (long i = 10 + (long)strlen(want); i < n - 1; i++)
        ck_assert_int_eq(buf[i], ' ');
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_int_eq((buf[8] & 0xff) | (buf[9] & 0xff) << 8, n - 10);
    size_t one = 7;
    n = npy_header(buf, sizeof buf, "<i4", 1, &one);
    ck_assert_int_eq(n % 64, 0);
    ck_assert_ptr_nonnull(strstr(buf + 10, "'shape': (7,), }"));
    ck_assert_int_lt(npy_header(buf, sizeof buf, "<f8", 1, &one), 0);
    char *s = npy_sibling("a/out.npy", "ids");
    ck_assert_str_eq(s, "a/out.ids.npy");
    tg_free(s);
    s = npy_sibling("out", "lengths");
    ck_assert_str_eq(s, "out.lengths.npy");
    tg_free(s);
}
END_TEST

/* Mean pooling equals the mean of the per-residue rows; per-residue rows
 * are zero after each sequence's end; lengths are the residue counts. */
START_TEST(embed_mean_equals_per_residue_mean)
{
    make_model();
    write_seqs(path("in.fa"), 0, NSEQ);
    ck_assert_int_eq(run(cmd_embed, "embed", "--model", model, "--input", path("in.fa"),
                         "--output", path("mean.npy"), "--batch-size", "2", NULL), 0);
    ck_assert_int_eq(run(cmd_embed, "embed", "--model", model, "--input", path("in.fa"),
                         "--output", path("res.npy"), "--per-residue", "--batch-size", "3", NULL), 0);
    npy m = load_npy(path("mean.npy")), r = load_npy(path("res.npy")),
        l = load_npy(path("res.lengths.npy"));
    size_t H = 24, /* configs/heavy_tiny.json hidden_size */ L = strlen(SEQS[3]);
    ck_assert_int_eq(m.ndim, 2);
    ck_assert_int_eq(m.shape[0], NSEQ);
    ck_assert_int_eq(m.shape[1], H);
    ck_assert_int_eq(r.ndim, 3);
    ck_assert_int_eq(r.shape[0], NSEQ);
    ck_assert_int_eq(r.shape[1], L);
    ck_assert_int_eq(r.shape[2], H);
    ck_assert_str_eq(l.descr, "<i4");
    ck_assert_int_eq(l.ndim, 1);
    for (int i = 0; i < NSEQ; i++) {
        size_t n = strlen(SEQS[i]);
        ck_assert_int_eq(I(&l)[i], (int)n);
        double norm = 0;
        for (size_t k = 0; k < H; k++) {
            double acc = 0;
            for (size_t t = 0; t < n; t++)
                acc += F(&r)[(i * L + t) * H + k];
            ck_assert_double_eq_tol(F(&m)[i * H + k], acc / n, 1e-5);
            norm += fabs(acc);
            for (size_t t = n; t < L; t++)
                ck_assert_float_eq(F(&r)[(i * L + t) * H + k], 0.0f);
        }
        ck_assert(norm > 0);
    }
    /* rows are not all the same (input order kept, not sorted order) */
    ck_assert(fabsf(F(&m)[0] - F(&m)[2 * H]) > 1e-6f);
    free(m.buf);
    free(r.buf);
    free(l.buf);
}
END_TEST

/* Logits of a sequence do not depend on what it is batched with. */
START_TEST(logits_padding_invariance)
{
    make_model();
    write_seqs(path("all.fa"), 0, NSEQ);
    ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("all.fa"),
                         "--output", path("all.npy"), "--batch-size", "8", NULL), 0);
    npy a = load_npy(path("all.npy")), ids = load_npy(path("all.ids.npy"));
    size_t T = strlen(SEQS[3]) + 2, V = 25;
    ck_assert_int_eq(a.ndim, 3);
    ck_assert_int_eq(a.shape[0], NSEQ);
    ck_assert_int_eq(a.shape[1], T);
    ck_assert_int_eq(a.shape[2], V);
    ck_assert_int_eq(ids.ndim, 2);
    ck_assert_int_eq(ids.shape[1], T);
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    for (int i = 0; i < NSEQ; i++) {
        int32_t want[80];
        int n;
        ck_assert_int_eq(tok_encode(tok, SEQS[i], strlen(SEQS[i]), 80, TOK_REJECT, want, &n, NULL), 0);
        for (size_t t = 0; t < T; t++)
            ck_assert_int_eq(I(&ids)[i * T + t], t < (size_t)n ? want[t] : TOK_PAD);
        /* alone in its own file */
        write_seqs(path("one.fa"), i, 1);
        ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("one.fa"),
                             "--output", path("one.npy"), NULL), 0);
        npy o = load_npy(path("one.npy"));
        ck_assert_int_eq(o.shape[1], (size_t)n);
        for (size_t t = 0; t < (size_t)n; t++)
            for (size_t v = 0; v < V; v++)
                ck_assert_double_eq_tol(F(&a)[(i * T + t) * V + v], F(&o)[t * V + v], 1e-5);
        for (size_t t = (size_t)n; t < T; t++)
            ck_assert_float_eq(F(&a)[(i * T + t) * V], 0.0f);
        free(o.buf);
    }
    /* batched two at a time (other neighbours, other padded lengths) */
    ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("all.fa"),
                         "--output", path("two.npy"), "--batch-size", "2", NULL), 0);
    npy b = load_npy(path("two.npy"));
    for (size_t k = 0; k < a.numel; k++)
        ck_assert_double_eq_tol(F(&a)[k], F(&b)[k], 1e-5);
    tok_free(tok);
    free(a.buf);
    free(ids.buf);
    free(b.buf);
}
END_TEST

/* A batch whose longest row has the model's maximum of tokens (heavy_tiny:
 * 65) is padded to that maximum, not past it to the next multiple of 8
 * (inf_pad_len): its rows' logits equal each row's alone. */
START_TEST(padding_stops_at_the_model_maximum)
{
    make_model();
    char longest[80];
    snprintf(longest, sizeof longest, "%sS", SEQS[3]); /* 63 residues: 65 tokens */
    const char *rows[3] = {SEQS[0], longest, SEQS[2]};
    FILE *f = fopen(path("max.fa"), "w");
    for (int i = 0; i < 3; i++)
        fprintf(f, ">m%d\n%s\n", i, rows[i]);
    fclose(f);
    ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("max.fa"),
                         "--output", path("max.npy"), "--batch-size", "3", NULL), 0);
    npy a = load_npy(path("max.npy"));
    size_t T = 65, V = 25;
    ck_assert_int_eq(a.shape[1], T);
    for (int i = 0; i < 3; i++) {
        f = fopen(path("one.fa"), "w");
        fprintf(f, ">one\n%s\n", rows[i]);
        fclose(f);
        ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("one.fa"),
                             "--output", path("one.npy"), NULL), 0);
        npy o = load_npy(path("one.npy"));
        size_t n = strlen(rows[i]) + 2;
        ck_assert_int_eq(o.shape[1], n);
        for (size_t k = 0; k < n * V; k++)
            ck_assert_double_eq_tol(F(&a)[i * T * V + k], F(&o)[k], 1e-5);
        free(o.buf);
    }
    free(a.buf);
}
END_TEST

typedef struct {
    int index, position, rank;
    char token[16];
    double p;
} fm_row;

static int parse_fill_mask(const char *text, fm_row *rows, int cap)
{
    const char *s = strchr(text, '\n');
    const char *head = "index\tid\tposition\trank\ttoken\tprobability\n";
    ck_assert_int_eq(strncmp(text, head, strlen(head)), 0);
    int n = 0;
    while (s && s[1] && n < cap) {
        char id[64];
        ck_assert_int_eq(sscanf(s + 1, "%d\t%63s\t%d\t%d\t%15s\t%lf", &rows[n].index, id,
                                &rows[n].position, &rows[n].rank, rows[n].token, &rows[n].p), 6);
        n++;
        s = strchr(s + 1, '\n');
    }
    return n;
}

/* fill-mask: probabilities of all V tokens sum to 1, top-k to at most 1,
 * top-1 is the argmax of the logits command at that position, and "*" and
 * "[MASK]" are the same. */
START_TEST(fill_mask_matches_logits)
{
    make_model();
    write_text(path("m1.txt"), "EVQL*ESGGGLVQ\nQVQLQE*GPG*VKPSE\n");
    write_text(path("m2.txt"), "EVQL[MASK]ESGGGLVQ\n\nQVQLQE[MASK]GPG[MASK]VKPSE\n");
    ck_assert_int_eq(run(cmd_fill_mask, "fill-mask", "--model", model, "--input", path("m1.txt"),
                         "--top-k", "25", NULL), 0);
    char *all = read_text(path("out"));
    static fm_row rows[400];
    int n = parse_fill_mask(all, rows, 400);
    ck_assert_int_eq(n, 3 * 25);
    ck_assert_int_eq(rows[0].position, 5);
    ck_assert_int_eq(rows[25].position, 7);
    ck_assert_int_eq(rows[50].position, 11);
    ck_assert_int_eq(rows[50].index, 1);
    for (int m = 0; m < 3; m++) {
        double sum = 0;
        for (int r = 0; r < 25; r++) {
            ck_assert_int_eq(rows[m * 25 + r].rank, r + 1);
            if (r)
                ck_assert(rows[m * 25 + r].p <= rows[m * 25 + r - 1].p);
            sum += rows[m * 25 + r].p;
        }
        ck_assert_double_eq_tol(sum, 1.0, 1e-4);
    }
    ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("m1.txt"),
                         "--output", path("m.npy"), NULL), 0);
    npy lg = load_npy(path("m.npy"));
    size_t T = lg.shape[1], V = lg.shape[2];
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    for (int m = 0; m < 3; m++) {
        const fm_row *r = &rows[m * 25];
        const float *l = F(&lg) + ((size_t)r->index * T + (size_t)r->position) * V;
        int best = 0;
        for (size_t v = 1; v < V; v++)
            if (l[v] > l[best])
                best = (int)v;
        ck_assert_str_eq(r->token, tok_token(tok, best));
    }
    /* top-5: a prefix of the full list, sum <= 1; "[MASK]" spelling gives the same */
    ck_assert_int_eq(run(cmd_fill_mask, "fill-mask", "--model", model, "--input", path("m2.txt"),
                         NULL), 0);
    char *five = read_text(path("out"));
    fm_row r5[40];
    ck_assert_int_eq(parse_fill_mask(five, r5, 40), 15);
    for (int m = 0; m < 3; m++) {
        double sum = 0;
        for (int r = 0; r < 5; r++) {
            ck_assert_str_eq(r5[m * 5 + r].token, rows[m * 25 + r].token);
            ck_assert_double_eq_tol(r5[m * 5 + r].p, rows[m * 25 + r].p, 1e-6);
            sum += r5[m * 5 + r].p;
        }
        ck_assert(sum <= 1.0 + 1e-6);
    }
    tok_free(tok);
    free(all);
    free(five);
    free(lg.buf);
}
END_TEST

/* score's pll equals the sum of log-softmax(true residue) over the logits
 * of the L masked copies (computed here from the logits command). */
START_TEST(score_matches_masked_logits)
{
    make_model();
    write_seqs(path("sc.fa"), 0, 3);
    ck_assert_int_eq(run(cmd_score, "score", "--model", model, "--input", path("sc.fa"),
                         "--output", path("sc.tsv"), "--batch-size", "7", NULL), 0);
    char *tsv = read_text(path("sc.tsv"));
    ck_assert_int_eq(strncmp(tsv, "id\tlength\tpll\tpll_per_residue\tperplexity\n", 41), 0);
    const char *line = tsv + 41;
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    for (int i = 0; i < 3; i++) {
        char id[64];
        int len;
        double pll, avg, ppl;
        ck_assert_int_eq(sscanf(line, "%63s\t%d\t%lf\t%lf\t%lf", id, &len, &pll, &avg, &ppl), 5);
        line = strchr(line, '\n') + 1;
        char want_id[16];
        snprintf(want_id, sizeof want_id, "s%d", i);
        ck_assert_str_eq(id, want_id);
        ck_assert_int_eq(len, (int)strlen(SEQS[i]));
        /* the masked copies as a plain file, through the logits command */
        FILE *f = fopen(path("copies.txt"), "w");
        for (int p = 0; p < len; p++)
            fprintf(f, "%.*s*%s\n", p, SEQS[i], SEQS[i] + p + 1);
        fclose(f);
        ck_assert_int_eq(run(cmd_logits, "logits", "--model", model, "--input", path("copies.txt"),
                             "--output", path("copies.npy"), NULL), 0);
        npy lg = load_npy(path("copies.npy"));
        size_t T = lg.shape[1], V = lg.shape[2];
        double want = 0;
        for (int p = 0; p < len; p++) {
            const float *l = F(&lg) + ((size_t)p * T + (size_t)p + 1) * V;
            double mx = l[0], s = 0;
            for (size_t v = 0; v < V; v++)
                mx = l[v] > mx ? l[v] : mx;
            for (size_t v = 0; v < V; v++)
                s += exp(l[v] - mx);
            int tid = tok_token_id(tok, (char[]){SEQS[i][p], 0});
            want += l[tid] - mx - log(s);
        }
        ck_assert_double_eq_tol(pll, want, 1e-4 * fabs(want));
        ck_assert_double_eq_tol(avg, pll / len, 1e-6 * fabs(pll));
        ck_assert_double_eq_tol(ppl, exp(-pll / len), 1e-6 * ppl);
        ck_assert(pll < 0);
        free(lg.buf);
    }
    ck_assert_str_eq(line, "");
    tok_free(tok);
    free(tsv);
}
END_TEST

static void expect_error(int rc, int want, const char *needle)
{
    char *err = read_text(path("err"));
    ck_assert_msg(rc == want, "exit %d, expected %d; stderr: %s", rc, want, err);
    ck_assert_msg(strstr(err, needle) != NULL, "stderr lacks '%s': %s", needle, err);
    free(err);
}

START_TEST(bad_input_fails_clearly)
{
    make_model();
    write_seqs(path("ok.fa"), 0, 2);
    write_text(path("empty.txt"), "");
    write_text(path("nomask.txt"), "EVQL*ESG\nEVQLVESG\n");
    char longseq[200];
    memset(longseq, 'A', 70);
    strcpy(longseq + 70, "\n");
    write_text(path("long.txt"), longseq);
    write_text(path("hasmask.txt"), "EVQLVESG\nEVQ*VESG\n");
    expect_error(run(cmd_embed, "embed", "--model", path("nope"), "--input", path("ok.fa"),
                     "--output", path("x.npy"), NULL), 1, "nope: no such model directory");
    expect_error(run(cmd_embed, "embed", "--model", model, "--input", path("empty.txt"),
                     "--output", path("x.npy"), NULL), 1, "empty.txt");
    expect_error(run(cmd_embed, "embed", "--model", model, "--input", path("ok.fa"),
                     "--output", path("x.npy"), "--pool", "cls", NULL), 2, "unknown flag '--pool'");
    expect_error(run(cmd_logits, "logits", "--model", model, "--input", path("ok.fa"), NULL), 2,
                 "--output is required");
    expect_error(run(cmd_score, "score", "--model", model, "--input", path("ok.fa"), "--output",
                     path("x.tsv"), "--batch-size", "0", NULL), 2, "--batch-size");
    expect_error(run(cmd_fill_mask, "fill-mask", "--model", model, "--input", path("nomask.txt"),
                     NULL), 1, "nomask.txt:2: record 'nomask.txt:2' has no mask");
    expect_error(run(cmd_embed, "embed", "--model", model, "--input", path("long.txt"),
                     "--output", path("x.npy"), NULL), 1, "long.txt:1");
    expect_error(run(cmd_score, "score", "--model", model, "--input", path("hasmask.txt"),
                     "--output", path("x.tsv"), NULL), 1, "hasmask.txt:2");
    expect_error(run(cmd_embed, "embed", "--model", model, "--input", path("missing.fa"),
                     "--output", path("x.npy"), NULL), 1, "missing.fa");
    ck_assert_int_ne(access(path("x.npy"), F_OK), 0); /* nothing written on failure */
    ck_assert_int_ne(access(path("x.tsv"), F_OK), 0);
    /* --truncate accepts the long sequence: 63 residues kept */
    ck_assert_int_eq(run(cmd_embed, "embed", "--model", model, "--input", path("long.txt"),
                         "--output", path("t.npy"), "--truncate", "--per-residue", NULL), 0);
    npy t = load_npy(path("t.npy"));
    ck_assert_int_eq(t.shape[1], 63);
    free(t.buf);
    /* --help documents every flag and exits 0 */
    ck_assert_int_eq(run(cmd_embed, "embed", "--help", NULL), 0);
    char *help = read_text(path("out"));
    const char *flags[] = {"--model", "--input", "--output", "--per-residue", "--batch-size",
                           "--threads", "--truncate"};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        ck_assert_ptr_nonnull(strstr(help, flags[i]));
    free(help);
    ck_assert_int_eq(run(cmd_fill_mask, "fill-mask", "-h", NULL), 0);
    help = read_text(path("out"));
    ck_assert_ptr_nonnull(strstr(help, "--top-k"));
    ck_assert_ptr_null(strstr(help, "--output"));
    free(help);
}
END_TEST

/* Every allocation failing in turn (sampled) gives exit status 1 with a
 * message, never a crash or a partial output (ASan checks leaks). */
START_TEST(allocation_failures)
{
    make_model();
    write_text(path("af.txt"), "EVQL*ESGGGLVQ\nQVQLQ*SGPG\n");
    write_text(path("af2.txt"), "EVQLVESGGGLVQ\nQVQLQESGPG\n");
    struct {
        int (*fn)(int, char **);
        const char *name, *input, *out;
    } cmds[] = {{cmd_embed, "embed", "af2.txt", "af.npy"},
                {cmd_logits, "logits", "af2.txt", "af.npy"},
                {cmd_fill_mask, "fill-mask", "af.txt", NULL},
                {cmd_score, "score", "af2.txt", "af.tsv"}};
    for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) {
        int ok = 0, failures = 0;
        for (long n = 1; !ok && n < 100000; n += 1 + n / 6) {
            unlink(path("af.npy"));
            unlink(path("af.tsv"));
            tg_alloc_fail_after(n);
            int rc = cmds[c].out ? run(cmds[c].fn, cmds[c].name, "--model", model, "--input",
                                       path(cmds[c].input), "--output", path(cmds[c].out), NULL)
                                 : run(cmds[c].fn, cmds[c].name, "--model", model, "--input",
                                       path(cmds[c].input), NULL);
            tg_alloc_fail_after(0);
            if (rc == 0) {
                ok = 1;
                continue;
            }
            failures++;
            char want[64];
            snprintf(want, sizeof want, "ablm %s: ", cmds[c].name);
            expect_error(rc, 1, want);
            if (cmds[c].out)
                ck_assert_int_ne(access(path(cmds[c].out), F_OK), 0);
        }
        ck_assert_msg(ok && failures > 10, "%s: ok %d after %d failures", cmds[c].name, ok,
                      failures);
    }
}
END_TEST

/* Copies file a to b byte for byte. */
static void copy_file(const char *a, const char *b)
{
    FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
    ck_assert_msg(in && out, "copy %s -> %s", a, b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

/* The pad_token_id 1 fixture (tests/fixtures/roberta_pad1: config shaped
 * like the reference's config4.json, torch's golden outputs) as a model
 * directory, with the tokenizer files of tokdir copied in, or (tokdir
 * NULL) the default layout written by tok_save; both have [PAD] 0 and
 * [UNK] 1. */
typedef struct {
    char dir[4200];
    st_file *golden;
    int B, T, V, H;
    int32_t *plain; /* [B, T] unmasked ids, padded with [PAD] 0 */
    int n[8];       /* tokens per row ([CLS] .. [SEP]) */
} pad1_fixture;

static void pad1_open(pad1_fixture *x, const char *tokdir)
{
    memset(x, 0, sizeof *x);
    make_model(); /* the temp dir */
    snprintf(x->dir, sizeof x->dir, "%s", path(tokdir ? "pad1_published" : "pad1"));
    mkdir(x->dir, 0755);
    char a[4608], b[4608];
    if (tokdir) {
        DIR *d = opendir(tokdir);
        ck_assert_msg(d != NULL, "%s", tokdir);
        struct dirent *e;
        while ((e = readdir(d))) {
            struct stat sb;
            snprintf(a, sizeof a, "%s/%s", tokdir, e->d_name);
            snprintf(b, sizeof b, "%s/%s", x->dir, e->d_name);
            if (stat(a, &sb) == 0 && S_ISREG(sb.st_mode))
                copy_file(a, b);
        }
        closedir(d);
    } else {
        tok_tokenizer *t;
        ck_assert_int_eq(tok_new(&t), TG_OK);
        ck_assert_int_eq(tok_save(t, x->dir, 64), TG_OK);
        tok_free(t);
    }
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/tests/fixtures/roberta_pad1/%s", tu_source_dir(), files[i]);
        snprintf(b, sizeof b, "%s/%s", x->dir, files[i]);
        copy_file(a, b);
    }
    snprintf(a, sizeof a, "%s/tests/fixtures/roberta_pad1/golden.safetensors", tu_source_dir());
    ck_assert_msg(st_open(a, &x->golden) == TG_OK, "%s", tg_last_error());
    const st_info *pi = st_find(x->golden, "plain_logits");
    ck_assert_ptr_nonnull(pi);
    x->B = (int)pi->shape[0], x->T = (int)pi->shape[1], x->V = (int)pi->shape[2];
    x->H = (int)st_find(x->golden, "plain_hidden")->shape[2];
    ck_assert_int_le(x->B, 8);
    int32_t *attn;
    ck_assert_int_eq(st_load_i32(x->golden, "plain_ids", &x->plain, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(x->golden, "attention_mask", &attn, NULL), TG_OK);
    for (int r = 0; r < x->B; r++)
        for (int t = 0; t < x->T; t++)
            x->n[r] += attn[r * x->T + t];
    free(attn);
}

/* Tokenizer layouts to run the pad_token_id 1 tests with: the default
 * (NULL), and the reference's published layout (vocab.txt with the five
 * specials, residues in added_tokens.json) when
 * tests/fixtures/ProteinTokenizer is present. Returns the count. */
static int pad1_layouts(const char *out[2])
{
    static char pub[4200];
    snprintf(pub, sizeof pub, "%s/tests/fixtures/ProteinTokenizer", tu_source_dir());
    char vocab[4300];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", pub);
    out[0] = NULL;
    if (access(vocab, F_OK) != 0) {
        printf("pad_token_id 1: %s absent: default tokenizer layout only\n", pub);
        return 1;
    }
    out[1] = pub;
    return 2;
}

static void pad1_close(pad1_fixture *x)
{
    st_close(x->golden);
    free(x->plain);
}

/* Writes the fixture's unmasked rows as FASTA, residues separated by
 * spaces (ProtBERT style) and [UNK] as X: BertTokenizer (the published
 * layout) makes one [UNK] of a run of unknown letters such as "XX", but one
 * per spaced X, as ablm's own layout does either way; returns how many rows hold an [UNK] residue. */
static int pad1_write_fasta(const pad1_fixture *x, const char *p)
{
    FILE *f = fopen(p, "w");
    int unk_rows = 0;
    for (int r = 0; r < x->B; r++) {
        fprintf(f, ">row%d\n", r);
        int unk = 0;
        for (int t = 1; t < x->n[r] - 1; t++) {
            int id = x->plain[r * x->T + t];
            ck_assert(id == 1 || (id >= 5 && id < 25));
            unk |= id == 1;
            if (t > 1)
                fputc(' ', f);
            fputc(id == 1 ? 'X' : TOK_RESIDUES[id - 5], f);
        }
        fputc('\n', f);
        unk_rows += unk;
    }
    fclose(f);
    return unk_rows;
}

/* embed and logits on a config with pad_token_id 1 ([UNK]) and a tokenizer
 * whose [PAD] is 0, sequences of different lengths with [UNK] residues,
 * padded in one batch and in batches of 3 (other padding): per-residue
 * hidden states and logits are torch's (positions from pad_token_id,
 * attention mask from [PAD]) within 1e-4. */
static void pad1_commands(const char *tokdir)
{
    pad1_fixture x;
    pad1_open(&x, tokdir);
    ck_assert_int_ge(pad1_write_fasta(&x, path("pad1.fa")), 2);
    size_t n;
    float *want_l, *want_h;
    ck_assert_int_eq(st_load_f32(x.golden, "plain_logits", &want_l, &n), TG_OK);
    ck_assert_int_eq(st_load_f32(x.golden, "plain_hidden", &want_h, &n), TG_OK);
    const char *bs[] = {"8", "3"};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(run(cmd_logits, "logits", "--model", x.dir, "--input", path("pad1.fa"),
                             "--output", path("pad1.npy"), "--batch-size", bs[k], NULL), 0);
        char *err = read_text(path("err"));
        ck_assert_msg(strstr(err, "pad_token_id=1 ([UNK] in this tokenizer)"), "%s", err);
        ck_assert_msg(strstr(err, "note: ") && strstr(err, "ignored: max_seq_length, max_length"),
                      "%s", err);
        free(err);
        ck_assert_int_eq(run(cmd_embed, "embed", "--model", x.dir, "--input", path("pad1.fa"),
                             "--output", path("pad1e.npy"), "--per-residue", "--batch-size", bs[k],
                             NULL), 0);
        npy lg = load_npy(path("pad1.npy")), em = load_npy(path("pad1e.npy"));
        ck_assert_int_eq(lg.shape[0], x.B);
        ck_assert_int_eq(lg.shape[1], x.T);
        ck_assert_int_eq(lg.shape[2], x.V);
        ck_assert_int_eq(em.shape[2], x.H);
        size_t L = em.shape[1];
        double dl = 0, dh = 0;
        for (int r = 0; r < x.B; r++) {
            for (int t = 0; t < x.n[r]; t++)
                for (int v = 0; v < x.V; v++) {
                    size_t i = ((size_t)r * x.T + t) * x.V + v;
                    dl = fmax(dl, fabs(F(&lg)[i] - want_l[i]));
                }
            for (int t = 0; t < x.n[r] - 2; t++) /* residue t = token t + 1 */
                for (int h = 0; h < x.H; h++)
                    dh = fmax(dh, fabs(F(&em)[((size_t)r * L + t) * x.H + h] -
                                       want_h[((size_t)r * x.T + t + 1) * x.H + h]));
        }
        printf("pad_token_id 1, %s tokenizer, batch size %s: logits max abs %.3g, embed max abs "
               "%.3g vs torch\n", tokdir ? "published" : "default", bs[k], dl, dh);
        ck_assert_msg(dl <= 1e-4 && dh <= 1e-4, "batch %s: logits %.3g, embed %.3g > 1e-4", bs[k],
                      dl, dh);
        free(lg.buf);
        free(em.buf);
    }
    free(want_l);
    free(want_h);
    pad1_close(&x);
}

START_TEST(pad_token_id_1_matches_torch)
{
    const char *layouts[2];
    int n = pad1_layouts(layouts);
    for (int i = 0; i < n; i++)
        pad1_commands(layouts[i]);
}
END_TEST

/* The eval path (rb_load_pretrained, mlm_data_load, mlm_make_batch's
 * padding and attention mask, mlm_evaluate) on the same fixture: with every
 * residue a target and none replaced, the loss is the mean cross entropy
 * of torch's logits over all residues ([UNK] included) and the batch's
 * logits are torch's. */
static void pad1_eval(const char *tokdir)
{
    pad1_fixture x;
    pad1_open(&x, tokdir);
    pad1_write_fasta(&x, path("pad1e.fa"));
    rb_model *m;
    tok_tokenizer *tok;
    ck_assert_msg(rb_load_pretrained(x.dir, &m, &tok, NULL) == TG_OK, "%s", tg_last_error());
    mlm_data d;
    ck_assert_msg(mlm_data_load(&d, path("pad1e.fa"), "validation_file", tok, 64, -1) == TG_OK,
                  "%s", tg_last_error());
    ck_assert_int_eq(d.n, x.B);
    size_t n;
    float *want;
    ck_assert_int_eq(st_load_f32(x.golden, "plain_logits", &want, &n), TG_OK);
    double ce = 0;
    long targets = 0;
    for (int r = 0; r < x.B; r++)
        for (int t = 1; t < x.n[r] - 1; t++) {
            const float *l = want + ((size_t)r * x.T + t) * x.V;
            double mx = l[0], z = 0;
            for (int v = 1; v < x.V; v++)
                mx = fmax(mx, l[v]);
            for (int v = 0; v < x.V; v++)
                z += exp(l[v] - mx);
            ce -= l[x.plain[r * x.T + t]] - mx - log(z);
            targets++;
        }
    ce /= targets;
    mlm_mask_cfg mc = mlm_mask_defaults(x.V);
    mc.mlm_probability = 1.0;
    mc.mask_replace_prob = mc.random_replace_prob = 0.0;
    mlm_graphs gc;
    mlm_eval_result res;
    ck_assert_int_eq(mlm_graphs_init(&gc, m, 0, RB_LOSS), TG_OK);
    ck_assert_msg(mlm_evaluate(&gc, &d, 8, 64, &mc, 1, &res) == TG_OK, "%s", tg_last_error());
    printf("pad_token_id 1, %s tokenizer, eval path: loss %.7f, from torch's logits %.7f\n",
           tokdir ? "published" : "default", res.loss, ce);
    ck_assert_int_eq(res.masked, targets);
    ck_assert_double_eq_tol(res.loss, ce, 1e-5 * ce);
    /* the batch itself: padded with [PAD] 0, mask from the lengths */
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    long order[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    mlm_batch b = {0};
    int32_t labels[8 * 64];
    ck_assert_int_eq(mlm_make_batch(&d, order, x.B, 64, &mc, &rng, &b, labels), TG_OK);
    ck_assert_int_eq(b.T, x.T);
    for (int i = 0; i < x.B * x.T; i++) {
        ck_assert_int_eq(b.ids[i], x.plain[i]);
        ck_assert_int_eq(b.attention_mask[i], i % x.T < x.n[i / x.T]);
    }
    rb_graph *gr;
    ck_assert_int_eq(mlm_forward(&gc, &b, labels, &gr), TG_OK);
    double dl = 0;
    for (size_t i = 0; i < n; i++)
        if (b.attention_mask[i / x.V])
            dl = fmax(dl, fabs(tg_f32(gr->logits)[i] - want[i]));
    printf("pad_token_id 1, eval path: logits max abs %.3g vs torch\n", dl);
    ck_assert_msg(dl <= 1e-4, "eval path logits %.3g > 1e-4", dl);
    mlm_batch_free(&b);
    mlm_graphs_free(&gc);
    mlm_data_free(&d);
    rb_model_free(m);
    tok_free(tok);
    free(want);
    pad1_close(&x);
}

START_TEST(pad_token_id_1_eval_path_matches_torch)
{
    const char *layouts[2];
    int n = pad1_layouts(layouts);
    for (int i = 0; i < n; i++)
        pad1_eval(layouts[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("infer");
    TCase *tc = tcase_create("infer");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, npy_header_format);
    tcase_add_test(tc, embed_mean_equals_per_residue_mean);
    tcase_add_test(tc, logits_padding_invariance);
    tcase_add_test(tc, padding_stops_at_the_model_maximum);
    tcase_add_test(tc, fill_mask_matches_logits);
    tcase_add_test(tc, score_matches_masked_logits);
    tcase_add_test(tc, pad_token_id_1_matches_torch);
    tcase_add_test(tc, pad_token_id_1_eval_path_matches_torch);
    tcase_add_test(tc, bad_input_fails_clearly);
    tcase_add_test(tc, allocation_failures);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
