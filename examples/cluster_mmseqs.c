/* The MMseqs2 clustering engine: run mmseqs easy-linclust, read its
 * clusters back, re-align the members. */
#include "cluster_mmseqs.h"

#include "cluster_io.h"
#include "fileio.h"
#include "fsutil.h"
#include "tg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MM_INSTALL "install MMseqs2 with `apt-get install mmseqs2` (Debian), or give its path with --mmseqs PATH"

void mm_opts_default(mm_opts *m)
{
    memset(m, 0, sizeof *m);
    m->workdir = ".";
    m->threads = 1;
    m->check_sample = MM_CHECK_DEFAULT;
    m->seed = 42;
}

void mm_tool_free(mm_tool *t)
{
    tg_free(t->path);
    memset(t, 0, sizeof *t);
}

/* 1 if path is an executable regular file. */
static int is_exe(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK);
}

/* Runs argv[0] with stdout to out_fd and stderr to err_fd (-1: inherited);
 * *status gets the exit status (128 + signal if killed). Returns TG_OK or
 * TG_ERR_IO when it cannot be started. */
static int run(char *const argv[], int out_fd, int err_fd, int *status)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa))
        return tg_error(TG_ERR_IO, "%s: cannot prepare to run it", argv[0]);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    pid_t pid;
    int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return tg_error(TG_ERR_IO, "%s: cannot run it: %s", argv[0], strerror(e));
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return tg_error(TG_ERR_IO, "%s: waitpid: %s", argv[0], strerror(errno));
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    return TG_OK;
}

/* Reads `mmseqs version` into t->version. */
static int read_version(mm_tool *t)
{
    int p[2];
    if (pipe(p))
        return tg_error(TG_ERR_IO, "pipe: %s", strerror(errno));
    int devnull = open("/dev/null", O_WRONLY);
    char *argv[] = {t->path, "version", NULL};
    int status = 0, rc = run(argv, p[1], devnull, &status);
    close(p[1]);
    if (devnull >= 0)
        close(devnull);
    size_t got = 0;
    ssize_t k;
    while (!rc && got + 1 < sizeof t->version &&
           (k = read(p[0], t->version + got, sizeof t->version - 1 - got)) > 0)
        got += (size_t)k;
    close(p[0]);
    t->version[got] = '\0';
    t->version[strcspn(t->version, "\r\n")] = '\0';
    if (!rc && (status || !got))
        rc = tg_error(TG_ERR_IO, "%s version: exit status %d, no version printed: is it MMseqs2? (%s)",
                      t->path, status, MM_INSTALL);
    return rc;
}

int mm_find(mm_tool *t, const char *binary)
{
    memset(t, 0, sizeof *t);
    const char *found = NULL;
    char *buf = NULL;
    if (binary) {
        if (!is_exe(binary))
            return tg_error(TG_ERR_IO, "--mmseqs %s: no such executable file; %s", binary, MM_INSTALL);
        found = binary;
    } else {
        const char *path = getenv("PATH");
        for (const char *p = path ? path : ""; !found && *p;) {
            size_t l = strcspn(p, ":");
            tg_free(buf);
            if (!(buf = tg_malloc(l + 8, "mmseqs path")))
                return TG_ERR_NOMEM;
            snprintf(buf, l + 8, "%.*s/mmseqs", (int)l, p);
            if (l && is_exe(buf))
                found = buf;
            p += l + (p[l] == ':');
        }
        if (!found) {
            tg_free(buf);
            return tg_error(TG_ERR_IO, "--engine mmseqs: mmseqs is not on PATH; %s", MM_INSTALL);
        }
    }
    size_t l = strlen(found);
    t->path = tg_malloc(l + 1, "mmseqs path");
    if (t->path)
        memcpy(t->path, found, l + 1);
    tg_free(buf);
    if (!t->path)
        return TG_ERR_NOMEM;
    int rc = read_version(t);
    if (rc)
        mm_tool_free(t);
    return rc;
}

