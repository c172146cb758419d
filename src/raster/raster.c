/* raster.c - raster views, window buffers, and the engine's raster run. */
#include "raster/raster.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/handle.h"
#include "config/pipeline.h"
#include "core/step.h"

#define MiB ((uint64_t)1024 * 1024)

size_t raster_tsize(GDALDataType t)
{
	int n = GDALGetDataTypeSizeBytes(t);

	return n > 0 ? (size_t)n : 1;
}

size_t raster_win_bytes(const struct rview *v, const struct rwin *w)
{
	return (size_t)w->w * (size_t)w->h * (size_t)v->nbands * raster_tsize(v->type);
}

int raster_view_bands(struct arena *a, struct rview *v, int nbands)
{
	v->band = arena_calloc(a, nbands > 0 ? (size_t)nbands : 1, sizeof *v->band);
	if (v->band == NULL)
		return -1;
	v->nbands = nbands;
	for (int b = 0; b < nbands; b++)
		v->band[b].interp = GCI_GrayIndex;
	return 0;
}

struct rview *raster_view_dup(struct arena *a, const struct rview *v)
{
	struct rview *d = arena_alloc(a, sizeof *d, 0);

	if (d == NULL)
		return NULL;
	*d = *v;
	d->band = arena_alloc(a, sizeof *d->band * (size_t)(v->nbands > 0 ? v->nbands : 1), 0);
	if (d->band == NULL)
		return NULL;
	memcpy(d->band, v->band, sizeof *d->band * (size_t)v->nbands);
	if (v->crs && (d->crs = arena_strdup(a, v->crs)) == NULL)
		return NULL;
	return d;
}

const char *const raster_type_names[] = {"Byte",  "UInt16",  "Int16",   "UInt32",
                                         "Int32", "Float32", "Float64", NULL};
static const GDALDataType raster_types[] = {GDT_Byte,  GDT_UInt16,  GDT_Int16,  GDT_UInt32,
                                            GDT_Int32, GDT_Float32, GDT_Float64};

bool raster_band_number(const char *text, int *band)
{
	char *end;
	long b;

	errno = 0;
	b = strtol(text, &end, 10);
	if (errno || *end || end == text || b < 1 || b > 65535)
		return false;
	*band = (int)b;
	return true;
}

GDALDataType raster_type_parse(const char *name)
{
	for (int i = 0; raster_type_names[i]; i++)
		if (strcasecmp(name, raster_type_names[i]) == 0)
			return raster_types[i];
	return GDT_Unknown;
}

static void range_of(GDALDataType t, double *lo, double *hi)
{
	switch (t) {
	case GDT_Byte:
		*lo = 0, *hi = 255;
		return;
	case GDT_UInt16:
		*lo = 0, *hi = 65535;
		return;
	case GDT_Int16:
		*lo = -32768, *hi = 32767;
		return;
	case GDT_UInt32:
		*lo = 0, *hi = 4294967295.0;
		return;
	case GDT_Int32:
		*lo = -2147483648.0, *hi = 2147483647.0;
		return;
	case GDT_Float32:
		*lo = -FLT_MAX, *hi = FLT_MAX;
		return;
	default:
		*lo = -DBL_MAX, *hi = DBL_MAX;
		return;
	}
}

bool raster_value_fits(double v, GDALDataType t)
{
	double lo, hi;

	if (isnan(v))
		return t == GDT_Float32 || t == GDT_Float64;
	if (isinf(v))
		return t == GDT_Float32 || t == GDT_Float64;
	range_of(t, &lo, &hi);
	if (v < lo || v > hi)
		return false;
	if (t == GDT_Float32)
		return (double)(float)v == v;
	if (t == GDT_Float64)
		return true;
	return v == floor(v);
}

void raster_to_double(const void *src, GDALDataType t, size_t n, double *dst)
{
	GDALCopyWords64(src, t, (int)raster_tsize(t), dst, GDT_Float64, sizeof(double),
	                (GPtrDiff_t)n);
}

void raster_from_double(const double *src, size_t n, GDALDataType t, void *dst)
{
	/* GDALCopyWords rounds to the nearest and clamps to the type's range. */
	GDALCopyWords64(src, GDT_Float64, sizeof(double), dst, t, (int)raster_tsize(t),
	                (GPtrDiff_t)n);
}

