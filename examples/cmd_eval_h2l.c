/* ablm eval-h2l: the heavy-to-light evaluation (BLOSUM62 global score,
 * identity, kappa/lambda agreement, per region) of generated light chains
 * beside the baselines computed from the training pairs, per pair (TSV)
 * and summarised (JSON). */
#include "commands.h"
#include "encdec.h"
#include "fileio.h"
#include "gen_args.h"
#include "gen_encdec.h"
#include "infer.h"
#include "pair_eval.h"
#include "tg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "eval-h2l"
#define USAGE                                                                                   \
    "--test_file PAIRS --output DIR [--model DIR] [--predictions FILE] [--train_file PAIRS] "   \
    "[options]"

static const char ABOUT[] =
    "Scores generated light chains against the true ones of the test pairs as the\n"
    "reference evaluation does (Biopython pairwise2.align.globalds(true, generated,\n"
    "BLOSUM62, -10, -4), the first alignment; identity = identical aligned residues /\n"
    "max(lengths) x 100, both chains reduced to the 20 amino acids first), per region\n"
    "(fwr1..fwr4, cdr1..cdr3: the true regions projected through the alignment) where\n"
    "the test pairs have region columns, and the kappa/lambda agreement where the true\n"
    "locus is known (the locus of a predicted chain: a 4-mer naive Bayes trained on the\n"
    "training light chains). The baselines (with --train_file) go in the same table:\n"
    "  most_common             the most frequent training light chain, for every pair\n"
    "  medoid                  of a seeded sample of --medoid_sample training light\n"
    "                          chains, the one with the highest summed score to the rest\n"
    "  most_common_true_locus  the most frequent training chain of the pair's true\n"
    "                          locus (uses the answer's locus: an upper reference)\n"
    "  most_common_pred_locus  the same for the locus the rule gives the predictions\n"
    "  nearest_heavy           the light chain of the training pair whose heavy chain\n"
    "                          is nearest (k-mer candidates, best global score)\n"
    "PAIRS: OAS paired units, TSV/CSV with heavy and light columns (ablm prepare\n"
    "--pairs output), or lines HEAVY[SEP]LIGHT. --predictions: ablm generate output\n"
    "(FASTA >ID or >ID_N, or its TSV: id, sequence) or any TSV/CSV with id and light\n"
    "columns, matched to the test pairs by id (first prediction per pair).\n"
    "\nWith --model (an ablm train-h2l encoder-decoder directory) the light chain of\n"
    "every test heavy chain is generated (the generation flags are ablm generate's,\n"
    "parsed by the same code; 'model' scores the first returned chain of each pair, the\n"
    "best hypothesis under beam search; with --num_return_sequences N > 1 the row\n"
    "model_all_returned scores all N chains of every pair, the mean over them)\n"
    "and the perplexity of the true light chain given the heavy chain is measured by\n"
    "teacher forcing: source [CLS] heavy [SEP], labels light [SEP] (eos), perplexity =\n"
    "exp of the mean NLL over all label tokens; also the mean of the per-pair\n"
    "perplexities (the reference's number). Generated tokens that are not residues\n"
    "(special tokens) are dropped. Pairs that do not fit the model are left out of\n"
    "'model' (counted).\n"

    "Writes DIR/per_pair.tsv and DIR/summary.json (atomically); prints the table.";

/* The model's part: tokenized test pairs, perplexity, generated chains. */
typedef struct {
    ed_model *m;
    tok_tokenizer *tok;
    int32_t **src, **lab; /* [n] source [CLS] heavy [SEP]; labels light [SEP] (NULL: no fit) */
    int *src_len, *lab_len;
    size_t n, fit;
    double *nll;          /* [n] summed NLL of the pair's label tokens */
    double nll_sum;
    long tokens;
    int nrs;              /* sequences generated per pair (--num_return_sequences) */
    char **all;           /* [n * nrs] generated light chains (owned; NULL: no fit) */
    char **chain;         /* [n] the first of each pair's (borrowed from all) */
    double gen_seconds, ppl_seconds;
    size_t gen_tokens;
} model_eval;

