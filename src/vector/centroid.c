/* vector/centroid.c - replace geometries by their centroid or a point on them
 * (GEOS). */
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
#include "vector/batch.h"

struct centroid_conf {
	bool point_on_surface;
};

static const struct opt_desc centroid_opts[] = {
	{"point_on_surface", OPT_BOOL, offsetof(struct centroid_conf, point_on_surface), 0,
	 "a point guaranteed to lie on the geometry instead of the centroid", "false", NULL, NULL,
	 0, 0, 0},
	{0},
};

struct centroid_state {
	struct geos *geos;
};

static int centroid_open(struct stage *s, struct engine *e)
{
	struct centroid_state *st = s->state;

	(void)e;
	st->geos = s->geos;
	return 0;
}

static int centroid_begin(struct stage *s, struct stream *st)
{
	(void)s;
	st->schema->gtype = OGR_GT_HasZ(st->schema->gtype) ? wkbPoint25D : wkbPoint;
	return 0;
}

static GEOSGeometry *centroid_op(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx)
{
	const struct centroid_conf *c = ctx;

	return c->point_on_surface ? GEOSPointOnSurface_r(h, in) : GEOSGetCentroid_r(h, in);
}

static int centroid_process(struct stage *s, struct batch *b)
{
	struct centroid_state *st = s->state;

	for (size_t i = 0; i < b->n; i++)
		if (b->f[i].state == FEAT_LIVE && b->f[i].wkb &&
		    geos_apply(st->geos, s, b, i, centroid_op, s->step->conf,
		               "GEOS cannot find the point") < 0)
			return -1;
	return 0;
}

static const struct vector_ops centroid_ops = {
	.begin = centroid_begin,
	.process = centroid_process,
};

const struct step_desc step_centroid = {
	.name = "centroid",
	.summary = "replace geometries by their centroid or a point on them (GEOS)",
	.role = STEP_TRANSFORM,
	.opts = centroid_opts,
	.conf_size = sizeof(struct centroid_conf),
	.details =
	        "Each geometry becomes one point, and the layer is declared Point (Point Z\n"
	        "when the input layer has Z).  The centroid is the centre of mass of the\n"
	        "geometry's highest dimension (areas, else lines, else points); it may lie\n"
	        "outside the geometry, as for a crescent or a U.  point_on_surface: true\n"
	        "gives instead a point GEOS guarantees to be on the geometry (inside a\n"
	        "polygon, on a line, or one of the points), the same as SpatiaLite's and\n"
	        "PostGIS's ST_PointOnSurface.  GEOS computes in the plane: centroids and\n"
	        "points inside polygons have no Z (drivers that need one store 0); a point\n"
	        "on surface that is one of the input's vertices keeps its Z.  M is\n"
	        "dropped.  An empty geometry gives an empty point.  A geometry GEOS cannot\n"
	        "process fails its feature with GEOS's reason (see on_error); features\n"
	        "without geometry pass unchanged.",
	.state_size = sizeof(struct centroid_state),
	.open = centroid_open,
	.vec = &centroid_ops,
};
