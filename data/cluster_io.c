/* cluster_io: sequence reading (through data/reader.h) and cluster output. */
#include "cluster_io.h"

#include "reader.h"
#include "tg.h"
#include "afile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(void **p, size_t *cap, size_t need, size_t elem, const char *what)
{
    if (need <= *cap)
        return TG_OK;
    size_t nc = *cap ? *cap : 1024;
    while (nc < need)
        nc *= 2;
    void *q = tg_realloc(*p, nc * elem, what);
    if (!q)
        return TG_ERR_NOMEM;
    *p = q;
    *cap = nc;
    return TG_OK;
}

/* Appends sequence x[0..n) of the last record added to s->ids. */
static int add_seq(cl_seqs *s, const char *x, size_t n)
{
    if (s->n + 2 > s->n_cap) {
        size_t nc = s->n_cap ? 2 * s->n_cap : 1024;
        size_t *a = tg_realloc(s->seq_off, nc * sizeof *a, "sequence offsets");
        if (!a)
            return TG_ERR_NOMEM;
        s->seq_off = a;
        uint32_t *b = tg_realloc(s->rec, nc * sizeof *b, "sequence records");
        if (!b)
            return TG_ERR_NOMEM;
        s->rec = b;
        s->n_cap = nc;
    }
    if (s->n == 0)
        s->seq_off[0] = 0;
    size_t su = s->seq_off[s->n];
    if (grow((void **)&s->seq, &s->seq_cap, su + n + 1, 1, "sequences"))
        return TG_ERR_NOMEM;
    memcpy(s->seq + su, x, n);
    s->seq[su + n] = 0;
    s->seq_off[s->n + 1] = su + n + 1;
    s->rec[s->n] = (uint32_t)(s->ids.n - 1);
    s->n++;
    return TG_OK;
}

int cl_column_parse(const char *column, int *use_cdr3, int *chain)
{
    static const char *bases[] = {"cdr3_aa", "sequence_alignment_aa"};
    for (int b = 0; b < 2; b++) {
        size_t n = strlen(bases[b]);
        if (strncmp(column, bases[b], n))
            continue;
        const char *sfx = column + n;
        *use_cdr3 = b == 0;
        if (!*sfx)
            *chain = RD_CHAIN_ANY;
        else if (!strcmp(sfx, "_heavy"))
            *chain = RD_CHAIN_HEAVY;
        else if (!strcmp(sfx, "_light"))
            *chain = RD_CHAIN_LIGHT;
        else
            break;
        return TG_OK;
    }
    return tg_error(TG_ERR_ARG,
                    "--column %s: expected cdr3_aa or sequence_alignment_aa, optionally with _heavy or _light",
                    column);
}

int cl_seqs_read_column(cl_seqs *s, const char *path, const char *column, size_t *skipped)
{
    int use_cdr3, chain;
    int rc = cl_column_parse(column, &use_cdr3, &chain);
    if (rc)
        return rc;
    rd_opts o;
    rd_opts_default(&o);
    o.chain = (rd_chain)chain;
    rd_reader *r;
    if ((rc = rd_open(&r, path, &o))) {
        if (rc == TG_ERR_ARG && chain == RD_CHAIN_ANY)
            return tg_error(rc, "%s: paired data: name the chain, --column %s_heavy or %s_light", path,
                            column, column);
        return rc;
    }
    rd_format f = rd_format_of(r);
    if (f == RD_FMT_FASTA || f == RD_FMT_PLAIN) {
        rd_close(r);
        return tg_error(TG_ERR_ARG, "%s: %s file has no columns; drop --column to cluster its sequences",
                        path, rd_format_name(f));
    }
    rd_record rec;
    size_t before = s->n, empty = 0;
    while ((rc = rd_next(r, &rec)) == 1) {
        const char *x = use_cdr3 ? rec.cdr3 : rec.seq;
        int n = use_cdr3 ? rec.cdr3_len : rec.len;
        /* every record's id counts, so that split (which reads them all) names alike */
        if ((rc = rd_ids_add(&s->ids, rec.id, rec.file, rec.line)))
            break;
        if (!x || n <= 0) {
            empty++;
            continue;
        }
        if ((rc = add_seq(s, x, (size_t)n)))
            break;
    }
    *skipped += empty;
    if (rc == 0 && use_cdr3 && s->n == before && empty)
        rc = tg_error(TG_ERR_FORMAT, "%s: no row has a CDR3 (column %s or a junction/nucleotide fallback)",
                      path, column);
    const rd_stats *st = rd_get_stats(r);
    *skipped += st->filtered_empty;
    rd_close(r);
    return rc < 0 ? rc : TG_OK;
}

