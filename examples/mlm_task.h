/* The masked-LM task of `ablm train` (run_mlm.py): a RoBERTa model built
 * from --config_name or loaded from --model_name_or_path / a checkpoint,
 * line-by-line or group_texts datasets, DataCollatorForLanguageModeling's
 * masking, and eval_loss / eval_accuracy / perplexity. The loop is
 * trainer.h's. */
#ifndef MLM_TASK_H
#define MLM_TASK_H

#include "trainer.h"

extern const tr_task mlm_task;

#endif
