/* raster/write.c - the write step of raster pipelines: any GDAL raster
 * driver that can Create, or CreateCopy (COG, PNG, JPEG...) through a tiled
 * GeoTIFF staged beside the output, so that nothing holds the raster in
 * memory.  Outputs are atomic like vector ones (outfile.h). */
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/incremental.h"
#include "core/iocheck.h"
#include "config/opts.h"
#include "core/output.h"
#include "config/pipeline.h"
#include "raster/raster.h"
#include "core/step.h"
#include "config/yaml_load.h"
#include "core/input.h"

static const char *const rmodes[] = {"create", "overwrite", NULL};

struct rwrite_conf {
	const char *path;
	const char *format;
	int mode;
	struct strmap options;
	double block[2];
	bool tiled;
	bool has_block, has_tiled;
};

static const struct opt_desc rwrite_opts[] = {
	{"path", OPT_STRING, offsetof(struct rwrite_conf, path), OPT_REQUIRED,
	 "output path; {stem} {name} {index} make one output per input", NULL, NULL, NULL, 0, 0, 0},
	{"format", OPT_STRING, offsetof(struct rwrite_conf, format), 0,
	 "GDAL raster driver (GTiff, COG, ...)", "from the extension (.tif: GTiff)", NULL, NULL,
	 0, 0, 0},
	{"mode", OPT_ENUM, offsetof(struct rwrite_conf, mode), 0,
	 "create (fail if the output exists) or overwrite", "create", rmodes, NULL, 0, 0, 0},
	{"options", OPT_MAP, offsetof(struct rwrite_conf, options), 0,
	 "creation options, passed to GDAL ({ COMPRESS: DEFLATE })", NULL, NULL, NULL, 0, 0, 0},
	{"block", OPT_DOUBLE2, offsetof(struct rwrite_conf, block), 0,
	 "tile size, one number or [width, height] (multiples of 16)", "256 (COG: 512)", NULL,
	 NULL, offsetof(struct rwrite_conf, has_block), 16, 16384},
	{"tiled", OPT_BOOL, offsetof(struct rwrite_conf, tiled), 0,
	 "tiled output where the driver can tile (GTiff)", "true", NULL, NULL,
	 offsetof(struct rwrite_conf, has_tiled), 0, 0},
	{0},
};

struct rwrite_state {
	GDALDriverH drv;
	bool copy;                 /* the driver only has CreateCopy */
	struct output *outputs;    /* newest first */
	struct output *cur;        /* cur->ds: the dataset being written */
	GDALDatasetH dsh;
	const char *stage_path;    /* copy: the staged GeoTIFF */
	int nbands;
	struct engine *eng;
};

static bool can(GDALDriverH d, const char *cap)
{
	return GDALGetMetadataItem(d, cap, NULL) != NULL;
}

static bool is_raster_writer(GDALDriverH d)
{
	return can(d, GDAL_DCAP_RASTER) && (can(d, GDAL_DCAP_CREATE) || can(d, GDAL_DCAP_CREATECOPY));
}

static GDALDriverH find_raster_driver(const char *path, const char *format, const char **why)
{
	const char *ext = output_path_ext(path);

	/* .tif is GTiff, not COG, which lists the extension too. */
	if (format == NULL && ext && (strcasecmp(ext, "tif") == 0 || strcasecmp(ext, "tiff") == 0))
		return GDALGetDriverByName("GTiff");
	return output_find_driver(path, format, is_raster_writer, "this format cannot write rasters",
	                          why);
}

static int rwrite_check(struct step *s, struct pipeline *pl)
{
	struct rwrite_conf *c = s->conf;
	const char *why = NULL;

	if (output_check_path(pl, s, c->path) != 0)
		return -1;
	if (find_raster_driver(c->path, c->format, &why) == NULL)
		return ydoc_fail(pl->doc, ynode_get(s->node, c->format ? "format" : "path"),
		                 "cannot write '%s': %s", c->format ? c->format : c->path, why);
	if (c->has_block)
		for (int i = 0; i < 2; i++)
			if (c->block[i] != floor(c->block[i]) || (int)c->block[i] % 16 != 0 ||
			    c->block[i] > 16384)
				return ydoc_fail(pl->doc, ynode_get(s->node, "block"),
				                 "'block' must be multiples of 16 up to 16384");
	if (!c->has_tiled)
		c->tiled = true;
	return 0;
}

