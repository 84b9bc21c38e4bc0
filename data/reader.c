/* Format detection, column resolution, records and filters for the rd
 * readers. */
#include "reader.h"

#include "rd_text.h"
#include "tg.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A column of the chosen chain: index, or -1; nt = nucleotides to translate;
 * trim = drop the first and last residue (junction -> CDR3). */
typedef struct {
    int idx, nt, trim;
} col_ref;

struct rd_reader {
    rd_src src;
    rd_opts o;
    rd_format fmt;
    char *path;
    const char *base;
    cJSON *meta;
    int paired;
    char delim;
    int quoting;
    int ncols;
    char **header;
    col_ref seq, mate;
    col_ref cdr3[4]; /* CDR3 sources in order of preference */
    int n_cdr3;
    int c_prod, c_vcall, c_locus, c_id;
    int short_pair;        /* paired table with columns heavy, light (id, locus, fwr1, ...) */
    int c_mid, c_mlocus, c_mvcall; /* the mate's id, locus, v_call (-1: none) */
    col_ref rgn[7];        /* the light chain's region cells (idx -1: none) */
    int pair_lines;        /* plain lines HEAVY<sep>LIGHT */
    rd_row row;
    char *fasta_header; /* pending '>' line (FASTA) */
    long fasta_line;
    char *sbuf, *cbuf, *mbuf, *id;
    char vloc[4];       /* this row's locus, IMGT form */
    char mloc[4];       /* the mate's locus */
    char *rbuf[7], *mid;
    size_t rbuf_cap[7], mid_cap;
    char want_locus[4]; /* --locus, IMGT form */
    size_t sbuf_cap, cbuf_cap, mbuf_cap, id_cap;
    rd_stats st;
};

void rd_opts_default(rd_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = RD_FMT_AUTO;
    o->chain = RD_CHAIN_HEAVY;
    o->on_error = RD_ON_ERROR_FAIL;
}

static const char *FMT_NAMES[] = {"auto", "oas", "csv", "airr", "fasta", "plain"};

const char *rd_format_name(rd_format f) { return FMT_NAMES[f]; }

int rd_format_parse(const char *name, rd_format *f)
{
    for (int i = 0; i < 6; i++)
        if (!strcasecmp(name, FMT_NAMES[i])) {
            *f = (rd_format)i;
            return 0;
        }
    return -1;
}

rd_format rd_format_of(const rd_reader *r) { return r->fmt; }
int rd_is_paired(const rd_reader *r) { return r->paired; }
const cJSON *rd_metadata(const rd_reader *r) { return r->meta; }
const rd_stats *rd_get_stats(const rd_reader *r) { return &r->st; }

void rd_stats_note(rd_stats *s, const char *msg)
{
    if (s->n_msgs < RD_MAX_MSGS)
        snprintf(s->msgs[s->n_msgs++], sizeof s->msgs[0], "%s", msg);
}

void rd_stats_add(rd_stats *a, const rd_stats *b)
{
    a->rows += b->rows;
    a->records += b->records;
    a->skipped_malformed += b->skipped_malformed;
    a->skipped_lines += b->skipped_lines;
    a->filtered_empty += b->filtered_empty;
    a->filtered_locus += b->filtered_locus;
    a->filtered_productive += b->filtered_productive;
    a->filtered_stop += b->filtered_stop;
    a->filtered_nonstandard += b->filtered_nonstandard;
    a->filtered_short += b->filtered_short;
    a->filtered_long += b->filtered_long;
    a->unknown_locus += b->unknown_locus;
    for (int i = 0; i < b->n_msgs; i++)
        rd_stats_note(a, b->msgs[i]);
}

void rd_stats_to_json(const rd_stats *s, cJSON *o)
{
    cJSON_AddNumberToObject(o, "rows_read", (double)s->rows);
    cJSON_AddNumberToObject(o, "records_kept", (double)s->records);
    cJSON_AddNumberToObject(o, "malformed_rows_skipped", (double)s->skipped_malformed);
    cJSON_AddNumberToObject(o, "lines_in_skipped_rows", (double)s->skipped_lines);
    cJSON *f = cJSON_AddObjectToObject(o, "filtered");
    cJSON_AddNumberToObject(f, "empty_sequence", (double)s->filtered_empty);
    cJSON_AddNumberToObject(f, "locus", (double)s->filtered_locus);
    cJSON_AddNumberToObject(f, "not_productive", (double)s->filtered_productive);
    cJSON_AddNumberToObject(f, "stop_codon", (double)s->filtered_stop);
    cJSON_AddNumberToObject(f, "non_standard_residue", (double)s->filtered_nonstandard);
    cJSON_AddNumberToObject(f, "too_short", (double)s->filtered_short);
    cJSON_AddNumberToObject(f, "too_long", (double)s->filtered_long);
    cJSON_AddNumberToObject(o, "kept_with_unknown_locus", (double)s->unknown_locus);
    cJSON *m = cJSON_AddArrayToObject(o, "messages");
    for (int i = 0; i < s->n_msgs; i++)
        cJSON_AddItemToArray(m, cJSON_CreateString(s->msgs[i]));
}

/* ---- opening ------------------------------------------------------------ */

