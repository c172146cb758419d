/* raster/clip.c - the raster clip step: crop a raster to a bbox, or to a
 * cutline made of the polygons of a vector dataset, on the input's own
 * pixel grid (no resampling).
 *
 * The cutline is read once, when the step opens, and kept in the step's
 * arena; each stream gets a copy transformed to its raster's CRS when that
 * differs.  Pixels outside the cutline are masked window by window: the
 * polygons under a window are rasterized into a Byte mask of that window
 * alone (pixel centres, like gdalwarp -cutline), so what the step holds
 * does not grow with the raster. */
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal_alg.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/handle.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "raster/raster.h"
#include "core/step.h"
#include "config/yaml_load.h"

struct rclip_conf {
	double bbox[4];
	const char *bbox_crs;
	const char *by;
	const char *layer;
	const char *where;
	bool all_touched;
	double nodata;
	bool has_bbox, has_nodata;
};

static const struct opt_desc rclip_opts[] = {
	{"bbox", OPT_BBOX, offsetof(struct rclip_conf, bbox), 0,
	 "crop to the pixels under [xmin, ymin, xmax, ymax], widened to whole pixels", NULL, NULL,
	 NULL, offsetof(struct rclip_conf, has_bbox), -1e15, 1e15},
	{"bbox_crs", OPT_STRING, offsetof(struct rclip_conf, bbox_crs), 0,
	 "CRS of 'bbox' (x = easting or longitude), transformed to the raster's",
	 "the raster's CRS", NULL, NULL, 0, 0, 0},
	{"by", OPT_STRING, offsetof(struct rclip_conf, by), 0,
	 "cutline: crop to the polygons of this dataset and mask the pixels outside them", NULL,
	 NULL, NULL, 0, 0, 0},
	{"layer", OPT_STRING, offsetof(struct rclip_conf, layer), 0, "layer of 'by'", "the first",
	 NULL, NULL, 0, 0, 0},
	{"where", OPT_STRING, offsetof(struct rclip_conf, where), 0,
	 "OGR SQL attribute filter on the features of 'by'", NULL, NULL, NULL, 0, 0, 0},
	{"all_touched", OPT_BOOL, offsetof(struct rclip_conf, all_touched), 0,
	 "keep every pixel the cutline touches, not only those whose centre it covers", "false",
	 NULL, NULL, 0, 0, 0},
	{"nodata", OPT_DOUBLE, offsetof(struct rclip_conf, nodata), 0,
	 "value of masked pixels in bands without nodata (declared as their nodata)",
	 "0, declared (not declared when there is an alpha band)", NULL, NULL,
	 offsetof(struct rclip_conf, has_nodata), -DBL_MAX, DBL_MAX},
	{0},
};

struct rclip_state {
	/* The cutline as read: a collection of single polygons, in the CRS of
	 * its layer (NULL when the layer has none), in the step's arena. */
	OGRGeometryH cutline;
	size_t npolys;
	OGRSpatialReferenceH cut_srs;

	/* Per stream, in `sa` (reset at every begin and end). */
	struct arena *sa;
	OGRGeometryH polys;  /* the cutline in the raster's CRS */
	OGREnvelope *env;    /* envelope of each polygon of `polys` */
	struct rview *view;  /* the view produced */
	int xoff, yoff;      /* its first pixel in the view received */
	unsigned char *fill; /* a masked pixel, band by band (type-sized values) */
};

static int rclip_check(struct step *s, struct pipeline *pl)
{
	struct rclip_conf *c = s->conf;
	static const char *const by_only[] = {"layer", "where", "all_touched", "nodata", NULL};

	if (c->has_bbox == (c->by != NULL))
		return ydoc_fail(pl->doc, s->node, "step 'clip' takes 'bbox' or 'by', one of them");
	if (c->bbox_crs && !c->has_bbox)
		return ydoc_fail(pl->doc, ynode_get(s->node, "bbox_crs"),
		                 "'bbox_crs' goes with 'bbox'");
	for (const char *const *k = by_only; *k; k++)
		if (c->by == NULL && ynode_get(s->node, *k))
			return ydoc_fail(pl->doc, ynode_get(s->node, *k), "'%s' goes with 'by'",
			                 *k);
	if (c->by && *c->by == '\0')
		return ydoc_fail(pl->doc, ynode_get(s->node, "by"), "empty path in 'by'");
	if (c->bbox_crs) {
		OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
		bool ok = srs && OSRSetFromUserInput(srs, c->bbox_crs) == OGRERR_NONE;

		if (srs)
			OSRRelease(srs);
		if (!ok)
			return ydoc_fail(pl->doc, ynode_get(s->node, "bbox_crs"),
			                 "unknown CRS '%s' in step '%s'", c->bbox_crs, s->label);
	}
	return 0;
}