static int rwrite_open(struct stage *s, struct engine *e)
{
	struct rwrite_conf *c = s->step->conf;
	struct rwrite_state *st = s->state;
	const char *why = NULL;

	st->eng = e;
	st->drv = find_raster_driver(c->path, c->format, &why);
	if (st->drv == NULL)
		return gp_fail(GP_EX_CONFIG, "cannot write '%s': %s", c->path, why);
	st->copy = !can(st->drv, GDAL_DCAP_CREATE) || strcmp(GDALGetDriverShortName(st->drv), "COG") == 0;
	if (incr_sink(e->incr, c->path, c->mode) != 0)
		return -1;
	if (!incr_reads_any(e->incr))
		return 0; /* up to date: nothing will be created */
	return output_check_absent(s->arena, c->path, c->mode, "overwrite", e->opts->shard_index,
	                           e->opts->shard_count);
}

static bool has_key(const struct strmap *m, const char *k)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->key[i], k) == 0)
			return true;
	return false;
}

static bool driver_has_option(GDALDriverH d, const char *name)
{
	const char *list = GDALGetMetadataItem(d, GDAL_DMD_CREATIONOPTIONLIST, NULL);
	char pat[64];

	if (list == NULL)
		return false;
	snprintf(pat, sizeof pat, "name='%s'", name);
	return strstr(list, pat) != NULL;
}

/* Creation options of a GeoTIFF written window by window: tiled unless
 * told otherwise, BigTIFF when it might need it. */
static char **tiff_options(const struct rwrite_conf *c, const struct strmap *user, int bw, int bh)
{
	char **o = NULL;
	char v[32];

	if (c->tiled && !has_key(user, "TILED")) {
		o = CSLSetNameValue(o, "TILED", "YES");
		if (!has_key(user, "BLOCKXSIZE")) {
			snprintf(v, sizeof v, "%d", bw);
			o = CSLSetNameValue(o, "BLOCKXSIZE", v);
		}
		if (!has_key(user, "BLOCKYSIZE")) {
			snprintf(v, sizeof v, "%d", bh);
			o = CSLSetNameValue(o, "BLOCKYSIZE", v);
		}
	}
	if (!has_key(user, "BIGTIFF"))
		o = CSLSetNameValue(o, "BIGTIFF", "IF_SAFER");
	for (size_t i = 0; user && i < user->n; i++)
		o = CSLSetNameValue(o, user->key[i], user->val[i]);
	return o;
}

static void describe(GDALDatasetH ds, const struct rview *v)
{
	if (v->has_gt)
		GDALSetGeoTransform(ds, (double *)v->gt);
	if (v->crs)
		GDALSetProjection(ds, v->crs);
	for (int b = 0; b < v->nbands; b++) {
		GDALRasterBandH bh = GDALGetRasterBand(ds, b + 1);

		if (v->band[b].has_nodata && b != v->alpha)
			GDALSetRasterNoDataValue(bh, v->band[b].nodata);
		if (v->band[b].interp != GCI_Undefined)
			GDALSetRasterColorInterpretation(bh, v->band[b].interp);
		if (v->band[b].desc)
			GDALSetDescription(bh, v->band[b].desc);
	}
}

