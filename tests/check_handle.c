/* check_handle.c - unit tests for counted foreign handles (src/core/handle.c).
 *
 * Real GDAL/OGR/PROJ objects where the kind's own destructor is used, so
 * that "destroyed" is seen from the library's side (a dataset leaves
 * GDAL's open list, a feature gives back its reference on the definition);
 * a counting destructor where the API takes one. */
#include <check.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <proj.h>
#include <stdlib.h>
#include <string.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/handle.h"

#define STAGE_NAME "buffer-roads"

static struct mem_account run_acct;
static struct stage_acct stage;
static struct arena *a;

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&run_acct, "run", NULL, 0);
	stage_acct_init(&stage, STAGE_NAME, &run_acct);
	a = arena_create(&stage.mem, 0);
	ck_assert_ptr_nonnull(a);
}

static void teardown(void)
{
	mem_fail_after(0);
	arena_destroy(a);
	gp_err_clear();
}

/* A destructor that counts its calls on the object it is given. */
struct victim {
	int destroyed;
};

static void destroy_victim(void *p)
{
	((struct victim *)p)->destroyed++;
}

static int open_datasets(void)
{
	GDALDatasetH *list;
	int n = 0;

	GDALGetOpenDatasets(&list, &n);
	return n;
}

static GDALDatasetH mem_dataset(int w, int h, int bands)
{
	GDALDatasetH ds = GDALCreate(GDALGetDriverByName("MEM"), "", w, h, bands, GDT_Byte, NULL);

	ck_assert_ptr_nonnull(ds);
	return ds;
}

static void assert_no_live(void)
{
	for (int k = 0; k < HANDLE_KIND_COUNT; k++)
		ck_assert_int_eq(stage.live[k].cur, 0);
}

/* ---- handle_own ------------------------------------------------------ */

START_TEST(own_counts_until_the_arena_goes)
{
	struct victim v = {0};
	struct handle *h = handle_own(a, &stage, HANDLE_GEOS_GEOM, &v, destroy_victim);

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_eq(h->ptr, &v);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 1);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].peak, 1);
	ck_assert_int_eq(v.destroyed, 0);
	arena_destroy(a);
	a = NULL;
	ck_assert_int_eq(v.destroyed, 1);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].peak, 1);
}
END_TEST

START_TEST(own_reset_destroys_once)
{
	struct victim v = {0};

	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_LAYER_ITER, &v, destroy_victim));
	arena_reset(a);
	ck_assert_int_eq(v.destroyed, 1);
	ck_assert_int_eq(stage.live[HANDLE_LAYER_ITER].cur, 0);
	/* The cleanup is gone with the reset: a second one finds nothing. */
	arena_reset(a);
	ck_assert_int_eq(v.destroyed, 1);
	ck_assert_int_eq(stage.live[HANDLE_LAYER_ITER].cur, 0);
}
END_TEST

START_TEST(own_dataset_closes_it)
{
	int before = open_datasets();
	GDALDatasetH ds = mem_dataset(4, 4, 1);

	ck_assert_int_eq(open_datasets(), before + 1);
	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_GDAL_DATASET, ds, NULL));
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 1);
	arena_reset(a);
	ck_assert_int_eq(open_datasets(), before);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 0);
}
END_TEST

START_TEST(own_feature_destroys_it)
{
	OGRFeatureDefnH defn = OGR_FD_Create("roads");
	OGRFeatureH f;

	OGR_FD_Reference(defn);
	f = OGR_F_Create(defn);
	ck_assert_ptr_nonnull(f);
	/* Ours and the feature's. */
	ck_assert_int_eq(OGR_FD_GetReferenceCount(defn), 2);
	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_OGR_FEATURE, f, NULL));
	ck_assert_int_eq(stage.live[HANDLE_OGR_FEATURE].cur, 1);
	arena_reset(a);
	ck_assert_int_eq(OGR_FD_GetReferenceCount(defn), 1);
	ck_assert_int_eq(stage.live[HANDLE_OGR_FEATURE].cur, 0);
	OGR_FD_Release(defn);
}
END_TEST

