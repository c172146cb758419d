/* step_simplify.c - simplify geometries with GEOS (Douglas-Peucker). */
#include <stdio.h>

#include "gispipe/arena.h"
#include "gispipe/engine.h"
#include "gispipe/error.h"
#include "gispipe/geos.h"
#include "gispipe/handle.h"
#include "gispipe/opts.h"
#include "gispipe/pipeline.h"
#include "gispipe/schema.h"
#include "gispipe/step.h"

struct simplify_conf {
	double tolerance;
	bool preserve_topology;
	bool has_preserve_topology;
};

static const struct opt_desc simplify_opts[] = {
	{"tolerance", OPT_DOUBLE, offsetof(struct simplify_conf, tolerance),
	 OPT_REQUIRED | OPT_NONNEG,
	 "largest distance a vertex may be moved off the result, in the CRS's units at this step",
	 NULL, NULL, NULL, 0},
	{"preserve_topology", OPT_BOOL, offsetof(struct simplify_conf, preserve_topology), 0,
	 "keep rings simple, holes inside shells and parts apart", "true", NULL, NULL,
	 offsetof(struct simplify_conf, has_preserve_topology)},
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

static int simplify_open(struct step *s, struct engine *e)
{
	struct simplify_state *st = arena_calloc(s->arena, 1, sizeof *st);

	if (st == NULL)
		return -1;
	st->geos = e->geos;
	s->state = st;
	return 0;
}

static int simplify_begin(struct step *s, struct stream *st)
{
	struct simplify_conf *c = s->conf;
	OGRwkbGeometryType t = st->schema->gtype;

	/* GEOS keeps Z and drops M.  Without topology preservation GEOS mends
	 * the polygons it breaks, and a polygon may come back in parts. */
	if (!c->preserve_topology && wkbFlatten(t) == wkbPolygon)
		t = wkbMultiPolygon;
	st->schema->gtype = OGR_GT_SetModifier(t, OGR_GT_HasZ(st->schema->gtype), FALSE);
	return 0;
}

static int simplify_process(struct step *s, struct batch *b)
{
	struct simplify_conf *c = s->conf;
	struct simplify_state *st = s->state;
	GEOSContextHandle_t h = geos_handle(st->geos);

	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		struct handle *in, *out;
		GEOSGeometry *g;
		int r;

		if (f->state != FEAT_LIVE || f->wkb == NULL)
			continue;
		/* geos_read and geos_own also return NULL when the batch arena is
		 * full; only that sets the error slot, and it ends the run. */
		gp_err_clear();
		in = geos_read(st->geos, b->arena, &s->acct, f->wkb, f->wkb_len);
		if (in == NULL) {
			if (gp_err_code())
				return -1;
			batch_fail(b, i, s->label,
			           geos_reason(st->geos, "geometry does not decode"));
			continue;
		}
		geos_reset(st->geos);
		g = c->preserve_topology ? GEOSTopologyPreserveSimplify_r(h, in->ptr, c->tolerance)
		                         : GEOSSimplify_r(h, in->ptr, c->tolerance);
		handle_release(in);
		out = geos_own(st->geos, b->arena, &s->acct, g);
		if (out == NULL) {
			if (gp_err_code())
				return -1;
			batch_fail(b, i, s->label,
			           geos_reason(st->geos, "GEOS cannot simplify it"));
			continue;
		}
		r = geos_write(st->geos, b->arena, out->ptr, &f->wkb, &f->wkb_len);
		handle_release(out);
		if (r == -2)
			return -1;
		if (r != 0)
			batch_fail(b, i, s->label, geos_reason(st->geos, "GEOS cannot write it"));
	}
	return 0;
}

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
	.open = simplify_open,
	.begin = simplify_begin,
	.process = simplify_process,
};
