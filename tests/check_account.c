/* check_account.c - unit tests for counters, memory accounts and handle
 * counts (src/core/account.c). */
#include <check.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/account.h"
#include "core/error.h"

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
}

static void assert_tempfail_naming(const char *name)
{
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), name));
}

static void assert_counter(const struct counter *c, int64_t cur, int64_t peak)
{
	ck_assert_int_eq(c->cur, cur);
	ck_assert_int_eq(c->peak, peak);
}

/* A three-level tree: run <- stage <- sub, plus a sibling of stage. */
struct tree {
	struct mem_account run;
	struct mem_account stage;
	struct mem_account sub;
	struct mem_account sibling;
};

static void tree_init(struct tree *t, uint64_t run_limit, uint64_t stage_limit,
                      uint64_t sub_limit)
{
	mem_account_init(&t->run, "run-total", NULL, run_limit);
	mem_account_init(&t->stage, "stage-buffer", &t->run, stage_limit);
	mem_account_init(&t->sub, "sub-reproject", &t->stage, sub_limit);
	mem_account_init(&t->sibling, "sibling-write", &t->run, 0);
}

static void assert_tree_cur(const struct tree *t, int64_t run, int64_t stage, int64_t sub)
{
	ck_assert_int_eq(t->run.bytes.cur, run);
	ck_assert_int_eq(t->stage.bytes.cur, stage);
	ck_assert_int_eq(t->sub.bytes.cur, sub);
}

/* ---- counter_add ----------------------------------------------------- */

START_TEST(counter_peak_follows_highest)
{
	struct counter c = {0, 0};

	counter_add(&c, 5);
	assert_counter(&c, 5, 5);
	counter_add(&c, -3);
	assert_counter(&c, 2, 5);
	counter_add(&c, 2);
	assert_counter(&c, 4, 5);
	counter_add(&c, 10);
	assert_counter(&c, 14, 14);
	counter_add(&c, -14);
	assert_counter(&c, 0, 14);
	counter_add(&c, 0);
	assert_counter(&c, 0, 14);
}
END_TEST

START_TEST(counter_large_values)
{
	struct counter c = {0, 0};

	counter_add(&c, INT64_C(1) << 40);
	counter_add(&c, INT64_C(1) << 40);
	assert_counter(&c, INT64_C(1) << 41, INT64_C(1) << 41);
	counter_add(&c, -(INT64_C(1) << 41));
	assert_counter(&c, 0, INT64_C(1) << 41);
}
END_TEST

START_TEST(counter_below_zero_keeps_peak)
{
	struct counter c = {0, 0};

	counter_add(&c, -2);
	assert_counter(&c, -2, 0);
	counter_add(&c, 3);
	assert_counter(&c, 1, 1);
}
END_TEST

/* ---- mem_account_init ------------------------------------------------ */

START_TEST(account_init_sets_every_field)
{
	struct mem_account parent, a;

	memset(&a, 0x5A, sizeof a);
	mem_account_init(&parent, "parent", NULL, 0);
	mem_account_init(&a, "child", &parent, 1234);
	ck_assert_str_eq(a.name, "child");
	ck_assert_ptr_eq(a.parent, &parent);
	assert_counter(&a.bytes, 0, 0);
	ck_assert_uint_eq(a.limit, 1234);
	ck_assert_ptr_null(parent.parent);
	ck_assert_uint_eq(parent.limit, 0);
}
END_TEST

START_TEST(account_init_resets_counts)
{
	struct mem_account a;
	void *p;

	mem_account_init(&a, "again", NULL, 0);
	p = mem_alloc(&a, 64);
	ck_assert_ptr_nonnull(p);
	mem_free(&a, p, 64);
	assert_counter(&a.bytes, 0, 64);
	mem_account_init(&a, "again", NULL, 10);
	assert_counter(&a.bytes, 0, 0);
	ck_assert_uint_eq(a.limit, 10);
}
END_TEST

