/* Record ids made unique over the files a command reads, and the
 * multi-file reader built on them. */
#include "reader.h"

#include "rd_text.h"
#include "strmap.h"
#include "tg.h"

#include <stdio.h>
#include <string.h>

void rd_ids_init(rd_ids *s) { memset(s, 0, sizeof *s); }

void rd_ids_free(rd_ids *s)
{
    tg_free(s->text);
    tg_free(s->off);
    tg_free(s->line);
    tg_free(s->file);
    for (size_t i = 0; i < s->n_files; i++)
        tg_free(s->files[i]);
    tg_free(s->files);
    memset(s, 0, sizeof *s);
}

/* Appends s[0..n) + NUL to the text; *off gets its offset. */
static int put_text(rd_ids *s, const char *t, size_t n, size_t *off)
{
    if (rd_grow(&s->text, &s->tcap, s->used + n + 1, 1, "record ids"))
        return TG_ERR_NOMEM;
    memcpy(s->text + s->used, t, n);
    s->text[s->used + n] = '\0';
    *off = s->used;
    s->used += n + 1;
    return TG_OK;
}

int rd_ids_add(rd_ids *s, const char *id, const char *file, long line)
{
    if (s->n >= UINT32_MAX - 1)
        return tg_error(TG_ERR_ARG, "too many records (%zu)", s->n);
    if (!s->n_files || strcmp(s->files[s->n_files - 1], file)) {
        size_t fc = s->fcap;
        if (rd_grow(&s->files, &fc, s->n_files + 1, sizeof *s->files, "record files"))
            return TG_ERR_NOMEM;
        s->fcap = fc;
        size_t fl = strlen(file);
        char *f = tg_malloc(fl + 1, "record files");
        if (!f)
            return TG_ERR_NOMEM;
        memcpy(f, file, fl + 1);
        s->files[s->n_files++] = f;
    }
    if (s->n == s->cap) {
        size_t c = s->cap, c2 = s->cap, c3 = s->cap;
        if (rd_grow(&s->off, &c, s->n + 1, sizeof *s->off, "record ids") ||
            rd_grow(&s->line, &c2, s->n + 1, sizeof *s->line, "record ids") ||
            rd_grow(&s->file, &c3, s->n + 1, sizeof *s->file, "record ids"))
            return TG_ERR_NOMEM;
        s->cap = c;
    }
    if (put_text(s, id, strlen(id), &s->off[s->n]))
        return TG_ERR_NOMEM;
    s->line[s->n] = line;
    s->file[s->n] = (uint32_t)(s->n_files - 1);
    s->n++;
    return TG_OK;
}

/* Marks in dup[] every id that occurs more than once. Returns how many
 * records are marked, or TG_ERR_NOMEM; with fail set, a repeated id is
 * TG_ERR_FORMAT naming both records instead. */
static long mark_dups(const rd_ids *s, unsigned char *dup, int fail)
{
    sm_map m;
    sm_init(&m);
    long k = 0;
    for (size_t i = 0; i < s->n; i++) {
        const char *id = rd_ids_get(s, i);
        uint32_t first;
        int ins = sm_put(&m, id, (int)strlen(id), (uint32_t)i, &first);
        if (ins < 0) {
            k = ins;
            break;
        }
        if (ins == 1)
            continue;
        if (fail) {
            k = tg_error(TG_ERR_FORMAT,
                         "record id '%s' is given twice, by %s:%ld and %s:%ld (is a file given "
                         "twice, or are two inputs named the same?)",
                         id, s->files[s->file[first]], s->line[first], s->files[s->file[i]],
                         s->line[i]);
            break;
        }
        k += !dup[first] + 1;
        dup[first] = dup[i] = 1;
    }
    sm_free(&m);
    return k;
}

int rd_ids_unique(rd_ids *s, size_t *renamed)
{
    if (renamed)
        *renamed = 0;
    unsigned char *dup = tg_calloc(s->n ? s->n : 1, 1, "record ids");
    if (!dup)
        return TG_ERR_NOMEM;
    long k = mark_dups(s, dup, 0);
    if (k > 0) {
        /* the renamed ids go to the end of the text; the old ones stay unused */
        for (size_t i = 0; i < s->n && k >= 0; i++) {
            if (!dup[i])
                continue;
            char where[64];
            int wl = snprintf(where, sizeof where, ":%ld", s->line[i]);
            const char *id = rd_ids_get(s, i), *f = s->files[s->file[i]];
            size_t il = strlen(id), fl = strlen(f), off;
            char *buf = tg_malloc(il + fl + (size_t)wl + 2, "record ids");
            if (!buf) {
                k = TG_ERR_NOMEM;
                break;
            }
            memcpy(buf, id, il);
            buf[il] = '@';
            memcpy(buf + il + 1, f, fl);
            memcpy(buf + il + 1 + fl, where, (size_t)wl + 1);
            if (put_text(s, buf, strlen(buf), &off))
                k = TG_ERR_NOMEM;
            else
                s->off[i] = off;
            tg_free(buf);
        }
        if (k > 0) {
            if (renamed)
                *renamed = (size_t)k;
            k = mark_dups(s, dup, 1);
        }
    }
    tg_free(dup);
    return k < 0 ? (int)k : TG_OK;
}

int rd_read_files(const char *const *paths, int n_paths, const rd_opts *o, rd_ids *ids,
                  char ***seqs, size_t *n_out, rd_stats *stats, size_t *renamed)
{
    *seqs = NULL;
    *n_out = 0;
    if (stats)
        memset(stats, 0, sizeof *stats);
    size_t n = 0, cap = 0;
    char **S = NULL;
    int st = TG_OK;
    for (int f = 0; f < n_paths && !st; f++) {
        rd_reader *r;
        if ((st = rd_open(&r, paths[f], o)))
            break;
        rd_record rec;
        while ((st = rd_next(r, &rec)) == 1) {
            if (n == cap && (st = rd_grow(&S, &cap, n + 1, sizeof *S, "sequences")))
                break;
            if ((st = rd_ids_add(ids, rec.id, rec.file, rec.line)))
                break;
            if (!(S[n] = tg_malloc((size_t)rec.len + 1, "sequence"))) {
                st = TG_ERR_NOMEM;
                break;
            }
            memcpy(S[n], rec.seq, (size_t)rec.len + 1);
            n++;
        }
        if (stats)
            rd_stats_add(stats, rd_get_stats(r));
        rd_close(r);
    }
    if (st >= 0)
        st = rd_ids_unique(ids, renamed);
    if (st < 0) {
        rd_free_strings(S, n);
        return st;
    }
    *seqs = S;
    *n_out = n;
    return TG_OK;
}
