/* sm: a hash map from byte strings to uint32 values (open addressing).
 * Keys are not copied: they must outlive the map. */
#ifndef ABLM_STRMAP_H
#define ABLM_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char **key;
    int *klen;
    uint32_t *val;
    size_t cap, n; /* cap is a power of two, or 0 */
} sm_map;

/* An empty map (no allocation until the first put). */
void sm_init(sm_map *m);
void sm_free(sm_map *m);
/* Looks key up; returns 1 and sets *val if present, else 0. */
int sm_get(const sm_map *m, const char *key, int klen, uint32_t *val);
/* Inserts key -> val unless present. Returns 1 if inserted, 0 if it was
 * already there (*old gets the existing value when old != NULL), or
 * TG_ERR_NOMEM. */
int sm_put(sm_map *m, const char *key, int klen, uint32_t val, uint32_t *old);

#endif
