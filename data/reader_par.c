/* rd_par: several input files parsed by worker threads, their records handed
 * to one consumer in file order (see reader.h). */
#include "reader.h"

#include "tg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The strings of a record, in the order packed into a chunk. */
enum { F_ID, F_SEQ, F_CDR3, F_MATE, F_VCALL, F_LOCUS, F_MATE_ID, F_MATE_LOCUS, F_REGION,
       N_FIELDS = F_REGION + 7 };
#define NO_STR UINT32_MAX

/* Parsed records of one file, packed: per record i64 line, i32 productive,
 * then N_FIELDS strings as u32 length (NO_STR: NULL) + bytes + NUL. */
typedef struct chunk {
    struct chunk *next;
    size_t used, cap, n;
    size_t rows;           /* the reader's rows count after its last record */
    char data[];
} chunk;

typedef struct {
    rd_reader *rd;         /* owned by the worker until done, then by the consumer */
    int opened, done;
    int open_st, end_st;   /* rd_open's status; rd_next's last (0: end of file) */
    char msg[1024];        /* the error message of a failed open or read */
    chunk *head, *tail;    /* records waiting */
    char *file;            /* the records' file name (rd_record.file) */
    size_t queued;         /* bytes waiting */
} slot;

struct rd_par {
    const char *const *paths;
    int n, threads, next_file, abort;
    const rd_opts *o;
    size_t slot_bytes, chunk_bytes;
    slot *s;
    pthread_t *tid;
    int n_tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* the consumer */
    int cur;               /* file being consumed, -1 before the first rd_par_open */
    rd_reader *serial;     /* threads <= 1: the file's reader, read in the consumer */
    chunk *rc;             /* chunk being unpacked */
    size_t rpos, rows;
};

static void chunk_put_str(chunk *c, const char *s, size_t n)
{
    uint32_t len = s ? (uint32_t)n : NO_STR;
    memcpy(c->data + c->used, &len, 4);
    c->used += 4;
    if (s) {
        memcpy(c->data + c->used, s, n);
        c->data[c->used + n] = '\0';
        c->used += n + 1;
    }
}

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* Packs rec into *cp (a new chunk of min_cap bytes, or more for one large
 * record, when *cp is NULL). Returns TG_OK, 1 when *cp holds records and rec
 * does not fit (the caller queues it and passes NULL), or TG_ERR_NOMEM. */
static int chunk_add(chunk **cp, size_t min_cap, const rd_record *rec)
{
    const char *f[N_FIELDS] = {rec->id, rec->seq, rec->cdr3, rec->mate, rec->v_call,
                               rec->locus, rec->mate_id, rec->mate_locus};
    size_t len[N_FIELDS] = {slen(rec->id), (size_t)rec->len, (size_t)rec->cdr3_len,
                            (size_t)rec->mate_len, slen(rec->v_call), slen(rec->locus),
                            slen(rec->mate_id), slen(rec->mate_locus)};
    for (int k = 0; k < 7; k++) {
        f[F_REGION + k] = rec->light_region[k];
        len[F_REGION + k] = slen(rec->light_region[k]);
    }
    if (!rec->seq)
        len[F_SEQ] = 0;
    if (!rec->cdr3)
        len[F_CDR3] = 0;
    if (!rec->mate)
        len[F_MATE] = 0;
    size_t need = 12;
    for (int k = 0; k < N_FIELDS; k++)
        need += 5 + len[k];
    chunk *c = *cp;
    if (c && c->used + need > c->cap)
        return 1;
    if (!c) {
        size_t cap = need > min_cap ? need : min_cap;
        if (!(c = tg_malloc(sizeof *c + cap, "parallel reading buffer")))
            return TG_ERR_NOMEM;
        c->next = NULL;
        c->used = c->n = c->rows = 0;
        c->cap = cap;
        *cp = c;
    }
    int64_t line = rec->line;
    int32_t prod = rec->productive;
    memcpy(c->data + c->used, &line, 8);
    memcpy(c->data + c->used + 8, &prod, 4);
    c->used += 12;
    for (int k = 0; k < N_FIELDS; k++)
        chunk_put_str(c, f[k], len[k]);
    c->n++;
    return TG_OK;
}

/* Queues c behind the file's records; waits while c would take the file
 * past its share of the buffer (one chunk always fits). Returns 0, or -1
 * when reading is aborted (c freed). */
