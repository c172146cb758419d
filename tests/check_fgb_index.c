/* check_fgb_index.c - unit tests for FlatGeobuf's bounded index build
 * (src/vector/fgb_index.c).
 *
 * GDAL writes the input files (SPATIAL_INDEX=NO, as write.c has it do) and
 * GDAL's reader judges the result: its spatial filter goes through the
 * tree, so a window returns the features brute force finds only when the
 * tree, the offsets and the header are right. */
#include <check.h>
#include <cpl_string.h>
#include <dirent.h>
#include <gdal.h>
#include <ogr_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "vector/fgb_index.h"

static struct mem_account write_acct;
static struct arena *a;
static char dir[64], spill[96], fgb[96];

static void setup(void)
{
	gp_err_clear();
	mem_account_init(&write_acct, "write", NULL, 0);
	a = arena_create(&write_acct, 0);
	ck_assert_ptr_nonnull(a);
	snprintf(dir, sizeof dir, "/tmp/check_fgb_index-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(spill, sizeof spill, "%s/tmp", dir);
	snprintf(fgb, sizeof fgb, "%s/out.fgb", dir);
	ck_assert_int_eq(mkdir(spill, 0700), 0);
}

static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, "..") != 0);
	closedir(d);
	return n;
}

static void teardown(void)
{
	char cmd[128];

	arena_destroy(a);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A FlatGeobuf layer "p" of `type` with an integer field "n", written by
 * GDAL without an index, in a new dataset (*ds). */
static OGRLayerH unindexed_layer(GDALDatasetH *ds, OGRwkbGeometryType type)
{
	char **lco = CSLSetNameValue(NULL, "SPATIAL_INDEX", "NO");
	OGRLayerH l;
	OGRFieldDefnH fd = OGR_Fld_Create("n", OFTInteger);

	*ds = GDALCreate(GDALGetDriverByName("FlatGeobuf"), fgb, 0, 0, 0, GDT_Unknown, NULL);
	l = GDALDatasetCreateLayer(*ds, "p", NULL, type, lco);
	CSLDestroy(lco);
	ck_assert_int_eq(OGR_L_CreateField(l, fd, TRUE), OGRERR_NONE);
	OGR_Fld_Destroy(fd);
	return l;
}

/* `n` points on a 100 x 100 grid (x = i % 100, y = i / 100), written by
 * GDAL without an index; their envelopes noted in `b` (if given). */
static void write_points(int n, struct fgb_index *b)
{
	GDALDatasetH ds;
	OGRLayerH l = unindexed_layer(&ds, wkbPoint);
	for (int i = 0; i < n; i++) {
		OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(l));
		OGRGeometryH g = OGR_G_CreateGeometry(wkbPoint);
		double x = i % 100, y = i / 100, env[4] = {x, y, x, y};

		OGR_G_SetPoint_2D(g, 0, x, y);
		OGR_F_SetGeometryDirectly(f, g);
		OGR_F_SetFieldInteger(f, 0, i);
		ck_assert_int_eq(OGR_L_CreateFeature(l, f), OGRERR_NONE);
		OGR_F_Destroy(f);
		if (b)
			ck_assert_int_eq(fgb_index_add(b, env), 0);
	}
	GDALClose(ds);
}

/* Features GDAL returns through the index for a window, and the sum of
 * their `n` fields. */
static int window(double x0, double y0, double x1, double y1, long *sum)
{
	GDALDatasetH ds = GDALOpenEx(fgb, GDAL_OF_VECTOR, NULL, NULL, NULL);
	OGRLayerH l;
	OGRFeatureH f;
	int k = 0;

	ck_assert_ptr_nonnull(ds);
	l = GDALDatasetGetLayer(ds, 0);
	OGR_L_SetSpatialFilterRect(l, x0, y0, x1, y1);
	*sum = 0;
	while ((f = OGR_L_GetNextFeature(l)) != NULL) {
		*sum += OGR_F_GetFieldAsInteger(f, 0);
		k++;
		OGR_F_Destroy(f);
	}
	GDALClose(ds);
	return k;
}

