/* libFuzzer target: the sequence store reader (data/seqstore.c's ss_open,
 * the out-of-core record store `ablm prepare` writes and reads back).
 * Byte 0 bit 0 set: the rest is the store file itself (opened with verify
 * when bit 1 is set). Bit 0 clear: the rest is lines SEQ\tCDR3\tID\tFILE
 * that ss_write_* turn into a valid store, which is then corrupted by up
 * to 7 byte patches (byte 1: the count; then per patch a 16-bit offset and
 * a value, from the bytes after the patch list) and opened without verify
 * (the hash would refuse every patch); with bit 1 set there every record is
 * written with a mate (a heavy/light pair: ss_write_add_mate, the mate its
 * FILE field, the fields its ID, none, its SEQ, ...). Contracts: an open
 * store's every record (seq, mate, CDR3, fields, id, file name) lies inside
 * the map and is NUL-terminated there, seq and CDR3 at the lengths the table
 * gives, a mate right after its sequence's NUL
 * (without verify a patched residue, even a NUL, is content the hash
 * alone catches); an error has a message; an unpatched store reads back
 * exactly the records written. */
#include "fuzz_util.h"
#include "seqstore.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXREC 256

static void fail(const char *what, uint64_t i)
{
    fprintf(stderr, "fuzz: record %llu: %s\n", (unsigned long long)i, what);
    abort();
}

/* 1 if [p, p + n] (the NUL included) lies inside s's map and p[n] == 0. */
static int inside(const ss_store *s, const char *p, size_t n)
{
    const uint8_t *q = (const uint8_t *)p;
    return p && q >= s->base && (size_t)(q - s->base) < s->size && n < s->size - (size_t)(q - s->base) &&
           q[n] == 0;
}

static void check_store(const ss_store *s)
{
    for (uint32_t f = 0; f < s->n_files; f++)
        if (!inside(s, s->files[f], strlen(s->files[f])))
            fail("a file name outside the map", f);
    uint64_t n = s->n < 100000 ? s->n : 100000;
    for (uint64_t i = 0; i < n; i++) {
        int len = -1, cl = -1;
        const char *q = ss_seq(s, i, &len);
        if (len < 0 || !inside(s, q, (size_t)len))
            fail("a sequence outside the map or not NUL-terminated at its length", i);
        const char *c = ss_cdr3(s, i, &cl);
        if (c && (cl < 0 || !inside(s, c, (size_t)cl)))
            fail("a CDR3 outside the map or not NUL-terminated at its length", i);
        int ml = -1;
        const char *m = ss_mate(s, i, &ml);
        if (m && (ml < 0 || m != q + len + 1 || !inside(s, m, (size_t)ml)))
            fail("a mate not after its sequence, outside the map or not NUL-terminated", i);
        for (int k = 0; k < SS_FIELDS; k++) {
            const char *f = ss_field(s, i, k);
            if (f && (!m || !inside(s, f, strlen(f))))
                fail("a field without a mate or outside the map", i);
        }
        const char *id = ss_id(s, i), *file = ss_file(s, i);
        if (!id || !inside(s, id, strlen(id)) || !file)
            fail("an id outside the map or no file", i);
        (void)ss_line(s, i);
    }
}

/* Cuts the next field (up to a tab, newline or the end) from *p. */
static char *field(char **p, char *end)
{
    char *f = *p;
    while (*p < end && **p != '\t' && **p != '\n')
        ++*p;
    if (*p < end && **p == '\t')
        *(*p)++ = 0;
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    unsigned b = data[0];
    const char *path;
    int npatch = 0;
    const uint8_t *patch = NULL;
    char *rec[MAXREC][4];
    int nrec = 0;
    char *text = NULL;
    if (b & 1) {
        path = fz_write(0, "store.seqs", data + 1, n - 1);
    } else {
        size_t at = 1;
        if (at < n)
            npatch = data[at++] & 7;
        if (at + 3 * (size_t)npatch > n)
            return 0;
        patch = data + at;
        at += 3 * (size_t)npatch;
        text = malloc(n - at + 1);
        if (!text)
            abort();
        memcpy(text, data + at, n - at);
        text[n - at] = 0;
        char *p = text, *end = text + (n - at);
        ss_writer w;
        path = fz_write(0, "store.seqs", "", 0);
        if (ss_write_begin(&w, path))
            abort();
        while (p < end && nrec < MAXREC) {
            char **r = rec[nrec];
            for (int k = 0; k < 4; k++)
                r[k] = field(&p, end);
            if (p < end)
                *p++ = 0; /* the newline (or a fifth field's tab) */
            const char *fl[SS_FIELDS] = {r[2], NULL, r[0]};
            int bad = b & 2 ? ss_write_add_mate(&w, r[0], (int)strlen(r[0]), r[3], (int)strlen(r[3]),
                                                r[1][0] ? r[1] : NULL, (int)strlen(r[1]), fl, r[2], r[3],
                                                nrec + 2)
                            : ss_write_add(&w, r[0], (int)strlen(r[0]), r[1][0] ? r[1] : NULL,
                                           (int)strlen(r[1]), r[2], r[3], nrec + 2);
            if (bad) {
                ss_write_abort(&w);
                free(text);
                return 0;
            }
            nrec++;
        }
        if (ss_write_end(&w, NULL))
            abort();
        if (npatch) {
            FILE *f = fopen(path, "r+b");
            if (!f || fseek(f, 0, SEEK_END))
                abort();
            long size = ftell(f);
            for (int k = 0; k < npatch && size > 0; k++) {
                long off = (long)((patch[3 * k] | patch[3 * k + 1] << 8) % size);
                if (fseek(f, off, SEEK_SET) || fputc(patch[3 * k + 2], f) == EOF)
                    abort();
            }
            if (fclose(f))
                abort();
        }
    }
    ss_store s;
    int st = ss_open(&s, path, (b & 1) && (b & 2));
    if (st) {
        if (!tg_last_error()[0])
            abort(); /* an error must come with a message */
        if (text && !npatch) {
            fprintf(stderr, "fuzz: a store just written does not open: %s\n", tg_last_error());
            abort();
        }
        free(text);
        return 0;
    }
    check_store(&s);
    if (text && !npatch) {
        if (s.n != (uint64_t)nrec)
            fail("the store holds another count than was written", s.n);
        for (int i = 0; i < nrec; i++) {
            int len, cl;
            const char *c = ss_cdr3(&s, (uint64_t)i, &cl);
            if (strcmp(ss_seq(&s, (uint64_t)i, &len), rec[i][0]) || strcmp(ss_id(&s, (uint64_t)i), rec[i][2]) ||
                strcmp(c ? c : "", rec[i][1]) || strcmp(ss_file(&s, (uint64_t)i), rec[i][3]) || (c != NULL) != (rec[i][1][0] != 0) ||
                ss_line(&s, (uint64_t)i) != i + 2)
                fail("a record changed by the write + read", (uint64_t)i);
            const char *m = ss_mate(&s, (uint64_t)i, NULL), *f0 = ss_field(&s, (uint64_t)i, 0),
                       *f1 = ss_field(&s, (uint64_t)i, 1), *f2 = ss_field(&s, (uint64_t)i, 2);
            if ((b & 2) ? !m || strcmp(m, rec[i][3]) || !f0 || strcmp(f0, rec[i][2]) || f1 ||
                              !f2 || strcmp(f2, rec[i][0])
                        : m || f0)
                fail("a mate or field changed by the write + read", (uint64_t)i);
        }
    }
    ss_close(&s);
    free(text);
    return 0;
}
