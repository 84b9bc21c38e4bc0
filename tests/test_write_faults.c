/* Write-fault sweeps over the output paths (graph/afile.h's fault hook):
 * for each fault class (the temp file cannot be created, a short write, a
 * write failing with ENOSPC, fsync failing with EIO, rename failing with
 * ENOSPC) and k = 1, 2, ... the k-th such event fails, until a run no longer
 * reaches its armed fault. The operations: resuming `ablm train` from a
 * checkpoint and saving the next one plus the final model directory and
 * results; `ablm cluster` outputs; an `ablm embed` .npy. Each failing run must
 * end with an error naming a file of the output and the reason; every file
 * present afterwards is the previous one or the clean run's (byte for byte;
 * results JSON with timings: complete JSON); every checkpoint directory is
 * complete; no temp file (*.tmp.*, tmp-checkpoint-*) is left. Leaks: run
 * under ASan + LeakSanitizer (build-asan). The last case writes into a real
 * full filesystem (a 1 MB tmpfs) when mounting one is allowed. */
#define _GNU_SOURCE
#include "afile.h"
#include "commands.h"
#include "testutil.h"
#include "tg.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char *root; /* the suite's temp dir */

static const char *kind_name[] = {"off", "create", "short", "enospc", "fsync", "rename"};

static char *path(const char *name)
{
    static char buf[8][4200];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", root, name);
    return buf[i];
}

static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* 30-60-residue chains, one per line or FASTA. */
static void write_chains(const char *p, int n, unsigned seed, int fasta)
{
    tu_write_chains(p, n, 30, 31, seed, fasta);
}

/* ---- directory comparisons ------------------------------------------------------ */

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A JSON file that parses (results files hold timings that differ run to run). */
static int json_complete(const char *p)
{
    size_t n = strlen(p);
    if (n < 5 || strcmp(p + n - 5, ".json"))
        return 0;
    char *s = tu_read_file(p);
    cJSON *j = cJSON_Parse(s);
    free(s);
    cJSON_Delete(j);
    return j != NULL;
}

/* Every entry under w (relative name rel) is acceptable after a failed
 * write: no temp file; a file equal to old's or new's (or complete JSON that
 * new also has); a checkpoint directory complete (every file new has). */
static void check_tree(const char *w, const char *old, const char *new_, const char *rel)
{
    char dw[4400], dold[4400], dnew[4400];
    snprintf(dw, sizeof dw, "%s%s", w, rel);
    DIR *d = opendir(dw);
    ck_assert_msg(d, "cannot list %s", dw);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "out") ||
            !strcmp(e->d_name, "err"))
            continue;
        char r[4400], pw[4400], po[4400], pn[4400];
        snprintf(r, sizeof r, "%s/%s", rel, e->d_name);
        snprintf(pw, sizeof pw, "%s%s", w, r);
        snprintf(po, sizeof po, "%s%s", old, r);
        snprintf(pn, sizeof pn, "%s%s", new_, r);
        ck_assert_msg(!strstr(e->d_name, ".tmp.") && strncmp(e->d_name, "tmp-checkpoint-", 15),
                      "temp file left behind: %s", pw);
        if (is_dir(pw)) {
            ck_assert_msg(is_dir(po) || is_dir(pn), "unexpected directory %s", pw);
            if (!is_dir(po)) { /* new: must be complete */
                DIR *dn = opendir(pn);
                struct dirent *f;
                while ((f = readdir(dn)))
                    if (f->d_name[0] != '.') {
                        char a[8900];
                        snprintf(a, sizeof a, "%s/%s", pw, f->d_name);
                        ck_assert_msg(is_file(a), "incomplete %s: no %s", pw, f->d_name);
                    }
                closedir(dn);
            }
            check_tree(w, old, new_, r);
            continue;
        }
        int ok = (is_file(po) && tu_same_file(pw, po)) || (is_file(pn) && tu_same_file(pw, pn)) ||
                 (is_file(pn) && json_complete(pw));
        ck_assert_msg(ok, "%s is neither the previous file nor the new one", pw);
    }
    closedir(d);
    /* nothing of the previous output lost */
    snprintf(dold, sizeof dold, "%s%s", old, rel);
    snprintf(dnew, sizeof dnew, "%s%s", new_, rel);
    (void)dnew;
    d = opendir(dold);
    while (d && (e = readdir(d))) {
        char a[8900];
        snprintf(a, sizeof a, "%s%s/%s", w, rel, e->d_name);
        ck_assert_msg(access(a, F_OK) == 0, "%s was lost", a);
    }
    if (d)
        closedir(d);
}

/* ---- the sweep ------------------------------------------------------------------- */

/* An output operation writing into directory w (which holds the previous
 * output); returns the command's status. */
typedef int (*write_op)(const char *w);

/* Prepares w: its previous contents (from old, "" = empty). */
static void reset(const char *w, const char *old)
{
    sh("rm -rf '%s'", w);
    if (old[0])
        sh("cp -a '%s' '%s'", old, w);
    else
        ck_assert_int_eq(mkdir(w, 0755), 0);
}

