/* align_simd: internal SIMD kernel behind aln_align_codes (not a public API;
 * the implementation choice is public through aln_impl in align.h). */
#ifndef ABLM_ALIGN_SIMD_H
#define ABLM_ALIGN_SIMD_H

#include "align.h"

/* Returned by aln_simd_align when it does not handle the case (no SIMD on
 * this CPU, gap open < extend or > 8192, scores that may reach 16 bits,
 * empty sequences): the caller runs the scalar aligner. */
#define ALN_SIMD_DECLINED 1

/* Rows of the substitution matrix m (21 x 21, code order). */
const int8_t (*aln_matrix_rows(aln_matrix m))[21];

/* Fills a non-empty result: score, columns, matches, spans [qs, qe] of a
 * query of length n and [ts, te] of a target of length m. */
void aln_set_result(aln_result *out, int score, int cols, int matches, int qs, int qe, int n, int ts,
                    int te, int m);

/* Local alignment of codes q (n) and t (m) under p using impl (ALN_IMPL_SSE2 or ALN_IMPL_AVX2; the caller checks
 * aln_simd_supported). Fills *out exactly as the scalar aligner would (out
 * must be preset to the empty result). Returns TG_OK, TG_ERR_NOMEM or
 * ALN_SIMD_DECLINED. ws (may be NULL) supplies reusable buffers and keeps
 * the query profile for the next call with the same query. */
int aln_simd_align(const aln_params *p, const uint8_t *q, int n, const uint8_t *t, int m,
                   aln_impl impl, aln_ws *ws, aln_result *out);

#endif
