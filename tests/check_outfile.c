/* check_outfile.c - unit tests for atomic outputs (src/core/outfile.c). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>

#include "core/account.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/outfile.h"

#include "as_nobody.h"

static struct mem_account account;
static char tmpdir[64];

static void setup(void)
{
	mem_fail_after(0);
	gp_err_clear();
	mem_account_init(&account, "write-test", NULL, 0);
	strcpy(tmpdir, "/tmp/check_outfile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_all(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char p[512];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		remove_all(p);
	}
	closedir(d);
	rmdir(path);
}

static void teardown(void)
{
	mem_fail_after(0);
	gp_err_clear();
	remove_all(tmpdir);
}

static struct arena *new_arena(void)
{
	struct arena *a = arena_create(&account, 0);

	ck_assert_ptr_nonnull(a);
	return a;
}

static void done(struct arena *a)
{
	arena_destroy(a);
	ck_assert_int_eq(account.bytes.cur, 0);
}

static const char *path_in(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	ck_assert(n > 0 && (size_t)n < size);
	return buf;
}

#define TMP(buf, name) path_in(buf, sizeof buf, tmpdir, name)

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* The file's contents, or "<missing>". */
static const char *read_text(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return "<missing>";
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The entries of `dir` sorted, comma-separated; temporary directories show
 * as ".gispipe-*". */
static const char *listing(const char *dir)
{
	static char out[2048];
	char *names[64];
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	out[0] = '\0';
	if (d == NULL)
		return "<no directory>";
	while ((e = readdir(d)) != NULL && n < 64) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		names[n++] = strncmp(e->d_name, ".gispipe-", 9) == 0 ? strdup(".gispipe-*")
		                                                     : strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, names[i]);
		free(names[i]);
	}
	return out;
}

static bool is_dir(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A real shapefile with `nfeat` points, and a .cpg (ENCODING=UTF-8). */
static void make_vector(const char *path, const char *driver, int nfeat, bool cpg)
{
	GDALDriverH drv = GDALGetDriverByName(driver);
	GDALDatasetH ds;
	OGRLayerH lyr;
	OGRFieldDefnH fld;
	char **lco = cpg ? CSLSetNameValue(NULL, "ENCODING", "UTF-8") : NULL;

	ck_assert_ptr_nonnull(drv);
	ds = GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, NULL);
	ck_assert_ptr_nonnull(ds);
	lyr = GDALDatasetCreateLayer(ds, "t", NULL, wkbPoint, lco);
	ck_assert_ptr_nonnull(lyr);
	CSLDestroy(lco);
	fld = OGR_Fld_Create("name", OFTString);
	ck_assert_int_eq(OGR_L_CreateField(lyr, fld, 1), OGRERR_NONE);
	OGR_Fld_Destroy(fld);
	for (int i = 0; i < nfeat; i++) {
		OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(lyr));
		OGRGeometryH g = OGR_G_CreateGeometry(wkbPoint);

		OGR_G_SetPoint_2D(g, 0, i, i);
		OGR_F_SetGeometryDirectly(f, g);
		OGR_F_SetFieldString(f, 0, "old");
		ck_assert_int_eq(OGR_L_CreateFeature(lyr, f), OGRERR_NONE);
		OGR_F_Destroy(f);
	}
	GDALClose(ds);
}

static GIntBig count_features(const char *path)
{
	GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
	GIntBig n;

	ck_assert_msg(ds != NULL, "cannot open %s", path);
	n = OGR_L_GetFeatureCount(GDALDatasetGetLayer(ds, 0), 1);
	GDALClose(ds);
	return n;
}

static void add_feature(const char *path)
{
	GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_UPDATE, NULL, NULL, NULL);
	OGRLayerH lyr;
	OGRFeatureH f;

	ck_assert_msg(ds != NULL, "cannot open %s", path);
	lyr = GDALDatasetGetLayer(ds, 0);
	f = OGR_F_Create(OGR_L_GetLayerDefn(lyr));
	OGR_F_SetFieldString(f, 0, "new");
	ck_assert_int_eq(OGR_L_CreateFeature(lyr, f), OGRERR_NONE);
	OGR_F_Destroy(f);
	GDALClose(ds);
}

/* tmpdir is a fresh directory beside the target, and tmppath is the
 * target's name inside it. */
