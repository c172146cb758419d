/* raster/read.c - the read step of raster pipelines: GDAL rasters, one
 * stream each, and the synthetic raster. */
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/incremental.h"
#include "config/pipeline.h"
#include "config/yaml_load.h"
#include "core/input.h"
#include "core/shard.h"
#include "core/step.h"
#include "raster/raster.h"

struct rsrc_state {
	const char **inputs;
	size_t ninputs, next;
	bool *mine;            /* --shard: the inputs this shard reads, or NULL: all */
	int *bands;            /* 1-based source band numbers, nbands */
	int nbands;            /* 0: every band of each input */
	/* current input */
	struct handle *ds;
	GDALDatasetH dsh;
	struct handle **band_h;
	GDALRasterBandH *bandh;
	int xoff, yoff;        /* the window read (read.bbox) */
	struct rview *view;
	/* synthetic */
	bool synth;
	bool synth_done;
	double *col_terms, *row_terms; /* per column/row parts of the pattern, per window */
};

/* GDAL raster types the steps handle (complex types are refused). */
static bool type_supported(GDALDataType t)
{
	switch (t) {
	case GDT_Byte:
	case GDT_UInt16:
	case GDT_Int16:
	case GDT_UInt32:
	case GDT_Int32:
	case GDT_Float32:
	case GDT_Float64:
		return true;
	default:
		return false;
	}
}

/* The bands read, into st->bands (allocated in `a`). */
static int parse_bands(const struct step *s, struct pipeline *pl, struct arena *a,
                       struct rsrc_state *st)
{
	struct read_conf *c = s->conf;

	st->nbands = 0;
	if (!c->has_bands)
		return 0;
	st->bands = arena_calloc(a, c->bands.n ? c->bands.n : 1, sizeof *st->bands);
	if (st->bands == NULL)
		return -1;
	for (size_t i = 0; i < c->bands.n; i++) {
		if (!raster_band_number(c->bands.v[i], &st->bands[st->nbands]))
			return ydoc_fail(pl->doc, c->bands.at[i],
			                 "'bands' in step 'read' lists band numbers from 1, not '%s'",
			                 c->bands.v[i]);
		st->nbands++;
	}
	if (st->nbands == 0)
		return ydoc_fail(pl->doc, ynode_get(s->node, "bands"),
		                 "'bands' in step 'read' must list at least one band");
	return 0;
}

