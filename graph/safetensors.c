/* safetensors reader (validating, read on demand) and atomic writer. */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"

#include "afile.h"

#include "tg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_NDTYPES] = {
    [ST_BOOL] = {"BOOL", 1},      [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},        [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},      [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},        [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},
};

const char *st_dtype_name(st_dtype dt)
{
    return (unsigned)dt < ST_NDTYPES ? dtypes[dt].name : "?";
}

size_t st_dtype_size(st_dtype dt) { return (unsigned)dt < ST_NDTYPES ? dtypes[dt].size : 0; }

static int dtype_parse(const char *s, st_dtype *out)
{
    for (int i = 0; i < ST_NDTYPES; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return 1;
        }
    return 0;
}

struct st_file {
    char *path;
    int fd;
    uint64_t data_start; /* 8 + N */
    int n;
    st_info *t;          /* sorted by data offset */
    st_info **by_name;   /* pointers into t sorted by name */
    int n_meta;
    char **meta;         /* key, value pairs */
};

/* ---- small helpers ------------------------------------------------------ */

static char *dup_str(const char *s, const char *what)
{
    size_t n = strlen(s) + 1;
    char *p = tg_malloc(n, what);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Strict UTF-8 check without NUL bytes (names become C strings). */
static int utf8_valid(const unsigned char *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c == 0)
            goto fail;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            len = 2, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0)
            len = 3, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0)
            len = 4, min = 0x10000, c &= 0x07;
        else
            goto fail;
        if (i + len > n)
            goto fail;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                goto fail;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            goto fail;
        i += len;
    }
    return 1;
fail:
    *bad = i;
    return 0;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %" PRId64 : "%" PRId64, shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != floor(d))
        return 0;
    *out = (uint64_t)d;
    return 1;
}

static int read_full(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : 0;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 1;
}

/* ---- header parsing ----------------------------------------------------- */

static int parse_meta(st_file *f, const cJSON *m)
{
    if (cJSON_IsNull(m))
        return TG_OK;
    if (!cJSON_IsObject(m))
        return tg_error(TG_ERR_FORMAT, "%s: __metadata__ is not an object of strings", f->path);
    int n = cJSON_GetArraySize(m);
    f->meta = tg_calloc((size_t)n * 2 + 1, sizeof(char *), "safetensors metadata");
    if (!f->meta)
        return TG_ERR_NOMEM;
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return tg_error(TG_ERR_FORMAT, "%s: __metadata__ entry '%s' is not a string",
                            f->path, e->string);
        char *k = dup_str(e->string, "safetensors metadata"),
             *v = dup_str(e->valuestring, "safetensors metadata");
        f->meta[2 * f->n_meta] = k;
        f->meta[2 * f->n_meta + 1] = v;
        f->n_meta++;
        if (!k || !v)
            return TG_ERR_NOMEM;
    }
    return TG_OK;
}

static int parse_tensor(st_file *f, const cJSON *e, st_info *t)
{
    const char *nm = e->string;
    if (!cJSON_IsObject(e))
        return tg_error(TG_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", f->path,
                        nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return tg_error(TG_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"",
                        f->path, nm);
    if (!dtype_parse(dt->valuestring, &t->dtype))
        return tg_error(TG_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", f->path, nm,
                        dt->valuestring);
    if (!cJSON_IsArray(sh))
        return tg_error(TG_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"",
                        f->path, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return tg_error(TG_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d supported)",
                        f->path, nm, nd, ST_MAX_DIMS);
    t->ndim = nd;
    t->numel = 1;
    int overflow = 0, d = 0;
    for (const cJSON *x = sh->child; x; x = x->next, d++) {
        uint64_t v;
        if (!json_uint(x, &v))
            return tg_error(TG_ERR_FORMAT,
                            "%s: tensor '%s': shape entry %d is not a non-negative integer",
                            f->path, nm, d);
        t->shape[d] = (int64_t)v;
        if (v && t->numel > UINT64_MAX / v)
            overflow = 1;
        else
            t->numel *= v;
    }
    if (overflow || t->numel > UINT64_MAX / st_dtype_size(t->dtype))
        return tg_error(TG_ERR_FORMAT, "%s: tensor '%s': shape overflows the size range",
                        f->path, nm);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !json_uint(off->child, &t->begin) || !json_uint(off->child->next, &t->end))
        return tg_error(TG_ERR_FORMAT,
                        "%s: tensor '%s': \"data_offsets\" is not a pair of non-negative integers",
                        f->path, nm);
    t->name = dup_str(nm, "safetensors tensor name");
    return t->name ? TG_OK : TG_ERR_NOMEM;
}

