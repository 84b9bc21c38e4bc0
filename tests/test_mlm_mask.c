/* MLM masking statistics and exactness, padding, samplers. */
#include "mlm_mask.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

enum { V = 30, B = 64, T = 512 };

/* A batch of rows [CLS] aa... [SEP] [PAD]...; some [UNK] inside. */
static void fill(int32_t *ids)
{
    for (int b = 0; b < B; b++) {
        int len = T - 1 - (b * 7) % 200;
        for (int t = 0; t < T; t++) {
            int32_t v;
            if (t == 0)
                v = 2;
            else if (t == len - 1)
                v = 3;
            else if (t >= len)
                v = 0;
            else
                v = 5 + (b * 31 + t * 7) % (V - 5);
            if (t > 0 && t < len - 1 && t % 97 == 0)
                v = 1; /* [UNK] */
            ids[b * T + t] = v;
        }
    }
}

START_TEST(statistics_and_specials)
{
    static int32_t orig[B * T], ids[B * T], labels[B * T];
    fill(orig);
    mlm_mask_cfg c = mlm_mask_defaults(V);
    tg_rng r;
    tg_rng_seed(&r, 42);
    long eligible = 0, sel = 0, masked = 0, random_changed = 0, kept = 0;
    for (int rep = 0; rep < 8; rep++) {
        memcpy(ids, orig, sizeof ids);
        long n = mlm_mask_batch(&c, ids, labels, NULL, B, T, &r);
        ck_assert_int_ge(n, 0);
        long counted = 0;
        for (int i = 0; i < B * T; i++) {
            int special = orig[i] <= 4;
            eligible += !special;
            if (labels[i] == MLM_IGNORE) {
                ck_assert_int_eq(ids[i], orig[i]); /* unselected never change */
                continue;
            }
            ck_assert_msg(!special, "special id %d selected at %d", orig[i], i);
            ck_assert_int_eq(labels[i], orig[i]);
            counted++;
            if (ids[i] == 4)
                masked++;
            else if (ids[i] != orig[i])
                random_changed++;
            else
                kept++;
            ck_assert(ids[i] >= 0 && ids[i] < V);
        }
        ck_assert_int_eq(counted, n);
        sel += n;
    }
    double rate = (double)sel / eligible;
    ck_assert_double_eq_tol(rate, 0.15, 0.005);
    /* A random draw can hit the original id (1/V) or [MASK] (1/V):
     * expected unchanged = 0.1 + 0.1/V, changed-random = 0.1*(V-2)/V,
     * [MASK] = 0.8 + 0.1/V. */
    ck_assert_double_eq_tol((double)masked / sel, 0.8 + 0.1 / V, 0.01);
    ck_assert_double_eq_tol((double)random_changed / sel, 0.1 * (V - 2) / V, 0.01);
    ck_assert_double_eq_tol((double)kept / sel, 0.1 + 0.1 / V, 0.01);
}
END_TEST

START_TEST(deterministic_and_redrawn)
{
    static int32_t a[B * T], b[B * T], la[B * T], lb[B * T];
    mlm_mask_cfg c = mlm_mask_defaults(V);
    tg_rng r1, r2;
    tg_rng_seed(&r1, 7);
    tg_rng_seed(&r2, 7);
    fill(a);
    fill(b);
    tg_set_threads(1);
    mlm_mask_batch(&c, a, la, NULL, B, T, &r1);
    tg_set_threads(4);
    mlm_mask_batch(&c, b, lb, NULL, B, T, &r2);
    tg_set_threads(0);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert_mem_eq(la, lb, sizeof la);
    /* The next batch (and another seed) draws a different mask. */
    fill(b);
    mlm_mask_batch(&c, b, lb, NULL, B, T, &r2);
    ck_assert(memcmp(la, lb, sizeof la) != 0);
    tg_rng_seed(&r2, 8);
    fill(b);
    mlm_mask_batch(&c, b, lb, NULL, B, T, &r2);
    ck_assert(memcmp(la, lb, sizeof la) != 0);
}
END_TEST

