/* check_geos.c - unit tests for the steps' GEOS layer (src/vector/geos.c):
 * contexts owned by an arena, GEOS's messages as the reason a feature
 * fails, counted geometries, and the run stopping around an operation. */
#include <check.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/step.h"
#include "core/watch.h"
#include "vector/batch.h"
#include "vector/geos.h"

#define STAGE_NAME "buffer-roads"

static struct mem_account run_acct;
static struct step the_step;
static struct stage step; /* the stage of the_step, for one test */
static struct arena *ctx_arena; /* the context's, like the run arena */
static struct arena *a;         /* the batch's */
static struct geos *g;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&run_acct, "run", NULL, 0);
	the_step = (struct step){.label = STAGE_NAME};
	step = (struct stage){.step = &the_step};
	stage_acct_init(&step.acct, STAGE_NAME, &run_acct);
	ctx_arena = arena_create(&run_acct, 0);
	a = arena_create(&step.acct.mem, 0);
	ck_assert(ctx_arena && a);
	g = geos_create(ctx_arena);
	ck_assert_ptr_nonnull(g);
}

static void teardown(void)
{
	mem_fail_after(0);
	/* Geometries first: their cleanups need the thread's context. */
	arena_destroy(a);
	arena_destroy(ctx_arena);
	gp_err_clear();
}

/* ISO WKB, little-endian. */
static const unsigned char point_xy[] = {
	0x01, 0x01, 0x00, 0x00, 0x00,                   /* Point */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, /* 1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, /* 2 */
};
static const unsigned char point_xyz[] = {
	0x01, 0xe9, 0x03, 0x00, 0x00,                   /* Point Z */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, /* 1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, /* 2 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x40, /* 3 */
};

static int64_t live_geoms(void)
{
	return step.acct.live[HANDLE_GEOS_GEOM].cur;
}

/* A batch of `n` features whose geometry is `wkb`, in the batch arena. */
static struct batch *batch_of(const unsigned char *wkb, size_t len, size_t n)
{
	struct batch *b = arena_calloc(a, 1, sizeof *b);

	ck_assert_ptr_nonnull(b);
	b->arena = a;
	b->n = b->cap = n;
	b->f = arena_calloc(a, n, sizeof *b->f);
	ck_assert_ptr_nonnull(b->f);
	for (size_t i = 0; i < n; i++) {
		b->f[i].fid = (int64_t)i + 1;
		b->f[i].state = FEAT_LIVE;
		b->f[i].wkb = arena_alloc(a, len, 8);
		ck_assert_ptr_nonnull(b->f[i].wkb);
		memcpy(b->f[i].wkb, wkb, len);
		b->f[i].wkb_len = len;
	}
	return b;
}

/* Operations handed to geos_apply; `ctx` counts the calls. */
static GEOSGeometry *op_buffer(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx)
{
	++*(int *)ctx;
	return GEOSBuffer_r(h, in, 1.0, 8);
}

/* Fails the way a GEOS operation does: GEOS reports, returns NULL. */
static GEOSGeometry *op_geos_error(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx)
{
	(void)in;
	++*(int *)ctx;
	return GEOSGeomFromWKT_r(h, "POINT (1");
}

/* Returns NULL without a word from GEOS. */
static GEOSGeometry *op_silent_null(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx)
{
	(void)h, (void)in;
	++*(int *)ctx;
	return NULL;
}

/* The run is asked to stop while the operation runs. */
static volatile sig_atomic_t stop_signal;

static GEOSGeometry *op_stop_then_fail(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx)
{
	(void)h, (void)in;
	++*(int *)ctx;
	stop_signal = SIGTERM;
	return NULL;
}

static GEOSGeometry *op_stop_then_succeed(GEOSContextHandle_t h, const GEOSGeometry *in,
                                          void *ctx)
{
	++*(int *)ctx;
	stop_signal = SIGTERM;
	return GEOSGeom_clone_r(h, in);
}

/* The stop comes before a long GEOS call: GEOS itself is interrupted
 * (the watcher's callback) and the call returns NULL. */
static GEOSGeometry *op_stop_then_buffer(GEOSContextHandle_t h, const GEOSGeometry *in,
                                         void *ctx)
{
	GEOSCoordSequence *cs = GEOSCoordSeq_create_r(h, 2000, 2);
	GEOSGeometry *line, *out;

	(void)in;
	++*(int *)ctx;
	for (unsigned i = 0; i < 2000; i++)
		GEOSCoordSeq_setXY_r(h, cs, i, i, (i * 7919) % 1000);
	line = GEOSGeom_createLineString_r(h, cs);
	stop_signal = SIGTERM;
	out = GEOSBuffer_r(h, line, 5.0, 8);
	GEOSGeom_destroy_r(h, line);
	return out;
}

