/* The ablm subcommands: one file each under examples/, one row each in
 * main.c's table. Each returns the process exit status (0 ok, 1 failure,
 * 2 usage error) and prints its own errors as "ablm CMD: ...". */
#ifndef ABLM_COMMANDS_H
#define ABLM_COMMANDS_H

#include "trainer.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
} ablm_command;

int cmd_train(int argc, char **argv);
/* Causal-LM training of the GPT-2 decoder (run_clm.py; examples/
 * cmd_train_clm.c, task in clm_task.c). */
int cmd_train_clm(int argc, char **argv);
/* Generation from a GPT-2 decoder with the KV cache (examples/
 * cmd_generate.c, loop in generate.c). */
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
/* Heavy-to-light evaluation: generated light chains and the baselines
 * (examples/cmd_eval_h2l.c, metrics in data/pair_eval.h). */
int cmd_eval_h2l(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
/* Inference (examples/cmd_embed.c, cmd_fill_mask.c, cmd_score.c, cmd_logits.c;
 * shared helpers in infer.h, .npy output in npy.h). */
int cmd_embed(int argc, char **argv);
int cmd_fill_mask(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_logits(int argc, char **argv);

/* The body of `ablm train` and `ablm train-clm`: parses the training flags
 * (train_args.c), checks the required ones, and runs trainer.h's loop over
 * `task`; messages are prefixed with name ("ablm train"); --help prints
 * intro (if non-NULL) before the flags. Returns the exit status. */
int train_command(const char *name, const char *intro, const tr_task *task, int argc,
                  char **argv);
/* The same; needs_model 0 drops the "--config_name or
 * --model_name_or_path is required" check (a task that gets its model
 * from its own flags: ablm train-h2l). */
int train_command_ex(const char *name, const char *intro, const tr_task *task, int needs_model,
                     int argc, char **argv);
/* Heavy-to-light encoder-decoder training (examples/cmd_train_h2l.c, task
 * in s2s_task.c). */
int cmd_train_h2l(int argc, char **argv);

#endif