START_TEST(account_init_name_not_copied)
{
	static const char name[] = "stage-name";
	struct mem_account a;

	mem_account_init(&a, name, NULL, 0);
	ck_assert_ptr_eq(a.name, name);
}
END_TEST

/* ---- mem_alloc ------------------------------------------------------- */

START_TEST(alloc_counts_up_the_chain)
{
	struct tree t;
	unsigned char *p, *q, *r;

	tree_init(&t, 0, 0, 0);
	p = mem_alloc(&t.sub, 100);
	ck_assert_ptr_nonnull(p);
	memset(p, 0xCD, 100);
	assert_tree_cur(&t, 100, 100, 100);

	q = mem_alloc(&t.stage, 50);
	ck_assert_ptr_nonnull(q);
	assert_tree_cur(&t, 150, 150, 100);

	r = mem_alloc(&t.sibling, 7);
	ck_assert_ptr_nonnull(r);
	assert_tree_cur(&t, 157, 150, 100);
	ck_assert_int_eq(t.sibling.bytes.cur, 7);

	mem_free(&t.sub, p, 100);
	mem_free(&t.stage, q, 50);
	mem_free(&t.sibling, r, 7);
	assert_tree_cur(&t, 0, 0, 0);
	ck_assert_int_eq(t.run.bytes.peak, 157);
	ck_assert_int_eq(t.stage.bytes.peak, 150);
	ck_assert_int_eq(t.sub.bytes.peak, 100);
	ck_assert_int_eq(t.sibling.bytes.peak, 7);
	ck_assert_int_eq(gp_err_code(), 0);
}
END_TEST

START_TEST(alloc_limit_on_own_account)
{
	struct tree t;
	void *p, *q;

	tree_init(&t, 0, 0, 300);
	p = mem_alloc(&t.sub, 300); /* exactly the limit */
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(mem_alloc(&t.sub, 1));
	assert_tempfail_naming("sub-reproject");
	assert_tree_cur(&t, 300, 300, 300);

	/* The parent is not limited by its child's limit. */
	gp_err_clear();
	q = mem_alloc(&t.stage, 1000);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(gp_err_code(), 0);

	mem_free(&t.sub, p, 300);
	p = mem_alloc(&t.sub, 300);
	ck_assert_ptr_nonnull(p);
	mem_free(&t.sub, p, 300);
	mem_free(&t.stage, q, 1000);
	assert_tree_cur(&t, 0, 0, 0);
}
END_TEST

START_TEST(alloc_limit_on_parent)
{
	struct tree t;
	void *big, *p;

	tree_init(&t, 0, 600, 0);
	big = mem_alloc(&t.stage, 400);
	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_null(mem_alloc(&t.sub, 201));
	assert_tempfail_naming("sub-reproject");
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "stage-buffer"));
	assert_tree_cur(&t, 400, 400, 0);

	p = mem_alloc(&t.sub, 200);
	ck_assert_ptr_nonnull(p);
	assert_tree_cur(&t, 600, 600, 200);
	ck_assert_ptr_null(mem_alloc(&t.stage, 1));
	assert_tempfail_naming("stage-buffer");

	/* The sibling is outside the limited subtree. */
	void *s = mem_alloc(&t.sibling, 5000);

	ck_assert_ptr_nonnull(s);
	mem_free(&t.sibling, s, 5000);
	mem_free(&t.sub, p, 200);
	mem_free(&t.stage, big, 400);
	assert_tree_cur(&t, 0, 0, 0);
}
END_TEST

