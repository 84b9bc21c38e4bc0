/* Data-parallel runs on MPI (dist.h). */
#include "dist.h"

#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef ABLM_MPI
#include <mpi.h>
#endif

static int inited, rank, size = 1;

int dist_rank(void) { return rank; }
int dist_size(void) { return size; }

/* Processes the launcher started, from its environment (0: no launcher). */
static long launched_size(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v)
        v = getenv("PMI_SIZE");
    if (!v)
        v = getenv("SLURM_STEP_NUM_TASKS");
    return v ? atol(v) : 0;
}

static int launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") ||
           getenv("PMI_SIZE");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void dist_abort(const char *prog, const char *message)
{
    if (size <= 1)
        return;
    fprintf(stderr, "%s: rank %d of %d: %s; ending the job\n", prog, rank, size, message);
    fflush(stderr);
#ifdef ABLM_MPI
    MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    exit(1);
}

#ifdef ABLM_MPI

int dist_built(void) { return 1; }

static double timeout = 1800; /* --ddp_timeout */

void dist_set_timeout(double seconds)
{
    if (seconds > 0)
        timeout = seconds;
}

static double timeout_s(void) { return timeout; }

static void finalize(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done)
        MPI_Finalize();
}

int dist_init(void)
{
    if (inited || !launched())
        return TG_OK;
    inited = 1;
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return tg_error(TG_ERR_IO, "MPI_Init_thread failed");
    atexit(finalize);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long want = launched_size();
    if (want > 1 && size != want)
        return tg_error(TG_ERR_ARG, "the launcher started %ld processes but MPI sees %d: with srun, "
                        "pass the MPI plugin the library was built for (srun --mpi=pmix)",
                        want, size);
    return TG_OK;
}

/* An MPI call's status: aborts the job on an error (the other ranks would
 * wait for this one forever). */
static void check(int mrc, const char *call, const char *what)
{
    if (mrc == MPI_SUCCESS)
        return;
    char err[MPI_MAX_ERROR_STRING], msg[MPI_MAX_ERROR_STRING + 256];
    int len = 0;
    MPI_Error_string(mrc, err, &len);
    snprintf(msg, sizeof msg, "%s (%s) failed: %s", call, what, err);
    dist_abort("ablm", msg);
}

/* Waits for n requests under the watchdog. Returns TG_OK (a timeout or an
 * error ends the job). */
static int wait_all(MPI_Request *req, int n, const char *what)
{
    double t0 = now(), limit = timeout_s();
    for (long spin = 0;; spin++) {
        int done = 0;
        check(MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE), "MPI_Testall", what);
        if (done)
            return TG_OK;
        if (spin > 1000) {
            struct timespec ts = {0, 100000}; /* 0.1 ms: leave the cores to the other ranks */
            nanosleep(&ts, NULL);
        }
        if ((spin & 255) == 0 && now() - t0 > limit) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s did not complete within %g s (--ddp_timeout): another rank "
                     "died or hangs", what, limit);
            dist_abort("ablm", msg);
        }
    }
}

int dist_bcast(void *x, size_t nbytes, const char *what)
{
    if (size <= 1)
        return TG_OK;
    char *p = x;
    enum { CHUNK = 1 << 30 };
    for (size_t o = 0; o < nbytes; o += CHUNK) {
        MPI_Request r;
        int n = (int)(nbytes - o < CHUNK ? nbytes - o : CHUNK);
        check(MPI_Ibcast(p + o, n, MPI_BYTE, 0, MPI_COMM_WORLD, &r), "MPI_Ibcast", what);
        wait_all(&r, 1, what);
    }
    return TG_OK;
}

int dist_allreduce_f64(double *x, int n, int max_not_sum, const char *what)
{
    if (size <= 1)
        return TG_OK;
    MPI_Request r;
    check(MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, max_not_sum ? MPI_MAX : MPI_SUM,
                         MPI_COMM_WORLD, &r),
          "MPI_Iallreduce", what);
    return wait_all(&r, 1, what);
}

#else /* one process */

int dist_built(void) { return 0; }

void dist_set_timeout(double seconds) { (void)seconds; }

int dist_init(void)
{
    if (inited)
        return TG_OK;
    inited = 1;
    long want = launched_size();
    if (launched() && want > 1)
        return tg_error(TG_ERR_ARG, "launched as %ld processes, but this ablm was built without MPI "
                        "(install libopenmpi-dev and rebuild; docs/distributed.md)", want);
    return TG_OK;
}

