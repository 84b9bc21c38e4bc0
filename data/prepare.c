/* The ablm prepare pipeline: CDRH3 centroids, de-duplication, 70% and 50%
 * clustering, whole-cluster split. */
#include "prepare.h"

#include "fileio.h"
#include "seqstore.h"
#include "strmap.h"
#include "tg.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void pp_opts_default(pp_opts *o)
{
    memset(o, 0, sizeof *o);
    rd_opts_default(&o->rd);
    cl_opts_default(&o->cl);
    o->cdr3_min_seq_id = 1.0;
    o->min_seq_id = 0.7;
    o->split_min_seq_id = 0.5;
    sp_opts_default(&o->split);
    sp_leak_opts_default(&o->leak);
    o->resume = 1;
}

double pp_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Records kept from the inputs. Strings live in one growing arena; the
 * offsets become pointers once reading is done. */
typedef struct {
    size_t n, cap;
    size_t *seq, *cdr3; /* arena offsets */
    uint32_t *rid;      /* the record's index in ids */
    int *len, *cdr3_len;
    char *arena;
    size_t used, acap;
    rd_ids ids;         /* every record read (also those without a CDR3) */
} recs;

static void recs_free(recs *r)
{
    tg_free(r->rid);
    rd_ids_free(&r->ids);
    tg_free(r->seq);
    tg_free(r->cdr3);
    tg_free(r->len);
    tg_free(r->cdr3_len);
    tg_free(r->arena);
    memset(r, 0, sizeof *r);
}

static int arena_put(recs *r, const char *s, size_t n, size_t *off)
{
    if (r->used + n + 1 > r->acap) {
        size_t nc = r->acap ? r->acap : 1 << 20;
        while (nc < r->used + n + 1)
            nc *= 2;
        char *a = tg_realloc(r->arena, nc, "sequence store");
        if (!a)
            return TG_ERR_NOMEM;
        r->arena = a;
        r->acap = nc;
    }
    memcpy(r->arena + r->used, s, n);
    r->arena[r->used + n] = '\0';
    *off = r->used;
    r->used += n + 1;
    return TG_OK;
}

#define GROW(p, n)                                                                    \
    do {                                                                              \
        void *q_ = tg_realloc((p), (n) * sizeof *(p), "record table");                \
        if (!q_)                                                                      \
            return TG_ERR_NOMEM;                                                      \
        (p) = q_;                                                                     \
    } while (0)

static int recs_add(recs *r, const rd_record *rec)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 4096;
        GROW(r->rid, nc);
        GROW(r->seq, nc);
        GROW(r->cdr3, nc);
        GROW(r->len, nc);
        GROW(r->cdr3_len, nc);
        r->cap = nc;
    }
    size_t i = r->n;
    r->rid[i] = (uint32_t)(r->ids.n - 1); /* added by the caller */
    int st = arena_put(r, rec->seq, (size_t)rec->len, &r->seq[i]);
    if (!st)
        st = arena_put(r, rec->cdr3, (size_t)rec->cdr3_len, &r->cdr3[i]);
    if (st)
        return st;
    r->len[i] = rec->len;
    r->cdr3_len[i] = rec->cdr3_len;
    r->n++;
    return TG_OK;
}

/* Reads every input into r (in memory) or, when r is NULL, streams every
 * record into the store w, in input order whatever the thread count
 * (o->read_threads files parsed at once, rd_par). Skip mode: unreadable files
 * are listed in `files_skipped` and the run goes on. */