START_TEST(alloc_limit_on_grandparent)
{
	struct tree t;
	void *p, *q;

	tree_init(&t, 1000, 0, 0);
	p = mem_alloc(&t.sibling, 400);
	ck_assert_ptr_nonnull(p);
	q = mem_alloc(&t.sub, 600);
	ck_assert_ptr_nonnull(q);
	assert_tree_cur(&t, 1000, 600, 600);

	ck_assert_ptr_null(mem_alloc(&t.sub, 1));
	assert_tempfail_naming("sub-reproject");
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "run-total"));
	gp_err_clear();
	ck_assert_ptr_null(mem_alloc(&t.sibling, 1));
	assert_tempfail_naming("sibling-write");
	assert_tree_cur(&t, 1000, 600, 600);
	ck_assert_int_eq(t.sibling.bytes.cur, 400);

	mem_free(&t.sibling, p, 400);
	p = mem_alloc(&t.sub, 400);
	ck_assert_ptr_nonnull(p);
	mem_free(&t.sub, p, 400);
	mem_free(&t.sub, q, 600);
	assert_tree_cur(&t, 0, 0, 0);
}
END_TEST

START_TEST(alloc_limit_huge_request)
{
	struct tree t;
	void *p;

	/* A request that would wrap the running total around is still over
	 * the budget, and names the account whose budget it is. */
	tree_init(&t, 0, 1000, 0);
	p = mem_alloc(&t.sub, 10);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(mem_alloc(&t.sub, SIZE_MAX - 4));
	assert_tempfail_naming("sub-reproject");
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "stage-buffer"));
	assert_tree_cur(&t, 10, 10, 10);
	mem_free(&t.sub, p, 10);
}
END_TEST

START_TEST(alloc_zero_limit_is_unlimited)
{
	struct mem_account a;
	void *p;

	mem_account_init(&a, "free-for-all", NULL, 0);
	p = mem_alloc(&a, 1 << 20);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(a.bytes.cur, 1 << 20);
	mem_free(&a, p, 1 << 20);
}
END_TEST

/* ---- mem_free -------------------------------------------------------- */

START_TEST(free_null_changes_nothing)
{
	struct tree t;
	void *p;

	tree_init(&t, 0, 0, 0);
	p = mem_alloc(&t.sub, 32);
	ck_assert_ptr_nonnull(p);
	mem_free(&t.sub, NULL, 32);
	assert_tree_cur(&t, 32, 32, 32);
	mem_free(&t.sub, p, 32);
	assert_tree_cur(&t, 0, 0, 0);
}
END_TEST

START_TEST(free_counts_down_keeps_peak)
{
	struct tree t;
	void *p[4];

	tree_init(&t, 0, 0, 0);
	for (int i = 0; i < 4; i++) {
		p[i] = mem_alloc(&t.sub, 10 * ((size_t)i + 1));
		ck_assert_ptr_nonnull(p[i]);
	}
	assert_tree_cur(&t, 100, 100, 100);
	mem_free(&t.sub, p[3], 40);
	assert_tree_cur(&t, 60, 60, 60);
	mem_free(&t.sub, p[0], 10);
	mem_free(&t.sub, p[2], 30);
	mem_free(&t.sub, p[1], 20);
	assert_tree_cur(&t, 0, 0, 0);
	ck_assert_int_eq(t.sub.bytes.peak, 100);
	ck_assert_int_eq(t.stage.bytes.peak, 100);
	ck_assert_int_eq(t.run.bytes.peak, 100);
}
END_TEST

START_TEST(free_makes_room_under_limit)
{
	struct mem_account a;
	void *p;

	mem_account_init(&a, "tight", NULL, 64);
	p = mem_alloc(&a, 64);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(mem_alloc(&a, 64));
	mem_free(&a, p, 64);
	p = mem_alloc(&a, 64);
	ck_assert_ptr_nonnull(p);
	mem_free(&a, p, 64);
	ck_assert_int_eq(a.bytes.cur, 0);
}
END_TEST

/* ---- mem_fail_after -------------------------------------------------- */

