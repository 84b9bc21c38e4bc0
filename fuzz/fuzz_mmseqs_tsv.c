/* libFuzzer target: the cluster TSV that MMseqs2 writes and `ablm prepare
 * --engine mmseqs` reads back (examples/cluster_mmseqs.c mm_read_clusters).
 * The input is split at FZ_SEP into the ids given to mmseqs (one a line, at
 * most 4096) and the TSV (representative TAB member). Contracts: an error
 * has a message; on success every rep[i] < n and rep[rep[i]] == rep[i] (a
 * representative is its own), and the TSV has exactly one line per id (each
 * id a member once: no line dropped or merged) and no byte the reader would
 * drop unseen (a NUL, a CR that does not end its line). */
#include "cluster_mmseqs.h"
#include "fuzz_util.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const uint8_t *part[2];
    size_t len[2];
    if (fz_split(data, n, 2, part, len) < 2)
        return 0;
    enum { MAXID = 4096 };
    static char *ids[MAXID];
    char *buf = malloc(len[0] + 1);
    if (!buf)
        abort();
    memcpy(buf, part[0], len[0]);
    buf[len[0]] = 0;
    size_t m = 0;
    for (char *p = buf; *p && m < MAXID;) {
        ids[m++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    const char *tsv = fz_write(0, "res_cluster.tsv", part[1], len[1]);
    uint32_t *rep = malloc((m + 1) * sizeof *rep);
    if (!rep)
        abort();
    int st = mm_read_clusters((const char *const *)ids, m, tsv, rep);
    if (st && !tg_last_error()[0])
        abort();
    if (!st) {
        for (size_t i = 0; i < m; i++)
            if (rep[i] >= m || rep[rep[i]] != rep[i])
                abort();
        size_t lines = 0;
        for (size_t i = 0; i < len[1]; i++)
            lines += part[1][i] == '\n';
        lines += len[1] && part[1][len[1] - 1] != '\n';
        for (size_t i = 0; i < len[1]; i++)
            if (!part[1][i] || (part[1][i] == '\r' && (i + 1 == len[1] || part[1][i + 1] != '\n'))) {
                fprintf(stderr, "fuzz: a NUL or lone CR at byte %zu was accepted\n", i);
                abort();
            }
        if (lines != m) {
            fprintf(stderr, "fuzz: %zu ids read from a TSV of %zu lines\n", m, lines);
            abort();
        }
    }
    free(rep);
    free(buf);
    return 0;
}
