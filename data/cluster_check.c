/* cluster checks: member invariant and missed merges, for any clustering. */
#include "cluster.h"

#include "cluster_util.h"
#include "tg.h"

#include <omp.h>
#include <string.h>

static int check_rep(const uint32_t *rep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rep[i] >= n || rep[rep[i]] != rep[i])
            return tg_error(TG_ERR_ARG, "cluster check: sequence %zu has representative %u, which is not its own representative",
                            i, rep[i]);
    return TG_OK;
}

static int nthreads(const cl_opts *o) { return o->threads > 0 ? o->threads : tg_threads(); }

/* Puts a seeded sample of ns of the nr values pick[0..nr) first (partial
 * Fisher-Yates). */
static void sample_first(uint32_t *pick, size_t nr, size_t ns, uint64_t seed)
{
    tg_rng g;
    tg_rng_seed(&g, seed);
    for (size_t s = 0; s < ns; s++) {
        size_t j = s + (size_t)(tg_rng_next(&g) % (uint64_t)(nr - s));
        uint32_t x = pick[s];
        pick[s] = pick[j];
        pick[j] = x;
    }
}

int cl_report_members(const cl_src *src, size_t n, const uint32_t *rep, const cl_opts *o,
                      size_t sample, uint64_t seed, cl_member_report *out)
{
    int rc = cl_check_opts(o);
    if (rc || (rc = check_rep(rep, n)))
        return rc;
    memset(out, 0, sizeof *out);
    out->min_identity = 1.0;
    out->worst = SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        out->members += rep[i] != i;
    size_t nm = out->members, ns = sample < nm ? sample : nm;
    uint32_t *pick = tg_malloc((nm + 1) * sizeof *pick, "member check");
    if (!pick)
        return TG_ERR_NOMEM;
    for (size_t i = 0, k = 0; i < n; i++)
        if (rep[i] != i)
            pick[k++] = (uint32_t)i;
    if (ns < nm)
        sample_first(pick, nm, ns, seed);
    size_t bad = 0, bad_id = 0;
    int err = 0;
    double lo = 2.0;
    size_t worst = SIZE_MAX;
#pragma omp parallel num_threads(nthreads(o)) reduction(+ : bad, bad_id) reduction(| : err)
    {
        double tlo = 2.0;
        size_t tw = SIZE_MAX;
#pragma omp for schedule(dynamic, 256)
        for (size_t s = 0; s < ns; s++) {
            size_t i = pick[s];
            aln_result r;
            int lr, li;
            const char *sr = cl_src_seq(src, rep[i], &lr), *si = cl_src_seq(src, i, &li);
            if (aln_align(&o->aln, sr, lr, si, li, &r)) {
                err |= 1;
                continue;
            }
            bad += !aln_passes(&r, o->min_seq_id, o->coverage, o->cov_mode);
            bad_id += !aln_passes(&r, o->min_seq_id, 0.0, 0);
            if (tw == SIZE_MAX || r.identity < tlo || (r.identity == tlo && i < tw))
                tlo = r.identity, tw = i;
        }
#pragma omp critical(cl_report_members_min)
        if (tw != SIZE_MAX && (worst == SIZE_MAX || tlo < lo || (tlo == lo && tw < worst)))
            lo = tlo, worst = tw;
    }
    tg_free(pick);
    if (err)
        return TG_ERR_NOMEM;
    out->checked = ns;
    out->below = bad;
    out->below_identity = bad_id;
    out->min_identity = worst == SIZE_MAX ? 1.0 : lo;
    out->worst = worst;
    return TG_OK;
}

int cl_check_members(const char *const *seqs, const int *lens, size_t n, const uint32_t *rep,
                     const cl_opts *o, size_t *violations)
{
    cl_member_report r;
    cl_arrays a;
    int rc = cl_report_members(cl_src_arrays(&a, seqs, lens, NULL), n, rep, o, SIZE_MAX, 0, &r);
    if (!rc)
        *violations = r.below;
    return rc;
}

