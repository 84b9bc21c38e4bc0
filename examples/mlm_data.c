/* Loading and tokenizing MLM datasets. */
#include "mlm_data.h"

#include "reader.h"
#include "tg.h"

#include <ctype.h>
#include <string.h>

int mlm_data_load(mlm_data *d, const char *path, const char *what, const tok_tokenizer *tok,
                  int max_len, long max_samples)
{
    return mlm_data_load_chain(d, path, what, tok, max_len, max_samples, RD_CHAIN_HEAVY);
}

int mlm_data_load_chain(mlm_data *d, const char *path, const char *what,
                        const tok_tokenizer *tok, int max_len, long max_samples, int chain)
{
    memset(d, 0, sizeof *d);
    d->pad_id = tok_pad_id(tok), d->cls_id = tok_cls_id(tok), d->sep_id = tok_sep_id(tok);
    rd_opts o;
    rd_opts_default(&o);
    o.chain = (rd_chain)chain;
    o.keep_text = 1; /* run_mlm.py hands each line to the tokenizer as it is */
    char **names, **seqs;
    size_t n;
    int rc = rd_read_all(path, &o, &names, &seqs, &n, NULL);
    if (rc)
        return tg_error(rc, "%s: %s", what, tg_last_error());
    if (n == 0) {
        rd_free_strings(names, n);
        rd_free_strings(seqs, n);
        return tg_error(TG_ERR_FORMAT, "%s: %s: no sequences", what, path);
    }
    size_t n_read = n;
    if (max_samples >= 0 && (size_t)max_samples < n)
        n = (size_t)max_samples;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(seqs[i]) + 2;
    d->ids = tg_malloc(total * sizeof *d->ids, "token ids");
    d->start = tg_malloc(n * sizeof *d->start, "sequence starts");
    d->len = tg_malloc(n * sizeof *d->len, "sequence lengths");
    tok_stats st;
    memset(&st, 0, sizeof st);
    rc = d->ids && d->start && d->len ? TG_OK : TG_ERR_NOMEM;
    size_t at = 0;
    long kept = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        for (const char *c = seqs[i]; *c; c++)
            if (!isalpha((unsigned char)*c) && !isspace((unsigned char)*c)) {
                rc = tg_error(TG_ERR_FORMAT, "%s: %s: sequence has character '%c' (0x%02x), not an amino-acid letter%s",
                              what, names[i], isprint((unsigned char)*c) ? *c : '?',
                              (unsigned char)*c,
                              *c == '*' ? " (a stop codon: ablm prepare --drop-stop or --productive-only removes such sequences)" : "");
                break;
            }
        if (rc)
            break;
        const char *c = seqs[i];
        while (isspace((unsigned char)*c))
            c++;
        if (!*c) {
            d->blank++;
            continue;
        }
        int m, cap = max_len > 0 ? max_len : (int)strlen(seqs[i]) + 2;
        rc = tok_encode(tok, seqs[i], strlen(seqs[i]), cap, TOK_TRUNCATE, d->ids + at, &m, &st);
        if (rc) {
            rc = tg_error(rc, "%s: %s: %s", what, names[i], tg_last_error());
            break;
        }
        d->start[kept] = at;
        d->len[kept++] = m;
        at += m;
        d->tokens += m;
    }
    d->n = kept;
    d->lines = kept;
    d->truncated = st.truncated;
    d->unknown = st.unknown;
    tok_stats_summary(&st, d->unknown_summary, sizeof d->unknown_summary);
    rd_free_strings(names, n_read);
    rd_free_strings(seqs, n_read);
    if (!rc && kept == 0)
        rc = tg_error(TG_ERR_FORMAT, "%s: %s: no sequences (%ld blank)", what, path, d->blank);
    if (rc)
        mlm_data_free(d);
    return rc;
}