static int rwrite_begin(struct stage *s, struct stream *stm)
{
	struct rwrite_conf *c = s->step->conf;
	struct rwrite_state *st = s->state;
	struct rview *v = stm->raster;
	char *path = output_expand(stm->arena, c->path, stm, s->eng->opts->shard_index,
	                           s->eng->opts->shard_count);
	struct output *o;
	GDALDriverH gtiff = GDALGetDriverByName("GTiff");
	GDALDriverH drv = st->copy ? gtiff : st->drv;
	const char *target;
	char **co;
	int bw, bh;
	GDALDatasetH ds;

	if (path == NULL)
		return -1;
	if (output_find(st->outputs, path))
		return gp_fail(GP_EX_CANTCREAT,
		               "output '%s' was written for an earlier input: a raster output "
		               "takes one input (use {stem} or {index} in 'path')",
		               path);
	o = arena_calloc(s->arena, 1, sizeof *o);
	if (o == NULL)
		return -1;
	if (output_begin(&st->outputs, o, st->eng->outs, s->arena, path, c->mode) != 0 ||
	    incr_output(st->eng->incr, stm->dataset_index, path) != 0)
		return -1;
	st->cur = o;
	bw = c->has_block ? (int)c->block[0] : st->copy ? 512 : 256;
	bh = c->has_block ? (int)c->block[1] : st->copy ? 512 : 256;
	if (st->copy) {
		/* Staged as an uncompressed tiled GeoTIFF in the output's
		 * temporary directory; CreateCopy reads it back by blocks. */
		struct strmap none = {0};

		st->stage_path = arena_printf(s->arena, "%s/.stage-%s.tif", o->of.tmpdir,
		                              source_base_name(o->path));
		if (st->stage_path == NULL)
			return -1;
		target = iocheck_path(s->arena, st->stage_path);
		co = tiff_options(c, &none, bw, bh);
		if (!c->tiled)
			co = CSLSetNameValue(co, "TILED", "YES"); /* staging is always tiled */
	} else {
		target = o->gdal_path;
		co = drv == gtiff ? tiff_options(c, &c->options, bw, bh) : NULL;
		if (drv != gtiff) {
			for (size_t i = 0; i < c->options.n; i++)
				co = CSLSetNameValue(co, c->options.key[i], c->options.val[i]);
			if (c->tiled && driver_has_option(drv, "TILED") && !has_key(&c->options, "TILED"))
				co = CSLSetNameValue(co, "TILED", "YES");
		}
	}
	if (target == NULL) {
		CSLDestroy(co);
		return -1;
	}
	CPLErrorReset();
	ds = GDALCreate(drv, target, v->width, v->height, v->nbands, v->type, co);
	CSLDestroy(co);
	if (output_own_dataset(o, s->arena, &s->acct, ds) != 0)
		return -1;
	st->dsh = ds;
	st->nbands = v->nbands;
	describe(ds, v);
	/* Windows follow the blocks actually made. */
	GDALGetBlockSize(GDALGetRasterBand(ds, 1), &bw, &bh);
	v->block_w = bw > 0 ? bw : v->width;
	v->block_h = bh > 0 ? bh : 1;
	return 0;
}

static int rwrite_put(struct stage *s, const struct rwin *w, const void *buf)
{
	struct rwrite_state *st = s->state;
	const struct rview *v = s->rin;
	CPLErr err;

	CPLErrorReset();
	err = GDALDatasetRasterIO(st->dsh, GF_Write, w->x, w->y, w->w, w->h, (void *)buf, w->w, w->h,
	                          v->type, v->nbands, NULL, 0, 0, 0);
	/* The block cache writes older blocks out here: a full disk shows up
	 * (or is ignored by the driver) here. */
	if (err != CE_None)
		return output_fail(st->cur, GP_EX_IOERR, "cannot write to '%s': %s", st->cur->path,
		                   iocheck_gdal_msg());
	return output_status(st->cur);
}

/* Close the dataset being written and check the close: flushing happens
 * there, and a full disk shows up there. */
static int finish_dataset(struct rwrite_state *st)
{
	st->dsh = NULL;
	return st->cur ? output_close(st->cur) : 0;
}

static int copy_progress(double done, const char *msg, void *arg)
{
	struct rwrite_state *st = arg;

	(void)done;
	(void)msg;
	return !(st->eng->stop && *st->eng->stop);
}

