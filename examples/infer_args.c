/* Flag parsing and --help for the inference commands. */
#include "infer.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

void inf_help(FILE *f, const char *cmd, const char *usage, const inf_opt *opts, int n)
{
    fprintf(f, "usage: ablm %s %s\n\nflags:\n", cmd, usage);
    for (int i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", opts[i].name, opts[i].kind == INF_FLAG ? "" : " ",
                 opts[i].kind == INF_FLAG ? "" : opts[i].meta);
        fprintf(f, "  %-22s %s\n", left, opts[i].help);
    }
    fprintf(f, "  %-22s %s\n", "-h, --help", "print this help and exit");
}

/* Stores value v into flag o; 0 ok, else prints the problem and returns 2. */
static int set_value(const char *cmd, const inf_opt *o, const char *v)
{
    if (o->kind == INF_STR) {
        *(const char **)o->dst = v;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < o->min || x > INT_MAX) {
        fprintf(stderr, "ablm %s: %s: expected an integer >= %d, got '%s'\n", cmd, o->name, o->min,
                v);
        return 2;
    }
    *(int *)o->dst = (int)x;
    return 0;
}

int inf_parse(const char *cmd, const char *usage, const inf_opt *opts, int n, int argc,
              char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            inf_help(stdout, cmd, usage, opts, n);
            return 0;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const inf_opt *o = NULL;
        for (int j = 0; j < n && !o; j++)
            if (strlen(opts[j].name) == len && !strncmp(opts[j].name, a, len))
                o = &opts[j];
        if (!o) {
            fprintf(stderr, "ablm %s: %s '%s' (see ablm %s --help)\n", cmd,
                    a[0] == '-' ? "unknown flag" : "unexpected argument", a, cmd);
            return 2;
        }
        if (o->kind == INF_FLAG) {
            if (eq) {
                fprintf(stderr, "ablm %s: %s takes no value\n", cmd, o->name);
                return 2;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "ablm %s: %s needs a value (%s)\n", cmd, o->name, o->meta);
            return 2;
        }
        if (set_value(cmd, o, v))
            return 2;
    }
    return INF_GO;
}