static void assert_temp_beside(const struct outfile *o, const char *dir, const char *name)
{
	char want[512];
	size_t dl = strlen(dir);

	ck_assert_ptr_nonnull(o->tmpdir);
	ck_assert_int_eq(strncmp(o->tmpdir, dir, dl), 0);
	ck_assert_int_eq(strncmp(o->tmpdir + dl, "/.gispipe-", 10), 0);
	ck_assert_uint_eq(strlen(o->tmpdir), dl + 16);
	ck_assert(is_dir(o->tmpdir));
	snprintf(want, sizeof want, "%s/%s", o->tmpdir, name);
	ck_assert_str_eq(o->tmppath, want);
}

/* ---- outfile_exists -------------------------------------------------- */

START_TEST(exists_files_and_dirs)
{
	char p[256];

	ck_assert(outfile_exists(tmpdir));
	ck_assert(!outfile_exists(TMP(p, "nothing.gpkg")));
	write_text(TMP(p, "x.txt"), "x");
	ck_assert(outfile_exists(p));
	ck_assert(!outfile_exists(TMP(p, "x.txt/y")));
}
END_TEST

/* ---- outfile_begin --------------------------------------------------- */

START_TEST(begin_create_new)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256];

	TMP(target, "out.gpkg");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	ck_assert_str_eq(o.target, target);
	assert_temp_beside(&o, tmpdir, "out.gpkg");
	ck_assert(!o.existed);
	ck_assert(!o.done);
	ck_assert_ptr_null(o.old_files);
	/* nothing at the target, nothing in the temporary directory yet; the
	 * target's lock file beside it while it is being written */
	ck_assert_str_eq(listing(tmpdir), ".gispipe-*,.out.gpkg.gispipe-lock");
	ck_assert_str_eq(listing(o.tmpdir), "");
	outfile_abort(&o);
	ck_assert_str_eq(listing(tmpdir), "");
	done(a);
}
END_TEST

START_TEST(begin_create_refuses_existing)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], msg[512];

	TMP(target, "out.gpkg");
	write_text(target, "precious");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	snprintf(msg, sizeof msg, "cannot create '%s': it exists (use mode: overwrite or append)",
	         target);
	ck_assert_str_eq(gp_err_msg(), msg);
	ck_assert(o.existed);
	ck_assert_ptr_null(o.tmpdir);
	done(a);
	/* the target is as it was and nothing was left beside it */
	ck_assert_str_eq(read_text(target), "precious");
	ck_assert_str_eq(listing(tmpdir), "out.gpkg");
}
END_TEST

START_TEST(begin_refuses_directory_and_vsi)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], msg[512];

	TMP(target, "adir");
	ck_assert_int_eq(mkdir(target, 0755), 0);
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_OVERWRITE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	snprintf(msg, sizeof msg, "cannot write '%s': it is a directory", target);
	ck_assert_str_eq(gp_err_msg(), msg);

	gp_err_clear();
	ck_assert_int_eq(outfile_begin(NULL, a, &o, "/vsimem/out.gpkg", OUTFILE_OVERWRITE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	ck_assert_str_eq(gp_err_msg(), "cannot write '/vsimem/out.gpkg': outputs must be local "
	                               "files (they are written atomically)");
	done(a);
	ck_assert_str_eq(listing(tmpdir), "adir");
	ck_assert_str_eq(listing(target), "");
}
END_TEST

START_TEST(begin_makes_parent_directories)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], dir[256];

	TMP(target, "a/b/c/out.fgb");
	TMP(dir, "a/b/c");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	ck_assert(is_dir(dir));
	assert_temp_beside(&o, dir, "out.fgb");
	write_text(o.tmppath, "fgb");
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert_str_eq(read_text(target), "fgb");
	ck_assert_str_eq(listing(dir), "out.fgb");
	done(a);

	/* a file where a directory must go */
	a = new_arena();
	TMP(target, "a/b/c/out.fgb/x.gpkg");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "cannot create directory '"));
	done(a);
	ck_assert_str_eq(listing(dir), "out.fgb");
}
END_TEST

struct refusal {
	const char *target, *msg;
};

/* outfile_begin() on the target must fail with 73 and the message; 0 when
 * it did. */
static int begin_refused(const void *ctx)
{
	const struct refusal *r = ctx;
	struct arena *a = new_arena();
	struct outfile o;
	int bad;

	gp_err_clear();
	bad = outfile_begin(NULL, a, &o, r->target, OUTFILE_CREATE) != -1 ||
	      gp_err_code() != GP_EX_CANTCREAT || strcmp(gp_err_msg(), r->msg) != 0;
	if (bad)
		fprintf(stderr, "begin_refused: exit %d, '%s'\n", gp_err_code(), gp_err_msg());
	arena_destroy(a);
	return bad;
}

