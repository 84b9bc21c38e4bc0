/* ablm's tokenizer.json checked by the real Hugging Face tokenizers library
 * (its Rust core, through the npm package @anush008/tokenizers, pinned in
 * tests/hf_tokenizers/package-lock.json and installed into the build dir
 * with `npm ci` by tests/hf_tokenizers/install.sh): for ablm's default
 * tokenizer and for the reference's published layout
 * (tests/fixtures/ProteinTokenizer) saved by tok_save, the library must
 * give tok_encode's ids on real OAS heavy chains (as read, lowercase, space
 * separated, with [MASK] and with X), edge cases, and one character of
 * every Unicode code point. Exit 77 (SKIP) when node/npm or the packages
 * cannot be had. */
#define _POSIX_C_SOURCE 200809L
#include "fsutil.h"
#include "reader.h"
#include "safetensors.h"
#include "tg.h"
#include "testutil.h"
#include "tokenizer.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char modules[4200];

/* Growable list of input texts. */
typedef struct {
    size_t n, cap;
    char **s;
    size_t *len;
} texts;

static void add(texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->s = realloc(t->s, t->cap * sizeof *t->s);
        t->len = realloc(t->len, t->cap * sizeof *t->len);
        ck_assert(t->s && t->len);
    }
    t->s[t->n] = malloc(len + 1);
    ck_assert_ptr_nonnull(t->s[t->n]);
    memcpy(t->s[t->n], s, len);
    t->s[t->n][len] = 0;
    t->len[t->n++] = len;
}

static void adds(texts *t, const char *s) { add(t, s, strlen(s)); }

static void texts_free(texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->len);
}

/* Up to want heavy chains of the first OAS unit (by name), as read: no
 * filters, so an X or a '*' stays in. Returns how many. */
static size_t real_chains(texts *t, size_t want)
{
    const char *oas = tu_oas_dir();
    if (!oas) {
        tu_skip("real chains", "../shared/data/oas-paired not found");
        return 0;
    }
    struct dirent **names;
    int k = scandir(oas, &names, NULL, alphasort);
    char path[4400] = "";
    for (int i = 0; i < k; i++) {
        if (!path[0] && strstr(names[i]->d_name, ".csv.gz"))
            snprintf(path, sizeof path, "%s/%s", oas, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    ck_assert_msg(path[0], "no .csv.gz in %s", oas);
    rd_opts o;
    rd_opts_default(&o);
    rd_reader *r;
    ck_assert_msg(rd_open(&r, path, &o) == TG_OK, "%s", tg_last_error());
    rd_record rec;
    size_t got = 0;
    while (got < want && rd_next(r, &rec) == 1) {
        add(t, rec.seq, (size_t)rec.len);
        got++;
    }
    rd_close(r);
    ck_assert_uint_eq(got, want);
    return got;
}

/* Each chain also lowercase, space separated, with a [MASK] in the middle,
 * with an X, and with its first ten residues lowercase. */
static void variants(texts *t, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const char *s = t->s[i];
        size_t l = t->len[i], h = l / 2;
        char *b = malloc(2 * l + 16);
        ck_assert_ptr_nonnull(b);
        for (size_t j = 0; j < l; j++)
            b[j] = (char)(s[j] >= 'A' && s[j] <= 'Z' ? s[j] + 32 : s[j]);
        add(t, b, l);
        for (size_t j = 0; j < l; j++)
            b[2 * j] = s[j], b[2 * j + 1] = ' ';
        add(t, b, 2 * l);
        memcpy(b, s, h);
        memcpy(b + h, "[MASK]", 6);
        memcpy(b + h + 6, s + h + 1, l - h - 1);
        add(t, b, l + 5);
        memcpy(b, s, l);
        b[l > 3 ? 3 : 0] = 'X';
        add(t, b, l);
        for (size_t j = 0; j < l && j < 10; j++)
            b[j] = (char)(s[j] >= 'A' && s[j] <= 'Z' ? s[j] + 32 : s[j]);
        add(t, b, l);
        free(b);
    }
}

static const char *const EDGE[] = {
    "EVQLV", "E V Q L", "  EVQ  \t L\r\n", "evql", "EVQ l", "eVqL", "EVXXQL", "EVxQL", "X",
    "XBZUO", "evqlXbz", "A[MASK]C", "[MASK]", "[MASK][MASK]", "EVQL[MASK]", "[mask]", "[MAS",
    "[MASK", "[MxASK]", "[MA[MASK]", "[CLS]A[SEP]", "[UNK][PAD][CLS][SEP]", "xx[MASK]yy",
    "AB-CD", "A1C", "1234", "EVQ.LV", "A,C;D", "(EVQ)", "E_V", "a\vb\fc", "x\x01y",
    "A\x01" "C", "A\x7f" "C", "A\xc2\xa0" "C", "x\xe2\x80\x94y", "x\xe4\xb8\x80y", "x\xc3\xa9y",
    "A\xc3\xa9" "C", "\xe2\x80\x8b", "E\xe2\x80\xa8V", "Q\xef\xbf\xbdL", "", "   ",
};

/* Appends one character of every code point but the surrogates (each
 * between two non-residues and between two residues) to t: 0x80-0x1FFFF
 * fully, the rest every 61st; with ABLM_HF_FULL_SWEEP=1 in the environment
 * all of them (about 60 s more). */
static void unicode_sweep(texts *t)
{
    const char *full = getenv("ABLM_HF_FULL_SWEEP");
    unsigned step = full && strcmp(full, "1") == 0 ? 1 : 61;
    for (unsigned cp = 0x80; cp <= 0x10FFFF; cp += cp < 0x20000 ? 1 : step) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char u[4];
        size_t k;
        if (cp < 0x800)
            u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), k = 2;
        else if (cp < 0x10000)
            u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 63)),
            u[2] = (char)(0x80 | (cp & 63)), k = 3;
        else
            u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 63)),
            u[2] = (char)(0x80 | (cp >> 6 & 63)), u[3] = (char)(0x80 | (cp & 63)), k = 4;
        char b[8];
        for (int w = 0; w < 2; w++) {
            b[0] = w ? 'A' : 'x';
            memcpy(b + 1, u, k);
            b[1 + k] = w ? 'C' : 'y';
            add(t, b, k + 2);
        }
    }
}

