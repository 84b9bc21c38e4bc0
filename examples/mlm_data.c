/* Loading and tokenizing MLM datasets. */
#include "mlm_data.h"

#include "reader.h"
#include "tg.h"

#include <ctype.h>
#include <string.h>

int mlm_data_load(mlm_data *d, const char *path, const char *what, const tok_tokenizer *tok,
                  int max_len, long max_samples)
{
    memset(d, 0, sizeof *d);
    rd_opts o;
    rd_opts_default(&o);
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
        int m;
        rc = tok_encode(tok, seqs[i], strlen(seqs[i]), max_len, TOK_TRUNCATE, d->ids + at, &m, &st);
        if (rc) {
            rc = tg_error(rc, "%s: %s: %s", what, names[i], tg_last_error());
            break;
        }
        d->start[i] = at;
        d->len[i] = m;
        at += m;
        d->tokens += m;
    }
    d->n = (long)n;
    d->truncated = st.truncated;
    d->unknown = st.unknown;
    tok_stats_summary(&st, d->unknown_summary, sizeof d->unknown_summary);
    rd_free_strings(names, n_read);
    rd_free_strings(seqs, n_read);
    if (rc)
        mlm_data_free(d);
    return rc;
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
    head->tokens = (long)ntok;
    for (long i = k; i < d->n; i++) { /* the rest keeps its ids in place */
        d->start[i - k] = d->start[i];
        d->len[i - k] = d->len[i];
    }
    d->n -= k;
    d->tokens -= (long)ntok;
    return TG_OK;
}
