/* raster/reproject.c - reproject and resample rasters through GDAL's warp API,
 * one output window at a time.
 *
 * Each window the sink asks for is cut in horizontal strips of STRIP_ROWS
 * rows, the last taking the rest.  The cut is fixed by the grid and the
 * window alone, never by the thread count or the machine: GDAL's kernels
 * size their footprint from each piece's own ratio of output to source
 * pixels, so another cut gives other pixels (a unit or two in an Int16
 * warp), and the output would change with --threads.  The threads take
 * the pieces of that fixed list, each with its own whole-grid
 * transformer.
 *
 * For each strip (a piece), the source area under it is found by
 * transforming points of the piece back to the source grid, widened by the
 * kernel's reach; that area is pulled from the step before into the block
 * arena and wrapped as a MEM dataset, and a warp operation is made for the
 * piece, writing into a MEM dataset over the caller's buffer.  All of that
 * happens on the engine's thread, which gives each piece to the run's pool
 * (engine_pool: its workers are made once a run, not a window) as soon as
 * it is made and goes on reading the next; once the window is read, it
 * lets the run write the window before (raster_write_pending) and warps
 * the pieces no worker has taken yet.  Everything the pieces used is freed
 * on the engine's thread, which owns it.  A piece whose source area would not fit its share of the
 * plan (which depends on the window, not the threads) is split in four,
 * recursively: GDAL's warp memory default plays
 * no part, and its own chunking only splits a piece as it would split
 * gdalwarp's (see run_job). */
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal_alg.h>
#include <gdalwarper.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/pool.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "raster/raster.h"
#include "core/step.h"
#include "config/yaml_load.h"
#include "warp_kernel.h"

static const char *const resamplings[] = {"near",    "bilinear", "cubic", "cubicspline",
                                          "lanczos", "average",  "mode",  NULL};
static const GDALResampleAlg resample_algs[] = {GRA_NearestNeighbour, GRA_Bilinear, GRA_Cubic,
                                                GRA_CubicSpline,      GRA_Lanczos,  GRA_Average,
                                                GRA_Mode};
/* How far each kernel reaches, in source pixels at scale 1. */
static const double kernel_radius[] = {1, 1, 2, 2, 3, 1, 1};

struct warp_conf {
	const char *to;
	const char *from;
	int resampling;
	double resolution[2];
	double size[2];
	double extent[4];
	bool target_aligned;
	double nodata;
	bool alpha;
	double error_threshold;
	bool has_to, has_from, has_resampling, has_resolution, has_size, has_extent, has_nodata,
	    has_error_threshold;
};

#define COMMON_OPTS                                                                                \
	{"resampling", OPT_ENUM, offsetof(struct warp_conf, resampling), 0, "resampling kernel",   \
	 "near", resamplings, NULL, offsetof(struct warp_conf, has_resampling), 0, 0},             \
	    {"resolution", OPT_DOUBLE2, offsetof(struct warp_conf, resolution), OPT_POSITIVE,      \
	     "output pixel size, one number or [x, y], in the output CRS's units", NULL, NULL, NULL, \
	     offsetof(struct warp_conf, has_resolution), 0, 1e15},                                 \
	    {"size", OPT_DOUBLE2, offsetof(struct warp_conf, size), 0,                             \
	     "output [width, height] in pixels (instead of resolution)", NULL, NULL, NULL,         \
	     offsetof(struct warp_conf, has_size), 1, 1048576},                                    \
	    {"extent", OPT_BBOX, offsetof(struct warp_conf, extent), 0,                            \
	     "output [xmin, ymin, xmax, ymax] in the output CRS", "the whole input", NULL, NULL,   \
	     offsetof(struct warp_conf, has_extent), -1e15, 1e15},                                 \
	    {"target_aligned", OPT_BOOL, offsetof(struct warp_conf, target_aligned), 0,            \
	     "align the extent on multiples of the resolution (gdalwarp -tap)", "false", NULL,     \
	     NULL, 0, 0, 0},                                                                       \
	    {"nodata", OPT_DOUBLE, offsetof(struct warp_conf, nodata), 0,                          \
	     "output nodata of every band (also what uncovered pixels get)",                       \
	     "the input's nodata, else none (uncovered pixels are 0)", NULL, NULL,                 \
	     offsetof(struct warp_conf, has_nodata), -DBL_MAX, DBL_MAX},                           \
	    {"alpha", OPT_BOOL, offsetof(struct warp_conf, alpha), 0,                              \
	     "add an alpha band marking covered pixels (gdalwarp -dstalpha)", "false", NULL, NULL, \
	     0, 0, 0},                                                                             \
	    {"error_threshold", OPT_DOUBLE, offsetof(struct warp_conf, error_threshold), 0,        \
	     "approximation error allowed, in output pixels (0: transform every pixel exactly)",   \
	     "0.125", NULL, NULL, offsetof(struct warp_conf, has_error_threshold), 0, 1000},       \
	{                                                                                          \
		0                                                                                  \
	}

static const struct opt_desc reproject_opts[] = {
	{"to", OPT_STRING, offsetof(struct warp_conf, to), OPT_REQUIRED,
	 "target CRS (EPSG:3035, a WKT, a PROJ string)", NULL, NULL, NULL,
	 offsetof(struct warp_conf, has_to), 0, 0},
	{"from", OPT_STRING, offsetof(struct warp_conf, from), 0,
	 "source CRS, to override a missing or wrong one", "the raster's", NULL, NULL,
	 offsetof(struct warp_conf, has_from), 0, 0},
	COMMON_OPTS,
};

static const struct opt_desc resample_opts[] = {COMMON_OPTS};

/* One piece of an output window, ready to warp: its source pulled and
 * wrapped, its transformer and warp operation made, all on the engine's
 * thread and owned by the block arena.  A worker thread only runs the warp
 * (GDALChunkAndWarpImage) and touches nothing else. */
struct warp_job {
	struct pool_job pj;        /* given to the pool as soon as it is ready */
	GDALWarpOperationH op;
	int dw, dh;                /* the piece; GDAL finds its source in the MEM dataset */
	struct rwin w;
	struct piece_xf *xf;       /* its transformer, given its worker's grid one */
	void *const *grid_xf;      /* the whole-grid transformers, by worker id */
	struct warp_kernel *own;   /* our kernel for it (warp_kernel.c), NULL: GDAL's */
	int own_result;            /* its answer: 0 warped, 1 declined (then GDAL's) */
	CPLErr err;
	char msg[256];
};

/* Pieces held at once: a window with more (splits) runs them in turns. */
#define MAX_JOBS 64

/* Rows of a strip: a window is cut in strips of this height, the last one
 * taking the rest (up to twice as many rows), whatever the thread count. */
#define STRIP_ROWS 128

struct job_list {
	struct warp_job job[MAX_JOBS];
	int n;                    /* made (the engine's thread's count) */
	atomic_int ready;         /* made, as the claims see it */
	atomic_int claimed;       /* claims taken: job k goes to the claim that gets k */
	struct arena_mark mark;   /* where their memory starts */
};

struct warp_state {
	struct warp_conf *c;
	const char *src_wkt, *dst_wkt;
	struct rview *out;         /* the produced view (stream arena) */
	struct rview *in;          /* the received view, with `from` applied */
	void *full;                /* transformer: output pixel -> input pixel, whole grids */
	struct handle *full_h;
	GDALDatasetH full_src, full_dst;
	int nwarp;                 /* bands warped (alpha excluded) */
	int *src_bands, *dst_bands;
	int src_alpha, dst_alpha;  /* 1-based, 0: none */
	double *src_nodata, *dst_nodata; /* per warped band, NULL: none */
	uint64_t budget;           /* bytes of source one piece of the window may pull */
	int threads;
	char **xopts;              /* transformer options (AREA_OF_INTEREST) */
	struct job_list *jobs;
	void **grid_xf;            /* whole-grid transformers, by thread id (0: the engine's) */
	char scale[2][32];         /* the kernel's XSCALE, YSCALE; "": GDAL's own */
	uint64_t windows, splits, empty;
	uint64_t own;              /* of the windows, warped by our kernel */
};

