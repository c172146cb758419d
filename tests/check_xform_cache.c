/* check_xform_cache.c - unit tests for the transform cache (src/core/xform_cache.c). */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <proj.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/xform_cache.h"

#define STAGE "reproject-test"

#define WGS84 "EPSG:4326"
#define LAEA "EPSG:3035"
#define MERC "EPSG:3857"
#define UTM32 "EPSG:32632"

static struct mem_account run_acct;
static struct stage_acct stage;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&run_acct, "run", NULL, 0);
	stage_acct_init(&stage, STAGE, &run_acct);
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
}

static struct arena *new_arena(size_t chunk)
{
	struct arena *a = arena_create(&stage.mem, chunk);

	ck_assert_ptr_nonnull(a);
	return a;
}

/* Destroy the arena: every operation and every byte comes back. */
static void done(struct arena *a)
{
	arena_destroy(a);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 0);
	ck_assert_int_eq(stage.mem.bytes.cur, 0);
	ck_assert_int_eq(run_acct.bytes.cur, 0);
}

static struct xform_cache *new_cache(struct arena *a, size_t max)
{
	struct xform_cache *c = xform_cache_create(a, &stage, max);

	ck_assert_msg(c != NULL, "create failed: %s", gp_err_msg());
	return c;
}

static struct xform_stats stats(const struct xform_cache *c)
{
	struct xform_stats s;

	memset(&s, 0xA5, sizeof s);
	xform_cache_stats(c, &s);
	return s;
}

static void assert_stats(const struct xform_cache *c, uint64_t hits, uint64_t misses,
                         uint64_t evictions, uint64_t clears, size_t entries)
{
	struct xform_stats s = stats(c);

	ck_assert_uint_eq(s.hits, hits);
	ck_assert_uint_eq(s.misses, misses);
	ck_assert_uint_eq(s.evictions, evictions);
	ck_assert_uint_eq(s.clears, clears);
	ck_assert_uint_eq(s.entries, entries);
	/* one live operation per cached entry */
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, (int64_t)entries);
}

static PJ *get_ok(struct xform_cache *c, const char *src, const char *dst)
{
	PJ *op = xform_cache_get(c, src, dst);

	ck_assert_msg(op != NULL, "%s -> %s: %s", src, dst, gp_err_msg());
	return op;
}

/* lon 10, lat 50 through `op`, as x/y. */
static PJ_COORD fwd(PJ *op)
{
	PJ_COORD in = proj_coord(10, 50, 0, 0);

	return proj_trans(op, PJ_FWD, in);
}

/* The same with an operation built here, on a context of its own. */
static PJ_COORD reference_4326_to_3035(void)
{
	PJ_CONTEXT *ctx = proj_context_create();
	PJ *op, *norm;
	PJ_COORD out;

	ck_assert_ptr_nonnull(ctx);
	proj_context_set_enable_network(ctx, 0);
	op = proj_create_crs_to_crs(ctx, WGS84, LAEA, NULL);
	ck_assert_ptr_nonnull(op);
	norm = proj_normalize_for_visualization(ctx, op);
	ck_assert_ptr_nonnull(norm);
	proj_destroy(op);
	out = proj_trans(norm, PJ_FWD, proj_coord(10, 50, 0, 0));
	proj_destroy(norm);
	proj_context_destroy(ctx);
	return out;
}

/* ---- xform_cache_create ---------------------------------------------- */

START_TEST(create_starts_empty)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 4);

	assert_stats(c, 0, 0, 0, 0, 0);
	ck_assert_ptr_nonnull(xform_cache_context(c));
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].peak, 0);
	/* its memory is the stage's */
	ck_assert_int_gt(stage.mem.bytes.cur, 0);
	done(a);
}
END_TEST

START_TEST(create_zero_entries_means_one)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 0);
	PJ *op1 = get_ok(c, WGS84, LAEA);

	ck_assert_ptr_nonnull(op1);
	get_ok(c, WGS84, MERC);
	assert_stats(c, 0, 2, 1, 0, 1);
	get_ok(c, WGS84, MERC);
	assert_stats(c, 1, 2, 1, 0, 1);
	done(a);
}
END_TEST