static int read_inputs(const char *const *inputs, int n_inputs, const pp_opts *o, recs *r,
                       ss_writer *w, rd_stats *total, size_t *no_cdr3, cJSON *files,
                       cJSON *skipped)
{
    memset(total, 0, sizeof *total);
    *no_cdr3 = 0;
    pp_progress pg;
    pp_progress_begin(&pg, "read", "rows", o->progress);
    rd_par *par;
    int st = rd_par_begin(&par, inputs, n_inputs, &o->rd,
                          o->read_threads > 0 ? o->read_threads : tg_threads(),
                          pp_read_buffer(o));
    if (st)
        return st;
    for (int f = 0; f < n_inputs; f++) {
        rd_reader *rd;
        st = rd_par_open(par, f, &rd);
        if (st == TG_ERR_NOMEM || (st && o->rd.on_error != RD_ON_ERROR_SKIP)) {
            rd_par_end(par);
            return st;
        }
        if (st) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "file", inputs[f]);
            cJSON_AddStringToObject(e, "error", tg_last_error());
            cJSON_AddItemToArray(skipped, e);
            if (o->progress)
                fprintf(stderr, "prepare: skipping %s\n", tg_last_error());
            continue;
        }
        rd_record rec;
        size_t kept = 0;
        int own = TG_OK;
        while ((st = rd_par_next(par, &rec)) == 1) {
            int has = rec.cdr3 && rec.cdr3_len > 0;
            pp_progress_tick(&pg, total->rows + rd_par_rows(par), n_inputs ? (double)f / n_inputs : -1);
            if (!r) {
                /* the store keeps every record (ids of those without a CDR3 too) */
                if ((own = ss_write_add(w, rec.seq, rec.len, has ? rec.cdr3 : NULL,
                                        rec.cdr3_len, rec.id, rec.file, rec.line)))
                    break;
                *no_cdr3 += !has;
                kept += has;
                continue;
            }
            /* every record's id counts, so that split names the records alike */
            if ((own = rd_ids_add(&r->ids, rec.id, rec.file, rec.line)))
                break;
            if (!has) {
                (*no_cdr3)++;
                continue;
            }
            if ((own = recs_add(r, &rec)))
                break;
            kept++;
        }
        if (own) {
            /* the store or memory failed (not the file): stop reading */
            rd_par_end(par);
            return own;
        }
        cJSON *fe = cJSON_CreateObject();
        cJSON_AddStringToObject(fe, "file", inputs[f]);
        cJSON_AddStringToObject(fe, "format", rd_format_name(rd_format_of(rd)));
        cJSON_AddBoolToObject(fe, "paired", rd_is_paired(rd));
        cJSON_AddNumberToObject(fe, "rows", (double)rd_get_stats(rd)->rows);
        cJSON_AddNumberToObject(fe, "records_kept", (double)kept);
        const cJSON *meta = rd_metadata(rd);
        if (meta)
            cJSON_AddItemToObject(fe, "metadata", cJSON_Duplicate(meta, 1));
        cJSON_AddItemToArray(files, fe);
        rd_stats_add(total, rd_get_stats(rd));
        rd_par_close(par);
        if (st < 0) {
            if (st == TG_ERR_NOMEM || o->rd.on_error != RD_ON_ERROR_SKIP) {
                rd_par_end(par);
                return st;
            }
            /* a damaged file (e.g. truncated gzip): keep what was read */
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "file", inputs[f]);
            cJSON_AddStringToObject(e, "error", tg_last_error());
            cJSON_AddNumberToObject(e, "records_kept_before_error", (double)kept);
            cJSON_AddItemToArray(skipped, e);
            if (o->progress)
                fprintf(stderr, "prepare: %s (kept the %zu records before it)\n",
                        tg_last_error(), kept);
        }
    }
    rd_par_end(par);
    pp_progress_end(&pg, total->rows);
    return TG_OK;
}

#define PP_STORE "records.store"
#define PP_READ_MARKER "prepare_read.json"

void pp_json_take(cJSON *in, const cJSON *marker, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(marker, name);
    if (!v)
        return;
    if (cJSON_GetObjectItem(in, name))
        cJSON_ReplaceItemInObject(in, name, cJSON_Duplicate(v, 1));
    else
        cJSON_AddItemToObject(in, name, cJSON_Duplicate(v, 1));
}

