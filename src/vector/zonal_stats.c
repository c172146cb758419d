/* vector/zonal_stats.c - statistics of a raster's values under each feature. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <ogr_srs_api.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/handle.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "core/step.h"
#include "config/yaml_load.h"
#include "vector/batch.h"

/* Pixels read and rasterized at a time: a feature's window is cut into
 * tiles of at most this many, so memory does not depend on the size of a
 * feature or of the raster (8 bytes of value and 1 of mask a pixel). */
#define ZS_TILE_PIXELS ((size_t)1 << 18)

enum { S_COUNT, S_MIN, S_MAX, S_MEAN, S_SUM, S_STD, S_N };
static const char *const stat_names[] = {"count", "min", "max", "mean", "sum", "std", NULL};

struct zonal_conf {
	const char *raster;
	int64_t band;
	struct strlist stats;
	bool all_touched;
	const char *prefix;
	bool has_band, has_prefix;
	/* resolved by check: the statistics in field order */
	int nstats;
	int which[S_N];
};

static const struct opt_desc zonal_opts[] = {
	{"raster", OPT_STRING, offsetof(struct zonal_conf, raster), OPT_REQUIRED,
	 "raster dataset, any path GDAL opens (/vsizip/... too), relative to the current directory",
	 NULL, NULL, NULL, 0, 0, 0},
	{"band", OPT_INT, offsetof(struct zonal_conf, band), 0, "band of the raster",
	 "1", NULL, NULL, offsetof(struct zonal_conf, has_band), 1, 65535},
	{"stats", OPT_STRINGS, offsetof(struct zonal_conf, stats), 0,
	 "statistics, in field order: count, min, max, mean, sum, std",
	 "count, min, max, mean, sum, std", NULL, NULL, 0, 0, 0},
	{"all_touched", OPT_BOOL, offsetof(struct zonal_conf, all_touched), 0,
	 "count every pixel the geometry touches, not only those whose centre is inside", "false",
	 NULL, NULL, 0, 0, 0},
	{"prefix", OPT_STRING, offsetof(struct zonal_conf, prefix), 0,
	 "start of the field names (<prefix>mean, ...)", "zs_", NULL, NULL,
	 offsetof(struct zonal_conf, has_prefix), 0, 0},
	{0},
};

struct zonal_state {
	struct engine *eng;
	GDALDatasetH ds;
	GDALRasterBandH band;
	GDALDriverH mem;
	int xsize, ysize;
	int block[2]; /* the band's natural block */
	double gt[6];
	double inv[6]; /* georeferenced -> pixel/line */
	bool has_nodata;
	double nodata;
	OGRSpatialReferenceH srs; /* the raster's, GIS axis order; NULL: none */
	/* The transform from the current stream's CRS, kept while streams
	 * come in the same CRS; in `crs`, reset when the CRS changes. */
	struct arena *crs;
	bool crs_known;
	char *from_wkt;     /* the stream CRS `ct` is for */
	struct handle *ct;  /* NULL: that CRS is the raster's */
	uint64_t generation; /* engine transform-cache generation seen */
	/* One feature's geometry and each tile's MEM dataset; rewound. */
	struct arena *work;
	double *px;          /* a tile's values (ZS_TILE_PIXELS) */
	unsigned char *mask; /* a tile's rasterized geometry */
	int extra[S_N];      /* this stream: value index of each statistic */
};

/* Running statistics.  Each tile's values are taken in two passes (mean,
 * then squared deviations from it, with the rounding of the mean corrected)
 * and merged into the running figures with Chan, Golub and LeVeque's
 * update: no sum of squares minus squared sum, whose cancellation loses
 * the variance of large values, and no division per pixel.  Tile sums are
 * added with Neumaier's compensation. */
struct acc {
	uint64_t n;
	double min, max;
	double sum, comp; /* sum + comp is the sum */
	double mean, m2;  /* m2: sum of squared deviations from the mean */
};

