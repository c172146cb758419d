/* outfile.c - write beside, locked; rename into place. */
#include "core/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>

#include "core/arena.h"
#include "core/error.h"

bool outfile_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static void cleanup(void *ctx)
{
	struct outfile *o = ctx;

	outfile_abort(o); /* a no-op but for the set's list once committed */
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

/* The canonical spelling of `path`: the real path of its deepest existing
 * directory, then the rest as written ("." dropped).  malloc'd, or NULL. */
static char *canonical(const char *path)
{
	char *c1 = strdup(path), *c2 = strdup(path), *dir, *base, *r = NULL, *up;

	if (c1 == NULL || c2 == NULL)
		goto out;
	dir = dirname(c1);
	base = basename(c2);
	if (strcmp(base, ".") == 0 || strcmp(base, "/") == 0) {
		r = strcmp(dir, path) == 0 ? realpath(path, NULL) : canonical(dir);
		goto out;
	}
	up = realpath(dir, NULL);
	if (up == NULL && strcmp(dir, path) != 0)
		up = canonical(dir);
	if (up == NULL)
		goto out;
	if (strcmp(base, "..") == 0) {
		r = strdup(dirname(up));
	} else if (asprintf(&r, "%s/%s", strcmp(up, "/") == 0 ? "" : up, base) < 0) {
		r = NULL;
	}
	free(up);
out:
	free(c1);
	free(c2);
	return r;
}

bool outfile_same_target(const char *a, const char *b)
{
	char *ca = canonical(a), *cb = canonical(b);
	bool same = ca && cb ? strcmp(ca, cb) == 0 : strcmp(a, b) == 0;

	free(ca);
	free(cb);
	return same;
}

struct swept {
	struct swept *next;
	dev_t dev;
	ino_t ino;
};

struct outset {
	struct arena *arena;
	struct outfile *head, *tail;
	int lock_wait;
	volatile sig_atomic_t *stop;
	struct swept *swept; /* directories already swept by this run */
	uint64_t committed;
	struct outset_hook *hooks; /* pending, newest first */
};

struct outset *outset_create(struct arena *run, int lock_wait, volatile sig_atomic_t *stop)
{
	struct outset *set = arena_calloc(run, 1, sizeof *set);

	if (set == NULL)
		return NULL;
	set->arena = run;
	set->lock_wait = lock_wait;
	set->stop = stop;
	return set;
}

uint64_t outset_committed(const struct outset *set)
{
	return set ? set->committed : 0;
}

static void set_unlink(struct outfile *o)
{
	struct outset *set = o->set;

	if (set == NULL)
		return;
	if (o->prev)
		o->prev->next = o->next;
	else
		set->head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		set->tail = o->prev;
	o->prev = o->next = NULL;
	o->set = NULL;
}

static bool stopped(const struct outset *set)
{
	return set && set->stop && *set->stop;
}

static int stop_fail(const struct outset *set)
{
	return gp_fail(128 + *set->stop, "interrupted by signal %d", (int)*set->stop);
}

static void nap(double seconds)
{
	struct timespec ts = {.tv_sec = (time_t)seconds,
	                      .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};

	nanosleep(&ts, NULL); /* a signal cuts it short: the caller looks at stop */
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* flock(fd, how), waiting through signals unless stop is raised. */
static int flock_wait(const struct outset *set, int fd, int how)
{
	while (flock(fd, how) != 0) {
		if (errno != EINTR || stopped(set))
			return -1;
	}
	return 0;
}

/* The PID a lock file names, or 0. */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* True when `fd` is still the file at `path` (a holder removes the lock
 * file before it lets go: whoever locked the removed one tries again). */
static bool still_linked(int fd, int dirfd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dirfd, path, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Lock the lock file at `path`, creating it, without waiting: its
 * descriptor, or -1 with errno (EWOULDBLOCK: held, by *holder if known). */
static int lock_try(const char *path, long *holder)
{
	for (;;) {
		int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666), err;
		char buf[32];
		int n;

		*holder = 0;
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			err = errno == EINTR ? EWOULDBLOCK : errno;
			*holder = lock_holder(fd);
			close(fd);
			errno = err;
			return -1;
		}
		if (!still_linked(fd, AT_FDCWD, path)) {
			close(fd);
			continue;
		}
		n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
			err = errno;
			unlink(path);
			close(fd);
			errno = err;
			return -1;
		}
		return fd;
	}
}