static int grow_str(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return TG_OK;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    char *q = tg_realloc(*p, nc, "sequence buffer");
    if (!q)
        return TG_ERR_NOMEM;
    *p = q;
    *cap = nc;
    return TG_OK;
}

/* Locus in IMGT form: OAS writes H/K/L, AIRR IGH/IGK/IGL. "" if unknown. */
static void norm_locus(const char *in, char out[4])
{
    out[0] = '\0';
    if ((in[0] == 'H' || in[0] == 'K' || in[0] == 'L') && !in[1])
        snprintf(out, 4, "IG%c", in[0]);
    else if (strlen(in) == 3)
        for (int i = 0; i < 4; i++)
            out[i] = (char)toupper((unsigned char)in[i]);
}

static int is_seq_char(int c) { return isalpha(c) || c == '*' || c == '-' || c == '.'; }

/* 1 if p[0..n) reads as one sequence line: residue characters, "[MASK]",
 * and blanks only between single residues (ProtBERT style "E V Q L"); a
 * line of blank-separated words ("heavy light") is not one. */
static int seq_line(const unsigned char *p, size_t n)
{
    int words = 0, long_word = 0;
    size_t i = 0;
    while (i < n) {
        if (p[i] == ' ' || p[i] == '\r') {
            i++;
            continue;
        }
        size_t w = 0; /* residues in this word */
        while (i < n && p[i] != ' ' && p[i] != '\r') {
            if (n - i >= 6 && !memcmp(p + i, "[MASK]", 6))
                i += 6;
            else if (is_seq_char(p[i]))
                i++;
            else
                return 0;
            w++;
        }
        words++;
        long_word |= w > 1;
    }
    return words == 1 || !long_word;
}

/* 1 if the first non-blank line of p[0..n) contains str. */
static int first_line_has(const unsigned char *p, size_t n, const char *str)
{
    size_t i = 0, k = strlen(str);
    while (i < n && (p[i] == ' ' || p[i] == '\r' || p[i] == '\n'))
        i++;
    for (; i + k <= n && p[i] != '\n'; i++)
        if (!memcmp(p + i, str, k))
            return 1;
    return 0;
}

static rd_format detect(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i >= n)
        return RD_FMT_AUTO;
    if (p[i] == '>')
        return RD_FMT_FASTA;
    if (p[i] == '{' || (p[i] == '"' && i + 1 < n && p[i + 1] == '{'))
        return RD_FMT_OAS;
    size_t e = i;
    int tab = 0, comma = 0;
    for (; e < n && p[e] != '\n'; e++) {
        tab |= p[e] == '\t';
        comma |= p[e] == ',';
    }
    if (tab)
        return RD_FMT_AIRR;
    /* a one-column table: its header still names a sequence column */
    if (comma || (e - i >= 8 && !memcmp(p + i, "sequence", 8)))
        return RD_FMT_CSV;
    return seq_line(p + i, e - i) ? RD_FMT_PLAIN : RD_FMT_AUTO;
}

static int find_col(const rd_reader *r, const char *name, const char *sfx)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", name, sfx);
    for (int i = 0; i < r->ncols; i++)
        if (!strcmp(r->header[i], buf))
            return i;
    return -1;
}

/* Sequence column of one chain: amino acids, else nucleotides. */
static col_ref seq_col(const rd_reader *r, const char *sfx)
{
    col_ref c = {find_col(r, "sequence_alignment_aa", sfx), 0, 0};
    if (c.idx < 0)
        c = (col_ref){find_col(r, "sequence_alignment", sfx), 1, 0};
    return c;
}

/* CDR3 sources present in the header, best first: cdr3_aa, junction_aa
 * (trimmed), cdr3 (translated), junction (translated, trimmed). A row uses
 * the first non-empty one. */
static void cdr3_cols(rd_reader *r, const char *sfx)
{
    static const struct {
        const char *name;
        int nt, trim;
    } cand[] = {{"cdr3_aa", 0, 0}, {"junction_aa", 0, 1}, {"cdr3", 1, 0}, {"junction", 1, 1}};
    r->n_cdr3 = 0;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
        int idx = find_col(r, cand[i].name, sfx);
        if (idx >= 0)
            r->cdr3[r->n_cdr3++] = (col_ref){idx, cand[i].nt, cand[i].trim};
    }
}

/* The light chain's region columns, in pr_pair order (fwr1_aa_light, ...). */
static const char *const REGION_NAMES[7] = {"fwr1", "cdr1", "fwr2", "cdr2",
                                            "fwr3", "cdr3", "fwr4"};

/* Header of a short paired table: heavy, light (amino acids), id (or
 * sequence_id) for the pair, locus and fwr1..fwr4 for the light chain. */
