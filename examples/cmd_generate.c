/* ablm generate: sequences from a decoder-only GPT-2 (a light-chain LM)
 * with the KV cache (examples/generate.c): greedy or sampling, FASTA or
 * TSV out. */
#include "commands.h"
#include "gen_args.h"
#include "gen_encdec.h"
#include "generate.h"
#include "infer.h"
#include "reader.h"

#include "afile.h"
#include "tg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char CMD[] = "generate";
static const char USAGE[] =
    "--model DIR --output FILE [--input FILE] [--do_sample --temperature T --top_k K --top_p P]\n"
    "       [--num_beams B [--num_beam_groups G --diversity_penalty D] [--length_penalty LP]\n"
    "       [--early_stopping false|true|never]] [--num_return_sequences N] [--max_new_tokens L]\n"
    "       [--seed S] [--bad_words_ids IDS]";
static const char ABOUT[] =
    "Generates from a GPT-2 decoder (ablm train-clm's output, or a GPT2LMHeadModel\n"
    "directory). Each prompt is the bos token ([CLS], <|startoftext|>) followed by the\n"
    "residues of one --input record (FASTA, one sequence per line, OAS/AIRR tables: the\n"
    "light chain); without --input one unconditional prompt (bos alone, id\n"
    "'unconditional'). Generation follows Hugging Face generate(): --bad_words_ids masked,\n"
    "then with --do_sample temperature, top_k (default 50, as HF), top_p, a multinomial\n"
    "draw; else greedy. A sequence stops at eos (config eos_token_id), after\n"
    "--max_new_tokens, or at n_positions. Sampling is reproducible by --seed (each output\n"
    "sequence draws its own stream, so batching does not change it). --num_beams B > 1:\n"
    "beam search as HF's (log-softmax scores, bad words -inf, 2B candidates a step, a\n"
    "hypothesis scored sum logprob / new_tokens^length_penalty, early_stopping as HF);\n"
    "--num_beam_groups G with --diversity_penalty D: diverse beam search (HF's Hamming\n"
    "diversity); --num_return_sequences <= B returns the best hypotheses, best first.\n"
    "Beam-sample (--do_sample with beams) is not implemented and refused.\n"
    "Output: FASTA (>ID, >ID_1.._N with --num_return_sequences N > 1; the prompt residues\n"
    "then the generated ones, special tokens left out), or TSV when FILE ends in .tsv:\n"
    "id, prompt, sequence, new_tokens (incl. eos), stop (eos, max_new_tokens, n_positions),\n"
    "and with beam search score (the hypothesis score).";

typedef struct {
    size_t n;
    char **ids, **seqs;
    rd_ids rid;
    int32_t **tok;
    int *len;
    int32_t **src; /* encoder-decoder: the sources [CLS] heavy [SEP] (else NULL) */
    int *src_len;
} prompts;

static void prompts_free(prompts *p)
{
    if (p->seqs)
        rd_free_strings(p->seqs, p->n);
    rd_ids_free(&p->rid);
    for (size_t i = 0; p->tok && i < p->n; i++)
        tg_free(p->tok[i]);
    for (size_t i = 0; p->src && i < p->n; i++)
        tg_free(p->src[i]);
    tg_free(p->tok);
    tg_free(p->src);
    tg_free(p->src_len);
    tg_free(p->len);
    tg_free(p->ids);
    memset(p, 0, sizeof *p);
}

/* An encoder-decoder's inputs: the heavy chains of the records (paired
 * tables: the heavy chain) as sources [CLS] heavy [SEP] (too long for the
 * encoder: an error naming the record), each with the decoder prefix
 * [decoder_start]. */
static int read_sources(const char *path, const tok_tokenizer *tok, const ed_model *m, prompts *p)
{
    memset(p, 0, sizeof *p);
    rd_ids_init(&p->rid);
    if (!path)
        return tg_error(TG_ERR_ARG, "an encoder-decoder model needs --input (heavy chains)");
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_HEAVY;
    o.keep_text = 1;
    int rc = rd_read_files(&path, 1, &o, &p->rid, &p->seqs, &p->n, NULL, NULL);
    if (!rc && !p->n)
        rc = tg_error(TG_ERR_FORMAT, "%s: no sequences in the file", path);
    if (!rc) {
        p->ids = tg_calloc(p->n, sizeof *p->ids, "source ids");
        p->tok = tg_calloc(p->n, sizeof *p->tok, "prefixes");
        p->len = tg_calloc(p->n, sizeof *p->len, "prefix lengths");
        p->src = tg_calloc(p->n, sizeof *p->src, "sources");
        p->src_len = tg_calloc(p->n, sizeof *p->src_len, "source lengths");
        if (!p->ids || !p->tok || !p->len || !p->src || !p->src_len)
            rc = TG_ERR_NOMEM;
    }
    int cap = ed_max_source(m);
    for (size_t i = 0; !rc && i < p->n; i++) {
        p->ids[i] = (char *)rd_ids_get(&p->rid, i);
        p->tok[i] = tg_malloc(sizeof **p->tok, "prefix");
        p->src[i] = tg_malloc((size_t)cap * sizeof **p->src, "source tokens");
        if (!p->tok[i] || !p->src[i]) {
            rc = TG_ERR_NOMEM;
            break;
        }
        p->tok[i][0] = m->cfg.decoder_start_token_id;
        p->len[i] = 1;
        rc = tok_encode(tok, p->seqs[i], strlen(p->seqs[i]), cap, TOK_REJECT, p->src[i],
                        &p->src_len[i], NULL);
        if (rc)
            rc = tg_error(rc, "%s: record %s: heavy chain: %s (encoder positions %d)", path,
                          p->ids[i], tg_last_error(), cap);
    }
    if (rc)
        prompts_free(p);
    return rc;
}