static void close_mem(void *ds)
{
	GDALClose(ds);
}

GDALDatasetH raster_mem_dataset(struct step *s, struct arena *a, const struct rview *v,
                                const struct rwin *w, void *buf, size_t line_pixels,
                                size_t band_bytes)
{
	GDALDriverH mem = GDALGetDriverByName("MEM");
	GDALDatasetH ds;
	size_t ts = raster_tsize(v->type);
	double gt[6];

	if (mem == NULL) {
		gp_fail(GP_EX_SOFTWARE, "GDAL's MEM driver is missing");
		return NULL;
	}
	ds = GDALCreate(mem, "", w->w, w->h, 0, v->type, NULL);
	if (ds == NULL) {
		gp_fail(GP_EX_SOFTWARE, "cannot create a %dx%d MEM dataset: %s", w->w, w->h,
		        CPLGetLastErrorMsg());
		return NULL;
	}
	if (handle_own(a, &s->acct, HANDLE_GDAL_DATASET, ds, close_mem) == NULL)
		return NULL;
	for (int b = 0; b < v->nbands; b++) {
		char opt[3][64];
		char *opts[4] = {opt[0], opt[1], opt[2], NULL};
		char ptr[48];

		/* CPLPrintPointer does not terminate what it prints. */
		ptr[CPLPrintPointer(ptr, (char *)buf + (size_t)b * band_bytes, sizeof ptr - 1)] = '\0';
		snprintf(opt[0], sizeof opt[0], "DATAPOINTER=%s", ptr);
		snprintf(opt[1], sizeof opt[1], "PIXELOFFSET=%zu", ts);
		snprintf(opt[2], sizeof opt[2], "LINEOFFSET=%zu", line_pixels * ts);
		if (GDALAddBand(ds, v->type, opts) != CE_None) {
			gp_fail(GP_EX_SOFTWARE, "cannot wrap a window buffer: %s", CPLGetLastErrorMsg());
			return NULL;
		}
		if (v->band[b].has_nodata)
			GDALSetRasterNoDataValue(GDALGetRasterBand(ds, b + 1), v->band[b].nodata);
		GDALSetRasterColorInterpretation(GDALGetRasterBand(ds, b + 1), v->band[b].interp);
	}
	memcpy(gt, v->gt, sizeof gt);
	gt[0] = v->gt[0] + w->x * v->gt[1] + w->y * v->gt[2];
	gt[3] = v->gt[3] + w->x * v->gt[4] + w->y * v->gt[5];
	if (v->has_gt)
		GDALSetGeoTransform(ds, gt);
	if (v->crs)
		GDALSetProjection(ds, v->crs);
	return ds;
}

struct arena *raster_blocks(struct step *s)
{
	return s->blocks;
}

const struct rview *raster_input_view(const struct step *s)
{
	return s->rin;
}

int raster_pull_upstream(struct step *s, const struct rwin *w, void *buf)
{
	struct engine *e = s->eng;
	struct step *up = &e->pl->steps[s->index - 1];
	double t0 = engine_now(), saved = e->pull_child, dt;
	int r;

	if (engine_stopping(e))
		return engine_stop(e);
	e->pull_child = 0;
	engine_enter(e, up);
	r = up->desc->pull(up, w, buf);
	engine_enter(e, s);
	dt = engine_now() - t0;
	/* Time in a pull, less the time its own pulls took upstream. */
	up->acct.seconds += dt - e->pull_child;
	e->pull_child = saved + dt;
	if (r != 0)
		return -1;
	up->acct.items_out++;
	s->acct.items_in++;
	return 0;
}

/* Bytes the chain holds per output pixel at once, planned as if every view
 * were worked on in doubles, twice (a step's input and its output). */
static size_t pixel_cost(const struct engine *e)
{
	const struct pipeline *pl = e->pl;
	size_t cost = 0;

	for (size_t k = 1; k < pl->nsteps; k++)
		if (pl->steps[k].rin)
			cost += (size_t)pl->steps[k].rin->nbands * 16;
	return cost ? cost : 16;
}