static void check_windows(int n, size_t budget)
{
	struct fgb_index *b = fgb_index_create(a, spill, budget);
	long sum;

	ck_assert_ptr_nonnull(b);
	write_points(n, b);
	ck_assert_msg(fgb_index_finish(b, fgb, FGB_NODE_SIZE) == 0, "%s", gp_err_msg());
	ck_assert_int_eq(entries(spill), 0);
	/* The whole extent, a block, one point, nothing. */
	ck_assert_int_eq(window(-1, -1, 1000, 1000, &sum), n);
	ck_assert_int_eq(sum, (long)n * (n - 1) / 2);
	if (n >= 2000) {
		/* x 10..19, y 5..14: 100 points, n = 100 y + x */
		ck_assert_int_eq(window(9.5, 4.5, 19.5, 14.5, &sum), 100);
		ck_assert_int_eq(sum, 10 * (100 * (5 + 14) * 10 / 2) + 10 * (10 + 19) * 10 / 2);
	}
	ck_assert_int_eq(window(n > 3 ? 3 : 0, 0, n > 3 ? 3 : 0, 0, &sum), 1);
	ck_assert_int_eq(sum, n > 3 ? 3 : 0);
	ck_assert_int_eq(window(500, 500, 600, 600, &sum), 0);
}

START_TEST(tree_of_one)
{
	check_windows(1, 1 << 20);
}
END_TEST

START_TEST(tree_in_memory)
{
	check_windows(3000, 1 << 20);
}
END_TEST

START_TEST(tree_spilled_and_merged)
{
	check_windows(5000, 1); /* the sorter's least: 1024 records a run */
}
END_TEST

/* `n` features on the points' grid, squares 0.4 wide drawn with 90
 * vertices (1.5 KB), every `big_every`th with 5000 (80 KB, more than the
 * least sort buffer's chunk); their envelopes noted in `b`. */
static void write_polygons(int n, int big_every, struct fgb_index *b)
{
	GDALDatasetH ds;
	OGRLayerH l = unindexed_layer(&ds, wkbPolygon);
	for (int i = 0; i < n; i++) {
		OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(l));
		OGRGeometryH g = OGR_G_CreateGeometry(wkbPolygon);
		OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);
		double x = i % 100, y = i / 100, env[4] = {x - 0.2, y - 0.2, x + 0.2, y + 0.2};
		int nv = i % big_every == big_every - 1 ? 5000 : 90;

		/* Around the square's edge, starting at a corner. */
		for (int k = 0; k < nv; k++) {
			double t = 4.0 * k / nv, u = t - (int)t;
			double px = (int)t == 0 ? u : (int)t == 1 ? 1 : (int)t == 2 ? 1 - u : 0;
			double py = (int)t == 0 ? 0 : (int)t == 1 ? u : (int)t == 2 ? 1 : 1 - u;

			OGR_G_AddPoint_2D(ring, x - 0.2 + 0.4 * px, y - 0.2 + 0.4 * py);
		}
		OGR_G_AddPoint_2D(ring, x - 0.2, y - 0.2);
		OGR_G_AddGeometryDirectly(g, ring);
		OGR_F_SetGeometryDirectly(f, g);
		OGR_F_SetFieldInteger(f, 0, i);
		ck_assert_int_eq(OGR_L_CreateFeature(l, f), OGRERR_NONE);
		OGR_F_Destroy(f);
		ck_assert_int_eq(fgb_index_add(b, env), 0);
	}
	GDALClose(ds);
}

/* The bytes of `path`, malloc'd. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	*len = (size_t)ftell(f);
	rewind(f);
	p = malloc(*len ? *len : 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(fread(p, 1, *len, f), *len);
	fclose(f);
	return p;
}

START_TEST(tree_merged_in_two_passes)
{
	/* The least buffer sorts chunks of 48 KB and merges 64 runs at a
	 * time: 2500 features of 1.5 KB and 5 of 80 KB (a run each) are 84
	 * runs, merged once into a spill and then into the file. */
	struct fgb_index *b = fgb_index_create(a, spill, 1);
	long sum;
	int n = 2500;
	char *small, *large;
	size_t small_len, large_len;

	ck_assert_ptr_nonnull(b);
	write_polygons(n, 500, b);
	ck_assert_msg(fgb_index_finish(b, fgb, FGB_NODE_SIZE) == 0, "%s", gp_err_msg());
	ck_assert_int_eq(entries(spill), 0);
	ck_assert_int_eq(window(-1, -1, 1000, 1000, &sum), n);
	ck_assert_int_eq(sum, (long)n * (n - 1) / 2);
	/* x 10..19, y 5..14, as for the points. */
	ck_assert_int_eq(window(9.5, 4.5, 19.5, 14.5, &sum), 100);
	ck_assert_int_eq(sum, 10 * (100 * (5 + 14) * 10 / 2) + 10 * (10 + 19) * 10 / 2);
	ck_assert_int_eq(window(99, 4, 99, 4, &sum), 1); /* a big one */
	ck_assert_int_eq(sum, 499);
	ck_assert_int_eq(window(3.5, 0.5, 3.5, 0.5, &sum), 0); /* between four squares */
	/* The same file as one chunk sorted in memory makes: the features in
	 * the curve's order, not only found through the tree. */
	small = slurp(fgb, &small_len);
	b = fgb_index_create(a, spill, 16 << 20);
	ck_assert_ptr_nonnull(b);
	write_polygons(n, 500, b);
	ck_assert_msg(fgb_index_finish(b, fgb, FGB_NODE_SIZE) == 0, "%s", gp_err_msg());
	large = slurp(fgb, &large_len);
	ck_assert_uint_eq(small_len, large_len);
	ck_assert_msg(memcmp(small, large, small_len) == 0, "the merged file differs");
	free(small);
	free(large);
}
END_TEST