static int short_pair_header(rd_reader *r)
{
    if (r->o.chain == RD_CHAIN_ANY)
        return tg_error(TG_ERR_ARG,
                        "%s: paired data: choose the heavy or the light chain, not any", r->path);
    if (r->o.productive_only)
        return tg_error(TG_ERR_ARG, "%s: no productive column, so --productive-only cannot be "
                        "applied", r->path);
    int light = r->o.chain == RD_CHAIN_LIGHT;
    r->paired = r->short_pair = 1;
    r->seq = (col_ref){find_col(r, light ? "light" : "heavy", ""), 0, 0};
    r->mate = (col_ref){find_col(r, light ? "heavy" : "light", ""), 0, 0};
    r->n_cdr3 = 0;
    r->c_prod = r->c_vcall = -1;
    r->c_id = find_col(r, "id", "");
    if (r->c_id < 0)
        r->c_id = find_col(r, "sequence_id", "");
    r->c_mid = r->c_id;
    int c_loc = find_col(r, "locus", "");
    r->c_locus = light ? c_loc : -1;
    r->c_mlocus = light ? -1 : c_loc;
    for (int k = 0; k < 7; k++)
        r->rgn[k] = (col_ref){find_col(r, REGION_NAMES[k], ""), 0, 0};
    return TG_OK;
}

static int read_header(rd_reader *r)
{
    int st = rd_row_read(&r->src, r->delim, r->quoting, &r->row);
    if (st == 0)
        return tg_error(TG_ERR_FORMAT, "%s:%ld: missing header line", r->path, r->src.line);
    if (st < 0)
        return st;
    r->ncols = r->row.n;
    r->header = tg_calloc((size_t)r->ncols, sizeof(char *), "header");
    if (!r->header)
        return TG_ERR_NOMEM;
    for (int i = 0; i < r->ncols; i++) {
        const char *h = rd_cell(&r->row, i);
        size_t n = strlen(h);
        r->header[i] = tg_malloc(n + 1, "header");
        if (!r->header[i])
            return TG_ERR_NOMEM;
        memcpy(r->header[i], h, n + 1);
    }
    long hline = r->row.line;
    r->paired = find_col(r, "sequence_alignment_aa", "_heavy") >= 0 ||
                find_col(r, "sequence_alignment", "_heavy") >= 0;
    r->c_mid = r->c_mlocus = r->c_mvcall = -1;
    for (int k = 0; k < 7; k++)
        r->rgn[k] = (col_ref){-1, 0, 0};
    if (!r->paired && find_col(r, "heavy", "") >= 0 && find_col(r, "light", "") >= 0)
        return short_pair_header(r);
    const char *sfx = "", *other = "";
    if (r->paired) {
        if (r->o.chain == RD_CHAIN_ANY)
            return tg_error(TG_ERR_ARG,
                            "%s: paired data: choose the heavy or the light chain, not any",
                            r->path);
        sfx = r->o.chain == RD_CHAIN_LIGHT ? "_light" : "_heavy";
        other = r->o.chain == RD_CHAIN_LIGHT ? "_heavy" : "_light";
    }
    r->seq = seq_col(r, sfx);
    if (r->seq.idx < 0)
        return tg_error(TG_ERR_FORMAT,
                        "%s:%ld: header has no column sequence_alignment_aa%s or "
                        "sequence_alignment%s",
                        r->path, hline, sfx, sfx);
    cdr3_cols(r, sfx);
    r->mate = r->paired ? seq_col(r, other) : (col_ref){-1, 0, 0};
    r->c_prod = find_col(r, "productive", sfx);
    r->c_vcall = find_col(r, "v_call", sfx);
    r->c_locus = find_col(r, "locus", sfx);
    r->c_id = find_col(r, "sequence_id", sfx);
    if (r->paired) {
        r->c_mid = find_col(r, "sequence_id", other);
        r->c_mlocus = find_col(r, "locus", other);
        r->c_mvcall = find_col(r, "v_call", other);
        for (int k = 0; k < 7; k++)
            r->rgn[k] = (col_ref){find_col(r, REGION_NAMES[k], "_aa_light"), 0, 0};
    }
    if (r->o.productive_only && r->c_prod < 0)
        return tg_error(TG_ERR_ARG, "%s:%ld: no productive%s column, so --productive-only "
                        "cannot be applied", r->path, hline, sfx);
    return TG_OK;
}