/* The geos_stop tests: a watcher on the signal flag, set on the context. */
static struct watch watcher;

static void setup_watch(void)
{
	setup();
	stop_signal = 0;
	ck_assert_int_eq(watch_start(&watcher, 0, &stop_signal), 0);
	geos_set_watch(g, &watcher);
}

static void teardown_watch(void)
{
	geos_set_watch(g, NULL);
	watch_stop(&watcher);
	stop_signal = 0;
	teardown();
}

/* ---- geos_create ----------------------------------------------------- */

START_TEST(create_gives_a_working_context)
{
	GEOSContextHandle_t h = geos_handle(g);
	GEOSGeometry *p;
	double x;

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(geos_applied(g), 0);
	ck_assert(!geos_stopping(g));
	ck_assert_str_eq(geos_reason(g, "none"), "none");
	p = GEOSGeom_createPointFromXY_r(h, 3, 4);
	ck_assert_int_eq(GEOSGeomGetX_r(h, p, &x), 1);
	ck_assert_double_eq(x, 3);
	GEOSGeom_destroy_r(h, p);
}
END_TEST

/* Every allocation of geos_create fails in turn: NULL, 75, and the GEOS
 * context already made is finished (the leak checkers of the asan and
 * valgrind setups see one that is not). */
START_TEST(create_allocation_failure_is_clean)
{
	struct arena *b = arena_create(&run_acct, 0);
	uint64_t n;

	ck_assert_ptr_nonnull(b);
	for (n = 1;; n++) {
		struct geos *x;

		mem_fail_after(n);
		x = geos_create(b);
		mem_fail_after(0);
		if (x != NULL)
			break;
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		gp_err_clear();
		arena_reset(b);
	}
	ck_assert_uint_ge(n, 2);
	arena_destroy(b);
	/* That context was this thread's newest: make ours the current one
	 * again for the teardown. */
	arena_destroy(a);
	arena_destroy(ctx_arena);
	setup();
}
END_TEST

/* The context is finished with its arena: many made and dropped leave the
 * heap as it was.  (Under the sanitizers mallinfo2 says nothing and the
 * leak checkers judge instead.) */
START_TEST(create_is_finished_with_its_arena)
{
	struct mallinfo2 before, after;
	struct arena *b;

	/* Warm up: GEOS's and the arena's first-use allocations. */
	b = arena_create(&run_acct, 0);
	ck_assert_ptr_nonnull(geos_create(b));
	arena_destroy(b);
	before = mallinfo2();
	for (int i = 0; i < 200; i++) {
		b = arena_create(&run_acct, 0);
		ck_assert_ptr_nonnull(b);
		ck_assert_ptr_nonnull(geos_create(b));
		arena_destroy(b);
	}
	after = mallinfo2();
	ck_assert_uint_le(after.uordblks, before.uordblks + 4096);
	arena_destroy(a);
	arena_destroy(ctx_arena);
	setup();
}
END_TEST

/* ---- geos_read / geos_own / geos_write ------------------------------- */

START_TEST(read_counts_a_geometry_until_released)
{
	GEOSContextHandle_t h = geos_handle(g);
	struct handle *geom = geos_read(g, a, &step.acct, point_xy, sizeof point_xy);
	double y;

	ck_assert_ptr_nonnull(geom);
	ck_assert_int_eq(GEOSGeomTypeId_r(h, geom->ptr), GEOS_POINT);
	ck_assert_int_eq(GEOSGeomGetY_r(h, geom->ptr, &y), 1);
	ck_assert_double_eq(y, 2);
	ck_assert_int_eq(live_geoms(), 1);
	handle_release(geom);
	ck_assert_int_eq(live_geoms(), 0);
	ck_assert_ptr_nonnull(geos_read(g, a, &step.acct, point_xy, sizeof point_xy));
	ck_assert_int_eq(live_geoms(), 1);
	arena_reset(a);
	ck_assert_int_eq(live_geoms(), 0);
	ck_assert_int_eq(step.acct.live[HANDLE_GEOS_GEOM].peak, 1);
}
END_TEST

/* GEOS's own reason lands in the context; the error slot stays empty (a
 * failed feature, not a failed run). */
