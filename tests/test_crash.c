/* Crash safety of ablm train: a run (heavy_tiny on synthetic chains, dropout
 * on, a checkpoint every 2 of 16 steps) is killed with SIGKILL again and
 * again at seeded random moments and resumed each time as a user would
 * (`ablm train` again on the same output_dir: it resumes from the latest
 * checkpoint; with no checkpoint yet, --overwrite_output_dir). The kills:
 * by time (anywhere: steps, saves, startup), by time with every file commit
 * slowed (ABLM_FAULT_SLOW_COMMIT_MS: most land inside checkpoint writes),
 * and inside the k-th file commit (ABLM_FAULT_KILL_AT_COMMIT: data written,
 * before the rename; also the final model directory's files). After every
 * kill each checkpoint-N present must be complete and loadable and hold
 * the uninterrupted run's checkpoint-N (weights and optimizer byte for
 * byte); at the end the per-step losses must equal the uninterrupted run's
 * bit for bit and the final model be byte-identical (exact resume,
 * docs/training.md). */
#define _GNU_SOURCE
#include "roberta.h"
#include "safetensors.h"
#include "testutil.h"
#include "tokenizer.h"
#include "tg.h"
#include "train_state.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_STEPS "16"
#define SAVE_STEPS 2

static char *root;
static char data[4300], ref[4300];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

/* Seeded xorshift: the kill schedule is the same on every run of the test. */
static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (rng_state >> 11) * (1.0 / 9007199254740992.0);
}

/* Starts `ablm train` into out (env: NULL-terminated NAME=VALUE strings to
 * add); stdout/stderr to out.log. Returns the pid. */
static pid_t start(const char *out, int overwrite, const char *const *env)
{
    char bin[4300], cfg[4300], log[4400];
    snprintf(bin, sizeof bin, "%s/ablm", getenv("ABLM_BUILD_DIR"));
    snprintf(cfg, sizeof cfg, "%s/configs/heavy_tiny.json", tu_source_dir());
    snprintf(log, sizeof log, "%s.log", out);
    char *argv[] = {bin, "train", "--config_name", cfg, "--train_file", data, "--output_dir",
                    (char *)out, "--per_device_train_batch_size", "4", "--max_seq_length", "64",
                    "--line_by_line", "--logging_steps", "1", "--save_steps", "2", "--seed", "7",
                    "--max_steps", MAX_STEPS, "--disable_tqdm", "true",
                    overwrite ? "--overwrite_output_dir" : NULL, NULL};
    fflush(stdout);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        for (int i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

/* Waits for pid; returns its exit status, or -SIGNAL. */
static int wait_for(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* The names of the temp entries in out (tmp-checkpoint-*, *.tmp.*), one a
 * line, into buf. */
static void tmp_names(const char *out, char *buf, size_t cap)
{
    buf[0] = 0;
    DIR *d = opendir(out);
    struct dirent *e;
    size_t n = 0;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, "tmp-checkpoint-", 15) || strstr(e->d_name, ".tmp."))
            n += snprintf(buf + n, n < cap ? cap - n : 0, "%s\n", e->d_name);
    if (d)
        closedir(d);
}

/* 1 when a temp entry in out is new since the snapshot `before`: the kill
 * stopped a save. */
static int new_tmp(const char *out, const char *before)
{
    char now_[8192];
    tmp_names(out, now_, sizeof now_);
    for (char *l = strtok(now_, "\n"); l; l = strtok(NULL, "\n")) {
        char key[300];
        snprintf(key, sizeof key, "%s\n", l);
        if (!strstr(before, key))
            return 1;
    }
    return 0;
}

/* Waits until the run's log (out.log) reports a training step `step`
 * (its JSON log line); returns 0 if the process exited first. */
static int wait_step(const char *out, pid_t pid, int step)
{
    char log[4400], want[64];
    snprintf(log, sizeof log, "%s.log", out);
    snprintf(want, sizeof want, "\"step\": %d}", step);
    for (int i = 0; i < 60000; i++) {
        FILE *f = fopen(log, "r");
        char line[4096];
        int found = 0;
        while (f && !found && fgets(line, sizeof line, f))
            found = strstr(line, want) != NULL;
        if (f)
            fclose(f);
        if (found)
            return 1;
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            return -1; /* exited (left for wait_for to reap) */
        usleep(500);
    }
    return 0;
}

static int has_checkpoint(const char *out)
{
    char p[4400];
    return ts_last_checkpoint(out, p, sizeof p) > 0;
}

/* Every checkpoint-N in out is complete (the reference's files, all of
 * them), loadable (model, optimizer, trainer_state at step N) and the
 * reference's checkpoint-N byte for byte where bytes are run-independent.
 * Returns how many there are; *tmp_seen says whether a save was interrupted
 * (a tmp-checkpoint-* or *.tmp.* left). */
static int check_checkpoints(const char *out, int *tmp_seen)
{
    DIR *d = opendir(out);
    int n = 0;
    *tmp_seen = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strncmp(e->d_name, "tmp-checkpoint-", 15) || strstr(e->d_name, ".tmp."))
            *tmp_seen = 1;
        long step;
        char c;
        if (sscanf(e->d_name, "checkpoint-%ld%c", &step, &c) != 1)
            continue;
        n++;
        ck_assert_msg(step % SAVE_STEPS == 0, "unexpected %s", e->d_name);
        char dir[4700], rdir[4700];
        snprintf(dir, sizeof dir, "%s/%s", out, e->d_name);
        snprintf(rdir, sizeof rdir, "%s/%s", ref, e->d_name);
        DIR *r = opendir(rdir);
        ck_assert_msg(r, "%s has no counterpart in the uninterrupted run", dir);
        struct dirent *f;
        while ((f = readdir(r))) {
            if (f->d_name[0] == '.')
                continue;
            char a[8900], b[8900];
            snprintf(a, sizeof a, "%s/%s", dir, f->d_name);
            snprintf(b, sizeof b, "%s/%s", rdir, f->d_name);
            ck_assert_msg(access(a, F_OK) == 0, "%s is incomplete: no %s", dir, f->d_name);
            if (strstr(f->d_name, ".safetensors") || !strcmp(f->d_name, "scheduler.json") ||
                !strcmp(f->d_name, "config.json") || !strcmp(f->d_name, "vocab.txt"))
                ck_assert_msg(tu_same_file(a, b), "%s differs from the uninterrupted run's", a);
        }
        closedir(r);
        rb_model *m = NULL;
        tok_tokenizer *tok = NULL;
        ck_assert_msg(rb_load_pretrained(dir, &m, &tok, NULL) == TG_OK, "%s: %s", dir, tg_last_error());
        rb_model_free(m);
        tok_free(tok);
        char p[8900];
        snprintf(p, sizeof p, "%s/optimizer.safetensors", dir);
        st_file *sf;
        ck_assert_msg(st_open(p, &sf) == TG_OK, "%s", tg_last_error());
        st_close(sf);
        snprintf(p, sizeof p, "%s/trainer_state.json", dir);
        ck_assert_double_eq(tu_json_number(p, "global_step"), (double)step);
    }
    closedir(d);
    return n;
}

