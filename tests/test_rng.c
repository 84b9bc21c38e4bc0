/* The counter-based generator: reproducible, roughly uniform and normal. */
#include "tg.h"
#include "testutil.h"

#include <math.h>

START_TEST(same_seed_same_stream)
{
    tg_rng a, b;
    tg_rng_seed(&a, 42);
    tg_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(tg_rng_next(&a), tg_rng_next(&b));
    tg_rng_seed(&b, 43);
    ck_assert_uint_ne(tg_rng_next(&a), tg_rng_next(&b));
}
END_TEST

START_TEST(moments)
{
    tg_rng r;
    tg_rng_seed(&r, 7);
    double su = 0, sn = 0, sn2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = tg_rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        su += u;
        double z = tg_rng_normal(&r);
        sn += z;
        sn2 += z * z;
    }
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, same_seed_same_stream);
    tcase_add_test(tc, moments);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