START_TEST(read_failure_keeps_geos_reason)
{
	gp_fail(GP_EX_DATAERR, "stale");
	ck_assert_ptr_null(geos_read(g, a, &step.acct, point_xy, sizeof point_xy - 3));
	ck_assert_int_eq(gp_err_code(), 0);
	ck_assert_str_ne(geos_reason(g, "fallback"), "fallback");
	ck_assert_ptr_nonnull(strstr(geos_reason(g, ""), "ParseException"));
	ck_assert_int_eq(live_geoms(), 0);
	geos_reset(g);
	ck_assert_str_eq(geos_reason(g, "fallback"), "fallback");
}
END_TEST

START_TEST(read_allocation_failure_fails_the_run)
{
	mem_fail_after(1);
	ck_assert_ptr_null(geos_read(g, a, &step.acct, point_xy, sizeof point_xy));
	mem_fail_after(0);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), STAGE_NAME));
	ck_assert_int_eq(live_geoms(), 0);
	ck_assert_int_eq(step.acct.live[HANDLE_GEOS_GEOM].peak, 0);
}
END_TEST

START_TEST(own_null_is_geos_saying_no)
{
	gp_fail(GP_EX_DATAERR, "stale");
	ck_assert_ptr_null(geos_own(g, a, &step.acct, NULL));
	ck_assert_int_eq(gp_err_code(), 0);
	ck_assert_int_eq(live_geoms(), 0);
}
END_TEST

START_TEST(own_counts_a_result)
{
	GEOSGeometry *p = GEOSGeom_createPointFromXY_r(geos_handle(g), 1, 1);
	struct handle *h = geos_own(g, a, &step.acct, p);

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_eq(h->ptr, p);
	ck_assert_int_eq(h->kind, HANDLE_GEOS_GEOM);
	ck_assert_int_eq(live_geoms(), 1);
	arena_reset(a);
	ck_assert_int_eq(live_geoms(), 0);
}
END_TEST

START_TEST(write_gives_iso_little_endian_with_z)
{
	struct handle *h;
	unsigned char *wkb = NULL;
	size_t len = 0;

	h = geos_read(g, a, &step.acct, point_xyz, sizeof point_xyz);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(geos_write(g, a, h->ptr, &wkb, &len), 0);
	ck_assert_uint_eq(len, sizeof point_xyz);
	ck_assert_mem_eq(wkb, point_xyz, sizeof point_xyz);
	h = geos_read(g, a, &step.acct, point_xy, sizeof point_xy);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(geos_write(g, a, h->ptr, &wkb, &len), 0);
	ck_assert_uint_eq(len, sizeof point_xy);
	ck_assert_mem_eq(wkb, point_xy, sizeof point_xy);
}
END_TEST

START_TEST(write_allocation_failure_is_minus_two)
{
	struct handle *h = geos_read(g, a, &step.acct, point_xy, sizeof point_xy);
	unsigned char *wkb = NULL;
	size_t len = 0;

	ck_assert_ptr_nonnull(h);
	mem_fail_after(1);
	ck_assert_int_eq(geos_write(g, a, h->ptr, &wkb, &len), -2);
	mem_fail_after(0);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
}
END_TEST

/* ---- geos_read_feature ----------------------------------------------- */

START_TEST(read_feature_reads_a_live_geometry)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy, 1);
	struct handle *geom;
	int r = 7;

	geom = geos_read_feature(g, &step, b, 0, true, &r);
	ck_assert_ptr_nonnull(geom);
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(GEOSGeomTypeId_r(geos_handle(g), geom->ptr), GEOS_POINT);
	ck_assert_int_eq(b->f[0].state, FEAT_LIVE);
	ck_assert_int_eq(live_geoms(), 1);
	handle_release(geom);
}
END_TEST

/* Nothing to read: a feature not live is left alone; one without a
 * geometry is filtered out only when the caller says so. */
START_TEST(read_feature_skips_the_rest)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy, 3);
	int r = 7;

	b->f[0].state = FEAT_FILTERED;
	b->f[1].wkb = NULL;
	b->f[2].wkb = NULL;
	ck_assert_ptr_null(geos_read_feature(g, &step, b, 0, false, &r));
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(b->f[0].state, FEAT_FILTERED);
	r = 7;
	ck_assert_ptr_null(geos_read_feature(g, &step, b, 1, false, &r));
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(b->f[1].state, FEAT_LIVE);
	r = 7;
	ck_assert_ptr_null(geos_read_feature(g, &step, b, 2, true, &r));
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(b->f[2].state, FEAT_FILTERED);
	ck_assert_int_eq(gp_err_code(), 0);
	ck_assert_int_eq(step.acct.live[HANDLE_GEOS_GEOM].peak, 0);
}
END_TEST

