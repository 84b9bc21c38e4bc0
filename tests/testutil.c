#include "testutil.h"

#include "tg.h"
#include "fsutil.h"
#include <cjson/cJSON.h>
#include "train_state.h"
#include "encdec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_source_dir(void) { return getenv("ABLM_SOURCE_DIR"); }

const char *tu_oas_dir(void)
{
    static char path[4096];
    const char *shared = getenv("ABLM_SHARED_DIR");
    struct stat st;
    if (!shared)
        return NULL;
    snprintf(path, sizeof path, "%s/data/oas-paired", shared);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

static int skipped;

void tu_skip(const char *test, const char *why)
{
    printf("SKIP %s: %s\n", test, why);
    fflush(stdout);
    skipped++;
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (!failed && skipped)
        printf("%d case(s) skipped: exit 77 (CTest: Skipped)\n", skipped);
    return failed ? EXIT_FAILURE : skipped ? 77 : EXIT_SUCCESS;
}

/* Temporary directories made by this process, removed when it exits
 * (CK_FORK children inherit the list: each removes only its own). */
#define TU_MAX_TMP 256
static char tmp_dirs[TU_MAX_TMP][64];
static pid_t tmp_owner[TU_MAX_TMP];
static int n_tmp;

static void remove_tmp_dirs(void)
{
    if (getenv("ABLM_KEEP_TEST_DIRS"))
        return;
    for (int i = 0; i < n_tmp; i++)
        if (tmp_owner[i] == getpid())
            fs_remove_tree(tmp_dirs[i]);
}

char *tu_tmpdir(void)
{
    char *p = malloc(64);
    snprintf(p, 64, "/tmp/ablm-test-XXXXXX");
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        abort();
    }
    if (n_tmp == 0)
        atexit(remove_tmp_dirs);
    if (n_tmp < TU_MAX_TMP) {
        memcpy(tmp_dirs[n_tmp], p, 64);
        tmp_owner[n_tmp++] = getpid();
    }
    return p;
}

int tu_run_cmd(int (*fn)(int, char **), int argc, char **argv, const char *out,
               const char *err)
{
    fflush(stdout);
    fflush(stderr);
    int o1 = dup(1), o2 = dup(2);
    int f1 = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int f2 = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(f1, 1);
    dup2(f2, 2);
    int rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(o1, 1);
    dup2(o2, 2);
    close(o1);
    close(o2);
    close(f1);
    close(f2);
    return rc;
}

int tu_run_cmd_va(int (*fn)(int, char **), const char *out, const char *err, const char *name,
                  va_list ap)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)name;
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 31)
        argv[argc++] = (char *)a;
    argv[argc] = NULL;
    return tu_run_cmd(fn, argc, argv, out, err);
}

int tu_run_in(const char *dir, int (*fn)(int, char **), const char *name, ...)
{
    char out[4096], err[4096];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    va_list ap;
    va_start(ap, name);
    int rc = tu_run_cmd_va(fn, out, err, name, ap);
    va_end(ap);
    return rc;
}

void tu_write_chains(const char *path, int n, int min_len, int spread, unsigned seed, int fasta)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    for (int i = 0; i < n; i++) {
        if (fasta)
            fprintf(f, ">s%d\n", i);
        int len = min_len + (int)((seed = seed * 1103515245u + 12345u) >> 16) % spread;
        for (int k = 0; k < len; k++)
            fputc("ACDEFGHIKLMNPQRSTVWY"[((seed = seed * 1103515245u + 12345u) >> 16) % 20], f);
        fputc('\n', f);
    }
    ck_assert_msg(fclose(f) == 0, "cannot write %s", path);
}

char *tu_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

int tu_same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    ck_assert_msg(fa && fb, "cannot open %s or %s", a, b);
    int same = 1, ca, cb;
    do {
        ca = fgetc(fa), cb = fgetc(fb);
        same &= ca == cb;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same;
}

/* Depth-first: the first number named key in it, or NULL. */
static const cJSON *find_number(const cJSON *it, const char *key)
{
    for (const cJSON *c = it ? it->child : NULL; c; c = c->next) {
        if (cJSON_IsNumber(c) && c->string && !strcmp(c->string, key))
            return c;
        const cJSON *r = find_number(c, key);
        if (r)
            return r;
    }
    return NULL;
}

double tu_json_number(const char *path, const char *key)
{
    char *buf = tu_read_file(path);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    ck_assert_msg(j, "%s is not JSON", path);
    const cJSON *v = find_number(j, key);
    double x = v ? v->valuedouble : 0;
    cJSON_Delete(j);
    ck_assert_msg(v, "%s has no number %s", path, key);
    return x;
}

