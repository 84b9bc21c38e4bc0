/* Internal to the rd readers: a buffered byte source over zlib with line
 * and column tracking, and an RFC 4180 / TSV row tokenizer. */
#ifndef ABLM_RD_TEXT_H
#define ABLM_RD_TEXT_H

#include <stddef.h>
#include <zlib.h>

#include "reader.h"

#define RD_EOF (-1)
#define RD_FAIL (-2)
#define RD_NOMEM (-3)

typedef struct {
    gzFile gz;
    const char *path;
    unsigned char *buf;
    size_t len, pos;
    char *pend; /* bytes to re-read before buf (resync after a bad row) */
    size_t pend_len, pend_pos;
    int unget;  /* one pushed-back byte, or RD_EOF for none */
    int eof;
    int checked_gz;
    int failed; /* a read or gzip error happened: nothing more to read */
    long line, col; /* position of the next byte (1-based) */
} rd_src;

/* Grows the array *pp (elements of elem bytes, capacity *cap) to hold at
 * least need elements, doubling from 256. Returns TG_OK or TG_ERR_NOMEM. */
int rd_grow(void *pp, size_t *cap, size_t need, size_t elem, const char *what);

/* Opens path through gzopen. Returns a status (message names the file). */
int rd_src_open(rd_src *s, const char *path);
void rd_src_close(rd_src *s);
/* Next byte, RD_EOF at the end, RD_FAIL on a read/gzip error (message set). */
int rd_src_get(rd_src *s);
/* Peeks at the next byte without consuming it. */
int rd_src_peek(rd_src *s);
/* Ensures at least some bytes are buffered and returns a pointer to them
 * (for format detection); *n gets the count (0 for an empty file). */
int rd_src_head(rd_src *s, const unsigned char **p, size_t *n);
/* Makes the source re-read bytes (after a bad row), starting at line. */
int rd_src_push(rd_src *s, const char *bytes, size_t n, long line);

typedef struct {
    char *buf;      /* cells, each NUL-terminated */
    size_t len, cap;
    size_t *off;    /* cell offsets into buf */
    int n, cap_f;
    char *raw;      /* raw bytes of the row (quoting mode only) */
    size_t raw_len, raw_cap;
    long line;      /* line where the row starts */
    long end_line;  /* line where it ends */
    /* set when the last read failed on an unterminated quote */
    int unterminated;
    /* more than RD_MAX_LINE bytes: the rest of the row was not stored (the
     * read returns an error); raw_over: raw was cut the same way */
    int overlong, raw_over;
} rd_row;

/* Reads one row split at delim (',' or '\t'); quoting enables RFC 4180
 * double quotes. Returns 1, 0 at EOF (no bytes), or a status. Rows ending
 * with EOF without a newline are fine; \r\n and \n both end rows. A NUL or
 * other control byte is an error ("binary data"), and so is a row of more
 * than RD_MAX_LINE bytes (read to its end, not stored). */
int rd_row_read(rd_src *s, char delim, int quoting, rd_row *row);
static inline const char *rd_cell(const rd_row *r, int i) { return r->buf + r->off[i]; }
/* Reads one line as a single cell (no splitting, no quoting). Returns 1, 0
 * at EOF, or a status; the whole line is consumed even when it holds
 * binary bytes or more than RD_MAX_LINE bytes (errors). */
int rd_line_read(rd_src *s, rd_row *row);
void rd_row_free(rd_row *row);

#endif
