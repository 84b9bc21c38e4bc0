/* An encoder-decoder (models/encdec) as a gen_model (generate.h): begin
 * runs the encoder once on the chunk's sources and caches every decoder
 * layer's cross-attention k | v; step feeds one decoder token per row
 * through the self-attention KV cache; reorder moves rows' caches (self-
 * and cross-attention) for beam search. */
#ifndef GEN_ENCDEC_H
#define GEN_ENCDEC_H

#include "encdec.h"
#include "generate.h"

/* The adapter for sources src[0..n) (token ids [CLS] heavy [SEP], lengths
 * src_len[i] in 1..ed_max_source), rows per step and max_len decoder
 * positions (1..n_positions). m and the sources must outlive gm. */
int gen_encdec_new(const ed_model *m, const int32_t *const *src, const int *src_len, size_t n,
                   int rows, int max_len, gen_model *out);
void gen_encdec_free(gen_model *gm);

/* gen_run over encoder-decoder m for n sources: each decoder prefix is
 * [decoder_start_token_id]; gen_rows(o, n, batch) rows and
 * min(gen_positions, n_positions) positions. */
int gen_run_encdec(const ed_model *m, const gen_opts *o, size_t n, const int32_t *const *src,
                   const int *src_len, int batch, gen_result *r);

#endif
