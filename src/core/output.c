/* output.c - one output of a writer step: staged, checked, closed (output.h). */
#include "core/output.h"

#include <stdarg.h>
#include <string.h>

#include <cpl_error.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/iocheck.h"

struct output *output_find(struct output *list, const char *path)
{
	for (struct output *o = list; o; o = o->next)
		if (strcmp(o->path, path) == 0)
			return o;
	return NULL;
}

int output_check_absent(const char *path, enum outfile_mode mode, const char *others)
{
	if (strchr(path, '{') == NULL && mode == OUTFILE_CREATE && outfile_exists(path))
		return gp_fail(GP_EX_CANTCREAT, "cannot create '%s': it exists (use mode: %s)", path,
		               others);
	return 0;
}

int output_begin(struct output **list, struct output *o, struct outset *set, struct arena *a,
                 const char *path, enum outfile_mode mode)
{
	o->path = arena_strdup(a, path);
	if (o->path == NULL || outfile_begin(set, a, &o->of, o->path, mode) != 0)
		return -1;
	o->next = *list;
	*list = o;
	o->chk = iocheck_watch(a, o->of.tmpdir);
	o->gdal_path = o->chk ? iocheck_path(a, o->of.tmppath) : NULL;
	return o->gdal_path ? 0 : -1;
}

int output_status(struct output *o)
{
	return iocheck_status(o->chk, o->path);
}

int output_fail(struct output *o, int code, const char *fmt, ...)
{
	va_list ap;

	/* An I/O error is the cause whatever GDAL made of it. */
	if (output_status(o) != 0)
		return -1;
	va_start(ap, fmt);
	gp_vfail(code, fmt, ap);
	va_end(ap);
	return -1;
}

int output_own_dataset(struct output *o, struct arena *a, struct stage_acct *acct,
                       GDALDatasetH ds)
{
	if (ds == NULL)
		return output_fail(o, GP_EX_CANTCREAT, "cannot create '%s': %s", o->path,
		                   iocheck_gdal_msg());
	o->ds = handle_own(a, acct, HANDLE_GDAL_DATASET, ds, NULL);
	return o->ds ? 0 : -1;
}

int output_close_dataset(struct output *o, GDALDatasetH ds)
{
	CPLErrorReset();
	GDALClose(ds);
	/* Drivers flush here; text formats write their last bytes here and
	 * ignore a failure. */
	if (output_status(o) != 0)
		return -1;
	if (CPLGetLastErrorType() >= CE_Failure)
		return gp_fail(GP_EX_IOERR, "cannot finish '%s': %s", o->path, iocheck_gdal_msg());
	return 0;
}

int output_close(struct output *o)
{
	GDALDatasetH ds;

	if (o->ds == NULL)
		return 0;
	ds = handle_take(o->ds);
	o->ds = NULL;
	return output_close_dataset(o, ds);
}

void output_drop(struct output *o)
{
	if (o->ds == NULL)
		return;
	handle_release(o->ds);
	o->ds = NULL;
}

void output_abort_all(struct output *list)
{
	for (struct output *o = list; o; o = o->next)
		outfile_abort(&o->of);
}

void output_explain(FILE *out, const char *path, GDALDriverH drv, const char *mode,
                    const char *note)
{
	fprintf(out, "  output: %s [%s], mode %s%s\n", path, drv ? GDALGetDriverShortName(drv) : "?",
	        mode, strchr(path, '{') ? " (one per input, from the template)" : "");
	if (note)
		fputs(note, out);
	fprintf(out, "  written to a temporary directory beside the target, renamed into place "
	             "after a successful close\n");
}