START_TEST(empty_file_left_as_is)
{
	struct fgb_index *b = fgb_index_create(a, spill, 1 << 20);
	FILE *f = fopen(fgb, "w");

	fputs("x", f);
	fclose(f);
	ck_assert_int_eq(fgb_index_finish(b, fgb, FGB_NODE_SIZE), 0);
	ck_assert_int_eq(entries(dir), 2); /* tmp and the file, untouched */
}
END_TEST

START_TEST(fails_on_a_count_mismatch)
{
	struct fgb_index *b = fgb_index_create(a, spill, 1 << 20);
	double env[4] = {0, 0, 0, 0};
	struct stat before, after;

	write_points(50, b);
	ck_assert_int_eq(fgb_index_add(b, env), 0); /* one more than GDAL wrote */
	ck_assert_int_eq(stat(fgb, &before), 0);
	ck_assert_int_eq(fgb_index_finish(b, fgb, FGB_NODE_SIZE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_SOFTWARE);
	ck_assert_msg(strstr(gp_err_msg(), "features") != NULL, "%s", gp_err_msg());
	ck_assert_int_eq(stat(fgb, &after), 0);
	ck_assert_int_eq(before.st_size, after.st_size);
	ck_assert_int_eq(entries(spill), 0); /* the new file is gone */
}
END_TEST

START_TEST(fails_on_what_is_not_flatgeobuf)
{
	struct fgb_index *b = fgb_index_create(a, spill, 1 << 20);
	double env[4] = {0, 0, 1, 1};
	FILE *f = fopen(fgb, "w");

	fputs("not a FlatGeobuf file at all", f);
	fclose(f);
	ck_assert_int_eq(fgb_index_add(b, env), 0);
	ck_assert_int_eq(fgb_index_finish(b, fgb, FGB_NODE_SIZE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_SOFTWARE);
	ck_assert_int_eq(entries(spill), 0);
}
END_TEST

START_TEST(fails_without_its_temporary_directory)
{
	struct fgb_index *b = fgb_index_create(a, spill, 1 << 20);

	write_points(20, b);
	ck_assert_int_eq(rmdir(spill), 0);
	ck_assert_int_eq(fgb_index_finish(b, fgb, FGB_NODE_SIZE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
}
END_TEST

START_TEST(temp_bytes)
{
	ck_assert_uint_eq(fgb_index_temp_bytes(0), 0);
	/* 1 feature: a root and a leaf. */
	ck_assert_uint_eq(fgb_index_temp_bytes(1), 64 + 2 * 40);
	/* 17: 17 leaves, 2 nodes, a root. */
	ck_assert_uint_eq(fgb_index_temp_bytes(17), 17 * 64 + 20 * 40);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fgb_index");
	TCase *tc = tcase_create("fgb_index");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, tree_of_one);
	tcase_add_test(tc, tree_in_memory);
	tcase_add_test(tc, tree_spilled_and_merged);
	tcase_add_test(tc, tree_merged_in_two_passes);
	tcase_add_test(tc, empty_file_left_as_is);
	tcase_add_test(tc, fails_on_a_count_mismatch);
	tcase_add_test(tc, fails_on_what_is_not_flatgeobuf);
	tcase_add_test(tc, fails_without_its_temporary_directory);
	tcase_add_test(tc, temp_bytes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