static void model_eval_free(model_eval *e)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->src)
            tg_free(e->src[i]);
        if (e->lab)
            tg_free(e->lab[i]);
    }
    for (size_t i = 0; e->all && i < e->n * (size_t)e->nrs; i++)
        tg_free(e->all[i]);
    tg_free(e->all);
    tg_free(e->src);
    tg_free(e->lab);
    tg_free(e->src_len);
    tg_free(e->lab_len);
    tg_free(e->nll);
    tg_free(e->chain);
    ed_model_free(e->m);
    tok_free(e->tok);
}

/* Tokenizes the test pairs that fit the model (sources and labels as
 * ablm train-h2l makes them). */
static int model_tokenize(model_eval *e, const pr_set *test)
{
    e->n = test->n;
    e->src = tg_calloc(e->n, sizeof *e->src, "sources");
    e->lab = tg_calloc(e->n, sizeof *e->lab, "labels");
    e->src_len = tg_calloc(e->n, sizeof *e->src_len, "sources");
    e->lab_len = tg_calloc(e->n, sizeof *e->lab_len, "labels");
    e->nll = tg_calloc(e->n, sizeof *e->nll, "perplexity");
    e->chain = tg_calloc(e->n, sizeof *e->chain, "generated");
    e->all = tg_calloc(e->n * (size_t)e->nrs, sizeof *e->all, "generated");
    if (!e->src || !e->lab || !e->src_len || !e->lab_len || !e->nll || !e->chain || !e->all)
        return TG_ERR_NOMEM;
    int ms = ed_max_source(e->m), mt = ed_max_target(e->m);
    for (size_t i = 0; i < e->n; i++) {
        const pr_pair *p = &test->v[i];
        if (p->heavy_len > ms - 2 || p->light_len > mt - 1)
            continue;
        e->src[i] = tg_malloc((size_t)ms * sizeof **e->src, "sources");
        e->lab[i] = tg_malloc(((size_t)mt + 1) * sizeof **e->lab, "labels");
        if (!e->src[i] || !e->lab[i])
            return TG_ERR_NOMEM;
        int k;
        int rc = tok_encode(e->tok, p->heavy, (size_t)p->heavy_len, ms, TOK_REJECT, e->src[i],
                            &e->src_len[i], NULL);
        if (!rc)
            rc = tok_encode(e->tok, p->light, (size_t)p->light_len, mt + 1, TOK_REJECT, e->lab[i],
                            &k, NULL);
        if (rc)
            return tg_error(rc, "%s:%ld: %s", p->file, p->line, tg_last_error());
        memmove(e->lab[i], e->lab[i] + 1, (size_t)(k - 1) * sizeof **e->lab); /* drop [CLS] */
        e->lab_len[i] = k - 1;
        e->fit++;
    }
    return TG_OK;
}

/* Teacher-forced NLL of every fitting pair's labels, in batches of bs. */
static int model_perplexity(model_eval *e, int bs)
{
    double t0 = inf_now();
    size_t *rows = tg_malloc((size_t)bs * sizeof *rows, "batch");
    if (!rows)
        return TG_ERR_NOMEM;
    int rc = TG_OK, V = e->m->cfg.dec.vocab_size;
    size_t i = 0;
    while (!rc && i < e->n) {
        int B = 0, S = 1, T = 1;
        for (; i < e->n && B < bs; i++)
            if (e->src[i]) {
                rows[B++] = i;
                S = e->src_len[i] > S ? e->src_len[i] : S;
                T = e->lab_len[i] > T ? e->lab_len[i] : T;
            }
        if (!B)
            break;
        ed_graph gr;
        rc = ed_build(e->m, B, S, T, ED_LOGITS, NULL, &gr);
        if (rc)
            break;
        int32_t *ids = tg_malloc((size_t)B * (size_t)(S + T) * 2 * sizeof *ids, "batch");
        if (!ids) {
            ed_graph_free(&gr);
            rc = TG_ERR_NOMEM;
            break;
        }
        int32_t *mask = ids + (size_t)B * S, *lab = mask + (size_t)B * S;
        int pad = e->m->cfg.enc.pad_token_id;
        for (int b = 0; b < B; b++) {
            size_t r = rows[b];
            for (int t = 0; t < S; t++) {
                ids[(size_t)b * S + t] = t < e->src_len[r] ? e->src[r][t] : pad;
                mask[(size_t)b * S + t] = t < e->src_len[r];
            }
            for (int t = 0; t < T; t++)
                lab[(size_t)b * T + t] = t < e->lab_len[r] ? e->lab[r][t] : -100;
        }
        ed_set_batch(&gr, ids, mask, lab);
        rc = tg_forward(gr.g);
        const float *L = rc ? NULL : tg_f32(gr.logits);
        for (int b = 0; L && b < B; b++) {
            size_t r = rows[b];
            double nll = 0;
            for (int t = 0; t < e->lab_len[r]; t++) {
                const float *row = L + ((size_t)b * T + t) * V;
                double mx = row[0], z = 0;
                for (int v = 1; v < V; v++)
                    mx = row[v] > mx ? row[v] : mx;
                for (int v = 0; v < V; v++)
                    z += exp(row[v] - mx);
                nll += mx + log(z) - row[e->lab[r][t]];
            }
            e->nll[r] = nll;
            e->nll_sum += nll;
            e->tokens += e->lab_len[r];
        }
        tg_free(ids);
        ed_graph_free(&gr);
    }
    tg_free(rows);
    e->ppl_seconds = inf_now() - t0;
    return rc;
}

