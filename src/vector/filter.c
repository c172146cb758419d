/* vector/filter.c - keep features by an attribute expression and/or a bbox. */
#include <stdio.h>
#include <string.h>

#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>

#include "core/arena.h"
#include "core/step.h"
#include "core/error.h"
#include "core/engine.h"
#include "vector/geos.h"
#include "core/handle.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "vector/wkb.h"
#include "config/yaml_load.h"
#include "vector/mask.h"
#include "vector/source.h"
#include "vector/batch.h"

struct filter_conf {
	const char *where;
	double bbox[4];
	const char *intersects;
	const char *intersects_layer;
	bool valid;
	bool has_bbox, has_valid;
};

static const struct opt_desc filter_opts[] = {
	{"where", OPT_STRING, offsetof(struct filter_conf, where), 0,
	 "OGR SQL expression on the fields as they are at this step", NULL, NULL, NULL, 0, 0, 0},
	{"bbox", OPT_BBOX, offsetof(struct filter_conf, bbox), 0,
	 "keep features intersecting [xmin, ymin, xmax, ymax], in the CRS at this step", NULL,
	 NULL, NULL, offsetof(struct filter_conf, has_bbox), -1e15, 1e15},
	{"intersects", OPT_STRING, offsetof(struct filter_conf, intersects), 0,
	 "keep features intersecting the polygons of this dataset (prepared, in the "
	 "features' CRS)",
	 NULL, NULL, NULL, 0, 0, 0},
	{"intersects_layer", OPT_STRING, offsetof(struct filter_conf, intersects_layer), 0,
	 "layer of 'intersects'", "the first", NULL, NULL, 0, 0, 0},
	{"valid", OPT_BOOL, offsetof(struct filter_conf, valid), 0,
	 "true: keep valid geometries only; false: keep invalid ones only (GEOS)", NULL, NULL,
	 NULL, offsetof(struct filter_conf, has_valid), 0, 0},
	{0},
};

/* The expression is evaluated by OGR itself: each batch is loaded into a
 * memory layer carrying the attribute filter, and what comes out is kept. */
struct filter_state {
	GDALDatasetH mem;          /* handle owned by the stream arena */
	OGRLayerH lyr;
	int *map;                  /* source field index -> memory layer field */
	int nsrc;
	OGRGeometryH box;
	struct geos *geos;
	struct mask mask;
	struct gdal_errs errs; /* around the evaluation of where */
};

static int filter_check(struct step *s, struct pipeline *pl)
{
	struct filter_conf *c = s->conf;

	if (c->where == NULL && !c->has_bbox && c->intersects == NULL && !c->has_valid)
		return ydoc_fail(pl->doc, s->node,
		                 "step 'filter' needs 'where', 'bbox', 'intersects' or 'valid'");
	if (c->intersects_layer && c->intersects == NULL)
		return ydoc_fail(pl->doc, ynode_get(s->node, "intersects_layer"),
		                 "'intersects_layer' goes with 'intersects'");
	return 0;
}

