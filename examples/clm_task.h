/* The causal-LM task of `ablm train-clm` (run_clm.py): a GPT-2
 * (models/gpt2.h) built from --config_name or loaded from
 * --model_name_or_path / a checkpoint; light chains (the `_light` columns
 * of paired OAS units, light-chain rows of unpaired ones, FASTA or one per
 * line), each <bos> residues <eos> ([CLS] and [SEP] of the tokenizer, ids
 * 2 and 3 of the default vocabulary), grouped into --block_size blocks
 * (run_clm.py's group_texts) or one chain per example with --line_by_line;
 * labels = input ids (-100 on padding), shifted inside the model; metrics
 * eval_loss, eval_accuracy (next token) and perplexity. The loop is
 * trainer.h's. */
#ifndef CLM_TASK_H
#define CLM_TASK_H

#include "trainer.h"

extern const tr_task clm_task;

#endif