int rd_open(rd_reader **out, const char *path, const rd_opts *o)
{
    *out = NULL;
    rd_reader *r = tg_calloc(1, sizeof *r, "reader");
    if (!r)
        return TG_ERR_NOMEM;
    if (o)
        r->o = *o;
    else
        rd_opts_default(&r->o);
    size_t pl = strlen(path);
    r->path = tg_malloc(pl + 1, "path");
    if (!r->path) {
        tg_free(r);
        return TG_ERR_NOMEM;
    }
    memcpy(r->path, path, pl + 1);
    const char *slash = strrchr(r->path, '/');
    r->base = slash ? slash + 1 : r->path;
    if (r->o.locus)
        norm_locus(r->o.locus, r->want_locus);
    int st = rd_src_open(&r->src, r->path);
    if (st) {
        rd_close(r);
        return st;
    }
    const unsigned char *head;
    size_t n;
    st = rd_src_head(&r->src, &head, &n);
    if (!st && n == 0)
        st = tg_error(TG_ERR_FORMAT, "%s: empty file", path);
    if (!st && memchr(head, 0, n)) {
        const unsigned char *z = memchr(head, 0, n);
        long line = 1, col = 1;
        for (const unsigned char *q = head; q < z; q++, col++)
            if (*q == '\n')
                line++, col = 0;
        st = tg_error(TG_ERR_FORMAT,
                      "%s:%ld:%ld: binary data (byte 0x00); is this a text sequence file?", path,
                      line, col);
    }
    r->fmt = r->o.format;
    if (!st && r->o.pair_sep && r->o.pair_sep[0] && (r->fmt == RD_FMT_AUTO || r->fmt == RD_FMT_PLAIN) &&
        first_line_has(head, n, r->o.pair_sep)) {
        if (r->o.chain == RD_CHAIN_ANY)
            st = tg_error(TG_ERR_ARG, "%s: paired lines: choose the heavy or the light chain, "
                          "not any", path);
        r->fmt = RD_FMT_PLAIN;
        r->pair_lines = r->paired = 1;
    }
    if (!st && r->fmt == RD_FMT_AUTO) {
        r->fmt = detect(head, n);
        if (r->fmt == RD_FMT_AUTO)
            st = tg_error(TG_ERR_FORMAT,
                          "%s:1: cannot tell the format: line 1 is not a FASTA header, an OAS "
                          "metadata line, a CSV/TSV header or a sequence",
                          path);
    }
    if (!st && (r->fmt == RD_FMT_FASTA || r->fmt == RD_FMT_PLAIN)) {
        if (r->o.productive_only)
            st = tg_error(TG_ERR_ARG, "%s: %s file has no productive column, so "
                          "--productive-only cannot be applied", path, rd_format_name(r->fmt));
        else if (r->o.locus)
            st = tg_error(TG_ERR_ARG, "%s: %s file has no locus column, so --locus cannot be "
                          "applied", path, rd_format_name(r->fmt));
    }
    if (!st && r->fmt == RD_FMT_OAS) {
        st = rd_row_read(&r->src, ',', 1, &r->row);
        if (st == 1) {
            if (r->row.n != 1)
                st = tg_error(TG_ERR_FORMAT,
                              "%s:1: metadata line has %d cells, expected one JSON cell", path,
                              r->row.n);
            else if (!(r->meta = cJSON_Parse(rd_cell(&r->row, 0))))
                st = tg_error(TG_ERR_FORMAT, "%s:1: metadata line is not valid JSON", path);
            else
                st = TG_OK;
        }
    }
    if (!st && (r->fmt == RD_FMT_OAS || r->fmt == RD_FMT_CSV || r->fmt == RD_FMT_AIRR)) {
        r->delim = r->fmt == RD_FMT_AIRR ? '\t' : ',';
        r->quoting = r->fmt != RD_FMT_AIRR;
        st = read_header(r);
    }
    if (st) {
        rd_close(r);
        return st;
    }
    *out = r;
    return TG_OK;
}

void rd_close(rd_reader *r)
{
    if (!r)
        return;
    rd_src_close(&r->src);
    rd_row_free(&r->row);
    if (r->meta)
        cJSON_Delete(r->meta);
    for (int i = 0; r->header && i < r->ncols; i++)
        tg_free(r->header[i]);
    tg_free(r->header);
    tg_free(r->fasta_header);
    tg_free(r->sbuf);
    tg_free(r->cbuf);
    tg_free(r->mbuf);
    tg_free(r->id);
    tg_free(r->mid);
    for (int k = 0; k < 7; k++)
        tg_free(r->rbuf[k]);
    tg_free(r->path);
    tg_free(r);
}

/* ---- records ------------------------------------------------------------ */

/* What a bad byte of a cell is, for messages. */
static void describe_byte(unsigned char c, char *buf, size_t n)
{
    if (c == ' ')
        snprintf(buf, n, "a blank");
    else if (c > 32 && c < 127)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
}

/* Checks a residue cell (see the header comment) and copies it into *dst,
 * uppercase: amino acids with '.' dropped and '-' as X, or nucleotides
 * translated. trim drops the first and last residue. Returns the length, or
 * an error status naming file, line, column and character. */
static int take(rd_reader *r, const char *cell, col_ref c, long line, char **dst, size_t *cap)
{
    size_t n = strlen(cell);
    const char *col = r->header[c.idx];
    if (n > RD_MAX_SEQ)
        return tg_error(TG_ERR_FORMAT, "%s:%ld: column %s: %zu characters, more than a "
                        "sequence may have (%d)", r->path, line, col, n, RD_MAX_SEQ);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)cell[i];
        if (isalpha(ch) || ch == '.' || ch == '-' || (ch == '*' && !c.nt))
            continue;
        char what[32];
        describe_byte(ch, what, sizeof what);
        return tg_error(TG_ERR_FORMAT, "%s:%ld: column %s, character %zu: %s is not %s",
                        r->path, line, col, i + 1, what,
                        c.nt ? "a nucleotide letter, '.' or '-'"
                             : "an amino-acid letter, '*', '.' or '-'");
    }
    if (grow_str(dst, cap, n + 1))
        return TG_ERR_NOMEM;
    char *d = *dst;
    int m = 0;
    if (c.nt) {
        m = rd_translate(cell, (int)n, d);
    } else {
        for (size_t i = 0; i < n; i++)
            if (cell[i] != '.')
                d[m++] = cell[i] == '-' ? 'X' : (char)toupper((unsigned char)cell[i]);
        d[m] = '\0';
    }
    if (c.trim) {
        if (m < 2) {
            m = 0;
        } else {
            memmove(d, d + 1, (size_t)m - 2);
            m -= 2;
        }
        d[m] = '\0';
    }
    return m;
}