void raster_plan_window(const struct engine *e, const struct rview *v, int *ww, int *wh)
{
	/* --config GISPIPE_RASTER_WINDOW_BYTES: tests cut small rasters into
	 * many windows with it. */
	uint64_t budget = CPLScanUIntBig(CPLGetConfigOption("GISPIPE_RASTER_WINDOW_BYTES", "0"), 32);
	uint64_t px = (budget ? budget : e->plan.window_bytes) / pixel_cost(e);
	int bw = v->block_w > 0 ? v->block_w : 256, bh = v->block_h > 0 ? v->block_h : 256;

	if (px < (uint64_t)bw * bh)
		px = (uint64_t)bw * bh;
	if (bw >= v->width) {
		/* Striped output: whole rows. */
		uint64_t rows = px / (uint64_t)v->width;

		rows = rows / (uint64_t)bh * (uint64_t)bh;
		*ww = v->width;
		*wh = rows < (uint64_t)bh ? bh : rows > (uint64_t)v->height ? v->height : (int)rows;
		return;
	}
	/* Tiled output: square windows of whole blocks (a warp's source area
	 * under a square is smallest), widened to whole rows when they fit. */
	{
		int side = (int)sqrt((double)px);
		int cw = side / bw * bw, ch = side / bh * bh;

		if (cw < bw)
			cw = bw;
		if (ch < bh)
			ch = bh;
		if (cw >= v->width) {
			uint64_t rows = px / (uint64_t)v->width / (uint64_t)bh * (uint64_t)bh;

			cw = v->width;
			ch = rows < (uint64_t)bh ? bh : rows > (uint64_t)v->height ? v->height : (int)rows;
		}
		*ww = cw;
		*wh = ch > v->height ? v->height : ch;
	}
}

void raster_explain_step(struct engine *e, struct step *s, FILE *out)
{
	(void)e;
	if (s->desc->role == STEP_SOURCE)
		fprintf(out, "  memory: windows of the blocks the sink asks for, read through GDAL's "
		             "block cache (%.1f MiB)\n",
		        (double)e->plan.gdal_cache / (double)MiB);
	else if (s->desc->role == STEP_SINK)
		fprintf(out, "  memory: output windows sized from %.1f MiB for all steps' block "
		             "arenas together, aligned to the output's blocks\n",
		        (double)e->plan.window_bytes / (double)MiB);
	else
		fprintf(out, "  memory: one window's scratch in its block arena, reset after each "
		             "window\n");
}

/* The run: stream by stream, window by window. */

static void progress(struct engine *e, double t0, uint64_t done, uint64_t total, bool final)
{
	double el = engine_now() - t0;
	double rate = el > 0 ? (double)e->totals.pixels_out / el : 0;

	if (!final && total)
		fprintf(stderr, "\r%8.1f Mpixels  %7.1f Mpx/s  %5.1f%%  ETA %5.0fs ",
		        (double)e->totals.pixels_out / 1e6, rate / 1e6, 100.0 * (double)done / (double)total,
		        rate > 0 ? (double)(total - done) / rate : 0);
	else
		fprintf(stderr, "\r%8.1f Mpixels  %7.1f Mpx/s%s", (double)e->totals.pixels_out / 1e6,
		        rate / 1e6, final ? "                      \n" : " ");
	fflush(stderr);
}

static void reset_blocks(struct pipeline *pl)
{
	for (size_t k = 0; k < pl->nsteps; k++)
		arena_reset(pl->steps[k].blocks);
}

/* Take the stream through every step's begin, keeping each step's input
 * view; `upto` steps (the sink excluded in checks). */
static int begin_chain(struct engine *e, struct stream *st, size_t upto)
{
	struct pipeline *pl = e->pl;

	for (size_t k = 1; k < upto; k++) {
		struct step *s = &pl->steps[k];

		/* The step keeps the view it receives and changes a copy. */
		s->rin = st->raster;
		st->raster = raster_view_dup(st->arena, s->rin);
		if (st->raster == NULL)
			return -1;
		if (s->desc->begin && s->desc->begin(s, st) != 0)
			return -1;
		if (st->raster->width <= 0 || st->raster->height <= 0 || st->raster->nbands <= 0)
			return gp_fail(GP_EX_DATAERR, "step '%s' leaves an empty raster", s->label);
	}
	return 0;
}

