/* align: pairwise protein alignment with MMseqs2's definitions.
 *
 * Local (Smith-Waterman) alignment with affine gaps. A gap of length L costs
 * gap_open + (L-1)*gap_extend (the SSW/MMseqs2 convention: opening a gap
 * costs gap_open, each further position gap_extend). Residues are the 20
 * standard amino acids (either case); every other byte is scored as X.
 *
 * Definitions (MMseqs2 --seq-id-mode 0, --cov-mode):
 *   aln_len  = alignment columns including gaps
 *   identity = matches / aln_len (matches = aligned pairs with equal codes)
 *   qcov     = (query end - query start + 1) / query length; tcov likewise.
 * Identical sequences (same codes, including two empty ones) always get the
 * full-length alignment: identity 1, qcov = tcov = 1 (MMseqs2 scores the
 * identity case the same way), so identical sequences always pass any
 * threshold. An empty local alignment has identity 0 and coverage 0.
 *
 * Tie-breaking (so the result is a function of the inputs alone): the end
 * cell is the first maximum of H in query-major order; traceback prefers
 * diagonal over a gap in the query (E) over a gap in the target (F), and a
 * gap open over a gap extension. */
#ifndef ABLM_ALIGN_H
#define ABLM_ALIGN_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ALN_VTML40, ALN_BLOSUM62 } aln_matrix;

typedef struct {
    aln_matrix matrix; /* default ALN_VTML40 */
    int gap_open;      /* default 16 (with VTML40); 11 with BLOSUM62 */
    int gap_extend;    /* default 2 (with VTML40); 1 with BLOSUM62 */
} aln_params;

/* Sets VTML40 with gap open 16, extend 2 (the reference pipeline). */
void aln_params_default(aln_params *p);

typedef struct {
    int score;
    int aln_len;       /* alignment columns incl. gaps */
    int matches;       /* identical aligned residues */
    double identity;   /* matches / aln_len (MMseqs2 --seq-id-mode 0) */
    double qcov, tcov; /* aligned span / length for query, target */
    int qstart, qend;  /* 0-based inclusive span on the query (-1 if empty) */
    int tstart, tend;  /* same on the target */
} aln_result;

#define ALN_ALPHABET 21 /* ACDEFGHIKLMNPQRSTVWY then X */

/* Code 0..20 of each byte (the table behind aln_code, for tight loops). */
extern const uint8_t aln_codes[256];
/* Code 0..20 of a residue byte (case-insensitive; non-standard bytes -> 20). */
uint8_t aln_code(unsigned char c);
/* Encodes n bytes of s into codes (out must hold n bytes). */
void aln_encode(const char *s, int n, uint8_t *out);
/* Score of codes a, b (0..20) under matrix m. */
int aln_score(aln_matrix m, int a, int b);
/* Letter of code c ("ACDEFGHIKLMNPQRSTVWYX"[c]). */
char aln_letter(int c);

/* Implementations of the same alignment (identical results): a scalar
 * Gotoh with direction bytes, and a striped 16-bit SIMD fill (SSE2 or AVX2,
 * chosen at run time) that stores H and traces back from it. AUTO picks the
 * SIMD one the CPU has (AVX2 for queries of 64+ residues, else SSE2) and
 * falls back to the scalar one where 16 bits could overflow (scores near
 * 32767, i.e. sequences of thousands of residues) or gap open < extend. */
typedef enum { ALN_IMPL_AUTO, ALN_IMPL_SCALAR, ALN_IMPL_SSE2, ALN_IMPL_AVX2 } aln_impl;

/* 1 if impl can run on this CPU (AUTO and SCALAR always). */
int aln_simd_supported(aln_impl impl);

/* Largest alignment matrix (query length x target length, in cells) aligned:
 * its memory grows with the product (2 bytes a cell in the SIMD aligners,
 * 1 in the scalar one), so 2^27 cells is at most 256 MB, e.g. two chains of
 * 11,585 residues. Identical sequences need no matrix and are not limited. */
#define ALN_MAX_CELLS (1ull << 27)

/* Local (Smith-Waterman, affine gaps) alignment of q and t (amino acid
 * letters; others scored as X). Returns TG_OK, TG_ERR_ARG (NULL/negative
 * arguments, bad params, or a matrix over ALN_MAX_CELLS) or TG_ERR_NOMEM.
 * Thread safe. */
int aln_align(const aln_params *p, const char *q, int qlen, const char *t, int tlen,
              aln_result *out);
/* aln_align on sequences already encoded with aln_encode. */
int aln_align_codes(const aln_params *p, const uint8_t *q, int qlen, const uint8_t *t,
                    int tlen, aln_result *out);
/* aln_align_codes with a given implementation (for tests and benchmarks);
 * an implementation the CPU lacks (aln_simd_supported) gives TG_ERR_ARG. */
int aln_align_codes_impl(const aln_params *p, const uint8_t *q, int qlen, const uint8_t *t,
                         int tlen, aln_impl impl, aln_result *out);

/* Reusable buffers of one thread's alignments; zero-initialise
 * (aln_ws ws = {0}) and release with aln_ws_free. Consecutive alignments
 * with the same query (and matrix) reuse its profile. */
typedef struct {
    void *prof_mem, *work_mem;
    int16_t *prof, *work;
    size_t prof_cap, work_cap; /* int16 entries */
    uint8_t *q;                /* query of the stored profile */
    size_t qcap;
    int qn, matrix, impl, valid;
} aln_ws;
void aln_ws_free(aln_ws *ws);
/* aln_align_codes using workspace ws (not shared between threads). Same
 * results. */
int aln_align_codes_ws(const aln_params *p, const uint8_t *q, int qlen, const uint8_t *t, int tlen,
                       aln_ws *ws, aln_result *out);

/* 1 if r reaches min_seq_id and coverage c under cov_mode (0: both
 * sequences, 1: target, 2: query) — MMseqs2's -c/--cov-mode semantics.
 * Comparisons allow 1e-9 for floating-point rounding. */
int aln_passes(const aln_result *r, double min_seq_id, double c, int cov_mode);

/* The same result seen with query and target swapped (the alignment is
 * symmetric; only the coverages and spans swap). */
void aln_swap(aln_result *r);

#endif