/* A finished run in out is the uninterrupted one: the same per-step
 * losses bit for bit, the same final model, all its checkpoints. */
static void check_final(const char *out, int checkpoints)
{
    double la[64], lb[64];
    int na = tu_step_losses(ref, la, 64), nb = tu_step_losses(out, lb, 64);
    ck_assert_int_eq(na, 16);
    ck_assert_int_eq(nb, 16);
    for (int i = 0; i < 16; i++)
        ck_assert_msg(la[i] == lb[i], "step %d: %.17g vs %.17g", i + 1, la[i], lb[i]);
    char pa[4400], pb[4400];
    snprintf(pa, sizeof pa, "%s/model.safetensors", ref);
    snprintf(pb, sizeof pb, "%s/model.safetensors", out);
    ck_assert_msg(tu_same_file(pa, pb), "final models differ");
    const char *files[] = {"config.json", "vocab.txt", "train_results.json", "all_results.json",
                           "training_args.json", "loss_curve.svg"};
    for (int i = 0; i < 6; i++) {
        snprintf(pb, sizeof pb, "%s/%s", out, files[i]);
        ck_assert_msg(access(pb, F_OK) == 0, "the finished run has no %s", pb);
    }
    int tmp_seen;
    ck_assert_int_eq(check_checkpoints(out, &tmp_seen), checkpoints);
}

