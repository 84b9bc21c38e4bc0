/* Internal helpers shared by the cluster source files (not a public API). */
#ifndef ABLM_CLUSTER_UTIL_H
#define ABLM_CLUSTER_UTIL_H

#include "cluster.h"

#include <stddef.h>
#include <stdint.h>

/* Allocation tracker: current and peak bytes of the allocations made
 * through it (not thread safe; allocate outside parallel regions). */
typedef struct {
    size_t cur, peak;
} cl_trk;
void *cl_talloc(cl_trk *t, size_t bytes, const char *what);
void *cl_tcalloc(cl_trk *t, size_t bytes, const char *what);
void *cl_trealloc(cl_trk *t, void *p, size_t bytes, const char *what);
void cl_tfree(cl_trk *t, void *p);

/* Progress lines of the linclust phases on stderr: "cluster: PHASE:
 * DONE/TOTAL UNIT, RATE/s, P% done, ETA S s", at most one per
 * o->progress_every seconds (0: 2 s); nothing unless o->progress. */
typedef struct {
    const char *phase;
    double t0, last, every;
    int on;
} cl_prog;
void cl_prog_begin(cl_prog *p, const char *phase, const cl_opts *o);
void cl_prog_tick(cl_prog *p, uint64_t done, uint64_t total, const char *unit);

/* Stable LSD radix sort of keys (and payload v if not NULL) on the low
 * `bits` bits. Returns TG_OK or TG_ERR_NOMEM. */
int cl_radix_sort(cl_trk *t, uint64_t *k, uint32_t *v, size_t n, int bits);
/* cl_radix_sort with a progress tick (passes done of bits / 11) after each pass. */
int cl_radix_sort_prog(cl_trk *t, uint64_t *k, uint32_t *v, size_t n, int bits, cl_prog *p);

/* Collapses identical sequences (same residue codes): grp[i] = the id of
 * i's group, groups numbered 0.. in the order of their lowest index;
 * *uniq_out (allocated through t, m entries) lists those lowest indices,
 * *m_out = m. It holds grp, and 24 bytes per sequence of a hash shard (the
 * hashes, the order and the radix sort's copies): one shard of all n
 * unless 24 n exceeds max_bytes (> 0), then shards of whole buckets of the
 * hashes' top bits within max_bytes but of at least n / 16 sequences (each
 * shard is found by hashing every sequence again; a bucket larger than
 * that is a shard alone). The result does not
 * depend on the shards. *shards_out (may be NULL) gets their count.
 * Returns TG_OK or TG_ERR_NOMEM. */
int cl_dedup(cl_trk *t, const cl_src *src, size_t n, size_t max_bytes, uint32_t *grp,
             uint32_t **uniq_out, size_t *m_out, size_t *shards_out);

/* Validates o (message names the field); returns TG_OK or TG_ERR_ARG. */
int cl_check_opts(const cl_opts *o);

/* Residue counts of codes[0..n). */
void cl_composition(const uint8_t *codes, int n, int comp[ALN_ALPHABET]);
/* 0 if no alignment of a (query/rep, length la, composition ca) and b
 * (target/member) can reach the thresholds: identity <= overlap / aln_len
 * and aln_len >= every required aligned span >= c * length. 1 otherwise. */
int cl_may_pass(const cl_opts *o, int la, const int *ca, int lb, const int *cb);
/* Length-only form of cl_may_pass (overlap <= min length). */
int cl_may_pass_len(const cl_opts *o, int la, int lb);

/* Length of a longest common subsequence of code strings a and b (exact
 * when the shorter is <= 512 long, else the shorter length): an upper bound
 * on the matches of any alignment. */
int cl_lcs_bound(const uint8_t *a, int la, const uint8_t *b, int lb);
/* Position masks of codes a[0..min(la, 64)) for cl_lcs_pm. */
void cl_lcs_prepare(const uint8_t *a, int la, uint64_t pm[ALN_ALPHABET]);
/* LCS length of a (prepared by cl_lcs_prepare, la <= 64) and b. */
int cl_lcs_pm(const uint64_t *pm, int la, const uint8_t *b, int lb);
/* cl_lcs_pm of the same a against four strings b[x] (lengths lb[x]) at
 * once (independent chains run in parallel in the CPU). */
void cl_lcs_pm4(const uint64_t *pm, int la, const uint8_t *const b[4], const int lb[4], int out[4]);
/* 0 if an alignment of a (length la, rep) and b (lb, member) with at most
 * `matches` identical columns cannot reach the thresholds, else 1. */
int cl_may_pass_matches(const cl_opts *o, int matches, int la, int lb);
/* Fewest identical columns an alignment of lengths la (rep) and lb
 * (member) needs to reach the thresholds (the integer form of
 * cl_may_pass_matches), or INT_MAX if even min(la, lb) is too few. */
