/* ablm train-clm: causal-language-model training of the GPT-2 light-chain
 * decoder, the counterpart of Hugging Face run_clm.py + Trainer (the flags
 * of ablm train; --block_size is run_clm.py's name of max_seq_length). */
#include "clm_task.h"
#include "commands.h"

static const char intro[] =
    "ablm train-clm: causal-language-model training of a GPT-2 decoder (GPT2LMHeadModel), the\n"
    "counterpart of Hugging Face run_clm.py. Light chains (the _light columns of paired OAS\n"
    "units, FASTA or one per line) become <bos> residues <eos> ([CLS] 2 ... [SEP] 3) and are\n"
    "grouped into --block_size blocks (an alias of --max_seq_length; 0: min(n_positions,\n"
    "1024)) or kept one per example with --line_by_line. --config_name takes a GPT2Config\n"
    "(configs/light_gpt.json); leave out --model_type. The flags are ablm train's:\n\n";

int cmd_train_clm(int argc, char **argv)
{
    return train_command("ablm train-clm", intro, &clm_task, argc, argv);
}