START_TEST(begin_unwritable_directory)
{
	struct arena *a = new_arena();
	struct outfile o;
	char dir[256], target[256], msg[512];

	/* no temporary directory can be made in /proc, not even by root */
	ck_assert_int_eq(outfile_begin(NULL, a, &o, "/proc/gispipe-out.gpkg", OUTFILE_CREATE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	ck_assert_ptr_nonnull(strstr(gp_err_msg(), "cannot write in '/proc': "));
	ck_assert_ptr_null(o.tmpdir);
	done(a);

	TMP(dir, "ro");
	ck_assert_int_eq(mkdir(dir, 0555), 0);
	TMP(target, "ro/out.gpkg");
	snprintf(msg, sizeof msg, "cannot write in '%s': Permission denied", dir);
	ck_assert_int_eq(chmod(tmpdir, 0755), 0); /* nobody may look in */
	ck_assert_int_eq(as_nobody(begin_refused, &(struct refusal){target, msg}), 0);
	chmod(dir, 0755);
	ck_assert_str_eq(listing(dir), "");
}
END_TEST

START_TEST(begin_out_of_memory)
{
	char target[256];
	uint64_t n;
	int failed = 0;

	TMP(target, "t.gpkg");
	make_vector(target, "GPKG", 2, false);
	for (n = 1; n < 1000; n++) {
		struct arena *a = arena_create(&account, 64);
		struct outfile o;
		uint64_t made;
		int rc;

		ck_assert_ptr_nonnull(a);
		gp_err_clear();
		mem_fail_after(n);
		rc = outfile_begin(NULL, a, &o, target, OUTFILE_APPEND);
		made = mem_fail_after(0);
		if (rc == 0)
			ck_assert_str_eq(listing(o.tmpdir), "t.gpkg");
		/* whatever happened, the arena takes everything with it */
		done(a);
		ck_assert_str_eq(listing(tmpdir), "t.gpkg");
		if (made < n) {
			ck_assert_int_eq(rc, 0);
			break;
		}
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
		failed++;
	}
	ck_assert_uint_lt(n, 1000);
	ck_assert_int_eq(failed, (int)n - 1);
	ck_assert_int_ge(failed, 5);
	ck_assert_int_eq(count_features(target), 2);
}
END_TEST

/* ---- outfile_commit -------------------------------------------------- */

START_TEST(commit_renames_into_place)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], tmp[256];

	TMP(target, "out.csv");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	snprintf(tmp, sizeof tmp, "%s", o.tmpdir);
	write_text(o.tmppath, "id,name\n1,a\n");
	/* until commit the target does not exist */
	ck_assert(!outfile_exists(target));
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert(o.done);
	ck_assert_str_eq(read_text(target), "id,name\n1,a\n");
	ck_assert(!outfile_exists(tmp));
	ck_assert_str_eq(listing(tmpdir), "out.csv");
	/* abort and arena cleanup after a commit change nothing */
	outfile_abort(&o);
	done(a);
	ck_assert_str_eq(read_text(target), "id,name\n1,a\n");
	ck_assert_str_eq(listing(tmpdir), "out.csv");
}
END_TEST

START_TEST(commit_sibling_files)
{
	/* a writer may add files beside its main one (.shx, .dbf, ...): all
	 * of them move */
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], p[256];

	TMP(target, "roads.shp");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	write_text(o.tmppath, "shp");
	write_text(path_in(p, sizeof p, o.tmpdir, "roads.shx"), "shx");
	write_text(path_in(p, sizeof p, o.tmpdir, "roads.dbf"), "dbf");
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert_str_eq(listing(tmpdir), "roads.dbf,roads.shp,roads.shx");
	ck_assert_str_eq(read_text(TMP(p, "roads.shx")), "shx");
	done(a);
}
END_TEST