static int cmp_offset(const void *a, const void *b)
{
    const st_info *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name_ptr(const void *a, const void *b)
{
    return strcmp((*(st_info *const *)a)->name, (*(st_info *const *)b)->name);
}

/* Range checks over tensors sorted by offset: they must tile [0, data_len). */
static int check_layout(st_file *f, uint64_t data_len)
{
    uint64_t pos = 0;
    for (int i = 0; i < f->n; i++) {
        st_info *t = &f->t[i];
        char sb[160];
        if (t->end < t->begin)
            return tg_error(TG_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") end before "
                            "they begin",
                            f->path, t->name, t->begin, t->end);
        if (t->end > data_len)
            return tg_error(TG_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            ") lie outside the data section (%" PRIu64 " bytes; truncated file?)",
                            f->path, t->name, t->begin, t->end, data_len);
        uint64_t need = t->numel * st_dtype_size(t->dtype);
        if (t->end - t->begin != need) {
            shape_str(sb, sizeof sb, t->ndim, t->shape);
            return tg_error(TG_ERR_FORMAT,
                            "%s: tensor '%s': shape %s x %s needs %" PRIu64
                            " bytes but data_offsets [%" PRIu64 ", %" PRIu64 ") hold %" PRIu64,
                            f->path, t->name, sb, st_dtype_name(t->dtype), need, t->begin, t->end,
                            t->end - t->begin);
        }
        if (t->begin < pos)
            return tg_error(TG_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            ") overlap tensor '%s'",
                            f->path, t->name, t->begin, t->end, f->t[i - 1].name);
        if (t->begin > pos)
            return tg_error(TG_ERR_FORMAT,
                            "%s: tensor '%s': gap of %" PRIu64 " unused bytes before its data "
                            "(offset %" PRIu64 ")",
                            f->path, t->name, t->begin - pos, t->begin);
        pos = t->end;
    }
    if (pos != data_len)
        return tg_error(TG_ERR_FORMAT,
                        "%s: %" PRIu64 " bytes after the last tensor's data (data section %" PRIu64
                        " bytes, tensors cover %" PRIu64 ")",
                        f->path, data_len - pos, data_len, pos);
    return TG_OK;
}

static int parse_header(st_file *f, char *hdr, size_t n, uint64_t data_len)
{
    size_t bad;
    if (n == 0 || hdr[0] != '{')
        return tg_error(TG_ERR_FORMAT, "%s: header does not start with '{' (not a safetensors "
                                       "file?)", f->path);
    if (!utf8_valid((const unsigned char *)hdr, n, &bad))
        return tg_error(TG_ERR_FORMAT, "%s: header is not valid UTF-8 (byte %zu of %zu)", f->path,
                        bad, n);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, n, &end, 0);
    if (root && end)
        for (; end < hdr + n; end++)
            if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
                break;
    if (!root || !cJSON_IsObject(root) || (end && end < hdr + n)) {
        size_t at = root ? (size_t)(end - hdr) : (size_t)(cJSON_GetErrorPtr() - hdr);
        cJSON_Delete(root);
        return tg_error(TG_ERR_FORMAT, "%s: header is not a JSON object (error near byte %zu of "
                                       "%zu)", f->path, at > n ? n : at, n);
    }
    int cnt = cJSON_GetArraySize(root), rc = TG_OK;
    f->t = tg_calloc((size_t)cnt + 1, sizeof(st_info), "safetensors tensor table");
    f->by_name = tg_calloc((size_t)cnt + 1, sizeof(st_info *), "safetensors name index");
    if (!f->t || !f->by_name)
        rc = TG_ERR_NOMEM;
    int seen_meta = 0;
    for (const cJSON *e = root->child; e && rc == TG_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            rc = seen_meta ? tg_error(TG_ERR_FORMAT, "%s: duplicate __metadata__", f->path)
                           : parse_meta(f, e);
            seen_meta = 1;
        } else {
            rc = parse_tensor(f, e, &f->t[f->n]);
            if (rc == TG_OK)
                f->n++;
        }
    }
    cJSON_Delete(root);
    if (rc != TG_OK)
        return rc;
    qsort(f->t, (size_t)f->n, sizeof(st_info), cmp_offset);
    for (int i = 0; i < f->n; i++)
        f->by_name[i] = &f->t[i];
    qsort(f->by_name, (size_t)f->n, sizeof(st_info *), cmp_name_ptr);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i]->name, f->by_name[i - 1]->name) == 0)
            return tg_error(TG_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", f->path,
                            f->by_name[i]->name);
    return check_layout(f, data_len);
}