static int lock_take(struct outset *set, struct outfile *o)
{
	double deadline = now() + (set ? set->lock_wait : 0);

	for (;;) {
		long pid;
		int fd = lock_try(o->lock_path, &pid);
		char who[48] = "pid unknown";

		if (fd >= 0) {
			o->lock_fd = fd;
			return 0;
		}
		if (errno != EWOULDBLOCK)
			return gp_fail(GP_EX_CANTCREAT, "cannot write in '%s': %s", o->dir,
			               strerror(errno));
		if (stopped(set))
			return stop_fail(set);
		if (now() < deadline) {
			nap(0.05);
			continue;
		}
		if (pid > 0)
			snprintf(who, sizeof who, "pid %ld", pid);
		if (set && set->lock_wait > 0)
			return gp_fail(GP_EX_TEMPFAIL,
			               "'%s' is being written by another gispipe (%s); still after "
			               "--lock-wait %d, retry later",
			               o->target, who, set->lock_wait);
		return gp_fail(GP_EX_TEMPFAIL,
		               "'%s' is being written by another gispipe (%s); retry later or use "
		               "--lock-wait",
		               o->target, who);
	}
}

/* Let go of the target: the lock file goes first, while still held. */
static void lock_drop(struct outfile *o)
{
	if (o->lock_fd < 0)
		return;
	unlink(o->lock_path);
	close(o->lock_fd);
	o->lock_fd = -1;
}

static void remove_tree(const char *path);
static bool is_dot(const char *n);
static int move_into_place(const char *src, const char *dst, bool noreplace);
static int sync_path(const char *path, bool dir);

static bool is_temp_name(const char *n)
{
	return strncmp(n, ".gispipe-", 9) == 0 && strlen(n) == 15;
}

static bool is_lock_name(const char *n)
{
	size_t len = strlen(n), sfx = strlen(".gispipe-lock");

	return n[0] == '.' && len > sfx + 1 && strcmp(n + len - sfx, ".gispipe-lock") == 0;
}

/* The commit journal of a dataset of several files, in its temporary
 * directory: "gispipe-commit 1", "create" or "replace", the main file's
 * name, then the names of the previous version's files to remove, one a
 * line.  Its presence means every file there is synced and the renames
 * have begun: a run finding the temporary dead finishes them. */
#define JOURNAL ".commit"

/* Finish the commit a dead run began in `tmp` (in `dir`), under the
 * target's lock; when the lock is held, leave it for later. */
static void roll_forward(const char *dir, const char *tmp)
{
	char buf[65536], *line, *save = NULL, *main_name, *mode, *lock = NULL, *p = NULL;
	int fd, lfd = -1;
	ssize_t n;
	long holder;
	bool create;

	if (asprintf(&p, "%s/%s", tmp, JOURNAL) < 0)
		return;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		goto remove;
	buf[n] = '\0';
	line = strtok_r(buf, "\n", &save);
	mode = strtok_r(NULL, "\n", &save);
	main_name = strtok_r(NULL, "\n", &save);
	if (line == NULL || strcmp(line, "gispipe-commit 1") != 0 || mode == NULL ||
	    main_name == NULL || strchr(main_name, '/'))
		goto remove;
	create = strcmp(mode, "create") == 0;
	if (asprintf(&lock, "%s/.%s.gispipe-lock", dir, main_name) < 0)
		return;
	lfd = lock_try(lock, &holder);
	if (lfd < 0) {
		free(lock);
		return;
	}
	{
		char *src = NULL, *dst = NULL;
		struct stat sb;
		bool ok = true;

		if (asprintf(&src, "%s/%s", tmp, main_name) >= 0 &&
		    asprintf(&dst, "%s/%s", dir, main_name) >= 0 && lstat(src, &sb) == 0)
			ok = move_into_place(src, dst, create) == 0;
		free(src);
		free(dst);
		if (!ok)
			goto unlock; /* create: the target is someone else's now */
	}
	{
		DIR *d = opendir(tmp);
		struct dirent *e;

		while (d && (e = readdir(d)) != NULL) {
			char *src = NULL, *dst = NULL;

			if (is_dot(e->d_name) || strcmp(e->d_name, JOURNAL) == 0)
				continue;
			if (asprintf(&src, "%s/%s", tmp, e->d_name) >= 0 &&
			    asprintf(&dst, "%s/%s", dir, e->d_name) >= 0)
				rename(src, dst);
			free(src);
			free(dst);
		}
		if (d)
			closedir(d);
	}
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		if (strchr(line, '/') == NULL && !is_dot(line) &&
		    asprintf(&p, "%s/%s", dir, line) >= 0) {
			unlink(p);
			free(p);
		}
	}
	sync_path(dir, true);
