/* Model directory, graph cache, progress line and the common command
 * skeleton of the inference commands. */
#define _POSIX_C_SOURCE 200809L
#include "infer.h"
#include "weights.h"

#include "config.h"
#include "tg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- model directory ------------------------------------------------------- */

static const char *note_cmd;

/* Tied decoder copies are expected in Hugging Face checkpoints; anything
 * else the checkpoint holds beyond the model is worth a warning. */
static void load_note(const char *msg)
{
    if (!strstr(msg, "skipped: tied"))
        fprintf(stderr, "ablm %s: warning: %s\n", note_cmd, msg);
}

int inf_model_load(const char *cmd, const char *dir, inf_model *im)
{
    memset(im, 0, sizeof *im);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return tg_error(TG_ERR_IO, "%s: no such model directory", dir);
    rb_config cfg;
    int rc = rb_config_load(dir, &cfg);
    if (!rc)
        rc = wt_load_tokenizer(dir, cfg.vocab_size, &im->tok);
    if (rc)
        return rc;
    char buf[1024];
    const char *w = rb_config_pad_warning(&cfg, im->tok, buf, sizeof buf);
    if (w)
        fprintf(stderr, "ablm %s: warning: %s\n", cmd, w);
    snprintf(buf, sizeof buf, "%s/config.json", dir);
    char note[1024];
    if ((w = rb_config_ignored_note(&cfg, buf, note, sizeof note)))
        fprintf(stderr, "ablm %s: note: %s\n", cmd, w);
    im->pad_id = tok_pad_id(im->tok);
    im->max_tokens = cfg.max_position_embeddings - cfg.pad_token_id - 1;
    im->vocab = cfg.vocab_size;
    if (im->max_tokens < 3) {
        rc = tg_error(TG_ERR_FORMAT, "%s: max_position_embeddings %d leaves no room for a residue "
                                     "after pad_token_id %d", dir, cfg.max_position_embeddings,
                      cfg.pad_token_id);
        inf_model_free(im);
        return rc;
    }
    rc = rb_model_new(&cfg, &im->m);
    if (!rc) {
        snprintf(buf, sizeof buf, "%s/model.safetensors", dir);
        note_cmd = cmd;
        rc = rb_model_load(im->m, buf, load_note);
    }
    if (rc)
        inf_model_free(im);
    return rc;
}

void inf_model_free(inf_model *im)
{
    rb_model_free(im->m);
    tok_free(im->tok);
    memset(im, 0, sizeof *im);
}

/* ---- graph cache ------------------------------------------------------------ */

int inf_cache_init(inf_cache *c, const inf_model *im, int what)
{
    memset(c, 0, sizeof *c);
    c->im = im;
    int rc = mlm_graphs_init(&c->graphs, im->m, 0, what);
    c->graphs.precision = im->precision;
    return rc;
}

void inf_cache_free(inf_cache *c)
{
    mlm_graphs_free(&c->graphs);
    tg_free(c->mask);
    memset(c, 0, sizeof *c);
}

/* mask[b, t] = 1 up to the last id of row b that is not pad, 0 after. */
static void trailing_pad_mask(const int32_t *ids, int B, int T, int pad, int32_t *mask)
{
    for (int b = 0; b < B; b++) {
        const int32_t *row = ids + (size_t)b * T;
        int n = T;
        while (n > 0 && row[n - 1] == pad)
            n--;
        for (int t = 0; t < T; t++)
            mask[(size_t)b * T + t] = t < n;
    }
}

int inf_run(inf_cache *c, const int32_t *ids, int B, int T, rb_graph **out)
{
    return inf_run_rows(c, ids, B, T, NULL, 0, out);
}