int cl_min_matches(const cl_opts *o, int la, int lb);
/* cl_may_pass with the LCS bound on matches (a = rep, b = member). */
int cl_may_pass_lcs(const cl_opts *o, const uint8_t *a, int la, const uint8_t *b, int lb);

/* Exact identity bound for exhaustive pair searches (cluster_bound.c):
 * ok[x] = 0 only if no alignment of a (la) and b[x] (lb[x]) whose span
 * covers at least qc of a (when qc > 0) and tc of b[x] (when tc > 0) has
 * identical columns >= t * alignment columns (matches / columns, the
 * identity of aln_result), whatever the substitution matrix and gaps; else
 * ok[x] = 1. So ok[x] = 0 proves the pair cannot pass aln_passes(t, c). Runs
 * 8 or 16 targets at once (SSE2/AVX2), scalar beyond 512 residues. Never
 * fails: when it cannot bound (memory, lengths) it leaves ok[x] = 1. */
void cl_bound_identity(const uint8_t *a, int la, const uint8_t *const *b, const int *lb, int nb,
                       double t, double qc, double tc, uint8_t *ok);

/* ---- shared by the linclust paths (cluster.c in memory, cluster_spill.c
 * within a memory budget) ------------------------------------------------ */

/* One clustering run over the unique sequences. */
typedef struct {
    const cl_src *src;
    const uint32_t *uniq; /* local id -> original index, ascending */
    size_t m;             /* unique sequences */
    int maxlen;
    const cl_opts *o;
    int nthreads;
    cl_trk *trk;
    size_t n_aln;
} cl_ctx;

static inline const char *cl_useq(const cl_ctx *c, uint32_t u)
{
    int l;
    return cl_src_seq(c->src, c->uniq[u], &l);
}
static inline int cl_ulen(const cl_ctx *c, uint32_t u)
{
    int l;
    cl_src_seq(c->src, c->uniq[u], &l);
    return l;
}

typedef struct {
    uint64_t h;
    uint32_t kmer;
} hk;

/* 64-bit finaliser (MurmurHash3 fmix64). */
uint64_t cl_mix64(uint64_t x);
/* Positions of o's k-mer (spaced pattern or contiguous k) into pos[];
 * returns its span. */
int cl_kmer_pattern(const cl_opts *o, int pos[64]);
/* Bits of the largest k-mer code 21^k - 1. */
int cl_kmer_bits(int k);
/* Up to kps distinct k-mers of codes[0..L) with the lowest hashes (best:
 * kps scratch entries); returns the count written to out. */
int cl_select_kmers(const uint8_t *codes, int L, const int *pos, int k, int span, int kps,
                    hk *best, uint32_t *out);
/* Aligns unique sequence u to centre cen (centre = query) if the exact
 * bounds allow: bit 0 set if cen may represent u, bit 1 if u may represent
 * cen. qb: 2 * c->maxlen + 1 bytes of scratch; ws: the thread's alignment
 * workspace. Sets *err on an allocation failure. */
uint8_t cl_pair_flags(const cl_ctx *c, uint32_t cen, uint32_t u, uint8_t *qb, aln_ws *ws, int *err);
/* Aligns pairs[0..n) ((centre << 32 | member), grouped by centre) with
 * cl_pair_flags on c->nthreads threads into flag[0..n). tb: c->nthreads
 * scratch buffers of 2 * c->maxlen + 1 bytes. Returns 1 on an allocation
 * failure, else 0. */
int cl_align_pairs(const cl_ctx *c, const uint64_t *pairs, size_t n, uint8_t *flag, uint8_t *tb);


/* Greedy set cover (MMseqs2 clust --cluster-mode 0) of the directed graph
 * in CSR form (outo/outv: whom a node can represent, ino/inv: the reverse,
 * m + 1 offsets each): repu[u] = u's representative. cnt: m scratch, hp:
 * m + 1 scratch. The result depends only on the set of edges. */
void cl_set_cover(size_t m, const uint32_t *outo, const uint32_t *outv, const uint32_t *ino,
                  const uint32_t *inv, uint32_t *cnt, uint64_t *hp, uint32_t *repu);
/* Estimated peak bytes of the in-memory linclust of m unique sequences
 * (before its accepted edges); cl_cluster_budget runs it when that fits. */
size_t cl_linclust_bytes(size_t m, int kps);
/* linclust within budget b (cluster_spill.c) of c's unique sequences: the
 * same repu[] as the in-memory linclust for any budget; fills the spill
 * fields of *s (whose dedup_peak, the collapse's, enters its floor). */
int cl_linclust_spill(cl_ctx *c, uint32_t *repu, const cl_budget *b, cl_stats *s);

#endif