static int parse_bool(const char *s)
{
    if (!strcasecmp(s, "T") || !strcasecmp(s, "TRUE") || !strcmp(s, "1"))
        return 1;
    if (!strcasecmp(s, "F") || !strcasecmp(s, "FALSE") || !strcmp(s, "0"))
        return 0;
    return -1;
}

static int is_heavy_locus(const char *l)
{
    return !strcmp(l, "IGH") || !strcmp(l, "TRB") || !strcmp(l, "TRD");
}

/* Residues of s[0..n): a "[MASK]" counts as one. */
static int residues(const char *s, int n)
{
    int k = n;
    for (const char *p = s; (p = memchr(p, '[', (size_t)(s + n - p))); p++)
        k -= 5;
    return k;
}

/* Filters on the sequence itself; 1 keep, 0 dropped (counted). */
static int seq_filters(rd_reader *r, const char *s, int n)
{
    int len = r->o.allow_mask ? residues(s, n) : n;
    if (len == 0) {
        r->st.filtered_empty++;
        return 0;
    }
    if (r->o.drop_stop && memchr(s, '*', (size_t)n)) {
        r->st.filtered_stop++;
        return 0;
    }
    if (r->o.drop_nonstandard) {
        for (int i = 0; i < n; i++)
            if (!strchr("ACDEFGHIKLMNPQRSTVWY", s[i])) {
                if (s[i] == '*')
                    r->st.filtered_stop++;
                else
                    r->st.filtered_nonstandard++;
                return 0;
            }
    }
    if (r->o.min_length > 0 && len < r->o.min_length) {
        r->st.filtered_short++;
        return 0;
    }
    if (r->o.max_length > 0 && len > r->o.max_length) {
        r->st.filtered_long++;
        return 0;
    }
    return 1;
}

static int set_id(rd_reader *r, const char *s, size_t n)
{
    if (grow_str(&r->id, &r->id_cap, n + 1))
        return TG_ERR_NOMEM;
    memcpy(r->id, s, n);
    r->id[n] = '\0';
    return TG_OK;
}

static int set_line_id(rd_reader *r, long line)
{
    char buf[64];
    size_t bl = strlen(r->base);
    int k = snprintf(buf, sizeof buf, ":%ld", line);
    if (grow_str(&r->id, &r->id_cap, bl + (size_t)k + 1))
        return TG_ERR_NOMEM;
    memcpy(r->id, r->base, bl);
    memcpy(r->id + bl, buf, (size_t)k + 1);
    return TG_OK;
}

/* Checks an id: at most RD_MAX_ID bytes, one word of printable bytes (ids
 * are written to TSV and FASTA files). `where` names it in the message
 * ("column sequence_id", "FASTA name"). Returns TG_OK or TG_ERR_FORMAT. */
static int check_id(const rd_reader *r, long line, const char *where, const char *s, size_t n)
{
    if (n > RD_MAX_ID)
        return tg_error(TG_ERR_FORMAT, "%s:%ld: %s: an id of %zu bytes, more than %d", r->path,
                        line, where, n, RD_MAX_ID);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 127) {
            char what[32];
            describe_byte((unsigned char)s[i], what, sizeof what);
            return tg_error(TG_ERR_FORMAT, "%s:%ld: %s, character %zu: %s in the id "
                            "'%.40s' (ids are one word: they are written to TSV and FASTA "
                            "files)", r->path, line, where, i + 1, what, s);
        }
    return TG_OK;
}

/* The id of a table row: its sequence_id cell, checked (check_id), or
 * FILE:LINE when the file has no such column or the cell is empty.
 * Returns a status. */
static int set_row_id(rd_reader *r, const rd_row *w)
{
    const char *cell = r->c_id >= 0 ? rd_cell(w, r->c_id) : "";
    size_t n = strlen(cell);
    if (!n)
        return set_line_id(r, w->line);
    char where[300];
    snprintf(where, sizeof where, "column %s", r->header[r->c_id]);
    int st = check_id(r, w->line, where, cell, n);
    return st ? st : set_id(r, cell, n);
}

/* Paired tables: the mate's id (checked like an id), its locus (locus
 * column, else the v_call prefix) and the light chain's region cells
 * (checked like sequence cells). Returns a status. */
static int mate_fields(rd_reader *r, const rd_row *w, rd_record *rec)
{
    const char *cell = r->c_mid >= 0 ? rd_cell(w, r->c_mid) : "";
    size_t n = strlen(cell);
    if (n) {
        char where[300];
        snprintf(where, sizeof where, "column %s", r->header[r->c_mid]);
        int st = check_id(r, w->line, where, cell, n);
        if (st)
            return st;
        if (grow_str(&r->mid, &r->mid_cap, n + 1))
            return TG_ERR_NOMEM;
        memcpy(r->mid, cell, n + 1);
    }
    rec->mate_id = n ? r->mid : "";
    norm_locus(r->c_mlocus >= 0 ? rd_cell(w, r->c_mlocus) : "", r->mloc);
    const char *vcall = r->c_mvcall >= 0 ? rd_cell(w, r->c_mvcall) : "";
    if (!r->mloc[0] && !strncmp(vcall, "IG", 2) && strlen(vcall) >= 3) {
        memcpy(r->mloc, vcall, 3);
        r->mloc[3] = '\0';
    }
    rec->mate_locus = r->mloc;
    for (int k = 0; k < 7; k++) {
        if (r->rgn[k].idx < 0)
            continue;
        int m = take(r, rd_cell(w, r->rgn[k].idx), r->rgn[k], w->line, &r->rbuf[k],
                     &r->rbuf_cap[k]);
        if (m < 0)
            return m;
        rec->light_region[k] = r->rbuf[k];
    }
    return TG_OK;
}

