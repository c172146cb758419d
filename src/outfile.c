/* outfile.c - write beside, rename into place. */
#include "gispipe/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_string.h>
#include <gdal.h>

#include "gispipe/arena.h"
#include "gispipe/error.h"

bool outfile_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static void cleanup(void *ctx)
{
	struct outfile *o = ctx;

	if (!o->done)
		outfile_abort(o);
	CSLDestroy(o->old_files);
	o->old_files = NULL;
}

/* mkdir -p; *made counts the directories this call created. */
static int mkdirs(char *dir, int *made)
{
	struct stat sb;
	char *slash;

	if (stat(dir, &sb) == 0)
		return S_ISDIR(sb.st_mode) ? 0 : -1;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdirs(dir, made) != 0) {
			*slash = '/';
			return -1;
		}
		*slash = '/';
	}
	if (mkdir(dir, 0777) == 0) {
		(*made)++;
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

/* Directories an aborted output made but could not remove, another output
 * still being written in them (out/ holds out/a.gpkg's and the rejects'
 * temporaries, and either may be aborted first): deepest first, each
 * removed by whichever abort finds it empty. */
#define PENDING_MAX 32
static char *pending_dirs[PENDING_MAX];
static int npending;

static void remove_pending_dirs(void)
{
	int kept = 0;

	for (int i = 0; i < npending; i++) {
		if (rmdir(pending_dirs[i]) != 0 && errno != ENOENT)
			pending_dirs[kept++] = pending_dirs[i];
		else
			free(pending_dirs[i]);
	}
	npending = kept;
}

/* Remove the directories mkdirs() made for `o`, deepest first, where they
 * are empty; the others wait for the last output aborted in them. */
static void remove_made_dirs(struct outfile *o)
{
	char *d;

	if (o->dirs_made == 0 || o->dir == NULL || (d = strdup(o->dir)) == NULL)
		return;
	for (int i = 0; i < o->dirs_made; i++) {
		char *slash = strrchr(d, '/');

		if (rmdir(d) != 0) {
			for (; i < o->dirs_made && npending < PENDING_MAX; i++) {
				if ((pending_dirs[npending] = strdup(d)) != NULL)
					npending++;
				if ((slash = strrchr(d, '/')) == NULL || slash == d)
					break;
				*slash = '\0';
			}
			break;
		}
		if (slash == NULL || slash == d)
			break;
		*slash = '\0';
	}
	free(d);
	o->dirs_made = 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0) {
				close(in);
				close(out);
				return -1;
			}
			off += w;
		}
	}
	close(in);
	if (n < 0) {
		close(out);
		return -1;
	}
	return close(out);
}

/* Side files of a shapefile that GDALGetFileList() does not always name
 * (GDAL 3.6 lists neither .cpg nor, beside a .qix, .sbn/.sbx). */
static char **shape_side_files(char **files)
{
	static const char *const side[] = {"cpg", "CPG", "qix", "QIX", "sbn", "SBN",
	                                   "sbx", "SBX", "shp.xml", NULL};
	size_t n = (size_t)CSLCount(files);

	for (size_t i = 0; i < n; i++) {
		const char *f = files[i];
		size_t len = strlen(f);

		if (len < 4 || strcasecmp(f + len - 4, ".shp") != 0)
			continue;
		for (const char *const *e = side; *e; e++) {
			char *p = NULL;
			struct stat sb;

			if (asprintf(&p, "%.*s.%s", (int)(len - 4), f, *e) < 0)
				continue;
			if (strcmp(*e, "shp.xml") == 0) {
				free(p);
				if (asprintf(&p, "%s.xml", f) < 0)
					continue;
			}
			if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && CSLFindString(files, p) < 0)
				files = CSLAddString(files, p);
			free(p);
		}
	}
	return files;
}

static char **file_list(const char *path)
{
	GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
	GDALDriverH drv;
	char **files;

	if (ds == NULL)
		return NULL;
	files = GDALGetFileList(ds);
	drv = GDALGetDatasetDriver(ds);
	if (drv && strcmp(GDALGetDriverShortName(drv), "ESRI Shapefile") == 0)
		files = shape_side_files(files);
	GDALClose(ds);
	return files;
}