int inf_run_rows(inf_cache *c, const int32_t *ids, int B, int T, const int32_t *rows, int nrows,
                 rb_graph **out)
{
    size_t n = (size_t)B * T;
    if (n > c->mask_cap) {
        int32_t *m = tg_realloc(c->mask, n * sizeof *m, "attention mask");
        if (!m)
            return TG_ERR_NOMEM;
        c->mask = m;
        c->mask_cap = n;
    }
    rb_graph *gr;
    int rc = mlm_graphs_get_masked(&c->graphs, B, T, 0, nrows, &gr);
    if (rc)
        return rc;
    trailing_pad_mask(ids, B, T, c->im->pad_id, c->mask);
    rc = rb_set_batch(gr, ids, c->mask, NULL);
    if (!rc && nrows)
        rc = rb_set_head_rows(gr, rows, nrows);
    if (rc)
        return rc;
    *out = gr;
    return tg_forward(gr->g);
}

/* ---- progress ---------------------------------------------------------------- */

double inf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void inf_progress_start(inf_progress *p, const char *cmd, const char *unit, size_t total)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->unit = unit;
    p->total = total;
    p->t0 = p->last = inf_now();
    p->tty = isatty(STDERR_FILENO);
}

void inf_progress_add(inf_progress *p, size_t k)
{
    p->done += k;
    double now = inf_now();
    if (!p->tty || (now - p->last < 0.2 && p->done < p->total))
        return;
    p->last = now;
    double el = now - p->t0, rate = el > 0 ? (double)p->done / el : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
    fprintf(stderr, "\rablm %s: %zu/%zu %s (%3.0f%%), %.1f/s, ETA %dm%02ds   ", p->cmd, p->done,
            p->total, p->unit, p->total ? 100.0 * (double)p->done / (double)p->total : 100.0,
            rate, (int)eta / 60, (int)eta % 60);
}

void inf_progress_end(inf_progress *p, size_t sequences)
{
    double el = inf_now() - p->t0;
    if (p->tty)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr, "ablm %s: %zu sequences in %.2f s (%.1f sequences/s)\n", p->cmd, sequences,
            el, el > 0 ? (double)sequences / el : 0.0);
}

/* ---- command skeleton -------------------------------------------------------- */

int inf_fail(const inf_ctx *c)
{
    fprintf(stderr, "ablm %s: %s\n", c->cmd, tg_last_error());
    return 1;
}

int inf_begin(inf_ctx *c, int argc, char **argv, const inf_spec *sp)
{
    memset(c, 0, sizeof *c);
    c->cmd = sp->cmd;
    c->batch_size = sp->default_batch;
    enum { NCOMMON = 7, MAXOPTS = 24 };
    const inf_opt common[NCOMMON] = {
        {"--model", INF_STR, &c->model_dir, 0, "DIR",
         "model directory: config.json, model.safetensors, tokenizer files (required)"},
        {"--input", INF_STR, &c->input, 0, "FILE",
         sp->raw_input ? "sequences: FASTA or one per line, gzip ok (required)"
                       : "sequences: FASTA, one per line, or an OAS/CSV/AIRR table (heavy chain); gzip ok (required)"},
        {"--output", INF_STR, &c->output, 0, "FILE",
         "output file, written atomically (required)"},
        {"--batch-size", INF_INT, &c->batch_size, 1, "N",
         "rows per forward pass (sequences are sorted by length first)"},
        {"--threads", INF_INT, &c->threads, 0, "N", "threads (0: all cores)"},
        {"--truncate", INF_FLAG, &c->truncate, 0, "",
         "cut sequences longer than the model's maximum (default: error naming the line)"},
        {"--bf16", INF_FLAG, &c->bf16, 0, "",
         "bfloat16 matrix products with fp32 accumulation (torch.autocast); outputs change "
         "within bf16 rounding (needs AVX-512)"},
    };
    inf_opt o[MAXOPTS];
    int n = 0;
    for (int i = 0; i < NCOMMON; i++)
        if (common[i].dst != &c->output || sp->need_output)
            o[n++] = common[i];
    for (int i = 0; i < sp->n_opts && n < MAXOPTS; i++)
        o[n++] = sp->opts[i];
    int rc = inf_parse(sp->cmd, sp->usage, o, n, argc, argv);
    if (rc != INF_GO) {
        if (rc == 0)
            printf("\n%s\n", sp->about);
        return rc;
    }
    const char *missing = !c->model_dir ? "--model" : !c->input ? "--input"
                          : sp->need_output && !c->output ? "--output" : NULL;
    if (missing) {
        fprintf(stderr, "ablm %s: %s is required (see ablm %s --help)\n", c->cmd, missing, c->cmd);
        return 2;
    }
    tg_set_threads(c->threads);
    if (c->bf16 && tg_bf16_require("--bf16")) {
        fprintf(stderr, "ablm %s: %s\n", c->cmd, tg_last_error());
        return 2;
    }
    if ((rc = inf_model_load(c->cmd, c->model_dir, &c->model)) ||
        (rc = inf_read(c->input, sp->raw_input, &c->in)) ||
        (rc = inf_encode(&c->model, c->input, c->truncate, &c->in)) ||
        !(c->order = inf_order(&c->in)))
        return inf_end(c, inf_fail(c));
    c->model.precision = c->bf16 ? TG_PREC_BF16 : TG_PREC_F32;
    return INF_GO;
}