/* Reads the records (light chain of paired tables) and tokenizes them as
 * bos + residues (the tokenizer's [SEP] dropped). */
static int read_prompts(const char *path, const tok_tokenizer *tok, const g2_config *c,
                        prompts *p)
{
    memset(p, 0, sizeof *p);
    rd_ids_init(&p->rid);
    static char uncond_id[] = "unconditional";
    static char *uncond_seq = "";
    int rc = TG_OK;
    if (path) {
        rd_opts o;
        rd_opts_default(&o);
        o.chain = RD_CHAIN_LIGHT;
        o.keep_text = 1;
        rc = rd_read_files(&path, 1, &o, &p->rid, &p->seqs, &p->n, NULL, NULL);
        if (!rc && !p->n)
            rc = tg_error(TG_ERR_FORMAT, "%s: no sequences in the file", path);
    } else {
        p->n = 1;
    }
    if (!rc) {
        p->ids = tg_calloc(p->n, sizeof *p->ids, "prompt ids");
        p->tok = tg_calloc(p->n, sizeof *p->tok, "prompts");
        p->len = tg_calloc(p->n, sizeof *p->len, "prompt lengths");
        if (!p->ids || !p->tok || !p->len)
            rc = TG_ERR_NOMEM;
    }
    for (size_t i = 0; !rc && i < p->n; i++) {
        const char *seq = path ? p->seqs[i] : uncond_seq;
        p->ids[i] = path ? (char *)rd_ids_get(&p->rid, i) : uncond_id;
        int cap = c->n_positions + 1, n = 0;
        if (!(p->tok[i] = tg_malloc((size_t)cap * sizeof **p->tok, "prompt tokens"))) {
            rc = TG_ERR_NOMEM;
            break;
        }
        rc = tok_encode(tok, seq, strlen(seq), cap, TOK_REJECT, p->tok[i], &n, NULL);
        if (rc)
            rc = tg_error(rc, "%s: record %s: %s (n_positions %d)", path, p->ids[i],
                          tg_last_error(), c->n_positions);
        p->len[i] = n - 1; /* without [SEP] */
    }
    if (rc)
        prompts_free(p);
    return rc;
}

static const char *stop_of(const gen_result *r, size_t i)
{
    return r->hit_eos[i] ? "eos" : r->hit_limit[i] ? "n_positions" : "max_new_tokens";
}

static int write_output(const char *path, const prompts *p, const gen_result *r, int nrs,
                        int beams, const tok_tokenizer *tok)
{
    size_t L = strlen(path);
    int tsv = L >= 4 && !strcmp(path + L - 4, ".tsv");
    tg_afile af;
    int rc = tg_afile_open(&af, path);
    if (rc)
        return rc;
    if (tsv)
        fprintf(af.f, "id\tprompt\tsequence\tnew_tokens\tstop%s\n", beams ? "\tscore" : "");
    size_t cap = 0;
    char *buf = NULL, *pbuf = NULL;
    int32_t *all = NULL;
    for (size_t i = 0; !rc && i < r->n; i++) {
        size_t q = i / (size_t)nrs;
        int n = p->len[q] + r->len[i], need = p->src && p->src_len[q] > n ? p->src_len[q] : n;
        if ((size_t)need * 8 + 16 > cap) {
            cap = (size_t)need * 8 + 16;
            tg_free(buf), tg_free(pbuf), tg_free(all);
            buf = tg_malloc(cap, "output line");
            pbuf = tg_malloc(cap, "output line");
            all = tg_malloc(cap * sizeof *all, "output tokens");
            if (!buf || !pbuf || !all) {
                rc = TG_ERR_NOMEM;
                break;
            }
        }
        memcpy(all, p->tok[q], (size_t)p->len[q] * sizeof *all);
        memcpy(all + p->len[q], r->tok[i], (size_t)r->len[i] * sizeof *all);
        rc = tok_decode(tok, all, n, 1, buf, (int)cap);
        if (!rc)
            rc = p->src ? tok_decode(tok, p->src[q], p->src_len[q], 1, pbuf, (int)cap)
                        : tok_decode(tok, p->tok[q], p->len[q], 1, pbuf, (int)cap);
        if (rc)
            break;
        char suffix[32] = "";
        if (nrs > 1)
            snprintf(suffix, sizeof suffix, "_%d", (int)(i % (size_t)nrs) + 1);
        if (tsv && beams)
            fprintf(af.f, "%s%s\t%s\t%s\t%d\t%s\t%.6f\n", p->ids[q], suffix, pbuf, buf, r->len[i],
                    stop_of(r, i), r->score[i]);
        else if (tsv)
            fprintf(af.f, "%s%s\t%s\t%s\t%d\t%s\n", p->ids[q], suffix, pbuf, buf, r->len[i],
                    stop_of(r, i));
        else
            fprintf(af.f, ">%s%s\n%s\n", p->ids[q], suffix, buf);
    }
    tg_free(buf), tg_free(pbuf), tg_free(all);
    if (rc) {
        tg_afile_abort(&af);
        return rc;
    }
    return tg_afile_commit(&af);
}