/* True when a and b name the same file (GDAL's file list may spell a path
 * differently from ours: "x.gpkg" against "./x.gpkg"). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return true;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int outfile_begin(struct arena *a, struct outfile *o, const char *target, enum outfile_mode mode)
{
	char *dir, *base, *tmpl, *copy;
	struct stat sb;

	*o = (struct outfile){.target = target};
	if (strncmp(target, "/vsi", 4) == 0)
		return gp_fail(GP_EX_CANTCREAT,
		               "cannot write '%s': outputs must be local files (they are written "
		               "atomically)",
		               target);
	copy = arena_strdup(a, target);
	dir = copy ? arena_strdup(a, dirname(copy)) : NULL;
	copy = arena_strdup(a, target);
	base = copy ? arena_strdup(a, basename(copy)) : NULL;
	if (dir == NULL || base == NULL)
		return -1;
	o->existed = stat(target, &sb) == 0;
	if (o->existed && mode == OUTFILE_CREATE)
		return gp_fail(GP_EX_CANTCREAT,
		               "cannot create '%s': it exists (use mode: overwrite or append)", target);
	if (o->existed && S_ISDIR(sb.st_mode))
		return gp_fail(GP_EX_CANTCREAT, "cannot write '%s': it is a directory", target);
	o->dir = dir;
	if (mkdirs(dir, &o->dirs_made) != 0) {
		int err = errno;

		remove_made_dirs(o);
		return gp_fail(GP_EX_CANTCREAT, "cannot create directory '%s': %s", dir,
		               strerror(err));
	}
	tmpl = arena_printf(a, "%s/.gispipe-XXXXXX", dir);
	if (tmpl == NULL) {
		remove_made_dirs(o);
		return -1;
	}
	if (mkdtemp(tmpl) == NULL) {
		int err = errno;

		remove_made_dirs(o);
		return gp_fail(GP_EX_CANTCREAT, "cannot write in '%s': %s", dir, strerror(err));
	}
	o->tmpdir = tmpl;
	o->tmppath = arena_printf(a, "%s/%s", tmpl, base);
	if (o->tmppath == NULL || arena_defer(a, cleanup, o) != 0) {
		outfile_abort(o);
		return -1;
	}
	if (o->existed)
		o->old_files = file_list(target);
	if (o->existed && mode == OUTFILE_APPEND) {
		if (o->old_files == NULL)
			return gp_fail(GP_EX_CANTCREAT, "cannot append to '%s': GDAL cannot open it",
			               target);
		for (char **f = o->old_files; *f; f++) {
			char *fc = arena_strdup(a, *f);
			char *dst = fc ? arena_printf(a, "%s/%s", tmpl, basename(fc)) : NULL;

			if (dst == NULL)
				return -1;
			if (copy_file(*f, dst) != 0)
				return gp_fail(GP_EX_CANTCREAT, "cannot copy '%s' to append to it: %s", *f,
				               strerror(errno));
		}
	}
	return 0;
}

static int sync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* A file, or a directory and all in it (drivers such as Shapefile and
 * FlatGeobuf write a directory of layers when the path has no extension). */
static int sync_tree(const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (stat(path, &sb) != 0)
		return -1;
	if (!S_ISDIR(sb.st_mode))
		return sync_path(path, false);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while (r == 0 && (e = readdir(d)) != NULL) {
		char *p;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (asprintf(&p, "%s/%s", path, e->d_name) < 0)
			r = -1;
		else {
			r = sync_tree(p);
			free(p);
		}
	}
	closedir(d);
	return r == 0 ? sync_path(path, true) : r;
}

int outfile_commit(struct outfile *o)
{
	DIR *d = opendir(o->tmpdir);
	struct dirent *e;
	char *copy = strdup(o->target);
	char *dir, *src = NULL, *dst = NULL;
	int r = 0;

	if (d == NULL || copy == NULL) {
		if (d)
			closedir(d);
		free(copy);
		return gp_fail(GP_EX_IOERR, "cannot read '%s': %s", o->tmpdir, strerror(errno));
	}
	dir = dirname(copy);
	/* Sync everything first, then rename: a crash in between leaves the
	 * previous target whole. */
	while ((e = readdir(d)) != NULL && r == 0) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (asprintf(&src, "%s/%s", o->tmpdir, e->d_name) < 0)
			src = NULL;
		if (src == NULL || sync_tree(src) != 0)
			r = gp_fail(GP_EX_IOERR, "cannot sync '%s': %s", src ? src : o->tmpdir,
			            strerror(errno));
		free(src);
		src = NULL;
	}
	rewinddir(d);
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (asprintf(&src, "%s/%s", o->tmpdir, e->d_name) < 0)
			src = NULL;
		if (asprintf(&dst, "%s/%s", dir, e->d_name) < 0)
			dst = NULL;
		if (src == NULL || dst == NULL || rename(src, dst) != 0)
			r = gp_fail(GP_EX_IOERR, "cannot rename '%s' into place: %s",
			            src ? src : o->tmpdir, strerror(errno));
		else if (o->old_files)
			/* A file we replaced is not stale. */
			for (char **f = o->old_files; *f; f++)
				if (**f && same_file(*f, dst))
					**f = '\0';
		free(src);
		free(dst);
		src = dst = NULL;
	}
	closedir(d);
	if (r == 0 && o->old_files) {
		/* Files of the previous dataset the new one does not have
		 * (say an old .cpg beside a new .shp). */
		for (char **f = o->old_files; *f; f++)
			if (**f)
				unlink(*f);
	}
	if (r == 0) {
		rmdir(o->tmpdir);
		sync_path(dir, true);
		o->done = true;
		/* Not needed any more; freed now so that `o` can be begun again. */
		CSLDestroy(o->old_files);
		o->old_files = NULL;
	}
	free(copy);
	return r;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char *p;

			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			if (asprintf(&p, "%s/%s", path, e->d_name) < 0)
				continue;
			if (unlink(p) != 0 && errno == EISDIR)
				remove_tree(p);
			else if (errno == EISDIR || errno == EPERM)
				remove_tree(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(path);
}

void outfile_abort(struct outfile *o)
{
	if (o->tmpdir && !o->done) {
		remove_tree(o->tmpdir);
		remove_made_dirs(o);
		remove_pending_dirs();
	}
	o->done = true;
	CSLDestroy(o->old_files);
	o->old_files = NULL;
}
