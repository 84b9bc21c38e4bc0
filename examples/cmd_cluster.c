/* ablm cluster: cluster sequences at an identity/coverage threshold with
 * alignment-verified members (data/cluster.h). */
#include "cluster.h"
#include "cluster_io.h"
#include "cluster_mmseqs.h"
#include "commands.h"
#include "fileio.h"
#include "prepare.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void help(FILE *f)
{
    fprintf(f,
            "usage: ablm cluster --input FILE... --min-seq-id X --out PREFIX [options]\n"
            "\n"
            "Clusters protein sequences so that every member reaches --min-seq-id and\n"
            "-c coverage against its representative by a real Smith-Waterman alignment\n"
            "(identity = identical columns / alignment columns, as MMseqs2 --seq-id-mode 0).\n"
            "Identical sequences always share a cluster. Writes PREFIX_cluster.tsv\n"
            "(representative TAB member; every input sequence once as a member) and\n"
            "PREFIX_rep_seq.fasta, atomically.\n"
            "\n"
            "  --input FILE...        FASTA or one sequence per line (.gz ok), or tables with\n"
            "                         --column; several files are concatenated. Names: FASTA\n"
            "                         ids, or FILE:LINE for text lines (base name), as\n"
            "                         ablm split reads them; an id found more than once\n"
            "                         becomes ID@FILE:LINE at every occurrence\n"
            "  --column NAME          cluster a field of OAS units, CSV or AIRR TSV inputs (.gz ok)\n"
            "                         instead of FASTA/plain: cdr3_aa or sequence_alignment_aa,\n"
            "                         with _heavy/_light for paired data (e.g. cdr3_aa_heavy);\n"
            "                         names are the sequence_id (paired: sequence_id_heavy or\n"
            "                         _light) cells, else FILE:LINE; rows where the field\n"
            "                         is empty are skipped and counted\n"
            "  --min-seq-id X         minimum identity in [0, 1] (required)\n"
            "  -c X                   minimum coverage [0.8]\n"
            "  --cov-mode 0|1|2       0: both sequences, 1: member (target), 2: representative [0]\n"
            "  --mode linclust|greedy linclust: linear-time k-mer groups + set cover (MMseqs2\n"
            "                         linclust); greedy: CD-HIT-like, fewer missed merges [linclust]\n"
            "  --kmer-per-seq N       linclust k-mers per sequence [5]\n"
            "  -k N                   linclust k-mer weight [6]\n"
            "  --spaced-kmer-pattern P linclust spaced pattern, '' for contiguous [11011101]\n"
            "  --sub-mat NAME         VTML40.out or blosum62.out [VTML40.out]\n"
            "  --gap-open N           gap open cost [16 with VTML40, 11 with blosum62]\n"
            "  --gap-extend N         gap extension cost [2 with VTML40, 1 with blosum62]\n"
            "  --max-candidates N     greedy: alignments per sequence [1000]\n"
            "  --max-lcs-checks N     greedy: candidates checked by the exact LCS identity bound\n"
            "                         per sequence [3000]\n"
            "  --max-postings N       greedy: ignore 3-mers found in more than N representatives\n"
            "                         [20000]\n"
            "  --engine ablm|mmseqs   mmseqs: run MMseqs2 easy-linclust (Debian package mmseqs2)\n"
            "                         with the reference's settings (--kmer-per-seq 5 -k 6\n"
            "                         --spaced-kmer-mode 1 --spaced-kmer-pattern 11011101\n"
            "                         --sub-mat VTML40.out --gap-open 16 --gap-extend 2) and\n"
            "                         --min-seq-id, -c, --cov-mode as given; the members are\n"
            "                         then re-aligned and those below the thresholds counted;\n"
            "                         also writes PREFIX_mmseqs.log and PREFIX_report.json [ablm]\n"
            "  --mmseqs PATH          the mmseqs binary [mmseqs on PATH]\n"
            "  --check-members N      mmseqs: members re-aligned, a seeded sample when there\n"
            "                         are more [1000000]\n"
            "  --threads N            threads (0 = all cores) [0]\n"
            "  --report-missed N      check N sampled representatives against all others and\n"
            "                         report the missed-merge rate [0 = off]\n"
            "  --seed N               seed for --report-missed sampling [42]\n"
            "  --check                re-align every member to its representative and report\n"
            "                         violations (must be 0)\n"
            "  --max-memory SIZE      linclust within SIZE bytes (K/M/G/T): sorted k-mer and\n"
            "                         pair runs spilled to PREFIX's directory (removed after);\n"
            "                         the same clusters as in memory [off: in memory]\n"
            "  --out PREFIX           output prefix (required)\n"
            "  --help                 this text\n");
}

