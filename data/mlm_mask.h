/* Masked-language-model batches as Hugging Face run_mlm.py builds them:
 * DataCollatorForLanguageModeling(mlm=True) masking, dynamic padding, and
 * the Trainer's samplers (seeded shuffle, LengthGroupedSampler for
 * --group_by_length). All deterministic for a given seed.
 */
#ifndef MLM_MASK_H
#define MLM_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "tg.h"

#define MLM_IGNORE (-100) /* label of positions not predicted */

typedef struct {
    double mlm_probability;     /* 0.15 */
    double mask_replace_prob;   /* 0.8: selected -> [MASK] */
    double random_replace_prob; /* 0.1: selected -> uniform random id */
    int32_t mask_id;            /* [MASK] */
    int32_t vocab_size;         /* len(tokenizer): random ids in [0, vocab_size) */
    /* tokenizer.all_special_ids: never selected (includes PAD and UNK). */
    int32_t special_ids[16];
    int n_special;
} mlm_mask_cfg;

/* HF defaults with our BERT-style ids: PAD 0, UNK 1, CLS 2, SEP 3, MASK 4,
 * all five special (a BERT tokenizer's all_special_ids includes [UNK]). */
mlm_mask_cfg mlm_mask_defaults(int32_t vocab_size);

/* Masks a [B, T] batch in place (DataCollatorForLanguageModeling.
 * torch_mask_tokens): each position that is not special is selected with
 * probability mlm_probability; labels = original id where selected, else
 * MLM_IGNORE. Of the selected, mask_replace_prob become mask_id, and of the
 * rest random_replace_prob / (1 - mask_replace_prob) become a random id
 * drawn uniformly from [0, vocab_size) (may be a special id, as in HF); the
 * others stay unchanged. `special` (optional, [B, T], nonzero = special)
 * plays the role of the batch's special_tokens_mask; without it a position
 * is special when its id is in cfg->special_ids. Draws one 64-bit key from
 * rng per call, then hashes (key, position): the result depends only on
 * the rng state, not on the thread count. Returns the number of selected
 * positions (>= 0) or TG_ERR_ARG. */
long mlm_mask_batch(const mlm_mask_cfg *cfg, int32_t *ids, int32_t *labels,
                    const uint8_t *special, int B, int T, tg_rng *rng);

/* A padded batch: ids and attention_mask are [B, T] row-major. */
typedef struct {
    int32_t *ids;
    int32_t *attention_mask; /* 1 = token, 0 = padding */
    int B, T;
    int truncated;           /* sequences that were cut to max_seq_length */
    size_t cap;              /* elements the buffers hold (reused by the next call) */
} mlm_batch;

/* Pads B sequences (seqs[i] has lens[i] ids) to the longest in the batch
 * (rounded up to a multiple of pad_to_multiple_of when > 0), after cutting
 * any longer than max_seq_length (> 0; <= 0 means no limit). keep_last != 0
 * keeps a cut sequence's last id (its [SEP]) in the last kept slot, as the
 * tokenizer's truncation does when it adds special tokens. Fills `out`,
 * which must be zeroed before its first use; later calls reuse its buffers
 * (they grow only when a batch is larger), so a training loop allocates
 * nothing per step. Free with mlm_batch_free. Returns a status. */
int mlm_pad_batch(const int32_t *const *seqs, const int *lens, int B, int max_seq_length,
                  int keep_last, int pad_to_multiple_of, int32_t pad_id, mlm_batch *out);
void mlm_batch_free(mlm_batch *b);

/* Data order for one epoch: a permutation of [0, n) that depends only on
 * (seed, epoch), so resuming at (epoch, batches done) reproduces the exact
 * order (the Trainer's seeded RandomSampler, re-shuffled each epoch). */
int mlm_shuffle_order(uint64_t seed, long epoch, long n, long *order);

/* LengthGroupedSampler / get_length_grouped_indices for --group_by_length:
 * a random permutation (from seed, epoch) cut into megabatches of
 * mega_batch_mult * batch_size, where mega_batch_mult = min(n /
 * (4 * batch_size), 50) (at least 1); each megabatch sorted by decreasing
 * length (stable), and the longest sequence overall swapped to the very
 * first position. Writes n indices to order. Returns a status. */
int mlm_length_grouped_order(uint64_t seed, long epoch, const int *lengths, long n,
                             int batch_size, long *order);

/* Where a run stands in its data: enough to rebuild the order and skip the
 * batches already consumed on resume. */
typedef struct {
    uint64_t seed;   /* data_seed (or seed) */
    long epoch;      /* current epoch (0-based) */
    long batch;      /* batches of this epoch already consumed */
} mlm_data_pos;

#endif