/* A CRS from text (WKT, "EPSG:n", PROJ...), axes in x/y order, owned by
 * `a` as a handle of `stage`.  NULL with the error set. */
static OGRSpatialReferenceH srs_from(struct arena *a, struct stage_acct *stage, const char *text,
                                     const char *what)
{
	OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);

	if (srs == NULL) {
		gp_fail(GP_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	if (handle_own(a, stage, HANDLE_OGR_SRS, srs, NULL) == NULL)
		return NULL;
	if (OSRSetFromUserInput(srs, text) != OGRERR_NONE) {
		gp_fail(GP_EX_DATAERR, "cannot read %s '%s'", what, text);
		return NULL;
	}
	OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
	return srs;
}

/* Add the polygons of `g` to `coll` as single polygons (copies): a
 * multipolygon's parts are burned one by one, so that overlapping parts
 * add up instead of cancelling out under the rasterizer's even-odd rule.
 * Curves are approximated; lines and points are not a cutline. */
static void add_polygons(OGRGeometryH coll, OGRGeometryH g, size_t *n)
{
	OGRwkbGeometryType t;

	if (g == NULL || OGR_G_IsEmpty(g))
		return;
	t = wkbFlatten(OGR_G_GetGeometryType(g));
	if (t == wkbPolygon) {
		if (OGR_G_AddGeometry(coll, g) == OGRERR_NONE)
			(*n)++;
	} else if (t == wkbCurvePolygon || t == wkbMultiSurface || t == wkbTriangle ||
	           t == wkbPolyhedralSurface || t == wkbTIN) {
		/* Not for the rasterizer as they are: as (multi)polygons. */
		OGRGeometryH lin = OGR_G_ForceTo(OGR_G_Clone(g), wkbMultiPolygon, NULL);

		if (lin && wkbFlatten(OGR_G_GetGeometryType(lin)) == wkbMultiPolygon)
			add_polygons(coll, lin, n);
		if (lin)
			OGR_G_DestroyGeometry(lin);
	} else if (OGR_GT_IsSubClassOf(t, wkbGeometryCollection)) {
		for (int i = 0; i < OGR_G_GetGeometryCount(g); i++)
			add_polygons(coll, OGR_G_GetGeometryRef(g, i), n);
	}
}

/* Read the cutline's polygons into the step's arena.  66 when the dataset
 * or its layer cannot be opened, 65 when it has no polygons. */
static int load_cutline(struct stage *s, struct rclip_state *st)
{
	struct rclip_conf *c = s->step->conf;
	struct arena *tmp = arena_create(&s->acct.mem, 0);
	struct handle *coll;
	GDALDatasetH ds;
	OGRLayerH lyr;
	OGRFeatureH f;
	int r = -1;

	if (tmp == NULL)
		return -1;
	coll = handle_own(s->arena, &s->acct, HANDLE_OGR_GEOMETRY,
	                  OGR_G_CreateGeometry(wkbGeometryCollection), NULL);
	if (coll == NULL)
		goto out;
	st->cutline = coll->ptr;
	CPLErrorReset();
	ds = GDALOpenEx(c->by, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
	if (ds == NULL) {
		gp_fail(GP_EX_NOINPUT, "step '%s': cannot open '%s': %s", s->step->label, c->by,
		        *CPLGetLastErrorMsg() ? CPLGetLastErrorMsg() : "not a vector dataset");
		goto out;
	}
	/* The dataset is read once and closed with `tmp`. */
	if (handle_own(tmp, &s->acct, HANDLE_GDAL_DATASET, ds, NULL) == NULL)
		goto out;
	lyr = c->layer ? GDALDatasetGetLayerByName(ds, c->layer) : GDALDatasetGetLayer(ds, 0);
	if (lyr == NULL) {
		if (c->layer)
			gp_fail(GP_EX_NOINPUT, "step '%s': no layer '%s' in '%s'", s->step->label,
			        c->layer, c->by);
		else
			gp_fail(GP_EX_NOINPUT, "step '%s': '%s' has no vector layer",
			        s->step->label, c->by);
		goto out;
	}
	if (c->where && OGR_L_SetAttributeFilter(lyr, c->where) != OGRERR_NONE) {
		gp_fail(GP_EX_CONFIG, "step '%s': bad 'where' for layer '%s' of '%s': %s",
		        s->step->label, OGR_L_GetName(lyr), c->by, CPLGetLastErrorMsg());
		goto out;
	}
	if (OGR_L_GetSpatialRef(lyr)) {
		OGRSpatialReferenceH srs = OSRClone(OGR_L_GetSpatialRef(lyr));

		if (srs == NULL) {
			gp_fail(GP_EX_SOFTWARE, "step '%s': cannot copy the CRS of '%s'",
			        s->step->label, c->by);
			goto out;
		}
		if (handle_own(s->arena, &s->acct, HANDLE_OGR_SRS, srs, NULL) == NULL)
			goto out; /* released by handle_own, error set */
		OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
		st->cut_srs = srs;
	}
	OGR_L_ResetReading(lyr);
	for (;;) {
		struct arena_mark m = arena_mark(tmp);
		struct handle *fh;

		CPLErrorReset();
		f = OGR_L_GetNextFeature(lyr);
		if (f == NULL)
			break;
		fh = handle_own(tmp, &s->acct, HANDLE_OGR_FEATURE, f, NULL);
		if (fh == NULL)
			goto out;
		add_polygons(st->cutline, OGR_F_GetGeometryRef(f), &st->npolys);
		arena_rewind(tmp, m);
	}
	if (CPLGetLastErrorType() == CE_Failure) {
		gp_fail(GP_EX_DATAERR, "step '%s': cannot read '%s': %s", s->step->label, c->by,
		        CPLGetLastErrorMsg());
		goto out;
	}
	if (st->npolys == 0) {
		gp_fail(GP_EX_DATAERR, "step '%s': '%s' has no polygons%s%s%s to clip by",
		        s->step->label, c->by, c->where ? " where '" : "", c->where ? c->where : "",
		        c->where ? "'" : "");
		goto out;
	}
	r = 0;
out:
	arena_destroy(tmp);
	return r;
}

static int rclip_open(struct stage *s, struct engine *e)
{
	struct rclip_conf *c = s->step->conf;
	struct rclip_state *st = s->state;

	(void)e;
	st->sa = arena_create(&s->acct.mem, 0);
	if (st->sa == NULL || arena_defer_destroy(s->arena, st->sa) != 0)
		return -1;
	return c->by ? load_cutline(s, st) : 0;
}

/* The window of pixels of `v` under the extent [x0, y0, x1, y1]: every
 * pixel it touches (`touched`), or every pixel whose centre it covers.
 * Returns false when there is none. */
static bool pixels_under(const struct rview *v, const double ext[4], bool touched, struct rwin *w)
{
	/* A coordinate this close to a pixel edge (or centre) is on it: the
	 * extent may come back from a transformation with rounding noise. */
	const double eps = 1e-8;
	double inv[6], px0 = HUGE_VAL, px1 = -HUGE_VAL, py0 = HUGE_VAL, py1 = -HUGE_VAL;
	double c0, c1, r0, r1;

	if (!GDALInvGeoTransform((double *)v->gt, inv))
		return false;
	for (int k = 0; k < 4; k++) {
		double x = ext[k & 1 ? 2 : 0], y = ext[k & 2 ? 3 : 1];
		double px = inv[0] + x * inv[1] + y * inv[2], py = inv[3] + x * inv[4] + y * inv[5];

		px0 = fmin(px0, px), px1 = fmax(px1, px);
		py0 = fmin(py0, py), py1 = fmax(py1, py);
	}
	if (touched) {
		c0 = floor(px0 + eps), c1 = ceil(px1 - eps);
		r0 = floor(py0 + eps), r1 = ceil(py1 - eps);
	} else {
		c0 = ceil(px0 - 0.5 - eps), c1 = floor(px1 - 0.5 + eps) + 1;
		r0 = ceil(py0 - 0.5 - eps), r1 = floor(py1 - 0.5 + eps) + 1;
	}
	c0 = fmax(c0, 0), r0 = fmax(r0, 0);
	c1 = fmin(c1, v->width), r1 = fmin(r1, v->height);
	if (!(c1 > c0 && r1 > r0))
		return false;
	*w = (struct rwin){(int)c0, (int)r0, (int)(c1 - c0), (int)(r1 - r0)};
	return true;
}

static void extent_of(const struct rview *v, double ext[4])
{
	double xs[2] = {v->gt[0], v->gt[0] + v->width * v->gt[1] + v->height * v->gt[2]};
	double ys[2] = {v->gt[3], v->gt[3] + v->width * v->gt[4] + v->height * v->gt[5]};

	ext[0] = fmin(xs[0], xs[1]), ext[2] = fmax(xs[0], xs[1]);
	ext[1] = fmin(ys[0], ys[1]), ext[3] = fmax(ys[0], ys[1]);
}

/* The bbox in the raster's CRS. */
static int bbox_in_raster_crs(struct stage *s, const struct rview *v, double out[4])
{
	struct rclip_conf *c = s->step->conf;
	struct rclip_state *st = s->state;
	OGRSpatialReferenceH from, to;
	OGRCoordinateTransformationH ct;
	struct handle *h;
	int ok;

	memcpy(out, c->bbox, sizeof c->bbox);
	if (c->bbox_crs == NULL)
		return 0;
	if (v->crs == NULL)
		return gp_fail(
		        GP_EX_DATAERR,
		        "step '%s': 'bbox_crs' is %s, and the raster has no CRS to transform "
		        "the bbox to",
		        s->step->label, c->bbox_crs);
	if ((from = srs_from(st->sa, &s->acct, c->bbox_crs, "'bbox_crs'")) == NULL ||
	    (to = srs_from(st->sa, &s->acct, v->crs, "the raster's CRS")) == NULL)
		return gp_fail_prefix("step '%s'", s->step->label);
	if (OSRIsSame(from, to))
		return 0;
	CPLErrorReset();
	ct = OCTNewCoordinateTransformation(from, to);
	if (ct == NULL)
		return gp_fail(GP_EX_DATAERR,
		               "step '%s': cannot transform from %s to the raster's CRS: %s",
		               s->step->label, c->bbox_crs, CPLGetLastErrorMsg());
	if ((h = handle_own(st->sa, &s->acct, HANDLE_OGR_TRANSFORM, ct, NULL)) == NULL)
		return -1;
	/* Densified edges: a box is not a box in another CRS. */
	ok = OCTTransformBounds(ct, c->bbox[0], c->bbox[1], c->bbox[2], c->bbox[3], &out[0],
	                        &out[1], &out[2], &out[3], 21);
	handle_release(h);
	if (!ok)
		return gp_fail(GP_EX_DATAERR,
		               "step '%s': the bbox does not transform from %s to the "
		               "raster's CRS",
		               s->step->label, c->bbox_crs);
	return 0;
}

/* The cutline in the raster's CRS, with each polygon's envelope, into
 * st->polys and st->env; `ext` gets their envelope. */
static int cutline_for(struct stage *s, const struct rview *v, double ext[4])
{
	struct rclip_conf *c = s->step->conf;
	struct rclip_state *st = s->state;
	OGREnvelope all = {0};

	st->polys = st->cutline;
	if (st->cut_srs && v->crs == NULL)
		return gp_fail(GP_EX_DATAERR,
		               "step '%s': the raster has no CRS, and the cutline '%s' has one: "
		               "where its polygons fall on the raster is unknown",
		               s->step->label, c->by);
	if (st->cut_srs) {
		OGRSpatialReferenceH to = srs_from(st->sa, &s->acct, v->crs, "the raster's CRS");
		OGRCoordinateTransformationH ct;
		struct handle *ch, *gh;
		OGRErr err;

		if (to == NULL)
			return gp_fail_prefix("step '%s'", s->step->label);
		if (!OSRIsSame(st->cut_srs, to)) {
			CPLErrorReset();
			ct = OCTNewCoordinateTransformation(st->cut_srs, to);
			if (ct == NULL)
				return gp_fail(
				        GP_EX_DATAERR,
				        "step '%s': cannot transform '%s' to the raster's CRS: %s",
				        s->step->label, c->by, CPLGetLastErrorMsg());
			if ((ch = handle_own(st->sa, &s->acct, HANDLE_OGR_TRANSFORM, ct, NULL)) ==
			    NULL)
				return -1;
			gh = handle_own(st->sa, &s->acct, HANDLE_OGR_GEOMETRY,
			                OGR_G_Clone(st->cutline), NULL);
			if (gh == NULL)
				return -1;
			CPLErrorReset();
			err = OGR_G_Transform(gh->ptr, ct);
			handle_release(ch);
			if (err != OGRERR_NONE)
				return gp_fail(
				        GP_EX_DATAERR,
				        "step '%s': cannot transform the polygons of '%s' to the "
				        "raster's CRS%s%s",
				        s->step->label, c->by, *CPLGetLastErrorMsg() ? ": " : "",
				        CPLGetLastErrorMsg());
			st->polys = gh->ptr;
		}
	}
	st->env = arena_calloc(st->sa, st->npolys, sizeof *st->env);
	if (st->env == NULL)
		return -1;
	for (size_t i = 0; i < st->npolys; i++) {
		OGR_G_GetEnvelope(OGR_G_GetGeometryRef(st->polys, (int)i), &st->env[i]);
		if (i == 0)
			all = st->env[i];
		all.MinX = fmin(all.MinX, st->env[i].MinX),
		all.MaxX = fmax(all.MaxX, st->env[i].MaxX);
		all.MinY = fmin(all.MinY, st->env[i].MinY),
		all.MaxY = fmax(all.MaxY, st->env[i].MaxY);
	}
	ext[0] = all.MinX, ext[1] = all.MinY, ext[2] = all.MaxX, ext[3] = all.MaxY;
	return 0;
}

/* What a masked pixel gets, band by band; bands without nodata get one
 * (see .details), which the view then declares. */
static int fill_values(struct stage *s, struct rview *v)
{
	struct rclip_conf *c = s->step->conf;
	struct rclip_state *st = s->state;
	size_t ts = raster_tsize(v->type);

	st->fill = arena_alloc(st->sa, (size_t)v->nbands * ts, 0);
	if (st->fill == NULL)
		return -1;
	for (int b = 0; b < v->nbands; b++) {
		struct rband *bd = &v->band[b];
		double val = 0;

		if (b == v->alpha) {
			val = 0; /* transparent */
		} else if (bd->has_nodata) {
			val = bd->nodata;
		} else if (c->has_nodata) {
			if (!raster_value_fits(c->nodata, v->type))
				return gp_fail(
				        GP_EX_CONFIG, "step '%s': nodata %g is not a %s value",
				        s->step->label, c->nodata, GDALGetDataTypeName(v->type));
			val = bd->nodata = c->nodata;
			bd->has_nodata = true;
		} else if (v->alpha < 0) {
			/* 0, declared: without it a masked pixel would read as data. */
			bd->nodata = 0;
			bd->has_nodata = true;
		}
		raster_from_double(&val, 1, v->type, st->fill + (size_t)b * ts);
	}
	return 0;
}

static int rclip_begin(struct stage *s, struct stream *stm)
{
	struct rclip_conf *c = s->step->conf;
	struct rclip_state *st = s->state;
	struct rview *v = stm->raster;
	double ext[4], rext[4];
	struct rwin w;

	arena_reset(st->sa);
	st->view = NULL;
	if (!v->has_gt)
		return gp_fail(GP_EX_DATAERR, "step '%s': '%s' has no geotransform to clip by",
		               s->step->label, stm->path);
	if (c->by ? cutline_for(s, v, ext) != 0 : bbox_in_raster_crs(s, v, ext) != 0)
		return -1;
	if (!pixels_under(v, ext, c->by == NULL || c->all_touched, &w)) {
		extent_of(v, rext);
		if (c->by)
			return gp_fail(
			        GP_EX_DATAERR,
			        "step '%s': the cutline '%s' (extent %.17g %.17g %.17g %.17g) "
			        "covers no pixel of '%s' (extent %.17g %.17g %.17g %.17g)",
			        s->step->label, c->by, ext[0], ext[1], ext[2], ext[3], stm->path,
			        rext[0], rext[1], rext[2], rext[3]);
		return gp_fail(
		        GP_EX_DATAERR,
		        "step '%s': the bbox [%.17g, %.17g, %.17g, %.17g] covers no pixel of "
		        "'%s' (extent %.17g %.17g %.17g %.17g)",
		        s->step->label, ext[0], ext[1], ext[2], ext[3], stm->path, rext[0], rext[1],
		        rext[2], rext[3]);
	}
	st->xoff = w.x;
	st->yoff = w.y;
	v->gt[0] += w.x * v->gt[1] + w.y * v->gt[2];
	v->gt[3] += w.x * v->gt[4] + w.y * v->gt[5];
	v->width = w.w;
	v->height = w.h;
	if (c->by && fill_values(s, v) != 0)
		return -1;
	st->view = raster_view_dup(st->sa, v);
	return st->view ? 0 : -1;
}

/* Rasterize the polygons under window `w` of the produced view into a Byte
 * mask (1: kept) from the block arena; *kept: how many pixels are 1. */
static int window_mask(struct stage *s, const struct rwin *w, unsigned char **mask, size_t *kept)
{
	struct rclip_conf *c = s->step->conf;
	struct rclip_state *st = s->state;
	struct arena *a = raster_blocks(s);
	const struct rview *v = st->view;
	size_t npx = (size_t)w->w * (size_t)w->h, n = 0;
	struct rband band = {.interp = GCI_GrayIndex};
	struct rview mv = {.width = v->width,
	                   .height = v->height,
	                   .nbands = 1,
	                   .type = GDT_Byte,
	                   .has_gt = true,
	                   .band = &band,
	                   .alpha = -1};
	struct rview wv = *v;
	OGRGeometryH *under;
	double ext[4], *burn;
	int one = 1;
	char **opts = NULL;
	GDALDatasetH ds;
	CPLErr err;

	*kept = 0;
	*mask = arena_calloc(a, npx, 1);
	under = arena_alloc(a, st->npolys * sizeof *under, 0);
	if (*mask == NULL || under == NULL)
		return -1;
	/* Only the polygons whose envelope meets the window are burned. */
	wv.gt[0] += w->x * v->gt[1] + w->y * v->gt[2];
	wv.gt[3] += w->x * v->gt[4] + w->y * v->gt[5];
	wv.width = w->w;
	wv.height = w->h;
	extent_of(&wv, ext);
	for (size_t i = 0; i < st->npolys; i++)
		if (st->env[i].MaxX >= ext[0] && st->env[i].MinX <= ext[2] &&
		    st->env[i].MaxY >= ext[1] && st->env[i].MinY <= ext[3])
			under[n++] = OGR_G_GetGeometryRef(st->polys, (int)i);
	if (n == 0)
		return 0;
	/* A burn value per geometry (and band), all 1. */
	if ((burn = arena_alloc(a, n * sizeof *burn, 0)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		burn[i] = 1;
	memcpy(mv.gt, v->gt, sizeof mv.gt);
	ds = raster_mem_dataset(s, a, &mv, w, *mask, (size_t)w->w, npx);
	if (ds == NULL)
		return -1;
	if (c->all_touched)
		opts = CSLSetNameValue(opts, "ALL_TOUCHED", "TRUE");
	CPLErrorReset();
	err = GDALRasterizeGeometries(ds, 1, &one, (int)n, under, NULL, NULL, burn, opts, NULL,
	                              NULL);
	CSLDestroy(opts);
	if (err != CE_None)
		return gp_fail(GP_EX_SOFTWARE, "step '%s': cannot rasterize the cutline: %s",
		               s->step->label, CPLGetLastErrorMsg());
	for (size_t p = 0; p < npx; p++)
		*kept += (*mask)[p];
	return 0;
}

static int rclip_pull(struct stage *s, const struct rwin *w, void *buf)
{
	struct rclip_state *st = s->state;
	const struct rview *v = st->view;
	struct rwin in = {w->x + st->xoff, w->y + st->yoff, w->w, w->h};
	size_t npx = (size_t)w->w * (size_t)w->h, ts = raster_tsize(v->type);
	unsigned char *mask;
	size_t kept;

	if (((struct rclip_conf *)s->step->conf)->by == NULL)
		return raster_pull_upstream(s, &in, buf);
	if (window_mask(s, w, &mask, &kept) != 0)
		return -1;
	/* A window wholly outside the cutline needs nothing from upstream. */
	if (kept > 0 && raster_pull_upstream(s, &in, buf) != 0)
		return -1;
	if (kept == npx)
		return 0;
	for (int b = 0; b < v->nbands; b++) {
		unsigned char *px = (unsigned char *)buf + (size_t)b * npx * ts;
		const unsigned char *f = st->fill + (size_t)b * ts;

		for (size_t p = 0; p < npx; p++)
			if (!mask[p])
				memcpy(px + p * ts, f, ts);
	}
	return 0;
}

static int rclip_end(struct stage *s, struct stream *stm)
{
	struct rclip_state *st = s->state;

	(void)stm;
	st->view = NULL;
	st->polys = NULL;
	st->env = NULL;
	arena_reset(st->sa);
	return 0;
}

static void rclip_explain(struct stage *s, struct engine *e, FILE *out)
{
	struct rclip_conf *c = s->step->conf;
	struct rclip_state *st = s->state;

	(void)e;
	if (c->by && st)
		fprintf(out,
		        "  cutline: %zu polygon%s from '%s'%s%s%s, kept in the stage arena; "
		        "masks one window at a time\n",
		        st->npolys, st->npolys == 1 ? "" : "s", c->by, c->where ? " where " : "",
		        c->where ? c->where : "", c->all_touched ? ", all touched pixels" : "");
	else if (c->has_bbox)
		fprintf(out, "  bbox: [%.17g, %.17g, %.17g, %.17g]%s%s\n", c->bbox[0], c->bbox[1],
		        c->bbox[2], c->bbox[3], c->bbox_crs ? " in " : "",
		        c->bbox_crs ? c->bbox_crs : "");
}

static const struct raster_ops raster_clip_ops = {
	.begin = rclip_begin,
	.end = rclip_end,
	.pull = rclip_pull,
};

const struct step_desc step_raster_clip = {
        .name = "clip",
        .summary = "crop a raster to a bbox, or to a polygon cutline with the pixels outside it "
                   "masked",
        .role = STEP_TRANSFORM,
        .opts = rclip_opts,
        .conf_size = sizeof(struct rclip_conf),
        .details = "The output keeps the input's pixel grid (no resampling).  With 'bbox', it\n"
                   "is the pixels the bbox touches, within the raster.  With 'by', it is the\n"
                   "pixels whose centre lies in the envelope of the cutline (the polygons of\n"
                   "the dataset, after 'where', transformed to the raster's CRS when theirs\n"
                   "differs; a dataset without a CRS is taken to be in the raster's), and the\n"
                   "pixels whose centre is outside every polygon are masked, as with gdalwarp\n"
                   "-cutline -crop_to_cutline (which crops inward to whole pixels and can drop\n"
                   "an edge pixel whose centre is inside).  all_touched: every pixel the\n"
                   "polygons touch is kept, and the crop grows to match.  Masked pixels get\n"
                   "the band's nodata; a band without one gets 'nodata', or 0, declared as\n"
                   "its nodata.  With an alpha band, masked pixels get alpha 0, and bands\n"
                   "without nodata get 'nodata' (declared) or 0 (not declared: the alpha band\n"
                   "is the mask).  A bbox or cutline that covers no pixel is an error (65).",
        .check = rclip_check,
        .state_size = sizeof(struct rclip_state),
        .open = rclip_open,
        .explain = rclip_explain,
        .ras = &raster_clip_ops,
};