/* Strips of a window `h` rows high (see STRIP_ROWS). */
static int strips_of(int h)
{
	return h / STRIP_ROWS > 1 ? h / STRIP_ROWS : 1;
}

/* Source bytes one piece of a window of `strips` strips may pull: all the
 * pieces of a window are pulled before they are warped, and a source is
 * there twice while it is warped (ours, and the warper's copy of it); a
 * quarter of the windows' share, split between the strips.  Neither this
 * nor the strips depend on the thread count: a piece split in four for
 * want of memory warps other pixels than the whole piece. */
static uint64_t warp_budget(const struct engine *e, int strips)
{
	uint64_t b = e->plan.window_bytes / 4 / (uint64_t)strips;

	return b < 256 * 1024 ? 256 * 1024 : b;
}

static int warp_check(struct step *s, struct pipeline *pl)
{
	struct warp_conf *c = s->conf;
	bool resample = strcmp(s->desc->name, "resample") == 0;

	if (c->has_resolution && c->has_size)
		return ydoc_fail(pl->doc, ynode_get(s->node, "size"),
		                 "give 'resolution' or 'size' in step '%s', not both", s->desc->name);
	if (resample && !c->has_resolution && !c->has_size)
		return ydoc_fail(pl->doc, s->node, "step 'resample' needs 'resolution' or 'size'");
	if (c->has_size)
		for (int i = 0; i < 2; i++)
			if (c->size[i] != floor(c->size[i]))
				return ydoc_fail(pl->doc, ynode_get(s->node, "size"),
				                 "'size' must be whole numbers of pixels");
	if (c->target_aligned && !c->has_resolution)
		return ydoc_fail(pl->doc, ynode_get(s->node, "target_aligned"),
		                 "'target_aligned' needs 'resolution'");
	if (c->has_extent && (c->extent[0] == c->extent[2] || c->extent[1] == c->extent[3]))
		return ydoc_fail(pl->doc, ynode_get(s->node, "extent"), "'extent' is empty");
	if (!c->has_error_threshold)
		c->error_threshold = 0.125;
	if (!c->has_resampling)
		c->resampling = 0;
	return 0;
}

static int warp_open(struct stage *s, struct engine *e)
{
	struct warp_state *st = s->state;

	st->c = s->step->conf;
	st->threads = engine_threads(e);
	st->jobs = arena_calloc(s->arena, 1, sizeof *st->jobs);
	return st->jobs ? 0 : -1;
}

