/* JSON helpers of the config.json readers and writers. */
#define _POSIX_C_SOURCE 200809L
#include "cfg_json.h"

#include "tg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BAD(key, ...) cfg_bad_key(where, key, __VA_ARGS__)

int cfg_bad_key(const char *where, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error(TG_ERR_FORMAT, "%s: key \"%s\": %s", where, key, msg);
}

int cfg_get_int(const cJSON *root, const char *where, const char *key, int *out, int allow_null)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v)
        return TG_OK;
    if (allow_null && cJSON_IsNull(v)) {
        *out = -1;
        return TG_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        fabs(v->valuedouble) > 2147483647.0)
        return BAD(key, "expected an integer%s", allow_null ? " or null" : "");
    *out = (int)v->valuedouble;
    return TG_OK;
}

int cfg_get_num(const cJSON *root, const char *where, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v)
        return TG_OK;
    if (!cJSON_IsNumber(v))
        return BAD(key, "expected a number");
    *out = v->valuedouble;
    return TG_OK;
}

int cfg_get_str(const cJSON *root, const char *where, const char *key, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v)
        return TG_OK;
    if (!cJSON_IsString(v))
        return BAD(key, "expected a string");
    if (strlen(v->valuestring) >= cap)
        return BAD(key, "value too long");
    strcpy(out, v->valuestring);
    return TG_OK;
}

int cfg_check_bool(const cJSON *root, const char *where, const char *key, int bad,
                   const char *why)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v))
        return TG_OK;
    if (!cJSON_IsBool(v))
        return BAD(key, "expected true or false");
    if (cJSON_IsTrue(v) == bad)
        return BAD(key, "%s is not supported (%s)", bad ? "true" : "false", why);
    return TG_OK;
}

char *cfg_path(const char *path)
{
    struct stat sb;
    int dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    size_t n = strlen(path) + 16;
    char *p = tg_malloc(n, "config path");
    if (p)
        snprintf(p, n, dir ? "%s/config.json" : "%s", path);
    return p;
}

int cfg_read(const char *path, cJSON **root, char **file)
{
    *root = NULL;
    *file = cfg_path(path);
    if (!*file)
        return TG_ERR_NOMEM;
    char *text = NULL;
    int rc = st_read_text(*file, 1 << 20, &text, NULL);
    if (rc == TG_OK) {
        const char *end = NULL;
        *root = cJSON_ParseWithOpts(text, &end, 1);
        if (!*root) {
            int line = 1;
            const char *at = cJSON_GetErrorPtr();
            for (const char *q = text; at && q < at && *q; q++)
                line += *q == '\n';
            rc = tg_error(TG_ERR_FORMAT, "%s:%d: malformed JSON", *file, line);
        }
    }
    tg_free(text);
    if (rc) {
        tg_free(*file);
        *file = NULL;
    }
    return rc;
}

int cfg_load(const char *path, int (*parse)(const cJSON *root, const char *file, void *out),
             void *out)
{
    cJSON *root;
    char *file;
    int rc = cfg_read(path, &root, &file);
    if (rc == TG_OK) {
        rc = parse(root, file, out);
        cJSON_Delete(root);
    }
    tg_free(file);
    return rc;
}

void cfg_py_float(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(buf, n, "%.1f", v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
}

void cfg_put_id(st_text *o, const char *key, int id)
{
    if (id < 0)
        st_text_printf(o, "  \"%s\": null,\n", key);
    else
        st_text_printf(o, "  \"%s\": %d,\n", key, id);
}

void cfg_note_ignored(const cJSON *root, const char *const *known, size_t nk, char *out,
                      size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        size_t k = 0;
        while (k < nk && strcmp(e->string, known[k]) != 0)
            k++;
        if (k < nk)
            continue;
        size_t need = strlen(e->string) + (len ? 2 : 0);
        if (len + need + 6 >= cap) {
            snprintf(out + len, cap - len, "%s...", len ? ", " : "");
            return;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", e->string);
    }
}

int cfg_write(const char *path, char *json)
{
    char *file = cfg_path(path);
    int rc = file ? st_atomic_write_buf(file, json, strlen(json)) : TG_ERR_NOMEM;
    tg_free(file);
    tg_free(json);
    return rc;
}
