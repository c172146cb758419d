/* check_gpkg_rtree.c - unit tests for the bulk-built GeoPackage R-tree
 * (src/vector/gpkg_rtree.c).
 *
 * The sort is seen in the tree it builds: leaves are numbered in the order
 * they are packed, so reading their cells by node number gives the order
 * the Hilbert sort put the features in.  SQLite's own rtree module (its
 * queries and rtreecheck()) and GDAL's GeoPackage reader judge the tree. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "vector/gpkg_rtree.h"

#define BIG_BUDGET ((size_t)64 << 20) /* every test's records fit */
#define TINY_BUDGET ((size_t)1)       /* the sorter's least: 1024 records */

static struct mem_account write_acct;
static struct arena *a;
static char dir[64];       /* the test's own */
static char spill[96];     /* the build's temporary directory */
static char gpkg[96];      /* the output */

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&write_acct, "write", NULL, 0);
	a = arena_create(&write_acct, 0);
	ck_assert_ptr_nonnull(a);
	snprintf(dir, sizeof dir, "/tmp/check_gpkg_rtree-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(spill, sizeof spill, "%s/tmp", dir);
	snprintf(gpkg, sizeof gpkg, "%s/out.gpkg", dir);
	ck_assert_int_eq(mkdir(spill, 0700), 0);
	/* Descriptor 0 open, to see that no failure closes what is not its. */
	if (fcntl(0, F_GETFD) == -1)
		ck_assert_int_eq(open("/dev/null", O_RDONLY), 0);
}

static void remove_all(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[512];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		remove_all(p);
		unlink(p);
	}
	closedir(d);
	rmdir(path);
}

static void teardown(void)
{
	mem_fail_after(0);
	arena_destroy(a);
	remove_all(dir);
	gp_err_clear();
}

/* Entries of a directory, "." and ".." left out. */
static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Descriptors open on files in the build's temporary directory (spills
 * are unlinked at once, so the directory cannot tell). */
static int spill_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		char p[300], target[512];
		ssize_t len;

		snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
		len = readlink(p, target, sizeof target - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strncmp(target, spill, strlen(spill)) == 0 && target[strlen(spill)] == '/';
	}
	closedir(d);
	return n;
}

struct item {
	int64_t fid;
	double env[4]; /* xmin, ymin, xmax, ymax */
};

/* A GeoPackage with table t(geom) holding each item's box (a point when
 * it has no area), without a spatial index, closed. */
static void make_gpkg(const char *path, const struct item *it, size_t n)
{
	GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GPKG"), path, 0, 0, 0, GDT_Unknown, NULL);
	char *lco[] = {"GEOMETRY_NAME=geom", "SPATIAL_INDEX=NO", NULL};
	OGRLayerH lyr;
	int bad = 0;

	ck_assert_ptr_nonnull(ds);
	lyr = GDALDatasetCreateLayer(ds, "t", NULL, wkbUnknown, lco);
	ck_assert_ptr_nonnull(lyr);
	ck_assert_int_eq(GDALDatasetStartTransaction(ds, 0), OGRERR_NONE);
	for (size_t i = 0; i < n; i++) {
		OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(lyr));
		const double *e = it[i].env;
		OGRGeometryH g;

		if (e[0] == e[2] && e[1] == e[3]) {
			g = OGR_G_CreateGeometry(wkbPoint);
			OGR_G_SetPoint_2D(g, 0, e[0], e[1]);
		} else {
			OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);

			OGR_G_AddPoint_2D(ring, e[0], e[1]);
			OGR_G_AddPoint_2D(ring, e[2], e[1]);
			OGR_G_AddPoint_2D(ring, e[2], e[3]);
			OGR_G_AddPoint_2D(ring, e[0], e[3]);
			OGR_G_AddPoint_2D(ring, e[0], e[1]);
			g = OGR_G_CreateGeometry(wkbPolygon);
			OGR_G_AddGeometryDirectly(g, ring);
		}
		OGR_F_SetGeometryDirectly(f, g);
		OGR_F_SetFID(f, it[i].fid);
		bad += OGR_L_CreateFeature(lyr, f) != OGRERR_NONE;
		OGR_F_Destroy(f);
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(GDALDatasetCommitTransaction(ds), OGRERR_NONE);
	GDALClose(ds);
}