START_TEST(commit_overwrite_removes_stale_files)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], p[256];
	int nold = 0;

	TMP(target, "t.shp");
	make_vector(target, "ESRI Shapefile", 3, true);
	ck_assert_str_eq(listing(tmpdir), "t.cpg,t.dbf,t.shp,t.shx");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_OVERWRITE), 0);
	ck_assert(o.existed);
	ck_assert_ptr_nonnull(o.old_files);
	for (char **f = o.old_files; *f; f++) {
		ck_assert_int_eq(strncmp(*f, tmpdir, strlen(tmpdir)), 0);
		nold++;
	}
	ck_assert_int_eq(nold, 4);
	/* overwrite starts from nothing */
	ck_assert_str_eq(listing(o.tmpdir), "");
	write_text(o.tmppath, "new shp");
	write_text(path_in(p, sizeof p, o.tmpdir, "t.dbf"), "new dbf");
	/* the old dataset is whole until commit */
	ck_assert_int_eq(count_features(target), 3);
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert_ptr_null(o.old_files);
	/* the new files replaced the old ones; .shx and .cpg were stale */
	ck_assert_str_eq(listing(tmpdir), "t.dbf,t.shp");
	ck_assert_str_eq(read_text(target), "new shp");
	ck_assert_str_eq(read_text(TMP(p, "t.dbf")), "new dbf");
	ck_assert_str_eq(read_text(TMP(p, "t.cpg")), "<missing>");
	done(a);
}
END_TEST

START_TEST(commit_overwrite_relative_target)
{
	/* a target without a directory, as in `path: out.gpkg`: GDAL names
	 * the old file "out.gpkg", the rename goes to "./out.gpkg"; the new
	 * file must survive the removal of stale ones */
	struct arena *a = new_arena();
	struct outfile o;
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ck_assert_int_ge(cwd, 0);
	ck_assert_int_eq(chdir(tmpdir), 0);
	make_vector("out.gpkg", "GPKG", 2, false);
	make_vector("t.shp", "ESRI Shapefile", 2, true);
	ck_assert_int_eq(outfile_begin(NULL, a, &o, "out.gpkg", OUTFILE_OVERWRITE), 0);
	ck_assert(o.existed);
	make_vector(o.tmppath, "GPKG", 5, false);
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert_int_eq(count_features("out.gpkg"), 5);

	/* the same outfile again, once the first is committed */
	ck_assert_int_eq(outfile_begin(NULL, a, &o, "t.shp", OUTFILE_OVERWRITE), 0);
	make_vector(o.tmppath, "ESRI Shapefile", 4, false);
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert_int_eq(count_features("t.shp"), 4);
	/* only the .cpg (the new one was written without) is gone */
	ck_assert_str_eq(listing("."), "out.gpkg,t.dbf,t.shp,t.shx");
	ck_assert_int_eq(fchdir(cwd), 0);
	close(cwd);
	ck_assert_str_eq(listing(tmpdir), "out.gpkg,t.dbf,t.shp,t.shx");
	done(a);
}
END_TEST

START_TEST(commit_overwrite_odd_spelling)
{
	/* "dir//t.shp": the rename target is spelled "dir/t.shp" */
	struct arena *a = new_arena();
	struct outfile o;
	char target[256];

	snprintf(target, sizeof target, "%s//t.shp", tmpdir);
	make_vector(target, "ESRI Shapefile", 2, true);
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_OVERWRITE), 0);
	make_vector(o.tmppath, "ESRI Shapefile", 6, true);
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert_str_eq(listing(tmpdir), "t.cpg,t.dbf,t.shp,t.shx");
	ck_assert_int_eq(count_features(target), 6);
	done(a);
}
END_TEST

START_TEST(commit_fails_without_temp_dir)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], msg[512];

	TMP(target, "out.gpkg");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	ck_assert_int_eq(rmdir(o.tmpdir), 0);
	ck_assert_int_eq(outfile_commit(&o), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	snprintf(msg, sizeof msg, "cannot read '%s': No such file or directory", o.tmpdir);
	ck_assert_str_eq(gp_err_msg(), msg);
	ck_assert(!o.done);
	ck_assert(!outfile_exists(target));
	done(a);
	ck_assert_str_eq(listing(tmpdir), "");
}
END_TEST

/* ---- outfile_abort --------------------------------------------------- */

START_TEST(abort_removes_everything)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], tmp[256], p[256];

	TMP(target, "out.shp");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	snprintf(tmp, sizeof tmp, "%s", o.tmpdir);
	make_vector(o.tmppath, "ESRI Shapefile", 2, true);
	/* and a subdirectory, as some drivers make */
	ck_assert_int_eq(mkdir(path_in(p, sizeof p, tmp, "sub"), 0755), 0);
	write_text(path_in(p, sizeof p, tmp, "sub/f"), "f");
	outfile_abort(&o);
	ck_assert(o.done);
	ck_assert(!outfile_exists(tmp));
	ck_assert(!outfile_exists(target));
	ck_assert_str_eq(listing(tmpdir), "");
	/* twice is harmless */
	outfile_abort(&o);
	done(a);
	ck_assert_str_eq(listing(tmpdir), "");
}
END_TEST

