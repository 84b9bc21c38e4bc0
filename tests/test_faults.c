/* Fault-injection sweeps: for k = 1, 2, ... the k-th allocation through
 * tg_malloc/tg_calloc/tg_realloc fails (tg_alloc_fail_after), over every k
 * until the operation succeeds. Each failing run must return a non-OK
 * status with a message, leave nothing allocated (run under ASan's
 * LeakSanitizer: build-asan) and not crash; a run whose failure was
 * absorbed (tg_alloc_fail_fired but OK) must give the same result as the
 * run without failures. cJSON allocates through the same allocator here
 * (cJSON_InitHooks). Operations: building, planning and running a
 * RoBERTa graph forward and backward with an AdamW step, loading a checkpoint directory,
 * loading a tokenizer, reading FASTA, CSV, AIRR (gzip) and OAS files,
 * clustering input and cluster TSVs. */
#include "adamw.h"
#include "cluster_io.h"
#include "reader.h"
#include "roberta.h"
#include "testutil.h"
#include "tg.h"
#include "tokenizer.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* One operation: returns a status and, on TG_OK, a checksum of its result
 * in *sum (to compare an absorbed failure's result with the clean run's). */
typedef int (*op_fn)(const void *ctx, double *sum);

typedef struct {
    long allocs;   /* allocations the clean run makes (= failing runs) */
    long failed;   /* runs that returned an error */
    long absorbed; /* runs that hit the failure and still succeeded */
} sweep_result;

/* Runs op with the k-th allocation failing for k = 1, 2, ... until a run
 * never reaches its armed failure; checks every run as described above. */
static sweep_result sweep(const char *name, op_fn op, const void *ctx)
{
    double want = 0;
    tg_alloc_fail_after(0);
    int rc = op(ctx, &want);
    ck_assert_msg(rc == TG_OK, "%s: clean run failed: %s", name, tg_last_error());
    sweep_result r = {0, 0, 0};
    for (long k = 1;; k++) {
        tg_error(TG_OK, "%s", "");
        tg_alloc_fail_after(k);
        double got = 0;
        rc = op(ctx, &got);
        int fired = tg_alloc_fail_fired();
        tg_alloc_fail_after(0);
        if (!fired) {
            ck_assert_msg(rc == TG_OK, "%s: k=%ld: no failure injected, yet status %d: %s", name, k,
                          rc, tg_last_error());
            r.allocs = k - 1;
            break;
        }
        if (rc == TG_OK) {
            ck_assert_msg(got == want, "%s: k=%ld: allocation failure absorbed but the result "
                          "changed (%.9g, want %.9g)", name, k, got, want);
            r.absorbed++;
        } else {
            ck_assert_msg(tg_last_error()[0], "%s: k=%ld: status %d without a message", name, k, rc);
            r.failed++;
        }
        ck_assert_msg(k < 1000000, "%s: sweep does not end", name);
    }
    printf("%s: %ld allocations, each failed once: %ld errors, %ld absorbed\n", name, r.allocs,
           r.failed, r.absorbed);
    return r;
}

static char *tmp;

static const char *write_tmp(const char *name, const char *text, int gz)
{
    static char paths[8][512];
    static int slot;
    char *p = paths[slot++ & 7];
    snprintf(p, sizeof paths[0], "%s/%s", tmp, name);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzputs(f, text), (int)strlen(text));
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
    }
    return p;
}

/* ---- graph: build + plan + forward + backward ---------------------------- */

