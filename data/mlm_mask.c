/* MLM masking, dynamic padding and samplers (HF run_mlm.py semantics). */
#include "mlm_mask.h"

#include <stdlib.h>
#include <string.h>

mlm_mask_cfg mlm_mask_defaults(int32_t vocab_size)
{
    mlm_mask_cfg c = {.mlm_probability = 0.15,
                      .mask_replace_prob = 0.8,
                      .random_replace_prob = 0.1,
                      .mask_id = 4,
                      .vocab_size = vocab_size,
                      .special_ids = {0, 1, 2, 3, 4},
                      .n_special = 5};
    return c;
}

static int prob_ok(double p) { return p >= 0.0 && p <= 1.0; }

long mlm_mask_batch(const mlm_mask_cfg *c, int32_t *ids, int32_t *labels, const uint8_t *special,
                    int B, int T, tg_rng *rng)
{
    if (!c || !ids || !labels || !rng || B < 0 || T < 0)
        return tg_error(TG_ERR_ARG, "mlm mask: NULL buffer or negative batch shape");
    if (!prob_ok(c->mlm_probability) || !prob_ok(c->mask_replace_prob) ||
        !prob_ok(c->random_replace_prob) || c->mask_replace_prob + c->random_replace_prob > 1.0)
        return tg_error(TG_ERR_ARG,
                        "mlm mask: probabilities must lie in [0, 1] and mask_replace_prob + "
                        "random_replace_prob <= 1 (got %g, %g, %g)",
                        c->mlm_probability, c->mask_replace_prob, c->random_replace_prob);
    if (c->vocab_size <= 0 || c->mask_id < 0 || c->mask_id >= c->vocab_size ||
        c->n_special < 0 || c->n_special > 16)
        return tg_error(TG_ERR_ARG, "mlm mask: mask_id %d outside vocabulary of %d", c->mask_id,
                        c->vocab_size);
    const uint64_t key = tg_rng_next(rng);
    const double p_sel = c->mlm_probability, p_mask = c->mask_replace_prob;
    /* HF: random among the not-[MASK]ed selected ones with this probability. */
    const double p_rand = p_mask >= 1.0 ? 0.0 : c->random_replace_prob / (1.0 - p_mask);
    const long n = (long)B * T;
    long count = 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (n > 65536)
    for (long i = 0; i < n; i++) {
        int32_t id = ids[i];
        int is_special = 0;
        if (special)
            is_special = special[i] != 0;
        else
            for (int k = 0; k < c->n_special; k++)
                is_special |= id == c->special_ids[k];
        uint64_t base = (uint64_t)i * 4;
        if (is_special || !(tg_hash_uniform(key, base) < p_sel)) {
            labels[i] = MLM_IGNORE;
            continue;
        }
        count++;
        labels[i] = id;
        if (tg_hash_uniform(key, base + 1) < p_mask)
            ids[i] = c->mask_id;
        else if (tg_hash_uniform(key, base + 2) < p_rand) {
            long r = (long)(tg_hash_uniform(key, base + 3) * c->vocab_size);
            ids[i] = (int32_t)(r < c->vocab_size ? r : c->vocab_size - 1);
        }
    }
    return count;
}