static int usage_err(const char *msg, const char *arg)
{
    fprintf(stderr, "ablm cluster: %s%s%s (see ablm cluster --help)\n", msg, arg ? " " : "", arg ? arg : "");
    return 2;
}

static int parse_double(const char *s, double *out)
{
    char *e;
    *out = strtod(s, &e);
    return *s && !*e;
}

static int parse_int(const char *s, long *out)
{
    char *e;
    *out = strtol(s, &e, 10);
    return *s && !*e;
}

/* The directory of the output prefix (tg_malloc'ed; "." for a bare name,
 * "/" for "/x"); *base gets the prefix's last component. NULL on no memory. */
static char *prefix_dir(const char *prefix, const char **base)
{
    const char *slash = strrchr(prefix, '/');
    *base = slash ? slash + 1 : prefix;
    size_t n = !slash ? 1 : slash == prefix ? 1 : (size_t)(slash - prefix);
    char *d = tg_malloc(n + 1, "path");
    if (d) {
        memcpy(d, slash ? prefix : ".", n);
        d[n] = '\0';
    }
    return d;
}

/* --engine mmseqs: finds the binary, names PREFIX_mmseqs.log (started
 * afresh) and PREFIX_report.json, and puts mmseqs's temporary directory in
 * dir (the prefix's, beside them). Returns a status. */
static int mm_setup(mm_tool *t, mm_opts *mo, const char *binary, const char *prefix,
                    const char *dir, char **log, char **report)
{
    int rc = mm_find(t, binary);
    if (rc)
        return rc;
    size_t l = strlen(prefix) + 32;
    *log = tg_malloc(l, "path");
    *report = tg_malloc(l, "path");
    if (!*log || !*report)
        return TG_ERR_NOMEM;
    snprintf(*log, l, "%s_mmseqs.log", prefix);
    snprintf(*report, l, "%s_report.json", prefix);
    mo->workdir = dir;
    mo->log = *log;
    return mm_log_start(t, *log);
}

/* Removes from dir what killed `ablm cluster` runs left there: the temporary
 * files of this prefix's outputs (BASE_cluster.tsv, BASE_rep_seq.fasta,
 * BASE_report.json, each NAME.PID.tmp.XXXXXX: tg_afile_open_pid) and the
 * spill runs (cl_clean_stale), only those whose PID is no live process
 * (fio_clean_stale), and says how many and their bytes on stderr. Other
 * prefixes' files and temp names without a PID are kept. Returns a status. */
static int clean_stale(const char *dir, const char *base)
{
    static const char *const suffix[] = {"_cluster.tsv", "_rep_seq.fasta", "_report.json"};
    size_t l = strlen(base) + 16;
    char *buf = tg_malloc(3 * l, "file names");
    if (!buf)
        return TG_ERR_NOMEM;
    const char *names[4] = {buf, buf + l, buf + 2 * l, NULL};
    for (int i = 0; i < 3; i++)
        snprintf(buf + i * l, l, "%s%s", base, suffix[i]);
    size_t n1 = 0, n2 = 0;
    uint64_t b1 = 0, b2 = 0;
    int rc = cl_clean_stale(dir, &n1, &b1);
    if (!rc)
        rc = fio_clean_stale(dir, names, NULL, &n2, &b2);
    tg_free(buf);
    if (!rc && n1 + n2)
        fprintf(stderr, "ablm cluster: removed %zu stale temporary file%s (%llu bytes) left in %s "
                "by a run that was stopped\n", n1 + n2, n1 + n2 == 1 ? "" : "s",
                (unsigned long long)(b1 + b2), dir);
    return rc;
}