static void acc_merge(struct acc *a, const double *v, size_t n)
{
	double sum = 0, lo = v[0], hi = v[0], mean, m2 = 0, c = 0, delta, t;
	uint64_t total;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		sum += v[i];
		if (v[i] < lo)
			lo = v[i];
		if (v[i] > hi)
			hi = v[i];
	}
	mean = sum / (double)n;
	for (size_t i = 0; i < n; i++) {
		double d = v[i] - mean;

		m2 += d * d;
		c += d;
	}
	m2 -= c * c / (double)n;
	mean += c / (double)n;
	if (a->n == 0 || lo < a->min)
		a->min = lo;
	if (a->n == 0 || hi > a->max)
		a->max = hi;
	total = a->n + n;
	delta = mean - a->mean;
	a->mean += delta * ((double)n / (double)total);
	a->m2 += m2 + delta * delta * ((double)a->n * (double)n / (double)total);
	a->n = total;
	t = a->sum + sum;
	if (fabs(a->sum) >= fabs(sum))
		a->comp += (a->sum - t) + sum;
	else
		a->comp += (sum - t) + a->sum;
	a->sum = t;
}

static int zonal_check(struct step *s, struct pipeline *pl)
{
	struct zonal_conf *c = s->conf;
	bool seen[S_N] = {false};

	if (!c->has_band)
		c->band = 1;
	if (!c->has_prefix)
		c->prefix = "zs_";
	if (c->band > 65535)
		return ydoc_fail(pl->doc, ynode_get(s->node, "band"), "band %lld does not exist",
		                 (long long)c->band);
	if (c->stats.n == 0) {
		for (int k = 0; k < S_N; k++)
			c->which[k] = k;
		c->nstats = S_N;
		return 0;
	}
	for (size_t i = 0; i < c->stats.n; i++) {
		int k = 0;

		while (stat_names[k] && strcmp(stat_names[k], c->stats.v[i]) != 0)
			k++;
		if (stat_names[k] == NULL) {
			const char *hint = suggest_word(c->stats.v[i], stat_names);

			if (hint)
				return ydoc_fail(pl->doc, c->stats.at[i],
				                 "unknown statistic '%s' (did you mean '%s'?)",
				                 c->stats.v[i], hint);
			return ydoc_fail(
			        pl->doc, c->stats.at[i],
			        "unknown statistic '%s'; one of: count, min, max, mean, sum, std",
			        c->stats.v[i]);
		}
		if (seen[k])
			return ydoc_fail(pl->doc, c->stats.at[i], "statistic '%s' is listed twice",
			                 stat_names[k]);
		seen[k] = true;
		c->which[c->nstats++] = k;
	}
	return 0;
}