unlock:
	unlink(lock);
	close(lfd);
	free(lock);
remove:
	remove_tree(tmp);
}

/* Remove the temporaries in `dir` whose run is gone (their lock can be
 * taken), and lock files nobody holds.  Best effort: a directory another
 * run is sweeping or creating a temporary in is left for later.  Returns
 * -1 (error set) only when out of memory: that is the run's failure. */
static int sweep(struct outset *set, const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat sb;
	DIR *d;
	struct dirent *e;

	if (dfd < 0)
		return 0;
	if (set && fstat(dfd, &sb) == 0) {
		struct swept *w;

		for (w = set->swept; w; w = w->next)
			if (w->dev == sb.st_dev && w->ino == sb.st_ino)
				break;
		if (w != NULL || (w = arena_calloc(set->arena, 1, sizeof *w)) == NULL) {
			close(dfd);
			return w != NULL ? 0 : -1;
		}
		w->dev = sb.st_dev;
		w->ino = sb.st_ino;
		w->next = set->swept;
		set->swept = w;
	}
	if (flock(dfd, LOCK_EX | LOCK_NB) != 0) {
		close(dfd);
		return 0;
	}
	d = opendir(dir);
	while (d && (e = readdir(d)) != NULL) {
		bool tmp = is_temp_name(e->d_name);
		int fd;

		if (!tmp && !is_lock_name(e->d_name))
			continue;
		fd = openat(dfd, e->d_name,
		            (tmp ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (tmp) {
				char *p;

				if (asprintf(&p, "%s/%s", dir, e->d_name) >= 0) {
					if (faccessat(fd, JOURNAL, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
						roll_forward(dir, p);
					else
						remove_tree(p);
					free(p);
				}
			} else if (still_linked(fd, dfd, e->d_name)) {
				unlinkat(dfd, e->d_name, 0);
			}
		}
		close(fd);
	}
	if (d)
		closedir(d);
	close(dfd); /* and its lock */
	return 0;
}

/* mkdtemp beside the target, locked before any sweeper can see it unlocked:
 * sweepers hold the directory's lock exclusively, creators share it. */
static int make_temp(struct outset *set, struct outfile *o, char *tmpl)
{
	int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err;

	if (dfd < 0 || flock_wait(set, dfd, LOCK_SH) != 0)
		goto fail;
	if (mkdtemp(tmpl) == NULL)
		goto fail;
	o->tmpdir = tmpl;
	o->tmp_fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->tmp_fd < 0 || flock(o->tmp_fd, LOCK_EX | LOCK_NB) != 0)
		goto fail;
	close(dfd);
	return 0;
fail:
	err = errno;
	if (dfd >= 0)
		close(dfd);
	if (stopped(set))
		return stop_fail(set);
	return gp_fail(GP_EX_CANTCREAT, "cannot write in '%s': %s", o->dir, strerror(err));
}

int outfile_begin(struct outset *set, struct arena *a, struct outfile *o, const char *target,
                  enum outfile_mode mode)
{
	char *dir, *base, *tmpl, *copy, *canon;
	struct stat sb;

	*o = (struct outfile){.target = target, .mode = mode, .lock_fd = -1, .tmp_fd = -1};
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
	o->dir = dir;
	o->lock_path = arena_printf(a, "%s/.%s.gispipe-lock", dir, base);
	if (o->lock_path == NULL)
		return -1;
	if (mkdirs(dir, &o->dirs_made) != 0) {
		int err = errno;

		remove_made_dirs(o);
		return gp_fail(GP_EX_CANTCREAT, "cannot create directory '%s': %s", dir,
		               strerror(err));
	}
	/* From here on a failure aborts: that undoes whatever was done. */
	if (arena_defer(a, cleanup, o) != 0) {
		remove_made_dirs(o);
		return -1;
	}
	canon = canonical(target);
	o->canon = canon ? arena_strdup(a, canon) : NULL;
	free(canon);
	if (o->canon == NULL)
		goto fail;
	for (struct outfile *p = set ? set->head : NULL; p; p = p->next)
		if (strcmp(p->canon, o->canon) == 0) {
			gp_fail(GP_EX_CANTCREAT,
			        "cannot write '%s': it is the same file as '%s', another output of "
			        "this run",
			        target, p->target);
			goto fail;
		}
	if (sweep(set, dir) != 0)
		goto fail;
	if (lock_take(set, o) != 0)
		goto fail;
	/* Under the lock, what is there cannot change under us (except by
	 * runs that do not lock: create still commits with no-replace). */
	o->existed = stat(target, &sb) == 0;
	if (o->existed && mode == OUTFILE_CREATE) {
		gp_fail(GP_EX_CANTCREAT,
		        "cannot create '%s': it exists (use mode: overwrite or append)", target);
		goto fail;
	}
	if (o->existed && S_ISDIR(sb.st_mode)) {
		gp_fail(GP_EX_CANTCREAT, "cannot write '%s': it is a directory", target);
		goto fail;
	}
	tmpl = arena_printf(a, "%s/.gispipe-XXXXXX", dir);
	if (tmpl == NULL || make_temp(set, o, tmpl) != 0)
		goto fail;
	o->tmppath = arena_printf(a, "%s/%s", tmpl, base);
	if (o->tmppath == NULL)
		goto fail;
	if (o->existed)
		o->old_files = file_list(target);
	if (o->existed && mode == OUTFILE_APPEND) {
		if (o->old_files == NULL) {
			gp_fail(GP_EX_CANTCREAT, "cannot append to '%s': GDAL cannot open it",
			        target);
			goto fail;
		}
		for (char **f = o->old_files; *f; f++) {
			char *fc = arena_strdup(a, *f);
			char *dst = fc ? arena_printf(a, "%s/%s", tmpl, basename(fc)) : NULL;

			if (dst == NULL)
				goto fail;
			if (copy_file(*f, dst) != 0) {
				gp_fail(GP_EX_CANTCREAT, "cannot copy '%s' to append to it: %s", *f,
				        strerror(errno));
				goto fail;
			}
		}
	}
	if (set) {
		o->set = set;
		o->prev = set->tail;
		if (set->tail)
			set->tail->next = o;
		else
			set->head = o;
		set->tail = o;
	}
	return 0;
fail:
	outfile_abort(o);
	return -1;
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

static bool is_dot(const char *n)
{
	return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

/* Sync every file written, then the temporary directory: whatever happens
 * after this, what is renamed into place is whole. */
static int commit_prepare(struct outfile *o)
{
	DIR *d = opendir(o->tmpdir);
	struct dirent *e;
	int r = 0;

	if (d == NULL)
		return gp_fail(GP_EX_IOERR, "cannot read '%s': %s", o->tmpdir, strerror(errno));
	while (r == 0 && (e = readdir(d)) != NULL) {
		char *src;

		if (is_dot(e->d_name))
			continue;
		if (asprintf(&src, "%s/%s", o->tmpdir, e->d_name) < 0)
			src = NULL;
		if (src == NULL || sync_tree(src) != 0)
			r = gp_fail(GP_EX_IOERR, "cannot sync '%s': %s", src ? src : o->tmpdir,
			            strerror(errno));
		free(src);
	}
	closedir(d);
	if (r == 0 && sync_path(o->tmpdir, true) != 0)
		r = gp_fail(GP_EX_IOERR, "cannot sync '%s': %s", o->tmpdir, strerror(errno));
	return r;
}

/* rename(2), or with `noreplace` one that fails with EEXIST when `dst`
 * exists: renameat2(RENAME_NOREPLACE), or link and unlink where the file
 * system refuses that. */
static int move_into_place(const char *src, const char *dst, bool noreplace)
{
	if (!noreplace)
		return rename(src, dst);
	if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
	if (link(src, dst) != 0)
		return -1;
	unlink(src);
	return 0;
}

static int publish_one(struct outfile *o, const char *dir, const char *name, bool noreplace)
{
	char *src = NULL, *dst = NULL;
	int r = 0;

	if (asprintf(&src, "%s/%s", o->tmpdir, name) < 0)
		src = NULL;
	if (asprintf(&dst, "%s/%s", dir, name) < 0)
		dst = NULL;
	if (src == NULL || dst == NULL) {
		r = gp_fail(GP_EX_IOERR, "cannot rename '%s' into place: out of memory", o->target);
	} else if (move_into_place(src, dst, noreplace) != 0) {
		if (noreplace && errno == EEXIST)
			r = gp_fail(GP_EX_CANTCREAT,
			            "cannot create '%s': it appeared while this run wrote it",
			            o->target);
		else
			r = gp_fail(GP_EX_IOERR, "cannot rename '%s' into place: %s", src,
			            strerror(errno));
	} else if (o->old_files) {
		/* A file we replaced is not stale. */
		for (char **f = o->old_files; *f; f++)
			if (**f && same_file(*f, dst))
				**f = '\0';
	}
	free(src);
	free(dst);
	return r;
}

/* --config GISPIPE_TEST_COMMIT_PAUSE SECONDS: tests hold the commit open
 * after the first rename of a run (signals blocked), to send signals into
 * it or to kill the process between two renames. */
static void test_pause(void)
{
	static bool paused;

	const char *v = CPLGetConfigOption("GISPIPE_TEST_COMMIT_PAUSE", NULL);
	double left = v ? CPLAtof(v) : 0, until;

	if (left <= 0 || paused)
		return;
	paused = true;
	fprintf(stderr, "gispipe: test: commit paused for %g s\n", left);
	fflush(stderr);
	until = now() + left;
	while ((left = until - now()) > 0)
		nap(left);
}

/* Before the first rename of a dataset of several files, write what the
 * rest of the commit does (JOURNAL); one file needs none: its rename is
 * atomic. */
static int journal_write(struct outfile *o, const char *dir, const char *base)
{
	DIR *d = opendir(o->tmpdir);
	struct dirent *e;
	int n = 0, fd, r = 0;
	char *p = NULL;

	while (d && (e = readdir(d)) != NULL)
		n += !is_dot(e->d_name);
	if (d)
		closedir(d);
	if (n <= 1)
		return 0;
	if (asprintf(&p, "%s/%s", o->tmpdir, JOURNAL) < 0)
		return gp_fail(GP_EX_IOERR, "cannot commit '%s': out of memory", o->target);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 || dprintf(fd, "gispipe-commit 1\n%s\n%s\n",
	                      o->mode == OUTFILE_CREATE ? "create" : "replace", base) < 0)
		r = -1;
	for (char **f = o->old_files; r == 0 && f && *f; f++) {
		/* Only files of the target's directory that the new version
		 * does not replace. */
		char *fc = strdup(*f), *name = fc ? basename(fc) : NULL, *here = NULL;

		if (name && !strchr(name, '\n') &&
		    faccessat(o->tmp_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
		    asprintf(&here, "%s/%s", dir, name) >= 0 && same_file(*f, here) &&
		    dprintf(fd, "%s\n", name) < 0)
			r = -1;
		free(here);
		free(fc);
	}
	if (r == 0 && (fsync(fd) != 0 || sync_path(o->tmpdir, true) != 0))
		r = -1;
	if (r != 0)
		r = gp_fail(GP_EX_IOERR, "cannot write '%s': %s", p, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(p);
	return r;
}

/* Rename everything into place.  The main file goes first: with create it
 * decides (no-replace), so that of two runs exactly one wins, and nothing
 * else of the loser moves. */
static int commit_publish(struct outfile *o)
{
	char *copy = strdup(o->target), *main_name = strdup(o->target), *journal = NULL;
	const char *dir, *base;
	DIR *d = NULL;
	struct dirent *e;
	struct stat sb;
	int r = 0;

	if (copy == NULL || main_name == NULL ||
	    asprintf(&journal, "%s/%s", o->tmpdir, JOURNAL) < 0) {
		journal = NULL;
		r = gp_fail(GP_EX_IOERR, "cannot commit '%s': out of memory", o->target);
		goto out;
	}
	dir = dirname(copy);
	base = basename(main_name);
	if (journal_write(o, dir, base) != 0) {
		r = -1;
		goto out;
	}
	if (fstatat(o->tmp_fd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		r = publish_one(o, dir, base, o->mode == OUTFILE_CREATE);
		if (r != 0) {
			unlink(journal); /* nothing moved: nothing to finish */
			goto out;
		}
		test_pause();
	}
	d = opendir(o->tmpdir);
	if (d == NULL)
		r = gp_fail(GP_EX_IOERR, "cannot read '%s': %s", o->tmpdir, strerror(errno));
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (is_dot(e->d_name) || strcmp(e->d_name, base) == 0 ||
		    strcmp(e->d_name, JOURNAL) == 0)
			continue;
		r = publish_one(o, dir, e->d_name, false);
	}
	if (d)
		closedir(d);
	if (r != 0)
		goto out;
	if (o->old_files) {
		/* Files of the previous dataset the new one does not have
		 * (say an old .cpg beside a new .shp). */
		for (char **f = o->old_files; *f; f++)
			if (**f)
				unlink(*f);
	}
	unlink(journal);
	rmdir(o->tmpdir);
	sync_path(dir, true);
	close(o->tmp_fd);
	o->tmp_fd = -1;
	lock_drop(o);
	o->done = true;
	/* Not needed any more; freed now so that `o` can be begun again. */
	CSLDestroy(o->old_files);
	o->old_files = NULL;
out:
	free(copy);
	free(main_name);
	free(journal);
	return r;
}

int outfile_commit(struct outfile *o)
{
	if (o->done || o->tmpdir == NULL)
		return gp_fail(GP_EX_SOFTWARE, "'%s' is not being written", o->target);
	if (commit_prepare(o) != 0)
		return -1;
	return commit_publish(o);
}

static volatile sig_atomic_t *held_stop;

static void hold_signal(int sig)
{
	if (held_stop && *held_stop == 0)
		*held_stop = sig;
}

int outset_commit(struct outset *set)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	sigset_t block, old;
	int r = 0;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		sigaddset(&block, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (set->stop) {
		/* Blocked here, but another thread could take a signal and a
		 * second one would kill the process: from now on every thread
		 * only records it. */
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		held_stop = set->stop;
		sa.sa_handler = hold_signal;
		sa.sa_mask = block;
		for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
			sigaction(sigs[i], &sa, NULL);
	}
	if (stopped(set)) {
		r = stop_fail(set);
		goto out;
	}
	/* Transactions first: one that fails leaves every file as it was. */
	while (set->hooks && r == 0) {
		struct outset_hook *h = set->hooks;

		set->hooks = h->next;
		h->set = NULL;
		r = h->commit(h->ctx);
		if (r == 0)
			set->committed++;
	}
	if (r != 0)
		goto out;
	/* Every output synced before any is renamed: a failure here leaves
	 * every target as it was. */
	for (struct outfile *o = set->head; o && r == 0; o = o->next)
		if (!o->done)
			r = commit_prepare(o);
	if (r != 0)
		goto out;
	for (struct outfile *o = set->head; o && r == 0; o = o->next) {
		if (o->done)
			continue;
		r = commit_publish(o);
		if (r == 0)
			set->committed++;
	}
out:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

void outset_abort(struct outset *set)
{
	while (set && set->hooks)
		outset_hook_abort(set->hooks);
	while (set && set->head)
		outfile_abort(set->head); /* unlinks it */
}

void outset_add_hook(struct outset *set, struct outset_hook *h)
{
	h->set = set;
	h->next = set->hooks;
	set->hooks = h;
}

void outset_hook_abort(struct outset_hook *h)
{
	struct outset_hook **p;

	if (h->set == NULL)
		return;
	for (p = &h->set->hooks; *p && *p != h; p = &(*p)->next)
		;
	if (*p)
		*p = h->next;
	h->set = NULL;
	h->abort(h->ctx);
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
	if (!o->done) {
		if (o->tmpdir)
			remove_tree(o->tmpdir);
		if (o->tmp_fd >= 0)
			close(o->tmp_fd);
		o->tmp_fd = -1;
		lock_drop(o);
		remove_made_dirs(o);
		remove_pending_dirs();
	}
	o->done = true;
	set_unlink(o);
	CSLDestroy(o->old_files);
	o->old_files = NULL;
}
