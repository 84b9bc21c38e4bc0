/* Helpers shared by the Check suites. */
#ifndef ABLM_TESTUTIL_H
#define ABLM_TESTUTIL_H

#include "encdec.h"

#include <check.h>
#include <stdarg.h>

/* Path of the repository's source dir / shared data dir (from CTest's
 * environment), or NULL when unset. */
const char *tu_source_dir(void);
/* ../shared/data/oas-paired if it exists, else NULL. */
const char *tu_oas_dir(void);
/* Marks the running case as not done for `why` (printed as "SKIP case:
 * why"); the case should return right after. tu_run then exits 77, which
 * CTest reports as Skipped (SKIP_RETURN_CODE), unless a case failed. */
void tu_skip(const char *test, const char *why);
/* Runs a suite with CK_FORK as set, prints results; returns the exit
 * status: 1 if a case failed, else 77 if one called tu_skip, else 0. */
int tu_run(Suite *s);
/* A fresh temporary directory (mkdtemp), as a malloc'ed path the caller frees. */
char *tu_tmpdir(void);
/* Writes n pseudo-random protein chains (fixed LCG from seed) of
 * min_len..min_len+spread-1 residues to path, one per line, or as FASTA
 * records >s0, >s1, ... when fasta != 0; fails the test on an error. */
void tu_write_chains(const char *path, int n, int min_len, int spread, unsigned seed, int fasta);
/* The whole file at path, NUL-terminated, malloc'ed (the caller frees);
 * fails the test when it cannot be read. */
char *tu_read_file(const char *path);
/* 1 when the files at a and b have the same bytes; fails the test when
 * either cannot be opened. */
int tu_same_file(const char *a, const char *b);
/* The first number named key (depth-first) in the JSON file at path, in
 * any whitespace layout; fails the test when the file is not JSON or has
 * no such number. */
double tu_json_number(const char *path, const char *key);
/* The per-step training losses of DIR/trainer_state.json's log_history
 * into loss[0..max); returns how many. */
int tu_step_losses(const char *dir, double *loss, int max);
/* Calls fn(argc, argv) (an ablm subcommand) with stdout sent to the file
 * out and stderr to err; argv[argc] must be NULL. Returns fn's status. */
int tu_run_cmd(int (*fn)(int, char **), int argc, char **argv, const char *out,
               const char *err);
/* tu_run_cmd with the arguments as a NULL-terminated va_list after the
 * command name (at most 31 arguments). */
int tu_run_cmd_va(int (*fn)(int, char **), const char *out, const char *err, const char *name,
                  va_list ap);
/* tu_run_cmd_va with stdout to DIR/out and stderr to DIR/err; the
 * NULL-terminated arguments follow the command name. */
int tu_run_in(const char *dir, int (*fn)(int, char **), const char *name, ...);

/* Heavy-to-light: a fresh RoBERTa (configs/h2l_heavy_tiny.json, init
 * seed 1) and GPT-2 (configs/h2l_light_tiny.json, seed 2) saved into
 * enc_dir and dec_dir as ablm train and ablm train-clm save them. */
void tu_h2l_fresh_models(const char *enc_dir, const char *dec_dir);
/* The tiny encoder-decoder fixture (tests/fixtures/encdec_tiny), loaded;
 * saved as a model directory into dir unless dir is NULL. The caller
 * frees it (ed_model_free). */
ed_model *tu_encdec_fixture(const char *dir);

/* nfam families of per sequences each: a random ancestor of len/2 ..
 * len/2 + len - 1 residues (seeded), mutated by substitutions (rate mut),
 * deletions (mut / 10) and insertions (mut / 20); malloc'ed strings (not
 * NUL-terminated) with their lengths in *lens_out (the caller frees all). */
char **tu_families(size_t nfam, size_t per, int len, double mut, uint64_t seed, int **lens_out);

/* Writes n bytes 'x' to dir/name (a planted file). */
void tu_put_bytes(const char *dir, const char *name, size_t n);
/* The size of dir/name (not following a link), -1 when there is none. */
long tu_file_size(const char *dir, const char *name);

/* PIDs for the stale-temp-file tests. tu_dead_pid: a PID with no process
 * now (a child that exited and was reaped). tu_live_child: a child that
 * waits until killed; it dies with the test process (PR_SET_PDEATHSIG), so
 * a failed check never leaves it behind, and its stdout and stderr are
 * /dev/null, so CTest does not wait for it. The caller kills and reaps it. */
long tu_dead_pid(void);
long tu_live_child(void);

#endif
