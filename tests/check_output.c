/* check_output.c - unit tests for a writer's outputs (src/core/output.c).
 *
 * /dev/full stands for a full disk, as in check_iocheck.c: a file of the
 * output's temporary directory made a link to it fails every write, which
 * the GeoJSON driver ignores and output_close() must not. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <ogr_api.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/iocheck.h"
#include "core/output.h"

static struct mem_account account;
static struct stage_acct stage;
static struct arena *a;
static struct outset *set;
static char tmpdir[64];
static char target[128];

static void setup(void)
{
	gp_err_clear();
	mem_account_init(&account, "output-test", NULL, 0);
	stage_acct_init(&stage, "write", &account);
	a = arena_create(&stage.mem, 0);
	ck_assert_ptr_nonnull(a);
	set = outset_create(a, 0, NULL);
	ck_assert_ptr_nonnull(set);
	strcpy(tmpdir, "/tmp/check_output.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(target, sizeof target, "%s/out.geojson", tmpdir);
}

static void teardown(void)
{
	char cmd[128];

	arena_destroy(a);
	ck_assert_int_eq(stage_acct_first_leak(&stage), -1);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	gp_err_clear();
}

static struct output *begin(struct output **list, const char *path, enum outfile_mode mode)
{
	struct output *o = arena_calloc(a, 1, sizeof *o);

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(output_begin(list, o, set, a, path, mode), 0);
	return o;
}

/* A dataset of `driver` for `o` with one point, owned by o->ds. */
static GDALDatasetH create_points(struct output *o, const char *driver)
{
	GDALDriverH drv = GDALGetDriverByName(driver);
	GDALDatasetH ds = GDALCreate(drv, o->gdal_path, 0, 0, 0, GDT_Unknown, NULL);
	OGRLayerH lyr;
	OGRFeatureH f;
	OGRGeometryH g = OGR_G_CreateGeometry(wkbPoint);

	ck_assert_int_eq(output_own_dataset(o, a, &stage, ds), 0);
	lyr = GDALDatasetCreateLayer(ds, "out", NULL, wkbPoint, NULL);
	ck_assert_ptr_nonnull(lyr);
	f = OGR_F_Create(OGR_L_GetLayerDefn(lyr));
	OGR_G_SetPoint_2D(g, 0, 1.5, 2.5);
	OGR_F_SetGeometryDirectly(f, g);
	ck_assert_int_eq(OGR_L_CreateFeature(lyr, f), OGRERR_NONE);
	OGR_F_Destroy(f);
	return ds;
}

/* Write a block to file `name` of o's temporary directory, a link to
 * /dev/full, through the checking layer: a failed write of a sidecar. */
static void fail_a_write(struct output *o, const char *name)
{
	char link[256], buf[4096] = {0};
	VSILFILE *fp;

	snprintf(link, sizeof link, "%s/%s", o->of.tmpdir, name);
	ck_assert_int_eq(symlink("/dev/full", link), 0);
	fp = VSIFOpenL(iocheck_path(a, link), "wb");
	ck_assert_ptr_nonnull(fp);
	VSIFWriteL(buf, 1, sizeof buf, fp);
	VSIFCloseL(fp);
}

static bool is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

START_TEST(find_by_path)
{
	struct output *list = NULL, *o1, *o2;
	char other[160];

	snprintf(other, sizeof other, "%s/other.geojson", tmpdir);
	o1 = begin(&list, target, OUTFILE_CREATE);
	o2 = begin(&list, other, OUTFILE_CREATE);
	ck_assert_ptr_eq(list, o2); /* newest first */
	ck_assert_ptr_eq(output_find(list, target), o1);
	ck_assert_ptr_eq(output_find(list, other), o2);
	ck_assert_ptr_null(output_find(list, "out.geojson"));
	ck_assert_ptr_null(output_find(NULL, target));
}
END_TEST