int raster_source_check(struct step *s, struct pipeline *pl)
{
	struct read_conf *c = s->conf;

	if (c->has_synthetic) {
		struct synth_conf *sc = &c->synthetic;
		struct synth_raster_conf *r = &sc->raster;
		static const char *const dataset_only[] = {"bbox", "bands", "nodata", "open_options",
		                                           "layer", "where", NULL};
		static const char *const feature_only[] = {"geometry", "count", "extent", "vertices",
		                                           "layer", "crs", "seed", NULL};

		for (const char *const *k = dataset_only; *k; k++)
			if (ynode_get(s->node, *k))
				return ydoc_fail(pl->doc, ynode_get(s->node, *k),
				                 "'%s' does not apply to 'synthetic' in step 'read'", *k);
		for (const char *const *k = feature_only; *k; k++)
			if (ynode_get(ynode_get(s->node, "synthetic"), *k))
				return ydoc_fail(pl->doc, ynode_get(ynode_get(s->node, "synthetic"), *k),
				                 "'%s' is for synthetic features; a synthetic raster takes "
				                 "its options under 'raster'",
				                 *k);
		r->type = r->has_type ? raster_type_parse(r->type_name) : GDT_Int16;
		if (r->type == GDT_Unknown)
			return ydoc_fail(pl->doc, ynode_get(ynode_get(ynode_get(s->node, "synthetic"), "raster"), "type"),
			                 "unknown raster type '%s' (one of Byte, UInt16, Int16, UInt32, "
			                 "Int32, Float32, Float64)",
			                 r->type_name);
		if (!r->has_block)
			r->block[0] = r->block[1] = 256;
		if (r->block[0] != floor(r->block[0]) || r->block[1] != floor(r->block[1]) ||
		    r->block[0] > 65536 || r->block[1] > 65536)
			return ydoc_fail(pl->doc, ynode_get(ynode_get(ynode_get(s->node, "synthetic"), "raster"), "block"),
			                 "'block' must be whole numbers up to 65536");
		if (!r->has_crs)
			r->crs = "EPSG:32632";
		if (!r->has_origin) {
			r->origin[0] = 300000;
			r->origin[1] = 5600000;
		}
		if (!r->has_resolution)
			r->resolution[0] = r->resolution[1] = 10;
		if (!r->has_bands)
			r->bands = 1;
		if (r->bands > 64)
			return ydoc_fail(pl->doc, ynode_get(ynode_get(s->node, "synthetic"), "raster"),
			                 "a synthetic raster has at most 64 bands");
		if (!r->has_seed)
			r->seed = 1;
		if (r->has_nodata && !raster_value_fits(r->nodata, r->type))
			return ydoc_fail(pl->doc, ynode_get(ynode_get(s->node, "synthetic"), "raster"),
			                 "nodata %g is not a %s value", r->nodata,
			                 GDALGetDataTypeName(r->type));
		return 0;
	}
	for (size_t i = 0; i < c->path.n; i++)
		if (*c->path.v[i] == '\0')
			return ydoc_fail(pl->doc, c->path.at[i], "empty path in step 'read'");
	if (c->has_layer || c->has_where || c->has_sql) {
		const char *k = c->has_layer ? "layer" : c->has_where ? "where" : "sql";

		return ydoc_fail(pl->doc, ynode_get(s->node, k),
		                 "'%s' applies to vector layers, and this pipeline reads a raster", k);
	}
	if (c->has_bands) {
		struct rsrc_state tmp = {0};
		struct arena *a = arena_create(pl->acct, 0);
		int r;

		if (a == NULL)
			return -1;
		/* Parse now for the message's position; open parses again. */
		r = parse_bands(s, pl, a, &tmp);
		arena_destroy(a);
		if (r != 0)
			return -1;
	}
	return 0;
}

int raster_source_open(struct stage *s, struct engine *e)
{
	struct read_conf *c = s->step->conf;
	struct rsrc_state *st = s->state;

	if (c->has_synthetic) {
		st->synth = true;
		/* One raster: shard 0's. */
		st->synth_done = e->opts->shard_index > 0;
		return 0;
	}
	if (parse_bands(s->step, s->step->pl, s->arena, st) != 0 ||
	    source_resolve_inputs(s->arena, &c->path, &st->inputs, &st->ninputs) != 0)
		return -1;
	if (incr_inputs(e->incr, st->inputs, st->ninputs) != 0)
		return -1;
	/* Rasters are shared out whole, however few (shard.h). */
	return shard_mine(s->arena, st->inputs, st->ninputs, e->opts->shard_index,
	                  e->opts->shard_count, true, &st->mine);
}

static int fill_names(struct stream *out, const char *path, const char *driver)
{
	const char *dot;

	out->path = path;
	out->name = arena_strdup(out->arena, source_base_name(path));
	if (out->name == NULL)
		return -1;
	dot = strrchr(out->name, '.');
	out->stem = arena_strndup(out->arena, out->name,
	                          dot && dot != out->name ? (size_t)(dot - out->name)
	                                                  : strlen(out->name));
	if (out->stem == NULL)
		return -1;
	out->layer = out->stem;
	out->driver = driver;
	return 0;
}