int cmd_cluster(int argc, char **argv)
{
    cl_opts o;
    cl_opts_default(&o);
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int ninputs = 0, have_id = 0, check = 0, gap_set[2] = {0, 0}, use_mmseqs = 0;
    const char *out = NULL, *column = NULL, *mmseqs_bin = NULL, *ablm_only = NULL;
    long report = 0, seed = 42, threads = 0, check_members = MM_CHECK_DEFAULT;
    size_t max_memory = 0;
    if (!inputs)
        return 1;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long iv;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help(stdout);
            free(inputs);
            return 0;
        } else if (!strcmp(a, "--check")) {
            check = 1;
            continue;
        } else if (!strcmp(a, "--input")) {
            while (i + 1 < argc && strncmp(argv[i + 1], "-", 1))
                inputs[ninputs++] = argv[++i];
            if (!ninputs) {
                rc = usage_err("--input needs at least one file", NULL);
                goto out;
            }
            continue;
        }
        if (!v) {
            rc = usage_err(strncmp(a, "-", 1) ? "unexpected argument" : "unknown option or missing value for", a);
            goto out;
        }
        i++;
        if (strcmp(a, "--min-seq-id") && strcmp(a, "-c") && strcmp(a, "--cov-mode") &&
            strcmp(a, "--threads") && strcmp(a, "--report-missed") && strcmp(a, "--seed") &&
            strcmp(a, "--column") && strcmp(a, "--out") && strcmp(a, "--engine") &&
            strcmp(a, "--mmseqs") && strcmp(a, "--check-members"))
            ablm_only = a; /* a setting of ablm's own engine */
        if (!strcmp(a, "--engine")) {
            if (strcmp(v, "ablm") && strcmp(v, "mmseqs")) {
                rc = usage_err("--engine must be ablm or mmseqs, got", v);
                goto out;
            }
            use_mmseqs = !strcmp(v, "mmseqs");
        } else if (!strcmp(a, "--mmseqs")) {
            mmseqs_bin = v;
        } else if (!strcmp(a, "--check-members")) {
            if (!parse_int(v, &check_members) || check_members < 0) {
                rc = usage_err("--check-members must be a non-negative integer, got", v);
                goto out;
            }
        } else if (!strcmp(a, "--min-seq-id")) {
            if (!parse_double(v, &o.min_seq_id) || o.min_seq_id < 0 || o.min_seq_id > 1) {
                rc = usage_err("--min-seq-id must be a number in [0, 1], got", v);
                goto out;
            }
            have_id = 1;
        } else if (!strcmp(a, "-c")) {
            if (!parse_double(v, &o.coverage) || o.coverage < 0 || o.coverage > 1) {
                rc = usage_err("-c must be a number in [0, 1], got", v);
                goto out;
            }
        } else if (!strcmp(a, "--cov-mode")) {
            if (!parse_int(v, &iv) || iv < 0 || iv > 2) {
                rc = usage_err("--cov-mode must be 0, 1 or 2, got", v);
                goto out;
            }
            o.cov_mode = (int)iv;
        } else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "linclust"))
                o.mode = CL_LINCLUST;
            else if (!strcmp(v, "greedy"))
                o.mode = CL_GREEDY;
            else {
                rc = usage_err("--mode must be linclust or greedy, got", v);
                goto out;
            }
        } else if (!strcmp(a, "--kmer-per-seq") || !strcmp(a, "-k") || !strcmp(a, "--max-candidates") ||
                   !strcmp(a, "--max-postings") || !strcmp(a, "--max-lcs-checks") || !strcmp(a, "--gap-open") || !strcmp(a, "--gap-extend") || !strcmp(a, "--threads") ||
                   !strcmp(a, "--report-missed") || !strcmp(a, "--seed")) {
            if (!parse_int(v, &iv) || iv < 0 || iv > 1000000000) {
                rc = usage_err("expected a non-negative integer for", a);
                goto out;
            }
            if (!strcmp(a, "--kmer-per-seq"))
                o.kmer_per_seq = (int)iv;
            else if (!strcmp(a, "-k"))
                o.k = (int)iv;
            else if (!strcmp(a, "--max-candidates"))
                o.max_candidates = (int)iv;
            else if (!strcmp(a, "--max-postings"))
                o.greedy_max_postings = (int)iv;
            else if (!strcmp(a, "--max-lcs-checks"))
                o.max_lcs_checks = (int)iv;
            else if (!strcmp(a, "--gap-open"))
                o.aln.gap_open = (int)iv, gap_set[0] = 1;
            else if (!strcmp(a, "--gap-extend"))
                o.aln.gap_extend = (int)iv, gap_set[1] = 1;
            else if (!strcmp(a, "--threads"))
                threads = iv;
            else if (!strcmp(a, "--report-missed"))
                report = iv;
            else
                seed = iv;
        } else if (!strcmp(a, "--spaced-kmer-pattern")) {
            o.spaced_pattern = v;
        } else if (!strcmp(a, "--sub-mat")) {
            if (!strcmp(v, "VTML40.out") || !strcmp(v, "VTML40"))
                o.aln.matrix = ALN_VTML40;
            else if (!strcmp(v, "blosum62.out") || !strcmp(v, "BLOSUM62"))
                o.aln.matrix = ALN_BLOSUM62;
            else {
                rc = usage_err("--sub-mat must be VTML40.out or blosum62.out, got", v);
                goto out;
            }
        } else if (!strcmp(a, "--max-memory")) {
            if (pp_parse_size(v, &max_memory)) {
                rc = usage_err("--max-memory: expected a size such as 512M or 2G, got", v);
                goto out;
            }
        } else if (!strcmp(a, "--column")) {
            column = v;
        } else if (!strcmp(a, "--out")) {
            out = v;
        } else {
            rc = usage_err("unknown option", a);
            goto out;
        }
    }
    if (o.aln.matrix == ALN_BLOSUM62) {
        if (!gap_set[0])
            o.aln.gap_open = 11;
        if (!gap_set[1])
            o.aln.gap_extend = 1;
    }
    if (!ninputs || !have_id || !out) {
        rc = usage_err("--input, --min-seq-id and --out are required", NULL);
        goto out;
    }
    if (use_mmseqs && ablm_only) {
        rc = usage_err("--engine mmseqs runs the reference's fixed settings; this flag is for "
                       "--engine ablm:", ablm_only);
        goto out;
    }
    int use_cdr3, chain;
    if (column && cl_column_parse(column, &use_cdr3, &chain)) {
        rc = usage_err(tg_last_error(), NULL);
        goto out;
    }
    tg_set_threads((int)threads);
    o.threads = tg_threads();
    o.progress = 1;
    rc = 1;
    mm_tool tool = {0};
    mm_opts mo;
    mm_opts_default(&mo);
    char *mm_log = NULL, *mm_report = NULL;
    cJSON *info = NULL;
    const char *base;
    char *dir = prefix_dir(out, &base);
    if (!dir || clean_stale(dir, base)) {
        fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
        goto out_mm;
    }
    if (use_mmseqs && mm_setup(&tool, &mo, mmseqs_bin, out, dir, &mm_log, &mm_report)) {
        fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
        goto out_mm;
    }
    mo.threads = o.threads;
    mo.check_sample = (size_t)check_members;
    mo.seed = (uint64_t)seed;
    double t0 = now_s();
    cl_seqs s = {0};
    uint32_t *rep = NULL;
    const char **ptr = NULL, **names = NULL;
    int *len = NULL;
    size_t skipped = 0;
    for (int i = 0; i < ninputs; i++)
        if (column ? cl_seqs_read_column(&s, inputs[i], column, &skipped) : cl_seqs_read(&s, inputs[i])) {
            fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
            goto done;
        }
    size_t renamed;
    if (cl_seqs_finish(&s, &renamed)) {
        fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
        goto done;
    }
    if (skipped)
        fprintf(stderr, "ablm cluster: %zu rows without %s skipped\n", skipped, column);
    if (s.empty)
        fprintf(stderr, "ablm cluster: %zu records with an empty sequence skipped\n", s.empty);
    if (renamed)
        fprintf(stderr, "ablm cluster: %zu records share their id with another record; they are "
                "named ID@FILE:LINE\n", renamed);
    double t1 = now_s();
    rep = malloc((s.n + 1) * sizeof *rep);
    ptr = malloc((s.n + 1) * sizeof *ptr);
    len = malloc((s.n + 1) * sizeof *len);
    if (!rep || !ptr || !len) {
        fprintf(stderr, "ablm cluster: out of memory for %zu sequences\n", s.n);
        goto done;
    }
    for (size_t i = 0; i < s.n; i++) {
        ptr[i] = cl_seqs_seq(&s, i);
        len[i] = cl_seqs_len(&s, i);
    }
    cl_stats st;
    memset(&st, 0, sizeof st);
    if (use_mmseqs) {
        if (!(names = malloc((s.n + 1) * sizeof *names)) || !(info = cJSON_CreateObject())) {
            fprintf(stderr, "ablm cluster: out of memory for %zu sequences\n", s.n);
            goto done;
        }
        for (size_t i = 0; i < s.n; i++)
            names[i] = cl_seqs_name(&s, i);
        cJSON_AddNumberToObject(info, "sequences", (double)s.n);
        cJSON_AddNumberToObject(info, "min_seq_id", o.min_seq_id);
        cJSON_AddNumberToObject(info, "coverage", o.coverage);
        cJSON_AddNumberToObject(info, "cov_mode", o.cov_mode);
        fprintf(stderr, "ablm cluster: running %s easy-linclust (MMseqs2 %s), log %s\n", tool.path,
                tool.version, mm_log);
        cl_arrays arr;
        if (mm_cluster(&tool, &mo, cl_src_arrays(&arr, ptr, len, names), s.n, &o, rep, info)) {
            fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
            goto done;
        }
        for (size_t i = 0; i < s.n; i++)
            st.n_clusters += rep[i] == i;
        cJSON_AddNumberToObject(info, "clusters", (double)st.n_clusters);
    } else {
        cl_budget b = {max_memory, dir};
        if (cl_cluster_budget(ptr, len, s.n, &o, &b, rep, &st)) {
            fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
            goto done;
        }
        if (max_memory && o.mode == CL_LINCLUST && !st.kmer_runs)
            fprintf(stderr, "ablm cluster: within --max-memory %.1f MB: in memory, nothing "
                    "spilled\n", max_memory / 1e6);
        else if (max_memory && o.mode == CL_LINCLUST)
            fprintf(stderr, "ablm cluster: within --max-memory %.1f MB: %zu k-mer runs of %zu "
                    "entries, %zu pair runs, %.1f MB spilled, peak before the set cover %.1f MB, "
                    "graph %.1f MB%s\n", max_memory / 1e6, st.kmer_runs, st.chunk_entries,
                    st.pair_runs, st.spilled_bytes / 1e6, st.spill_peak / 1e6,
                    st.graph_bytes / 1e6, st.budget < st.floor_bytes ? " (below the floor: "
                    "smallest chunks)" : "");
    }
    double t2 = now_s();
    if (cl_write_clusters(&s, rep, out)) {
        fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
        goto done;
    }
    double t3 = now_s();
    if (use_mmseqs) {
        if (fio_write_json_pid(mm_report, info)) {
            fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
            goto done;
        }
        fprintf(stderr, "ablm cluster: %zu sequences -> %zu clusters [mmseqs, min-seq-id %.3g, -c %.3g, "
                "cov-mode %d, %d threads]\nablm cluster: command: %s\n",
                s.n, st.n_clusters, o.min_seq_id, o.coverage, o.cov_mode, mo.threads,
                cJSON_GetStringValue(cJSON_GetObjectItem(info, "command")));
        fprintf(stderr, "ablm cluster: read %.2fs, mmseqs + member check %.2fs, write %.2fs; wrote %s\n",
                t1 - t0, t2 - t1, t3 - t2, mm_report);
        mm_print_check(stderr, "ablm cluster", "check", info);
    } else {
        fprintf(stderr,
                "ablm cluster: %zu sequences (%zu unique) -> %zu clusters [%s, min-seq-id %.3g, -c %.3g, cov-mode %d, %d threads]\n"
                "ablm cluster: read %.2fs, cluster %.2fs (%zu alignments, peak %.1f MB = %.0f bytes/sequence), write %.2fs\n",
                s.n, st.n_unique, st.n_clusters, o.mode == CL_GREEDY ? "greedy" : "linclust", o.min_seq_id, o.coverage,
                o.cov_mode, o.threads, t1 - t0, t2 - t1, st.n_alignments, st.peak_bytes / 1e6,
                s.n ? (double)st.peak_bytes / (double)s.n : 0.0, t3 - t2);
    }
    if (check) {
        size_t v;
        if (cl_check_members(ptr, len, s.n, rep, &o, &v)) {
            fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
            goto done;
        }
        fprintf(stderr, "ablm cluster: check: %zu members below the thresholds\n", v);
        if (v)
            goto done;
    }
    if (report > 0) {
        double t4 = now_s();
        cl_missed mm;
        if (cl_missed_merges(ptr, len, s.n, rep, &o, (size_t)report, (uint64_t)seed, &mm)) {
            fprintf(stderr, "ablm cluster: %s\n", tg_last_error());
            goto done;
        }
        fprintf(stderr, "ablm cluster: missed merges: %zu of %zu sampled representatives (%.2f%%) reach the thresholds against another representative (%.1fs)\n",
                mm.missed, mm.sampled, 100 * mm.rate, now_s() - t4);
    }
    rc = 0;
done:
    cl_seqs_free(&s);
    free(rep);
    free(ptr);
    free(names);
    free(len);
out_mm:
    tg_free(dir);
    cJSON_Delete(info);
    mm_tool_free(&tool);
    tg_free(mm_log);
    tg_free(mm_report);
out:
    free(inputs);
    return rc;
}