static int filter_open(struct stage *s, struct engine *e)
{
	struct filter_conf *c = s->step->conf;
	struct filter_state *st = s->state;

	st->geos = s->geos;
	st->errs.quiet = e->opts->quiet;
	if (c->intersects &&
	    mask_init(&st->mask, s->arena, &s->acct, s->geos, c->intersects, c->intersects_layer))
		return -1;
	if (c->has_bbox && (c->bbox[0] == c->bbox[2] || c->bbox[1] == c->bbox[3])) {
		/* A box of no area is a point or a segment: as a polygon it would
		 * be degenerate, and GEOS finds it intersects nothing. */
		st->box = OGR_G_CreateGeometry(c->bbox[0] == c->bbox[2] && c->bbox[1] == c->bbox[3]
		                                       ? wkbPoint
		                                       : wkbLineString);
		OGR_G_AddPoint_2D(st->box, c->bbox[0], c->bbox[1]);
		if (OGR_G_GetGeometryType(st->box) == wkbLineString)
			OGR_G_AddPoint_2D(st->box, c->bbox[2], c->bbox[3]);
		if (handle_own(s->arena, &s->acct, HANDLE_OGR_GEOMETRY, st->box, NULL) == NULL)
			return -1;
	} else if (c->has_bbox) {
		OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);

		st->box = OGR_G_CreateGeometry(wkbPolygon);
		OGR_G_AddPoint_2D(ring, c->bbox[0], c->bbox[1]);
		OGR_G_AddPoint_2D(ring, c->bbox[2], c->bbox[1]);
		OGR_G_AddPoint_2D(ring, c->bbox[2], c->bbox[3]);
		OGR_G_AddPoint_2D(ring, c->bbox[0], c->bbox[3]);
		OGR_G_AddPoint_2D(ring, c->bbox[0], c->bbox[1]);
		OGR_G_AddGeometryDirectly(st->box, ring);
		if (handle_own(s->arena, &s->acct, HANDLE_OGR_GEOMETRY, st->box, NULL) == NULL)
			return -1;
	}
	return 0;
}

