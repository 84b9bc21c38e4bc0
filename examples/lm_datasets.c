/* The datasets of the language-model tasks. */
#include "lm_datasets.h"

#include <math.h>

/* run_mlm.py's and run_clm.py's datasets: line by line (each sequence cut
 * to max_len) or, without --line_by_line, group_texts blocks of max_len.
 * The held-out share of a train file without --validation_file is taken
 * from its lines before grouping, and max_*_samples after, as run_mlm.py
 * does. */
int lm_datasets_load(trainer *t, const tok_tokenizer *tok, int max_len, int chain,
                     mlm_data *train, mlm_data *eval, int *has_eval)
{
    const train_args *a = t->a;
    int rc = TG_OK, cut = a->line_by_line ? max_len : 0;
    if (a->train_file[0])
        rc = mlm_data_load_chain(train, a->train_file, "train_file", tok, cut, -1, chain);
    if (!rc && a->validation_file[0]) {
        rc = mlm_data_load_chain(eval, a->validation_file, "validation_file", tok, cut, -1,
                                 chain);
        *has_eval = !rc;
    }
    if (!rc && !*has_eval && (a->do_eval || a->eval_strategy != TA_NO) && train->n > 1) {
        /* the first validation_split_percentage% of train is held out
         * (datasets' "train[:P%]": rounded to the nearest, ties to even) */
        long k = (long)nearbyint((double)train->n * a->validation_split_percentage / 100.0);
        if (k < 1)
            k = 1;
        rc = mlm_data_split(train, k, eval);
        *has_eval = !rc;
        if (!rc)
            tr_notef(t, "no --validation_file: holding out the first %d%% of train_file (%ld sequences)",
                     a->validation_split_percentage, k);
    }
    if (!rc && !a->line_by_line && train->n)
        rc = mlm_data_group(train, max_len, MLM_GROUP_ROWS, "train_file");
    if (!rc && !a->line_by_line && *has_eval)
        rc = mlm_data_group(eval, max_len, MLM_GROUP_ROWS, "validation_file");
    if (rc)
        return rc;
    mlm_data_head(train, a->max_train_samples);
    mlm_data_head(eval, a->max_eval_samples);
    const mlm_data *ds[2] = {train, eval};
    for (int i = 0; i < 2; i++) {
        const mlm_data *d = ds[i];
        if (!d->n)
            continue;
        if (a->line_by_line)
            tr_notef(t, "%s: %ld sequences, %ld tokens, %ld truncated to %d tokens, %ld blank lines dropped (%s)",
                     i ? "validation_file" : "train_file", d->n, d->tokens, d->truncated, max_len,
                     d->blank, d->unknown_summary);
        else
            tr_notef(t, "%s: %ld sequences grouped into %ld blocks of %d tokens (group_texts; %ld tokens of "
                     "the groups' remainders dropped; --line_by_line for one sequence per example) (%s)",
                     i ? "validation_file" : "train_file", d->lines, d->n, max_len, d->dropped,
                     d->unknown_summary);
    }
    return TG_OK;
}