int pp_stage_read(const char *const *inputs, int n_inputs, const char *outdir,
                  const pp_opts *o, ss_store *store, cJSON *in, cJSON *report)
{
    char key[17], hex[17];
    cJSON *stages = cJSON_GetObjectItem(report, "stages");
    if (!stages)
        stages = cJSON_AddObjectToObject(report, "stages");
    double t = pp_now();
    /* what the marker keeps of the reading report (restored on a skip) */
    static const char *const rec_keep[] = {"files", "files_skipped", "reader",
                                           "records_without_cdr3"};
    static const char *const pair_keep[] = {"files", "files_skipped", "pairs"};
    const char *const *keep = o->pairs ? pair_keep : rec_keep;
    int n_keep = o->pairs ? 3 : 4;
    int st = pp_inputs_key(inputs, n_inputs, o, key);
    char *path = st ? NULL : fio_join(outdir, PP_STORE);
    if (!st && !path)
        st = TG_ERR_NOMEM;
    if (st)
        return st;
    cJSON *marker = o->resume ? pp_marker_load(outdir, PP_READ_MARKER, key) : NULL;
    if (marker) {
        const cJSON *sh = cJSON_GetObjectItem(marker, "store_hash");
        if (pp_read_marker_ok(marker, o->pairs) && ss_open(store, path, 1) == TG_OK) {
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)store->hash);
            if (cJSON_IsString(sh) && !strcmp(sh->valuestring, hex)) {
                for (int k = 0; k < n_keep; k++)
                    pp_json_take(in, marker, keep[k]);
                cJSON_AddStringToObject(stages, "read", "skipped: inputs, options and store "
                                        "unchanged (hash " PP_READ_MARKER ")");
                if (o->progress)
                    fprintf(stderr, "prepare: read: skipped, %s holds these inputs (key %s, "
                            "store hash verified in %.1f s)\n", path, key, pp_now() - t);
                cJSON_Delete(marker);
                tg_free(path);
                return TG_OK;
            }
            ss_close(store);
        }
        if (o->progress)
            fprintf(stderr, "prepare: read: %s does not match its marker; reading again\n",
                    path);
        cJSON_Delete(marker);
    }
    ss_writer w;
    rd_stats rs;
    size_t no_cdr3;
    uint64_t h;
    cJSON *files = cJSON_GetObjectItem(in, "files"), *skipped =
        cJSON_GetObjectItem(in, "files_skipped");
    if ((st = ss_write_begin(&w, path))) {
        tg_free(path);
        return st;
    }
    if (o->pairs) {
        pr_set counts = {0};
        st = pp_read_pairs(inputs, n_inputs, o, &counts, &w, files, skipped);
        pr_stats_to_json(&counts, cJSON_AddObjectToObject(in, "pairs"));
    } else {
        st = read_inputs(inputs, n_inputs, o, NULL, &w, &rs, &no_cdr3, files, skipped);
        rd_stats_to_json(&rs, cJSON_AddObjectToObject(in, "reader"));
        cJSON_AddNumberToObject(in, "records_without_cdr3", (double)no_cdr3);
    }
    if (st) {
        ss_write_abort(&w);
        tg_free(path);
        return st;
    }
    if (!(st = ss_write_end(&w, &h)))
        st = ss_open(store, path, 0);
    if (!st) {
        cJSON *mk = cJSON_CreateObject();
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
        cJSON_AddStringToObject(mk, "stage", "read");
        cJSON_AddStringToObject(mk, "key", key);
        cJSON_AddStringToObject(mk, "store", PP_STORE);
        cJSON_AddStringToObject(mk, "store_hash", hex);
        cJSON_AddNumberToObject(mk, "store_bytes", (double)store->size);
        cJSON_AddNumberToObject(mk, "records", (double)store->n);
        for (int k = 0; k < n_keep; k++)
            cJSON_AddItemToObject(mk, keep[k], cJSON_Duplicate(cJSON_GetObjectItem(in, keep[k]), 1));
        st = pp_marker_write(outdir, PP_READ_MARKER, mk);
        cJSON_Delete(mk);
        cJSON_AddStringToObject(stages, "read", "done");
        cJSON_AddNumberToObject(in, "store_bytes", (double)store->size);
    }
    tg_free(path);
    return st;
}