static char *wkt_of(struct stage *s, struct arena *a, const char *user, const char *what)
{
	OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
	struct handle *h;
	char *wkt = NULL, *r;
	bool known;

	if (srs == NULL) {
		gp_fail(GP_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	if ((h = handle_own(a, &s->acct, HANDLE_OGR_SRS, srs, NULL)) == NULL)
		return NULL;
	known = OSRSetFromUserInput(srs, user) == OGRERR_NONE;
	if (known)
		OSRExportToWkt(srs, &wkt);
	handle_release(h);
	if (!known) {
		gp_fail(GP_EX_CONFIG, "%s: unknown CRS '%s'", what, user);
		return NULL;
	}
	if (wkt == NULL) {
		gp_fail(GP_EX_SOFTWARE, "%s: cannot export the CRS '%s'", what, user);
		return NULL;
	}
	r = arena_strdup(a, wkt); /* NULL: out of memory, error set */
	CPLFree(wkt);
	return r;
}

/* A band-less MEM dataset standing for a whole grid: the transformer and
 * GDALSuggestedWarpOutput2 need a dataset, never its pixels. */
static GDALDatasetH grid_dataset(struct stage *s, struct arena *a, int w, int h, const double *gt,
                                 const char *wkt)
{
	GDALDriverH mem = GDALGetDriverByName("MEM");
	GDALDatasetH ds = mem ? GDALCreate(mem, "", w, h, 0, GDT_Byte, NULL) : NULL;

	if (ds == NULL) {
		gp_fail(GP_EX_SOFTWARE, "cannot create a MEM dataset: %s", CPLGetLastErrorMsg());
		return NULL;
	}
	if (handle_own(a, &s->acct, HANDLE_GDAL_DATASET, ds, NULL) == NULL)
		return NULL;
	GDALSetGeoTransform(ds, (double *)gt);
	GDALSetProjection(ds, wkt);
	return ds;
}

static void *make_transformer(struct stage *s, struct arena *a, GDALDatasetH src, GDALDatasetH dst,
                              struct handle **h)
{
	struct warp_state *st = s->state;
	void *t;

	CPLErrorReset();
	t = GDALCreateGenImgProjTransformer2(src, dst, st->xopts);
	if (t == NULL) {
		gp_fail(GP_EX_DATAERR, "step '%s': no transformation from the raster's CRS to the "
		                       "target: %s",
		        s->step->label, CPLGetLastErrorMsg());
		return NULL;
	}
	*h = handle_own(a, &s->acct, HANDLE_GDAL_TRANSFORMER, t, NULL);
	return *h ? t : NULL;
}

static void free_csl(void *l)
{
	CSLDestroy(l);
}

/* The input's area of interest in degrees, given to every window's
 * transformer: GDAL would compute the same from the whole input for each
 * of them, and picks the coordinate operation for it.  It is gdalwarp's:
 * the input's four corners in its geographic CRS, west of east unless the
 * top edge crosses the antimeridian, none when out of range.  A larger
 * area (say, the whole outline) could pick another operation than
 * gdalwarp does. */
static int area_of_interest(struct stage *s, struct warp_state *st, struct arena *a)
{
	const struct rview *in = st->in;
	struct arena_mark m = arena_mark(a);
	OGRSpatialReferenceH src, geo;
	OGRCoordinateTransformationH ct;
	double w = HUGE_VAL, so = HUGE_VAL, e = -HUGE_VAL, n = -HUGE_VAL;

	st->xopts = NULL;
	if (*st->src_wkt == '\0' || *st->dst_wkt == '\0')
		return 0;
	/* The two CRSs and the transformation are owned by `a` only until
	 * the rewind to `m` below. */
	src = OSRNewSpatialReference(st->src_wkt);
	if (src == NULL)
		return 0;
	if (handle_own(a, &s->acct, HANDLE_OGR_SRS, src, NULL) == NULL)
		return -1;
	if (OSRIsCompound(src))
		OSRStripVertical(src);
	geo = OSRCloneGeogCS(src);
	if (geo && handle_own(a, &s->acct, HANDLE_OGR_SRS, geo, NULL) == NULL)
		return -1;
	OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
	if (geo) {
		OSRSetAxisMappingStrategy(geo, OAMS_TRADITIONAL_GIS_ORDER);
		OSRSetAngularUnits(geo, SRS_UA_DEGREE, CPLAtof(SRS_UA_DEGREE_CONV));
	}
	CPLPushErrorHandler(CPLQuietErrorHandler);
	ct = geo ? OCTNewCoordinateTransformation(src, geo) : NULL;
	CPLPopErrorHandler();
	if (ct && handle_own(a, &s->acct, HANDLE_OGR_TRANSFORM, ct, NULL) == NULL)
		return -1;
	if (ct) {
		/* Top left, top right, bottom left, bottom right; only the
		 * geotransform's diagonal counts, as in GDAL. */
		double x[4], y[4];
		int ok[4] = {0};

		for (int k = 0; k < 4; k++) {
			x[k] = in->gt[0] + (k % 2 ? in->width * in->gt[1] : 0);
			y[k] = in->gt[3] + (k / 2 ? in->height * in->gt[5] : 0);
		}
		CPLPushErrorHandler(CPLQuietErrorHandler);
		OCTTransformEx(ct, 4, x, y, NULL, ok);
		CPLPopErrorHandler();
		for (int k = 0; k < 4; k++)
			if (ok[k]) {
				w = fmin(w, x[k]);
				e = fmax(e, x[k]);
				so = fmin(so, y[k]);
				n = fmax(n, y[k]);
			}
		if (ok[0] && ok[1] && x[0] > x[1]) {
			w = x[0];
			e = x[1];
		}
	}
	arena_rewind(a, m);
	if (so <= n && fabs(w) <= 180 && fabs(e) <= 180 && so >= -90 && n <= 90) {
		char v[128];

		snprintf(v, sizeof v, "%.10g,%.10g,%.10g,%.10g", w, so, e, n);
		st->xopts = CSLSetNameValue(NULL, "AREA_OF_INTEREST", v);
		if (st->xopts == NULL)
			return gp_fail(GP_EX_SOFTWARE, "step '%s': cannot set the area of interest",
			               s->step->label);
		if (arena_defer(a, free_csl, st->xopts) != 0) {
			st->xopts = NULL; /* freed by the failed defer */
			return -1;
		}
	}
	return 0;
}

/* Whether the suggested extent `ext` of a w x h grid survives a round trip
 * through transformer `t` (output CRS -> input pixels -> output CRS) on a
 * 21 x 21 lattice, each point within a pixel of where it started.  This is
 * gdalwarp's test of an extent reaching out of a projection's domain. */
static bool round_trips(void *t, const double *ext, int w, int h)
{
	enum { N = 20 };

	for (int i = 0; i <= N; i++)
		for (int j = 0; j <= N; j++) {
			double fx = (double)i / N, fy = (double)j / N;
			double ex = (1 - fx) * ext[0] + fx * ext[2], ey = (1 - fy) * ext[1] + fy * ext[3];
			double x = ex, y = ey, z = 0;
			int ok = 0;

			if (!GDALGenImgProjTransform(t, TRUE, 1, &x, &y, &z, &ok) || !ok)
				return false;
			if (!GDALGenImgProjTransform(t, FALSE, 1, &x, &y, &z, &ok) || !ok)
				return false;
			if (fabs(x - ex) > (ext[2] - ext[0]) / w || fabs(y - ey) > (ext[3] - ext[1]) / h)
				return false;
		}
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Keeps the values of v[0..n) above a tenth of their median (outliers
 * where the transformation degenerates), in place, sorted; their number. */
static int above_tenth_of_median(double *v, int n)
{
	int k = 0;

	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	for (int i = 0; i < n; i++)
		if (v[i] > v[n / 2] / 10)
			v[k++] = v[i];
	return k;
}

/* The output resolution for a given extent and no resolution or size, as
 * gdalwarp finds it: the local scale of the transformation at 10 x 10
 * points over the extent that land on the input, each measured to a
 * neighbour a thousandth of the extent away along x and along y; outliers
 * below a tenth of the median dropped (along x, then y, then their mean),
 * the finest of the rest.  HUGE_VAL when no point lands on the input. */
static double resolution_in_extent(void *t, const double *ext, int in_w, int in_h)
{
	enum { N = 10, P = 3 * N * N };
	double x[P], y[P], z[P], rx[N * N], ry[N * N], rm[N * N];
	double eps = fmin(ext[2] - ext[0], ext[3] - ext[1]) / 1000;
	int ok[P], n = 0, m = 0;

	for (int j = 0; j < N; j++)
		for (int i = 0; i < N; i++) {
			int k = 3 * (j * N + i);
			double px = ext[0] + i * (ext[2] - ext[0]) / (N - 1);
			double py = ext[1] + j * (ext[3] - ext[1]) / (N - 1);

			x[k] = px;
			y[k] = py;
			x[k + 1] = i == N - 1 ? px - eps : px + eps;
			y[k + 1] = py;
			x[k + 2] = px;
			y[k + 2] = j == N - 1 ? py - eps : py + eps;
		}
	memset(z, 0, sizeof z);
	memset(ok, 0, sizeof ok);
	GDALGenImgProjTransform(t, TRUE, P, x, y, z, ok);
	for (int k = 0; k < P; k += 3) {
		double r1, r2;

		if (!ok[k] || !ok[k + 1] || !ok[k + 2] || x[k] < 0 || y[k] < 0 || x[k] > in_w ||
		    y[k] > in_h)
			continue;
		r1 = eps / hypot(x[k + 1] - x[k], y[k + 1] - y[k]);
		r2 = eps / hypot(x[k + 2] - x[k], y[k + 2] - y[k]);
		if (isfinite(r1) && isfinite(r2)) {
			rx[n] = r1;
			ry[n] = r2;
			n++;
		}
	}
	/* The pairs sorted and filtered on x, then on y, keeping them paired:
	 * each filter keeps the pairs whose value passes. */
	if (n == 0)
		return HUGE_VAL;
	{
		double sx[N * N], sy[N * N], tx, ty;
		int kept = 0;

		memcpy(sx, rx, sizeof(double) * (size_t)n);
		qsort(sx, (size_t)n, sizeof *sx, cmp_double);
		tx = sx[n / 2] / 10;
		for (int i = 0; i < n; i++)
			if (rx[i] > tx) {
				rx[kept] = rx[i];
				ry[kept] = ry[i];
				kept++;
			}
		if (kept == 0)
			return HUGE_VAL;
		memcpy(sy, ry, sizeof(double) * (size_t)kept);
		qsort(sy, (size_t)kept, sizeof *sy, cmp_double);
		ty = sy[kept / 2] / 10;
		for (int i = 0; i < kept; i++)
			if (ry[i] > ty)
				rm[m++] = (rx[i] + ry[i]) / 2;
	}
	return above_tenth_of_median(rm, m) > 0 ? rm[0] : HUGE_VAL;
}

/* GDALSuggestedWarpOutput2 over the transformer gdalwarp makes for it: the
 * input's dataset, no output dataset, the target CRS as DST_SRS.  Made so,
 * GDAL picks the coordinate operation for the input's area of interest and
 * wraps a geographic input's longitudes around their centre, as it does for
 * gdalwarp.  `ext` gets the extent; `gt`, `w`, `h` the grid gdalwarp makes
 * of it (not the one GDALSuggestedWarpOutput2 returns: gdalwarp rounds the
 * pixel counts itself; they may be out of int's range here).  With an
 * extent given, the resolution is the one measured over it (gdalwarp -te
 * alone).  The transformers live in `a` and are gone on return. */
static int suggest_grid(struct stage *s, struct warp_state *st, struct arena *a, double *gt,
                        double *w, double *h, double *ext)
{
	bool inverted = false;
	double res = HUGE_VAL;
	struct arena_mark m = arena_mark(a);
	int r = 0;

	for (;;) {
		char **to = CSLSetNameValue(NULL, "DST_SRS", st->dst_wkt);
		void *t;
		int sw, sh;
		CPLErr err;

		CPLErrorReset();
		t = GDALCreateGenImgProjTransformer2(st->full_src, NULL, to);
		CSLDestroy(to);
		if (t == NULL) {
			r = gp_fail(GP_EX_DATAERR, "step '%s': no transformation to the target CRS: %s",
			            s->step->label, CPLGetLastErrorMsg());
			break;
		}
		if (handle_own(a, &s->acct, HANDLE_GDAL_TRANSFORMER, t, NULL) == NULL) {
			r = -1;
			break;
		}
		if (st->c->has_extent && !inverted)
			res = resolution_in_extent(t, st->c->extent, st->in->width, st->in->height);
		err = GDALSuggestedWarpOutput2(st->full_src, GDALGenImgProjTransform, t, gt, &sw, &sh,
		                               ext, 0);
		if (err == CE_None && !inverted &&
		    CPLGetConfigOption("CHECK_WITH_INVERT_PROJ", NULL) == NULL &&
		    !round_trips(t, ext, sw, sh)) {
			/* gdalwarp's second try, with a transformer made while
			 * PROJ is told to check each point against the inverse
			 * projection and drop those that do not come back. */
			arena_rewind(a, m);
			inverted = true;
			CPLSetThreadLocalConfigOption("CHECK_WITH_INVERT_PROJ", "TRUE");
			continue;
		}
		if (err != CE_None)
			r = gp_fail(GP_EX_DATAERR, "step '%s': cannot find the raster's extent in the "
			                           "target CRS: %s",
			            s->step->label, CPLGetLastErrorMsg());
		break;
	}
	if (inverted)
		CPLSetThreadLocalConfigOption("CHECK_WITH_INVERT_PROJ", NULL);
	arena_rewind(a, m);
	if (r != 0)
		return r;
	if (isfinite(res)) {
		gt[1] = res;
		gt[5] = -res;
	}
	gt[0] = ext[0];
	gt[2] = gt[4] = 0;
	gt[3] = ext[3];
	gt[5] = -fabs(gt[5]);
	*w = floor((ext[2] - ext[0]) / gt[1] + 0.5);
	*h = floor((ext[3] - ext[1]) / -gt[5] + 0.5);
	return 0;
}

/* Pixels of `res` across `span`, rounded to the nearest as gdalwarp does. */
static double pixels_across(double span, double res)
{
	return floor((span + res / 2) / res);
}

/* The output grid, as gdalwarp chooses it for the same options over the
 * suggested one (`sgt`, `sw` x `sh`, extent `sext`):
 * - resolution (-tr): the suggested grid's extent, or the given one,
 *   widened to multiples of the resolution with target_aligned (-tap),
 *   and as many whole pixels as fit to the nearest;
 * - size (-ts): the suggested extent, or the given one, cut in that many
 *   pixels;
 * - extent (-te) alone: the suggested resolution rounded to whole pixels
 *   across it, then stretched to fill it exactly.
 * With extent and resolution or size no suggestion is needed: `sgt` is
 * then unused. */
static int grid_from_options(struct stage *s, const struct warp_conf *c, const double *sgt,
                             double sw, double sh, const double *sext, double *gt, int *w,
                             int *h)
{
	double ext[4], rx = 0, ry = 0, nx, ny;

	if (c->has_extent)
		memcpy(ext, c->extent, sizeof ext);
	else if (c->has_resolution) {
		ext[0] = sgt[0];
		ext[1] = sgt[3] + sgt[5] * sh;
		ext[2] = sgt[0] + sgt[1] * sw;
		ext[3] = sgt[3];
	} else
		memcpy(ext, sext, sizeof ext);
	if (c->has_resolution) {
		rx = c->resolution[0];
		ry = c->resolution[1];
		if (c->target_aligned) {
			ext[0] = floor(ext[0] / rx) * rx;
			ext[1] = floor(ext[1] / ry) * ry;
			ext[2] = ceil(ext[2] / rx) * rx;
			ext[3] = ceil(ext[3] / ry) * ry;
		}
		nx = pixels_across(ext[2] - ext[0], rx);
		ny = pixels_across(ext[3] - ext[1], ry);
	} else if (c->has_size) {
		nx = c->size[0];
		ny = c->size[1];
	} else if (c->has_extent) {
		nx = pixels_across(ext[2] - ext[0], sgt[1]);
		ny = pixels_across(ext[3] - ext[1], -sgt[5]);
	} else {
		memcpy(gt, sgt, 6 * sizeof *gt);
		nx = sw;
		ny = sh;
	}
	if (!(nx >= 1 && ny >= 1 && nx <= 10000000 && ny <= 10000000))
		return gp_fail(GP_EX_DATAERR, "step '%s': the output would be %.0f x %.0f pixels",
		               s->step->label, nx, ny);
	if (c->has_resolution || c->has_size || c->has_extent) {
		gt[0] = ext[0];
		gt[1] = c->has_resolution ? rx : (ext[2] - ext[0]) / nx;
		gt[2] = gt[4] = 0;
		gt[3] = ext[3];
		gt[5] = c->has_resolution ? -ry : -(ext[3] - ext[1]) / ny;
	}
	*w = (int)nx;
	*h = (int)ny;
	return 0;
}

/* The output grid, as gdalwarp would choose it for the same options. */
static int plan_grid(struct stage *s, struct warp_state *st, struct stream *stm)
{
	struct warp_conf *c = st->c;
	struct rview *out = st->out;
	double sgt[6] = {0}, sext[4] = {0}, gt[6], sw = 0, sh = 0;
	int w = 0, h = 0;

	/* gdalwarp asks for no suggestion when the options fix the grid. */
	if (!(c->has_extent && (c->has_resolution || c->has_size)) &&
	    suggest_grid(s, st, stm->arena, sgt, &sw, &sh, sext) != 0)
		return -1;
	if (grid_from_options(s, c, sgt, sw, sh, sext, gt, &w, &h) != 0)
		return -1;
	out->width = w;
	out->height = h;
	memcpy(out->gt, gt, sizeof gt);
	out->has_gt = true;
	return 0;
}

/* The bounds (minx, miny, maxx, maxy) of the n points transformed with
 * success; their number. */
static int bounds_of(const double *x, const double *y, const int *ok, int n, double *b)
{
	int good = 0;

	b[0] = b[1] = HUGE_VAL;
	b[2] = b[3] = -HUGE_VAL;
	for (int k = 0; k < n; k++) {
		if (!ok[k] || !isfinite(x[k]) || !isfinite(y[k]))
			continue;
		b[0] = fmin(b[0], x[k]);
		b[2] = fmax(b[2], x[k]);
		b[1] = fmin(b[1], y[k]);
		b[3] = fmax(b[3], y[k]);
		good++;
	}
	return good;
}

/* One axis of the kernel scale gdalwarp's warp uses when the whole
 * output is one chunk: `dst` output pixels over the `raw` source pixels
 * under them (those of [lo, hi), clipped to the `n` of the input).  GDAL
 * rounds it to 1 when the padded source window is as wide as the output
 * and snaps it to 1/k when that is within 0.05 of 1/s. */
static double axis_scale(int dst, double lo, double hi, int n, int radius)
{
	double raw = fmin(n - (int)fmax(0, lo), hi - lo), s, padded;

	if (!(raw > 0))
		return 0;
	s = dst / raw;
	padded = fmin(ceil(hi) + radius, n) - fmax(floor(lo) - radius, 0);
	if (dst >= raw && dst <= padded)
		s = 1;
	if (s < 1) {
		int k = (int)(1 / s + 0.5);

		if (fabs(1 / s - k) < 0.05)
			s = 1.0 / k;
	}
	return s;
}

/* The kernel scale of the whole grid, given to every piece (XSCALE,
 * YSCALE): left to GDAL, each piece would get its own from its own ratio
 * of output to source pixels, and the pixels would follow the cut.  The
 * whole output's source is bounded by its edges' (a transformation maps
 * edges to edges), 21 points an edge as GDAL samples them, or a 21 x 21
 * lattice when a point fails.  So made, a warp of the whole input that
 * gdalwarp does in one chunk gets gdalwarp's pixels. */
static void grid_scale(struct warp_state *st)
{
	enum { N = 21 };
	double x[N * N], y[N * N], z[N * N], b[4];
	int ok[N * N], n = 0, bad = 0, radius = (int)kernel_radius[st->c->resampling];
	const struct rview *out = st->out;

	for (int lattice = 0; lattice < 2 && (lattice == 0 || bad); lattice++) {
		n = 0;
		for (int j = 0; j < N; j++)
			for (int i = 0; i < N; i++) {
				if (!lattice && i > 0 && i < N - 1 && j > 0 && j < N - 1)
					continue;
				x[n] = (double)out->width * i / (N - 1);
				y[n] = (double)out->height * j / (N - 1);
				z[n] = 0;
				ok[n] = 0;
				n++;
			}
		GDALGenImgProjTransform(st->full, TRUE, n, x, y, z, ok);
		bad = n - bounds_of(x, y, ok, n, b);
	}
	st->scale[0][0] = st->scale[1][0] = '\0';
	if (bad == n)
		return;
	{
		/* The share of the source footprint that is on the input: under
		 * a half, GDAL splits the chunk (SRC_FILL_RATIO_HEURISTICS) and
		 * scales each part to its own source, which no scale for the
		 * whole grid reproduces. */
		double fx = fmin(ceil(b[2]), st->in->width) - (int)fmax(0, b[0]);
		double fy = fmin(ceil(b[3]), st->in->height) - (int)fmax(0, b[1]);
		double fill = fx * fy / fmax(1, (b[2] - b[0]) * (b[3] - b[1]));

		if (fill < 0.5 && (out->width > 100 || out->height > 100))
			return;
	}
	{
		double sx = axis_scale(out->width, b[0], b[2], st->in->width, radius);
		double sy = axis_scale(out->height, b[1], b[3], st->in->height, radius);

		if (sx > 0 && sy > 0) {
			snprintf(st->scale[0], sizeof st->scale[0], "%.17g", sx);
			snprintf(st->scale[1], sizeof st->scale[1], "%.17g", sy);
		}
	}
}

static int warp_begin(struct stage *s, struct stream *stm)
{
	struct warp_state *st = s->state;
	struct warp_conf *c = st->c;
	struct arena *a = stm->arena;
	bool resample = strcmp(s->step->desc->name, "resample") == 0;
	struct rview *in, *out = stm->raster;
	int n = 0;

	in = raster_view_dup(a, stm->raster);
	if (in == NULL)
		return -1;
	if (c->has_from && (in->crs = wkt_of(s, a, c->from, "step 'reproject', 'from'")) == NULL)
		return -1;
	if (!in->has_gt)
		return gp_fail(GP_EX_DATAERR, "step '%s': '%s' is not georeferenced",
		               s->step->label, stm->path);
	if (in->crs == NULL && !resample)
		return gp_fail(GP_EX_DATAERR, "step 'reproject': '%s' has no CRS (give 'from')",
		               stm->path);
	st->in = in;
	st->src_wkt = in->crs ? in->crs : "";
	st->dst_wkt = resample ? st->src_wkt : wkt_of(s, a, c->to, "step 'reproject', 'to'");
	if (st->dst_wkt == NULL)
		return -1;
	st->out = out;
	out->crs = *st->dst_wkt ? st->dst_wkt : NULL;
	if (area_of_interest(s, st, a) != 0)
		return -1;
	st->full_src = grid_dataset(s, a, in->width, in->height, in->gt, st->src_wkt);
	if (st->full_src == NULL || plan_grid(s, st, stm) != 0)
		return -1;
	st->full_dst = grid_dataset(s, a, out->width, out->height, out->gt, st->dst_wkt);
	if (st->full_dst == NULL)
		return -1;
	/* Input to output like the warp's own, so that GDAL wraps a geographic
	 * input's longitudes around its centre for it too: made the other way,
	 * a point across the antimeridian would land off the input. */
	st->full = make_transformer(s, a, st->full_src, st->full_dst, &st->full_h);
	if (st->full == NULL)
		return -1;
	grid_scale(st);
	/* One whole-grid transformer a thread that warps (PROJ objects are not
	 * shared between threads), output pixels to input pixels: the main
	 * thread's (0), which warps in a run of one and takes what is left
	 * of a window once it has read it all (finish_jobs), and one a pool
	 * worker (1..threads). */
	st->grid_xf = arena_calloc(a, (size_t)st->threads + 1, sizeof *st->grid_xf);
	if (st->grid_xf == NULL)
		return -1;
	for (int k = 0; k <= (st->threads > 1 ? st->threads : 0); k++) {
		struct handle *h;

		st->grid_xf[k] = make_transformer(s, a, st->full_src, st->full_dst, &h);
		if (st->grid_xf[k] == NULL)
			return -1;
	}
	/* Bands: every band but the alpha is warped; an alpha band in the
	 * input stays where it is and is computed by the warper; `alpha` adds
	 * one at the end. */
	st->src_bands = arena_calloc(a, (size_t)in->nbands + 1, sizeof(int));
	st->dst_bands = arena_calloc(a, (size_t)in->nbands + 1, sizeof(int));
	st->src_nodata = arena_calloc(a, (size_t)in->nbands + 1, sizeof(double));
	st->dst_nodata = arena_calloc(a, (size_t)in->nbands + 1, sizeof(double));
	if (!st->src_bands || !st->dst_bands || !st->src_nodata || !st->dst_nodata)
		return -1;
	{
		bool any_src = false, any_dst = c->has_nodata;

		for (int b = 0; b < in->nbands; b++) {
			if (b == in->alpha)
				continue;
			st->src_bands[n] = b + 1;
			st->dst_bands[n] = b + 1;
			st->src_nodata[n] = in->band[b].has_nodata ? in->band[b].nodata : NAN;
			any_src |= in->band[b].has_nodata;
			any_dst |= in->band[b].has_nodata;
			n++;
		}
		if (!any_src)
			st->src_nodata = NULL;
		for (int k = 0; k < n && any_dst; k++) {
			int b = st->dst_bands[k] - 1;

			st->dst_nodata[k] = c->has_nodata ? c->nodata
			                    : in->band[b].has_nodata ? in->band[b].nodata
			                                             : 0;
		}
		if (!any_dst)
			st->dst_nodata = NULL;
		if (c->has_nodata && !raster_value_fits(c->nodata, in->type))
			return gp_fail(GP_EX_CONFIG, "step '%s': nodata %g is not a %s value",
			               s->step->label, c->nodata, GDALGetDataTypeName(in->type));
	}
	st->nwarp = n;
	st->src_alpha = in->alpha >= 0 ? in->alpha + 1 : 0;
	st->dst_alpha = st->src_alpha;
	if (c->alpha && st->dst_alpha == 0) {
		struct rband *nb = arena_calloc(a, (size_t)in->nbands + 1, sizeof *nb);

		if (nb == NULL)
			return -1;
		memcpy(nb, in->band, sizeof *nb * (size_t)in->nbands);
		nb[in->nbands].interp = GCI_AlphaBand;
		out->band = nb;
		out->nbands = in->nbands + 1;
		out->alpha = in->nbands;
		st->dst_alpha = out->nbands;
	}
	for (int k = 0; k < n; k++) {
		int b = st->dst_bands[k] - 1;

		out->band[b].has_nodata = st->dst_nodata != NULL && !isnan(st->dst_nodata[k]);
		out->band[b].nodata = st->dst_nodata ? st->dst_nodata[k] : 0;
	}
	out->block_w = out->block_h = 256;
	return 0;
}

/* The source window under output window `w`, widened for the kernel;
 * false when no point of it lands on the source. */
static bool source_window(struct warp_state *st, const struct rwin *w, struct rwin *src)
{
	enum { N = 17 };
	double x[N * N], y[N * N], z[N * N], b[4];
	int ok[N * N], n = 0;
	double minx, miny, maxx, maxy, rx, ry, pad;

	/* A grid over the window, its edges included: the edges bound the
	 * area of a continuous transformation, the inside catches the cases
	 * where an edge falls off the source's domain. */
	for (int j = 0; j < N; j++)
		for (int i = 0; i < N; i++) {
			x[n] = w->x + (double)w->w * i / (N - 1);
			y[n] = w->y + (double)w->h * j / (N - 1);
			z[n] = 0;
			n++;
		}
	GDALGenImgProjTransform(st->full, TRUE, n, x, y, z, ok);
	if (bounds_of(x, y, ok, n, b) == 0)
		return false;
	minx = b[0];
	miny = b[1];
	maxx = b[2];
	maxy = b[3];
	/* Source pixels per output pixel, for kernels that scale with it. */
	rx = (maxx - minx) / w->w;
	ry = (maxy - miny) / w->h;
	pad = kernel_radius[st->c->resampling] * fmax(1.0, fmax(rx, ry)) + 1;
	minx = floor(minx - pad);
	miny = floor(miny - pad);
	maxx = ceil(maxx + pad);
	maxy = ceil(maxy + pad);
	if (minx < 0)
		minx = 0;
	if (miny < 0)
		miny = 0;
	if (maxx > st->in->width)
		maxx = st->in->width;
	if (maxy > st->in->height)
		maxy = st->in->height;
	if (minx >= maxx || miny >= maxy)
		return false;
	src->x = (int)minx;
	src->y = (int)miny;
	src->w = (int)(maxx - minx);
	src->h = (int)(maxy - miny);
	return true;
}

static void fill_uncovered(struct warp_state *st, const struct rwin *w, void *buf, size_t line,
                           size_t band_bytes)
{
	const struct rview *out = st->out;
	size_t ts = raster_tsize(out->type);

	for (int b = 0; b < out->nbands; b++) {
		double v = out->band[b].has_nodata ? out->band[b].nodata : 0;
		char *base = (char *)buf + (size_t)b * band_bytes;

		for (int j = 0; j < w->h; j++) {
			char *p = base + (size_t)j * line * ts;

			if (v == 0) {
				memset(p, 0, (size_t)w->w * ts);
				continue;
			}
			GDALCopyWords64(&v, GDT_Float64, 0, p, out->type, (int)ts, w->w);
		}
	}
}

/* A piece's transformer: its pixels are offsets into the whole grids, so
 * it shifts them and calls one of the stream's whole-grid transformers.
 * Making a GDAL transformer for every piece would cost a coordinate
 * operation lookup each time; this costs two additions a point.  Such a
 * transformer cannot be cloned, which is why the kernel runs on one
 * thread and the pieces run in parallel. */
struct piece_xf {
	void *grid;                /* GenImgProj: whole output <-> whole input */
	double dx, dy;             /* the piece's offset in the output grid */
	double sx, sy;             /* its source window's offset in the input */
};

static int piece_transform(void *arg, int dst_to_src, int n, double *x, double *y, double *z,
                           int *ok)
{
	struct piece_xf *p = arg;
	double ix = dst_to_src ? p->dx : p->sx, iy = dst_to_src ? p->dy : p->sy;
	double ox = dst_to_src ? p->sx : p->dx, oy = dst_to_src ? p->sy : p->dy;
	int r;

	for (int i = 0; i < n; i++) {
		x[i] += ix;
		y[i] += iy;
	}
	r = GDALGenImgProjTransform(p->grid, dst_to_src, n, x, y, z, ok);
	for (int i = 0; i < n; i++) {
		x[i] -= ox;
		y[i] -= oy;
	}
	return r;
}

static int CPL_STDCALL warp_progress(double done, const char *msg, void *arg)
{
	(void)done;
	(void)msg;
	return !engine_stopping(arg);
}

static void run_job(struct warp_job *j, int worker)
{
	/* The piece's offsets are its own; the grid transformer is the
	 * worker's, whichever piece it takes. */
	j->xf->grid = j->grid_xf[worker];
	CPLErrorReset();
	if (j->own) {
		j->own_result = warp_kernel_bilinear(j->own);
		if (j->own_result == 0)
			return;
		if (j->own_result < 0) {
			j->err = CE_Failure;
			snprintf(j->msg, sizeof j->msg, "interrupted");
			return;
		}
	}
	/* Chunked as gdalwarp chunks its output: the memory limit is above
	 * the piece's need, so GDAL only splits a piece whose source is
	 * mostly unused (an output across the antimeridian or holding a
	 * pole), and its kernels then scale to each part's own source, as
	 * gdalwarp's do.  Warped whole, such a piece gets other pixels. */
	j->err = GDALChunkAndWarpImage(j->op, 0, 0, j->dw, j->dh);
	if (j->err != CE_None)
		snprintf(j->msg, sizeof j->msg, "%s", CPLGetLastErrorMsg());
}

/* A claim: warp the next job nobody took, if any.  There are as many
 * claims given to the pool as jobs made, each given once its job is
 * ready, and the engine's thread claims only once every job is ready: so
 * a claim that gets job k finds it ready.  Which thread warps a job
 * changes nothing in its pixels. */
static bool claim_job(struct job_list *jl, int worker)
{
	int k = atomic_fetch_add(&jl->claimed, 1);

	if (k >= atomic_load(&jl->ready))
		return false;
	run_job(&jl->job[k], worker);
	return true;
}

static void run_claim(void *arg, int worker)
{
	claim_job(arg, worker);
}

/* Give a claim for the job just made to the run's pool (engine_pool), or
 * warp it here in a run of one.  The engine's thread goes on pulling the
 * next piece's source while the workers warp this one. */
static int start_job(struct stage *s, struct job_list *jl, struct warp_job *j)
{
	struct pool *pool;

	if (engine_pool(s->eng, &pool) != 0)
		return -1;
	j->pj = (struct pool_job){.fn = run_claim, .arg = jl};
	atomic_store(&jl->ready, jl->n);
	if (pool)
		pool_submit(pool, &j->pj);
	else
		claim_job(jl, 0);
	return 0;
}

/* Warp here the jobs no worker has taken yet (all of them are ready),
 * then wait for every claim given to the pool, then free what the jobs
 * used, here: the workers only read the block arena.  `r` is the caller's
 * status so far: whatever it is, no job may still run when the arena is
 * rewound. */
static int finish_jobs(struct stage *s, struct warp_state *st, struct job_list *jl, int r)
{
	struct pool *pool = s->eng->pool;

	while (r == 0 && !engine_stopping(s->eng) && claim_job(jl, 0))
		;
	while (pool && pool_take(pool, true) != NULL)
		;
	if (r == 0 && engine_stopping(s->eng))
		r = engine_stop(s->eng);
	for (int k = 0; k < jl->n && r == 0; k++) {
		struct warp_job *j = &jl->job[k];

		if (j->err != CE_None)
			r = gp_fail(GP_EX_DATAERR, "step '%s': warping output pixels %d,%d %dx%d failed: %s",
			            s->step->label, j->w.x, j->w.y, j->w.w, j->w.h, j->msg);
		else {
			st->windows++;
			st->own += j->own && j->own_result == 0;
		}
	}
	jl->n = 0;
	atomic_store(&jl->ready, 0);
	atomic_store(&jl->claimed, 0);
	arena_rewind(raster_blocks(s), jl->mark);
	jl->mark = arena_mark(raster_blocks(s));
	return r;
}

/* Our kernel for a piece, when it gives GDAL's pixels (warp_kernel.c):
 * bilinear with the 4-sample formula (both kernel scales >= 0.95, as GDAL
 * decides), no nodata, no alpha, one integer type in and out, and a piece
 * big enough that GDAL warps it in one chunk.  --config
 * GISPIPE_WARP_KERNEL GDAL forces GDAL's kernel (the tests compare the
 * two).  *out stays NULL when GDAL's kernel is the one. */
static bool own_stopping(void *eng)
{
	return engine_stopping(eng) != 0;
}

static int own_kernel(struct stage *s, struct warp_state *st, const struct rwin *src,
                      const struct rwin *w, void *sbuf, void *buf, size_t line,
                      size_t band_bytes, GDALTransformerFunc fn, void *arg,
                      struct warp_kernel **out)
{
	struct arena *a = raster_blocks(s);
	const struct rview *in = st->in;
	struct warp_kernel *k;
	size_t n = (size_t)w->w;

	*out = NULL;
	if (EQUAL(CPLGetConfigOption("GISPIPE_WARP_KERNEL", "OWN"), "GDAL") ||
	    resample_algs[st->c->resampling] != GRA_Bilinear || !st->scale[0][0] ||
	    strtod(st->scale[0], NULL) < 0.95 || strtod(st->scale[1], NULL) < 0.95 ||
	    st->src_nodata || st->dst_nodata ||
	    st->src_alpha || st->dst_alpha || in->type != st->out->type ||
	    !warp_kernel_type_ok(in->type) || src->w < 16 || src->h < 16 ||
	    (size_t)w->w * (size_t)w->h < 4096)
		return 0;
	k = arena_alloc(a, sizeof *k, 0);
	if (k == NULL)
		return -1;
	*k = (struct warp_kernel){
	    .fn = fn, .arg = arg, .type = in->type, .nbands = st->nwarp,
	    .src_bands = st->src_bands, .dst_bands = st->dst_bands, .src = sbuf,
	    .sw = src->w, .sh = src->h,
	    .sband = (size_t)src->w * src->h * raster_tsize(in->type),
	    .edge = {src->x == 0, src->y == 0, src->x + src->w == in->width,
	             src->y + src->h == in->height},
	    .raster = {-src->x, -src->y, in->width - src->x, in->height - src->y},
	    .dst = buf, .dw = w->w, .dh = w->h, .line = line, .dband = band_bytes,
	    .x = arena_alloc(a, n * sizeof(double), 0), .y = arena_alloc(a, n * sizeof(double), 0),
	    .z = arena_alloc(a, n * sizeof(double), 0), .ok = arena_alloc(a, n * sizeof(int), 0),
	    .off = arena_alloc(a, n * sizeof(size_t), 0), .stopping = own_stopping,
	    .stop_arg = s->eng};
	if (!k->x || !k->y || !k->z || !k->ok || !k->off)
		return -1;
	*out = k;
	return 0;
}

static int add_job(struct stage *s, struct warp_state *st, struct job_list *jl,
                   const struct rwin *w, void *buf, size_t line, size_t band_bytes)
{
	struct arena *a = raster_blocks(s);
	const struct rview *in = st->in;
	struct rwin src;
	size_t ts = raster_tsize(in->type), need;
	void *sbuf, *gen, *approx = NULL;
	GDALDatasetH sds, dds;
	GDALWarpOptions *wo;
	GDALWarpOperationH op;
	struct warp_job *j;
	struct warp_kernel *own;

	if (!source_window(st, w, &src)) {
		fill_uncovered(st, w, buf, line, band_bytes);
		st->empty++;
		return 0;
	}
	need = (size_t)src.w * src.h * (size_t)in->nbands * ts;
	if (need > st->budget && (w->w > 1 || w->h > 1)) {
		/* Too much source under this piece: its quarters. */
		int hw = w->w > 1 ? w->w / 2 : w->w, hh = w->h > 1 ? w->h / 2 : w->h;
		struct rwin q[4] = {{w->x, w->y, hw, hh},
		                    {w->x + hw, w->y, w->w - hw, hh},
		                    {w->x, w->y + hh, hw, w->h - hh},
		                    {w->x + hw, w->y + hh, w->w - hw, w->h - hh}};
		size_t ots = raster_tsize(st->out->type);

		st->splits++;
		for (int k = 0; k < 4; k++) {
			char *qb = (char *)buf + ((size_t)(q[k].y - w->y) * line + (size_t)(q[k].x - w->x)) * ots;

			if (q[k].w > 0 && q[k].h > 0 &&
			    add_job(s, st, jl, &q[k], qb, line, band_bytes) != 0)
				return -1;
		}
		return 0;
	}
	if (need > st->budget * 4)
		return gp_fail(GP_EX_TEMPFAIL,
		               "step '%s': one output pixel needs %.1f MiB of source (a %d x %d area); "
		               "retry with a larger --memory-limit",
		               s->step->label, (double)need / 1048576.0, src.w, src.h);
	sbuf = arena_alloc(a, need, 0);
	if (sbuf == NULL)
		return -1;
	if (raster_pull_upstream(s, &src, sbuf) != 0)
		return -1;
	{
		/* The MEM datasets only carry pixels: where they are is the
		 * piece transformer's business. */
		struct rview vin = *in, vout = *st->out;
		struct piece_xf *px = arena_alloc(a, sizeof *px, 0);

		vin.crs = vout.crs = NULL;
		vin.has_gt = vout.has_gt = false;
		sds = raster_mem_dataset(s, a, &vin, &src, sbuf, (size_t)src.w,
		                         (size_t)src.w * src.h * ts);
		dds = raster_mem_dataset(s, a, &vout, w, buf, line, band_bytes);
		if (sds == NULL || dds == NULL || px == NULL)
			return -1;
		*px = (struct piece_xf){.grid = NULL, .dx = w->x, .dy = w->y, .sx = src.x,
		                        .sy = src.y};
		gen = px;
	}
	if (st->c->error_threshold > 0) {
		approx = GDALCreateApproxTransformer(piece_transform, gen, st->c->error_threshold);
		if (approx == NULL)
			return gp_fail(GP_EX_SOFTWARE, "step '%s': cannot make the approximate "
			                               "transformer",
			               s->step->label);
		if (handle_own(a, &s->acct, HANDLE_GDAL_TRANSFORMER, approx, NULL) == NULL)
			return -1;
	}
	wo = GDALCreateWarpOptions();
	wo->hSrcDS = sds;
	wo->hDstDS = dds;
	wo->eResampleAlg = resample_algs[st->c->resampling];
	wo->nBandCount = st->nwarp;
	wo->panSrcBands = CPLMalloc(sizeof(int) * (size_t)(st->nwarp > 0 ? st->nwarp : 1));
	wo->panDstBands = CPLMalloc(sizeof(int) * (size_t)(st->nwarp > 0 ? st->nwarp : 1));
	memcpy(wo->panSrcBands, st->src_bands, sizeof(int) * (size_t)st->nwarp);
	memcpy(wo->panDstBands, st->dst_bands, sizeof(int) * (size_t)st->nwarp);
	if (st->src_nodata) {
		wo->padfSrcNoDataReal = CPLMalloc(sizeof(double) * (size_t)st->nwarp);
		memcpy(wo->padfSrcNoDataReal, st->src_nodata, sizeof(double) * (size_t)st->nwarp);
	}
	if (st->dst_nodata) {
		wo->padfDstNoDataReal = CPLMalloc(sizeof(double) * (size_t)st->nwarp);
		memcpy(wo->padfDstNoDataReal, st->dst_nodata, sizeof(double) * (size_t)st->nwarp);
	}
	wo->nSrcAlphaBand = st->src_alpha;
	wo->nDstAlphaBand = st->dst_alpha;
	wo->pfnTransformer = approx ? GDALApproxTransform : piece_transform;
	wo->pTransformerArg = approx ? approx : gen;
	wo->dfWarpMemoryLimit = (double)need * 4 + 64.0 * 1024 * 1024;
	/* Called by the kernel as rows are done, on the job's thread: a stop
	 * (signal or memory limit) ends the warp within the piece. */
	wo->pfnProgress = warp_progress;
	wo->pProgressArg = s->eng;
	wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "INIT_DEST",
	                                       st->dst_nodata ? "NO_DATA" : "0");
	/* One kernel thread: the parallelism is ours, one job a thread, so the
	 * kernel never clones the transformer (a database search each time). */
	wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "NUM_THREADS", "1");
	if (st->scale[0][0]) {
		wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "XSCALE", st->scale[0]);
		wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "YSCALE", st->scale[1]);
	}
	CPLErrorReset();
	op = GDALCreateWarpOperation(wo);
	GDALDestroyWarpOptions(wo);
	if (op == NULL)
		return gp_fail(GP_EX_SOFTWARE, "step '%s': cannot set up the warp: %s",
		               s->step->label, CPLGetLastErrorMsg());
	if (handle_own(a, &s->acct, HANDLE_GDAL_WARP, op, NULL) == NULL)
		return -1;
	if (own_kernel(s, st, &src, w, sbuf, buf, line, band_bytes,
	               approx ? GDALApproxTransform : piece_transform, approx ? approx : gen,
	               &own) != 0)
		return -1;
	j = &jl->job[jl->n++];
	*j = (struct warp_job){.op = op, .dw = w->w, .dh = w->h, .w = *w, .xf = gen,
	                       .grid_xf = st->grid_xf, .own = own};
	if (start_job(s, jl, j) != 0)
		return -1;
	if (jl->n == MAX_JOBS)
		return finish_jobs(s, st, jl, 0);
	return 0;
}