START_TEST(create_out_of_memory)
{
	uint64_t n;
	int failed = 0;

	/* create, two gets and destroy, failing the n-th allocation */
	for (n = 1; n < 1000; n++) {
		struct arena *a;
		struct xform_cache *c = NULL;
		PJ *op1 = NULL, *op2 = NULL;
		uint64_t made;

		gp_err_clear();
		mem_fail_after(n);
		a = arena_create(&stage.mem, 128);
		if (a != NULL)
			c = xform_cache_create(a, &stage, 2);
		if (c != NULL)
			op1 = xform_cache_get(c, WGS84, LAEA);
		if (op1 != NULL)
			op2 = xform_cache_get(c, WGS84, MERC);
		made = mem_fail_after(0);
		if (c != NULL) {
			struct xform_stats s = stats(c);

			ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, (int64_t)s.entries);
		}
		arena_destroy(a);
		ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 0);
		ck_assert_int_eq(stage.mem.bytes.cur, 0);
		if (made < n) {
			ck_assert_ptr_nonnull(op2);
			ck_assert_int_eq(gp_err_code(), 0);
			break;
		}
		ck_assert_ptr_null(op2);
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		ck_assert_ptr_nonnull(strstr(gp_err_msg(), STAGE));
		failed++;
	}
	ck_assert_uint_lt(n, 1000);
	ck_assert_int_eq(failed, (int)n - 1);
	/* the arena, its chunk, and a key per get at least */
	ck_assert_int_ge(failed, 4);
}
END_TEST

/* ---- xform_cache_get ------------------------------------------------- */

START_TEST(get_hit_after_miss)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 4);
	PJ *op1 = get_ok(c, WGS84, LAEA);
	PJ *op2;

	assert_stats(c, 0, 1, 0, 0, 1);
	op2 = get_ok(c, WGS84, LAEA);
	ck_assert_ptr_eq(op1, op2);
	assert_stats(c, 1, 1, 0, 0, 1);
	/* the reverse direction is another operation */
	op2 = get_ok(c, LAEA, WGS84);
	ck_assert_ptr_ne(op1, op2);
	assert_stats(c, 1, 2, 0, 0, 2);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].peak, 2);
	done(a);
}
END_TEST

START_TEST(get_normalised_axis_order)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 4);
	PJ_COORD got = fwd(get_ok(c, WGS84, LAEA));
	PJ_COORD want = reference_4326_to_3035();

	/* lon 10 is the projection's centre: x is the false easting */
	ck_assert_double_eq_tol(got.xy.x, 4321000.0, 1e-3);
	ck_assert_double_eq_tol(got.xy.y, 2987987.0, 1000.0);
	ck_assert_double_eq(got.xy.x, want.xy.x);
	ck_assert_double_eq(got.xy.y, want.xy.y);
	/* web mercator: x = R * lon in radians */
	got = fwd(get_ok(c, WGS84, MERC));
	ck_assert_double_eq_tol(got.xy.x, 6378137.0 * 10 * M_PI / 180, 1e-6);
	done(a);
}
END_TEST

START_TEST(get_lru_eviction)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 2);
	PJ *pa, *pb, *pc;

	pa = get_ok(c, WGS84, LAEA); /* A */
	pb = get_ok(c, WGS84, MERC); /* B */
	assert_stats(c, 0, 2, 0, 0, 2);
	ck_assert_ptr_eq(get_ok(c, WGS84, LAEA), pa); /* touch A: B is now the oldest */
	pc = get_ok(c, WGS84, UTM32);                 /* C evicts B */
	ck_assert_ptr_nonnull(pc);
	assert_stats(c, 1, 3, 1, 0, 2);
	ck_assert_ptr_eq(get_ok(c, WGS84, LAEA), pa); /* A survived */
	assert_stats(c, 2, 3, 1, 0, 2);
	ck_assert_ptr_eq(get_ok(c, WGS84, UTM32), pc); /* so did C */
	assert_stats(c, 3, 3, 1, 0, 2);
	/* B was dropped: a miss, and now A is the least recently used */
	pb = get_ok(c, WGS84, MERC);
	assert_stats(c, 3, 4, 2, 0, 2);
	ck_assert_ptr_eq(get_ok(c, WGS84, UTM32), pc);
	ck_assert_ptr_eq(get_ok(c, WGS84, MERC), pb);
	assert_stats(c, 5, 4, 2, 0, 2);
	/* A was evicted: its lookup misses and evicts C, the oldest now */
	get_ok(c, WGS84, LAEA);
	assert_stats(c, 5, 5, 3, 0, 2);
	ck_assert_ptr_eq(get_ok(c, WGS84, MERC), pb);
	assert_stats(c, 6, 5, 3, 0, 2);
	/* never more operations alive than the cache holds */
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].peak, 2);
	done(a);
}
END_TEST

START_TEST(get_lru_touch_order)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 2);
	PJ *pa = get_ok(c, WGS84, LAEA);
	PJ *pb = get_ok(c, WGS84, MERC);

	/* without the touch, A is the oldest and goes */
	ck_assert_ptr_eq(get_ok(c, WGS84, MERC), pb);
	get_ok(c, WGS84, UTM32);
	assert_stats(c, 1, 3, 1, 0, 2);
	ck_assert_ptr_eq(get_ok(c, WGS84, MERC), pb);
	assert_stats(c, 2, 3, 1, 0, 2);
	get_ok(c, WGS84, LAEA);
	assert_stats(c, 2, 4, 2, 0, 2);
	(void)pa;
	done(a);
}
END_TEST

