/* inf: what the inference commands (embed, fill-mask, score, logits)
 * share: flag parsing, loading a model directory, reading and tokenizing
 * input sequences, length-sorted batching with a cache of built graphs,
 * and a progress line on stderr.
 *
 *   inf_ctx c;
 *   int rc = inf_begin(&c, argc, argv, &spec);   // INF_GO or an exit status
 *   if (rc != INF_GO) return rc;
 *   rc = inf_each_batch(&c, RB_HIDDEN, fn, user);  // fn reads gr->hidden / gr->logits
 *   return inf_end(&c, rc ? inf_fail(&c) : 0);
 */
#ifndef ABLM_INFER_H
#define ABLM_INFER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mlm_run.h"
#include "roberta.h"
#include "tokenizer.h"

/* ---- flags ---------------------------------------------------------------- */

typedef enum { INF_STR, INF_INT, INF_FLAG } inf_kind;

/* One flag: "--name VALUE" or "--name=VALUE" (INF_FLAG takes no value).
 * dst points at a const char * (INF_STR) or an int (INF_INT, INF_FLAG);
 * INF_INT values below min are rejected. */
typedef struct {
    const char *name;
    inf_kind kind;
    void *dst;
    int min;
    const char *meta; /* value placeholder in --help, e.g. "DIR" */
    const char *help;
} inf_opt;

#define INF_GO (-1)

/* Parses argv[1..argc) against opts[0..n). Returns INF_GO when parsed,
 * 0 after printing help for --help/-h (to stdout), 2 after printing
 * "ablm CMD: ..." and a hint for an unknown flag, a missing or bad value, or
 * a stray argument. */
int inf_parse(const char *cmd, const char *usage, const inf_opt *opts, int n, int argc,
              char **argv);
/* Prints the usage line and every flag with its help text. */
void inf_help(FILE *f, const char *cmd, const char *usage, const inf_opt *opts, int n);

/* ---- model directory -------------------------------------------------------- */

typedef struct {
    rb_model *m;
    tok_tokenizer *tok;
    int pad_id;     /* the tokenizer's [PAD]: pads batches; the attention mask */
    int max_tokens; /* longest input incl. [CLS] and [SEP] (position ids start
                       after config.pad_token_id) */
    int vocab;      /* logits width (config vocab_size) */
    int precision;  /* tg_precision of the graphs (--bf16); TG_PREC_F32 after load */
} inf_model;

/* Loads DIR/config.json, the tokenizer files and DIR/model.safetensors.
 * Warnings (pad_token_id disagreeing with the tokenizer, extra tensors in
 * the checkpoint) are printed to stderr as "ablm CMD: warning: ...",
 * config keys ignored as "ablm CMD: note: ...".
 * Returns a status; the message names the file. */
int inf_model_load(const char *cmd, const char *dir, inf_model *im);
void inf_model_free(inf_model *im);

/* ---- inputs ------------------------------------------------------------------ */

typedef struct {
    size_t n;
    char **ids;     /* record ids (reader.h: sequence_id, FASTA name, else
                     * FILE:LINE), unique: a repeated one is ID@FILE:LINE */
    long *lines;    /* line where the record starts */
    char **seqs;    /* sequence text as read */
    int32_t **tok;  /* [CLS] ... [SEP] token ids */
    int *ntok;      /* token counts (residues + 2) */
    int max_ntok;
    tok_stats st;
} inf_inputs;

/* Reads every record of path. raw == 0: through the rd readers with format
 * auto-detection (plain one-per-line, FASTA, OAS/CSV/AIRR tables; they keep
 * '*' and, in FASTA/plain, "[MASK]"). raw == 1: FASTA or one sequence per
 * line kept verbatim (fill-mask). gzip is read in both modes. Ids are made
 * unique (rd_ids_unique). An empty file is an error. Returns a status. */
int inf_read(const char *path, int raw, inf_inputs *in);
/* Tokenizes every record. A sequence longer than im->max_tokens - 2
 * residues is an error naming file and line unless truncate; an empty one
 * is always an error. Returns a status. */
int inf_encode(const inf_model *im, const char *path, int truncate, inf_inputs *in);
void inf_inputs_free(inf_inputs *in);

/* Indices 0..n-1 sorted by ntok descending, then index: batches of similar
 * length, the longest first, so the first batch sizes the activation arena
 * and the bf16 copies and later (shorter) batches reuse them instead of
 * growing them batch after batch. */
size_t *inf_order(const inf_inputs *in);

/* ---- graphs ------------------------------------------------------------------- */

/* Graphs built by shape (batch, length) on first use, sharing one
 * activation arena (examples/mlm_run.h). */