void pp_memory_report(cJSON *report, size_t anon0, size_t rows)
{
    cJSON *mem = cJSON_AddObjectToObject(report, "memory");
    size_t anon = pp_proc_status("RssAnon");
    cJSON_AddNumberToObject(mem, "rss_anon_after_read", (double)anon);
    cJSON_AddNumberToObject(mem, "peak_rss_after_read", (double)pp_proc_status("VmHWM"));
    if (anon >= anon0)
        cJSON_AddNumberToObject(mem, "anon_bytes_per_record_after_read",
                                (double)(anon - anon0) / (double)(rows ? rows : 1));
}

/* Writes rep TAB member lines, members grouped under their representative
 * (representatives in index order, members in index order). */
static int write_cluster_tsv(const char *dir, const char *name, const cl_src *src,
                             const uint32_t *rep, size_t n)
{
    size_t *start = tg_calloc(n + 1, sizeof *start, "cluster table");
    uint32_t *order = tg_malloc((n + 1) * sizeof *order, "cluster table");
    char *path = fio_join(dir, name);
    int st = start && order && path ? TG_OK : TG_ERR_NOMEM;
    if (!st) {
        for (size_t i = 0; i < n; i++)
            start[rep[i] + 1]++;
        for (size_t i = 0; i < n; i++)
            start[i + 1] += start[i];
        for (size_t i = 0; i < n; i++)
            order[start[rep[i]]++] = (uint32_t)i;
        fio_out out;
        st = fio_begin(&out, path);
        for (size_t k = 0; !st && k < n; k++)
            fprintf(out.f, "%s\t%s\n", cl_src_name(src, rep[order[k]]), cl_src_name(src, order[k]));
        if (!st)
            st = fio_commit(&out);
    }
    tg_free(start);
    tg_free(order);
    tg_free(path);
    return st;
}

/* One clustering step (o->engine, else cl_cluster) with progress lines and
 * a report entry. */
int pp_cluster_step(const char *what, const char *outdir, const char *tsv, const cl_src *src,
                    size_t n, double min_seq_id, const pp_opts *o, uint32_t *rep, cJSON *steps,
                    size_t *n_clusters)
{
    cl_opts co = o->cl;
    co.min_seq_id = min_seq_id;
    co.progress = o->progress;
    const char *engine = o->engine ? o->engine_name : "ablm";
    if (o->progress)
        fprintf(stderr, "prepare: clustering %zu %s at %.0f%% identity%s%s...\n", n, what,
                100 * min_seq_id, o->engine ? " with " : "", o->engine ? engine : "");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToArray(steps, e);
    cJSON_AddStringToObject(e, "step", what);
    cJSON_AddNumberToObject(e, "min_seq_id", min_seq_id);
    cJSON_AddNumberToObject(e, "coverage", co.coverage);
    cJSON_AddNumberToObject(e, "cov_mode", co.cov_mode);
    cJSON_AddNumberToObject(e, "sequences", (double)n);
    cl_stats cs;
    memset(&cs, 0, sizeof cs);
    double t = pp_now();
    int st = TG_OK;
    if (n && o->engine)
        st = o->engine(o->engine_ctx, src, n, &co, rep, e);
    else if (n && o->in_memory)
        st = cl_cluster_src(src, n, &co, NULL, rep, &cs);
    else if (n) { /* out of core: the step's residues in their own mapped file */
        pp_step sf;
        if (!(st = pp_step_open(&sf, outdir, src, n, o->progress))) {
            cJSON_AddNumberToObject(e, "step_file_bytes",
                                    (double)(sf.data_bytes + (n + 1) * sizeof *sf.off));
            st = pp_cluster_budgeted(outdir, &sf.src, n, &co, o, rep, &cs, e);
            pp_step_close(&sf);
        }
    }
    if (st)
        return st;
    if (o->engine)
        cs.seconds = pp_now() - t;
    else {
        cJSON_AddStringToObject(e, "engine", engine);
        cJSON_AddStringToObject(e, "mode", co.mode == CL_LINCLUST ? "linclust" : "greedy");
    }
    size_t nc = 0;
    for (size_t i = 0; i < n; i++)
        nc += rep[i] == i;
    *n_clusters = nc;
    if (o->progress)
        fprintf(stderr, "prepare: %zu %s -> %zu clusters in %.1f s\n", n, what, nc, cs.seconds);
    cJSON_AddNumberToObject(e, "clusters", (double)nc);
    if (!o->engine) {
        cJSON_AddNumberToObject(e, "seconds", cs.seconds);
        cJSON_AddNumberToObject(e, "peak_bytes", (double)cs.peak_bytes);
    }
    return write_cluster_tsv(outdir, tsv, src, rep, n);
}