static int synth_stream(struct stage *s, struct rsrc_state *st, struct stream *out)
{
	struct synth_raster_conf *r = &((struct read_conf *)s->step->conf)->synthetic.raster;
	struct rview *v = arena_calloc(out->arena, 1, sizeof *v);
	OGRSpatialReferenceH srs;
	struct handle *h;
	char *wkt = NULL;
	bool known;

	if (v == NULL || raster_view_bands(out->arena, v, (int)r->bands) != 0)
		return -1;
	v->width = (int)r->width;
	v->height = (int)r->height;
	v->type = r->type;
	v->gt[0] = r->origin[0];
	v->gt[1] = r->resolution[0];
	v->gt[3] = r->origin[1];
	v->gt[5] = -r->resolution[1];
	v->has_gt = true;
	v->alpha = -1;
	v->block_w = (int)r->block[0] < v->width ? (int)r->block[0] : v->width;
	v->block_h = (int)r->block[1] < v->height ? (int)r->block[1] : v->height;
	for (int b = 0; b < v->nbands; b++) {
		v->band[b].has_nodata = r->has_nodata;
		v->band[b].nodata = r->nodata;
	}
	srs = OSRNewSpatialReference(NULL);
	if (srs == NULL)
		return gp_fail(GP_EX_SOFTWARE, "out of memory");
	if ((h = handle_own(out->arena, &s->acct, HANDLE_OGR_SRS, srs, NULL)) == NULL)
		return -1;
	known = OSRSetFromUserInput(srs, r->crs) == OGRERR_NONE;
	if (known)
		OSRExportToWkt(srs, &wkt);
	handle_release(h);
	if (!known)
		return gp_fail(GP_EX_CONFIG, "step 'read': unknown CRS '%s' for the synthetic raster",
		               r->crs);
	v->crs = wkt ? arena_strdup(out->arena, wkt) : NULL;
	CPLFree(wkt);
	if (v->crs == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot export the CRS '%s'", r->crs);
	st->view = v;
	out->raster = v;
	out->dataset_index = 0;
	return fill_names(out, "synthetic", "synthetic");
}

static void close_current(struct rsrc_state *st)
{
	if (st->band_h)
		for (int b = 0; b < st->view->nbands; b++)
			if (st->band_h[b])
				handle_release(st->band_h[b]);
	st->band_h = NULL;
	st->bandh = NULL;
	if (st->ds)
		handle_release(st->ds);
	st->ds = NULL;
	st->dsh = NULL;
}

static char **open_options(struct read_conf *c)
{
	char **o = NULL;

	for (size_t i = 0; i < c->open_options.n; i++)
		o = CSLSetNameValue(o, c->open_options.key[i], c->open_options.val[i]);
	return o;
}

static int gdal_stream(struct stage *s, struct rsrc_state *st, struct stream *out)
{
	struct read_conf *c = s->step->conf;
	const char *path = st->inputs[st->next];
	char **oo = open_options(c);
	struct rview *v;
	GDALDatasetH ds;
	const char *wkt;
	int nb, bw, bh;
	GDALDataType t0 = GDT_Unknown;

	CPLErrorReset();
	ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL,
	                (const char *const *)oo, NULL);
	CSLDestroy(oo);
	if (ds == NULL) {
		const char *m = CPLGetLastErrorMsg();

		return gp_fail(GP_EX_DATAERR, "cannot open '%s' as a raster%s%s", path, *m ? ": " : "",
		               m);
	}
	st->ds = handle_own(out->arena, &s->acct, HANDLE_GDAL_DATASET, ds, NULL);
	if (st->ds == NULL)
		return -1;
	st->dsh = ds;
	nb = GDALGetRasterCount(ds);
	if (nb == 0)
		return gp_fail(GP_EX_DATAERR, "'%s' has no raster bands", path);
	v = arena_calloc(out->arena, 1, sizeof *v);
	if (v == NULL || raster_view_bands(out->arena, v, st->nbands ? st->nbands : nb) != 0)
		return -1;
	st->view = v;
	st->band_h = arena_calloc(out->arena, (size_t)v->nbands, sizeof *st->band_h);
	st->bandh = arena_calloc(out->arena, (size_t)v->nbands, sizeof *st->bandh);
	if (st->band_h == NULL || st->bandh == NULL)
		return -1;
	v->alpha = -1;
	for (int b = 0; b < v->nbands; b++) {
		int num = st->nbands ? st->bands[b] : b + 1;
		GDALRasterBandH bh;
		int has = 0;
		double nd;

		if (num > nb)
			return gp_fail(GP_EX_CONFIG, "step 'read': '%s' has %d band%s, not band %d", path,
			               nb, nb == 1 ? "" : "s", num);
		bh = GDALGetRasterBand(ds, num);
		st->band_h[b] = handle_own(out->arena, &s->acct, HANDLE_GDAL_BAND, bh, NULL);
		if (st->band_h[b] == NULL)
			return -1;
		st->bandh[b] = bh;
		if (b == 0)
			t0 = GDALGetRasterDataType(bh);
		else if (GDALGetRasterDataType(bh) != t0)
			t0 = GDALDataTypeUnion(t0, GDALGetRasterDataType(bh));
		nd = GDALGetRasterNoDataValue(bh, &has);
		v->band[b].has_nodata = c->has_nodata || has;
		v->band[b].nodata = c->has_nodata ? c->nodata : nd;
		v->band[b].interp = GDALGetRasterColorInterpretation(bh);
		if (v->band[b].interp == GCI_AlphaBand && v->alpha < 0)
			v->alpha = b;
		if (GDALGetDescription(bh) && *GDALGetDescription(bh) &&
		    (v->band[b].desc = arena_strdup(out->arena, GDALGetDescription(bh))) == NULL)
			return -1;
	}
	if (!type_supported(t0))
		return gp_fail(GP_EX_DATAERR, "'%s': %s pixels are not supported", path,
		               GDALGetDataTypeName(t0));
	v->type = t0;
	for (int b = 0; b < v->nbands; b++)
		if (v->band[b].has_nodata && !raster_value_fits(v->band[b].nodata, t0)) {
			if (c->has_nodata)
				return gp_fail(GP_EX_CONFIG, "step 'read': nodata %g is not a %s value of '%s'",
				               v->band[b].nodata, GDALGetDataTypeName(t0), path);
			v->band[b].has_nodata = false; /* unreachable value: no pixel is nodata */
		}
	v->width = GDALGetRasterXSize(ds);
	v->height = GDALGetRasterYSize(ds);
	v->has_gt = GDALGetGeoTransform(ds, v->gt) == CE_None;
	if (!v->has_gt) {
		v->gt[1] = 1;
		v->gt[5] = 1;
	}
	wkt = GDALGetProjectionRef(ds);
	v->crs = NULL;
	if (wkt && *wkt && (v->crs = arena_strdup(out->arena, wkt)) == NULL)
		return -1;
	GDALGetBlockSize(st->bandh[0], &bw, &bh);
	v->block_w = bw > 0 ? bw : 256;
	v->block_h = bh > 0 ? bh : 256;
	st->xoff = st->yoff = 0;
	if (c->has_bbox) {
		/* The pixels under bbox, widened to whole pixels; north-up only. */
		double x0, x1, y0, y1;
		int c0, c1, r0, r1;

		if (!v->has_gt || v->gt[2] != 0 || v->gt[4] != 0)
			return gp_fail(GP_EX_DATAERR,
			               "step 'read': 'bbox' needs a north-up georeferenced raster; '%s' "
			               "is not",
			               path);
		x0 = (c->bbox[0] - v->gt[0]) / v->gt[1];
		x1 = (c->bbox[2] - v->gt[0]) / v->gt[1];
		y0 = (c->bbox[3] - v->gt[3]) / v->gt[5];
		y1 = (c->bbox[1] - v->gt[3]) / v->gt[5];
		if (x0 > x1) {
			double t = x0;
			x0 = x1;
			x1 = t;
		}
		if (y0 > y1) {
			double t = y0;
			y0 = y1;
			y1 = t;
		}
		c0 = (int)fmax(0, floor(x0 + 1e-9));
		c1 = (int)fmin(v->width, ceil(x1 - 1e-9));
		r0 = (int)fmax(0, floor(y0 + 1e-9));
		r1 = (int)fmin(v->height, ceil(y1 - 1e-9));
		if (c1 <= c0 || r1 <= r0)
			return gp_fail(GP_EX_DATAERR, "step 'read': 'bbox' does not overlap '%s'", path);
		st->xoff = c0;
		st->yoff = r0;
		v->gt[0] += c0 * v->gt[1];
		v->gt[3] += r0 * v->gt[5];
		v->width = c1 - c0;
		v->height = r1 - r0;
	}
	out->raster = v;
	out->dataset_index = st->next;
	{
		GDALDriverH d = GDALGetDatasetDriver(ds);

		return fill_names(out, path, d ? GDALGetDriverShortName(d) : "");
	}
}