START_TEST(read_feature_undecodable_fails_the_feature)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy - 5, 1);
	int r = 7;

	ck_assert_ptr_null(geos_read_feature(g, &step, b, 0, true, &r));
	ck_assert_int_eq(r, 1);
	ck_assert_int_eq(gp_err_code(), 0);
	ck_assert_int_eq(b->f[0].state, FEAT_FAILED);
	ck_assert_ptr_nonnull(strstr(b->f[0].fail_reason, "ParseException"));
	ck_assert_int_eq(live_geoms(), 0);
}
END_TEST

START_TEST(read_feature_allocation_failure_fails_the_run)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy, 1);
	int r = 7;

	mem_fail_after(1);
	ck_assert_ptr_null(geos_read_feature(g, &step, b, 0, true, &r));
	mem_fail_after(0);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_int_eq(b->f[0].state, FEAT_LIVE);
	ck_assert_int_eq(live_geoms(), 0);
}
END_TEST

/* ---- geos_apply ------------------------------------------------------ */

START_TEST(apply_replaces_the_geometry)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy, 2);
	struct handle *out;
	int calls = 0;
	double area;

	ck_assert_int_eq(geos_apply(g, &step, b, 1, op_buffer, &calls, "cannot buffer"), 0);
	ck_assert_int_eq(calls, 1);
	ck_assert_uint_eq(geos_applied(g), 1);
	ck_assert_int_eq(b->f[1].state, FEAT_LIVE);
	/* Every GEOS object released; feature 0 untouched. */
	ck_assert_int_eq(live_geoms(), 0);
	ck_assert_int_ge(step.acct.live[HANDLE_GEOS_GEOM].peak, 1);
	ck_assert_mem_eq(b->f[0].wkb, point_xy, sizeof point_xy);
	out = geos_read(g, a, &step.acct, b->f[1].wkb, b->f[1].wkb_len);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(GEOSGeomTypeId_r(geos_handle(g), out->ptr), GEOS_POLYGON);
	ck_assert_int_eq(GEOSArea_r(geos_handle(g), out->ptr, &area), 1);
	ck_assert_double_eq_tol(area, 3.14, 0.05);
}
END_TEST

/* A GEOS error is the feature's failure, in GEOS's words; the next
 * feature's silent failure does not inherit them. */
START_TEST(apply_geos_error_fails_the_feature)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy, 2);
	int calls = 0;

	ck_assert_int_eq(geos_apply(g, &step, b, 0, op_geos_error, &calls, "cannot buffer"), 1);
	ck_assert_int_eq(gp_err_code(), 0);
	ck_assert_int_eq(b->f[0].state, FEAT_FAILED);
	ck_assert_str_eq(b->f[0].fail_step, STAGE_NAME);
	ck_assert_ptr_nonnull(strstr(b->f[0].fail_reason, "ParseException"));
	ck_assert_int_eq(geos_apply(g, &step, b, 1, op_silent_null, &calls, "cannot buffer"), 1);
	ck_assert_int_eq(b->f[1].state, FEAT_FAILED);
	ck_assert_str_eq(b->f[1].fail_reason, "cannot buffer");
	ck_assert_int_eq(calls, 2);
	ck_assert_uint_eq(geos_applied(g), 0);
	ck_assert_int_eq(live_geoms(), 0);
}
END_TEST

START_TEST(apply_undecodable_fails_the_feature)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy - 5, 1);
	int calls = 0;

	ck_assert_int_eq(geos_apply(g, &step, b, 0, op_buffer, &calls, "cannot buffer"), 1);
	ck_assert_int_eq(calls, 0);
	ck_assert_int_eq(b->f[0].state, FEAT_FAILED);
	ck_assert_ptr_nonnull(strstr(b->f[0].fail_reason, "ParseException"));
	ck_assert_int_eq(live_geoms(), 0);
}
END_TEST

