/* Buffered gzip/plain byte source and the CSV/TSV row tokenizer. */
#include "rd_text.h"

#include "tg.h"

#include <errno.h>
#include <string.h>

#define SRC_CHUNK (1 << 16)

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int rd_src_open(rd_src *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->unget = RD_EOF;
    s->line = 1;
    s->col = 1;
    s->buf = tg_malloc(SRC_CHUNK, "read buffer");
    if (!s->buf)
        return TG_ERR_NOMEM;
    s->gz = gzopen(path, "rb");
    if (!s->gz) {
        tg_free(s->buf);
        s->buf = NULL;
        return tg_error(TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    }
    gzbuffer(s->gz, 1 << 17);
    return TG_OK;
}

void rd_src_close(rd_src *s)
{
    if (s->gz)
        gzclose(s->gz);
    tg_free(s->buf);
    tg_free(s->pend);
    memset(s, 0, sizeof *s);
}

/* Refills buf. Returns 1 with bytes, 0 at EOF, RD_FAIL on error. */
static int src_fill(rd_src *s)
{
    if (s->eof)
        return 0;
    int n = gzread(s->gz, s->buf, SRC_CHUNK);
    int errnum = Z_OK;
    const char *msg = gzerror(s->gz, &errnum);
    if (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
        s->eof = 1;
        s->failed = 1;
        if (errnum == Z_ERRNO)
            return tg_error(TG_ERR_IO, "%s:%ld: read error: %s", s->path, s->line, strerror(errno)),
                   RD_FAIL;
        return tg_error(TG_ERR_FORMAT, "%s:%ld: corrupt or truncated gzip data (%s)", s->path,
                        s->line, msg),
               RD_FAIL;
    }
    if (!s->checked_gz) {
        s->checked_gz = 1;
        if (n > 0 && gzdirect(s->gz) && ends_with(s->path, ".gz")) {
            s->eof = 1;
            s->failed = 1;
            return tg_error(TG_ERR_FORMAT, "%s: not gzip data although the name ends in .gz",
                            s->path),
                   RD_FAIL;
        }
    }
    if (n == 0) {
        s->eof = 1;
        return 0;
    }
    s->len = (size_t)n;
    s->pos = 0;
    return 1;
}

static inline int src_raw(rd_src *s)
{
    if (s->unget != RD_EOF) {
        int c = s->unget;
        s->unget = RD_EOF;
        return c;
    }
    if (s->pend_pos < s->pend_len)
        return (unsigned char)s->pend[s->pend_pos++];
    if (s->pos >= s->len) {
        int st = src_fill(s);
        if (st <= 0)
            return st == 0 ? RD_EOF : RD_FAIL;
    }
    return s->buf[s->pos++];
}

int rd_src_get(rd_src *s)
{
    int c = src_raw(s);
    if (c == '\n') {
        s->line++;
        s->col = 1;
    } else if (c >= 0) {
        s->col++;
    }
    return c;
}

int rd_src_peek(rd_src *s)
{
    int c = src_raw(s);
    if (c >= 0)
        s->unget = c;
    return c;
}

int rd_src_head(rd_src *s, const unsigned char **p, size_t *n)
{
    if (s->pos >= s->len && !s->eof) {
        int st = src_fill(s);
        if (st == RD_FAIL)
            return TG_ERR_FORMAT;
    }
    *p = s->buf + s->pos;
    *n = s->len - s->pos;
    return TG_OK;
}

int rd_src_push(rd_src *s, const char *bytes, size_t n, long line)
{
    /* Remaining pending bytes (if any) follow the pushed ones. */
    size_t rest = s->pend_len - s->pend_pos;
    char *p = tg_malloc(n + rest, "re-read buffer");
    if (!p)
        return TG_ERR_NOMEM;
    memcpy(p, bytes, n);
    if (rest)
        memcpy(p + n, s->pend + s->pend_pos, rest);
    tg_free(s->pend);
    s->pend = p;
    s->pend_len = n + rest;
    s->pend_pos = 0;
    s->unget = RD_EOF;
    s->line = line;
    s->col = 1;
    return TG_OK;
}

/* ---- rows ------------------------------------------------------------- */

int rd_grow(void *pp, size_t *cap, size_t need, size_t elem, const char *what)
{
    if (need <= *cap)
        return TG_OK;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    void *p = tg_realloc(*(void **)pp, nc * elem, what);
    if (!p)
        return TG_ERR_NOMEM;
    *(void **)pp = p;
    *cap = nc;
    return TG_OK;
}

/* Appends a byte to the cells; past RD_MAX_LINE bytes nothing more is
 * stored (r->overlong; the caller fails the row). */
static inline int put(rd_row *r, char c)
{
    if (r->overlong || r->len >= RD_MAX_LINE) {
        r->overlong = 1;
        return TG_OK;
    }
    if (r->len + 1 > r->cap && rd_grow(&r->buf, &r->cap, r->len + 1, 1, "row buffer"))
        return TG_ERR_NOMEM;
    r->buf[r->len++] = c;
    return TG_OK;
}

static inline int put_raw(rd_row *r, int c)
{
    if (r->raw_len >= RD_MAX_LINE) {
        r->raw_over = 1;
        return TG_OK;
    }
    if (r->raw_len + 1 > r->raw_cap && rd_grow(&r->raw, &r->raw_cap, r->raw_len + 1, 1, "row buffer"))
        return TG_ERR_NOMEM;
    r->raw[r->raw_len++] = (char)c;
    return TG_OK;
}

static int start_cell(rd_row *r)
{
    if (r->overlong)
        return TG_OK;
    if (r->n + 1 > r->cap_f) {
        size_t cf = (size_t)r->cap_f;
        if (rd_grow(&r->off, &cf, (size_t)r->n + 1, sizeof(size_t), "row cells"))
            return TG_ERR_NOMEM;
        r->cap_f = (int)cf;
    }
    r->off[r->n++] = r->len;
    return TG_OK;
}

static int binary_error(rd_src *s, int c)
{
    return tg_error(TG_ERR_FORMAT,
                    "%s:%ld:%ld: binary data (byte 0x%02x); is this a text sequence file?",
                    s->path, s->line, s->col - 1, c);
}

static int overlong_error(const rd_src *s, const rd_row *r)
{
    return tg_error(TG_ERR_FORMAT, "%s:%ld: line longer than %d bytes (the reader's limit); "
                    "is this a sequence file?", s->path, r->line, RD_MAX_LINE);
}

/* Reads one byte, keeping a copy in raw when quoting (for resync). */
static inline int next(rd_src *s, rd_row *r, int quoting)
{
    int c = rd_src_get(s);
    if (quoting && c >= 0 && put_raw(r, c))
        return RD_NOMEM;
    return c;
}

int rd_row_read(rd_src *s, char delim, int quoting, rd_row *r)
{
    r->len = 0;
    r->n = 0;
    r->raw_len = 0;
    r->unterminated = 0;
    r->overlong = r->raw_over = 0;
    r->line = s->line;
    int c = next(s, r, quoting);
    if (c == RD_EOF)
        return 0;
    if (start_cell(r))
        return TG_ERR_NOMEM;
    for (;;) {
        if (c < RD_EOF)
            return c == RD_NOMEM ? TG_ERR_NOMEM : TG_ERR_FORMAT;
        if (quoting && c == '"') {
            long qline = s->line, qcol = s->col - 1;
            for (;;) {
                c = next(s, r, quoting);
                if (c < RD_EOF)
                    return c == RD_NOMEM ? TG_ERR_NOMEM : TG_ERR_FORMAT;
                if (c == RD_EOF) {
                    r->unterminated = 1;
                    r->end_line = s->line;
                    return tg_error(TG_ERR_FORMAT,
                                    "%s:%ld:%ld: unterminated quoted field (runs to the end of "
                                    "the file)",
                                    s->path, qline, qcol);
                }
                if (c == '"') {
                    int d = rd_src_peek(s);
                    if (d == '"') {
                        next(s, r, quoting);
                        if (put(r, '"'))
                            return TG_ERR_NOMEM;
                        continue;
                    }
                    c = next(s, r, quoting);
                    break;
                }
                if (c == 0)
                    return binary_error(s, c);
                if (put(r, (char)c))
                    return TG_ERR_NOMEM;
            }
            if (c == '\r' && rd_src_peek(s) == '\n')
                c = next(s, r, quoting);
            if (c != delim && c != '\n' && c != RD_EOF) {
                if (c < RD_EOF)
                    return c == RD_NOMEM ? TG_ERR_NOMEM : TG_ERR_FORMAT;
                /* consume the rest of the line so the next row starts clean */
                long l = s->line, col = s->col - 1;
                int bad = c;
                while (c != '\n' && c >= 0)
                    c = next(s, r, 0);
                r->end_line = s->line;
                return tg_error(TG_ERR_FORMAT,
                                "%s:%ld:%ld: unexpected character '%c' after a closing quote",
                                s->path, l, col, bad >= 32 && bad < 127 ? bad : '?');
            }
        } else {
            while (c != delim && c != '\n' && c != RD_EOF) {
                if (c < RD_EOF)
                    return c == RD_NOMEM ? TG_ERR_NOMEM : TG_ERR_FORMAT;
                if (c == '\r') {
                    int d = rd_src_peek(s);
                    if (d == '\n' || d == RD_EOF) {
                        c = next(s, r, quoting);
                        continue;
                    }
                }
                if (c < 32 && c != '\t') {
                    long l = s->line, col = s->col - 1;
                    int bad = c;
                    while (c != '\n' && c >= 0)
                        c = next(s, r, 0);
                    r->end_line = s->line;
                    s->line = l, s->col = col + 1; /* message position */
                    int st = binary_error(s, bad);
                    s->line = r->end_line, s->col = 1;
                    return st;
                }
                if (put(r, (char)c))
                    return TG_ERR_NOMEM;
                c = next(s, r, quoting);
            }
        }
        if (put(r, '\0'))
            return TG_ERR_NOMEM;
        if (c == delim) {
            if (start_cell(r))
                return TG_ERR_NOMEM;
            c = next(s, r, quoting);
            continue;
        }
        r->end_line = s->line;
        if (r->overlong)
            return overlong_error(s, r);
        return 1; /* '\n' or EOF */
    }
}

void rd_row_free(rd_row *r)
{
    tg_free(r->buf);
    tg_free(r->off);
    tg_free(r->raw);
    memset(r, 0, sizeof *r);
}

int rd_line_read(rd_src *s, rd_row *r)
{
    r->len = 0;
    r->n = 0;
    r->unterminated = 0;
    r->overlong = r->raw_over = 0;
    r->line = s->line;
    int c = rd_src_get(s);
    if (c == RD_EOF)
        return 0;
    if (start_cell(r))
        return TG_ERR_NOMEM;
    int bad = -1;
    long bad_col = 0;
    while (c != '\n' && c != RD_EOF) {
        if (c < RD_EOF)
            return c == RD_NOMEM ? TG_ERR_NOMEM : TG_ERR_FORMAT;
        if (c == '\r' && (rd_src_peek(s) == '\n' || rd_src_peek(s) == RD_EOF)) {
            c = rd_src_get(s);
            continue;
        }
        if (c < 32 && c != '\t' && bad < 0) {
            bad = c;
            bad_col = s->col - 1;
        }
        if (put(r, (char)c))
            return TG_ERR_NOMEM;
        c = rd_src_get(s);
    }
    if (put(r, '\0'))
        return TG_ERR_NOMEM;
    r->end_line = s->line;
    if (r->overlong)
        return overlong_error(s, r);
    if (bad >= 0)
        return tg_error(TG_ERR_FORMAT,
                        "%s:%ld:%ld: binary data (byte 0x%02x); is this a text sequence file?",
                        s->path, r->line, bad_col, bad);
    return 1;
}
