/* check_batch.c - unit tests for batch helpers (src/vector/batch.c). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "vector/batch.h"
#include "vector/schema.h"

static struct mem_account account;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&account, "batch-test", NULL, 0);
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
}

/* A batch of `n` features of a stream whose schema has `nextra` computed
 * values; everything in `a`. */
static struct batch *new_batch(struct arena *a, size_t n, int nextra)
{
	struct schema *sc = arena_calloc(a, 1, sizeof *sc);
	struct stream *st = arena_calloc(a, 1, sizeof *st);
	struct batch *b = arena_calloc(a, 1, sizeof *b);

	ck_assert_ptr_nonnull(sc);
	ck_assert_ptr_nonnull(st);
	ck_assert_ptr_nonnull(b);
	sc->nextra = nextra;
	st->schema = sc;
	st->arena = a;
	b->arena = a;
	b->stream = st;
	b->f = arena_calloc(a, n, sizeof *b->f);
	ck_assert_ptr_nonnull(b->f);
	b->n = b->cap = n;
	return b;
}

START_TEST(reserve_extra_gives_unset_slots)
{
	struct arena *a = arena_create(&account, 0);
	struct batch *b = new_batch(a, 2, 3);

	ck_assert_int_eq(batch_reserve_extra(b, 1), 0);
	ck_assert_uint_eq(b->f[1].nextra, 3);
	ck_assert_ptr_nonnull(b->f[1].extra);
	for (size_t k = 0; k < 3; k++)
		ck_assert(!b->f[1].extra[k].set);
	/* Only the feature asked for. */
	ck_assert_uint_eq(b->f[0].nextra, 0);
	ck_assert_ptr_null(b->f[0].extra);
	arena_destroy(a);
	ck_assert_int_eq(account.bytes.cur, 0);
}
END_TEST

START_TEST(reserve_extra_keeps_values_as_the_schema_grows)
{
	struct arena *a = arena_create(&account, 0);
	struct batch *b = new_batch(a, 1, 1);
	struct fvalue *first;

	ck_assert_int_eq(batch_reserve_extra(b, 0), 0);
	b->f[0].extra[0] = (struct fvalue){.set = true, .type = OFTInteger64, .v.i = 42};
	first = b->f[0].extra;
	/* Enough already: the same slots. */
	ck_assert_int_eq(batch_reserve_extra(b, 0), 0);
	ck_assert_ptr_eq(b->f[0].extra, first);
	b->stream->schema->nextra = 3;
	ck_assert_int_eq(batch_reserve_extra(b, 0), 0);
	ck_assert_uint_eq(b->f[0].nextra, 3);
	ck_assert(b->f[0].extra[0].set);
	ck_assert_int_eq(b->f[0].extra[0].type, OFTInteger64);
	ck_assert_int_eq(b->f[0].extra[0].v.i, 42);
	ck_assert(!b->f[0].extra[1].set);
	ck_assert(!b->f[0].extra[2].set);
	arena_destroy(a);
	ck_assert_int_eq(account.bytes.cur, 0);
}
END_TEST

START_TEST(reserve_extra_out_of_memory_keeps_the_feature)
{
	struct arena *a = arena_create(&account, 0);
	struct batch *b = new_batch(a, 1, 1);
	struct fvalue *first;

	ck_assert_int_eq(batch_reserve_extra(b, 0), 0);
	b->f[0].extra[0] = (struct fvalue){.set = true, .type = OFTReal, .v.d = 0.5};
	first = b->f[0].extra;
	b->stream->schema->nextra = 2;
	mem_fail_after(1);
	ck_assert_int_eq(batch_reserve_extra(b, 0), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	mem_fail_after(0);
	ck_assert_ptr_eq(b->f[0].extra, first);
	ck_assert_uint_eq(b->f[0].nextra, 1);
	ck_assert(b->f[0].extra[0].v.d == 0.5);
	arena_destroy(a);
	ck_assert_int_eq(account.bytes.cur, 0);
}
END_TEST

START_TEST(fail_marks_and_copies_the_reason)
{
	struct arena *a = arena_create(&account, 0);
	struct batch *b = new_batch(a, 2, 0);
	char reason[] = "bad ring";

	batch_fail(b, 1, "step 'x'", reason);
	reason[0] = 'B';
	ck_assert_int_eq(b->f[1].state, FEAT_FAILED);
	ck_assert_str_eq(b->f[1].fail_step, "step 'x'");
	ck_assert_str_eq(b->f[1].fail_reason, "bad ring");
	ck_assert_int_eq(b->f[0].state, FEAT_LIVE);
	arena_destroy(a);
	ck_assert_int_eq(account.bytes.cur, 0);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *batch_suite(void)
{
	Suite *s = suite_create("batch");
	TCase *tc;

	tc = tcase(s, "batch_reserve_extra");
	tcase_add_test(tc, reserve_extra_gives_unset_slots);
	tcase_add_test(tc, reserve_extra_keeps_values_as_the_schema_grows);
	tcase_add_test(tc, reserve_extra_out_of_memory_keeps_the_feature);

	tc = tcase(s, "batch_fail");
	tcase_add_test(tc, fail_marks_and_copies_the_reason);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(batch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