int tu_step_losses(const char *dir, double *loss, int max)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    ts_state s;
    ck_assert_msg(ts_read(&s, path) == TG_OK, "%s", tg_last_error());
    int n = 0;
    for (int i = 0; i < s.nlog && n < max; i++) {
        const ts_metric *l = ts_log_get(&s.log[i], "loss");
        if (l)
            loss[n++] = l->v;
    }
    ts_free(&s);
    return n;
}

void tu_h2l_fresh_models(const char *enc_dir, const char *dec_dir)
{
    char path[4200];
    rb_config rc;
    g2_config gc;
    snprintf(path, sizeof path, "%s/configs/h2l_heavy_tiny.json", tu_source_dir());
    ck_assert_int_eq(rb_config_load(path, &rc), TG_OK);
    snprintf(path, sizeof path, "%s/configs/h2l_light_tiny.json", tu_source_dir());
    ck_assert_int_eq(g2_config_load(path, &gc), TG_OK);
    rb_model *r;
    g2_model *g;
    tok_tokenizer *tok;
    ck_assert_int_eq(rb_model_new(&rc, &r), TG_OK);
    ck_assert_int_eq(g2_model_new(&gc, &g), TG_OK);
    rb_model_init(r, 1);
    g2_model_init(g, 2);
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    ck_assert_int_eq(rb_save_pretrained(r, tok, enc_dir), TG_OK);
    ck_assert_int_eq(g2_save_pretrained(g, tok, dec_dir), TG_OK);
    rb_model_free(r);
    g2_model_free(g);
    tok_free(tok);
}

ed_model *tu_encdec_fixture(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/encdec_tiny/config.json", tu_source_dir());
    ed_config cfg;
    ck_assert_msg(ed_config_load(path, &cfg) == TG_OK, "%s", tg_last_error());
    ed_model *m;
    ck_assert_int_eq(ed_model_new(&cfg, ED_TRAIN_ALL, &m), TG_OK);
    snprintf(path, sizeof path, "%s/tests/fixtures/encdec_tiny/model.safetensors",
             tu_source_dir());
    ck_assert_msg(ed_model_load(m, path, NULL) == TG_OK, "%s", tg_last_error());
    if (dir) {
        tok_tokenizer *tok;
        ck_assert_int_eq(tok_new(&tok), TG_OK);
        ck_assert_msg(ed_save_pretrained(m, tok, dir) == TG_OK, "%s", tg_last_error());
        tok_free(tok);
    }
    return m;
}

/* Families of mutated sequences (substitutions and indels). */
char **tu_families(size_t nfam, size_t per, int len, double mut, uint64_t seed, int **lens_out)
{
    const char *aa = "ACDEFGHIKLMNPQRSTVWY";
    size_t n = nfam * per;
    char **s = malloc(n * sizeof *s);
    int *l = malloc(n * sizeof *l);
    tg_rng g;
    tg_rng_seed(&g, seed);
    for (size_t f = 0; f < nfam; f++) {
        char anc[256];
        int L = len / 2 + (int)(tg_rng_next(&g) % (uint64_t)len);
        for (int i = 0; i < L; i++)
            anc[i] = aa[tg_rng_next(&g) % 20];
        for (size_t k = 0; k < per; k++) {
            char *x = malloc(2 * (size_t)L + 1); /* each position gives at most 2 residues */
            int xl = 0;
            for (int i = 0; i < L; i++) {
                double u = tg_rng_uniform(&g);
                if (u < mut * 0.1)
                    continue; /* deletion */
                x[xl++] = u < mut ? aa[tg_rng_next(&g) % 20] : anc[i];
                if (tg_rng_uniform(&g) < mut * 0.05)
                    x[xl++] = aa[tg_rng_next(&g) % 20];
            }
            s[f * per + k] = x;
            l[f * per + k] = xl;
        }
    }
    *lens_out = l;
    return s;
}

void tu_put_bytes(const char *dir, const char *name, size_t n)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_msg(f != NULL, "%s", p);
    for (size_t i = 0; i < n; i++)
        fputc('x', f);
    ck_assert_int_eq(fclose(f), 0);
}

long tu_file_size(const char *dir, const char *name)
{
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

long tu_dead_pid(void)
{
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(p, NULL, 0), p);
    return (long)p;
}

long tu_live_child(void)
{
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 1);
        dup2(fd, 2);
        pause();
        _exit(0);
    }
    return (long)p;
}
