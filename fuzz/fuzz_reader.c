/* libFuzzer target: data/reader.c (OAS units with their metadata line,
 * CSV, AIRR TSV, FASTA, plain text). Byte 0 chooses the file name's
 * extension and the options (format detection or forced, chain, filters,
 * --on-error skip, keep_text); the rest is the file. Every record is read
 * and checked against the reader's contract. */
#include "fuzz_util.h"
#include "reader.h"
#include "tg.h"

#include <stdlib.h>
#include <string.h>

static const char *const ext[] = {"unit.csv", "table.tsv", "seqs.fasta", "seqs.txt"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    unsigned b = data[0];
    const char *path = fz_write(0, ext[b & 3], data + 1, n - 1);
    rd_opts o;
    rd_opts_default(&o);
    if (b & 4)
        o.format = (rd_format)(1 + (b >> 5) % 5);
    o.chain = (rd_chain)((b >> 3) & 1 ? RD_CHAIN_LIGHT : RD_CHAIN_HEAVY);
    if (b & 16)
        o.on_error = RD_ON_ERROR_SKIP;
    if (b & 32)
        o.keep_text = 1, o.allow_mask = 1;
    if (b & 64)
        o.productive_only = 1, o.drop_stop = 1, o.min_length = 3, o.max_length = 200;
    if (b & 128)
        o.chain = RD_CHAIN_ANY, o.locus = "IGH", o.drop_nonstandard = 1;
    fz_read_all(path, &o);
    return 0;
}