START_TEST(get_unknown_crs)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 2);
	int64_t bytes;

	get_ok(c, WGS84, LAEA);
	bytes = stage.mem.bytes.cur;
	gp_err_clear();
	ck_assert_ptr_null(xform_cache_get(c, "EPSG:999999", LAEA));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	ck_assert_ptr_nonnull(strstr(
	        gp_err_msg(), "no coordinate operation from 'EPSG:999999' to 'EPSG:3035': "));
	/* the key went back, nothing was evicted or cached */
	ck_assert_int_eq(stage.mem.bytes.cur, bytes);
	assert_stats(c, 0, 2, 0, 0, 1);
	gp_err_clear();
	ck_assert_ptr_null(xform_cache_get(c, WGS84, "EPSG:999999"));
	ck_assert_int_eq(gp_err_code(), GP_EX_CONFIG);
	/* a failure is not cached either */
	ck_assert_ptr_null(xform_cache_get(c, WGS84, "EPSG:999999"));
	assert_stats(c, 0, 4, 0, 0, 1);
	/* the cache still works */
	get_ok(c, WGS84, LAEA);
	assert_stats(c, 1, 4, 0, 0, 1);
	done(a);
}
END_TEST

START_TEST(get_keys_do_not_collide)
{
	/* PROJ strings may contain line breaks; the key must still tell the
	 * source from the target */
	static const char src1[] = "+proj=longlat +datum=WGS84\n+type=crs";
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 4);
	PJ *op1 = get_ok(c, src1, LAEA);
	PJ *op2;

	gp_err_clear();
	op2 = xform_cache_get(c, "+proj=longlat +datum=WGS84", "+type=crs\n" LAEA);
	ck_assert_ptr_ne(op2, op1);
	{
		struct xform_stats s = stats(c);

		ck_assert_uint_eq(s.hits, 0);
		ck_assert_uint_eq(s.misses, 2);
	}
	/* and prefixes are not matches */
	op2 = get_ok(c, "+proj=longlat +datum=WGS84", LAEA);
	ck_assert_ptr_ne(op2, op1);
	ck_assert_uint_eq(stats(c).hits, 0);
	done(a);
}
END_TEST

/* ---- xform_cache_clear ----------------------------------------------- */

START_TEST(clear_drops_everything)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 4);
	PJ_COORD before, after, want = reference_4326_to_3035();
	int64_t bytes_empty;

	bytes_empty = stage.mem.bytes.cur;
	before = fwd(get_ok(c, WGS84, LAEA));
	get_ok(c, WGS84, MERC);
	get_ok(c, MERC, LAEA);
	assert_stats(c, 0, 3, 0, 0, 3);
	ck_assert_int_gt(stage.mem.bytes.cur, bytes_empty);

	ck_assert_int_eq(xform_cache_clear(c), 0);
	assert_stats(c, 0, 3, 0, 1, 0);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 0);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].peak, 3);
	/* the keys went back too */
	ck_assert_int_eq(stage.mem.bytes.cur, bytes_empty);
	ck_assert_ptr_nonnull(xform_cache_context(c));

	/* works again on the new context, with the same results */
	after = fwd(get_ok(c, WGS84, LAEA));
	assert_stats(c, 0, 4, 0, 1, 1);
	ck_assert_double_eq(before.xy.x, want.xy.x);
	ck_assert_double_eq(before.xy.y, want.xy.y);
	ck_assert_double_eq(after.xy.x, want.xy.x);
	ck_assert_double_eq(after.xy.y, want.xy.y);
	/* the operation lives in the current context */
	ck_assert_int_eq(proj_context_errno(xform_cache_context(c)), 0);

	/* clearing an empty cache, twice */
	ck_assert_int_eq(xform_cache_clear(c), 0);
	ck_assert_int_eq(xform_cache_clear(c), 0);
	assert_stats(c, 0, 4, 0, 3, 0);
	after = fwd(get_ok(c, WGS84, LAEA));
	ck_assert_double_eq(after.xy.x, want.xy.x);
	done(a);
}
END_TEST