int inf_end(inf_ctx *c, int status)
{
    const tok_stats *s = &c->in.st;
    if (status == 0 && (s->unknown || s->truncated)) {
        char buf[1024];
        tok_stats_summary(s, buf, sizeof buf);
        fprintf(stderr, "ablm %s: note: %s\n", c->cmd, buf);
    }
    tg_free(c->order);
    inf_inputs_free(&c->in);
    inf_model_free(&c->model);
    memset(c, 0, sizeof *c);
    return status;
}

int inf_pad_len(const inf_ctx *c, int T)
{
    int r = (T + INF_PAD_MULTIPLE - 1) / INF_PAD_MULTIPLE * INF_PAD_MULTIPLE;
    return r < c->model.max_tokens ? r : c->model.max_tokens; /* T <= max_tokens */
}

void inf_pad(const inf_ctx *c, const size_t *idx, int B, int T, int32_t *ids)
{
    for (int b = 0; b < B; b++) {
        size_t i = idx[b];
        int n = c->in.ntok[i];
        memcpy(ids + (size_t)b * T, c->in.tok[i], (size_t)n * sizeof *ids);
        for (int t = n; t < T; t++)
            ids[(size_t)b * T + t] = c->model.pad_id;
    }
}

int inf_each_batch(inf_ctx *c, int what, inf_batch_fn fn, void *user)
{
    size_t N = c->in.n, bs = (size_t)c->batch_size;
    int32_t *ids = tg_malloc(bs * (size_t)inf_pad_len(c, c->in.max_ntok) * sizeof *ids, "batch ids");
    if (!ids)
        return TG_ERR_NOMEM;
    inf_cache cache;
    int rc = inf_cache_init(&cache, &c->model, what);
    if (rc) {
        tg_free(ids);
        return rc;
    }
    inf_progress_start(&c->prog, c->cmd, "sequences", N);
    for (size_t s = 0; s < N && !rc; s += bs) {
        int B = (int)(N - s < bs ? N - s : bs);
        const size_t *idx = c->order + s;
        int T = inf_pad_len(c, c->in.ntok[idx[0]]); /* sorted: the first is the longest */
        inf_pad(c, idx, B, T, ids);
        rb_graph *gr;
        rc = inf_run(&cache, ids, B, T, &gr);
        if (!rc)
            rc = fn(c, gr, idx, B, user);
        inf_progress_add(&c->prog, (size_t)B);
    }
    if (!rc)
        inf_progress_end(&c->prog, N);
    inf_cache_free(&cache);
    tg_free(ids);
    return rc;
}

double inf_logsumexp(const float *l, int V)
{
    double mx = l[0], sum = 0;
    for (int v = 1; v < V; v++)
        mx = l[v] > mx ? l[v] : mx;
    for (int v = 0; v < V; v++)
        sum += exp((double)l[v] - mx);
    return mx + log(sum);
}