START_TEST(fail_after_nth_and_later)
{
	struct mem_account a;
	void *ok[4];

	mem_account_init(&a, "injected-stage", NULL, 0);
	ck_assert_uint_eq(mem_fail_after(0), 0);
	ok[0] = mem_alloc(&a, 8);
	ok[1] = mem_alloc(&a, 8);
	ck_assert_ptr_nonnull(ok[0]);
	ck_assert_ptr_nonnull(ok[1]);

	/* Two allocations since the last call. */
	ck_assert_uint_eq(mem_fail_after(3), 2);
	ok[2] = mem_alloc(&a, 8);
	ok[3] = mem_alloc(&a, 8);
	ck_assert_ptr_nonnull(ok[2]);
	ck_assert_ptr_nonnull(ok[3]);
	ck_assert_int_eq(gp_err_code(), 0);
	ck_assert_ptr_null(mem_alloc(&a, 8));
	assert_tempfail_naming("injected-stage");
	ck_assert_int_eq(a.bytes.cur, 32);

	/* Every later one fails too, whatever its size. */
	ck_assert_ptr_null(mem_alloc(&a, 1));
	ck_assert_ptr_null(mem_alloc(&a, 100000));
	ck_assert_int_eq(a.bytes.cur, 32);
	ck_assert_int_eq(a.bytes.peak, 32);

	/* Failed attempts are counted too; 0 turns the failures off. */
	ck_assert_uint_eq(mem_fail_after(0), 5);
	gp_err_clear();
	void *again = mem_alloc(&a, 8);

	ck_assert_ptr_nonnull(again);
	ck_assert_int_eq(gp_err_code(), 0);
	mem_free(&a, again, 8);
	for (int i = 0; i < 4; i++)
		mem_free(&a, ok[i], 8);
	ck_assert_int_eq(a.bytes.cur, 0);
	ck_assert_uint_eq(mem_fail_after(0), 1);
}
END_TEST

START_TEST(fail_after_one_is_next)
{
	struct mem_account a;
	void *p;

	mem_account_init(&a, "next", NULL, 0);
	mem_fail_after(1);
	ck_assert_ptr_null(mem_alloc(&a, 16));
	assert_tempfail_naming("next");
	ck_assert_uint_eq(mem_fail_after(0), 1);
	p = mem_alloc(&a, 16);
	ck_assert_ptr_nonnull(p);
	mem_free(&a, p, 16);
}
END_TEST

START_TEST(fail_after_counts_from_the_call)
{
	struct mem_account a;
	void *p[3];

	mem_account_init(&a, "restart", NULL, 0);
	mem_fail_after(2);
	p[0] = mem_alloc(&a, 4);
	ck_assert_ptr_nonnull(p[0]);
	/* A new call restarts the countdown: the 2nd from now, not from before. */
	ck_assert_uint_eq(mem_fail_after(2), 1);
	p[1] = mem_alloc(&a, 4);
	ck_assert_ptr_nonnull(p[1]);
	ck_assert_ptr_null(mem_alloc(&a, 4));
	mem_fail_after(0);
	p[2] = mem_alloc(&a, 4);
	ck_assert_ptr_nonnull(p[2]);
	for (int i = 0; i < 3; i++)
		mem_free(&a, p[i], 4);
	ck_assert_int_eq(a.bytes.cur, 0);
}
END_TEST

START_TEST(fail_after_counts_through_chain)
{
	struct tree t;

	/* Injected failures leave every account on the path untouched, and a
	 * limit elsewhere does not change the count. */
	tree_init(&t, 0, 1, 0);
	mem_fail_after(1);
	ck_assert_ptr_null(mem_alloc(&t.sub, 64));
	assert_tempfail_naming("sub-reproject");
	assert_tree_cur(&t, 0, 0, 0);
	ck_assert_uint_eq(mem_fail_after(0), 1);
	ck_assert_ptr_null(mem_alloc(&t.sub, 64)); /* now the limit refuses */
	assert_tempfail_naming("stage-buffer");
	ck_assert_uint_eq(mem_fail_after(0), 1);
}
END_TEST

/* ---- mem_fail_spec --------------------------------------------------- */

