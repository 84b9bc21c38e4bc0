/* One thread setting for OpenMP (our loops, oneDNN, and the blocks that
 * graph/gemm.c hands to single-threaded OpenBLAS). */
#include "tg.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

static int n_threads;

void tg_set_threads(int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    n_threads = n;
    omp_set_num_threads(n);
    /* OpenBLAS is only ever called from OpenMP threads, one block each
     * (graph/gemm.c): its own pool stays at one thread. */
    openblas_set_num_threads(1);
}

int tg_threads(void)
{
    if (n_threads == 0)
        tg_set_threads(0);
    return n_threads;
}