/* Geometry, PROJ operation, transformer and OGR transform: the library
 * destructors leave no trace to look at here; the leak checkers of the
 * asan and valgrind setups see one that is not called. */
START_TEST(own_other_kinds_with_their_destructors)
{
	OGRSpatialReferenceH wgs84 = OSRNewSpatialReference(NULL), merc = OSRNewSpatialReference(NULL);
	GDALDatasetH src = mem_dataset(8, 8, 1), dst = mem_dataset(8, 8, 1);
	double gt[6] = {0, 1, 0, 8, 0, -1};
	PJ *op;
	void *tr;
	OGRCoordinateTransformationH ct;

	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_GDAL_DATASET, src, NULL));
	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_GDAL_DATASET, dst, NULL));
	ck_assert_ptr_nonnull(
		handle_own(a, &stage, HANDLE_OGR_GEOMETRY, OGR_G_CreateGeometry(wkbPoint), NULL));
	op = proj_create(NULL, "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad");
	ck_assert_ptr_nonnull(op);
	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_PROJ_OP, op, NULL));
	GDALSetGeoTransform(src, gt);
	GDALSetGeoTransform(dst, gt);
	tr = GDALCreateGenImgProjTransformer2(src, dst, NULL);
	ck_assert_ptr_nonnull(tr);
	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_GDAL_TRANSFORMER, tr, NULL));
	ck_assert_int_eq(OSRSetFromUserInput(wgs84, "+proj=longlat +datum=WGS84"), OGRERR_NONE);
	ck_assert_int_eq(OSRSetFromUserInput(merc, "+proj=merc +datum=WGS84"), OGRERR_NONE);
	ct = OCTNewCoordinateTransformation(wgs84, merc);
	ck_assert_ptr_nonnull(ct);
	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_OGR_TRANSFORM, ct, NULL));
	OSRDestroySpatialReference(wgs84);
	OSRDestroySpatialReference(merc);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 2);
	ck_assert_int_eq(stage.live[HANDLE_OGR_GEOMETRY].cur, 1);
	ck_assert_int_eq(stage.live[HANDLE_PROJ_OP].cur, 1);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_TRANSFORMER].cur, 1);
	ck_assert_int_eq(stage.live[HANDLE_OGR_TRANSFORM].cur, 1);
	/* Newest first: the transformer goes before the datasets it read. */
	arena_reset(a);
	assert_no_live();
}
END_TEST

START_TEST(own_band_counts_without_freeing)
{
	int before = open_datasets();
	GDALDatasetH ds = mem_dataset(3, 2, 2);
	GDALRasterBandH band = GDALGetRasterBand(ds, 2);
	unsigned char px[6] = {1, 2, 3, 4, 5, 6}, back[6] = {0};

	ck_assert_ptr_nonnull(handle_own(a, &stage, HANDLE_GDAL_BAND, band, NULL));
	ck_assert_int_eq(stage.live[HANDLE_GDAL_BAND].cur, 1);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 0);
	arena_reset(a);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_BAND].cur, 0);
	/* The band is still the dataset's, and works. */
	ck_assert_int_eq(open_datasets(), before + 1);
	ck_assert_int_eq(GDALRasterIO(band, GF_Write, 0, 0, 3, 2, px, 3, 2, GDT_Byte, 0, 0), CE_None);
	ck_assert_int_eq(GDALRasterIO(band, GF_Read, 0, 0, 3, 2, back, 3, 2, GDT_Byte, 0, 0), CE_None);
	ck_assert_mem_eq(back, px, sizeof px);
	GDALClose(ds);
	ck_assert_int_eq(open_datasets(), before);
}
END_TEST