/* Build the index of `it` into `path` (made first) with `budget`. */
static void build(const char *path, const struct item *it, size_t n, size_t budget)
{
	struct rtree_build *b;
	int bad = 0;

	make_gpkg(path, it, n);
	b = rtree_build_create(a, spill, budget);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++)
		bad += rtree_build_add(b, it[i].fid, it[i].env) != 0;
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_eq(rtree_build_count(b), n);
	ck_assert_msg(rtree_build_finish(b, path, "t", "geom", NULL) == 0, "%s", gp_err_msg());
	ck_assert_int_eq(entries(spill), 0);
}

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

static int64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

/* The features' ids in the order of the leaves' cells: the sort's order. */
static size_t leaf_order(sqlite3 *db, int64_t *ids, size_t cap)
{
	sqlite3_stmt *st;
	size_t n = 0;

	ck_assert_int_eq(sqlite3_prepare_v2(db,
	                                    "SELECT data FROM rtree_t_geom_node WHERE nodeno IN "
	                                    "(SELECT nodeno FROM rtree_t_geom_rowid) ORDER BY nodeno",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *d = sqlite3_column_blob(st, 0);
		int cells = d[2] << 8 | d[3];

		for (int c = 0; c < cells; c++) {
			ck_assert_uint_lt(n, cap);
			ids[n++] = be64(d + 4 + 24 * c);
		}
	}
	sqlite3_finalize(st);
	return n;
}

static int64_t count_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void assert_rtreecheck_ok(sqlite3 *db)
{
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT rtreecheck('rtree_t_geom')", -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

/* Every item is in the index once, in a float box holding its own. */
static void assert_boxes(sqlite3 *db, const struct item *it, size_t n)
{
	sqlite3_stmt *st;

	ck_assert_int_eq(count_of(db, "SELECT count(*) FROM rtree_t_geom"), (int64_t)n);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
	                                    "SELECT minx, maxx, miny, maxy FROM rtree_t_geom "
	                                    "WHERE id = ?",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	for (size_t i = 0; i < n; i++) {
		const double *e = it[i].env;
		double minx, maxx, miny, maxy;
		bool held;

		sqlite3_bind_int64(st, 1, it[i].fid);
		if (sqlite3_step(st) != SQLITE_ROW)
			ck_abort_msg("fid %lld is not in the index", (long long)it[i].fid);
		minx = sqlite3_column_double(st, 0);
		maxx = sqlite3_column_double(st, 1);
		miny = sqlite3_column_double(st, 2);
		maxy = sqlite3_column_double(st, 3);
		/* Held, and only just (Check records each assertion: one per item
		 * when it fails). */
		held = minx <= e[0] && maxx >= e[2] && miny <= e[1] && maxy >= e[3] &&
		       e[0] - minx <= 1e-6 * (1 + fabs(e[0])) && maxx - e[2] <= 1e-6 * (1 + fabs(e[2])) &&
		       e[1] - miny <= 1e-6 * (1 + fabs(e[1])) && maxy - e[3] <= 1e-6 * (1 + fabs(e[3]));
		if (!held)
			ck_abort_msg("fid %lld: [%.9g %.9g %.9g %.9g] for [%.9g %.9g %.9g %.9g]",
			             (long long)it[i].fid, minx, miny, maxx, maxy, e[0], e[1], e[2], e[3]);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

/* Deterministic boxes on a quarter grid (exact in float). */
static void random_items(struct item *it, size_t n, uint64_t seed)
{
	uint64_t s = seed;

	for (size_t i = 0; i < n; i++) {
		double v[4];

		for (int k = 0; k < 4; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			v[k] = (double)(s >> 40 & 0xfff) / 4.0 - 500; /* -500 .. 523.75 */
		}
		it[i].fid = (int64_t)(n - i) * 3; /* neither dense nor in order */
		it[i].env[0] = v[0];
		it[i].env[1] = v[1];
		it[i].env[2] = v[0] + fabs(v[2]) / 64;
		it[i].env[3] = v[1] + fabs(v[3]) / 64;
	}
}

/* ---- the Hilbert sort ------------------------------------------------ */

/* Points on a 4 x 4 grid come out along the order-2 Hilbert curve that
 * starts at the lower left and first goes right. */
START_TEST(hilbert_order_of_a_grid)
{
	static const int curve[16][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 2}, {0, 3},
	                                 {1, 3}, {1, 2}, {2, 2}, {2, 3}, {3, 3}, {3, 2},
	                                 {3, 1}, {2, 1}, {2, 0}, {3, 0}};
	struct item it[16];
	int64_t got[16];
	sqlite3 *db;

	/* fid = 100 + 4y + x, added column by column from the top right. */
	for (int i = 0; i < 16; i++) {
		int x = 3 - i / 4, y = 3 - i % 4;

		it[i] = (struct item){.fid = 100 + 4 * y + x, .env = {x, y, x, y}};
	}
	build(gpkg, it, 16, BIG_BUDGET);
	db = open_db(gpkg);
	ck_assert_uint_eq(leaf_order(db, got, 16), 16);
	for (int d = 0; d < 16; d++)
		ck_assert_int_eq(got[d], 100 + 4 * curve[d][1] + curve[d][0]);
	assert_rtreecheck_ok(db);
	assert_boxes(db, it, 16);
	sqlite3_close(db);
}
END_TEST

/* The key is the box's centre: boxes are placed by their middles. */
START_TEST(hilbert_uses_the_centre)
{
	/* Centres at the four corners of the extent; lower-left first. */
	struct item it[4] = {
		{1, {9, -1, 11, 1}},  /* centre (10, 0): last */
		{2, {-1, 9, 1, 11}},  /* (0, 10): second */
		{3, {9, 9, 11, 11}},  /* (10, 10): third */
		{4, {-1, -1, 1, 1}},  /* (0, 0): first */
	};
	int64_t got[4];
	sqlite3 *db;

	build(gpkg, it, 4, BIG_BUDGET);
	db = open_db(gpkg);
	ck_assert_uint_eq(leaf_order(db, got, 4), 4);
	ck_assert_int_eq(got[0], 4);
	ck_assert_int_eq(got[1], 2);
	ck_assert_int_eq(got[2], 3);
	ck_assert_int_eq(got[3], 1);
	sqlite3_close(db);
}
END_TEST

/* Equal keys keep the fid order, whatever order they came in. */
START_TEST(hilbert_ties_by_fid)
{
	struct item it[5] = {
		{30, {5, 5, 5, 5}}, {7, {0, 0, 0, 0}}, {10, {5, 5, 5, 5}},
		{20, {5, 5, 5, 5}}, {-4, {10, 10, 10, 10}},
	};
	int64_t got[5];
	sqlite3 *db;

	build(gpkg, it, 5, BIG_BUDGET);
	db = open_db(gpkg);
	ck_assert_uint_eq(leaf_order(db, got, 5), 5);
	ck_assert_int_eq(got[0], 7);
	ck_assert_int_eq(got[1], 10);
	ck_assert_int_eq(got[2], 20);
	ck_assert_int_eq(got[3], 30);
	ck_assert_int_eq(got[4], -4);
	assert_boxes(db, it, 5);
	sqlite3_close(db);
}
END_TEST

/* One box for all: an extent of no size, every key the same. */
START_TEST(hilbert_all_equal)
{
	struct item it[400];
	int64_t got[400];
	sqlite3 *db;

	for (int i = 0; i < 400; i++)
		it[i] = (struct item){.fid = 1000 - i, .env = {2.5, 2.5, 2.5, 2.5}};
	build(gpkg, it, 400, BIG_BUDGET);
	db = open_db(gpkg);
	ck_assert_uint_eq(leaf_order(db, got, 400), 400);
	for (int i = 0; i < 400; i++)
		ck_assert_int_eq(got[i], 601 + i);
	assert_rtreecheck_ok(db);
	assert_boxes(db, it, 400);
	sqlite3_close(db);
}
END_TEST

START_TEST(hilbert_empty)
{
	GDALDatasetH ds;
	OGRLayerH lyr;
	sqlite3 *db;

	build(gpkg, NULL, 0, BIG_BUDGET);
	db = open_db(gpkg);
	ck_assert_int_eq(count_of(db, "SELECT count(*) FROM rtree_t_geom"), 0);
	ck_assert_int_eq(count_of(db, "SELECT count(*) FROM rtree_t_geom_node"), 1);
	assert_rtreecheck_ok(db);
	sqlite3_close(db);
	ds = GDALOpenEx(gpkg, GDAL_OF_VECTOR, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(ds);
	lyr = GDALDatasetGetLayerByName(ds, "t");
	ck_assert_ptr_nonnull(lyr);
	ck_assert(OGR_L_TestCapability(lyr, OLCFastSpatialFilter));
	OGR_L_SetSpatialFilterRect(lyr, -1e9, -1e9, 1e9, 1e9);
	ck_assert_int_eq(OGR_L_GetFeatureCount(lyr, TRUE), 0);
	GDALClose(ds);
}
END_TEST

/* The index keeps float boxes: each holds its double box, rounded out. */
START_TEST(boxes_hold_their_doubles)
{
	struct item it[4] = {
		{1, {0.1, 0.2, 0.3, 0.7}},
		{2, {-123456.789, 4567890.123, -123456.7, 4567890.9}},
		{3, {1e-40, -1e-40, 3e-39, 1e-40}},
		{4, {-0.1, -0.1, -0.1, -0.1}},
	};
	sqlite3 *db;

	build(gpkg, it, 4, BIG_BUDGET);
	db = open_db(gpkg);
	assert_boxes(db, it, 4);
	assert_rtreecheck_ok(db);
	sqlite3_close(db);
}
END_TEST

/* ---- spilled runs and their merge ------------------------------------ */

#define MANY 3100 /* three full runs of the least buffer, and a short one */

/* With the least memory the records go to a spill file and come back in
 * four sorted runs; the merge gives the very order the in-memory sort
 * does, and the same tree. */
START_TEST(spill_merge_equals_memory_sort)
{
	static struct item it[MANY];
	static int64_t mem_order[MANY], spill_order[MANY];
	char other[128];
	struct rtree_build *b;
	sqlite3 *db;
	size_t i;
	int bad = 0;

	random_items(it, MANY, 42);
	snprintf(other, sizeof other, "%s/spilled.gpkg", dir);
	build(gpkg, it, MANY, BIG_BUDGET);
	ck_assert_int_eq(spill_fds(), 0);
	make_gpkg(other, it, MANY);
	b = rtree_build_create(a, spill, TINY_BUDGET);
	ck_assert_ptr_nonnull(b);
	for (i = 0; i < MANY; i++)
		bad += rtree_build_add(b, it[i].fid, it[i].env) != 0;
	ck_assert_int_eq(bad, 0);
	/* It did spill: a descriptor is open, its file already unlinked. */
	ck_assert_int_eq(spill_fds(), 1);
	ck_assert_int_eq(entries(spill), 0);
	ck_assert_msg(rtree_build_finish(b, other, "t", "geom", NULL) == 0, "%s", gp_err_msg());
	ck_assert_int_eq(spill_fds(), 0);
	ck_assert_int_eq(entries(spill), 0);

	db = open_db(gpkg);
	ck_assert_uint_eq(leaf_order(db, mem_order, MANY), MANY);
	sqlite3_close(db);
	db = open_db(other);
	ck_assert_uint_eq(leaf_order(db, spill_order, MANY), MANY);
	for (i = 0; i < MANY && spill_order[i] == mem_order[i]; i++)
		;
	ck_assert_msg(i == MANY, "item %zu: %lld, in memory %lld", i, (long long)spill_order[i],
	              (long long)mem_order[i]);
	/* More than one level: the upper levels were packed too. */
	ck_assert_int_gt(count_of(db, "SELECT count(*) FROM rtree_t_geom_parent"), 1);
	assert_rtreecheck_ok(db);
	assert_boxes(db, it, MANY);
	sqlite3_close(db);
}
END_TEST

/* ---- the tree answers queries ---------------------------------------- */

static size_t brute_count(const struct item *it, size_t n, const double q[4])
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += it[i].env[0] <= q[2] && it[i].env[2] >= q[0] && it[i].env[1] <= q[3] &&
		     it[i].env[3] >= q[1];
	return c;
}

/* SQLite walks our nodes to answer a box query, GDAL the same through its
 * spatial filter: both agree with a scan of the boxes. */
START_TEST(tree_answers_like_a_scan)
{
	static struct item it[MANY];
	/* Off the quarter grid, so no box edge sits on a query edge. */
	static const double queries[][4] = {
		{-500.125, -500.125, 600.125, 600.125}, {-10.125, -20.125, 30.125, 5.125},
		{100.375, 100.375, 100.625, 300.875},   {400.125, -499.875, 520.125, -300.125},
		{600.125, 600.125, 700.125, 700.125},
	};
	sqlite3_stmt *st;
	sqlite3 *db;
	GDALDatasetH ds;
	OGRLayerH lyr;

	random_items(it, MANY, 7);
	build(gpkg, it, MANY, TINY_BUDGET);
	db = open_db(gpkg);
	ck_assert_int_eq(count_of(db, "SELECT count(*) FROM gpkg_extensions WHERE "
	                              "table_name = 't' AND extension_name = 'gpkg_rtree_index'"),
	                 1);
	/* GDAL's triggers keep the index up to date after us. */
	ck_assert_int_ge(count_of(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
	                              "AND name LIKE 'rtree_t_geom_%'"),
	                 4);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
	                                    "SELECT count(*) FROM rtree_t_geom WHERE maxx >= ?1 AND "
	                                    "minx <= ?3 AND maxy >= ?2 AND miny <= ?4",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	ds = GDALOpenEx(gpkg, GDAL_OF_VECTOR, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(ds);
	lyr = GDALDatasetGetLayerByName(ds, "t");
	ck_assert(OGR_L_TestCapability(lyr, OLCFastSpatialFilter));
	for (size_t k = 0; k < sizeof queries / sizeof queries[0]; k++) {
		const double *q = queries[k];
		size_t want = brute_count(it, MANY, q);

		for (int c = 0; c < 4; c++)
			sqlite3_bind_double(st, c + 1, q[c]);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int64(st, 0), (int64_t)want);
		sqlite3_reset(st);
		OGR_L_SetSpatialFilterRect(lyr, q[0], q[1], q[2], q[3]);
		ck_assert_int_eq(OGR_L_GetFeatureCount(lyr, TRUE), (GIntBig)want);
	}
	ck_assert_uint_eq(brute_count(it, MANY, queries[0]), MANY);
	ck_assert_uint_eq(brute_count(it, MANY, queries[4]), 0);
	GDALClose(ds);
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

/* ---- failures leave nothing behind ----------------------------------- */

START_TEST(fail_missing_temporary_directory)
{
	static struct item it[1100];
	char gone[128];
	struct rtree_build *b;
	int r = 0;

	random_items(it, 1100, 3);
	snprintf(gone, sizeof gone, "%s/gone", dir);
	b = rtree_build_create(a, gone, TINY_BUDGET);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < 1100 && r == 0; i++)
		r = rtree_build_add(b, it[i].fid, it[i].env);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_msg(strstr(gp_err_msg(), "spatial index: cannot create ") && strstr(gp_err_msg(), gone) &&
	                  strstr(gp_err_msg(), strerror(ENOENT)),
	              "%s", gp_err_msg());
	arena_reset(a);
	ck_assert_int_eq(spill_fds(), 0);
}
END_TEST

/* The disk fills (a file size limit): a spill cannot be written. */
START_TEST(fail_spill_write)
{
	static struct item it[1100];
	struct rlimit old, small = {.rlim_cur = 4096};
	void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rtree_build *b;
	int r = 0;

	random_items(it, 1100, 5);
	b = rtree_build_create(a, spill, TINY_BUDGET);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	for (size_t i = 0; i < 1100 && r == 0; i++)
		r = rtree_build_add(b, it[i].fid, it[i].env);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, was);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_str_eq(gp_err_msg(), "spatial index: cannot write a spill file: File too large");
	ck_assert_int_eq(entries(spill), 0);
	arena_reset(a);
	ck_assert_int_eq(spill_fds(), 0);
}
END_TEST

START_TEST(fail_missing_output)
{
	static struct item it[1100];
	char gone[128];
	struct rtree_build *b;
	int bad = 0;

	random_items(it, 1100, 9);
	snprintf(gone, sizeof gone, "%s/none.gpkg", dir);
	b = rtree_build_create(a, spill, TINY_BUDGET);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < 1100; i++)
		bad += rtree_build_add(b, it[i].fid, it[i].env) != 0;
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(rtree_build_finish(b, gone, "t", "geom", NULL), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "spatial index: opening the output"));
	ck_assert_msg(fcntl(0, F_GETFD) != -1, "descriptor 0 closed");
	ck_assert_int_eq(access(gone, F_OK), -1);
	ck_assert_int_eq(entries(spill), 0);
	ck_assert_int_eq(spill_fds(), 0);
}
END_TEST