START_TEST(fail_spec_fails_only_the_nth)
{
	struct mem_account a;
	void *p[4];

	mem_account_init(&a, "once-stage", NULL, 0);
	ck_assert_int_eq(mem_fail_spec("3"), 0);
	ck_assert(mem_fail_counting());
	p[0] = mem_alloc(&a, 8);
	p[1] = mem_alloc(&a, 8);
	ck_assert_ptr_nonnull(p[0]);
	ck_assert_ptr_nonnull(p[1]);
	ck_assert_ptr_null(mem_alloc(&a, 8));
	assert_tempfail_naming("once-stage");
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "out of memory"));
	/* Only the third: the next ones succeed, and are counted. */
	p[2] = mem_alloc(&a, 8);
	p[3] = mem_alloc(&a, 8);
	ck_assert_ptr_nonnull(p[2]);
	ck_assert_ptr_nonnull(p[3]);
	ck_assert_uint_eq(mem_fail_count(), 5);
	ck_assert_int_eq(a.bytes.cur, 32);
	for (int i = 0; i < 4; i++)
		mem_free(&a, p[i], 8);
}
END_TEST

START_TEST(fail_spec_plus_fails_every_later_one)
{
	struct mem_account a;
	void *p;

	mem_account_init(&a, "lasting", NULL, 0);
	ck_assert_int_eq(mem_fail_spec("2+"), 0);
	p = mem_alloc(&a, 8);
	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_null(mem_alloc(&a, 8));
	assert_tempfail_naming("lasting");
	ck_assert_uint_eq(mem_fail_count(), 4);
	mem_free(&a, p, 8);
}
END_TEST

START_TEST(fail_spec_zero_only_counts)
{
	struct mem_account a;
	void *p[3];

	mem_account_init(&a, "counted", NULL, 0);
	ck_assert_int_eq(mem_fail_spec("0"), 0);
	for (int i = 0; i < 3; i++) {
		p[i] = mem_alloc(&a, 8);
		ck_assert_ptr_nonnull(p[i]);
	}
	ck_assert_uint_eq(mem_fail_count(), 3);
	ck_assert_int_eq(gp_err_code(), 0);
	for (int i = 0; i < 3; i++)
		mem_free(&a, p[i], 8);
}
END_TEST

START_TEST(fail_spec_unset_changes_nothing)
{
	struct mem_account a;
	void *p;

	mem_account_init(&a, "unset", NULL, 0);
	mem_fail_spec("1+");
	/* NULL and "" leave the switch as it was: here, failing. */
	ck_assert_int_eq(mem_fail_spec(NULL), 0);
	ck_assert_int_eq(mem_fail_spec(""), 0);
	ck_assert_ptr_null(mem_alloc(&a, 8));
	mem_fail_spec("0");
	p = mem_alloc(&a, 8);
	ck_assert_ptr_nonnull(p);
	mem_free(&a, p, 8);
}
END_TEST

START_TEST(fail_spec_bad_values)
{
	static const char *const bad[] = {
	        "x", "-1", "+", "3x", "3++", " 3", "3 ", "99999999999999999999999", NULL};

	for (const char *const *b = bad; *b; b++) {
		gp_err_clear();
		ck_assert_int_eq(mem_fail_spec(*b), -1);
		ck_assert_int_eq(gp_err_code(), GP_EX_USAGE);
		ck_assert_ptr_nonnull(strstr(gp_err_msg(), "GISPIPE_FAIL_ALLOC"));
	}
}
END_TEST

/* ---- handle_kind_name ------------------------------------------------ */

START_TEST(kind_names_valid)
{
	for (int k = 0; k < HANDLE_KIND_COUNT; k++) {
		const char *name = handle_kind_name((enum handle_kind)k);

		ck_assert_ptr_nonnull(name);
		ck_assert_uint_gt(strlen(name), 0);
		ck_assert_str_ne(name, "unknown");
		for (const char *c = name; *c != '\0'; c++)
			ck_assert_msg(islower((unsigned char)*c) || isdigit((unsigned char)*c) ||
			                      *c == '_',
			              "kind %d name '%s' is not lowercase", k, name);
		for (int j = 0; j < k; j++)
			ck_assert_str_ne(name, handle_kind_name((enum handle_kind)j));
	}
}
END_TEST

