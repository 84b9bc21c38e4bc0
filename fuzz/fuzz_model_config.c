/* libFuzzer target: the GPT-2 config.json (models/gpt2_config.c) and the
 * encoder-decoder config.json (models/encdec_config.c, which reads its
 * "encoder" and "decoder" through the RoBERTa and GPT-2 loaders). Byte 0
 * chooses which (even: GPT-2, odd: encoder-decoder); the rest is the file.
 * A config that loads must validate, its JSON must load back, and the JSON
 * of what loads back must be the same text (save is a fixed point). */
#include "encdec.h"
#include "fuzz_util.h"
#include "gpt2.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Aborts unless json (of a loaded config) loads back as the same JSON. */
static void round_trip(int encdec, char *json)
{
    const char *p2 = fz_write(1, "config2.json", json, strlen(json));
    char *again = NULL;
    int st;
    if (encdec) {
        ed_config d;
        st = ed_config_load(p2, &d);
        if (!st)
            st = ed_config_to_json(&d, &again);
    } else {
        g2_config d;
        st = g2_config_load(p2, &d);
        if (!st)
            st = g2_config_to_json(&d, &again);
    }
    if (st) {
        fprintf(stderr, "fuzz: a written config does not load back: %s\n", tg_last_error());
        abort();
    }
    if (strcmp(json, again)) {
        fprintf(stderr, "fuzz: a config changed by save + load:\n%s\n---\n%s\n", json, again);
        abort();
    }
    tg_free(again);
    tg_free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    int encdec = data[0] & 1;
    const char *path = fz_write(0, "config.json", data + 1, n - 1);
    char *json = NULL;
    if (encdec) {
        ed_config c;
        if (ed_config_load(path, &c) != TG_OK)
            return 0;
        if (ed_config_validate(&c, path) != TG_OK)
            abort(); /* load promises a validated config */
        if (ed_config_to_json(&c, &json) != TG_OK)
            return 0; /* out of memory */
    } else {
        g2_config c;
        if (g2_config_load(path, &c) != TG_OK)
            return 0;
        if (g2_config_validate(&c, path) != TG_OK)
            abort();
        if (g2_config_param_count(&c) <= 0 || g2_config_inner(&c) <= 0)
            abort(); /* a validated config has a positive size */
        char note[512];
        (void)g2_config_ignored_note(&c, path, note, sizeof note);
        if (g2_config_to_json(&c, &json) != TG_OK)
            return 0;
    }
    round_trip(encdec, json);
    return 0;
}