/* A malformed row: error (fail) or counted and skipped (skip: returns 0). */
static int bad_row(rd_reader *r, int st, long lines)
{
    if (st == TG_ERR_NOMEM || r->o.on_error != RD_ON_ERROR_SKIP || r->src.failed)
        return st;
    r->st.skipped_malformed++;
    r->st.skipped_lines += lines > 0 ? (size_t)lines : 1;
    rd_stats_note(&r->st, tg_last_error());
    return 0;
}

static int next_table(rd_reader *r, rd_record *rec)
{
    for (;;) {
        int st = rd_row_read(&r->src, r->delim, r->quoting, &r->row);
        if (st == 0)
            return 0;
        if (st < 0) {
            if (r->row.unterminated && r->row.raw_over)
                return st; /* too much after the quote to re-read it */
            if (r->row.unterminated && r->o.on_error == RD_ON_ERROR_SKIP && !r->src.failed) {
                /* Re-read everything after the line where the bad row began. */
                char *nl = memchr(r->row.raw, '\n', r->row.raw_len);
                if (nl) {
                    size_t skip = (size_t)(nl + 1 - r->row.raw);
                    int ps = rd_src_push(&r->src, nl + 1, r->row.raw_len - skip, r->row.line + 1);
                    if (ps)
                        return ps;
                }
                r->st.rows++;
                if ((st = bad_row(r, st, 1)))
                    return st;
                continue;
            }
            r->st.rows++;
            if ((st = bad_row(r, st, r->row.end_line - r->row.line + 1)))
                return st;
            continue;
        }
        if (r->row.n == 1 && rd_cell(&r->row, 0)[0] == '\0')
            continue; /* blank line: not a row */
        r->st.rows++;
        if (r->row.n != r->ncols) {
            st = tg_error(TG_ERR_FORMAT,
                          "%s:%ld: row has %d fields, header has %d (use --on-error skip to "
                          "skip such rows)",
                          r->path, r->row.line, r->row.n, r->ncols);
            if ((st = bad_row(r, st, r->row.end_line - r->row.line + 1)))
                return st;
            continue;
        }
        const rd_row *w = &r->row;
        const char *locus = r->vloc;
        norm_locus(r->c_locus >= 0 ? rd_cell(w, r->c_locus) : "", r->vloc);
        const char *vcall = r->c_vcall >= 0 ? rd_cell(w, r->c_vcall) : "";
        if (!locus[0] && (!strncmp(vcall, "IG", 2) || !strncmp(vcall, "TR", 2)) &&
            strlen(vcall) >= 3) {
            memcpy(r->vloc, vcall, 3);
            r->vloc[3] = '\0';
        }
        if (!r->paired && r->o.chain != RD_CHAIN_ANY) {
            if (!locus[0]) {
                r->st.unknown_locus++;
            } else if (is_heavy_locus(locus) != (r->o.chain == RD_CHAIN_HEAVY)) {
                r->st.filtered_locus++;
                continue;
            }
        }
        if (r->o.locus && strcmp(locus, r->want_locus)) {
            r->st.filtered_locus++;
            continue;
        }
        int prod = r->c_prod >= 0 ? parse_bool(rd_cell(w, r->c_prod)) : -1;
        if (r->o.productive_only && prod != 1) {
            r->st.filtered_productive++;
            continue;
        }
        long lines = w->end_line - w->line + 1;
        int n = take(r, rd_cell(w, r->seq.idx), r->seq, w->line, &r->sbuf, &r->sbuf_cap);
        if (n < 0) {
            if ((st = bad_row(r, n, lines)))
                return st;
            continue;
        }
        if (!seq_filters(r, r->sbuf, n))
            continue;
        memset(rec, 0, sizeof *rec);
        rec->seq = r->sbuf;
        rec->len = n;
        st = TG_OK;
        for (int k = 0; k < r->n_cdr3 && !st; k++) {
            const char *cell = rd_cell(w, r->cdr3[k].idx);
            if (!cell[0] && k + 1 < r->n_cdr3)
                continue;
            int m = take(r, cell, r->cdr3[k], w->line, &r->cbuf, &r->cbuf_cap);
            if (m < 0) {
                st = m;
                break;
            }
            rec->cdr3 = r->cbuf;
            rec->cdr3_len = m;
            break;
        }
        if (!st && r->mate.idx >= 0) {
            int m = take(r, rd_cell(w, r->mate.idx), r->mate, w->line, &r->mbuf, &r->mbuf_cap);
            if (m < 0) {
                st = m;
            } else {
                rec->mate = r->mbuf;
                rec->mate_len = m;
            }
        }
        if (!st)
            st = set_row_id(r, w);
        if (!st && r->paired)
            st = mate_fields(r, w, rec);
        if (st) {
            if ((st = bad_row(r, st, lines)))
                return st;
            continue;
        }
        rec->id = r->id;
        rec->file = r->base;
        rec->line = w->line;
        if (!rec->mate_id)
            rec->mate_id = rec->mate_locus = "";
        rec->productive = prod;
        rec->v_call = vcall;
        rec->locus = locus;
        r->st.records++;
        return 1;
    }
}

