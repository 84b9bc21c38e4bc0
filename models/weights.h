/* wt: a model's parameters to and from model.safetensors under their
 * Hugging Face names, shared by the model builders of models/. */
#ifndef WT_WEIGHTS_H
#define WT_WEIGHTS_H

#include "tg.h"
#include "tokenizer.h"

#include <stdint.h>

/* Declares parameter `name`: [rows, cols], or [rows] when cols is 0. */
tg_tensor *wt_decl(tg_params *p, const char *name, int rows, int cols);
/* Where a model's parameters are declared (wt_decl_in): each name gets
 * prefix ("" or NULL: none); a tensor whose full name is_frozen() goes to
 * `frozen` declared non-trainable (no gradient, so no optimizer update),
 * every other one to p, trainable. frozen NULL: everything in p. */
typedef struct {
    tg_params *p, *frozen;
    int (*is_frozen)(const char *name, void *ctx);
    void *ctx;
    const char *prefix;
} wt_scope;
tg_tensor *wt_decl_in(const wt_scope *s, const char *name, int rows, int cols);
/* 1 when name starts with prefix. */
int wt_starts_with(const char *name, const char *prefix);
/* 1 when name ends with suffix. */
int wt_ends_with(const char *name, const char *suffix);
/* Hugging Face's _init_weights over every parameter of p in declaration
 * order, one rng stream from seed: names ending in "bias" 0, normalisation
 * weights (is_norm(name)) 1, every other tensor normal(0, sd(name, ctx)). */
void wt_init(tg_params *p, uint64_t seed, int (*is_norm)(const char *name),
             double (*sd)(const char *name, void *ctx), void *ctx);

/* Reads every parameter of p from the safetensors file at path (F32, F16
 * or BF16 stored). A missing tensor or a wrong shape is TG_ERR_FORMAT
 * naming the file, the tensor and both shapes. When note is non-NULL each
 * tensor of the file that is not a parameter is reported: "FILE: 'NAME'
 * skipped: WHY" when skipped(NAME) gives a reason (a tied copy, a buffer),
 * else "FILE: extra tensor 'NAME' ignored". Returns a status. */
int wt_load(tg_params *p, const char *path, const char *(*skipped)(const char *name),
            void (*note)(const char *msg));
/* How wt_load_set maps parameters to a file's tensors: only parameters
 * whose name starts with prefix ("" all) are read, from the tensor named
 * file_prefix + the rest of the name; a parameter for which absent_ok(name)
 * is 1 may be missing from the file (it keeps its value). Tensors of the
 * file outside file_prefix, or mapping to no parameter, are noted. */
typedef struct {
    const char *prefix, *file_prefix;
    int (*absent_ok)(const char *name);
} wt_map;
/* wt_load over the parameters of n stores, with map (NULL: every
 * parameter under its own name, none optional). */
int wt_load_set(tg_params *const *p, int n, const char *path, const wt_map *map,
                const char *(*skipped)(const char *name), void (*note)(const char *msg));
/* wt_save of the parameters of n stores into one file, in store order. */
int wt_save_set(tg_params *const *p, int n, const char *dir);
/* Writes every parameter of p as F32 into dir/model.safetensors
 * (atomically, metadata {"format": "pt"} as transformers writes). */
int wt_save(const tg_params *p, const char *dir);

/* Creates the model directory dir if it does not exist. Returns a status
 * (TG_ERR_IO naming dir). */
int wt_mkdir(const char *dir);
/* The tokenizer of model directory dir: tok_load when dir has a vocab.txt,
 * else the default vocabulary. As in transformers, the tokenizer may be
 * smaller than the embedding (vocab_size) but not larger: that is
 * TG_ERR_FORMAT naming dir. *tok is NULL on error. */
int wt_load_tokenizer(const char *dir, int vocab_size, tok_tokenizer **tok);

#endif
