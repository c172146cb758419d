/* check_shard.c - unit tests for --shard's parsing and the whole-input
 * share (src/core/shard.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/shard.h"

static const char *const env_names[] = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN",
                                        "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX",
                                        "GISPIPE_SHARD_COUNT", NULL};

static void setup(void)
{
	for (const char *const *n = env_names; *n; n++)
		unsetenv(*n);
	mem_fail_after(0);
	gp_err_clear();
}

static void teardown(void)
{
	setup();
}

static void assert_usage(const char *arg, const char *says)
{
	int i = -1, n = -1;

	gp_err_clear();
	ck_assert_int_eq(shard_parse(arg, &i, &n), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_USAGE);
	ck_assert_msg(strstr(gp_err_msg(), says) != NULL, "'%s': %s", arg, gp_err_msg());
	ck_assert_int_eq(i, -1);
}

/* `arg` parses to shard `index` of `count`. */
static void assert_shard(const char *arg, int index, int count)
{
	int i = -1, n = -1;

	ck_assert_msg(shard_parse(arg, &i, &n) == 0, "'%s': %s", arg, gp_err_msg());
	ck_assert_int_eq(i, index);
	ck_assert_int_eq(n, count);
}

START_TEST(test_parse_index_of_count)
{
	assert_shard("2/4", 2, 4);
	assert_shard("0/1", 0, 1);
	assert_shard("99999/100000", 99999, 100000);
	assert_usage("4/4", "index must be from 0 to 3");
	assert_usage("0/0", "count must be from 1");
	assert_usage("0/100001", "count must be from 1 to 100000");
	assert_usage("-1/4", "is not I/N");
	assert_usage("1/+4", "is not I/N");
	assert_usage("1/4x", "is not I/N");
	assert_usage("1 /4", "is not I/N");
	assert_usage("", "is not I/N");
	assert_usage("99999999999999999999/2", "is not I/N");
}
END_TEST

START_TEST(test_parse_slurm_from_min)
{
	assert_usage("slurm", "SLURM_ARRAY_TASK_ID is not set");
	setenv("SLURM_ARRAY_TASK_ID", "4", 1);
	assert_usage("slurm", "SLURM_ARRAY_TASK_MIN is not set");
	setenv("SLURM_ARRAY_TASK_MIN", "1", 1);
	setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
	assert_shard("slurm", 3, 4);
	setenv("SLURM_ARRAY_TASK_ID", "0", 1);
	assert_usage("slurm", "is below SLURM_ARRAY_TASK_MIN 1");
	setenv("SLURM_ARRAY_TASK_ID", "5", 1);
	assert_usage("slurm", "index must be from 0 to 3");
	setenv("SLURM_ARRAY_TASK_COUNT", "four", 1);
	assert_usage("slurm", "SLURM_ARRAY_TASK_COUNT='four' is not a whole number");
}
END_TEST

START_TEST(test_parse_k8s)
{
	setenv("JOB_COMPLETION_INDEX", "2", 1);
	assert_usage("k8s", "GISPIPE_SHARD_COUNT is not set");
	setenv("GISPIPE_SHARD_COUNT", "3", 1);
	assert_shard("k8s", 2, 3);
	setenv("GISPIPE_SHARD_COUNT", "2", 1);
	assert_usage("k8s", "index must be from 0 to 1");
}
END_TEST

START_TEST(test_cut_covers_once)
{
	for (int64_t total = 0; total < 60; total++)
		for (int count = 1; count <= 9; count++) {
			int64_t prev = 0;

			ck_assert_int_eq(shard_cut(total, 0, count), 0);
			ck_assert_int_eq(shard_cut(total, count, count), total);
			for (int k = 1; k <= count; k++) {
				int64_t c = shard_cut(total, k, count);

				/* Parts of equal counts, give or take one. */
				ck_assert_int_ge(c - prev, total / count);
				ck_assert_int_le(c - prev, total / count + 1);
				prev = c;
			}
		}
	ck_assert_int_eq(shard_cut(INT64_MAX, 1, 2), INT64_MAX / 2);
}
END_TEST