START_TEST(abort_keeps_previous_target)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256];

	TMP(target, "t.gpkg");
	make_vector(target, "GPKG", 3, false);
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_OVERWRITE), 0);
	make_vector(o.tmppath, "GPKG", 1, false);
	ck_assert_ptr_nonnull(o.old_files);
	outfile_abort(&o);
	ck_assert_ptr_null(o.old_files);
	ck_assert_int_eq(count_features(target), 3);
	ck_assert_str_eq(listing(tmpdir), "t.gpkg");
	done(a);
	ck_assert_str_eq(listing(tmpdir), "t.gpkg");
}
END_TEST

/* ---- append ---------------------------------------------------------- */

START_TEST(append_copies_existing)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], p[256], q[256];

	TMP(target, "t.shp");
	make_vector(target, "ESRI Shapefile", 3, true);
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_APPEND), 0);
	ck_assert(o.existed);
	ck_assert_str_eq(listing(o.tmpdir), "t.cpg,t.dbf,t.shp,t.shx");
	/* byte for byte */
	{
		static const char *const ext[] = {"cpg", "dbf", "shp", "shx"};

		for (int i = 0; i < 4; i++) {
			char name[16];
			struct stat s1, s2;

			snprintf(name, sizeof name, "t.%s", ext[i]);
			ck_assert_int_eq(stat(TMP(p, name), &s1), 0);
			ck_assert_int_eq(stat(path_in(q, sizeof q, o.tmpdir, name), &s2), 0);
			ck_assert_int_eq(s1.st_size, s2.st_size);
			ck_assert_int_ne(s1.st_ino, s2.st_ino);
		}
	}
	ck_assert_str_eq(read_text(path_in(q, sizeof q, o.tmpdir, "t.cpg")), "UTF-8");
	/* the copy is a dataset GDAL can extend */
	ck_assert_int_eq(count_features(o.tmppath), 3);
	add_feature(o.tmppath);
	ck_assert_int_eq(count_features(o.tmppath), 4);
	ck_assert_int_eq(count_features(target), 3);
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert_int_eq(count_features(target), 4);
	ck_assert_str_eq(listing(tmpdir), "t.cpg,t.dbf,t.shp,t.shx");
	done(a);
}
END_TEST

START_TEST(append_gpkg_failure_leaves_original)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256];

	TMP(target, "t.gpkg");
	make_vector(target, "GPKG", 2, false);
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_APPEND), 0);
	add_feature(o.tmppath);
	add_feature(o.tmppath);
	ck_assert_int_eq(count_features(o.tmppath), 4);
	/* the run fails: the original is untouched */
	outfile_abort(&o);
	ck_assert_int_eq(count_features(target), 2);
	ck_assert_str_eq(listing(tmpdir), "t.gpkg");
	done(a);
}
END_TEST

START_TEST(append_to_missing_is_create)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256];

	TMP(target, "new.gpkg");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_APPEND), 0);
	ck_assert(!o.existed);
	ck_assert_ptr_null(o.old_files);
	ck_assert_str_eq(listing(o.tmpdir), "");
	make_vector(o.tmppath, "GPKG", 1, false);
	ck_assert_int_eq(outfile_commit(&o), 0);
	ck_assert_int_eq(count_features(target), 1);
	done(a);
}
END_TEST

START_TEST(append_to_unreadable)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], msg[512];

	TMP(target, "junk.gpkg");
	write_text(target, "not a geopackage");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_APPEND), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	snprintf(msg, sizeof msg, "cannot append to '%s': GDAL cannot open it", target);
	ck_assert_str_eq(gp_err_msg(), msg);
	done(a);
	ck_assert_str_eq(listing(tmpdir), "junk.gpkg");
	ck_assert_str_eq(read_text(target), "not a geopackage");
}
END_TEST

/* ---- arena cleanup --------------------------------------------------- */

START_TEST(cleanup_aborts_unfinished)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256], tmp[256];

	TMP(target, "t.shp");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	snprintf(tmp, sizeof tmp, "%s", o.tmpdir);
	make_vector(o.tmppath, "ESRI Shapefile", 2, true);
	ck_assert_str_eq(listing(tmp), "t.cpg,t.dbf,t.shp,t.shx");
	/* neither committed nor aborted: the arena takes it all away */
	done(a);
	ck_assert(!outfile_exists(tmp));
	ck_assert_str_eq(listing(tmpdir), "");
}
END_TEST

