/* ablm train-clm: causal-language-model training of the GPT-2 light-chain
 * decoder, the counterpart of Hugging Face run_clm.py + Trainer (the flags
 * of ablm train; --block_size is run_clm.py's name of max_seq_length). */
#include "clm_task.h"
#include "commands.h"

int cmd_train_clm(int argc, char **argv)
{
    return train_command("ablm train-clm", &clm_task, argc, argv);
}
