/* check_iocheck.c - unit tests for the write checker (src/core/iocheck.c).
 *
 * /dev/full stands for a full disk: opening it works, every write to it
 * fails with ENOSPC (stdio's buffered ones when they are flushed). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/iocheck.h"

static struct mem_account account;
static struct arena *a;
static char tmpdir[64];

static void setup(void)
{
	gp_err_clear();
	mem_account_init(&account, "iocheck-test", NULL, 0);
	a = arena_create(&account, 0);
	ck_assert_ptr_nonnull(a);
	strcpy(tmpdir, "/tmp/check_iocheck.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	arena_destroy(a);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	gp_err_clear();
}

/* Write `n` bytes to `path` through the layer and close; the sum of
 * what failed (0 when all worked). */
static int write_file(const char *path, size_t n)
{
	VSILFILE *fp = VSIFOpenL(iocheck_path(a, path), "wb");
	char buf[4096] = {0};
	int bad = 0;

	ck_assert_ptr_nonnull(fp);
	for (size_t done = 0; done < n; done += sizeof buf)
		bad += VSIFWriteL(buf, 1, sizeof buf, fp) != sizeof buf;
	bad += VSIFCloseL(fp) != 0;
	return bad;
}

START_TEST(path_is_prefixed)
{
	ck_assert_str_eq(iocheck_path(a, "/x/y.gpkg"), "/vsigpchk//x/y.gpkg");
	ck_assert_str_eq(iocheck_path(a, "out/y.gpkg"), "/vsigpchk/out/y.gpkg");
	CPLSetConfigOption("GISPIPE_IOCHECK", "NO");
	ck_assert_str_eq(iocheck_path(a, "out/y.gpkg"), "out/y.gpkg");
	CPLSetConfigOption("GISPIPE_IOCHECK", NULL);
}
END_TEST

START_TEST(good_writes_pass_through)
{
	struct iocheck *c = iocheck_watch(a, tmpdir);
	char path[128];
	struct stat sb;

	ck_assert_ptr_nonnull(c);
	snprintf(path, sizeof path, "%s/x.bin", tmpdir);
	ck_assert_int_eq(write_file(path, 1 << 20), 0);
	ck_assert_int_eq(iocheck_status(c, "out/x.bin"), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_size, 1 << 20);
	/* Names under the prefix work for the rest of the file system API. */
	ck_assert_int_eq(VSIStatL(iocheck_path(a, path), &(VSIStatBufL){0}), 0);
	ck_assert_int_eq(VSIUnlink(iocheck_path(a, path)), 0);
	ck_assert_int_ne(stat(path, &sb), 0);
}
END_TEST

START_TEST(full_disk_is_recorded)
{
	struct iocheck *dev = iocheck_watch(a, "/dev");
	struct iocheck *other = iocheck_watch(a, tmpdir);
	char path[128];

	ck_assert_ptr_nonnull(dev);
	ck_assert_int_gt(write_file("/dev/full", 3 * 4096), 0);
	ck_assert_int_eq(iocheck_status(dev, "out/full.geojson"), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_str_eq(
	        gp_err_msg(),
	        "cannot write 'out/full.geojson' (its file 'full'): No space left on device");
	/* Only the record of that directory. */
	ck_assert_int_eq(iocheck_status(other, "x"), 0);
	snprintf(path, sizeof path, "%s/x.bin", tmpdir);
	ck_assert_int_eq(write_file(path, 100), 0);
	ck_assert_int_eq(iocheck_status(other, "x"), 0);
}
END_TEST

START_TEST(first_failure_kept)
{
	struct iocheck *dev = iocheck_watch(a, "/dev");

	ck_assert_int_gt(write_file("/dev/full", 4096), 0);
	ck_assert_int_gt(write_file("/dev/full", 4096), 0);
	ck_assert_int_eq(iocheck_status(dev, "full"), -1);
	ck_assert_str_eq(gp_err_msg(), "cannot write 'full': No space left on device");
	ck_assert_int_eq(iocheck_status(NULL, "x"), 0);
}
END_TEST

START_TEST(record_outlives_its_arena_while_a_file_is_open)
{
	struct arena *b = arena_create(&account, 0);
	VSILFILE *fp;
	char buf[8192] = {0};

	ck_assert_ptr_nonnull(iocheck_watch(b, "/dev"));
	fp = VSIFOpenL(iocheck_path(a, "/dev/full"), "wb");
	ck_assert_ptr_nonnull(fp);
	arena_destroy(b); /* unwatched; the open file still holds it */
	VSIFWriteL(buf, 1, sizeof buf, fp);
	VSIFCloseL(fp);
}
END_TEST

struct writer {
	const char *path;
	int bad;
};

static void *write_thread(void *arg)
{
	struct writer *w = arg;
	VSILFILE *fp = VSIFOpenL(w->path, "wb");
	char buf[1024] = {0};

	if (fp == NULL)
		return NULL;
	for (int i = 0; i < 256; i++)
		w->bad += VSIFWriteL(buf, 1, sizeof buf, fp) != sizeof buf;
	w->bad += VSIFCloseL(fp) != 0;
	return NULL;
}

START_TEST(threads_write_side_by_side)
{
	struct iocheck *dev = iocheck_watch(a, "/dev");
	struct iocheck *mine = iocheck_watch(a, tmpdir);
	struct writer w[8];
	pthread_t t[8];

	for (int i = 0; i < 8; i++) {
		char *p = arena_printf(a, "%s/t%d.bin", tmpdir, i);

		w[i] = (struct writer){.path = iocheck_path(a, i == 5 ? "/dev/full" : p)};
		ck_assert_int_eq(pthread_create(&t[i], NULL, write_thread, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(w[i].bad > 0, i == 5);
	ck_assert_int_eq(iocheck_status(mine, "t"), 0);
	ck_assert_int_eq(iocheck_status(dev, "t"), -1);
}
END_TEST

START_TEST(strip_takes_the_prefix_out)
{
	char buf[64];

	ck_assert_str_eq(
	        iocheck_strip("cannot open /vsigpchk//tmp/a.gml and /vsigpchk/b", buf, sizeof buf),
	        "cannot open /tmp/a.gml and b");
	ck_assert_str_eq(iocheck_strip("/vsigpchk/abcdefghij", buf, 5), "abcd");
	CPLErrorReset();
	CPLPushErrorHandler(CPLQuietErrorHandler);
	CPLError(CE_Failure, CPLE_FileIO, "%s: failed", "/vsigpchk//tmp/x.shp");
	CPLPopErrorHandler();
	ck_assert_str_eq(iocheck_gdal_msg(), "/tmp/x.shp: failed");
	CPLErrorReset();
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

static Suite *iocheck_suite(void)
{
	Suite *s = suite_create("iocheck");
	TCase *tc;

	tc = tcase(s, "iocheck_path");
	tcase_add_test(tc, path_is_prefixed);

	tc = tcase(s, "iocheck_watch");
	tcase_add_test(tc, good_writes_pass_through);
	tcase_add_test(tc, record_outlives_its_arena_while_a_file_is_open);
	tcase_add_test(tc, threads_write_side_by_side);

	tc = tcase(s, "iocheck_status");
	tcase_add_test(tc, full_disk_is_recorded);
	tcase_add_test(tc, first_failure_kept);

	tc = tcase(s, "iocheck_strip");
	tcase_add_test(tc, strip_takes_the_prefix_out);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(iocheck_suite());
	int failed;

	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