/* Writes the texts as JSON strings, one per line. */
static void write_inputs(const texts *t, const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < t->n; i++) {
        fputc('"', f);
        for (size_t j = 0; j < t->len[i]; j++) {
            unsigned char c = (unsigned char)t->s[i][j];
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", c);
            else if (c < 0x20)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
        fputs("\"\n", f);
    }
    ck_assert_int_eq(fclose(f), 0);
}

static void show(const char *s, size_t len)
{
    for (size_t j = 0; j < len && j < 160; j++) {
        unsigned char c = (unsigned char)s[j];
        if (c >= 0x20 && c < 0x7f)
            putchar(c);
        else
            printf("\\x%02x", c);
    }
}

/* Saves tok into a temp dir, runs the library on t and compares with
 * tok_encode. star_is_unk: ablm's own rules make "*" [MASK] where the
 * library gives [UNK] (the one documented difference), so the library must
 * give the ids of the text with each "*" replaced by "X". */
static void compare(const tok_tokenizer *tok, const texts *t, int star_is_unk, const char *what)
{
    char *dir = tu_tmpdir(), in[4200], out[4200], js[4200], cmd[20000];
    ck_assert_int_eq(tok_save(tok, dir, 100000), TG_OK);
    snprintf(in, sizeof in, "%s/inputs.txt", dir);
    snprintf(out, sizeof out, "%s/ids.txt", dir);
    snprintf(js, sizeof js, "%s/tokenizer.json", dir);
    write_inputs(t, in);
    snprintf(cmd, sizeof cmd, "node '%s/tests/hf_tokenizers/encode.js' '%s' '%s' '%s' '%s'",
             tu_source_dir(), modules, js, in, out);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    FILE *f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    char *line = NULL;
    size_t lcap = 0, bad = 0;
    int32_t *ids = malloc(100000 * sizeof *ids);
    char *copy = malloc(100000);
    ck_assert(ids && copy);
    for (size_t i = 0; i < t->n; i++) {
        ck_assert_msg(getline(&line, &lcap, f) > 0, "%s: library output ends at text %zu", what, i);
        int n;
        ck_assert(t->len[i] < 100000);
        memcpy(copy, t->s[i], t->len[i]);
        for (size_t j = 0; star_is_unk && j < t->len[i]; j++)
            copy[j] = copy[j] == '*' ? 'X' : copy[j];
        ck_assert_int_eq(tok_encode(tok, copy, t->len[i], 100000, TOK_REJECT, ids, &n, NULL),
                         TG_OK);
        int k = 0, same = 1;
        char *p = line, *end;
        for (long v = strtol(p, &end, 10); end != p; v = strtol(p = end, &end, 10), k++)
            same &= k < n && v == ids[k];
        same &= k == n;
        if (!same && bad++ < 20) {
            printf("%s: text %zu \"", what, i);
            show(t->s[i], t->len[i]);
            printf("\"\n  ablm:");
            for (int j = 0; j < n; j++)
                printf(" %d", ids[j]);
            printf("\n  HF:   %s", line);
        }
    }
    free(ids);
    free(copy);
    free(line);
    fclose(f);
    ck_assert_int_eq(fs_remove_tree(dir), 0);
    free(dir);
    ck_assert_msg(bad == 0, "%s: %zu of %zu texts get other ids from Hugging Face tokenizers", what,
                  bad, t->n);
    printf("%s: %zu texts, same ids as Hugging Face tokenizers\n", what, t->n);
}