/* A clustering step that resumes (prepare.h). */
int pp_cluster_step_resumable(const char *what, const char *stage, const char *outdir,
                              const char *tsv, const cl_src *src, size_t n, double min_seq_id,
                              const pp_opts *o, uint32_t *rep,
                              cJSON *steps, size_t *n_clusters, const char *key_in,
                              char key_out[17], cJSON *report)
{
    const cl_opts *c = &o->cl;
    char opt[600], name[64], rname[64], hex[17];
    snprintf(opt, sizeof opt, "%s|%s|%.17g|mode %d|cov %.17g|cm %d|kps %d|k %d|pat %s|aln %d %d %d|"
             "gk %d|gmp %d|mc %d|lcs %d|engine %s|threads %d|n %zu", key_in, what, min_seq_id,
             (int)c->mode, c->coverage, c->cov_mode, c->kmer_per_seq, c->k,
             c->spaced_pattern ? c->spaced_pattern : "-", (int)c->aln.matrix, c->aln.gap_open,
             c->aln.gap_extend, c->greedy_k, c->greedy_max_postings, c->max_candidates,
             c->max_lcs_checks, o->engine ? o->engine_name : "ablm",
             c->threads ? c->threads : tg_threads(), n);
    snprintf(key_out, 17, "%016llx",
             (unsigned long long)ss_hash(SS_HASH_INIT, opt, strlen(opt)));
    snprintf(name, sizeof name, "prepare_%s.json", stage);
    snprintf(rname, sizeof rname, "%s.rep", stage);
    cJSON *stages = cJSON_GetObjectItem(report, "stages");
    char *rpath = fio_join(outdir, rname);
    if (!rpath)
        return TG_ERR_NOMEM;
    int st;
    cJSON *e = NULL;
    size_t nc = 0;
    int ok = !o->in_memory && o->resume
                 ? pp_rep_resume(outdir, name, rpath, key_out, n, rep, &e, &nc)
                 : -1;
    if (ok == 1) {
        cJSON_AddItemToArray(steps, e);
        cJSON_AddStringToObject(stages, stage, "skipped: same input, options and threads "
                                "(hash in the marker)");
        if (o->progress)
            fprintf(stderr, "prepare: %s: skipped, %s holds the clusters of these %zu %s "
                    "(key %s)\n", stage, rpath, n, what, key_out);
        *n_clusters = nc;
        tg_free(rpath);
        return write_cluster_tsv(outdir, tsv, src, rep, n);
    }
    if (ok == 0 && o->progress)
        fprintf(stderr, "prepare: %s: %s does not match its marker; clustering again\n", stage,
                rpath);
    st = pp_cluster_step(what, outdir, tsv, src, n, min_seq_id, o, rep, steps, n_clusters);
    if (!st && !o->in_memory) {
        fio_out out;
        st = fio_begin(&out, rpath);
        if (!st && n && fwrite(rep, sizeof *rep, n, out.f) != n) {
            fio_abort(&out);
            st = tg_error(TG_ERR_IO, "%s: cannot write", rpath);
        } else if (!st)
            st = fio_commit(&out);
        if (!st) {
            cJSON *m = cJSON_CreateObject();
            snprintf(hex, sizeof hex, "%016llx",
                     (unsigned long long)ss_hash(SS_HASH_INIT, rep, n * sizeof *rep));
            cJSON_AddStringToObject(m, "stage", stage);
            cJSON_AddStringToObject(m, "key", key_out);
            cJSON_AddStringToObject(m, "rep", rname);
            cJSON_AddStringToObject(m, "rep_hash", hex);
            cJSON_AddNumberToObject(m, "sequences", (double)n);
            cJSON_AddItemToObject(m, "step",
                                  cJSON_Duplicate(cJSON_GetArrayItem(steps,
                                                  cJSON_GetArraySize(steps) - 1), 1));
            st = pp_marker_write(outdir, name, m);
            cJSON_Delete(m);
        }
        if (!st)
            cJSON_AddStringToObject(stages, stage, "done");
    }
    tg_free(rpath);
    return st;
}