START_TEST(absent_refuses_an_existing_fixed_target)
{
	char tmpl[160], want[256];
	FILE *f = fopen(target, "w");

	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(output_check_absent(a, target, OUTFILE_CREATE, "overwrite", 0, 0), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	snprintf(want, sizeof want, "cannot create '%s': it exists (use mode: overwrite)", target);
	ck_assert_str_eq(gp_err_msg(), want);
	gp_err_clear();
	ck_assert_int_eq(output_check_absent(a, target, OUTFILE_OVERWRITE, "overwrite", 0, 0), 0);
	ck_assert_int_eq(output_check_absent(a, target, OUTFILE_APPEND, "overwrite", 0, 0), 0);
	/* A template is only known per input. */
	snprintf(tmpl, sizeof tmpl, "%s/out{index}.geojson", tmpdir);
	ck_assert_int_eq(output_check_absent(a, tmpl, OUTFILE_CREATE, "overwrite", 0, 0), 0);
	ck_assert_int_eq(gp_err_code(), 0);
	/* {shard} alone is known before any input: the shard's part. */
	snprintf(tmpl, sizeof tmpl, "%s/out{shard}.geojson", tmpdir);
	ck_assert_int_eq(output_check_absent(a, tmpl, OUTFILE_CREATE, "overwrite", 1, 2), 0);
	snprintf(want, sizeof want, "%s/out1.geojson", tmpdir);
	f = fopen(want, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(output_check_absent(a, tmpl, OUTFILE_CREATE, "overwrite", 0, 2), 0);
	ck_assert_int_eq(output_check_absent(a, tmpl, OUTFILE_CREATE, "overwrite", 1, 2), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	gp_err_clear();
	/* With another template beside it, per input again. */
	snprintf(tmpl, sizeof tmpl, "%s/out{shard}{index}.geojson", tmpdir);
	ck_assert_int_eq(output_check_absent(a, tmpl, OUTFILE_CREATE, "overwrite", 1, 2), 0);
	ck_assert_int_eq(unlink(want), 0);
}
END_TEST

START_TEST(begin_stages_beside_the_target)
{
	struct output *list = NULL, *o = begin(&list, target, OUTFILE_CREATE);
	struct output *again = arena_calloc(a, 1, sizeof *again);

	ck_assert_ptr_eq(list, o);
	ck_assert_str_eq(o->path, target);
	ck_assert_ptr_ne(o->path, target); /* copied */
	ck_assert(is_dir(o->of.tmpdir));
	ck_assert_ptr_nonnull(o->chk);
	/* GDAL is given the temporary file through the checking layer. */
	ck_assert_ptr_nonnull(strstr(o->gdal_path, o->of.tmppath));
	ck_assert_str_ne(o->gdal_path, o->of.tmppath);
	ck_assert_ptr_null(o->ds);
	/* One target, one output: the second is refused and left out. */
	ck_assert_int_eq(output_begin(&list, again, set, a, target, OUTFILE_OVERWRITE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	ck_assert_ptr_eq(list, o);
	ck_assert_ptr_null(o->next);
}
END_TEST

START_TEST(fail_defers_to_the_io_error)
{
	struct output *list = NULL, *o = begin(&list, target, OUTFILE_CREATE);

	ck_assert_int_eq(output_status(o), 0);
	ck_assert_int_eq(output_fail(o, GP_EX_DATAERR, "cannot add field '%s'", "x"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_DATAERR);
	ck_assert_str_eq(gp_err_msg(), "cannot add field 'x'");
	fail_a_write(o, "out.idx");
	ck_assert_int_eq(output_status(o), -1);
	ck_assert_int_eq(output_fail(o, GP_EX_DATAERR, "cannot add field '%s'", "x"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "/out.geojson' (its file 'out.idx'): No space "
	                                           "left on device"));
}
END_TEST

START_TEST(own_dataset_names_a_failed_create)
{
	struct output *list = NULL, *o = begin(&list, target, OUTFILE_CREATE);
	char want[256];

	CPLPushErrorHandler(CPLQuietErrorHandler);
	CPLError(CE_Failure, CPLE_AppDefined, "no such driver option");
	CPLPopErrorHandler();
	ck_assert_int_eq(output_own_dataset(o, a, &stage, NULL), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	snprintf(want, sizeof want, "cannot create '%s': no such driver option", target);
	ck_assert_str_eq(gp_err_msg(), want);
	ck_assert_ptr_null(o->ds);
}
END_TEST

START_TEST(close_then_commit_puts_it_in_place)
{
	struct output *list = NULL, *o = begin(&list, target, OUTFILE_CREATE);
	char buf[512] = "";
	FILE *f;

	create_points(o, "GeoJSON");
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 1);
	ck_assert_int_eq(output_close(o), 0);
	ck_assert_ptr_null(o->ds);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 0);
	ck_assert_int_eq(output_close(o), 0); /* nothing left to close */
	ck_assert_int_eq(access(target, F_OK), -1);
	ck_assert_int_eq(outset_commit(set), 0);
	f = fopen(target, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "\"coordinates\": [ 1.5, 2.5 ]"));
}
END_TEST

START_TEST(close_sees_a_write_the_driver_ignored)
{
	struct output *list = NULL, *o = begin(&list, target, OUTFILE_CREATE);

	/* The file itself is on a full disk (GeoJSONSeq: GeoJSON will not
	 * write over the link): the driver writes its buffer at the close
	 * and says nothing. */
	ck_assert_int_eq(symlink("/dev/full", o->of.tmppath), 0);
	create_points(o, "GeoJSONSeq");
	ck_assert_int_eq(output_close(o), -1);
	ck_assert_ptr_null(o->ds);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 0);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "/out.geojson': No space left on device"));
}
END_TEST

START_TEST(close_dataset_checks_a_sidecar)
{
	struct output *list = NULL, *o = begin(&list, target, OUTFILE_CREATE);
	GDALDatasetH ds = create_points(o, "GeoJSON");

	handle_take(o->ds);
	o->ds = NULL;
	fail_a_write(o, "out.xsd");
	ck_assert_int_eq(output_close_dataset(o, ds), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "(its file 'out.xsd')"));
}
END_TEST

