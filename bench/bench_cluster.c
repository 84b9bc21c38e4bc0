/* bench_cluster: helpers for bench/cluster_vs_mmseqs.sh.
 *   bench_cluster mutate IN.txt N SEED OUT.fasta
 *       N CDRH3-like sequences: random real sequences from IN (one per line)
 *       with ~8% substitutions and occasional 1-residue indels (seeded).
 *   bench_cluster check FASTA CLUSTER.tsv MIN_SEQ_ID SAMPLE [THREADS]
 *       for any tool's clustering: clusters, members below the thresholds
 *       (re-aligned with data/align), missed merges on SAMPLE representatives.
 *       Prints one line: clusters=C violations=V missed=M sampled=S rate=R */
#include "cluster.h"
#include "cluster_io.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mutate(const char *in, long n, unsigned long seed, const char *out)
{
    cl_seqs s = {0};
    if (cl_seqs_read(&s, in)) {
        fprintf(stderr, "bench_cluster: %s\n", tg_last_error());
        return 1;
    }
    if (!s.n) {
        fprintf(stderr, "bench_cluster: %s has no sequences\n", in);
        return 1;
    }
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "bench_cluster: cannot write %s\n", out);
        return 1;
    }
    const char *aa = "ACDEFGHIKLMNPQRSTVWY";
    tg_rng g;
    tg_rng_seed(&g, seed);
    char buf[4096];
    for (long i = 0; i < n; i++) {
        size_t k = (size_t)(tg_rng_next(&g) % s.n);
        const char *x = cl_seqs_seq(&s, k);
        int L = cl_seqs_len(&s, k), o = 0;
        for (int j = 0; j < L && o < 4000; j++) {
            double u = tg_rng_uniform(&g);
            if (u < 0.01)
                continue; /* deletion */
            buf[o++] = u < 0.08 ? aa[tg_rng_next(&g) % 20] : x[j];
            if (tg_rng_uniform(&g) < 0.01)
                buf[o++] = aa[tg_rng_next(&g) % 20]; /* insertion */
        }
        buf[o] = 0;
        fprintf(f, ">m%ld\n%s\n", i + 1, buf);
    }
    cl_seqs_free(&s);
    return fclose(f) ? 1 : 0;
}

static int check(const char *fa, const char *tsv, double id, long sample, int threads)
{
    cl_seqs s = {0};
    uint32_t *rep = NULL;
    const char **p = NULL;
    int *l = NULL, rc = 1;
    if (cl_seqs_read(&s, fa) || cl_seqs_finish(&s, NULL)) /* names as ablm cluster gives them */
        goto err;
    rep = malloc((s.n + 1) * sizeof *rep);
    p = malloc((s.n + 1) * sizeof *p);
    l = malloc((s.n + 1) * sizeof *l);
    if (!rep || !p || !l)
        goto done;
    if (cl_read_cluster_tsv(&s, tsv, rep))
        goto err;
    for (size_t i = 0; i < s.n; i++) {
        p[i] = cl_seqs_seq(&s, i);
        l[i] = cl_seqs_len(&s, i);
    }
    cl_opts o;
    cl_opts_default(&o);
    o.min_seq_id = id;
    o.threads = threads;
    size_t nc = 0, v;
    for (size_t i = 0; i < s.n; i++)
        nc += rep[i] == i;
    cl_missed mm;
    if (cl_check_members(p, l, s.n, rep, &o, &v) || cl_missed_merges(p, l, s.n, rep, &o, (size_t)sample, 42, &mm))
        goto err;
    printf("clusters=%zu violations=%zu missed=%zu sampled=%zu rate=%.4f\n", nc, v, mm.missed, mm.sampled, mm.rate);
    rc = 0;
    goto done;
err:
    fprintf(stderr, "bench_cluster: %s\n", tg_last_error());
done:
    cl_seqs_free(&s);
    free(rep);
    free(p);
    free(l);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "mutate"))
        return mutate(argv[2], atol(argv[3]), strtoul(argv[4], NULL, 10), argv[5]);
    if ((argc == 6 || argc == 7) && !strcmp(argv[1], "check"))
        return check(argv[2], argv[3], atof(argv[4]), atol(argv[5]), argc == 7 ? atoi(argv[6]) : 2);
    fprintf(stderr, "usage: bench_cluster mutate IN.txt N SEED OUT.fasta\n"
                    "       bench_cluster check FASTA CLUSTER.tsv MIN_SEQ_ID SAMPLE [THREADS]\n");
    return 2;
}