int st_open(const char *path, st_file **out)
{
    *out = NULL;
    st_file *f = tg_calloc(1, sizeof *f, "safetensors file");
    if (!f)
        return TG_ERR_NOMEM;
    f->fd = -1;
    f->path = dup_str(path, "safetensors path");
    if (!f->path) {
        st_close(f);
        return TG_ERR_NOMEM;
    }
    int rc = TG_OK;
    char *hdr = NULL;
    struct stat sb;
    unsigned char len8[8];
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0 || fstat(f->fd, &sb) != 0) {
        rc = tg_error(TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = tg_error(TG_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        rc = tg_error(TG_ERR_FORMAT, "%s: truncated: %" PRIu64 " bytes, shorter than the 8-byte "
                                     "header length", path, size);
        goto done;
    }
    if (read_full(f->fd, len8, 8, 0) != 1) {
        rc = tg_error(TG_ERR_IO, "%s: cannot read the header length", path);
        goto done;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | len8[i];
    if (n > ST_MAX_HEADER) {
        rc = tg_error(TG_ERR_FORMAT, "%s: header length %" PRIu64 " is absurd (limit %llu; not a "
                                     "safetensors file?)", path, n, ST_MAX_HEADER);
        goto done;
    }
    if (n > size - 8) {
        rc = tg_error(TG_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the %" PRIu64
                                     " bytes after it (truncated file?)", path, n, size - 8);
        goto done;
    }
    hdr = tg_malloc((size_t)n + 1, "safetensors header");
    if (!hdr) {
        rc = TG_ERR_NOMEM;
        goto done;
    }
    if (read_full(f->fd, hdr, (size_t)n, 8) != 1) {
        rc = tg_error(TG_ERR_IO, "%s: cannot read the %" PRIu64 "-byte header", path, n);
        goto done;
    }
    hdr[n] = 0;
    f->data_start = 8 + n;
    rc = parse_header(f, hdr, (size_t)n, size - 8 - n);
done:
    tg_free(hdr);
    if (rc != TG_OK)
        st_close(f);
    else
        *out = f;
    return rc;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    for (int i = 0; f->t && i <= f->n; i++)
        tg_free(f->t[i].name);
    for (int i = 0; f->meta && i < 2 * f->n_meta; i++)
        tg_free(f->meta[i]);
    tg_free(f->meta);
    tg_free(f->t);
    tg_free(f->by_name);
    tg_free(f->path);
    tg_free(f);
}

const char *st_path(const st_file *f) { return f->path; }
int st_count(const st_file *f) { return f->n; }
const st_info *st_at(const st_file *f, int i) { return i >= 0 && i < f->n ? &f->t[i] : NULL; }

const st_info *st_find(const st_file *f, const char *name)
{
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(name, f->by_name[mid]->name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

int st_meta_count(const st_file *f) { return f->n_meta; }

void st_meta_at(const st_file *f, int i, const char **key, const char **value)
{
    *key = i >= 0 && i < f->n_meta ? f->meta[2 * i] : NULL;
    *value = i >= 0 && i < f->n_meta ? f->meta[2 * i + 1] : NULL;
}

const char *st_meta_get(const st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

int st_check_shape(const st_file *f, const char *name, int ndim, const int *shape)
{
    const st_info *t = st_find(f, name);
    if (!t)
        return tg_error(TG_ERR_ARG, "%s: no tensor '%s'", f->path, name);
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        char a[160], b[160];
        int64_t want[ST_MAX_DIMS];
        for (int d = 0; d < ndim && d < ST_MAX_DIMS; d++)
            want[d] = shape[d];
        shape_str(a, sizeof a, t->ndim, t->shape);
        shape_str(b, sizeof b, ndim < ST_MAX_DIMS ? ndim : ST_MAX_DIMS, want);
        return tg_error(TG_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", f->path, name,
                        a, b);
    }
    return TG_OK;
}

/* ---- reading data ------------------------------------------------------- */

static float f16_to_f32(uint16_t h)
{
    unsigned sign = (h >> 15) & 1, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float v;
    if (e == 0)
        v = ldexpf((float)m, -24); /* zero or subnormal: m * 2^-24 */
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(m | 0x400), (int)e - 25);
    return sign ? -v : v;
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

/* Looks up name, checks the element count, and returns the info. */
static const st_info *prep_read(const st_file *f, const char *name, size_t numel, int *rc)
{
    const st_info *t = st_find(f, name);
    if (!t) {
        *rc = tg_error(TG_ERR_ARG, "%s: no tensor '%s'", f->path, name);
        return NULL;
    }
    if (t->numel != numel) {
        char sb[160];
        shape_str(sb, sizeof sb, t->ndim, t->shape);
        *rc = tg_error(TG_ERR_ARG, "%s: tensor '%s' has %" PRIu64 " elements (shape %s), caller "
                                   "expects %zu", f->path, name, t->numel, sb, numel);
        return NULL;
    }
    *rc = TG_OK;
    return t;
}

enum { CHUNK = 4096 };

/* Reads the tensor in chunks of CHUNK elements and converts each with
 * conv(src bytes, count, dst, dst offset). */
static int read_chunks(st_file *f, const st_info *t, void *dst,
                       int (*conv)(const st_file *, const st_info *, const unsigned char *,
                                   size_t, void *, size_t))
{
    unsigned char buf[CHUNK * 8];
    size_t es = st_dtype_size(t->dtype);
    for (uint64_t i = 0; i < t->numel; i += CHUNK) {
        size_t k = (size_t)(t->numel - i < CHUNK ? t->numel - i : CHUNK);
        if (read_full(f->fd, buf, k * es, f->data_start + t->begin + i * es) != 1)
            return tg_error(TG_ERR_IO, "%s: tensor '%s': short read (file truncated or changed "
                                       "since it was opened?)", f->path, t->name);
        int rc = conv(f, t, buf, k, dst, (size_t)i);
        if (rc != TG_OK)
            return rc;
    }
    return TG_OK;
}

static int conv_f32(const st_file *f, const st_info *t, const unsigned char *s, size_t k,
                    void *dst, size_t at)
{
    (void)f;
    float *o = (float *)dst + at;
    for (size_t j = 0; j < k; j++) {
        uint16_t h;
        double d;
        switch (t->dtype) {
        case ST_F32: memcpy(&o[j], s + 4 * j, 4); break;
        case ST_F16: memcpy(&h, s + 2 * j, 2); o[j] = f16_to_f32(h); break;
        case ST_BF16: memcpy(&h, s + 2 * j, 2); o[j] = bf16_to_f32(h); break;
        default: memcpy(&d, s + 8 * j, 8); o[j] = (float)d; break; /* ST_F64 */
        }
    }
    return TG_OK;
}

static int conv_i32(const st_file *f, const st_info *t, const unsigned char *s, size_t k,
                    void *dst, size_t at)
{
    int32_t *o = (int32_t *)dst + at;
    for (size_t j = 0; j < k; j++) {
        if (t->dtype == ST_I32) {
            memcpy(&o[j], s + 4 * j, 4);
            continue;
        }
        int64_t v;
        memcpy(&v, s + 8 * j, 8);
        if (v < INT32_MIN || v > INT32_MAX)
            return tg_error(TG_ERR_FORMAT, "%s: tensor '%s': element %zu = %" PRId64
                                           " does not fit in int32", f->path, t->name, at + j, v);
        o[j] = (int32_t)v;
    }
    return TG_OK;
}

int st_read_f32(st_file *f, const char *name, float *dst, size_t numel)
{
    int rc;
    const st_info *t = prep_read(f, name, numel, &rc);
    if (!t)
        return rc;
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64)
        return tg_error(TG_ERR_FORMAT, "%s: tensor '%s' has dtype %s; expected a float dtype "
                                       "(F32, F16, BF16, F64)", f->path, name,
                        st_dtype_name(t->dtype));
    return read_chunks(f, t, dst, conv_f32);
}

int st_read_i32(st_file *f, const char *name, int32_t *dst, size_t numel)
{
    int rc;
    const st_info *t = prep_read(f, name, numel, &rc);
    if (!t)
        return rc;
    if (t->dtype != ST_I32 && t->dtype != ST_I64)
        return tg_error(TG_ERR_FORMAT, "%s: tensor '%s' has dtype %s; expected I32 or I64",
                        f->path, name, st_dtype_name(t->dtype));
    return read_chunks(f, t, dst, conv_i32);
}

static int load_any(st_file *f, const char *name, void **out, size_t *numel, int is_f32)
{
    *out = NULL;
    const st_info *t = st_find(f, name);
    if (!t)
        return tg_error(TG_ERR_ARG, "%s: no tensor '%s'", f->path, name);
    if (t->numel > SIZE_MAX / 4)
        return tg_error(TG_ERR_NOMEM, "%s: tensor '%s' is too large", f->path, name);
    void *p = tg_malloc((size_t)t->numel * 4, name);
    if (!p)
        return TG_ERR_NOMEM;
    int rc = is_f32 ? st_read_f32(f, name, p, (size_t)t->numel)
                    : st_read_i32(f, name, p, (size_t)t->numel);
    if (rc != TG_OK) {
        tg_free(p);
        return rc;
    }
    *out = p;
    if (numel)
        *numel = (size_t)t->numel;
    return TG_OK;
}

int st_load_f32(st_file *f, const char *name, float **out, size_t *numel)
{
    return load_any(f, name, (void **)out, numel, 1);
}

int st_load_i32(st_file *f, const char *name, int32_t **out, size_t *numel)
{
    return load_any(f, name, (void **)out, numel, 0);
}

/* ---- writing ------------------------------------------------------------ */

int st_atomic_write(const char *path, int (*emit)(FILE *fp, void *ctx), void *ctx)
{
    tg_afile a;
    int rc = tg_afile_open(&a, path);
    if (rc)
        return rc;
    rc = emit(a.f, ctx);
    if (rc) {
        tg_afile_abort(&a);
        return rc;
    }
    return tg_afile_commit(&a);
}

typedef struct {
    const char *path;
    const void *buf;
    size_t n;
} buf_ctx;

static int emit_buf(FILE *fp, void *ctx)
{
    buf_ctx *b = ctx;
    if (b->n && fwrite(b->buf, 1, b->n, fp) != b->n)
        return tg_error(TG_ERR_IO, "%s: write failed: %s", b->path, strerror(errno));
    return TG_OK;
}

int st_atomic_write_buf(const char *path, const void *buf, size_t n)
{
    buf_ctx b = {path, buf, n};
    return st_atomic_write(path, emit_buf, &b);
}

int st_read_text(const char *path, size_t max_bytes, char **out, size_t *n)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tg_error(TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    /* a regular file's buffer is its size (+1 to see it grow), not the cap */
    struct stat sb;
    size_t cap = max_bytes;
    if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) && (uintmax_t)sb.st_size < cap)
        cap = (size_t)sb.st_size + 1;
    char *b = tg_malloc(cap + 1, path);
    if (!b) {
        fclose(fp);
        return TG_ERR_NOMEM;
    }
    size_t got = fread(b, 1, cap + 1, fp);
    if (got > cap && cap < max_bytes) { /* it grew while read: refuse rather than cut it */
        tg_free(b);
        fclose(fp);
        return tg_error(TG_ERR_IO, "%s: changed while it was read", path);
    }
    int err = ferror(fp);
    fclose(fp);
    if (err || got > max_bytes) {
        tg_free(b);
        return err ? tg_error(TG_ERR_IO, "%s: read failed", path)
                   : tg_error(TG_ERR_FORMAT, "%s: larger than %zu bytes (not a config/vocab "
                                             "file?)", path, max_bytes);
    }
    b[got] = 0;
    *out = b;
    if (n)
        *n = got;
    return TG_OK;
}

void st_text_put(st_text *b, const char *s, size_t k)
{
    if (b->oom)
        return;
    if (b->len + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + k + 1)
            cap *= 2;
        char *p = tg_realloc(b->s, cap, "text buffer");
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, k);
    b->len += k;
    b->s[b->len] = 0;
}