int cl_seqs_read(cl_seqs *s, const char *path)
{
    rd_opts o;
    rd_opts_default(&o);
    o.chain = RD_CHAIN_ANY;
    rd_reader *r;
    int rc = rd_open(&r, path, &o);
    if (rc)
        return rc;
    rd_format f = rd_format_of(r);
    if (f != RD_FMT_FASTA && f != RD_FMT_PLAIN) {
        rd_close(r);
        return tg_error(TG_ERR_ARG, "%s: a table (%s): name the field to cluster with --column "
                        "(e.g. cdr3_aa or sequence_alignment_aa)", path, rd_format_name(f));
    }
    rd_record rec;
    while ((rc = rd_next(r, &rec)) == 1)
        if ((rc = rd_ids_add(&s->ids, rec.id, rec.file, rec.line)) ||
            (rc = add_seq(s, rec.seq, (size_t)rec.len)))
            break;
    s->empty += rd_get_stats(r)->filtered_empty;
    rd_close(r);
    return rc < 0 ? rc : TG_OK;
}

int cl_seqs_finish(cl_seqs *s, size_t *renamed) { return rd_ids_unique(&s->ids, renamed); }

void cl_seqs_free(cl_seqs *s)
{
    tg_free(s->seq);
    tg_free(s->seq_off);
    tg_free(s->rec);
    rd_ids_free(&s->ids);
    memset(s, 0, sizeof *s);
}

int cl_write_clusters(const cl_seqs *s, const uint32_t *rep, const char *prefix)
{
    size_t n = s->n, pl = strlen(prefix) + 64;
    char *tsv = tg_malloc(pl, "path"), *fa = tg_malloc(pl, "path");
    uint32_t *start = tg_calloc(n + 1, sizeof *start, "cluster order"), *mem = tg_malloc((n + 1) * sizeof *mem, "cluster order");
    tg_afile f1 = {0}, f2 = {0};
    int rc = TG_ERR_NOMEM;
    if (!tsv || !fa || !start || !mem)
        goto out;
    snprintf(tsv, pl, "%s_cluster.tsv", prefix);
    snprintf(fa, pl, "%s_rep_seq.fasta", prefix);
    /* members grouped by representative (counting sort, index order) */
    for (size_t i = 0; i < n; i++)
        start[rep[i] + 1]++;
    for (size_t i = 0; i < n; i++)
        start[i + 1] += start[i];
    for (size_t i = 0; i < n; i++)
        mem[start[rep[i]]++] = (uint32_t)i;
    for (size_t i = n; i > 0; i--)
        start[i] = start[i - 1];
    start[0] = 0;
    if ((rc = tg_afile_open_pid(&f1, tsv)) || (rc = tg_afile_open_pid(&f2, fa)))
        goto out;
    setvbuf(f1.f, NULL, _IOFBF, 1 << 20);
    setvbuf(f2.f, NULL, _IOFBF, 1 << 20);
    for (size_t r = 0; r < n; r++) {
        if (rep[r] != r)
            continue;
        const char *rn = cl_seqs_name(s, r);
        fprintf(f1.f, "%s\t%s\n", rn, rn);
        for (uint32_t k = start[r]; k < start[r + 1]; k++)
            if (mem[k] != r)
                fprintf(f1.f, "%s\t%s\n", rn, cl_seqs_name(s, mem[k]));
        fprintf(f2.f, ">%s\n%s\n", rn, cl_seqs_seq(s, r));
    }
    rc = tg_afile_commit(&f1);
    int rc2 = rc ? TG_OK : tg_afile_commit(&f2); /* f1 failed: the FASTA stays the old one too */
    if (!rc)
        rc = rc2;
out:
    tg_afile_abort(&f1); /* no-ops after a commit */
    tg_afile_abort(&f2);
    tg_free(tsv);
    tg_free(fa);
    tg_free(start);
    tg_free(mem);
    return rc;
}

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

