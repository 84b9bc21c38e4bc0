#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

char *tu_tmpdir(void)
{
    char *p = malloc(64);
    snprintf(p, 64, "/tmp/ablm-test-XXXXXX");
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        abort();
    }
    return p;
}
