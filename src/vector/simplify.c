/* vector/simplify.c - simplify geometries with GEOS (Douglas-Peucker). */
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

struct simplify_conf {
	double tolerance;
	bool preserve_topology;
	bool has_preserve_topology;
};

static const struct opt_desc simplify_opts[] = {
	{"tolerance", OPT_DOUBLE, offsetof(struct simplify_conf, tolerance),
	 OPT_REQUIRED,
	 "largest distance a vertex may be moved off the result, in the CRS's units at this step",
	 NULL, NULL, NULL, 0, 0, 1e15},
	{"preserve_topology", OPT_BOOL, offsetof(struct simplify_conf, preserve_topology), 0,
	 "keep rings simple, holes inside shells and parts apart", "true", NULL, NULL,
	 offsetof(struct simplify_conf, has_preserve_topology), 0, 0},
	{0},
};

struct simplify_state {
	struct geos *geos;
};

static int simplify_check(struct step *s, struct pipeline *pl)
{
	struct simplify_conf *c = s->conf;

	(void)pl;
	if (!c->has_preserve_topology)
		c->preserve_topology = true;
	return 0;
}

static int simplify_open(struct stage *s, struct engine *e)
{
	struct simplify_state *st = s->state;

	(void)e;
	st->geos = s->geos;
	return 0;
}

static int simplify_begin(struct stage *s, struct stream *st)
{
	struct simplify_conf *c = s->step->conf;
	OGRwkbGeometryType t = st->schema->gtype;

	/* GEOS keeps Z and drops M.  Without topology preservation GEOS mends
	 * the polygons it breaks, and a polygon may come back in parts. */
	if (!c->preserve_topology && wkbFlatten(t) == wkbPolygon)
		t = wkbMultiPolygon;
	st->schema->gtype = OGR_GT_SetModifier(t, OGR_GT_HasZ(st->schema->gtype), FALSE);
	return 0;
}

static GEOSGeometry *simplify_op(GEOSContextHandle_t h, const GEOSGeometry *in, void *ctx)
{
	const struct simplify_conf *c = ctx;

	return c->preserve_topology ? GEOSTopologyPreserveSimplify_r(h, in, c->tolerance)
	                            : GEOSSimplify_r(h, in, c->tolerance);
}

static int simplify_process(struct stage *s, struct batch *b)
{
	struct simplify_state *st = s->state;

	for (size_t i = 0; i < b->n; i++)
		if (b->f[i].state == FEAT_LIVE && b->f[i].wkb &&
		    geos_apply(st->geos, s, b, i, simplify_op, s->step->conf,
		               "GEOS cannot simplify it") < 0)
			return -1;
	return 0;
}

static const struct vector_ops simplify_ops = {
	.begin = simplify_begin,
	.process = simplify_process,
};

const struct step_desc step_simplify = {
	.name = "simplify",
	.summary = "simplify geometries within a tolerance (GEOS)",
	.role = STEP_TRANSFORM,
	.opts = simplify_opts,
	.conf_size = sizeof(struct simplify_conf),
	.details =
	        "Douglas-Peucker simplification: vertices closer than the tolerance to the\n"
	        "simplified line are removed; the vertices kept are the input's own.  The\n"
	        "tolerance is in the units of the CRS at this step: reproject to a\n"
	        "projected CRS first for metres.  0 removes only collinear vertices.\n"
	        "\n"
	        "With preserve_topology (the default, GEOS's TopologyPreservingSimplifier)\n"
	        "rings stay simple, holes stay inside their shells and parts stay apart;\n"
	        "no ring collapses, so fewer vertices are removed.  With\n"
	        "preserve_topology: false (GEOS's DouglasPeuckerSimplifier) the result may\n"
	        "be empty, and polygons GEOS has to mend may come back as MultiPolygons: a\n"
	        "Polygon layer is declared MultiPolygon.  Z is kept, M is dropped.  A\n"
	        "geometry GEOS cannot simplify fails its feature with GEOS's reason (see\n"
	        "on_error); features without geometry pass unchanged.",
	.check = simplify_check,
	.state_size = sizeof(struct simplify_state),
	.open = simplify_open,
	.vec = &simplify_ops,
};