void st_text_printf(st_text *t, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) {
        t->oom = 1;
        return;
    }
    if ((size_t)k < sizeof small) {
        st_text_put(t, small, (size_t)k);
        return;
    }
    char *big = tg_malloc((size_t)k + 1, "text buffer");
    if (!big) {
        t->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    st_text_put(t, big, (size_t)k);
    tg_free(big);
}

void st_text_free(st_text *t)
{
    tg_free(t->s);
    memset(t, 0, sizeof *t);
}

typedef st_text sbuf;
#define sb_put st_text_put

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* JSON string with serde_json's escaping (", \\, control characters). */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                              : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (named)
                sb_str(b, named);
            else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_str(b, esc);
            }
        } else
            sb_put(b, (const char *)&c, 1);
    }
    sb_put(b, "\"", 1);
}

typedef struct {
    const char *path;
    int n;
    const st_tensor **order;
    sbuf hdr;
} write_ctx;

static int cmp_write_order(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->dtype != y->dtype)
        return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

static uint64_t tensor_numel(const st_tensor *t)
{
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (uint64_t)t->shape[d];
    return n;
}

static int emit_safetensors(FILE *fp, void *vctx)
{
    write_ctx *c = vctx;
    uint64_t n = c->hdr.len;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(n >> (8 * i));
    if (fwrite(len8, 1, 8, fp) != 8 || fwrite(c->hdr.s, 1, c->hdr.len, fp) != c->hdr.len)
        return tg_error(TG_ERR_IO, "%s: write failed: %s", c->path, strerror(errno));
    for (int i = 0; i < c->n; i++) {
        const st_tensor *t = c->order[i];
        size_t bytes = (size_t)tensor_numel(t) * st_dtype_size(t->dtype);
        if (bytes && fwrite(t->data, 1, bytes, fp) != bytes)
            return tg_error(TG_ERR_IO, "%s: write failed at tensor '%s': %s", c->path, t->name,
                            strerror(errno));
    }
    return TG_OK;
}