int dist_bcast(void *x, size_t nbytes, const char *what)
{
    (void)x, (void)nbytes, (void)what;
    return TG_OK;
}

int dist_allreduce_f64(double *x, int n, int max_not_sum, const char *what)
{
    (void)x, (void)n, (void)max_not_sum, (void)what;
    return TG_OK;
}

#endif

/* ---- gradient buckets ------------------------------------------------------ */

typedef struct {
    size_t lo, hi;   /* float range of the gradient buffer */
    int pending;     /* parameters this pass still completes */
    int posted;
} bucket;

struct dist_grads {
    float *g;
    int nparam, nb;
    int *of;         /* [nparam] bucket of each parameter */
    bucket *b;       /* [nb], bucket 0 = the last parameters */
    int next;        /* first bucket not posted */
#ifdef ABLM_MPI
    MPI_Request *req; /* [nb] */
#endif
};

dist_grads *dist_grads_new(float *grads, size_t numel, const size_t *off, int n,
                           size_t bucket_bytes)
{
    dist_grads *d = tg_calloc(1, sizeof *d, "gradient buckets");
    if (!d)
        return NULL;
    d->g = grads;
    d->nparam = n;
    d->of = tg_malloc((n ? n : 1) * sizeof *d->of, "gradient buckets");
    d->b = tg_calloc(n ? n : 1, sizeof *d->b, "gradient buckets");
#ifdef ABLM_MPI
    d->req = tg_malloc((n ? n : 1) * sizeof *d->req, "gradient buckets");
    if (!d->req) {
        dist_grads_free(d);
        return NULL;
    }
#endif
    if (!d->of || !d->b) {
        dist_grads_free(d);
        return NULL;
    }
    size_t cap = bucket_bytes / sizeof(float), hi = numel;
    for (int i = n - 1; i >= 0; i--) {
        d->of[i] = d->nb;
        /* close the bucket at parameter i when it is full or i is the first */
        if (i == 0 || hi - off[i] >= cap) {
            d->b[d->nb++] = (bucket){i == 0 ? 0 : off[i], hi, 0, 0};
            hi = off[i];
        }
    }
    return d;
}

void dist_grads_free(dist_grads *d)
{
    if (!d)
        return;
    tg_free(d->of);
    tg_free(d->b);
#ifdef ABLM_MPI
    tg_free(d->req);
#endif
    tg_free(d);
}

int dist_grads_buckets(const dist_grads *d) { return d->nb; }

void dist_grads_begin(dist_grads *d)
{
    for (int k = 0; k < d->nb; k++)
        d->b[k].pending = d->b[k].posted = 0;
    d->next = 0;
}

void dist_grads_expect(dist_grads *d, int i) { d->b[d->of[i]].pending++; }

/* Posts bucket k's all-reduce (or nothing in one process). */
static void post(dist_grads *d, int k)
{
    bucket *b = &d->b[k];
    b->posted = 1;
#ifdef ABLM_MPI
    if (size > 1)
        check(MPI_Iallreduce(MPI_IN_PLACE, d->g + b->lo, (int)(b->hi - b->lo), MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD, &d->req[k]),
              "MPI_Iallreduce", "gradient all-reduce");
    else
        d->req[k] = MPI_REQUEST_NULL;
#endif
}

int dist_grads_progress(dist_grads *d)
{
#ifdef ABLM_MPI
    if (d->next && size > 1) {
        int done;
        check(MPI_Testall(d->next, d->req, &done, MPI_STATUSES_IGNORE), "MPI_Testall",
              "gradient all-reduce");
    }
#else
    (void)d;
#endif
    return TG_OK;
}

int dist_grads_done(dist_grads *d, int i)
{
    d->b[d->of[i]].pending--;
    while (d->next < d->nb && d->b[d->next].pending <= 0)
        post(d, d->next++);
    return dist_grads_progress(d);
}

int dist_grads_finish(dist_grads *d, double *wait_s)
{
    while (d->next < d->nb)
        post(d, d->next++);
    double t0 = now();
#ifdef ABLM_MPI
    if (size > 1)
        wait_all(d->req, d->nb, "gradient all-reduce");
#endif
    if (wait_s)
        *wait_s = now() - t0;
    return TG_OK;
}