/* Generates nrs light chains for every fitting pair (residue tokens
 * kept); chain[i] is the first (beam search: the best hypothesis). */
static int model_generate(model_eval *e, const gen_opts *o, int batch)
{
    size_t *map = tg_malloc((e->fit + 1) * sizeof *map, "sources");
    const int32_t **src = tg_malloc((e->fit + 1) * sizeof *src, "sources");
    int *len = tg_malloc((e->fit + 1) * sizeof *len, "sources");
    if (!map || !src || !len) {
        tg_free(map), tg_free(src), tg_free(len);
        return TG_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->src[i]) {
            map[k] = i;
            src[k] = e->src[i];
            len[k++] = e->src_len[i];
        }
    gen_result r = {0};
    double t0 = inf_now();
    int rc = k ? gen_run_encdec(e->m, o, k, src, len, batch, &r) : TG_OK;
    e->gen_seconds = inf_now() - t0;
    for (size_t j = 0; !rc && j < r.n; j++) {
        char *c = tg_malloc((size_t)r.len[j] + 1, "generated");
        if (!c) {
            rc = TG_ERR_NOMEM;
            break;
        }
        int m = 0;
        for (int t = 0; t < r.len[j]; t++) {
            const char *tk = tok_token(e->tok, r.tok[j][t]);
            if (tk && tk[0] >= 'A' && tk[0] <= 'Z' && !tk[1])
                c[m++] = tk[0];
        }
        c[m] = '\0';
        size_t i = map[j / (size_t)e->nrs];
        e->all[i * (size_t)e->nrs + j % (size_t)e->nrs] = c;
        if (j % (size_t)e->nrs == 0)
            e->chain[i] = c;
        e->gen_tokens += (size_t)r.len[j];
    }
    gen_result_free(&r);
    tg_free(map), tg_free(src), tg_free(len);
    return rc;
}

static void note(const char *msg) { fprintf(stderr, "ablm %s: note: %s\n", CMD, msg); }

typedef struct {
    pe_system s;
    const char **chain; /* owned array of borrowed strings */
    int show;           /* the chains go into per_pair.tsv (model, predictions) */
} sys_slot;

/* Writes DIR/per_pair.tsv: the pair, then per system score, identity,
 * locus, the regions' identities and (predictions) the chain. */
