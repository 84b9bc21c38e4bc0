/* cluster helpers: tracked allocation, radix sort, option checks, bounds. */
#include "cluster_util.h"

#include "tg.h"

#include <limits.h>
#include <string.h>

#define HDR 16

void *cl_talloc(cl_trk *t, size_t bytes, const char *what)
{
    size_t *p = tg_malloc(bytes + HDR, what);
    if (!p)
        return NULL;
    p[0] = bytes;
    t->cur += bytes + HDR;
    if (t->cur > t->peak)
        t->peak = t->cur;
    return (char *)p + HDR;
}

void *cl_tcalloc(cl_trk *t, size_t bytes, const char *what)
{
    void *p = cl_talloc(t, bytes, what);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void *cl_trealloc(cl_trk *t, void *q, size_t bytes, const char *what)
{
    if (!q)
        return cl_talloc(t, bytes, what);
    size_t *p = (size_t *)((char *)q - HDR);
    size_t old = p[0];
    size_t *np = tg_realloc(p, bytes + HDR, what);
    if (!np)
        return NULL;
    np[0] = bytes;
    t->cur = t->cur - old + bytes;
    if (t->cur > t->peak)
        t->peak = t->cur;
    return (char *)np + HDR;
}

void cl_tfree(cl_trk *t, void *q)
{
    if (!q)
        return;
    size_t *p = (size_t *)((char *)q - HDR);
    t->cur -= p[0] + HDR;
    tg_free(p);
}

int cl_radix_sort(cl_trk *t, uint64_t *k, uint32_t *v, size_t n, int bits)
{
    return cl_radix_sort_prog(t, k, v, n, bits, NULL);
}

int cl_radix_sort_prog(cl_trk *t, uint64_t *k, uint32_t *v, size_t n, int bits, cl_prog *p)
{
    if (n < 2)
        return TG_OK;
    uint64_t *k2 = cl_talloc(t, n * sizeof *k2, "radix sort keys");
    uint32_t *v2 = v ? cl_talloc(t, n * sizeof *v2, "radix sort values") : NULL;
    if (!k2 || (v && !v2)) {
        cl_tfree(t, k2);
        return TG_ERR_NOMEM;
    }
    uint64_t *ks = k, *kd = k2;
    uint32_t *vs = v, *vd = v2;
    static const int D = 11;
    size_t cnt[1 << 11];
    for (int shift = 0; shift < bits; shift += D) {
        memset(cnt, 0, sizeof cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(ks[i] >> shift) & ((1u << D) - 1)]++;
        if (cnt[(ks[0] >> shift) & ((1u << D) - 1)] == n)
            continue; /* every key has this digit */
        size_t sum = 0;
        for (int d = 0; d < (1 << D); d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t at = cnt[(ks[i] >> shift) & ((1u << D) - 1)]++;
            kd[at] = ks[i];
            if (v)
                vd[at] = vs[i];
        }
        uint64_t *tk = ks;
        ks = kd;
        kd = tk;
        uint32_t *tv = vs;
        vs = vd;
        vd = tv;
        if (p)
            cl_prog_tick(p, (uint64_t)(shift / D + 1), (uint64_t)((bits + D - 1) / D), "passes");
    }
    if (ks != k) {
        memcpy(k, ks, n * sizeof *k);
        if (v)
            memcpy(v, vs, n * sizeof *v);
    }
    cl_tfree(t, k2);
    cl_tfree(t, v2);
    return TG_OK;
}

int cl_check_opts(const cl_opts *o)
{
    if (!o)
        return tg_error(TG_ERR_ARG, "cluster: NULL options");
    if (!(o->min_seq_id >= 0.0 && o->min_seq_id <= 1.0))
        return tg_error(TG_ERR_ARG, "cluster: --min-seq-id %g is not in [0, 1]", o->min_seq_id);
    if (!(o->coverage >= 0.0 && o->coverage <= 1.0))
        return tg_error(TG_ERR_ARG, "cluster: -c %g is not in [0, 1]", o->coverage);
    if (o->cov_mode < 0 || o->cov_mode > 2)
        return tg_error(TG_ERR_ARG, "cluster: --cov-mode %d is not 0, 1 or 2", o->cov_mode);
    if (o->mode != CL_LINCLUST && o->mode != CL_GREEDY)
        return tg_error(TG_ERR_ARG, "cluster: unknown mode %d", (int)o->mode);
    if (o->kmer_per_seq < 1 || o->kmer_per_seq > 1000)
        return tg_error(TG_ERR_ARG, "cluster: --kmer-per-seq %d is not in [1, 1000]", o->kmer_per_seq);
    if (o->k < 1 || o->k > 7)
        return tg_error(TG_ERR_ARG, "cluster: -k %d is not in [1, 7]", o->k);
    if (o->spaced_pattern && o->spaced_pattern[0]) {
        int ones = 0, len = 0;
        for (const char *c = o->spaced_pattern; *c; c++, len++) {
            if (*c != '0' && *c != '1')
                return tg_error(TG_ERR_ARG, "cluster: --spaced-kmer-pattern '%s' has a character other than 0/1",
                                o->spaced_pattern);
            ones += *c == '1';
        }
        if (ones != o->k || len > 64 || o->spaced_pattern[0] != '1' || o->spaced_pattern[len - 1] != '1')
            return tg_error(TG_ERR_ARG,
                            "cluster: --spaced-kmer-pattern '%s' must start and end with 1, have k=%d ones and be at most 64 long",
                            o->spaced_pattern, o->k);
    }
    if (o->greedy_k < 1 || o->greedy_k > 5)
        return tg_error(TG_ERR_ARG, "cluster: greedy k-mer length %d is not in [1, 5]", o->greedy_k);
    if (o->max_candidates < 1)
        return tg_error(TG_ERR_ARG, "cluster: max candidates %d must be >= 1", o->max_candidates);
    if (o->max_lcs_checks < 1)
        return tg_error(TG_ERR_ARG, "cluster: max LCS checks %d must be >= 1", o->max_lcs_checks);
    if (o->greedy_max_postings < 1)
        return tg_error(TG_ERR_ARG, "cluster: greedy max postings %d must be >= 1", o->greedy_max_postings);
    if (o->aln.gap_open < 0 || o->aln.gap_extend < 0)
        return tg_error(TG_ERR_ARG, "cluster: negative gap cost");
    return TG_OK;
}

void cl_composition(const uint8_t *codes, int n, int comp[ALN_ALPHABET])
{
    memset(comp, 0, sizeof(int) * ALN_ALPHABET);
    for (int i = 0; i < n; i++)
        comp[codes[i]]++;
}

/* Smallest alignment length any passing alignment of lengths la, lb has. */
static double min_aln_len(const cl_opts *o, int la, int lb)
{
    double c = o->coverage - 1e-9, need = 0;
    if (o->cov_mode == 0 || o->cov_mode == 2)
        need = c * la;
    if ((o->cov_mode == 0 || o->cov_mode == 1) && c * lb > need)
        need = c * lb;
    return need;
}

int cl_may_pass_len(const cl_opts *o, int la, int lb)
{
    if (la == 0 || lb == 0)
        return la == lb; /* empty vs empty is identical; else nothing aligns */
    double need = min_aln_len(o, la, lb);
    int ov = la < lb ? la : lb;
    return ov + 1e-6 >= o->min_seq_id * (need > 1.0 ? need : 1.0);
}

int cl_may_pass(const cl_opts *o, int la, const int *ca, int lb, const int *cb)
{
    if (!cl_may_pass_len(o, la, lb))
        return 0;
    double need = min_aln_len(o, la, lb);
    int ov = 0;
    for (int a = 0; a < ALN_ALPHABET; a++)
        ov += ca[a] < cb[a] ? ca[a] : cb[a];
    return ov + 1e-6 >= o->min_seq_id * (need > 1.0 ? need : 1.0);
}

void cl_lcs_prepare(const uint8_t *a, int la, uint64_t pm[ALN_ALPHABET])
{
    memset(pm, 0, sizeof(uint64_t) * ALN_ALPHABET);
    for (int i = 0; i < la && i < 64; i++)
        pm[a[i]] |= 1ULL << i;
}

/* popcount without needing the popcnt instruction */
static inline int popcount64(uint64_t v)
{
    v = v - ((v >> 1) & 0x5555555555555555ULL);
    v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (int)((v * 0x0101010101010101ULL) >> 56);
}

int cl_lcs_pm(const uint64_t *pm, int la, const uint8_t *b, int lb)
{
    if (la == 0)
        return 0;
    /* bit-parallel LCS (Allison-Dix / Hyyro): a's positions as bits */
    uint64_t mask = la == 64 ? ~0ULL : (1ULL << la) - 1, v = mask;
    for (int j = 0; j < lb; j++) {
        uint64_t u = v & pm[b[j]];
        v = ((v + u) | (v - u)) & mask;
    }
    return la - popcount64(v);
}

void cl_lcs_pm4(const uint64_t *pm, int la, const uint8_t *const b[4], const int lb[4], int out[4])
{
    if (la == 0) {
        out[0] = out[1] = out[2] = out[3] = 0;
        return;
    }
    /* four independent dependency chains in lockstep over the common
     * length, then each on its own */
    uint64_t mask = la == 64 ? ~0ULL : (1ULL << la) - 1;
    uint64_t v0 = mask, v1 = mask, v2 = mask, v3 = mask;
    int common = lb[0];
    for (int x = 1; x < 4; x++)
        common = lb[x] < common ? lb[x] : common;
    const uint8_t *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
    for (int j = 0; j < common; j++) {
        uint64_t u0 = v0 & pm[b0[j]], u1 = v1 & pm[b1[j]], u2 = v2 & pm[b2[j]], u3 = v3 & pm[b3[j]];
        v0 = ((v0 + u0) | (v0 - u0)) & mask;
        v1 = ((v1 + u1) | (v1 - u1)) & mask;
        v2 = ((v2 + u2) | (v2 - u2)) & mask;
        v3 = ((v3 + u3) | (v3 - u3)) & mask;
    }
    uint64_t v[4] = {v0, v1, v2, v3};
    for (int x = 0; x < 4; x++) {
        for (int j = common; j < lb[x]; j++) {
            uint64_t u = v[x] & pm[b[x][j]];
            v[x] = ((v[x] + u) | (v[x] - u)) & mask;
        }
        out[x] = la - popcount64(v[x]);
    }
}

#define LCS_MAX_WORDS 8

int cl_lcs_bound(const uint8_t *a, int la, const uint8_t *b, int lb)
{
    if (la > lb) {
        const uint8_t *t = a;
        a = b;
        b = t;
        int x = la;
        la = lb;
        lb = x;
    }
    if (la <= 64) {
        uint64_t pm[ALN_ALPHABET];
        cl_lcs_prepare(a, la, pm);
        return cl_lcs_pm(pm, la, b, lb);
    }
    if (la > 64 * LCS_MAX_WORDS)
        return la;
    /* multi-word form: V' = (V + U) | (V - U) with U = V & PM[c] a subset
     * of V, so V - U = V & ~U and only the addition carries across words */
    int nw = (la + 63) / 64;
    uint64_t pm[ALN_ALPHABET][LCS_MAX_WORDS], v[LCS_MAX_WORDS];
    memset(pm, 0, sizeof pm);
    for (int i = 0; i < la; i++)
        pm[a[i]][i / 64] |= 1ULL << (i % 64);
    for (int w = 0; w < nw; w++)
        v[w] = ~0ULL;
    int rem = la % 64;
    uint64_t last = rem ? (1ULL << rem) - 1 : ~0ULL;
    v[nw - 1] = last;
    for (int j = 0; j < lb; j++) {
        const uint64_t *p = pm[b[j]];
        uint64_t carry = 0;
        for (int w = 0; w < nw; w++) {
            uint64_t u = v[w] & p[w];
            uint64_t sum = v[w] + u;
            uint64_t c1 = sum < v[w];
            uint64_t sum2 = sum + carry;
            carry = c1 | (sum2 < sum);
            v[w] = sum2 | (v[w] & ~u);
        }
        v[nw - 1] &= last;
    }
    int ones = 0;
    for (int w = 0; w < nw; w++)
        ones += popcount64(v[w]);
    return la - ones;
}

int cl_min_matches(const cl_opts *o, int la, int lb)
{
    if (la == 0 || lb == 0)
        return la == lb ? 0 : INT_MAX;
    double need = min_aln_len(o, la, lb);
    double x = o->min_seq_id * (need > 1.0 ? need : 1.0) - 1e-6;
    int k = (int)x;
    if (k < x)
        k++;
    if (k < 0)
        k = 0;
    return k > (la < lb ? la : lb) ? INT_MAX : k;
}

int cl_may_pass_matches(const cl_opts *o, int matches, int la, int lb)
{
    if (la == 0 || lb == 0)
        return la == lb;
    double need = min_aln_len(o, la, lb);
    return matches + 1e-6 >= o->min_seq_id * (need > 1.0 ? need : 1.0);
}

int cl_may_pass_lcs(const cl_opts *o, const uint8_t *a, int la, const uint8_t *b, int lb)
{
    return cl_may_pass_matches(o, la && lb ? cl_lcs_bound(a, la, b, lb) : 0, la, lb);
}