START_TEST(sigkill_and_resume)
{
    root = tu_tmpdir();
    snprintf(data, sizeof data, "%s/chains.txt", root);
    snprintf(ref, sizeof ref, "%s/ref", root);
    tu_write_chains(data, 64, 30, 31, 3, 0);
    double t0 = now();
    ck_assert_int_eq(wait_for(start(ref, 0, NULL)), 0);
    double tref = now() - t0;
    int tmp_seen;
    ck_assert_int_eq(check_checkpoints(ref, &tmp_seen), 8);
    ck_assert(!tmp_seen);

    char out[4300];
    snprintf(out, sizeof out, "%s/killed", root);
    int kills = 0, in_save = 0, by_kind[4] = {0, 0, 0, 0}, runs = 0;
    static const char *kind_name[] = {"time", "time, slow commits", "inside commit",
                                      "right after a step's log line"};
    static char slow[] = "ABLM_FAULT_SLOW_COMMIT_MS=15";
    char kill_at[64], before[8192];
    for (int attempt = 0; attempt < 40; attempt++) {
        /* kill until 9 kills landed (a run may end before its kill), then
         * run to the end */
        int kind = kills < 9 && attempt < 36 ? attempt % 4 : 4;
        const char *env[3] = {NULL, NULL, NULL};
        if (kind == 1)
            env[0] = slow;
        if (kind == 2) {
            snprintf(kill_at, sizeof kill_at, "ABLM_FAULT_KILL_AT_COMMIT=%d", 1 + (int)(uniform() * 40));
            env[0] = kill_at;
        }
        double delay = kind == 0 ? uniform() * tref : kind == 1 ? uniform() * 3 * tref : 0;
        int step = 1 + 2 * (int)(uniform() * 8); /* odd: the next step trains, no save */
        long ckpt_step = 0;
        char last[4400];
        if (ts_last_checkpoint(out, last, sizeof last) > 0)
            sscanf(strrchr(last, '-') + 1, "%ld", &ckpt_step);
        if (step <= ckpt_step)
            step = (int)ckpt_step + 1;
        tmp_names(out, before, sizeof before);
        pid_t pid = start(out, !has_checkpoint(out), env);
        runs++;
        if (kind <= 1) {
            struct timespec ts = {(time_t)delay, (long)((delay - (long)delay) * 1e9)};
            nanosleep(&ts, NULL);
            kill(pid, SIGKILL);
        } else if (kind == 3) {
            if (wait_step(out, pid, step) >= 0)
                kill(pid, SIGKILL);
        }
        int st = wait_for(pid);
        if (st == 0) {
            check_final(out, 8);
            if (kind == 4)
                break;
            /* the run ended before its kill: start again from scratch, so
             * that the remaining kills still interrupt something */
            char cmd[8700];
            snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.log'", out, out);
            ck_assert_int_eq(system(cmd), 0);
            continue;
        }
        ck_assert_msg(st == -SIGKILL, "attempt %d: the run failed with status %d (see %s.log)",
                      attempt, st, out);
        kills++;
        by_kind[kind]++;
        int saving = kind == 2 || new_tmp(out, before); /* a re-save reuses tmp names */
        in_save += saving;
        int n = check_checkpoints(out, &tmp_seen);
        printf("kill %d (%s", kills, kind_name[kind]);
        if (kind <= 1)
            printf(" %.3f s", delay);
        if (kind == 2)
            printf(" %s", kill_at);
        if (kind == 3)
            printf(" %d", step);
        printf("): %d complete checkpoints%s\n", n, saving ? ", stopped a save" : "");
    }
    printf("%d runs, %d kills (%d by time, %d by time with slow commits, %d inside a commit, "
           "%d after a step), %d stopped a save; uninterrupted run %.2f s\n",
           runs, kills, by_kind[0], by_kind[1], by_kind[2], by_kind[3], in_save, tref);
    ck_assert_int_ge(kills, 8);
    /* deterministically inside the final save (model directory, results):
     * resume from a copy of checkpoint-14, let checkpoint-16 commit (one
     * commit per file), then die at the final save's third file */
    char fin[4300], cmd[13000];
    snprintf(fin, sizeof fin, "%s/final", root);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -a '%s/checkpoint-14' '%s/'", fin, ref, fin);
    ck_assert_int_eq(system(cmd), 0);
    int files = 0;
    snprintf(cmd, sizeof cmd, "%s/checkpoint-16", ref);
    DIR *d = opendir(cmd);
    struct dirent *e;
    while ((e = readdir(d)))
        files += e->d_name[0] != '.';
    closedir(d);
    snprintf(kill_at, sizeof kill_at, "ABLM_FAULT_KILL_AT_COMMIT=%d", files + 3);
    const char *env[2] = {kill_at, NULL};
    ck_assert_int_eq(wait_for(start(fin, 0, env)), -SIGKILL);
    ck_assert_int_eq(check_checkpoints(fin, &tmp_seen), 2);
    snprintf(cmd, sizeof cmd, "%s/trainer_state.json", fin);
    ck_assert_msg(access(cmd, F_OK) != 0, "the kill was not inside the final save");
    ck_assert_int_eq(wait_for(start(fin, 0, NULL)), 0); /* completes the final save */
    check_final(fin, 2);
    ck_assert_int_ge(in_save, 3);
    check_final(out, 8);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("crash");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, sigkill_and_resume);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