START_TEST(clear_many_times)
{
	/* the schedule of a long run: clear after every dataset */
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 2);
	int64_t bytes_empty = stage.mem.bytes.cur;
	PJ_COORD want = reference_4326_to_3035();

	for (int i = 0; i < 8; i++) {
		PJ_COORD got = fwd(get_ok(c, WGS84, LAEA));

		ck_assert_double_eq(got.xy.x, want.xy.x);
		ck_assert_double_eq(got.xy.y, want.xy.y);
		get_ok(c, i % 2 ? MERC : UTM32, LAEA);
		ck_assert_int_eq(xform_cache_clear(c), 0);
		ck_assert_int_eq(stage.mem.bytes.cur, bytes_empty);
	}
	assert_stats(c, 0, 16, 0, 8, 0);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].peak, 2);
	done(a);
}
END_TEST

/* ---- xform_cache_stats ----------------------------------------------- */

START_TEST(stats_copy_is_a_snapshot)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 1);
	struct xform_stats s1, s2;

	get_ok(c, WGS84, LAEA);
	xform_cache_stats(c, &s1);
	get_ok(c, WGS84, LAEA);
	get_ok(c, WGS84, MERC);
	xform_cache_stats(c, &s2);
	ck_assert_uint_eq(s1.hits, 0);
	ck_assert_uint_eq(s1.misses, 1);
	ck_assert_uint_eq(s1.entries, 1);
	ck_assert_uint_eq(s2.hits, 1);
	ck_assert_uint_eq(s2.misses, 2);
	ck_assert_uint_eq(s2.evictions, 1);
	ck_assert_uint_eq(s2.entries, 1);
	done(a);
}
END_TEST

/* ---- xform_cache_context --------------------------------------------- */

START_TEST(context_is_usable)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 1);
	PJ_CONTEXT *ctx = xform_cache_context(c);
	PJ *crs;

	ck_assert_ptr_nonnull(ctx);
	/* no network from a batch job */
	ck_assert_int_eq(proj_context_is_network_enabled(ctx), 0);
	crs = proj_create(ctx, LAEA);
	ck_assert_ptr_nonnull(crs);
	ck_assert_str_eq(proj_get_name(crs), "ETRS89-extended / LAEA Europe");
	proj_destroy(crs);
	ck_assert_int_eq(xform_cache_clear(c), 0);
	ctx = xform_cache_context(c);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(proj_context_is_network_enabled(ctx), 0);
	done(a);
}
END_TEST

/* ---- arena_destroy --------------------------------------------------- */

START_TEST(destroy_releases_operations)
{
	struct arena *a = new_arena(0);
	struct arena *scratch = new_arena(0);
	struct xform_cache *c = new_cache(a, 8);

	get_ok(c, WGS84, LAEA);
	get_ok(c, WGS84, MERC);
	get_ok(c, WGS84, UTM32);
	get_ok(c, UTM32, LAEA);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 4);
	/* another arena on the same stage is not involved */
	ck_assert_ptr_nonnull(arena_alloc(scratch, 100, 0));
	arena_destroy(a);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 0);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].peak, 4);
	ck_assert_int_eq(stage_acct_first_leak(&stage), -1);
	done(scratch);
}
END_TEST

START_TEST(reset_releases_operations)
{
	struct arena *a = new_arena(0);
	struct xform_cache *c = new_cache(a, 8);

	get_ok(c, WGS84, LAEA);
	get_ok(c, WGS84, MERC);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 2);
	arena_reset(a);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 0);
	/* a new cache in the same arena */
	c = new_cache(a, 8);
	get_ok(c, WGS84, LAEA);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 1);
	done(a);
}
END_TEST

/* ---- runner ---------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *xform_cache_suite(void)
{
	Suite *s = suite_create("xform_cache");
	TCase *tc;

	tc = tcase(s, "xform_cache_create");
	tcase_add_test(tc, create_starts_empty);
	tcase_add_test(tc, create_zero_entries_means_one);
	tcase_add_test(tc, create_out_of_memory);

	tc = tcase(s, "xform_cache_get");
	tcase_add_test(tc, get_hit_after_miss);
	tcase_add_test(tc, get_normalised_axis_order);
	tcase_add_test(tc, get_lru_eviction);
	tcase_add_test(tc, get_lru_touch_order);
	tcase_add_test(tc, get_unknown_crs);
	tcase_add_test(tc, get_keys_do_not_collide);

	tc = tcase(s, "xform_cache_clear");
	tcase_add_test(tc, clear_drops_everything);
	tcase_add_test(tc, clear_many_times);

	tc = tcase(s, "xform_cache_stats");
	tcase_add_test(tc, stats_copy_is_a_snapshot);

	tc = tcase(s, "xform_cache_context");
	tcase_add_test(tc, context_is_usable);

	tc = tcase(s, "arena_cleanup");
	tcase_add_test(tc, destroy_releases_operations);
	tcase_add_test(tc, reset_releases_operations);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xform_cache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	proj_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