int raster_source_next_stream(struct stage *s, struct stream *out)
{
	struct rsrc_state *st = s->state;

	if (st->synth) {
		if (st->synth_done)
			return 0;
		st->synth_done = true;
		engine_dataset_opened(s->eng);
		return synth_stream(s, st, out) == 0 ? 1 : -1;
	}
	/* Another shard's, or up to date (--incremental): not even opened. */
	while (st->next < st->ninputs &&
	       ((st->mine && !st->mine[st->next]) || incr_skip(s->eng->incr, st->next)))
		st->next++;
	if (st->next >= st->ninputs)
		return 0;
	engine_dataset_opened(s->eng);
	if (gdal_stream(s, st, out) != 0) {
		close_current(st);
		return -1;
	}
	st->next++;
	return 1;
}

int raster_source_end(struct stage *s, struct stream *st_)
{
	struct rsrc_state *st = s->state;

	(void)st_;
	if (!st->synth)
		close_current(st);
	return 0;
}

int raster_source_close(struct stage *s, bool ok)
{
	struct rsrc_state *st = s->state;

	(void)ok;
	if (st && !st->synth)
		close_current(st);
	return 0;
}

/* The synthetic pattern: a smooth relief (separable sums of sines whose
 * phases come from the seed) plus a small hashed noise, so that warps and
 * resampling have something continuous to work on and every pixel is a pure
 * function of (column, row, band, seed): any window can be computed alone. */
