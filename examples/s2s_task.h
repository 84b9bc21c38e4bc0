/* The sequence-to-sequence task of `ablm train-h2l`: heavy2light's
 * EncoderDecoderModel training (models/encdec.h) on heavy/light pairs
 * (data/pairs.h: OAS paired units, TSVs with heavy and light columns, or
 * HEAVY[SEP]LIGHT lines; --train_file and --validation_file take one file
 * or a comma-separated list, read in order).
 *
 * The model: built from --encoder (an `ablm train` RoBERTa directory) and
 * --decoder (an `ablm train-clm` GPT-2 directory), cross-attention fresh;
 * or loaded from --model_name_or_path (an encoder-decoder directory) or a
 * checkpoint. --adapters N adds bottleneck adapters (reduction factor N)
 * and freezes the base; --freeze_encoder freezes the encoder.
 *
 * A pair becomes a source [CLS] heavy [SEP] (the encoder's input, as the
 * heavy model saw its chains) and labels light [SEP] (residues then eos);
 * the decoder inputs are the labels shifted right after the decoder start
 * token [CLS] (bos), as EncoderDecoderModel shifts them, so the decoder
 * reads <bos> light and predicts light <eos>, the sequence the light model
 * was trained on. A pair whose heavy chain does not fit the encoder
 * (residues > encoder positions - 2, or --max_source_length - 2) or whose
 * light chain does not fit the decoder (residues > n_positions - 1, or
 * --max_target_length - 1) is skipped and counted, as is a pair missing a
 * chain (pr_read's counts; the task reports them).
 *
 * Metrics: eval_loss (batch mean losses weighted by batch size, as the
 * Trainer), eval_accuracy (next-token argmax over label tokens) and
 * perplexity: exp of the mean NLL over all label tokens (the reference's
 * perplexity of the true light chain given the heavy chain). */
#ifndef S2S_TASK_H
#define S2S_TASK_H

#include "train_args.h"
#include "trainer.h"

typedef struct {
    char encoder[TA_PATH], decoder[TA_PATH];
    int adapters;          /* reduction factor; 0: no adapters */
    int freeze_encoder;
    int max_source_length; /* 0: the encoder's positions */
    int max_target_length; /* 0: the decoder's n_positions */
} s2s_opts;

/* The options of the next run (the command sets them before
 * trainer_open; the task copies them at open). */
void s2s_task_configure(const s2s_opts *o);

extern const tr_task s2s_task;

/* ablm train-h2l's model flags (--encoder, --decoder, --adapters,
 * --freeze_encoder, --max_source_length, --max_target_length; parsed in
 * examples/cmd_train_h2l.c) out of
 * argv[1..argc) into *o; argv[0] and the other arguments, in order, into
 * rest[0..*n) (rest holds argc + 1; rest[*n] = NULL) for the trainer's
 * parser. Returns 0, or 2 after printing the problem. */
int h2l_parse_flags(int argc, char **argv, s2s_opts *o, char **rest, int *n);

#endif