static int queue(rd_par *p, slot *sl, chunk *c)
{
    pthread_mutex_lock(&p->mu);
    while (sl->queued && sl->queued + c->used > p->slot_bytes && !p->abort)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->abort) {
        pthread_mutex_unlock(&p->mu);
        tg_free(c);
        return -1;
    }
    c->next = NULL;
    if (sl->tail)
        sl->tail->next = c;
    else
        sl->head = c;
    sl->tail = c;
    sl->queued += c->used;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Marks sl done (or opened) with status st and, for an error, the thread's
 * last message. */
static void finish(rd_par *p, slot *sl, int open_st, int end_st, int done)
{
    pthread_mutex_lock(&p->mu);
    if (open_st || end_st < 0)
        snprintf(sl->msg, sizeof sl->msg, "%s", tg_last_error());
    sl->open_st = open_st;
    sl->end_st = end_st;
    sl->opened = 1;
    sl->done = done;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Parses one whole file into chunks. */
static void read_file(rd_par *p, int f)
{
    slot *sl = &p->s[f];
    int st = rd_open(&sl->rd, p->paths[f], p->o);
    if (st) {
        sl->rd = NULL;
        finish(p, sl, st, 0, 1);
        return;
    }
    finish(p, sl, 0, 0, 0);
    chunk *c = NULL;
    rd_record rec;
    while ((st = rd_next(sl->rd, &rec)) == 1) {
        if (!sl->file) {
            size_t k = strlen(rec.file) + 1;
            char *b = tg_malloc(k, "parallel reading");
            if (!b) {
                st = TG_ERR_NOMEM;
                break;
            }
            memcpy(b, rec.file, k);
            pthread_mutex_lock(&p->mu);
            sl->file = b;
            pthread_mutex_unlock(&p->mu);
        }
        if ((st = chunk_add(&c, p->chunk_bytes, &rec)) == 1) {
            /* c is full: queue it, start another */
            c->rows = rd_get_stats(sl->rd)->rows - 1; /* rows before this record's */
            if (queue(p, sl, c))
                return; /* aborted: rd_par_end closes the reader */
            c = NULL;
            st = chunk_add(&c, p->chunk_bytes, &rec);
        }
        if (st < 0)
            break;
        st = 1;
    }
    if (c) {
        c->rows = rd_get_stats(sl->rd)->rows;
        if (queue(p, sl, c))
            return;
    }
    finish(p, sl, 0, st, 1);
}

static void *worker(void *arg)
{
    rd_par *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int f = p->abort ? p->n : p->next_file;
        if (f < p->n)
            p->next_file++;
        pthread_mutex_unlock(&p->mu);
        if (f >= p->n)
            return NULL;
        read_file(p, f);
    }
}

int rd_par_begin(rd_par **out, const char *const *paths, int n, const rd_opts *o,
                 int threads, size_t buffer_bytes)
{
    *out = NULL;
    rd_par *p = tg_calloc(1, sizeof *p, "parallel reading");
    if (!p)
        return TG_ERR_NOMEM;
    p->paths = paths;
    p->n = n;
    p->o = o;
    p->cur = -1;
    p->threads = threads < n ? threads : n;
    if (p->threads <= 1) {
        p->threads = 1; /* serial: the consumer reads */
        *out = p;
        return TG_OK;
    }
    if (!buffer_bytes)
        buffer_bytes = RD_PAR_BUFFER;
    p->slot_bytes = buffer_bytes / (size_t)p->threads;
    p->chunk_bytes = p->slot_bytes / 4; /* a larger record gets a chunk of its own */
    if (p->chunk_bytes < 4096)
        p->chunk_bytes = 4096;
    p->s = tg_calloc((size_t)n, sizeof *p->s, "parallel reading");
    p->tid = tg_calloc((size_t)p->threads, sizeof *p->tid, "parallel reading");
    if (!p->s || !p->tid) {
        rd_par_end(p);
        return TG_ERR_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int t = 0; t < p->threads; t++) {
        if (pthread_create(&p->tid[t], NULL, worker, p)) {
            if (!p->n_tid) {
                /* no thread at all: read serially */
                p->threads = 1;
                *out = p;
                return TG_OK;
            }
            break;
        }
        p->n_tid++;
    }
    *out = p;
    return TG_OK;
}