START_TEST(kind_names_stable)
{
	ck_assert_str_eq(handle_kind_name(HANDLE_OGR_FEATURE), "ogr_feature");
	ck_assert_str_eq(handle_kind_name(HANDLE_OGR_GEOMETRY), "ogr_geometry");
	ck_assert_str_eq(handle_kind_name(HANDLE_GDAL_DATASET), "gdal_dataset");
	ck_assert_str_eq(handle_kind_name(HANDLE_LAYER_ITER), "layer_iterator");
	ck_assert_str_eq(handle_kind_name(HANDLE_PROJ_OP), "proj_operation");
	ck_assert_str_eq(handle_kind_name(HANDLE_GEOS_GEOM), "geos_geometry");
	ck_assert_str_eq(handle_kind_name(HANDLE_OGR_SRS), "ogr_srs");
	ck_assert_str_eq(handle_kind_name(HANDLE_GEOS_PARAMS), "geos_params");
	ck_assert_str_eq(handle_kind_name(HANDLE_OGR_FEATURE_DEFN), "ogr_feature_defn");
}
END_TEST

START_TEST(kind_names_out_of_range)
{
	ck_assert_str_eq(handle_kind_name(HANDLE_KIND_COUNT), "unknown");
	ck_assert_str_eq(handle_kind_name((enum handle_kind)(HANDLE_KIND_COUNT + 1)), "unknown");
	ck_assert_str_eq(handle_kind_name((enum handle_kind)1000), "unknown");
	ck_assert_str_eq(handle_kind_name((enum handle_kind)-1), "unknown");
}
END_TEST

/* ---- stage_acct_init ------------------------------------------------- */

START_TEST(stage_init_clears_everything)
{
	struct mem_account run;
	struct stage_acct s;

	mem_account_init(&run, "run", NULL, 0);
	memset(&s, 0x77, sizeof s);
	stage_acct_init(&s, "filter-1", &run);
	ck_assert_str_eq(s.mem.name, "filter-1");
	ck_assert_ptr_eq(s.mem.parent, &run);
	ck_assert_uint_eq(s.mem.limit, 0);
	assert_counter(&s.mem.bytes, 0, 0);
	for (int k = 0; k < HANDLE_KIND_COUNT; k++)
		assert_counter(&s.live[k], 0, 0);
	ck_assert_uint_eq(s.items_in, 0);
	ck_assert_uint_eq(s.items_out, 0);
	ck_assert_uint_eq(s.items_filtered, 0);
	ck_assert_uint_eq(s.rejects, 0);
	ck_assert(s.seconds == 0.0);
	ck_assert_int_eq(stage_acct_first_leak(&s), -1);
}
END_TEST

START_TEST(stage_init_mem_is_an_account)
{
	struct mem_account run;
	struct stage_acct s;
	void *p;

	mem_account_init(&run, "run", NULL, 100);
	stage_acct_init(&s, "read-parcels", &run);
	p = mem_alloc(&s.mem, 80);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(run.bytes.cur, 80);
	ck_assert_int_eq(s.mem.bytes.cur, 80);
	ck_assert_ptr_null(mem_alloc(&s.mem, 21));
	assert_tempfail_naming("read-parcels");
	mem_free(&s.mem, p, 80);
	ck_assert_int_eq(run.bytes.cur, 0);
	ck_assert_int_eq(s.mem.bytes.peak, 80);
}
END_TEST

START_TEST(stage_init_without_parent)
{
	struct stage_acct s;

	stage_acct_init(&s, "alone", NULL);
	ck_assert_ptr_null(s.mem.parent);
	ck_assert_str_eq(s.mem.name, "alone");
}
END_TEST

