/* cfg: the JSON helpers shared by the config.json readers and writers of
 * models/ (RobertaConfig in config.c, GPT2Config in gpt2_config.c): typed
 * key lookups with messages naming the file and key, Python float repr,
 * and reading a config.json file into a cJSON tree. */
#ifndef CFG_JSON_H
#define CFG_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "safetensors.h"

/* TG_ERR_FORMAT with "WHERE: key \"KEY\": message". */
int cfg_bad_key(const char *where, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Each reads root[key] into *out when present (absent: *out untouched,
 * TG_OK) and fails naming where and key on a wrong type. cfg_get_int:
 * an integer that fits int (with allow_null, null gives -1). */
int cfg_get_int(const cJSON *root, const char *where, const char *key, int *out,
                int allow_null);
int cfg_get_num(const cJSON *root, const char *where, const char *key, double *out);
/* A string shorter than cap. */
int cfg_get_str(const cJSON *root, const char *where, const char *key, char *out, size_t cap);
/* A boolean key that must not be `bad` (a value not implemented): TG_OK
 * when absent, null or !bad; else an error "true/false is not supported
 * (why)". */
int cfg_check_bool(const cJSON *root, const char *where, const char *key, int bad,
                   const char *why);

/* Lists root's keys that are not among known[0..nk) in out (capacity cap,
 * comma-separated, "..." when full; "" if none). */
void cfg_note_ignored(const cJSON *root, const char *const *known, size_t nk, char *out,
                      size_t cap);

/* Writes json (tg_malloc'd; freed here) to path, a file or a directory
 * (then DIR/config.json), atomically. Returns a status. */
int cfg_write(const char *path, char *json);
/* DIR -> DIR/config.json when path is a directory, else path. tg_malloc'd. */
char *cfg_path(const char *path);
/* Reads and parses the config file at path (a file or a directory holding
 * config.json): *root gets the tree (cJSON_Delete it), *file the file name
 * (tg_free it). Malformed JSON: TG_ERR_FORMAT "FILE:LINE: malformed JSON";
 * TG_ERR_IO if unreadable. On error both are NULL. */
int cfg_read(const char *path, cJSON **root, char **file);

/* Reads the config at path as cfg_read does and calls parse(root, file,
 * out), which fills *out only when it succeeds. Returns a status. */
int cfg_load(const char *path, int (*parse)(const cJSON *root, const char *file, void *out),
             void *out);

/* Python repr() of a float: shortest round-trip digits, ".0" on integral
 * values, exponent form below 1e-4 or from 1e16 on ("1e-05"). */
void cfg_py_float(double v, char *buf, size_t n);
/* `  "key": ID,` or `  "key": null,` for id < 0. */
void cfg_put_id(st_text *o, const char *key, int id);

#endif
