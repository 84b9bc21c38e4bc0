/* Heavy/light pairs: reading through the rd readers, the owned text, TSV
 * output. */
#include "pairs.h"

#include "afile.h"
#include "tg.h"

#include <stdio.h>
#include <string.h>

const char *const pr_region_names[PR_N_REGIONS] = {"fwr1", "cdr1", "fwr2", "cdr2",
                                                   "fwr3", "cdr3", "fwr4"};

/* A block of the owned text; blocks are never moved, so pointers into them
 * stay valid as more pairs are added. */
struct pr_block {
    pr_block *next;
    size_t used, cap;
    char data[];
};

void pr_opts_default(pr_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sep = "[SEP]";
    o->on_error = RD_ON_ERROR_FAIL;
}

/* Copies s[0..n) into the set's text; NULL on allocation failure. */
static const char *keep(pr_set *s, const char *str, size_t n)
{
    pr_block *b = s->text;
    if (!b || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > (1u << 20) ? n + 1 : (1u << 20);
        b = tg_malloc(sizeof *b + cap, "pair text");
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = s->text;
        s->text = b;
    }
    char *d = b->data + b->used;
    memcpy(d, str, n);
    d[n] = '\0';
    b->used += n + 1;
    return d;
}

int pr_add(pr_set *s, const pr_pair *p)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        pr_pair *v = tg_realloc(s->v, nc * sizeof *v, "pairs");
        if (!v)
            return TG_ERR_NOMEM;
        s->v = v;
        s->cap = nc;
    }
    pr_pair q = *p;
    q.id = keep(s, p->id, strlen(p->id));
    q.heavy = keep(s, p->heavy, (size_t)p->heavy_len);
    q.light = keep(s, p->light, (size_t)p->light_len);
    q.locus = keep(s, p->locus ? p->locus : "", p->locus ? strlen(p->locus) : 0);
    q.file = keep(s, p->file ? p->file : "", p->file ? strlen(p->file) : 0);
    q.heavy_cdr3 = p->heavy_cdr3 ? keep(s, p->heavy_cdr3, strlen(p->heavy_cdr3)) : NULL;
    int bad = !q.id || !q.heavy || !q.light || !q.locus || !q.file ||
              (p->heavy_cdr3 && !q.heavy_cdr3);
    for (int k = 0; k < PR_N_REGIONS; k++) {
        q.region[k] = p->region[k] ? keep(s, p->region[k], strlen(p->region[k])) : NULL;
        bad |= p->region[k] && !q.region[k];
    }
    if (bad)
        return TG_ERR_NOMEM;
    s->v[s->n++] = q;
    return TG_OK;
}

void pr_free(pr_set *s)
{
    if (!s)
        return;
    for (pr_block *b = s->text, *nb; b; b = nb) {
        nb = b->next;
        tg_free(b);
    }
    tg_free(s->v);
    memset(s, 0, sizeof *s);
}

int pr_has_regions(const pr_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < PR_N_REGIONS; k++)
            if (s->v[i].region[k])
                return 1;
    return 0;
}

static int standard(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!strchr("ACDEFGHIKLMNPQRSTVWY", s[i]))
            return 0;
    return 1;
}

/* The table cells' rule for a chain read from FASTA-like text (the
 * HEAVY[SEP]LIGHT lines keep gap characters): '.' removed, '-' -> X. *s
 * may be NULL when *n is 0 (a missing mate). When *s has either, the result goes to *buf (grown as needed) and *s, *n
 * point at it. Returns a status. */
static int degap(char **buf, size_t *cap, const char **s, int *n)
{
    if (!*n || (!memchr(*s, '.', (size_t)*n) && !memchr(*s, '-', (size_t)*n)))
        return TG_OK;
    if ((size_t)*n + 1 > *cap) {
        char *b = tg_realloc(*buf, (size_t)*n + 1, "pairs");
        if (!b)
            return TG_ERR_NOMEM;
        *buf = b;
        *cap = (size_t)*n + 1;
    }
    int m = 0;
    for (int i = 0; i < *n; i++)
        if ((*s)[i] != '.')
            (*buf)[m++] = (*s)[i] == '-' ? 'X' : (*s)[i];
    (*buf)[m] = '\0';
    *s = *buf;
    *n = m;
    return TG_OK;
}

static int add_sink(void *ctx, const pr_pair *p)
{
    return pr_add(ctx, p);
}

int pr_read(const char *path, const pr_opts *o, pr_set *out)
{
    return pr_read_each(path, o, out, add_sink, out);
}

void pr_reader_opts(const pr_opts *o, rd_opts *ro)
{
    if (o->rd)
        *ro = *o->rd;
    else
        rd_opts_default(ro);
    ro->format = RD_FMT_AUTO;
    ro->chain = RD_CHAIN_HEAVY;
    ro->on_error = o->on_error;
    ro->pair_sep = o->sep && o->sep[0] ? o->sep : "[SEP]";
}

int pr_check_paired(const rd_reader *r, const char *path, const rd_opts *ro)
{
    if (rd_is_paired(r))
        return TG_OK;
    return tg_error(TG_ERR_FORMAT,
                    "%s: not a pair file: expected an OAS paired unit (_heavy/_light "
                    "columns), a table with heavy and light columns, or lines HEAVY%sLIGHT",
                    path, ro->pair_sep);
}

void pr_conv_free(pr_conv *c)
{
    tg_free(c->hbuf);
    tg_free(c->lbuf);
    memset(c, 0, sizeof *c);
}