static int write_per_pair(const char *dir, const pr_set *test, sys_slot *sy, int ns,
                          const model_eval *me)
{
    char *path = fio_join(dir, "per_pair.tsv");
    if (!path)
        return TG_ERR_NOMEM;
    fio_out f;
    int st = fio_begin(&f, path);
    tg_free(path);
    if (st)
        return st;
    fprintf(f.f, "id\tlocus\tlight%s", me ? "\tmodel_perplexity" : "");
    for (int k = 0; k < ns; k++) {
        const char *n = sy[k].s.name;
        if (sy[k].show)
            fprintf(f.f, "\t%s_light", n);
        fprintf(f.f, "\t%s_score\t%s_identity\t%s_locus", n, n, n);
        for (int r = 0; r < PR_N_REGIONS; r++)
            fprintf(f.f, "\t%s_%s_identity", n, pr_region_names[r]);
    }
    fputc('\n', f.f);
    for (size_t i = 0; i < test->n; i++) {
        const pr_pair *p = &test->v[i];
        fprintf(f.f, "%s\t%s\t%s", p->id, p->locus, p->light);
        double ppl = me && me->src[i] ? exp(me->nll[i] / me->lab_len[i]) : NAN;
        if (isfinite(ppl))
            fprintf(f.f, "\t%.6g", ppl);
        else if (me)
            fputc('\t', f.f); /* no perplexity: the pair does not fit (or it overflowed) */
        for (int k = 0; k < ns; k++) {
            const pe_system *s = &sy[k].s;
            if (sy[k].show)
                fprintf(f.f, "\t%s", s->chain[i] ? s->chain[i] : "");
            if (!s->chain[i]) {
                fprintf(f.f, "\t\t\t");
                for (int r = 0; r < PR_N_REGIONS; r++)
                    fputc('\t', f.f);
                continue;
            }
            fprintf(f.f, "\t%d\t%.4f\t%s", s->score[i], s->identity[i], s->locus[i]);
            for (int r = 0; r < PR_N_REGIONS; r++) {
                double v = s->region_identity[i * PR_N_REGIONS + r];
                if (v >= 0)
                    fprintf(f.f, "\t%.4f", v);
                else
                    fputc('\t', f.f);
            }
        }
        fputc('\n', f.f);
    }
    if (ferror(f.f)) {
        fio_abort(&f);
        return tg_error(TG_ERR_IO, "%s/per_pair.tsv: write failed", dir);
    }
    return fio_commit(&f);
}

/* The systems' table; `all` (may be NULL): the all-returned row, its
 * count in sequences. */
static void print_table(const sys_slot *sy, int ns, int regions, const pe_system *all)
{
    printf("%-24s %6s %9s %9s %9s %8s\n", "system", "pairs", "BLOSUM62", "identity", "median",
           "locus");
    for (int k = 0; k < ns; k++) {
        const pe_system *s = &sy[k].s;
        char loc[16] = "-";
        if (s->locus_pairs)
            snprintf(loc, sizeof loc, "%.1f%%", 100.0 * (double)s->locus_agree /
                                                    (double)s->locus_pairs);
        printf("%-24s %6zu %9.1f %8.2f%% %8.2f%% %8s\n", s->name, s->n, s->mean_score,
               s->mean_identity, s->median_identity, loc);
    }
    if (all)
        printf("%-24s %6zu %9.1f %8.2f%% %8.2f%% %8s  (sequences, not pairs)\n", all->name,
               all->n, all->mean_score, all->mean_identity, all->median_identity, "-");
    if (!regions)
        return;
    printf("\nidentity per region (%%)\n%-24s", "system");
    for (int r = 0; r < PR_N_REGIONS; r++)
        printf(" %6s", pr_region_names[r]);
    printf("\n");
    for (int k = 0; k < ns; k++) {
        printf("%-24s", sy[k].s.name);
        for (int r = 0; r < PR_N_REGIONS; r++)
            printf(" %6.1f", sy[k].s.region_mean_identity[r]);
        printf("\n");
    }
}

