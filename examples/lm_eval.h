/* The evaluation pieces shared by the language-model tasks (causal LM,
 * examples/clm_task.c; sequence-to-sequence, examples/s2s_task.c): the
 * next-token argmax accuracy over label tokens and the metrics they report
 * (eval_loss, eval_accuracy, perplexity). */
#ifndef LM_EVAL_H
#define LM_EVAL_H

#include "trainer.h"

#include <stdint.h>

/* The totals an LM task's evaluate adds up (tr_eval.sum, in this order). */
enum { LM_LOSS, LM_RIGHT, LM_COUNTED, LM_NLL, LM_NSUM };

/* Adds one evaluated batch to io->sum: `loss` (the batch's mean loss over
 * its label tokens) weighted by the batch's rows n (as the Trainer) into
 * LM_LOSS and by its label tokens into LM_NLL; over the n_pos positions of
 * logits [n_pos, V] the label tokens (labels != -100) into LM_COUNTED and
 * those whose argmax is the label into LM_RIGHT; n into io->samples. */
void lm_eval_add(tr_eval *io, const float *logits, const int32_t *labels, long n_pos, int V,
                 double loss, int n);

/* Starts an evaluation: clears io's totals (nsum = LM_NSUM); returns the
 * start time for lm_eval_end. */
double lm_eval_begin(tr_eval *io);

/* Ends one: io->seconds since t0. */
void lm_eval_end(tr_eval *io, double t0);

/* io->m, io->n from the totals: eval_loss (LM_LOSS / samples),
 * eval_accuracy (LM_RIGHT / LM_COUNTED), perplexity (final; else
 * eval_perplexity) and with final eval_samples. The perplexity is
 * exp(eval_loss) when token_ppl is 0 (run_clm.py's), else exp of the mean
 * NLL over all label tokens (LM_NLL / LM_COUNTED). */
void lm_eval_metrics(tr_eval *io, int final, int token_ppl);

#endif