int st_write(const char *path, const st_tensor *t, int n, const char *const *meta, int n_meta)
{
    for (int i = 0; i < n; i++) {
        const char *nm = t[i].name;
        if (!nm || !*nm || strcmp(nm, "__metadata__") == 0)
            return tg_error(TG_ERR_ARG, "%s: tensor %d has an invalid name '%s'", path, i,
                            nm ? nm : "(null)");
        if ((unsigned)t[i].dtype >= ST_NDTYPES || t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS)
            return tg_error(TG_ERR_ARG, "%s: tensor '%s': bad dtype or ndim %d", path, nm,
                            t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0)
                return tg_error(TG_ERR_ARG, "%s: tensor '%s': negative dimension %d", path, nm,
                                t[i].shape[d]);
        if (!t[i].data && tensor_numel(&t[i]) > 0)
            return tg_error(TG_ERR_ARG, "%s: tensor '%s': no data", path, nm);
    }
    for (int i = 0; i < n_meta; i++)
        if (!meta[2 * i] || !meta[2 * i + 1])
            return tg_error(TG_ERR_ARG, "%s: metadata entry %d is NULL", path, i);
    write_ctx c = {path, n, tg_malloc((size_t)n * sizeof(st_tensor *) + 1, "tensor order"),
                   {0}};
    if (!c.order)
        return TG_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        c.order[i] = &t[i];
    qsort(c.order, (size_t)n, sizeof(st_tensor *), cmp_write_order);
    for (int i = 1; i < n; i++)
        if (strcmp(c.order[i]->name, c.order[i - 1]->name) == 0) {
            int rc = tg_error(TG_ERR_ARG, "%s: tensor name '%s' given twice", path,
                              c.order[i]->name);
            tg_free(c.order);
            return rc;
        }
    sbuf *h = &c.hdr;
    sb_str(h, "{");
    if (n_meta) {
        sb_str(h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                sb_str(h, ",");
            sb_json(h, meta[2 * i]);
            sb_str(h, ":");
            sb_json(h, meta[2 * i + 1]);
        }
        sb_str(h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *x = c.order[i];
        char num[48];
        if (i || n_meta)
            sb_str(h, ",");
        sb_json(h, x->name);
        sb_str(h, ":{\"dtype\":\"");
        sb_str(h, st_dtype_name(x->dtype));
        sb_str(h, "\",\"shape\":[");
        for (int d = 0; d < x->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%d" : "%d", x->shape[d]);
            sb_str(h, num);
        }
        uint64_t end = off + tensor_numel(x) * st_dtype_size(x->dtype);
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, end);
        sb_str(h, num);
        off = end;
    }
    sb_str(h, "}");
    while (h->len % 8)
        sb_str(h, " ");
    int rc = h->oom ? TG_ERR_NOMEM : st_atomic_write(path, emit_safetensors, &c);
    st_text_free(h);
    tg_free(c.order);
    return rc;
}
