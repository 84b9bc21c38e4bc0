/* safetensors: byte-exact writer, bit-exact round trip, dtype conversion,
 * and a clear TG_ERR_FORMAT for every kind of corrupt file. */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"
#include "tg.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path_buf[4096];

static const char *join(const char *dir, const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

/* Removes the (flat) temp dir made by tu_tmpdir and frees its name. */
static void rm_tmpdir(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            unlink(join(dir, e->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    ck_assert_uint_eq(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

static void put_file(const char *path, const void *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

/* Writes 8-byte length + header (as given, no padding) + data bytes. */
static const char *raw_file(const char *dir, const char *name, const char *hdr,
                            const void *data, size_t nd)
{
    size_t h = strlen(hdr);
    unsigned char *b = malloc(8 + h + nd + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, hdr, h);
    if (nd)
        memcpy(b + 8 + h, data, nd);
    const char *p = join(dir, name);
    put_file(p, b, 8 + h + nd);
    free(b);
    return p;
}

/* Opens path expecting failure with `code` and a message containing both the
 * path and `needle`. */
static void expect_open_error(const char *path, int code, const char *needle)
{
    st_file *f = (st_file *)1;
    int rc = st_open(path, &f);
    ck_assert_msg(rc == code, "%s: expected %d got %d (%s)", needle, code, rc, tg_last_error());
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(tg_last_error(), path) != NULL, "message lacks path: %s",
                  tg_last_error());
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "message '%s' lacks '%s'",
                  tg_last_error(), needle);
}

/* Same bytes as the reference library's serialization test. */
START_TEST(writer_matches_reference_bytes)
{
    char *dir = tu_tmpdir();
    float v[6] = {0, 1, 2, 3, 4, 5};
    st_tensor t = {"attn.0", ST_F32, 3, (int[]){1, 2, 3}, v};
    ck_assert_int_eq(st_write(join(dir, "a.st"), &t, 1, NULL, 0), TG_OK);
    size_t n;
    unsigned char *b = slurp(join(dir, "a.st"), &n);
    const char *hdr = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    ck_assert_uint_eq(n, 8 + 64 + 24);
    ck_assert_uint_eq(b[0], 64);
    for (int i = 1; i < 8; i++)
        ck_assert_uint_eq(b[i], 0);
    ck_assert(memcmp(b + 8, hdr, strlen(hdr)) == 0);
    ck_assert(memcmp(b + 72, v, 24) == 0);
    free(b);

    /* Empty file with metadata: 40-byte header padded with spaces. */
    const char *meta[] = {"framework", "pt"};
    ck_assert_int_eq(st_write(join(dir, "e.st"), NULL, 0, meta, 1), TG_OK);
    b = slurp(join(dir, "e.st"), &n);
    ck_assert_uint_eq(n, 48);
    ck_assert_uint_eq(b[0], 40);
    ck_assert(memcmp(b + 8, "{\"__metadata__\":{\"framework\":\"pt\"}}     ", 40) == 0);
    free(b);
    st_file *f;
    ck_assert_int_eq(st_open(join(dir, "e.st"), &f), TG_OK);
    ck_assert_int_eq(st_count(f), 0);
    ck_assert_str_eq(st_meta_get(f, "framework"), "pt");
    st_close(f);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(round_trip_bit_exact)
{
    char *dir = tu_tmpdir();
    enum { N = 1000 };
    float *w = malloc(N * sizeof(float));
    uint32_t special[] = {0x80000000u, 0x00000001u, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                          0x007fffffu, 0x7f7fffffu};
    tg_rng r;
    tg_rng_seed(&r, 3);
    for (int i = 0; i < N; i++)
        w[i] = (float)tg_rng_normal(&r);
    memcpy(w, special, sizeof special);
    int32_t ids[6] = {0, -1, 2147483647, -2147483647 - 1, 5, 24};
    float scalar = 2.5f;
    st_tensor t[] = {
        {"z.weight", ST_F32, 2, (int[]){40, 25}, w},
        {"a.ids", ST_I32, 2, (int[]){2, 3}, ids},
        {"m.empty", ST_F32, 2, (int[]){0, 7}, NULL},
        {"b.scalar", ST_F32, 0, NULL, &scalar},
    };
    const char *meta[] = {"format", "pt", "note", "quote \" backslash \\ newline \n"};
    const char *p = join(dir, "model.safetensors");
    ck_assert_int_eq(st_write(p, t, 4, meta, 2), TG_OK);

    st_file *f;
    ck_assert_int_eq(st_open(p, &f), TG_OK);
    ck_assert_int_eq(st_count(f), 4);
    /* I32 before F32 would be wrong: F32 has the larger alignment rank, then names. */
    ck_assert_str_eq(st_at(f, 0)->name, "b.scalar");
    ck_assert_str_eq(st_at(f, 1)->name, "m.empty");
    ck_assert_str_eq(st_at(f, 2)->name, "z.weight");
    ck_assert_str_eq(st_at(f, 3)->name, "a.ids");
    ck_assert_str_eq(st_meta_get(f, "format"), "pt");
    ck_assert_str_eq(st_meta_get(f, "note"), meta[3]);
    ck_assert_ptr_null(st_meta_get(f, "absent"));
    ck_assert_ptr_null(st_find(f, "nope"));

    const st_info *z = st_find(f, "z.weight");
    ck_assert_int_eq(z->dtype, ST_F32);
    ck_assert_int_eq(z->ndim, 2);
    ck_assert_int_eq(z->shape[0], 40);
    ck_assert_int_eq(z->shape[1], 25);
    float *back;
    size_t n;
    ck_assert_int_eq(st_load_f32(f, "z.weight", &back, &n), TG_OK);
    ck_assert_uint_eq(n, N);
    ck_assert(memcmp(back, w, N * sizeof(float)) == 0);
    tg_free(back);

    int32_t ib[6];
    ck_assert_int_eq(st_read_i32(f, "a.ids", ib, 6), TG_OK);
    ck_assert(memcmp(ib, ids, sizeof ids) == 0);
    float s;
    ck_assert_int_eq(st_find(f, "b.scalar")->ndim, 0);
    ck_assert_int_eq(st_read_f32(f, "b.scalar", &s, 1), TG_OK);
    ck_assert_float_eq(s, 2.5f);
    ck_assert_uint_eq(st_find(f, "m.empty")->numel, 0);
    ck_assert_int_eq(st_read_f32(f, "m.empty", &s, 0), TG_OK);
    ck_assert_int_eq(st_check_shape(f, "z.weight", 2, (int[]){40, 25}), TG_OK);

    /* Read errors name file and tensor. */
    ck_assert_int_eq(st_check_shape(f, "z.weight", 2, (int[]){25, 40}), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'z.weight' has shape [40, 25], expected [25, 40]"));
    ck_assert_int_eq(st_check_shape(f, "q", 1, (int[]){1}), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "no tensor 'q'"));
    ck_assert_int_eq(st_read_f32(f, "z.weight", back = malloc(4), 1), TG_ERR_ARG);
    free(back);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "has 1000 elements"));
    ck_assert_int_eq(st_read_f32(f, "a.ids", &s, 6), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'a.ids' has dtype I32"));
    ck_assert_int_eq(st_read_i32(f, "b.scalar", ib, 1), TG_ERR_FORMAT);
    st_close(f);

    /* Writing the same tensors again gives identical bytes (deterministic). */
    size_t n1, n2;
    unsigned char *b1 = slurp(p, &n1);
    ck_assert_int_eq(st_write(join(dir, "again.safetensors"), t, 4, meta, 2), TG_OK);
    unsigned char *b2 = slurp(join(dir, "again.safetensors"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(b1, b2, n1) == 0);
    uint64_t h = 0;
    memcpy(&h, b1, 8);
    ck_assert_uint_eq(h % 8, 0);
    free(b1);
    free(b2);
    free(w);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(half_precision_conversion_exact)
{
    char *dir = tu_tmpdir();
    uint16_t f16[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x8000, 0x7C00, 0xFC00,
                      0x3555, 0x7E00};
    float f16_want[] = {1.0f, -2.0f, 65504.0f, ldexpf(1, -24), ldexpf(1023, -24),
                        ldexpf(1, -14), -0.0f, INFINITY, -INFINITY, 0.333251953125f, NAN};
    uint16_t bf16[] = {0x3F80, 0xC049, 0x0001, 0x7F80, 0x8000, 0x4300, 0x7F7F};
    float bf16_want[] = {1.0f, -3.140625f, ldexpf(1, -133), INFINITY, -0.0f, 128.0f,
                         ldexpf(255, 120)};
    int64_t i64[] = {0, -5, 2147483647, 12};
    int64_t i64_bad[] = {1, 2147483648LL};
    double f64[] = {0.5, -1e-3};
    st_tensor t[] = {
        {"h", ST_F16, 1, (int[]){11}, f16},
        {"bf", ST_BF16, 1, (int[]){7}, bf16},
        {"i64", ST_I64, 1, (int[]){4}, i64},
        {"i64_bad", ST_I64, 1, (int[]){2}, i64_bad},
        {"f64", ST_F64, 1, (int[]){2}, f64},
        {"u8", ST_U8, 1, (int[]){3}, "abc"},
    };
    const char *p = join(dir, "half.safetensors");
    ck_assert_int_eq(st_write(p, t, 6, NULL, 0), TG_OK);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), TG_OK);
    /* Written order: alignment rank descending (I64, F64, BF16, F16, U8). */
    ck_assert_str_eq(st_at(f, 0)->name, "i64");
    ck_assert_str_eq(st_at(f, 2)->name, "f64");
    ck_assert_str_eq(st_at(f, 5)->name, "u8");
    float out[11];
    ck_assert_int_eq(st_read_f32(f, "h", out, 11), TG_OK);
    for (int i = 0; i < 10; i++) {
        ck_assert_msg(memcmp(&out[i], &f16_want[i], 4) == 0, "f16 %d: %a vs %a", i, out[i],
                      f16_want[i]);
    }
    ck_assert(isnan(out[10]));
    ck_assert_int_eq(st_read_f32(f, "bf", out, 7), TG_OK);
    for (int i = 0; i < 7; i++)
        ck_assert_msg(memcmp(&out[i], &bf16_want[i], 4) == 0, "bf16 %d: %a", i, out[i]);
    ck_assert_int_eq(st_read_f32(f, "f64", out, 2), TG_OK);
    ck_assert_float_eq(out[0], 0.5f);
    ck_assert_float_eq(out[1], (float)-1e-3);
    int32_t iv[4];
    ck_assert_int_eq(st_read_i32(f, "i64", iv, 4), TG_OK);
    ck_assert_int_eq(iv[2], 2147483647);
    ck_assert_int_eq(iv[1], -5);
    ck_assert_int_eq(st_read_i32(f, "i64_bad", iv, 2), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'i64_bad': element 1 = 2147483648"));
    ck_assert_int_eq(st_read_f32(f, "u8", out, 3), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "dtype U8"));
    st_close(f);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(corrupt_files_rejected)
{
    char *dir = tu_tmpdir();
    float v[4] = {1, 2, 3, 4};
    const char *ok_hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    st_file *f;
    /* The hand-made valid file opens (unpadded header is legal). */
    ck_assert_int_eq(st_open(raw_file(dir, "ok", ok_hdr, v, 16), &f), TG_OK);
    ck_assert_int_eq(st_count(f), 2);
    st_close(f);

    expect_open_error(join(dir, "missing"), TG_ERR_IO, "cannot open");
    put_file(join(dir, "short"), "\x10\0\0", 3);
    expect_open_error(join(dir, "short"), TG_ERR_FORMAT, "truncated: 3 bytes");
    put_file(join(dir, "empty"), "", 0);
    expect_open_error(join(dir, "empty"), TG_ERR_FORMAT, "truncated: 0 bytes");

    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    put_file(join(dir, "absurd"), big, 16);
    expect_open_error(join(dir, "absurd"), TG_ERR_FORMAT, "is absurd");
    unsigned char over[16] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    put_file(join(dir, "over"), over, 16);
    expect_open_error(join(dir, "over"), TG_ERR_FORMAT, "header length 200 exceeds the 8 bytes");

    /* Truncated data section: the last tensor's range lies outside it. */
    expect_open_error(raw_file(dir, "trunc", ok_hdr, v, 12), TG_ERR_FORMAT,
                      "tensor 'b': data_offsets [8, 16) lie outside the data section (12 bytes");
    expect_open_error(raw_file(dir, "notjson", "{\"a\": [1, 2", NULL, 0), TG_ERR_FORMAT,
                      "header is not a JSON object");
    expect_open_error(raw_file(dir, "garbage", "{} xyz", NULL, 0), TG_ERR_FORMAT,
                      "header is not a JSON object");
    expect_open_error(raw_file(dir, "noobj", "[1,2,3]", NULL, 0), TG_ERR_FORMAT,
                      "does not start with '{'");
    expect_open_error(raw_file(dir, "utf8", "{\"\xff\":1}", NULL, 0), TG_ERR_FORMAT,
                      "not valid UTF-8 (byte 2");
    expect_open_error(
        raw_file(dir, "overlap",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 v, 12),
        TG_ERR_FORMAT, "tensor 'b': data_offsets [4, 12) overlap tensor 'a'");
    expect_open_error(
        raw_file(dir, "gap",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                 v, 16),
        TG_ERR_FORMAT, "tensor 'b': gap of 4 unused bytes");
    expect_open_error(
        raw_file(dir, "trailing", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 v, 16),
        TG_ERR_FORMAT, "8 bytes after the last tensor's data");
    expect_open_error(
        raw_file(dir, "dtype", "{\"a\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 v, 8),
        TG_ERR_FORMAT, "tensor 'a': unknown dtype \"F7\"");
    expect_open_error(
        raw_file(dir, "size", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 v, 8),
        TG_ERR_FORMAT, "tensor 'a': shape [2] x F16 needs 4 bytes but data_offsets [0, 8) hold 8");
    expect_open_error(
        raw_file(dir, "dup",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                 v, 16),
        TG_ERR_FORMAT, "tensor 'a' appears twice");
    expect_open_error(
        raw_file(dir, "reversed",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", v, 8),
        TG_ERR_FORMAT, "tensor 'a': data_offsets [8, 0) end before");
    expect_open_error(
        raw_file(dir, "negshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
                 v, 8),
        TG_ERR_FORMAT, "tensor 'a': shape entry 0 is not a non-negative integer");
    expect_open_error(
        raw_file(dir, "overflow",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                 "\"data_offsets\":[0,8]}}", v, 8),
        TG_ERR_FORMAT, "tensor 'a': shape overflows");
    expect_open_error(
        raw_file(dir, "nooff", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", v, 8), TG_ERR_FORMAT,
        "tensor 'a': \"data_offsets\" is not a pair");
    expect_open_error(raw_file(dir, "notobj", "{\"a\":3}", NULL, 0), TG_ERR_FORMAT,
                      "tensor 'a': header entry is not an object");
    expect_open_error(raw_file(dir, "meta", "{\"__metadata__\":{\"k\":1}}", NULL, 0),
                      TG_ERR_FORMAT, "__metadata__ entry 'k' is not a string");
    rm_tmpdir(dir);
}
END_TEST

START_TEST(write_errors_and_atomicity)
{
    char *dir = tu_tmpdir();
    float v[2] = {1, 2};
    st_tensor dup[] = {{"x", ST_F32, 1, (int[]){2}, v}, {"x", ST_F32, 1, (int[]){2}, v}};
    const char *p = join(dir, "m.safetensors");
    put_file(p, "old", 3);
    ck_assert_int_eq(st_write(p, dup, 2, NULL, 0), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'x' given twice"));
    st_tensor meta_name = {"__metadata__", ST_F32, 1, (int[]){2}, v};
    ck_assert_int_eq(st_write(p, &meta_name, 1, NULL, 0), TG_ERR_ARG);
    st_tensor neg = {"n", ST_F32, 1, (int[]){-1}, v};
    ck_assert_int_eq(st_write(p, &neg, 1, NULL, 0), TG_ERR_ARG);
    size_t n;
    unsigned char *b = slurp(p, &n);
    ck_assert_uint_eq(n, 3); /* untouched */
    free(b);
    ck_assert_int_eq(st_write("/nonexistent-dir/x.safetensors", dup, 1, NULL, 0), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "/nonexistent-dir/x.safetensors"));
    /* No temp files left behind. */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            files++;
    closedir(d);
    ck_assert_int_eq(files, 1);
    rm_tmpdir(dir);
}
END_TEST

/* Every allocation failure in open/read/write is reported, never a crash or
 * leak (ASan build checks leaks). */
START_TEST(allocation_failures)
{
    char *dir = tu_tmpdir();
    float v[3] = {1, 2, 3};
    st_tensor t[] = {{"a", ST_F32, 1, (int[]){3}, v}, {"b", ST_F32, 1, (int[]){3}, v}};
    const char *meta[] = {"format", "pt"};
    const char *p = join(dir, "m.safetensors");
    ck_assert_int_eq(st_write(p, t, 2, meta, 1), TG_OK);
    int ok = 0;
    for (long k = 1; k < 40 && !ok; k++) {
        tg_alloc_fail_after(k);
        st_file *f = NULL;
        int rc = st_open(p, &f);
        float *x = NULL;
        if (rc == TG_OK) {
            rc = st_load_f32(f, "b", &x, NULL);
            ok = rc == TG_OK;
            tg_free(x);
            st_close(f);
        }
        if (!ok)
            ck_assert_int_eq(rc, TG_ERR_NOMEM);
        tg_alloc_fail_after(0);
    }
    ck_assert(ok);
    for (long k = 1; k < 10; k++) {
        tg_alloc_fail_after(k);
        int rc = st_write(p, t, 2, meta, 1);
        tg_alloc_fail_after(0);
        ck_assert(rc == TG_OK || rc == TG_ERR_NOMEM);
    }
    rm_tmpdir(dir);
}
END_TEST

/* The Python-written fixtures: read with the C reader, F16/BF16 copies agree
 * with F32 to their precision, and the C writer reproduces model.safetensors
 * byte for byte. */
START_TEST(python_fixtures)
{
    const char *srcdir = tu_source_dir();
    if (!srcdir) {
        printf("skip python_fixtures: ABLM_SOURCE_DIR unset\n");
        return;
    }
    char fx[4096], p[4200];
    snprintf(fx, sizeof fx, "%s/tests/fixtures/roberta_tiny", srcdir);
    st_file *m, *h, *bf, *g;
    snprintf(p, sizeof p, "%s/model.safetensors", fx);
    ck_assert_int_eq(st_open(p, &m), TG_OK);
    snprintf(p, sizeof p, "%s/model_f16.safetensors", fx);
    ck_assert_int_eq(st_open(p, &h), TG_OK);
    snprintf(p, sizeof p, "%s/model_bf16.safetensors", fx);
    ck_assert_int_eq(st_open(p, &bf), TG_OK);
    snprintf(p, sizeof p, "%s/golden.safetensors", fx);
    ck_assert_int_eq(st_open(p, &g), TG_OK);
    ck_assert_int_eq(st_count(m), 5 + 2 * 16 + 5);
    ck_assert_str_eq(st_meta_get(m, "format"), "pt");
    ck_assert_int_eq(st_check_shape(m, "roberta.embeddings.word_embeddings.weight", 2,
                                    (int[]){25, 24}), TG_OK);
    ck_assert_int_eq(st_check_shape(m, "roberta.encoder.layer.1.intermediate.dense.weight", 2,
                                    (int[]){40, 24}), TG_OK);

    int n = st_count(m);
    st_tensor *out = calloc((size_t)n, sizeof *out);
    float **vals = calloc((size_t)n, sizeof *vals);
    int (*shapes)[ST_MAX_DIMS] = calloc((size_t)n, sizeof *shapes);
    for (int i = 0; i < n; i++) {
        const st_info *t = st_at(m, i);
        size_t k;
        float *a, *b;
        ck_assert_int_eq(st_load_f32(m, t->name, &vals[i], &k), TG_OK);
        ck_assert_int_eq(st_load_f32(h, t->name, &a, NULL), TG_OK);
        ck_assert_int_eq(st_load_f32(bf, t->name, &b, NULL), TG_OK);
        for (size_t j = 0; j < k; j++) {
            float v = vals[i][j];
            ck_assert_msg(fabsf(a[j] - v) <= fabsf(v) * 0x1p-11f + 0x1p-25f, "%s[%zu] f16", t->name, j);
            ck_assert_msg(fabsf(b[j] - v) <= fabsf(v) * 0x1p-8f, "%s[%zu] bf16", t->name, j);
        }
        tg_free(a);
        tg_free(b);
        for (int d = 0; d < t->ndim; d++)
            shapes[i][d] = (int)t->shape[d];
        out[i] = (st_tensor){t->name, ST_F32, t->ndim, shapes[i], vals[i]};
        /* every parameter has a golden gradient of the same shape */
        snprintf(p, sizeof p, "grad.%s", t->name);
        ck_assert_int_eq(st_check_shape(g, p, t->ndim, shapes[i]), TG_OK);
    }
    int32_t ids[33], labels[33];
    ck_assert_int_eq(st_check_shape(g, "input_ids", 2, (int[]){3, 11}), TG_OK);
    ck_assert_int_eq(st_read_i32(g, "input_ids", ids, 33), TG_OK);
    ck_assert_int_eq(st_read_i32(g, "labels", labels, 33), TG_OK);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(labels[0], -100);
    ck_assert_int_eq(st_check_shape(g, "logits", 3, (int[]){3, 11, 25}), TG_OK);
    ck_assert_int_eq(st_check_shape(g, "loss", 1, (int[]){1}), TG_OK);

    char *dir = tu_tmpdir();
    const char *meta[] = {"format", "pt"};
    ck_assert_int_eq(st_write(join(dir, "m.safetensors"), out, n, meta, 1), TG_OK);
    size_t n1, n2;
    unsigned char *b1 = slurp(join(dir, "m.safetensors"), &n1);
    snprintf(p, sizeof p, "%s/model.safetensors", fx);
    unsigned char *b2 = slurp(p, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    for (int i = 0; i < n; i++)
        tg_free(vals[i]);
    free(vals);
    free(out);
    free(shapes);
    st_close(m);
    st_close(h);
    st_close(bf);
    st_close(g);
    rm_tmpdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("safetensors");
    tcase_add_test(tc, writer_matches_reference_bytes);
    tcase_add_test(tc, round_trip_bit_exact);
    tcase_add_test(tc, half_precision_conversion_exact);
    tcase_add_test(tc, corrupt_files_rejected);
    tcase_add_test(tc, write_errors_and_atomicity);
    tcase_add_test(tc, allocation_failures);
    tcase_add_test(tc, python_fixtures);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