static int zonal_open(struct stage *s, struct engine *e)
{
	struct zonal_conf *c = s->step->conf;
	struct zonal_state *st = s->state;
	OGRSpatialReferenceH srs;
	int has = 0;

	st->eng = e;
	st->generation = e->xc_generation;
	st->mem = GDALGetDriverByName("MEM");
	if (st->mem == NULL)
		return gp_fail(GP_EX_SOFTWARE, "step '%s': GDAL has no MEM driver", s->step->label);
	CPLErrorReset();
	st->ds = GDALOpenEx(c->raster, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
	if (st->ds == NULL) {
		VSIStatBufL sb;

		/* VSIStat, not stat(): /vsizip/ and the like are paths too. */
		if (VSIStatExL(c->raster, &sb, VSI_STAT_EXISTS_FLAG) != 0)
			return gp_fail(GP_EX_NOINPUT, "step '%s': cannot open raster '%s': %s",
			               s->step->label, c->raster, strerror(ENOENT));
		return gp_fail(GP_EX_NOINPUT, "step '%s': cannot open raster '%s': %s",
		               s->step->label, c->raster,
		               *CPLGetLastErrorMsg() ? CPLGetLastErrorMsg()
		                                     : "not a raster dataset GDAL can read");
	}
	if (handle_own(s->arena, &s->acct, HANDLE_GDAL_DATASET, st->ds, NULL) == NULL)
		return -1;
	if (c->band > GDALGetRasterCount(st->ds))
		return ydoc_fail(s->step->pl->doc, ynode_get(s->step->node, "band"),
		                 "band %lld does not exist: '%s' has %d band%s", (long long)c->band,
		                 c->raster, GDALGetRasterCount(st->ds),
		                 GDALGetRasterCount(st->ds) == 1 ? "" : "s");
	st->band = GDALGetRasterBand(st->ds, (int)c->band);
	if (st->band == NULL ||
	    handle_own(s->arena, &s->acct, HANDLE_GDAL_BAND, st->band, NULL) == NULL)
		return gp_err_code()
		               ? -1
		               : gp_fail(GP_EX_NOINPUT, "step '%s': cannot read band %lld of '%s'",
		                         s->step->label, (long long)c->band, c->raster);
	GDALGetBlockSize(st->band, &st->block[0], &st->block[1]);
	if (st->block[0] < 1 || st->block[1] < 1)
		st->block[0] = st->block[1] = 1;
	st->xsize = GDALGetRasterXSize(st->ds);
	st->ysize = GDALGetRasterYSize(st->ds);
	/* Without a geotransform GDAL makes up the identity: features would
	 * land on pixel coordinates, which is never what was meant. */
	if (GDALGetGeoTransform(st->ds, st->gt) != CE_None || !GDALInvGeoTransform(st->gt, st->inv))
		return gp_fail(GP_EX_DATAERR, "step '%s': raster '%s' is not georeferenced",
		               s->step->label, c->raster);
	switch (GDALGetRasterDataType(st->band)) {
	case GDT_Int64: {
		int64_t v = GDALGetRasterNoDataValueAsInt64(st->band, &has);

		st->nodata = (double)v;
		break;
	}
	case GDT_UInt64: {
		uint64_t v = GDALGetRasterNoDataValueAsUInt64(st->band, &has);

		st->nodata = (double)v;
		break;
	}
	default:
		st->nodata = GDALGetRasterNoDataValue(st->band, &has);
		break;
	}
	st->has_nodata = has != 0;
	srs = GDALGetSpatialRef(st->ds);
	if (srs) {
		st->srs = OSRClone(srs);
		if (st->srs == NULL)
			return gp_fail(GP_EX_SOFTWARE, "cannot copy a CRS");
		if (handle_own(s->arena, &s->acct, HANDLE_OGR_SRS, st->srs, NULL) == NULL) {
			st->srs = NULL; /* released by handle_own, error set */
			return -1;
		}
		OSRSetAxisMappingStrategy(st->srs, OAMS_TRADITIONAL_GIS_ORDER);
	}
	st->crs = arena_create(&s->acct.mem, 4096);
	if (st->crs == NULL || arena_defer_destroy(s->arena, st->crs) != 0)
		return -1;
	st->work = arena_create(&s->acct.mem, 0);
	if (st->work == NULL || arena_defer_destroy(s->arena, st->work) != 0)
		return -1;
	st->px = arena_alloc(s->arena, ZS_TILE_PIXELS * sizeof *st->px, 0);
	st->mask = arena_alloc(s->arena, ZS_TILE_PIXELS, 0);
	return st->px && st->mask ? 0 : -1;
}

static char *wkt_of(OGRSpatialReferenceH srs)
{
	const char *opts[] = {"FORMAT=WKT2_2019", NULL};
	char *wkt = NULL;

	if (OSRExportToWktEx(srs, &wkt, opts) != OGRERR_NONE) {
		CPLFree(wkt);
		return NULL;
	}
	return wkt;
}

/* Make st->ct transform from the stream's CRS to the raster's (NULL when
 * they are the same).  A CRS missing on one side only is the data's fault:
 * guessing would put the features anywhere. */
static int zonal_crs(struct stage *s, struct stream *stm)
{
	struct zonal_state *st = s->state;
	const char *raster = ((struct zonal_conf *)s->step->conf)->raster;
	OGRSpatialReferenceH from;
	OGRCoordinateTransformationH ct;
	struct handle *fh;
	char *wkt;

	if (st->generation != st->eng->xc_generation) {
		/* transform_cache.clear_every applies here too */
		st->generation = st->eng->xc_generation;
		arena_reset(st->crs);
		st->ct = NULL;
		st->crs_known = false;
	}
	if (stm->srs == NULL && st->srs == NULL)
		return 0;
	if (stm->srs == NULL)
		return gp_fail(GP_EX_DATAERR,
		               "step '%s': layer '%s' of '%s' has no CRS and raster '%s' has one; "
		               "give the layer one with 'reproject: { from: ..., to: ... }'",
		               s->step->label, stm->layer, stm->path, raster);
	if (st->srs == NULL)
		return gp_fail(
		        GP_EX_DATAERR,
		        "step '%s': raster '%s' has no CRS, so features of layer '%s' of '%s' "
		        "cannot be placed on it",
		        s->step->label, raster, stm->layer, stm->path);
	wkt = wkt_of(stm->srs);
	if (wkt == NULL)
		return gp_fail(GP_EX_DATAERR, "step '%s': cannot describe the CRS of '%s'",
		               s->step->label, stm->path);
	if (st->crs_known && strcmp(st->from_wkt, wkt) == 0) {
		CPLFree(wkt);
		return 0;
	}
	arena_reset(st->crs);
	st->ct = NULL;
	st->crs_known = false;
	st->from_wkt = arena_strdup(st->crs, wkt);
	CPLFree(wkt);
	if (st->from_wkt == NULL)
		return -1;
	if (OSRIsSame(stm->srs, st->srs)) {
		st->crs_known = true; /* the raster's own: ct stays NULL */
		return 0;
	}
	from = OSRClone(stm->srs);
	if (from == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot copy a CRS");
	if ((fh = handle_own(st->crs, &s->acct, HANDLE_OGR_SRS, from, NULL)) == NULL)
		return -1;
	OSRSetAxisMappingStrategy(from, OAMS_TRADITIONAL_GIS_ORDER);
	CPLErrorReset();
	ct = OCTNewCoordinateTransformation(from, st->srs);
	handle_release(fh); /* the transformation keeps its own copies */
	if (ct == NULL)
		return gp_fail(
		        GP_EX_DATAERR,
		        "step '%s': no transformation from the CRS of '%s' to that of raster "
		        "'%s': %s",
		        s->step->label, stm->path, raster,
		        *CPLGetLastErrorMsg() ? CPLGetLastErrorMsg() : "PROJ found none");
	st->ct = handle_own(st->crs, &s->acct, HANDLE_OGR_TRANSFORM, ct, NULL);
	if (st->ct == NULL)
		return -1;
	st->crs_known = true;
	return 0;
}

static int zonal_begin(struct stage *s, struct stream *stm)
{
	struct zonal_conf *c = s->step->conf;
	struct zonal_state *st = s->state;
	struct schema *sc;

	if (zonal_crs(s, stm) != 0)
		return -1;
	sc = schema_copy(stm->arena, stm->schema);
	if (sc == NULL)
		return -1;
	for (int i = 0; i < c->nstats; i++) {
		int k = c->which[i];
		const char *name = arena_printf(stm->arena, "%s%s", c->prefix, stat_names[k]);

		if (name == NULL)
			return -1;
		/* Replacing a field silently would lose data the user may have
		 * meant to keep; a prefix is one word away. */
		if (schema_find(sc, name) >= 0)
			return ydoc_fail(s->step->pl->doc,
			                 c->has_prefix ? ynode_get(s->step->node, "prefix")
			                               : s->step->node,
			                 "step '%s': layer '%s' of '%s' already has a field '%s'; "
			                 "choose another 'prefix'",
			                 s->step->label, stm->layer, stm->path, name);
		st->extra[k] = sc->nextra++;
		if (schema_add_computed(stm->arena, sc, name, k == S_COUNT ? OFTInteger64 : OFTReal,
		                        st->extra[k]) != 0)
			return -1;
	}
	stm->schema = sc;
	return 0;
}

/* GDALRasterizeGeometries' transformer: georeferenced coordinates to
 * pixel/line of one tile.  The whole raster's inverse geotransform is
 * applied before the tile's offset is taken off, so every tile sees the
 * pixel centres gdal_rasterize would on the raster's own grid. */
struct to_tile {
	const double *inv;
	double xoff, yoff;
};

static int to_tile(void *arg, int dst_to_src, int n, double *x, double *y, double *z, int *ok)
{
	const struct to_tile *t = arg;

	(void)z;
	for (int i = 0; i < n; i++) {
		double px = t->inv[0] + x[i] * t->inv[1] + y[i] * t->inv[2];
		double py = t->inv[3] + x[i] * t->inv[4] + y[i] * t->inv[5];

		x[i] = px - t->xoff;
		y[i] = py - t->yoff;
		ok[i] = !dst_to_src; /* the rasterizer only goes this way */
	}
	return !dst_to_src;
}

/* Burn `g` into st->mask for the tile at (x0, y0) of w x h pixels: a MEM
 * dataset over the mask, made and closed here.  0, 1 when GDAL cannot
 * rasterize it (*why set), -1 when the run fails. */
static int burn_tile(struct stage *s, OGRGeometryH g, int x0, int y0, int w, int h,
                     const char **why)
{
	struct zonal_state *st = s->state;
	struct to_tile t = {.inv = st->inv, .xoff = x0, .yoff = y0};
	/* GDAL's option lists are char ** in C: writable copies, no casts. */
	char ptr[64] = "DATAPOINTER=", line[32], pixel[] = "PIXELOFFSET=1";
	char touched[] = "ALL_TOUCHED=TRUE";
	char *opt[] = {ptr, pixel, line, NULL};
	char *ro[] = {((struct zonal_conf *)s->step->conf)->all_touched ? touched : NULL, NULL};
	int band = 1;
	double burn = 1.0;
	GDALDatasetH ds;
	struct handle *dsh, *bh;
	CPLErr err;

	memset(st->mask, 0, (size_t)w * (size_t)h);
	CPLErrorReset();
	ds = GDALCreate(st->mem, "", w, h, 0, GDT_Byte, NULL);
	if (ds == NULL)
		return gp_fail(GP_EX_SOFTWARE, "step '%s': cannot create a MEM dataset: %s",
		               s->step->label, CPLGetLastErrorMsg());
	dsh = handle_own(st->work, &s->acct, HANDLE_GDAL_DATASET, ds, NULL);
	if (dsh == NULL)
		return -1;
	/* The band is the mask buffer itself: GDAL burns straight into it.
	 * CPLPrintPointer does not terminate: the rest of ptr is zeros. */
	CPLPrintPointer(ptr + strlen(ptr), st->mask, (int)(sizeof ptr - strlen(ptr) - 1));
	snprintf(line, sizeof line, "LINEOFFSET=%d", w);
	if (GDALAddBand(ds, GDT_Byte, opt) != CE_None)
		return gp_fail(GP_EX_SOFTWARE, "step '%s': cannot make a mask band: %s",
		               s->step->label, CPLGetLastErrorMsg());
	bh = handle_own(st->work, &s->acct, HANDLE_GDAL_BAND, GDALGetRasterBand(ds, 1), NULL);
	if (bh == NULL)
		return -1;
	err = GDALRasterizeGeometries(ds, 1, &band, 1, &g, to_tile, &t, &burn, ro, NULL, NULL);
	handle_release(bh);
	handle_release(dsh);
	if (err != CE_None) {
		*why = *CPLGetLastErrorMsg() ? CPLGetLastErrorMsg() : "GDAL cannot rasterize it";
		return 1;
	}
	return 0;
}

/* The tile shape for a window w pixels wide: whole blocks of the raster
 * where they fit, so that a tiled or striped raster has each block decoded
 * once per feature rather than once per tile that cuts it. */
static void tile_shape(const struct zonal_state *st, int w, int *tw, int *th)
{
	size_t bx = (size_t)st->block[0], by = (size_t)st->block[1], cols, rows;

	if (by * (size_t)w <= ZS_TILE_PIXELS) {
		cols = (size_t)w; /* strips the window's width, whole block rows */
		rows = ZS_TILE_PIXELS / cols / by * by;
	} else if (bx * by <= ZS_TILE_PIXELS) {
		rows = by; /* a row of whole blocks */
		cols = ZS_TILE_PIXELS / by / bx * bx;
	} else {
		cols = (size_t)w < ZS_TILE_PIXELS ? (size_t)w : ZS_TILE_PIXELS;
		rows = ZS_TILE_PIXELS / cols;
	}
	*tw = (int)cols;
	*th = rows < (size_t)INT_MAX ? (int)rows : INT_MAX;
}

/* Where the tile that starts at t ends, on a grid of `step` from 0. */
static int tile_end(int t, int step, int end)
{
	long long e = ((long long)t / step + 1) * step;

	return e < end ? (int)e : end;
}

/* Accumulate the valid pixels under `g` in the window (x0, y0, w, h),
 * tile by tile, the tiles on a grid over the whole raster as its blocks
 * are.  Returns like burn_tile(). */
static int zonal_window(struct stage *s, OGRGeometryH g, int x0, int y0, int w, int h,
                        struct acc *a, const char **why)
{
	struct zonal_state *st = s->state;
	const char *raster = ((struct zonal_conf *)s->step->conf)->raster;
	int tw, th;

	tile_shape(st, w, &tw, &th);
	for (int ty = y0, ny; ty < y0 + h; ty = ny) {
		ny = tile_end(ty, th, y0 + h);
		for (int tx = x0, nx; tx < x0 + w; tx = nx) {
			size_t n, k, j;
			struct arena_mark m;
			int r;

			nx = tw >= w ? x0 + w : tile_end(tx, tw, x0 + w);
			n = (size_t)(nx - tx) * (size_t)(ny - ty);
			m = arena_mark(st->work);
			r = burn_tile(s, g, tx, ty, nx - tx, ny - ty, why);
			arena_rewind(st->work, m);
			if (r != 0)
				return r;
			/* Tiles the geometry misses are not read at all. */
			for (k = 0; k < n && !st->mask[k]; k++)
				;
			if (k == n)
				continue;
			CPLErrorReset();
			if (GDALRasterIO(st->band, GF_Read, tx, ty, nx - tx, ny - ty, st->px,
			                 nx - tx, ny - ty, GDT_Float64, 0, 0) != CE_None)
				return gp_fail(GP_EX_IOERR,
				               "step '%s': cannot read raster '%s': %s",
				               s->step->label, raster, CPLGetLastErrorMsg());
			/* The valid values, packed at the front of the buffer. */
			for (j = 0; k < n; k++) {
				double v = st->px[k];

				if (!st->mask[k] || isnan(v) || (st->has_nodata && v == st->nodata))
					continue;
				st->px[j++] = v;
			}
			acc_merge(a, st->px, j);
		}
	}
	return 0;
}

/* The pixel window of the raster that may hold pixels of `g` (in the
 * raster's CRS), one pixel wider on every side than its envelope; false
 * when it misses the raster. */
static bool window_of(const struct zonal_state *st, OGRGeometryH g, int win[4])
{
	OGREnvelope e;
	double cx[4], cy[4], lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
	double x0, y0, x1, y1;

	OGR_G_GetEnvelope(g, &e);
	cx[0] = cx[2] = e.MinX;
	cx[1] = cx[3] = e.MaxX;
	cy[0] = cy[1] = e.MinY;
	cy[2] = cy[3] = e.MaxY;
	for (int i = 0; i < 4; i++) {
		double px = st->inv[0] + cx[i] * st->inv[1] + cy[i] * st->inv[2];
		double py = st->inv[3] + cx[i] * st->inv[4] + cy[i] * st->inv[5];

		lo[0] = fmin(lo[0], px);
		hi[0] = fmax(hi[0], px);
		lo[1] = fmin(lo[1], py);
		hi[1] = fmax(hi[1], py);
	}
	/* Clamp as doubles: a far-away envelope would overflow an int. */
	x0 = fmax(floor(lo[0]) - 1, 0);
	y0 = fmax(floor(lo[1]) - 1, 0);
	x1 = fmin(floor(hi[0]) + 2, st->xsize);
	y1 = fmin(floor(hi[1]) + 2, st->ysize);
	if (!(x0 < x1 && y0 < y1))
		return false;
	win[0] = (int)x0;
	win[1] = (int)y0;
	win[2] = (int)(x1 - x0);
	win[3] = (int)(y1 - y0);
	return true;
}

/* The statistics of feature i into `a`: 0, 1 when the feature failed
 * (marked), -1 when the run fails. */
static int zonal_feature(struct stage *s, struct batch *b, size_t i, struct acc *a)
{
	struct zonal_state *st = s->state;
	struct feature *f = &b->f[i];
	OGRGeometryH g = NULL;
	struct handle *gh;
	const char *why = NULL;
	int win[4], r;

	if (f->wkb == NULL)
		return 0;
	if (OGR_G_CreateFromWkbEx(f->wkb, NULL, &g, f->wkb_len) != OGRERR_NONE) {
		batch_fail(b, i, s->step->label, "geometry does not decode");
		return 1;
	}
	gh = handle_own(st->work, &s->acct, HANDLE_OGR_GEOMETRY, g, NULL);
	if (gh == NULL)
		return -1;
	if (OGR_G_IsEmpty(g))
		return 0;
	/* The rasterizer knows only straight segments. */
	if (OGR_G_HasCurveGeometry(g, FALSE)) {
		OGRGeometryH lin = OGR_G_GetLinearGeometry(g, 0, NULL);

		if (lin == NULL) {
			batch_fail(b, i, s->step->label, "cannot linearize the curved geometry");
			return 1;
		}
		gh = handle_own(st->work, &s->acct, HANDLE_OGR_GEOMETRY, lin, NULL);
		if (gh == NULL)
			return -1;
		g = lin;
	}
	if (st->ct) {
		CPLErrorReset();
		if (OGR_G_Transform(g, st->ct->ptr) != OGRERR_NONE) {
			char reason[512];

			snprintf(reason, sizeof reason,
			         "cannot transform the geometry to the raster's CRS%s%s",
			         *CPLGetLastErrorMsg() ? ": " : "", CPLGetLastErrorMsg());
			batch_fail(b, i, s->step->label, reason);
			return 1;
		}
	}
	if (!window_of(st, g, win))
		return 0;
	r = zonal_window(s, g, win[0], win[1], win[2], win[3], a, &why);
	if (r == 1)
		batch_fail(b, i, s->step->label, why);
	return r;
}

static int zonal_process(struct stage *s, struct batch *b)
{
	struct zonal_conf *c = s->step->conf;
	struct zonal_state *st = s->state;

	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		struct acc a = {0};
		struct arena_mark m;
		int r;

		if (f->state != FEAT_LIVE)
			continue;
		if (batch_reserve_extra(b, i) != 0)
			return -1;
		m = arena_mark(st->work);
		r = zonal_feature(s, b, i, &a);
		arena_rewind(st->work, m);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		/* No valid pixel: a count of 0 and nulls, not zeros. */
		for (int j = 0; j < c->nstats; j++) {
			int k = c->which[j];
			struct fvalue v = {.set = a.n > 0, .type = OFTReal};

			switch (k) {
			case S_COUNT:
				v = (struct fvalue){
				        .set = true, .type = OFTInteger64, .v.i = (int64_t)a.n};
				break;
			case S_MIN:
				v.v.d = a.min;
				break;
			case S_MAX:
				v.v.d = a.max;
				break;
			case S_MEAN:
				v.v.d = (a.sum + a.comp) / (double)a.n;
				break;
			case S_SUM:
				v.v.d = a.sum + a.comp;
				break;
			case S_STD: /* of the population, as QGIS and rasterstats give it */
				v.v.d = sqrt(a.m2 / (double)a.n);
				break;
			}
			f->extra[st->extra[k]] = v;
		}
	}
	return 0;
}

static void zonal_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct zonal_conf *c = s->step->conf;
	struct zonal_state *st = s->state;
	const char *crs = st->srs ? OSRGetName(st->srs) : NULL;

	(void)e;
	fprintf(out, "  raster %s: %d x %d, band %lld of type %s, nodata ", c->raster, st->xsize,
	        st->ysize, (long long)c->band,
	        GDALGetDataTypeName(GDALGetRasterDataType(st->band)));
	if (st->has_nodata)
		fprintf(out, "%.17g", st->nodata);
	else
		fprintf(out, "none");
	fprintf(out, ", CRS %s\n  fields:", crs ? crs : "none");
	for (int i = 0; i < c->nstats; i++)
		fprintf(out, " %s%s", c->prefix, stat_names[c->which[i]]);
	fprintf(out, "; %s\n", c->all_touched ? "every pixel touched" : "pixel centres inside");
	fprintf(out,
	        "  reads the window under each feature in tiles of at most %zu pixels "
	        "(%.2f MiB of values and mask, in its stage arena)\n",
	        ZS_TILE_PIXELS, (double)(ZS_TILE_PIXELS * 9) / (1024.0 * 1024.0));
}