/* ---- stage_acct_handle_up / _down / first_leak ----------------------- */

START_TEST(handle_up_counts_per_kind)
{
	struct stage_acct s;

	stage_acct_init(&s, "up", NULL);
	stage_acct_handle_up(&s, HANDLE_OGR_GEOMETRY);
	stage_acct_handle_up(&s, HANDLE_OGR_GEOMETRY);
	stage_acct_handle_up(&s, HANDLE_OGR_GEOMETRY);
	stage_acct_handle_up(&s, HANDLE_PROJ_OP);
	assert_counter(&s.live[HANDLE_OGR_GEOMETRY], 3, 3);
	assert_counter(&s.live[HANDLE_PROJ_OP], 1, 1);
	for (int k = 0; k < HANDLE_KIND_COUNT; k++)
		if (k != HANDLE_OGR_GEOMETRY && k != HANDLE_PROJ_OP)
			assert_counter(&s.live[k], 0, 0);
	/* Handles are not bytes. */
	assert_counter(&s.mem.bytes, 0, 0);
}
END_TEST

START_TEST(handle_down_keeps_peak)
{
	struct stage_acct s;

	stage_acct_init(&s, "down", NULL);
	for (int i = 0; i < 4; i++)
		stage_acct_handle_up(&s, HANDLE_GDAL_DATASET);
	stage_acct_handle_down(&s, HANDLE_GDAL_DATASET);
	assert_counter(&s.live[HANDLE_GDAL_DATASET], 3, 4);
	for (int i = 0; i < 3; i++)
		stage_acct_handle_down(&s, HANDLE_GDAL_DATASET);
	assert_counter(&s.live[HANDLE_GDAL_DATASET], 0, 4);
	stage_acct_handle_up(&s, HANDLE_GDAL_DATASET);
	assert_counter(&s.live[HANDLE_GDAL_DATASET], 1, 4);
	stage_acct_handle_down(&s, HANDLE_GDAL_DATASET);
	assert_counter(&s.live[HANDLE_GDAL_DATASET], 0, 4);
	ck_assert_int_eq(stage_acct_first_leak(&s), -1);
}
END_TEST

START_TEST(first_leak_reports_lowest_kind)
{
	struct stage_acct s;

	stage_acct_init(&s, "leaky", NULL);
	ck_assert_int_eq(stage_acct_first_leak(&s), -1);
	stage_acct_handle_up(&s, HANDLE_GEOS_GEOM);
	ck_assert_int_eq(stage_acct_first_leak(&s), HANDLE_GEOS_GEOM);
	stage_acct_handle_up(&s, HANDLE_LAYER_ITER);
	ck_assert_int_eq(stage_acct_first_leak(&s), HANDLE_LAYER_ITER);
	stage_acct_handle_up(&s, HANDLE_OGR_FEATURE);
	ck_assert_int_eq(stage_acct_first_leak(&s), HANDLE_OGR_FEATURE);
	stage_acct_handle_down(&s, HANDLE_OGR_FEATURE);
	ck_assert_int_eq(stage_acct_first_leak(&s), HANDLE_LAYER_ITER);
	stage_acct_handle_down(&s, HANDLE_LAYER_ITER);
	ck_assert_int_eq(stage_acct_first_leak(&s), HANDLE_GEOS_GEOM);
	stage_acct_handle_down(&s, HANDLE_GEOS_GEOM);
	ck_assert_int_eq(stage_acct_first_leak(&s), -1);
	/* The peaks stay behind, but they are not leaks. */
	ck_assert_int_eq(s.live[HANDLE_OGR_FEATURE].peak, 1);
}
END_TEST

