/* check_layer_iter.c - explicit close of layer iterators is checked;
 * GDAL errors raised while reading are recorded. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <cpl_error.h>

#include "core/account.h"
#include "core/arena.h"
#include "vector/source.h"

static struct stage_acct stage;
static struct arena *a;

static void setup(void)
{
	stage_acct_init(&stage, "read", NULL);
	a = arena_create(&stage.mem, 0);
	ck_assert_ptr_nonnull(a);
}

static void teardown(void)
{
	arena_destroy(a);
}

START_TEST(open_counts_a_live_iterator)
{
	struct layer_iter *it = layer_iter_open(a, &stage, "in.gpkg:roads");

	ck_assert_ptr_nonnull(it);
	ck_assert_int_eq(stage.live[HANDLE_LAYER_ITER].cur, 1);
	ck_assert(!it->closed);
	layer_iter_close(it);
}
END_TEST

START_TEST(close_then_reset_is_clean)
{
	uint64_t before = layer_iter_unclosed();
	struct layer_iter *it = layer_iter_open(a, &stage, "in.gpkg:roads");

	layer_iter_close(it);
	ck_assert_int_eq(stage.live[HANDLE_LAYER_ITER].cur, 0);
	ck_assert_int_eq(stage.live[HANDLE_LAYER_ITER].peak, 1);
	arena_reset(a);
	ck_assert_uint_eq(layer_iter_unclosed(), before);
	ck_assert_int_eq(stage_acct_first_leak(&stage), -1);
}
END_TEST

START_TEST(reset_without_close_is_caught)
{
	uint64_t before = layer_iter_unclosed();

	ck_assert_ptr_nonnull(layer_iter_open(a, &stage, "in.gpkg:roads"));
	ck_assert_ptr_nonnull(layer_iter_open(a, &stage, "in.gpkg:rivers"));
	/* The owner drops the arena under two open iterators: both are
	 * counted as bugs (and the handles still go back). */
	arena_reset(a);
	ck_assert_uint_eq(layer_iter_unclosed(), before + 2);
	ck_assert_int_eq(stage.live[HANDLE_LAYER_ITER].cur, 0);
}
END_TEST

START_TEST(destroy_without_close_is_caught)
{
	uint64_t before = layer_iter_unclosed();
	struct stage_acct other;
	struct arena *b;

	stage_acct_init(&other, "read#2", NULL);
	b = arena_create(&other.mem, 0);
	ck_assert_ptr_nonnull(layer_iter_open(b, &other, "x.shp:x"));
	arena_destroy(b);
	ck_assert_uint_eq(layer_iter_unclosed(), before + 1);
}
END_TEST

static struct gdal_errs errs, inner;

static void errs_setup(void)
{
	errs = (struct gdal_errs){.quiet = true};
	inner = (struct gdal_errs){.quiet = true};
}

START_TEST(failures_are_counted_and_kept_in_order)
{
	gdal_errs_push(&errs);
	CPLError(CE_Failure, CPLE_AppDefined, "first %d", 1);
	CPLError(CE_Warning, CPLE_AppDefined, "a warning is not a failure");
	CPLDebug("TEST", "nor is a debug message");
	CPLError(CE_Failure, CPLE_FileIO, "second");
	gdal_errs_pop();
	/* Popped: no longer recorded. */
	CPLPushErrorHandler(CPLQuietErrorHandler);
	CPLError(CE_Failure, CPLE_AppDefined, "after the pop");
	CPLPopErrorHandler();
	ck_assert_uint_eq(gdal_errs_pending(&errs), 2);
	ck_assert_str_eq(gdal_errs_peek(&errs), "first 1");
	gdal_errs_take(&errs);
	ck_assert_str_eq(gdal_errs_peek(&errs), "second");
	gdal_errs_take(&errs);
	ck_assert_uint_eq(gdal_errs_pending(&errs), 0);
	ck_assert_str_eq(gdal_errs_peek(&errs), "");
	gdal_errs_take(&errs); /* nothing to take: no underflow */
	ck_assert_uint_eq(gdal_errs_pending(&errs), 0);
}
END_TEST

START_TEST(more_than_kept_are_counted)
{
	char m[32];

	gdal_errs_push(&errs);
	for (int i = 0; i < 3 * GDAL_ERRS_KEEP; i++)
		CPLError(CE_Failure, CPLE_AppDefined, "failure %d", i);
	gdal_errs_pop();
	ck_assert_uint_eq(gdal_errs_pending(&errs), 3 * GDAL_ERRS_KEEP);
	for (int i = 0; i < GDAL_ERRS_KEEP; i++) {
		snprintf(m, sizeof m, "failure %d", i);
		ck_assert_str_eq(gdal_errs_peek(&errs), m);
		gdal_errs_take(&errs);
	}
	/* The ones past the ring carry the latest message that was not kept. */
	snprintf(m, sizeof m, "failure %d", 3 * GDAL_ERRS_KEEP - 1);
	ck_assert_str_eq(gdal_errs_peek(&errs), m);
	gdal_errs_clear(&errs);
	ck_assert_uint_eq(gdal_errs_pending(&errs), 0);
	/* Room again: a new failure is kept. */
	gdal_errs_push(&errs);
	CPLError(CE_Failure, CPLE_AppDefined, "fresh");
	gdal_errs_pop();
	ck_assert_str_eq(gdal_errs_peek(&errs), "fresh");
}
END_TEST

START_TEST(pushes_nest)
{
	gdal_errs_push(&errs);
	gdal_errs_push(&inner);
	CPLError(CE_Failure, CPLE_AppDefined, "inner");
	gdal_errs_pop();
	CPLError(CE_Failure, CPLE_AppDefined, "outer");
	gdal_errs_pop();
	ck_assert_uint_eq(gdal_errs_pending(&inner), 1);
	ck_assert_str_eq(gdal_errs_peek(&inner), "inner");
	ck_assert_uint_eq(gdal_errs_pending(&errs), 1);
	ck_assert_str_eq(gdal_errs_peek(&errs), "outer");
}
END_TEST

START_TEST(empty_message_is_said)
{
	gdal_errs_push(&errs);
	CPLError(CE_Failure, CPLE_AppDefined, "%s", "");
	gdal_errs_pop();
	ck_assert_str_eq(gdal_errs_peek(&errs), "GDAL gave no message");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layer_iter");
	TCase *tc = tcase_create("layer_iter_open");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, open_counts_a_live_iterator);
	suite_add_tcase(s, tc);
	tc = tcase_create("layer_iter_close");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, close_then_reset_is_clean);
	suite_add_tcase(s, tc);
	tc = tcase_create("layer_iter_unclosed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reset_without_close_is_caught);
	tcase_add_test(tc, destroy_without_close_is_caught);
	suite_add_tcase(s, tc);
	tc = tcase_create("gdal_errs");
	tcase_add_checked_fixture(tc, errs_setup, NULL);
	tcase_add_test(tc, failures_are_counted_and_kept_in_order);
	tcase_add_test(tc, more_than_kept_are_counted);
	tcase_add_test(tc, pushes_nest);
	tcase_add_test(tc, empty_message_is_said);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
