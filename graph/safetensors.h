/* st: reader and writer of the safetensors format (Hugging Face).
 *
 * File layout: 8-byte little-endian u64 N, N bytes of UTF-8 JSON header,
 * then the data section. The header maps each tensor name to
 * {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (byte range
 * [begin, end) relative to the start of the data section) and may hold a
 * "__metadata__" object of string -> string.
 *
 * The reader follows the reference library's validation: header length at
 * most 100,000,000 and within the file, header starts with '{', valid UTF-8
 * JSON object, no duplicate names, the byte ranges sorted by offset tile the
 * data section exactly (no gap, no overlap, nothing after the last tensor),
 * and every range holds exactly numel x dtype-size bytes. Any violation is
 * TG_ERR_FORMAT with a message "PATH: ..." naming the tensor. Tensor data is
 * read on demand (pread), so opening a large checkpoint is cheap.
 *
 * The writer produces what the Python library writes: compact JSON,
 * "__metadata__" first, tensors ordered by dtype alignment (descending) then
 * name (so an all-F32 file is sorted by name), header padded with spaces to
 * a multiple of 8 bytes, data written contiguously in that order. Output is
 * atomic (temp file in the same directory, fsync, rename).
 */
#ifndef ST_SAFETENSORS_H
#define ST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000ull

/* Every dtype of the format, in the reference library's alignment order
 * (the writer sorts by this order, descending). Reading converts F32, F16,
 * BF16 and F64 to float32 and I32, I64 to int32; the other dtypes are
 * listed and validated but cannot be read. */
typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_NDTYPES
} st_dtype;

/* "F32", "BF16", ...; "?" for an out-of-range value. */
const char *st_dtype_name(st_dtype dt);
/* Bytes per element (0 for an out-of-range value). */
size_t st_dtype_size(st_dtype dt);

/* One tensor of an opened file. begin/end are relative to the data section. */
typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;
} st_info;

typedef struct st_file st_file;

/* Opens and validates a safetensors file; on success *out owns an open file
 * descriptor and the parsed header. Returns TG_OK, TG_ERR_IO (cannot open or
 * read), TG_ERR_FORMAT (invalid contents) or TG_ERR_NOMEM; the message names
 * the path and, where one is at fault, the tensor. */
int st_open(const char *path, st_file **out);
/* Closes the file and frees everything. NULL-safe. */
void st_close(st_file *f);
/* The path given to st_open. */
const char *st_path(const st_file *f);

/* Number of tensors, and the i-th in data-offset order (0 <= i < count). */
int st_count(const st_file *f);
const st_info *st_at(const st_file *f, int i);
/* The tensor called `name`, or NULL (no error recorded). */
const st_info *st_find(const st_file *f, const char *name);

/* __metadata__ entries: count, the i-th key/value, and lookup by key (NULL
 * if absent). */
int st_meta_count(const st_file *f);
void st_meta_at(const st_file *f, int i, const char **key, const char **value);
const char *st_meta_get(const st_file *f, const char *key);

/* Checks that tensor `name` exists and has exactly shape[0..ndim). Returns
 * TG_OK, TG_ERR_ARG if missing ("PATH: no tensor 'x'") or TG_ERR_SHAPE
 * ("PATH: tensor 'x' has shape [a, b], expected [c, d]"). */
int st_check_shape(const st_file *f, const char *name, int ndim, const int *shape);

/* Reads tensor `name` as float32 into dst, which holds `numel` floats; numel
 * must equal the tensor's element count. Converts F16 and BF16 exactly and
 * F64 by rounding. Errors: missing tensor / count mismatch (TG_ERR_ARG),
 * integer or unsupported dtype (TG_ERR_FORMAT), short read (TG_ERR_IO). */
int st_read_f32(st_file *f, const char *name, float *dst, size_t numel);
/* The same for int32 output from I32 or I64 tensors; an I64 value outside
 * the int32 range is TG_ERR_FORMAT naming the tensor and element. */
int st_read_i32(st_file *f, const char *name, int32_t *dst, size_t numel);
/* Allocating variants: *out (tg_malloc'd, caller tg_frees) gets all values,
 * *numel (if non-NULL) their count. */
int st_load_f32(st_file *f, const char *name, float **out, size_t *numel);
int st_load_i32(st_file *f, const char *name, int32_t **out, size_t *numel);

/* ---- writing ------------------------------------------------------------ */

/* One tensor to write: `data` holds numel elements of `dtype` in host
 * (little-endian) byte order, e.g. float for ST_F32, int32_t for ST_I32,
 * uint16_t bit patterns for ST_F16/ST_BF16. data may be NULL if numel == 0. */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    const int *shape;
    const void *data;
} st_tensor;

/* Writes n tensors and n_meta metadata pairs (meta[2k] = key, meta[2k+1] =
 * value; e.g. {"format", "pt"} as transformers writes) to path atomically.
 * Rejects (TG_ERR_ARG) empty or duplicate names, the name "__metadata__",
 * negative dims, ndim > ST_MAX_DIMS. TG_ERR_IO on write failure; path is
 * then untouched. */
int st_write(const char *path, const st_tensor *t, int n, const char *const *meta, int n_meta);

/* Atomic file output shared by the checkpoint writers: creates a temp file
 * next to path, calls emit(fp, ctx) (which returns a status), flushes,
 * fsyncs, renames over path. On any failure the temp file is removed, path
 * is untouched and the status (TG_ERR_IO with a message naming path, or
 * emit's own) is returned. */
int st_atomic_write(const char *path, int (*emit)(FILE *fp, void *ctx), void *ctx);
/* Convenience: atomically writes the n bytes at buf to path. */
int st_atomic_write_buf(const char *path, const void *buf, size_t n);
/* Reads a whole small file (at most max_bytes) for the JSON/text checkpoint
 * files: *out is NUL-terminated (tg_free it), *n (if non-NULL) its length.
 * TG_ERR_IO if missing/unreadable, TG_ERR_FORMAT if larger than max_bytes. */
int st_read_text(const char *path, size_t max_bytes, char **out, size_t *n);

/* Growable text for the JSON/text checkpoint files. Start from {0}; on
 * allocation failure `oom` is set and later appends do nothing. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} st_text;
/* Appends printf-style text (s stays NUL-terminated). */
void st_text_printf(st_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends k raw bytes. */
void st_text_put(st_text *t, const char *s, size_t k);
void st_text_free(st_text *t);

#endif