typedef struct {
    const inf_model *im;
    mlm_graphs graphs;
    int32_t *mask; /* attention mask of the last batch */
    size_t mask_cap;
} inf_cache;

/* what: RB_HIDDEN or RB_LOGITS. Returns a status. */
int inf_cache_init(inf_cache *c, const inf_model *im, int what);
void inf_cache_free(inf_cache *c);
/* Runs the model on B rows of padded ids [B, T]: each row is a sequence
 * ending in [SEP] followed by padding (im->pad_id). The attention mask is 0
 * on that trailing padding only (a [PAD] before the [SEP] is a token, as
 * the tokenizer would make it); position ids follow config.pad_token_id
 * (rb_set_batch). *out is a graph of the cache, valid until the next call.
 * Returns a status. */
int inf_run(inf_cache *c, const int32_t *ids, int B, int T, rb_graph **out);
/* The same with the LM head on `nrows` rows only (b * T + t each; logits
 * [nrows, V] in that order; rb_build_masked): what score needs, one masked
 * position per row. nrows 0 = inf_run. Returns a status. */
int inf_run_rows(inf_cache *c, const int32_t *ids, int B, int T, const int32_t *rows, int nrows,
                 rb_graph **out);

/* ---- progress ------------------------------------------------------------------ */

typedef struct {
    const char *cmd, *unit;
    size_t total, done;
    double t0, last;
    int tty;
} inf_progress;

/* A progress line "ablm CMD: done/total UNIT, rate/s, ETA" redrawn on
 * stderr at most 5 times a second, only when stderr is a terminal. */
void inf_progress_start(inf_progress *p, const char *cmd, const char *unit, size_t total);
void inf_progress_add(inf_progress *p, size_t k);
/* Clears the line and prints "ablm CMD: N sequences in S s (R sequences/s)"
 * to stderr. */
void inf_progress_end(inf_progress *p, size_t sequences);
double inf_now(void);

/* ---- a whole command -------------------------------------------------------------- */

/* The flags every inference command has, and what a command adds. */
typedef struct {
    const char *cmd, *usage, *about; /* about: paragraph printed by --help */
    const inf_opt *opts;             /* command-specific flags */
    int n_opts;
    int need_output;                 /* --output is required */
    int raw_input;                   /* inf_read raw mode */
    int default_batch;
} inf_spec;

typedef struct {
    const char *cmd;
    const char *model_dir, *input, *output;
    int batch_size, threads, truncate, bf16;
    inf_model model;
    inf_inputs in;
    size_t *order;
    inf_progress prog;
} inf_ctx;

/* Parses flags (common ones: --model, --input, --output, --batch-size,
 * --threads, --truncate), sets threads, loads the model, reads and encodes
 * the input and sorts it by length. Returns INF_GO to proceed, else the exit
 * status (0 after --help, 1 failure, 2 usage) with the message printed. */
int inf_begin(inf_ctx *c, int argc, char **argv, const inf_spec *spec);
/* Prints a tokenizer summary if anything was mapped to [UNK], truncated or
 * masked unexpectedly, frees c and returns status. */
int inf_end(inf_ctx *c, int status);
/* Prints "ablm CMD: " + tg_last_error() and returns 1. */
int inf_fail(const inf_ctx *c);

/* Called for each batch: rows idx[0..B) of the input, run through gr
 * (gr->seq_len is the batch's padded length). Returns a status. */
typedef int (*inf_batch_fn)(inf_ctx *c, const rb_graph *gr, const size_t *idx, int B, void *user);
/* Runs the model (RB_HIDDEN or RB_LOGITS) over every input in length
 * order, c->batch_size sequences at a time, calls fn per batch, shows
 * progress and prints the timing summary. Returns a status. */
int inf_each_batch(inf_ctx *c, int what, inf_batch_fn fn, void *user);

/* log(sum(exp(l[0..V)))) computed stably in double: log-softmax of token v
 * is l[v] - inf_logsumexp(l, V). */
double inf_logsumexp(const float *l, int V);

/* The padded length of a batch whose longest row has T tokens (at most
 * the model's maximum, as inf_encode ensures): T rounded up to a multiple
 * of 8 (INF_PAD_MULTIPLE), at most that maximum. Few distinct shapes
 * occur, so few graphs are built and few oneDNN primitives made; the
 * padding is masked out of attention. */
enum { INF_PAD_MULTIPLE = 8 };
int inf_pad_len(const inf_ctx *c, int T);

/* Copies the token ids of rows idx[0..B) into ids [B, T], padded. */
void inf_pad(const inf_ctx *c, const size_t *idx, int B, int T, int32_t *ids);

#endif