static void note(const char *msg) { fprintf(stderr, "ablm %s: note: %s\n", CMD, msg); }

int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *input = NULL, *output = NULL;
    int batch = 32, threads = 0;
    ga_flags gf;
    ga_defaults(&gf);
    inf_opt opts[5 + GA_NOPTS] = {
        {"--model", INF_STR, &model, 0, "DIR", "GPT-2 or encoder-decoder (ablm train-h2l) model directory"},
        {"--input", INF_STR, &input, 0, "FILE", "prompts: residues after bos (FASTA, lines, OAS/AIRR light chains)"},
        {"--output", INF_STR, &output, 0, "FILE", "FASTA, or TSV when the name ends in .tsv"},
        {"--batch_size", INF_INT, &batch, 1, "N", "sequences per step graph; beam search: sources, N x B rows (default 32)"},
        {"--threads", INF_INT, &threads, 0, "N", "threads (0: all cores)"},
    };
    ga_opts(&gf, opts + 5);
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    int rc = inf_parse(CMD, USAGE, opts, nopts, argc, argv);
    if (rc != INF_GO) {
        if (rc == 0)
            printf("\n%s\n", ABOUT);
        return rc;
    }
    if (!model || !output) {
        fprintf(stderr, "ablm %s: --model and --output are required (see ablm %s --help)\n", CMD, CMD);
        return 2;
    }
    g2_model *m = NULL;
    ed_model *ed = NULL; /* an encoder-decoder directory: heavy chains in, light chains out */
    tok_tokenizer *tok;
    if (ed_is_encdec_dir(model) ? ed_load_pretrained(model, 0, &ed, &tok, note)
                                : g2_load_pretrained(model, &m, &tok, note)) {
        fprintf(stderr, "ablm %s: %s\n", CMD, tg_last_error());
        return 1;
    }
    const g2_config *dc = ed ? &ed->cfg.dec : &m->cfg;
    gen_opts o;
    gen_opts_default(&o, ed ? ed->cfg.eos_token_id : dc->eos_token_id,
                     ed ? ed->cfg.pad_token_id : dc->pad_token_id);
    int usage = ga_apply(CMD, &gf, dc->vocab_size, &o);
    if (usage) {
        g2_model_free(m);
        ed_model_free(ed);
        tok_free(tok);
        return 2;
    }
    tg_set_threads(threads);
    prompts p;
    rc = ed ? read_sources(input, tok, ed, &p) : read_prompts(input, tok, dc, &p);
    gen_result r = {0};
    double t0 = inf_now();
    if (!rc && ed)
        rc = gen_run_encdec(ed, &o, p.n, (const int32_t *const *)p.src, p.src_len, batch, &r);
    else if (!rc)
        rc = gen_run_gpt2(m, &o, p.n, (const int32_t *const *)p.tok, p.len, batch, &r);
    double secs = inf_now() - t0;
    if (!rc)
        rc = write_output(output, &p, &r, gf.nrs, gf.beams > 1, tok);
    if (!rc) {
        size_t total = 0;
        for (size_t i = 0; i < r.n; i++)
            total += (size_t)r.len[i];
        fprintf(stderr, "ablm %s: %zu sequences, %zu new tokens in %.2f s (%.0f tokens/s)\n", CMD,
                r.n, total, secs, secs > 0 ? total / secs : 0.0);
    } else {
        fprintf(stderr, "ablm %s: %s\n", CMD, tg_last_error());
    }
    gen_result_free(&r);
    prompts_free(&p);
    g2_model_free(m);
    ed_model_free(ed);
    tok_free(tok);
    return rc ? 1 : 0;
}
