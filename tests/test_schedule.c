/* Learning-rate schedules against values worked out by hand from the HF
 * formulas (transformers/optimization.py) and TrainingArguments warmup. */
#include "schedule.h"
#include "tg.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

START_TEST(linear)
{
    opt_schedule s = opt_schedule_make(OPT_SCHED_LINEAR, 5e-5, 10, 100);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 0), 0.0, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 5), 0.5, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 10), 1.0, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 55), 0.5, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 100), 0.0, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 150), 0.0, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lr(&s, 55), 2.5e-5, 1e-18);
    /* No warmup: the first optimizer step uses the full rate. */
    s = opt_schedule_make(OPT_SCHED_LINEAR, 1e-3, 0, 4);
    ck_assert_double_eq_tol(opt_sched_lr(&s, 0), 1e-3, 1e-18);
    ck_assert_double_eq_tol(opt_sched_lr(&s, 3), 2.5e-4, 1e-18);
}
END_TEST

START_TEST(cosine)
{
    opt_schedule s = opt_schedule_make(OPT_SCHED_COSINE, 1.0, 10, 110);
    ck_assert_double_eq(s.num_cycles, 0.5);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 4), 0.4, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 10), 1.0, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 35), 0.5 * (1 + sqrt(0.5)), 1e-12);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 60), 0.5, 1e-12);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 110), 0.0, 1e-12);
    /* Hard restarts, 2 cycles over 100 steps: back to 1 at the midpoint. */
    s = opt_schedule_make(OPT_SCHED_COSINE_WITH_RESTARTS, 1.0, 0, 100);
    s.num_cycles = 2;
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 25), 0.5, 1e-12);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 50), 1.0, 1e-12);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 100), 0.0, 1e-12);
}
END_TEST

START_TEST(constant_polynomial_inverse_sqrt)
{
    opt_schedule s = opt_schedule_make(OPT_SCHED_CONSTANT, 1.0, 10, 100);
    ck_assert_double_eq(opt_sched_lambda(&s, 0), 1.0); /* warmup ignored */
    s = opt_schedule_make(OPT_SCHED_CONSTANT_WITH_WARMUP, 1.0, 10, 100);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 3), 0.3, 1e-15);
    ck_assert_double_eq(opt_sched_lambda(&s, 50), 1.0);
    ck_assert_double_eq(opt_sched_lambda(&s, 500), 1.0);
    /* polynomial, power 1, lr_end 1e-7: (lr-end)*remaining + end. */
    s = opt_schedule_make(OPT_SCHED_POLYNOMIAL, 1e-3, 0, 100);
    ck_assert_double_eq_tol(opt_sched_lr(&s, 50), (1e-3 - 1e-7) * 0.5 + 1e-7, 1e-15);
    ck_assert_double_eq_tol(opt_sched_lr(&s, 200), 1e-7, 1e-18);
    /* inverse_sqrt with 100 warmup steps: 1/sqrt(step/100) after warmup. */
    s = opt_schedule_make(OPT_SCHED_INVERSE_SQRT, 1.0, 100, 1000);
    ck_assert_double_eq_tol(opt_sched_lambda(&s, 400), 0.5, 1e-12);
}
END_TEST

START_TEST(warmup_steps_and_names)
{
    ck_assert_int_eq(opt_warmup_steps(0, 0.06, 1000), 60);
    ck_assert_int_eq(opt_warmup_steps(0, 0.1, 1001), 101); /* ceil */
    ck_assert_int_eq(opt_warmup_steps(5, 0.5, 1000), 5);  /* steps win */
    ck_assert_int_eq(opt_warmup_steps(0, 0.0, 1000), 0);
    opt_sched_type t;
    ck_assert_int_eq(opt_sched_parse("cosine", &t), TG_OK);
    ck_assert_int_eq(t, OPT_SCHED_COSINE);
    ck_assert_int_eq(opt_sched_parse("constant_with_warmup", &t), TG_OK);
    ck_assert_str_eq(opt_sched_name(t), "constant_with_warmup");
    ck_assert_int_eq(opt_sched_parse("cosin", &t), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "linear, cosine"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("schedule");
    tcase_add_test(tc, linear);
    tcase_add_test(tc, cosine);
    tcase_add_test(tc, constant_polynomial_inverse_sqrt);
    tcase_add_test(tc, warmup_steps_and_names);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