/* Shortest "%.Ng" of x that reads back as x. */
static void fmt_num(char *buf, size_t cap, double x)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* Writes the FASTA mmseqs reads: ">ID\nSEQ\n" per sequence. An id that
 * MMseqs2 would not give back unchanged (empty, or with a blank or control
 * character: it keeps the first word) is TG_ERR_FORMAT naming it. */
static int write_fasta(const char *path, const cl_src *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *id = cl_src_name(src, i);
        const unsigned char *c = (const unsigned char *)(id ? id : "");
        int bad = !*c;
        for (; *c && !bad; c++)
            bad = isspace(*c) || iscntrl(*c);
        if (bad)
            return tg_error(TG_ERR_FORMAT,
                            "record id '%s' is empty or has a blank: MMseqs2 keeps only the first "
                            "word of a FASTA header, so it could not be named back; use "
                            "--engine ablm or ids without blanks", id);
    }
    FILE *f = fopen(path, "w");
    if (!f)
        return tg_error(TG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        int l;
        const char *q = cl_src_seq(src, i, &l);
        const char *id = cl_src_name(src, i); /* checked above */
        fprintf(f, ">%s\n%.*s\n", id ? id : "", l, q);
    }
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? tg_error(TG_ERR_IO, "%s: write failed (disk full?)", path) : TG_OK;
}

/* The last lines of the log (at most cap-1 bytes, whole lines) into buf. */
static void log_tail(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    long want = (long)cap - 1;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        fseek(f, end > want ? end - want : 0, SEEK_SET);
        size_t k = fread(buf, 1, cap - 1, f);
        buf[k] = '\0';
        char *nl = end > want ? strchr(buf, '\n') : NULL;
        if (nl)
            memmove(buf, nl + 1, strlen(nl + 1) + 1);
    }
    fclose(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Adds the member check of rep[] to info. */
static int add_member_check(const cl_src *src, size_t n, const cl_opts *o, const mm_opts *m,
                            const uint32_t *rep, cJSON *info)
{
    cl_member_report r;
    int rc = cl_report_members(src, n, rep, o, m->check_sample, m->seed, &r);
    if (rc)
        return rc;
    cJSON *c = cJSON_AddObjectToObject(info, "member_check");
    cJSON_AddStringToObject(c, "by", "ablm's Smith-Waterman aligner (data/align.h), "
                                     "member against its representative");
    cJSON_AddNumberToObject(c, "members", (double)r.members);
    cJSON_AddNumberToObject(c, "checked", (double)r.checked);
    cJSON_AddBoolToObject(c, "sampled", r.checked < r.members);
    cJSON_AddNumberToObject(c, "below_threshold", (double)r.below);
    cJSON_AddNumberToObject(c, "below_min_seq_id", (double)r.below_identity);
    cJSON_AddNumberToObject(c, "below_threshold_fraction",
                            r.checked ? (double)r.below / (double)r.checked : 0.0);
    cJSON_AddNumberToObject(c, "min_identity", r.min_identity);
    if (r.worst != SIZE_MAX)
        cJSON_AddStringToObject(c, "worst_member", cl_src_name(src, r.worst));
    return TG_OK;
}

int mm_read_clusters(const char *const *ids, size_t n, const char *tsv, uint32_t *rep)
{
    int rc = cl_read_cluster_names(ids, n, tsv, rep);
    if (rc)
        return tg_error(rc, "reading MMseqs2's clusters: %s (MMseqs2 rewrites some ids, e.g. "
                        "'sp|ACC|NAME' becomes 'ACC')", tg_last_error());
    for (size_t i = 0; i < n; i++)
        if (rep[rep[i]] != rep[i])
            return tg_error(TG_ERR_FORMAT, "%s: '%s' has representative '%s', which is a member "
                            "of '%s'", tsv, ids[i], ids[rep[i]], ids[rep[rep[i]]]);
    return TG_OK;
}

/* The working directories mm_cluster makes: WORKDIR/.ablm-mmseqs.PID.tmp.XXXXXX. */
static const char *const WD_NAMES[] = {".ablm-mmseqs", NULL};

/* Removes from workdir the working directories of mm_cluster runs whose
 * process is gone (killed before it could remove its own; fio_is_stale
 * decides by the PID in the name, so a live run's directory is kept).
 * Counts them into *removed; one that cannot be removed is a warning.
 * Returns a status (only an unreadable workdir other than a missing one
 * is an error). */
static int clean_stale_workdirs(const char *workdir, size_t *removed)
{
    *removed = 0;
    DIR *d = opendir(workdir);
    if (!d)
        return errno == ENOENT ? TG_OK
                               : tg_error(TG_ERR_IO, "%s: cannot list the directory: %s", workdir,
                                          strerror(errno));
    struct dirent *e;
    int rc = TG_OK;
    while ((e = readdir(d)) != NULL) {
        if (!fio_is_stale(e->d_name, WD_NAMES, NULL))
            continue;
        char *p = fio_join(workdir, e->d_name);
        if (!p) {
            rc = TG_ERR_NOMEM;
            break;
        }
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (fs_remove_tree(p) == TG_OK)
                (*removed)++;
            else
                fprintf(stderr, "warning: %s: cannot remove the stale MMseqs2 working directory: %s\n",
                        p, tg_last_error());
        }
        tg_free(p);
    }
    closedir(d);
    return rc;
}