static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

static void type_range(GDALDataType t, double *lo, double *hi)
{
	switch (t) {
	case GDT_Byte:
		*lo = 0, *hi = 255;
		break;
	case GDT_UInt16:
		*lo = 0, *hi = 65535;
		break;
	case GDT_Int16:
		*lo = -32768, *hi = 32767;
		break;
	case GDT_UInt32:
		*lo = 0, *hi = 4294967295.0;
		break;
	case GDT_Int32:
		*lo = -2147483648.0, *hi = 2147483647.0;
		break;
	default:
		*lo = -1e6, *hi = 1e6;
		break;
	}
}

static int synth_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct synth_raster_conf *r = &((struct read_conf *)s->step->conf)->synthetic.raster;
	struct rsrc_state *st = s->state;
	const struct rview *v = st->view;
	struct arena *a = raster_blocks(s);
	double *cols = arena_alloc(a, sizeof(double) * (size_t)w->w * 2, 0);
	double *rows = arena_alloc(a, sizeof(double) * (size_t)w->h * 2, 0);
	double *line = arena_alloc(a, sizeof(double) * (size_t)w->w, 0);
	size_t ts = raster_tsize(v->type), band_bytes = (size_t)w->w * w->h * ts;
	double lo, hi, mid, amp, noise;

	if (cols == NULL || rows == NULL || line == NULL)
		return -1;
	type_range(v->type, &lo, &hi);
	/* Values spread over a quarter of the type's range around its middle,
	 * avoiding the ends where nodata values usually sit. */
	mid = (lo + hi) / 2;
	amp = (hi - lo) / 8;
	if (amp > 1000 && v->type != GDT_Byte)
		amp = 1000;
	noise = amp / 50;
	for (int b = 0; b < v->nbands; b++) {
		uint32_t seed = mix((uint32_t)r->seed * 2654435761U + (uint32_t)b * 97U);
		double ph[4];
		char *out = (char *)buf + (size_t)b * band_bytes;

		for (int k = 0; k < 4; k++)
			ph[k] = (double)(mix(seed + (uint32_t)k) % 6283) / 1000.0;
		for (int i = 0; i < w->w; i++) {
			double x = (double)(w->x + i);

			cols[i] = sin(x / 700.0 + ph[0]) + 0.5 * sin(x / 173.0 + ph[1]);
			cols[w->w + i] = cos(x / 311.0 + ph[2]);
		}
		for (int j = 0; j < w->h; j++) {
			double y = (double)(w->y + j);

			rows[j] = sin(y / 650.0 + ph[3]) + 0.5 * cos(y / 191.0 + ph[0]);
			rows[w->h + j] = sin(y / 257.0 + ph[1]);
		}
		for (int j = 0; j < w->h; j++) {
			uint32_t ry = mix((uint32_t)(w->y + j) ^ seed) * 0x9E3779B1U;

			for (int i = 0; i < w->w; i++) {
				double val = cols[i] + rows[j] + cols[w->w + i] * rows[w->h + j];
				uint32_t h = mix(ry ^ (uint32_t)(w->x + i));

				val = mid + amp * val / 2.5 + noise * ((double)(h & 0xffff) / 65535.0 - 0.5);
				if (r->has_nodata && fabs(val - r->nodata) < 0.5)
					val += 1; /* the pattern never produces nodata */
				line[i] = val;
			}
			raster_from_double(line, (size_t)w->w, v->type, out + (size_t)j * w->w * ts);
		}
	}
	return 0;
}