int mlm_pad_batch(const int32_t *const *seqs, const int *lens, int B, int max_seq_length,
                  int keep_last, int pad_to_multiple_of, int32_t pad_id, mlm_batch *out)
{
    out->B = out->T = out->truncated = 0;
    if (B <= 0 || !seqs || !lens)
        return tg_error(TG_ERR_ARG, "pad batch: empty batch");
    int T = 0;
    for (int b = 0; b < B; b++) {
        if (lens[b] < 0 || (lens[b] > 0 && !seqs[b]))
            return tg_error(TG_ERR_ARG, "pad batch: sequence %d has no data (length %d)", b,
                            lens[b]);
        int L = max_seq_length > 0 && lens[b] > max_seq_length ? max_seq_length : lens[b];
        T = L > T ? L : T;
    }
    if (pad_to_multiple_of > 0 && T % pad_to_multiple_of)
        T += pad_to_multiple_of - T % pad_to_multiple_of;
    if (T == 0)
        T = 1; /* keep a non-empty tensor: all padding */
    size_t n = (size_t)B * T;
    if (n > out->cap) {
        mlm_batch_free(out);
        out->ids = tg_malloc(n * sizeof(int32_t), "padded input_ids");
        out->attention_mask = tg_malloc(n * sizeof(int32_t), "attention_mask");
        if (!out->ids || !out->attention_mask) {
            mlm_batch_free(out);
            return TG_ERR_NOMEM;
        }
        out->cap = n;
    }
    memset(out->attention_mask, 0, n * sizeof(int32_t));
    out->B = B;
    out->T = T;
    for (int b = 0; b < B; b++) {
        int32_t *row = out->ids + (size_t)b * T, *am = out->attention_mask + (size_t)b * T;
        int L = lens[b];
        if (max_seq_length > 0 && L > max_seq_length) {
            L = max_seq_length;
            out->truncated++;
            memcpy(row, seqs[b], (size_t)L * sizeof(int32_t));
            if (keep_last)
                row[L - 1] = seqs[b][lens[b] - 1];
        } else if (L > 0)
            memcpy(row, seqs[b], (size_t)L * sizeof(int32_t));
        for (int t = 0; t < L; t++)
            am[t] = 1;
        for (int t = L; t < T; t++)
            row[t] = pad_id;
    }
    return TG_OK;
}

void mlm_batch_free(mlm_batch *b)
{
    tg_free(b->ids);
    tg_free(b->attention_mask);
    memset(b, 0, sizeof *b);
}

static void epoch_rng(tg_rng *r, uint64_t seed, long epoch)
{
    tg_rng_seed(r, seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(epoch + 1)));
}

/* Uniform integer in [0, n) by 128-bit multiply (Lemire, without rejection:
 * bias < n / 2^64). */
static long below(tg_rng *r, long n)
{
    return (long)(((unsigned __int128)tg_rng_next(r) * (uint64_t)n) >> 64);
}

static void permute(tg_rng *r, long n, long *order)
{
    for (long i = 0; i < n; i++)
        order[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = below(r, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

int mlm_shuffle_order(uint64_t seed, long epoch, long n, long *order)
{
    if (n < 0 || (n > 0 && !order))
        return tg_error(TG_ERR_ARG, "shuffle: bad size %ld", n);
    tg_rng r;
    epoch_rng(&r, seed, epoch);
    permute(&r, n, order);
    return TG_OK;
}

typedef struct {
    int len;
    long pos, idx;
} len_item;

static int by_len_desc(const void *a, const void *b)
{
    const len_item *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos; /* stable */
}

int mlm_length_grouped_order(uint64_t seed, long epoch, const int *lengths, long n,
                             int batch_size, long *order)
{
    if (n < 0 || batch_size <= 0 || (n > 0 && (!order || !lengths)))
        return tg_error(TG_ERR_ARG, "length-grouped sampler: bad size %ld or batch size %d", n,
                        batch_size);
    if (n == 0)
        return TG_OK;
    long mult = n / (4L * batch_size);
    mult = mult > 50 ? 50 : mult < 1 ? 1 : mult;
    long mb = mult * batch_size;
    len_item *items = tg_malloc((size_t)(mb < n ? mb : n) * sizeof *items, "megabatch");
    if (!items)
        return TG_ERR_NOMEM;
    tg_rng r;
    epoch_rng(&r, seed, epoch);
    permute(&r, n, order);
    long best_start = 0;
    int best_len = -1;
    for (long s = 0; s < n; s += mb) {
        long e = s + mb < n ? s + mb : n;
        for (long i = s; i < e; i++)
            items[i - s] = (len_item){lengths[order[i]], i - s, order[i]};
        qsort(items, (size_t)(e - s), sizeof *items, by_len_desc);
        for (long i = s; i < e; i++)
            order[i] = items[i - s].idx;
        if (items[0].len > best_len) { /* first maximum, as torch.argmax */
            best_len = items[0].len;
            best_start = s;
        }
    }
    long t = order[0];
    order[0] = order[best_start];
    order[best_start] = t;
    tg_free(items);
    return TG_OK;
}