START_TEST(cleanup_on_reset)
{
	struct arena *a = new_arena();
	struct outfile o1, o2;
	char t1[256], t2[256];

	TMP(t1, "one.csv");
	TMP(t2, "two.csv");
	ck_assert_int_eq(outfile_begin(NULL, a, &o1, t1, OUTFILE_CREATE), 0);
	ck_assert_int_eq(outfile_begin(NULL, a, &o2, t2, OUTFILE_CREATE), 0);
	ck_assert_str_ne(o1.tmpdir, o2.tmpdir);
	write_text(o1.tmppath, "1");
	write_text(o2.tmppath, "2");
	ck_assert_int_eq(outfile_commit(&o1), 0);
	arena_reset(a);
	/* the committed one stays, the other is gone */
	ck_assert_str_eq(listing(tmpdir), "one.csv");
	ck_assert_str_eq(read_text(t1), "1");
	done(a);
	ck_assert_str_eq(listing(tmpdir), "one.csv");
}
END_TEST

/* ---- locks, sets, sweeping ------------------------------------------ */

START_TEST(lock_held_is_75_naming_the_holder)
{
	struct arena *a = new_arena();
	struct outfile o1, o2;
	char target[256], msg[128];

	TMP(target, "l.gpkg");
	ck_assert_int_eq(outfile_begin(NULL, a, &o1, target, OUTFILE_CREATE), 0);
	/* A second open file description conflicts, even in this process. */
	ck_assert_int_eq(outfile_begin(NULL, a, &o2, target, OUTFILE_OVERWRITE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_TEMPFAIL);
	snprintf(msg, sizeof msg, "is being written by another gispipe (pid %ld)", (long)getpid());
	ck_assert_msg(strstr(gp_err_msg(), msg) != NULL, "%s", gp_err_msg());
	/* The loser left the holder's lock file and temporary alone. */
	ck_assert_str_eq(listing(tmpdir), ".gispipe-*,.l.gpkg.gispipe-lock");
	outfile_abort(&o1);
	/* Let go: the lock file goes with it, and the target is free. */
	ck_assert_str_eq(listing(tmpdir), "");
	ck_assert_int_eq(outfile_begin(NULL, a, &o2, target, OUTFILE_CREATE), 0);
	write_text(o2.tmppath, "x");
	ck_assert_int_eq(outfile_commit(&o2), 0);
	ck_assert_str_eq(listing(tmpdir), "l.gpkg");
	done(a);
}
END_TEST

START_TEST(set_refuses_the_same_file_twice)
{
	struct arena *run = new_arena(), *a = new_arena();
	struct outset *set = outset_create(run, 0, NULL);
	struct outfile o1, o2;
	char t1[256], t2[512];

	ck_assert_ptr_nonnull(set);
	TMP(t1, "sub/r.gpkg");
	ck_assert_int_eq(outfile_begin(set, a, &o1, t1, OUTFILE_OVERWRITE), 0);
	snprintf(t2, sizeof t2, "%s/sub/../sub/./r.gpkg", tmpdir);
	ck_assert_int_eq(outfile_begin(set, a, &o2, t2, OUTFILE_OVERWRITE), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	ck_assert_msg(strstr(gp_err_msg(), "is the same file as") != NULL, "%s", gp_err_msg());
	write_text(o1.tmppath, "one");
	ck_assert_int_eq(outset_commit(set), 0);
	ck_assert_int_eq(outset_committed(set), 1);
	ck_assert_str_eq(read_text(t1), "one");
	ck_assert_str_eq(listing(tmpdir), "sub");
	arena_destroy(a);
	done(run);
}
END_TEST

START_TEST(set_commit_after_a_stop_commits_nothing)
{
	struct arena *run = new_arena(), *a = new_arena();
	static volatile sig_atomic_t stop;
	struct outset *set = outset_create(run, 0, &stop);
	struct outfile o1;
	char t1[256];

	TMP(t1, "s.gpkg");
	ck_assert_int_eq(outfile_begin(set, a, &o1, t1, OUTFILE_CREATE), 0);
	write_text(o1.tmppath, "one");
	stop = SIGTERM;
	ck_assert_int_eq(outset_commit(set), -1);
	ck_assert_int_eq(gp_err_code(), 128 + SIGTERM);
	ck_assert_int_eq(outset_committed(set), 0);
	ck_assert(!outfile_exists(t1));
	outset_abort(set);
	ck_assert_str_eq(listing(tmpdir), "");
	stop = 0;
	arena_destroy(a);
	done(run);
}
END_TEST

/* A hook standing for a database transaction: records what ran. */
struct fake_txn {
	int commits, aborts;
	int fail; /* commit fails with this code */
	char target_seen[16];
	const char *target;
};

static int fake_commit(void *ctx)
{
	struct fake_txn *t = ctx;

	t->commits++;
	/* The files are not renamed yet when the transaction commits. */
	snprintf(t->target_seen, sizeof t->target_seen, "%s",
	         outfile_exists(t->target) ? "there" : "absent");
	return t->fail ? gp_fail(t->fail, "commit failed") : 0;
}

static void fake_abort(void *ctx)
{
	((struct fake_txn *)ctx)->aborts++;
}

START_TEST(set_hook_commits_before_the_files_and_once)
{
	struct arena *run = new_arena(), *a = new_arena();
	struct outset *set = outset_create(run, 0, NULL);
	struct fake_txn t = {.target = NULL};
	struct outset_hook h = {.commit = fake_commit, .abort = fake_abort, .ctx = &t};
	struct outfile o1;
	char t1[256];

	TMP(t1, "h.gpkg");
	t.target = t1;
	ck_assert_int_eq(outfile_begin(set, a, &o1, t1, OUTFILE_CREATE), 0);
	write_text(o1.tmppath, "one");
	outset_add_hook(set, &h);
	ck_assert_int_eq(outset_commit(set), 0);
	ck_assert_int_eq(t.commits, 1);
	ck_assert_str_eq(t.target_seen, "absent");
	ck_assert_int_eq(outset_committed(set), 2);
	ck_assert_str_eq(read_text(t1), "one");
	outset_abort(set);
	outset_hook_abort(&h);
	ck_assert_int_eq(t.aborts, 0);
	arena_destroy(a);
	done(run);
}
END_TEST

START_TEST(set_hook_failure_or_stop_commits_no_file)
{
	struct arena *run = new_arena(), *a = new_arena();
	static volatile sig_atomic_t stop;
	struct outset *set = outset_create(run, 0, &stop);
	struct fake_txn t = {.fail = GP_EX_IOERR};
	struct outset_hook h = {.commit = fake_commit, .abort = fake_abort, .ctx = &t};
	struct outset_hook h2 = {.commit = fake_commit, .abort = fake_abort, .ctx = &t};
	struct outfile o1;
	char t1[256];

	TMP(t1, "f.gpkg");
	t.target = t1;
	ck_assert_int_eq(outfile_begin(set, a, &o1, t1, OUTFILE_CREATE), 0);
	write_text(o1.tmppath, "one");
	outset_add_hook(set, &h);
	outset_add_hook(set, &h2);
	/* The newest hook commits first and fails: the other is aborted, no
	 * file is renamed. */
	ck_assert_int_eq(outset_commit(set), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_IOERR);
	ck_assert_int_eq(t.commits, 1);
	ck_assert(!outfile_exists(t1));
	outset_abort(set);
	ck_assert_int_eq(t.aborts, 1);
	ck_assert_str_eq(listing(tmpdir), "");
	/* A stop before the commit: no hook commits, each is aborted once. */
	t = (struct fake_txn){.target = t1};
	outset_add_hook(set, &h);
	stop = SIGTERM;
	ck_assert_int_eq(outset_commit(set), -1);
	ck_assert_int_eq(gp_err_code(), 128 + SIGTERM);
	ck_assert_int_eq(t.commits, 0);
	outset_abort(set);
	outset_hook_abort(&h);
	ck_assert_int_eq(t.aborts, 1);
	stop = 0;
	arena_destroy(a);
	done(run);
}
END_TEST

START_TEST(create_commit_never_replaces)
{
	struct arena *a = new_arena();
	struct outfile o;
	char target[256];

	TMP(target, "c.gpkg");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	write_text(o.tmppath, "mine");
	/* Something that does not lock created it meanwhile. */
	write_text(target, "theirs");
	ck_assert_int_eq(outfile_commit(&o), -1);
	ck_assert_int_eq(gp_err_code(), GP_EX_CANTCREAT);
	ck_assert_str_eq(read_text(target), "theirs");
	outfile_abort(&o);
	ck_assert_str_eq(listing(tmpdir), "c.gpkg");
	done(a);
}
END_TEST

START_TEST(sweep_removes_dead_temporaries_only)
{
	struct arena *a = new_arena();
	struct outfile live, o;
	char dead[256], file[300], stale_lock[256], target[256];

	/* A temporary whose run is gone (nobody holds its lock), with data,
	 * and a lock file nobody holds. */
	TMP(dead, ".gispipe-AbC123");
	ck_assert_int_eq(mkdir(dead, 0777), 0);
	snprintf(file, sizeof file, "%s/big.gpkg", dead);
	write_text(file, "stale");
	TMP(stale_lock, ".gone.gpkg.gispipe-lock");
	write_text(stale_lock, "");
	/* A live one. */
	TMP(target, "live.gpkg");
	ck_assert_int_eq(outfile_begin(NULL, a, &live, target, OUTFILE_CREATE), 0);
	/* The next output begun in the directory sweeps it. */
	TMP(target, "next.gpkg");
	ck_assert_int_eq(outfile_begin(NULL, a, &o, target, OUTFILE_CREATE), 0);
	ck_assert(!outfile_exists(dead));
	ck_assert(!outfile_exists(stale_lock));
	ck_assert(outfile_exists(live.tmpdir));
	outfile_abort(&o);
	outfile_abort(&live);
	ck_assert_str_eq(listing(tmpdir), "");
	done(a);
}
END_TEST

START_TEST(same_target_spellings)
{
	char a[256], b[512];

	ck_assert(outfile_same_target("out/x.gpkg", "./out/x.gpkg"));
	ck_assert(outfile_same_target("out/x.gpkg", "out/./x.gpkg"));
	ck_assert(outfile_same_target("new/deeper/x.gpkg", "new/deeper/../deeper/x.gpkg"));
	ck_assert(!outfile_same_target("out/x.gpkg", "out/y.gpkg"));
	ck_assert(!outfile_same_target("out/x.gpkg", "other/x.gpkg"));
	TMP(a, "x.gpkg");
	snprintf(b, sizeof b, "%s/../%s/x.gpkg", tmpdir, strrchr(tmpdir, '/') + 1);
	ck_assert(outfile_same_target(a, b));
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

static Suite *outfile_suite(void)
{
	Suite *s = suite_create("outfile");
	TCase *tc;

	tc = tcase(s, "outfile_exists");
	tcase_add_test(tc, exists_files_and_dirs);

	tc = tcase(s, "outfile_begin");
	tcase_add_test(tc, begin_create_new);
	tcase_add_test(tc, begin_create_refuses_existing);
	tcase_add_test(tc, begin_refuses_directory_and_vsi);
	tcase_add_test(tc, begin_makes_parent_directories);
	tcase_add_test(tc, begin_unwritable_directory);
	tcase_add_test(tc, begin_out_of_memory);

	tc = tcase(s, "outfile_commit");
	tcase_add_test(tc, commit_renames_into_place);
	tcase_add_test(tc, commit_sibling_files);
	tcase_add_test(tc, commit_overwrite_removes_stale_files);
	tcase_add_test(tc, commit_overwrite_relative_target);
	tcase_add_test(tc, commit_overwrite_odd_spelling);
	tcase_add_test(tc, commit_fails_without_temp_dir);

	tc = tcase(s, "outfile_abort");
	tcase_add_test(tc, abort_removes_everything);
	tcase_add_test(tc, abort_keeps_previous_target);

	tc = tcase(s, "outfile_begin_append");
	tcase_add_test(tc, append_copies_existing);
	tcase_add_test(tc, append_gpkg_failure_leaves_original);
	tcase_add_test(tc, append_to_missing_is_create);
	tcase_add_test(tc, append_to_unreadable);

	tc = tcase(s, "locks");
	tcase_add_test(tc, lock_held_is_75_naming_the_holder);
	tcase_add_test(tc, sweep_removes_dead_temporaries_only);
	tcase_add_test(tc, create_commit_never_replaces);

	tc = tcase(s, "outset_commit");
	tcase_add_test(tc, set_refuses_the_same_file_twice);
	tcase_add_test(tc, set_commit_after_a_stop_commits_nothing);
	tcase_add_test(tc, set_hook_commits_before_the_files_and_once);
	tcase_add_test(tc, set_hook_failure_or_stop_commits_no_file);

	tc = tcase(s, "outfile_same_target");
	tcase_add_test(tc, same_target_spellings);

	tc = tcase(s, "arena_cleanup");
	tcase_add_test(tc, cleanup_aborts_unfinished);
	tcase_add_test(tc, cleanup_on_reset);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(outfile_suite());
	int failed;

	GDALAllRegister();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	GDALDestroyDriverManager();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