int cl_read_cluster_tsv(const cl_seqs *s, const char *path, uint32_t *rep_out)
{
    const char **names = tg_malloc((s->n + 1) * sizeof *names, "sequence names");
    if (!names)
        return TG_ERR_NOMEM;
    for (size_t i = 0; i < s->n; i++)
        names[i] = cl_seqs_name(s, i);
    int rc = cl_read_cluster_names(names, s->n, path, rep_out);
    tg_free(names);
    return rc;
}

#define CL_TSV_LINE (1 << 16)

/* Reads the next line of f (lineno its number) into line (CL_TSV_LINE
 * bytes), without its "\n" or "\r\n". Returns 1, 0 at the end, or an error
 * status naming path:lineno for a line too long or a NUL or CR inside it
 * (either would cut the line unseen). */
static int tsv_line(FILE *f, char *line, const char *path, size_t lineno)
{
    size_t l = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (l + 1 >= CL_TSV_LINE)
            return tg_error(TG_ERR_FORMAT, "%s:%zu: line longer than %d bytes", path, lineno,
                            CL_TSV_LINE - 2);
        line[l++] = (char)c;
    }
    if (c == EOF && l == 0)
        return 0;
    l -= l && c == '\n' && line[l - 1] == '\r'; /* "\r\n"; a CR before the end of the file stays */
    line[l] = 0;
    if (memchr(line, 0, l) || memchr(line, '\r', l))
        return tg_error(TG_ERR_FORMAT, "%s:%zu: a %s byte inside the line", path, lineno,
                        memchr(line, 0, l) ? "NUL" : "CR");
    return 1;
}

int cl_read_cluster_names(const char *const *names, size_t n, const char *path, uint32_t *rep)
{
    size_t hcap = 1;
    while (hcap < 2 * n + 2)
        hcap *= 2;
    uint32_t *tab = tg_malloc(hcap * sizeof *tab, "name table");
    char *line = tg_malloc(CL_TSV_LINE, "tsv line");
    FILE *f = fopen(path, "r");
    int rc = TG_ERR_NOMEM;
    if (!tab || !line)
        goto out;
    if (!f) {
        rc = tg_error(TG_ERR_IO, "%s: cannot open", path);
        goto out;
    }
    memset(tab, 0xff, hcap * sizeof *tab);
    for (size_t i = 0; i < n; i++) {
        const char *nm = names[i];
        size_t h = hash_str(nm, strlen(nm)) & (hcap - 1);
        while (tab[h] != UINT32_MAX) {
            if (!strcmp(names[tab[h]], nm)) {
                rc = tg_error(TG_ERR_FORMAT, "%s: sequence name '%s' is not unique", path, nm);
                goto out;
            }
            h = (h + 1) & (hcap - 1);
        }
        tab[h] = (uint32_t)i;
        rep[i] = UINT32_MAX;
    }
    size_t lineno = 0;
    while ((rc = tsv_line(f, line, path, ++lineno)) == 1) {
        char *tab1 = strchr(line, '\t');
        if (!tab1) {
            rc = tg_error(TG_ERR_FORMAT, "%s:%zu: no tab", path, lineno);
            goto out;
        }
        *tab1 = 0;
        const char *f2[2] = {line, tab1 + 1};
        uint32_t id[2];
        for (int k = 0; k < 2; k++) {
            size_t h = hash_str(f2[k], strlen(f2[k])) & (hcap - 1);
            while (tab[h] != UINT32_MAX && strcmp(names[tab[h]], f2[k]))
                h = (h + 1) & (hcap - 1);
            if (tab[h] == UINT32_MAX) {
                rc = tg_error(TG_ERR_FORMAT, "%s:%zu: unknown sequence '%s'", path, lineno, f2[k]);
                goto out;
            }
            id[k] = tab[h];
        }
        if (rep[id[1]] != UINT32_MAX) {
            rc = tg_error(TG_ERR_FORMAT, "%s:%zu: '%s' is a member twice", path, lineno, f2[1]);
            goto out;
        }
        rep[id[1]] = id[0];
    }
    if (rc)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (rep[i] == UINT32_MAX) {
            rc = tg_error(TG_ERR_FORMAT, "%s: sequence '%s' is in no cluster", path, names[i]);
            goto out;
        }
    rc = TG_OK;
out:
    if (f)
        fclose(f);
    tg_free(tab);
    tg_free(line);
    return rc;
}
