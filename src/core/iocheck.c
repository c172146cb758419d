/* iocheck.c - a checking layer of GDAL's virtual file system (iocheck.h). */
#include "core/iocheck.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>

#include "core/arena.h"
#include "core/error.h"

#define PREFIX "/vsigpchk/"

/* Everything below is under `lock`: watching, opening and closing files,
 * and failures are rare; writes that succeed take no lock. */
struct iocheck {
	struct iocheck *next; /* in `watched`, until the owner's arena goes */
	char *dir;
	size_t dirlen;
	int refs; /* the owner's, plus one per file open for writing */
	bool failed;
	int err;        /* errno of the first failure, 0 for a bare short write */
	const char *op; /* "write", "flush", ... */
	char *file;     /* the file it happened to */
};

struct chk_file {
	VSILFILE *fp;
	struct iocheck *rec; /* NULL for read-only files or files outside any watch */
	char *name;          /* with rec: the real path, to name it in errors */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct iocheck *watched;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void unref(struct iocheck *c)
{
	if (--c->refs > 0)
		return;
	free(c->file);
	free(c->dir);
	free(c);
}

static struct iocheck *find_watch(const char *path)
{
	for (struct iocheck *c = watched; c; c = c->next)
		if (strncmp(path, c->dir, c->dirlen) == 0 && path[c->dirlen] == '/')
			return c;
	return NULL;
}

/* Record the first failure of a file being written; errno as the call
 * left it. */
static void note(struct chk_file *f, const char *op, int err)
{
	struct iocheck *c = f->rec;

	if (c == NULL)
		return;
	pthread_mutex_lock(&lock);
	if (!c->failed) {
		c->failed = true;
		c->err = err;
		c->op = op;
		c->file = f->name ? strdup(f->name) : NULL;
	}
	pthread_mutex_unlock(&lock);
}

static bool is_io_errno(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EIO || e == EFBIG;
}

static void *chk_open(void *ud, const char *name, const char *access)
{
	bool writing = strpbrk(access, "wa+") != NULL;
	struct chk_file *f;
	VSILFILE *fp;

	(void)ud;
	errno = 0;
	fp = VSIFOpenExL(name, access, FALSE);
	if (fp == NULL) {
		int err = errno;

		/* Creating a file on a full disk is an I/O error too. */
		if (writing && is_io_errno(err)) {
			struct chk_file tmp = {.name = (char *)name};

			pthread_mutex_lock(&lock);
			tmp.rec = find_watch(name);
			pthread_mutex_unlock(&lock);
			note(&tmp, "create", err);
		}
		errno = err;
		return NULL;
	}
	f = calloc(1, sizeof *f);
	if (f == NULL || (writing && (f->name = strdup(name)) == NULL)) {
		free(f);
		VSIFCloseL(fp);
		errno = ENOMEM;
		return NULL;
	}
	f->fp = fp;
	if (writing) {
		pthread_mutex_lock(&lock);
		f->rec = find_watch(name);
		if (f->rec)
			f->rec->refs++;
		pthread_mutex_unlock(&lock);
	}
	return f;
}

static vsi_l_offset chk_tell(void *h)
{
	return VSIFTellL(((struct chk_file *)h)->fp);
}

static int chk_seek(void *h, vsi_l_offset off, int whence)
{
	struct chk_file *f = h;
	int r;

	errno = 0;
	r = VSIFSeekL(f->fp, off, whence);
	/* stdio flushes its buffer on a seek: a full disk can show here. */
	if (r != 0)
		note(f, "seek", errno);
	return r;
}

static size_t chk_read(void *h, void *buf, size_t size, size_t count)
{
	return VSIFReadL(buf, size, count, ((struct chk_file *)h)->fp);
}

static VSIRangeStatus chk_range_status(void *h, vsi_l_offset off, vsi_l_offset len)
{
	return VSIFGetRangeStatusL(((struct chk_file *)h)->fp, off, len);
}

static int chk_eof(void *h)
{
	return VSIFEofL(((struct chk_file *)h)->fp);
}

static size_t chk_write(void *h, const void *buf, size_t size, size_t count)
{
	struct chk_file *f = h;
	size_t n;

	errno = 0;
	n = VSIFWriteL(buf, size, count, f->fp);
	if (n != count && size != 0)
		note(f, "write", errno);
	return n;
}

static int chk_flush(void *h)
{
	struct chk_file *f = h;
	int r;

	errno = 0;
	r = VSIFFlushL(f->fp);
	if (r != 0)
		note(f, "flush", errno);
	return r;
}

static int chk_truncate(void *h, vsi_l_offset size)
{
	struct chk_file *f = h;
	int r;

	errno = 0;
	r = VSIFTruncateL(f->fp, size);
	if (r != 0)
		note(f, "truncate", errno);
	return r;
}

static int chk_close(void *h)
{
	struct chk_file *f = h;
	int r;

	errno = 0;
	r = VSIFCloseL(f->fp);
	if (r != 0)
		note(f, "close", errno);
	if (f->rec) {
		pthread_mutex_lock(&lock);
		unref(f->rec);
		pthread_mutex_unlock(&lock);
	}
	free(f->name);
	free(f);
	return r;
}

static int chk_stat(void *ud, const char *name, VSIStatBufL *sb, int flags)
{
	(void)ud;
	return VSIStatExL(name, sb, flags);
}

static int chk_unlink(void *ud, const char *name)
{
	(void)ud;
	return VSIUnlink(name);
}

static int chk_rename(void *ud, const char *from, const char *to)
{
	(void)ud;
	return VSIRename(from, to);
}

static int chk_mkdir(void *ud, const char *name, long mode)
{
	(void)ud;
	return VSIMkdir(name, mode);
}

static int chk_rmdir(void *ud, const char *name)
{
	(void)ud;
	return VSIRmdir(name);
}

static char **chk_read_dir(void *ud, const char *name, int max)
{
	(void)ud;
	return VSIReadDirEx(name, max);
}

static void install(void)
{
	VSIFilesystemPluginCallbacksStruct *cb = VSIAllocFilesystemPluginCallbacksStruct();

	if (cb == NULL)
		return;
	cb->open = chk_open;
	cb->tell = chk_tell;
	cb->seek = chk_seek;
	cb->read = chk_read;
	cb->get_range_status = chk_range_status;
	cb->eof = chk_eof;
	cb->write = chk_write;
	cb->flush = chk_flush;
	cb->truncate = chk_truncate;
	cb->close = chk_close;
	cb->stat = chk_stat;
	cb->unlink = chk_unlink;
	cb->rename = chk_rename;
	cb->mkdir = chk_mkdir;
	cb->rmdir = chk_rmdir;
	cb->read_dir = chk_read_dir;
	/* nBufferSize 0: no caching layer of GDAL's in between (it would make
	 * the files read-only). */
	VSIInstallPluginHandler(PREFIX, cb); /* copies cb */
	VSIFreeFilesystemPluginCallbacksStruct(cb);
}

static void unwatch(void *ctx)
{
	struct iocheck *c = ctx;

	pthread_mutex_lock(&lock);
	for (struct iocheck **p = &watched; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	c->next = NULL;
	unref(c);
	pthread_mutex_unlock(&lock);
}

struct iocheck *iocheck_watch(struct arena *a, const char *dir)
{
	struct iocheck *c = calloc(1, sizeof *c);

	pthread_once(&installed, install);
	if (c == NULL || (c->dir = strdup(dir)) == NULL) {
		free(c);
		gp_fail(GP_EX_SOFTWARE, "out of memory watching '%s'", dir);
		return NULL;
	}
	c->dirlen = strlen(dir);
	while (c->dirlen > 1 && c->dir[c->dirlen - 1] == '/')
		c->dir[--c->dirlen] = '\0';
	c->refs = 1;
	pthread_mutex_lock(&lock);
	c->next = watched;
	watched = c;
	pthread_mutex_unlock(&lock);
	if (arena_defer(a, unwatch, c) != 0)
		return NULL; /* unwatch ran: the failed defer runs its cleanup */
	return c;
}

const char *iocheck_path(struct arena *a, const char *path)
{
	if (!CPLTestBool(CPLGetConfigOption("GISPIPE_IOCHECK", "YES")))
		return arena_strdup(a, path);
	return arena_printf(a, PREFIX "%s", path);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

int iocheck_status(struct iocheck *c, const char *target)
{
	char file[512] = "", why[256];
	bool failed;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&lock);
	failed = c->failed;
	if (failed) {
		if (c->err)
			snprintf(why, sizeof why, "%s", strerror(c->err));
		else
			snprintf(why, sizeof why, "short %s", c->op);
		if (c->file && strcmp(base_name(c->file), base_name(target)) != 0)
			snprintf(file, sizeof file, " (its file '%s')", base_name(c->file));
	}
	pthread_mutex_unlock(&lock);
	if (!failed)
		return 0;
	return gp_fail(GP_EX_IOERR, "cannot write '%s'%s: %s", target, file, why);
}

const char *iocheck_strip(const char *msg, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return buf;
	while (*msg && len + 1 < size) {
		if (strncmp(msg, PREFIX, sizeof PREFIX - 1) == 0) {
			msg += sizeof PREFIX - 1;
			continue;
		}
		buf[len++] = *msg++;
	}
	buf[len] = '\0';
	return buf;
}

const char *iocheck_gdal_msg(void)
{
	static __thread char buf[2048];

	return iocheck_strip(CPLGetLastErrorMsg(), buf, sizeof buf);
}