int mm_cluster(const mm_tool *t, const mm_opts *m, const cl_src *src, size_t n,
               const cl_opts *o, uint32_t *rep, cJSON *info)
{
    double t0 = now_s();
    cJSON_AddStringToObject(info, "engine", "mmseqs");
    cJSON_AddStringToObject(info, "mmseqs_version", t->version);
    if (!n) {
        cJSON_AddStringToObject(info, "command", "(not run: no sequences)");
        return TG_OK;
    }
    size_t wl = strlen(m->workdir) + 80;
    char *dir = tg_malloc(wl, "mmseqs paths"), *fa = tg_malloc(wl, "mmseqs paths");
    char *res = tg_malloc(wl, "mmseqs paths"), *tmp = tg_malloc(wl, "mmseqs paths");
    char *tsv = tg_malloc(wl, "mmseqs paths"), *cmd = NULL;
    const char **ids = NULL;
    int rc = TG_ERR_NOMEM, log_fd = -1, made = 0;
    if (!dir || !fa || !res || !tmp || !tsv)
        goto out;
    size_t stale = 0;
    if ((rc = clean_stale_workdirs(m->workdir, &stale)))
        goto out;
    if (stale)
        fprintf(stderr, "mmseqs: removed %zu stale working director%s left in %s by a run that was "
                "stopped\n", stale, stale == 1 ? "y" : "ies", m->workdir);
    snprintf(dir, wl, "%s/%s.%ld.tmp.XXXXXX", m->workdir, WD_NAMES[0], (long)getpid());
    if (!mkdtemp(dir)) {
        rc = tg_error(TG_ERR_IO, "%s: cannot create a temporary directory: %s", dir, strerror(errno));
        goto out;
    }
    made = 1;
    snprintf(fa, wl, "%s/input.fasta", dir);
    snprintf(res, wl, "%s/res", dir);
    snprintf(tmp, wl, "%s/tmp", dir);
    snprintf(tsv, wl, "%s/res_cluster.tsv", dir);
    if (!src->name) {
        rc = tg_error(TG_ERR_ARG, "mm_cluster: the sequences have no names");
        goto out;
    }
    if ((rc = write_fasta(fa, src, n)))
        goto out;
    char id[32], cov[32], cm[8], th[16];
    fmt_num(id, sizeof id, o->min_seq_id);
    fmt_num(cov, sizeof cov, o->coverage);
    snprintf(cm, sizeof cm, "%d", o->cov_mode);
    snprintf(th, sizeof th, "%d", m->threads > 0 ? m->threads : 1);
    char *argv[] = {t->path, "easy-linclust", fa, res, tmp, "--kmer-per-seq", "5", "-k", "6",
                    "--spaced-kmer-mode", "1", "--spaced-kmer-pattern", "11011101",
                    "--sub-mat", "VTML40.out", "--gap-open", "16", "--gap-extend", "2",
                    "--min-seq-id", id, "-c", cov, "--cov-mode", cm, "--threads", th, NULL};
    size_t cl = 1;
    for (int i = 0; argv[i]; i++)
        cl += strlen(argv[i]) + 1;
    if (!(cmd = tg_malloc(cl, "mmseqs command")))
        goto out;
    cmd[0] = '\0';
    for (int i = 0; argv[i]; i++)
        strcat(strcat(cmd, i ? " " : ""), argv[i]);
    log_fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log_fd < 0) {
        rc = tg_error(TG_ERR_IO, "%s: cannot open the mmseqs log: %s", m->log, strerror(errno));
        goto out;
    }
    dprintf(log_fd, "== ablm: %zu sequences: %s\n", n, cmd);
    int status = 0;
    rc = run(argv, log_fd, log_fd, &status);
    close(log_fd);
    log_fd = -1;
    if (rc)
        goto out;
    if (status) {
        char tail[640];
        log_tail(m->log, tail, sizeof tail);
        rc = tg_error(TG_ERR_IO, "mmseqs easy-linclust failed (exit status %d); the end of %s:\n%s",
                      status, m->log, tail);
        goto out;
    }
    /* the names' table of the read-back (8 bytes a sequence while it runs) */
    if (!(ids = tg_malloc(n * sizeof *ids, "mmseqs names"))) {
        rc = TG_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = cl_src_name(src, i);
    rc = mm_read_clusters(ids, n, tsv, rep);
    tg_free(ids);
    ids = NULL;
    if (rc)
        goto out;
    double t1 = now_s();
    cJSON_AddStringToObject(info, "command", cmd);
    cJSON_AddStringToObject(info, "log", m->log);
    cJSON_AddNumberToObject(info, "seconds", t1 - t0);
    rc = add_member_check(src, n, o, m, rep, info);
    cJSON_AddNumberToObject(info, "member_check_seconds", now_s() - t1);
out:
    if (log_fd >= 0)
        close(log_fd);
    if (made) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", tg_last_error());
        int rr = fs_remove_tree(dir);
        if (rc)
            tg_error(rc, "%s", msg); /* the first failure is the one to report */
        else
            rc = rr;
    }
    tg_free(dir);
    tg_free(fa);
    tg_free(res);
    tg_free(tmp);
    tg_free(tsv);
    tg_free(cmd);
    return rc;
}

