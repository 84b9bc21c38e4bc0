/* wt: a model's parameters to and from model.safetensors under their
 * Hugging Face names, shared by the model builders of models/. */
#ifndef WT_WEIGHTS_H
#define WT_WEIGHTS_H

#include "tg.h"

/* Reads every parameter of p from the safetensors file at path (F32, F16
 * or BF16 stored). A missing tensor or a wrong shape is TG_ERR_FORMAT
 * naming the file, the tensor and both shapes. When note is non-NULL each
 * tensor of the file that is not a parameter is reported: "FILE: 'NAME'
 * skipped: WHY" when skipped(NAME) gives a reason (a tied copy, a buffer),
 * else "FILE: extra tensor 'NAME' ignored". Returns a status. */
int wt_load(tg_params *p, const char *path, const char *(*skipped)(const char *name),
            void (*note)(const char *msg));
/* Writes every parameter of p as F32 into dir/model.safetensors
 * (atomically, metadata {"format": "pt"} as transformers writes). */
int wt_save(const tg_params *p, const char *dir);

#endif
