/* Last-error message per thread, and the failing-on-demand allocator. */
#include "tg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_err[1024];

int tg_error(int code, const char *fmt, ...)
{
    /* format into a scratch buffer first: callers often pass
     * tg_last_error() itself to add context ("file: %s") */
    char buf[sizeof last_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(last_err, buf, sizeof buf);
    return code;
}

const char *tg_last_error(void) { return last_err; }

/* Countdown to an injected failure; 0 = never fail. Shared by all threads:
 * tests that use it allocate from one thread. */
static long fail_countdown;
static int fail_fired; /* the armed failure has happened */

void tg_alloc_fail_after(long n) { fail_countdown = n > 0 ? n : 0, fail_fired = 0; }
int tg_alloc_fail_fired(void) { return fail_fired; }

static int injected_failure(void)
{
    if (fail_countdown <= 0)
        return 0;
    if (--fail_countdown != 0)
        return 0;
    fail_fired = 1;
    return 1;
}

void *tg_malloc(size_t n, const char *what)
{
    void *p = injected_failure() ? NULL : malloc(n ? n : 1);
    if (!p)
        tg_error(TG_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *tg_calloc(size_t count, size_t size, const char *what)
{
    void *p = injected_failure() ? NULL : calloc(count ? count : 1, size ? size : 1);
    if (!p)
        tg_error(TG_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", count, size,
                 what);
    return p;
}

void *tg_realloc(void *old, size_t n, const char *what)
{
    void *p = injected_failure() ? NULL : realloc(old, n ? n : 1);
    if (!p)
        tg_error(TG_ERR_NOMEM, "out of memory growing %s to %zu bytes", what, n);
    return p;
}

void tg_free(void *p) { free(p); }