int mm_engine_cluster(void *ctx, const cl_src *src, size_t n, const cl_opts *o, uint32_t *rep,
                      cJSON *step)
{
    const mm_engine *e = ctx;
    return mm_cluster(&e->tool, &e->opts, src, n, o, rep, step);
}

int mm_log_start(const mm_tool *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return tg_error(TG_ERR_IO, "%s: cannot create the mmseqs log: %s", path, strerror(errno));
    fprintf(f, "== ablm: %s, MMseqs2 version %s\n", t->path, t->version);
    return fclose(f) ? tg_error(TG_ERR_IO, "%s: write failed", path) : TG_OK;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

void mm_print_check(FILE *f, const char *prefix, const char *what, const cJSON *info)
{
    const cJSON *c = cJSON_GetObjectItem(info, "member_check");
    if (!c)
        return;
    double chk = num(c, "checked"), below = num(c, "below_threshold");
    fprintf(f, "%s: %s: MMseqs2 put %.0f of %.0f %smembers below min-seq-id %g / -c %g by a real "
            "alignment (%.1f%%; %.0f below the identity alone), lowest identity %.3f\n",
            prefix, what, below, chk, num(c, "checked") < num(c, "members") ? "sampled " : "",
            num(info, "min_seq_id"), num(info, "coverage"), chk ? 100 * below / chk : 0.0,
            num(c, "below_min_seq_id"), num(c, "min_identity"));
}
