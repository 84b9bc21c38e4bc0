/* libFuzzer target: models/config.c. The input is a config.json; a
 * config that loads must validate and survive a save/load round trip. */
#include "config.h"
#include "fuzz_util.h"
#include "tg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *path = fz_write(0, "config.json", data, n);
    rb_config c;
    if (rb_config_load(path, &c) != TG_OK)
        return 0;
    if (rb_config_validate(&c, path) != TG_OK)
        abort(); /* load promises a validated config */
    char note[512];
    (void)rb_config_ignored_note(&c, path, note, sizeof note);
    (void)rb_config_param_count(&c);
    char *json = NULL;
    if (rb_config_to_json(&c, &json) == TG_OK) {
        const char *p2 = fz_write(1, "config2.json", json, strlen(json));
        rb_config d;
        if (rb_config_load(p2, &d) != TG_OK)
            abort(); /* what we write we must read back */
        tg_free(json);
    }
    return 0;
}
