/* Data-parallel runs on MPI (Open MPI, or any MPI the build found): the
 * process group of a job launched by mpirun or srun, and the collectives
 * the training loop needs (docs/distributed.md).
 *
 * Built without MPI (ABLM_MPI undefined) or started without a launcher,
 * there is one rank: dist_rank() is 0, dist_size() is 1 and every
 * collective returns at once, leaving its data untouched, so a run
 * without mpirun is the single-process run exactly.
 *
 * Every collective runs non-blocking under a watchdog: one that does not
 * complete within ABLM_DIST_TIMEOUT seconds (default 600: a dead or hung
 * rank) prints which rank gave up waiting for what, and ends the whole
 * job (MPI_Abort). An MPI error does the same. */
#ifndef DIST_H
#define DIST_H

#include <stddef.h>

/* Joins the job when launched by mpirun / srun / another MPI launcher
 * (seen from the environment: OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK,
 * PMI_SIZE); otherwise, and on later calls, does nothing. MPI is finalised
 * at exit. Returns a status: TG_ERR_ARG when launched as several
 * processes by a build without MPI, or when the launcher and MPI disagree
 * on the number of processes. */
int dist_init(void);
/* This process's rank in the job (0 .. dist_size() - 1). */
int dist_rank(void);
/* Processes in the job (1 without a launcher). */
int dist_size(void);
/* 1 when the build has MPI. */
int dist_built(void);
/* Seconds a collective may wait for the other ranks before the job ends as
 * hung (--ddp_timeout; default 1800, as TrainingArguments'). Values <= 0
 * are ignored. */
void dist_set_timeout(double seconds);

/* Ends the whole job after a failure on this rank: prints
 * "PROG: rank R of N: MESSAGE; ending the job" to stderr and aborts every
 * rank (exit code 1). Does nothing (returns) when there is one rank. */
void dist_abort(const char *prog, const char *message);

/* Rank 0's n bytes / floats at x on every rank. Returns a status. */
int dist_bcast(void *x, size_t nbytes, const char *what);
/* x[0..n) becomes the sum (max_not_sum: the maximum) over the ranks. */
int dist_allreduce_f64(double *x, int n, int max_not_sum, const char *what);

/* ---- bucketed gradient all-reduce, overlapped with backward ------------- */

typedef struct dist_grads dist_grads;

/* Buckets over the contiguous gradient buffer grads[0..numel): params'
 * offsets off[0..n) (ascending, as in the tg_params store) are grouped,
 * from the last parameter down (the order backward completes them in),
 * into buckets of about bucket_bytes. Returns NULL on no memory. */
dist_grads *dist_grads_new(float *grads, size_t numel, const size_t *off, int n,
                           size_t bucket_bytes);
void dist_grads_free(dist_grads *d);
/* Number of buckets. */
int dist_grads_buckets(const dist_grads *d);
/* Starts a backward pass whose gradients are to be reduced: pending[k] =
 * how many parameters of bucket k the pass still completes (the caller
 * counts them with dist_grads_expect). */
void dist_grads_begin(dist_grads *d);
/* Parameter i (index into off) will be completed by this pass. */
void dist_grads_expect(dist_grads *d, int i);
/* Parameter i's gradient is final: posts the reduction of every bucket
 * that is complete, in bucket order (the same on every rank), and drives
 * the reductions in flight. Returns a status. */
int dist_grads_done(dist_grads *d, int i);
/* Drives the reductions in flight (between ops). Returns a status. */
int dist_grads_progress(dist_grads *d);
/* Posts the buckets not posted yet, waits for all: grads then hold the sum
 * over ranks. *wait_s gets the seconds spent waiting here (the part of the
 * all-reduce not hidden behind backward). Returns a status. */
int dist_grads_finish(dist_grads *d, double *wait_s);

#endif