START_TEST(own_refuses_null)
{
	ck_assert_ptr_null(handle_own(a, &stage, HANDLE_OGR_GEOMETRY, NULL, NULL));
	ck_assert_int_eq(gp_err_code(), GP_EX_SOFTWARE);
	ck_assert_str_eq(gp_err_msg(), "stage '" STAGE_NAME "': cannot own a ogr_geometry handle");
	assert_no_live();
	ck_assert_int_eq(stage.live[HANDLE_OGR_GEOMETRY].peak, 0);
}
END_TEST

/* Kinds without a usual destructor need the caller's. */
START_TEST(own_refuses_a_kind_without_destructor)
{
	struct victim v = {0};

	ck_assert_ptr_null(handle_own(a, &stage, HANDLE_GEOS_GEOM, &v, NULL));
	ck_assert_int_eq(gp_err_code(), GP_EX_SOFTWARE);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "geos_geometry"));
	ck_assert_ptr_null(handle_own(a, &stage, HANDLE_LAYER_ITER, &v, NULL));
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "layer_iter"));
	assert_no_live();
	arena_reset(a);
	ck_assert_int_eq(v.destroyed, 0);
}
END_TEST

/* Every allocation handle_own makes fails in turn: each time the object
 * is destroyed at once, exactly once, and nothing stays counted. */
START_TEST(own_allocation_failure_destroys_at_once)
{
	uint64_t n;

	for (n = 1;; n++) {
		struct victim v = {0};
		struct handle *h;

		mem_fail_after(n);
		h = handle_own(a, &stage, HANDLE_GEOS_GEOM, &v, destroy_victim);
		mem_fail_after(0);
		if (h != NULL) {
			ck_assert_int_eq(v.destroyed, 0);
			handle_release(h);
			ck_assert_int_eq(v.destroyed, 1);
			break;
		}
		ck_assert_int_eq(v.destroyed, 1);
		ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		ck_assert_ptr_nonnull(strstr(gp_err_msg(), STAGE_NAME));
		gp_err_clear();
		arena_reset(a);
		ck_assert_int_eq(v.destroyed, 1);
	}
	/* The handle itself and its cleanup record. */
	ck_assert_uint_ge(n, 2);
	assert_no_live();
}
END_TEST

START_TEST(own_allocation_failure_closes_a_dataset)
{
	int before = open_datasets();
	GDALDatasetH ds = mem_dataset(2, 2, 1);

	mem_fail_after(1);
	ck_assert_ptr_null(handle_own(a, &stage, HANDLE_GDAL_DATASET, ds, NULL));
	mem_fail_after(0);
	ck_assert_int_eq(open_datasets(), before);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 0);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].peak, 0);
}
END_TEST

START_TEST(own_kinds_are_counted_apart)
{
	struct victim g1 = {0}, g2 = {0}, it = {0};
	struct handle *h1 = handle_own(a, &stage, HANDLE_GEOS_GEOM, &g1, destroy_victim);
	struct handle *h2 = handle_own(a, &stage, HANDLE_GEOS_GEOM, &g2, destroy_victim);
	struct handle *h3 = handle_own(a, &stage, HANDLE_LAYER_ITER, &it, destroy_victim);

	ck_assert(h1 && h2 && h3);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 2);
	ck_assert_int_eq(stage.live[HANDLE_LAYER_ITER].cur, 1);
	handle_release(h1);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 1);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].peak, 2);
	ck_assert_int_eq(stage.live[HANDLE_LAYER_ITER].cur, 1);
	for (int k = 0; k < HANDLE_KIND_COUNT; k++)
		if (k != HANDLE_GEOS_GEOM && k != HANDLE_LAYER_ITER)
			ck_assert_int_eq(stage.live[k].peak, 0);
	arena_reset(a);
	ck_assert_int_eq(g1.destroyed + g2.destroyed + it.destroyed, 3);
	assert_no_live();
}
END_TEST

