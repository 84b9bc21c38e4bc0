/* ablm train: masked-language-model training, the counterpart of Hugging
 * Face run_mlm.py + Trainer (flags in train_args.c); train_command runs any
 * training task with those flags (ablm train-clm). */
#include "commands.h"
#include "fsutil.h"
#include "mlm_task.h"
#include "train_args.h"
#include "trainer.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int quiet; /* --log_level error or critical: no notes */
static const char *prog = "ablm train";

static void note(const char *msg)
{
    if (!quiet)
        fprintf(stderr, "%s: %s\n", prog, msg);
}

int train_command(const char *name, const char *intro, const tr_task *task, int argc, char **argv)
{
    return train_command_ex(name, intro, task, 1, argc, argv);
}

int train_command_ex(const char *name, const char *intro, const tr_task *task, int needs_model,
                     int argc, char **argv)
{
    prog = name;
    static train_args a; /* large (paths, notes): not on the stack */
    train_args_defaults(&a);
    int rc = train_args_parse(&a, argc, argv);
    if (rc == TA_HELP) {
        if (intro)
            fputs(intro, stdout);
        train_args_help(stdout);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, tg_last_error());
        return 2;
    }
    quiet = a.log_level == TA_LOG_ERROR || a.log_level == TA_LOG_CRITICAL;
    for (int i = 0; i < a.nnotes; i++) {
        char buf[TA_NOTE_LEN + 16];
        snprintf(buf, sizeof buf, "warning: %s", a.notes[i]);
        note(buf);
    }
    const char *missing = !a.output_dir[0] ? "--output_dir"
                          : !a.train_file[0] && a.do_train ? "--train_file"
                          : needs_model && !a.config_name[0] && !a.model_name_or_path[0] &&
                                    !a.resume_from_checkpoint[0]
                              ? "--config_name or --model_name_or_path"
                              : NULL;
    if (missing) {
        fprintf(stderr, "%s: %s is required%s (%s --help lists the flags)\n", prog, missing,
                a.model_type[0] && !a.config_name[0]
                    ? " (--model_type alone would build transformers' default RobertaConfig, "
                      "whose 50,265-token vocabulary does not fit a protein tokenizer)"
                    : "",
                prog);
        return 2;
    }
    tg_set_threads(a.threads);
    trainer t;
    rc = trainer_open(&t, &a, task, note);
    if (!rc)
        rc = trainer_run(&t);
    if (rc)
        fprintf(stderr, "%s: %s\n", prog, tg_last_error());
    trainer_close(&t);
    return rc ? 1 : 0;
}

int cmd_train(int argc, char **argv) { return train_command("ablm train", NULL, &mlm_task, argc, argv); }