START_TEST(drop_closes_unchecked)
{
	struct output *list = NULL, *o1, *o2;
	char other[160], buf[512] = "";
	FILE *f;

	snprintf(other, sizeof other, "%s/full.geojsons", tmpdir);
	o1 = begin(&list, target, OUTFILE_CREATE);
	create_points(o1, "GeoJSON");
	output_drop(o1);
	ck_assert_ptr_null(o1->ds);
	/* Closed: GeoJSON ends the collection at the close. */
	f = fopen(o1->of.tmppath, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "]\n}"));
	/* Unchecked: a failed close is no error. */
	o2 = begin(&list, other, OUTFILE_CREATE);
	ck_assert_int_eq(symlink("/dev/full", o2->of.tmppath), 0);
	create_points(o2, "GeoJSONSeq");
	output_drop(o2);
	ck_assert_ptr_null(o2->ds);
	ck_assert_int_eq(stage.live[HANDLE_GDAL_DATASET].cur, 0);
	ck_assert_int_eq(gp_err_code(), 0);
	output_drop(o2); /* twice is nothing */
}
END_TEST

START_TEST(abort_all_leaves_nothing)
{
	struct output *list = NULL, *o1, *o2;
	char other[160], sub[160];

	snprintf(other, sizeof other, "%s/new/other.geojson", tmpdir);
	snprintf(sub, sizeof sub, "%s/new", tmpdir);
	o1 = begin(&list, target, OUTFILE_CREATE);
	o2 = begin(&list, other, OUTFILE_CREATE);
	create_points(o1, "GeoJSON");
	ck_assert_int_eq(output_close(o1), 0);
	ck_assert(is_dir(o1->of.tmpdir) && is_dir(o2->of.tmpdir));
	output_abort_all(list);
	ck_assert(o1->of.done && o2->of.done);
	ck_assert(!is_dir(o1->of.tmpdir));
	ck_assert(!is_dir(sub)); /* made for the output, gone with it */
	ck_assert_int_eq(access(target, F_OK), -1);
	ck_assert_int_eq(outset_commit(set), 0);
	ck_assert_int_eq(access(target, F_OK), -1);
	ck_assert_uint_eq(outset_committed(set), 0);
}
END_TEST

START_TEST(explain_says_how_it_is_written)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	output_explain(f, "out/{stem}.tif", GDALGetDriverByName("COG"), "create",
	               "  a note\n");
	output_explain(f, "out.gpkg", NULL, "append", NULL);
	fclose(f);
	ck_assert_str_eq(text, "  output: out/{stem}.tif [COG], mode create (one per input, from "
	                       "the template)\n"
	                       "  a note\n"
	                       "  written to a temporary directory beside the target, renamed "
	                       "into place after a successful close\n"
	                       "  output: out.gpkg [?], mode append\n"
	                       "  written to a temporary directory beside the target, renamed "
	                       "into place after a successful close\n");
	free(text);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *output_suite(void)
{
	Suite *s = suite_create("output");
	TCase *tc;

	tc = tcase(s, "output_find");
	tcase_add_test(tc, find_by_path);

	tc = tcase(s, "output_check_absent");
	tcase_add_test(tc, absent_refuses_an_existing_fixed_target);

	tc = tcase(s, "output_begin");
	tcase_add_test(tc, begin_stages_beside_the_target);

	tc = tcase(s, "output_fail");
	tcase_add_test(tc, fail_defers_to_the_io_error);

	tc = tcase(s, "output_own_dataset");
	tcase_add_test(tc, own_dataset_names_a_failed_create);

	tc = tcase(s, "output_close");
	tcase_add_test(tc, close_then_commit_puts_it_in_place);
	tcase_add_test(tc, close_sees_a_write_the_driver_ignored);

	tc = tcase(s, "output_close_dataset");
	tcase_add_test(tc, close_dataset_checks_a_sidecar);

	tc = tcase(s, "output_drop");
	tcase_add_test(tc, drop_closes_unchecked);

	tc = tcase(s, "output_abort_all");
	tcase_add_test(tc, abort_all_leaves_nothing);

	tc = tcase(s, "output_explain");
	tcase_add_test(tc, explain_says_how_it_is_written);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(output_suite());
	int failed;

	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