int cl_missed_merges(const char *const *seqs, const int *lens, size_t n, const uint32_t *rep,
                     const cl_opts *o, size_t sample, uint64_t seed, cl_missed *out)
{
    int rc = cl_check_opts(o);
    if (rc || (rc = check_rep(rep, n)))
        return rc;
    memset(out, 0, sizeof *out);
    cl_trk t = {0, 0};
    size_t nr = 0;
    int maxlen = 0;
    for (size_t i = 0; i < n; i++) {
        nr += rep[i] == i;
        if (lens[i] > maxlen)
            maxlen = lens[i];
    }
    if (!nr || !sample)
        return TG_OK;
    int nt = nthreads(o);
    uint32_t *reps = cl_talloc(&t, nr * sizeof *reps, "missed-merge reps");
    uint16_t *comp = cl_talloc(&t, nr * ALN_ALPHABET * sizeof *comp, "missed-merge compositions");
    uint8_t *buf = cl_talloc(&t, (size_t)nt * 2 * ((size_t)maxlen + 1), "missed-merge buffers");
    uint8_t *hit = NULL;
    rc = TG_ERR_NOMEM;
    if (!reps || !comp || !buf)
        goto done;
    for (size_t i = 0, k = 0; i < n; i++)
        if (rep[i] == i)
            reps[k++] = (uint32_t)i;
    /* compositions of every representative (saturating counts are only
     * used when exact: long sequences skip the composition bound) */
    for (size_t r = 0; r < nr; r++) {
        uint16_t *cp = comp + r * ALN_ALPHABET;
        memset(cp, 0, ALN_ALPHABET * sizeof *cp);
        const unsigned char *s = (const unsigned char *)seqs[reps[r]];
        for (int j = 0; j < lens[reps[r]] && lens[reps[r]] < 65535; j++)
            cp[aln_codes[s[j]]]++;
    }
    /* sample: partial Fisher-Yates on a copy of the rep positions */
    size_t ns = sample < nr ? sample : nr;
    uint32_t *pick = cl_talloc(&t, nr * sizeof *pick, "missed-merge sample");
    hit = cl_tcalloc(&t, ns, "missed-merge results");
    if (!pick || !hit) {
        cl_tfree(&t, pick);
        goto done;
    }
    for (size_t r = 0; r < nr; r++)
        pick[r] = (uint32_t)r;
    sample_first(pick, nr, ns, seed);
    int err = 0;
    for (size_t s = 0; s < ns; s++) {
        uint32_t a = pick[s], ia = reps[a];
        int la = lens[ia], ca[ALN_ALPHABET];
        for (int x = 0; x < ALN_ALPHABET; x++)
            ca[x] = comp[(size_t)a * ALN_ALPHABET + x];
        int found = 0;
#pragma omp parallel num_threads(nt) reduction(| : err)
        {
            int tid = omp_get_thread_num();
            uint8_t *qb = buf + (size_t)tid * 2 * ((size_t)maxlen + 1), *tb = qb + maxlen + 1;
            aln_encode(seqs[ia], la, qb);
            int cb[ALN_ALPHABET];
#pragma omp for schedule(dynamic, 4096)
            for (size_t r = 0; r < nr; r++) {
                int stop;
#pragma omp atomic read
                stop = found;
                if (r == a || stop)
                    continue;
                uint32_t ib = reps[r];
                int lb = lens[ib];
                if (!cl_may_pass_len(o, la, lb) && !cl_may_pass_len(o, lb, la))
                    continue;
                if (la < 65535 && lb < 65535) {
                    for (int x = 0; x < ALN_ALPHABET; x++)
                        cb[x] = comp[r * ALN_ALPHABET + x];
                    if (!cl_may_pass(o, la, ca, lb, cb) && !cl_may_pass(o, lb, cb, la, ca))
                        continue;
                }
                aln_encode(seqs[ib], lb, tb);
                if (!cl_may_pass_lcs(o, qb, la, tb, lb) && !cl_may_pass_lcs(o, tb, lb, qb, la))
                    continue;
                aln_result res;
                if (aln_align_codes(&o->aln, qb, la, tb, lb, &res)) {
                    err |= 1;
                    continue;
                }
                int p = aln_passes(&res, o->min_seq_id, o->coverage, o->cov_mode);
                aln_swap(&res);
                p |= aln_passes(&res, o->min_seq_id, o->coverage, o->cov_mode);
                if (p) {
#pragma omp atomic write
                    found = 1;
                }
            }
        }
        hit[s] = (uint8_t)found;
    }
    cl_tfree(&t, pick);
    if (err)
        goto done;
    out->sampled = ns;
    for (size_t s = 0; s < ns; s++)
        out->missed += hit[s];
    out->rate = ns ? (double)out->missed / (double)ns : 0.0;
    rc = TG_OK;
done:
    cl_tfree(&t, reps);
    cl_tfree(&t, comp);
    cl_tfree(&t, buf);
    cl_tfree(&t, hit);
    return rc;
}