static int graph_op(const void *ctx, double *sum)
{
    (void)ctx;
    rb_config c;
    rb_config_default(&c);
    c.vocab_size = 25, c.hidden_size = 16, c.num_hidden_layers = 2, c.num_attention_heads = 2;
    c.intermediate_size = 32, c.max_position_embeddings = 16;
    rb_model *m = NULL;
    int rc = rb_model_new(&c, &m);
    if (rc != TG_OK)
        return rc;
    rb_model_init(m, 7);
    rb_graph gr;
    rc = rb_build(m, 2, 6, RB_LOSS, &gr);
    if (rc == TG_OK) {
        const int32_t ids[12] = {2, 5, 9, 4, 11, 3, 2, 7, 4, 8, 3, 0};
        const int32_t attn[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
        const int32_t labels[12] = {-100, 5, 6, -100, 11, -100, -100, 7, 12, -100, -100, -100};
        rb_set_batch(&gr, ids, attn, labels);
        rc = tg_forward(gr.g);
        if (rc == TG_OK) {
            tg_params_zero_grad(m->params);
            rc = tg_backward(gr.g, gr.loss, NULL);
        }
        if (rc == TG_OK) {
            double s = tg_f32(gr.loss)[0];
            for (int i = 0; i < tg_params_count(m->params); i++) {
                tg_tensor *p = tg_params_at(m->params, i);
                for (size_t j = 0; j < p->numel; j++)
                    s += fabs(p->grad[j]);
            }
            if (s == tg_f32(gr.loss)[0])
                rc = tg_error(TG_ERR_ARG, "graph: backward left every gradient zero");
            /* and the optimizer step of a training step */
            size_t np = tg_params_numel(m->params);
            opt_segment seg = {0, np, 1};
            opt_adamw_config oc = opt_adamw_defaults();
            oc.weight_decay = 0.01;
            opt_adamw o;
            memset(&o, 0, sizeof o);
            if (rc == TG_OK)
                rc = opt_adamw_init(&o, &oc, np, &seg, 1);
            if (rc == TG_OK)
                rc = opt_adamw_step(&o, tg_params_values(m->params), tg_params_grads(m->params), 1e-3);
            opt_adamw_free(&o);
            const float *v = tg_params_values(m->params);
            for (size_t j = 0; j < np; j++)
                s += v[j];
            *sum = s;
        }
        rb_graph_free(&gr);
    }
    rb_model_free(m);
    return rc;
}

START_TEST(graph_forward_backward)
{
    sweep_result r = sweep("roberta tiny: build, plan, forward, backward, AdamW step", graph_op, NULL);
    ck_assert_int_gt(r.allocs, 50);
}
END_TEST

/* Planning again after a failed plan must work and not leak (the retry
 * path of tg_graph_plan), at every allocation of the plan. */
START_TEST(failed_plan_is_retryable)
{
    long planned_ok = 0;
    for (long k = 1; k < 100000; k++) {
        tg_graph *g = tg_graph_new();
        tg_params *p = tg_params_new();
        ck_assert_ptr_nonnull(g);
        int xs[2] = {3, 4}, ws[2] = {4, 5};
        tg_tensor *w = tg_params_add(p, "w", 2, ws, 1);
        ck_assert_int_eq(tg_params_alloc(p), TG_OK);
        for (int i = 0; i < 20; i++)
            tg_f32(w)[i] = 0.1f * (float)(i % 7) - 0.3f;
        tg_tensor *x = tg_input(g, TG_F32, 2, xs, "x");
        tg_tensor *y = tg_sum(g, tg_matmul(g, x, w, 0, 0));
        ck_assert_ptr_nonnull(y);
        tg_alloc_fail_after(k);
        int rc = tg_graph_plan(g, y, 0);
        int fired = tg_alloc_fail_fired();
        tg_alloc_fail_after(0);
        if (!fired) {
            ck_assert_int_eq(rc, TG_OK);
            planned_ok = k;
        } else {
            ck_assert_msg(rc != TG_OK, "k=%ld: plan absorbed an allocation failure", k);
            ck_assert(tg_last_error()[0]);
            ck_assert_msg(tg_graph_plan(g, y, 0) == TG_OK, "k=%ld: retry: %s", k, tg_last_error());
        }
        for (int i = 0; i < 12; i++)
            tg_f32(x)[i] = (float)i;
        tg_params_zero_grad(p);
        ck_assert_int_eq(tg_forward(g), TG_OK);
        ck_assert_int_eq(tg_backward(g, y, NULL), TG_OK);
        double gs = 0;
        for (int i = 0; i < 20; i++)
            gs += w->grad[i];
        ck_assert_msg(gs > 0, "k=%ld: no gradient after the retried plan", k); /* sum of x * 5 cols */
        tg_graph_free(g);
        tg_params_free(p);
        if (planned_ok)
            break;
    }
    printf("tg_graph_plan: %ld allocations, each failed once and the plan retried\n", planned_ok - 1);
    ck_assert_int_gt(planned_ok, 3);
}
END_TEST

/* ---- checkpoint, tokenizer ------------------------------------------------ */

static int checkpoint_op(const void *ctx, double *sum)
{
    rb_model *m = NULL;
    tok_tokenizer *t = NULL;
    int rc = rb_load_pretrained((const char *)ctx, &m, &t, NULL);
    if (rc != TG_OK)
        return rc;
    double s = tok_vocab_size(t);
    for (int i = 0; i < tg_params_count(m->params); i++) {
        tg_tensor *p = tg_params_at(m->params, i);
        for (size_t j = 0; j < p->numel; j++)
            s += tg_f32(p)[j];
    }
    *sum = s;
    rb_model_free(m);
    tok_free(t);
    return TG_OK;
}

START_TEST(checkpoint_load)
{
    sweep_result r = sweep("rb_load_pretrained fixtures/roberta_tiny", checkpoint_op, "fixtures/roberta_tiny");
    ck_assert_int_gt(r.allocs, 10);
}
END_TEST

static int tokenizer_op(const void *ctx, double *sum)
{
    tok_tokenizer *t = NULL;
    int rc = tok_load((const char *)ctx, &t);
    if (rc != TG_OK)
        return rc;
    int32_t ids[16];
    int n = 0;
    rc = tok_encode(t, "EVQLV[MASK]ES", 12, 16, TOK_REJECT, ids, &n, NULL);
    double s = tok_vocab_size(t);
    for (int i = 0; i < n; i++)
        s = s * 31 + ids[i];
    *sum = s;
    tok_free(t);
    return rc;
}

START_TEST(tokenizer_load)
{
    sweep_result r = sweep("tok_load fixtures/ProteinTokenizer", tokenizer_op, "fixtures/ProteinTokenizer");
    ck_assert_int_gt(r.allocs, 5);
    char *dir = tu_tmpdir();
    tok_tokenizer *t = NULL;
    ck_assert_int_eq(tok_new(&t), TG_OK);
    ck_assert_int_eq(tok_save(t, dir, 512), TG_OK);
    tok_free(t);
    r = sweep("tok_load (ablm layout, with tokenizer.json)", tokenizer_op, dir);
    ck_assert_int_gt(r.allocs, 5);
    free(dir);
}
END_TEST

/* ---- data files ------------------------------------------------------------ */

static int read_op(const void *ctx, double *sum)
{
    rd_reader *r = NULL;
    rd_opts o;
    rd_opts_default(&o);
    int rc = rd_open(&r, (const char *)ctx, &o);
    if (rc != TG_OK)
        return rc;
    rd_record rec;
    double s = 0;
    while ((rc = rd_next(r, &rec)) == 1)
        for (int i = 0; i < rec.len; i++)
            s = fmod(s * 31 + rec.seq[i], 1e9);
    rd_close(r);
    *sum = s;
    return rc;
}

static int cluster_read_op(const void *ctx, double *sum)
{
    cl_seqs s;
    memset(&s, 0, sizeof s);
    int rc = cl_seqs_read(&s, (const char *)ctx);
    if (rc == TG_OK)
        rc = cl_seqs_finish(&s, NULL);
    if (rc == TG_OK) {
        double v = (double)s.n;
        for (size_t i = 0; i < s.n; i++)
            v = fmod(v * 31 + cl_seqs_len(&s, i) + (unsigned char)cl_seqs_name(&s, i)[0], 1e9);
        *sum = v;
    }
    cl_seqs_free(&s);
    return rc;
}

/* The FASTA (paths[0]) and its cluster TSV (paths[1]) as ablm cluster
 * reads them back: cl_seqs_read + cl_read_cluster_tsv. */
static int cluster_tsv_op(const void *ctx, double *sum)
{
    const char *const *paths = ctx;
    cl_seqs s;
    memset(&s, 0, sizeof s);
    uint32_t *rep = NULL;
    int rc = cl_seqs_read(&s, paths[0]);
    if (rc == TG_OK)
        rc = cl_seqs_finish(&s, NULL);
    if (rc == TG_OK) {
        rep = tg_malloc((s.n + 1) * sizeof *rep, "test clusters");
        rc = rep ? cl_read_cluster_tsv(&s, paths[1], rep) : TG_ERR_NOMEM;
    }
    if (rc == TG_OK) {
        double v = 0;
        for (size_t i = 0; i < s.n; i++)
            v = v * 7 + rep[i];
        *sum = v;
    }
    tg_free(rep);
    cl_seqs_free(&s);
    return rc;
}

static const char fasta[] = ">s1 first\nEVQLVESGGGLVQPGGSLRL\nSCAAS\n>s2\nQVQLQESGPGLVKPS\n>s1\nDIQMTQSPSSLSASVG\n";
static const char fasta2[] = ">s1\nEVQLVESGG\n>s2\nEVQLVESGA\n>s3\nQVQLQESGPG\n";
static const char csv[] = "sequence_id,sequence_alignment_aa,cdr3_aa,locus\n"
                          "c1,EVQLVESGGGLVQ,ARDY,IGH\nc2,QVQLQESGPG,ARGG,IGH\n";
static const char airr[] = "sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\tproductive\n"
                           "a1\tEVQLVESGGGLVQ\tARDY\tIGH\tT\na2\tQVQLQESGPGLV\tARGG\tIGH\tT\n";

START_TEST(data_files)
{
    sweep_result r = sweep("reader: FASTA", read_op, write_tmp("s.fasta", fasta, 0));
    ck_assert_int_gt(r.allocs, 2);
    r = sweep("reader: CSV", read_op, write_tmp("c.csv", csv, 0));
    ck_assert_int_gt(r.allocs, 2);
    r = sweep("reader: AIRR TSV (gzip)", read_op, write_tmp("a.tsv.gz", airr, 1));
    ck_assert_int_gt(r.allocs, 2);
    r = sweep("cluster input: FASTA", cluster_read_op, write_tmp("k.fasta", fasta, 0));
    ck_assert_int_gt(r.allocs, 2);
    const char *paths[2] = {write_tmp("u.fasta", fasta2, 0),
                            write_tmp("u_cluster.tsv", "s1\ts1\ns1\ts2\ns3\ts3\n", 0)};
    r = sweep("cluster TSV (cl_read_cluster_tsv)", cluster_tsv_op, paths);
    ck_assert_int_gt(r.allocs, 2);
}
END_TEST

/* The OAS unit format (metadata line + paired columns) on a few real rows,
 * when ../shared/data is there. */
START_TEST(oas_unit)
{
    if (!tu_oas_dir()) {
        tu_skip("oas_unit", "../shared/data/oas-paired is absent");
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/1279052_1_Paired_All.csv.gz", tu_oas_dir());
    gzFile z = gzopen(path, "rb");
    ck_assert_ptr_nonnull(z);
    static char rows[1 << 16];
    size_t n = 0;
    for (int line = 0; line < 6 && gzgets(z, rows + n, (int)(sizeof rows - n)); line++)
        n += strlen(rows + n);
    gzclose(z);
    ck_assert_int_gt(n, 100);
    sweep_result r = sweep("reader: OAS paired unit (6 lines, gzip)", read_op, write_tmp("u.csv.gz", rows, 1));
    ck_assert_int_gt(r.allocs, 2);
}
END_TEST

/* cJSON's allocations through the failing allocator too, so JSON parsing
 * (config.json, tokenizer files, safetensors headers) fails in the sweep. */
static void *json_malloc(size_t n) { return tg_malloc(n, "cJSON"); }

int main(void)
{
    cJSON_Hooks hooks = {json_malloc, tg_free};
    cJSON_InitHooks(&hooks);
    tg_set_threads(1);
    tmp = tu_tmpdir();
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, graph_forward_backward);
    tcase_add_test(tc, failed_plan_is_retryable);
    tcase_add_test(tc, checkpoint_load);
    tcase_add_test(tc, tokenizer_load);
    tcase_add_test(tc, data_files);
    tcase_add_test(tc, oas_unit);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    free(tmp);
    return rc;
}