int cmd_eval_h2l(int argc, char **argv)
{
    const char *test_file = NULL, *train_file = NULL, *pred_file = NULL, *output = NULL,
               *model = NULL;
    int medoid_sample = 500, medoid_seed = 42, cand = 16, max_postings = 2000, max_pairs = 0,
        threads = 0, batch = 32;
    ga_flags gf;
    ga_defaults(&gf);
    inf_opt opts[12 + GA_NOPTS] = {
        {"--test_file", INF_STR, &test_file, 0, "PAIRS", "the held-out pairs (true light chains)"},
        {"--model", INF_STR, &model, 0, "DIR", "encoder-decoder (ablm train-h2l): generate, perplexity"},
        {"--batch_size", INF_INT, &batch, 1, "N", "--model: sequences per step graph / perplexity batch (default 32)"},
        {"--output", INF_STR, &output, 0, "DIR", "per_pair.tsv and summary.json go here"},
        {"--predictions", INF_STR, &pred_file, 0, "FILE", "generated light chains with ids (FASTA or TSV)"},
        {"--train_file", INF_STR, &train_file, 0, "PAIRS", "training pairs: the baselines and the locus rule"},
        {"--medoid_sample", INF_INT, &medoid_sample, 1, "N", "training chains sampled for the medoid (default 500)"},
        {"--nearest_candidates", INF_INT, &cand, 1, "N", "nearest heavy: k-mer candidates aligned (default 16)"},
        {"--max_postings", INF_INT, &max_postings, 0, "N", "nearest heavy: skip 5-mers in more training chains (default 2000)"},
        {"--medoid_seed", INF_INT, &medoid_seed, 0, "S", "seed of the medoid sample (default 42)"},
        {"--max_pairs", INF_INT, &max_pairs, 0, "N", "evaluate the first N test pairs only (0: all)"},
        {"--threads", INF_INT, &threads, 0, "N", "threads (0: all cores)"},
    };
    ga_opts(&gf, opts + 12); /* --model: the generation flags of ablm generate */
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    int rc = inf_parse(CMD, USAGE, opts, nopts, argc, argv);
    if (rc != INF_GO) {
        if (rc == 0)
            printf("\n%s\n", ABOUT);
        return rc;
    }
    if (!test_file || !output) {
        fprintf(stderr, "ablm %s: --test_file and --output are required (see ablm %s --help)\n",
                CMD, CMD);
        return 2;
    }
    if (!pred_file && !train_file && !model) {
        fprintf(stderr, "ablm %s: nothing to evaluate: give --model, --predictions and/or "
                "--train_file (the baselines)\n", CMD);
        return 2;
    }
    model_eval me;
    memset(&me, 0, sizeof me);
    gen_opts go;
    if (model) {
        if (ed_load_pretrained(model, 0, &me.m, &me.tok, note)) {
            fprintf(stderr, "ablm %s: %s\n", CMD, tg_last_error());
            return 1;
        }
        gen_opts_default(&go, me.m->cfg.eos_token_id, me.m->cfg.pad_token_id);
        int usage = ga_apply(CMD, &gf, me.m->cfg.dec.vocab_size, &go);
        me.nrs = go.num_return_sequences;
        if (usage) {
            model_eval_free(&me);
            return 2;
        }
    }
    tg_set_threads(threads);
    double t0 = inf_now();
    pr_set test = {0}, train = {0};
    pe_locus_model lm = {0};
    pe_baselines bl = {0};
    pe_predictions pred = {0};
    size_t *nearest = NULL;
    sys_slot sy[8];
    int ns = 0, st;
    memset(sy, 0, sizeof sy);
    cJSON *sum = cJSON_CreateObject();
    st = pr_read(test_file, NULL, &test);
    if (!st && max_pairs > 0 && test.n > (size_t)max_pairs)
        test.n = (size_t)max_pairs;
    if (!st && !test.n)
        st = tg_error(TG_ERR_FORMAT, "%s: no test pairs", test_file);
    if (!st && train_file) {
        st = pr_read(train_file, NULL, &train);
        if (!st && !train.n)
            st = tg_error(TG_ERR_FORMAT, "%s: no training pairs", train_file);
    }
    if (!st)
        st = fio_mkdir(output);
    if (!st && train_file) {
        fprintf(stderr, "ablm %s: %zu test pairs, %zu training pairs: baselines...\n", CMD,
                test.n, train.n);
        st = pe_locus_train(&lm, &train);
        if (!st)
            st = pe_baselines_build(&bl, &train, (size_t)medoid_sample, (uint64_t)medoid_seed,
                                    threads);
        if (!st && !(nearest = tg_malloc(test.n * sizeof *nearest, "nearest")))
            st = TG_ERR_NOMEM;
        if (!st)
            st = pe_nearest_heavy(&train, &test, cand, max_postings, threads, nearest);
    }
    if (!st && pred_file) {
        st = pe_read_predictions(pred_file, &test, &pred);
        if (!st && !pred.matched)
            st = tg_error(TG_ERR_FORMAT, "%s: no prediction matches a test pair id (first id: "
                          "%s)", pred_file, pred.first_unmatched);
    }
    if (!st && model) {
        st = model_tokenize(&me, &test);
        if (!st) {
            fprintf(stderr, "ablm %s: model: perplexity of %zu pairs...\n", CMD, me.fit);
            st = model_perplexity(&me, batch);
        }
        if (!st) {
            fprintf(stderr, "ablm %s: model: generating %zu light chains...\n", CMD, me.fit);
            st = model_generate(&me, &go, batch);
        }
    }
    /* the systems: the model, predictions, then the baselines */
    for (int k = 0; k < 8 && !st; k++)
        if (!(sy[k].chain = tg_calloc(test.n, sizeof *sy[k].chain, "systems")))
            st = TG_ERR_NOMEM;
    const char *const *guess = NULL; /* the chains most_common_pred_locus follows */
    if (!st && model) {
        sy[ns].s.name = "model";
        sy[ns].show = 1;
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = me.chain[i];
        guess = sy[ns].chain;
        ns++;
    }
    if (!st && pred_file) {
        sy[ns].show = 1;
        if (!guess)
            guess = (const char *const *)pred.chain;
        sy[ns].s.name = "predictions";
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = pred.chain[i];
        ns++;
    }
    if (!st && train_file) {
        if (guess) {
            sy[ns].s.name = "most_common_pred_locus";
            for (size_t i = 0; i < test.n; i++) {
                const char *g = guess[i];
                const char *l = g ? pe_locus_predict(&lm, g, (int)strlen(g)) : "";
                const char *c = !strcmp(l, "IGK") ? bl.most_common_k
                                : !strcmp(l, "IGL") ? bl.most_common_l : NULL;
                sy[ns].chain[i] = g ? (c ? c : bl.most_common) : NULL;
            }
            ns++;
        }
        sy[ns].s.name = "most_common";
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = bl.most_common;
        ns++;
        sy[ns].s.name = "medoid";
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = bl.medoid;
        ns++;
        sy[ns].s.name = "most_common_true_locus";
        for (size_t i = 0; i < test.n; i++) {
            const char *l = test.v[i].locus;
            const char *c = !strcmp(l, "IGK") ? bl.most_common_k
                            : !strcmp(l, "IGL") ? bl.most_common_l : NULL;
            sy[ns].chain[i] = c ? c : bl.most_common;
        }
        ns++;
        sy[ns].s.name = "nearest_heavy";
        for (size_t i = 0; i < test.n; i++)
            sy[ns].chain[i] = train.v[nearest[i]].light;
        ns++;
    }
    for (int k = 0; k < ns && !st; k++) {
        sy[k].s.chain = sy[k].chain;
        fprintf(stderr, "ablm %s: scoring %s...\n", CMD, sy[k].s.name);
        st = pe_eval_system(&sy[k].s, &test, train_file ? &lm : NULL, threads);
    }
    /* --num_return_sequences N > 1: every returned chain scored against its
     * pair's true chain (a test set of each pair N times): the mean over all
     * of them, beside 'model' (the first per pair) */
    pe_system all = {.name = "model_all_returned"};
    pr_set rep = {0};
    if (!st && model && me.nrs > 1) {
        rep.n = test.n * (size_t)me.nrs;
        if (!(rep.v = tg_malloc(rep.n * sizeof *rep.v, "returned sequences")))
            st = TG_ERR_NOMEM;
        for (size_t j = 0; !st && j < rep.n; j++)
            rep.v[j] = test.v[j / (size_t)me.nrs];
        all.chain = (const char *const *)me.all;
        if (!st) {
            fprintf(stderr, "ablm %s: scoring %s...\n", CMD, all.name);
            st = pe_eval_system(&all, &rep, train_file ? &lm : NULL, threads);
        }
    }
    int regions = 0;
    for (size_t i = 0; i < test.n && !regions; i++) {
        char *reg[PR_N_REGIONS];
        char *buf = tg_malloc(((size_t)test.v[i].light_len + 1) * PR_N_REGIONS, "regions");
        if (!buf) {
            st = TG_ERR_NOMEM;
            break;
        }
        for (int r = 0; r < PR_N_REGIONS; r++)
            reg[r] = buf + ((size_t)test.v[i].light_len + 1) * (size_t)r;
        regions = pe_true_regions(&test.v[i], reg);
        tg_free(buf);
    }
    if (!st)
        st = write_per_pair(output, &test, sy, ns, model ? &me : NULL);
    if (!st) {
        cJSON_AddStringToObject(sum, "test_file", test_file);
        cJSON_AddNumberToObject(sum, "test_pairs", (double)test.n);
        pr_stats_to_json(&test, cJSON_AddObjectToObject(sum, "test_input"));
        if (train_file) {
            cJSON_AddStringToObject(sum, "train_file", train_file);
            cJSON_AddNumberToObject(sum, "train_pairs", (double)train.n);
        }
        cJSON *al = cJSON_AddObjectToObject(sum, "alignment");
        cJSON_AddStringToObject(al, "method", "Biopython pairwise2.align.globalds(true, "
                                "generated, BLOSUM62, -10, -4), first alignment; chains "
                                "reduced to the 20 amino acids");
        cJSON_AddStringToObject(al, "identity", "identical aligned residues / max(len true, "
                                "len generated) * 100");
        if (model) {
            cJSON *mj = cJSON_AddObjectToObject(sum, "model");
            cJSON_AddStringToObject(mj, "dir", model);
            cJSON_AddNumberToObject(mj, "pairs_fitting", (double)me.fit);
            cJSON_AddNumberToObject(mj, "pairs_too_long_for_the_model",
                                    (double)(test.n - me.fit));
            cJSON_AddNumberToObject(mj, "label_tokens", (double)me.tokens);
            double ppl_mean = 0;
            for (size_t i = 0; i < test.n; i++)
                if (me.src[i])
                    ppl_mean += exp(me.nll[i] / me.lab_len[i]);
            double ppl = me.tokens ? exp(me.nll_sum / (double)me.tokens) : NAN;
            ppl_mean = me.fit ? ppl_mean / (double)me.fit : NAN;
            if (isfinite(ppl) && isfinite(ppl_mean)) {
                cJSON_AddNumberToObject(mj, "perplexity", ppl);
                cJSON_AddNumberToObject(mj, "perplexity_mean_per_pair", ppl_mean);
            } else { /* no pair fits, or a perplexity overflowed */
                cJSON_AddNullToObject(mj, "perplexity");
                cJSON_AddNullToObject(mj, "perplexity_mean_per_pair");
            }
            cJSON *g = cJSON_AddObjectToObject(mj, "generation");
            cJSON_AddNumberToObject(g, "max_new_tokens", go.max_new_tokens);
            cJSON_AddBoolToObject(g, "do_sample", go.do_sample);
            cJSON_AddNumberToObject(g, "temperature", go.temperature);
            cJSON_AddNumberToObject(g, "top_k", go.top_k);
            cJSON_AddNumberToObject(g, "top_p", go.top_p);
            cJSON_AddNumberToObject(g, "num_beams", go.num_beams);
            cJSON_AddNumberToObject(g, "num_beam_groups", go.num_beam_groups);
            cJSON_AddNumberToObject(g, "diversity_penalty", go.diversity_penalty);
            cJSON_AddNumberToObject(g, "length_penalty", go.length_penalty);
            cJSON_AddStringToObject(g, "early_stopping", go.early_stopping == GEN_EARLY_TRUE ? "true"
                                    : go.early_stopping == GEN_EARLY_NEVER ? "never" : "false");
            cJSON *bad = cJSON_AddArrayToObject(g, "bad_words_ids");
            for (int b = 0; b < go.n_bad; b++)
                cJSON_AddItemToArray(bad, cJSON_CreateNumber(go.bad_ids[b]));
            cJSON_AddNumberToObject(g, "num_return_sequences", go.num_return_sequences);
            cJSON_AddNumberToObject(g, "seed", (double)go.seed);
            cJSON_AddNumberToObject(g, "new_tokens", (double)me.gen_tokens);
            cJSON_AddNumberToObject(g, "seconds", me.gen_seconds);
            cJSON_AddNumberToObject(mj, "perplexity_seconds", me.ppl_seconds);
        }
        if (pred_file) {
            cJSON *pj = cJSON_AddObjectToObject(sum, "predictions");
            cJSON_AddStringToObject(pj, "file", pred_file);
            cJSON_AddNumberToObject(pj, "read", (double)pred.read);
            cJSON_AddNumberToObject(pj, "matched_pairs", (double)pred.matched);
            cJSON_AddNumberToObject(pj, "pairs_without_prediction",
                                    (double)(test.n - pred.matched));
            cJSON_AddNumberToObject(pj, "extra_for_a_pair", (double)pred.extra);
            cJSON_AddNumberToObject(pj, "unmatched_ids", (double)pred.unmatched);
        }
        if (train_file) {
            cJSON *lr = cJSON_AddObjectToObject(sum, "locus_rule");
            cJSON_AddStringToObject(lr, "rule", "presence-only naive Bayes over distinct "
                                    "4-mers, trained on the training light chains of known "
                                    "locus");
            cJSON_AddNumberToObject(lr, "training_igk", (double)lm.nk);
            cJSON_AddNumberToObject(lr, "training_igl", (double)lm.nl);
            size_t known = 0, right = 0;
            for (size_t i = 0; i < test.n; i++)
                if (test.v[i].locus[0]) {
                    known++;
                    right += !strcmp(pe_locus_predict(&lm, test.v[i].light, test.v[i].light_len),
                                     test.v[i].locus);
                }
            cJSON_AddNumberToObject(lr, "true_test_chains_with_locus", (double)known);
            cJSON_AddNumberToObject(lr, "true_test_chains_classified_right", (double)right);
            cJSON *bj = cJSON_AddObjectToObject(sum, "baselines");
            cJSON_AddStringToObject(bj, "most_common", bl.most_common);
            cJSON_AddNumberToObject(bj, "most_common_count", (double)bl.most_common_count);
            if (bl.most_common_k)
                cJSON_AddStringToObject(bj, "most_common_igk", bl.most_common_k);
            if (bl.most_common_l)
                cJSON_AddStringToObject(bj, "most_common_igl", bl.most_common_l);
            cJSON_AddStringToObject(bj, "medoid", bl.medoid);
            cJSON_AddNumberToObject(bj, "medoid_sample", (double)bl.medoid_sample);
            cJSON_AddNumberToObject(bj, "medoid_seed", medoid_seed);
            cJSON_AddNumberToObject(bj, "nearest_candidates", cand);
            cJSON_AddNumberToObject(bj, "nearest_max_postings", max_postings);
        }
        cJSON *sj = cJSON_AddObjectToObject(sum, "systems");
        for (int k = 0; k < ns; k++)
            pe_system_to_json(&sy[k].s, cJSON_AddObjectToObject(sj, sy[k].s.name));
        if (rep.n)
            pe_system_to_json(&all, cJSON_AddObjectToObject(sj, all.name));
        cJSON_AddNumberToObject(sum, "seconds", inf_now() - t0);
        char *path = fio_join(output, "summary.json");
        st = path ? fio_write_json(path, sum) : TG_ERR_NOMEM;
        tg_free(path);
    }
    if (!st) {
        if (pred_file && pred.matched < test.n)
            printf("WARNING: %zu of %zu test pairs have no prediction (left out of "
                   "'predictions')\n", test.n - pred.matched, test.n);
        if (pred_file && pred.unmatched)
            printf("WARNING: %zu predictions match no test pair id (first: %s)\n",
                   pred.unmatched, pred.first_unmatched);
        if (model && me.fit < test.n)
            printf("WARNING: %zu of %zu test pairs do not fit the model (left out of 'model')\n",
                   test.n - me.fit, test.n);
        if (model && me.tokens)
            printf("model perplexity %.4f (exp of the mean NLL over %ld label tokens of %zu "
                   "pairs)\n", exp(me.nll_sum / (double)me.tokens), me.tokens, me.fit);
        print_table(sy, ns, regions, rep.n ? &all : NULL);
        printf("wrote %s/per_pair.tsv, %s/summary.json (%.1f s)\n", output, output,
               inf_now() - t0);
    } else {
        fprintf(stderr, "ablm %s: %s\n", CMD, tg_last_error());
    }
    pe_system_free(&all);
    tg_free(rep.v);
    for (int k = 0; k < 8; k++) {
        pe_system_free(&sy[k].s);
        tg_free(sy[k].chain);
    }
    cJSON_Delete(sum);
    tg_free(nearest);
    pe_predictions_free(&pred, test.n);
    pe_baselines_free(&bl);
    pe_locus_free(&lm);
    pr_free(&test);
    pr_free(&train);
    model_eval_free(&me);
    return st ? 1 : 0;
}
