/* Command-line flags shared by the data commands (split, prepare): the
 * reader filters and error mode. */
#ifndef ABLM_DATA_FLAGS_H
#define ABLM_DATA_FLAGS_H

#include "reader.h"

/* Help text for the flags df_parse accepts. */
extern const char DF_HELP[];

/* If argv[*i] is a reader flag, applies it (consuming its value, *i moves
 * past it) and returns 1; returns 0 if it is not one, 2 on a bad value
 * (message printed as "ablm CMD: ..."). */
int df_parse(const char *cmd, int argc, char **argv, int *i, rd_opts *o);

/* Value of flag argv[*i] (the next argument), or NULL with a usage message
 * when missing. Advances *i. */
const char *df_value(const char *cmd, int argc, char **argv, int *i);
/* Parses a non-negative integer flag value; returns 0 or 2 (message printed). */
int df_int(const char *cmd, const char *flag, const char *v, long *out);
/* Adds the filter settings to a JSON object. */
void df_opts_to_json(const rd_opts *o, cJSON *obj);

/* Prints the split and leakage sections of a report to stdout. */
void df_print_split(const cJSON *report);

#endif
