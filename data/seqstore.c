/* The on-disk sequence store: streaming writer, mmap reader, checks. */
#include "seqstore.h"

#include "tg.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char ss_magic[8] = {'A', 'B', 'L', 'M', 'S', 'E', 'Q', 'S'};

uint64_t ss_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int ss_write_begin(ss_writer *w, const char *path)
{
    memset(w, 0, sizeof *w);
    int st = tg_afile_open(&w->out, path);
    if (!st)
        st = tg_afile_open(&w->ids, path);
    if (!st)
        st = tg_afile_open(&w->table, path);
    if (st) {
        ss_write_abort(w);
        return st;
    }
    uint8_t hdr[SS_HEADER_BYTES] = {0};
    w->hash_data = SS_HASH_INIT;
    if (fwrite(hdr, 1, sizeof hdr, w->out.f) != sizeof hdr) {
        st = tg_error(TG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        ss_write_abort(w);
    }
    return st;
}

void ss_write_abort(ss_writer *w)
{
    tg_afile_abort(&w->out);
    tg_afile_abort(&w->ids);
    tg_afile_abort(&w->table);
    for (uint32_t i = 0; i < w->n_files; i++)
        tg_free(w->files[i]);
    tg_free(w->files);
    memset(w, 0, sizeof *w);
}

static int file_index(ss_writer *w, const char *file, uint32_t *idx)
{
    if (w->n_files && !strcmp(w->files[w->n_files - 1], file)) {
        *idx = w->n_files - 1;
        return TG_OK;
    }
    for (uint32_t i = 0; i < w->n_files; i++)
        if (!strcmp(w->files[i], file)) {
            *idx = i;
            return TG_OK;
        }
    if (w->n_files == w->fcap) {
        uint32_t nc = w->fcap ? 2 * w->fcap : 16;
        char **f = tg_realloc(w->files, nc * sizeof *f, "sequence store");
        if (!f)
            return TG_ERR_NOMEM;
        w->files = f;
        w->fcap = nc;
    }
    size_t n = strlen(file) + 1;
    char *c = tg_malloc(n, "sequence store");
    if (!c)
        return TG_ERR_NOMEM;
    memcpy(c, file, n);
    *idx = w->n_files;
    w->files[w->n_files++] = c;
    return TG_OK;
}

static int wr(tg_afile *a, const void *p, size_t n, uint64_t *hash)
{
    if (n && fwrite(p, 1, n, a->f) != n)
        return tg_error(TG_ERR_IO, "%s: cannot write: %s", a->path, strerror(errno));
    if (hash)
        *hash = ss_hash(*hash, p, n);
    return TG_OK;
}

/* One record: seq NUL [mate NUL] cdr3 NUL [SS_FIELDS fields, each NUL]. */
static int add_record(ss_writer *w, const char *seq, int len, const char *mate, int mate_len,
                      const char *cdr3, int cdr3_len, const char *const *fields,
                      const char *id, const char *file, long line)
{
    uint32_t fi;
    if (len < 0 || cdr3_len < 0 || (mate && mate_len < 0))
        return tg_error(TG_ERR_ARG, "sequence store: negative length");
    int st = file_index(w, file ? file : "", &fi);
    if (st)
        return st;
    uint8_t e[SS_ENTRY_BYTES] = {0};
    static const char nul = '\0';
    if (!cdr3)
        cdr3_len = 0;
    uint32_t flags = (cdr3 ? 1u : 0u) | (mate ? 2u : 0u);
    uint64_t bytes = (uint64_t)len + (uint64_t)cdr3_len + 2;
    put64(e, w->data_bytes);
    put64(e + 8, w->ids_bytes);
    put64(e + 16, (uint64_t)(int64_t)line);
    put32(e + 24, (uint32_t)len);
    put32(e + 28, (uint32_t)cdr3_len);
    put32(e + 32, fi);
    size_t idn = strlen(id ? id : "") + 1;
    if ((st = wr(&w->out, seq, (size_t)len, &w->hash_data)) ||
        (st = wr(&w->out, &nul, 1, &w->hash_data)))
        return st;
    if (mate) {
        if ((st = wr(&w->out, mate, (size_t)mate_len, &w->hash_data)) ||
            (st = wr(&w->out, &nul, 1, &w->hash_data)))
            return st;
        bytes += (uint64_t)mate_len + 1;
    }
    if ((st = wr(&w->out, cdr3, (size_t)cdr3_len, &w->hash_data)) ||
        (st = wr(&w->out, &nul, 1, &w->hash_data)))
        return st;
    for (int k = 0; mate && k < SS_FIELDS; k++) {
        const char *f = fields ? fields[k] : NULL;
        size_t fl = f ? strlen(f) : 0;
        if (f)
            flags |= 1u << (8 + k);
        if ((st = wr(&w->out, f, fl, &w->hash_data)) ||
            (st = wr(&w->out, &nul, 1, &w->hash_data)))
            return st;
        bytes += fl + 1;
    }
    put32(e + 36, flags);
    if ((st = wr(&w->ids, id ? id : "", idn, NULL)) || (st = wr(&w->table, e, sizeof e, NULL)))
        return st;
    w->data_bytes += bytes;
    w->ids_bytes += idn;
    w->n++;
    return TG_OK;
}

int ss_write_add(ss_writer *w, const char *seq, int len, const char *cdr3, int cdr3_len,
                 const char *id, const char *file, long line)
{
    return add_record(w, seq, len, NULL, 0, cdr3, cdr3_len, NULL, id, file, line);
}

int ss_write_add_mate(ss_writer *w, const char *seq, int len, const char *mate, int mate_len,
                      const char *cdr3, int cdr3_len, const char *const *fields,
                      const char *id, const char *file, long line)
{
    return add_record(w, seq, len, mate ? mate : "", mate_len, cdr3, cdr3_len, fields, id,
                      file, line);
}

/* Appends side file a (closed first) to w->out, hashing it. */
static int append(ss_writer *w, tg_afile *a, uint64_t *hash)
{
    if (fflush(a->f))
        return tg_error(TG_ERR_IO, "%s: cannot write: %s", a->tmp, strerror(errno));
    FILE *in = fopen(a->tmp, "rb");
    if (!in)
        return tg_error(TG_ERR_IO, "%s: cannot read back: %s", a->tmp, strerror(errno));
    char buf[1 << 16];
    size_t k;
    int st = TG_OK;
    while (!st && (k = fread(buf, 1, sizeof buf, in)) > 0)
        st = wr(&w->out, buf, k, hash);
    if (!st && ferror(in))
        st = tg_error(TG_ERR_IO, "%s: cannot read back", a->tmp);
    fclose(in);
    tg_afile_abort(a);
    return st;
}

int ss_write_end(ss_writer *w, uint64_t *hash_out)
{
    uint64_t h = w->hash_data, files_bytes = 0;
    uint64_t data_off = SS_HEADER_BYTES, ids_off = data_off + w->data_bytes;
    uint64_t table_off = ids_off + w->ids_bytes, files_off = table_off + w->n * SS_ENTRY_BYTES;
    int st = append(w, &w->ids, &h);
    if (!st)
        st = append(w, &w->table, &h);
    for (uint32_t i = 0; !st && i < w->n_files; i++) {
        size_t n = strlen(w->files[i]) + 1;
        st = wr(&w->out, w->files[i], n, &h);
        files_bytes += n;
    }
    uint8_t hdr[SS_HEADER_BYTES] = {0};
    memcpy(hdr, ss_magic, 8);
    put32(hdr + 8, SS_VERSION);
    put32(hdr + 12, w->n_files);
    put64(hdr + 16, w->n);
    put64(hdr + 24, data_off);
    put64(hdr + 32, w->data_bytes);
    put64(hdr + 40, ids_off);
    put64(hdr + 48, w->ids_bytes);
    put64(hdr + 56, table_off);
    put64(hdr + 64, w->n * SS_ENTRY_BYTES);
    put64(hdr + 72, files_off);
    put64(hdr + 80, files_bytes);
    put64(hdr + 88, h);
    if (!st && (fseek(w->out.f, 0, SEEK_SET) || fwrite(hdr, 1, sizeof hdr, w->out.f) != sizeof hdr))
        st = tg_error(TG_ERR_IO, "%s: cannot write the header: %s", w->out.path, strerror(errno));
    if (!st)
        st = tg_afile_commit(&w->out);
    if (!st && hash_out)
        *hash_out = h;
    ss_write_abort(w);
    return st;
}

void ss_close(ss_store *s)
{
    if (s->base)
        munmap((void *)s->base, s->size);
    tg_free(s->files);
    memset(s, 0, sizeof *s);
}

#define BAD(...)                                                                      \
    do {                                                                              \
        st = tg_error(TG_ERR_FORMAT, __VA_ARGS__);                                    \
        goto fail;                                                                    \
    } while (0)

int ss_open(ss_store *s, const char *path, int verify)
{
    memset(s, 0, sizeof *s);
    int st = TG_OK, fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0)
        return tg_error(TG_ERR_IO, "%s: cannot open the sequence store: %s", path,
                        strerror(errno));
    if (fstat(fd, &sb)) {
        close(fd);
        return tg_error(TG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if ((uint64_t)sb.st_size < SS_HEADER_BYTES) {
        close(fd);
        return tg_error(TG_ERR_FORMAT, "%s: not a sequence store: truncated header (%lld bytes)",
                        path, (long long)sb.st_size);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return tg_error(TG_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    s->base = m;
    s->size = (size_t)sb.st_size;
    const uint8_t *h = s->base;
    if (memcmp(h, ss_magic, 8))
        BAD("%s: not a sequence store (wrong magic)", path);
    uint32_t version = get32(h + 8);
    if (version < 1 || version > SS_VERSION)
        BAD("%s: sequence store version %u, this build reads versions 1 to %d", path, version,
            SS_VERSION);
    s->n_files = get32(h + 12);
    s->n = get64(h + 16);
    uint64_t off[4], len[4], end = SS_HEADER_BYTES;
    static const char *sec[4] = {"data", "ids", "table", "files"};
    for (int k = 0; k < 4; k++) {
        off[k] = get64(h + 24 + 16 * k);
        len[k] = get64(h + 32 + 16 * k);
        if (off[k] != end || len[k] > s->size || off[k] > s->size - len[k])
            BAD("%s: truncated or corrupt sequence store: %s section [%llu, +%llu) outside "
                "the file (%zu bytes)", path, sec[k], (unsigned long long)off[k],
                (unsigned long long)len[k], s->size);
        end = off[k] + len[k];
    }
    if (end != s->size)
        BAD("%s: corrupt sequence store: %zu bytes, the header describes %llu", path, s->size,
            (unsigned long long)end);
    if (s->n > len[2] / SS_ENTRY_BYTES || len[2] != s->n * SS_ENTRY_BYTES)
        BAD("%s: corrupt sequence store: table of %llu bytes for %llu records", path,
            (unsigned long long)len[2], (unsigned long long)s->n);
    s->hash = get64(h + 88);
    s->data = (const char *)h + off[0];
    s->ids = (const char *)h + off[1];
    s->table = h + off[2];
    if (verify) {
        uint64_t x = ss_hash(SS_HASH_INIT, h + SS_HEADER_BYTES, s->size - SS_HEADER_BYTES);
        if (x != s->hash)
            BAD("%s: corrupt sequence store: content hash %016llx, header says %016llx", path,
                (unsigned long long)x, (unsigned long long)s->hash);
    }
    /* files: n_files NUL-terminated names exactly filling the section (so
     * at most one name per byte: the count is checked before it sizes an
     * allocation) */
    if (s->n_files > len[3])
        BAD("%s: corrupt sequence store: %u file names in a section of %llu bytes", path,
            s->n_files, (unsigned long long)len[3]);
    s->files = tg_malloc(((size_t)s->n_files + 1) * sizeof *s->files, "sequence store");
    if (!s->files) {
        st = TG_ERR_NOMEM;
        goto fail;
    }
    const char *p = (const char *)h + off[3], *pe = p + len[3];
    for (uint32_t i = 0; i < s->n_files; i++) {
        const char *z = memchr(p, '\0', (size_t)(pe - p));
        if (!z)
            BAD("%s: corrupt sequence store: file name %u runs past its section", path, i);
        s->files[i] = p;
        p = z + 1;
    }
    if (p != pe)
        BAD("%s: corrupt sequence store: %zu stray bytes after the file names", path,
            (size_t)(pe - p));
    for (uint64_t i = 0; i < s->n; i++) {
        const uint8_t *e = s->table + i * SS_ENTRY_BYTES;
        uint64_t d = get64(e), id = get64(e + 8);
        uint64_t l = get32(e + 24), c = get32(e + 28);
        uint32_t f = get32(e + 32);
        uint32_t flags = get32(e + 36);
        if (d > len[0] || l + 1 > len[0] - d || s->data[d + l])
            BAD("%s: corrupt sequence store: record %llu: sequence offset %llu, length %llu "
                "outside the data section", path, (unsigned long long)i,
                (unsigned long long)d, (unsigned long long)l);
        uint64_t q = d + l + 1; /* after the sequence's NUL */
        if ((flags & 2u) && version < 2)
            BAD("%s: corrupt sequence store: record %llu has a mate in a version %u store",
                path, (unsigned long long)i, version);
        if (flags & 2u) {
            const char *z = memchr(s->data + q, '\0', (size_t)(len[0] - q));
            if (!z)
                BAD("%s: corrupt sequence store: record %llu: its mate runs past the data "
                    "section", path, (unsigned long long)i);
            if ((uint64_t)(z - s->data) - q > INT32_MAX)
                BAD("%s: corrupt sequence store: record %llu: mate length out of range", path,
                    (unsigned long long)i);
            q = (uint64_t)(z - s->data) + 1;
        }
        if (c + 1 > len[0] - q || s->data[q + c])
            BAD("%s: corrupt sequence store: record %llu: CDR3 at %llu, length %llu outside "
                "the data section", path, (unsigned long long)i, (unsigned long long)q,
                (unsigned long long)c);
        q += c + 1;
        for (int k = 0; (flags & 2u) && k < SS_FIELDS; k++) {
            const char *z = memchr(s->data + q, '\0', (size_t)(len[0] - q));
            if (!z)
                BAD("%s: corrupt sequence store: record %llu: field %d runs past the data "
                    "section", path, (unsigned long long)i, k);
            q = (uint64_t)(z - s->data) + 1;
        }
        if (id >= len[1] || !memchr(s->ids + id, '\0', (size_t)(len[1] - id)))
            BAD("%s: corrupt sequence store: record %llu: id offset %llu out of range", path,
                (unsigned long long)i, (unsigned long long)id);
        if (f >= s->n_files)
            BAD("%s: corrupt sequence store: record %llu: file %u of %u", path,
                (unsigned long long)i, f, s->n_files);
        if (l > INT32_MAX || c > INT32_MAX)
            BAD("%s: corrupt sequence store: record %llu: length out of range", path,
                (unsigned long long)i);
    }
    return TG_OK;
fail:
    ss_close(s);
    return st;
}

const char *ss_seq(const ss_store *s, uint64_t i, int *len)
{
    const uint8_t *e = s->table + i * SS_ENTRY_BYTES;
    if (len)
        *len = (int)get32(e + 24);
    return s->data + get64(e);
}

/* Offset of record i's CDR3 in the data section (past the mate's NUL). */
static uint64_t cdr3_off(const ss_store *s, const uint8_t *e)
{
    uint64_t q = get64(e) + get32(e + 24) + 1;
    if (get32(e + 36) & 2u)
        q += strlen(s->data + q) + 1;
    return q;
}

const char *ss_cdr3(const ss_store *s, uint64_t i, int *len)
{
    const uint8_t *e = s->table + i * SS_ENTRY_BYTES;
    if (!(get32(e + 36) & 1u)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = (int)get32(e + 28);
    return s->data + cdr3_off(s, e);
}

const char *ss_mate(const ss_store *s, uint64_t i, int *len)
{
    const uint8_t *e = s->table + i * SS_ENTRY_BYTES;
    if (!(get32(e + 36) & 2u)) {
        if (len)
            *len = 0;
        return NULL;
    }
    const char *m = s->data + get64(e) + get32(e + 24) + 1;
    if (len)
        *len = (int)strlen(m);
    return m;
}

const char *ss_field(const ss_store *s, uint64_t i, int k)
{
    const uint8_t *e = s->table + i * SS_ENTRY_BYTES;
    uint32_t flags = get32(e + 36);
    if (!(flags & 2u) || k < 0 || k >= SS_FIELDS || !(flags & (1u << (8 + k))))
        return NULL;
    const char *f = s->data + cdr3_off(s, e) + get32(e + 28) + 1;
    for (int j = 0; j < k; j++)
        f += strlen(f) + 1;
    return f;
}

const char *ss_id(const ss_store *s, uint64_t i)
{
    return s->ids + get64(s->table + i * SS_ENTRY_BYTES + 8);
}

const char *ss_file(const ss_store *s, uint64_t i)
{
    return s->files[get32(s->table + i * SS_ENTRY_BYTES + 32)];
}

long ss_line(const ss_store *s, uint64_t i)
{
    return (long)(int64_t)get64(s->table + i * SS_ENTRY_BYTES + 16);
}
