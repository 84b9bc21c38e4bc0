/* The generation flags shared by ablm generate and ablm eval-h2l. */
#include "gen_args.h"

#include "tg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ga_defaults(ga_flags *f)
{
    *f = (ga_flags){.temperature = "1.0", .top_p = "1.0", .bad = "4", .diversity = "0",
                    .length_penalty = "1.0", .early = "false", .nrs = 1, .top_k = 50,
                    .max_new = 128, .seed = 42, .beams = 1, .groups = 1};
}

void ga_opts(ga_flags *f, inf_opt *o)
{
    const inf_opt v[GA_NOPTS] = {
        {"--num_return_sequences", INF_INT, &f->nrs, 1, "N", "sequences per input (> 1: --do_sample, or <= --num_beams; default 1)"},
        {"--do_sample", INF_FLAG, &f->sample, 0, "", "sample (default: greedy)"},
        {"--temperature", INF_STR, &f->temperature, 0, "T", "sampling temperature (default 1.0)"},
        {"--top_k", INF_INT, &f->top_k, 0, "K", "keep the K most likely tokens (0: off; default 50)"},
        {"--top_p", INF_STR, &f->top_p, 0, "P", "nucleus: keep the smallest top set with mass >= P (default 1.0: off)"},
        {"--max_new_tokens", INF_INT, &f->max_new, 1, "L", "new tokens per sequence at most (default 128)"},
        {"--seed", INF_INT, &f->seed, 0, "S", "sampling seed (default 42)"},
        {"--bad_words_ids", INF_STR, &f->bad, 0, "IDS", "token ids never emitted: 4,0 or [[4],[0]] or none (default 4: [MASK])"},
        {"--num_beams", INF_INT, &f->beams, 1, "B", "beam search with B beams (default 1: greedy / sampling)"},
        {"--num_beam_groups", INF_INT, &f->groups, 1, "G", "diverse beam search: G groups of B/G beams (default 1)"},
        {"--diversity_penalty", INF_STR, &f->diversity, 0, "D", "subtracted per earlier group's use of a token this step (> 0 with groups)"},
        {"--length_penalty", INF_STR, &f->length_penalty, 0, "LP", "beam score = sum logprob / new_tokens^LP (default 1.0)"},
        {"--early_stopping", INF_STR, &f->early, 0, "E", "false (default), true or never: when a beam search stops, as HF"},
    };
    memcpy(o, v, sizeof v);
}

int ga_number(const char *cmd, const char *flag, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) {
        fprintf(stderr, "ablm %s: %s '%s' is not a number\n", cmd, flag, s);
        return 2;
    }
    *out = v;
    return 0;
}

/* "4" / "4,0" / "[[4]]" / "[[4], [0]]" / "none" (single-token bad words)
 * into o. Returns 0, or 2 after printing the problem. */
static int parse_bad(const char *cmd, const char *s, gen_opts *o)
{
    o->n_bad = 0;
    if (!strcmp(s, "none") || !*s)
        return 0;
    const char *p = s;
    while (*p) {
        if (strchr("[], ", *p)) {
            p++;
            continue;
        }
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 1000000 || o->n_bad == GEN_MAX_BAD ||
            (*end && !strchr("[], ", *end))) {
            fprintf(stderr, "ablm %s: --bad_words_ids '%s': expected up to %d token ids (4,0 or [[4],[0]] or none)\n",
                    cmd, s, GEN_MAX_BAD);
            return 2;
        }
        o->bad_ids[o->n_bad++] = (int)v;
        p = end;
    }
    return 0;
}

/* "false" / "true" / "never" into o->early_stopping: 0, or 2 after
 * printing the problem. */
static int parse_early(const char *cmd, const char *s, gen_opts *o)
{
    static const char *const names[] = {"false", "true", "never"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            o->early_stopping = i; /* GEN_EARLY_FALSE, _TRUE, _NEVER */
            return 0;
        }
    fprintf(stderr, "ablm %s: --early_stopping '%s': expected false, true or never\n", cmd, s);
    return 2;
}

int ga_apply(const char *cmd, const ga_flags *f, int vocab_size, gen_opts *o)
{
    o->num_return_sequences = f->nrs, o->do_sample = f->sample, o->top_k = f->top_k;
    o->max_new_tokens = f->max_new, o->seed = (uint64_t)f->seed, o->num_beams = f->beams;
    o->num_beam_groups = f->groups;
    if (ga_number(cmd, "--temperature", f->temperature, &o->temperature) ||
        ga_number(cmd, "--top_p", f->top_p, &o->top_p) ||
        ga_number(cmd, "--diversity_penalty", f->diversity, &o->diversity_penalty) ||
        ga_number(cmd, "--length_penalty", f->length_penalty, &o->length_penalty) ||
        parse_early(cmd, f->early, o) || parse_bad(cmd, f->bad, o))
        return 2;
    if (gen_opts_check(o, vocab_size)) {
        fprintf(stderr, "ablm %s: %s\n", cmd, tg_last_error());
        return 2;
    }
    return 0;
}
