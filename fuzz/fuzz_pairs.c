/* libFuzzer target: data/pairs.c (OAS paired units, heavy/light tables,
 * HEAVY[SEP]LIGHT lines). Byte 0 chooses the file name and the options
 * (--on-error skip, drop_nonstandard, length limits, the separator); the
 * rest is the file. Every pair read must keep pr_read's contract (both
 * chains present, lengths equal to the strings, residues uppercase letters
 * or '*', the limits and drop_nonstandard applied, locus "", IGK or IGL),
 * and the pairs written by pr_write_tsv must read back the same. */
#include "fuzz_util.h"
#include "pairs.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"unit.csv", "pairs.tsv", "pairs.txt", "pairs"};

static void fail(const char *what, size_t i)
{
    fprintf(stderr, "fuzz: pair %zu: %s\n", i, what);
    abort();
}

static const char *nz(const char *s) { return s ? s : ""; }

static void check_pair(const pr_pair *p, size_t i, const pr_opts *o)
{
    if (!p->id || !p->heavy || !p->light || !p->locus || !p->file)
        fail("a NULL field", i);
    if (p->heavy_len < 1 || p->light_len < 1)
        fail("an empty chain", i);
    if (strlen(p->heavy) != (size_t)p->heavy_len || strlen(p->light) != (size_t)p->light_len)
        fail("a length that is not the string's", i);
    if ((o->max_heavy && p->heavy_len > o->max_heavy) || (o->max_light && p->light_len > o->max_light))
        fail("a chain over the limit", i);
    for (int c = 0; c < 2; c++)
        for (const char *s = c ? p->light : p->heavy; *s; s++)
            if (!((*s >= 'A' && *s <= 'Z') || *s == '*') ||
                (o->drop_nonstandard && !strchr("ACDEFGHIKLMNPQRSTVWY", *s)))
                fail("a residue outside the alphabet", i);
    if (p->locus[0] && strcmp(p->locus, "IGK") && strcmp(p->locus, "IGL"))
        fail("a locus other than IGK / IGL", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    unsigned b = data[0];
    const char *path = fz_write(0, names[b & 3], data + 1, n - 1);
    pr_opts o;
    pr_opts_default(&o);
    if (b & 4)
        o.on_error = RD_ON_ERROR_SKIP;
    if (b & 8)
        o.drop_nonstandard = 1;
    if (b & 16)
        o.max_heavy = 40, o.max_light = 30;
    if (b & 32)
        o.sep = (b & 64) ? "\t" : "|";
    rd_opts ro;
    rd_opts_default(&ro);
    if (b & 128)
        ro.productive_only = 1, ro.min_length = 3;
    o.rd = &ro;
    pr_set s = {0};
    int st = pr_read(path, &o, &s);
    if (st && !tg_last_error()[0])
        abort(); /* an error must come with a message */
    if (st) {
        pr_free(&s);
        return 0;
    }
    for (size_t i = 0; i < s.n; i++)
        check_pair(&s.v[i], i, &o);
    if (s.n) {
        /* What ablm prepare --pairs writes must read back unchanged. */
        int regions = pr_has_regions(&s);
        const char *out = fz_write(1, "out.tsv", "", 0);
        if (pr_write_tsv(out, &s, NULL, 0, regions))
            abort();
        pr_set t = {0};
        if (pr_read(out, NULL, &t)) {
            fprintf(stderr, "fuzz: the written pairs do not read back: %s\n", tg_last_error());
            abort();
        }
        if (t.n != s.n)
            fail("written pairs read back as another count", t.n);
        for (size_t i = 0; i < s.n; i++) {
            const pr_pair *p = &s.v[i], *q = &t.v[i];
            if (strcmp(p->heavy, q->heavy) || strcmp(p->light, q->light))
                fail("a chain changed by the write + read", i);
            if (strcmp(p->id, q->id) || strcmp(p->locus, q->locus))
                fail("the id or locus changed by the write + read", i);
            for (int k = 0; regions && k < PR_N_REGIONS; k++)
                if (strcmp(nz(p->region[k]), nz(q->region[k])))
                    fail("a region changed by the write + read", i);
        }
        pr_free(&t);
    }
    pr_free(&s);
    return 0;
}