/* Real chains (and their variants) and the edge cases. */
static void common_texts(texts *t, size_t chains)
{
    size_t real = real_chains(t, chains);
    variants(t, 0, real);
    for (size_t i = 0; i < sizeof EDGE / sizeof EDGE[0]; i++)
        adds(t, EDGE[i]);
}

/* The published layout (tests/fixtures/ProteinTokenizer) as loaded, saved
 * back: the library on that tokenizer.json gives the fixture's ids. */
START_TEST(published_layout)
{
    char fx[4200];
    snprintf(fx, sizeof fx, "%s/tests/fixtures/ProteinTokenizer", tu_source_dir());
    tok_tokenizer *tok;
    ck_assert_msg(tok_load(fx, &tok) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(tok_get_layout(tok), TOK_LAYOUT_BERT_ADDED);
    texts t = {0};
    common_texts(&t, 200);
    adds(&t, "A*C");
    adds(&t, "QVQL**VQS*");
    unicode_sweep(&t);
    compare(tok, &t, 0, "published layout");
    texts_free(&t);
    tok_free(tok);
}
END_TEST

/* A published-style layout whose vocab.txt also holds X (so WordPiece
 * finds the word "X" but not "XX") and whose added tokens start at 6. */
START_TEST(published_layout_with_x_in_vocab)
{
    char *dir = tu_tmpdir(), p[4200];
    const char *files[][2] = {
        {"vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nX\n"},
        {"added_tokens.json", "{\"A\": 6, \"C\": 7, \"D\": 8, \"E\": 9, \"F\": 10, \"G\": 11, "
                              "\"H\": 12, \"I\": 13, \"K\": 14, \"L\": 15, \"M\": 16, \"N\": 17, "
                              "\"P\": 18, \"Q\": 19, \"R\": 20, \"S\": 21, \"T\": 22, \"V\": 23, "
                              "\"W\": 24, \"Y\": 25}"},
        {"tokenizer_config.json", "{\"tokenizer_class\": \"BertTokenizer\", "
                                  "\"do_lower_case\": false}"},
        {"special_tokens_map.json", "{}"}};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i][0]);
        ck_assert_int_eq(st_atomic_write_buf(p, files[i][1], strlen(files[i][1])), TG_OK);
    }
    tok_tokenizer *tok;
    ck_assert_msg(tok_load(dir, &tok) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(fs_remove_tree(dir), 0);
    free(dir);
    int32_t ids[16];
    int n;
    ck_assert_int_eq(tok_encode(tok, "EX XX", 5, 16, TOK_REJECT, ids, &n, NULL), TG_OK);
    ck_assert_int_eq(n, 5);
    ck_assert(ids[1] == 9 && ids[2] == 5 && ids[3] == tok_unk_id(tok));
    texts t = {0};
    common_texts(&t, 50);
    adds(&t, "EX XX X-X XxX");
    compare(tok, &t, 0, "published layout with X in vocab.txt");
    texts_free(&t);
    tok_free(tok);
}
END_TEST

/* ablm's default tokenizer: the library on its tokenizer.json gives
 * tok_encode's ids, lowercase included; "*" is the documented exception. */
START_TEST(default_layout)
{
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    texts t = {0};
    common_texts(&t, 200);
    unicode_sweep(&t);
    compare(tok, &t, 0, "default layout");
    texts_free(&t);
    /* "*": [MASK] for ablm, [UNK] for the library, nothing else differs. */
    texts s = {0};
    adds(&s, "A*C");
    adds(&s, "QVQL**VQS*");
    adds(&s, "*[MASK]*");
    int32_t ids[16];
    int n;
    ck_assert_int_eq(tok_encode(tok, "A*C", 3, 16, TOK_REJECT, ids, &n, NULL), TG_OK);
    ck_assert_int_eq(ids[2], tok_mask_id(tok));
    compare(tok, &s, 1, "default layout, '*'");
    texts_free(&s);
    tok_free(tok);
}
END_TEST

int main(void)
{
    const char *build = getenv("ABLM_BUILD_DIR");
    if (!build || !tu_source_dir()) {
        printf("SKIP: ABLM_BUILD_DIR / ABLM_SOURCE_DIR not set (run through ctest)\n");
        return 77;
    }
    char cmd[9000];
    snprintf(modules, sizeof modules, "%s/hf_tokenizers/node_modules", build);
    snprintf(cmd, sizeof cmd, "sh '%s/tests/hf_tokenizers/install.sh' '%s/hf_tokenizers'",
             tu_source_dir(), build);
    fflush(stdout);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        int code = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
        printf("%s: exit %d\n", cmd, code);
        return code == 77 ? 77 : 1;
    }
    Suite *s = suite_create("hf_tokenizers");
    TCase *tc = tcase_create("hf_tokenizers");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, published_layout);
    tcase_add_test(tc, published_layout_with_x_in_vocab);
    tcase_add_test(tc, default_layout);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