int mlm_data_group(mlm_data *d, int block, long group_rows, const char *what)
{
    if (block < 1 || group_rows < 1)
        return tg_error(TG_ERR_ARG, "%s: group_texts needs a block size and group size >= 1", what);
    long nb = 0;
    for (long g = 0; g < d->n; g += group_rows) {
        long e = g + group_rows < d->n ? g + group_rows : d->n;
        nb += (long)((d->start[e - 1] + d->len[e - 1] - d->start[g]) / (size_t)block);
    }
    if (nb == 0)
        return tg_error(TG_ERR_ARG,
                        "%s: %ld sequences, %ld tokens: not one block of %d tokens (group_texts "
                        "drops each %ld sequences' remainder); use --line_by_line or a smaller "
                        "--max_seq_length",
                        what, d->n, d->tokens, block, group_rows);
    size_t *start = tg_malloc((size_t)nb * sizeof *start, "block starts");
    int *len = tg_malloc((size_t)nb * sizeof *len, "block lengths");
    if (!start || !len) {
        tg_free(start);
        tg_free(len);
        return TG_ERR_NOMEM;
    }
    /* sequences are back to back in d->ids, so a group is one contiguous
     * range; its whole blocks move down to `at` (never past their source) */
    size_t at = 0;
    long b = 0;
    d->dropped = 0;
    for (long g = 0; g < d->n; g += group_rows) {
        long e = g + group_rows < d->n ? g + group_rows : d->n;
        size_t from = d->start[g], total = d->start[e - 1] + d->len[e - 1] - from;
        size_t keep = total / (size_t)block * (size_t)block;
        memmove(d->ids + at, d->ids + from, keep * sizeof *d->ids);
        for (size_t k = 0; k < keep; k += (size_t)block) {
            start[b] = at + k;
            len[b++] = block;
        }
        at += keep;
        d->dropped += (long)(total - keep);
    }
    tg_free(d->start);
    tg_free(d->len);
    d->start = start;
    d->len = len;
    d->lines = d->n;
    d->n = nb;
    d->tokens = (long)at;
    return TG_OK;
}

void mlm_data_head(mlm_data *d, long k)
{
    if (k < 0 || k >= d->n)
        return;
    d->n = k;
    d->tokens = k ? (long)(d->start[k - 1] + d->len[k - 1] - d->start[0]) : 0;
}

void mlm_data_free(mlm_data *d)
{
    tg_free(d->ids);
    tg_free(d->start);
    tg_free(d->len);
    memset(d, 0, sizeof *d);
}

int mlm_data_split(mlm_data *d, long k, mlm_data *head)
{
    memset(head, 0, sizeof *head);
    if (k <= 0 || k >= d->n)
        return tg_error(TG_ERR_ARG, "cannot hold out %ld of %ld sequences", k, d->n);
    size_t ntok = d->start[k]; /* tokens of the first k sequences */
    head->ids = tg_malloc(ntok * sizeof *head->ids, "token ids");
    head->start = tg_malloc(k * sizeof *head->start, "sequence starts");
    head->len = tg_malloc(k * sizeof *head->len, "sequence lengths");
    if (!head->ids || !head->start || !head->len) {
        mlm_data_free(head);
        return TG_ERR_NOMEM;
    }
    memcpy(head->ids, d->ids, ntok * sizeof *head->ids);
    memcpy(head->start, d->start, k * sizeof *head->start);
    memcpy(head->len, d->len, k * sizeof *head->len);
    head->n = k;
    head->pad_id = d->pad_id, head->cls_id = d->cls_id, head->sep_id = d->sep_id;
    head->tokens = (long)ntok;
    for (long i = k; i < d->n; i++) { /* the rest keeps its ids in place */
        d->start[i - k] = d->start[i];
        d->len[i - k] = d->len[i];
    }
    d->n -= k;
    d->tokens -= (long)ntok;
    head->lines = k;
    d->lines = d->n;
    return TG_OK;
}
