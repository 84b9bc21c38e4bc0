/* libFuzzer target: gzip input to data/reader.c. Byte 0 bit 0: the rest
 * is the .gz file as is (mutated gzip streams); else the rest is
 * compressed here and the stream cut after byte 1/255 of its length
 * (truncated downloads with a valid prefix). Bits 1-2 choose the inner
 * format's name (.csv.gz, .tsv.gz, .fasta.gz, .txt.gz). */
#include "fuzz_util.h"
#include "reader.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 2)
        return 0;
    static const char *const gz[] = {"unit.csv.gz", "table.tsv.gz", "seqs.fasta.gz", "seqs.txt.gz"};
    unsigned b = data[0], cut = data[1];
    const char *name = gz[(b >> 1) & 3];
    const char *path;
    if (b & 1) {
        path = fz_write(0, name, data + 2, n - 2);
    } else {
        uLongf cap = compressBound(n) + 64;
        unsigned char *z = malloc(cap);
        z_stream s;
        memset(&s, 0, sizeof s);
        if (!z || deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            abort();
        s.next_in = (Bytef *)(data + 2), s.avail_in = (uInt)(n - 2);
        s.next_out = z, s.avail_out = (uInt)cap;
        if (deflate(&s, Z_FINISH) != Z_STREAM_END)
            abort();
        size_t zn = s.total_out;
        deflateEnd(&s);
        if (cut != 255)
            zn = zn * cut / 255;
        path = fz_write(0, name, z, zn);
        free(z);
    }
    rd_opts o;
    rd_opts_default(&o);
    if (b & 8)
        o.on_error = RD_ON_ERROR_SKIP;
    fz_read_all(path, &o);
    return 0;
}