/* The store indices of its n records with a CDR3, in store order, into
 * rec[0..n). */
static int store_records(const ss_store *s, const char *outdir, size_t n, uint32_t *rec)
{
    size_t j = 0;
    for (uint64_t i = 0; i < s->n; i++) {
        int cl;
        const char *c = ss_cdr3(s, i, &cl);
        if (!c || !cl)
            continue;
        if (j == n) /* cannot happen: pp_store_ids counted this map */
            return tg_error(TG_ERR_FORMAT, "%s/records.store: more records with a CDR3 than "
                            "counted", outdir);
        rec[j++] = (uint32_t)i;
    }
    return TG_OK;
}

int pp_run(const char *const *inputs, int n_inputs, const char *outdir, const pp_opts *o,
           cJSON *report)
{
    double t0 = pp_now();
    size_t anon0 = pp_proc_status("RssAnon");
    recs r = {0};
    const char **ids = NULL, **seq = NULL, **cdr3 = NULL;
    uint32_t *rep = NULL, *rep70 = NULL, *rep50 = NULL, *uniq = NULL, *recmap = NULL;
    int lock = -1;
    int st = fio_mkdir(outdir);
    if (!st)
        st = pp_dir_lock(outdir, o, report, &lock);
    if (st)
        return st;

    cJSON *in = cJSON_AddObjectToObject(report, "input");
    cJSON *files = cJSON_AddArrayToObject(in, "files");
    cJSON *skipped = cJSON_AddArrayToObject(in, "files_skipped");
    cJSON *counts = cJSON_AddObjectToObject(report, "counts");
    cJSON *steps = cJSON_AddArrayToObject(report, "clustering");
    cJSON *times = cJSON_AddObjectToObject(report, "seconds");
    rd_stats rs;
    size_t no_cdr3 = 0, n = 0;
    pp_ids store_ids;
    memset(&store_ids, 0, sizeof store_ids);
    ss_store store;
    memset(&store, 0, sizeof store);
    memset(&rs, 0, sizeof rs);
    if (o->progress)
        fprintf(stderr, "prepare: reading %d input file%s%s...\n", n_inputs,
                n_inputs == 1 ? "" : "s", o->in_memory ? " into memory" : " into the store");
    if (o->in_memory) {
        st = read_inputs(inputs, n_inputs, o, &r, NULL, &rs, &no_cdr3, files, skipped);
        rd_stats_to_json(&rs, cJSON_AddObjectToObject(in, "reader"));
        n = r.n;
    } else {
        /* out of core: the records go to OUT/records.store (resumable stage) */
        st = pp_stage_read(inputs, n_inputs, outdir, o, &store, in, report);
        if (!st && (st = pp_store_ids(&store, outdir, o, &store_ids, &n)))
            goto done;
        const cJSON *nc = cJSON_GetObjectItem(in, "records_without_cdr3"),
                    *rows = cJSON_GetObjectItem(cJSON_GetObjectItem(in, "reader"), "rows_read");
        no_cdr3 = nc ? (size_t)nc->valuedouble : 0;
        rs.rows = rows ? (size_t)rows->valuedouble : 0;
    }
    if (o->in_memory)
        cJSON_AddNumberToObject(in, "records_without_cdr3", (double)no_cdr3);
    cJSON_AddNumberToObject(times, "read", pp_now() - t0);
    if (st)
        goto done;
    cJSON_AddNumberToObject(counts, "input_rows", (double)rs.rows);
    cJSON_AddNumberToObject(counts, "after_filters_with_cdr3", (double)n);
    if (n == 0) {
        st = tg_error(TG_ERR_FORMAT, "no records with a CDR3 left after reading and filtering "
                      "(%zu rows read, %zu without a CDR3)", rs.rows, no_cdr3);
        goto done;
    }
    if (n >= UINT32_MAX || (!o->in_memory && store.n >= UINT32_MAX)) {
        st = tg_error(TG_ERR_ARG, "too many records (%zu with a CDR3; at most %u)", n,
                      UINT32_MAX - 1);
        goto done;
    }
    /* The steps read the records where they are, through sources: out of
     * core the store's map (pp_src_store), so the steps hold 4 bytes per
     * record (rep, then the pool's list of records) and, when some records
     * have no CDR3, the list of those that have one until the de-dup; in
     * memory the arena, through pointer arrays. */
    rep = tg_malloc(n * sizeof *rep, "clusters");
    if (!rep) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    size_t renamed = store_ids.renamed;
    if (o->in_memory && (st = rd_ids_unique(&r.ids, &renamed)))
        goto done;
    cJSON_AddNumberToObject(in, "ids_made_unique", (double)renamed);
    if (!o->in_memory)
        cJSON_AddNumberToObject(in, "ids_shards", (double)store_ids.shards);
    if (renamed && o->progress)
        fprintf(stderr, "prepare: %zu records share their id with another record; they are "
                "named ID@FILE:LINE\n", renamed);
    cl_arrays a_cdr3, a_seq;
    pp_store_src s_cdr3, s_seq;
    const cl_src *src_cdr3, *src_seq;
    if (o->in_memory) {
        ids = tg_malloc(n * sizeof *ids, "records");
        seq = tg_malloc(n * sizeof *seq, "records");
        cdr3 = tg_malloc(n * sizeof *cdr3, "records");
        if (!ids || !seq || !cdr3) {
            st = TG_ERR_NOMEM;
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            ids[i] = rd_ids_get(&r.ids, r.rid[i]);
            seq[i] = r.arena + r.seq[i];
            cdr3[i] = r.arena + r.cdr3[i];
        }
        src_cdr3 = cl_src_arrays(&a_cdr3, cdr3, r.cdr3_len, ids);
        src_seq = cl_src_arrays(&a_seq, seq, r.len, ids);
    } else {
        if (n < store.n) {
            if (!(recmap = tg_malloc(n * sizeof *recmap, "records"))) {
                st = TG_ERR_NOMEM;
                goto done;
            }
            if ((st = store_records(&store, outdir, n, recmap)))
                goto done;
        }
        src_cdr3 = pp_src_store(&s_cdr3, &store, &store_ids, recmap, 1);
        src_seq = pp_src_store(&s_seq, &store, &store_ids, recmap, 0);
    }

    /* what the records cost in memory before clustering (the store's pages
     * are file-backed, not in RssAnon) */
    pp_memory_report(report, anon0, rs.rows);

    /* 1. CDRH3 clusters: keep the centroids */
    double t = pp_now();
    size_t n_cdr3_clusters;
    char key[17] = "in-memory";
    if (!o->in_memory)
        snprintf(key, sizeof key, "%016llx", (unsigned long long)store.hash);
    if (!cJSON_GetObjectItem(report, "stages"))
        cJSON_AddObjectToObject(report, "stages");
    st = pp_cluster_step_resumable("CDR3s", "cdr3_clustering", outdir, "cdr3_100_cluster.tsv",
                                   src_cdr3, n, o->cdr3_min_seq_id, o, rep, steps,
                                   &n_cdr3_clusters, key, key, report);
    if (st)
        goto done;
    cJSON_AddNumberToObject(counts, "cdr3_centroids", (double)n_cdr3_clusters);
    cJSON_AddNumberToObject(times, "cdr3_clustering", pp_now() - t);

    /* 2. their full sequences, exact duplicates dropped (first kept), in hash
     * shards on disk when they do not fit the memory budget */
    tg_free(cdr3);
    cdr3 = NULL;
    /* rep's storage becomes the centroids' list (in place: m <= i) */
    uniq = rep;
    rep = NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (uniq[i] == i)
            uniq[m++] = (uint32_t)i;
    t = pp_now();
    if ((st = pp_dedup(src_seq, uniq, &m, outdir, o, "dedup", NULL, report)))
        goto done;
    cJSON_AddNumberToObject(counts, "after_dedup", (double)m);
    cJSON_AddNumberToObject(times, "dedup", pp_now() - t);
    if (recmap) { /* the pool's list names store records from here on */
        for (size_t j = 0; j < m; j++)
            uniq[j] = recmap[uniq[j]];
        tg_free(recmap);
        recmap = NULL;
        s_seq.rec = NULL;
    }

    /* 3. 70% clusters: representatives are the training pool */
    t = pp_now();
    cl_subset pool;
    const cl_src *src_pool = cl_src_subset(&pool, src_seq, uniq);
    if (!(rep70 = tg_malloc((m + 1) * sizeof *rep70, "clusters"))) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    size_t n70;
    st = pp_cluster_step_resumable("sequences", "clustering_70", outdir, "heavy_70_cluster.tsv",
                                   src_pool, m, o->min_seq_id, o, rep70, steps, &n70, key, key,
                                   report);
    if (st)
        goto done;
    cJSON_AddNumberToObject(counts, "representatives_70", (double)n70);
    cJSON_AddNumberToObject(times, "clustering_70", pp_now() - t);

    /* 4. 50% clusters of the pool, split whole */
    t = pp_now();
    rep50 = tg_malloc((n70 + 1) * sizeof *rep50, "clusters");
    if (!rep50) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    size_t k = 0;
    for (size_t j = 0; j < m; j++)
        if (rep70[j] == j)
            uniq[k++] = uniq[j]; /* compact in place: k <= j */
    size_t n50;
    st = pp_cluster_step_resumable("representatives", "clustering_50", outdir,
                                   "heavy_50_cluster.tsv", src_pool, k, o->split_min_seq_id, o,
                                   rep50, steps, &n50, key, key, report);
    if (st)
        goto done;
    cJSON_AddNumberToObject(counts, "clusters_50", (double)n50);
    cJSON_AddNumberToObject(times, "clustering_50", pp_now() - t);
    t = pp_now();
    st = pp_stage_split(outdir, src_pool, rep50, k, o, key, report);
    if (st)
        goto done;
    cJSON_AddNumberToObject(times, "split_and_leakage", pp_now() - t);
    const cJSON *sp = cJSON_GetObjectItem(report, "split");
    static const char *sets[] = {"train", "val", "test"};
    for (int s = 0; s < 3; s++)
        cJSON_AddNumberToObject(
            counts, sets[s],
            cJSON_GetObjectItem(cJSON_GetObjectItem(sp, sets[s]), "sequences")->valuedouble);
done:
    cJSON_AddNumberToObject(times, "total", pp_now() - t0);
    tg_free(ids);
    tg_free(seq);
    tg_free(cdr3);
    tg_free(rep);
    tg_free(uniq);
    tg_free(rep70);
    tg_free(rep50);
    tg_free(recmap);
    pp_ids_free(&store_ids);
    ss_close(&store);
    recs_free(&r);
    pp_dir_unlock(lock);
    return st;
}