static int warp_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct warp_state *st = s->state;
	size_t ts = raster_tsize(st->out->type);
	size_t line = (size_t)w->w, band_bytes = (size_t)w->w * w->h * ts;
	struct job_list *jl = st->jobs;
	/* Without a scale for the whole grid (see grid_scale), the window is
	 * one piece, which GDAL chunks as gdalwarp chunks its output. */
	int ns = st->scale[0][0] ? strips_of(w->h) : 1, r = 0;

	jl->n = 0;
	jl->mark = arena_mark(raster_blocks(s));
	st->budget = warp_budget(s->eng, ns);
	/* The window in strips of STRIP_ROWS rows, each split further when
	 * its source does not fit; the pool's workers take them in turn. */
	for (int k = 0; k < ns && r == 0; k++) {
		int y0 = k * STRIP_ROWS, y1 = k == ns - 1 ? w->h : y0 + STRIP_ROWS;
		struct rwin part = {w->x, w->y + y0, w->w, y1 - y0};

		if (part.h > 0)
			r = add_job(s, st, jl, &part, (char *)buf + (size_t)y0 * line * ts, line, band_bytes);
	}
	/* The pieces are at work: the window before this one is written
	 * meanwhile (run.c), then they are waited for. */
	if (r == 0)
		r = raster_write_pending(s);
	r = finish_jobs(s, st, jl, r);
	arena_rewind(raster_blocks(s), jl->mark);
	return r;
}