static int filter_begin(struct stage *s, struct stream *stm)
{
	struct filter_conf *c = s->step->conf;
	struct filter_state *st = s->state;
	GDALDriverH mem = GDALGetDriverByName("Memory");
	const struct schema *sc = stm->schema;

	st->mem = NULL;
	st->lyr = NULL;
	if (c->intersects && mask_for(&st->mask, stm->srs) != 0)
		return gp_fail_prefix("step '%s'", s->step->label);
	if (c->where == NULL)
		return 0;
	if (mem == NULL)
		return gp_fail(GP_EX_SOFTWARE, "GDAL has no Memory driver");
	st->mem = GDALCreate(mem, "filter", 0, 0, 0, GDT_Unknown, NULL);
	if (st->mem == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create a memory dataset");
	if (handle_own(stm->arena, &s->acct, HANDLE_GDAL_DATASET, st->mem, NULL) == NULL) {
		st->mem = NULL; /* closed by handle_own, error set */
		return -1;
	}
	st->lyr = GDALDatasetCreateLayer(st->mem, "f", NULL, wkbNone, NULL);
	if (st->lyr == NULL)
		return gp_fail(GP_EX_SOFTWARE, "cannot create a memory layer");
	/* The map is read for every field of the source features, also those
	 * a select dropped: size it to the source definition. */
	st->nsrc = sc->nsrc;
	for (size_t i = 0; i < sc->n; i++)
		if (sc->f[i].src >= 0 && sc->f[i].src + 1 > st->nsrc)
			st->nsrc = sc->f[i].src + 1;
	st->map = arena_alloc(stm->arena, (size_t)(st->nsrc + 1) * sizeof *st->map, 0);
	if (st->map == NULL)
		return -1;
	for (int i = 0; i < st->nsrc; i++)
		st->map[i] = -1;
	for (size_t i = 0; i < sc->n; i++) {
		OGRFieldDefnH fd = OGR_Fld_Create(sc->f[i].name, sc->f[i].type);

		OGR_Fld_SetSubType(fd, sc->f[i].subtype);
		OGR_L_CreateField(st->lyr, fd, TRUE);
		OGR_Fld_Destroy(fd);
		if (sc->f[i].src >= 0)
			st->map[sc->f[i].src] = (int)i;
	}
	/* The Memory driver compiles the expression here (OGR SQL): a field it
	 * does not know, or a syntax error, is found on every input layer by
	 * validate as well as by run. */
	CPLErrorReset();
	if (OGR_L_SetAttributeFilter(st->lyr, c->where) != OGRERR_NONE)
		return ydoc_fail(s->step->pl->doc, ynode_get(s->step->node, "where"),
		                 "where '%s' cannot be applied to layer '%s' of '%s': %s", c->where,
		                 stm->layer, stm->path,
		                 *CPLGetLastErrorMsg() ? CPLGetLastErrorMsg() : "OGR refuses it");
	return 0;
}

static int filter_where(struct stage *s, struct batch *b)
{
	struct filter_state *st = s->state;
	OGRFeatureDefnH defn = OGR_L_GetLayerDefn(st->lyr);
	unsigned char *keep = arena_calloc(b->arena, b->n ? b->n : 1, 1);
	OGRFeatureH f;

	if (keep == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		OGRFeatureH src = b->f[i].attrs ? b->f[i].attrs->ptr : NULL;

		if (b->f[i].state != FEAT_LIVE || src == NULL)
			continue;
		f = OGR_F_Create(defn);
		if (f == NULL)
			return gp_fail(GP_EX_SOFTWARE, "cannot create a feature");
		OGR_F_SetFromWithMap(f, src, TRUE, st->map);
		/* Computed fields (set_field, rejects) are set from the feature. */
		for (size_t k = 0; k < b->stream->schema->n; k++) {
			const struct field_def *fd = &b->stream->schema->f[k];
			const struct fvalue *v;

			if (fd->src >= 0 || (size_t)fd->extra >= b->f[i].nextra)
				continue;
			v = &b->f[i].extra[fd->extra];
			if (!v->set)
				continue;
			if (v->type == OFTString)
				OGR_F_SetFieldString(f, (int)k, v->v.s);
			else if (v->type == OFTReal)
				OGR_F_SetFieldDouble(f, (int)k, v->v.d);
			else
				OGR_F_SetFieldInteger64(f, (int)k, v->v.i);
		}
		OGR_F_SetFID(f, (GIntBig)i);
		if (OGR_L_CreateFeature(st->lyr, f) != OGRERR_NONE) {
			OGR_F_Destroy(f);
			return gp_fail(GP_EX_SOFTWARE, "cannot fill the memory layer");
		}
		OGR_F_Destroy(f);
	}
	/* An error while evaluating would make a feature look filtered out:
	 * recorded, it fails the run instead. */
	st->errs.what = s->step->label;
	gdal_errs_clear(&st->errs);
	gdal_errs_push(&st->errs);
	OGR_L_ResetReading(st->lyr);
	while ((f = OGR_L_GetNextFeature(st->lyr)) != NULL) {
		GIntBig fid = OGR_F_GetFID(f);

		if (fid >= 0 && (size_t)fid < b->n)
			keep[fid] = 1;
		OGR_F_Destroy(f);
	}
	gdal_errs_pop();
	if (gdal_errs_pending(&st->errs))
		return gp_fail(GP_EX_DATAERR,
		               "step '%s': where '%s' cannot be evaluated on layer '%s' "
		               "of '%s': %s",
		               s->step->label, ((struct filter_conf *)s->step->conf)->where,
		               b->stream->layer, b->stream->path, gdal_errs_peek(&st->errs));
	for (size_t i = 0; i < b->n; i++) {
		if (b->f[i].state != FEAT_LIVE || b->f[i].attrs == NULL)
			continue;
		if (OGR_L_DeleteFeature(st->lyr, (GIntBig)i) != OGRERR_NONE)
			return gp_fail(GP_EX_SOFTWARE, "cannot empty the memory layer");
		if (!keep[i])
			b->f[i].state = FEAT_FILTERED;
	}
	return 0;
}

static int filter_bbox(struct stage *s, struct batch *b)
{
	struct filter_conf *c = s->step->conf;
	struct filter_state *st = s->state;

	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		double e[4];
		int r;

		if (f->state != FEAT_LIVE)
			continue;
		if (f->wkb == NULL) {
			f->state = FEAT_FILTERED;
			continue;
		}
		r = wkb_envelope(f->wkb, f->wkb_len, e);
		if (r == -2) {
			batch_fail(b, i, s->step->label, "malformed geometry");
			continue;
		}
		if (r == 1 || e[2] < c->bbox[0] || e[0] > c->bbox[2] || e[3] < c->bbox[1] ||
		    e[1] > c->bbox[3]) {
			f->state = FEAT_FILTERED;
			continue;
		}
		/* Envelope inside the box, or a point: no need for the exact test. */
		if ((e[0] >= c->bbox[0] && e[2] <= c->bbox[2] && e[1] >= c->bbox[1] &&
		     e[3] <= c->bbox[3]) ||
		    (e[0] == e[2] && e[1] == e[3]))
			continue;
		{
			const char *why;
			OGRGeometryH g = batch_geometry(b, i, &why);

			if (g == NULL) {
				batch_fail(b, i, s->step->label, why);
				continue;
			}
			if (!OGR_G_Intersects(g, st->box))
				f->state = FEAT_FILTERED;
			OGR_G_DestroyGeometry(g);
		}
	}
	return 0;
}

