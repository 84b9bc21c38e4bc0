/* libFuzzer target: the cluster readers. The input is split at FZ_SEP into
 * a FASTA/plain sequence file (data/cluster_io.c cl_seqs_read) and a
 * cluster TSV read against its names by both readers: cl_read_cluster_tsv
 * (ablm cluster) and sp_read_cluster_tsv (ablm split). */
#include "cluster_io.h"
#include "fuzz_util.h"
#include "split.h"
#include "strmap.h"
#include "tg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const uint8_t *part[2];
    size_t len[2];
    if (fz_split(data, n, 2, part, len) < 2)
        return 0;
    const char *seqs = fz_write(0, "seqs.fasta", part[0], len[0]);
    const char *tsv = fz_write(1, "clusters.tsv", part[1], len[1]);
    cl_seqs s;
    memset(&s, 0, sizeof s);
    if (cl_seqs_read(&s, seqs) == TG_OK && cl_seqs_finish(&s, NULL) == TG_OK) {
        size_t m = s.n;
        uint32_t *rep = tg_malloc((m + 1) * sizeof *rep, "fuzz");
        if (!rep)
            abort();
        if (cl_read_cluster_tsv(&s, tsv, rep) == TG_OK)
            for (size_t i = 0; i < m; i++)
                if (rep[i] >= m)
                    abort();
        sm_map map;
        sm_init(&map);
        int ok = 1;
        for (size_t i = 0; i < m && ok; i++) {
            const char *id = cl_seqs_name(&s, i);
            ok = sm_put(&map, id, (int)strlen(id), (uint32_t)i, NULL) >= 0;
        }
        if (ok && sp_read_cluster_tsv(tsv, &map, m, rep) == TG_OK)
            for (size_t i = 0; i < m; i++)
                if (rep[i] >= m && rep[i] != UINT32_MAX)
                    abort();
        sm_free(&map);
        tg_free(rep);
    }
    cl_seqs_free(&s);
    return 0;
}