int raster_source_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct rsrc_state *st = s->state;
	const struct rview *v = st->view;
	int bands[64];
	size_t ts;
	CPLErr err;

	if (st->synth)
		return synth_pull(s, w, buf);
	ts = raster_tsize(v->type);
	for (int b = 0; b < v->nbands; b += 64) {
		int n = v->nbands - b < 64 ? v->nbands - b : 64;

		for (int k = 0; k < n; k++)
			bands[k] = st->nbands ? st->bands[b + k] : b + k + 1;
		CPLErrorReset();
		err = GDALDatasetRasterIO(st->dsh, GF_Read, st->xoff + w->x, st->yoff + w->y, w->w, w->h,
		                          (char *)buf + (size_t)b * w->w * w->h * ts, w->w, w->h,
		                          v->type, n, bands, 0, 0, 0);
		if (err != CE_None)
			return gp_fail(GP_EX_DATAERR, "cannot read pixels %d,%d %dx%d of '%s': %s",
			               st->xoff + w->x, st->yoff + w->y, w->w, w->h,
			               st->inputs[st->next ? st->next - 1 : 0], CPLGetLastErrorMsg());
	}
	return 0;
}

/* explain --shard: the rasters of the shard, whole. */
static void explain_shard(const struct rsrc_state *st, const struct engine *e, FILE *out)
{
	if (e->opts->shard_count == 0 || st == NULL)
		return;
	fprintf(out, "  shard %d/%d: whole rasters, shared out by size (largest first to the "
	             "least loaded shard)%s\n",
	        e->opts->shard_index, e->opts->shard_count,
	        st->synth ? "; the synthetic one is shard 0's" : "");
	for (size_t i = 0; i < st->ninputs; i++)
		if (st->mine == NULL || st->mine[i])
			fprintf(out, "    %s\n", st->inputs[i]);
}

void raster_source_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct read_conf *c = s->step->conf;

	if (c->has_synthetic) {
		explain_shard(s->state, e, out);
		struct synth_raster_conf *r = &c->synthetic.raster;

		fprintf(out, "  synthetic raster %" PRId64 " x %" PRId64 ", %" PRId64 " band(s) of %s, "
		             "block %gx%g, %s\n",
		        r->width, r->height, r->bands, GDALGetDataTypeName(r->type), r->block[0],
		        r->block[1], r->crs);
		return;
	}
	for (size_t i = 0; i < c->path.n; i++)
		fprintf(out, "  input: %s\n", c->path.v[i]);
	explain_shard(s->state, e, out);
}

void raster_source_explain_memory(struct stage *s, struct engine *e, FILE *out)
{
	(void)s;
	fprintf(out, "  memory: windows of the blocks the sink asks for, read through GDAL's block "
	             "cache (%.1f MiB)\n",
	        (double)e->plan.gdal_cache / (1024.0 * 1024.0));
}

static int rread_check(struct step *s, struct pipeline *pl)
{
	if (read_check_inputs(s, pl) != 0)
		return -1;
	return raster_source_check(s, pl);
}

static const struct raster_ops rread_ops = {
	.next_stream = raster_source_next_stream,
	.end = raster_source_end,
	.pull = raster_source_pull,
};

/* The same 'read' to the user as vector/read.c's: its options and help. */
const struct step_desc step_raster_read = {
	.name = "read",
	.summary = read_summary,
	.role = STEP_SOURCE,
	.opts = read_opts,
	.conf_size = sizeof(struct read_conf),
	.details = read_details,
	.state_size = sizeof(struct rsrc_state),
	.check = rread_check,
	.open = raster_source_open,
	.close = raster_source_close,
	.explain = raster_source_explain,
	.explain_memory = raster_source_explain_memory,
	.ras = &rread_ops,
};