START_TEST(first_leak_every_kind)
{
	for (int k = 0; k < HANDLE_KIND_COUNT; k++) {
		struct stage_acct s;

		stage_acct_init(&s, "each", NULL);
		stage_acct_handle_up(&s, (enum handle_kind)k);
		ck_assert_int_eq(stage_acct_first_leak(&s), k);
		stage_acct_handle_down(&s, (enum handle_kind)k);
		ck_assert_int_eq(stage_acct_first_leak(&s), -1);
	}
}
END_TEST

START_TEST(first_leak_counts_double_release)
{
	struct stage_acct s;

	/* A handle destroyed twice leaves the count below zero: also wrong. */
	stage_acct_init(&s, "twice", NULL);
	stage_acct_handle_up(&s, HANDLE_PROJ_OP);
	stage_acct_handle_down(&s, HANDLE_PROJ_OP);
	stage_acct_handle_down(&s, HANDLE_PROJ_OP);
	ck_assert_int_eq(s.live[HANDLE_PROJ_OP].cur, -1);
	ck_assert_int_eq(stage_acct_first_leak(&s), HANDLE_PROJ_OP);
}
END_TEST

/* ---- runner ---------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *account_suite(void)
{
	Suite *s = suite_create("account");
	TCase *tc;

	tc = tcase(s, "counter_add");
	tcase_add_test(tc, counter_peak_follows_highest);
	tcase_add_test(tc, counter_large_values);
	tcase_add_test(tc, counter_below_zero_keeps_peak);

	tc = tcase(s, "mem_account_init");
	tcase_add_test(tc, account_init_sets_every_field);
	tcase_add_test(tc, account_init_resets_counts);
	tcase_add_test(tc, account_init_name_not_copied);

	tc = tcase(s, "mem_alloc");
	tcase_add_test(tc, alloc_counts_up_the_chain);
	tcase_add_test(tc, alloc_limit_on_own_account);
	tcase_add_test(tc, alloc_limit_on_parent);
	tcase_add_test(tc, alloc_limit_on_grandparent);
	tcase_add_test(tc, alloc_limit_huge_request);
	tcase_add_test(tc, alloc_zero_limit_is_unlimited);

	tc = tcase(s, "mem_free");
	tcase_add_test(tc, free_null_changes_nothing);
	tcase_add_test(tc, free_counts_down_keeps_peak);
	tcase_add_test(tc, free_makes_room_under_limit);

	tc = tcase(s, "mem_fail_after");
	tcase_add_test(tc, fail_after_nth_and_later);
	tcase_add_test(tc, fail_after_one_is_next);
	tcase_add_test(tc, fail_after_counts_from_the_call);
	tcase_add_test(tc, fail_after_counts_through_chain);

	tc = tcase(s, "mem_fail_spec");
	tcase_add_test(tc, fail_spec_fails_only_the_nth);
	tcase_add_test(tc, fail_spec_plus_fails_every_later_one);
	tcase_add_test(tc, fail_spec_zero_only_counts);
	tcase_add_test(tc, fail_spec_unset_changes_nothing);
	tcase_add_test(tc, fail_spec_bad_values);

	tc = tcase(s, "handle_kind_name");
	tcase_add_test(tc, kind_names_valid);
	tcase_add_test(tc, kind_names_stable);
	tcase_add_test(tc, kind_names_out_of_range);

	tc = tcase(s, "stage_acct_init");
	tcase_add_test(tc, stage_init_clears_everything);
	tcase_add_test(tc, stage_init_mem_is_an_account);
	tcase_add_test(tc, stage_init_without_parent);

	tc = tcase(s, "stage_acct_handle_up");
	tcase_add_test(tc, handle_up_counts_per_kind);

	tc = tcase(s, "stage_acct_handle_down");
	tcase_add_test(tc, handle_down_keeps_peak);

	tc = tcase(s, "stage_acct_first_leak");
	tcase_add_test(tc, first_leak_reports_lowest_kind);
	tcase_add_test(tc, first_leak_every_kind);
	tcase_add_test(tc, first_leak_counts_double_release);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(account_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