/* intersects and valid: GEOS on each live feature's geometry. */
static int filter_geos(struct stage *s, struct batch *b)
{
	struct filter_conf *c = s->step->conf;
	struct filter_state *st = s->state;
	GEOSContextHandle_t h = geos_handle(st->geos);

	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		struct handle *g;
		char r = 1;
		int fail;

		/* Without a geometry there is nothing to test: filtered out. */
		g = geos_read_feature(st->geos, s, b, i, true, &fail);
		if (g == NULL) {
			if (fail < 0)
				return -1;
			continue;
		}
		geos_reset(st->geos);
		if (c->has_valid) {
			r = GEOSisValid_r(h, g->ptr);
			if (r != 2)
				r = r == (char)c->valid;
		}
		if (r == 1 && c->intersects)
			r = GEOSPreparedIntersects_r(h, st->mask.prepared->ptr, g->ptr);
		handle_release(g);
		if (r == 2) {
			batch_fail(b, i, s->step->label,
			           geos_reason(st->geos, "GEOS cannot test it"));
			continue;
		}
		if (!r)
			f->state = FEAT_FILTERED;
	}
	return 0;
}

static int filter_process(struct stage *s, struct batch *b)
{
	struct filter_conf *c = s->step->conf;

	if (c->where && filter_where(s, b) != 0)
		return -1;
	if (c->has_bbox && filter_bbox(s, b) != 0)
		return -1;
	if ((c->has_valid || c->intersects) && filter_geos(s, b) != 0)
		return -1;
	return 0;
}

static int filter_end(struct stage *s, struct stream *st)
{
	struct filter_state *fs = s->state;

	(void)st;
	/* The memory dataset goes with the stream arena. */
	fs->mem = NULL;
	fs->lyr = NULL;
	return 0;
}

static const struct vector_ops filter_ops = {
	.begin = filter_begin,
	.process = filter_process,
	.end = filter_end,
};

const struct step_desc step_filter = {
	.name = "filter",
	.summary = "keep features matching an attribute expression and/or a bbox",
	.role = STEP_TRANSFORM,
	.opts = filter_opts,
	.conf_size = sizeof(struct filter_conf),
	.details = "Features removed are counted as filtered, not as errors.  'where' uses\n"
	           "OGR SQL (the same dialect as read's where, evaluated by OGR) on the\n"
	           "fields as select left them.  'bbox' keeps features whose geometry\n"
	           "intersects the box; features without geometry are filtered out.\n"
	           "'intersects' keeps features intersecting the polygons of a dataset (read\n"
	           "once, transformed to the features' CRS, unioned and prepared); 'valid'\n"
	           "keeps valid (true) or invalid (false) geometries by GEOS's rules.  All\n"
	           "given conditions must hold.",
	.check = filter_check,
	.state_size = sizeof(struct filter_state),
	.open = filter_open,
	.vec = &filter_ops,
};