/* Appends s[0..n) (column col0 + 1 of its line) to *buf (length *len),
 * checking its characters (unless o.keep_text, blanks and '.' are dropped,
 * '-' becomes X and letters are upper-cased, as in table cells; "[MASK]"
 * is kept when o.allow_mask). Returns TG_OK or
 * a format error naming the line and column. */
static int append_seq(rd_reader *r, const char *s, size_t n, long line, size_t col0,
                      char **buf, size_t *cap, int *len)
{
    if (grow_str(buf, cap, (size_t)*len + n + 1))
        return TG_ERR_NOMEM;
    char *b = *buf;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r') {
            if (r->o.keep_text && c != '\r')
                b[(*len)++] = ' ';
            continue;
        }
        if (c == '[' && n - i >= 6 && !strncmp(s + i, "[MASK]", 6)) {
            if (!r->o.allow_mask)
                return tg_error(TG_ERR_FORMAT, "%s:%ld:%zu: [MASK] in a sequence: only the "
                                "inference commands (embed, logits, fill-mask) take masks",
                                r->path, line, col0 + i + 1);
            memcpy(b + *len, "[MASK]", 6);
            *len += 6;
            i += 5;
            continue;
        }
        if (!is_seq_char(c))
            return tg_error(TG_ERR_FORMAT,
                            "%s:%ld:%zu: unexpected character '%c' in a sequence", r->path, line,
                            col0 + i + 1, c >= 32 && c < 127 ? c : '?');
        if (r->o.keep_text)
            b[(*len)++] = (char)c;
        else if (c != '.') /* as in table cells: IMGT gap dots dropped, '-' is X */
            b[(*len)++] = c == '-' ? 'X' : (char)toupper(c);
    }
    b[*len] = '\0';
    if (*len > RD_MAX_SEQ)
        return tg_error(TG_ERR_FORMAT, "%s:%ld: sequence longer than %d characters (the "
                        "reader's limit)", r->path, line, RD_MAX_SEQ);
    return TG_OK;
}

/* Appends a sequence line (append_seq on the whole line into sbuf). */
static int append_seq_line(rd_reader *r, const char *s, long line, int *len)
{
    return append_seq(r, s, strlen(s), line, 0, &r->sbuf, &r->sbuf_cap, len);
}

/* Fills rec from the sequence buffer (FASTA/plain: no CDR3, locus, ...). */
static int emit_simple(rd_reader *r, rd_record *rec, long line, int n)
{
    memset(rec, 0, sizeof *rec);
    rec->id = r->id;
    rec->file = r->base;
    rec->line = line;
    rec->seq = r->sbuf;
    rec->len = n;
    rec->productive = -1;
    rec->v_call = rec->locus = rec->mate_id = rec->mate_locus = "";
    r->st.records++;
    return 1;
}

/* A line HEAVY<sep>LIGHT: the chosen chain's half into sbuf (*n), the
 * other into mbuf (*m), checked as sequence lines. Returns a status. */
static int split_pair_line(rd_reader *r, const char *s, long line, int *n, int *m)
{
    const char *sep = strstr(s, r->o.pair_sep);
    if (!sep)
        return tg_error(TG_ERR_FORMAT, "%s:%ld: no %s between the heavy and the light chain",
                        r->path, line, r->o.pair_sep);
    size_t hn = (size_t)(sep - s), ls = hn + strlen(r->o.pair_sep);
    if (strstr(s + ls, r->o.pair_sep))
        return tg_error(TG_ERR_FORMAT, "%s:%ld: more than one %s on the line", r->path, line,
                        r->o.pair_sep);
    int light = r->o.chain == RD_CHAIN_LIGHT;
    int st = append_seq(r, s, hn, line, 0, light ? &r->mbuf : &r->sbuf,
                        light ? &r->mbuf_cap : &r->sbuf_cap, light ? m : n);
    if (!st)
        st = append_seq(r, s + ls, strlen(s + ls), line, ls, light ? &r->sbuf : &r->mbuf,
                        light ? &r->sbuf_cap : &r->mbuf_cap, light ? n : m);
    return st;
}

static int next_plain(rd_reader *r, rd_record *rec)
{
    for (;;) {
        int st = rd_line_read(&r->src, &r->row);
        if (st == 0)
            return 0;
        long line = r->row.line;
        int n = 0;
        if (st > 0 && !rd_cell(&r->row, 0)[0])
            continue;
        r->st.rows++;
        int m = 0;
        if (st > 0 && r->pair_lines)
            st = split_pair_line(r, rd_cell(&r->row, 0), line, &n, &m);
        else if (st > 0)
            st = append_seq_line(r, rd_cell(&r->row, 0), line, &n);
        if (st < 0) {
            if ((st = bad_row(r, st, 1)))
                return st;
            continue;
        }
        if (!seq_filters(r, r->sbuf, n))
            continue;
        if ((st = set_line_id(r, line)))
            return st;
        emit_simple(r, rec, line, n);
        if (r->pair_lines) {
            rec->mate = r->mbuf;
            rec->mate_len = m;
        }
        return 1;
    }
}