static int end_chain(struct engine *e, struct stream *st, size_t upto)
{
	struct pipeline *pl = e->pl;
	int r = 0;

	for (size_t k = 1; k < upto; k++) {
		struct step *s = &pl->steps[k];

		if (s->desc->end && s->desc->end(s, st) != 0 && r == 0)
			r = -1;
	}
	for (size_t k = 1; k < pl->nsteps; k++)
		pl->steps[k].rin = NULL;
	return r;
}

static int run_stream(struct engine *e, struct stream *st, double t0, bool show)
{
	struct pipeline *pl = e->pl;
	struct step *sink = &pl->steps[pl->nsteps - 1];
	const struct rview *v;
	int ww, wh;
	uint64_t total, done = 0;
	double last = 0;

	if (begin_chain(e, st, pl->nsteps) != 0)
		return -1;
	/* The sink's begin set the blocks it made in the stream's view. */
	v = st->raster;
	raster_plan_window(e, v, &ww, &wh);
	total = (uint64_t)v->width * (uint64_t)v->height;
	for (int y = 0; y < v->height; y += wh) {
		/* A thin last row or column of windows joins the one before it:
		 * steps that estimate from a window's shape (a warp's kernel
		 * scale) do badly on slivers. */
		int h = v->height - y < wh + wh / 2 ? v->height - y : wh;

		for (int x = 0; x < v->width; x += ww) {
			int wd = v->width - x < ww + ww / 2 ? v->width - x : ww;
			struct rwin w = {x, y, wd, h};
			void *buf;
			double t;

			if (engine_stopping(e))
				return engine_stop(e);
			buf = arena_alloc(sink->blocks, raster_win_bytes(v, &w), 0);
			if (buf == NULL)
				return -1;
			if (raster_pull_upstream(sink, &w, buf) != 0)
				return -1;
			t = engine_now();
			if (sink->desc->put(sink, &w, buf) != 0)
				return -1;
			sink->acct.seconds += engine_now() - t;
			sink->acct.items_out++;
			e->totals.batches++;
			e->totals.pixels_out += (uint64_t)w.w * (uint64_t)w.h;
			done += (uint64_t)w.w * (uint64_t)w.h;
			if (engine_check_memory(e, sink) != 0)
				return -1;
			reset_blocks(pl);
			if (show && engine_now() - last > 0.25) {
				last = engine_now();
				progress(e, t0, done, total, false);
			}
			if (wd != ww)
				break;
		}
		if (h != wh)
			break;
	}
	return 0;
}

static int make_block_arenas(struct engine *e)
{
	struct pipeline *pl = e->pl;

	for (size_t k = 0; k < pl->nsteps; k++) {
		struct step *s = &pl->steps[k];

		if (s->blocks == NULL && (s->blocks = arena_create(&s->acct.mem, 0)) == NULL)
			return -1;
	}
	return 0;
}

static void drop_block_arenas(struct engine *e)
{
	struct pipeline *pl = e->pl;

	for (size_t k = 0; k < pl->nsteps; k++) {
		arena_destroy(pl->steps[k].blocks);
		pl->steps[k].blocks = NULL;
	}
}

/* The plan of one stream: grids in and out, and the windows the sink will
 * ask for (assuming 256 x 256 output tiles, GeoTIFF's default here). */
static void explain_stream(struct engine *e, struct stream *st, FILE *out)
{
	const struct rview *in = e->pl->steps[1].rin, *v = st->raster;
	struct rview tiled = *v;
	int ww, wh;
	uint64_t nx, ny;

	tiled.block_w = tiled.block_w >= v->width ? v->width : 256;
	tiled.block_h = tiled.block_w >= v->width ? tiled.block_h : 256;
	e->pl->steps[e->pl->nsteps - 1].rin = v;
	raster_plan_window(e, &tiled, &ww, &wh);
	e->pl->steps[e->pl->nsteps - 1].rin = NULL;
	/* As run_stream cuts them: a thin remainder joins the last window. */
	nx = (uint64_t)v->width / (uint64_t)ww;
	ny = (uint64_t)v->height / (uint64_t)wh;
	nx += nx == 0 || (uint64_t)v->width % (uint64_t)ww >= (uint64_t)ww / 2;
	ny += ny == 0 || (uint64_t)v->height % (uint64_t)wh >= (uint64_t)wh / 2;
	fprintf(out, "  %s: %d x %d, %d band(s) of %s -> %d x %d, %d band(s) of %s\n", st->path,
	        in ? in->width : v->width, in ? in->height : v->height, in ? in->nbands : v->nbands,
	        GDALGetDataTypeName(in ? in->type : v->type), v->width, v->height, v->nbands,
	        GDALGetDataTypeName(v->type));
	fprintf(out, "    output windows of %d x %d pixels (%.1f MiB), %" PRIu64 " of them\n", ww, wh,
	        (double)((uint64_t)ww * (uint64_t)wh * (uint64_t)v->nbands * raster_tsize(v->type)) /
	            (double)MiB,
	        nx * ny);
}

