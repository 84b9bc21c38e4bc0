/* The on-disk sequence store: round trip by index, atomic output, and clear
 * errors for truncated, wrong-magic, wrong-version and corrupt files. */
#include "seqstore.h"
#include "tg.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

/* Writes a store of n records: seq "ACD..." of length 1 + i % 50, CDR3 for
 * even i, id "r<i>", file a.tsv or b.tsv. */
static uint64_t write_store(const char *path, int n)
{
    ss_writer w;
    ck_assert_int_eq(ss_write_begin(&w, path), TG_OK);
    char seq[64], cdr3[16], id[32];
    for (int i = 0; i < n; i++) {
        int len = 1 + i % 50;
        for (int k = 0; k < len; k++)
            seq[k] = "ACDEFGHIKLMNPQRSTVWY"[(i + k) % 20];
        int cl = 3 + i % 5;
        for (int k = 0; k < cl; k++)
            cdr3[k] = "ARDY"[(i * 7 + k) % 4];
        snprintf(id, sizeof id, "r%d", i);
        ck_assert_int_eq(ss_write_add(&w, seq, len, i % 2 ? NULL : cdr3, cl, id,
                                      i < n / 2 ? "a.tsv" : "b.tsv", 2 + i),
                         TG_OK);
    }
    uint64_t h = 0;
    ck_assert_int_eq(ss_write_end(&w, &h), TG_OK);
    return h;
}

static long file_size(const char *p)
{
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Copies src to dst with byte off set to val (off < 0: truncate to -off). */
static void damage(const char *src, const char *dst, long off, int val)
{
    FILE *f = fopen(src, "rb");
    long n = file_size(src);
    unsigned char *b = malloc((size_t)n);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), n);
    fclose(f);
    if (off >= 0)
        b[off] = (unsigned char)val;
    else
        n = -off;
    f = fopen(dst, "wb");
    fwrite(b, 1, (size_t)n, f);
    fclose(f);
    free(b);
}

START_TEST(round_trip)
{
    char *dir = tu_tmpdir(), *p = path_in(dir, "s.store");
    uint64_t h = write_store(p, 1000);
    ss_store s;
    ck_assert_msg(ss_open(&s, p, 1) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(s.n, 1000);
    ck_assert_uint_eq(s.n_files, 2);
    ck_assert_uint_eq(s.hash, h);
    for (uint64_t i = 0; i < s.n; i += 37) {
        int len, cl;
        const char *q = ss_seq(&s, i, &len), *c = ss_cdr3(&s, i, &cl);
        ck_assert_int_eq(len, 1 + (int)i % 50);
        ck_assert_int_eq((int)strlen(q), len);
        ck_assert_int_eq(q[len - 1], "ACDEFGHIKLMNPQRSTVWY"[(i + (uint64_t)len - 1) % 20]);
        if (i % 2)
            ck_assert_ptr_null(c);
        else {
            ck_assert_int_eq(cl, 3 + (int)i % 5);
            ck_assert_int_eq((int)strlen(c), cl);
            ck_assert_int_eq(c[0], "ARDY"[(i * 7) % 4]);
        }
        char id[32];
        snprintf(id, sizeof id, "r%d", (int)i);
        ck_assert_str_eq(ss_id(&s, i), id);
        ck_assert_str_eq(ss_file(&s, i), i < 500 ? "a.tsv" : "b.tsv");
        ck_assert_int_eq(ss_line(&s, i), 2 + (long)i);
    }
    ss_close(&s);
    /* the same records give the same hash; an empty store opens */
    char *p2 = path_in(dir, "t.store");
    ck_assert_uint_eq(write_store(p2, 1000), h);
    ck_assert_uint_ne(write_store(p2, 999), h);
    write_store(p2, 0);
    ck_assert_int_eq(ss_open(&s, p2, 1), TG_OK);
    ck_assert_uint_eq(s.n, 0);
    ss_close(&s);
    free(p);
    free(p2);
    free(dir);
}
END_TEST

START_TEST(abort_leaves_nothing)
{
    char *dir = tu_tmpdir(), *p = path_in(dir, "s.store");
    ss_writer w;
    ck_assert_int_eq(ss_write_begin(&w, p), TG_OK);
    ck_assert_int_eq(ss_write_add(&w, "ACD", 3, "AR", 2, "x", "f", 2), TG_OK);
    ss_write_abort(&w);
    ss_store s;
    ck_assert_int_eq(ss_open(&s, p, 0), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "s.store"));
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
    ck_assert_msg(system(cmd) == 0, "temp files left in %s", dir);
    free(p);
    free(dir);
}
END_TEST