static int next_fasta(rd_reader *r, rd_record *rec)
{
    for (;;) {
        int st;
        if (!r->fasta_header) {
            /* start of file: skip blank lines, then expect '>' */
            do {
                st = rd_line_read(&r->src, &r->row);
            } while (st == 1 && !rd_cell(&r->row, 0)[0]);
            if (st == 0)
                return 0;
            if (st < 0)
                return st;
            if (rd_cell(&r->row, 0)[0] != '>')
                return tg_error(TG_ERR_FORMAT, "%s:%ld:1: expected a '>' header line", r->path,
                                r->row.line);
            size_t hn = strlen(rd_cell(&r->row, 0));
            r->fasta_header = tg_malloc(hn + 1, "FASTA header");
            if (!r->fasta_header)
                return TG_ERR_NOMEM;
            memcpy(r->fasta_header, rd_cell(&r->row, 0), hn + 1);
            r->fasta_line = r->row.line;
        }
        if (!r->fasta_header[0])
            return 0; /* EOF reached after the last record */
        /* id: first word after '>' */
        const char *h = r->fasta_header + 1;
        while (*h == ' ' || *h == '\t')
            h++;
        size_t idn = strcspn(h, " \t");
        int bad = 0;
        st = idn ? check_id(r, r->fasta_line, "FASTA name", h, idn) : TG_OK;
        if (st) { /* a bad name makes the record malformed */
            if (r->o.on_error != RD_ON_ERROR_SKIP)
                return st;
            bad = 1;
            rd_stats_note(&r->st, tg_last_error());
        } else {
            st = idn ? set_id(r, h, idn) : set_line_id(r, r->fasta_line);
            if (st)
                return st;
        }
        long start = r->fasta_line;
        int n = 0;
        for (;;) {
            st = rd_line_read(&r->src, &r->row);
            if (st == 0) {
                r->fasta_header[0] = '\0';
                break;
            }
            if (st == 1 && rd_cell(&r->row, 0)[0] == '>') {
                size_t hn = strlen(rd_cell(&r->row, 0));
                char *nh = tg_realloc(r->fasta_header, hn + 1, "FASTA header");
                if (!nh)
                    return TG_ERR_NOMEM;
                r->fasta_header = nh;
                memcpy(nh, rd_cell(&r->row, 0), hn + 1);
                r->fasta_line = r->row.line;
                break;
            }
            if (st == 1 && !bad)
                st = append_seq_line(r, rd_cell(&r->row, 0), r->row.line, &n);
            if (st < 0) {
                if (st == TG_ERR_NOMEM || r->src.failed)
                    return st;
                if (!bad) {
                    bad = 1;
                    if (r->o.on_error != RD_ON_ERROR_SKIP)
                        return st;
                    rd_stats_note(&r->st, tg_last_error());
                }
            }
        }
        r->st.rows++;
        if (bad) {
            r->st.skipped_malformed++;
            r->st.skipped_lines += (size_t)(r->src.line - start);
            continue;
        }
        if (grow_str(&r->sbuf, &r->sbuf_cap, 1))
            return TG_ERR_NOMEM;
        r->sbuf[n] = '\0';
        if (!seq_filters(r, r->sbuf, n))
            continue;
        return emit_simple(r, rec, start, n);
    }
}

int rd_next(rd_reader *r, rd_record *rec)
{
    switch (r->fmt) {
    case RD_FMT_FASTA: return next_fasta(r, rec);
    case RD_FMT_PLAIN: return next_plain(r, rec);
    default: return next_table(r, rec);
    }
}

/* ---- whole files ---------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
    char *d = tg_malloc(n + 1, "string");
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void rd_free_strings(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        tg_free(v[i]);
    tg_free(v);
}

int rd_read_all(const char *path, const rd_opts *o, char ***ids, char ***seqs, size_t *n_out,
                rd_stats *stats)
{
    *ids = *seqs = NULL;
    *n_out = 0;
    rd_reader *r;
    int st = rd_open(&r, path, o);
    if (st)
        return st;
    size_t n = 0, cap = 0;
    char **I = NULL, **S = NULL;
    rd_record rec;
    while ((st = rd_next(r, &rec)) == 1) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            char **a = tg_realloc(I, nc * sizeof *a, "ids");
            if (!a) {
                st = TG_ERR_NOMEM;
                break;
            }
            I = a;
            char **b = tg_realloc(S, nc * sizeof *b, "sequences");
            if (!b) {
                st = TG_ERR_NOMEM;
                break;
            }
            S = b;
            cap = nc;
        }
        I[n] = dup_n(rec.id, strlen(rec.id));
        S[n] = I[n] ? dup_n(rec.seq, (size_t)rec.len) : NULL;
        if (!S[n]) {
            tg_free(I[n]);
            st = TG_ERR_NOMEM;
            break;
        }
        n++;
    }
    if (stats)
        *stats = r->st;
    rd_close(r);
    if (st < 0) {
        rd_free_strings(I, n);
        rd_free_strings(S, n);
        return st;
    }
    *ids = I;
    *seqs = S;
    *n_out = n;
    return TG_OK;
}