START_TEST(special_tokens_mask_and_errors)
{
    /* With an explicit special_tokens_mask, [UNK] (id 1) is maskable when
     * the mask says so, and masked-out positions never are. */
    int32_t ids[400], labels[400];
    uint8_t sp[400];
    for (int i = 0; i < 400; i++) {
        ids[i] = 1;
        sp[i] = i % 2;
    }
    mlm_mask_cfg c = mlm_mask_defaults(V);
    c.mlm_probability = 1.0;
    tg_rng r;
    tg_rng_seed(&r, 1);
    long n = mlm_mask_batch(&c, ids, labels, sp, 4, 100, &r);
    ck_assert_int_eq(n, 200);
    for (int i = 0; i < 400; i++)
        ck_assert_int_eq(labels[i], i % 2 ? MLM_IGNORE : 1);
    c.mask_replace_prob = 0.95;
    ck_assert_int_eq(mlm_mask_batch(&c, ids, labels, sp, 4, 100, &r), TG_ERR_ARG);
    c = mlm_mask_defaults(3);
    ck_assert_int_eq(mlm_mask_batch(&c, ids, labels, sp, 4, 100, &r), TG_ERR_ARG);
}
END_TEST

START_TEST(padding)
{
    int32_t s0[] = {2, 10, 11, 3}, s1[] = {2, 10, 11, 12, 13, 14, 3}, s2[] = {2, 3};
    const int32_t *seqs[3] = {s0, s1, s2};
    int lens[3] = {4, 7, 2};
    mlm_batch b = {0};
    ck_assert_int_eq(mlm_pad_batch(seqs, lens, 3, 5, 1, 0, 0, &b), TG_OK);
    ck_assert_int_eq(b.T, 5);
    ck_assert_int_eq(b.truncated, 1);
    int32_t want[15] = {2, 10, 11, 3, 0, 2, 10, 11, 12, 3, 2, 3, 0, 0, 0};
    int32_t am[15] = {1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    ck_assert_mem_eq(b.ids, want, sizeof want);
    ck_assert_mem_eq(b.attention_mask, am, sizeof am);
    /* a smaller batch reuses the buffers and is filled afresh */
    int32_t *buf = b.ids;
    ck_assert_int_eq(mlm_pad_batch(seqs + 2, lens + 2, 1, 5, 1, 0, 0, &b), TG_OK);
    ck_assert_ptr_eq(b.ids, buf);
    ck_assert_int_eq(b.B, 1);
    ck_assert_int_eq(b.T, 2);
    ck_assert_int_eq(b.truncated, 0);
    ck_assert_int_eq(b.ids[0], 2);
    ck_assert_int_eq(b.ids[1], 3);
    ck_assert_int_eq(b.attention_mask[1], 1);
    mlm_batch_free(&b);
    /* No limit, padded to a multiple of 8, pad id 1. */
    ck_assert_int_eq(mlm_pad_batch(seqs, lens, 3, 0, 0, 8, 1, &b), TG_OK);
    ck_assert_int_eq(b.T, 8);
    ck_assert_int_eq(b.truncated, 0);
    ck_assert_int_eq(b.ids[7], 1);
    ck_assert_int_eq(b.ids[8 + 6], 3);
    mlm_batch_free(&b);
    tg_alloc_fail_after(1);
    ck_assert_int_eq(mlm_pad_batch(seqs, lens, 3, 0, 0, 0, 0, &b), TG_ERR_NOMEM);
    tg_alloc_fail_after(0);
    ck_assert_int_eq(mlm_pad_batch(seqs, lens, 0, 0, 0, 0, 0, &b), TG_ERR_ARG);
}
END_TEST

static int is_perm(const long *o, long n)
{
    char *seen = calloc(n, 1);
    int ok = 1;
    for (long i = 0; i < n && ok; i++) {
        ok = o[i] >= 0 && o[i] < n && !seen[o[i]];
        if (ok)
            seen[o[i]] = 1;
    }
    free(seen);
    return ok;
}

START_TEST(samplers)
{
    enum { N = 1000, BS = 8 };
    static long a[N], b[N];
    static int len[N];
    ck_assert_int_eq(mlm_shuffle_order(42, 0, N, a), TG_OK);
    ck_assert_int_eq(mlm_shuffle_order(42, 0, N, b), TG_OK);
    ck_assert(is_perm(a, N));
    ck_assert_mem_eq(a, b, sizeof a);
    mlm_shuffle_order(42, 1, N, b); /* next epoch: new order */
    ck_assert(memcmp(a, b, sizeof a) != 0);

    for (int i = 0; i < N; i++)
        len[i] = 10 + (i * 37) % 113;
    len[777] = 500;
    ck_assert_int_eq(mlm_length_grouped_order(42, 0, len, N, BS, a), TG_OK);
    ck_assert(is_perm(a, N));
    ck_assert_int_eq(a[0], 777); /* longest first */
    /* mult = min(1000 / 32, 50) = 31: megabatches of 248, each sorted
     * descending (except the swapped head). */
    long mb = 31 * BS;
    for (long s = 0; s < N; s += mb)
        for (long i = s + 2; i < s + mb && i < N; i++)
            ck_assert_int_ge(len[a[i - 1]], len[a[i]]);
    mlm_length_grouped_order(42, 0, len, N, BS, b);
    ck_assert_mem_eq(a, b, sizeof a);
    mlm_length_grouped_order(43, 0, len, N, BS, b);
    ck_assert(memcmp(a, b, sizeof a) != 0);
}
END_TEST

/* Masks as the trainer draws them (one rng per micro-batch, seeded with
 * seed * 0x9e3779b97f4a7c15 + micro-batch, one key per batch): a position
 * selected in one batch is selected in the next (or under another seed)
 * with probability p^2 only; every sequence position (column) has the same
 * rate, within the binomial spread; random replacements are uniform over
 * the whole vocabulary. */
START_TEST(independent_across_batches_seeds_positions)
{
    enum { NB = 64, BB = 32, TT = 128 };
    static int32_t ids[BB * TT], labels[2][NB][BB * TT];
    static long col[TT], hist[V];
    mlm_mask_cfg c = mlm_mask_defaults(V);
    const uint64_t seeds[2] = {7, 42};
    for (int si = 0; si < 2; si++)
        for (int mb = 0; mb < NB; mb++) {
            tg_rng r;
            tg_rng_seed(&r, seeds[si] * 0x9e3779b97f4a7c15ULL + (uint64_t)mb);
            for (int i = 0; i < BB * TT; i++)
                ids[i] = 5 + i % (V - 5); /* no specials: every position eligible */
            ck_assert_int_ge(mlm_mask_batch(&c, ids, labels[si][mb], NULL, BB, TT, &r), 0);
            for (int i = 0; i < BB * TT; i++)
                if (labels[si][mb][i] != MLM_IGNORE && ids[i] != 4 && ids[i] != labels[si][mb][i])
                    hist[ids[i]]++;
        }
    double sel = 0, next = 0, other_seed = 0, cells = (double)NB * BB * TT;
    for (int mb = 0; mb < NB; mb++)
        for (int i = 0; i < BB * TT; i++) {
            int a = labels[0][mb][i] != MLM_IGNORE;
            sel += a;
            col[i % TT] += a;
            next += a && mb + 1 < NB && labels[0][mb + 1][i] != MLM_IGNORE;
            other_seed += a && labels[1][mb][i] != MLM_IGNORE;
        }
    /* 262144 cells: a rate's s.e. is 7e-4, a pair's (p^2 = 0.0225) 3e-4 */
    ck_assert_double_eq_tol(sel / cells, 0.15, 0.003);
    ck_assert_double_eq_tol(next / (cells - BB * TT), 0.0225, 0.0015);
    ck_assert_double_eq_tol(other_seed / cells, 0.0225, 0.0015);
    /* per column: NB * BB = 2048 draws each, s.e. 0.0079 */
    double chi2 = 0, n_col = (double)NB * BB;
    for (int t = 0; t < TT; t++) {
        double e = n_col * 0.15;
        chi2 += (col[t] - e) * (col[t] - e) / (e * 0.85);
    }
    /* chi-square with 128 degrees of freedom: mean 128, sd 16 */
    ck_assert_msg(chi2 < 128 + 6 * 16, "selection rate varies by position: chi2 %.1f", chi2);
    long total = 0;
    for (int v = 0; v < V; v++)
        total += hist[v];
    ck_assert_int_gt(total, 2000);
    for (int v = 0; v < V; v++) /* changed ids: ~1/V each ([MASK] drawn looks masked) */
        ck_assert_msg(v == 4 || (hist[v] > 0.5 * total / V && hist[v] < 1.6 * total / V),
                      "random id %d drawn %ld times of %ld", v, hist[v], total);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mlm_mask");
    TCase *tc = tcase_create("mlm_mask");
    tcase_add_test(tc, statistics_and_specials);
    tcase_add_test(tc, deterministic_and_redrawn);
    tcase_add_test(tc, special_tokens_mask_and_errors);
    tcase_add_test(tc, padding);
    tcase_add_test(tc, samplers);
    tcase_add_test(tc, independent_across_batches_seeds_positions);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