static void expect_bad(const char *p, int verify, const char *what)
{
    ss_store s;
    int st = ss_open(&s, p, verify);
    ck_assert_int_eq(st, TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), what) && strstr(tg_last_error(), p),
                  "expected '%s' in: %s", what, tg_last_error());
    ck_assert_ptr_null(s.base);
}

START_TEST(bad_files)
{
    char *dir = tu_tmpdir(), *p = path_in(dir, "s.store"), *q = path_in(dir, "bad.store");
    write_store(p, 200);
    long n = file_size(p);
    damage(p, q, -100, 0);
    expect_bad(q, 0, "truncated header");
    damage(p, q, -(n - 1), 0);
    expect_bad(q, 0, "truncated");
    damage(p, q, 0, 'X');
    expect_bad(q, 0, "wrong magic");
    damage(p, q, 8, 9);
    expect_bad(q, 0, "version 9");
    /* a file count the section cannot hold (found by fuzz_seqstore: it
     * sized an allocation, 32 GiB for 0xffffffff, before being checked) */
    for (int k = 12; k < 16; k++)
        damage(k == 12 ? p : q, q, k, 0xff);
    expect_bad(q, 0, "file names in a section of");
    /* a record's data offset (table entry 5) beyond the data section */
    ss_store s;
    ck_assert_int_eq(ss_open(&s, p, 0), TG_OK);
    long table = (long)(s.table - s.base), data = (long)((const uint8_t *)s.data - s.base);
    ss_close(&s);
    damage(p, q, table + 5 * SS_ENTRY_BYTES + 3, 0x7f);
    expect_bad(q, 0, "record 5: sequence offset");
    damage(p, q, table + 7 * SS_ENTRY_BYTES + 15, 0x01);
    expect_bad(q, 0, "record 7: id offset");
    damage(p, q, table + 9 * SS_ENTRY_BYTES + 32, 5);
    expect_bad(q, 0, "record 9: file 5");
    /* a changed residue passes the bounds but not the hash */
    damage(p, q, data, 'W');
    ck_assert_int_eq(ss_open(&s, q, 0), TG_OK);
    ss_close(&s);
    expect_bad(q, 1, "content hash");
    free(p);
    free(q);
    free(dir);
}
END_TEST

/* Records with a mate (heavy/light pairs, version 2) beside records
 * without: mate, CDR3, fields (absent ones NULL) read back; sequence NUL
 * mate contiguous; a mate in a version 1 store and a field running past
 * the data section are errors. */
