/* The generation flags of `ablm generate` and `ablm eval-h2l` (one parser
 * for both): --max_new_tokens, --do_sample, --temperature, --top_k,
 * --top_p, --seed, --bad_words_ids, --num_beams, --num_beam_groups,
 * --diversity_penalty, --length_penalty, --early_stopping,
 * --num_return_sequences, with Hugging Face generate()'s meanings
 * (examples/generate.h). */
#ifndef GEN_ARGS_H
#define GEN_ARGS_H

#include "generate.h"
#include "infer.h"

#define GA_NOPTS 13

typedef struct {
    const char *temperature, *top_p, *bad, *diversity, *length_penalty, *early;
    int nrs, sample, top_k, max_new, seed, beams, groups;
} ga_flags;

/* The defaults (HF's: temperature 1, top_k 50, top_p 1, one beam, one
 * sequence, bad words [[4]] = [MASK], 128 new tokens, seed 42). */
void ga_defaults(ga_flags *f);

/* Writes the GA_NOPTS flags into opts[0..GA_NOPTS), their values going to
 * f (inf_parse fills them). */
void ga_opts(ga_flags *f, inf_opt *opts);

/* Parses a number flag value: 0, or 2 after printing "ablm CMD: FLAG 'V'
 * is not a number" (also for Inf and NaN). */
int ga_number(const char *cmd, const char *flag, const char *v, double *out);

/* o (after gen_opts_default) from the parsed flags, then gen_opts_check
 * against vocab_size. Returns 0, or 2 (a usage error) after printing the
 * problem as "ablm CMD: ...". */
int ga_apply(const char *cmd, const ga_flags *f, int vocab_size, gen_opts *o);

#endif