static char dir[64];
static const char *paths[10];
static char names[10][96];

/* Files of the given sizes in a fresh directory. */
static void make_inputs(const int *sizes, size_t n)
{
	snprintf(dir, sizeof dir, "/tmp/check-shard-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (size_t i = 0; i < n; i++) {
		FILE *f;

		snprintf(names[i], sizeof names[i], "%s/in%zu", dir, i);
		f = fopen(names[i], "w");
		ck_assert_ptr_nonnull(f);
		for (int b = 0; b < sizes[i]; b++)
			fputc('x', f);
		fclose(f);
		paths[i] = names[i];
	}
}

static void remove_inputs(size_t n)
{
	for (size_t i = 0; i < n; i++)
		unlink(names[i]);
	rmdir(dir);
}

START_TEST(test_mine_by_size)
{
	/* Largest first to the least loaded: 90 -> 0, 70 -> 1, 40 -> 1
	 * (110), 30 -> 0 (120), 20 -> 1 (130), 10 -> 0 (130). */
	static const int sizes[] = {10, 90, 30, 70, 40, 20};
	static const bool want0[] = {true, true, true, false, false, false};
	struct mem_account acct;
	struct arena *a;
	bool *m0, *m1;

	make_inputs(sizes, 6);
	mem_account_init(&acct, "shard-test", NULL, 0);
	a = arena_create(&acct, 0);
	ck_assert_int_eq(shard_mine(a, paths, 6, 0, 3, false, &m0), 0);
	ck_assert_ptr_nonnull(m0);
	ck_assert_int_eq(shard_mine(a, paths, 6, 0, 2, false, &m0), 0);
	ck_assert_int_eq(shard_mine(a, paths, 6, 1, 2, false, &m1), 0);
	for (size_t i = 0; i < 6; i++) {
		ck_assert_msg(m0[i] == want0[i], "input %zu", i);
		ck_assert(m0[i] != m1[i]); /* exactly one shard's */
	}
	/* Few inputs: every shard reads every input (FID ranges)... */
	ck_assert_int_eq(shard_mine(a, paths, 6, 0, 4, false, &m0), 0);
	ck_assert_ptr_null(m0);
	/* ... unless whole (rasters); one shard: all. */
	ck_assert_int_eq(shard_mine(a, paths, 6, 3, 4, true, &m0), 0);
	ck_assert_ptr_nonnull(m0);
	ck_assert_int_eq(shard_mine(a, paths, 6, 0, 1, true, &m0), 0);
	ck_assert_ptr_null(m0);
	arena_destroy(a);
	remove_inputs(6);
}
END_TEST

START_TEST(test_mine_fails_cleanly)
{
	static const int sizes[] = {1, 2, 3, 4};
	struct mem_account acct;

	make_inputs(sizes, 4);
	mem_account_init(&acct, "shard-test", NULL, 0);
	for (uint64_t nth = 1;; nth++) {
		struct arena *a = arena_create(&acct, 0);
		bool *m = NULL;
		int r;

		ck_assert_ptr_nonnull(a);
		gp_err_clear();
		mem_fail_after(nth);
		r = shard_mine(a, paths, 4, 1, 2, false, &m);
		mem_fail_after(0);
		arena_destroy(a);
		if (r == 0)
			break;
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		ck_assert_uint_lt(nth, 100);
	}
	remove_inputs(4);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {test_parse_index_of_count, test_parse_slurm_from_min,
	                              test_parse_k8s,            test_cut_covers_once,
	                              test_mine_by_size,         test_mine_fails_cleanly};
	Suite *s = suite_create("shard");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	for (size_t k = 0; k < sizeof tests / sizeof *tests; k++)
		tcase_add_test(tc, tests[k]);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