/* Sweeps every fault class over op; old: the previous output (made in w's
 * path and moved away), returns the total number of failing runs. */
static long sweep(const char *name, write_op op, const char *w, const char *old)
{
    char new_[4400];
    snprintf(new_, sizeof new_, "%s.new", w);
    reset(w, old);
    ck_assert_msg(op(w) == 0, "%s: clean run failed: %s", name, tg_last_error());
    sh("rm -rf '%s' && mv '%s' '%s'", new_, w, new_);
    long total = 0;
    for (int kind = TG_AFAULT_CREATE; kind <= TG_AFAULT_RENAME; kind++) {
        long k;
        for (k = 1;; k++) {
            reset(w, old);
            tg_error(TG_OK, "%s", "");
            tg_afile_fault(kind, k);
            int rc = op(w);
            int fired = tg_afile_fault_fired();
            tg_afile_fault(TG_AFAULT_OFF, 0);
            if (!fired) {
                ck_assert_msg(rc == 0, "%s: %s k=%ld: no fault injected, yet status %d: %s", name,
                              kind_name[kind], k, rc, tg_last_error());
                break;
            }
            const char *msg = tg_last_error();
            ck_assert_msg(rc != 0, "%s: %s k=%ld: the fault was ignored", name, kind_name[kind], k);
            ck_assert_msg(strstr(msg, w) != NULL, "%s: %s k=%ld: the error names no output file: %s",
                          name, kind_name[kind], k, msg);
            ck_assert_msg(strstr(msg, strerror(ENOSPC)) || strstr(msg, strerror(EIO)),
                          "%s: %s k=%ld: the error gives no reason: %s", name, kind_name[kind], k, msg);
            check_tree(w, old[0] ? old : "/nonexistent", new_, "");
        }
        printf("%s: %s: %ld failing runs\n", name, kind_name[kind], k - 1);
        total += k - 1;
    }
    sh("rm -rf '%s' '%s'", w, new_);
    return total;
}

/* ---- operations -------------------------------------------------------------------- */

static int train(const char *w, const char *steps)
{
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/configs/heavy_tiny.json", tu_source_dir());
    char out[4400], err[4400];
    snprintf(out, sizeof out, "%s.out", w);
    snprintf(err, sizeof err, "%s.err", w);
    char *argv[] = {"train", "--config_name", cfg, "--train_file", path("chains.txt"),
                    "--output_dir", (char *)w, "--per_device_train_batch_size", "4",
                    "--max_seq_length", "64", "--line_by_line", "--logging_steps", "1",
                    "--save_steps", "1", "--seed", "7", "--max_steps", (char *)steps, NULL};
    return tu_run_cmd(cmd_train, (int)(sizeof argv / sizeof *argv) - 1, argv, out, err);
}

/* Resumes from checkpoint-1 and saves checkpoint-2, the final model
 * directory, results, trainer_state.json and the loss curve. */
static int train_resume(const char *w) { return train(w, "2"); }

static int cluster(const char *w)
{
    char prefix[4300], out[4400], err[4400];
    snprintf(prefix, sizeof prefix, "%s/c", w);
    snprintf(out, sizeof out, "%s.out", w);
    snprintf(err, sizeof err, "%s.err", w);
    char *argv[] = {"cluster", "--input", path("chains.fa"), "--min-seq-id", "0.3", "-c", "0.5",
                    "--out", prefix, NULL};
    return tu_run_cmd(cmd_cluster, 9, argv, out, err);
}

static int embed(const char *w)
{
    char o[4300], model[4300], out[4400], err[4400];
    snprintf(o, sizeof o, "%s/e.npy", w);
    snprintf(model, sizeof model, "%s/tests/fixtures/roberta_tiny", tu_source_dir());
    snprintf(out, sizeof out, "%s.out", w);
    snprintf(err, sizeof err, "%s.err", w);
    char *argv[] = {"embed", "--model", model, "--input", path("chains.fa"), "--output", o,
                    "--per-residue", NULL};
    return tu_run_cmd(cmd_embed, 8, argv, out, err);
}

static void setup(void)
{
    if (root)
        return;
    root = tu_tmpdir();
    write_chains(path("chains.txt"), 24, 5, 0);
    write_chains(path("chains.fa"), 40, 9, 1);
}

/* The previous output of op: op run on other input in w's path, moved to old. */
static void previous(write_op op, const char *w, const char *old, const char *input_seed)
{
    write_chains(path("chains.fa"), 40, (unsigned)atoi(input_seed), 1);
    sh("rm -rf '%s' '%s'", w, old);
    ck_assert_int_eq(mkdir(w, 0755), 0);
    ck_assert_msg(op(w) == 0, "%s", tg_last_error());
    sh("mv '%s' '%s'", w, old);
    write_chains(path("chains.fa"), 40, 9, 1);
}

