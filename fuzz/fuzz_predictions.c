/* libFuzzer target: the predictions file of `ablm eval-h2l` (data/
 * pair_pred.c's pe_read_predictions: FASTA or a TSV/CSV of generated light
 * chains matched to the test pairs by id). The input, split at
 * "\n--8<--\n", is the test pairs (a TSV read by pr_read) and the
 * predictions file; byte 0 bit 0 picks the predictions file's name (.fasta
 * or .tsv). Contracts: an error has a message; every prediction read is
 * matched, extra or unmatched (the counts add up), each pair holds at most
 * one chain, and a chain holds residues only (letters, '*', '-', '.'). */
#include "fuzz_util.h"
#include "pair_eval.h"
#include "pairs.h"
#include "tg.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    const uint8_t *part[2];
    size_t len[2];
    if (fz_split(data + 1, n - 1, 2, part, len) < 2)
        return 0;
    const char *tp = fz_write(0, "test.tsv", part[0], len[0]);
    const char *pp = fz_write(1, data[0] & 1 ? "pred.tsv" : "pred.fasta", part[1], len[1]);
    pr_set test = {0};
    if (pr_read(tp, NULL, &test)) {
        pr_free(&test);
        return 0;
    }
    pe_predictions p;
    int st = pe_read_predictions(pp, &test, &p);
    if (st) {
        if (!tg_last_error()[0])
            abort();
        pr_free(&test);
        return 0;
    }
    if (p.matched + p.extra + p.unmatched != p.read)
        abort(); /* a prediction read but not counted */
    size_t have = 0;
    for (size_t i = 0; i < test.n; i++) {
        if (!p.chain[i])
            continue;
        have++;
        for (const char *q = p.chain[i]; *q; q++)
            if (!isalpha((unsigned char)*q) && !strchr("*-.", *q))
                abort(); /* a chain with a character that is not a residue */
    }
    if (have != p.matched || !memchr(p.first_unmatched, 0, sizeof p.first_unmatched))
        abort();
    pe_predictions_free(&p, test.n);
    pr_free(&test);
    return 0;
}