int pr_from_record(const rd_record *rec, const pr_opts *o, pr_set *out, pr_conv *c,
                   pr_pair *p)
{
    const char *heavy = rec->seq, *light = rec->mate;
    int hn = rec->len, ln = rec->mate_len, st;
    if ((st = degap(&c->hbuf, &c->hcap, &heavy, &hn)) ||
        (st = degap(&c->lbuf, &c->lcap, &light, &ln)))
        return st;
    if (!hn) {
        out->no_heavy++;
        return 0;
    }
    if (!ln) {
        out->no_light++;
        return 0;
    }
    if ((o->max_heavy > 0 && hn > o->max_heavy) || (o->max_light > 0 && ln > o->max_light)) {
        out->too_long++;
        return 0;
    }
    if (o->drop_nonstandard && (!standard(heavy, hn) || !standard(light, ln))) {
        out->nonstandard++;
        return 0;
    }
    pr_pair q = {.id = rec->id, .heavy = heavy, .light = light, .heavy_len = hn,
                 .light_len = ln, .file = rec->file, .line = rec->line,
                 .heavy_cdr3 = rec->cdr3 && rec->cdr3_len ? rec->cdr3 : NULL};
    const char *loc = rec->mate_locus;
    q.locus = !strcmp(loc, "IGK") || !strcmp(loc, "IGL") ? loc : "";
    for (int k = 0; k < PR_N_REGIONS; k++)
        q.region[k] = rec->light_region[k];
    *p = q;
    return 1;
}

void pr_add_stats(pr_set *out, const rd_stats *rs)
{
    out->rows += rs->rows;
    out->no_heavy += rs->filtered_empty;
    out->malformed += rs->skipped_malformed;
    for (int i = 0; i < rs->n_msgs && out->n_msgs < RD_MAX_MSGS; i++)
        snprintf(out->msgs[out->n_msgs++], sizeof out->msgs[0], "%s", rs->msgs[i]);
}

int pr_read_each(const char *path, const pr_opts *o, pr_set *out, pr_sink sink, void *ctx)
{
    pr_opts d;
    if (!o) {
        pr_opts_default(&d);
        o = &d;
    }
    rd_opts ro;
    pr_reader_opts(o, &ro);
    rd_reader *r;
    int st = rd_open(&r, path, &ro);
    if (st)
        return st;
    if ((st = pr_check_paired(r, path, &ro))) {
        rd_close(r);
        return st;
    }
    rd_record rec;
    pr_conv c = {0};
    pr_pair p;
    while ((st = rd_next(r, &rec)) == 1) {
        int k = pr_from_record(&rec, o, out, &c, &p);
        if (k < 0 || (k == 1 && (k = sink(ctx, &p)))) {
            st = k;
            break;
        }
    }
    pr_conv_free(&c);
    pr_add_stats(out, rd_get_stats(r));
    rd_close(r);
    return st < 0 ? st : TG_OK;
}

void pr_stats_to_json(const pr_set *s, cJSON *o)
{
    cJSON_AddNumberToObject(o, "rows_read", (double)s->rows);
    cJSON_AddNumberToObject(o, "pairs", (double)s->n);
    cJSON *k = cJSON_AddObjectToObject(o, "skipped");
    cJSON_AddNumberToObject(k, "no_heavy_chain", (double)s->no_heavy);
    cJSON_AddNumberToObject(k, "no_light_chain", (double)s->no_light);
    cJSON_AddNumberToObject(k, "non_standard_residue", (double)s->nonstandard);
    cJSON_AddNumberToObject(k, "too_long", (double)s->too_long);
    cJSON_AddNumberToObject(k, "malformed_rows", (double)s->malformed);
    cJSON *m = cJSON_AddArrayToObject(o, "messages");
    for (int i = 0; i < s->n_msgs; i++)
        cJSON_AddItemToArray(m, cJSON_CreateString(s->msgs[i]));
}

typedef struct {
    const pr_set *s;
    const size_t *idx;
} set_rows;

static void set_row(const void *ctx, size_t k, pr_pair *p)
{
    const set_rows *r = ctx;
    *p = r->s->v[r->idx ? r->idx[k] : k];
}

int pr_write_tsv(const char *path, const pr_set *s, const size_t *idx, size_t n,
                 int with_regions)
{
    set_rows r = {s, idx};
    return pr_write_tsv_fn(path, set_row, &r, idx ? n : s->n, with_regions);
}

int pr_write_tsv_fn(const char *path, pr_get_fn get, const void *ctx, size_t n,
                    int with_regions)
{
    tg_afile a;
    int st = tg_afile_open(&a, path);
    if (st)
        return st;
    fputs("id\theavy\tlight\tlocus", a.f);
    for (int k = 0; with_regions && k < PR_N_REGIONS; k++)
        fprintf(a.f, "\t%s", pr_region_names[k]);
    fputc('\n', a.f);
    for (size_t i = 0; i < n; i++) {
        pr_pair q;
        get(ctx, i, &q);
        const pr_pair *p = &q;
        fprintf(a.f, "%s\t%s\t%s\t%s", p->id, p->heavy, p->light, p->locus);
        for (int k = 0; with_regions && k < PR_N_REGIONS; k++)
            fprintf(a.f, "\t%s", p->region[k] ? p->region[k] : "");
        fputc('\n', a.f);
    }
    if (ferror(a.f)) {
        tg_afile_abort(&a);
        return tg_error(TG_ERR_IO, "%s: write failed", path);
    }
    return tg_afile_commit(&a);
}