static int warp_end(struct stage *s, struct stream *stm)
{
	struct warp_state *st = s->state;

	(void)stm;
	/* The whole-grid datasets and transformer lived in the stream arena,
	 * which the engine resets: nothing to keep. */
	st->full = NULL;
	st->full_h = NULL;
	st->xopts = NULL;
	st->full_src = st->full_dst = NULL;
	return 0;
}

static void warp_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct warp_conf *c = s->step->conf;

	(void)e;
	fprintf(out, "  %s%s, %s resampling, approximation error %g pixel\n",
	        strcmp(s->step->desc->name, "resample") == 0 ? "same CRS" : "to ",
	        strcmp(s->step->desc->name, "resample") == 0 ? "" : c->to,
	        resamplings[c->resampling], c->error_threshold);
	fprintf(out, "  each output window: cut in strips of %d rows (the last up to %d), whatever "
	             "the thread count, each warped with the whole grid's kernel scale (one piece a "
	             "window when none fits, across the antimeridian or a pole); a strip's source "
	             "area (plus the kernel's reach) pulled into the block arena and warped by its "
	             "own GDAL warp operation, the strips shared by the threads; strips whose source "
	             "exceeds %.1f MiB (a quarter of the windows' share over the strips) are split "
	             "in four\n",
	        STRIP_ROWS, 2 * STRIP_ROWS - 1, (double)warp_budget(s->eng, 1) / 1048576.0);
}

