/* check_vars.c - unit tests for the variable table (src/config/vars.c). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "config/vars.h"

static struct mem_account account;
static struct arena *arena;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&account, "vars-test", NULL, 0);
	arena = arena_create(&account, 0);
	ck_assert_ptr_nonnull(arena);
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
	arena_destroy(arena);
	ck_assert_int_eq(account.bytes.cur, 0);
}

/* ---- vars_get -------------------------------------------------------- */

START_TEST(get_from_empty_table)
{
	struct vars v = {0};

	ck_assert_ptr_null(vars_get(&v, "x"));
	ck_assert_ptr_null(vars_get(&v, ""));
}
END_TEST

START_TEST(get_scans_a_table_built_by_hand)
{
	struct var list[] = {
	        {"src", "a.gpkg", false}, {"crs", "EPSG:3035", true}, {"", "e", false}};
	struct vars v = {.item = list, .n = 3};

	ck_assert_str_eq(vars_get(&v, "src"), "a.gpkg");
	ck_assert_str_eq(vars_get(&v, "crs"), "EPSG:3035");
	ck_assert_str_eq(vars_get(&v, ""), "e");
	ck_assert_ptr_null(vars_get(&v, "Src"));
	ck_assert_ptr_null(vars_get(&v, "sr"));
	v.n = 1; /* only the first n count */
	ck_assert_ptr_null(vars_get(&v, "crs"));
}
END_TEST

/* ---- vars_set -------------------------------------------------------- */

START_TEST(set_then_get)
{
	struct vars v = {0};

	ck_assert_int_eq(vars_set(&v, arena, "base", "/data", false), 0);
	ck_assert_int_eq(vars_set(&v, arena, "lyr", "parcels", true), 0);
	ck_assert_int_eq(vars_set(&v, arena, "empty", "", false), 0);
	ck_assert_str_eq(vars_get(&v, "base"), "/data");
	ck_assert_str_eq(vars_get(&v, "lyr"), "parcels");
	ck_assert_str_eq(vars_get(&v, "empty"), "");
	ck_assert_ptr_null(vars_get(&v, "bas"));
	ck_assert_ptr_null(vars_get(&v, "Base"));
	/* in the order they were defined, with where they came from */
	ck_assert_uint_eq(v.n, 3);
	ck_assert_str_eq(v.item[0].name, "base");
	ck_assert_str_eq(v.item[1].name, "lyr");
	ck_assert_str_eq(v.item[2].name, "empty");
	ck_assert(!v.item[0].from_cli && v.item[1].from_cli && !v.item[2].from_cli);
}
END_TEST

START_TEST(set_cli_wins_over_file)
{
	struct vars v = {0};

	ck_assert_int_eq(vars_set(&v, arena, "x", "file", false), 0);
	ck_assert_int_eq(vars_set(&v, arena, "x", "cli", true), 0);
	ck_assert_str_eq(vars_get(&v, "x"), "cli");
	/* a file value after a --set does not replace it */
	ck_assert_int_eq(vars_set(&v, arena, "x", "file again", false), 0);
	ck_assert_str_eq(vars_get(&v, "x"), "cli");
	ck_assert(v.item[0].from_cli);
	/* --set twice: the last one */
	ck_assert_int_eq(vars_set(&v, arena, "x", "cli 2", true), 0);
	ck_assert_str_eq(vars_get(&v, "x"), "cli 2");
	/* file twice: the last one */
	ck_assert_int_eq(vars_set(&v, arena, "y", "1", false), 0);
	ck_assert_int_eq(vars_set(&v, arena, "y", "2", false), 0);
	ck_assert_str_eq(vars_get(&v, "y"), "2");
	ck_assert(!v.item[1].from_cli);
	ck_assert_uint_eq(v.n, 2);
}
END_TEST

START_TEST(set_many_grows_the_index)
{
	enum { N = 20000 };
	struct vars v = {0};

	for (int i = 0; i < N; i++) {
		const char *name = arena_printf(arena, "v%d", i);
		const char *value = arena_printf(arena, "%d", i * 7);

		ck_assert_ptr_nonnull(name);
		ck_assert_ptr_nonnull(value);
		ck_assert_int_eq(vars_set(&v, arena, name, value, false), 0);
	}
	ck_assert_uint_eq(v.n, N);
	ck_assert_uint_ge(v.cap, N);
	/* a power of two, and at most half full */
	ck_assert_uint_eq(v.nslots & (v.nslots - 1), 0);
	ck_assert_uint_ge(v.nslots, 2 * v.n);
	for (int i = 0; i < N; i++) {
		char name[16], value[16];

		snprintf(name, sizeof name, "v%d", i);
		snprintf(value, sizeof value, "%d", i * 7);
		ck_assert_str_eq(vars_get(&v, name), value);
		ck_assert_str_eq(v.item[i].name, name);
	}
	ck_assert_ptr_null(vars_get(&v, "v20000"));
	ck_assert_ptr_null(vars_get(&v, "v-1"));
}
END_TEST

/* Every allocation in turn fails: the call says so (75), and every
 * variable set before it is still there with its value. */
START_TEST(set_out_of_memory)
{
	enum { N = 40 }; /* the list grows twice, the index once */
	char names[N][8];
	uint64_t i;
	int failed = 0;

	for (int k = 0; k < N; k++)
		snprintf(names[k], sizeof names[k], "n%d", k);
	for (i = 1; i < 1000; i++) {
		struct arena *a = arena_create(&account, 128);
		struct vars v = {0};
		int k, r = 0;

		ck_assert_ptr_nonnull(a);
		gp_err_clear();
		mem_fail_after(i);
		for (k = 0; k < N && r == 0; k++)
			r = vars_set(&v, a, names[k], names[N - 1 - k], k % 2 == 0);
		mem_fail_after(0);
		if (r == 0) {
			ck_assert_uint_eq(v.n, N);
			arena_destroy(a);
			break;
		}
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		/* k - 1 failed; those before it were set */
		for (int j = 0; j < k - 1; j++)
			ck_assert_str_eq(vars_get(&v, names[j]), names[N - 1 - j]);
		arena_destroy(a);
		failed++;
	}
	ck_assert_uint_lt(i, 1000);
	ck_assert_int_ge(failed, 3);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *vars_suite(void)
{
	Suite *s = suite_create("vars");
	TCase *tc;

	tc = tcase(s, "vars_get");
	tcase_add_test(tc, get_from_empty_table);
	tcase_add_test(tc, get_scans_a_table_built_by_hand);

	tc = tcase(s, "vars_set");
	tcase_add_test(tc, set_then_get);
	tcase_add_test(tc, set_cli_wins_over_file);
	tcase_add_test(tc, set_many_grows_the_index);
	tcase_add_test(tc, set_out_of_memory);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vars_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