/* A stop asked before: the operation is not even started. */
START_TEST(apply_stopping_fails_the_run)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy, 1);
	int calls = 0;

	ck_assert(!geos_stopping(g));
	stop_signal = SIGINT;
	ck_assert(geos_stopping(g));
	ck_assert_int_eq(geos_apply(g, &step, b, 0, op_buffer, &calls, "cannot buffer"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_int_eq(calls, 0);
	ck_assert_int_eq(b->f[0].state, FEAT_LIVE);
	geos_set_watch(g, NULL);
	ck_assert(!geos_stopping(g));
}
END_TEST

/* A stop while the operation ran: its failure is the run's, not the
 * feature's, and a result it made is dropped. */
START_TEST(apply_stop_during_the_operation)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy, 2);
	int calls = 0;

	ck_assert_int_eq(geos_apply(g, &step, b, 0, op_stop_then_fail, &calls, "x"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_int_eq(b->f[0].state, FEAT_LIVE);
	stop_signal = 0;
	gp_err_clear();
	ck_assert_int_eq(geos_apply(g, &step, b, 1, op_stop_then_succeed, &calls, "x"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_int_eq(b->f[1].state, FEAT_LIVE);
	ck_assert_mem_eq(b->f[1].wkb, point_xy, sizeof point_xy);
	ck_assert_int_eq(calls, 2);
	ck_assert_uint_eq(geos_applied(g), 0);
	ck_assert_int_eq(live_geoms(), 0);
}
END_TEST

START_TEST(apply_interrupted_inside_geos)
{
	struct batch *b = batch_of(point_xy, sizeof point_xy, 1);
	int calls = 0;

	ck_assert_int_eq(geos_apply(g, &step, b, 0, op_stop_then_buffer, &calls, "x"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(b->f[0].state, FEAT_LIVE);
	/* GEOS's own word for it. */
	ck_assert_msg(strstr(geos_reason(g, ""), "nterrupt") != NULL, "%s", geos_reason(g, ""));
	ck_assert_int_eq(live_geoms(), 0);
}
END_TEST

/* Every allocation geos_apply makes fails in turn: the run fails (75), the
 * feature is not blamed, no geometry stays alive. */
START_TEST(apply_allocation_failure_is_clean)
{
	uint64_t n;
	int r, calls = 0;

	for (n = 1;; n++) {
		struct batch *b = batch_of(point_xy, sizeof point_xy, 1);

		mem_fail_after(n);
		r = geos_apply(g, &step, b, 0, op_buffer, &calls, "cannot buffer");
		mem_fail_after(0);
		ck_assert_int_eq(live_geoms(), 0);
		if (r == 0)
			break;
		ck_assert_int_eq(r, -1);
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		ck_assert_int_eq(b->f[0].state, FEAT_LIVE);
		gp_err_clear();
		arena_reset(a);
	}
	ck_assert_uint_ge(n, 3);
	ck_assert_uint_eq(geos_applied(g), 1);
}
END_TEST

static Suite *geos_suite(void)
{
	Suite *s = suite_create("geos");
	TCase *tc;

	tc = tcase_create("geos_create");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, create_gives_a_working_context);
	tcase_add_test(tc, create_allocation_failure_is_clean);
	tcase_add_test(tc, create_is_finished_with_its_arena);
	suite_add_tcase(s, tc);

	tc = tcase_create("geos_read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, read_counts_a_geometry_until_released);
	tcase_add_test(tc, read_failure_keeps_geos_reason);
	tcase_add_test(tc, read_allocation_failure_fails_the_run);
	suite_add_tcase(s, tc);

	tc = tcase_create("geos_own");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, own_null_is_geos_saying_no);
	tcase_add_test(tc, own_counts_a_result);
	suite_add_tcase(s, tc);

	tc = tcase_create("geos_write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, write_gives_iso_little_endian_with_z);
	tcase_add_test(tc, write_allocation_failure_is_minus_two);
	suite_add_tcase(s, tc);

	tc = tcase_create("geos_read_feature");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, read_feature_reads_a_live_geometry);
	tcase_add_test(tc, read_feature_skips_the_rest);
	tcase_add_test(tc, read_feature_undecodable_fails_the_feature);
	tcase_add_test(tc, read_feature_allocation_failure_fails_the_run);
	suite_add_tcase(s, tc);

	tc = tcase_create("geos_apply");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, apply_replaces_the_geometry);
	tcase_add_test(tc, apply_geos_error_fails_the_feature);
	tcase_add_test(tc, apply_undecodable_fails_the_feature);
	tcase_add_test(tc, apply_allocation_failure_is_clean);
	suite_add_tcase(s, tc);

	tc = tcase_create("geos_stop");
	tcase_add_checked_fixture(tc, setup_watch, teardown_watch);
	tcase_add_test(tc, apply_stopping_fails_the_run);
	tcase_add_test(tc, apply_stop_during_the_operation);
	tcase_add_test(tc, apply_interrupted_inside_geos);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(geos_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
