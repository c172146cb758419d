/* output.c - one output of a writer step: staged, checked, closed; and the
 * output paths of both writers (output.h). */
#include "core/output.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include <cpl_error.h>
#include <cpl_string.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/input.h"
#include "core/iocheck.h"
#include "core/step.h"
#include "core/stream.h"
#include "config/pipeline.h"
#include "config/yaml_load.h"

struct output *output_find(struct output *list, const char *path)
{
	for (struct output *o = list; o; o = o->next)
		if (strcmp(o->path, path) == 0)
			return o;
	return NULL;
}

/* Whether every template of `t` is {shard}: the path is then known before
 * any input is read. */
static bool shard_only(const char *t)
{
	for (const char *p = strchr(t, '{'); p; p = strchr(p + 1, '{'))
		if (strncmp(p, "{shard}", 7) != 0)
			return false;
	return true;
}

int output_check_absent(struct arena *a, const char *path, enum outfile_mode mode,
                        const char *others, int shard, int shards)
{
	if (mode != OUTFILE_CREATE || !shard_only(path))
		return 0;
	if (strchr(path, '{') && (path = output_expand(a, path, NULL, shard, shards)) == NULL)
		return -1;
	if (outfile_exists(path))
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
	char shown[1024];

	snprintf(shown, sizeof shown, "%s", path);
	fprintf(out, "  output: %s [%s], mode %s%s\n", gp_redact(shown),
	        drv ? GDALGetDriverShortName(drv) : "?", mode,
	        strchr(path, '{') ? " (one per input, from the template)" : "");
	if (note)
		fputs(note, out);
	if (source_is_db(path))
		fprintf(out, "  written in one transaction, committed after a successful run; an "
		             "overwritten table is loaded under a temporary name and swapped in\n");
	else
		fprintf(out, "  written to a temporary directory beside the target, renamed into "
		             "place after a successful close\n");
}

/* Output paths: templates, local files, the driver from the extension. */

static const char *const template_names[] = {"stem", "name", "layer", "index", "shard", NULL};

int output_check_template(struct pipeline *pl, const struct step *s, const char *key,
                          const char *t)
{
	for (const char *p = strchr(t, '{'); p; p = strchr(p + 1, '{')) {
		const char *end = strchr(p, '}');
		char name[32];
		bool ok = false;

		if (end == NULL || (size_t)(end - p - 1) >= sizeof name)
			return ydoc_fail(pl->doc, ynode_get(s->node, key), "unterminated '{' in '%s'", t);
		memcpy(name, p + 1, (size_t)(end - p - 1));
		name[end - p - 1] = '\0';
		for (const char *const *n = template_names; *n; n++)
			ok |= strcmp(*n, name) == 0;
		if (!ok) {
			const char *hint = suggest_word(name, template_names);

			return ydoc_fail(pl->doc, ynode_get(s->node, key),
			                 "unknown template '{%s}' in '%s'%s%s%s", name, t,
			                 hint ? " (did you mean '{" : "", hint ? hint : "",
			                 hint ? "}'?)" : "");
		}
	}
	return 0;
}

int output_check_path(struct pipeline *pl, const struct step *s, const char *path)
{
	if (output_check_template(pl, s, "path", path) != 0)
		return -1;
	if (strncmp(path, "/vsi", 4) == 0)
		return ydoc_fail(pl->doc, ynode_get(s->node, "path"),
		                 "cannot write '%s': outputs must be local files (they are written "
		                 "atomically)",
		                 path);
	return 0;
}

const char *output_path_ext(const char *p)
{
	const char *slash = strrchr(p, '/');
	const char *dot = strrchr(p, '.');

	return dot && (!slash || dot > slash) ? dot + 1 : NULL;
}

GDALDriverH output_find_driver(const char *path, const char *format, bool (*can)(GDALDriverH),
                               const char *what, const char **why)
{
	const char *ext = output_path_ext(path);
	GDALDriverH best = NULL;

	if (format) {
		GDALDriverH d = GDALGetDriverByName(format);

		if (d == NULL) {
			*why = "unknown format (gispipe formats lists them)";
			return NULL;
		}
		if (!can(d)) {
			*why = what;
			return NULL;
		}
		return d;
	}
	if (ext == NULL) {
		*why = "no extension to guess the format from; give 'format'";
		return NULL;
	}
	for (int i = 0; i < GDALGetDriverCount(); i++) {
		GDALDriverH d = GDALGetDriver(i);
		const char *exts = GDALGetMetadataItem(d, GDAL_DMD_EXTENSIONS, NULL);
		const char *main_ext = GDALGetMetadataItem(d, GDAL_DMD_EXTENSION, NULL);
		char **list;
		bool match = false;

		if (!can(d))
			continue;
		list = CSLTokenizeString(exts ? exts : "");
		for (char **e = list; *e; e++)
			match |= strcasecmp(*e, ext) == 0;
		CSLDestroy(list);
		if (!match)
			continue;
		if (main_ext && strcasecmp(main_ext, ext) == 0)
			return d;
		if (best == NULL)
			best = d;
	}
	if (best == NULL)
		*why = "no driver writes this extension; give 'format'";
	return best;
}

char *output_expand(struct arena *a, const char *t, const struct stream *st, int shard,
                    int shards)
{
	size_t cap = strlen(t) + 256, len = 0;
	char *out = arena_alloc(a, cap, 1);

	if (out == NULL)
		return NULL;
	for (const char *p = t; *p;) {
		char val[64];
		const char *v = NULL;
		size_t vlen;

		if (*p == '{') {
			const char *end = strchr(p, '}');
			size_t n = (size_t)(end - p - 1);

			if (n == 4 && strncmp(p + 1, "stem", 4) == 0)
				v = st->stem;
			else if (n == 4 && strncmp(p + 1, "name", 4) == 0)
				v = st->name;
			else if (n == 5 && strncmp(p + 1, "layer", 5) == 0)
				v = st->layer;
			else if (n == 5 && strncmp(p + 1, "index", 5) == 0)
				snprintf(val, sizeof val, "%llu", (unsigned long long)st->dataset_index);
			else
				snprintf(val, sizeof val, "%0*d",
				         snprintf(NULL, 0, "%d", shards > 1 ? shards - 1 : 0), shard);
			if (v == NULL)
				v = val;
			p = end + 1;
			vlen = strlen(v);
		} else {
			v = p++;
			vlen = 1;
		}
		if (len + vlen + 1 > cap) {
			size_t ncap = 2 * (len + vlen + 1);
			char *n2 = arena_realloc(a, out, cap, ncap);

			if (n2 == NULL)
				return NULL;
			out = n2;
			cap = ncap;
		}
		memcpy(out + len, v, vlen);
		len += vlen;
	}
	out[len] = '\0';
	return out;
}