START_TEST(mate_records)
{
    char *dir = tu_tmpdir(), *p = path_in(dir, "m.store"), *q = path_in(dir, "bad.store");
    const int n = 101;
    ss_writer w;
    ck_assert_int_eq(ss_write_begin(&w, p), TG_OK);
    char seq[64], mate[64], cdr3[16], id[32], fld[SS_FIELDS][16];
    for (int i = 0; i < n; i++) {
        int len = 1 + i % 50, ml = 1 + i % 30, cl = 3 + i % 5;
        for (int k = 0; k < len; k++)
            seq[k] = "ACDEFGHIKLMNPQRSTVWY"[(i + k) % 20];
        for (int k = 0; k < ml; k++)
            mate[k] = "DIQMTS"[(i + k) % 6];
        for (int k = 0; k < cl; k++)
            cdr3[k] = "ARDY"[(i * 7 + k) % 4];
        const char *f[SS_FIELDS];
        for (int k = 0; k < SS_FIELDS; k++) {
            fld[k][0] = '\0'; /* field 0: "" (present, empty) */
            if (k)
                snprintf(fld[k], sizeof fld[k], "f%d_%d", k, i);
            f[k] = (k % 2 && i % 3) ? NULL : fld[k];
        }
        snprintf(id, sizeof id, "r%d", i);
        if (i % 2)
            ck_assert_int_eq(ss_write_add(&w, seq, len, cdr3, cl, id, "a.tsv", i), TG_OK);
        else
            ck_assert_int_eq(ss_write_add_mate(&w, seq, len, mate, ml, i % 4 ? NULL : cdr3, cl,
                                               f, id, "b.tsv", i),
                             TG_OK);
    }
    ck_assert_int_eq(ss_write_end(&w, NULL), TG_OK);
    ss_store s;
    ck_assert_msg(ss_open(&s, p, 1) == TG_OK, "%s", tg_last_error());
    for (int i = 0; i < n; i++) {
        int len, ml, cl;
        const char *sq = ss_seq(&s, (uint64_t)i, &len), *m = ss_mate(&s, (uint64_t)i, &ml);
        const char *c = ss_cdr3(&s, (uint64_t)i, &cl);
        ck_assert_int_eq(len, 1 + i % 50);
        ck_assert_int_eq(sq[len], 0);
        ck_assert_str_eq(ss_id(&s, (uint64_t)i), (snprintf(id, sizeof id, "r%d", i), id));
        if (i % 2) {
            ck_assert_ptr_null(m);
            ck_assert_int_eq(ml, 0);
            ck_assert_ptr_nonnull(c);
            ck_assert_ptr_null(ss_field(&s, (uint64_t)i, 0));
            continue;
        }
        ck_assert_int_eq(ml, 1 + i % 30);
        ck_assert_ptr_eq(m, sq + len + 1); /* sequence NUL mate: one key */
        for (int k = 0; k < ml; k++)
            ck_assert_int_eq(m[k], "DIQMTS"[(i + k) % 6]);
        ck_assert_int_eq(m[ml], 0);
        if (i % 4)
            ck_assert_ptr_null(c);
        else {
            ck_assert_int_eq(cl, 3 + i % 5);
            for (int k = 0; k < cl; k++)
                ck_assert_int_eq(c[k], "ARDY"[(i * 7 + k) % 4]);
            ck_assert_int_eq(c[cl], 0);
        }
        for (int k = 0; k < SS_FIELDS; k++) {
            const char *f = ss_field(&s, (uint64_t)i, k);
            if (k % 2 && i % 3) {
                ck_assert_ptr_null(f);
                continue;
            }
            char want[16] = "";
            if (k)
                snprintf(want, sizeof want, "f%d_%d", k, i);
            ck_assert_ptr_nonnull(f);
            ck_assert_str_eq(f, want);
        }
    }
    long data_end = (long)((const uint8_t *)s.ids - s.base);
    ss_close(&s);
    damage(p, q, 8, 1);
    expect_bad(q, 0, "record 0 has a mate in a version 1 store");
    damage(p, q, data_end - 1, 'A'); /* record 100's last field loses its NUL */
    expect_bad(q, 0, "record 100: field 7 runs past");
    free(p);
    free(q);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("seqstore");
    TCase *t = tcase_create("seqstore");
    tcase_add_test(t, round_trip);
    tcase_add_test(t, abort_leaves_nothing);
    tcase_add_test(t, bad_files);
    tcase_add_test(t, mate_records);
    suite_add_tcase(s, t);
    return tu_run(s);
}
