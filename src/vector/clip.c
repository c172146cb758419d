/* vector/clip.c - clip geometries by a bbox or by the polygons of a dataset. */
#include <stdio.h>

#include "core/arena.h"
#include "core/engine.h"
#include "core/error.h"
#include "vector/geos.h"
#include "core/handle.h"
#include "config/opts.h"
#include "config/pipeline.h"
#include "vector/schema.h"
#include "core/step.h"
#include "config/yaml_load.h"
#include "vector/mask.h"
#include "vector/batch.h"

struct clip_conf {
	double bbox[4];
	const char *by;
	const char *layer;
	bool has_bbox;
};

static const struct opt_desc clip_opts[] = {
	{"bbox", OPT_BBOX, offsetof(struct clip_conf, bbox), 0,
	 "clip to [xmin, ymin, xmax, ymax] in the CRS at this step", NULL, NULL, NULL,
	 offsetof(struct clip_conf, has_bbox), -1e15, 1e15},
	{"by", OPT_STRING, offsetof(struct clip_conf, by), 0,
	 "clip to the polygons of this dataset (read once, unioned, in the features' CRS)",
	 NULL, NULL, NULL, 0, 0, 0},
	{"layer", OPT_STRING, offsetof(struct clip_conf, layer), 0, "layer of 'by'",
	 "the first", NULL, NULL, 0, 0, 0},
	{0},
};

struct clip_state {
	struct geos *geos;
	struct mask mask;
	struct handle *box;      /* the bbox as a polygon */
};

static int clip_check(struct step *s, struct pipeline *pl)
{
	struct clip_conf *c = s->conf;

	if (c->has_bbox == (c->by != NULL))
		return ydoc_fail(pl->doc, s->node, "step 'clip' takes 'bbox' or 'by', one of them");
	if (c->layer && c->by == NULL)
		return ydoc_fail(pl->doc, ynode_get(s->node, "layer"), "'layer' goes with 'by'");
	return 0;
}

static int clip_open(struct stage *s, struct engine *e)
{
	struct clip_conf *c = s->step->conf;
	struct clip_state *st = s->state;

	(void)e;
	st->geos = s->geos;
	if (c->by)
		return mask_init(&st->mask, s->arena, &s->acct, s->geos, c->by, c->layer);
	st->box = geos_own(s->geos, s->arena, &s->acct,
	                   GEOSGeom_createRectangle_r(geos_handle(s->geos), c->bbox[0], c->bbox[1],
	                                              c->bbox[2], c->bbox[3]));
	return st->box ? 0 : gp_fail(GP_EX_SOFTWARE, "cannot make the clip box");
}

static int clip_begin(struct stage *s, struct stream *stm)
{
	struct clip_state *st = s->state;

	if (((struct clip_conf *)s->step->conf)->by && mask_for(&st->mask, stm->srs) != 0)
		return gp_fail_prefix("step '%s'", s->step->label);
	/* Parts may be cut off: a polygon can come out a multipolygon. */
	if (!OGR_GT_IsSubClassOf(wkbFlatten(stm->schema->gtype), wkbGeometryCollection) &&
	    wkbFlatten(stm->schema->gtype) != wkbPoint && stm->schema->gtype != wkbUnknown)
		stm->schema->gtype = OGR_GT_GetCollection(stm->schema->gtype);
	stm->schema->gtype_exact = false;
	return 0;
}

static int clip_process(struct stage *s, struct batch *b)
{
	struct clip_conf *c = s->step->conf;
	struct clip_state *st = s->state;
	GEOSContextHandle_t h = geos_handle(st->geos);
	const GEOSPreparedGeometry *prep = c->by ? st->mask.prepared->ptr : NULL;
	const GEOSGeometry *with = c->by ? st->mask.geom->ptr : st->box->ptr;

	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		struct handle *g, *out;
		int r;

		/* Without a geometry, nothing of it is inside. */
		g = geos_read_feature(st->geos, s, b, i, true, &r);
		if (g == NULL) {
			if (r < 0)
				return -1;
			continue;
		}
		geos_reset(st->geos);
		if (prep) {
			/* The prepared mask answers most features without an
			 * intersection: wholly outside, or wholly inside. */
			if (!GEOSPreparedIntersects_r(h, prep, g->ptr)) {
				handle_release(g);
				f->state = FEAT_FILTERED;
				continue;
			}
			if (GEOSPreparedCovers_r(h, prep, g->ptr)) {
				handle_release(g);
				continue;
			}
			out = geos_own(st->geos, b->arena, &s->acct, GEOSIntersection_r(h, g->ptr, with));
		} else {
			out = geos_own(st->geos, b->arena, &s->acct,
			               GEOSClipByRect_r(h, g->ptr, c->bbox[0], c->bbox[1], c->bbox[2],
			                                c->bbox[3]));
		}
		handle_release(g);
		if (out == NULL) {
			if (gp_err_code())
				return -1;
			batch_fail(b, i, s->step->label,
			           geos_reason(st->geos, "GEOS cannot clip it"));
			continue;
		}
		if (GEOSisEmpty_r(h, out->ptr)) {
			handle_release(out);
			f->state = FEAT_FILTERED; /* clipped away: filtered, not an error */
			continue;
		}
		if (geos_store(st->geos, b, i, s->step->label, out) < 0)
			return -1;
	}
	return 0;
}

static const struct vector_ops clip_ops = {
	.begin = clip_begin,
	.process = clip_process,
};

const struct step_desc step_clip = {
	.name = "clip",
	.summary = "clip geometries by a bbox or by the polygons of a dataset (GEOS)",
	.role = STEP_TRANSFORM,
	.opts = clip_opts,
	.conf_size = sizeof(struct clip_conf),
	.details = "With 'by', the dataset's polygons are read once, transformed to the\n"
	           "features' CRS when it differs, unioned and prepared; features wholly\n"
	           "inside pass unchanged.  Features left empty (wholly outside) are counted\n"
	           "as filtered, not as errors.  With 'bbox', GEOS clips by the rectangle\n"
	           "(in the CRS at this step).",
	.check = clip_check,
	.state_size = sizeof(struct clip_state),
	.open = clip_open,
	.vec = &clip_ops,
};
