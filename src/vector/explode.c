/* vector/explode.c - multi-part geometries to one feature per part. */
#include <string.h>

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

struct explode_conf {
	bool unused;
};

static const struct opt_desc explode_opts[] = {
	{0},
};

static int explode_open(struct stage *s, struct engine *e)
{
	(void)e;
	s->state = s->geos;
	return 0;
}

/* The part type of a multi type, Z and M kept; others unchanged. */
static OGRwkbGeometryType single_of(OGRwkbGeometryType t)
{
	OGRwkbGeometryType part;

	switch (wkbFlatten(t)) {
	case wkbMultiPoint:
		part = wkbPoint;
		break;
	case wkbMultiLineString:
		part = wkbLineString;
		break;
	case wkbMultiPolygon:
		part = wkbPolygon;
		break;
	case wkbMultiCurve:
		part = wkbCompoundCurve;
		break;
	case wkbMultiSurface:
		part = wkbCurvePolygon;
		break;
	case wkbGeometryCollection:
		return wkbUnknown;
	default:
		return t;
	}
	return OGR_GT_SetModifier(part, OGR_GT_HasZ(t), OGR_GT_HasM(t));
}

static int explode_begin(struct stage *s, struct stream *st)
{
	(void)s;
	st->schema->gtype = single_of(st->schema->gtype);
	/* Every part is of that type: no promotion to multi downstream. */
	st->schema->gtype_exact = st->schema->gtype != wkbUnknown;
	return 0;
}

static bool is_multi(GEOSContextHandle_t h, const GEOSGeometry *g)
{
	int t = GEOSGeomTypeId_r(h, g);

	return t == GEOS_MULTIPOINT || t == GEOS_MULTILINESTRING || t == GEOS_MULTIPOLYGON ||
	       t == GEOS_GEOMETRYCOLLECTION;
}

/* Each part becomes a feature of its own, in place of its parent and in
 * order, keeping the parent's attributes (the same source feature) and
 * FID.  Features that are not multi-part pass through. */
static int explode_process(struct stage *s, struct batch *b)
{
	struct geos *g = s->state;
	GEOSContextHandle_t h = geos_handle(g);
	struct feature *out;
	size_t n = 0, cap = b->n;

	out = arena_alloc(b->arena, cap * sizeof *out, 0);
	if (out == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct feature *f = &b->f[i];
		struct handle *gh;
		int parts, r;

		/* Kept as it is: not live, no geometry, or failed to read. */
		gh = geos_read_feature(g, s, b, i, false, &r);
		if (gh == NULL) {
			if (r < 0)
				return -1;
			goto keep;
		}
		if (!is_multi(h, gh->ptr)) {
			handle_release(gh);
			goto keep;
		}
		parts = GEOSGetNumGeometries_r(h, gh->ptr);
		if (n + (size_t)parts > cap) {
			size_t ncap = (n + (size_t)parts) * 2 + (b->n - i);
			struct feature *nout = arena_realloc(b->arena, out, cap * sizeof *out,
			                                     ncap * sizeof *out);

			if (nout == NULL)
				return -1;
			out = nout;
			cap = ncap;
		}
		for (int k = 0; k < parts; k++) {
			struct feature *p = &out[n];

			*p = *f;
			r = geos_write(g, b->arena, GEOSGetGeometryN_r(h, gh->ptr, k), &p->wkb,
			               &p->wkb_len);
			if (r == -2)
				return -1;
			if (r != 0) {
				/* The parent fails whole: its parts so far are dropped
				 * from the output, it is counted once. */
				handle_release(gh);
				n -= (size_t)k;
				batch_fail(b, i, s->step->label,
				           geos_reason(g, "GEOS cannot write a part"));
				goto keep;
			}
			n++;
		}
		handle_release(gh);
		continue;
keep:
		if (n == cap) {
			struct feature *nout = arena_realloc(b->arena, out, cap * sizeof *out,
			                                     (cap * 2 + 1) * sizeof *out);

			if (nout == NULL)
				return -1;
			out = nout;
			cap = cap * 2 + 1;
		}
		out[n++] = *f;
	}
	b->f = out;
	b->n = n;
	b->cap = cap;
	return 0;
}

static const struct vector_ops explode_ops = {
	.begin = explode_begin,
	.process = explode_process,
};

const struct step_desc step_explode = {
	.name = "explode",
	.summary = "split multi-part geometries into one feature per part",
	.role = STEP_TRANSFORM,
	.opts = explode_opts,
	.conf_size = sizeof(struct explode_conf),
	.details = "Each part of a MultiPoint, MultiLineString, MultiPolygon or\n"
	           "GeometryCollection becomes a feature with its parent's attributes and\n"
	           "FID, in place of the parent and in order; other geometries pass through.\n"
	           "The layer is declared with the single-part type.  Takes no options:\n"
	           "'- explode: {}'.",
	.open = explode_open,
	.vec = &explode_ops,
};