START_TEST(checkpoint_and_model_dir)
{
    setup();
    char w[4300], old[4300];
    snprintf(w, sizeof w, "%s", path("run"));
    snprintf(old, sizeof old, "%s", path("run.old"));
    sh("rm -rf '%s' '%s'", w, old);
    ck_assert_msg(train(w, "1") == 0, "%s", tg_last_error()); /* checkpoint-1 + model */
    sh("mv '%s' '%s'", w, old);
    long n = sweep("train resume + checkpoint-2 + model directory", train_resume, w, old);
    ck_assert_int_gt(n, 40);
    /* the previous checkpoint is loadable after a failure: resume from it */
    reset(w, old);
    tg_afile_fault(TG_AFAULT_ENOSPC, 3);
    ck_assert_int_ne(train_resume(w), 0);
    tg_afile_fault(TG_AFAULT_OFF, 0);
    ck_assert_msg(train_resume(w) == 0, "resume after a failed save: %s", tg_last_error());
    char a[4400], b[4400];
    snprintf(a, sizeof a, "%s/model.safetensors", w);
    snprintf(b, sizeof b, "%s/checkpoint-2/model.safetensors", w);
    ck_assert(tu_same_file(a, b));
}
END_TEST

/* Sweeps op over a previous output made from other input (seed). */
static long sweep_previous(const char *name, write_op op, const char *tag, const char *seed)
{
    char w[4300], old[4310];
    snprintf(w, sizeof w, "%s", path(tag));
    snprintf(old, sizeof old, "%s.old", w);
    previous(op, w, old, seed);
    return sweep(name, op, w, old);
}

START_TEST(cluster_outputs)
{
    setup();
    ck_assert_int_ge(sweep_previous("cluster outputs", cluster, "cl", "3"), 10);
    char w[4300]; /* path()'s buffers are reused: keep a copy */
    snprintf(w, sizeof w, "%s", path("cl"));
    ck_assert_int_ge(sweep("cluster outputs, none before", cluster, w, ""), 10);
}
END_TEST

START_TEST(embed_npy)
{
    setup();
    ck_assert_int_ge(sweep_previous("embed .npy", embed, "em", "4"), 10);
}
END_TEST

static char mnt[4300];

/* Unmounts the tmpfs even when a check failed before the case's umount. */
static void unmount_tmpfs(void)
{
    if (mnt[0])
        umount2(mnt, MNT_DETACH);
}

/* A real full filesystem: a 1 MB tmpfs (needs CAP_SYS_ADMIN; else skipped). */
START_TEST(real_full_filesystem)
{
    setup();
    char *m = mnt;
    snprintf(mnt, sizeof mnt, "%s", path("tmpfs"));
    mkdir(m, 0755);
    if (mount("tmpfs", m, "tmpfs", 0, "size=1m") != 0) {
        mnt[0] = 0;
        tu_skip("real_full_filesystem", "cannot mount a tmpfs here");
        return;
    }
    atexit(unmount_tmpfs);
    /* fill it to the last block */
    char fill[4400];
    snprintf(fill, sizeof fill, "%s/fill", m);
    FILE *f = fopen(fill, "w");
    static char block[4096];
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    fclose(f);
    /* an existing output (written before the disk filled) stays */
    char o[4400], model[4300];
    snprintf(o, sizeof o, "%s/e.npy", m);
    snprintf(model, sizeof model, "%s/tests/fixtures/roberta_tiny", tu_source_dir());
    ck_assert_int_eq(truncate(fill, 512 * 1024), 0);
    char *argv[] = {"embed", "--model", model, "--input", path("chains.fa"), "--output", o, NULL};
    ck_assert_int_eq(tu_run_cmd(cmd_embed, 7, argv, path("fs.out"), path("fs.err")), 0);
    char keep[4400];
    snprintf(keep, sizeof keep, "%s/e.keep", root);
    sh("cp '%s' '%s'", o, keep);
    ck_assert_int_eq(truncate(fill, 0), 0);
    f = fopen(fill, "w");
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    fclose(f);
    char *argv2[] = {"embed", "--model", model, "--input", path("chains.fa"), "--output", o,
                     "--per-residue", NULL};
    ck_assert_int_ne(tu_run_cmd(cmd_embed, 8, argv2, path("fs.out"), path("fs.err")), 0);
    const char *msg = tg_last_error();
    ck_assert_msg(strstr(msg, o) && strstr(msg, strerror(ENOSPC)), "%s", msg);
    ck_assert(tu_same_file(o, keep));
    DIR *d = opendir(m);
    struct dirent *e;
    while ((e = readdir(d)))
        ck_assert_msg(!strstr(e->d_name, ".tmp."), "temp file left: %s", e->d_name);
    closedir(d);
    printf("full tmpfs: %s\n", msg);
    ck_assert_int_eq(umount(m), 0);
    mnt[0] = 0;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("write_faults");
    /* one case each, so that CK_RUN_CASE=embed (etc.) runs one sweep */
    const char *names[] = {"train", "cluster", "embed", "tmpfs"};
    const TTest *tests[] = {checkpoint_and_model_dir, cluster_outputs, embed_npy,
                            real_full_filesystem};
    for (int i = 0; i < 4; i++) {
        TCase *tc = tcase_create(names[i]);
        tcase_set_timeout(tc, 1200);
        tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
    }
    return tu_run(s);
}
