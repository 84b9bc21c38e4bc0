/* Input sequences of the inference commands: reading, tokenizing, sorting
 * by length. */
#include "infer.h"

#include "reader.h"
#include "tg.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static char *dup_n(const char *s, size_t n)
{
    char *d = tg_malloc(n + 1, "input sequence");
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Appends a record (copies id and seq). */
static int push(inf_inputs *in, size_t *cap, const char *id, long line, const char *seq,
                size_t len)
{
    if (in->n == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        char **ids = tg_realloc(in->ids, c * sizeof *ids, "input ids");
        if (ids)
            in->ids = ids;
        char **seqs = tg_realloc(in->seqs, c * sizeof *seqs, "input sequences");
        if (seqs)
            in->seqs = seqs;
        long *lines = tg_realloc(in->lines, c * sizeof *lines, "input lines");
        if (lines)
            in->lines = lines;
        if (!ids || !seqs || !lines)
            return TG_ERR_NOMEM;
        *cap = c;
    }
    char *i = dup_n(id, strlen(id)), *s = dup_n(seq, len);
    if (!i || !s) {
        tg_free(i);
        tg_free(s);
        return TG_ERR_NOMEM;
    }
    in->ids[in->n] = i;
    in->seqs[in->n] = s;
    in->lines[in->n] = line;
    in->n++;
    return TG_OK;
}

static int read_rd(const char *path, inf_inputs *in, size_t *cap)
{
    rd_opts o;
    rd_opts_default(&o);
    o.allow_mask = 1; /* "[MASK]" in FASTA/plain input (embed, logits) */
    o.keep_text = 1;  /* the tokenizer decides what blanks and case mean */
    rd_reader *r;
    int rc = rd_open(&r, path, &o);
    if (rc)
        return rc;
    rd_record rec;
    while ((rc = rd_next(r, &rec)) == 1)
        if ((rc = push(in, cap, rec.id, rec.line, rec.seq, (size_t)rec.len)))
            break;
    rd_close(r);
    return rc < 0 ? rc : TG_OK;
}

/* Reads one line (any length) into *buf; returns its length without the
 * line end, or -1 at end of file. */
static long get_line(gzFile gz, char **buf, size_t *cap, int *err)
{
    size_t n = 0;
    for (;;) {
        if (*cap - n < 2) {
            size_t c = *cap ? 2 * *cap : 4096;
            char *b = tg_realloc(*buf, c, "input line");
            if (!b) {
                *err = TG_ERR_NOMEM;
                return -1;
            }
            *buf = b;
            *cap = c;
        }
        if (!gzgets(gz, *buf + n, (int)(*cap - n))) {
            if (n == 0)
                return -1;
            break;
        }
        n += strlen(*buf + n);
        if (n && (*buf)[n - 1] == '\n')
            break;
    }
    while (n && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
        n--;
    (*buf)[n] = '\0';
    return (long)n;
}

static int is_blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

/* FASTA or one sequence per line, text kept as written. */
static int read_raw(const char *path, inf_inputs *in, size_t *cap)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return tg_error(TG_ERR_IO, "%s: cannot open", path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *line = NULL, *seq = NULL, *id = NULL;
    size_t lcap = 0, scap = 0, slen = 0;
    long ln = 0, start = 0, k;
    int err = TG_OK, fasta = -1;
    while (!err && (k = get_line(gz, &line, &lcap, &err)) >= 0) {
        ln++;
        if (is_blank(line))
            continue;
        if (fasta < 0)
            fasta = line[0] == '>';
        if (!fasta) {
            char lid[64];
            snprintf(lid, sizeof lid, ":%ld", ln);
            size_t bl = strlen(base);
            char *full = tg_malloc(bl + strlen(lid) + 1, "input id");
            if (!full) {
                err = TG_ERR_NOMEM;
                break;
            }
            memcpy(full, base, bl);
            strcpy(full + bl, lid);
            err = push(in, cap, full, ln, line, (size_t)k);
            tg_free(full);
            continue;
        }
        if (line[0] == '>') {
            if (id && (err = push(in, cap, id, start, seq ? seq : "", slen)))
                break;
            const char *h = line + 1 + strspn(line + 1, " \t");
            size_t hn = strcspn(h, " \t");
            tg_free(id);
            if (hn) {
                id = dup_n(h, hn);
            } else {
                char lid[64];
                snprintf(lid, sizeof lid, "%s:%ld", base, ln);
                id = dup_n(lid, strlen(lid));
            }
            if (!id)
                err = TG_ERR_NOMEM;
            start = ln;
            slen = 0;
            continue;
        }
        if (slen + (size_t)k + 1 > scap) {
            size_t c = (slen + (size_t)k + 1) * 2;
            char *s = tg_realloc(seq, c, "input sequence");
            if (!s) {
                err = TG_ERR_NOMEM;
                break;
            }
            seq = s;
            scap = c;
        }
        memcpy(seq + slen, line, (size_t)k);
        slen += (size_t)k;
    }
    if (!err && fasta == 1 && id)
        err = push(in, cap, id, start, seq ? seq : "", slen);
    int gerr;
    const char *gmsg = gzerror(gz, &gerr);
    if (!err && gerr != Z_OK && gerr != Z_STREAM_END)
        err = tg_error(TG_ERR_FORMAT, "%s: %s", path, gmsg);
    gzclose(gz);
    tg_free(line);
    tg_free(seq);
    tg_free(id);
    return err;
}

/* Makes in->ids unique as every command does (rd_ids_unique: a repeated id
 * becomes ID@FILE:LINE). Returns a status. */
static int unique_ids(const char *path, inf_inputs *in)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    rd_ids ids;
    rd_ids_init(&ids);
    int rc = TG_OK;
    for (size_t i = 0; i < in->n && !rc; i++)
        rc = rd_ids_add(&ids, in->ids[i], base, in->lines[i]);
    if (!rc)
        rc = rd_ids_unique(&ids, NULL);
    for (size_t i = 0; i < in->n && !rc; i++) {
        const char *id = rd_ids_get(&ids, i);
        if (strcmp(id, in->ids[i])) {
            char *d = dup_n(id, strlen(id));
            if (!d) {
                rc = TG_ERR_NOMEM;
                break;
            }
            tg_free(in->ids[i]);
            in->ids[i] = d;
        }
    }
    rd_ids_free(&ids);
    return rc;
}

int inf_read(const char *path, int raw, inf_inputs *in)
{
    memset(in, 0, sizeof *in);
    size_t cap = 0;
    int rc = raw ? read_raw(path, in, &cap) : read_rd(path, in, &cap);
    if (!rc && in->n == 0)
        rc = tg_error(TG_ERR_FORMAT, "%s: no sequences in the file", path);
    if (!rc)
        rc = unique_ids(path, in);
    return rc;
}

int inf_encode(const inf_model *im, const char *path, int truncate, inf_inputs *in)
{
    in->tok = tg_calloc(in->n ? in->n : 1, sizeof *in->tok, "token ids");
    in->ntok = tg_calloc(in->n ? in->n : 1, sizeof *in->ntok, "token counts");
    if (!in->tok || !in->ntok)
        return TG_ERR_NOMEM;
    int max = im->max_tokens;
    int32_t *buf = tg_malloc((size_t)max * sizeof *buf, "token buffer");
    if (!buf)
        return TG_ERR_NOMEM;
    int rc = TG_OK;
    for (size_t i = 0; i < in->n && !rc; i++) {
        int n;
        const char *s = in->seqs[i];
        rc = tok_encode(im->tok, s, strlen(s), max, truncate ? TOK_TRUNCATE : TOK_REJECT, buf, &n,
                        &in->st);
        if (rc) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", tg_last_error());
            rc = tg_error(rc, "%s:%ld: record '%s': %s (the model takes at most %d tokens "
                              "including [CLS] and [SEP]; --truncate cuts longer sequences)",
                          path, in->lines[i], in->ids[i], msg, max);
            break;
        }
        if (n <= 2) {
            rc = tg_error(TG_ERR_FORMAT, "%s:%ld: record '%s': empty sequence", path,
                          in->lines[i], in->ids[i]);
            break;
        }
        in->tok[i] = tg_malloc((size_t)n * sizeof *buf, "token ids");
        if (!in->tok[i]) {
            rc = TG_ERR_NOMEM;
            break;
        }
        memcpy(in->tok[i], buf, (size_t)n * sizeof *buf);
        in->ntok[i] = n;
        if (n > in->max_ntok)
            in->max_ntok = n;
    }
    tg_free(buf);
    return rc;
}

void inf_inputs_free(inf_inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        tg_free(in->ids[i]);
        tg_free(in->seqs[i]);
        if (in->tok)
            tg_free(in->tok[i]);
    }
    tg_free(in->ids);
    tg_free(in->seqs);
    tg_free(in->lines);
    tg_free(in->tok);
    tg_free(in->ntok);
    memset(in, 0, sizeof *in);
}

static const int *sort_len; /* qsort has no context argument */

static int by_length(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (sort_len[i] != sort_len[j])
        return sort_len[i] > sort_len[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

size_t *inf_order(const inf_inputs *in)
{
    size_t *o = tg_malloc((in->n ? in->n : 1) * sizeof *o, "batch order");
    if (!o)
        return NULL;
    for (size_t i = 0; i < in->n; i++)
        o[i] = i;
    sort_len = in->ntok;
    qsort(o, in->n, sizeof *o, by_length);
    return o;
}