static const struct vector_ops zonal_stats_ops = {
	.begin = zonal_begin,
	.process = zonal_process,
};

const struct step_desc step_zonal_stats = {
        .name = "zonal_stats",
        .summary =
                "statistics of raster values under each feature: count, min, max, mean, sum, std",
        .role = STEP_TRANSFORM,
        .opts = zonal_opts,
        .conf_size = sizeof(struct zonal_conf),
        .details = "For each feature, the pixels of the band under its geometry, as GDAL\n"
                   "rasterizes it: a polygon's pixels whose centre is inside it (all_touched:\n"
                   "every pixel it touches); the pixel a point falls in; the pixels a line\n"
                   "crosses.  Pixels equal to the band's nodata value and NaN are left out.\n"
                   "Features are transformed to the raster's CRS when theirs differs.  Fields\n"
                   "<prefix>count (integer) and <prefix>min, max, mean, sum, std (real; std of\n"
                   "the population) are added; with no valid pixel, count is 0 and the others\n"
                   "null.  A field of the same name already in the layer is an error.  Only\n"
                   "the window under each feature is read, in tiles of bounded size.",
        .check = zonal_check,
        .state_size = sizeof(struct zonal_state),
        .open = zonal_open,
        .explain = zonal_explain,
        .vec = &zonal_stats_ops,
};
