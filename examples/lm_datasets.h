/* The datasets of the language-model training tasks (masked-LM in
 * mlm_task.c, causal-LM in clm_task.c): the train and evaluation files
 * read, tokenized and either kept one sequence per example (--line_by_line)
 * or grouped into blocks (group_texts, the default of run_mlm.py and
 * run_clm.py), with the held-out split and max_*_samples. */
#ifndef LM_DATASETS_H
#define LM_DATASETS_H

#include "mlm_data.h"
#include "trainer.h"

/* Loads t->a's --train_file and --validation_file with tok, reading chain
 * `chain` (rd_chain) of paired or typed records. With --line_by_line each
 * sequence ([CLS] residues [SEP]) is cut to max_len tokens; without it every
 * sequence is kept whole, then MLM_GROUP_ROWS-line groups are concatenated
 * and cut into max_len blocks. Without a validation file, --do_eval or an
 * eval strategy holds out the first validation_split_percentage% of the
 * train file's sequences (before grouping); max_train_samples /
 * max_eval_samples apply after. Reports each dataset through tr_notef.
 * *has_eval: an evaluation set exists. Returns a status. */
int lm_datasets_load(trainer *t, const tok_tokenizer *tok, int max_len, int chain,
                     mlm_data *train, mlm_data *eval, int *has_eval);

#endif
