/* check_layer_iter.c - explicit close of layer iterators is checked. */
#include <check.h>
#include <stdlib.h>

#include "gispipe/account.h"
#include "gispipe/arena.h"
#include "steps/source.h"

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
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