/* Every stream of the source, in order.  A run (`check` false) writes each
 * one; a check takes each through the transforms' begin and end only, the
 * sink left alone, and explains it to `explain` if not NULL. */
static int each_stream(struct engine *e, bool check, FILE *explain)
{
	struct pipeline *pl = e->pl;
	struct step *src = &pl->steps[0];
	size_t upto = check ? pl->nsteps - 1 : pl->nsteps;
	struct arena *sa;
	double t0 = engine_now();
	bool show = !check && e->opts->progress && !e->opts->quiet && isatty(2);
	int r = 0;

	sa = make_block_arenas(e) == 0 ? arena_create(&src->acct.mem, 0) : NULL;
	if (sa == NULL) {
		drop_block_arenas(e);
		return -1;
	}
	for (;;) {
		struct stream st = {.index = e->totals.streams, .arena = sa, .count_hint = -1};

		arena_reset(sa);
		r = src->desc->next_stream(src, &st);
		if (r <= 0)
			break;
		e->totals.streams++;
		if (check) {
			r = begin_chain(e, &st, upto);
			if (r == 0 && explain)
				explain_stream(e, &st, explain);
		} else {
			r = run_stream(e, &st, t0, show);
			reset_blocks(pl);
		}
		/* Every transform ends and the source closes its dataset whatever
		 * happened; the sink finishes its output only after a whole stream
		 * (after a failure, its close throws the output away). */
		if (end_chain(e, &st, r == 0 ? upto : pl->nsteps - 1) != 0 && r == 0)
			r = -1;
		if (src->desc->end(src, &st) != 0 && r == 0)
			r = -1;
		if (r != 0)
			break;
	}
	if (show)
		progress(e, t0, 0, 0, true);
	arena_destroy(sa);
	drop_block_arenas(e);
	return r < 0 ? -1 : 0;
}

int raster_run_all(struct engine *e)
{
	return each_stream(e, false, NULL);
}

int raster_check_streams(struct engine *e, FILE *explain)
{
	return each_stream(e, true, explain);
}

static const char *const raster_exts[] = {"tif", "tiff", "vrt", "img", "jp2", "asc", "nc",
                                          "dem", "png", "jpg", "jpeg", "webp", "hgt", "bil",
                                          "dt0", "dt1", "dt2", "grd", "bt", "ecw", "sid", "xyz",
                                          NULL};

unsigned raster_path_kind(const char *path)
{
	GDALDatasetH ds;
	const char *dot;

	CPLPushErrorHandler(CPLQuietErrorHandler);
	ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
	if (ds != NULL && GDALDatasetGetLayerCount(ds) > 0) {
		GDALClose(ds);
		CPLPopErrorHandler();
		return STEP_VECTOR;
	}
	if (ds != NULL)
		GDALClose(ds);
	ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
	if (ds != NULL) {
		bool raster = GDALGetRasterCount(ds) > 0;

		GDALClose(ds);
		CPLPopErrorHandler();
		return raster ? STEP_RASTER : STEP_VECTOR;
	}
	CPLPopErrorHandler();
	/* Nothing opened (missing, or not a dataset at all): a raster format's
	 * extension says raster; anything else is left undecided. */
	dot = strrchr(path, '.');
	if (dot == NULL || strchr(dot, '/'))
		return 0;
	for (const char *const *x = raster_exts; *x; x++)
		if (strcasecmp(dot + 1, *x) == 0)
			return STEP_RASTER;
	return 0;
}