/* No transform cache here (each window makes its own transformer); the
 * warp's own counts instead. */
static void warp_stats(const struct stage *s, struct step_stats *out)
{
	const struct warp_state *st = s->state;

	out->figures[0].name = "pieces_warped";
	out->figures[0].value = st->windows;
	out->figures[1].name = "pieces_uncovered";
	out->figures[1].value = st->empty;
	out->figures[2].name = "splits";
	out->figures[2].value = st->splits;
	out->figures[3].name = "pieces_own_kernel";
	out->figures[3].value = st->own;
	out->nfigures = 4;
}

static const struct raster_ops warp_ops = {
	.begin = warp_begin,
	.end = warp_end,
	.pull = warp_pull,
};

const struct step_desc step_raster_reproject = {
	.name = "reproject",
	.summary = "warp a raster to another CRS (GDAL warp API, window by window)",
	.role = STEP_TRANSFORM,
	.opts = reproject_opts,
	.conf_size = sizeof(struct warp_conf),
	.details = "The output grid is the one gdalwarp picks for the same options: the\n"
	           "input's extent and a resolution that keeps its pixel count, unless\n"
	           "resolution, size or extent say otherwise.  Pixels with the input's\n"
	           "nodata are not used; uncovered pixels get the output nodata (or 0).\n"
	           "Each output window is cut in strips of 128 rows, each with its own\n"
	           "warp operation, warped on --threads threads (default: the CPUs the\n"
	           "process may use); the cut never depends on the thread count, so\n"
	           "neither do the pixels.  A bilinear warp of Byte, Int16 or UInt16\n"
	           "with no nodata or alpha runs gispipe's own kernel, which gives\n"
	           "GDAL's pixels, faster.",
	.check = warp_check,
	.state_size = sizeof(struct warp_state),
	.open = warp_open,
	.explain = warp_explain,
	.stats = warp_stats,
	.ras = &warp_ops,
};

const struct step_desc step_resample = {
	.name = "resample",
	.summary = "change a raster's resolution or size in its own CRS",
	.role = STEP_TRANSFORM,
	.opts = resample_opts,
	.conf_size = sizeof(struct warp_conf),
	.details = "A warp to the same CRS: 'resolution' or 'size' is required;\n"
	           "average and mode are the kernels for coarser outputs.",
	.check = warp_check,
	.state_size = sizeof(struct warp_state),
	.open = warp_open,
	.explain = warp_explain,
	.stats = warp_stats,
	.ras = &warp_ops,
};
