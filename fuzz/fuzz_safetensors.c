/* libFuzzer target: graph/safetensors.c. The input is a .safetensors file;
 * every tensor it declares is read (as float32 and int32) and every
 * metadata entry looked at. */
#include "fuzz_util.h"
#include "safetensors.h"
#include "tg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *path = fz_write(0, "model.safetensors", data, n);
    st_file *f = NULL;
    if (st_open(path, &f) != TG_OK)
        return 0;
    for (int i = 0; i < st_count(f); i++) {
        const st_info *t = st_at(f, i);
        if (st_find(f, t->name) != t)
            abort(); /* a listed name must be found as itself */
        float *x = NULL;
        int32_t *y = NULL;
        size_t k = 0;
        if (st_load_f32(f, t->name, &x, &k) == TG_OK && k != t->numel)
            abort();
        tg_free(x);
        if (st_load_i32(f, t->name, &y, &k) == TG_OK && k != t->numel)
            abort();
        tg_free(y);
        int shape[ST_MAX_DIMS] = {0};
        for (int d = 0; d < t->ndim && d < ST_MAX_DIMS; d++)
            shape[d] = (int)t->shape[d];
        (void)st_check_shape(f, t->name, t->ndim, shape);
    }
    for (int i = 0; i < st_meta_count(f); i++) {
        const char *key, *value;
        st_meta_at(f, i, &key, &value);
        if (strlen(key) > n || strlen(value) > n || st_meta_get(f, key) == NULL)
            abort();
    }
    st_close(f);
    return 0;
}