/* Two stages drawing on one arena keep their own counts. */
START_TEST(own_counts_in_the_given_stage)
{
	struct stage_acct other;
	struct victim v = {0};

	stage_acct_init(&other, "write", &run_acct);
	ck_assert_ptr_nonnull(handle_own(a, &other, HANDLE_GEOS_GEOM, &v, destroy_victim));
	ck_assert_int_eq(other.live[HANDLE_GEOS_GEOM].cur, 1);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
	arena_reset(a);
	ck_assert_int_eq(other.live[HANDLE_GEOS_GEOM].cur, 0);
	ck_assert_int_eq(stage_acct_first_leak(&other), -1);
}
END_TEST

/* ---- handle_release -------------------------------------------------- */

START_TEST(release_destroys_now_and_cleanup_does_nothing)
{
	struct victim v = {0};
	struct handle *h = handle_own(a, &stage, HANDLE_GEOS_GEOM, &v, destroy_victim);

	ck_assert_ptr_nonnull(h);
	handle_release(h);
	ck_assert_int_eq(v.destroyed, 1);
	ck_assert_ptr_null(h->ptr);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
	handle_release(h);
	ck_assert_int_eq(v.destroyed, 1);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
	arena_destroy(a);
	a = NULL;
	ck_assert_int_eq(v.destroyed, 1);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
}
END_TEST

START_TEST(release_closes_a_dataset_now)
{
	int before = open_datasets();
	struct handle *h = handle_own(a, &stage, HANDLE_GDAL_DATASET, mem_dataset(2, 2, 1), NULL);

	ck_assert_ptr_nonnull(h);
	handle_release(h);
	ck_assert_int_eq(open_datasets(), before);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 0);
	arena_reset(a);
	ck_assert_int_eq(open_datasets(), before);
}
END_TEST

/* ---- handle_take ----------------------------------------------------- */

START_TEST(take_gives_back_without_destroying)
{
	struct victim v = {0};
	struct handle *h = handle_own(a, &stage, HANDLE_GEOS_GEOM, &v, destroy_victim);

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_eq(handle_take(h), &v);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].peak, 1);
	ck_assert_ptr_null(handle_take(h));
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
	handle_release(h);
	arena_reset(a);
	ck_assert_int_eq(v.destroyed, 0);
	ck_assert_int_eq(stage.live[HANDLE_GEOS_GEOM].cur, 0);
}
END_TEST

START_TEST(take_leaves_the_dataset_to_the_caller)
{
	int before = open_datasets();
	GDALDatasetH ds = mem_dataset(2, 2, 1);
	struct handle *h = handle_own(a, &stage, HANDLE_GDAL_DATASET, ds, NULL);

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_eq(handle_take(h), ds);
	arena_destroy(a);
	a = NULL;
	ck_assert_int_eq(open_datasets(), before + 1);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 0);
	GDALClose(ds);
	ck_assert_int_eq(open_datasets(), before);
}
END_TEST

static Suite *handle_suite(void)
{
	Suite *s = suite_create("handle");
	TCase *tc;

	tc = tcase_create("handle_own");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, own_counts_until_the_arena_goes);
	tcase_add_test(tc, own_reset_destroys_once);
	tcase_add_test(tc, own_dataset_closes_it);
	tcase_add_test(tc, own_feature_destroys_it);
	tcase_add_test(tc, own_other_kinds_with_their_destructors);
	tcase_add_test(tc, own_band_counts_without_freeing);
	tcase_add_test(tc, own_refuses_null);
	tcase_add_test(tc, own_refuses_a_kind_without_destructor);
	tcase_add_test(tc, own_allocation_failure_destroys_at_once);
	tcase_add_test(tc, own_allocation_failure_closes_a_dataset);
	tcase_add_test(tc, own_kinds_are_counted_apart);
	tcase_add_test(tc, own_counts_in_the_given_stage);
	suite_add_tcase(s, tc);

	tc = tcase_create("handle_release");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, release_destroys_now_and_cleanup_does_nothing);
	tcase_add_test(tc, release_closes_a_dataset_now);
	suite_add_tcase(s, tc);

	tc = tcase_create("handle_take");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, take_gives_back_without_destroying);
	tcase_add_test(tc, take_leaves_the_dataset_to_the_caller);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(handle_suite());
	int failed;

	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
