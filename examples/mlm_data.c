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
                rc = tg_error(TG_ERR_FORMAT, "%s: %s: sequence has character '%c' (0x%02x), not an amino-acid letter",
                              what, names[i], isprint((unsigned char)*c) ? *c : '?',
                              (unsigned char)*c);
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