static int rwrite_end(struct stage *s, struct stream *stm)
{
	struct rwrite_conf *c = s->step->conf;
	struct rwrite_state *st = s->state;
	GDALDatasetH src, dst;
	const char *dst_path;
	char **co = NULL;
	int r = 0;

	(void)stm;
	if (finish_dataset(st) != 0)
		return -1;
	if (!st->copy || st->stage_path == NULL)
		return 0;
	CPLErrorReset();
	src = GDALOpenEx(st->stage_path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
	if (src == NULL) {
		r = gp_fail(GP_EX_IOERR, "cannot read back '%s': %s", st->stage_path,
		            iocheck_gdal_msg());
		goto out;
	}
	dst_path = st->cur->gdal_path;
	for (size_t i = 0; i < c->options.n; i++)
		co = CSLSetNameValue(co, c->options.key[i], c->options.val[i]);
	if (c->has_block && driver_has_option(st->drv, "BLOCKSIZE") && !has_key(&c->options, "BLOCKSIZE")) {
		char v[32];

		snprintf(v, sizeof v, "%d", (int)c->block[0]);
		co = CSLSetNameValue(co, "BLOCKSIZE", v);
	}
	CPLErrorReset();
	dst = GDALCreateCopy(st->drv, dst_path, src, FALSE, co, copy_progress, st);
	CSLDestroy(co);
	if (dst == NULL) {
		if (output_status(st->cur) != 0)
			r = -1;
		else if (st->eng->stop && *st->eng->stop)
			r = gp_fail(128 + *st->eng->stop, "interrupted by signal %d", (int)*st->eng->stop);
		else
			r = gp_fail(GP_EX_CANTCREAT, "cannot write '%s' as %s: %s", st->cur->path,
			            GDALGetDriverShortName(st->drv), iocheck_gdal_msg());
		GDALClose(src);
		goto out;
	}
	r = output_close_dataset(st->cur, dst);
	GDALClose(src);
out:
	/* The staged copy is never committed: it goes now. */
	VSIUnlink(st->stage_path);
	st->stage_path = NULL;
	return r;
}

static int rwrite_close(struct stage *s, bool ok)
{
	struct rwrite_state *st = s->state;
	int r = 0;

	if (st == NULL)
		return 0;
	if (ok && finish_dataset(st) != 0) {
		r = -1;
		ok = false;
	}
	/* A run that failed mid-stream: drop what was written. */
	if (st->cur)
		output_drop(st->cur);
	if (st->stage_path) {
		VSIUnlink(st->stage_path);
		st->stage_path = NULL;
	}
	if (!ok)
		output_abort_all(st->outputs);
	return r;
}

static void rwrite_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct rwrite_conf *c = s->step->conf;
	struct rwrite_state *st = s->state;
	char note[256];

	(void)e;
	if (st && st->copy)
		snprintf(note, sizeof note,
		         "  %s has only CreateCopy: windows go to a tiled GeoTIFF staged in the "
		         "temporary directory, copied by blocks at the end, then removed\n",
		         GDALGetDriverShortName(st->drv));
	output_explain(out, c->path, st ? st->drv : NULL, rmodes[c->mode],
	               st && st->copy ? note : NULL);
}

static void rwrite_explain_memory(struct stage *s, struct engine *e, FILE *out)
{
	(void)s;
	fprintf(out, "  memory: output windows sized from %.1f MiB for all steps' block arenas "
	             "together, aligned to the output's blocks\n",
	        (double)e->plan.window_bytes / (1024.0 * 1024.0));
}

static const struct raster_ops raster_write_ops = {
	.begin = rwrite_begin,
	.end = rwrite_end,
	.put = rwrite_put,
};

const struct step_desc step_raster_write = {
	.name = "write",
	.summary = "write a raster with any GDAL driver that can create or copy",
	.role = STEP_SINK,
	.opts = rwrite_opts,
	.conf_size = sizeof(struct rwrite_conf),
	.details = "Windows are written as the pipeline produces them, aligned to the\n"
	           "output's blocks.  GeoTIFF outputs are tiled by default (256 x 256) and\n"
	           "BigTIFF when they may need it.  Drivers that can only CreateCopy (COG,\n"
	           "PNG, JPEG) get a tiled GeoTIFF staged beside the output, which they copy\n"
	           "block by block; the staged file is removed.  Like vector outputs, each\n"
	           "output is renamed into place only when the whole run has succeeded.",
	.check = rwrite_check,
	.state_size = sizeof(struct rwrite_state),
	.open = rwrite_open,
	.close = rwrite_close,
	.explain = rwrite_explain,
	.explain_memory = rwrite_explain_memory,
	.ras = &raster_write_ops,
};
