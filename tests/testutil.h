/* Helpers shared by the Check suites. */
#ifndef ABLM_TESTUTIL_H
#define ABLM_TESTUTIL_H

#include <check.h>

/* Path of the repository's source dir / shared data dir (from CTest's
 * environment), or NULL when unset. */
const char *tu_source_dir(void);
/* ../shared/data/oas-paired if it exists, else NULL. */
const char *tu_oas_dir(void);
/* Runs a suite with CK_FORK as set, prints results; returns exit status. */
int tu_run(Suite *s);
/* A fresh temporary directory (mkdtemp), as a malloc'ed path the caller frees. */
char *tu_tmpdir(void);

#endif