/* Byte copy of a file. */
static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	ck_assert(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

/* Every allocation of a whole build (spilling) fails in turn: 75, no
 * spill or template file, no descriptor left, no index in the file. */
START_TEST(fail_each_allocation)
{
	static struct item it[2100];
	char clean[128];
	uint64_t n;

	random_items(it, 2100, 11);
	snprintf(clean, sizeof clean, "%s/clean.gpkg", dir);
	make_gpkg(clean, it, 2100);
	for (n = 1;; n++) {
		struct rtree_build *b;
		int r = -1;

		copy_file(clean, gpkg);
		mem_fail_after(n);
		b = rtree_build_create(a, spill, TINY_BUDGET);
		if (b != NULL) {
			r = 0;
			for (size_t i = 0; i < 2100 && r == 0; i++)
				r = rtree_build_add(b, it[i].fid, it[i].env);
			if (r == 0)
				r = rtree_build_finish(b, gpkg, "t", "geom", NULL);
		}
		mem_fail_after(0);
		ck_assert_msg(fcntl(0, F_GETFD) != -1, "at %lu: descriptor 0 closed", (unsigned long)n);
		arena_reset(a);
		ck_assert_int_eq(entries(spill), 0);
		ck_assert_int_eq(entries(dir), 3); /* tmp, clean.gpkg, out.gpkg */
		ck_assert_int_eq(spill_fds(), 0);
		if (r == 0)
			break;
		ck_assert_msg(gp_err_code() == GP_EX_TEMPFAIL, "at %lu: %d %s", (unsigned long)n,
		              gp_err_code(), gp_err_msg());
		{
			sqlite3 *db = open_db(gpkg);

			ck_assert_int_eq(count_of(db, "SELECT count(*) FROM sqlite_master WHERE name "
			                              "LIKE 'rtree%'"),
			                 0);
			sqlite3_close(db);
		}
		gp_err_clear();
	}
	ck_assert_uint_ge(n, 10);
	{
		sqlite3 *db = open_db(gpkg);

		assert_rtreecheck_ok(db);
		assert_boxes(db, it, 2100);
		sqlite3_close(db);
	}
}
END_TEST

static Suite *gpkg_rtree_suite(void)
{
	Suite *s = suite_create("gpkg_rtree");
	TCase *tc;

	tc = tcase_create("hilbert_sort");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hilbert_order_of_a_grid);
	tcase_add_test(tc, hilbert_uses_the_centre);
	tcase_add_test(tc, hilbert_ties_by_fid);
	tcase_add_test(tc, hilbert_all_equal);
	tcase_add_test(tc, hilbert_empty);
	tcase_add_test(tc, boxes_hold_their_doubles);
	suite_add_tcase(s, tc);

	tc = tcase_create("spill_merge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, spill_merge_equals_memory_sort);
	tcase_add_test(tc, tree_answers_like_a_scan);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fail_missing_temporary_directory);
	tcase_add_test(tc, fail_spill_write);
	tcase_add_test(tc, fail_missing_output);
	tcase_add_test(tc, fail_each_allocation);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(gpkg_rtree_suite());
	int failed;

	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