int rd_par_open(rd_par *p, int f, rd_reader **rd)
{
    *rd = NULL;
    p->cur = f;
    p->rows = 0;
    if (p->threads == 1) {
        int st = rd_open(&p->serial, p->paths[f], p->o);
        *rd = st ? NULL : p->serial;
        return st;
    }
    slot *sl = &p->s[f];
    pthread_mutex_lock(&p->mu);
    while (!sl->opened)
        pthread_cond_wait(&p->cv, &p->mu);
    int st = sl->open_st;
    if (st)
        tg_error(st, "%s", sl->msg);
    *rd = sl->rd;
    pthread_mutex_unlock(&p->mu);
    return st;
}

static const char *take_str(rd_par *p, int *len)
{
    uint32_t n;
    memcpy(&n, p->rc->data + p->rpos, 4);
    p->rpos += 4;
    if (n == NO_STR) {
        if (len)
            *len = 0;
        return NULL;
    }
    const char *s = p->rc->data + p->rpos;
    p->rpos += (size_t)n + 1;
    if (len)
        *len = (int)n;
    return s;
}

int rd_par_next(rd_par *p, rd_record *rec)
{
    if (p->threads == 1) {
        int st = rd_next(p->serial, rec);
        p->rows = rd_get_stats(p->serial)->rows;
        return st;
    }
    slot *sl = &p->s[p->cur];
    if (p->rc && p->rpos >= p->rc->used) {
        tg_free(p->rc);
        p->rc = NULL;
    }
    if (!p->rc) {
        pthread_mutex_lock(&p->mu);
        while (!sl->head && !sl->done)
            pthread_cond_wait(&p->cv, &p->mu);
        if (sl->head) {
            p->rc = sl->head;
            sl->head = p->rc->next;
            if (!sl->head)
                sl->tail = NULL;
            sl->queued -= p->rc->used;
            p->rpos = 0;
            pthread_cond_broadcast(&p->cv);
        }
        int st = sl->end_st;
        if (!p->rc && st < 0)
            tg_error(st, "%s", sl->msg);
        pthread_mutex_unlock(&p->mu);
        if (!p->rc) {
            p->rows = rd_get_stats(sl->rd)->rows;
            return st;
        }
        p->rows = p->rc->rows;
    }
    memset(rec, 0, sizeof *rec);
    int64_t line;
    int32_t prod;
    memcpy(&line, p->rc->data + p->rpos, 8);
    memcpy(&prod, p->rc->data + p->rpos + 8, 4);
    p->rpos += 12;
    rec->line = (long)line;
    rec->productive = prod;
    rec->id = take_str(p, NULL);
    rec->seq = take_str(p, &rec->len);
    rec->cdr3 = take_str(p, &rec->cdr3_len);
    rec->mate = take_str(p, &rec->mate_len);
    rec->v_call = take_str(p, NULL);
    rec->locus = take_str(p, NULL);
    rec->mate_id = take_str(p, NULL);
    rec->mate_locus = take_str(p, NULL);
    for (int k = 0; k < 7; k++)
        rec->light_region[k] = take_str(p, NULL);
    rec->file = sl->file;
    return 1;
}

size_t rd_par_rows(const rd_par *p) { return p->rows; }

void rd_par_close(rd_par *p)
{
    if (p->cur < 0)
        return;
    if (p->threads == 1) {
        rd_close(p->serial);
        p->serial = NULL;
        p->cur = -1;
        return;
    }
    slot *sl = &p->s[p->cur];
    tg_free(p->rc);
    p->rc = NULL;
    pthread_mutex_lock(&p->mu);
    if (sl->done) {
        /* the worker is done with it */
        rd_close(sl->rd);
        sl->rd = NULL;
        tg_free(sl->file);
        sl->file = NULL;
        for (chunk *c = sl->head, *nx; c; c = nx) {
            nx = c->next;
            tg_free(c);
        }
        sl->head = sl->tail = NULL;
    } else {
        /* closed before its end: reading stops (rd_par_end cleans up) */
        p->abort = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    p->cur = -1;
}

void rd_par_end(rd_par *p)
{
    if (!p)
        return;
    if (p->threads == 1) {
        rd_close(p->serial);
        tg_free(p);
        return;
    }
    tg_free(p->rc);
    if (p->n_tid) {
        pthread_mutex_lock(&p->mu);
        p->abort = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int t = 0; t < p->n_tid; t++)
            pthread_join(p->tid[t], NULL);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    for (int f = 0; p->s && f < p->n; f++) {
        for (chunk *c = p->s[f].head, *nx; c; c = nx) {
            nx = c->next;
            tg_free(c);
        }
        rd_close(p->s[f].rd);
        tg_free(p->s[f].file);
    }
    tg_free(p->s);
    tg_free(p->tid);
    tg_free(p);
}
